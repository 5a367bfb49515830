//! Django's `SECRET_KEY`, read from files when the configuration is read
//! (`music_django_secret_key_file current [older …]`): the first key signs
//! what the module writes, every key is accepted for reading, so a rotated
//! secret does not log everybody out at once. The keys never appear in any
//! `Debug` output or log line; `nginx -T` shows only the file names.

use std::path::Path;

use zeroize::Zeroizing;

/// The keys, current first.
#[derive(Clone)]
pub struct DjangoSecret {
    keys: Vec<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for DjangoSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DjangoSecret({} keys, redacted)", self.keys.len())
    }
}

impl PartialEq for DjangoSecret {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
    }
}

impl DjangoSecret {
    /// The key each file holds: its bytes, without one trailing line ending
    /// (what `echo "$KEY" > file` adds). An empty key is refused, as Django
    /// refuses an empty `SECRET_KEY`.
    pub fn read(paths: &[&Path]) -> Result<DjangoSecret, String> {
        let mut keys = Vec::with_capacity(paths.len());
        for p in paths {
            let mut raw = Zeroizing::new(
                std::fs::read(p).map_err(|e| format!("cannot read \"{}\": {e}", p.display()))?,
            );
            if raw.ends_with(b"\n") {
                raw.pop();
                if raw.ends_with(b"\r") {
                    raw.pop();
                }
            }
            if raw.is_empty() {
                return Err(format!("\"{}\" holds an empty key", p.display()));
            }
            keys.push(raw);
        }
        Ok(DjangoSecret { keys })
    }

    /// Every key, the current one first.
    pub fn keys(&self) -> Vec<&[u8]> {
        self.keys.iter().map(|k| k.as_slice()).collect()
    }

    /// The key new signatures are made with.
    pub fn current(&self) -> &[u8] {
        &self.keys[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_and_strips_one_line_ending() {
        let dir = std::env::temp_dir().join(format!("ngxm-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, e) = (dir.join("a"), dir.join("b"), dir.join("e"));
        std::fs::write(&a, "new-key\r\n").unwrap();
        std::fs::write(&b, "old key \n\n").unwrap();
        std::fs::write(&e, "\n").unwrap();
        let s = DjangoSecret::read(&[&a, &b]).unwrap();
        assert_eq!(s.keys(), vec![&b"new-key"[..], &b"old key \n"[..]]);
        assert_eq!(s.current(), b"new-key");
        assert!(!format!("{s:?}").contains("new-key"));
        assert!(DjangoSecret::read(&[&e]).unwrap_err().contains("empty key"));
        assert!(DjangoSecret::read(&[&dir.join("missing")])
            .unwrap_err()
            .starts_with("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

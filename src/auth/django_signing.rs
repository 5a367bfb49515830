//! Django 3.2's `django.core.signing`, the parts its session store uses:
//! `salted_hmac`, the URL-safe unpadded base64 of `b64_encode`, and the
//! `TimestampSigner` object format `signing.dumps(obj, salt=…, compress=True)`
//! writes and `signing.loads(…)` reads:
//!
//! ```text
//! [.]<urlsafe b64 of JSON, zlib-compressed when '.'>:<base62 time>:<signature>
//! ```
//!
//! The signature is `b64_encode(salted_hmac(salt + "signer", value, key,
//! algorithm="sha256").digest())` over everything before the last `:`.
//! Django 3.2 also accepts the same HMAC with SHA-1 (its
//! `DEFAULT_HASHING_ALGORITHM = 'sha1'` transition setting), so this does too.
//! No `max_age` is applied: the session store relies on `expire_date`.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::basic::python_b64decode;

/// Decompressed payloads larger than this are refused: a session holds a
/// few hundred bytes, and the signature is checked before decompressing,
/// so only a holder of the secret could send a bigger one.
pub const MAX_DECOMPRESSED: usize = 1 << 20;

/// Django's `salted_hmac(key_salt, value, secret, algorithm="sha256")`:
/// the HMAC key is `sha256(key_salt + secret)`.
pub fn salted_hmac_sha256(key_salt: &[u8], value: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key_salt);
    h.update(secret);
    let key = h.finalize();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// Django's `salted_hmac(key_salt, value, secret)` with its default SHA-1.
pub fn salted_hmac_sha1(key_salt: &[u8], value: &[u8], secret: &[u8]) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(key_salt);
    h.update(secret);
    let key = h.finalize();
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&key).expect("any key length");
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex, as Python's `hexdigest()`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Django's `b64_encode`: URL-safe alphabet, `=` padding stripped.
pub fn b64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Django's `b64_decode`: pad, then `base64.urlsafe_b64decode`, which maps
/// `-_` to `+/` and decodes leniently (characters outside the alphabet are
/// skipped, as Python's non-validating decoder does).
pub fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut buf: Vec<u8> = s
        .iter()
        .map(|&c| match c {
            b'-' => b'+',
            b'_' => b'/',
            c => c,
        })
        .collect();
    buf.resize(buf.len() + (4 - s.len() % 4) % 4, b'=');
    python_b64decode(&buf).ok()
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `baseconv.base62.encode` of a non-negative number.
pub fn base62_encode(mut n: u64) -> String {
    if n == 0 {
        return "0".to_owned();
    }
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    digits.reverse();
    String::from_utf8(digits).expect("ASCII")
}

/// `baseconv.base62.decode`: a leading `-` negates; any other character
/// outside the alphabet is an error (Django's `ValueError`).
pub fn base62_decode(s: &str) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut n: i128 = 0;
    for c in digits.bytes() {
        let d = BASE62.iter().position(|&x| x == c)?;
        n = n.checked_mul(62)?.checked_add(d as i128)?;
    }
    Some(if neg { -n } else { n })
}

/// The signature `Signer.signature` computes, in both algorithms Django 3.2
/// accepts; `sha256` is the one it writes.
fn signatures(salt: &str, value: &[u8], key: &[u8]) -> (String, String) {
    let mut key_salt = Vec::with_capacity(salt.len() + 6);
    key_salt.extend_from_slice(salt.as_bytes());
    key_salt.extend_from_slice(b"signer");
    (
        b64_encode(&salted_hmac_sha256(&key_salt, value, key)),
        b64_encode(&salted_hmac_sha1(&key_salt, value, key)),
    )
}

/// `Signer.unsign` with any of `keys`: the value before the last `:` when
/// the signature after it matches.
fn unsign<'a>(signed: &'a str, salt: &str, keys: &[&[u8]]) -> Option<&'a str> {
    let (value, sig) = signed.rsplit_once(':')?;
    let mut ok = false;
    for key in keys {
        let (sha256, sha1) = signatures(salt, value.as_bytes(), key);
        ok |= bool::from(sig.as_bytes().ct_eq(sha256.as_bytes()));
        ok |= bool::from(sig.as_bytes().ct_eq(sha1.as_bytes()));
    }
    ok.then_some(value)
}

/// Why [`loads`] refused a value (all of them make a session empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// No `:` separator, or the signature does not match any key.
    BadSignature,
    /// Signed correctly but not a timestamp, base64, zlib or JSON.
    Malformed,
}

/// `signing.loads(s, key, salt)` (no `max_age`) with the JSON serializer,
/// trying every key in `keys` (the current secret first, then older ones).
pub fn loads(signed: &str, salt: &str, keys: &[&[u8]]) -> Result<serde_json::Value, LoadError> {
    let stamped = unsign(signed, salt, keys).ok_or(LoadError::BadSignature)?;
    let (payload, timestamp) = stamped.rsplit_once(':').ok_or(LoadError::Malformed)?;
    base62_decode(timestamp).ok_or(LoadError::Malformed)?;
    let (compressed, b64) = match payload.strip_prefix('.') {
        Some(rest) => (true, rest),
        None => (false, payload),
    };
    let mut data = b64_decode(b64.as_bytes()).ok_or(LoadError::Malformed)?;
    if compressed {
        data = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&data, MAX_DECOMPRESSED)
            .map_err(|_| LoadError::Malformed)?;
    }
    json_loads_latin1(&data).ok_or(LoadError::Malformed)
}

/// `json.loads(data.decode('latin-1'))`: every byte is one character.
pub fn json_loads_latin1(data: &[u8]) -> Option<serde_json::Value> {
    let text: String = data.iter().map(|&b| char::from(b)).collect();
    serde_json::from_str(&text).ok()
}

/// `json.dumps(obj, separators=(',', ':'))`: compact, non-ASCII escaped.
pub fn json_dumps_ascii(value: &serde_json::Value) -> String {
    let compact = value.to_string();
    let mut out = String::with_capacity(compact.len());
    for c in compact.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// `signing.dumps(obj, key, salt, compress=True)` at `now` (Unix seconds),
/// signed with SHA-256 as Django 3.2 does by default.
pub fn dumps(value: &serde_json::Value, salt: &str, key: &[u8], now: u64) -> String {
    let data = json_dumps_ascii(value).into_bytes();
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&data, 6);
    let mut out = if compressed.len() < data.len().saturating_sub(1) {
        format!(".{}", b64_encode(&compressed))
    } else {
        b64_encode(&data)
    };
    out.push(':');
    out.push_str(&base62_encode(now));
    let (sig, _) = signatures(salt, out.as_bytes(), key);
    out.push(':');
    out.push_str(&sig);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Vectors made by Django 3.2.25 itself (`signing.dumps`, `salted_hmac`)
    // with SECRET_KEY "test-secret-key-0123456789" at time 1700000000.
    const KEY: &[u8] = b"test-secret-key-0123456789";
    const SALT: &str = "django.contrib.sessions.SessionStore";
    const SMALL: &str = ".eJyrVopPLC3JiC8tTi2Kz0xRslIyVNJBFktKTM5OzQNJpGQl5qXn6yXn55UUZSbpgZToQWWL9XzzU1JznKBqUQzISCzOAOpOTEpWqgUAjnEncw:1r31eq:Rh9fsAhMn6vw67r0wlQjltQwDDWUTiKWfRW5yr7JbQE";

    #[test]
    fn salted_hmac_matches_django() {
        assert_eq!(
            hex(&salted_hmac_sha256(b"salt", b"value", b"secret")),
            "debaddcd9ecbaab181289870baf8af49b0af0a7050d620d1a63f1e69bd87ceb8"
        );
    }

    #[test]
    fn loads_reads_django_compressed_and_plain() {
        let v = loads(SMALL, SALT, &[KEY]).unwrap();
        assert_eq!(v["_auth_user_id"], "1");
        assert_eq!(v["_auth_user_hash"], "abc");
        let plain = "eyJhIjoxfQ:1r31eq:pka6w4FAEiBMUJMSDSn4xzL1rx1kSrWQBfVeCfBh2Hk";
        assert_eq!(loads(plain, "s", &[KEY]).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn dumps_is_byte_identical_to_django_when_uncompressed() {
        assert_eq!(
            dumps(&json!({"a": 1}), "s", KEY, 1_700_000_000),
            "eyJhIjoxfQ:1r31eq:pka6w4FAEiBMUJMSDSn4xzL1rx1kSrWQBfVeCfBh2Hk"
        );
        assert_eq!(
            dumps(&json!({"a": 1}), SALT, KEY, 1_700_000_000),
            "eyJhIjoxfQ:1r31eq:-erKf6X8XuUqGwrV8KEYexjqNCph05oz8-C135MZMYM"
        );
    }

    #[test]
    fn dumps_round_trips_compressed() {
        let v = json!({"pad": "x".repeat(200), "é": "ü"});
        let s = dumps(&v, SALT, KEY, 1_700_000_000);
        assert!(s.starts_with('.'));
        assert_eq!(loads(&s, SALT, &[KEY]).unwrap(), v);
    }

    #[test]
    fn loads_refuses_wrong_key_salt_and_tampering() {
        assert_eq!(
            loads(SMALL, SALT, &[b"other"]),
            Err(LoadError::BadSignature)
        );
        assert_eq!(loads(SMALL, "x", &[KEY]), Err(LoadError::BadSignature));
        let mut t = SMALL.to_owned();
        t.replace_range(5..6, "A");
        assert_eq!(loads(&t, SALT, &[KEY]), Err(LoadError::BadSignature));
        for bad in ["", ":", "::", "abc", "a:b:c", &SMALL[..SMALL.len() - 1]] {
            assert!(loads(bad, SALT, &[KEY]).is_err(), "{bad}");
        }
    }

    #[test]
    fn loads_accepts_an_older_key_in_the_list() {
        assert!(loads(SMALL, SALT, &[b"new-key", KEY]).is_ok());
    }

    #[test]
    fn signed_garbage_is_malformed_not_a_panic() {
        for payload in ["!!!", ".AAAA", ".eJw", "bm90IGpzb24"] {
            let stamped = format!("{payload}:1r31eq");
            let (sig, _) = signatures(SALT, stamped.as_bytes(), KEY);
            let s = format!("{stamped}:{sig}");
            assert_eq!(
                loads(&s, SALT, &[KEY]),
                Err(LoadError::Malformed),
                "{payload}"
            );
        }
    }

    #[test]
    fn base62_round_trips() {
        assert_eq!(base62_encode(1_700_000_000), "1r31eq");
        assert_eq!(base62_decode("1r31eq"), Some(1_700_000_000));
        assert_eq!(base62_decode("-1"), Some(-1));
        assert_eq!(base62_decode("a+"), None);
    }

    #[test]
    fn json_dumps_escapes_like_python() {
        assert_eq!(
            json_dumps_ascii(&json!({"k": "é😀"})),
            r#"{"k":"\u00e9\ud83d\ude00"}"#
        );
    }
}

//! Django's `parse_cookie`: how `request.COOKIES` reads a `Cookie` header.
//!
//! Chunks are split on `;`; a chunk without `=` is a value with an empty
//! name; names and values are stripped of whitespace (Python's `str.strip`),
//! quoted values are unquoted as `http.cookies._unquote` does (`\ooo`
//! octal, `\x` for any other x), and a later cookie of the same name wins.

/// Python's `str.isspace` (Unicode whitespace plus the separators
/// U+001C..U+001F, which Rust does not count as whitespace).
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `http.cookies._unquote`.
fn unquote(v: &str) -> String {
    if v.len() < 2 || !v.starts_with('"') || !v.ends_with('"') {
        return v.to_owned();
    }
    let inner: Vec<char> = v[1..v.len() - 1].chars().collect();
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        // `(.)` in Python's pattern does not match a newline
        if inner[i] == '\\' && i + 1 < inner.len() && inner[i + 1] != '\n' {
            let oct = inner.get(i + 1..i + 4).filter(|d| {
                ('0'..='3').contains(&d[0]) && d[1..].iter().all(|c| ('0'..='7').contains(c))
            });
            if let Some(d) = oct {
                let n = d.iter().fold(0u32, |n, c| n * 8 + (*c as u32 - '0' as u32));
                out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                i += 4;
            } else {
                out.push(inner[i + 1]);
                i += 2;
            }
        } else {
            out.push(inner[i]);
            i += 1;
        }
    }
    out
}

/// The value `request.COOKIES[name]` would have.
pub fn cookie_value(header: &str, name: &str) -> Option<String> {
    let mut found = None;
    for chunk in header.split(';') {
        let (key, val) = chunk.split_once('=').unwrap_or(("", chunk));
        let (key, val) = (key.trim_matches(py_space), val.trim_matches(py_space));
        if (!key.is_empty() || !val.is_empty()) && key == name {
            found = Some(val);
        }
    }
    found.map(unquote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_django() {
        let h = "csrftoken=abc; sessionid=k1 ; other=\"q\\\"x\\073\"; sessionid= k2";
        assert_eq!(cookie_value(h, "sessionid").as_deref(), Some("k2"));
        assert_eq!(cookie_value(h, "csrftoken").as_deref(), Some("abc"));
        assert_eq!(cookie_value(h, "other").as_deref(), Some("q\"x;"));
        assert_eq!(cookie_value(h, "missing"), None);
        assert_eq!(cookie_value("justvalue", "").as_deref(), Some("justvalue"));
        assert_eq!(cookie_value("a=b=c", "a").as_deref(), Some("b=c"));
        assert_eq!(cookie_value("", "a"), None);
        assert_eq!(cookie_value("\u{1f}a=1\u{1c}", "a").as_deref(), Some("1"));
        assert_eq!(cookie_value("a=\"\\", "a").as_deref(), Some("\"\\"));
        assert_eq!(cookie_value("a=\"é\\\"", "a").as_deref(), Some("é\\"));
    }
}

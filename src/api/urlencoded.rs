//! `application/x-www-form-urlencoded` bodies and query strings, decoded as
//! Django's `QueryDict` does (Python's `parse_qsl` with `keep_blank_values`):
//! pairs split on `&` only, a pair without `=` has an empty value, `+` is a
//! space, `%XX` escapes are decoded and the bytes read in the charset with
//! invalid sequences replaced by U+FFFD, a malformed escape stays as it is.
//! A body that is not valid text in its charset is first read as Latin-1
//! ("some user agents are misbehaving", says Django).

use super::charset::Charset;

/// All `(name, value)` pairs in order, repeated names included.
pub fn parse_pairs(input: &[u8], charset: Charset) -> Vec<(String, String)> {
    let (text, charset) = match charset.decode_strict(input) {
        Some(text) => (text, charset),
        // Django decodes the whole body as ISO-8859-1 but keeps the request's
        // charset for the %XX escapes.
        None => (Charset::Latin1.decode_lossy(input), charset),
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (unquote_plus(name, charset), unquote_plus(value, charset))
        })
        .collect()
}

/// The value a `QueryDict` lookup (`dict[key]`, `.get(key)`) gives: the last
/// one for that name.
pub fn last_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Python's `unquote(s.replace('+', ' '), encoding, errors='replace')`:
/// ASCII runs are percent-decoded to bytes and read in `charset`; other
/// characters pass through unchanged.
fn unquote_plus(s: &str, charset: Charset) -> String {
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut run: Vec<u8> = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !b.is_ascii() {
            flush_run(&mut run, &mut out, charset);
            // Copy the whole non-ASCII character.
            let len = utf8_len(b);
            out.push_str(&s[i..i + len]);
            i += len;
            continue;
        }
        match b {
            b'+' => run.push(b' '),
            b'%' => match (hex_value(bytes.get(i + 1)), hex_value(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    run.push(hi << 4 | lo);
                    i += 2;
                }
                _ => run.push(b'%'),
            },
            _ => run.push(b),
        }
        i += 1;
    }
    flush_run(&mut run, &mut out, charset);
    out
}

fn flush_run(run: &mut Vec<u8>, out: &mut String, charset: Charset) {
    if !run.is_empty() {
        out.push_str(&charset.decode_lossy(run));
        run.clear();
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        _ => 2,
    }
}

fn hex_value(b: Option<&u8>) -> Option<u8> {
    let c = *b?;
    char::from(c).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[u8]) -> Vec<(String, String)> {
        parse_pairs(s, Charset::Utf8)
    }

    fn p(a: &str, b: &str) -> (String, String) {
        (a.to_owned(), b.to_owned())
    }

    #[test]
    fn splits_on_ampersand_only() {
        assert_eq!(pairs(b"a=1&b=2"), vec![p("a", "1"), p("b", "2")]);
        assert_eq!(pairs(b"a=1;b=2"), vec![p("a", "1;b=2")]);
        assert_eq!(pairs(b"&&a=1&"), vec![p("a", "1")]);
        assert_eq!(pairs(b""), vec![]);
    }

    #[test]
    fn blank_values_are_kept() {
        assert_eq!(
            pairs(b"a=&b&c=="),
            vec![p("a", ""), p("b", ""), p("c", "=")]
        );
        assert_eq!(pairs(b"=x"), vec![p("", "x")]);
    }

    #[test]
    fn plus_and_percent_decoding() {
        assert_eq!(pairs(b"song=a+b%20c"), vec![p("song", "a b c")]);
        assert_eq!(pairs(b"s%6Fng=%E2%82%AC"), vec![p("song", "€")]);
        assert_eq!(pairs(b"a=%2B%26%3D"), vec![p("a", "+&=")]);
        assert_eq!(pairs(b"a=%e2%82%ac"), vec![p("a", "€")]);
    }

    #[test]
    fn malformed_escapes_stay() {
        assert_eq!(pairs(b"a=%zz%4%"), vec![p("a", "%zz%4%")]);
        assert_eq!(pairs(b"a=100%"), vec![p("a", "100%")]);
    }

    #[test]
    fn invalid_utf8_escapes_are_replaced() {
        assert_eq!(pairs(b"a=%ff"), vec![p("a", "\u{fffd}")]);
        assert_eq!(pairs(b"a=%E2%82x"), vec![p("a", "\u{fffd}x")]);
        assert_eq!(pairs(b"a=%00"), vec![p("a", "\u{0}")]);
    }

    #[test]
    fn raw_non_ascii_passes_through() {
        assert_eq!(pairs("a=周%20杰".as_bytes()), vec![p("a", "周 杰")]);
        // Raw bytes that are not UTF-8: the whole body is read as Latin-1.
        assert_eq!(pairs(b"a=\xe9&b=%C3%A9"), vec![p("a", "é"), p("b", "é")]);
    }

    #[test]
    fn latin1_charset() {
        assert_eq!(
            parse_pairs(b"a=%E9&b=\xe9", Charset::Latin1),
            vec![p("a", "é"), p("b", "é")]
        );
    }

    #[test]
    fn last_value_wins() {
        let v = pairs(b"song=a&singer=x&song=b");
        assert_eq!(last_value(&v, "song"), Some("b"));
        assert_eq!(last_value(&v, "singer"), Some("x"));
        assert_eq!(last_value(&v, "id"), None);
    }
}

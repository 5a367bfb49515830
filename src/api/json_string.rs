//! A text as a JSON string, byte for byte as DRF's `JSONRenderer` writes it: UTF-8 as is
//! (`ensure_ascii=False`), Python's escapes (`\"` `\\` `\n` `\r` `\t` `\b` `\f`,
//! `\u00XX` for other control characters) and DRF's extra `\u2028` / `\u2029` escapes.
//! Every body the API writes (items, errors, the root) uses it.

use std::io::Write;

/// The bytes that may start an escape: control characters, `"`, `\` and 0xE2 (the lead byte
/// of U+2028 / U+2029). Everything else is copied as is; the table keeps that test to one load
/// per byte.
const MAY_NEED_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table[0xe2] = true;
    table
};

/// Appends `s` as a quoted JSON string.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    write_json_text(out, s.as_bytes());
}

/// Appends UTF-8 text given as bytes (a database value, checked when it was read) as a
/// quoted JSON string.
pub fn write_json_text(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !MAY_NEED_ESCAPE[b as usize] {
            i += 1;
            continue;
        }
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            _ => None,
        };
        // U+2028 and U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
        let line_separator = b == 0xe2
            && bytes.get(i + 1) == Some(&0x80)
            && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9));
        if escape.is_none() && b >= 0x20 && !line_separator {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if let Some(escape) = escape {
            out.extend_from_slice(escape);
            i += 1;
        } else if line_separator {
            out.extend_from_slice(if bytes[i + 2] == 0xa8 {
                b"\\u2028"
            } else {
                b"\\u2029"
            });
            i += 3;
        } else {
            let _ = write!(out, "\\u{b:04x}");
            i += 1;
        }
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut out = Vec::new();
        write_json_string(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_and_unicode_text_is_written_as_is() {
        assert_eq!(s(""), "\"\"");
        assert_eq!(s("song_test"), "\"song_test\"");
        assert_eq!(s("周杰倫 🎵 é"), "\"周杰倫 🎵 é\"");
        assert_eq!(s("\u{7f}\u{85}\u{a0}"), "\"\u{7f}\u{85}\u{a0}\"");
    }

    #[test]
    fn python_escapes() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(s("\u{0}\u{1}\u{1f}\u{b}"), r#""\u0000\u0001\u001f\u000b""#);
        assert_eq!(s("/"), "\"/\"");
    }

    #[test]
    fn drf_escapes_line_and_paragraph_separators() {
        assert_eq!(s("a\u{2028}b\u{2029}c"), r#""a\u2028b\u2029c""#);
        // Neighbours in the same UTF-8 block stay as they are.
        assert_eq!(
            s("\u{2027}\u{202a}\u{2020}"),
            "\"\u{2027}\u{202a}\u{2020}\""
        );
    }
}

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

/// Whether any of the eight bytes of `word` may start an escape (as [`MAY_NEED_ESCAPE`]
/// says), tested all at once: `has_below(x, n)` sets a lane's top bit when some lane is below
/// `n` (for n <= 0x80), and a lane equal to `c` is one below 1 after `^ c`. A lane after a
/// matching one may be flagged too; that only makes the answer true, which it already is.
fn word_may_need_escape(word: u64) -> bool {
    const LANES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let has_below = |x: u64, n: u8| x.wrapping_sub(LANES * u64::from(n)) & !x & TOPS;
    let has = |c: u8| has_below(word ^ (LANES * u64::from(c)), 1);
    (has_below(word, 0x20) | has(b'"') | has(b'\\') | has(0xe2)) != 0
}

/// How many of the first bytes of `bytes` are copied as they are: eight at a time while no
/// byte of the eight may need an escape (most names need none), then one at a time.
fn plain_prefix(bytes: &[u8]) -> usize {
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        if word_may_need_escape(word) {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && !MAY_NEED_ESCAPE[bytes[i] as usize] {
        i += 1;
    }
    i
}

/// Whether `bytes` are ASCII that goes into a JSON string as it is (one table load a byte:
/// for short texts such as a Host, where the word-wise scan costs more than it saves).
pub fn is_plain_ascii(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b < 0x80 && !MAY_NEED_ESCAPE[b as usize])
}

/// Appends `s` as a quoted JSON string.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    write_json_text(out, s.as_bytes());
}

/// Appends UTF-8 text given as bytes (a database value, checked when it was read) as a
/// quoted JSON string. Inlined where a list row is written: a name with nothing to escape is
/// one scan and one copy, and the call would cost about as much.
#[inline]
pub fn write_json_text(out: &mut Vec<u8>, bytes: &[u8]) {
    let plain = plain_prefix(bytes);
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    out.extend_from_slice(&bytes[..plain]);
    if plain < bytes.len() {
        write_escaped(out, &bytes[plain..]);
    }
    out.push(b'"');
}

/// Appends `bytes`, which start with a byte that may need an escape, escaped.
#[cold]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        i += plain_prefix(&bytes[i..]);
        let Some(&b) = bytes.get(i) else { break };
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

    /// The escaping of one byte at a time, as the table alone says.
    fn one_at_a_time(v: &str) -> String {
        let mut out = String::from("\"");
        for c in v.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\u{2028}' => out.push_str("\\u2028"),
                '\u{2029}' => out.push_str("\\u2029"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn every_escape_at_every_position_of_words_and_tails() {
        let specials = [
            "\"", "\\", "\n", "\r", "\t", "\u{8}", "\u{c}", "\u{0}", "\u{1f}", "\u{2028}",
            "\u{2029}", "\u{2027}", "\u{202a}", "é", "周", "🎵", "\u{7f}", " ", "~", "!", "#",
        ];
        for len in 0..20 {
            for at in 0..=len {
                for special in specials {
                    let text = format!("{}{special}{}", "a".repeat(at), "b".repeat(len - at));
                    assert_eq!(s(&text), one_at_a_time(&text), "{text:?}");
                    let twice = format!("{special}{text}{special}");
                    assert_eq!(s(&twice), one_at_a_time(&twice), "{twice:?}");
                }
            }
        }
    }

    #[test]
    fn every_byte_value_in_every_lane_of_a_word() {
        // each lane holding each byte value next to plain ones: the word test flags exactly
        // the bytes the table flags (or more, never fewer)
        for value in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = *b"abcdefgh";
                bytes[lane] = value;
                let word = u64::from_le_bytes(bytes);
                if MAY_NEED_ESCAPE[value as usize] {
                    assert!(word_may_need_escape(word), "{value:#x} in lane {lane}");
                } else {
                    assert!(!word_may_need_escape(word), "{value:#x} in lane {lane}");
                }
            }
        }
        assert_eq!(plain_prefix(b"abcdefghijklmnop\"q"), 16);
        assert_eq!(plain_prefix(b"abcdefgh\xe2"), 8);
        assert_eq!(plain_prefix(b"ab\ncdefghijk"), 2);
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

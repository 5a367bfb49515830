//! Writing response bodies byte for byte as DRF's `JSONRenderer` does:
//! compact separators, UTF-8 as is (`ensure_ascii=False`), Python's escapes
//! (`\"` `\\` `\n` `\r` `\t` `\b` `\f`, `\u00XX` for other control
//! characters) and DRF's extra `\u2028` / `\u2029` escapes.

use std::io::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::route;
use crate::time::{days_since, format_iso};

/// One row of the `music` table; the texts owned, or borrowed from a database row while a
/// list streams (two allocations fewer per row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MusicRow<S = String> {
    pub id: i64,
    pub song: S,
    pub singer: S,
    pub last_modify_date: DateTime<Utc>,
    pub created: DateTime<Utc>,
}

/// A streamed JSON array (the list and `all_singer` routes) is
/// `LIST_OPEN item (LIST_SEPARATOR item)* LIST_CLOSE`.
pub const LIST_OPEN: &[u8] = b"[";
pub const LIST_SEPARATOR: &[u8] = b",";
pub const LIST_CLOSE: &[u8] = b"]";

/// The `Content-Type` of every JSON answer (DRF sends no charset).
pub const CONTENT_TYPE: &str = "application/json";

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
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
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

/// Appends one string of a streamed string array (`all_singer`).
pub fn write_string_array_item(out: &mut Vec<u8>, s: &str) {
    write_json_string(out, s);
}

/// Appends an item: `{"id":…,"song":…,"singer":…,"last_modify_date":…,
/// "created":…,"days_since_created":…}`, datetimes in `tz`, the day count
/// as of `now`.
pub fn write_item<S: AsRef<str>>(
    out: &mut Vec<u8>,
    row: &MusicRow<S>,
    now: DateTime<Utc>,
    tz: &Tz,
) {
    let mut ints = itoa::Buffer::new();
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(ints.format(row.id).as_bytes());
    out.extend_from_slice(b",\"song\":");
    write_json_string(out, row.song.as_ref());
    out.extend_from_slice(b",\"singer\":");
    write_json_string(out, row.singer.as_ref());
    out.extend_from_slice(b",\"last_modify_date\":\"");
    format_iso(row.last_modify_date, tz, out);
    out.extend_from_slice(b"\",\"created\":\"");
    format_iso(row.created, tz, out);
    out.extend_from_slice(b"\",\"days_since_created\":");
    out.extend_from_slice(ints.format(days_since(row.created, now)).as_bytes());
    out.push(b'}');
}

/// Appends the `detail` action's answer: `{"singer":…,"song":…}`.
pub fn write_detail(out: &mut Vec<u8>, singer: &str, song: &str) {
    out.extend_from_slice(b"{\"singer\":");
    write_json_string(out, singer);
    out.extend_from_slice(b",\"song\":");
    write_json_string(out, song);
    out.push(b'}');
}

/// The API root: `{"musics":"http://<host>/api/musics/"}`.
///
/// `scheme` and `host` are the request's (`Host` header); `location_prefix`
/// is the configured location ending in `/`. `rest` and `query` are the
/// ones given to [`route::route`]: like DRF's `reverse()`, a format suffix
/// on the root (`/api/.json`) gives `musics.json`, and a `format` query
/// parameter is carried over (`?format=json`).
pub fn root_body(
    scheme: &str,
    host: &str,
    location_prefix: &str,
    rest: &str,
    query: &str,
) -> String {
    let link = route::musics_link(location_prefix, rest, query);
    // push_str, not format!: this answers every GET /api/, where the formatting machinery
    // cost more than the rest of the handler (callgrind, bench/instructions.sh).
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + link.len());
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(host);
    url.push_str(&link);
    let mut out = Vec::with_capacity(url.len() + 16);
    out.extend_from_slice(b"{\"musics\":");
    write_json_string(&mut out, &url);
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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

    fn row() -> MusicRow {
        MusicRow {
            id: 1,
            song: "song_test".into(),
            singer: "singer_test".into(),
            last_modify_date: Utc.with_ymd_and_hms(2022, 4, 5, 3, 45, 5).unwrap()
                + chrono::Duration::microseconds(123_456),
            created: Utc.with_ymd_and_hms(2022, 4, 5, 3, 45, 5).unwrap()
                + chrono::Duration::microseconds(123_460),
        }
    }

    #[test]
    fn item_has_the_six_keys_in_order() {
        let tz: Tz = "Asia/Taipei".parse().unwrap();
        let r = row();
        let mut out = Vec::new();
        write_item(&mut out, &r, r.created, &tz);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":1,"song":"song_test","singer":"singer_test","last_modify_date":"2022-04-05T11:45:05.123456+08:00","created":"2022-04-05T11:45:05.123460+08:00","days_since_created":0}"#
        );
    }

    #[test]
    fn item_days_and_escaping() {
        let tz: Tz = "UTC".parse().unwrap();
        let mut r = row();
        r.id = 9_223_372_036_854_775_807;
        r.song = "a\"\n".into();
        r.singer = "周".into();
        let now = r.created + chrono::Duration::days(3) + chrono::Duration::hours(23);
        let mut out = Vec::new();
        write_item(&mut out, &r, now, &tz);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"id":9223372036854775807,"song":"a\"\n","singer":"周","last_modify_date":"2022-04-05T03:45:05.123456+00:00","created":"2022-04-05T03:45:05.123460+00:00","days_since_created":3}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["song"], "a\"\n");
    }

    #[test]
    fn streamed_list_is_valid_json() {
        let tz: Tz = "Asia/Taipei".parse().unwrap();
        let r = row();
        let mut out = Vec::new();
        out.extend_from_slice(LIST_OPEN);
        write_item(&mut out, &r, r.created, &tz);
        out.extend_from_slice(LIST_SEPARATOR);
        write_item(&mut out, &r, r.created, &tz);
        out.extend_from_slice(LIST_CLOSE);
        let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 2);

        let mut out = Vec::new();
        out.extend_from_slice(LIST_OPEN);
        write_string_array_item(&mut out, "singer_test");
        out.extend_from_slice(LIST_SEPARATOR);
        write_string_array_item(&mut out, "周杰倫");
        out.extend_from_slice(LIST_CLOSE);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"["singer_test","周杰倫"]"#
        );

        let mut out = Vec::new();
        out.extend_from_slice(LIST_OPEN);
        out.extend_from_slice(LIST_CLOSE);
        assert_eq!(out, b"[]");
    }

    #[test]
    fn detail_is_singer_then_song() {
        let mut out = Vec::new();
        write_detail(&mut out, "singer_test", "song_test");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"singer":"singer_test","song":"song_test"}"#
        );
    }

    #[test]
    fn root_body_links_to_the_list() {
        assert_eq!(
            root_body("http", "127.0.0.1:8080", "/api/", "", ""),
            r#"{"musics":"http://127.0.0.1:8080/api/musics/"}"#
        );
        assert_eq!(
            root_body("https", "example.com", "/v1/music/", "", ""),
            r#"{"musics":"https://example.com/v1/music/musics/"}"#
        );
    }

    #[test]
    fn root_body_keeps_suffix_and_format_like_drf_reverse() {
        assert_eq!(
            root_body("http", "h", "/api/", ".json", ""),
            r#"{"musics":"http://h/api/musics.json"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", ".json/", ""),
            r#"{"musics":"http://h/api/musics.json"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", "", "format=json"),
            r#"{"musics":"http://h/api/musics/?format=json"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", ".json", "x=1&format=json"),
            r#"{"musics":"http://h/api/musics.json?format=json"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", "", "format=json&format=api"),
            r#"{"musics":"http://h/api/musics/?format=api"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", "", "format="),
            r#"{"musics":"http://h/api/musics/?format="}"#
        );
    }

    #[test]
    fn root_body_escapes_the_host() {
        let body = root_body("http", "a\"b", "/api/", "", "");
        assert_eq!(body, r#"{"musics":"http://a\"b/api/musics/"}"#);
    }
}

//! Writing response bodies byte for byte as DRF's `JSONRenderer` does:
//! compact separators, UTF-8 as is (`ensure_ascii=False`), Python's escapes
//! (`\"` `\\` `\n` `\r` `\t` `\b` `\f`, `\u00XX` for other control
//! characters) and DRF's extra `\u2028` / `\u2029` escapes.

use chrono_tz::Tz;

use super::json_string::{write_json_string, write_json_text};
use crate::db::MusicRow;
use crate::time::{days_since, format_iso, Stamp};

/// A streamed JSON array (the list and `all_singer` routes) is
/// `LIST_OPEN item (LIST_SEPARATOR item)* LIST_CLOSE`.
pub const LIST_OPEN: &[u8] = b"[";
pub const LIST_SEPARATOR: &[u8] = b",";
pub const LIST_CLOSE: &[u8] = b"]";

/// The `Content-Type` of every JSON answer (DRF sends no charset).
pub const CONTENT_TYPE: &str = "application/json";

/// Appends one string of a streamed string array (`all_singer`).
pub fn write_string_array_item(out: &mut Vec<u8>, s: &str) {
    write_json_string(out, s);
}

/// Appends an item: `{"id":…,"song":…,"singer":…,"last_modify_date":…,
/// "created":…,"days_since_created":…}`, datetimes in `tz`, the day count
/// as of `now`.
pub fn write_item<S: AsRef<[u8]>>(out: &mut Vec<u8>, row: &MusicRow<S>, now: Stamp, tz: &Tz) {
    let mut ints = itoa::Buffer::new();
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(ints.format(row.id).as_bytes());
    out.extend_from_slice(b",\"song\":");
    write_json_text(out, row.song.as_ref());
    out.extend_from_slice(b",\"singer\":");
    write_json_text(out, row.singer.as_ref());
    out.extend_from_slice(b",\"last_modify_date\":\"");
    let modified_at = out.len();
    format_iso(row.last_modify_date, tz, out);
    let modified_end = out.len();
    out.extend_from_slice(b"\",\"created\":\"");
    // A row never modified has both stamps from the same `now()`: written once, copied (the
    // time zone lookup and the digits are most of a list row's rendering).
    if row.created == row.last_modify_date {
        out.extend_from_within(modified_at..modified_end);
    } else {
        format_iso(row.created, tz, out);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn row() -> MusicRow {
        MusicRow {
            id: 1,
            song: "song_test".into(),
            singer: "singer_test".into(),
            last_modify_date: (Utc.with_ymd_and_hms(2022, 4, 5, 3, 45, 5).unwrap()
                + chrono::Duration::microseconds(123_456))
            .into(),
            created: (Utc.with_ymd_and_hms(2022, 4, 5, 3, 45, 5).unwrap()
                + chrono::Duration::microseconds(123_460))
            .into(),
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
    fn a_never_modified_row_writes_both_stamps_alike() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let mut r = row();
        r.last_modify_date = r.created;
        let mut out = Vec::new();
        write_item(&mut out, &r, r.created, &tz);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(r#""last_modify_date":"2022-04-04T23:45:05.123460-04:00","created":"2022-04-04T23:45:05.123460-04:00","#),
            "{text}"
        );
    }

    #[test]
    fn item_days_and_escaping() {
        let tz: Tz = "UTC".parse().unwrap();
        let mut r = row();
        r.id = 9_223_372_036_854_775_807;
        r.song = "a\"\n".into();
        r.singer = "周".into();
        let hours = 3 * 24 + 23;
        let now = Stamp::from_unix_micros(r.created.unix_micros() + hours * 3_600_000_000).unwrap();
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
}

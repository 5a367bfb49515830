//! A streamed list's body: `[`, the rows rendered one by one and separated by commas, `]`,
//! handed out in chunks of about [`FLUSH_AT`] bytes so that memory stays bounded whatever the
//! table size.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::api;
use crate::db::MusicRow;

/// A chunk is handed to nginx once it holds this many bytes.
pub const FLUSH_AT: usize = 16 * 1024;

/// The body of one list answer, being rendered.
pub struct ListBody {
    buf: Vec<u8>,
    rows: usize,
    now: DateTime<Utc>,
    tz: Tz,
}

impl ListBody {
    /// An open list (`[`); every row's age is written as of `now`.
    pub fn new(tz: Tz, now: DateTime<Utc>) -> ListBody {
        let mut buf = Vec::with_capacity(FLUSH_AT + 1024);
        buf.push(b'[');
        ListBody {
            buf,
            rows: 0,
            now,
            tz,
        }
    }

    fn separate(&mut self) {
        if self.rows > 0 {
            self.buf.push(b',');
        }
        self.rows += 1;
    }

    /// One music row (`GET /api/musics/`).
    pub fn push_item<S: AsRef<str>>(&mut self, row: &MusicRow<S>) {
        self.separate();
        api::write_item(&mut self.buf, row, self.now, &self.tz);
    }

    /// One singer's name (`GET /api/musics/all_singer/`).
    pub fn push_singer(&mut self, singer: &str) {
        self.separate();
        api::write_json_string(&mut self.buf, singer);
    }

    /// The rows rendered so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The chunk to send now, if one is full; call [`ListBody::sent`] once it is sent.
    pub fn full_chunk(&self) -> Option<&[u8]> {
        (self.buf.len() >= FLUSH_AT).then_some(&self.buf[..])
    }

    /// The chunk was handed to nginx: the buffer is reused for the next one.
    pub fn sent(&mut self) {
        self.buf.clear();
    }

    /// Closes the list (`]`) and gives the last chunk.
    pub fn finish(&mut self) -> &[u8] {
        self.buf.push(b']');
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn when() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
    }

    #[test]
    fn an_empty_list_is_two_brackets() {
        let mut list = ListBody::new(chrono_tz::UTC, when());
        assert!(list.full_chunk().is_none());
        assert_eq!(list.finish(), b"[]");
        assert_eq!(list.rows(), 0);
    }

    #[test]
    fn rows_are_separated_by_commas() {
        let mut list = ListBody::new(chrono_tz::UTC, when());
        list.push_singer("a");
        list.push_singer("b\"");
        assert_eq!(list.finish(), br#"["a","b\""]"#);
        assert_eq!(list.rows(), 2);
    }

    #[test]
    fn items_render_as_the_single_item_does() {
        let row = MusicRow {
            id: 1,
            song: "s",
            singer: "t",
            last_modify_date: when(),
            created: when(),
        };
        let mut single = Vec::new();
        api::write_item(&mut single, &row, when(), &chrono_tz::UTC);
        let mut list = ListBody::new(chrono_tz::UTC, when());
        list.push_item(&row);
        let mut expected = b"[".to_vec();
        expected.extend_from_slice(&single);
        expected.push(b']');
        assert_eq!(list.finish(), expected.as_slice());
    }

    #[test]
    fn chunks_are_handed_out_at_the_threshold_and_the_stream_ends_with_the_rest() {
        let mut list = ListBody::new(chrono_tz::UTC, when());
        let name = "x".repeat(1000);
        let mut sent = Vec::new();
        for _ in 0..40 {
            list.push_singer(&name);
            if let Some(chunk) = list.full_chunk() {
                assert!(chunk.len() >= FLUSH_AT && chunk.len() < FLUSH_AT + 1100);
                sent.extend_from_slice(chunk);
                list.sent();
            }
        }
        assert_eq!(sent.len() / FLUSH_AT, 2, "two full chunks of 40 KB");
        sent.extend_from_slice(list.finish());
        let all: Vec<String> = serde_json::from_slice(&sent).expect("one JSON array");
        assert_eq!(all.len(), 40);
    }
}

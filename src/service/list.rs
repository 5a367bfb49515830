//! A list's body: `[`, the rows rendered one by one and separated by commas, `]`. Up to
//! `music_list_buffer_size` it is read whole ([`read_whole`]) and answered from memory; a
//! larger one is handed out in chunks of about [`FLUSH_AT`] bytes so that memory stays bounded
//! whatever the table size, by the loop that moves rows from the database to the client
//! ([`stream_rows`]). Both render the rows the same way, so the client gets the same bytes.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::time::Stamp;

use std::pin::Pin;

use tokio_postgres::{Row, RowStream};

use crate::api;
use crate::db::queries::Db;
use crate::db::statements::Stmt;
use crate::db::{DbError, MusicRow};

/// A chunk is handed to nginx once it holds this many bytes.
pub const FLUSH_AT: usize = 16 * 1024;

/// The body of one list answer, being rendered.
pub struct ListBody {
    buf: Vec<u8>,
    rows: usize,
    now: Stamp,
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
            now: now.into(),
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
    pub fn push_item<S: AsRef<[u8]>>(&mut self, row: &MusicRow<S>) {
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

    /// The bytes rendered and not yet handed out.
    pub fn rendered_len(&self) -> usize {
        self.buf.len()
    }

    /// Closes the list (`]`) and gives the whole body.
    pub fn into_body(mut self) -> Vec<u8> {
        self.buf.push(b']');
        self.buf
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

/// Where a list's rows come from: each call renders the next row into the body.
#[allow(async_fn_in_trait)] // a generic bound on this single-threaded loop, never `Send`
pub trait RowSource {
    /// `Ok(false)` at the end of the rows.
    async fn next_into(&mut self, list: &mut ListBody) -> Result<bool, RowFailure>;
}

/// Where a list's chunks go: the client's connection. `Err`: the client is gone.
#[allow(async_fn_in_trait)]
pub trait ChunkSink {
    async fn send(&mut self, bytes: &[u8], last: bool) -> Result<(), ()>;
}

/// Why no next row was rendered.
#[derive(Debug, PartialEq, Eq)]
pub enum RowFailure {
    /// A row's columns could not be read as the statement's types.
    Unreadable,
    /// The statement failed while the rows came.
    Db(DbError),
}

/// How a streamed list ended, with the rows rendered.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every row, and the closing `]`, were handed to the client.
    Complete(usize),
    /// The client went away mid-stream: the rest of the rows is still on the connection.
    ClientGone(usize),
    /// The client went away with the last chunk.
    LastChunkLost(usize),
    Failed(usize, RowFailure),
}

impl StreamEnd {
    pub fn rows(&self) -> usize {
        match self {
            StreamEnd::Complete(n)
            | StreamEnd::ClientGone(n)
            | StreamEnd::LastChunkLost(n)
            | StreamEnd::Failed(n, _) => *n,
        }
    }
}

/// Moves every row of `rows` into `list` and the chunks to `sink`, waiting for the sink
/// (a slow client) before reading more.
pub async fn stream_rows(
    rows: &mut impl RowSource,
    sink: &mut impl ChunkSink,
    mut list: ListBody,
) -> StreamEnd {
    loop {
        match rows.next_into(&mut list).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(why) => return StreamEnd::Failed(list.rows(), why),
        }
        if let Some(chunk) = list.full_chunk() {
            if sink.send(chunk, false).await.is_err() {
                return StreamEnd::ClientGone(list.rows());
            }
            list.sent();
        }
    }
    let rows = list.rows();
    match sink.send(list.finish(), true).await {
        Ok(()) => StreamEnd::Complete(rows),
        Err(()) => StreamEnd::LastChunkLost(rows),
    }
}

/// The shortest a music row renders to: `{"id":0,"song":"","singer":"",
/// "last_modify_date":"0000-01-01T00:00:00+00:00","created":…,"days_since_created":0}`.
const MIN_ITEM_BYTES: usize = 138;
/// The shortest a singer renders to: `""`.
const MIN_SINGER_BYTES: usize = 2;

/// How many of a list's first rows to ask for to know whether its body fits in `bound`
/// bytes: every row renders to at least the shortest row, so a body within the bound has at
/// most `bound / shortest` rows, and one more row tells it is larger.
pub fn head_rows(stmt: Stmt, bound: usize) -> usize {
    let shortest = match stmt {
        Stmt::AllSingers => MIN_SINGER_BYTES,
        _ => MIN_ITEM_BYTES,
    };
    bound / shortest + 1
}

/// Reads the rows of `rows` (at most `head_rows` of them were asked for) into `list` as long as
/// the body, `]` included, stays within `bound` bytes: the whole body, or `None` as soon as it
/// is larger (or the `head_rows` limit is reached: there may be more), leaving the other rows
/// unread.
pub async fn read_whole(
    rows: &mut impl RowSource,
    mut list: ListBody,
    bound: usize,
    head_rows: usize,
) -> Result<Option<Vec<u8>>, RowFailure> {
    while rows.next_into(&mut list).await? {
        if list.rendered_len() + 1 > bound || list.rows() >= head_rows {
            return Ok(None);
        }
    }
    Ok(Some(list.into_body()))
}

/// The rows of a list's statement on a leased connection, the first one read ahead (it
/// decides between a 200 and an error answer before anything is sent).
pub struct DbRows<'a> {
    db: &'a Db,
    stmt: Stmt,
    stream: Pin<Box<RowStream>>,
    first: Option<Option<Row>>,
}

impl<'a> DbRows<'a> {
    /// The rows of `stmt`, or with `head` only its first `head` rows.
    pub async fn open(db: &'a Db, stmt: Stmt, head: Option<usize>) -> Result<DbRows<'a>, DbError> {
        let head = head.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut stream = db.stream(stmt, head).await?;
        let first = db.next_row(&mut stream).await?;
        Ok(DbRows {
            db,
            stmt,
            stream,
            first: Some(first),
        })
    }
}

impl RowSource for DbRows<'_> {
    async fn next_into(&mut self, list: &mut ListBody) -> Result<bool, RowFailure> {
        let row = match self.first.take() {
            Some(first) => first,
            None => self
                .db
                .next_row(&mut self.stream)
                .await
                .map_err(RowFailure::Db)?,
        };
        let Some(row) = row else { return Ok(false) };
        let rendered = match self.stmt {
            Stmt::AllSingers => row
                .try_get::<_, &str>(0)
                .map(|s| list.push_singer(s))
                .is_ok(),
            _ => Db::music_row(&row)
                .map(|item| list.push_item(&item))
                .is_ok(),
        };
        if rendered {
            Ok(true)
        } else {
            Err(RowFailure::Unreadable)
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use futures_util::FutureExt;

    use super::*;

    /// `n` singers, then `end` (`None`: the end of the rows).
    struct Singers {
        left: usize,
        end: Option<RowFailure>,
    }

    impl RowSource for Singers {
        async fn next_into(&mut self, list: &mut ListBody) -> Result<bool, RowFailure> {
            if self.left == 0 {
                return match self.end.take() {
                    Some(why) => Err(why),
                    None => Ok(false),
                };
            }
            self.left -= 1;
            list.push_singer(&"s".repeat(1000));
            Ok(true)
        }
    }

    /// A client that takes `accepts` chunks, then is gone.
    struct Client {
        got: Vec<u8>,
        chunks: usize,
        accepts: usize,
    }

    impl ChunkSink for Client {
        async fn send(&mut self, bytes: &[u8], _last: bool) -> Result<(), ()> {
            if self.chunks == self.accepts {
                return Err(());
            }
            self.chunks += 1;
            self.got.extend_from_slice(bytes);
            Ok(())
        }
    }

    fn stream(rows: usize, end: Option<RowFailure>, accepts: usize) -> (StreamEnd, Client) {
        let mut source = Singers { left: rows, end };
        let mut client = Client {
            got: Vec::new(),
            chunks: 0,
            accepts,
        };
        let list = ListBody::new(chrono_tz::UTC, when());
        let end = stream_rows(&mut source, &mut client, list)
            .now_or_never()
            .expect("the fakes never wait");
        (end, client)
    }

    fn whole(
        rows: usize,
        end: Option<RowFailure>,
        bound: usize,
    ) -> Result<Option<Vec<u8>>, RowFailure> {
        let mut source = Singers { left: rows, end };
        let list = ListBody::new(chrono_tz::UTC, when());
        let head = head_rows(Stmt::AllSingers, bound);
        read_whole(&mut source, list, bound, head)
            .now_or_never()
            .expect("the fakes never wait")
    }

    #[test]
    fn a_list_read_whole_is_the_bytes_the_stream_sends() {
        // 1000-byte singers: 20 rows are 20 * 1003 bytes - 1 comma + the brackets
        for rows in [0, 1, 20, 40] {
            let (end, client) = stream(rows, None, usize::MAX);
            assert_eq!(end, StreamEnd::Complete(rows));
            let body = whole(rows, None, client.got.len()).unwrap();
            assert_eq!(body.as_deref(), Some(&client.got[..]), "{rows} rows");
        }
    }

    #[test]
    fn a_list_one_byte_over_the_bound_is_not_read_whole() {
        let (_, client) = stream(20, None, usize::MAX);
        let size = client.got.len();
        assert_eq!(whole(20, None, size).unwrap().map(|b| b.len()), Some(size));
        assert_eq!(whole(20, None, size - 1).unwrap(), None);
        assert_eq!(whole(0, None, 2).unwrap().as_deref(), Some(&b"[]"[..]));
    }

    #[test]
    fn a_list_that_reaches_its_head_rows_is_not_read_whole() {
        // rows that render shorter than the head's reckoning (a broken bound) still stop at
        // the row limit: there may be more rows than were asked for
        let mut source = Singers { left: 3, end: None };
        let list = ListBody::new(chrono_tz::UTC, when());
        let read = read_whole(&mut source, list, 1 << 20, 3)
            .now_or_never()
            .unwrap();
        assert_eq!(read.unwrap(), None);
        let mut source = Singers { left: 2, end: None };
        let list = ListBody::new(chrono_tz::UTC, when());
        let read = read_whole(&mut source, list, 1 << 20, 3)
            .now_or_never()
            .unwrap();
        assert!(read.unwrap().is_some());
    }

    #[test]
    fn a_failed_row_fails_the_list_read_whole() {
        let failed = whole(3, Some(RowFailure::Db(DbError::QueryTimeout)), 1 << 20);
        assert_eq!(failed, Err(RowFailure::Db(DbError::QueryTimeout)));
        assert_eq!(
            whole(3, Some(RowFailure::Unreadable), 1 << 20),
            Err(RowFailure::Unreadable)
        );
    }

    #[test]
    fn no_row_renders_shorter_than_the_head_reckons() {
        // the shortest values of every field: id 0, empty texts, a four-digit year with no
        // microseconds at offset 0, created now
        let created = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap().into();
        let row = MusicRow {
            id: 0,
            song: "",
            singer: "",
            last_modify_date: created,
            created,
        };
        let mut out = Vec::new();
        api::write_item(&mut out, &row, created, &chrono_tz::UTC);
        assert_eq!(
            out.len(),
            MIN_ITEM_BYTES,
            "{}",
            String::from_utf8_lossy(&out)
        );
        out.clear();
        api::write_json_string(&mut out, "");
        assert_eq!(out.len(), MIN_SINGER_BYTES);
        // a body within the bound has fewer rows than the head asks for
        assert_eq!(head_rows(Stmt::List, 256 * 1024), 256 * 1024 / 138 + 1);
        assert_eq!(head_rows(Stmt::AllSingers, 10), 6);
        // the head's rows, each as short as can be, are over the bound: reaching them says
        // the list is larger
        for bound in [0, 1, 137, 138, 139, 140, 1000, 256 * 1024] {
            for (stmt, shortest) in [(Stmt::List, MIN_ITEM_BYTES), (Stmt::AllSingers, 2)] {
                let n = head_rows(stmt, bound);
                assert!(n * shortest + (n - 1) + 2 > bound, "{stmt:?} {bound}");
            }
        }
    }

    #[test]
    fn a_stream_ends_complete_with_every_row_in_one_json_array() {
        let (end, client) = stream(40, None, usize::MAX);
        assert_eq!(end, StreamEnd::Complete(40));
        assert_eq!(client.chunks, 3, "two full chunks and the rest");
        let all: Vec<String> = serde_json::from_slice(&client.got).unwrap();
        assert_eq!(all.len(), 40);
        let (end, client) = stream(0, None, usize::MAX);
        assert_eq!(end, StreamEnd::Complete(0));
        assert_eq!(client.got, b"[]");
    }

    #[test]
    fn a_client_gone_mid_stream_stops_the_rows() {
        let (end, client) = stream(40, None, 1);
        assert_eq!(end, StreamEnd::ClientGone(34));
        assert_eq!(client.chunks, 1);
        let (end, _) = stream(40, None, 2);
        assert_eq!(end, StreamEnd::LastChunkLost(40));
    }

    #[test]
    fn a_failed_row_ends_the_stream_without_the_closing_bracket() {
        let (end, client) = stream(3, Some(RowFailure::Db(DbError::QueryTimeout)), usize::MAX);
        assert_eq!(
            end,
            StreamEnd::Failed(3, RowFailure::Db(DbError::QueryTimeout))
        );
        assert!(client.got.is_empty(), "nothing was full enough to send");
        let (end, _) = stream(20, Some(RowFailure::Unreadable), usize::MAX);
        assert_eq!(end, StreamEnd::Failed(20, RowFailure::Unreadable));
    }

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
            last_modify_date: when().into(),
            created: when().into(),
        };
        let mut single = Vec::new();
        api::write_item(&mut single, &row, when().into(), &chrono_tz::UTC);
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

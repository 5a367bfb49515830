//! A streamed list's body: `[`, the rows rendered one by one and separated by commas, `]`,
//! handed out in chunks of about [`FLUSH_AT`] bytes so that memory stays bounded whatever the
//! table size; and the loop that moves rows from the database to the client
//! ([`stream_rows`]).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

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

/// The rows of a streamed statement on a leased connection, the first one read ahead (it
/// decides between a 200 and an error answer before anything is sent).
pub struct DbRows<'a> {
    db: &'a Db,
    stmt: Stmt,
    stream: Pin<Box<RowStream>>,
    first: Option<Option<Row>>,
}

impl<'a> DbRows<'a> {
    pub async fn open(db: &'a Db, stmt: Stmt) -> Result<DbRows<'a>, DbError> {
        let mut stream = db.stream(stmt).await?;
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

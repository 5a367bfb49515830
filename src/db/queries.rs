//! The API's queries on a leased connection, each under `music_query_timeout`. A query that
//! times out is cancelled on the server (a cancel request over a second socket); one cancelled
//! by another request's cancel runs once more; one whose connection broke is reported as lost
//! (for writes: outcome unknown), never retried.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::ffi::executor::spawn;
use futures_util::Stream;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row, RowStream};

use super::cancel::{CloseAfterPeer, CloseAfterPeerTls};
use super::pool::{Lease, Purpose};
use super::statements::Stmt;
use super::timestamp::PgTimestamp;
use super::{describe, DbError};
use super::{MusicRow, Utf8Text};
use crate::auth::UserRow;
use crate::conf::PoolSettings;
use crate::ffi::peer::PeerStream;
use crate::ffi::timer::with_deadline;
use crate::metrics::record::{self, Pool as Event};

/// A leased connection plus the time limits that apply to this request's queries.
pub struct Db {
    pub lease: Lease,
    timeouts: Timeouts,
    /// Whether this handle asked the server to cancel what its connection runs since its
    /// current statement started: a 57014 is then the answer to its own cancel, not one to
    /// run again.
    cancel_asked: Cell<bool>,
}

/// The time limits of a leased connection's work, from the location's `music_pool_*`
/// settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timeouts {
    /// `music_query_timeout`: each statement.
    query_ms: u64,
    /// `music_connect_timeout`: the second socket that cancels a statement on the server.
    connect_ms: u64,
}

impl From<&PoolSettings> for Timeouts {
    fn from(pool: &PoolSettings) -> Timeouts {
        Timeouts {
            query_ms: pool.query_timeout_ms,
            connect_ms: pool.connect_ms,
        }
    }
}

/// The parameters paired with the types of the statement's `$n`, for an unnamed statement.
fn with_types<'p>(
    stmt: Stmt,
    params: &[&'p (dyn ToSql + Sync)],
) -> Vec<(&'p (dyn ToSql + Sync), Type)> {
    params
        .iter()
        .zip(stmt.param_types())
        .map(|(p, t)| (*p, t.clone()))
        .collect()
}

fn music_row<'a, S: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
) -> Result<MusicRow<S>, DbError> {
    let get = |e: tokio_postgres::Error| DbError::Query(describe(&e));
    Ok(MusicRow {
        id: row.try_get(0).map_err(get)?,
        song: row.try_get(1).map_err(get)?,
        singer: row.try_get(2).map_err(get)?,
        last_modify_date: row.try_get::<_, PgTimestamp>(3).map_err(get)?.0,
        created: row.try_get::<_, PgTimestamp>(4).map_err(get)?.0,
    })
}

/// One statement on its way: once sent (first polled), dropping it before its answer came
/// (its deadline passed, or the client went away and the task let go of it) asks the server to
/// cancel it, so it does not keep running in PostgreSQL. The cancel cannot name a statement:
/// the server cancels whatever the backend runs when it arrives, which on a pipelined
/// connection may be an earlier statement of another request; that one sees SQLSTATE 57014
/// and runs again (see [`Db::guarded`]). So no cancel is sent when it cannot help: for a
/// statement never sent, or one whose answer is already in (polled once more on drop).
/// It is still sent for a client gone on a shared connection, though it may hit a neighbour
/// (who then pays one more round trip): when this statement is the one running, only the
/// cancel keeps it from taking effect after its client left, and a statement stuck on a lock
/// would otherwise hold up every request pipelined behind it until their deadlines.
struct CancelOnDrop<'a, F: Future, C: FnOnce()> {
    statement: Pin<&'a mut F>,
    state: Sending,
    /// Sends the cancel request ([`Db::cancel_running`]).
    cancel: Option<C>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sending {
    NotYet,
    Sent,
    Answered,
}

impl<F: Future, C: FnOnce() + Unpin> Future for CancelOnDrop<'_, F, C> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.state = Sending::Sent;
        let answer = this.statement.as_mut().poll(cx);
        if answer.is_ready() {
            this.state = Sending::Answered;
        }
        answer
    }
}

impl<F: Future, C: FnOnce()> Drop for CancelOnDrop<'_, F, C> {
    fn drop(&mut self) {
        if self.state != Sending::Sent {
            return;
        }
        // The answer may have arrived on the connection since the task was last woken: then
        // the statement is over and a cancel could only hit someone else's.
        let mut cx = Context::from_waker(Waker::noop());
        if self.statement.as_mut().poll(&mut cx).is_pending() {
            if let Some(cancel) = self.cancel.take() {
                cancel();
            }
        }
    }
}

/// Whether the server cancelled the statement (SQLSTATE 57014 query_canceled): a cancel
/// request, or the server's own `statement_timeout`. The statement was rolled back.
fn cancelled(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::QUERY_CANCELED)
}

impl Db {
    /// The connection `lease`, under the time limits of the location's `pool` settings.
    pub fn new(lease: Lease, pool: &PoolSettings) -> Db {
        Db {
            lease,
            timeouts: Timeouts::from(pool),
            cancel_asked: Cell::new(false),
        }
    }

    /// Asks the server to cancel what this connection is running (fire and forget; the socket
    /// stays open until the server has closed it, at most `music_connect_timeout`).
    pub fn cancel_running(&self) {
        let token = self.lease.conn.client.cancel_token();
        let endpoint = self.lease.conn.endpoint.clone();
        let tls = self.lease.conn.cancel_tls.clone();
        let limit = self.timeouts.connect_ms;
        self.cancel_asked.set(true);
        record::pool(self.lease.purpose(), Event::Cancels);
        spawn(async move {
            let _ = with_deadline(limit as _, async {
                let stream = PeerStream::connect(&endpoint).await.ok()?;
                match tls {
                    Some(tls) => token
                        .cancel_query_raw(CloseAfterPeer(stream), CloseAfterPeerTls(tls))
                        .await
                        .ok(),
                    None => token
                        .cancel_query_raw(CloseAfterPeer(stream), NoTls)
                        .await
                        .ok(),
                }
            })
            .await;
        })
        .detach();
    }

    fn failed(&self, e: tokio_postgres::Error, write: bool) -> DbError {
        if let Some(db) = e.as_db_error() {
            record::sqlstate(db.code().code());
        }
        // A prepared statement the server session lacks: a pooler switched sessions (an
        // unnamed statement lives only within its own round trip, so nothing to lose there).
        if self.lease.conn.prepares() {
            if let Some(lost) = super::statements_lost(&e) {
                return lost;
            }
        }
        // The server ending the session (pg_terminate_backend, shutdown: SQLSTATE class 57)
        // or a connection exception (class 08) means the connection is gone, whatever the
        // client-side state says yet.
        if let Some(code) = e.as_db_error().map(|d| d.code().code()) {
            // 57014 query_canceled, a second time for this statement (see `guarded`): a cancel
            // request of another request on the same pipelined connection, or the server's
            // `statement_timeout`. A timeout; the connection stays usable and the statement
            // was rolled back.
            if code == "57014" {
                return DbError::QueryTimeout;
            }
            // 25006 read_only_sql_transaction: a write reached a server that only reads (a
            // standby the host list led to, or a primary demoted under us). The database as a
            // whole is unavailable for writes here, not the request at fault: the connection
            // is retired so the next one searches the hosts again.
            if code == "25006" {
                self.lease.discard();
                return DbError::Unavailable(format!(
                    "{} on {}: a write reached a read-only server",
                    describe(&e),
                    self.lease.conn.endpoint
                ));
            }
            if code.starts_with("57") || code.starts_with("08") {
                self.lease.discard();
                return DbError::ConnectionLost { write };
            }
        }
        if e.is_closed()
            || self.lease.conn.is_closed()
            || e.as_db_error().is_none() && e.to_string().contains("connection")
        {
            self.lease.discard_if_closed();
            DbError::ConnectionLost { write }
        } else {
            DbError::Query(describe(&e))
        }
    }

    /// Runs one statement under the query timeout, cancelling it on the server if it does not
    /// complete (timeout, or the request let go of it). `statement` makes the statement's
    /// future; it is called again for the one retry.
    ///
    /// A statement that comes back cancelled (57014) while its future is still here, and
    /// that this handle did not ask to cancel ([`Db::cancel_running`] meanwhile), was not
    /// cancelled for this request: this request's deadline drops the future before it sends
    /// its cancel, and a client gone drops the whole task. It was hit by another request's
    /// cancel on the same pipelined connection (or by a server `statement_timeout`); it was
    /// rolled back (each statement is its own transaction), so it runs once more, within the
    /// same deadline. Cancelled again: the timeout answer.
    async fn guarded<T, F>(
        &self,
        mut statement: impl FnMut() -> F,
        write: bool,
    ) -> Result<T, DbError>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.cancel_asked.set(false);
        let attempts = async {
            match self.sent(statement()).await {
                Err(e) if cancelled(&e) && !self.cancel_asked.get() => {
                    record::sqlstate(SqlState::QUERY_CANCELED.code());
                    self.sent(statement()).await
                }
                answer => answer,
            }
        };
        self.bounded(attempts, write).await
    }

    /// Runs one attempt of a stream's statement (its start, or the wait for its next row)
    /// under the query timeout, never again: a stream has its connection to itself, so no
    /// other request's cancel reaches it, and rows already handed out cannot be taken back.
    async fn guarded_once<T>(
        &self,
        statement: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, DbError> {
        self.bounded(self.sent(statement), false).await
    }

    /// `attempts` under the query timeout, its error as the API's.
    async fn bounded<T>(
        &self,
        attempts: impl Future<Output = Result<T, tokio_postgres::Error>>,
        write: bool,
    ) -> Result<T, DbError> {
        match with_deadline(self.timeouts.query_ms as _, attempts).await {
            Ok(result) => result.map_err(|e| self.failed(e, write)).inspect_err(|e| {
                if *e == (DbError::ConnectionLost { write: true }) {
                    record::pool(self.lease.purpose(), Event::WritesUnknown);
                }
            }),
            Err(_) => Err(DbError::QueryTimeout),
        }
    }

    /// One attempt of a statement, cancelled on the server if dropped unanswered.
    async fn sent<F: Future>(&self, statement: F) -> F::Output {
        let statement = std::pin::pin!(statement);
        CancelOnDrop {
            statement,
            state: Sending::NotYet,
            cancel: Some(|| self.cancel_running()),
        }
        .await
    }

    async fn rows(
        &self,
        stmt: Stmt,
        params: &[&(dyn ToSql + Sync)],
        write: bool,
    ) -> Result<Vec<Row>, DbError> {
        let conn = &self.lease.conn;
        let query = || async move {
            match conn.statement(stmt) {
                Some(prepared) => conn.client.query(prepared, params).await,
                None => {
                    let typed = with_types(stmt, params);
                    conn.client.query_typed(stmt.sql(), &typed).await
                }
            }
        };
        let started = Instant::now();
        let rows = self.guarded(query, write).await;
        record::statement(stmt as usize, started.elapsed());
        rows
    }

    async fn one_music(
        &self,
        stmt: Stmt,
        params: &[&(dyn ToSql + Sync)],
        write: bool,
    ) -> Result<Option<MusicRow>, DbError> {
        self.rows(stmt, params, write)
            .await?
            .first()
            .map(music_row)
            .transpose()
    }

    pub async fn retrieve(&self, id: i64) -> Result<Option<MusicRow>, DbError> {
        self.one_music(Stmt::Retrieve, &[&id], false).await
    }

    /// The rows of these ids, each once, in no set order.
    pub async fn retrieve_rows(&self, ids: &[i64]) -> Result<Vec<MusicRow>, DbError> {
        self.rows(Stmt::RetrieveMany, &[&ids], false)
            .await?
            .iter()
            .map(music_row)
            .collect()
    }

    pub async fn exists(&self, id: i64) -> Result<bool, DbError> {
        Ok(!self.rows(Stmt::Exists, &[&id], false).await?.is_empty())
    }

    /// Another handle on this connection, under the same time limits, for work that outlives
    /// this request (a batch of writes).
    pub fn sharing(&self) -> Db {
        Db {
            lease: self.lease.another(),
            timeouts: self.timeouts,
            cancel_asked: Cell::new(false),
        }
    }

    /// Like [`sharing`](Self::sharing), on the pool's least busy connection with room (this
    /// one when none has).
    pub fn sharing_least_busy(&self) -> Db {
        Db {
            lease: self
                .lease
                .least_busy()
                .unwrap_or_else(|| self.lease.another()),
            timeouts: self.timeouts,
            cancel_asked: Cell::new(false),
        }
    }

    /// Inserts these rows (`songs[i]`, `singers[i]`) in one transaction; the rows in that order.
    pub async fn insert_rows(
        &self,
        songs: &[&str],
        singers: &[&str],
    ) -> Result<Vec<MusicRow>, DbError> {
        self.rows(Stmt::Create, &[&songs, &singers], true)
            .await?
            .iter()
            .map(music_row)
            .collect()
    }

    /// Changes these rows (`ids[i]` to `songs[i]`, `singers[i]`; a `None` keeps the row's
    /// value with [`Stmt::Patch`]) in one transaction; the rows changed, in no set order.
    pub async fn update_rows(
        &self,
        stmt: Stmt,
        ids: &[i64],
        songs: &[Option<&str>],
        singers: &[Option<&str>],
    ) -> Result<Vec<MusicRow>, DbError> {
        self.rows(stmt, &[&ids, &songs, &singers], true)
            .await?
            .iter()
            .map(music_row)
            .collect()
    }

    /// Deletes these rows in one transaction; the ids of those there were.
    pub async fn delete_rows(&self, ids: &[i64]) -> Result<Vec<i64>, DbError> {
        self.rows(Stmt::Delete, &[&ids], true)
            .await?
            .iter()
            .map(|row| row.try_get(0).map_err(|e| DbError::Query(describe(&e))))
            .collect()
    }

    pub async fn detail(&self, id: i64) -> Result<Option<(String, String)>, DbError> {
        let rows = self.rows(Stmt::Detail, &[&id], false).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let get = |e: tokio_postgres::Error| DbError::Query(describe(&e));
        Ok(Some((
            row.try_get(0).map_err(get)?,
            row.try_get(1).map_err(get)?,
        )))
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>, DbError> {
        let rows = self.rows(Stmt::UserByName, &[&username], false).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        user_row(row).map(Some)
    }

    /// The `session_data` of an unexpired `django_session` row.
    pub async fn session_data(&self, key: &str) -> Result<Option<String>, DbError> {
        let rows = self.rows(Stmt::SessionByKey, &[&key], false).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        row.try_get(0)
            .map(Some)
            .map_err(|e| DbError::Query(describe(&e)))
    }

    /// Writes the session row of a login; it expires in `max_age` seconds.
    pub async fn insert_session(&self, key: &str, data: &str, max_age: i64) -> Result<(), DbError> {
        self.rows(Stmt::InsertSession, &[&key, &data, &max_age], true)
            .await
            .map(drop)
    }

    /// Deletes a session row (logout); whether there was one.
    pub async fn delete_session(&self, key: &str) -> Result<bool, DbError> {
        Ok(!self
            .rows(Stmt::DeleteSession, &[&key], true)
            .await?
            .is_empty())
    }

    /// `auth_user.last_login = now()`, as Django's `update_last_login`.
    pub async fn touch_last_login(&self, id: i64) -> Result<(), DbError> {
        self.rows(Stmt::TouchLastLogin, &[&id], true)
            .await
            .map(drop)
    }

    /// The `auth_user` row with this id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, DbError> {
        let rows = self.rows(Stmt::UserById, &[&id], false).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        user_row(row).map(Some)
    }

    /// Starts a list's query (`List` or `AllSingers`); rows come with [`Db::next_row`]. With
    /// `first`, only the list's first rows are asked for (its head statement, `LIMIT $1`).
    pub async fn stream(
        &self,
        list: Stmt,
        first: Option<i64>,
    ) -> Result<Pin<Box<RowStream>>, DbError> {
        let conn = &self.lease.conn;
        let limit;
        let (stmt, params): (Stmt, &[&(dyn ToSql + Sync)]) = match (first, list.head()) {
            (Some(n), Some(head)) => {
                limit = n;
                (head, &[&limit])
            }
            _ => (list, &[]),
        };
        let start = async {
            match conn.statement(stmt) {
                Some(prepared) => {
                    conn.client
                        .query_raw(prepared, params.iter().copied())
                        .await
                }
                None => {
                    let typed = with_types(stmt, params);
                    conn.client.query_typed_raw(stmt.sql(), typed).await
                }
            }
        };
        let started = Instant::now();
        let stream = self.guarded_once(start).await;
        // a list's head counts as the list's statement
        record::statement(list as usize, started.elapsed());
        let stream = stream?;
        if self.lease.purpose() == Purpose::Streams {
            record::pool(Purpose::Streams, Event::Streams);
        }
        Ok(Box::pin(stream))
    }

    /// The next row of a stream; each wait is bounded by the query timeout. Rows count as
    /// streamed (metrics) on a stream connection only.
    pub async fn next_row(&self, stream: &mut Pin<Box<RowStream>>) -> Result<Option<Row>, DbError> {
        let streamed = self.lease.purpose() == Purpose::Streams;
        // Rows arrive many to a socket read, so the next one is usually here already: take it
        // without arming a deadline (a timer per row costs an allocation and two timer-tree updates).
        let ready = std::future::poll_fn(|cx| Poll::Ready(stream.as_mut().poll_next(cx))).await;
        match ready {
            Poll::Ready(None) => return Ok(None),
            Poll::Ready(Some(Ok(row))) => {
                if streamed {
                    record::stream_rows(1);
                }
                return Ok(Some(row));
            }
            Poll::Ready(Some(Err(e))) => return Err(self.failed(e, false)),
            Poll::Pending => {}
        }
        let next = std::future::poll_fn(|cx| match stream.as_mut().poll_next(cx) {
            Poll::Ready(None) => Poll::Ready(Ok(None)),
            Poll::Ready(Some(result)) => Poll::Ready(result.map(Some)),
            Poll::Pending => Poll::Pending,
        });
        let row = self.guarded_once(next).await;
        if let (Ok(Some(_)), true) = (&row, streamed) {
            record::stream_rows(1);
        }
        row
    }

    /// A streamed row, its texts borrowed from `row`.
    pub fn music_row(row: &Row) -> Result<MusicRow<Utf8Text<'_>>, DbError> {
        music_row(row)
    }
}

/// An `auth_user` row of the user statements (`id`, `password`, `is_active`); `id` is an
/// `integer` in Django's table and a `bigint` where a project changed it.
fn user_row(row: &Row) -> Result<UserRow, DbError> {
    let get = |e: tokio_postgres::Error| DbError::Query(describe(&e));
    Ok(UserRow {
        id: row
            .try_get::<_, i32>(0)
            .map(i64::from)
            .or_else(|_| row.try_get::<_, i64>(0))
            .map_err(get)?,
        password: row.try_get(1).map_err(get)?,
        is_active: row.try_get(2).map_err(get)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pending for its first `pending` polls, then ready; counts its polls.
    struct Answer<'a> {
        pending: usize,
        polls: &'a std::cell::Cell<usize>,
    }

    impl Future for Answer<'_> {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            self.polls.set(self.polls.get() + 1);
            if self.pending == 0 {
                return Poll::Ready(());
            }
            self.pending -= 1;
            Poll::Pending
        }
    }

    /// How many cancels a statement dropped after `polled` polls sends; it answers on its
    /// poll number `pending + 1`.
    fn cancels_on_drop(pending: usize, polled: usize) -> usize {
        let polls = std::cell::Cell::new(0);
        let cancels = std::cell::Cell::new(0);
        let mut statement = std::pin::pin!(Answer {
            pending,
            polls: &polls,
        });
        let mut watched = CancelOnDrop {
            statement: statement.as_mut(),
            state: Sending::NotYet,
            cancel: Some(|| cancels.set(cancels.get() + 1)),
        };
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..polled {
            let _ = Pin::new(&mut watched).poll(&mut cx);
        }
        drop(watched);
        cancels.get()
    }

    #[test]
    fn a_statement_dropped_unanswered_is_cancelled() {
        assert_eq!(cancels_on_drop(5, 1), 1);
        assert_eq!(cancels_on_drop(5, 3), 1);
    }

    #[test]
    fn a_statement_never_sent_is_not_cancelled() {
        assert_eq!(cancels_on_drop(5, 0), 0);
    }

    #[test]
    fn a_statement_whose_answer_arrived_is_not_cancelled() {
        // answered, and the answer taken
        assert_eq!(cancels_on_drop(1, 2), 0);
        // answered since the task was last woken: seen by the poll on drop
        assert_eq!(cancels_on_drop(1, 1), 0);
    }

    #[test]
    fn timeouts_come_from_their_own_directives() {
        // Distinct values, so a swapped or repeated field shows.
        let pool = PoolSettings {
            size: 2,
            stream_size: 2,
            pipeline: 32,
            queue: 1024,
            wait_ms: 3_000,
            connect_ms: 1_500,
            query_timeout_ms: 20_000,
            prepared_statements: true,
        };
        assert_eq!(
            Timeouts::from(&pool),
            Timeouts {
                query_ms: 20_000,
                connect_ms: 1_500,
            }
        );
    }
}

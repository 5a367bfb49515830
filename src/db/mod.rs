//! PostgreSQL access: the peer-connection stream is in `ffi::peer`; here are the pool, the
//! connection with its prepared statements, and the queries the API runs.

mod batch;
mod cancel;
pub mod conn;
pub mod delete_batch;
pub mod insert_batch;
mod order;
pub mod pool;
pub mod queries;
pub mod read_batch;
pub mod reads;
pub mod role;
mod row;
pub mod statements;
mod text;
mod timestamp;
pub mod update_batch;

use std::fmt;

pub use row::MusicRow;
pub use text::Utf8Text;

/// Why a database operation did not produce an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// No connection could be opened (the reason, from PostgreSQL or the socket).
    Unavailable(String),
    /// Too many requests already wait for a connection.
    QueueFull,
    /// No connection became free within `music_pool_timeout`.
    PoolTimeout,
    /// Every list stream connection (`music_pool_stream_size`) stayed in use by other streams
    /// for `music_pool_timeout`, or too many lists already wait for one.
    StreamsBusy,
    /// The query did not finish within `music_query_timeout` (it was cancelled).
    QueryTimeout,
    /// The connection broke while the query was under way; for a write, whether it was
    /// committed is unknown.
    ConnectionLost { write: bool },
    /// PostgreSQL refused the statement (its message).
    Query(String),
    /// The server session does not have a statement this connection prepared, or already has
    /// one of the name it prepares (the server's message): the session is not the one the
    /// statements were prepared in, which is what a connection pooler in transaction mode does.
    StatementsLost(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Unavailable(why) if why.is_empty() => f.write_str("Database unavailable."),
            DbError::Unavailable(why) => write!(f, "Database unavailable: {why}"),
            DbError::QueueFull => {
                f.write_str("Database busy: too many requests waiting for a connection.")
            }
            DbError::PoolTimeout => {
                f.write_str("Database busy: no connection became free in time.")
            }
            DbError::StreamsBusy => f.write_str("All list streams are busy, try again later."),
            DbError::QueryTimeout => f.write_str("Database query timed out."),
            DbError::ConnectionLost { write: true } => {
                f.write_str("Database connection lost during the write; its outcome is unknown.")
            }
            DbError::ConnectionLost { write: false } => f.write_str("Database connection lost."),
            DbError::Query(why) => write!(f, "Database error: {why}"),
            DbError::StatementsLost(why) => write!(
                f,
                "{why}: the prepared statements do not survive a connection pooler in \
                 transaction mode (such as PgBouncer with pool_mode = transaction); set \
                 \"music_prepared_statements off\" for it"
            ),
        }
    }
}

/// The error of a statement that was prepared in another server session than the one that
/// ran it: prepared statement "sN" does not exist (SQLSTATE 26000), or already exists
/// (42P05). Neither happens on a direct connection to PostgreSQL, whose session is the
/// connection's own for its whole life.
pub fn statements_lost(e: &tokio_postgres::Error) -> Option<DbError> {
    let db = e.as_db_error()?;
    let code = db.code().code();
    (code == "26000" || code == "42P05").then(|| DbError::StatementsLost(describe(e)))
}

/// tokio-postgres errors display tersely ("db error"); this gives the server's message.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                source = inner.source();
            }
            s
        }
    }
}

//! `music_health live|ready`: the answers a load balancer, Docker's `HEALTHCHECK` or an
//! orchestrator asks for. `live`: the worker runs (200, always). `ready`: this worker can
//! reach the database: its query pool has a working connection, or opens one within
//! [`READY_WAIT_MS`] (bounded by `music_connect_timeout`); else 503 with the reason, in words
//! that name no host (the page has no authentication).

use std::rc::Rc;

use crate::conf::{DbSettings, PoolSettings};
use crate::db::pool::primary_for;
use crate::db::DbError;
use crate::ffi::timer::with_deadline;
use crate::http::Response;
use crate::metrics::shared::{connect_failure_index, CONNECT_FAILURES};

/// The longest a readiness probe waits for a connection to open.
pub const READY_WAIT_MS: u64 = 1000;

/// What a `music_health` location answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Live,
    Ready,
}

impl Probe {
    pub fn parse(word: &str) -> Option<Probe> {
        match word {
            "live" => Some(Probe::Live),
            "ready" => Some(Probe::Ready),
            _ => None,
        }
    }
}

/// The database a `ready` location checks.
#[derive(Clone, Debug)]
pub struct ReadyTarget {
    pub database: Rc<DbSettings>,
    pub pool: PoolSettings,
}

fn answer(status: u16, body: &str) -> Response {
    Response::json(status, body.as_bytes().to_vec()).header("Cache-Control", "no-store")
}

/// The live answer.
pub fn live() -> Response {
    answer(200, r#"{"status":"live"}"#)
}

/// Why the database is not usable, in words without a host or a user name.
pub fn reason(e: &DbError) -> String {
    match e {
        DbError::Unavailable(why) if why.is_empty() => "database unavailable".to_owned(),
        DbError::Unavailable(why) => format!(
            "database unavailable ({})",
            CONNECT_FAILURES[connect_failure_index(why)]
        ),
        DbError::PoolTimeout => "no connection opened in time".to_owned(),
        DbError::StatementsLost(_) => "statements lost (connection pooler)".to_owned(),
        _ => "database unavailable".to_owned(),
    }
}

/// The not-ready answer for `reason`.
pub fn not_ready(reason: &str) -> Response {
    // the reason is one of ours: no client bytes, no quote to escape
    answer(
        503,
        &format!(r#"{{"status":"unavailable","reason":"{reason}"}}"#),
    )
}

/// The ready answer: checks (and if needed opens) a connection of the worker's query pool.
pub async fn ready(target: ReadyTarget) -> Response {
    let pool = primary_for(&target.database, &target.pool);
    if pool.has_working_connection() {
        return answer(200, r#"{"status":"ready"}"#);
    }
    let wait = READY_WAIT_MS.min(target.pool.connect_ms.max(1));
    match with_deadline(wait as _, pool.acquire()).await {
        Ok(Ok(_lease)) => answer(200, r#"{"status":"ready"}"#),
        Ok(Err(e)) => not_ready(&reason(&e)),
        Err(_) => not_ready("no connection opened in time"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_no_host() {
        let e = DbError::Unavailable("10.0.0.5:5432: Connection refused (os error 111)".into());
        assert_eq!(reason(&e), "database unavailable (refused)");
        let e =
            DbError::Unavailable("FATAL: password authentication failed for user \"music\"".into());
        assert_eq!(reason(&e), "database unavailable (auth)");
        assert_eq!(Probe::parse("ready"), Some(Probe::Ready));
        assert_eq!(Probe::parse("Ready"), None);
    }
}

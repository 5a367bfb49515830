//! `music_auth_listen on`: each worker keeps one connection per database that `LISTEN`s on
//! the channel the auth triggers notify (`build/sql/auth_listen.sql`), and drops the cached
//! credentials and sessions each notification names, so that a changed password, a
//! deactivated user or a logout elsewhere takes effect at once rather than within
//! `music_auth_cache_valid`.
//!
//! The connection is opened like the pool's (TLS, every host, the resolver) but on a primary
//! only. Notifications sent while it was not listening are lost, so every time `LISTEN`
//! succeeds (the first time too: entries cached before it may predate a change) the worker's
//! caches of that database are emptied. While it is down the time bound alone applies. A
//! connection that listened for 5 s or more is reopened at once when lost; otherwise (and
//! after a failed attempt) the next attempt waits 100 ms, doubling to 5 s.
//!
//! Without the triggers no notification ever comes: the time bound stays.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use async_task::Task;
use nginx_sys::{NGX_LOG_NOTICE, NGX_LOG_WARN};
use ngx::ngx_log_error;

use crate::auth::change::{Change, CHANNEL};
use crate::conf::{ApiSettings, DbSettings};
use crate::db::conn::{Listener, PgConn};
use crate::db::{describe, DbError};
use crate::ffi::executor::spawn;
use crate::ffi::process::cycle_log;
use crate::ffi::timer::with_deadline;

const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Drops what a change makes untrustworthy from one cache of the database `conninfo`.
pub type Forget = fn(conninfo: &str, change: Change);

/// The caches of one database, told of every change.
type Caches = Rc<RefCell<Vec<Forget>>>;

struct Listening {
    caches: Caches,
    _task: Task<()>,
}

thread_local! {
    /// What listens for each database (by connection string) in this worker.
    static LISTENING: RefCell<HashMap<String, Listening>> = RefCell::new(HashMap::new());
}

/// Called once by each cache of `api`'s database as it is made: if the location asks for it,
/// the cache is told of every change from now on, and the worker listens on that database if
/// it does not yet.
pub fn start(api: &ApiSettings, forget: Forget) {
    if !api.auth.listen {
        return;
    }
    let database = &api.database;
    LISTENING.with(|l| {
        let mut l = l.borrow_mut();
        let listening = l.entry(database.conninfo.clone()).or_insert_with(|| {
            let caches = Caches::default();
            let task = spawn(keep_listening(
                database.clone(),
                api.pool.connect_ms,
                caches.clone(),
            ));
            Listening {
                caches,
                _task: task,
            }
        });
        listening.caches.borrow_mut().push(forget);
    });
}

/// Drops every listening connection of this worker (worker exit).
pub fn shutdown_all() {
    let tasks = LISTENING.with(|l| std::mem::take(&mut *l.borrow_mut()));
    drop(tasks);
}

/// Applies one change to every cache of the database `conninfo`.
fn forget(conninfo: &str, caches: &Caches, change: Change) {
    // copied out: a cache made meanwhile must not find the list borrowed
    let forgets = caches.borrow().clone();
    for f in forgets {
        f(conninfo, change);
    }
}

/// The listening connection's side of [`Listener`]: applies notifications, and wakes
/// [`keep_listening`] when the connection ends.
struct Watch {
    conninfo: String,
    caches: Caches,
    ended: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Listener for Watch {
    fn notified(&self, channel: &str, payload: &str) {
        if channel == CHANNEL {
            forget(&self.conninfo, &self.caches, Change::parse(payload));
        }
    }

    fn ended(&self) {
        self.ended.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl Watch {
    async fn until_ended(&self) {
        std::future::poll_fn(|cx| {
            if self.ended.get() {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// Opens a connection and runs `LISTEN` on it.
async fn listen(
    database: &DbSettings,
    timeout_ms: u64,
    watch: Rc<Watch>,
) -> Result<Rc<PgConn>, String> {
    let unavailable = |e: DbError| match e {
        DbError::Unavailable(why) => why,
        other => other.to_string(),
    };
    let conn = PgConn::open_listening(database, timeout_ms, watch)
        .await
        .map_err(unavailable)?;
    let sql = format!("LISTEN {CHANNEL}");
    match with_deadline(timeout_ms as _, conn.client.batch_execute(&sql)).await {
        Ok(Ok(())) => Ok(conn),
        Ok(Err(e)) => Err(format!("{}: LISTEN: {}", conn.endpoint, describe(&e))),
        Err(_) => Err(format!("{}: LISTEN timed out", conn.endpoint)),
    }
}

/// Listens on `database` for as long as the worker runs.
async fn keep_listening(database: Rc<DbSettings>, timeout_ms: u64, caches: Caches) {
    let mut retry = RETRY_MIN;
    loop {
        let watch = Rc::new(Watch {
            conninfo: database.conninfo.clone(),
            caches: caches.clone(),
            ended: Cell::new(false),
            waker: Cell::new(None),
        });
        match listen(&database, timeout_ms, watch.clone()).await {
            Ok(conn) => {
                // Notifications sent before now reached nobody.
                forget(&database.conninfo, &caches, Change::Everything);
                ngx_log_error!(
                    NGX_LOG_NOTICE,
                    cycle_log(),
                    "music: listening for auth changes on {}; cached credentials and sessions \
                     dropped",
                    conn.endpoint
                );
                let since = Instant::now();
                watch.until_ended().await;
                ngx_log_error!(
                    NGX_LOG_WARN,
                    cycle_log(),
                    "music: the connection listening for auth changes on {} was lost; cached \
                     credentials and sessions are trusted for music_auth_cache_valid until it \
                     is back",
                    conn.endpoint
                );
                drop(conn);
                // A connection that lasted is reopened at once; one that keeps being closed
                // right away is not reopened in a tight loop.
                if since.elapsed() >= RETRY_MAX {
                    retry = RETRY_MIN;
                    continue;
                }
            }
            Err(why) => {
                ngx_log_error!(
                    NGX_LOG_WARN,
                    cycle_log(),
                    "music: cannot listen for auth changes: {} (next attempt in {} ms); cached \
                     credentials and sessions are trusted for music_auth_cache_valid",
                    why,
                    retry.as_millis()
                );
            }
        }
        // A cancelable timer: an exiting worker does not wait for the next attempt.
        ngx::async_::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

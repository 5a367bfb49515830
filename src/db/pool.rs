//! The per-worker connection pools: `size` connections, each carrying up to `pipeline`
//! queries at once (tokio-postgres pipelines concurrent queries on one connection), and a
//! bounded queue of requests waiting for capacity.
//!
//! Streamed list answers have a pool of their own ([`Purpose::Streams`]): a stream holds its
//! connection for as long as its client takes to read, which a slow client makes as long as it
//! likes, so streams never take a connection that short queries need. There each lease is a
//! whole connection.
//!
//! Connections are opened lazily, replaced when broken, and after a failed connect the pool
//! backs off (100 ms doubling to 5 s) so a dead database is not hammered: while it backs
//! off with no live connection, requests fail at once with 503 instead of waiting.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::ffi::executor::spawn;

use super::conn::PgConn;
use super::statements::StatementMode;
use super::DbError;
use crate::conf::{DbSettings, PoolSettings};
use crate::ffi::timer::with_deadline;
use crate::metrics::record::{self, Pool as Event, PoolKind};

/// What a pool's connections carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Short queries, pipelined many to a connection.
    Queries,
    /// Streamed lists, one to a connection for the stream's whole duration (a slow reader
    /// must not hold up queries pipelined behind it).
    Streams,
}

/// One pool's limits, from the location's [`PoolSettings`] for its purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolLimits {
    pub size: usize,
    pub pipeline: usize,
    pub queue: usize,
    pub wait_ms: u64,
    pub connect_ms: u64,
    /// How the pool's connections send statements: connections of either kind never mix in
    /// one pool.
    pub statements: StatementMode,
}

impl PoolLimits {
    /// The limits of the pool for `purpose`: streams have `stream_size` connections of their
    /// own, so however many clients read lists (and however slowly), the short queries keep
    /// `size` connections.
    pub fn of(settings: &PoolSettings, purpose: Purpose) -> PoolLimits {
        PoolLimits {
            size: match purpose {
                Purpose::Queries => settings.size,
                Purpose::Streams => settings.stream_size,
            },
            pipeline: settings.pipeline,
            queue: settings.queue,
            wait_ms: settings.wait_ms,
            connect_ms: settings.connect_ms,
            statements: if settings.prepared_statements {
                StatementMode::Prepared
            } else {
                StatementMode::Unnamed
            },
        }
    }
}

enum Slot {
    Empty,
    Connecting,
    Ready(Rc<PgConn>),
}

struct Waiter {
    waker: Cell<Option<Waker>>,
    woken: Cell<bool>,
}

pub struct Pool {
    settings: Rc<DbSettings>,
    purpose: Purpose,
    limits: PoolLimits,
    slots: RefCell<Vec<(Slot, usize)>>,
    waiters: RefCell<VecDeque<Weak<Waiter>>>,
    backoff: Cell<Backoff>,
    last_error: RefCell<String>,
}

/// Queries in flight on every connection before the pool opens another one.
const SPREAD_AT: usize = 4;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// When a pool may try to connect again after failed connects: 100 ms after the first
/// failure, doubling to 5 s, back to the start after a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Backoff {
    retry_at: Option<Instant>,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            retry_at: None,
            next: BACKOFF_MIN,
        }
    }
}

impl Backoff {
    fn waiting(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|t| now < t)
    }

    /// A connect failed at `now`: returns how long the pool now waits.
    fn failed(&mut self, now: Instant) -> Duration {
        let wait = self.next;
        self.retry_at = Some(now + wait);
        self.next = (wait * 2).min(BACKOFF_MAX);
        wait
    }

    fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

/// The least busy of the live connections' loads (`None`: not live) that has room under
/// `limit`.
fn least_busy(loads: impl Iterator<Item = Option<usize>>, limit: usize) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, load) in loads.enumerate() {
        if let Some(n) = load {
            if n < limit && best.is_none_or(|(_, b)| n < b) {
                best = Some((i, n));
            }
        }
    }
    best.map(|(i, _)| i)
}

/// Whether one more request may wait for a connection: the queue bound applies to waiting
/// for a busy pool; while a connection is being opened the first requests wait for it
/// (bounded by the pool timeout).
fn may_wait(waiting: usize, queue: usize, connecting: bool) -> bool {
    connecting || waiting < queue
}

/// A location's database settings, a purpose and limits, and the pool they resolve to.
type PoolOfSettings = (Rc<DbSettings>, Purpose, PoolLimits, Rc<Pool>);

thread_local! {
    static POOLS: RefCell<HashMap<(String, Purpose, PoolLimits), Rc<Pool>>> = RefCell::new(HashMap::new());
    /// `pool_for`'s answers by the settings object asked with: a location passes the same
    /// `Rc` on every request, so a pointer compare over these few entries (one per location,
    /// purpose and limits) replaces cloning and hashing its connection string each time. The
    /// entry holds the settings, so their address is not reused while it exists.
    static POOLS_BY_SETTINGS: RefCell<Vec<PoolOfSettings>> =
        const { RefCell::new(Vec::new()) };
}

/// The worker's pool for this connection string, purpose and limits, created on first use.
pub fn pool_for(settings: &Rc<DbSettings>, pool: &PoolSettings, purpose: Purpose) -> Rc<Pool> {
    let limits = PoolLimits::of(pool, purpose);
    let known = POOLS_BY_SETTINGS.with(|m| {
        m.borrow()
            .iter()
            .find(|(s, p, l, _)| Rc::ptr_eq(s, settings) && *p == purpose && *l == limits)
            .map(|(.., pool)| pool.clone())
    });
    if let Some(pool) = known {
        return pool;
    }
    let pool = POOLS.with(|p| {
        p.borrow_mut()
            .entry((settings.conninfo.clone(), purpose, limits))
            .or_insert_with(|| {
                Rc::new(Pool {
                    settings: settings.clone(),
                    purpose,
                    limits,
                    slots: RefCell::new((0..limits.size).map(|_| (Slot::Empty, 0)).collect()),
                    waiters: RefCell::new(VecDeque::new()),
                    backoff: Cell::new(Backoff::default()),
                    last_error: RefCell::new(String::new()),
                })
            })
            .clone()
    });
    POOLS_BY_SETTINGS.with(|m| {
        m.borrow_mut()
            .push((settings.clone(), purpose, limits, pool.clone()))
    });
    pool
}

/// The pool a readiness probe checks: the worker's query pool for this connection string
/// that already exists (the API's, whatever its limits), else the one of these settings.
pub fn primary_for(settings: &Rc<DbSettings>, pool: &PoolSettings) -> Rc<Pool> {
    let existing = POOLS.with(|p| {
        p.borrow()
            .iter()
            .find(|((conninfo, purpose, _), _)| {
                *purpose == Purpose::Queries && *conninfo == settings.conninfo
            })
            .map(|(_, pool)| pool.clone())
    });
    existing.unwrap_or_else(|| pool_for(settings, pool, Purpose::Queries))
}

/// Publishes this worker's pool gauges (connections open, busy, idle, connecting, requests
/// waiting, backoff) to the metrics, each purpose's pools added up.
pub fn publish_gauges() {
    let mut sums = [[0i64; 6]; 2];
    POOLS.with(|p| {
        for ((_, purpose, _), pool) in p.borrow().iter() {
            let g = pool.gauges();
            let sum = &mut sums[*purpose as usize];
            for (k, v) in g.iter().enumerate() {
                sum[k] = if k == 5 { sum[k].max(*v) } else { sum[k] + v };
            }
        }
    });
    record::pool_gauges(Purpose::Queries, sums[0]);
    record::pool_gauges(Purpose::Streams, sums[1]);
}

impl From<Purpose> for PoolKind {
    fn from(p: Purpose) -> PoolKind {
        match p {
            Purpose::Queries => PoolKind::Queries,
            Purpose::Streams => PoolKind::Streams,
        }
    }
}

/// Drops every pool of this worker (worker exit).
pub fn shutdown_all() {
    POOLS_BY_SETTINGS.with(|m| m.borrow_mut().clear());
    let pools = POOLS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    for pool in pools.values() {
        pool.slots.borrow_mut().clear();
        pool.waiters.borrow_mut().clear();
    }
}

/// A place in one connection's pipeline (in a stream pool: the whole connection); given back
/// on drop.
pub struct Lease {
    pool: Rc<Pool>,
    slot: usize,
    pub conn: Rc<PgConn>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(s) = self.pool.slots.borrow_mut().get_mut(self.slot) {
            // only if the slot still holds this connection (a replaced one starts at zero)
            if matches!(&s.0, Slot::Ready(c) if Rc::ptr_eq(c, &self.conn)) {
                s.1 = s.1.saturating_sub(1);
            }
        }
        self.pool.wake_one();
    }
}

impl Lease {
    /// What the lease's pool carries (for the metrics of its events).
    pub fn purpose(&self) -> Purpose {
        self.pool.purpose
    }

    /// Another place on this lease's connection, beyond the pipeline limit: work that outlives
    /// the request holding this lease (a batch of writes several requests wait for) keeps the
    /// connection leased without queueing behind the requests that are waiting for it.
    pub fn another(&self) -> Lease {
        if let Some(s) = self.pool.slots.borrow_mut().get_mut(self.slot) {
            if matches!(&s.0, Slot::Ready(c) if Rc::ptr_eq(c, &self.conn)) {
                s.1 += 1;
            }
        }
        Lease {
            pool: self.pool.clone(),
            slot: self.slot,
            conn: self.conn.clone(),
        }
    }

    /// A place on the least busy connection of this lease's pool that has room, if any: work
    /// that outlives the request holding this lease and must not queue behind a statement that
    /// takes its time on this lease's connection.
    pub fn least_busy(&self) -> Option<Lease> {
        self.pool.try_lease()
    }

    /// The connections its pool may open (`music_pool_size`, `music_pool_stream_size`).
    pub fn pool_size(&self) -> usize {
        self.pool.limits.size.max(1)
    }

    /// Which of the worker's pools this lease is from (an address, stable while the pool lives).
    pub fn pool_key(&self) -> usize {
        Rc::as_ptr(&self.pool) as usize
    }

    /// Empties this lease's slot (the connection is known to be unusable).
    pub fn discard(&self) {
        let mut slots = self.pool.slots.borrow_mut();
        if let Some((slot, _)) = slots.get_mut(self.slot) {
            if matches!(slot, Slot::Ready(c) if Rc::ptr_eq(c, &self.conn)) {
                *slot = Slot::Empty;
            }
        }
    }

    /// Call when a query failed because the connection is gone: the slot is emptied so the
    /// next request opens a new connection.
    pub fn discard_if_closed(&self) {
        if self.conn.is_closed() {
            let mut slots = self.pool.slots.borrow_mut();
            if let Some((slot, _)) = slots.get_mut(self.slot) {
                if matches!(slot, Slot::Ready(c) if Rc::ptr_eq(c, &self.conn)) {
                    *slot = Slot::Empty;
                }
            }
        }
    }
}

impl Pool {
    fn wake_one(&self) {
        loop {
            let Some(w) = self.waiters.borrow_mut().pop_front() else {
                return;
            };
            // a waiter whose request gave up (timeout) is gone: skip it
            let Some(w) = w.upgrade() else { continue };
            if let Some(waker) = w.waker.take() {
                w.woken.set(true);
                waker.wake();
                return;
            }
        }
    }

    fn wake_all(&self) {
        let all: Vec<_> = self.waiters.borrow_mut().drain(..).collect();
        for w in all.iter().filter_map(Weak::upgrade) {
            w.woken.set(true);
            if let Some(waker) = w.waker.take() {
                waker.wake();
            }
        }
    }

    /// Leases a connection holds at most: a stream reads rows only as fast as its client takes
    /// them, and would hold up every query pipelined behind it on the same connection.
    fn per_connection(&self) -> usize {
        match self.purpose {
            Purpose::Queries => self.limits.pipeline.max(1),
            Purpose::Streams => 1,
        }
    }

    /// The least busy connection with room.
    fn try_lease(self: &Rc<Self>) -> Option<Lease> {
        let mut slots = self.slots.borrow_mut();
        for (slot, _) in slots.iter_mut() {
            if matches!(slot, Slot::Ready(c) if c.is_retired()) {
                *slot = Slot::Empty;
            }
        }
        let loads = slots.iter().map(|(slot, n)| match slot {
            Slot::Ready(_) => Some(*n),
            _ => None,
        });
        let i = least_busy(loads, self.per_connection())?;
        let (slot, in_flight) = &mut slots[i];
        let Slot::Ready(conn) = slot else { return None };
        *in_flight += 1;
        Some(Lease {
            pool: self.clone(),
            slot: i,
            conn: conn.clone(),
        })
    }

    /// Opens another connection (in an empty slot, unless backing off) once every live one
    /// carries at least `busy` queries; returns whether any connection is live or on its way.
    fn open_when_busier_than(self: &Rc<Self>, busy: usize) -> bool {
        let backing_off = self.backoff.get().waiting(Instant::now());
        let mut slots = self.slots.borrow_mut();
        let mut any_live = slots.iter().any(|(s, _)| !matches!(s, Slot::Empty));
        let all_busy = slots.iter().all(|(s, n)| match s {
            Slot::Ready(_) => *n >= busy,
            Slot::Connecting => true,
            Slot::Empty => true,
        });
        if backing_off || !all_busy {
            return any_live;
        }
        if let Some(i) = slots.iter().position(|(s, _)| matches!(s, Slot::Empty)) {
            slots[i].0 = Slot::Connecting;
            any_live = true;
            let pool = self.clone();
            spawn(async move { pool.connect_slot(i).await }).detach();
        }
        any_live
    }

    async fn connect_slot(self: Rc<Self>, i: usize) {
        let result = PgConn::open(
            &self.settings,
            self.limits.connect_ms,
            self.limits.statements,
        )
        .await;
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(i) else { return };
        match result {
            Ok(conn) => {
                record::pool(self.purpose, Event::Connects);
                *slot = (Slot::Ready(conn), 0);
                let mut backoff = self.backoff.get();
                backoff.succeeded();
                self.backoff.set(backoff);
            }
            Err(e) => {
                slot.0 = Slot::Empty;
                let mut backoff = self.backoff.get();
                let wait = backoff.failed(Instant::now());
                self.backoff.set(backoff);
                let message = match e {
                    DbError::Unavailable(why) => why,
                    other => other.to_string(),
                };
                ngx::ngx_log_error!(
                    nginx_sys::NGX_LOG_ERR,
                    crate::ffi::process::cycle_log(),
                    "music: database unavailable: {} (next attempt in {} ms)",
                    message,
                    wait.as_millis()
                );
                record::connect_failed(self.purpose, &message);
                *self.last_error.borrow_mut() = message;
            }
        }
        drop(slots);
        publish_gauges();
        self.wake_all();
    }

    /// Whether a connection is open and not known to be broken (a readiness probe's answer).
    pub fn has_working_connection(&self) -> bool {
        self.slots
            .borrow()
            .iter()
            .any(|(s, _)| matches!(s, Slot::Ready(c) if !c.is_closed()))
    }

    /// Open, busy, idle, connecting, waiting, backoff in force (ms): the metrics' gauges.
    fn gauges(&self) -> [i64; 6] {
        let slots = self.slots.borrow();
        let ready = |busy: bool| {
            slots
                .iter()
                .filter(|(s, n)| matches!(s, Slot::Ready(c) if !c.is_closed()) && (*n > 0) == busy)
                .count() as i64
        };
        let (busy, idle) = (ready(true), ready(false));
        let connecting = slots
            .iter()
            .filter(|(s, _)| matches!(s, Slot::Connecting))
            .count() as i64;
        let waiting = self
            .waiters
            .borrow()
            .iter()
            .filter(|w| w.strong_count() > 0)
            .count() as i64;
        let backoff = self.backoff.get().retry_at.map_or(0, |t| {
            t.saturating_duration_since(Instant::now()).as_millis() as i64
        });
        [busy + idle, busy, idle, connecting, waiting, backoff]
    }

    fn is_connecting(&self) -> bool {
        self.slots
            .borrow()
            .iter()
            .any(|(s, _)| matches!(s, Slot::Connecting))
    }

    /// A lease on a connection with room (in a stream pool: an idle connection, which the
    /// lease then has to itself), waiting in the bounded queue for at most the pool timeout.
    pub async fn acquire(self: &Rc<Self>) -> Result<Lease, DbError> {
        let result = self.acquire_lease().await;
        match (self.purpose, result) {
            // Every stream connection is taken by other streams (not still being opened): say
            // so, since short requests still work.
            (Purpose::Streams, Err(DbError::PoolTimeout | DbError::QueueFull))
                if !self.is_connecting() =>
            {
                Err(DbError::StreamsBusy)
            }
            (_, result) => result,
        }
    }

    async fn acquire_lease(self: &Rc<Self>) -> Result<Lease, DbError> {
        let waited = Cell::new(false);
        let wait = async {
            loop {
                if let Some(lease) = self.try_lease() {
                    // Spread load over the pool before pipelines get deep: each connection
                    // commits one transaction at a time, so writes need several to group
                    // their commits (measured: 1 connection ~4.2k INSERT/s, 32 ~8.4k).
                    if self.slots.borrow()[lease.slot].1 > SPREAD_AT {
                        self.open_when_busier_than(SPREAD_AT);
                    }
                    return Ok(lease);
                }
                // every connection is full: open another one if the pool has room
                let live = self.open_when_busier_than(self.per_connection());
                if !live {
                    let why = self.last_error.borrow().clone();
                    return Err(DbError::Unavailable(why));
                }
                self.waiters.borrow_mut().retain(|w| w.strong_count() > 0);
                let waiting = self.waiters.borrow().len();
                if !may_wait(waiting, self.limits.queue, self.is_connecting()) {
                    record::pool(self.purpose, Event::QueueFull);
                    return Err(DbError::QueueFull);
                }
                let me = Rc::new(Waiter {
                    waker: Cell::new(None),
                    woken: Cell::new(false),
                });
                self.waiters.borrow_mut().push_back(Rc::downgrade(&me));
                if !waited.replace(true) {
                    record::pool(self.purpose, Event::Waits);
                    publish_gauges();
                }
                std::future::poll_fn(|cx| {
                    if me.woken.get() {
                        Poll::Ready(())
                    } else {
                        me.waker.set(Some(cx.waker().clone()));
                        Poll::Pending
                    }
                })
                .await;
            }
        };
        match with_deadline(self.limits.wait_ms as _, wait).await {
            Ok(r) => r,
            Err(_) => {
                record::pool(self.purpose, Event::WaitTimeouts);
                Err(DbError::PoolTimeout)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_has_its_own_size_and_the_same_other_limits() {
        let settings = PoolSettings {
            size: 4,
            stream_size: 1,
            pipeline: 8,
            queue: 100,
            wait_ms: 250,
            connect_ms: 900,
            query_timeout_ms: 5_000,
            prepared_statements: true,
        };
        let queries = PoolLimits::of(&settings, Purpose::Queries);
        let streams = PoolLimits::of(&settings, Purpose::Streams);
        assert_eq!(
            queries,
            PoolLimits {
                size: 4,
                pipeline: 8,
                queue: 100,
                wait_ms: 250,
                connect_ms: 900,
                statements: StatementMode::Prepared,
            }
        );
        assert_eq!(streams, PoolLimits { size: 1, ..queries });
    }

    #[test]
    fn backoff_doubles_from_100ms_to_5s_and_resets_on_success() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert!(!b.waiting(t0));
        let waits: Vec<u128> = (0..8).map(|_| b.failed(t0).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert!(b.waiting(t0 + Duration::from_millis(4999)));
        assert!(!b.waiting(t0 + Duration::from_millis(5000)));
        b.succeeded();
        assert!(!b.waiting(t0));
        assert_eq!(b.failed(t0), BACKOFF_MIN);
    }

    #[test]
    fn a_lease_goes_to_the_least_busy_live_connection_with_room() {
        assert_eq!(
            least_busy([Some(3), Some(1), Some(2)].into_iter(), 32),
            Some(1)
        );
        // Not live (empty or connecting) connections take nothing.
        assert_eq!(least_busy([None, Some(5), None].into_iter(), 32), Some(1));
        // The first of equals.
        assert_eq!(least_busy([Some(2), Some(2)].into_iter(), 32), Some(0));
    }

    #[test]
    fn a_full_pool_leases_nothing() {
        assert_eq!(least_busy([Some(32), Some(32)].into_iter(), 32), None);
        assert_eq!(least_busy([None, None].into_iter(), 32), None);
        assert_eq!(least_busy(std::iter::empty(), 32), None);
        // A stream connection is leased once (limit 1).
        assert_eq!(least_busy([Some(1), Some(0)].into_iter(), 1), Some(1));
        assert_eq!(least_busy([Some(1), Some(1)].into_iter(), 1), None);
    }

    #[test]
    fn the_queue_bound_applies_unless_a_connection_is_being_opened() {
        assert!(may_wait(0, 1, false));
        assert!(!may_wait(1, 1, false), "a full queue refuses (503 at once)");
        assert!(!may_wait(0, 0, false));
        assert!(
            may_wait(5, 1, true),
            "the first requests wait for a connection on its way"
        );
    }
}

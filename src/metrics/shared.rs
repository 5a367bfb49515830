//! The counters one `music_metrics_zone` holds, shared by every worker: their fixed layout
//! (one slab allocation, made when the zone is created, so nothing is allocated per event),
//! the updates (atomic increments: no lock on the request path except to name a new route),
//! and a [`Snapshot`] of the numbers for the exposition. Safe code over a `&Shared`, so unit
//! tests run it on ordinary memory.
//!
//! Counters are totals of all workers, old and new, since the zone was created: a reload
//! hands the zone over and they keep counting. Gauges (connections open, requests waiting...)
//! are per worker process: each worker owns a [`WorkerSlot`] (claimed by pid) that it
//! overwrites, and a scrape adds the slots of the workers still running.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

/// Named route slots; one more, `(other)`, takes what does not fit.
pub const ROUTES: usize = 32;
const ROUTE_SLOTS: usize = ROUTES + 1;
pub const OTHER_ROUTE: &str = "(other)";
/// Longest route name kept (the stats zone's keys are cut at the same length).
pub const NAME_MAX: usize = 64;

/// The methods counted by name; any other is `other`.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];
/// `1xx` ... `5xx` (a status outside 100-599 counts as 5xx: nginx logs such as 499 count as 4xx).
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Upper bounds of the latency buckets, in microseconds: 0.1 ms ... 10 s (+Inf is implied).
pub const BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
const BUCKET_SLOTS: usize = BUCKETS_US.len() + 1;

/// The statements the API runs, in the order of `db::statements::Stmt` (their durations use
/// the requests' buckets). A list's first-rows statement counts as its list, so the two
/// `*_head` statements, last in that order, have no name of their own.
pub const STATEMENTS: [&str; 16] = [
    "list",
    "retrieve",
    "exists",
    "create",
    "replace",
    "patch",
    "delete",
    "detail",
    "all_singers",
    "user_by_name",
    "session_by_key",
    "user_by_id",
    "insert_session",
    "delete_session",
    "touch_last_login",
    "retrieve_many",
];

/// The two pools a database has in each worker.
pub const PURPOSES: [&str; 2] = ["queries", "streams"];

/// Counters per pool purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolCounter {
    /// A request had to wait for a connection.
    Waits = 0,
    /// ... and gave up after `music_pool_timeout`.
    WaitTimeouts,
    /// Refused at once: `music_pool_queue` requests already waiting.
    QueueFull,
    /// Connections opened.
    Connects,
    /// Statements cancelled on the server (query timeout, client gone).
    Cancels,
    /// Writes whose connection broke after they were sent.
    WritesUnknown,
    /// List streams begun.
    Streams,
    /// Rows sent in streams.
    StreamRows,
}
pub const POOL_COUNTERS: usize = 8;

/// Why a connection could not be opened (a bounded set).
pub const CONNECT_FAILURES: [&str; 5] = ["timeout", "refused", "auth", "tls", "other"];

/// The SQLSTATE classes counted by name (the two first characters); others are `other`.
pub const SQLSTATE_CLASSES: [&str; 12] = [
    "08", "22", "23", "25", "26", "28", "40", "42", "53", "57", "XX", "other",
];

/// Per-worker gauges of one pool purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolGauge {
    Open = 0,
    /// Connections carrying at least one lease.
    Busy,
    Idle,
    Connecting,
    /// Requests waiting for a connection.
    Waiting,
    /// The reconnect backoff in force, in milliseconds (0: none).
    BackoffMs,
}
pub const POOL_GAUGES: usize = 6;

/// Auth counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthCounter {
    CacheHits = 0,
    CacheMisses,
    Revalidations,
    Pbkdf2Runs,
    /// First-time logins refused because `music_auth_queue` checks were already queued.
    QueueRefusals,
    FailedLogins,
}
pub const AUTH_COUNTERS: usize = 6;

/// Worker processes tracked at once (workers of the old and the new configuration during a
/// reload); beyond it a worker's gauges are not shown.
pub const WORKER_SLOTS: usize = 128;

#[repr(C)]
struct RouteName {
    /// 0: free; set last, after the bytes.
    len: AtomicU32,
    /// Atomics, so a reader racing the writer of a new name reads no torn memory.
    bytes: [AtomicU8; NAME_MAX],
}

#[repr(C)]
struct Histogram {
    buckets: [AtomicU64; BUCKET_SLOTS],
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: u64) {
        let i = BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets.each_ref().map(|b| b.load(Relaxed)),
            sum_us: self.sum_us.load(Relaxed),
        }
    }
}

#[repr(C)]
struct RouteCounters {
    requests: [[AtomicU64; CLASSES.len()]; METHODS.len()],
    latency: Histogram,
}

#[repr(C)]
struct PoolCounters {
    counters: [AtomicU64; POOL_COUNTERS],
    connect_failures: [AtomicU64; CONNECT_FAILURES.len()],
}

/// One worker's gauges.
#[repr(C)]
pub struct WorkerSlot {
    /// 0: free.
    pid: AtomicI64,
    pools: [[AtomicI64; POOL_GAUGES]; PURPOSES.len()],
    auth_queue: AtomicI64,
}

const MAGIC: u64 = u64::from_le_bytes(*b"ngxmusMT");
const VERSION: u32 = 1;

/// The zone's content.
#[repr(C)]
pub struct Shared {
    magic: AtomicU64,
    version: AtomicU32,
    size: AtomicU64,
    names: [RouteName; ROUTES],
    routes: [RouteCounters; ROUTE_SLOTS],
    pools: [PoolCounters; PURPOSES.len()],
    statements: [Histogram; STATEMENTS.len()],
    sqlstate: [AtomicU64; SQLSTATE_CLASSES.len()],
    auth: [AtomicU64; AUTH_COUNTERS],
    workers: [WorkerSlot; WORKER_SLOTS],
}

/// A histogram's numbers: the count of each bucket (not cumulative; the last is +Inf), the sum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub buckets: [u64; BUCKET_SLOTS],
    pub sum_us: u64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// One route's numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteSnapshot {
    pub name: String,
    pub requests: [[u64; CLASSES.len()]; METHODS.len()],
    pub latency: HistogramSnapshot,
}

/// One pool purpose's numbers (gauges summed over live workers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolSnapshot {
    pub counters: [u64; POOL_COUNTERS],
    pub connect_failures: [u64; CONNECT_FAILURES.len()],
    pub gauges: [i64; POOL_GAUGES],
    /// The largest backoff of any worker (ms): summing them means nothing.
    pub backoff_max_ms: i64,
}

/// Everything a scrape shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub routes: Vec<RouteSnapshot>,
    pub pools: [PoolSnapshot; PURPOSES.len()],
    pub statements: Vec<HistogramSnapshot>,
    pub sqlstate: [u64; SQLSTATE_CLASSES.len()],
    pub auth: [u64; AUTH_COUNTERS],
    pub auth_queue: i64,
    pub workers: usize,
}

/// Bytes a zone's content takes.
pub const SIZE: usize = std::mem::size_of::<Shared>();
pub const ALIGN: usize = std::mem::align_of::<Shared>();

fn class_index(status: u16) -> usize {
    match status {
        100..=599 => (status / 100 - 1) as usize,
        _ => 4,
    }
}

/// The bounded reason of a failed connect, from its message.
pub fn connect_failure_index(message: &str) -> usize {
    let m = message.to_ascii_lowercase();
    let found = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if found(&["timed out", "timeout"]) {
        0
    } else if found(&["refused", "unreachable", "reset"]) {
        1
    } else if found(&["password", "authentication", "28p01", "28000", "role"]) {
        2
    } else if found(&["tls", "ssl", "certificate"]) {
        3
    } else {
        4
    }
}

/// The index of a SQLSTATE's class.
pub fn sqlstate_index(code: &str) -> usize {
    let class = code.get(..2).unwrap_or("");
    SQLSTATE_CLASSES[..SQLSTATE_CLASSES.len() - 1]
        .iter()
        .position(|c| *c == class)
        .unwrap_or(SQLSTATE_CLASSES.len() - 1)
}

impl Shared {
    /// Formats zeroed memory as a zone's content.
    pub fn format(&self) {
        self.version.store(VERSION, Relaxed);
        self.size.store(SIZE as u64, Relaxed);
        self.magic.store(MAGIC, Relaxed);
    }

    /// Whether this memory was formatted by this code.
    pub fn is_valid(&self) -> bool {
        self.magic.load(Relaxed) == MAGIC
            && self.version.load(Relaxed) == VERSION
            && self.size.load(Relaxed) == SIZE as u64
    }

    fn name_eq(&self, i: usize, name: &[u8]) -> bool {
        let n = &self.names[i];
        n.len.load(std::sync::atomic::Ordering::Acquire) as usize == name.len()
            && n.bytes.iter().zip(name).all(|(a, b)| a.load(Relaxed) == *b)
    }

    /// The slot of a route, or None if it has none yet.
    fn find_route(&self, name: &[u8]) -> Option<usize> {
        (0..ROUTES).find(|&i| self.name_eq(i, name))
    }

    /// The slot of `name`, naming a free slot for it if needed: `lock` runs the naming under
    /// the zone's lock (names are written once and never change).
    pub fn route_slot(&self, name: &str, lock: impl FnOnce(&mut dyn FnMut())) -> usize {
        let name = &name.as_bytes()[..name.len().min(NAME_MAX)];
        if name.is_empty() {
            return ROUTES;
        }
        if let Some(i) = self.find_route(name) {
            return i;
        }
        let mut slot = ROUTES;
        lock(&mut || {
            if let Some(i) = self.find_route(name) {
                slot = i;
                return;
            }
            let Some(i) = (0..ROUTES).find(|&i| self.names[i].len.load(Relaxed) == 0) else {
                return;
            };
            for (a, b) in self.names[i].bytes.iter().zip(name) {
                a.store(*b, Relaxed);
            }
            self.names[i]
                .len
                .store(name.len() as u32, std::sync::atomic::Ordering::Release);
            slot = i;
        });
        slot
    }

    /// Counts one request of the route in `slot`; `method` indexes [`METHODS`] (anything
    /// beyond counts as `other`).
    pub fn count_request(&self, slot: usize, method: usize, status: u16, latency_us: u64) {
        let r = &self.routes[slot.min(ROUTES)];
        let method = method.min(METHODS.len() - 1);
        r.requests[method][class_index(status)].fetch_add(1, Relaxed);
        r.latency.observe(latency_us);
    }

    pub fn add_pool(&self, purpose: usize, counter: PoolCounter, n: u64) {
        self.pools[purpose].counters[counter as usize].fetch_add(n, Relaxed);
    }

    pub fn connect_failed(&self, purpose: usize, reason: usize) {
        self.pools[purpose].connect_failures[reason.min(CONNECT_FAILURES.len() - 1)]
            .fetch_add(1, Relaxed);
    }

    pub fn statement(&self, index: usize, us: u64) {
        self.statements[index.min(STATEMENTS.len() - 1)].observe(us);
    }

    pub fn sqlstate(&self, index: usize) {
        self.sqlstate[index.min(SQLSTATE_CLASSES.len() - 1)].fetch_add(1, Relaxed);
    }

    pub fn auth(&self, counter: AuthCounter) {
        self.auth[counter as usize].fetch_add(1, Relaxed);
    }

    /// The slot of the worker `pid`, claiming a free one (or one of a process that is gone,
    /// as `alive` tells) the first time.
    pub fn worker_slot(&self, pid: i64, alive: impl Fn(i64) -> bool) -> Option<&WorkerSlot> {
        if let Some(w) = self.workers.iter().find(|w| w.pid.load(Relaxed) == pid) {
            return Some(w);
        }
        for w in &self.workers {
            let owner = w.pid.load(Relaxed);
            if (owner == 0 || !alive(owner))
                && w.pid.compare_exchange(owner, pid, Relaxed, Relaxed).is_ok()
            {
                w.clear_gauges();
                return Some(w);
            }
        }
        None
    }

    /// Numbers of all routes, pools and workers; `alive` tells whether a worker still runs.
    pub fn snapshot(&self, alive: impl Fn(i64) -> bool) -> Snapshot {
        let mut s = Snapshot::default();
        for i in 0..ROUTE_SLOTS {
            let name = if i == ROUTES {
                OTHER_ROUTE.to_owned()
            } else {
                let n = &self.names[i];
                let len = n.len.load(std::sync::atomic::Ordering::Acquire) as usize;
                if len == 0 {
                    continue;
                }
                let bytes: Vec<u8> = n.bytes[..len].iter().map(|b| b.load(Relaxed)).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            };
            let r = &self.routes[i];
            let requests = r
                .requests
                .each_ref()
                .map(|m| m.each_ref().map(|c| c.load(Relaxed)));
            let latency = r.latency.snapshot();
            if i == ROUTES && latency.count() == 0 {
                continue;
            }
            s.routes.push(RouteSnapshot {
                name,
                requests,
                latency,
            });
        }
        for (p, out) in self.pools.iter().zip(s.pools.iter_mut()) {
            out.counters = p.counters.each_ref().map(|c| c.load(Relaxed));
            out.connect_failures = p.connect_failures.each_ref().map(|c| c.load(Relaxed));
        }
        s.statements = self.statements.iter().map(Histogram::snapshot).collect();
        s.sqlstate = self.sqlstate.each_ref().map(|c| c.load(Relaxed));
        s.auth = self.auth.each_ref().map(|c| c.load(Relaxed));
        for w in &self.workers {
            let pid = w.pid.load(Relaxed);
            if pid == 0 || !alive(pid) {
                continue;
            }
            s.workers += 1;
            for (g, out) in w.pools.iter().zip(s.pools.iter_mut()) {
                for (k, v) in g.iter().enumerate() {
                    let v = v.load(Relaxed);
                    if k == PoolGauge::BackoffMs as usize {
                        out.backoff_max_ms = out.backoff_max_ms.max(v);
                    }
                    out.gauges[k] += v;
                }
            }
            s.auth_queue += w.auth_queue.load(Relaxed);
        }
        s
    }
}

impl WorkerSlot {
    fn clear_gauges(&self) {
        for g in self.pools.iter().flatten() {
            g.store(0, Relaxed);
        }
        self.auth_queue.store(0, Relaxed);
    }

    pub fn set_pool(&self, purpose: usize, gauges: [i64; POOL_GAUGES]) {
        for (g, v) in self.pools[purpose].iter().zip(gauges) {
            g.store(v, Relaxed);
        }
    }

    pub fn set_auth_queue(&self, n: i64) {
        self.auth_queue.store(n, Relaxed);
    }

    /// Gives the slot up (the worker exits).
    pub fn release(&self) {
        self.clear_gauges();
        self.pid.store(0, Relaxed);
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A zeroed, formatted `Shared` on the heap.
    pub fn shared() -> Box<Shared> {
        let layout = std::alloc::Layout::new::<Shared>();
        // SAFETY: `Shared` is made of atomics and arrays of them: all-zero bytes are a valid
        // value; the allocation has its layout and is owned by the Box.
        let s = unsafe { Box::from_raw(std::alloc::alloc_zeroed(layout) as *mut Shared) };
        s.format();
        s
    }

    fn no_lock(f: &mut dyn FnMut()) {
        f()
    }

    #[test]
    fn requests_count_by_route_method_and_class() {
        let s = shared();
        let a = s.route_slot("/api/musics/", no_lock);
        let b = s.route_slot("/static", no_lock);
        assert_ne!(a, b);
        assert_eq!(s.route_slot("/api/musics/", no_lock), a);
        s.count_request(a, 0, 200, 800);
        s.count_request(a, 0, 204, 80);
        s.count_request(a, 99, 404, 20_000_000);
        s.count_request(b, 2, 499, 0);
        let snap = s.snapshot(|_| true);
        assert_eq!(snap.routes.len(), 2);
        let r = &snap.routes[0];
        assert_eq!(r.name, "/api/musics/");
        assert_eq!(r.requests[0][1], 2);
        assert_eq!(r.requests[7][3], 1, "an index beyond the names: other, 4xx");
        assert_eq!(r.latency.count(), 3);
        assert_eq!(r.latency.buckets[0], 1, "80 us <= 0.1 ms");
        assert_eq!(r.latency.buckets[3], 1, "800 us <= 1 ms");
        assert_eq!(r.latency.buckets[16], 1, "20 s: +Inf");
        assert_eq!(r.latency.sum_us, 20_000_880);
        assert_eq!(snap.routes[1].requests[2][3], 1);
    }

    #[test]
    fn routes_beyond_the_table_count_as_other() {
        let s = shared();
        for i in 0..ROUTES + 10 {
            let slot = s.route_slot(&format!("/r{i}"), no_lock);
            s.count_request(slot, 0, 200, 1);
        }
        let snap = s.snapshot(|_| true);
        assert_eq!(snap.routes.len(), ROUTES + 1);
        let other = snap.routes.last().unwrap();
        assert_eq!(
            (other.name.as_str(), other.latency.count()),
            (OTHER_ROUTE, 10)
        );
        assert_eq!(s.route_slot("", no_lock), ROUTES);
    }

    #[test]
    fn gauges_add_up_over_live_workers_only() {
        let s = shared();
        let w1 = s.worker_slot(100, |_| true).unwrap();
        let w2 = s.worker_slot(200, |_| true).unwrap();
        w1.set_pool(0, [2, 1, 1, 0, 3, 0]);
        w2.set_pool(0, [1, 1, 0, 0, 0, 400]);
        let snap = s.snapshot(|_| true);
        assert_eq!(snap.workers, 2);
        assert_eq!(snap.pools[0].gauges[..5], [3, 2, 1, 0, 3]);
        assert_eq!(snap.pools[0].backoff_max_ms, 400);
        // worker 200 died without releasing: not shown, and its slot is taken again
        let snap = s.snapshot(|pid| pid != 200);
        assert_eq!(snap.pools[0].gauges[0], 2);
        let w3 = s.worker_slot(300, |pid| pid != 200).unwrap();
        assert!(std::ptr::eq(w3, w2));
        assert_eq!(
            s.snapshot(|_| true).pools[0].gauges[0],
            2,
            "cleared on reuse"
        );
        w1.release();
        assert_eq!(s.snapshot(|_| true).workers, 1);
    }

    #[test]
    fn bounded_reasons_and_classes() {
        assert_eq!(
            CONNECT_FAILURES[connect_failure_index("connect timed out")],
            "timeout"
        );
        assert_eq!(
            CONNECT_FAILURES
                [connect_failure_index("127.0.0.1:5: Connection refused (os error 111)")],
            "refused"
        );
        assert_eq!(
            CONNECT_FAILURES
                [connect_failure_index("FATAL: password authentication failed for user \"x\"")],
            "auth"
        );
        assert_eq!(
            CONNECT_FAILURES[connect_failure_index("certificate verify failed")],
            "tls"
        );
        assert_eq!(CONNECT_FAILURES[connect_failure_index("what")], "other");
        assert_eq!(SQLSTATE_CLASSES[sqlstate_index("57014")], "57");
        assert_eq!(SQLSTATE_CLASSES[sqlstate_index("ZZ000")], "other");
        assert_eq!(SQLSTATE_CLASSES[sqlstate_index("")], "other");
    }

    #[test]
    fn a_foreign_region_is_not_valid() {
        let s = shared();
        assert!(s.is_valid());
        s.size.store(1, Relaxed);
        assert!(!s.is_valid());
    }
}

//! The recording API the rest of the module calls: one safe call per event
//! (`record::pool(Purpose::Queries, PoolCounter::WaitTimeouts)`), a no-op without a
//! `music_metrics_zone`. Counters are added straight into the zone (atomic increments);
//! gauges go to this worker's slot of it.

use std::cell::Cell;
use std::ptr;
use std::time::Duration;

use super::shared::{AuthCounter, PoolCounter, WorkerSlot, POOL_GAUGES};
use super::zone::{self, ZoneRef};
use crate::db::pool::Purpose;

pub use super::shared::{AuthCounter as Auth, PoolCounter as Pool};

fn purpose_index(p: Purpose) -> usize {
    match p {
        Purpose::Queries => 0,
        Purpose::Streams => 1,
    }
}

fn with(f: impl FnOnce(&super::shared::Shared)) {
    if let Some(z) = zone::active() {
        z.with(f);
    }
}

thread_local! {
    /// This worker's gauge slot in the zone (null: not claimed yet).
    static SLOT: Cell<*const WorkerSlot> = const { Cell::new(ptr::null()) };
}

fn with_slot(f: impl FnOnce(&WorkerSlot)) {
    let Some(z) = zone::active() else { return };
    z.with(|s| {
        let mut slot = SLOT.with(Cell::get);
        if slot.is_null() {
            if let Some(w) = s.worker_slot(zone::pid(), zone::alive) {
                slot = w;
                SLOT.with(|c| c.set(slot));
            }
        }
        // SAFETY: the slot lives in the zone, which stays mapped for the worker's life.
        if let Some(w) = unsafe { slot.as_ref() } {
            f(w);
        }
    });
}

/// One finished request (`method`: its index in [`METHODS`](super::shared::METHODS)).
pub fn request(zone: ZoneRef, route: &str, method: usize, status: u16, latency_us: u64) {
    zone.with(|s| {
        let slot = s.route_slot(route, |f| zone.locked(f));
        s.count_request(slot, method, status, latency_us);
    });
}

/// A pool event.
pub fn pool(purpose: Purpose, counter: PoolCounter) {
    with(|s| s.add_pool(purpose_index(purpose), counter, 1));
}

/// `n` rows sent in a stream.
pub fn stream_rows(n: u64) {
    with(|s| s.add_pool(1, PoolCounter::StreamRows, n));
}

/// A failed connect and its message (classified into a few reasons).
pub fn connect_failed(purpose: Purpose, message: &str) {
    with(|s| {
        s.connect_failed(
            purpose_index(purpose),
            super::shared::connect_failure_index(message),
        )
    });
}

/// A statement (`Stmt as usize`) ran for `took`.
pub fn statement(stmt: usize, took: Duration) {
    with(|s| s.statement(stmt, took.as_micros().min(u128::from(u64::MAX)) as u64));
}

/// PostgreSQL refused a statement with this SQLSTATE.
pub fn sqlstate(code: &str) {
    with(|s| s.sqlstate(super::shared::sqlstate_index(code)));
}

pub fn auth(counter: AuthCounter) {
    with(|s| s.auth(counter));
}

/// This worker's gauges of the pools of one purpose (all its pools of it added up).
pub fn pool_gauges(purpose: Purpose, gauges: [i64; POOL_GAUGES]) {
    with_slot(|w| w.set_pool(purpose_index(purpose), gauges));
}

/// PBKDF2 checks this worker runs or queues.
pub fn auth_queue(n: usize) {
    with_slot(|w| w.set_auth_queue(n as i64));
}

/// The worker starts: it takes its gauge slot (so a scrape counts it before any event).
pub fn worker_start() {
    with_slot(|_| ());
}

/// The worker exits: its gauges no longer count.
pub fn worker_exit() {
    let slot = SLOT.with(|c| c.replace(ptr::null()));
    // SAFETY: as in `with_slot`; the zone is still mapped while the worker exits.
    if let Some(w) = unsafe { slot.as_ref() } {
        w.release();
    }
}

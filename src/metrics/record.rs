//! The recording API the rest of the module calls: one safe call per event
//! (`record::pool(PoolKind::Queries, PoolCounter::WaitTimeouts)`), a no-op without a
//! `music_metrics_zone`. Counters are added straight into the zone (atomic increments);
//! gauges go to this worker's slot of it.

use std::time::Duration;

use super::shared::{AuthCounter, PoolCounter, POOL_GAUGES};
use super::zone::{self, ZoneRef};

pub use super::shared::{AuthCounter as Auth, PoolCounter as Pool};

/// Which of a database's pools an event belongs to (the `pool` label). The pools convert
/// their own purpose into it, so this file needs nothing of theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Queries = 0,
    Streams = 1,
}

fn purpose_index(p: impl Into<PoolKind>) -> usize {
    p.into() as usize
}

fn with(f: impl FnOnce(&super::shared::Shared)) {
    if let Some(z) = zone::active() {
        z.with(f);
    }
}

/// One finished request (`method`: its index in [`METHODS`](super::shared::METHODS)).
pub fn request(zone: ZoneRef, route: &str, method: usize, status: u16, latency_us: u64) {
    zone.with(|s| {
        let slot = s.route_slot(route, |f| zone.locked(f));
        s.count_request(slot, method, status, latency_us);
    });
}

/// A pool event.
pub fn pool(purpose: impl Into<PoolKind>, counter: PoolCounter) {
    with(|s| s.add_pool(purpose_index(purpose), counter, 1));
}

/// `n` rows sent in a stream.
pub fn stream_rows(n: u64) {
    with(|s| s.add_pool(1, PoolCounter::StreamRows, n));
}

/// A failed connect and its message (classified into a few reasons).
pub fn connect_failed(purpose: impl Into<PoolKind>, message: &str) {
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
pub fn pool_gauges(purpose: impl Into<PoolKind>, gauges: [i64; POOL_GAUGES]) {
    zone::with_worker_slot(|w| w.set_pool(purpose_index(purpose), gauges));
}

/// PBKDF2 checks this worker runs or queues.
pub fn auth_queue(n: usize) {
    zone::with_worker_slot(|w| w.set_auth_queue(n as i64));
}

/// The worker starts: it takes its gauge slot (so a scrape counts it before any event).
pub fn worker_start() {
    zone::with_worker_slot(|_| ());
}

/// The worker exits: its gauges no longer count.
pub fn worker_exit() {
    zone::release_worker_slot();
}

//! Prometheus metrics of the whole server, and liveness/readiness answers.
//!
//! ```nginx
//! http {
//!     music_metrics_zone music_metrics:1m;   # counters of every worker, kept across reloads
//!     server {
//!         location = /nginx/metrics {
//!             music_metrics;                 # the text exposition, one scrape for all workers
//!         }
//!         location = /health/ready {
//!             music_health ready;            # 200, or 503 while this worker has no database
//!         }
//!     }
//! }
//! ```
//!
//! - With a zone, every request of the http block is counted in the log phase, by route (the
//!   key of the PV/UV counters: the DRF route in an API location, else the location's name,
//!   so the label's values are bounded by the configuration), method (7 names and `other`)
//!   and status class, and its latency observed in a histogram (0.1 ms ... 10 s).
//! - The database pools, the statements and the auth cache record their events through
//!   [`record`]: one call per event, a no-op without a zone.
//! - `music_health live|ready` ([`health`]) answers liveness and readiness: ready while the
//!   worker's query pool has, or opens within a second, a working connection.
//! - [`shared`] is the zone's layout (atomics; unit-tested), [`expose`] the text format,
//!   [`zone`] and [`module`] the nginx glue.

pub mod expose;
pub mod health;
pub mod module;
pub mod record;
pub mod shared;
pub mod zone;

use ngx::http::{Merge, MergeConfigError};

/// What a location's content handler of this module serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// `music_metrics`.
    Metrics,
    /// `music_health live|ready`.
    Health(health::Probe),
}

/// The metrics module's location configuration.
#[derive(Clone, Debug, Default)]
pub struct MetricsConf {
    /// The page this location serves (not inherited: a content handler is the location's own).
    pub page: Option<Page>,
    /// For `music_health ready`: the database it checks, resolved in merge.
    pub ready: Option<health::ReadyTarget>,
}

impl Merge for MetricsConf {
    fn merge(&mut self, _prev: &MetricsConf) -> Result<(), MergeConfigError> {
        Ok(())
    }
}

//! Live page views (PV) and unique visitors (UV), per day and per route, kept by nginx itself
//! in a shared memory zone and served as JSON: no access-log crunching (`build/pvuv` does the
//! same from the log, after the fact).
//!
//! ```nginx
//! http {
//!     music_stats_zone music_stats:1m;       # 7 days of counters, shared by the workers
//!     server {
//!         music_stats_count music_stats;      # count every request of this server...
//!         location /nginx/stats {
//!             music_stats music_stats;        # ...and serve them here
//!             music_stats_count off;          # (the page itself does not count)
//!             auth_basic "NginxStatus";
//!             auth_basic_user_file htpasswd;
//!         }
//!     }
//! }
//! ```
//!
//! Directives:
//!
//! | directive | default | context |
//! |---|---|---|
//! | `music_stats_zone <name>:<size>;` | — | http |
//! | `music_stats_count <name> \| off;` | off | http, server, location |
//! | `music_stats <name>;` | — | location |
//!
//! - What counts: every request that reaches nginx's log phase in a place where
//!   `music_stats_count` names a zone (it is inherited like nginx's own directives): static
//!   files, API calls, redirects, errors, requests refused by `auth_basic` or `limit_req`.
//!   That is the requests the access log has (whatever `access_log` says), so PV agrees with
//!   `build/pvuv` for the same requests.
//! - PV: requests. UV: distinct client addresses (`$binary_remote_addr`, so the realip
//!   module's address when it is configured), estimated with a HyperLogLog sketch
//!   ([`hll`]): standard error ±1.6%, exact up to about 10 visitors.
//! - Per day in nginx's local time (the time zone of `$time_local`, so the days are those of
//!   the access log), and per route ([`handler::route_key`]): the name of the location that
//!   finished the request (after `error_page` and other internal redirects), for a
//!   `music_api` location the DRF route (`/api/musics/{id}/`...), and `(server)` for a
//!   request no location took (no location matched, or a 400 before one was chosen).
//! - Fixed memory: the zone holds a header and as many days as fit, at most 366 (1m: 7 days,
//!   2m: 14; each day takes 136 KiB); 31 routes, then `(other)`. See [`zone`].
//! - Reloads keep the counters: nginx hands a zone of the same name and size over to the new
//!   configuration. A new size starts from zero (as for every nginx zone), and a restart too.
//! - The page: see [`json`]; `?days=N` shows the last N days only; GET and HEAD (405
//!   otherwise). `music_stats_count off` means off even if a zone is named `off`.
//! - Cost: a hash, the zone's lock and a few increments per request, in the log phase (about
//!   5% of a bare `return 204` on 2 cores, and nothing measurable next to an API call).

pub mod handler;
pub mod hll;
pub mod json;
pub mod module;
pub mod zone;

use ngx::http::{Merge, MergeConfigError};

use zone::ZoneRef;

/// Whether, and where, a location's requests are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    Off,
    Into(ZoneRef),
}

/// The PV/UV module's location configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsConf {
    /// `music_stats_count`; None: not set at this level.
    pub count: Option<Counting>,
    /// `music_stats`: the zone this location's page shows.
    pub serve: Option<ZoneRef>,
}

impl Merge for StatsConf {
    /// Inherits what this level does not set (the default, off, is `None` all the way up).
    fn merge(&mut self, prev: &StatsConf) -> Result<(), MergeConfigError> {
        if self.count.is_none() {
            self.count = prev.count;
        }
        if self.serve.is_none() {
            self.serve = prev.serve;
        }
        Ok(())
    }
}

/// `1024`, `64k`, `1m`, `1g`: what nginx's `ngx_parse_size` accepts.
pub fn parse_size(s: &str) -> Option<usize> {
    let (digits, scale) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1usize << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok()?.checked_mul(scale)
}

/// `name:size` of `music_stats_zone`, split at the first colon.
pub fn split_zone_arg(arg: &str) -> Option<(&str, &str)> {
    let (name, size) = arg.split_once(':')?;
    (!name.is_empty()).then_some((name, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_nginx_reads_them() {
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("150000"), Some(150_000));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("m"), None);
        assert_eq!(parse_size("1.5m"), None);
        assert_eq!(parse_size("-1m"), None);
        assert_eq!(parse_size("1t"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
    }

    #[test]
    fn zone_argument() {
        assert_eq!(split_zone_arg("stats:1m"), Some(("stats", "1m")));
        assert_eq!(split_zone_arg("a:b:1m"), Some(("a", "b:1m")));
        assert_eq!(split_zone_arg("stats"), None);
        assert_eq!(split_zone_arg(":1m"), None);
    }

    #[test]
    fn merge_inherits_counting() {
        let http = StatsConf {
            count: Some(Counting::Off),
            serve: None,
        };
        let mut loc = StatsConf::default();
        loc.merge(&http).unwrap();
        assert_eq!(loc.count, Some(Counting::Off));
        let mut unset = StatsConf::default();
        unset.merge(&StatsConf::default()).unwrap();
        assert_eq!(unset.count, None);
    }
}

//! The Prometheus text exposition (format 0.0.4) of a [`Snapshot`]: every family with its
//! `# HELP` and `# TYPE`, base units (seconds), `_total` counters, cumulative `le` buckets.
//! Label values are ours (route keys, fixed words), escaped as the format requires anyway.

use std::fmt::Write;

use super::shared::{
    HistogramSnapshot, PoolCounter, PoolGauge, Snapshot, AUTH_COUNTERS, BUCKETS_US, CLASSES,
    CONNECT_FAILURES, METHODS, PURPOSES, SQLSTATE_CLASSES, STATEMENTS,
};

/// What the `_info` metric says and the stats zone's gauges.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub module_version: &'static str,
    pub nginx_version: &'static str,
    pub git_commit: &'static str,
    /// Today's PV and UV of each `music_stats_zone` (name, pv, uv).
    pub stats: Vec<(String, u64, u64)>,
}

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// `le` values of the buckets, in seconds.
fn le(us: u64) -> String {
    let s = seconds(us);
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_owned()
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    let mut cumulative = 0;
    for (i, n) in h.buckets.iter().enumerate() {
        cumulative += n;
        let bound = BUCKETS_US.get(i).map_or("+Inf".to_owned(), |&b| le(b));
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", seconds(h.sum_us));
    let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
}

const AUTH_NAMES: [(&str, &str); AUTH_COUNTERS] = [
    (
        "ngx_music_auth_cache_hits_total",
        "Requests whose credentials the worker's cache had verified.",
    ),
    (
        "ngx_music_auth_cache_misses_total",
        "Requests whose credentials were not cached (user row and PBKDF2 needed).",
    ),
    (
        "ngx_music_auth_cache_revalidations_total",
        "Cached credentials re-checked against auth_user after music_auth_cache_valid.",
    ),
    (
        "ngx_music_auth_pbkdf2_runs_total",
        "PBKDF2 password checks run on the thread pool.",
    ),
    (
        "ngx_music_auth_queue_refusals_total",
        "First-time logins answered 503 because music_auth_queue checks were already queued.",
    ),
    (
        "ngx_music_auth_failed_logins_total",
        "Logins refused: wrong password, unknown or inactive user.",
    ),
];

/// The exposition of `s`.
pub fn render(s: &Snapshot, extra: &Extra) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "ngx_music_build_info",
        "gauge",
        "Module version, nginx version and git commit of the running build.",
    );
    let _ = writeln!(
        out,
        "ngx_music_build_info{{version=\"{}\",nginx_version=\"{}\",git_commit=\"{}\"}} 1",
        escape(extra.module_version),
        escape(extra.nginx_version),
        escape(extra.git_commit)
    );
    family(
        &mut out,
        "ngx_music_workers",
        "gauge",
        "Worker processes whose gauges this scrape adds up.",
    );
    let _ = writeln!(out, "ngx_music_workers {}", s.workers);

    family(
        &mut out,
        "ngx_music_http_requests_total",
        "counter",
        "Requests finished, by route (DRF route or location name), method and status class.",
    );
    for r in &s.routes {
        for (m, classes) in r.requests.iter().enumerate() {
            for (c, n) in classes.iter().enumerate() {
                if *n > 0 {
                    let _ = writeln!(
                        out,
                        "ngx_music_http_requests_total{{route=\"{}\",method=\"{}\",status_class=\"{}\"}} {n}",
                        escape(&r.name),
                        METHODS[m],
                        CLASSES[c]
                    );
                }
            }
        }
    }
    family(&mut out, "ngx_music_http_request_duration_seconds", "histogram", "Time from the request's first byte to its log phase, by route (nginx's clock: millisecond resolution).");
    for r in &s.routes {
        let labels = format!("route=\"{}\"", escape(&r.name));
        histogram(
            &mut out,
            "ngx_music_http_request_duration_seconds",
            &labels,
            &r.latency,
        );
    }

    let pool_counters: [(PoolCounter, &str, &str); 8] = [
        (
            PoolCounter::Waits,
            "ngx_music_db_pool_waits_total",
            "Requests that had to wait for a connection.",
        ),
        (
            PoolCounter::WaitTimeouts,
            "ngx_music_db_pool_wait_timeouts_total",
            "Waits that gave up after music_pool_timeout (503).",
        ),
        (
            PoolCounter::QueueFull,
            "ngx_music_db_pool_queue_full_total",
            "Requests refused at once because music_pool_queue requests were waiting (503).",
        ),
        (
            PoolCounter::Connects,
            "ngx_music_db_connects_total",
            "Connections opened to the database.",
        ),
        (
            PoolCounter::Cancels,
            "ngx_music_db_cancels_total",
            "Cancel requests sent for statements past music_query_timeout or whose client left.",
        ),
        (
            PoolCounter::WritesUnknown,
            "ngx_music_db_writes_unknown_outcome_total",
            "Writes whose connection broke after they were sent (503, outcome unknown).",
        ),
        (
            PoolCounter::Streams,
            "ngx_music_db_streams_total",
            "List streams begun.",
        ),
        (
            PoolCounter::StreamRows,
            "ngx_music_db_stream_rows_total",
            "Rows sent in list streams.",
        ),
    ];
    for (counter, name, help) in pool_counters {
        family(&mut out, name, "counter", help);
        for (p, purpose) in PURPOSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{pool=\"primary\",purpose=\"{purpose}\"}} {}",
                s.pools[p].counters[counter as usize]
            );
        }
    }
    family(
        &mut out,
        "ngx_music_db_connect_failures_total",
        "counter",
        "Connection attempts that failed, by reason.",
    );
    for (p, purpose) in PURPOSES.iter().enumerate() {
        for (i, reason) in CONNECT_FAILURES.iter().enumerate() {
            let _ = writeln!(
                out,
                "ngx_music_db_connect_failures_total{{pool=\"primary\",purpose=\"{purpose}\",reason=\"{reason}\"}} {}",
                s.pools[p].connect_failures[i]
            );
        }
    }
    let pool_gauges: [(PoolGauge, &str, &str); 5] = [
        (
            PoolGauge::Open,
            "ngx_music_db_pool_connections_open",
            "Connections open (all workers).",
        ),
        (
            PoolGauge::Busy,
            "ngx_music_db_pool_connections_busy",
            "Connections carrying at least one statement or stream.",
        ),
        (
            PoolGauge::Idle,
            "ngx_music_db_pool_connections_idle",
            "Open connections carrying nothing.",
        ),
        (
            PoolGauge::Connecting,
            "ngx_music_db_pool_connections_connecting",
            "Connections being opened.",
        ),
        (
            PoolGauge::Waiting,
            "ngx_music_db_pool_requests_waiting",
            "Requests waiting for a connection.",
        ),
    ];
    for (gauge, name, help) in pool_gauges {
        family(&mut out, name, "gauge", help);
        for (p, purpose) in PURPOSES.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}{{pool=\"primary\",purpose=\"{purpose}\"}} {}",
                s.pools[p].gauges[gauge as usize]
            );
        }
    }
    family(
        &mut out,
        "ngx_music_db_pool_backoff_seconds",
        "gauge",
        "Reconnect backoff in force after a failed connect (the largest of any worker; 0: none).",
    );
    for (p, purpose) in PURPOSES.iter().enumerate() {
        let _ = writeln!(
            out,
            "ngx_music_db_pool_backoff_seconds{{pool=\"primary\",purpose=\"{purpose}\"}} {}",
            seconds(s.pools[p].backoff_max_ms.max(0) as u64 * 1000)
        );
    }
    family(
        &mut out,
        "ngx_music_db_statement_duration_seconds",
        "histogram",
        "Statements by name: time from sending to the last row (or the error).",
    );
    for (i, h) in s.statements.iter().enumerate() {
        let labels = format!("pool=\"primary\",statement=\"{}\"", STATEMENTS[i]);
        histogram(
            &mut out,
            "ngx_music_db_statement_duration_seconds",
            &labels,
            h,
        );
    }
    family(
        &mut out,
        "ngx_music_db_errors_total",
        "counter",
        "Statements PostgreSQL refused, by SQLSTATE class.",
    );
    for (i, class) in SQLSTATE_CLASSES.iter().enumerate() {
        let _ = writeln!(
            out,
            "ngx_music_db_errors_total{{pool=\"primary\",sqlstate_class=\"{class}\"}} {}",
            s.sqlstate[i]
        );
    }
    for (i, (name, help)) in AUTH_NAMES.iter().enumerate() {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", s.auth[i]);
    }
    family(
        &mut out,
        "ngx_music_auth_pbkdf2_queue",
        "gauge",
        "PBKDF2 checks running or queued (all workers).",
    );
    let _ = writeln!(out, "ngx_music_auth_pbkdf2_queue {}", s.auth_queue);
    if !extra.stats.is_empty() {
        family(
            &mut out,
            "ngx_music_stats_page_views",
            "gauge",
            "Today's page views of a music_stats_zone.",
        );
        for (zone, pv, _) in &extra.stats {
            let _ = writeln!(
                out,
                "ngx_music_stats_page_views{{zone=\"{}\"}} {pv}",
                escape(zone)
            );
        }
        family(
            &mut out,
            "ngx_music_stats_unique_visitors",
            "gauge",
            "Today's unique visitors of a music_stats_zone (HyperLogLog estimate).",
        );
        for (zone, _, uv) in &extra.stats {
            let _ = writeln!(
                out,
                "ngx_music_stats_unique_visitors{{zone=\"{}\"}} {uv}",
                escape(zone)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::shared::tests::shared;

    #[test]
    fn buckets_are_cumulative_in_seconds() {
        let s = shared();
        let slot = s.route_slot("/api/musics/{id}/", |f| f());
        s.count_request(slot, 0, 200, 900);
        s.count_request(slot, 0, 200, 3_000);
        let text = render(&s.snapshot(|_| true), &Extra::default());
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("{prefix} in\n{text}"))
                .to_owned()
        };
        assert_eq!(
            line("ngx_music_http_requests_total{route=\"/api/musics/{id}/\""),
            "ngx_music_http_requests_total{route=\"/api/musics/{id}/\",method=\"GET\",status_class=\"2xx\"} 2"
        );
        let b = "ngx_music_http_request_duration_seconds_bucket{route=\"/api/musics/{id}/\",";
        assert!(line(&format!("{b}le=\"0.0001\"}}")).ends_with(" 0"));
        assert!(line(&format!("{b}le=\"0.001\"}}")).ends_with(" 1"));
        assert!(line(&format!("{b}le=\"0.005\"}}")).ends_with(" 2"));
        assert!(line(&format!("{b}le=\"10\"}}")).ends_with(" 2"));
        assert!(line(&format!("{b}le=\"+Inf\"}}")).ends_with(" 2"));
        assert!(line("ngx_music_http_request_duration_seconds_sum{").ends_with(" 0.003900"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(le(100), "0.0001");
        assert_eq!(le(1_000_000), "1");
        assert_eq!(le(2_500_000), "2.5");
    }
}

//! The stats page's JSON (pure Rust): what [`super::zone`] read out of the zone, rendered.
//!
//! ```json
//! {"zone":"music_stats","utc_offset":"+08:00","days_kept":7,"routes_max":31,
//!  "uv_error":"±1.6% (HyperLogLog, 4096 registers)",
//!  "total":{"pv":130,"uv":46},
//!  "days":[{"date":"2026-11-27","pv":123,"uv":45,
//!           "routes":{"/api/musics/":{"pv":100,"uv":40},"/static":{"pv":23,"uv":9}}},
//!          {"date":"2026-11-26","pv":7,"uv":2,"routes":{"/static":{"pv":7,"uv":2}}}]}
//! ```
//!
//! Days are newest first, one entry per day from the zone's creation (or the oldest day kept)
//! to today, days without requests included (zeros, `"routes":{}`). Routes are those with
//! requests that day, the busiest first (ties by name). `total` covers the days listed: PV
//! summed, UV the union of the days' sketches (a visitor of several days counts once).

use std::fmt::Write;

use super::hll::{REGISTERS, STANDARD_ERROR};

/// One route on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteCount {
    pub name: String,
    pub pv: u64,
    pub uv: u64,
}

/// One day: its number (days since 1970-01-01 in the zone's local time) and its counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayCount {
    pub day: i64,
    pub pv: u64,
    pub uv: u64,
    pub routes: Vec<RouteCount>,
}

/// Everything the page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub zone: String,
    /// The offset of the local time the days follow, in minutes east of UTC.
    pub utc_offset_minutes: i64,
    pub days_kept: usize,
    pub routes_max: usize,
    pub total_pv: u64,
    pub total_uv: u64,
    /// Newest first.
    pub days: Vec<DayCount>,
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
pub fn date_of(day: i64) -> String {
    const UNIX_EPOCH_FROM_CE: i64 = 719_163;
    i32::try_from(day + UNIX_EPOCH_FROM_CE)
        .ok()
        .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
        .map_or_else(
            || format!("day {day}"),
            |d| d.format("%Y-%m-%d").to_string(),
        )
}

/// `+08:00`, `-03:30`, `+00:00`.
pub fn utc_offset(minutes: i64) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The error bound as the page states it: `±1.6% (HyperLogLog, 4096 registers)`.
pub fn uv_error() -> String {
    format!(
        "±{:.1}% (HyperLogLog, {} registers)",
        STANDARD_ERROR * 100.0,
        REGISTERS
    )
}

fn string(out: &mut String, s: &str) {
    // serde_json escapes exactly what JSON requires (quotes, backslashes, controls).
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn counts(out: &mut String, pv: u64, uv: u64) {
    let _ = write!(out, "{{\"pv\":{pv},\"uv\":{uv}");
}

/// The page's body.
pub fn render(s: &Snapshot) -> Vec<u8> {
    let mut out = String::with_capacity(256 + s.days.len() * 128);
    out.push_str("{\"zone\":");
    string(&mut out, &s.zone);
    let _ = write!(
        out,
        ",\"utc_offset\":\"{}\",\"days_kept\":{},\"routes_max\":{},\"uv_error\":",
        utc_offset(s.utc_offset_minutes),
        s.days_kept,
        s.routes_max
    );
    string(&mut out, &uv_error());
    out.push_str(",\"total\":");
    counts(&mut out, s.total_pv, s.total_uv);
    out.push_str("},\"days\":[");
    for (i, d) in s.days.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"date\":\"{}\",\"pv\":{},\"uv\":{}",
            date_of(d.day),
            d.pv,
            d.uv
        );
        out.push_str(",\"routes\":{");
        let mut routes: Vec<&RouteCount> = d.routes.iter().collect();
        routes.sort_by(|a, b| b.pv.cmp(&a.pv).then_with(|| a.name.cmp(&b.name)));
        for (j, r) in routes.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            string(&mut out, &r.name);
            out.push(':');
            counts(&mut out, r.pv, r.uv);
            out.push('}');
        }
        out.push_str("}}");
    }
    out.push_str("]}");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, pv: u64, uv: u64) -> RouteCount {
        RouteCount {
            name: name.into(),
            pv,
            uv,
        }
    }

    #[test]
    fn dates_and_offsets() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(-1), "1969-12-31");
        assert_eq!(date_of(19_087), "2022-04-05");
        assert_eq!(date_of(20_784), "2026-11-27");
        assert_eq!(utc_offset(480), "+08:00");
        assert_eq!(utc_offset(0), "+00:00");
        assert_eq!(utc_offset(-210), "-03:30");
        assert_eq!(uv_error(), "±1.6% (HyperLogLog, 4096 registers)");
    }

    #[test]
    fn renders_the_documented_shape() {
        let s = Snapshot {
            zone: "music_stats".into(),
            utc_offset_minutes: 480,
            days_kept: 7,
            routes_max: 31,
            total_pv: 130,
            total_uv: 46,
            days: vec![
                DayCount {
                    day: 20_784,
                    pv: 123,
                    uv: 45,
                    routes: vec![route("/static", 23, 9), route("/api/musics/", 100, 40)],
                },
                DayCount {
                    day: 20_783,
                    pv: 7,
                    uv: 2,
                    routes: vec![route("/static", 7, 2)],
                },
                DayCount {
                    day: 20_782,
                    ..Default::default()
                },
            ],
        };
        let body = String::from_utf8(render(&s)).unwrap();
        assert_eq!(
            body,
            concat!(
                r#"{"zone":"music_stats","utc_offset":"+08:00","days_kept":7,"routes_max":31,"#,
                r#""uv_error":"±1.6% (HyperLogLog, 4096 registers)","total":{"pv":130,"uv":46},"#,
                r#""days":[{"date":"2026-11-27","pv":123,"uv":45,"routes":{"/api/musics/":{"pv":100,"uv":40},"/static":{"pv":23,"uv":9}}},"#,
                r#"{"date":"2026-11-26","pv":7,"uv":2,"routes":{"/static":{"pv":7,"uv":2}}},"#,
                r#"{"date":"2026-11-25","pv":0,"uv":0,"routes":{}}]}"#
            )
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["days"][0]["routes"]["/api/musics/"]["uv"], 40);
    }

    #[test]
    fn ties_sort_by_name_and_names_are_escaped() {
        let s = Snapshot {
            zone: "z".into(),
            days: vec![DayCount {
                day: 0,
                pv: 2,
                uv: 1,
                routes: vec![route("b\"\\", 1, 1), route("a", 1, 1)],
            }],
            ..Default::default()
        };
        let body = String::from_utf8(render(&s)).unwrap();
        assert!(
            body.contains(r#""routes":{"a":{"pv":1,"uv":1},"b\"\\":{"pv":1,"uv":1}}"#),
            "{body}"
        );
        serde_json::from_str::<serde_json::Value>(&body).unwrap();
    }
}

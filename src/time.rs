//! Time-zone-aware datetimes, written the way the original API wrote them.
//!
//! Django converts every stored `timestamptz` to the configured `TIME_ZONE`
//! and DRF prints it with Python's `datetime.isoformat()`:
//! `2022-04-05T11:45:05.123456+08:00`. Microseconds appear only when they are
//! non-zero, the offset is the one in force at that instant (daylight saving
//! time included) and is written `+HH:MM` (`+HH:MM:SS` for the odd historical
//! offset with seconds). By the project's contract `+00:00` is kept as is,
//! never shortened to `Z`.

use std::io::Write;

use chrono::{DateTime, Datelike, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// The zone the original deployment used (`TIME_ZONE = 'Asia/Taipei'`).
pub const DEFAULT_TIME_ZONE: &str = "Asia/Taipei";

/// Microseconds in one day, the unit of `timedelta.days`.
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Appends `dt`, seen in `tz`, in Python `isoformat()` form.
pub fn format_iso(dt: DateTime<Utc>, tz: &Tz, out: &mut Vec<u8>) {
    let local = tz.from_utc_datetime(&dt.naive_utc());
    let offset_seconds = local.offset().fix().local_minus_utc();
    // Python keeps microseconds; PostgreSQL has no finer precision anyway.
    let micros = local.nanosecond() % 1_000_000_000 / 1000;

    // Digits by hand: this runs for two datetimes of every row of a list, and `write!` with
    // width specifiers was a quarter of the list route's CPU (profiled by build/bench).
    let year = local.year();
    if (0..=9999).contains(&year) {
        push_digits(out, year as u32, 4);
    } else {
        let _ = write!(out, "{year:04}");
    }
    out.push(b'-');
    push_digits(out, local.month(), 2);
    out.push(b'-');
    push_digits(out, local.day(), 2);
    out.push(b'T');
    push_digits(out, local.hour(), 2);
    out.push(b':');
    push_digits(out, local.minute(), 2);
    out.push(b':');
    push_digits(out, local.second(), 2);
    if micros != 0 {
        out.push(b'.');
        push_digits(out, micros, 6);
    }
    write_offset(offset_seconds, out);
}

/// `value` in exactly `width` decimal digits (zero-padded; `value` < 10^width).
fn push_digits(out: &mut Vec<u8>, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width - 1);
    while divisor > 0 {
        out.push(b'0' + (value / divisor % 10) as u8);
        divisor /= 10;
    }
}

/// `+HH:MM`, or `+HH:MM:SS` when the offset has seconds (Python's rule).
fn write_offset(offset_seconds: i32, out: &mut Vec<u8>) {
    out.push(if offset_seconds < 0 { b'-' } else { b'+' });
    let total = offset_seconds.unsigned_abs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    push_digits(out, hours, 2);
    out.push(b':');
    push_digits(out, minutes, 2);
    if seconds != 0 {
        out.push(b':');
        push_digits(out, seconds, 2);
    }
}

/// Whole days from `created` to `now`, rounded down like Python's
/// `timedelta.days` (so one microsecond before `created` is day -1).
pub fn days_since(created: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let delta = now.signed_duration_since(created);
    match delta.num_microseconds() {
        Some(micros) => micros.div_euclid(MICROS_PER_DAY),
        // Beyond ±292,000 years: whole seconds are precise enough.
        None => delta.num_seconds().div_euclid(86_400),
    }
}

/// Parses an IANA zone name (`Asia/Taipei`, `UTC`, `America/New_York`) for
/// configuration checks; the error names the value.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("unknown time zone \"{name}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micro: u32) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_micro_opt(h, mi, s, micro)
            .unwrap()
            .and_utc()
    }

    fn iso(dt: DateTime<Utc>, zone: &str) -> String {
        let tz = parse_tz(zone).unwrap();
        let mut out = Vec::new();
        format_iso(dt, &tz, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn taipei_with_microseconds() {
        let dt = utc(2022, 4, 5, 3, 45, 5, 123_456);
        assert_eq!(iso(dt, "Asia/Taipei"), "2022-04-05T11:45:05.123456+08:00");
    }

    #[test]
    fn microseconds_are_omitted_when_zero_and_padded_otherwise() {
        assert_eq!(
            iso(utc(2022, 4, 5, 3, 45, 5, 0), "Asia/Taipei"),
            "2022-04-05T11:45:05+08:00"
        );
        assert_eq!(
            iso(utc(2022, 4, 5, 3, 45, 5, 7), "Asia/Taipei"),
            "2022-04-05T11:45:05.000007+08:00"
        );
    }

    #[test]
    fn sub_microsecond_precision_is_truncated() {
        let dt = utc(2022, 4, 5, 3, 45, 5, 0) + chrono::Duration::nanoseconds(999);
        assert_eq!(iso(dt, "Asia/Taipei"), "2022-04-05T11:45:05+08:00");
    }

    #[test]
    fn utc_is_never_z() {
        assert_eq!(
            iso(utc(2022, 1, 1, 0, 0, 0, 0), "UTC"),
            "2022-01-01T00:00:00+00:00"
        );
        assert_eq!(
            iso(utc(2022, 1, 1, 0, 0, 0, 0), "Europe/London"),
            "2022-01-01T00:00:00+00:00"
        );
    }

    #[test]
    fn daylight_saving_time_offset_follows_the_instant() {
        assert_eq!(
            iso(utc(2022, 1, 15, 12, 0, 0, 0), "America/New_York"),
            "2022-01-15T07:00:00-05:00"
        );
        assert_eq!(
            iso(utc(2022, 7, 15, 12, 0, 0, 0), "America/New_York"),
            "2022-07-15T08:00:00-04:00"
        );
        // 2022-03-13 07:00 UTC is 03:00 EDT, one second earlier 01:59:59 EST.
        assert_eq!(
            iso(utc(2022, 3, 13, 6, 59, 59, 0), "America/New_York"),
            "2022-03-13T01:59:59-05:00"
        );
        assert_eq!(
            iso(utc(2022, 3, 13, 7, 0, 0, 0), "America/New_York"),
            "2022-03-13T03:00:00-04:00"
        );
    }

    #[test]
    fn half_hour_and_negative_offsets() {
        assert_eq!(
            iso(utc(2022, 6, 1, 0, 0, 0, 0), "Asia/Kolkata"),
            "2022-06-01T05:30:00+05:30"
        );
        assert_eq!(
            iso(utc(2022, 6, 1, 0, 0, 0, 0), "America/St_Johns"),
            "2022-05-31T21:30:00-02:30"
        );
    }

    #[test]
    fn offset_with_seconds_is_written_like_python() {
        // Amsterdam's 1937 summer time was +00:20 local mean time.
        let mut out = Vec::new();
        write_offset(1172, &mut out);
        assert_eq!(out, b"+00:19:32");
        out.clear();
        write_offset(-(5 * 3600 + 7), &mut out);
        assert_eq!(out, b"-05:00:07");
    }

    #[test]
    fn date_changes_with_the_zone() {
        assert_eq!(
            iso(utc(2021, 12, 31, 20, 0, 0, 0), "Asia/Taipei"),
            "2022-01-01T04:00:00+08:00"
        );
    }

    #[test]
    fn days_since_floors_like_timedelta_days() {
        let created = utc(2022, 4, 5, 3, 45, 5, 123_456);
        assert_eq!(days_since(created, created), 0);
        assert_eq!(
            days_since(created, created + chrono::Duration::microseconds(1)),
            0
        );
        assert_eq!(days_since(created, created + chrono::Duration::days(1)), 1);
        assert_eq!(
            days_since(
                created,
                created + chrono::Duration::days(1) - chrono::Duration::microseconds(1)
            ),
            0
        );
        assert_eq!(
            days_since(created, created + chrono::Duration::days(400)),
            400
        );
        // A row "created in the future" (clock skew) gives a negative day count.
        assert_eq!(
            days_since(created, created - chrono::Duration::microseconds(1)),
            -1
        );
        assert_eq!(days_since(created, created - chrono::Duration::days(2)), -2);
        assert_eq!(
            days_since(
                created,
                created - chrono::Duration::days(2) - chrono::Duration::seconds(1)
            ),
            -3
        );
    }

    #[test]
    fn parse_tz_accepts_iana_names_and_rejects_others() {
        assert!(parse_tz(DEFAULT_TIME_ZONE).is_ok());
        assert!(parse_tz("UTC").is_ok());
        assert!(parse_tz("Europe/Berlin").is_ok());
        assert_eq!(
            parse_tz("Mars/Olympus").unwrap_err(),
            "unknown time zone \"Mars/Olympus\""
        );
        assert!(parse_tz("").is_err());
    }
}

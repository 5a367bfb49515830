//! Time-zone-aware datetimes, written the way the original API wrote them.
//!
//! Django converts every stored `timestamptz` to the configured `TIME_ZONE`
//! and DRF prints it with Python's `datetime.isoformat()`:
//! `2022-04-05T11:45:05.123456+08:00`. Microseconds appear only when they are
//! non-zero, the offset is the one in force at that instant (daylight saving
//! time included) and is written `+HH:MM` (`+HH:MM:SS` for the odd historical
//! offset with seconds). By the project's contract `+00:00` is kept as is,
//! never shortened to `Z`.

use std::cell::RefCell;
use std::io::Write;

use chrono::{DateTime, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// Microseconds in one day, the unit of `timedelta.days`.
const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// The first and last microsecond a [`Stamp`] may be: chrono's `DateTime<Utc>` range (years
/// -262143 to 262142), so every stamp is also a chrono instant and a database value beyond it
/// is refused as it was when rows were decoded into chrono.
const MIN_UNIX_MICROS: i64 = -8_334_601_228_800_000_000;
const MAX_UNIX_MICROS: i64 = 8_210_266_876_799_999_999;

/// An instant in whole microseconds since 1970-01-01 00:00:00 UTC: the precision of a
/// `timestamptz` and of Python's `datetime`. A list writes two per row; kept as one integer,
/// its text and its age are integer arithmetic, with no calendar type built per value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(i64);

impl Stamp {
    /// The instant `micros` after the Unix epoch, if within chrono's range.
    pub fn from_unix_micros(micros: i64) -> Option<Stamp> {
        (MIN_UNIX_MICROS..=MAX_UNIX_MICROS)
            .contains(&micros)
            .then_some(Stamp(micros))
    }

    pub fn unix_micros(self) -> i64 {
        self.0
    }
}

/// Below a microsecond is dropped, as Python's `datetime` has no finer precision.
impl From<DateTime<Utc>> for Stamp {
    fn from(t: DateTime<Utc>) -> Stamp {
        Stamp(
            t.timestamp() * MICROS_PER_SECOND + i64::from(t.timestamp_subsec_micros() % 1_000_000),
        )
    }
}

/// What [`format_iso`] worked out last, for the next stamp: the zone, the UTC second, its
/// UTC day (days since 1970-01-01) and date, the zone's offset then, the local
/// `YYYY-MM-DDTHH:MM:SS` (a four-digit year) and its local day. Updated in place: a list
/// writes a stamp or two per row.
struct LastSecond {
    tz: Tz,
    second: i64,
    utc_day: i64,
    utc_date: NaiveDate,
    offset: i32,
    local_day: i64,
    text: [u8; 19],
}

impl LastSecond {
    /// The Unix epoch in UTC, before the first stamp.
    const EPOCH: LastSecond = LastSecond {
        tz: Tz::UTC,
        second: 0,
        utc_day: 0,
        utc_date: DateTime::UNIX_EPOCH.naive_utc().date(),
        offset: 0,
        local_day: 0,
        text: *b"1970-01-01T00:00:00",
    };

    /// Appends the local `YYYY-MM-DDTHH:MM:SS` of the UTC `second` in `tz` (more digits or a
    /// sign for a year outside 0..=9999) and gives the zone's offset then.
    fn put_local(&mut self, second: i64, tz: &Tz, out: &mut Vec<u8>) -> i32 {
        // A row's two datetimes are often in the same second (a row never changed after it
        // was created, rows created together): the zone's lookup (a binary search of its
        // transitions) and the calendar are then not worked out again for that second.
        if second == self.second && *tz == self.tz {
            out.extend_from_slice(&self.text);
            return self.offset;
        }
        // The zone is looked up with a chrono date and time; stamps hours apart share the
        // UTC day's date.
        let utc_day = second.div_euclid(86_400);
        if utc_day != self.utc_day {
            // within chrono's range, as a Stamp is: the default is never taken
            self.utc_date = DateTime::from_timestamp(second, 0)
                .map(|utc| utc.date_naive())
                .unwrap_or_default();
            self.utc_day = utc_day;
        }
        let offset = offset_at(self.utc_date, second.rem_euclid(86_400) as u32, tz);
        let local = second + i64::from(offset);
        let local_day = local.div_euclid(86_400);
        let second_of_day = local.rem_euclid(86_400) as u32;
        // Likewise the local day's date is kept rather than worked out from the day count.
        if local_day != self.local_day {
            let Some(date) = local_date(local_day) else {
                put_wide_year_text(local_day, second_of_day, out);
                return offset;
            };
            self.text[..10].copy_from_slice(&date);
            self.local_day = local_day;
        }
        put_time(&mut self.text, 11, second_of_day);
        self.second = second;
        self.tz = *tz;
        self.offset = offset;
        out.extend_from_slice(&self.text);
        offset
    }
}

thread_local! {
    static LAST_SECOND: RefCell<LastSecond> = const { RefCell::new(LastSecond::EPOCH) };
}

/// Appends `at`, seen in `tz`, in Python `isoformat()` form.
pub fn format_iso(at: Stamp, tz: &Tz, out: &mut Vec<u8>) {
    let second = at.0.div_euclid(MICROS_PER_SECOND);
    let micros = at.0.rem_euclid(MICROS_PER_SECOND) as u32;
    let offset_seconds = LAST_SECOND.with_borrow_mut(|last| last.put_local(second, tz, out));
    // ".ffffff+HH:MM:SS" is at most 16 bytes
    let mut buf = [0u8; 16];
    let mut at = 0;
    if micros != 0 {
        buf[0] = b'.';
        at = put_digits::<6>(&mut buf, 1, micros);
    }
    at = put_offset(&mut buf, at, offset_seconds);
    out.extend_from_slice(&buf[..at]);
}

/// `tz`'s offset from UTC in seconds at a UTC date and second of that day.
fn offset_at(utc_date: NaiveDate, second_of_day: u32, tz: &Tz) -> i32 {
    let time = NaiveTime::from_num_seconds_from_midnight_opt(second_of_day, 0).unwrap_or_default();
    tz.offset_from_utc_datetime(&utc_date.and_time(time))
        .fix()
        .local_minus_utc()
}

/// `YYYY-MM-DD` of a local day (days since 1970-01-01), when its year has four digits.
/// Digits and the calendar by hand: this runs for the datetimes of a list's rows, where
/// `write!` with widths, then chrono's local-time arithmetic, then byte-by-byte pushes led the
/// profile (callgrind, bench/instructions.sh).
fn local_date(local_day: i64) -> Option<[u8; 10]> {
    let (year, month, day) = civil_from_days(local_day);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut date = [0u8; 10];
    put_digits::<4>(&mut date, 0, year as u32);
    put_month_day(&mut date, 4, month, day);
    Some(date)
}

/// The same, with the time, for a year outside 0..=9999 (Python's `%04d`: more digits, or
/// a sign).
fn put_wide_year_text(local_day: i64, second_of_day: u32, out: &mut Vec<u8>) {
    let (year, month, day) = civil_from_days(local_day);
    let _ = write!(out, "{year:04}");
    let mut rest = [0u8; 15];
    put_month_day(&mut rest, 0, month, day);
    rest[6] = b'T';
    put_time(&mut rest, 7, second_of_day);
    out.extend_from_slice(&rest);
}

/// `-MM-DD` (6 bytes) at `buf[at..]`.
fn put_month_day(buf: &mut [u8], at: usize, month: u32, day: u32) {
    buf[at] = b'-';
    let at = put_digits::<2>(buf, at + 1, month);
    buf[at] = b'-';
    put_digits::<2>(buf, at + 1, day);
}

/// `HH:MM:SS` (8 bytes) at `buf[at..]`.
fn put_time(buf: &mut [u8], at: usize, second_of_day: u32) {
    let mut at = put_digits::<2>(buf, at, second_of_day / 3600);
    buf[at] = b':';
    at = put_digits::<2>(buf, at + 1, second_of_day / 60 % 60);
    buf[at] = b':';
    put_digits::<2>(buf, at + 1, second_of_day % 60);
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01, after
/// Howard Hinnant's `civil_from_days` (eras of 400 years starting on March 1st).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `00` to `99`, two digits at a time.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0u8; 2]; 100];
    let mut n = 0;
    while n < 100 {
        pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        n += 1;
    }
    pairs
};

/// Writes `value` in exactly `WIDTH` decimal digits (zero-padded; `value` < 10^WIDTH; an
/// even width) at `buf[at..]`; returns the index after them. Two digits per step from a
/// table, and the width a constant so the divisions by 100 compile to multiplications.
fn put_digits<const WIDTH: usize>(buf: &mut [u8], at: usize, mut value: u32) -> usize {
    const { assert!(WIDTH.is_multiple_of(2)) };
    for pair in buf[at..at + WIDTH].chunks_exact_mut(2).rev() {
        pair.copy_from_slice(&DIGIT_PAIRS[(value % 100) as usize]);
        value /= 100;
    }
    at + WIDTH
}

/// `+HH:MM`, or `+HH:MM:SS` when the offset has seconds (Python's rule), at `buf[at..]`;
/// returns the index after it.
fn put_offset(buf: &mut [u8], at: usize, offset_seconds: i32) -> usize {
    buf[at] = if offset_seconds < 0 { b'-' } else { b'+' };
    let total = offset_seconds.unsigned_abs();
    let mut end = put_digits::<2>(buf, at + 1, total / 3600);
    buf[end] = b':';
    end = put_digits::<2>(buf, end + 1, total / 60 % 60);
    if !total.is_multiple_of(60) {
        buf[end] = b':';
        end = put_digits::<2>(buf, end + 1, total % 60);
    }
    end
}

/// Whole days from `created` to `now`, rounded down like Python's
/// `timedelta.days` (so one microsecond before `created` is day -1).
pub fn days_since(created: Stamp, now: Stamp) -> i64 {
    match now.0.checked_sub(created.0) {
        Some(micros) => micros.div_euclid(MICROS_PER_DAY),
        // Over ±292,000 years apart: the difference needs more than 64 bits.
        None => (i128::from(now.0) - i128::from(created.0)).div_euclid(i128::from(MICROS_PER_DAY))
            as i64,
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
        format_iso(dt.into(), &tz, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn civil_from_days_agrees_with_chrono() {
        use chrono::Datelike;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        // every 7th day from year -2000 to 12000, plus each day around leap days and eras
        let span = (-1_460_000i64..3_700_000)
            .step_by(7)
            .chain(-800..800)
            .chain(10_900..11_100);
        for days in span {
            let date = epoch + chrono::Duration::days(days);
            assert_eq!(
                civil_from_days(days),
                (i64::from(date.year()), date.month(), date.day()),
                "day {days}"
            );
        }
    }

    #[test]
    fn before_the_epoch_a_leap_day_and_the_last_four_digit_year() {
        assert_eq!(
            iso(utc(1969, 12, 31, 23, 59, 59, 1), "UTC"),
            "1969-12-31T23:59:59.000001+00:00"
        );
        assert_eq!(
            iso(utc(2000, 2, 29, 16, 0, 0, 0), "Asia/Taipei"),
            "2000-03-01T00:00:00+08:00"
        );
        assert_eq!(
            iso(utc(9999, 12, 31, 23, 0, 0, 0), "UTC"),
            "9999-12-31T23:00:00+00:00"
        );
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
    fn the_same_second_in_another_zone_or_the_next_second_is_looked_up_again() {
        let instant = utc(2022, 3, 13, 6, 59, 59, 0);
        assert_eq!(iso(instant, "Asia/Taipei"), "2022-03-13T14:59:59+08:00");
        assert_eq!(
            iso(instant, "America/New_York"),
            "2022-03-13T01:59:59-05:00"
        );
        // the same second again (microseconds apart), then the first second of daylight time
        let later = instant + chrono::Duration::microseconds(999_999);
        assert_eq!(
            iso(later, "America/New_York"),
            "2022-03-13T01:59:59.999999-05:00"
        );
        assert_eq!(
            iso(
                later + chrono::Duration::microseconds(1),
                "America/New_York"
            ),
            "2022-03-13T03:00:00-04:00"
        );
        assert_eq!(iso(instant, "Asia/Taipei"), "2022-03-13T14:59:59+08:00");
    }

    #[test]
    fn a_five_digit_local_year_is_written_whole_and_again() {
        let instant = utc(9999, 12, 31, 23, 0, 0, 0);
        for _ in 0..2 {
            assert_eq!(iso(instant, "Asia/Taipei"), "10000-01-01T07:00:00+08:00");
        }
        assert_eq!(iso(instant, "UTC"), "9999-12-31T23:00:00+00:00");
        assert_eq!(iso(instant, "Asia/Taipei"), "10000-01-01T07:00:00+08:00");
    }

    /// chrono's own rendering of `dt` in `zone`, with Python's rule for the microseconds.
    fn chrono_iso(dt: DateTime<Utc>, zone: &str) -> String {
        let local = dt.with_timezone(&parse_tz(zone).unwrap());
        let micros = dt.timestamp_subsec_micros();
        let fraction = if micros == 0 {
            String::new()
        } else {
            format!(".{micros:06}")
        };
        format!(
            "{}{fraction}{}",
            local.format("%Y-%m-%dT%H:%M:%S"),
            local.format("%:z")
        )
    }

    #[test]
    fn runs_of_stamps_agree_with_chrono_whatever_came_before() {
        // neighbours in time (the same second, the same local day, across midnight and the
        // DST changes) and jumps between zones and years, in an order that hits and misses
        // the remembered second and day every way
        let zones = [
            "America/New_York",
            "Asia/Taipei",
            "Europe/London",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
            "UTC",
        ];
        let starts = [
            utc(2022, 3, 13, 6, 30, 0, 0),
            utc(2022, 11, 6, 5, 30, 0, 0),
            utc(2024, 2, 28, 23, 0, 0, 0),
            utc(1969, 12, 31, 22, 0, 0, 0),
            utc(2099, 12, 31, 23, 59, 0, 0),
        ];
        let steps = [
            0,
            1,
            999_999,
            1_000_000,
            59_000_000,
            3_600_000_000,
            86_400_000_000,
        ];
        let mut n = 0u64;
        for start in starts {
            for zone in zones {
                let mut t = start;
                for step in steps.iter().cycle().take(40) {
                    // zones alternate now and then, so a remembered day meets another zone
                    let zone = if n % 7 == 3 {
                        zones[(n % 6) as usize]
                    } else {
                        zone
                    };
                    assert_eq!(iso(t, zone), chrono_iso(t, zone), "{t:?} {zone}");
                    t += chrono::Duration::microseconds(*step + (n % 5) as i64 * 123_457);
                    n += 1;
                }
            }
        }
    }

    #[test]
    fn a_threads_first_stamps_at_the_epoch_are_written() {
        // what is remembered before any stamp is the epoch in UTC: it must read as such
        let epoch = utc(1970, 1, 1, 0, 0, 0, 0);
        std::thread::spawn(move || {
            assert_eq!(iso(epoch, "UTC"), "1970-01-01T00:00:00+00:00");
            assert_eq!(iso(epoch, "Asia/Taipei"), "1970-01-01T08:00:00+08:00");
        })
        .join()
        .unwrap();
        std::thread::spawn(move || {
            assert_eq!(iso(epoch, "America/New_York"), "1969-12-31T19:00:00-05:00");
            assert_eq!(iso(epoch, "UTC"), "1970-01-01T00:00:00+00:00");
        })
        .join()
        .unwrap();
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
        let mut buf = [0u8; 12];
        let end = put_offset(&mut buf, 1, 1172);
        assert_eq!(&buf[1..end], b"+00:19:32");
        let end = put_offset(&mut buf, 0, -(5 * 3600 + 7));
        assert_eq!(&buf[..end], b"-05:00:07");
        let end = put_offset(&mut buf, 0, 8 * 3600);
        assert_eq!(&buf[..end], b"+08:00");
    }

    #[test]
    fn date_changes_with_the_zone() {
        assert_eq!(
            iso(utc(2021, 12, 31, 20, 0, 0, 0), "Asia/Taipei"),
            "2022-01-01T04:00:00+08:00"
        );
    }

    fn days(created: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
        days_since(created.into(), now.into())
    }

    #[test]
    fn days_since_floors_like_timedelta_days() {
        let created = utc(2022, 4, 5, 3, 45, 5, 123_456);
        assert_eq!(days(created, created), 0);
        assert_eq!(
            days(created, created + chrono::Duration::microseconds(1)),
            0
        );
        assert_eq!(days(created, created + chrono::Duration::days(1)), 1);
        assert_eq!(
            days(
                created,
                created + chrono::Duration::days(1) - chrono::Duration::microseconds(1)
            ),
            0
        );
        assert_eq!(days(created, created + chrono::Duration::days(400)), 400);
        // A row "created in the future" (clock skew) gives a negative day count.
        assert_eq!(
            days(created, created - chrono::Duration::microseconds(1)),
            -1
        );
        assert_eq!(days(created, created - chrono::Duration::days(2)), -2);
        assert_eq!(
            days(
                created,
                created - chrono::Duration::days(2) - chrono::Duration::seconds(1)
            ),
            -3
        );
    }

    #[test]
    fn days_since_the_ends_of_the_range_needs_no_more_than_the_difference() {
        let (first, last) = (Stamp(MIN_UNIX_MICROS), Stamp(MAX_UNIX_MICROS));
        let whole = (i128::from(MAX_UNIX_MICROS) - i128::from(MIN_UNIX_MICROS)) / 86_400_000_000;
        assert_eq!(days_since(first, last), whole as i64);
        assert_eq!(days_since(last, first), -(whole as i64) - 1);
        assert_eq!(days_since(last, last), 0);
    }

    #[test]
    fn a_stamp_is_exactly_a_chrono_instant_in_whole_microseconds() {
        for micros in [
            MIN_UNIX_MICROS,
            -1,
            0,
            1,
            1_649_130_305_123_456,
            MAX_UNIX_MICROS,
        ] {
            let chrono = DateTime::from_timestamp_micros(micros).unwrap();
            assert_eq!(Stamp::from_unix_micros(micros), Some(Stamp::from(chrono)));
            assert_eq!(Stamp::from(chrono).unix_micros(), micros);
        }
        for beyond in [MIN_UNIX_MICROS - 1, MAX_UNIX_MICROS + 1, i64::MIN, i64::MAX] {
            assert_eq!(DateTime::from_timestamp_micros(beyond), None);
            assert_eq!(Stamp::from_unix_micros(beyond), None);
        }
        let with_nanos = DateTime::from_timestamp(-2, 999_999_999).unwrap();
        assert_eq!(Stamp::from(with_nanos).unix_micros(), -1_000_001);
    }

    #[test]
    fn the_first_and_last_stamps_are_written() {
        let mut out = Vec::new();
        format_iso(Stamp(MIN_UNIX_MICROS), &chrono_tz::UTC, &mut out);
        format_iso(Stamp(MAX_UNIX_MICROS), &chrono_tz::UTC, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-262143-01-01T00:00:00+00:00262142-12-31T23:59:59.999999+00:00"
        );
    }

    #[test]
    fn parse_tz_accepts_iana_names_and_rejects_others() {
        assert!(parse_tz("Asia/Taipei").is_ok());
        assert!(parse_tz("UTC").is_ok());
        assert!(parse_tz("Europe/Berlin").is_ok());
        assert_eq!(
            parse_tz("Mars/Olympus").unwrap_err(),
            "unknown time zone \"Mars/Olympus\""
        );
        assert!(parse_tz("").is_err());
    }
}

//! Directive values: `parse_duration_ms`, `parse_count`, `parse_flag`.
//!
//! Input: the value (UTF-8). Checks: an accepted duration is the sum of its number-unit
//! pieces (recomputed here with u128, so an overflow must be a `None`, never a wrap or a
//! panic); a count is its decimal value within bounds; a flag is `on`/`off` in any case.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_music::conf::values::{parse_count, parse_duration_ms, parse_flag};

/// Reference: the value in ms, `None` if malformed; u128 wide, never overflowing for the
/// lengths libFuzzer makes (-max_len).
fn reference_ms(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (mut i, mut total) = (0, 0u128);
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let digits = &s[start..i];
        // a number beyond u64 is refused (u64::from_str), however it continues
        let n = u128::from(digits.parse::<u64>().ok()?);
        let (unit, len) = match &b[i..] {
            [b'm', b's', ..] => (1, 2),
            [] if start == 0 => (1000, 0),
            [] => return None,
            [b's', ..] => (1000, 1),
            [b'm', ..] => (60_000, 1),
            [b'h', ..] => (3_600_000, 1),
            [b'd', ..] => (86_400_000, 1),
            [b'w', ..] => (604_800_000, 1),
            _ => return None,
        };
        total += n * unit;
        i += len;
    }
    Some(total)
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let expected = reference_ms(s).and_then(|ms| u64::try_from(ms).ok());
    assert_eq!(parse_duration_ms(s), expected, "{s:?}");

    let bounds = [(1, 64), (0, usize::MAX), (5, 5)];
    for (min, max) in bounds {
        match parse_count(s, min, max) {
            Some(n) => {
                assert!((min..=max).contains(&n));
                assert!(s.bytes().all(|b| b.is_ascii_digit()));
                assert_eq!(s.parse::<usize>().ok(), Some(n));
            }
            None => assert!(
                s.is_empty()
                    || !s.bytes().all(|b| b.is_ascii_digit())
                    || s.parse::<usize>()
                        .map_or(true, |n| !(min..=max).contains(&n))
            ),
        }
    }

    let flag = parse_flag(s);
    assert_eq!(
        flag.is_some(),
        s.eq_ignore_ascii_case("on") || s.eq_ignore_ascii_case("off")
    );
    assert_eq!(flag == Some(true), s.eq_ignore_ascii_case("on"));
});

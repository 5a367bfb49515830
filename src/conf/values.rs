//! Parsing of directive values, as nginx writes them (pure Rust, unit-tested).

/// An nginx time value in milliseconds: `500ms`, `5s`, `1m30s`, `2h`, or a bare number of
/// seconds (what `ngx_parse_time(.., 0)` accepts for the units used here).
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let bytes = s.as_bytes();
    let mut total: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let n: u64 = s[start..i].parse().ok()?;
        let rest = &s[i..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.bytes().next() {
                None => (1000, 0),
                Some(b's') => (1000, 1),
                Some(b'm') => (60_000, 1),
                Some(b'h') => (3_600_000, 1),
                Some(b'd') => (86_400_000, 1),
                Some(b'w') => (604_800_000, 1),
                _ => return None,
            }
        };
        if len == 0 && start != 0 {
            // a bare number is only valid on its own ("5"), not after a unit ("1m5")
            return None;
        }
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
        i += len;
    }
    Some(total)
}

/// A positive count (`music_pool_size 4`).
pub fn parse_count(s: &str, min: usize, max: usize) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = s.parse().ok()?;
    (min..=max).contains(&n).then_some(n)
}

/// An nginx size in bytes: `512`, `256k`, `1m` (either case), as `ngx_parse_size` reads them.
pub fn parse_size(s: &str) -> Option<usize> {
    let (digits, unit) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1024),
        b'm' | b'M' => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok()?.checked_mul(unit)
}

/// `on` / `off`, as `ngx_conf_set_flag_slot` reads them.
pub fn parse_flag(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("on") {
        Some(true)
    } else if s.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("5s"), Some(5000));
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("1m30s"), Some(90_000));
        assert_eq!(parse_duration_ms("2h"), Some(7_200_000));
        assert_eq!(parse_duration_ms("7"), Some(7000));
        assert_eq!(parse_duration_ms("0"), Some(0));
        for bad in ["", "s", "5x", "-1s", "1.5s", "1m5", "ms"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn counts_and_flags() {
        assert_eq!(parse_count("4", 1, 64), Some(4));
        assert_eq!(parse_count("0", 1, 64), None);
        assert_eq!(parse_count("65", 1, 64), None);
        assert_eq!(parse_count("+4", 1, 64), None);
        assert_eq!(parse_flag("ON"), Some(true));
        assert_eq!(parse_flag("off"), Some(false));
        assert_eq!(parse_flag("yes"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("256k"), Some(256 * 1024));
        assert_eq!(parse_size("256K"), Some(256 * 1024));
        assert_eq!(parse_size("2m"), Some(2 * 1024 * 1024));
        for bad in [
            "",
            "k",
            "-1",
            "1.5k",
            "1g",
            "1kb",
            " 1",
            "99999999999999999999m",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}

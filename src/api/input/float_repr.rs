//! Python's `str(float)` (the shortest text that reads back to the same
//! float): `1.5`, `0.1`, `1e+16`, `1e-05`, `1000000000000000.0`, `-0.0`,
//! `inf`. DRF's `CharField` stores a JSON number as this text.

/// The text Python prints for `x`.
pub fn python_float_str(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e-7".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Python's `decpt`: the value is 0.DIGITS × 10^decpt.
    let decpt = exponent + 1;
    let n = digits.len() as i32;

    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (int_part, frac_part) = digits.split_at(decpt as usize);
            format!("{sign}{int_part}.{frac_part}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{sign}{first}{dot}{rest}e{exp_sign}{:02}",
            exponent.unsigned_abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::python_float_str;

    fn repr_of(text: &str) -> String {
        python_float_str(text.parse::<f64>().unwrap())
    }

    #[test]
    fn matches_python_repr() {
        // Expected values printed by CPython 3.11: repr(float(text)).
        let cases = [
            ("1e16", "1e+16"),
            ("1e15", "1000000000000000.0"),
            ("123456789012345678", "1.2345678901234568e+17"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("1.5", "1.5"),
            ("0.1", "0.1"),
            ("-0.0", "-0.0"),
            ("0.0", "0.0"),
            ("1e-400", "0.0"),
            ("-1e-400", "-0.0"),
            ("1e308", "1e+308"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("5e-324", "5e-324"),
            ("123.456e10", "1234560000000.0"),
            ("1e22", "1e+22"),
            ("1.0e-5", "1e-05"),
            ("9999999999999998", "9999999999999998.0"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("2.5E-3", "0.0025"),
            ("1.0", "1.0"),
            ("-2.5", "-2.5"),
            ("1e100", "1e+100"),
            ("1.25e-100", "1.25e-100"),
            ("123.0", "123.0"),
            ("0.000123", "0.000123"),
        ];
        for (text, expected) in cases {
            assert_eq!(repr_of(text), expected, "{text}");
        }
    }

    #[test]
    fn special_values() {
        assert_eq!(python_float_str(f64::INFINITY), "inf");
        assert_eq!(python_float_str(f64::NEG_INFINITY), "-inf");
        assert_eq!(python_float_str(f64::NAN), "nan");
        assert_eq!(repr_of("1e400"), "inf");
        assert_eq!(repr_of("-1e400"), "-inf");
    }
}

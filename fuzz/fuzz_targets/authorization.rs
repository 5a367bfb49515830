//! `parse_authorization` (HTTP Basic as DRF 3.12 reads it, CPython's lenient base64).
//!
//! Input: one selector byte, then the rest.
//! - selector bit 0 clear: the rest is a raw header value. Checks: a user name never holds
//!   `:`; `NoCredentials` exactly when the first word is not `basic`; the latin-1 variant
//!   answers the same except that it may accept what was refused as not UTF-8; the `Debug`
//!   output redacts the password.
//! - selector bit 0 set: a round trip. The rest is `user \0 password \0 junk` (UTF-8, user
//!   without `:`); the header built from them must give them back, whatever the scheme's
//!   case and the whitespace around, with the junk (bytes outside the base64 alphabet, not
//!   whitespace, not `=`) spread through the base64, and after its closing padding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_music::auth::basic::{parse_authorization, parse_authorization_with, BasicError};
use ngx_music::auth::{BasicOutcome, NonUtf8};

fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn b64encode(data: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        out.push(ALPHABET[(n >> 18) as usize & 63]);
        out.push(ALPHABET[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

fn check_credentials(outcome: &BasicOutcome) {
    if let BasicOutcome::Credentials { username, .. } = outcome {
        assert!(
            !username.contains(':'),
            "user name with a colon: {username:?}"
        );
        assert_eq!(
            format!("{outcome:?}"),
            format!("Credentials {{ username: {username:?}, password: \"<redacted>\" }}")
        );
    }
}

fn raw(header: &[u8]) {
    let strict = parse_authorization(Some(header));
    let latin1 = parse_authorization_with(Some(header), NonUtf8::Latin1);
    check_credentials(&strict);
    check_credentials(&latin1);
    let first_word = header.split(|&b| is_py_space(b)).find(|w| !w.is_empty());
    let basic = first_word.is_some_and(|w| w.eq_ignore_ascii_case(b"basic"));
    assert_eq!(matches!(strict, BasicOutcome::NoCredentials), !basic);
    match &strict {
        BasicOutcome::Invalid(BasicError::NotBase64) => assert!(matches!(
            latin1,
            BasicOutcome::Invalid(BasicError::NotBase64) | BasicOutcome::Credentials { .. }
        )),
        other => assert_eq!(other, &latin1),
    }
    if let BasicOutcome::Credentials { username, password } = &latin1 {
        if !matches!(strict, BasicOutcome::Credentials { .. }) {
            // read as latin-1: one character per byte
            assert!(username
                .chars()
                .chain(password.chars())
                .all(|c| u32::from(c) <= 0xff));
        }
    }
    assert_eq!(parse_authorization(None), BasicOutcome::NoCredentials);
}

fn round_trip(rest: &[u8]) {
    let mut parts = rest.splitn(3, |&b| b == 0);
    let (Ok(user), Ok(password)) = (
        std::str::from_utf8(parts.next().unwrap_or_default()),
        std::str::from_utf8(parts.next().unwrap_or_default()),
    ) else {
        return;
    };
    if user.contains(':') {
        return;
    }
    let junk: Vec<u8> = parts
        .next()
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|&b| {
            !is_py_space(b) && b != b'=' && !b.is_ascii_alphanumeric() && b != b'+' && b != b'/'
        })
        .collect();
    let encoded = b64encode(format!("{user}:{password}").as_bytes());
    let expected = BasicOutcome::Credentials {
        username: user.to_owned(),
        password: password.to_owned(),
    };

    let scheme: &[u8] = match junk.len() % 3 {
        0 => b"Basic ",
        1 => b"basic\t",
        _ => b" \x0bBASIC  ",
    };
    let mut header = scheme.to_vec();
    header.extend_from_slice(&encoded);
    header.extend_from_slice(b" \r\n");
    assert_eq!(
        parse_authorization(Some(&header)),
        expected,
        "{:?}",
        String::from_utf8_lossy(&header)
    );

    // junk between the base64 characters is skipped
    let mut mixed = b"Basic ".to_vec();
    let mut junk_iter = junk.iter();
    for &c in &encoded {
        if let Some(&j) = junk_iter.next() {
            mixed.push(j);
        }
        mixed.push(c);
    }
    mixed.extend(junk_iter);
    assert_eq!(
        parse_authorization(Some(&mixed)),
        expected,
        "{:?}",
        String::from_utf8_lossy(&mixed)
    );

    // after the padding that completes the last quad, anything (but whitespace) is ignored
    if encoded.ends_with(b"=") {
        let mut padded = b"Basic ".to_vec();
        padded.extend_from_slice(&encoded);
        padded.extend(rest.iter().copied().filter(|&b| !is_py_space(b)));
        assert_eq!(
            parse_authorization(Some(&padded)),
            expected,
            "{:?}",
            String::from_utf8_lossy(&padded)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        raw(rest)
    } else {
        round_trip(rest)
    }
});

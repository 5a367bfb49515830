//! HTTP Basic `Authorization` header parsing, byte-for-byte as DRF 3.12's
//! `BasicAuthentication.authenticate` does it.
//!
//! DRF's steps, and how they map here:
//!
//! 1. `get_authorization_header(request).split()`: the raw header bytes
//!    (WSGI hands them over as a latin-1 `str`, which DRF encodes back, so
//!    they are the bytes the client sent) split on ASCII whitespace as
//!    Python's `bytes.split()` does (space, `\t`, `\n`, `\v`, `\f`, `\r`).
//! 2. No words, or a first word that is not `basic` (ASCII
//!    case-insensitive: `bytes.lower()`): no credentials at all, *not* an
//!    error (DRF returns `None`; a `Bearer` header is "not provided").
//! 3. One word: "No credentials provided."; more than two words:
//!    "Credentials string should not contain spaces."
//! 4. `base64.b64decode(word)` (CPython's *lenient* `a2b_base64`, see
//!    [`python_b64decode`]), then the text is decoded as UTF-8, and the
//!    text is split at the first `:` (`str.partition`): a text without a
//!    colon is a user name with an empty password.
//!
//! UTF-8 and DRF 3.12: the API answers decoded bytes that are not UTF-8 with
//! "not correctly base64 encoded" (the original's contract). DRF 3.12.x itself
//! (since PR #7193) retries such bytes as latin-1, so that it never fails there.
//! [`parse_authorization`] follows the contract; [`parse_authorization_with`]
//! with [`NonUtf8::Latin1`] reproduces DRF 3.12 exactly, for deployments
//! whose clients send latin-1 credentials.

use std::fmt;

use zeroize::Zeroize;

/// The result of looking at a request's `Authorization` header.
pub enum BasicOutcome {
    /// No header, an empty one, or another scheme (`Bearer …`): the
    /// request carries no Basic credentials (DRF answers
    /// "Authentication credentials were not provided." on a protected route).
    NoCredentials,
    /// A well-formed Basic header. `password` is secret: it never appears
    /// in `Debug` output.
    Credentials { username: String, password: String },
    /// A malformed Basic header; answer 403 with [`BasicError::detail`].
    Invalid(BasicError),
}

impl fmt::Debug for BasicOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BasicOutcome::NoCredentials => f.write_str("NoCredentials"),
            BasicOutcome::Credentials { username, .. } => f
                .debug_struct("Credentials")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            BasicOutcome::Invalid(e) => f.debug_tuple("Invalid").field(e).finish(),
        }
    }
}

impl PartialEq for BasicOutcome {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BasicOutcome::NoCredentials, BasicOutcome::NoCredentials) => true,
            (
                BasicOutcome::Credentials {
                    username: u1,
                    password: p1,
                },
                BasicOutcome::Credentials {
                    username: u2,
                    password: p2,
                },
            ) => u1 == u2 && p1 == p2,
            (BasicOutcome::Invalid(a), BasicOutcome::Invalid(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for BasicOutcome {}

/// A malformed Basic header (DRF raises `AuthenticationFailed`, 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BasicError {
    /// `Authorization: Basic` with nothing after it.
    NoCredentialsProvided,
    /// `Basic <creds> <more words…>`.
    ContainsSpaces,
    /// The base64 cannot be decoded (wrong padding, or one data character
    /// too many), or the decoded bytes are not UTF-8.
    NotBase64,
}

impl BasicError {
    /// DRF's exact `detail` text for this error.
    pub fn detail(self) -> &'static str {
        match self {
            BasicError::NoCredentialsProvided => "Invalid basic header. No credentials provided.",
            BasicError::ContainsSpaces => {
                "Invalid basic header. Credentials string should not contain spaces."
            }
            BasicError::NotBase64 => {
                "Invalid basic header. Credentials not correctly base64 encoded."
            }
        }
    }
}

impl fmt::Display for BasicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for BasicError {}

/// What to do with decoded credentials that are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NonUtf8 {
    /// The API's answer: "not correctly base64 encoded" ([`BasicError::NotBase64`]).
    #[default]
    Reject,
    /// DRF 3.12: decode the bytes as latin-1 instead (every byte is a
    /// character U+0000..U+00FF), so this never fails.
    Latin1,
}

/// Parses an `Authorization` header value (raw bytes, `None` when the
/// request has no such header) as DRF 3.12 does, rejecting non-UTF-8
/// credentials as "not correctly base64 encoded".
pub fn parse_authorization(header: Option<&[u8]>) -> BasicOutcome {
    parse_authorization_with(header, NonUtf8::Reject)
}

/// [`parse_authorization`] with a choice for non-UTF-8 credentials.
pub fn parse_authorization_with(header: Option<&[u8]>, non_utf8: NonUtf8) -> BasicOutcome {
    let header = header.unwrap_or(b"");
    let mut words = header.split(|b| is_py_space(*b)).filter(|w| !w.is_empty());

    let scheme = match words.next() {
        Some(w) => w,
        None => return BasicOutcome::NoCredentials,
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return BasicOutcome::NoCredentials;
    }
    let encoded = match words.next() {
        Some(w) => w,
        None => return BasicOutcome::Invalid(BasicError::NoCredentialsProvided),
    };
    if words.next().is_some() {
        return BasicOutcome::Invalid(BasicError::ContainsSpaces);
    }

    let decoded = match python_b64decode(encoded) {
        Ok(d) => d,
        Err(()) => return BasicOutcome::Invalid(BasicError::NotBase64),
    };
    let mut text = match String::from_utf8(decoded) {
        Ok(t) => t,
        Err(e) => {
            let mut bytes = e.into_bytes();
            let text = match non_utf8 {
                NonUtf8::Reject => None,
                NonUtf8::Latin1 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
            };
            bytes.zeroize();
            match text {
                Some(t) => t,
                None => return BasicOutcome::Invalid(BasicError::NotBase64),
            }
        }
    };

    // str.partition(':'): split at the first colon; no colon means the
    // whole text is the user name and the password is empty.
    // The user name keeps the decoded text's buffer (one copy fewer per request); the colon
    // and the password bytes after it are wiped from that buffer before it is cut.
    let (username, password) = match text.find(':') {
        Some(i) => {
            let password = text[i + 1..].to_owned();
            let mut bytes = std::mem::take(&mut text).into_bytes();
            bytes[i..].zeroize();
            bytes.truncate(i);
            // a prefix of UTF-8 text cut before an ASCII colon is UTF-8
            (String::from_utf8(bytes).unwrap_or_default(), password)
        }
        None => (std::mem::take(&mut text), String::new()),
    };
    BasicOutcome::Credentials { username, password }
}

/// Whether a user name can name a row of `auth_user` at all. PostgreSQL
/// text cannot hold NUL, so a lookup with such a name would be a database
/// error (Django 3.2 + psycopg2: `ValueError`, a 500); treat it as an
/// unknown user ("Invalid username/password.") without querying.
pub fn username_is_storable(username: &str) -> bool {
    !username.contains('\0')
}

/// Python's `bytes.isspace()` set, used by `bytes.split()` without
/// arguments: space, `\t`, `\n`, `\v` (0x0b), `\f` (0x0c), `\r`.
fn is_py_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value of a standard base64 alphabet byte, or `None` for any other
/// byte (including `=` and every byte >= 0x80).
const fn b64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The 6-bit value of each byte of the standard base64 alphabet; 0xff for every other byte.
const B64_VALUES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 256 {
        if let Some(v) = b64_value(i as u8) {
            t[i] = v;
        }
        i += 1;
    }
    t
};

/// The common case of [`python_b64decode`] four characters at a time: input that is only
/// alphabet characters in whole quads, the last one possibly padded with `=` or `==` (what
/// every client sends). There both decoders give the same bytes; `None` for anything else,
/// which the byte-by-byte loop then decodes with all of Python's rules.
fn canonical_b64decode(input: &[u8]) -> Option<Vec<u8>> {
    if input.is_empty() || !input.len().is_multiple_of(4) {
        return None;
    }
    let pads = input
        .iter()
        .rev()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    let data = &input[..input.len() - pads];
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut quads = data.chunks_exact(4);
    for quad in &mut quads {
        let v = quad.iter().map(|&b| B64_VALUES[b as usize]);
        let mut n = 0u32;
        for x in v {
            if x == 0xff {
                return None;
            }
            n = n << 6 | u32::from(x);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..]);
    }
    let rest = quads.remainder();
    // two or three data characters before the padding: one or two bytes, the leftover bits
    // dropped as Python drops them
    if !rest.is_empty() {
        if rest.len() + pads != 4 {
            return None;
        }
        let mut n = 0u32;
        for &b in rest {
            let x = B64_VALUES[b as usize];
            if x == 0xff {
                return None;
            }
            n = n << 6 | u32::from(x);
        }
        n <<= 6 * pads as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pads]);
    } else if pads != 0 {
        return None;
    }
    Some(out)
}

/// `base64.b64decode(s)` for a `bytes` argument with the default
/// `validate=False`, i.e. CPython's `binascii.a2b_base64(s, strict_mode=False)`
/// (the same loop in CPython 3.7 to 3.13):
///
/// * bytes outside the standard alphabet (`A-Z a-z 0-9 + /`), other than
///   `=`, are skipped, wherever they are;
/// * a `=` counts as padding only once at least two data characters of the
///   current quad were seen (`quad_pos >= 2`); earlier ones are skipped.
///   Padding pads are counted since the last data character (skipped junk
///   in between does not reset the count): once `quad_pos + pads >= 4`
///   decoding stops and *everything after it is ignored* (`YQ==YQ==` is
///   `a`), and the leftover bits of the partial quad are dropped;
/// * ending inside a quad is an error: one data character past a multiple
///   of four is "number of data characters cannot be 1 more than a
///   multiple of 4", two or three is "Incorrect padding".
///
/// Both errors are reported as `Err(())`: DRF maps every `binascii.Error`
/// to the same message.
pub(crate) fn python_b64decode(input: &[u8]) -> Result<Vec<u8>, ()> {
    if let Some(out) = canonical_b64decode(input) {
        return Ok(out);
    }
    let mut out = Vec::with_capacity(input.len().div_ceil(4) * 3);
    let mut quad_pos = 0u8;
    let mut leftchar = 0u8;
    let mut pads = 0u8;

    for &byte in input {
        if byte == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Ok(out);
                }
            }
            continue;
        }
        let v = match b64_value(byte) {
            Some(v) => v,
            None => continue,
        };
        pads = 0;
        match quad_pos {
            0 => {
                quad_pos = 1;
                leftchar = v;
            }
            1 => {
                quad_pos = 2;
                out.push((leftchar << 2) | (v >> 4));
                leftchar = v & 0x0f;
            }
            2 => {
                quad_pos = 3;
                out.push((leftchar << 4) | (v >> 2));
                leftchar = v & 0x03;
            }
            _ => {
                quad_pos = 0;
                out.push((leftchar << 6) | v);
                leftchar = 0;
            }
        }
    }

    if quad_pos != 0 {
        out.zeroize();
        return Err(());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_quads_decode_as_python_does() {
        // every input the quad decoder takes, it decodes as the byte-by-byte loop does (run
        // on the same input behind a junk byte, which the quad decoder refuses and the loop
        // skips); the rest it leaves to that loop
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut taken = 0;
        for len in 0..=9usize {
            for seed in 0..200usize {
                let data: Vec<u8> = (0..len)
                    .map(|i| alphabet[(seed * 7 + i * 13 + seed * i) % 64])
                    .collect();
                for pads in 0..=3 {
                    let mut input = data.clone();
                    input.extend(std::iter::repeat_n(b'=', pads));
                    let mut behind_junk = vec![b'!'];
                    behind_junk.extend_from_slice(&input);
                    assert_eq!(canonical_b64decode(&behind_junk), None);
                    if let Some(fast) = canonical_b64decode(&input) {
                        taken += 1;
                        let slow = python_b64decode(&behind_junk);
                        assert_eq!(Ok(fast), slow, "{}", String::from_utf8_lossy(&input));
                    }
                }
            }
        }
        assert!(taken > 500, "{taken}");
        assert_eq!(canonical_b64decode(b"YQ==YQ=="), None);
        assert_eq!(canonical_b64decode(b"YWJj=A=="), None);
        assert_eq!(
            python_b64decode(b"YWRtaW46YWRtaW4xMjM0").unwrap(),
            b"admin:admin1234"
        );
        assert_eq!(python_b64decode(b"YR==").unwrap(), b"a");
    }

    fn creds(u: &str, p: &str) -> BasicOutcome {
        BasicOutcome::Credentials {
            username: u.to_owned(),
            password: p.to_owned(),
        }
    }

    fn parse(h: &[u8]) -> BasicOutcome {
        parse_authorization(Some(h))
    }

    /// Every vector below was produced by CPython 3.11's
    /// `base64.b64decode(bytes)` (validate=False).
    #[test]
    fn b64decode_matches_cpython() {
        let ok: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"YWRtaW46YWRtaW4xMjM0", b"admin:admin1234"),
            (b"YWRtaW4*6YWRtaW4xMjM0", b"admin:admin1234"),
            (b"YQ==", b"a"),
            (b"YQ==YQ==", b"a"),
            (b"YWJj", b"abc"),
            (b"YWI=", b"ab"),
            (b"=YQ==", b"a"),
            (b"Y=Q==", b"a"),
            (b"YQ=*=", b"a"),
            (b"YQ=a=", b"a\x06"),
            (b"YWJj=", b"abc"),
            (b"YWJj====", b"abc"),
            (b"YQ===", b"a"),
            (b"Y\xffQ==", b"a"),
            (b"YR==", b"a"),
            (b"YWK=", b"ab"),
            (b"!!!!", b""),
            (b"====", b""),
            (b"YWJjZA==", b"abcd"),
            (b"YWJjZGU=", b"abcde"),
            (b"-_-_", b""),
            (b"YQ\x00==", b"a"),
            (b"Y.Q.=.=", b"a"),
            (b"YWJjZGU=ZZZ", b"abcde"),
            (b"/+/+", b"\xff\xef\xfe"),
        ];
        for (input, want) in ok {
            assert_eq!(
                python_b64decode(input).as_deref(),
                Ok(*want),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
        let err: &[&[u8]] = &[
            b"abc",     // Incorrect padding
            b"YQ=",     // Incorrect padding
            b"YQ",      // Incorrect padding
            b"Y",       // number of data characters (1) cannot be 1 more than ...
            b"YWJ",     // Incorrect padding
            b"YWI",     // Incorrect padding
            b"YQ=a",    // Incorrect padding
            b"YWJjZ",   // number of data characters (5) ...
            b"YWJjZA",  // Incorrect padding
            b"YWJjZA=", // Incorrect padding
            b"YWJjZGU", // Incorrect padding
            b"Y W",     // Incorrect padding
        ];
        for input in err {
            assert_eq!(
                python_b64decode(input),
                Err(()),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn no_header_or_other_scheme_is_no_credentials() {
        assert_eq!(parse_authorization(None), BasicOutcome::NoCredentials);
        assert_eq!(parse(b""), BasicOutcome::NoCredentials);
        assert_eq!(parse(b"   \t "), BasicOutcome::NoCredentials);
        assert_eq!(parse(b"Bearer abc.def"), BasicOutcome::NoCredentials);
        assert_eq!(parse(b"Token abc"), BasicOutcome::NoCredentials);
        assert_eq!(parse(b"Basicx YWRtaW46YQ=="), BasicOutcome::NoCredentials);
        // bytes.lower() only folds ASCII, so a non-ASCII look-alike is
        // simply another scheme.
        assert_eq!(parse(b"BAS\xc4\xb0C YQ=="), BasicOutcome::NoCredentials);
    }

    #[test]
    fn scheme_is_case_insensitive() {
        for scheme in ["basic", "Basic", "BASIC", "bAsIc"] {
            let h = format!("{scheme} YWRtaW46YWRtaW4xMjM0");
            assert_eq!(parse(h.as_bytes()), creds("admin", "admin1234"));
        }
    }

    #[test]
    fn word_count_errors() {
        assert_eq!(
            parse(b"Basic"),
            BasicOutcome::Invalid(BasicError::NoCredentialsProvided)
        );
        assert_eq!(
            parse(b"  Basic  \t"),
            BasicOutcome::Invalid(BasicError::NoCredentialsProvided)
        );
        assert_eq!(
            parse(b"Basic YWRtaW46YWRtaW4xMjM0 extra"),
            BasicOutcome::Invalid(BasicError::ContainsSpaces)
        );
        // Base64 is not even looked at when there are too many words.
        assert_eq!(
            parse(b"Basic a b"),
            BasicOutcome::Invalid(BasicError::ContainsSpaces)
        );
    }

    #[test]
    fn python_whitespace_separates_words() {
        // \t \n \v \f \r all split, and runs of them count as one.
        for sep in [" ", "\t", "\n", "\x0b", "\x0c", "\r", " \t\r\n "] {
            let h = format!("Basic{sep}YWRtaW46YWRtaW4xMjM0{sep}");
            assert_eq!(parse(h.as_bytes()), creds("admin", "admin1234"), "{sep:?}");
        }
        // Non-breaking space (0xa0) and 0x1c-0x1f are not bytes whitespace:
        // they stay inside the word, where base64 decoding skips them.
        assert_eq!(
            parse(b"Basic YWRtaW46\xa0YWRtaW4xMjM0"),
            creds("admin", "admin1234")
        );
        assert_eq!(parse(b"Basic\xa0YWRtaW46YQ=="), BasicOutcome::NoCredentials);
        assert_eq!(parse(b"Basic\x1cYWRtaW46YQ=="), BasicOutcome::NoCredentials);
    }

    #[test]
    fn base64_errors() {
        assert_eq!(
            parse(b"Basic abc"),
            BasicOutcome::Invalid(BasicError::NotBase64)
        );
        assert_eq!(
            parse(b"Basic YQ="),
            BasicOutcome::Invalid(BasicError::NotBase64)
        );
        assert_eq!(
            parse(b"Basic Y"),
            BasicOutcome::Invalid(BasicError::NotBase64)
        );
    }

    #[test]
    fn lenient_base64_is_accepted() {
        assert_eq!(
            parse(b"Basic YWRtaW4*6YWRtaW4xMjM0"),
            creds("admin", "admin1234")
        );
        // Trailing junk after complete padding is ignored ("a:").
        assert_eq!(parse(b"Basic YTo=garbage"), creds("a", ""));
        // ... but padding after a complete quad is not padding: "garbage"
        // is then data, seven characters, so "Incorrect padding".
        assert_eq!(
            parse(b"Basic YTpi==garbage"),
            BasicOutcome::Invalid(BasicError::NotBase64)
        );
        assert_eq!(parse(b"Basic YTpi"), creds("a", "b"));
        // All junk decodes to the empty string: empty user, empty password.
        assert_eq!(parse(b"Basic !!!!"), creds("", ""));
    }

    #[test]
    fn partition_at_first_colon() {
        // "user" -> no colon: user name, empty password.
        assert_eq!(parse(b"Basic dXNlcg=="), creds("user", ""));
        // ":" -> both empty.
        assert_eq!(parse(b"Basic Og=="), creds("", ""));
        // "a:b:c" -> user "a", password "b:c".
        assert_eq!(parse(b"Basic YTpiOmM="), creds("a", "b:c"));
        // ":pw" -> empty user.
        assert_eq!(parse(b"Basic OnB3"), creds("", "pw"));
    }

    #[test]
    fn utf8_credentials() {
        // "walterwhite:pässwörd" in UTF-8 (DRF issue #7183's example).
        assert_eq!(
            parse(b"Basic d2FsdGVyd2hpdGU6cMOkc3N3w7ZyZA=="),
            creds("walterwhite", "pässwörd")
        );
    }

    #[test]
    fn non_utf8_credentials() {
        // "walterwhite:pässwörd" in latin-1.
        let h: &[u8] = b"Basic d2FsdGVyd2hpdGU6cORzc3f2cmQ=";
        assert_eq!(parse(h), BasicOutcome::Invalid(BasicError::NotBase64));
        assert_eq!(
            parse_authorization_with(Some(h), NonUtf8::Reject),
            BasicOutcome::Invalid(BasicError::NotBase64)
        );
        assert_eq!(
            parse_authorization_with(Some(h), NonUtf8::Latin1),
            creds("walterwhite", "pässwörd")
        );
        // A lone 0xff byte: latin-1 "ÿ".
        assert_eq!(
            parse_authorization_with(Some(b"Basic /w=="), NonUtf8::Latin1),
            creds("\u{ff}", "")
        );
        // UTF-8 encoded surrogates are invalid for Python's codec too.
        assert_eq!(
            parse(b"Basic 7aCA"),
            BasicOutcome::Invalid(BasicError::NotBase64)
        );
    }

    #[test]
    fn nul_in_user_name() {
        // "a\0b:c"
        assert_eq!(parse(b"Basic YQBiOmM="), creds("a\0b", "c"));
        assert!(!username_is_storable("a\0b"));
        assert!(username_is_storable("admin"));
    }

    #[test]
    fn details_are_drf_texts() {
        assert_eq!(
            BasicError::NoCredentialsProvided.detail(),
            "Invalid basic header. No credentials provided."
        );
        assert_eq!(
            BasicError::ContainsSpaces.detail(),
            "Invalid basic header. Credentials string should not contain spaces."
        );
        assert_eq!(
            BasicError::NotBase64.detail(),
            "Invalid basic header. Credentials not correctly base64 encoded."
        );
        assert_eq!(
            BasicError::NotBase64.to_string(),
            BasicError::NotBase64.detail()
        );
    }

    #[test]
    fn debug_redacts_password() {
        let out = parse(b"Basic YWRtaW46YWRtaW4xMjM0");
        let dbg = format!("{out:?}");
        assert!(dbg.contains("admin"));
        assert!(!dbg.contains("admin1234"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }
}

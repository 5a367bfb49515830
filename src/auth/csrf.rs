//! Django 3.2's CSRF check (`CsrfViewMiddleware.process_view`) as DRF's
//! `SessionAuthentication.enforce_csrf` runs it for session-authenticated
//! requests, with Django's reason texts.
//!
//! Tokens are 64 characters of `[a-zA-Z0-9]`: a 32-character mask followed
//! by the 32-character secret "added" to it character by character. Two
//! tokens match when they unmask to the same secret. A 32-character value
//! is an unmasked secret (older Django cookies); any other shape is replaced
//! by a fresh random token in Django, which never matches, so it is simply a
//! mismatch here.

use subtle::ConstantTimeEq;

pub const REASON_NO_REFERER: &str = "Referer checking failed - no Referer.";
pub const REASON_NO_CSRF_COOKIE: &str = "CSRF cookie not set.";
pub const REASON_BAD_TOKEN: &str = "CSRF token missing or incorrect.";
pub const REASON_MALFORMED_REFERER: &str = "Referer checking failed - Referer is malformed.";
pub const REASON_INSECURE_REFERER: &str =
    "Referer checking failed - Referer is insecure while host is secure.";

/// Django's `CSRF_ALLOWED_CHARS`, in its order (the order is the cipher).
const CHARS: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const SECRET_LEN: usize = 32;
pub const TOKEN_LEN: usize = 64;

fn index(c: u8) -> Option<usize> {
    match c {
        b'a'..=b'z' => Some(usize::from(c - b'a')),
        b'A'..=b'Z' => Some(usize::from(c - b'A') + 26),
        b'0'..=b'9' => Some(usize::from(c - b'0') + 52),
        _ => None,
    }
}

/// The secret a cookie or submitted token stands for (`_sanitize_token`
/// then `_unmask_cipher_token`), or `None` for a value Django would replace.
pub fn secret_of(token: &str) -> Option<[u8; SECRET_LEN]> {
    let b = token.as_bytes();
    let mut out = [0u8; SECRET_LEN];
    match b.len() {
        SECRET_LEN => {
            for (o, &c) in out.iter_mut().zip(b) {
                index(c)?;
                *o = c;
            }
        }
        TOKEN_LEN => {
            let (mask, cipher) = b.split_at(SECRET_LEN);
            for ((o, &m), &c) in out.iter_mut().zip(mask).zip(cipher) {
                let (m, c) = (index(m)?, index(c)?);
                *o = CHARS[(c + 62 - m) % 62];
            }
        }
        _ => return None,
    }
    Some(out)
}

/// `_mask_cipher_secret(secret)` with the given mask (both 32 characters of
/// the alphabet): the token to put in a cookie or form.
pub fn mask_secret(secret: &[u8; SECRET_LEN], mask: &[u8; SECRET_LEN]) -> String {
    let mut out = String::with_capacity(TOKEN_LEN);
    out.extend(mask.iter().map(|&m| char::from(m)));
    for (&s, &m) in secret.iter().zip(mask) {
        let (s, m) = (index(s).unwrap_or(0), index(m).unwrap_or(0));
        out.push(char::from(CHARS[(s + m) % 62]));
    }
    out
}

/// 32 characters of the alphabet from 32 random bytes (`get_random_string`).
pub fn secret_from_random(random: &[u8; SECRET_LEN]) -> [u8; SECRET_LEN] {
    // 256 = 4 * 62 + 8: rejecting the top 8 values would be uniform; the
    // small bias left here does not weaken a 190-bit secret.
    random.map(|r| CHARS[usize::from(r) % 62])
}

/// What the request carries for the check.
#[derive(Debug, Clone, Copy)]
pub struct CsrfRequest<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The request came over TLS (`request.is_secure()`).
    pub secure: bool,
    /// The `Host` header (Django's `get_host()`, host:port as sent).
    pub host: Option<&'a str>,
    pub referer: Option<&'a str>,
    /// The `csrftoken` cookie value, if the cookie is present.
    pub cookie: Option<&'a str>,
    /// `csrfmiddlewaretoken` from a POST form, else the `X-CSRFToken` header.
    pub submitted: Option<&'a str>,
}

/// `process_view`: `Ok` or the reason to answer `CSRF Failed: <reason>`.
pub fn check(req: &CsrfRequest<'_>) -> Result<(), String> {
    if matches!(req.method, "GET" | "HEAD" | "OPTIONS" | "TRACE") {
        return Ok(());
    }
    if req.secure {
        let referer = req.referer.ok_or(REASON_NO_REFERER)?;
        let (scheme, netloc) = url_scheme_netloc(referer);
        if scheme.is_empty() || netloc.is_empty() {
            return Err(REASON_MALFORMED_REFERER.into());
        }
        if scheme != "https" {
            return Err(REASON_INSECURE_REFERER.into());
        }
        let same = req.host.is_some_and(|h| is_same_domain(netloc, h));
        if !same {
            return Err(format!(
                "Referer checking failed - {referer} does not match any trusted origins."
            ));
        }
    }
    let cookie = req.cookie.ok_or(REASON_NO_CSRF_COOKIE)?;
    let expected = secret_of(cookie);
    let got = req.submitted.and_then(secret_of);
    match (expected, got) {
        (Some(e), Some(g)) if bool::from(e.ct_eq(&g)) => Ok(()),
        _ => Err(REASON_BAD_TOKEN.into()),
    }
}

/// `urlparse(url)`'s scheme (lower-cased) and netloc, for the forms a
/// Referer takes.
pub(crate) fn url_scheme_netloc(url: &str) -> (String, &str) {
    let mut scheme = String::new();
    let mut rest = url;
    if let Some(colon) = url.find(':') {
        let s = &url[..colon];
        let valid = s.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if valid {
            scheme = s.to_ascii_lowercase();
            rest = &url[colon + 1..];
        }
    }
    let netloc = match rest.strip_prefix("//") {
        Some(r) => &r[..r.find(['/', '?', '#']).unwrap_or(r.len())],
        None => "",
    };
    (scheme, netloc)
}

/// Django's `is_same_domain(host, pattern)` (lower-cased exact match; a
/// pattern starting with `.` also matches its subdomains).
fn is_same_domain(host: &str, pattern: &str) -> bool {
    let (host, pattern) = (host.to_ascii_lowercase(), pattern.to_ascii_lowercase());
    match pattern.strip_prefix('.') {
        Some(bare) => host.ends_with(&pattern) || host == bare,
        None => host == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8; 32] = b"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn token() -> String {
        mask_secret(SECRET, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    }

    fn post<'a>(cookie: Option<&'a str>, submitted: Option<&'a str>) -> CsrfRequest<'a> {
        CsrfRequest {
            method: "POST",
            secure: false,
            host: Some("example.com"),
            referer: None,
            cookie,
            submitted,
        }
    }

    #[test]
    fn unmask_matches_django() {
        // Django: _unmask_cipher_token("a"*32 + "B"*32) == "B"*32
        let t = "a".repeat(32) + &"B".repeat(32);
        assert_eq!(&secret_of(&t).unwrap(), SECRET);
        let other = mask_secret(SECRET, b"Zz09Zz09Zz09Zz09Zz09Zz09Zz09Zz09");
        assert_eq!(&secret_of(&other).unwrap(), SECRET);
    }

    #[test]
    fn safe_methods_pass() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            let r = CsrfRequest {
                method: m,
                ..post(None, None)
            };
            assert_eq!(check(&r), Ok(()));
        }
    }

    #[test]
    fn cookie_and_token_rules() {
        let t = token();
        let other = mask_secret(SECRET, b"0123456789abcdefghijklmnopqrstuv");
        assert_eq!(
            check(&post(None, Some(&t))),
            Err(REASON_NO_CSRF_COOKIE.into())
        );
        assert_eq!(check(&post(Some(&t), None)), Err(REASON_BAD_TOKEN.into()));
        assert_eq!(check(&post(Some(&t), Some(&other))), Ok(()));
        let unmasked = std::str::from_utf8(SECRET).unwrap();
        assert_eq!(check(&post(Some(unmasked), Some(&t))), Ok(()));
        let wrong = mask_secret(
            b"CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        );
        assert_eq!(
            check(&post(Some(&t), Some(&wrong))),
            Err(REASON_BAD_TOKEN.into())
        );
        for junk in ["", "x", &t[..63], &format!("{}!", &t[..63]), "é"] {
            assert_eq!(
                check(&post(Some(junk), Some(&t))),
                Err(REASON_BAD_TOKEN.into())
            );
            assert_eq!(
                check(&post(Some(&t), Some(junk))),
                Err(REASON_BAD_TOKEN.into())
            );
        }
    }

    #[test]
    fn referer_rules_on_https() {
        let t = token();
        let with = |referer| CsrfRequest {
            secure: true,
            referer,
            ..post(Some(&t), Some(&t))
        };
        assert_eq!(check(&with(None)), Err(REASON_NO_REFERER.into()));
        assert_eq!(
            check(&with(Some("nonsense"))),
            Err(REASON_MALFORMED_REFERER.into())
        );
        assert_eq!(
            check(&with(Some("http://example.com/x"))),
            Err(REASON_INSECURE_REFERER.into())
        );
        assert_eq!(
            check(&with(Some("https://evil.com/x"))),
            Err(
                "Referer checking failed - https://evil.com/x does not match any trusted origins."
                    .into()
            )
        );
        assert_eq!(check(&with(Some("https://EXAMPLE.com/api/"))), Ok(()));
        // plain HTTP never looks at the Referer
        assert_eq!(
            check(&CsrfRequest {
                secure: false,
                ..with(None)
            }),
            Ok(())
        );
    }

    #[test]
    fn random_secret_is_in_the_alphabet() {
        let s = secret_from_random(&[255; 32]);
        assert!(secret_of(std::str::from_utf8(&s).unwrap()).is_some());
    }
}

//! Where a login may send the browser next: Django's `url_has_allowed_host_and_scheme(next,
//! allowed_hosts={request.get_host()}, require_https=request.is_secure())`, so that `next`
//! cannot send a user who just logged in to another site.

use super::csrf::url_scheme_netloc;

/// Whether `next` is a safe redirect target for a request to `host`.
pub fn is_safe_next(next: &str, host: &str, secure: bool) -> bool {
    let url = next.trim();
    if url.is_empty() {
        return false;
    }
    // Browsers read `\` as `/`: both spellings must be safe.
    allowed(url, host, secure) && allowed(&url.replace('\\', "/"), host, secure)
}

fn allowed(url: &str, host: &str, secure: bool) -> bool {
    if url.starts_with("///") {
        return false;
    }
    let (scheme, netloc) = url_scheme_netloc(url);
    if netloc.is_empty() && !scheme.is_empty() {
        // `http:///example.com` is read by browsers as a host
        return false;
    }
    if url.chars().next().is_some_and(char::is_control) {
        return false;
    }
    let host_ok = netloc.is_empty() || netloc.eq_ignore_ascii_case(host);
    let scheme_ok = scheme.is_empty() || scheme == "https" || (!secure && scheme == "http");
    host_ok && scheme_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_only() {
        for ok in [
            "/api/",
            "/api/musics/?x=1",
            "http://h.test/x",
            "https://h.test/",
            "x/y",
        ] {
            assert!(is_safe_next(ok, "h.test", false), "{ok}");
        }
        for bad in [
            "",
            "  ",
            "//evil.test/",
            "///evil.test",
            "\\\\evil.test",
            "/\\evil.test",
            "http://evil.test/",
            "https://evil.test/",
            "javascript:alert(1)",
            "http:///evil.test",
            "\u{1}/x",
        ] {
            assert!(!is_safe_next(bad, "h.test", false), "{bad:?}");
        }
        assert!(!is_safe_next("http://h.test/", "h.test", true));
        assert!(is_safe_next("https://h.test/", "h.test", true));
    }
}

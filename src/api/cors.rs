//! CORS as django-cors-headers (3.x) answered in the original deployment.
//!
//! - A preflight (`OPTIONS` with an `Access-Control-Request-Method` header)
//!   is answered `200` with an empty body before routing and
//!   authentication, on any path under the location.
//! - Every answer gets `Origin` added to `Vary` while CORS is on.
//! - With an `Origin` header that is allowed, `Access-Control-Allow-Origin`
//!   is `*` (any origin) or the origin itself (a list); an `OPTIONS` answer
//!   (preflight or not) also gets `Access-Control-Allow-Headers`,
//!   `-Allow-Methods` and `-Max-Age`. An origin not in the list gets no
//!   CORS header at all.
//! - Origins in a list are compared by scheme (case-insensitive) and host
//!   with port (exact), as django-cors-headers compares `urlsplit()`
//!   results; `null` matches only a listed `null`.

/// Which origins may read answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    /// `scheme://host[:port]` entries.
    List(Vec<String>),
}

impl AllowedOrigins {
    /// A configured list; a `*` entry means any origin.
    pub fn from_list(entries: Vec<String>) -> AllowedOrigins {
        if entries.iter().any(|e| e == "*") {
            AllowedOrigins::Any
        } else {
            AllowedOrigins::List(entries)
        }
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(entries) => {
                let wanted = split_origin(origin);
                entries.iter().any(|entry| {
                    (origin == "null" && entry == "null") || split_origin(entry) == wanted
                })
            }
        }
    }
}

/// The CORS settings of a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    pub enabled: bool,
    pub allow_origins: AllowedOrigins,
    /// `Access-Control-Allow-Methods` as sent.
    pub allow_methods: String,
    /// `Access-Control-Allow-Headers` as sent.
    pub allow_headers: String,
    /// `Access-Control-Max-Age` in seconds; 0 sends none.
    pub max_age: u32,
}

/// The original's `CORS_ALLOW_METHODS` (DELETE was commented out there, so
/// browsers refuse a cross-origin DELETE with this default).
pub const DEFAULT_ALLOW_METHODS: &str = "GET, OPTIONS, PATCH, POST, PUT";

/// The original's `CORS_ALLOW_HEADERS`.
pub const DEFAULT_ALLOW_HEADERS: &str = "accept, accept-encoding, authorization, content-type, dnt, origin, user-agent, x-csrftoken, x-requested-with, Cache-Control";

/// django-cors-headers' `CORS_PREFLIGHT_MAX_AGE` default.
pub const DEFAULT_MAX_AGE: u32 = 86400;

impl Default for CorsPolicy {
    /// The original: on, any origin, its methods and headers, one day.
    fn default() -> CorsPolicy {
        CorsPolicy {
            enabled: true,
            allow_origins: AllowedOrigins::Any,
            allow_methods: DEFAULT_ALLOW_METHODS.to_owned(),
            allow_headers: DEFAULT_ALLOW_HEADERS.to_owned(),
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

/// The CORS headers of one answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsHeaders {
    /// Add `Origin` to `Vary` (see [`vary_header`]).
    pub vary_origin: bool,
    /// `(name, value)` pairs to add, in this order.
    pub headers: Vec<(&'static str, String)>,
}

impl CorsPolicy {
    /// Whether the request is a preflight to answer `200`, empty body, with
    /// [`CorsPolicy::headers`], before anything else.
    pub fn is_preflight(&self, method: &str, has_access_control_request_method: bool) -> bool {
        self.enabled && method == "OPTIONS" && has_access_control_request_method
    }

    /// The headers for an answer to `method` from `origin` (the `Origin`
    /// header, if any).
    pub fn headers(&self, method: &str, origin: Option<&[u8]>) -> CorsHeaders {
        if !self.enabled {
            return CorsHeaders::default();
        }
        let mut out = CorsHeaders {
            vary_origin: true,
            headers: Vec::new(),
        };
        let origin = match origin {
            Some(bytes) if !bytes.is_empty() => String::from_utf8_lossy(bytes),
            _ => return out,
        };
        if !self.allow_origins.allows(&origin) {
            return out;
        }
        let allow_origin = match self.allow_origins {
            AllowedOrigins::Any => "*".to_owned(),
            AllowedOrigins::List(_) => origin.into_owned(),
        };
        out.headers
            .push(("Access-Control-Allow-Origin", allow_origin));
        if method == "OPTIONS" {
            out.headers
                .push(("Access-Control-Allow-Headers", self.allow_headers.clone()));
            out.headers
                .push(("Access-Control-Allow-Methods", self.allow_methods.clone()));
            if self.max_age > 0 {
                out.headers
                    .push(("Access-Control-Max-Age", self.max_age.to_string()));
            }
        }
        out
    }
}

/// The `Vary` header: `Accept` on answers of the API's views (DRF's content
/// negotiation), `Origin` when CORS adds it. `None`: no `Vary` at all.
pub fn vary_header(api_view: bool, cors: &CorsHeaders) -> Option<&'static str> {
    match (api_view, cors.vary_origin) {
        (true, true) => Some("Accept, Origin"),
        (true, false) => Some("Accept"),
        (false, true) => Some("Origin"),
        (false, false) => None,
    }
}

/// `(scheme lowercased, netloc)` as Python's `urlsplit` gives them.
fn split_origin(origin: &str) -> (String, &str) {
    let (scheme, rest) = match origin.split_once(':') {
        Some((scheme, rest)) if valid_scheme(scheme) => (scheme.to_ascii_lowercase(), rest),
        _ => (String::new(), origin),
    };
    let netloc = match rest.strip_prefix("//") {
        Some(after) => &after[..after.find(['/', '?', '#']).unwrap_or(after.len())],
        None => "",
    };
    (scheme, netloc)
}

fn valid_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> CorsPolicy {
        CorsPolicy {
            allow_origins: AllowedOrigins::from_list(
                entries.iter().map(|s| s.to_string()).collect(),
            ),
            ..CorsPolicy::default()
        }
    }

    fn names(h: &CorsHeaders) -> Vec<(&str, &str)> {
        h.headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }

    #[test]
    fn default_is_the_original() {
        let p = CorsPolicy::default();
        assert!(p.enabled);
        assert_eq!(p.allow_origins, AllowedOrigins::Any);
        assert_eq!(p.allow_methods, "GET, OPTIONS, PATCH, POST, PUT");
        assert_eq!(
            p.allow_headers,
            "accept, accept-encoding, authorization, content-type, dnt, origin, user-agent, x-csrftoken, x-requested-with, Cache-Control"
        );
        assert_eq!(p.max_age, 86400);
    }

    #[test]
    fn simple_request_with_origin() {
        let h = CorsPolicy::default().headers("GET", Some(b"http://example.com"));
        assert!(h.vary_origin);
        assert_eq!(names(&h), vec![("Access-Control-Allow-Origin", "*")]);
        assert_eq!(vary_header(true, &h), Some("Accept, Origin"));
    }

    #[test]
    fn no_origin_still_varies_on_origin() {
        let h = CorsPolicy::default().headers("GET", None);
        assert!(h.vary_origin);
        assert!(h.headers.is_empty());
        assert_eq!(CorsPolicy::default().headers("GET", Some(b"")), h);
    }

    #[test]
    fn preflight_as_recorded() {
        let p = CorsPolicy::default();
        assert!(p.is_preflight("OPTIONS", true));
        assert!(!p.is_preflight("OPTIONS", false));
        assert!(!p.is_preflight("GET", true));
        let h = p.headers("OPTIONS", Some(b"http://example.com"));
        assert_eq!(
            names(&h),
            vec![
                ("Access-Control-Allow-Origin", "*"),
                (
                    "Access-Control-Allow-Headers",
                    "accept, accept-encoding, authorization, content-type, dnt, origin, user-agent, x-csrftoken, x-requested-with, Cache-Control"
                ),
                (
                    "Access-Control-Allow-Methods",
                    "GET, OPTIONS, PATCH, POST, PUT"
                ),
                ("Access-Control-Max-Age", "86400"),
            ]
        );
        assert_eq!(vary_header(false, &h), Some("Origin"));
    }

    #[test]
    fn max_age_zero_is_omitted() {
        let p = CorsPolicy {
            max_age: 0,
            ..CorsPolicy::default()
        };
        let h = p.headers("OPTIONS", Some(b"http://a"));
        assert!(h
            .headers
            .iter()
            .all(|(n, _)| *n != "Access-Control-Max-Age"));
    }

    #[test]
    fn disabled_adds_nothing() {
        let p = CorsPolicy {
            enabled: false,
            ..CorsPolicy::default()
        };
        assert!(!p.is_preflight("OPTIONS", true));
        let h = p.headers("OPTIONS", Some(b"http://example.com"));
        assert_eq!(h, CorsHeaders::default());
        assert_eq!(vary_header(true, &h), Some("Accept"));
        assert_eq!(vary_header(false, &h), None);
    }

    #[test]
    fn listed_origins_are_echoed() {
        let p = list(&["https://app.example.com", "http://localhost:3000"]);
        let h = p.headers("GET", Some(b"https://app.example.com"));
        assert_eq!(
            names(&h),
            vec![("Access-Control-Allow-Origin", "https://app.example.com")]
        );
        assert!(h.vary_origin);
        // Scheme case does not matter, a path is ignored.
        let h = p.headers("GET", Some(b"HTTPS://app.example.com/x"));
        assert_eq!(
            names(&h),
            vec![("Access-Control-Allow-Origin", "HTTPS://app.example.com/x")]
        );
        let h = p.headers("PUT", Some(b"http://localhost:3000"));
        assert_eq!(
            names(&h),
            vec![("Access-Control-Allow-Origin", "http://localhost:3000")]
        );
    }

    #[test]
    fn unlisted_origins_get_no_cors_headers() {
        let p = list(&["https://app.example.com"]);
        for origin in [
            "http://app.example.com",
            "https://app.example.com:443",
            "https://APP.example.com",
            "https://evil.com",
            "null",
            "app.example.com",
        ] {
            let h = p.headers("OPTIONS", Some(origin.as_bytes()));
            assert!(h.headers.is_empty(), "{origin}");
            assert!(h.vary_origin, "{origin}");
        }
    }

    #[test]
    fn null_origin_only_when_listed() {
        let p = list(&["null"]);
        let h = p.headers("GET", Some(b"null"));
        assert_eq!(names(&h), vec![("Access-Control-Allow-Origin", "null")]);
    }

    #[test]
    fn star_in_a_list_means_any() {
        assert_eq!(
            AllowedOrigins::from_list(vec!["http://a".into(), "*".into()]),
            AllowedOrigins::Any
        );
    }
}

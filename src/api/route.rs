//! Which resource a URL names, and which action a method asks of it: DRF's
//! `DefaultRouter` URLs with format suffixes, `?format=`, Django's
//! trailing-slash rule, and the methods each route allows.
//!
//! The patterns, below the location prefix (`[^/.]+` is DRF's lookup
//! regex, `[a-z0-9]+` its suffix):
//!
//! | path | resource |
//! |---|---|
//! | `` or `.<fmt>[/]` | API root |
//! | `musics/` or `musics.<fmt>[/]` | list |
//! | `musics/all_singer/` or `musics/all_singer.<fmt>[/]` | distinct singers |
//! | `musics/<pk>/` or `musics/<pk>.<fmt>[/]` | item |
//! | `musics/<pk>/detail/` or `musics/<pk>/detail.<fmt>[/]` | item's detail action |
//!
//! The answer is JSON whatever the format asked for, so `json` and `api`
//! (the browsable API's name) are accepted and any other format is a 404.

use std::borrow::Cow;

use super::error::ApiError;
use super::json_string::write_json_string;

/// The primary key part of an item URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pk {
    /// A positive integer that fits a bigint (leading zeros allowed, as
    /// Python's `int()` allows them).
    Id(i64),
    /// Matched DRF's lookup pattern but names no row (`abc`, `0`, `-1`,
    /// `1e3`, too large…): 404, but only after authentication, as DRF
    /// authenticates before looking the object up.
    Invalid,
}

impl Pk {
    fn parse(text: &str) -> Pk {
        let valid = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        match text.parse::<i64>() {
            Ok(id) if valid && id > 0 => Pk::Id(id),
            _ => Pk::Invalid,
        }
    }
}

/// What a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Root,
    List,
    Item(Pk),
    ItemDetail(Pk),
    AllSingers,
}

/// The result of routing a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOutcome {
    Found(Resource),
    /// A format suffix or `?format=` other than JSON: DRF answers
    /// `404 {"detail":"Not found."}` with that route's `Allow`, before
    /// authentication.
    UnknownFormat(Resource),
    /// The path is a route once a `/` is appended. GET and HEAD: 301 to the
    /// same URL with the slash (query string kept); other methods:
    /// [`slash_required_error`].
    RedirectAddSlash,
    /// No route: `404 {"detail":"Not found."}`, no `Allow`.
    NotFound,
}

/// The formats whose answer is this module's JSON.
const JSON_FORMATS: [&str; 2] = ["json", "api"];

/// Routes `rest`, the percent-decoded path below the location prefix
/// (`musics/1/` for `/api/musics/1/`), with `query`, the raw query string
/// without `?`.
pub fn route(rest: &str, query: &str) -> RouteOutcome {
    match match_path(rest) {
        Some((resource, suffix)) => {
            let query_format;
            let format = match suffix {
                Some(suffix) => Some(suffix),
                None => {
                    query_format = format_param(query);
                    query_format.as_deref().filter(|f| !f.is_empty())
                }
            };
            match format {
                Some(f) if !JSON_FORMATS.contains(&f) => RouteOutcome::UnknownFormat(resource),
                _ => RouteOutcome::Found(resource),
            }
        }
        None if !rest.ends_with('/') && match_path(&format!("{rest}/")).is_some() => {
            RouteOutcome::RedirectAddSlash
        }
        None => RouteOutcome::NotFound,
    }
}

/// Whether a URL without its trailing slash is redirected (GET, HEAD) or
/// refused with [`slash_required_error`] (a redirect would lose the body).
pub fn redirects_without_slash(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// `404 {"detail":"Not found. This URL needs a trailing slash: \"/api/musics/\"."}`.
pub fn slash_required_error(location_prefix: &str, rest: &str) -> ApiError {
    ApiError::slash_required(&format!("{location_prefix}{rest}/"))
}

/// The `Allow` header of a route.
pub fn allow(resource: &Resource) -> &'static str {
    match resource {
        Resource::Root | Resource::ItemDetail(_) | Resource::AllSingers => "GET, HEAD, OPTIONS",
        Resource::List => "GET, POST, HEAD, OPTIONS",
        Resource::Item(_) => "GET, PUT, PATCH, DELETE, HEAD, OPTIONS",
    }
}

/// Everything below the root needs an authenticated user, OPTIONS included.
pub fn needs_auth(resource: &Resource) -> bool {
    *resource != Resource::Root
}

/// What a request asks. HEAD maps like GET (the caller sends no body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Root,
    ListAll,
    Create,
    Retrieve(i64),
    Replace(i64),
    PartialUpdate(i64),
    Delete(i64),
    Detail(i64),
    AllSingers,
    /// An allowed method on an id that names no row (`abc`, `0`…): answer
    /// `404 {"detail":"Not found."}`, after authentication.
    InvalidId,
    /// DRF's metadata answer (see `options`); for an item, whether it
    /// exists decides if `actions` is included.
    Options(Resource),
}

/// The action for `method` on `resource`, or 405 for a method the route
/// does not allow (give it `Allow`). An allowed method on an invalid id is
/// [`Action::InvalidId`]; OPTIONS on such an id is answered, without
/// `actions`. DRF authenticates before it looks at the method: a 405 (like
/// a 404) is due only once the user is known to be valid.
pub fn action(resource: &Resource, method: &str) -> Result<Action, ApiError> {
    // a copy only for a method sent in lower case
    let method_upper: Cow<str> = if method.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(method.to_ascii_uppercase())
    } else {
        Cow::Borrowed(method)
    };
    if method_upper == "OPTIONS" {
        return Ok(Action::Options(*resource));
    }
    let on = |pk: Pk, action: fn(i64) -> Action| match pk {
        Pk::Id(id) => action(id),
        Pk::Invalid => Action::InvalidId,
    };
    let get = matches!(&*method_upper, "GET" | "HEAD");
    let action = match *resource {
        Resource::Root if get => Action::Root,
        Resource::List if get => Action::ListAll,
        Resource::List if method_upper == "POST" => Action::Create,
        Resource::AllSingers if get => Action::AllSingers,
        Resource::ItemDetail(pk) if get => on(pk, Action::Detail),
        Resource::Item(pk) if get => on(pk, Action::Retrieve),
        Resource::Item(pk) if method_upper == "PUT" => on(pk, Action::Replace),
        Resource::Item(pk) if method_upper == "PATCH" => on(pk, Action::PartialUpdate),
        Resource::Item(pk) if method_upper == "DELETE" => on(pk, Action::Delete),
        _ => return Err(ApiError::method_not_allowed(&method_upper)),
    };
    Ok(action)
}

/// The path of the list that the root links to, as DRF's `reverse()`
/// builds it: with the root's format suffix if it had one, and with the
/// request's `format` query parameter carried over.
pub fn musics_link(location_prefix: &str, rest: &str, query: &str) -> String {
    let mut link = String::with_capacity(location_prefix.len() + 16);
    link.push_str(location_prefix);
    match match_path(rest) {
        Some((Resource::Root, Some(suffix))) => {
            link.push_str("musics.");
            link.push_str(suffix);
        }
        _ => link.push_str("musics/"),
    }
    if let Some(format) = format_param(query) {
        link.push_str("?format=");
        link.push_str(&quote_plus(&format));
    }
    link
}

/// The `format` query parameter as Django's `request.GET` gives it (last
/// value, decoded).
fn format_param(query: &str) -> Option<String> {
    if !query.contains("format") && !query.contains('%') {
        return None;
    }
    let pairs = super::urlencoded::parse_pairs(query.as_bytes(), super::charset::Charset::Utf8);
    super::urlencoded::last_value(&pairs, "format").map(str::to_owned)
}

/// Python's `quote_plus` (what `urlencode` uses).
fn quote_plus(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The resource and format suffix a path names, if it is a route.
fn match_path(path: &str) -> Option<(Resource, Option<&str>)> {
    if path.is_empty() {
        return Some((Resource::Root, None));
    }
    if let Some(suffix) = format_suffix(path) {
        return Some((Resource::Root, Some(suffix)));
    }
    let after_musics = path.strip_prefix("musics")?;
    if after_musics == "/" {
        return Some((Resource::List, None));
    }
    if let Some(suffix) = format_suffix(after_musics) {
        return Some((Resource::List, Some(suffix)));
    }
    let below = after_musics.strip_prefix('/')?;
    if below == "all_singer/" {
        return Some((Resource::AllSingers, None));
    }
    if let Some(suffix) = below.strip_prefix("all_singer").and_then(format_suffix) {
        return Some((Resource::AllSingers, Some(suffix)));
    }
    let pk_end = below.find(['/', '.']).unwrap_or(below.len());
    if pk_end == 0 {
        return None;
    }
    let (pk, tail) = below.split_at(pk_end);
    let pk = Pk::parse(pk);
    if tail == "/" {
        return Some((Resource::Item(pk), None));
    }
    if let Some(suffix) = format_suffix(tail) {
        return Some((Resource::Item(pk), Some(suffix)));
    }
    let detail = tail.strip_prefix("/detail")?;
    if detail == "/" {
        return Some((Resource::ItemDetail(pk), None));
    }
    format_suffix(detail).map(|suffix| (Resource::ItemDetail(pk), Some(suffix)))
}

/// `\.(?P<format>[a-z0-9]+)/?` covering all of `s`.
fn format_suffix(s: &str) -> Option<&str> {
    let format = s.strip_prefix('.')?;
    let format = format.strip_suffix('/').unwrap_or(format);
    let valid = !format.is_empty()
        && format
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    valid.then_some(format)
}

/// The API root: `{"musics":"http://<host>/api/musics/"}`.
///
/// `scheme` and `host` are the request's (`Host` header); `location_prefix`
/// is the configured location ending in `/`. `rest` and `query` are the
/// ones given to [`route`]: like DRF's `reverse()`, a format suffix
/// on the root (`/api/.json`) gives `musics.json`, and a `format` query
/// parameter is carried over (`?format=json`).
pub fn root_body(
    scheme: &str,
    host: &str,
    location_prefix: &str,
    rest: &str,
    query: &str,
) -> String {
    let link = musics_link(location_prefix, rest, query);
    // push_str, not format!: this answers every GET /api/, where the formatting machinery
    // cost more than the rest of the handler (callgrind, bench/instructions.sh).
    let mut url = String::with_capacity(scheme.len() + 3 + host.len() + link.len());
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(host);
    url.push_str(&link);
    let mut out = Vec::with_capacity(url.len() + 16);
    out.extend_from_slice(b"{\"musics\":");
    write_json_string(&mut out, &url);
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

/// The root's body up to the request's host: `{"musics":"http://` (or `https://`).
pub fn root_body_head(https: bool) -> &'static str {
    match https {
        true => "{\"musics\":\"https://",
        false => "{\"musics\":\"http://",
    }
}

/// The root's body after the request's host, for the root itself (no format suffix, no
/// query): the list's path, escaped, the string's closing quote and `}`. Fixed per location,
/// so it is made once, with the location's settings. With a `host` that
/// [`root_host_is_plain`], `root_body_head(https) + host + root_body_tail(prefix)` is
/// [`root_body`] byte for byte.
pub fn root_body_tail(location_prefix: &str) -> String {
    let mut out = Vec::with_capacity(location_prefix.len() + 16);
    write_json_string(&mut out, &musics_link(location_prefix, "", ""));
    out.remove(0);
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

/// Whether a request's Host goes into the root's body as it is: ASCII with nothing to escape
/// (what lossy decoding and escaping leave unchanged).
pub fn root_host_is_plain(host: &[u8]) -> bool {
    super::json_string::is_plain_ascii(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use RouteOutcome::*;

    #[test]
    fn root_body_in_parts_is_root_body() {
        for prefix in [
            "/api/",
            "/v1/music/",
            "/a\"b\\c/",
            "/caf\u{e9}/",
            "/x\u{2028}/",
            "/t\tab/",
        ] {
            for host in ["127.0.0.1:8080", "example.com", "", "[::1]:80"] {
                for https in [false, true] {
                    let scheme = if https { "https" } else { "http" };
                    assert!(root_host_is_plain(host.as_bytes()));
                    let parts = format!(
                        "{}{}{}",
                        root_body_head(https),
                        host,
                        root_body_tail(prefix)
                    );
                    assert_eq!(
                        parts,
                        root_body(scheme, host, prefix, "", ""),
                        "{prefix} {host}"
                    );
                }
            }
        }
    }

    #[test]
    fn hosts_that_would_change_in_the_body_are_not_plain() {
        for host in ["a\"b", "a\\b", "caf\u{e9}", "tab\there", "x\u{2028}"] {
            assert!(!root_host_is_plain(host.as_bytes()), "{host:?}");
        }
        assert!(!root_host_is_plain(b"\xff\xfe"));
    }

    fn found(resource: Resource) -> RouteOutcome {
        Found(resource)
    }

    fn item(id: i64) -> Resource {
        Resource::Item(Pk::Id(id))
    }

    #[test]
    fn default_router_urls() {
        assert_eq!(route("", ""), found(Resource::Root));
        assert_eq!(route("musics/", ""), found(Resource::List));
        assert_eq!(route("musics/1/", ""), found(item(1)));
        assert_eq!(
            route("musics/42/detail/", ""),
            found(Resource::ItemDetail(Pk::Id(42)))
        );
        assert_eq!(route("musics/all_singer/", ""), found(Resource::AllSingers));
    }

    #[test]
    fn format_suffixes() {
        assert_eq!(route(".json", ""), found(Resource::Root));
        assert_eq!(route(".json/", ""), found(Resource::Root));
        assert_eq!(route("musics.json", ""), found(Resource::List));
        assert_eq!(route("musics.json/", ""), found(Resource::List));
        assert_eq!(route("musics/1.json", ""), found(item(1)));
        assert_eq!(route("musics/1.json/", ""), found(item(1)));
        assert_eq!(
            route("musics/1/detail.json", ""),
            found(Resource::ItemDetail(Pk::Id(1)))
        );
        assert_eq!(
            route("musics/1/detail.json/", ""),
            found(Resource::ItemDetail(Pk::Id(1)))
        );
        assert_eq!(
            route("musics/all_singer.json", ""),
            found(Resource::AllSingers)
        );
        assert_eq!(route("musics.api", ""), found(Resource::List));
    }

    #[test]
    fn unknown_formats_are_404_with_the_route_known() {
        assert_eq!(route("musics.xml", ""), UnknownFormat(Resource::List));
        assert_eq!(route(".xml", ""), UnknownFormat(Resource::Root));
        assert_eq!(route("musics/1.yaml/", ""), UnknownFormat(item(1)));
        assert_eq!(
            route("musics/a.b/", ""),
            UnknownFormat(Resource::Item(Pk::Invalid))
        );
        assert_eq!(
            route("musics/all_singer.csv", ""),
            UnknownFormat(Resource::AllSingers)
        );
        assert_eq!(
            route("musics/1/detail.html", ""),
            UnknownFormat(Resource::ItemDetail(Pk::Id(1)))
        );
        // Not a suffix at all (uppercase, empty, dots): no route.
        assert_eq!(route("musics.JSON", ""), NotFound);
        assert_eq!(route("musics./", ""), NotFound);
        assert_eq!(route("musics/1.json.json", ""), NotFound);
        assert_eq!(route("musics/1/.json", ""), NotFound);
        assert_eq!(route("musics/.json", ""), NotFound);
    }

    #[test]
    fn format_query_parameter() {
        assert_eq!(route("musics/1/", "format=json"), found(item(1)));
        assert_eq!(route("musics/1/", "format=api"), found(item(1)));
        assert_eq!(route("musics/1/", "format="), found(item(1)));
        assert_eq!(route("musics/1/", "format=xml"), UnknownFormat(item(1)));
        assert_eq!(route("musics/1/", "format=xml&format=json"), found(item(1)));
        assert_eq!(
            route("musics/1/", "format=json&format=xml"),
            UnknownFormat(item(1))
        );
        assert_eq!(route("musics/1/", "%66ormat=xml"), UnknownFormat(item(1)));
        assert_eq!(route("musics/1/", "formats=xml&x=1"), found(item(1)));
        assert_eq!(route("", "format=xml"), UnknownFormat(Resource::Root));
        // The suffix wins over the query parameter.
        assert_eq!(route("musics/1.json", "format=xml"), found(item(1)));
        assert_eq!(route("musics/1.xml", "format=json"), UnknownFormat(item(1)));
    }

    #[test]
    fn ids() {
        assert_eq!(route("musics/007/", ""), found(item(7)));
        assert_eq!(
            route("musics/9223372036854775807/", ""),
            found(item(i64::MAX))
        );
        for bad in [
            "abc",
            "0",
            "00",
            "-1",
            "+1",
            "1e3",
            " 1",
            "1_0",
            "9223372036854775808",
            "99999999999999999999999",
            "١",
            "detail",
        ] {
            assert_eq!(
                route(&format!("musics/{bad}/"), ""),
                found(Resource::Item(Pk::Invalid)),
                "{bad}"
            );
            assert_eq!(
                route(&format!("musics/{bad}/detail/"), ""),
                found(Resource::ItemDetail(Pk::Invalid)),
                "{bad}"
            );
        }
        assert_eq!(
            route("musics/all_singer/detail/", ""),
            found(Resource::ItemDetail(Pk::Invalid))
        );
    }

    #[test]
    fn missing_trailing_slash() {
        for path in [
            "musics",
            "musics/1",
            "musics/abc",
            "musics/1/detail",
            "musics/all_singer",
        ] {
            assert_eq!(route(path, ""), RedirectAddSlash, "{path}");
            assert_eq!(route(path, "format=xml"), RedirectAddSlash, "{path}");
        }
        assert!(redirects_without_slash("GET"));
        assert!(redirects_without_slash("HEAD"));
        assert!(!redirects_without_slash("POST"));
        assert!(!redirects_without_slash("DELETE"));
        let err = slash_required_error("/api/", "musics");
        assert_eq!(err.status, 404);
        assert_eq!(
            err.body,
            r#"{"detail":"Not found. This URL needs a trailing slash: \"/api/musics/\"."}"#
        );
        assert_eq!(
            slash_required_error("/api/", "musics/1").body,
            r#"{"detail":"Not found. This URL needs a trailing slash: \"/api/musics/1/\"."}"#
        );
    }

    #[test]
    fn unknown_paths() {
        for path in [
            "foo",
            "foo/",
            "/",
            "musics//",
            "musics/1//",
            "musics/1/x/",
            "musics/1/x",
            "musics/1/detail/x/",
            "musics/1/detail/x",
            "musics/1/details/",
            "musicsx/",
            "Musics/",
            "api/musics/",
            "musics/1/detail//",
        ] {
            assert_eq!(route(path, ""), NotFound, "{path}");
        }
    }

    #[test]
    fn allow_headers() {
        assert_eq!(allow(&Resource::Root), "GET, HEAD, OPTIONS");
        assert_eq!(allow(&Resource::List), "GET, POST, HEAD, OPTIONS");
        assert_eq!(allow(&item(1)), "GET, PUT, PATCH, DELETE, HEAD, OPTIONS");
        assert_eq!(
            allow(&Resource::Item(Pk::Invalid)),
            "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
        );
        assert_eq!(
            allow(&Resource::ItemDetail(Pk::Id(1))),
            "GET, HEAD, OPTIONS"
        );
        assert_eq!(allow(&Resource::AllSingers), "GET, HEAD, OPTIONS");
    }

    #[test]
    fn auth_is_needed_below_the_root() {
        assert!(!needs_auth(&Resource::Root));
        assert!(needs_auth(&Resource::List));
        assert!(needs_auth(&item(1)));
        assert!(needs_auth(&Resource::Item(Pk::Invalid)));
        assert!(needs_auth(&Resource::ItemDetail(Pk::Id(1))));
        assert!(needs_auth(&Resource::AllSingers));
    }

    #[test]
    fn actions() {
        assert_eq!(action(&Resource::Root, "GET"), Ok(Action::Root));
        assert_eq!(action(&Resource::Root, "HEAD"), Ok(Action::Root));
        assert_eq!(action(&Resource::List, "GET"), Ok(Action::ListAll));
        assert_eq!(action(&Resource::List, "HEAD"), Ok(Action::ListAll));
        assert_eq!(action(&Resource::List, "POST"), Ok(Action::Create));
        assert_eq!(action(&item(3), "GET"), Ok(Action::Retrieve(3)));
        assert_eq!(action(&item(3), "HEAD"), Ok(Action::Retrieve(3)));
        assert_eq!(action(&item(3), "PUT"), Ok(Action::Replace(3)));
        assert_eq!(action(&item(3), "PATCH"), Ok(Action::PartialUpdate(3)));
        assert_eq!(action(&item(3), "DELETE"), Ok(Action::Delete(3)));
        assert_eq!(
            action(&Resource::ItemDetail(Pk::Id(3)), "GET"),
            Ok(Action::Detail(3))
        );
        assert_eq!(
            action(&Resource::AllSingers, "HEAD"),
            Ok(Action::AllSingers)
        );
        for resource in [
            Resource::Root,
            Resource::List,
            item(3),
            Resource::Item(Pk::Invalid),
        ] {
            assert_eq!(action(&resource, "OPTIONS"), Ok(Action::Options(resource)));
        }
    }

    #[test]
    fn methods_not_allowed() {
        let cases = [
            (Resource::Root, "POST"),
            (Resource::List, "PUT"),
            (Resource::List, "DELETE"),
            (Resource::List, "PATCH"),
            (Resource::AllSingers, "DELETE"),
            (Resource::ItemDetail(Pk::Id(1)), "POST"),
            (item(1), "POST"),
            (item(1), "TRACE"),
            (Resource::Item(Pk::Invalid), "POST"),
            (Resource::List, "FOO"),
        ];
        for (resource, method) in cases {
            let err = action(&resource, method).unwrap_err();
            assert_eq!(err.status, 405, "{method}");
            assert_eq!(
                err.body,
                format!(r#"{{"detail":"Method \"{method}\" not allowed."}}"#)
            );
        }
        assert_eq!(
            action(&Resource::List, "foo").unwrap_err().body,
            r#"{"detail":"Method \"FOO\" not allowed."}"#
        );
    }

    #[test]
    fn invalid_ids_are_404_for_allowed_methods() {
        for method in ["GET", "HEAD", "PUT", "PATCH", "DELETE"] {
            assert_eq!(
                action(&Resource::Item(Pk::Invalid), method),
                Ok(Action::InvalidId),
                "{method}"
            );
        }
        assert_eq!(
            action(&Resource::ItemDetail(Pk::Invalid), "GET"),
            Ok(Action::InvalidId)
        );
    }

    #[test]
    fn root_link() {
        assert_eq!(musics_link("/api/", "", ""), "/api/musics/");
        assert_eq!(musics_link("/api/", ".json", ""), "/api/musics.json");
        assert_eq!(musics_link("/api/", ".api/", ""), "/api/musics.api");
        assert_eq!(
            musics_link("/api/", "", "format=json"),
            "/api/musics/?format=json"
        );
        assert_eq!(
            musics_link("/api/", "", "a=1&format=api"),
            "/api/musics/?format=api"
        );
        assert_eq!(musics_link("/api/", "", "format="), "/api/musics/?format=");
        assert_eq!(
            musics_link("/api/", "", "format=a+b%2F"),
            "/api/musics/?format=a+b%2F"
        );
        assert_eq!(musics_link("/", "", ""), "/musics/");
    }

    #[test]
    fn root_body_links_to_the_list() {
        assert_eq!(
            root_body("http", "127.0.0.1:8080", "/api/", "", ""),
            r#"{"musics":"http://127.0.0.1:8080/api/musics/"}"#
        );
        assert_eq!(
            root_body("https", "example.com", "/v1/music/", "", ""),
            r#"{"musics":"https://example.com/v1/music/musics/"}"#
        );
    }

    #[test]
    fn root_body_keeps_suffix_and_format_like_drf_reverse() {
        assert_eq!(
            root_body("http", "h", "/api/", ".json", ""),
            r#"{"musics":"http://h/api/musics.json"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", ".json/", ""),
            r#"{"musics":"http://h/api/musics.json"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", "", "format=json"),
            r#"{"musics":"http://h/api/musics/?format=json"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", ".json", "x=1&format=json"),
            r#"{"musics":"http://h/api/musics.json?format=json"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", "", "format=json&format=api"),
            r#"{"musics":"http://h/api/musics/?format=api"}"#
        );
        assert_eq!(
            root_body("http", "h", "/api/", "", "format="),
            r#"{"musics":"http://h/api/musics/?format="}"#
        );
    }

    #[test]
    fn root_body_escapes_the_host() {
        let body = root_body("http", "a\"b", "/api/", "", "");
        assert_eq!(body, r#"{"musics":"http://a\"b/api/musics/"}"#);
    }
}

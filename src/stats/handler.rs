//! The two request hooks: the log-phase handler that counts every request of a location with
//! `music_stats_count`, and the content handler of `music_stats` that serves the JSON. Plus
//! the route key a request counts under ([`route_key`], pure).

use std::borrow::Cow;
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::{ptr, slice};

use nginx_sys::{
    ngx_http_request_t, ngx_int_t, ngx_str_t, NGX_HTTP_GET, NGX_HTTP_HEAD,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_ALLOWED, NGX_OK,
};

use super::hll::hash_key;
use super::json;
use super::zone::{self, ZoneRef, NAME_MAX};
use crate::api::{self, Resource, RouteOutcome};
use crate::ffi::request::respond_now;
use crate::http::Response;

/// The key of requests finished before nginx chose a location (a 400, a 414...).
pub const NO_LOCATION: &str = "(server)";

fn api_pattern(resource: &Resource) -> &'static str {
    match resource {
        Resource::Root => "",
        Resource::List => "musics/",
        Resource::AllSingers => "musics/all_singer/",
        Resource::Item(_) => "musics/{id}/",
        Resource::ItemDetail(_) => "musics/{id}/detail/",
    }
}

/// The route key of a request the API routed to `resource` in its location with this prefix,
/// in two parts: what [`route_key`] gives it (before its cut to [`NAME_MAX`] bytes).
pub fn api_route_parts<'a>(prefix: &'a str, resource: &Resource) -> [&'a str; 2] {
    [prefix, api_pattern(resource)]
}

/// The route a request counts under: the name of the location that finished it (after
/// internal redirects such as `error_page`), as written in nginx.conf (`/static`,
/// `= /favicon.ico` counts as `/favicon.ico`, a regex location as its regex, `@named`); in a
/// `music_api` location, the API route in DRF's URL patterns with the location's prefix:
/// `/api/`, `/api/musics/`, `/api/musics/{id}/`, `/api/musics/{id}/detail/`,
/// `/api/musics/all_singer/` (a format suffix or a missing slash count under the route they
/// name), and `/api/{unknown}` for the rest. At most [`NAME_MAX`] bytes.
pub fn route_key<'a>(
    location: &'a str,
    api_prefix: Option<&str>,
    uri: &str,
    args: &str,
) -> Cow<'a, str> {
    let key = match api_prefix {
        _ if location.is_empty() => Cow::Borrowed(NO_LOCATION),
        Some(prefix) => match uri.strip_prefix(prefix) {
            Some(rest) => {
                let outcome = match api::route(rest, args) {
                    RouteOutcome::RedirectAddSlash => api::route(&format!("{rest}/"), args),
                    other => other,
                };
                let pattern = match outcome {
                    RouteOutcome::Found(r) | RouteOutcome::UnknownFormat(r) => api_pattern(&r),
                    _ => "{unknown}",
                };
                let mut key = String::with_capacity(prefix.len() + pattern.len());
                key.push_str(prefix);
                key.push_str(pattern);
                Cow::Owned(key)
            }
            None => Cow::Borrowed(location),
        },
        None => Cow::Borrowed(location),
    };
    if key.len() <= NAME_MAX {
        return key;
    }
    let mut end = NAME_MAX;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    match key {
        Cow::Borrowed(k) => Cow::Borrowed(&k[..end]),
        Cow::Owned(mut k) => {
            k.truncate(end);
            Cow::Owned(k)
        }
    }
}

pub(super) fn lossy(s: &ngx_str_t) -> Cow<'_, str> {
    String::from_utf8_lossy(s.as_bytes())
}

/// The stats module's ctx slot (its `ctx_index`, stored by its postconfiguration), which holds
/// a request's route key once known: null, or an `ngx_str_t` in the request's pool.
pub(super) static ROUTE_KEY_SLOT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// `None` before the stats module's postconfiguration ran.
///
/// # Safety
/// `r` is a valid request.
unsafe fn route_key_slot(r: *mut ngx_http_request_t) -> Option<*mut *mut c_void> {
    let index = ROUTE_KEY_SLOT.load(Ordering::Relaxed);
    // SAFETY: `r->ctx` has one slot per HTTP module, the stats module's at its ctx_index.
    (index != usize::MAX).then(|| unsafe { (*r).ctx.add(index) })
}

/// The route key kept by [`keep_route_key`], if any.
///
/// # Safety
/// `r` is a valid main request.
pub unsafe fn kept_route_key<'r>(r: *mut ngx_http_request_t) -> Option<&'r str> {
    // SAFETY: valid (caller); the slot is null or what `keep_route_key` stored.
    let kept = unsafe { (*route_key_slot(r)? as *const ngx_str_t).as_ref()? };
    // SAFETY: only UTF-8 is kept, in the pool the request lives with.
    Some(unsafe { std::str::from_utf8_unchecked(kept.as_bytes()) })
}

/// Keeps the concatenation of `parts` (cut to [`NAME_MAX`] bytes on a character boundary, as
/// [`route_key`] cuts) as the request's route key, for [`logged_route_key`](super::module::logged_route_key): the
/// content handler of a `music_api` location, which has routed the request already, gives it
/// here (an internal redirect to another location clears it again). `None` if the request's
/// pool had no memory left.
///
/// # Safety
/// `r` is a valid main request; the key lives as long as its pool.
pub unsafe fn keep_route_key<'r>(r: *mut ngx_http_request_t, parts: &[&str]) -> Option<&'r str> {
    let (key, len) = joined_key(parts);
    // SAFETY: valid (caller); the pool outlives every reader of the key.
    unsafe {
        let data = nginx_sys::ngx_pnalloc((*r).pool, len.max(1)) as *mut u8;
        if data.is_null() {
            return None;
        }
        ptr::copy_nonoverlapping(key.as_ptr(), data, len);
        store_route_key(r, ngx_str_t { len, data })?;
        // SAFETY: whole `str`s, the last one possibly cut on a character boundary.
        Some(std::str::from_utf8_unchecked(slice::from_raw_parts(
            data, len,
        )))
    }
}

/// Puts `key` in the request's route key slot (an `ngx_str_t` from its pool pointing at it).
///
/// # Safety
/// `r` is a valid main request; `key`'s bytes outlive its pool.
unsafe fn store_route_key(r: *mut ngx_http_request_t, key: ngx_str_t) -> Option<()> {
    // SAFETY: valid (caller); the slot holds null or such an `ngx_str_t`.
    unsafe {
        let slot = route_key_slot(r)?;
        let kept = nginx_sys::ngx_palloc((*r).pool, size_of::<ngx_str_t>()) as *mut ngx_str_t;
        if kept.is_null() {
            return None;
        }
        kept.write(key);
        *slot = kept as *mut c_void;
    }
    Some(())
}

/// Keeps `key` (cut as [`keep_route_key`] cuts) as the request's route key without copying
/// it: for a key that lives as long as the configuration, such as a location's prefix.
/// `None` if the request's pool had no memory left.
///
/// # Safety
/// `r` is a valid main request; `key` outlives its pool.
pub unsafe fn keep_lasting_route_key(r: *mut ngx_http_request_t, key: &str) -> Option<()> {
    let key = ngx_str_t {
        len: cut_len(key, NAME_MAX),
        data: key.as_ptr() as *mut u8,
    };
    // SAFETY: valid (caller); the key's bytes outlive every reader of the slot (caller).
    unsafe { store_route_key(r, key) }
}

/// How much of `s` is kept within `max` bytes: all of it, or up to a character boundary.
fn cut_len(s: &str, max: usize) -> usize {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// `parts` one after the other, cut to [`NAME_MAX`] bytes on a character boundary: the bytes
/// and their length.
fn joined_key(parts: &[&str]) -> ([u8; NAME_MAX], usize) {
    let mut key = [0u8; NAME_MAX];
    let mut len = 0;
    for part in parts {
        let n = cut_len(part, NAME_MAX - len);
        key[len..len + n].copy_from_slice(&part.as_bytes()[..n]);
        len += n;
        if n < part.len() {
            break;
        }
    }
    (key, len)
}

/// The log phase's part: counts the request in `zone` (its `music_stats_count`) under `key`,
/// its route key.
///
/// # Safety
/// `r` is a valid main request in its log phase.
pub(super) unsafe fn count(r: *mut ngx_http_request_t, zone: ZoneRef, key: &str) -> ngx_int_t {
    // SAFETY: `r` is valid (above).
    let (addr, len) = unsafe { zone::client_address(r) };
    let hash = hash_key(&addr[..len]);
    let (today, _) = zone::local_day();
    zone.with_counters(|c| c.count(today, key, hash));
    NGX_OK as ngx_int_t
}

/// `days=N` in the query string: at most N days on the page, N from 1 to the days the zone
/// keeps (`days_kept`); without it, every day kept. The error is the reason, for the client.
fn days_param(args: &str, days_kept: usize) -> Result<usize, String> {
    let mut days = None;
    for pair in args.split('&') {
        let value = match pair.strip_prefix("days") {
            Some("") => "",
            Some(rest) => match rest.strip_prefix('=') {
                Some(value) => value,
                None => continue,
            },
            None => continue,
        };
        if days.is_some() {
            return Err("days is given more than once".to_owned());
        }
        let n = crate::conf::values::parse_count(value, 1, days_kept).ok_or_else(|| {
            format!("days must be an integer from 1 to {days_kept}, the days this zone keeps")
        })?;
        days = Some(n);
    }
    Ok(days.unwrap_or(days_kept))
}

/// The content of `music_stats`: the zone's counters as JSON (GET and HEAD).
///
/// # Safety
/// `r` is a valid request in its content phase.
pub(super) unsafe fn serve(r: *mut ngx_http_request_t, zone: ZoneRef) -> ngx_int_t {
    // SAFETY: valid (caller).
    let req = unsafe { &*r };
    if req.method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize == 0 {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    let response = match snapshot(zone, &lossy(&req.args)) {
        Some(Ok(s)) => Response::json(200, json::render(&s)),
        // the message is ours (no client bytes in it), so it needs no JSON escaping
        Some(Err(why)) => Response::json(400, format!("{{\"detail\":\"{why}\"}}").into_bytes()),
        None => return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
    };
    let response = response.header("Cache-Control", "no-store");
    // SAFETY: `r` is valid and in its content phase (above).
    unsafe { respond_now(r, &response) }
}

/// The page for the query string `args`, or why `days=` is refused. None if the zone is not
/// ready.
fn snapshot(zone: ZoneRef, args: &str) -> Option<Result<json::Snapshot, String>> {
    let (today, offset) = zone::local_day();
    let s = zone.with_counters(|c| {
        days_param(args, c.days_kept()).map(|max_days| c.snapshot(today, max_days))
    })?;
    Some(s.map(|mut s| {
        s.zone = zone.name();
        s.utc_offset_minutes = offset;
        s
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::zone::MAX_DAYS;

    #[test]
    fn plain_locations_count_under_their_name() {
        assert_eq!(route_key("/static", None, "/static/a.txt", ""), "/static");
        assert_eq!(route_key("@fallback", None, "/x", ""), "@fallback");
        assert_eq!(route_key("", None, "", ""), NO_LOCATION);
        assert_eq!(route_key("", Some("/api/"), "/api/", ""), NO_LOCATION);
    }

    #[test]
    fn api_locations_count_under_the_drf_route() {
        let k = |uri: &str, args: &str| route_key("/api/", Some("/api/"), uri, args);
        assert_eq!(k("/api/", ""), "/api/");
        assert_eq!(k("/api/.json", ""), "/api/");
        assert_eq!(k("/api/musics/", ""), "/api/musics/");
        assert_eq!(
            k("/api/musics", ""),
            "/api/musics/",
            "redirected to the slash"
        );
        assert_eq!(k("/api/musics.xml", ""), "/api/musics/", "unknown format");
        assert_eq!(k("/api/musics/12/", ""), "/api/musics/{id}/");
        assert_eq!(k("/api/musics/abc/", ""), "/api/musics/{id}/");
        assert_eq!(k("/api/musics/12/detail/", ""), "/api/musics/{id}/detail/");
        assert_eq!(k("/api/musics/all_singer/", ""), "/api/musics/all_singer/");
        assert_eq!(k("/api/nothing/here/", ""), "/api/{unknown}");
        assert_eq!(
            route_key("/v1/", Some("/v1/"), "/v1/musics/3/", "format=json"),
            "/v1/musics/{id}/"
        );
        // a URI outside the prefix (a regex location, a rewrite): the location's name
        assert_eq!(
            route_key("^/api/", Some("^/api/"), "/api/musics/", ""),
            "^/api/"
        );
    }

    #[test]
    fn a_routed_request_keeps_the_key_the_log_phase_would_compute() {
        let joined = |prefix: &str, uri: &str| {
            let rest = uri.strip_prefix(prefix).unwrap();
            let resource = match api::route(rest, "") {
                RouteOutcome::Found(r) | RouteOutcome::UnknownFormat(r) => r,
                _ => panic!("{uri} is not routed"),
            };
            let (key, len) = joined_key(&api_route_parts(prefix, &resource));
            String::from_utf8(key[..len].to_vec()).unwrap()
        };
        for uri in [
            "/api/",
            "/api/.json",
            "/api/musics/",
            "/api/musics.xml",
            "/api/musics/12/",
            "/api/musics/abc/",
            "/api/musics/12/detail/",
            "/api/musics/all_singer/",
        ] {
            assert_eq!(
                joined("/api/", uri),
                route_key("/api/", Some("/api/"), uri, "")
            );
        }
        // the root's key is its prefix alone (kept without a copy by the quick root)
        assert_eq!(api_route_parts("/v1/", &Resource::Root), ["/v1/", ""]);
        // a prefix near the limit: cut as route_key cuts, on a character boundary
        let long = format!("/{}/", "é".repeat(31));
        let uri = format!("{long}musics/12/");
        let key = joined(&long, &uri);
        assert_eq!(key, route_key(&long, Some(&long), &uri, ""));
        assert!(key.len() <= NAME_MAX && key.len() >= NAME_MAX - 1, "{key}");
    }

    #[test]
    fn keys_are_cut_at_a_character_boundary() {
        let long = format!("/{}", "é".repeat(40));
        let k = route_key(&long, None, "", "");
        assert!(k.len() <= NAME_MAX && k.len() >= NAME_MAX - 1);
        assert!(long.starts_with(&*k));
    }

    #[test]
    fn days_parameter() {
        assert_eq!(days_param("", 7), Ok(7));
        assert_eq!(days_param("days=3", 7), Ok(3));
        assert_eq!(days_param("x=1&days=2", 7), Ok(2));
        assert_eq!(days_param("days=7", 7), Ok(7));
        assert_eq!(days_param("daysx=1&xdays=2", 7), Ok(7), "other parameters");
        let range = Err("days must be an integer from 1 to 7, the days this zone keeps".into());
        for bad in [
            "days=0", "days=8", "days=400", "days=abc", "days=", "days", "days=-1", "days=+2",
            "days=1.5",
        ] {
            assert_eq!(days_param(bad, 7), range, "{bad}");
        }
        assert_eq!(
            days_param("days=1&days=2", 7),
            Err("days is given more than once".into())
        );
        assert_eq!(days_param("days=366", MAX_DAYS), Ok(366));
        assert_eq!(
            days_param("days=367", MAX_DAYS),
            Err("days must be an integer from 1 to 366, the days this zone keeps".into())
        );
    }
}

//! `route(rest, query)` and what hangs off a route: `allow`, `action`, `musics_link`.
//!
//! Input: `rest \0 query \0 method` (missing pieces are empty; not UTF-8: skipped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_music::api::route::{
    action, allow, musics_link, needs_auth, redirects_without_slash, route, slash_required_error,
    Action, Pk, Resource, RouteOutcome,
};

fn check_resource(resource: &Resource, method: &str) {
    let allowed = allow(resource);
    assert!(!allowed.is_empty(), "empty Allow for {resource:?}");
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(
            allowed.split(", ").any(|a| a == m),
            "{m} missing from Allow of {resource:?}"
        );
    }
    if let Resource::Item(Pk::Id(id)) | Resource::ItemDetail(Pk::Id(id)) = resource {
        assert!(*id > 0, "non-positive id {id}");
    }
    assert_eq!(needs_auth(resource), *resource != Resource::Root);
    assert!(matches!(action(resource, "OPTIONS"), Ok(Action::Options(r)) if r == *resource));
    assert!(
        action(resource, "GET").is_ok(),
        "GET refused on {resource:?}"
    );
    match action(resource, method) {
        Ok(Action::Options(_)) => assert!(method.eq_ignore_ascii_case("OPTIONS")),
        // an allowed method: it must be listed in Allow
        Ok(_) => {
            let upper = method.to_ascii_uppercase();
            assert!(
                allowed.split(", ").any(|a| a == upper),
                "{method:?} accepted on {resource:?} but not in Allow {allowed:?}"
            );
        }
        Err(e) => {
            assert_eq!(e.status, 405);
            let upper = method.to_ascii_uppercase();
            assert!(
                !allowed.split(", ").any(|a| a == upper),
                "{method:?} refused on {resource:?} but listed in Allow {allowed:?}"
            );
            serde_json::from_str::<serde_json::Value>(&e.body).expect("405 body is JSON");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.splitn(3, |&b| b == 0);
    let (Ok(rest), Ok(query), Ok(method)) = (
        std::str::from_utf8(pieces.next().unwrap_or_default()),
        std::str::from_utf8(pieces.next().unwrap_or_default()),
        std::str::from_utf8(pieces.next().unwrap_or_default()),
    ) else {
        return;
    };

    let outcome = route(rest, query);
    assert_eq!(outcome, route(rest, query), "route is not deterministic");
    match outcome {
        RouteOutcome::Found(resource) | RouteOutcome::UnknownFormat(resource) => {
            check_resource(&resource, method);
        }
        RouteOutcome::RedirectAddSlash => {
            assert!(!rest.ends_with('/'));
            let slashed = format!("{rest}/");
            assert!(
                matches!(
                    route(&slashed, query),
                    RouteOutcome::Found(_) | RouteOutcome::UnknownFormat(_)
                ),
                "{rest:?} redirects to {slashed:?}, which is no route"
            );
            let e = slash_required_error("/api/", rest);
            assert_eq!(e.status, 404);
            serde_json::from_str::<serde_json::Value>(&e.body).expect("404 body is JSON");
            let _ = redirects_without_slash(method);
        }
        RouteOutcome::NotFound => {}
    }

    let link = musics_link("/api/", rest, query);
    assert!(link.starts_with("/api/musics"), "{link:?}");
    // the query part is quote_plus'ed: no raw spaces, '#', '&' or non-ASCII
    if let Some((_, q)) = link.split_once('?') {
        assert!(q.starts_with("format="), "{link:?}");
        assert!(
            q["format=".len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-~%+".contains(&b)),
            "unquoted byte in {link:?}"
        );
    }
});

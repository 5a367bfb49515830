//! `GET /api/` answered from the request's own bytes. The API root needs no database and no
//! credentials, and most requests for it are the same: the location's exact path, no query,
//! a plain Host, no CORS origin. For those the answer is three pieces (a fixed head, the
//! Host, the location's fixed tail) and two fixed headers, so the nginx glue can send it
//! without copying the request into a [`RequestInfo`](crate::http::RequestInfo) or building a
//! [`Response`](crate::http::Response): nginx's `return` plus the Host. Every other request
//! takes [`plan`](super::plan)'s way, which answers these ones with the same bytes (the unit
//! tests compare the two).

use crate::api;
use crate::conf::ApiSettings;
use crate::http::JSON;

/// What the root's quick answer needs of a request, borrowed from nginx's own strings.
pub struct RootAsk<'a> {
    /// GET or HEAD (nginx sends no body for HEAD).
    pub get_or_head: bool,
    /// `r->uri`.
    pub uri: &'a [u8],
    /// `r->args`.
    pub args: &'a [u8],
    /// The Host header as sent, else the server name (as `RequestInfo::host`).
    pub host: &'a [u8],
    pub https: bool,
}

/// The whole answer: status 200, [`CONTENT_TYPE`], [`HEADERS`], and `body`'s three pieces one
/// after the other.
pub struct RootAnswer<'a> {
    pub body: [&'a [u8]; 3],
}

pub const CONTENT_TYPE: &str = JSON;

/// The headers `plan` gives the root without an Origin: DRF's `Vary` and `Allow` (as
/// `api::allow` has it; the tests compare the two).
pub const HEADERS: [(&str, &str); 2] = [("Vary", "Accept"), ("Allow", "GET, HEAD, OPTIONS")];

/// The quick answer for `ask`, or None when `plan` must decide (another path, a query, a
/// format suffix, a Host to escape, a login pages location). `has_origin` is asked only when
/// the location answers CORS, where an Origin changes the headers.
pub fn quick_root<'a>(
    conf: &'a ApiSettings,
    ask: &RootAsk<'a>,
    has_origin: impl FnOnce() -> bool,
) -> Option<RootAnswer<'a>> {
    let plain = ask.get_or_head
        && !conf.auth_pages
        && ask.uri == conf.prefix.as_bytes()
        && ask.args.is_empty()
        && api::route::root_host_is_plain(ask.host);
    if !plain || (conf.cors.enabled && has_origin()) {
        return None;
    }
    Some(RootAnswer {
        body: [
            api::route::root_body_head(ask.https).as_bytes(),
            ask.host,
            conf.root_body_tail.as_bytes(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::LocationConf;
    use crate::http::{Body, RequestInfo};
    use crate::service::plan::{plan, Plan};
    use crate::service::trace::Silent;
    use std::borrow::Cow;

    fn settings(prefix: &str, edit: impl FnOnce(&mut LocationConf)) -> ApiSettings {
        ApiSettings::for_tests(prefix, edit)
    }

    fn ask<'a>(
        method: &str,
        uri: &'a str,
        args: &'a str,
        host: &'a str,
        https: bool,
    ) -> RootAsk<'a> {
        RootAsk {
            get_or_head: method == "GET" || method == "HEAD",
            uri: uri.as_bytes(),
            args: args.as_bytes(),
            host: host.as_bytes(),
            https,
        }
    }

    fn info(method: &str, uri: &str, args: &str, host: &str, https: bool) -> RequestInfo {
        RequestInfo {
            method: Cow::Owned(method.to_owned()),
            uri: uri.into(),
            args: args.into(),
            host: host.into(),
            https,
            ..Default::default()
        }
    }

    /// The quick answer, when there is one, is `plan`'s answer: same status, content type,
    /// headers (in order) and body bytes.
    #[test]
    fn the_quick_answer_is_plans_answer() {
        let mut quick = 0;
        for prefix in ["/api/", "/v1/music/", "/caf\u{e9}/", "/q\"uote/"] {
            let conf = settings(prefix, |_| {});
            for method in ["GET", "HEAD", "POST", "OPTIONS", "DELETE"] {
                for uri in [
                    prefix.to_owned(),
                    format!("{prefix}.json"),
                    format!("{prefix}musics/"),
                ] {
                    for args in ["", "format=json", "x=1"] {
                        for host in ["127.0.0.1:8080", "Example.COM", "a\"b", "caf\u{e9}"] {
                            for https in [false, true] {
                                let a = ask(method, &uri, args, host, https);
                                let Some(answer) = quick_root(&conf, &a, || false) else {
                                    continue;
                                };
                                quick += 1;
                                let i = info(method, &uri, args, host, https);
                                let Plan::Answer(r) = plan(&conf, &i, &Silent) else {
                                    panic!("plan has work for {method} {uri}?{args}");
                                };
                                assert_eq!(r.status, 200);
                                assert_eq!(r.content_type, Some(CONTENT_TYPE));
                                let headers: Vec<(&str, &str)> =
                                    r.headers.iter().map(|(k, v)| (*k, v.as_ref())).collect();
                                assert_eq!(headers, HEADERS.to_vec());
                                assert_eq!(r.body, Body::Bytes(answer.body.concat()));
                            }
                        }
                    }
                }
            }
        }
        // GET and HEAD of the exact root, no query, the two plain hosts, both schemes
        assert_eq!(quick, 4 * 2 * 2 * 2);
    }

    #[test]
    fn other_requests_take_plans_way() {
        let conf = settings("/api/", |_| {});
        let none = |a: RootAsk<'_>| quick_root(&conf, &a, || false).is_none();
        assert!(!none(ask("GET", "/api/", "", "h", false)));
        assert!(none(ask("POST", "/api/", "", "h", false)), "method");
        assert!(
            none(ask("GET", "/api/.json", "", "h", false)),
            "format suffix"
        );
        assert!(none(ask("GET", "/api", "", "h", false)), "no slash");
        assert!(
            none(ask("GET", "/api/musics/", "", "h", false)),
            "another route"
        );
        assert!(
            none(ask("GET", "/api/", "format=json", "h", false)),
            "a query"
        );
        assert!(
            none(ask("GET", "/api/", "", "a\\b", false)),
            "a host to escape"
        );
        let mut pages = settings("/api-auth/", |_| {});
        pages.auth_pages = true;
        assert!(quick_root(&pages, &ask("GET", "/api-auth/", "", "h", false), || false).is_none());
    }

    #[test]
    fn an_origin_matters_only_where_cors_answers() {
        let plain = settings("/api/", |l| l.cors = Some(false));
        let a = ask("GET", "/api/", "", "h", false);
        let mut asked = false;
        assert!(quick_root(&plain, &a, || {
            asked = true;
            true
        })
        .is_some());
        assert!(!asked, "the headers are not searched without CORS");
        let cors = settings("/api/", |l| l.cors = Some(true));
        assert!(quick_root(&cors, &a, || true).is_none());
        assert!(quick_root(&cors, &a, || false).is_some());
    }
}

//! What a request's method, path and headers decide before the database is asked: CORS
//! preflights, routing, format suffixes, header-level authentication errors, the root and
//! OPTIONS answers, and the headers every answer carries. The rest is [`Work`] for
//! [`super::execute`].

use std::borrow::Cow;

use crate::api::{self, Action, ApiError, Resource, RouteOutcome};
use crate::auth::{self, BasicOutcome};
use crate::conf::{ApiSettings, AuthMode};
use crate::http::{RequestInfo, Response};
use crate::service::pages::{self, Page};
use crate::service::trace::trace;
use crate::service::trace::Trace;

/// Who is asking, as far as the header tells before the database is asked.
pub enum Credentials {
    /// An access-phase module verified this user name (`music_auth remote_user`); it must
    /// still be an active user in `auth_user`.
    Trusted {
        username: String,
    },
    Basic {
        username: String,
        password: String,
    },
    /// A Django session cookie: DRF's SessionAuthentication runs first; when the session logs
    /// nobody in, `otherwise` is what Basic gives (credentials, or the answer without them).
    Session {
        key: String,
        otherwise: Result<Box<Credentials>, ApiError>,
    },
}

/// Work that needs the database.
pub struct Work {
    /// The route's action, or the 405 that DRF gives only after authenticating.
    pub action: Result<Action, ApiError>,
    pub credentials: Option<Credentials>,
    /// CORS, Vary and Allow: the headers every answer of this request carries.
    pub extra_headers: Vec<(&'static str, Cow<'static, str>)>,
    /// A login or logout page of a `music_auth_pages` location (then `action` is unused).
    pub page: Option<Page>,
    /// The API resource the request was routed to (none for a page).
    pub resource: Option<Resource>,
}

/// What the content handler decided.
pub enum Plan {
    Answer(Response),
    Work(Work),
}

pub fn error_response(e: ApiError) -> Response {
    Response::json(e.status, e.body.into_bytes())
}

pub fn with_headers<V>(mut r: Response, headers: &[(&'static str, V)]) -> Response
where
    V: Clone + Into<Cow<'static, str>>,
{
    for (k, v) in headers {
        r.add_header(k, v.clone());
    }
    r
}

/// [`with_headers`] for the one answer a request gets: its headers moved in, not copied.
pub fn with_headers_moved(
    mut r: Response,
    headers: Vec<(&'static str, Cow<'static, str>)>,
) -> Response {
    if r.headers.is_empty() {
        r.headers = headers;
    } else {
        r.headers.extend(headers);
    }
    r
}

/// Routing, CORS, method and header checks: everything decidable without the database.
pub fn plan(conf: &ApiSettings, info: &RequestInfo, trace: &impl Trace) -> Plan {
    let cors = &conf.cors;
    let origin = info.origin.as_deref().map(str::as_bytes);
    if cors.is_preflight(&info.method, info.cors_request_method.is_some()) {
        // django-cors-headers answers preflights before any view (and any authentication).
        trace!(trace, "music: route CORS preflight");
        let h = cors.headers("OPTIONS", origin);
        let mut r = with_headers(Response::empty(200), &h.headers);
        if let Some(vary) = api::vary_header(false, &h) {
            r.add_header("Vary", vary);
        }
        return Plan::Answer(r);
    }
    let cors_headers = match origin {
        Some(_) => cors.headers(&info.method, origin),
        None => Default::default(),
    };
    // The original answered "Accept, Origin, Cookie" to a request with an Origin (Django's
    // session middleware added Cookie); keep exactly that for clients that compare.
    let vary = if cors.enabled && origin.is_some() {
        "Accept, Origin, Cookie"
    } else {
        "Accept"
    };
    let mut common: Vec<(&'static str, Cow<'static, str>)> = cors_headers
        .headers
        .into_iter()
        .map(|(name, value)| (name, Cow::Owned(value)))
        .collect();
    common.push(("Vary", Cow::Borrowed(vary)));
    let answer = |r: Response| Plan::Answer(with_headers(r, &common));

    let rest = match info.uri.strip_prefix(conf.prefix.as_str()) {
        Some(rest) => rest,
        None => {
            trace!(trace, "music: route none (outside the prefix)");
            return answer(error_response(ApiError::not_found()));
        }
    };
    if conf.auth_pages {
        return match pages::page_for(rest, &info.method) {
            Ok(page) => {
                trace!(trace, "music: route page {:?}", page);
                Plan::Work(Work {
                    action: Err(ApiError::not_found()),
                    credentials: None,
                    extra_headers: common,
                    page: Some(page),
                    resource: None,
                })
            }
            Err(r) => answer(r),
        };
    }
    let (resource, unknown_format) = match api::route(rest, &info.args) {
        RouteOutcome::Found(resource) => (resource, false),
        RouteOutcome::UnknownFormat(resource) => (resource, true),
        RouteOutcome::NotFound => {
            trace!(trace, "music: route none");
            return answer(error_response(ApiError::not_found()));
        }
        RouteOutcome::RedirectAddSlash => {
            trace!(trace, "music: route needs a trailing slash");
            if api::route::redirects_without_slash(&info.method) {
                let mut location = format!("{}{}/", conf.prefix, rest);
                if !info.args.is_empty() {
                    location.push('?');
                    location.push_str(&info.args);
                }
                return answer(Response::empty(301).header("Location", location));
            }
            return answer(error_response(api::route::slash_required_error(
                &conf.prefix,
                rest,
            )));
        }
    };
    trace!(
        trace,
        "music: route {:?}{}",
        resource,
        if unknown_format {
            " (unknown format)"
        } else {
            ""
        }
    );
    // DRF puts Allow on every answer of a route it found.
    common.push(("Allow", Cow::Borrowed(api::allow(&resource))));
    let answer = |r: Response| Plan::Answer(with_headers(r, &common));
    if unknown_format {
        // DRF's content negotiation (format suffix) runs before authentication.
        return answer(error_response(ApiError::not_found()));
    }

    let action = api::action(&resource, &info.method);
    trace!(
        trace,
        "music: action {:?}",
        action.as_ref().map_err(|e| e.status)
    );
    // DRF authenticates before it looks at the method (405) or the object (404).
    let credentials = if api::needs_auth(&resource) {
        match conf.auth.mode {
            AuthMode::RemoteUser => match &info.remote_user {
                Some(username) if auth::username_is_storable(username) => {
                    Some(Credentials::Trusted {
                        username: username.clone(),
                    })
                }
                _ => return answer(error_response(ApiError::not_provided())),
            },
            AuthMode::Basic => {
                let basic = match auth::parse_authorization(info.authorization.as_deref()) {
                    BasicOutcome::NoCredentials => Err(ApiError::not_provided()),
                    BasicOutcome::Invalid(e) => Err(ApiError::forbidden(e.detail())),
                    // A name no row can have is refused (and logged) by `authenticate`.
                    BasicOutcome::Credentials { username, password } => {
                        Ok(Credentials::Basic { username, password })
                    }
                };
                match (session_key(conf, info), basic) {
                    (Some(key), otherwise) => Some(Credentials::Session {
                        key,
                        otherwise: otherwise.map(Box::new),
                    }),
                    (None, Ok(credentials)) => Some(credentials),
                    (None, Err(e)) => return answer(error_response(e)),
                }
            }
        }
    } else {
        None
    };
    match (&action, &credentials) {
        (Err(e), None) => return answer(error_response(e.clone())),
        (Ok(Action::Root), _) => {
            let scheme = if info.https { "https" } else { "http" };
            let body = api::root_body(scheme, &info.host, &conf.prefix, rest, &info.args);
            return answer(Response::json(200, body.into_bytes()));
        }
        (Ok(Action::Options(r)), _)
            if api::options::needs_item_lookup(r).is_none() && credentials.is_none() =>
        {
            return answer(Response::json(
                200,
                api::options_body(r, true).as_bytes().to_vec(),
            ));
        }
        _ => {}
    }
    Plan::Work(Work {
        action,
        credentials,
        extra_headers: common,
        page: None,
        resource: Some(resource),
    })
}

/// The session cookie's value when sessions are configured and Django would look it up (a
/// missing or empty cookie is no session at all).
fn session_key(conf: &ApiSettings, info: &RequestInfo) -> Option<String> {
    conf.sessions.secret.as_ref()?;
    let key = auth::cookies::cookie_value(info.cookie.as_deref()?, &conf.sessions.cookie_name)?;
    (!key.is_empty()).then_some(key)
}

impl Work {
    /// POST, PUT and PATCH of an item read the request body before the database work.
    pub fn takes_body(&self) -> bool {
        matches!(
            self.action,
            Ok(Action::Create | Action::Replace(_) | Action::PartialUpdate(_))
        ) || matches!(self.page, Some(Page::LoginPost | Page::Logout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::LocationConf;
    use crate::http::Body;
    use crate::service::trace::Recorded;

    /// A `music_api /api/` location's settings after merge, `edit` applied to its directives.
    fn settings(edit: impl FnOnce(&mut LocationConf)) -> ApiSettings {
        ApiSettings::for_tests("/api/", edit)
    }

    fn get(uri: &str) -> RequestInfo {
        request("GET", uri)
    }

    fn request(method: &str, uri: &str) -> RequestInfo {
        RequestInfo {
            method: method.to_owned().into(),
            uri: uri.into(),
            host: "music.test".into(),
            ..Default::default()
        }
    }

    fn body_text(r: &Response) -> &str {
        match &r.body {
            Body::Bytes(b) => std::str::from_utf8(b).unwrap(),
            Body::Empty => "",
        }
    }

    fn header<'a>(headers: &'a [(&'static str, Cow<'static, str>)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_ref())
    }

    fn answer(conf: &ApiSettings, info: &RequestInfo) -> Response {
        match plan(conf, info, &Recorded::default()) {
            Plan::Answer(r) => r,
            Plan::Work(w) => panic!("expected an answer, got work for {:?}", w.action),
        }
    }

    fn work(conf: &ApiSettings, info: &RequestInfo) -> Work {
        match plan(conf, info, &Recorded::default()) {
            Plan::Work(w) => w,
            Plan::Answer(r) => panic!("expected work, got a {} answer", r.status),
        }
    }

    const ADMIN: &[u8] = b"Basic YWRtaW46cGFzc3dvcmQxMjM="; // admin:password123

    #[test]
    fn root_is_answered_without_the_database() {
        let conf = settings(|_| {});
        let r = answer(&conf, &get("/api/"));
        assert_eq!(r.status, 200);
        assert!(
            body_text(&r).contains("http://music.test/api/musics/"),
            "{}",
            body_text(&r)
        );
        assert_eq!(header(&r.headers, "Vary"), Some("Accept"));
    }

    #[test]
    fn unknown_paths_are_404_before_authentication() {
        let conf = settings(|_| {});
        for uri in ["/api/nothing/", "/elsewhere/", "/api/musics.xml"] {
            let r = answer(&conf, &get(uri));
            assert_eq!(r.status, 404, "{uri}");
            assert_eq!(body_text(&r), r#"{"detail":"Not found."}"#, "{uri}");
        }
    }

    #[test]
    fn a_missing_slash_redirects_a_get_and_refuses_a_post() {
        let conf = settings(|_| {});
        let mut info = get("/api/musics");
        info.args = "page=2".into();
        let r = answer(&conf, &info);
        assert_eq!(r.status, 301);
        assert_eq!(header(&r.headers, "Location"), Some("/api/musics/?page=2"));
        // DRF cannot redirect a POST: the route is not found without its slash.
        let r = answer(&conf, &request("POST", "/api/musics"));
        assert_eq!(r.status, 404);
        assert_eq!(header(&r.headers, "Location"), None);
    }

    #[test]
    fn the_list_needs_credentials_before_the_database() {
        let conf = settings(|_| {});
        let r = answer(&conf, &get("/api/musics/"));
        assert_eq!(r.status, 403);
        assert_eq!(
            body_text(&r),
            r#"{"detail":"Authentication credentials were not provided."}"#
        );
        assert_eq!(
            header(&r.headers, "Allow"),
            Some("GET, POST, HEAD, OPTIONS")
        );
        let mut bad = get("/api/musics/");
        bad.authorization = Some(b"Basic".to_vec());
        assert_eq!(answer(&conf, &bad).status, 403);
    }

    #[test]
    fn credentials_make_work_and_only_writes_take_a_body() {
        let conf = settings(|_| {});
        let mut info = get("/api/musics/");
        info.authorization = Some(ADMIN.to_vec());
        let w = work(&conf, &info);
        assert_eq!(w.action, Ok(Action::ListAll));
        assert!(matches!(
            w.credentials,
            Some(Credentials::Basic { ref username, ref password })
                if username == "admin" && password == "password123"
        ));
        assert!(!w.takes_body());
        for (method, uri) in [
            ("POST", "/api/musics/"),
            ("PUT", "/api/musics/1/"),
            ("PATCH", "/api/musics/1/"),
        ] {
            let mut info = request(method, uri);
            info.authorization = Some(ADMIN.to_vec());
            assert!(work(&conf, &info).takes_body(), "{method}");
        }
        let mut delete = request("DELETE", "/api/musics/1/");
        delete.authorization = Some(ADMIN.to_vec());
        assert!(!work(&conf, &delete).takes_body());
    }

    #[test]
    fn a_wrong_method_is_405_only_after_authentication() {
        let conf = settings(|_| {});
        let mut info = request("DELETE", "/api/musics/");
        assert_eq!(answer(&conf, &info).status, 403);
        info.authorization = Some(ADMIN.to_vec());
        let w = work(&conf, &info);
        assert_eq!(w.action.as_ref().map_err(|e| e.status), Err(405));
    }

    #[test]
    fn remote_user_mode_reads_the_verified_name_only() {
        let conf = settings(|c| c.auth = Some(AuthMode::RemoteUser));
        let mut info = get("/api/musics/");
        info.authorization = Some(ADMIN.to_vec());
        assert_eq!(answer(&conf, &info).status, 403);
        info.remote_user = Some("alice".into());
        assert!(matches!(
            work(&conf, &info).credentials,
            Some(Credentials::Trusted { ref username }) if username == "alice"
        ));
        info.remote_user = Some("nul\0".into());
        assert_eq!(answer(&conf, &info).status, 403);
    }

    #[test]
    fn a_preflight_is_answered_before_routing() {
        let conf = settings(|_| {});
        let mut info = request("OPTIONS", "/api/musics/");
        info.origin = Some("https://app.test".into());
        info.cors_request_method = Some("POST".into());
        let r = answer(&conf, &info);
        assert_eq!(r.status, 200);
        assert!(header(&r.headers, "Access-Control-Allow-Origin").is_some());
        let off = settings(|c| c.cors = Some(false));
        assert_eq!(answer(&off, &info).status, 403);
    }

    #[test]
    fn an_origin_adds_cors_headers_and_vary_to_every_answer() {
        let conf = settings(|_| {});
        let mut info = get("/api/musics/");
        info.origin = Some("https://app.test".into());
        let r = answer(&conf, &info);
        assert_eq!(header(&r.headers, "Vary"), Some("Accept, Origin, Cookie"));
        assert_eq!(header(&r.headers, "Access-Control-Allow-Origin"), Some("*"));
    }

    #[test]
    fn the_route_is_traced() {
        let conf = settings(|_| {});
        let trace = Recorded::default();
        let mut info = get("/api/musics/7/");
        info.authorization = Some(ADMIN.to_vec());
        let _ = plan(&conf, &info, &trace);
        let lines = trace.0.borrow();
        assert!(
            lines.iter().any(|l| l.contains("route Item(Id(7))")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("action Ok(Retrieve(7))")),
            "{lines:?}"
        );
    }
}

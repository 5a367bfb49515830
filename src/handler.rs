//! The one place that owns a request's lifecycle: the content handler decides what can be
//! answered at once (routing, CORS preflight, header-level auth errors, 405), reads the body
//! when the route takes one, and runs the rest as a task on the worker's event loop:
//! connection lease, authentication, the statement, the JSON answer.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::ffi::executor::spawn;
use nginx_sys::{
    ngx_http_request_t, ngx_int_t, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_SPECIAL_RESPONSE,
    NGX_LOG_ERR, NGX_LOG_INFO,
};
use ngx::http::HttpModuleLocationConf;
use ngx::ngx_log_error;

use crate::api::{self, Action, ApiError, Mode, RouteOutcome};
use crate::auth::{self, BasicOutcome};
use crate::authenticate::{self, authenticate, authenticate_trusted, Refusal};
use crate::conf::{ApiSettings, AuthMode};
use crate::db::pool::{pool_for, Purpose};
use crate::db::queries::Db;
use crate::db::statements::Stmt;
use crate::db::{self, DbError};
use crate::ffi::request::{self, PendingRequest, RequestInfo};
use crate::ffi::timer::Deadline;
use crate::http::Response;
use crate::Module;

/// Who is asking, as far as the header tells before the database is asked.
enum Credentials {
    /// An access-phase module verified this user name (`music_auth remote_user`); it must
    /// still be an active user in `auth_user`.
    Trusted {
        username: String,
    },
    Basic {
        username: String,
        password: String,
    },
}

/// Work that needs the database.
struct Work {
    /// The route's action, or the 405 that DRF gives only after authenticating.
    action: Result<Action, ApiError>,
    credentials: Option<Credentials>,
    extra_headers: Vec<(&'static str, String)>,
}

/// What the content handler decided.
enum Plan {
    Answer(Response),
    Work(Work),
}

fn error_response(e: ApiError) -> Response {
    Response::json(e.status, e.body.into_bytes())
}

fn with_headers(mut r: Response, headers: &[(&'static str, String)]) -> Response {
    for (k, v) in headers {
        r.add_header(k, v.clone());
    }
    r
}

/// Routing, CORS, method and header checks: everything decidable without the database.
fn plan(conf: &ApiSettings, info: &RequestInfo) -> Plan {
    let cors = &conf.cors;
    let origin = info.origin.as_deref().map(str::as_bytes);
    if cors.is_preflight(&info.method, info.cors_request_method.is_some()) {
        // django-cors-headers answers preflights before any view (and any authentication).
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
    let mut common = cors_headers.headers.clone();
    common.push(("Vary", vary.to_owned()));
    let answer = |r: Response| Plan::Answer(with_headers(r, &common));

    let rest = match info.uri.strip_prefix(conf.prefix.as_str()) {
        Some(rest) => rest,
        None => return answer(error_response(ApiError::not_found())),
    };
    let (resource, unknown_format) = match api::route(rest, &info.args) {
        RouteOutcome::Found(resource) => (resource, false),
        RouteOutcome::UnknownFormat(resource) => (resource, true),
        RouteOutcome::NotFound => return answer(error_response(ApiError::not_found())),
        RouteOutcome::RedirectAddSlash => {
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
    // DRF puts Allow on every answer of a route it found.
    common.push(("Allow", api::allow(&resource).to_owned()));
    let answer = |r: Response| Plan::Answer(with_headers(r, &common));
    if unknown_format {
        // DRF's content negotiation (format suffix) runs before authentication.
        return answer(error_response(ApiError::not_found()));
    }

    let action = api::action(&resource, &info.method);
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
            AuthMode::Basic => match auth::parse_authorization(info.authorization.as_deref()) {
                BasicOutcome::NoCredentials => {
                    return answer(error_response(ApiError::not_provided()))
                }
                BasicOutcome::Invalid(e) => {
                    return answer(error_response(ApiError::forbidden(e.detail())))
                }
                // A name no row can have is refused (and logged) by `authenticate`.
                BasicOutcome::Credentials { username, password } => {
                    Some(Credentials::Basic { username, password })
                }
            },
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
    })
}

fn takes_body(action: &Result<Action, ApiError>) -> bool {
    matches!(
        action,
        Ok(Action::Create | Action::Replace(_) | Action::PartialUpdate(_))
    )
}

thread_local! {
    /// Requests whose body nginx is still reading, with the work that follows.
    static READING_BODY: RefCell<HashMap<usize, (PendingRequest, Work)>> = RefCell::new(HashMap::new());
}

/// `clcf->handler` of every location with `music_api`.
///
/// # Safety
/// Called by nginx only, with a valid request in its content phase.
pub unsafe extern "C" fn content_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls the content handler with a valid request of this location.
    let req = unsafe { ngx::http::Request::from_ngx_http_request(r) };
    let Some(conf) = Module::location_conf(req).and_then(|c| c.settings.as_ref()) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    // SAFETY: as above.
    let mut info = unsafe { RequestInfo::from_raw(r) };
    if let (AuthMode::RemoteUser, Some(verifiers)) = (conf.auth.mode, &conf.verifiers) {
        // SAFETY: as above.
        info.remote_user = unsafe { crate::ffi::access::verified_user(r, verifiers) };
    }
    let work = match plan(conf, &info) {
        // SAFETY: as above; the response is sent from the content phase.
        Plan::Answer(response) => return unsafe { request::respond_now(r, &response) },
        Plan::Work(work) => work,
    };
    if takes_body(&work.action) {
        // SAFETY: `r` is valid; nginx holds the request (count) until `body_ready` runs.
        let Some(pending) = (unsafe { PendingRequest::new(r) }) else {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        };
        READING_BODY.with(|m| {
            let mut m = m.borrow_mut();
            m.retain(|_, (p, _)| p.is_alive());
            m.insert(r as usize, (pending, work));
        });
        // SAFETY: `r` is valid; `body_ready` is called once the body is complete.
        let rc = unsafe { nginx_sys::ngx_http_read_client_request_body(r, Some(body_ready)) };
        if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
            READING_BODY.with(|m| m.borrow_mut().remove(&(r as usize)));
            return rc;
        }
        return request::DONE;
    }
    // SAFETY: `r` is valid.
    let rc = unsafe { request::discard_body(r) };
    if rc != nginx_sys::NGX_OK as ngx_int_t {
        return rc;
    }
    // SAFETY: `r` is valid; the extra count is released by `PendingRequest::finish`.
    unsafe { (*(*r).main).set_count((*(*r).main).count() + 1) };
    // SAFETY: as above.
    let Some(pending) = (unsafe { PendingRequest::new(r) }) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    spawn(serve(pending, conf, work, info, Vec::new())).detach();
    request::DONE
}

unsafe extern "C" fn body_ready(r: *mut ngx_http_request_t) {
    let Some((pending, work)) = READING_BODY.with(|m| m.borrow_mut().remove(&(r as usize))) else {
        return;
    };
    // SAFETY: nginx calls this with the live request whose body is now complete.
    let req = unsafe { ngx::http::Request::from_ngx_http_request(r) };
    let Some(conf) = Module::location_conf(req).and_then(|c| c.settings.as_ref()) else {
        return;
    };
    // SAFETY: as above.
    let info = unsafe { RequestInfo::from_raw(r) };
    // SAFETY: as above.
    match unsafe { request::read_body(r) } {
        Ok(body) => spawn(serve(pending, conf, work, info, body)).detach(),
        Err(_) => pending.finish(Response::json(
            500,
            br#"{"detail":"Could not read the request body."}"#.to_vec(),
        )),
    }
}

fn db_error_response(e: DbError) -> Response {
    error_response(ApiError::database(&e))
}

/// How long a request in flight keeps an exiting worker alive at the least.
const IN_FLIGHT_GUARD_MS: nginx_sys::ngx_msec_t = 10 * 60 * 1000;

/// The task that answers one request.
async fn serve(
    mut pending: PendingRequest,
    conf: &'static ApiSettings,
    work: Work,
    info: RequestInfo,
    body: Vec<u8>,
) {
    let log = pending.log();
    pending.watch_client();
    // A non-cancelable timer for as long as the request is served: an exiting worker
    // (reload, graceful stop) waits for it, also while the request waits on PBKDF2 in the
    // thread pool, where no database deadline is armed. It does nothing when it fires.
    let _in_flight = Deadline::after(IN_FLIGHT_GUARD_MS);
    let result = {
        let work_done = std::pin::pin!(execute(conf, &work, &info, &body, log));
        let gone = std::pin::pin!(pending.client_gone());
        match futures_util::future::select(work_done, gone).await {
            futures_util::future::Either::Left((result, _)) => result,
            futures_util::future::Either::Right(((), _)) => Err(Failure::Gone),
        }
    };
    if let Err(Failure::Gone) = result {
        // The client closed its connection: the answer was dropped, and with it any
        // statement still running (cancelled on the server, see db::queries::CancelOnDrop).
        pending.abandon();
        return;
    }
    let response = match result {
        Ok(Outcome::Respond(r)) => r,
        Ok(Outcome::Stream(db, stmt)) => match stream_list(pending, conf, &db, &work, stmt).await {
            Ok(()) => return, // streamed and finalized
            Err((p, e)) => {
                pending = p;
                Failure::from(e).into_response(&info, log)
            }
        },
        Err(failure) => failure.into_response(&info, log),
    };
    pending.finish(with_headers(response, &work.extra_headers));
}

impl Failure {
    fn into_response(self, info: &RequestInfo, log: *mut nginx_sys::ngx_log_t) -> Response {
        match self {
            Failure::Api(r) => r,
            Failure::Gone => Response::empty(499),
            Failure::Login(line) => {
                // auth_basic's level and words, on the request's log: nginx appends the
                // client address, server and request line.
                ngx_log_error!(NGX_LOG_ERR, log, "{}", line);
                error_response(ApiError::invalid_credentials())
            }
            Failure::Db(e) => {
                ngx_log_error!(
                    NGX_LOG_ERR,
                    log,
                    "music: {} {}: {}",
                    info.method,
                    info.uri,
                    e
                );
                db_error_response(e)
            }
        }
    }
}

/// What `execute` leaves to do.
enum Outcome {
    Respond(Response),
    /// A list answer, streamed row by row on this leased connection.
    Stream(Db, Stmt),
}

/// A refusal that is not about the credentials themselves.
fn refusal_failure(refusal: Refusal) -> Failure {
    match refusal {
        Refusal::Busy => Failure::from(ApiError::service_unavailable(
            "Authentication is busy, try again.",
        )),
        Refusal::Db(e) => Failure::Db(e),
        Refusal::Invalid(_) => Failure::from(ApiError::invalid_credentials()),
    }
}

enum Failure {
    Api(Response),
    /// Refused credentials: the 403 of a wrong user name or password, and this error-log line.
    Login(String),
    Db(DbError),
    /// The client went away before the answer was ready.
    Gone,
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Db(e)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(error_response(e))
    }
}

fn item_response(status: u16, row: &db::MusicRow, conf: &ApiSettings) -> Response {
    let mut out = Vec::with_capacity(256);
    api::write_item(&mut out, row, chrono::Utc::now(), &conf.time_zone);
    Response::json(status, out)
}

async fn execute(
    conf: &'static ApiSettings,
    work: &Work,
    info: &RequestInfo,
    body: &[u8],
    log: *mut nginx_sys::ngx_log_t,
) -> Result<Outcome, Failure> {
    let pool = pool_for(&conf.database, &conf.pool, Purpose::Queries);
    // Authentication first: it holds a connection only for its user query, not while
    // PBKDF2 runs, so slow password checks cannot take the pool from other requests.
    let refused = match &work.credentials {
        Some(Credentials::Basic { username, password }) => {
            let who = authenticate::Who { username, password };
            authenticate(&pool, conf, who)
                .await
                .err()
                .map(|refusal| match refusal {
                    Refusal::Invalid(why) => {
                        Failure::Login(auth::login_failure::log_message(why, username))
                    }
                    other => refusal_failure(other),
                })
        }
        Some(Credentials::Trusted { username }) => {
            authenticate_trusted(&pool, conf, username)
                .await
                .err()
                .map(|refusal| match refusal {
                    Refusal::Invalid(_) => {
                        // nginx let the name in: its user file and auth_user disagree.
                        ngx_log_error!(
                            NGX_LOG_INFO,
                            log,
                            "music: remote user \"{}\" is not an active user in auth_user",
                            username
                        );
                        // DRF's RemoteUserAuthentication authenticates nobody then.
                        Failure::from(ApiError::not_provided())
                    }
                    other => refusal_failure(other),
                })
        }
        None => None,
    };
    if let Some(failure) = refused {
        return Err(failure);
    }
    let streams = matches!(work.action, Ok(Action::ListAll | Action::AllSingers));
    // Streams have connections of their own (see `Purpose::Streams`).
    let purpose = if streams {
        Purpose::Streams
    } else {
        Purpose::Queries
    };
    // Reads (GET/HEAD of a list, an item, detail/, all_singer/) may go to music_read_database;
    // writes and logins always go to music_database (db::reads chooses the pool).
    let reads_only = matches!(
        work.action,
        Ok(Action::ListAll | Action::AllSingers | Action::Retrieve(_) | Action::Detail(_))
    );
    let lease = db::reads::lease_for(conf, purpose, reads_only).await?;
    let db = Db::new(lease, &conf.pool);

    let not_found = || Failure::from(ApiError::not_found());
    let content_type = info.content_type.as_deref();
    let action = match &work.action {
        Ok(action) => action,
        Err(e) => return Err(e.clone().into()),
    };
    let resp = match action {
        Action::Root => return Err(not_found()),
        Action::ListAll => return Ok(Outcome::Stream(db, Stmt::List)),
        Action::AllSingers => return Ok(Outcome::Stream(db, Stmt::AllSingers)),
        Action::Retrieve(id) => {
            let row = db.retrieve(*id).await?.ok_or_else(not_found)?;
            item_response(200, &row, conf)
        }
        Action::InvalidId => return Err(not_found()),
        Action::Detail(id) => {
            let (singer, song) = db.detail(*id).await?.ok_or_else(not_found)?;
            let mut out = Vec::with_capacity(64);
            api::write_detail(&mut out, &singer, &song);
            Response::json(200, out)
        }
        Action::Create => {
            let input = api::parse_music_input(content_type, body, Mode::Create)?;
            let (Some(song), Some(singer)) = (input.song.as_deref(), input.singer.as_deref())
            else {
                return Err(Failure::Db(DbError::Query(
                    "validated input lacks a field".into(),
                )));
            };
            let row = db.create(song, singer).await?;
            item_response(201, &row, conf)
        }
        Action::Replace(id) | Action::PartialUpdate(id) => {
            let mode = if matches!(action, Action::Replace(_)) {
                Mode::Replace
            } else {
                Mode::Partial
            };
            // DRF looks the object up (404) before it parses and validates the body.
            let input = match api::parse_music_input(content_type, body, mode) {
                Ok(input) => input,
                Err(e) => {
                    if !db.exists(*id).await? {
                        return Err(not_found());
                    }
                    return Err(e.into());
                }
            };
            let row = match mode {
                Mode::Replace => {
                    let (Some(song), Some(singer)) =
                        (input.song.as_deref(), input.singer.as_deref())
                    else {
                        return Err(Failure::Db(DbError::Query(
                            "validated input lacks a field".into(),
                        )));
                    };
                    db.replace(*id, song, singer).await?
                }
                _ => {
                    db.patch(*id, input.song.as_deref(), input.singer.as_deref())
                        .await?
                }
            };
            item_response(200, &row.ok_or_else(not_found)?, conf)
        }
        Action::Delete(id) => {
            if !db.delete(*id).await? {
                return Err(not_found());
            }
            Response::empty(204)
        }
        Action::Options(resource) => {
            let exists = match api::options::needs_item_lookup(resource) {
                Some(id) => db.exists(id).await?,
                None => true,
            };
            Response::json(200, api::options_body(resource, exists).as_bytes().to_vec())
        }
    };
    Ok(Outcome::Respond(resp))
}

/// Streams `GET /api/musics/` (or `all_singer/`) row by row: each row becomes JSON in a
/// buffer that is handed to nginx every 16 KiB, waiting while the client lags, so memory
/// stays bounded whatever the table size.
async fn stream_list(
    mut pending: PendingRequest,
    conf: &ApiSettings,
    db: &Db,
    work: &Work,
    stmt: Stmt,
) -> Result<(), (PendingRequest, DbError)> {
    const FLUSH_AT: usize = 16 * 1024;
    let mut rows = match db.stream(stmt).await {
        Ok(rows) => rows,
        Err(e) => return Err((pending, e)),
    };
    // The first row (or the end) decides between a 200 and an error answer.
    let first = match db.next_row(&mut rows).await {
        Ok(first) => first,
        Err(e) => return Err((pending, e)),
    };
    let head = with_headers(Response::json(200, Vec::new()), &work.extra_headers);
    if pending.begin_stream(&head).is_err() {
        db.cancel_running();
        db.lease.discard();
        pending.end_stream(false);
        return Ok(());
    }
    if pending.header_only() {
        pending.end_stream(true);
        return Ok(());
    }
    let tz = conf.time_zone;
    let now = chrono::Utc::now();
    let mut buf = Vec::with_capacity(FLUSH_AT + 1024);
    buf.push(b'[');
    let mut next = first;
    let mut count = 0usize;
    let mut ok = true;
    while let Some(row) = next {
        if count > 0 {
            buf.push(b',');
        }
        count += 1;
        match stmt {
            Stmt::AllSingers => match row.try_get::<_, &str>(0) {
                Ok(singer) => api::write_json_string(&mut buf, singer),
                Err(_) => {
                    ok = false;
                    break;
                }
            },
            _ => match Db::music_row(&row) {
                Ok(item) => api::write_item(&mut buf, &item, now, &tz),
                Err(_) => {
                    ok = false;
                    break;
                }
            },
        }
        if buf.len() >= FLUSH_AT {
            if pending.send_chunk(&buf, false).await.is_err() {
                // The client went away mid-stream: the rest of the rows is still on the
                // connection, so it is closed rather than given to the next stream.
                ok = false;
                db.cancel_running();
                db.lease.discard();
                break;
            }
            buf.clear();
        }
        next = match db.next_row(&mut rows).await {
            Ok(n) => n,
            Err(e) => {
                ngx_log_error!(
                    NGX_LOG_ERR,
                    pending.log(),
                    "music: list stream failed after {} rows: {}",
                    count,
                    e
                );
                ok = false;
                break;
            }
        };
    }
    if ok {
        buf.push(b']');
        ok = pending.send_chunk(&buf, true).await.is_ok();
    }
    // A stream that fails midway cannot change its status any more: the connection is
    // closed without the final chunk, so the client sees a truncated answer, not bad JSON.
    pending.end_stream(ok);
    Ok(())
}

//! The nginx glue of a `music_api` request: the content handler hands the request to
//! [`service::plan`], answers at once or holds the request (`NGX_DONE`), reads the body when
//! the route takes one, and runs [`service::execute`] as a task on the worker's event loop,
//! streaming a list answer row by row. The decisions are all in [`crate::service`].

use nginx_sys::{
    ngx_http_request_t, ngx_int_t, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_SPECIAL_RESPONSE,
    NGX_LOG_ERR, NGX_LOG_INFO,
};
use ngx::http::HttpModule;
use ngx::ngx_log_error;

use crate::conf::{ApiSettings, AuthMode};
use crate::db::queries::Db;
use crate::db::statements::Stmt;
use crate::db::DbError;
use crate::ffi::debug_log::DebugLog;
use crate::ffi::executor::spawn;
use crate::ffi::request::{self, PendingRequest};
use crate::ffi::timer::Deadline;
use crate::http::{RequestInfo, Response};
use crate::service::execute::Level;
use crate::service::list::{stream_rows, ChunkSink, DbRows, ListBody, RowFailure, StreamEnd};
use crate::service::plan::{with_headers, with_headers_moved};
use crate::service::trace::trace;
use crate::service::{self, Outcome, Plan, ServeError, Work};

/// What waits in the request while nginx reads its body.
struct AwaitingBody {
    conf: &'static ApiSettings,
    work: Work,
}

/// Serves one request of a `music_api` location whose settings are `conf`; `M` is the module
/// whose ctx slot holds the request's state.
///
/// # Safety
/// `r` must be a valid request in its content phase; `conf` its location's settings.
pub unsafe fn serve_request<M: HttpModule>(
    r: *mut ngx_http_request_t,
    conf: &'static ApiSettings,
) -> ngx_int_t {
    // SAFETY: `r` is valid and in its content phase (caller).
    if let Some(rc) = unsafe { answer_root(r, conf) } {
        return rc;
    }
    // SAFETY: `r` is valid (caller).
    let mut info = unsafe { RequestInfo::from_raw(r) };
    if let (AuthMode::RemoteUser, Some(verifiers)) = (conf.auth.mode, &conf.verifiers) {
        // SAFETY: as above.
        info.remote_user = unsafe { crate::ffi::access::verified_user(r, verifiers) };
    }
    // SAFETY: every request has a live connection with its log.
    let log = DebugLog(unsafe { (*(*r).connection).log });
    let work = match service::plan(conf, &info, &log) {
        // SAFETY: `r` is valid; the response is sent from the content phase.
        Plan::Answer(response) => return unsafe { request::respond_now(r, &response) },
        Plan::Work(work) => work,
    };
    if let Some(resource) = &work.resource {
        // The log phase counts the request under its route (stats, metrics): it is known now,
        // so it need not be routed again there.
        let parts = crate::stats::handler::api_route_parts(&conf.prefix, resource);
        // SAFETY: `r` is valid (caller), the main request of a content handler.
        let _ = unsafe { crate::stats::handler::keep_route_key(r, &parts) };
    }
    if work.takes_body() {
        // SAFETY: `r` is valid; nginx holds the request (count) until `body_ready` runs.
        let Some(pending) = (unsafe { PendingRequest::new::<M>(r) }) else {
            return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
        };
        pending.park(AwaitingBody { conf, work });
        // SAFETY: `r` is valid; `body_ready` is called once the body is complete.
        let rc = unsafe { nginx_sys::ngx_http_read_client_request_body(r, Some(body_ready::<M>)) };
        if rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
            return rc;
        }
        return request::DONE;
    }
    // SAFETY: `r` is valid.
    let rc = unsafe { request::discard_body(r) };
    if rc != nginx_sys::NGX_OK as ngx_int_t {
        return rc;
    }
    // SAFETY: `r` is valid and in its content phase; NGX_DONE is returned below.
    let Some(pending) = (unsafe { PendingRequest::hold::<M>(r) }) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    // Boxed here: async-task boxes a future this large itself, but only at its first poll,
    // after copying it once more into the task.
    spawn(Box::pin(serve(pending, conf, work, info, Vec::new()))).detach();
    request::DONE
}

/// The API root from nginx's own strings ([`service::root`]), sent at once; None when the
/// request is not one it answers.
///
/// # Safety
/// `r` must be a valid request in its content phase; `conf` its location's settings.
unsafe fn answer_root(r: *mut ngx_http_request_t, conf: &'static ApiSettings) -> Option<ngx_int_t> {
    // SAFETY: `r` is valid (caller); the strings borrowed live as long as the request.
    let ask = unsafe { request::root_ask(r) };
    // SAFETY: as above.
    let has_origin = || unsafe { request::has_header(r, b"origin") };
    let answer = service::root::quick_root(conf, &ask, has_origin)?;
    // SAFETY: every request has a live connection with its log.
    let log = DebugLog(unsafe { (*(*r).connection).log });
    trace!(
        &log,
        "music: route Root (answered from the request's strings)"
    );
    // The root's route key is the prefix itself (`api_route_parts`), which lives as long as
    // the configuration: kept without a copy.
    // SAFETY: `r` is valid (caller), the main request of a content handler; the settings
    // outlive it (see `module::content_handler`).
    let _ = unsafe { crate::stats::handler::keep_lasting_route_key(r, &conf.prefix) };
    // SAFETY: `r` is valid and in its content phase (caller).
    Some(unsafe {
        request::respond_static(
            r,
            200,
            service::root::CONTENT_TYPE,
            &service::root::HEADERS,
            &answer.body,
        )
    })
}

unsafe extern "C" fn body_ready<M: HttpModule>(r: *mut ngx_http_request_t) {
    // SAFETY: nginx calls this with the live request whose body is now complete.
    let Some((pending, parked)) = (unsafe { PendingRequest::resume::<M, AwaitingBody>(r) }) else {
        return;
    };
    // SAFETY: as above.
    let info = unsafe { RequestInfo::from_raw(r) };
    // SAFETY: as above.
    match unsafe { request::body_bytes(r) } {
        Ok(body) => spawn(Box::pin(serve(
            pending,
            parked.conf,
            parked.work,
            info,
            body,
        )))
        .detach(),
        Err(_) => pending.finish(Response::json(
            500,
            br#"{"detail":"Could not read the request body."}"#.to_vec(),
        )),
    }
}

/// How long a request in flight keeps an exiting worker alive at the least.
const IN_FLIGHT_GUARD_MS: nginx_sys::ngx_msec_t = 10 * 60 * 1000;

/// The task that answers one request.
async fn serve(
    mut pending: PendingRequest,
    conf: &'static ApiSettings,
    mut work: Work,
    info: RequestInfo,
    body: Vec<u8>,
) {
    let log = pending.log();
    pending.watch_client();
    // A non-cancelable timer for as long as the request is served: an exiting worker
    // (reload, graceful stop) waits for it, also while the request waits on PBKDF2 in the
    // thread pool, where no database deadline is armed. It does nothing when it fires.
    let _in_flight = Deadline::after(IN_FLIGHT_GUARD_MS);
    let trace = DebugLog(log);
    let result = {
        let work_done = std::pin::pin!(service::execute(conf, &work, &info, &body, &trace));
        let gone = std::pin::pin!(pending.client_gone());
        match futures_util::future::select(work_done, gone).await {
            futures_util::future::Either::Left((result, _)) => result,
            futures_util::future::Either::Right(((), _)) => Err(ServeError::Gone),
        }
    };
    let failure = match result {
        // The client closed its connection: the answer was dropped, and with it any
        // statement still running (cancelled on the server, see db::queries::CancelOnDrop).
        Err(ServeError::Gone) => return pending.abandon(),
        Ok(Outcome::Respond(r)) => {
            let headers = std::mem::take(&mut work.extra_headers);
            return pending.finish(with_headers_moved(r, headers));
        }
        Ok(Outcome::Stream(db, stmt)) => match stream_list(pending, conf, &db, &work, stmt).await {
            Ok(()) => return, // streamed and finalized
            Err((p, e)) => {
                pending = p;
                ServeError::Db(e)
            }
        },
        Err(failure) => failure,
    };
    if let Some((level, line)) = failure.log_line(&info) {
        let level = match level {
            Level::Info => NGX_LOG_INFO,
            Level::Error => NGX_LOG_ERR,
        };
        ngx_log_error!(level, log, "{}", line);
    }
    pending.finish(with_headers(failure.into_response(), &work.extra_headers));
}

impl ChunkSink for PendingRequest {
    async fn send(&mut self, bytes: &[u8], last: bool) -> Result<(), ()> {
        self.send_chunk(bytes, last).await.map_err(|_| ())
    }
}

/// Streams `GET /api/musics/` (or `all_singer/`) row by row, waiting while the client lags.
async fn stream_list(
    mut pending: PendingRequest,
    conf: &ApiSettings,
    db: &Db,
    work: &Work,
    stmt: Stmt,
) -> Result<(), (PendingRequest, DbError)> {
    let trace = DebugLog(pending.log());
    let mut rows = match DbRows::open(db, stmt, None).await {
        Ok(rows) => rows,
        Err(e) => return Err((pending, e)),
    };
    let head = with_headers(Response::json(200, Vec::new()), &work.extra_headers);
    if pending.begin_stream(&head).is_err() {
        db.cancel_running();
        db.lease.discard();
        trace!(&trace, "music: stream end: the headers could not be sent");
        pending.end_stream(false);
        return Ok(());
    }
    if pending.header_only() {
        trace!(&trace, "music: stream end: headers only");
        pending.end_stream(true);
        return Ok(());
    }
    let list = ListBody::new(conf.time_zone, chrono::Utc::now());
    let end = stream_rows(&mut rows, &mut pending, list).await;
    trace!(&trace, "music: stream end: {} rows, {:?}", end.rows(), end);
    match &end {
        // The rest of the rows is still on the connection: it is closed rather than given
        // to the next stream.
        StreamEnd::ClientGone(_) => {
            db.cancel_running();
            db.lease.discard();
        }
        StreamEnd::Failed(n, RowFailure::Db(e)) => {
            ngx_log_error!(
                NGX_LOG_ERR,
                pending.log(),
                "music: list stream failed after {} rows: {}",
                n,
                e
            );
        }
        _ => {}
    }
    // A stream that fails midway cannot change its status any more: the connection is
    // closed without the final chunk, so the client sees a truncated answer, not bad JSON.
    pending.end_stream(matches!(end, StreamEnd::Complete(_)));
    Ok(())
}

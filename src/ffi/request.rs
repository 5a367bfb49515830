//! The HTTP request as the rest of the module sees it: what was asked ([`RequestInfo`], owned
//! copies taken once, in the content handler) and a handle to answer it later from a task on
//! the event loop ([`PendingRequest`]).
//!
//! Lifecycle (the pattern of nginx's own upstream module): the content handler either answers
//! at once, or holds the request (`r->main->count++`, or the count that
//! `ngx_http_read_client_request_body` takes), returns `NGX_DONE`, and the task answers with
//! [`PendingRequest::finish`], which calls `ngx_http_finalize_request` exactly once. A request
//! cleanup clears the `alive` flag if nginx frees the request first (worker shutdown), so a task
//! never touches a freed request.

use std::any::Any;
use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::rc::Rc;
use std::task::{Poll, Waker};

use nginx_sys::{
    ngx_buf_t, ngx_chain_t, ngx_http_cleanup_add, ngx_http_discard_request_body,
    ngx_http_finalize_request, ngx_http_output_filter, ngx_http_request_t,
    ngx_http_run_posted_requests, ngx_http_send_header, ngx_int_t, ngx_list_push, ngx_pnalloc,
    ngx_read_file, ngx_str_t, ngx_table_elt_t, NGX_AGAIN, NGX_DONE, NGX_ERROR, NGX_HTTP_GET,
    NGX_HTTP_HEAD, NGX_OK,
};

use ngx::http::HttpModule;

use crate::http::{Body, RequestInfo, Response};

fn ngx_str_bytes(s: &ngx_str_t) -> &[u8] {
    if s.len == 0 || s.data.is_null() {
        &[]
    } else {
        // SAFETY: nginx strings point at `len` initialised bytes that live as long as the
        // request (or configuration) that owns them, which outlives this borrow.
        unsafe { std::slice::from_raw_parts(s.data, s.len) }
    }
}

/// The text of `s`, invalid UTF-8 replaced by U+FFFD. Checked with `str::from_utf8` first,
/// which reads valid text (what every request sends) a word at a time, where the lossy
/// conversion walks it byte by byte.
fn lossy(s: &ngx_str_t) -> String {
    let bytes = ngx_str_bytes(s);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The request's method: the API's own methods as static strings, others copied.
fn method_name(s: &ngx_str_t) -> Cow<'static, str> {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    let bytes = ngx_str_bytes(s);
    match KNOWN.iter().find(|m| m.as_bytes() == bytes) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(lossy(s)),
    }
}

fn header_value(h: *mut ngx_table_elt_t) -> Option<Vec<u8>> {
    // SAFETY: a non-null header pointer in `headers_in` points at a live table element.
    unsafe { h.as_ref() }.map(|h| ngx_str_bytes(&h.value).to_vec())
}

impl RequestInfo {
    /// Copies the request's method, path, arguments and the headers the API reads.
    ///
    /// # Safety
    /// `r` must be a valid request of the current worker, in its content phase.
    pub unsafe fn from_raw(r: *mut ngx_http_request_t) -> RequestInfo {
        // SAFETY: the caller guarantees `r` is valid for the duration of this call.
        let req = unsafe { &*r };
        let hin = &req.headers_in;
        let mut info = RequestInfo {
            method: method_name(&req.method_name),
            uri: lossy(&req.uri),
            args: lossy(&req.args),
            authorization: header_value(hin.authorization),
            content_type: header_value(hin.content_type),
            has_body: hin.content_length_n > 0 || hin.chunked() != 0,
            ..RequestInfo::default()
        };
        // SAFETY: a non-null header pointer in `headers_in` points at a live table element.
        info.host = match unsafe { hin.host.as_ref() } {
            Some(h) => lossy(&h.value),
            None => lossy(&hin.server),
        };
        // SAFETY: every request has a live connection.
        info.https = unsafe { !(*req.connection).ssl.is_null() };
        // SAFETY: `headers_in.headers` is the request's list of header elements.
        for h in unsafe { ngx::http::list_iterator(&hin.headers) } {
            let (name, value) = (h.0.as_bytes(), h.1.as_bytes());
            if name.eq_ignore_ascii_case(b"origin") {
                info.origin = Some(String::from_utf8_lossy(value).into_owned());
            } else if name.eq_ignore_ascii_case(b"access-control-request-method") {
                info.cors_request_method = Some(String::from_utf8_lossy(value).into_owned());
            } else if name.eq_ignore_ascii_case(b"cookie") {
                let value = String::from_utf8_lossy(value);
                match &mut info.cookie {
                    Some(all) => {
                        all.push_str("; ");
                        all.push_str(&value);
                    }
                    None => info.cookie = Some(value.into_owned()),
                }
            } else if name.eq_ignore_ascii_case(b"referer") {
                info.referer = Some(String::from_utf8_lossy(value).into_owned());
            } else if name.eq_ignore_ascii_case(b"x-csrftoken") {
                info.csrf_token = Some(String::from_utf8_lossy(value).into_owned());
            }
        }
        info
    }
}

/// The request's strings that `service::root` reads, borrowed, not copied.
///
/// # Safety
/// `r` is a valid request; the strings live as long as it does.
pub unsafe fn root_ask<'r>(r: *mut ngx_http_request_t) -> crate::service::root::RootAsk<'r> {
    // SAFETY: valid (caller); a non-null `host` points at a live header element.
    unsafe {
        let req = &*r;
        let hin = &req.headers_in;
        let host = match hin.host.as_ref() {
            Some(h) => ngx_str_bytes(&h.value),
            None => ngx_str_bytes(&hin.server),
        };
        crate::service::root::RootAsk {
            get_or_head: req.method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize != 0,
            uri: ngx_str_bytes(&req.uri),
            args: ngx_str_bytes(&req.args),
            host,
            https: !(*req.connection).ssl.is_null(),
        }
    }
}

/// Whether the request has a header named `name` (ASCII, any case).
///
/// # Safety
/// `r` is a valid request.
pub unsafe fn has_header(r: *mut ngx_http_request_t, name: &[u8]) -> bool {
    // SAFETY: `headers_in.headers` is the request's list of header elements (caller).
    unsafe { ngx::http::list_iterator(&(*r).headers_in.headers) }
        .any(|h| h.0.as_bytes().eq_ignore_ascii_case(name))
}

/// The client's request is finished or its connection failed: nothing more can be sent.
#[derive(Debug)]
pub struct Gone;

/// The request body could not be read back (from its temporary file).
#[derive(Debug)]
pub struct BodyUnreadable;

/// What the event handlers and the task share about one held request.
#[derive(Default)]
struct State {
    /// False once nginx has freed the request (its cleanup ran).
    alive: Cell<bool>,
    /// Set while a streamed response waits for the client to drain what was sent.
    writable: Cell<Option<Waker>>,
    /// The client closed its connection while the request was being served.
    client_gone: Cell<bool>,
    gone_waker: Cell<Option<Waker>>,
    /// What the content handler left for the body callback while nginx reads the body
    /// ([`PendingRequest::park`]); dropped with the request if the callback never runs.
    parked: Cell<Option<Box<dyn Any>>>,
}

/// A request held open (`NGX_DONE`) until a task answers it.
pub struct PendingRequest {
    r: NonNull<ngx_http_request_t>,
    state: Rc<State>,
    /// The one buffer a streamed response reuses for every chunk (from the request pool).
    stream_buf: *mut ngx_buf_t,
    /// The event handlers, which find `state` in the ctx slot of the module that holds the
    /// request (chosen at `new`).
    on_read: unsafe extern "C" fn(*mut ngx_http_request_t),
    on_write: unsafe extern "C" fn(*mut ngx_http_request_t),
}

unsafe extern "C" fn request_gone(data: *mut c_void) {
    // SAFETY: `data` is the count of `State` this module gave the request's cleanup in
    // `PendingRequest::new`; it is released here, once.
    let state = unsafe { Rc::from_raw(data as *const State) };
    state.alive.set(false);
    drop(state.parked.take());
    if let Some(w) = state.gone_waker.take() {
        w.wake();
    }
}

impl PendingRequest {
    /// Takes hold of `r` for a later answer, with a reference of this module's own on the
    /// request (`r->main->count`, released by the finalize of [`PendingRequest::finish`] and
    /// the other endings).
    ///
    /// # Safety
    /// `r` must be a valid main request in its content phase; the caller returns `NGX_DONE`.
    pub unsafe fn hold<M: HttpModule>(r: *mut ngx_http_request_t) -> Option<PendingRequest> {
        // SAFETY: `r` is valid (caller); the count is released by the one finalize below.
        unsafe { (*(*r).main).set_count((*(*r).main).count() + 1) };
        // SAFETY: as above, and the count is taken.
        let pending = unsafe { Self::new::<M>(r) };
        if pending.is_none() {
            // SAFETY: `r` is valid; gives the count back (nginx frees nothing at this count).
            unsafe { (*(*r).main).set_count((*(*r).main).count() - 1) };
        }
        pending
    }

    /// Takes hold of `r` for a later answer.
    ///
    /// # Safety
    /// `r` must be a valid main request; the caller returns `NGX_DONE` to nginx (after
    /// incrementing `r->main->count` or having `ngx_http_read_client_request_body` do it).
    pub unsafe fn new<M: HttpModule>(r: *mut ngx_http_request_t) -> Option<PendingRequest> {
        let state = Rc::new(State {
            alive: Cell::new(true),
            ..State::default()
        });
        // SAFETY: `r` is valid (caller); the cleanup is freed with the request pool.
        let cln = unsafe { ngx_http_cleanup_add(r, 0) };
        // SAFETY: checked for null just below before any write.
        let cln = unsafe { cln.as_mut() }?;
        cln.handler = Some(request_gone);
        // The request owns one count until its cleanup runs; the ctx slot borrows it, so
        // the event handlers below can reach the state while the request lives.
        cln.data = Rc::into_raw(state.clone()) as *mut c_void;
        // SAFETY: `r` is valid; the slot belongs to module `M`.
        unsafe { *ctx_slot::<M>(r) = Rc::as_ptr(&state) as *mut c_void };
        Some(PendingRequest {
            r: NonNull::new(r)?,
            state,
            stream_buf: ptr::null_mut(),
            on_read: check_client::<M>,
            on_write: stream_write_handler::<M>,
        })
    }

    /// Leaves `work` with the request while nginx reads its body; [`PendingRequest::resume`]
    /// gives both back in the body callback.
    pub fn park<T: 'static>(self, work: T) {
        self.state.parked.set(Some(Box::new(work)));
    }

    /// The request and the work [`PendingRequest::park`] left, once (`None` after that, or if
    /// nothing of type `T` was parked).
    ///
    /// # Safety
    /// `r` must be a live request that module `M` holds.
    pub unsafe fn resume<M: HttpModule, T: 'static>(
        r: *mut ngx_http_request_t,
    ) -> Option<(PendingRequest, T)> {
        // SAFETY: `r` is live (caller); the slot is null or our state.
        let state = unsafe { *ctx_slot::<M>(r) as *const State };
        if state.is_null() {
            return None;
        }
        // SAFETY: the slot borrows the count the request's cleanup holds, still alive since
        // the request is; this takes one more for the returned handle.
        let state = unsafe {
            Rc::increment_strong_count(state);
            Rc::from_raw(state)
        };
        let work = state.parked.take()?.downcast::<T>().ok()?;
        Some((
            PendingRequest {
                r: NonNull::new(r)?,
                state,
                stream_buf: ptr::null_mut(),
                on_read: check_client::<M>,
                on_write: stream_write_handler::<M>,
            },
            *work,
        ))
    }

    pub fn is_alive(&self) -> bool {
        self.state.alive.get()
    }

    /// The request's connection log, for messages about this request.
    pub fn log(&self) -> *mut nginx_sys::ngx_log_t {
        // SAFETY: only called while the request is alive; connection and log outlive it.
        unsafe { (*(*self.r.as_ptr()).connection).log }
    }

    /// Watches the client connection while the answer is prepared: if the client closes it,
    /// [`PendingRequest::client_gone`] resolves (nginx's upstream module does the same with
    /// `ngx_http_upstream_check_broken_connection`).
    pub fn watch_client(&self) {
        if self.is_alive() {
            // SAFETY: alive and held by our count.
            unsafe { (*self.r.as_ptr()).read_event_handler = Some(self.on_read) };
        }
    }

    /// Resolves when the client has gone away (or nginx freed the request).
    pub async fn client_gone(&self) {
        std::future::poll_fn(|cx| {
            if self.state.client_gone.get() || !self.state.alive.get() {
                Poll::Ready(())
            } else {
                self.state.gone_waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }

    /// Finalizes a request whose client went away (logged with nginx's 499).
    pub fn abandon(self) {
        if self.is_alive() {
            // SAFETY: alive and held by our count; `r` is not used after finalize.
            unsafe {
                finalize(
                    self.r.as_ptr(),
                    nginx_sys::NGX_HTTP_CLIENT_CLOSED_REQUEST as ngx_int_t,
                )
            };
        }
    }

    /// Sends `response` (headers and whole body) and finalizes the request.
    pub fn finish(self, response: Response) {
        if !self.is_alive() {
            return;
        }
        let r = self.r.as_ptr();
        let mut response = response;
        // SAFETY: the request is alive (checked above) and held by our count.
        let rc = unsafe {
            match &mut response.body {
                // A large body (a list read whole) is handed to the request pool as it is
                // instead of being copied into it.
                Body::Bytes(b) if b.len() >= MOVE_INTO_POOL_AT => {
                    match keep_in_pool((*r).pool, std::mem::take(b)) {
                        Some(kept) => send_response(r, &response, kept.as_slice(), true),
                        None => NGX_ERROR as ngx_int_t,
                    }
                }
                _ => send_response(r, &response, body_of(&response), false),
            }
        };
        // SAFETY: as above; finalize drops our count, after which `r` is not touched.
        unsafe { finalize(r, rc) };
    }

    /// Sends the status line and headers of a response whose body follows in pieces
    /// ([`PendingRequest::send_chunk`], then [`PendingRequest::end_stream`]).
    pub fn begin_stream(&mut self, response: &Response) -> Result<(), Gone> {
        if !self.is_alive() {
            return Err(Gone);
        }
        let r = self.r.as_ptr();
        // SAFETY: the request is alive and held by our count.
        let rc = unsafe { send_headers(r, response, None) };
        if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t {
            return Err(Gone);
        }
        // SAFETY: as above; installs our write handler so a blocked client wakes the task.
        unsafe { (*r).write_event_handler = Some(self.on_write) };
        Ok(())
    }

    /// True for a HEAD request once its headers are sent: there is no body to stream.
    pub fn header_only(&self) -> bool {
        // SAFETY: only read while the request is alive (checked).
        self.is_alive() && unsafe { (*self.r.as_ptr()).header_only() != 0 }
    }

    /// Hands `bytes` to nginx's output filters and waits until the client connection has
    /// taken them, so a slow client bounds the memory a stream uses.
    pub async fn send_chunk(&mut self, bytes: &[u8], last: bool) -> Result<(), Gone> {
        if !self.is_alive() {
            return Err(Gone);
        }
        let r = self.r.as_ptr();
        // SAFETY: alive and held by our count; the previous chunk has been sent completely
        // (this function returns only once nothing is buffered), so its buffer is free again.
        let rc = unsafe { output_reusing(r, &mut self.stream_buf, bytes, last) };
        if rc == NGX_ERROR as ngx_int_t {
            return Err(Gone);
        }
        // Wait for the connection to drain before producing more.
        std::future::poll_fn(|cx| {
            if !self.state.alive.get() {
                return Poll::Ready(Err(Gone));
            }
            // SAFETY: alive (checked) and held by our count.
            let buffered = unsafe { (*(*r).connection).buffered() != 0 || (*r).buffered() != 0 };
            // SAFETY: as above.
            let error = unsafe { (*(*r).connection).error() != 0 };
            if error {
                Poll::Ready(Err(Gone))
            } else if buffered {
                self.state.writable.set(Some(cx.waker().clone()));
                // SAFETY: alive; arms the client's write event and a send timeout on it.
                unsafe {
                    let wev = (*(*r).connection).write;
                    if nginx_sys::ngx_handle_write_event(wev, 0) != NGX_OK as ngx_int_t {
                        return Poll::Ready(Err(Gone));
                    }
                    if (*wev).timer_set() == 0 {
                        nginx_sys::ngx_add_timer(wev, SEND_TIMEOUT_MS);
                    }
                }
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        })
        .await
    }

    /// Finalizes a streamed response (after its last chunk, or after a failure).
    pub fn end_stream(self, ok: bool) {
        if !self.is_alive() {
            return;
        }
        let rc = if ok {
            NGX_OK as ngx_int_t
        } else {
            NGX_ERROR as ngx_int_t
        };
        // SAFETY: alive and held by our count; `r` is not used after finalize.
        unsafe { finalize(self.r.as_ptr(), rc) };
    }
}

fn ctx_slot<M: HttpModule>(r: *mut ngx_http_request_t) -> *mut *mut c_void {
    // SAFETY: `r->ctx` has one slot per HTTP module; module `M`'s is its `ctx_index`, set by
    // nginx at configuration time.
    unsafe { (*r).ctx.add(M::module().ctx_index) }
}

/// The state of a held request, from its ctx slot (null before `PendingRequest::new`).
///
/// # Safety
/// `r` must be a live request; the state lives as long as the request (its cleanup holds it).
unsafe fn state_of<'a, M: HttpModule>(r: *mut ngx_http_request_t) -> Option<&'a State> {
    // SAFETY: the slot is null or points at the `State` the request's cleanup keeps alive.
    unsafe { (*ctx_slot::<M>(r) as *const State).as_ref() }
}

/// `r->read_event_handler` while a task serves the request: notices a client that closed
/// its connection (a peek that reads end-of-file or fails).
unsafe extern "C" fn check_client<M: HttpModule>(r: *mut ngx_http_request_t) {
    // SAFETY: nginx calls this with the live request whose client connection became readable.
    unsafe {
        let c = (*r).connection;
        let mut gone = (*c).error() != 0;
        if !gone {
            let mut byte = 0u8;
            let n = libc::recv(
                (*c).fd,
                &mut byte as *mut u8 as *mut c_void,
                1,
                libc::MSG_PEEK,
            );
            let err = std::io::Error::last_os_error().raw_os_error();
            gone = n == 0 || (n < 0 && err != Some(libc::EAGAIN) && err != Some(libc::EINTR));
            if n < 0 && !gone {
                (*(*c).read).set_ready(0);
            }
        }
        if gone {
            (*c).set_error(1);
            if let Some(state) = state_of::<M>(r) {
                state.client_gone.set(true);
                if let Some(w) = state.gone_waker.take() {
                    w.wake();
                }
            }
        }
    }
}

unsafe extern "C" fn stream_write_handler<M: HttpModule>(r: *mut ngx_http_request_t) {
    // SAFETY: nginx calls this with the live request whose write event fired; flushing with a
    // null chain pushes out what the filters hold.
    unsafe {
        let c = (*r).connection;
        if (*(*c).write).timedout() != 0 {
            (*c).set_timedout(1);
            (*c).set_error(1);
        } else {
            ngx_http_output_filter(r, ptr::null_mut());
        }
        if let Some(waker) = state_of::<M>(r).and_then(|s| s.writable.take()) {
            waker.wake();
        }
    }
}

/// Discards the body of a request answered without reading it.
///
/// # Safety
/// `r` must be a valid request.
pub unsafe fn discard_body(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: caller guarantees `r`.
    unsafe { ngx_http_discard_request_body(r) }
}

/// Sends a whole response from the content handler itself; returns the code for nginx.
///
/// # Safety
/// `r` must be a valid request in its content phase.
pub unsafe fn respond_now(r: *mut ngx_http_request_t, response: &Response) -> ngx_int_t {
    // SAFETY: caller guarantees `r`.
    unsafe {
        let rc = discard_body(r);
        if rc != NGX_OK as ngx_int_t {
            return rc;
        }
        send_response(r, response, body_of(response), false)
    }
}

/// Sends, from the content handler itself, an answer whose header values and content type
/// live as long as the module (pointed at, not copied) and whose body is `pieces` one after
/// the other (copied once, into one buffer of the request's pool).
///
/// # Safety
/// `r` must be a valid request in its content phase.
pub unsafe fn respond_static(
    r: *mut ngx_http_request_t,
    status: u16,
    content_type: &'static str,
    headers: &[(&'static str, &'static str)],
    pieces: &[&[u8]],
) -> ngx_int_t {
    let length = pieces.iter().map(|p| p.len()).sum();
    // SAFETY: caller guarantees `r`; the body buffer comes from its pool and is filled
    // whole before nginx sees it.
    unsafe {
        let rc = discard_body(r);
        if rc != NGX_OK as ngx_int_t {
            return rc;
        }
        set_status(r, status, Some(content_type), Some(length));
        for (name, value) in headers {
            let value = ngx_str_t {
                len: value.len(),
                data: value.as_ptr() as *mut u8,
            };
            if push_header(r, name, value).is_none() {
                return NGX_ERROR as ngx_int_t;
            }
        }
        let rc = ngx_http_send_header(r);
        if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || (*r).header_only() != 0 {
            return rc;
        }
        let data = ngx_pnalloc((*r).pool, length) as *mut u8;
        if data.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        let mut at = 0;
        for piece in pieces {
            ptr::copy_nonoverlapping(piece.as_ptr(), data.add(at), piece.len());
            at += piece.len();
        }
        output_bytes(r, std::slice::from_raw_parts(data, length), true, true)
    }
}

fn body_of(response: &Response) -> &[u8] {
    match &response.body {
        Body::Bytes(b) => b,
        Body::Empty => &[],
    }
}

/// Bodies from this size on are moved into the request pool rather than copied.
const MOVE_INTO_POOL_AT: usize = 4096;

/// A body handed to a request pool: it lives until the pool is destroyed (after the response
/// was sent), when a pool cleanup drops it.
struct PoolKept {
    data: *const u8,
    len: usize,
}

impl PoolKept {
    /// # Safety
    /// Only while the pool it was handed to lives.
    unsafe fn as_slice<'a>(&self) -> &'a [u8] {
        // SAFETY: the Vec's buffer is alive and unchanged until the pool cleanup drops it
        // (caller); `data` and `len` are its own.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

/// Moves `body` into `pool`'s keeping.
///
/// # Safety
/// `pool` must be a live pool.
unsafe fn keep_in_pool(pool: *mut nginx_sys::ngx_pool_t, body: Vec<u8>) -> Option<PoolKept> {
    unsafe extern "C" fn drop_body(data: *mut c_void) {
        // SAFETY: `data` is the Box made below, dropped once, by this pool cleanup.
        drop(unsafe { Box::from_raw(data as *mut Vec<u8>) });
    }
    // SAFETY: `pool` is live (caller); the cleanup is fully set before the pool can run it.
    unsafe {
        let cleanup = nginx_sys::ngx_pool_cleanup_add(pool, 0);
        if cleanup.is_null() {
            return None;
        }
        let boxed = Box::new(body);
        let kept = PoolKept {
            data: boxed.as_ptr(),
            len: boxed.len(),
        };
        (*cleanup).data = Box::into_raw(boxed) as *mut c_void;
        (*cleanup).handler = Some(drop_body);
        Some(kept)
    }
}

unsafe fn finalize(r: *mut ngx_http_request_t, rc: ngx_int_t) {
    // SAFETY: caller guarantees `r` is alive and held by one count that this releases.
    unsafe {
        let c = (*r).connection;
        ngx_http_finalize_request(r, rc);
        ngx_http_run_posted_requests(c);
    }
}

fn copy_to_pool(pool: *mut nginx_sys::ngx_pool_t, bytes: &[u8]) -> Option<ngx_str_t> {
    if bytes.is_empty() {
        return Some(ngx_str_t {
            len: 0,
            data: ptr::null_mut(),
        });
    }
    // SAFETY: allocation from a live request pool; the copy fills every byte allocated.
    unsafe {
        let p = ngx_pnalloc(pool, bytes.len()) as *mut u8;
        if p.is_null() {
            return None;
        }
        ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
        Some(ngx_str_t {
            len: bytes.len(),
            data: p,
        })
    }
}

unsafe fn add_header(r: *mut ngx_http_request_t, name: &'static str, value: &str) -> Option<()> {
    // SAFETY: `r` is valid (caller), the value is copied into its pool.
    unsafe { push_header(r, name, copy_to_pool((*r).pool, value.as_bytes())?) }
}

/// Adds an output header whose value lives as long as the request at the least.
///
/// # Safety
/// `r` is valid; `value` points at memory that outlives the request.
unsafe fn push_header(
    r: *mut ngx_http_request_t,
    name: &'static str,
    value: ngx_str_t,
) -> Option<()> {
    // SAFETY: `r` is valid (caller); the list element is fully initialised before use.
    unsafe {
        let h = ngx_list_push(&mut (*r).headers_out.headers) as *mut ngx_table_elt_t;
        if h.is_null() {
            return None;
        }
        // Zeroed first: `lowcase_key`, and `next` on nginx >= 1.23 (1.22's ngx_table_elt_t
        // has no such field), are NULL without naming them; hash 0 (skipped) until complete.
        ptr::write_bytes(h, 0, 1);
        let h = &mut *h;
        h.key = ngx_str_t {
            len: name.len(),
            data: name.as_ptr() as *mut u8,
        };
        h.value = value;
        h.hash = 1;
        Some(())
    }
}

/// Sets the status, the content type (a static string, pointed at) and the length (None:
/// streamed) of the answer.
///
/// # Safety
/// `r` is a valid request.
unsafe fn set_status(
    r: *mut ngx_http_request_t,
    status: u16,
    content_type: Option<&'static str>,
    content_length: Option<usize>,
) {
    // SAFETY: `r` is valid (caller).
    let out = unsafe { &mut (*r).headers_out };
    out.status = status as usize;
    if let Some(ct) = content_type {
        out.content_type_len = ct.len();
        out.content_type = ngx_str_t {
            len: ct.len(),
            data: ct.as_ptr() as *mut u8,
        };
        out.content_type_lowcase = ptr::null_mut();
    }
    out.content_length_n = content_length.map_or(-1, |n| n as i64);
}

/// Sets the status line and headers and sends them; `content_length` None means streamed.
unsafe fn send_headers(
    r: *mut ngx_http_request_t,
    response: &Response,
    content_length: Option<usize>,
) -> ngx_int_t {
    // SAFETY: `r` is valid (caller).
    unsafe {
        set_status(r, response.status, response.content_type, content_length);
        for (name, value) in &response.headers {
            if add_header(r, name, value).is_none() {
                return NGX_ERROR as ngx_int_t;
            }
        }
        if response.status == 204 {
            (*r).set_header_only(1);
        }
        ngx_http_send_header(r)
    }
}

/// Sends `response`'s headers and `body` (`in_pool`: already memory of `r`'s pool, sent
/// without a copy).
unsafe fn send_response(
    r: *mut ngx_http_request_t,
    response: &Response,
    body: &[u8],
    in_pool: bool,
) -> ngx_int_t {
    let length = if response.status == 204 {
        None
    } else {
        Some(body.len())
    };
    // SAFETY: `r` is valid (caller).
    unsafe {
        let rc = send_headers(r, response, length);
        if rc == NGX_ERROR as ngx_int_t || rc > NGX_OK as ngx_int_t || (*r).header_only() != 0 {
            return rc;
        }
        output_bytes(r, body, in_pool, true)
    }
}

/// Copies `bytes` into a buffer from the request pool (unless they are `in_pool` already) and
/// passes it down the filters.
unsafe fn output_bytes(
    r: *mut ngx_http_request_t,
    bytes: &[u8],
    in_pool: bool,
    last: bool,
) -> ngx_int_t {
    // SAFETY: `r` is valid (caller); buffer and chain link come from its pool and are fully
    // initialised before nginx sees them.
    unsafe {
        let pool = (*r).pool;
        let b = nginx_sys::ngx_pcalloc(pool, std::mem::size_of::<ngx_buf_t>()) as *mut ngx_buf_t;
        let Some(b) = b.as_mut() else {
            return NGX_ERROR as ngx_int_t;
        };
        if !bytes.is_empty() {
            let s = if in_pool {
                ngx_str_t {
                    len: bytes.len(),
                    data: bytes.as_ptr() as *mut u8,
                }
            } else {
                match copy_to_pool(pool, bytes) {
                    Some(s) => s,
                    None => return NGX_ERROR as ngx_int_t,
                }
            };
            b.start = s.data;
            b.pos = s.data;
            b.last = s.data.add(s.len);
            b.end = b.last;
            b.set_memory(1);
        }
        if last {
            b.set_last_buf(if (*r).main == r { 1 } else { 0 });
            b.set_last_in_chain(1);
        } else {
            b.set_flush(1);
        }
        let mut out = ngx_chain_t {
            buf: b as *mut ngx_buf_t,
            next: ptr::null_mut(),
        };
        ngx_http_output_filter(r, &mut out)
    }
}

/// A streamed chunk: copied into `slot`'s buffer (created, or grown, from the request pool),
/// so that a response of any length uses one buffer's worth of pool memory, not its length.
///
/// # Safety
/// `r` must be a valid request; `slot` null or a buffer of `r`'s pool that nginx no longer
/// holds (everything sent before was written out).
unsafe fn output_reusing(
    r: *mut ngx_http_request_t,
    slot: &mut *mut ngx_buf_t,
    bytes: &[u8],
    last: bool,
) -> ngx_int_t {
    const STREAM_BUF_SIZE: usize = 32 * 1024;
    // SAFETY: `r` is valid (caller); the buffer comes from its pool and is fully reset before
    // nginx sees it again.
    unsafe {
        let fits =
            !slot.is_null() && (**slot).end.offset_from((**slot).start) as usize >= bytes.len();
        if !fits {
            let b = nginx_sys::ngx_create_temp_buf((*r).pool, bytes.len().max(STREAM_BUF_SIZE));
            if b.is_null() {
                return NGX_ERROR as ngx_int_t;
            }
            *slot = b;
        }
        let b = &mut **slot;
        ptr::copy_nonoverlapping(bytes.as_ptr(), b.start, bytes.len());
        b.pos = b.start;
        b.last = b.start.add(bytes.len());
        b.set_last_buf(if last && (*r).main == r { 1 } else { 0 });
        b.set_last_in_chain(if last { 1 } else { 0 });
        b.set_flush(if last { 0 } else { 1 });
        let mut out = ngx_chain_t {
            buf: b as *mut ngx_buf_t,
            next: ptr::null_mut(),
        };
        ngx_http_output_filter(r, &mut out)
    }
}

/// The request body, read into memory: nginx keeps it in buffers or, past
/// `client_body_buffer_size`, in a temporary file that is read back here (a local file nginx
/// has just written; see the README on body sizes).
///
/// # Safety
/// `r` must be a valid request whose body has been read completely.
pub unsafe fn body_bytes(r: *mut ngx_http_request_t) -> Result<Vec<u8>, BodyUnreadable> {
    let mut body = Vec::new();
    // SAFETY: after `ngx_http_read_client_request_body` completed, `request_body->bufs` is a
    // valid chain of memory or file buffers.
    unsafe {
        let Some(rb) = (*r).request_body.as_ref() else {
            return Ok(body);
        };
        let mut cl = rb.bufs;
        while let Some(link) = cl.as_ref() {
            let b = &*link.buf;
            if b.in_file() != 0 {
                let len = (b.file_last - b.file_pos) as usize;
                let start = body.len();
                body.resize(start + len, 0);
                let n = ngx_read_file(b.file, body[start..].as_mut_ptr(), len, b.file_pos);
                if n != len as isize {
                    return Err(BodyUnreadable);
                }
            } else if !b.pos.is_null() {
                let len = b.last.offset_from(b.pos) as usize;
                body.extend_from_slice(std::slice::from_raw_parts(b.pos, len));
            }
            cl = link.next;
        }
    }
    Ok(body)
}

/// How long a streamed response waits for a client that reads nothing.
const SEND_TIMEOUT_MS: nginx_sys::ngx_msec_t = 60_000;

pub const DONE: ngx_int_t = NGX_DONE as ngx_int_t;
pub const AGAIN: ngx_int_t = NGX_AGAIN as ngx_int_t;

#[cfg(test)]
mod tests {
    use super::*;

    fn ngx_str(bytes: &[u8]) -> ngx_str_t {
        ngx_str_t {
            len: bytes.len(),
            data: bytes.as_ptr() as *mut u8,
        }
    }

    #[test]
    fn lossy_keeps_valid_text_and_replaces_invalid_bytes() {
        assert_eq!(lossy(&ngx_str(b"/api/musics/7/")), "/api/musics/7/");
        assert_eq!(lossy(&ngx_str("/caf\u{e9}/".as_bytes())), "/caf\u{e9}/");
        assert_eq!(lossy(&ngx_str(b"/a\xffb/\xc3")), "/a\u{fffd}b/\u{fffd}");
        assert_eq!(lossy(&ngx_str(b"")), "");
    }
}

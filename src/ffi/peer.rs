//! A non-blocking socket to PostgreSQL on nginx's event loop: `ngx_event_connect_peer` to
//! connect (TCP or unix socket), `c->recv`/`c->send` for IO, and the connection's read and
//! write events to wake the task that waits on it. It implements tokio's `AsyncRead` and
//! `AsyncWrite` so that `tokio_postgres` can run over it without a tokio runtime.
//!
//! The idea follows nginx-acme's `PeerConnection` (an async stream over an nginx peer
//! connection); this one is written for plain sockets and for the worker-exit rule: every
//! open stream is registered, and [`close_all`] closes them when the worker exits, since a
//! task that is never polled again would otherwise keep its socket open.
//!
//! A stream can be turned into TLS ([`PeerStream::handshake`]) with nginx's own OpenSSL, as
//! nginx's upstreams do it: `ngx_ssl_create_connection`, then `ngx_ssl_handshake` driven by the
//! connection's events; afterwards `c->recv`/`c->send` are nginx's SSL functions, so reads and
//! writes stay the same code. Before that, a read takes no more bytes than asked for, so
//! nothing the server sends after its one-byte answer to the SSLRequest is read in clear text.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::io;
use std::mem;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::ptr;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use nginx_sys::{
    ngx_close_connection, ngx_connection_t, ngx_create_pool, ngx_destroy_pool,
    ngx_event_connect_peer, ngx_event_get_peer, ngx_event_t, ngx_handle_read_event,
    ngx_handle_write_event, ngx_int_t, ngx_peer_connection_t, ngx_pool_t,
    ngx_ssl_create_connection, ngx_ssl_handshake, ngx_ssl_shutdown, ngx_ssl_t, ngx_str_t,
    NGX_AGAIN, NGX_BUSY, NGX_DECLINED, NGX_ERROR, NGX_OK, NGX_SSL_CLIENT,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::tls_io::{self, SocketReads};

/// Where a database listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Tcp(SocketAddr),
    /// The socket file itself (`<dir>/.s.PGSQL.<port>`).
    Unix(std::path::PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "{a}"),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The parts of a stream that nginx's event handlers reach through `c->data`.
struct Shared {
    connection: Cell<*mut ngx_connection_t>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
    /// The connection's pool (`c->pool`), made for its SSL state; destroyed after closing.
    pool: Cell<*mut ngx_pool_t>,
    /// nginx called back: the handshake that returned `NGX_AGAIN` has finished, either way.
    handshake_ended: Cell<bool>,
    /// Over TLS: what OpenSSL's socket reads found (see [`tls_io`]).
    socket_reads: SocketReads,
}

/// Owned memory that `ngx_peer_connection_t` points into, kept alive with the stream.
struct PeerMemory {
    pc: ngx_peer_connection_t,
    sockaddr: Vec<u8>,
    name: ngx_str_t,
    name_bytes: Vec<u8>,
}

pub struct PeerStream {
    shared: Rc<Shared>,
    _memory: Box<PeerMemory>,
    arrivals: Rc<Arrivals>,
}

/// What this stream's reads found, for a watcher that looks at state the protocol layer above
/// updates from received messages (tokio-postgres's server parameters): such state can only
/// change after bytes arrived, and is settled once a read found the socket drained, since the
/// layers above ask the socket only after they have consumed what they hold.
#[derive(Default)]
pub struct Arrivals {
    received: Cell<bool>,
    drained: Cell<bool>,
}

impl Arrivals {
    fn read_bytes(&self) {
        self.received.set(true);
        self.drained.set(false);
    }

    fn read_nothing(&self) {
        self.drained.set(true);
    }

    /// Whether bytes arrived since the last call that found the reads settled: the watcher
    /// looks again now. Stays true while bytes arrived but no read since found the socket
    /// drained (the layer above stopped with messages unread), so that it looks once more.
    pub fn unsettled(&self) -> bool {
        let received = self.received.get();
        if received && self.drained.get() {
            self.received.set(false);
        }
        received
    }
}

thread_local! {
    static OPEN_STREAMS: RefCell<Vec<Weak<Shared>>> = const { RefCell::new(Vec::new()) };
}

unsafe extern "C" fn on_read(ev: *mut ngx_event_t) {
    // SAFETY: nginx passes the read event of a connection this module opened; `c->data` is
    // the `Shared` of its stream, alive while the connection is open.
    unsafe {
        let c = (*ev).data as *mut ngx_connection_t;
        let shared = &*((*c).data as *const Shared);
        if let Some(w) = shared.reader.take() {
            w.wake();
        }
    }
}

unsafe extern "C" fn on_write(ev: *mut ngx_event_t) {
    // SAFETY: as in `on_read`, for the write event.
    unsafe {
        let c = (*ev).data as *mut ngx_connection_t;
        let shared = &*((*c).data as *const Shared);
        if let Some(w) = shared.writer.take() {
            w.wake();
        }
    }
}

unsafe extern "C" fn on_handshake(c: *mut ngx_connection_t) {
    // SAFETY: nginx calls `c->ssl->handler` with the connection whose handshake this stream
    // started; `c->data` is its `Shared`, alive while the connection is open.
    unsafe {
        let shared = &*((*c).data as *const Shared);
        shared.handshake_ended.set(true);
        for waker in [shared.reader.take(), shared.writer.take()]
            .into_iter()
            .flatten()
        {
            waker.wake();
        }
    }
}

fn sockaddr_bytes(endpoint: &Endpoint) -> io::Result<Vec<u8>> {
    match endpoint {
        Endpoint::Tcp(SocketAddr::V4(a)) => {
            // SAFETY: an all-zero sockaddr_in is valid; the fields are set below.
            let mut sin: libc::sockaddr_in = unsafe { mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            Ok(as_bytes(&sin))
        }
        Endpoint::Tcp(SocketAddr::V6(a)) => {
            // SAFETY: as above for sockaddr_in6.
            let mut sin6: libc::sockaddr_in6 = unsafe { mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            Ok(as_bytes(&sin6))
        }
        Endpoint::Unix(path) => {
            // SAFETY: as above for sockaddr_un.
            let mut sun: libc::sockaddr_un = unsafe { mem::zeroed() };
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            let bytes = path_bytes(path);
            if bytes.len() >= sun.sun_path.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "socket path too long",
                ));
            }
            for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
                *dst = *src as libc::c_char;
            }
            Ok(as_bytes(&sun))
        }
    }
}

fn path_bytes(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes()
}

fn as_bytes<T>(value: &T) -> Vec<u8> {
    // SAFETY: reads the `size_of::<T>()` bytes of a plain C struct that is fully initialised
    // (zeroed, then fields set).
    unsafe { std::slice::from_raw_parts(value as *const T as *const u8, mem::size_of::<T>()) }
        .to_vec()
}

impl PeerStream {
    /// What this stream's reads find, shared with a watcher (see [`Arrivals`]).
    pub fn arrivals(&self) -> Rc<Arrivals> {
        self.arrivals.clone()
    }

    /// Connects to `endpoint`; resolves when the socket is connected (or failed).
    pub async fn connect(endpoint: &Endpoint) -> io::Result<PeerStream> {
        let name_bytes = endpoint.to_string().into_bytes();
        let mut memory = Box::new(PeerMemory {
            // SAFETY: an all-zero ngx_peer_connection_t is its documented initial state.
            pc: unsafe { mem::zeroed() },
            sockaddr: sockaddr_bytes(endpoint)?,
            name: ngx_str_t {
                len: 0,
                data: ptr::null_mut(),
            },
            name_bytes,
        });
        memory.name = ngx_str_t {
            len: memory.name_bytes.len(),
            data: memory.name_bytes.as_mut_ptr(),
        };
        let shared = Rc::new(Shared {
            connection: Cell::new(ptr::null_mut()),
            reader: Cell::new(None),
            writer: Cell::new(None),
            pool: Cell::new(ptr::null_mut()),
            handshake_ended: Cell::new(false),
            socket_reads: SocketReads::default(),
        });
        let rc = {
            let m = &mut *memory;
            m.pc.sockaddr = m.sockaddr.as_mut_ptr() as *mut nginx_sys::sockaddr;
            m.pc.socklen = m.sockaddr.len() as nginx_sys::socklen_t;
            m.pc.name = &mut m.name;
            m.pc.get = Some(ngx_event_get_peer);
            m.pc.log = super::process::cycle_log();
            m.pc.set_log_error(nginx_sys::ngx_connection_log_error_e_NGX_ERROR_ERR as _);
            // SAFETY: `pc` is initialised with a socket address that lives in `memory`.
            unsafe { ngx_event_connect_peer(&mut m.pc) }
        };
        if rc == NGX_ERROR as ngx_int_t
            || rc == NGX_BUSY as ngx_int_t
            || rc == NGX_DECLINED as ngx_int_t
        {
            return Err(io::Error::last_os_error());
        }
        let c = memory.pc.connection;
        // SAFETY: on NGX_OK/NGX_AGAIN `pc.connection` is a new live connection that this
        // stream now owns; its handlers reach `shared` through `c->data`.
        unsafe {
            (*c).data = Rc::as_ptr(&shared) as *mut c_void;
            (*(*c).read).handler = Some(on_read);
            (*(*c).write).handler = Some(on_write);
            (*c).set_sendfile(0);
        }
        shared.connection.set(c);
        OPEN_STREAMS.with(|s| {
            let mut s = s.borrow_mut();
            s.retain(|w| w.strong_count() > 0);
            s.push(Rc::downgrade(&shared));
        });
        let stream = PeerStream {
            shared,
            _memory: memory,
            arrivals: Rc::default(),
        };
        if rc == NGX_AGAIN as ngx_int_t {
            std::future::poll_fn(|cx| stream.poll_connected(cx)).await?;
        }
        Ok(stream)
    }

    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let c = self.shared.connection.get();
        if c.is_null() {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        }
        // SAFETY: `c` is this stream's live connection.
        let ready = unsafe { (*(*c).write).ready() != 0 };
        if !ready {
            self.shared.writer.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        let mut err: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: plain getsockopt on our socket into a local int.
        let rc = unsafe {
            libc::getsockopt(
                (*c).fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut err as *mut libc::c_int as *mut c_void,
                &mut len,
            )
        };
        if rc == -1 {
            return Poll::Ready(Err(io::Error::last_os_error()));
        }
        if err != 0 {
            return Poll::Ready(Err(io::Error::from_raw_os_error(err)));
        }
        Poll::Ready(Ok(()))
    }

    /// Runs a TLS client handshake with nginx's SSL context `ssl` over this connection (SNI
    /// `server_name` if given) and returns the connection, now TLS, for the caller to check
    /// the server's certificate on. A failed handshake has been logged by nginx already.
    pub async fn handshake(
        &self,
        ssl: *mut ngx_ssl_t,
        server_name: Option<&std::ffi::CStr>,
    ) -> io::Result<*mut ngx_connection_t> {
        let c = self.connection()?;
        // SAFETY: `c` is this stream's live connection, not yet TLS; the pool made here is
        // `c->pool` for nginx's SSL state and is destroyed in `close` after the connection.
        // `ssl` is a context made at configuration time that lives as long as the cycle.
        unsafe {
            if !(*c).ssl.is_null() {
                return Err(io::Error::other("TLS handshake started twice"));
            }
            let pool = ngx_create_pool(1024, (*c).log);
            if pool.is_null() {
                return Err(io::ErrorKind::OutOfMemory.into());
            }
            (*c).pool = pool;
            self.shared.pool.set(pool);
            if ngx_ssl_create_connection(ssl, c, NGX_SSL_CLIENT as _) != NGX_OK as ngx_int_t {
                return Err(io::Error::other("cannot create the SSL connection"));
            }
            if let Some(name) = server_name {
                let rc = nginx_sys::SSL_ctrl(
                    (*(*c).ssl).connection,
                    nginx_sys::SSL_CTRL_SET_TLSEXT_HOSTNAME as _,
                    nginx_sys::TLSEXT_NAMETYPE_host_name as _,
                    name.as_ptr() as *mut c_void,
                );
                if rc != 1 {
                    return Err(io::Error::other("cannot set the server name (SNI)"));
                }
            }
        }
        std::future::poll_fn(|cx| self.poll_handshake(cx)).await?;
        // SAFETY: `c` is this stream's live connection, now TLS; `socket_reads` lives in
        // `shared`, which outlives the connection (closed in `close`, before it is dropped).
        unsafe { tls_io::watch_reads(c, &self.shared.socket_reads) };
        Ok(c)
    }

    fn poll_handshake(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let c = self.connection()?;
        // SAFETY: `c` is this stream's live connection with `c->ssl` made by `handshake`.
        unsafe {
            let handshaked = (*(*c).ssl).handshaked() != 0;
            let rc = match (handshaked, self.shared.handshake_ended.replace(false)) {
                (true, _) => NGX_OK as ngx_int_t,
                // nginx's handler ran the handshake to its end and it failed (logged there)
                (false, true) => NGX_ERROR as ngx_int_t,
                (false, false) => ngx_ssl_handshake(c),
            };
            if rc == NGX_AGAIN as ngx_int_t {
                // nginx's handshake handler now owns the events; it calls `on_handshake`
                (*(*c).ssl).handler = Some(on_handshake);
                self.shared.reader.set(Some(cx.waker().clone()));
                self.shared.writer.set(Some(cx.waker().clone()));
                return Poll::Pending;
            }
            // the events are this stream's again (nginx's handshake handler had them)
            (*(*c).read).handler = Some(on_read);
            (*(*c).write).handler = Some(on_write);
            if rc == NGX_OK as ngx_int_t {
                Poll::Ready(Ok(()))
            } else {
                Poll::Ready(Err(io::Error::other("TLS handshake failed")))
            }
        }
    }

    fn connection(&self) -> io::Result<*mut ngx_connection_t> {
        let c = self.shared.connection.get();
        if c.is_null() {
            Err(io::ErrorKind::NotConnected.into())
        } else {
            Ok(c)
        }
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let c = self.connection()?;
        // SAFETY: `c` is this stream's live connection; `recv` writes at most `remaining`
        // bytes into the unfilled part of `buf`, which `assume_init`/`advance` then account.
        unsafe {
            let unfilled = buf.unfilled_mut();
            let Some(recv) = (*c).recv else {
                return Poll::Ready(Err(io::ErrorKind::Unsupported.into()));
            };
            // Over TLS, a read leaves the read event not ready once the socket is drained (see
            // `tls_io`), and what OpenSSL holds is asked for first: with neither, wait for the
            // event instead of one more recv() that would find nothing (as nginx's plain read
            // skips it).
            let tls = !(*c).ssl.is_null() && (*(*c).ssl).handshaked() != 0;
            let drained = tls
                && (*(*c).read).ready() == 0
                && nginx_sys::SSL_has_pending((*(*c).ssl).connection) == 0;
            let into = unfilled.as_mut_ptr() as *mut u8;
            let n = match (drained, tls) {
                (true, _) => NGX_AGAIN as isize,
                (false, false) => recv(c, into, unfilled.len()),
                (false, true) => tls_io::recv(c, &self.shared.socket_reads, into, unfilled.len()),
            };
            if n == NGX_AGAIN as isize {
                self.arrivals.read_nothing();
                self.shared.reader.set(Some(cx.waker().clone()));
                if ngx_handle_read_event((*c).read, 0) != NGX_OK as ngx_int_t {
                    return Poll::Ready(Err(io::Error::other("cannot arm read event")));
                }
                return Poll::Pending;
            }
            if n == NGX_ERROR as isize {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            if n > 0 {
                buf.assume_init(n as usize);
                buf.advance(n as usize);
            }
            self.arrivals.read_bytes();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let c = self.connection()?;
        // SAFETY: `c` is this stream's live connection; `send` reads `data.len()` bytes.
        unsafe {
            let Some(send) = (*c).send else {
                return Poll::Ready(Err(io::ErrorKind::Unsupported.into()));
            };
            let tls = !(*c).ssl.is_null() && (*(*c).ssl).handshaked() != 0;
            let n = match tls {
                false => send(c, data.as_ptr() as *mut u8, data.len()),
                true => tls_io::send(c, data.as_ptr() as *mut u8, data.len()),
            };
            if n == NGX_AGAIN as isize {
                self.shared.writer.set(Some(cx.waker().clone()));
                if ngx_handle_write_event((*c).write, 0) != NGX_OK as ngx_int_t {
                    return Poll::Ready(Err(io::Error::other("cannot arm write event")));
                }
                return Poll::Pending;
            }
            if n < 0 {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            Poll::Ready(Ok(n as usize))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        close(&self.shared);
        Poll::Ready(Ok(()))
    }
}

fn close(shared: &Shared) {
    let c = shared.connection.replace(ptr::null_mut());
    if !c.is_null() {
        // SAFETY: `c` was this stream's open connection and is closed exactly once (the
        // pointer was swapped out above). A TLS session is shut down without waiting for
        // the server's answer, as nginx's upstreams do, which frees it.
        unsafe {
            if !(*c).ssl.is_null() {
                (*(*c).ssl).set_no_wait_shutdown(1);
                let _ = ngx_ssl_shutdown(c);
            }
            ngx_close_connection(c);
        }
    }
    let pool = shared.pool.replace(ptr::null_mut());
    if !pool.is_null() {
        // SAFETY: the pool made by `handshake` for this connection, which is closed now;
        // destroyed exactly once (swapped out above).
        unsafe { ngx_destroy_pool(pool) };
    }
    shared.reader.take();
    shared.writer.take();
}

impl Drop for PeerStream {
    fn drop(&mut self) {
        close(&self.shared);
    }
}

/// Closes every database socket of this worker (the `exit_process` hook).
pub fn close_all() {
    let streams = OPEN_STREAMS.with(|s| mem::take(&mut *s.borrow_mut()));
    for shared in streams.iter().filter_map(Weak::upgrade) {
        close(&shared);
    }
}

#[cfg(test)]
mod tests {
    use super::Arrivals;

    #[test]
    fn arrivals_are_unsettled_until_a_read_finds_the_socket_drained() {
        let a = Arrivals::default();
        assert!(!a.unsettled(), "nothing read yet");
        a.read_nothing();
        assert!(!a.unsettled(), "only an empty read");
        a.read_bytes();
        // the layer above stopped before asking the socket again: look, and look again later
        assert!(a.unsettled());
        assert!(a.unsettled());
        a.read_nothing();
        assert!(a.unsettled(), "drained after the bytes: one last look");
        assert!(!a.unsettled(), "settled");
        a.read_bytes();
        a.read_nothing();
        a.read_bytes();
        assert!(a.unsettled(), "bytes after the drained read");
        assert!(a.unsettled());
    }
}

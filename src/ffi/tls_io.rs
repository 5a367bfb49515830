//! Reads and writes of a database connection after its TLS handshake: what nginx's
//! `ngx_ssl_recv` and `ngx_ssl_write` do (same results, same flags of the connection, errors
//! logged the same way), less two costs they pay on every call, which on a connection that
//! carries one small record per statement answer were a large part of each request's work:
//!
//! - they empty OpenSSL's error queue before each call (`ERR_clear_error`, some thousand
//!   instructions with OpenSSL 3): here only when it holds something, which the call's outcome
//!   would otherwise be misread by. Checking that it is empty is a third of the cost.
//! - `ngx_ssl_recv` calls `SSL_read` again after each record, until one finds the socket empty
//!   (a `recv` that fails and the error handling after it). Here one `SSL_read` per call, and
//!   the socket is known to be empty when OpenSSL's last socket read got less than it asked
//!   for (noted by a callback on the BIO it reads the socket with): then, as nginx's own plain reads do, the
//!   read event is no longer ready, and the next read waits for the event that says more
//!   arrived (edge-triggered: bytes that arrive after that short read raise it).
//!
//! Anything unusual (a connection nginx has marked done or failed, a read that waits for a
//! write or a write that waits for a read, early data) goes to nginx's own functions.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_long};

use nginx_sys::{
    ngx_connection_t, ngx_ssl_error, ngx_ssl_recv, ngx_ssl_write, BIO_get_callback_arg,
    BIO_new_socket, BIO_set_callback_arg, BIO_set_callback_ex, ERR_peek_error, SSL_get_error,
    SSL_has_pending, SSL_read, SSL_set0_rbio, SSL_write, BIO, BIO_CB_READ, BIO_CB_RETURN,
    BIO_NOCLOSE, NGX_AGAIN, NGX_DONE, NGX_ERROR, NGX_LOG_ERR, NGX_OK, SSL_ERROR_SYSCALL,
    SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE, SSL_ERROR_ZERO_RETURN,
};

/// What OpenSSL's last socket read found, for the connection whose BIO reports to it.
#[derive(Default)]
pub struct SocketReads {
    /// It got less than it asked for, or nothing: the socket held no more at that moment.
    drained: Cell<bool>,
}

/// The socket BIO's callback: notes, after each read, whether it emptied the socket. Returns
/// what the operation returned, as a callback that changes nothing must.
unsafe extern "C" fn on_bio(
    b: *mut BIO,
    oper: c_int,
    _argp: *const c_char,
    len: usize,
    _argi: c_int,
    _argl: c_long,
    ret: c_int,
    processed: *mut usize,
) -> c_long {
    if oper == (BIO_CB_READ | BIO_CB_RETURN) as c_int {
        // SAFETY: the callback's argument is the `SocketReads` that `watch_reads` installed,
        // which outlives the connection (and so its BIO); `processed` is OpenSSL's count of
        // the bytes read, set when `ret` is positive.
        unsafe {
            let reads = &*(BIO_get_callback_arg(b) as *const SocketReads);
            let got = match ret > 0 && !processed.is_null() {
                true => Some(*processed),
                false => None,
            };
            reads.drained.set(emptied(len, got));
        }
    }
    ret as c_long
}

/// Whether a socket read that asked for `asked` bytes and got `got` (`None`: nothing, or it
/// failed) left the socket empty: a stream socket gives what it holds, up to what is asked.
fn emptied(asked: usize, got: Option<usize>) -> bool {
    got.is_none_or(|got| got < asked)
}

/// Whether the socket may hold more after a read that returned bytes: its last socket read did
/// not empty it, OpenSSL holds bytes not yet returned, or the peer's close was announced
/// (EPOLLRDHUP), to be read at once as `ngx_unix_recv` does.
fn more_to_read(drained: bool, openssl_holds: bool, pending_eof: bool) -> bool {
    !drained || openssl_holds || pending_eof
}

/// Gives the TLS connection `c` a socket BIO of its own for reading, which reports its reads
/// to `reads`. Writes keep nginx's BIO, without a callback: OpenSSL asks its BIO a handful of
/// questions (`BIO_ctrl`) per record written, and each would call the callback twice.
/// Without a BIO of its own (no memory), reads are as nginx's: the socket is never taken
/// for drained, and a read that finds it so is one `SSL_read` more.
///
/// # Safety
/// `c` is a live connection with `c->ssl` set; `reads` stays where it is, alive, until the
/// connection is closed.
pub unsafe fn watch_reads(c: *mut ngx_connection_t, reads: &SocketReads) {
    // SAFETY: the caller's promises. The new BIO reads the connection's fd and does not close
    // it (nginx does); `SSL_set0_rbio` gives it to the SSL object, which frees it, and drops
    // the SSL object's read reference to nginx's BIO, which stays its write BIO.
    unsafe {
        let bio = BIO_new_socket((*c).fd, BIO_NOCLOSE as c_int);
        if bio.is_null() {
            return;
        }
        BIO_set_callback_arg(bio, reads as *const SocketReads as *mut c_char);
        BIO_set_callback_ex(bio, Some(on_bio));
        SSL_set0_rbio((*(*c).ssl).connection, bio);
    }
}

/// Whether nginx's own function should do this call: the connection is in a state only it
/// handles, or OpenSSL's error queue holds errors (nginx logs them as stale, then clears them,
/// so that they are not taken for this call's).
///
/// # Safety
/// `c` is a live connection with `c->ssl` set.
unsafe fn nginx_does_it(c: *mut ngx_connection_t) -> bool {
    // SAFETY: the caller's promise.
    unsafe {
        let s = &*(*c).ssl;
        s.last == NGX_ERROR as isize
            || s.last == NGX_DONE as isize
            || s.saved_read_handler.is_some()
            || s.saved_write_handler.is_some()
            || s.in_early() != 0
            || ERR_peek_error() != 0
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Reads up to `size` bytes into `buf`, with `ngx_ssl_recv`'s results: bytes read, 0 at the
/// end of the stream, `NGX_AGAIN` (the read event is then not ready) or `NGX_ERROR` (logged).
///
/// # Safety
/// `c` is a live connection with `c->ssl` set whose BIO reports to `reads` ([`watch_reads`]);
/// `buf` has room for `size` bytes.
pub unsafe fn recv(
    c: *mut ngx_connection_t,
    reads: &SocketReads,
    buf: *mut u8,
    size: usize,
) -> isize {
    // SAFETY: the caller's promises; the fields set are those `ngx_ssl_recv` sets.
    unsafe {
        if nginx_does_it(c) {
            return ngx_ssl_recv(c, buf, size);
        }
        let ssl = (*(*c).ssl).connection;
        let rev = (*c).read;
        reads.drained.set(false);
        let n = SSL_read(ssl, buf as *mut _, size.min(c_int::MAX as usize) as c_int);
        if n > 0 {
            (*(*c).ssl).last = NGX_OK as isize;
            let more = more_to_read(
                reads.drained.get(),
                SSL_has_pending(ssl) != 0,
                (*rev).pending_eof() != 0,
            );
            (*rev).set_ready(more as _);
            return n as isize;
        }
        let sslerr = SSL_get_error(ssl, n) as u32;
        let err = match sslerr {
            SSL_ERROR_SYSCALL => errno(),
            _ => 0,
        };
        match sslerr {
            SSL_ERROR_WANT_READ => {
                (*(*c).ssl).last = NGX_AGAIN as isize;
                (*rev).set_ready(0);
                NGX_AGAIN as isize
            }
            // the read waits for a write: nginx arranges for the write event to resume it
            SSL_ERROR_WANT_WRITE => ngx_ssl_recv(c, buf, size),
            _ => {
                let s = &mut *(*c).ssl;
                s.set_no_wait_shutdown(1);
                s.set_no_send_shutdown(1);
                (*rev).set_ready(0);
                if sslerr == SSL_ERROR_ZERO_RETURN || ERR_peek_error() == 0 {
                    s.last = NGX_DONE as isize;
                    (*rev).set_eof(1);
                    return 0;
                }
                ngx_ssl_error(
                    NGX_LOG_ERR as _,
                    (*c).log,
                    err,
                    c"SSL_read() failed".as_ptr() as *mut _,
                );
                s.last = NGX_ERROR as isize;
                (*rev).set_error(1);
                NGX_ERROR as isize
            }
        }
    }
}

/// Writes up to `size` bytes of `data`, with `ngx_ssl_write`'s results: bytes written,
/// `NGX_AGAIN` (the write event is then not ready) or `NGX_ERROR` (logged).
///
/// # Safety
/// `c` is a live connection with `c->ssl` set; `data` holds `size` bytes.
pub unsafe fn send(c: *mut ngx_connection_t, data: *mut u8, size: usize) -> isize {
    // SAFETY: the caller's promises; the fields set are those `ngx_ssl_write` sets.
    unsafe {
        if size == 0 || nginx_does_it(c) {
            return ngx_ssl_write(c, data, size);
        }
        let ssl = (*(*c).ssl).connection;
        let n = SSL_write(
            ssl,
            data as *const _,
            size.min(c_int::MAX as usize) as c_int,
        );
        if n > 0 {
            (*c).sent += n as nginx_sys::off_t;
            return n as isize;
        }
        let sslerr = SSL_get_error(ssl, n) as u32;
        let err = match sslerr {
            SSL_ERROR_SYSCALL | SSL_ERROR_ZERO_RETURN => errno(),
            _ => 0,
        };
        match sslerr {
            SSL_ERROR_WANT_WRITE => {
                (*(*c).write).set_ready(0);
                NGX_AGAIN as isize
            }
            // the write waits for a read: nginx arranges for the read event to resume it
            SSL_ERROR_WANT_READ => ngx_ssl_write(c, data, size),
            _ => {
                let s = &mut *(*c).ssl;
                s.set_no_wait_shutdown(1);
                s.set_no_send_shutdown(1);
                (*(*c).write).set_error(1);
                ngx_ssl_error(
                    NGX_LOG_ERR as _,
                    (*c).log,
                    err,
                    c"SSL_write() failed".as_ptr() as *mut _,
                );
                NGX_ERROR as isize
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_read_that_got_less_than_it_asked_emptied_the_socket() {
        assert!(emptied(17_000, Some(240)));
        assert!(emptied(17_000, None), "nothing there (EAGAIN), or the end");
        assert!(
            !emptied(17_000, Some(17_000)),
            "a full read: there may be more"
        );
    }

    #[test]
    fn the_read_event_stays_ready_while_the_socket_or_openssl_may_hold_more() {
        assert!(
            !more_to_read(true, false, false),
            "drained: wait for the event"
        );
        assert!(more_to_read(false, false, false), "the last read was full");
        assert!(
            more_to_read(true, true, false),
            "OpenSSL holds a record or part of one"
        );
        assert!(
            more_to_read(true, false, true),
            "the peer closed: read the end now"
        );
    }
}

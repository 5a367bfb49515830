//! TLS to PostgreSQL on nginx's own OpenSSL: the SSL context of a `music_database` setting
//! (made when the configuration is read, like `proxy_ssl_*`), and tokio-postgres's
//! `TlsConnect` / `TlsStream` over a [`PeerStream`].
//!
//! tokio-postgres sends the SSLRequest itself and calls [`PgTls`] only after the server's
//! `'S'`; the handshake then runs on nginx's event loop ([`PeerStream::handshake`]). nginx's
//! verify callback lets every handshake finish, so the chain's result is checked here
//! (`SSL_get_verify_result`), and the host name with `ngx_ssl_check_host` for `verify-full`.
//! No TLS library is linked into the module: every OpenSSL symbol resolves from the nginx
//! binary's own libssl.

use std::cell::Cell;
use std::ffi::{c_void, CStr, CString};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::ptr;
use std::rc::Rc;
use std::task::{Context, Poll};

use nginx_sys::{
    ngx_conf_t, ngx_connection_t, ngx_int_t, ngx_pcalloc, ngx_pnalloc, ngx_pool_cleanup_add,
    ngx_ssl_certificate, ngx_ssl_check_host, ngx_ssl_cleanup_ctx, ngx_ssl_create, ngx_ssl_crl,
    ngx_ssl_t, ngx_ssl_trusted_certificate, ngx_str_t, NGX_SSL_TLSv1_2, NGX_SSL_TLSv1_3, NGX_OK,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};

use super::peer::PeerStream;
use crate::conf::tls::{RootCert, SslMode, TlsPolicy};

/// OpenSSL's own limit on a chain's length; libpq sets none of its own.
const VERIFY_DEPTH: ngx_int_t = 100;

/// nginx's SSL context of one `music_database` setting, in the configuration's pool (freed
/// with it by `ngx_ssl_cleanup_ctx`).
#[derive(Clone, Copy)]
pub struct TlsContext(*mut ngx_ssl_t);

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsContext")
    }
}

/// `s` as an `ngx_str_t` in `cf`'s pool, NUL-terminated (nginx prints some as `%s`).
///
/// # Safety
/// `cf` is the live configuration being read.
unsafe fn conf_str(cf: *mut ngx_conf_t, s: &str) -> Result<ngx_str_t, String> {
    // SAFETY: the caller's `cf`; `s.len() + 1` bytes are allocated and written.
    unsafe {
        let data = ngx_pnalloc((*cf).pool, s.len() + 1) as *mut u8;
        if data.is_null() {
            return Err("out of memory".into());
        }
        ptr::copy_nonoverlapping(s.as_ptr(), data, s.len());
        *data.add(s.len()) = 0;
        Ok(ngx_str_t { len: s.len(), data })
    }
}

impl TlsContext {
    /// Makes the context for `policy`: protocols TLSv1.2 and TLSv1.3, the client certificate,
    /// the trusted CAs and the CRL. File errors are logged by nginx (`[emerg] cannot load
    /// certificate ...`); the returned message names the parameter.
    ///
    /// # Safety
    /// `cf` is the live configuration being read (a directive handler's `cf`).
    pub unsafe fn create(cf: *mut ngx_conf_t, policy: &TlsPolicy) -> Result<TlsContext, String> {
        // SAFETY: the caller's `cf`; the `ngx_ssl_t` is zeroed memory of the configuration's
        // pool, set up by `ngx_ssl_create` and freed by the cleanup registered right after.
        unsafe {
            let ssl = ngx_pcalloc((*cf).pool, std::mem::size_of::<ngx_ssl_t>()) as *mut ngx_ssl_t;
            if ssl.is_null() {
                return Err("out of memory".into());
            }
            (*ssl).log = (*cf).log;
            let protocols = (NGX_SSL_TLSv1_2 | NGX_SSL_TLSv1_3) as _;
            if ngx_ssl_create(ssl, protocols, ptr::null_mut()) != NGX_OK as ngx_int_t {
                return Err("cannot create an SSL context".into());
            }
            let cleanup = ngx_pool_cleanup_add((*cf).pool, 0);
            if cleanup.is_null() {
                ngx_ssl_cleanup_ctx(ssl as *mut c_void);
                return Err("out of memory".into());
            }
            (*cleanup).handler = Some(ngx_ssl_cleanup_ctx);
            (*cleanup).data = ssl as *mut c_void;
            // Records are read with what the socket has, not header and body apart: a
            // session carries many small pipelined answers, each a record or a few.
            nginx_sys::SSL_CTX_ctrl(
                (*ssl).ctx,
                nginx_sys::SSL_CTRL_SET_READ_AHEAD as _,
                1,
                ptr::null_mut(),
            );
            // The read and write buffers stay with the connection: nginx's default releases
            // them whenever they are empty (for many idle client connections), so every record
            // of a busy database connection, and every read that finds nothing, allocated and
            // freed its 17k buffer again. A worker holds a few database connections only.
            nginx_sys::SSL_CTX_ctrl(
                (*ssl).ctx,
                nginx_sys::SSL_CTRL_CLEAR_MODE as _,
                nginx_sys::SSL_MODE_RELEASE_BUFFERS as _,
                ptr::null_mut(),
            );
            // A write that OpenSSL suspends (WANT_WRITE) is retried with the client's write
            // buffer as it is then: while the socket is full the client may append its next
            // messages to that buffer, which can reallocate it, and OpenSSL would refuse the
            // retry from the new address ("bad write retry") and the connection would be
            // lost. The bytes already taken are still at its start, so the moved buffer is a
            // valid retry. (nginx's own writes copy into a buffer of the connection instead.)
            nginx_sys::SSL_CTX_ctrl(
                (*ssl).ctx,
                nginx_sys::SSL_CTRL_MODE as _,
                nginx_sys::SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER as _,
                ptr::null_mut(),
            );

            if let Some((cert, key)) = &policy.client_cert {
                let (mut cert_s, mut key_s) = (conf_str(cf, cert)?, conf_str(cf, key)?);
                let rc = ngx_ssl_certificate(cf, ssl, &mut cert_s, &mut key_s, ptr::null_mut());
                if rc != NGX_OK as ngx_int_t {
                    return Err(format!(
                        "cannot use sslcert \"{cert}\" with sslkey \"{key}\""
                    ));
                }
            }
            match &policy.root_cert {
                Some(RootCert::File(file)) => {
                    let mut file_s = conf_str(cf, file)?;
                    let rc = ngx_ssl_trusted_certificate(cf, ssl, &mut file_s, VERIFY_DEPTH);
                    if rc != NGX_OK as ngx_int_t {
                        return Err(format!("cannot load sslrootcert \"{file}\""));
                    }
                }
                Some(RootCert::System) => {
                    let mut none = conf_str(cf, "")?;
                    let rc = ngx_ssl_trusted_certificate(cf, ssl, &mut none, VERIFY_DEPTH);
                    if rc != NGX_OK as ngx_int_t
                        || nginx_sys::SSL_CTX_set_default_verify_paths((*ssl).ctx) != 1
                    {
                        return Err("cannot load the system's CA certificates \
                                    (sslrootcert=system)"
                            .into());
                    }
                }
                None => {}
            }
            if let Some(crl) = &policy.crl {
                let mut crl_s = conf_str(cf, crl)?;
                if ngx_ssl_crl(cf, ssl, &mut crl_s) != NGX_OK as ngx_int_t {
                    return Err(format!("cannot load sslcrl \"{crl}\""));
                }
            }
            Ok(TlsContext(ssl))
        }
    }
}

/// tokio-postgres's connector for one connection attempt to `host`.
#[derive(Clone)]
pub struct PgTls {
    context: TlsContext,
    host: String,
    mode: SslMode,
    sni: bool,
    /// Set once the server has said `'S'` and the handshake began (for `sslmode=prefer`,
    /// which then retries in clear text if the attempt fails).
    started: Rc<Cell<bool>>,
}

impl PgTls {
    pub fn new(context: TlsContext, host: &str, policy: &TlsPolicy) -> PgTls {
        PgTls {
            context,
            host: host.to_owned(),
            mode: policy.mode,
            sni: policy.sni,
            started: Rc::new(Cell::new(false)),
        }
    }

    /// Whether this attempt got as far as a TLS handshake.
    pub fn started(&self) -> Rc<Cell<bool>> {
        self.started.clone()
    }
}

impl TlsConnect<PeerStream> for PgTls {
    type Stream = PgTlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<PgTlsStream>>>>;

    fn connect(self, stream: PeerStream) -> Self::Future {
        self.started.set(true);
        Box::pin(async move {
            let host = self.host.as_str();
            let failed = |why: &str| io::Error::other(format!("TLS to \"{host}\": {why}"));
            // SNI carries names only, never addresses (RFC 6066)
            let is_address = host.parse::<IpAddr>().is_ok();
            let sni = match self.sni && !is_address {
                true => Some(CString::new(host).map_err(|_| failed("bad host name"))?),
                false => None,
            };
            let c = stream
                .handshake(self.context.0, sni.as_deref())
                .await
                .map_err(|e| failed(&e.to_string()))?;
            if self.mode.verifies() {
                verify(c, host, self.mode == SslMode::VerifyFull).map_err(|why| failed(&why))?;
            }
            let end_point = server_end_point(c);
            Ok(PgTlsStream {
                inner: stream,
                end_point,
            })
        })
    }
}

/// The server's certificate chain (and, for `verify-full`, its name) after the handshake.
fn verify(c: *mut ngx_connection_t, host: &str, check_name: bool) -> Result<(), String> {
    // SAFETY: `c` is a live connection whose TLS handshake has just succeeded (`c->ssl` set).
    unsafe {
        let ssl = (*(*c).ssl).connection;
        let rc = nginx_sys::SSL_get_verify_result(ssl);
        if rc != nginx_sys::X509_V_OK as std::ffi::c_long {
            let why = CStr::from_ptr(nginx_sys::X509_verify_cert_error_string(rc));
            return Err(format!(
                "certificate verify failed: {}",
                why.to_string_lossy()
            ));
        }
        if !check_name {
            return Ok(());
        }
        let matches = if host.parse::<IpAddr>().is_ok() {
            // an address is matched against the certificate's IP address entries
            let cert = nginx_sys::SSL_get1_peer_certificate(ssl);
            let address = CString::new(host).map_err(|_| "bad host name".to_owned())?;
            let ok =
                !cert.is_null() && nginx_sys::X509_check_ip_asc(cert, address.as_ptr(), 0) == 1;
            nginx_sys::X509_free(cert);
            ok
        } else {
            let mut name = ngx_str_t {
                len: host.len(),
                data: host.as_ptr() as *mut u8,
            };
            ngx_ssl_check_host(c, &mut name) == NGX_OK as ngx_int_t
        };
        match matches {
            true => Ok(()),
            false => Err(format!(
                "the server's certificate does not match host name \"{host}\""
            )),
        }
    }
}

/// `tls-server-end-point` channel binding data: the hash of the server's certificate with
/// the hash function of its signature, SHA-256 where that is MD5 or SHA-1.
fn server_end_point(c: *mut ngx_connection_t) -> Option<Vec<u8>> {
    // SAFETY: `c` is a live connection after a successful handshake; the certificate
    // reference taken by `SSL_get1_peer_certificate` is released below; `X509_digest`
    // writes at most `EVP_MAX_MD_SIZE` bytes.
    unsafe {
        let cert = nginx_sys::SSL_get1_peer_certificate((*(*c).ssl).connection);
        if cert.is_null() {
            return None;
        }
        let mut digest_nid = 0;
        let mut key_nid = 0;
        let signature = nginx_sys::X509_get_signature_nid(cert);
        let found = nginx_sys::OBJ_find_sigid_algs(signature, &mut digest_nid, &mut key_nid) == 1;
        let md = match digest_nid as u32 {
            _ if !found => ptr::null(),
            nginx_sys::NID_md5 | nginx_sys::NID_sha1 => nginx_sys::EVP_sha256(),
            nginx_sys::NID_undef => ptr::null(),
            _ => nginx_sys::EVP_get_digestbyname(nginx_sys::OBJ_nid2sn(digest_nid)),
        };
        let mut hash = vec![0u8; nginx_sys::EVP_MAX_MD_SIZE as usize];
        let mut len = 0;
        let ok =
            !md.is_null() && nginx_sys::X509_digest(cert, md, hash.as_mut_ptr(), &mut len) == 1;
        nginx_sys::X509_free(cert);
        ok.then(|| {
            hash.truncate(len as usize);
            hash
        })
    }
}

/// A [`PeerStream`] after its TLS handshake (reads and writes go through nginx's SSL
/// functions now).
pub struct PgTlsStream {
    inner: PeerStream,
    end_point: Option<Vec<u8>>,
}

impl TlsStream for PgTlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        match &self.end_point {
            Some(hash) => ChannelBinding::tls_server_end_point(hash.clone()),
            None => ChannelBinding::none(),
        }
    }
}

impl AsyncRead for PgTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PgTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

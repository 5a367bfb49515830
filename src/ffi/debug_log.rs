//! The service layer's decision lines ([`Trace`]) on a request's log, at nginx's debug level
//! for HTTP (`error_log ... debug` on an nginx built `--with-debug`).

use std::fmt;

use nginx_sys::ngx_log_t;
use ngx::ngx_log_debug;

use crate::service::trace::Trace;

/// The request's log, at debug level, for the service layer's decision lines.
#[derive(Clone, Copy)]
pub struct DebugLog(pub *mut ngx_log_t);

impl Trace for DebugLog {
    fn enabled(&self) -> bool {
        // SAFETY: the log of a live request's connection (the task ends with the request).
        ngx::log::DEBUG
            && unsafe { (*self.0).log_level } & nginx_sys::NGX_LOG_DEBUG_HTTP as usize != 0
    }
    fn line(&self, args: fmt::Arguments<'_>) {
        ngx_log_debug!(mask: ngx::log::DebugMask::Http, self.0, "{}", args);
    }
}

//! Debug lines at the request's decision points (route, auth cache, pool lease, statement,
//! stream end): the service layer writes them through [`Trace`], which the nginx glue
//! implements with the request's log at debug level (`error_log ... debug` on an nginx built
//! `--with-debug`), so they cost one check when debug logging is off.

use std::fmt;

/// Where the decision lines of one request go.
pub trait Trace {
    /// Whether a line would be written at all (formatting is skipped otherwise).
    fn enabled(&self) -> bool;
    fn line(&self, args: fmt::Arguments<'_>);
}

/// Writes one decision line when `$trace` is enabled.
macro_rules! trace_line {
    ($trace:expr, $($arg:tt)+) => {{
        let t = $trace;
        if $crate::service::trace::Trace::enabled(t) {
            $crate::service::trace::Trace::line(t, format_args!($($arg)+));
        }
    }};
}
pub(crate) use trace_line as trace;

/// No tracing (for work that belongs to no request).
pub struct Silent;

impl Trace for Silent {
    fn enabled(&self) -> bool {
        false
    }
    fn line(&self, _: fmt::Arguments<'_>) {}
}

/// The lines written, for the unit tests of the decisions.
#[cfg(test)]
#[derive(Default)]
pub struct Recorded(pub std::cell::RefCell<Vec<String>>);

#[cfg(test)]
impl Trace for Recorded {
    fn enabled(&self) -> bool {
        true
    }
    fn line(&self, args: fmt::Arguments<'_>) {
        self.0.borrow_mut().push(args.to_string());
    }
}

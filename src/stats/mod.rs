//! Live page views (PV) and unique visitors (UV), per day and per route, kept by nginx itself
//! in a shared memory zone and served as JSON: no access-log crunching (`build/pvuv` does the
//! same from the log, after the fact).
//!
//! ```nginx
//! http {
//!     music_stats_zone music_stats:1m;       # 7 days of counters, shared by the workers
//!     server {
//!         music_stats_count music_stats;      # count every request of this server...
//!         location /nginx/stats {
//!             music_stats music_stats;        # ...and serve them here
//!             music_stats_count off;          # (the page itself does not count)
//!             auth_basic "NginxStatus";
//!             auth_basic_user_file htpasswd;
//!         }
//!     }
//! }
//! ```
//!
//! Directives:
//!
//! | directive | default | context |
//! |---|---|---|
//! | `music_stats_zone <name>:<size>;` | — | http |
//! | `music_stats_count <name> \| off;` | off | http, server, location |
//! | `music_stats <name>;` | — | location |
//!
//! - What counts: every request that reaches nginx's log phase in a place where
//!   `music_stats_count` names a zone (it is inherited like nginx's own directives): static
//!   files, API calls, redirects, errors, requests refused by `auth_basic` or `limit_req`.
//!   That is the requests the access log has (whatever `access_log` says), so PV agrees with
//!   `build/pvuv` for the same requests.
//! - PV: requests. UV: distinct client addresses (`$binary_remote_addr`, so the realip
//!   module's address when it is configured), estimated with a HyperLogLog sketch
//!   ([`hll`]): standard error ±1.6%, exact up to about 10 visitors.
//! - Per day in nginx's local time (the time zone of `$time_local`, so the days are those of
//!   the access log), and per route ([`handler::route_key`]): the name of the location that
//!   finished the request (after `error_page` and other internal redirects), for a
//!   `music_api` location the DRF route (`/api/musics/{id}/`...), and `(server)` for a
//!   request no location took (no location matched, or a 400 before one was chosen).
//! - Fixed memory: the zone holds a header and as many days as fit, at most 366 (1m: 7 days,
//!   2m: 14; each day takes 136 KiB); 31 routes, then `(other)`. See [`zone`].
//! - Reloads keep the counters: nginx hands a zone of the same name and size over to the new
//!   configuration. A new size starts from zero (as for every nginx zone), and a restart too.
//! - The page: see [`json`]; `?days=N` shows the last N days only; GET and HEAD (405
//!   otherwise). `music_stats_count off` means off even if a zone is named `off`.
//! - Cost: a hash, the zone's lock and a few increments per request, in the log phase (about
//!   5% of a bare `return 204` on 2 cores, and nothing measurable next to an API call).

pub mod handler;
pub mod hll;
pub mod json;
pub mod zone;

use std::ffi::{c_char, c_void};
use std::ptr;

use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_http_conf_ctx_t, ngx_http_handler_pt,
    ngx_http_phases_NGX_HTTP_LOG_PHASE, ngx_int_t, ngx_str_t, ngx_uint_t, NGX_CONF_TAKE1,
    NGX_ERROR, NGX_HTTP_LOC_CONF, NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG, NGX_OK,
};
use ngx::core::NGX_CONF_ERROR;
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule};
use ngx::{ngx_conf_log_error, ngx_string};

use crate::conf::LocationConf;
use zone::{ZoneError, ZoneRef};

/// Whether, and where, a location's requests are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    Off,
    Into(ZoneRef),
}

/// The stats part of a location's configuration (a field of [`LocationConf`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsConf {
    /// `music_stats_count`; None: not set at this level.
    pub count: Option<Counting>,
    /// `music_stats`: the zone this location's page shows.
    pub serve: Option<ZoneRef>,
}

impl StatsConf {
    /// Inherits what this level does not set (the default, off, is `None` all the way up).
    pub fn merge_from(&mut self, prev: &StatsConf) {
        if self.count.is_none() {
            self.count = prev.count;
        }
        if self.serve.is_none() {
            self.serve = prev.serve;
        }
    }
}

const LOC_CONF_OFFSET: ngx_uint_t = std::mem::offset_of!(ngx_http_conf_ctx_t, loc_conf);
const NGX_CONF_OK: *mut c_char = ptr::null_mut();

/// The directives, for the module's table (`conf::directives::COMMANDS`).
pub const COMMANDS: [ngx_command_t; 3] = [
    ngx_command_t {
        name: ngx_string!("music_stats_zone"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_zone),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("music_stats_count"),
        type_: (NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1)
            as ngx_uint_t,
        set: Some(set_count),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("music_stats"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(set_stats),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
];

/// `1024`, `64k`, `1m`, `1g`: what nginx's `ngx_parse_size` accepts.
pub fn parse_size(s: &str) -> Option<usize> {
    let (digits, scale) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1usize << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<usize>().ok()?.checked_mul(scale)
}

/// `name:size` of `music_stats_zone`, split at the first colon.
pub fn split_zone_arg(arg: &str) -> Option<(&str, &str)> {
    let (name, size) = arg.split_once(':')?;
    (!name.is_empty()).then_some((name, size))
}

/// The directive's arguments as nginx holds them (name first).
unsafe fn args<'a>(cf: *mut ngx_conf_t) -> &'a [ngx_str_t] {
    // SAFETY: while a directive is parsed `cf->args` is an array of `nelts` ngx_str_t in the
    // configuration pool.
    unsafe {
        let a = &*(*cf).args;
        std::slice::from_raw_parts(a.elts as *const ngx_str_t, a.nelts)
    }
}

fn text(s: &ngx_str_t) -> String {
    if s.len == 0 || s.data.is_null() {
        return String::new();
    }
    // SAFETY: configuration strings point at `len` bytes of the configuration pool.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(s.data, s.len) }).into_owned()
}

unsafe fn conf_of<'a>(conf: *mut c_void) -> &'a mut LocationConf {
    // SAFETY: nginx passes the location configuration this module created for this level.
    unsafe { &mut *(conf as *mut LocationConf) }
}

fn duplicate(cf: *mut ngx_conf_t, name: &str) -> *mut c_char {
    ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{}\" directive is duplicate", name);
    NGX_CONF_ERROR
}

/// A zone name taken from an argument: the bytes stay in the configuration pool.
unsafe fn zone_reference(cf: *mut ngx_conf_t, arg: ngx_str_t, directive: &str) -> Option<ZoneRef> {
    if arg.len == 0 {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "invalid zone name \"\" in \"{}\" directive",
            directive
        );
        return None;
    }
    // SAFETY: `cf` is being parsed; the name points into its pool (caller).
    unsafe { ZoneRef::reference(cf, arg) }
}

unsafe extern "C" fn set_zone(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls setters with a valid `cf` holding the directive's arguments.
    let a = unsafe { args(cf) };
    let (directive, value) = (text(&a[0]), text(&a[1]));
    let Some((name, size_text)) = split_zone_arg(&value) else {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "invalid value \"{}\" in \"{}\" directive: expected <name>:<size>, e.g. \"music_stats:1m\"",
            value,
            directive
        );
        return NGX_CONF_ERROR;
    };
    let Some(size) = parse_size(size_text) else {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "invalid zone size \"{}\" in \"{}\" directive",
            size_text,
            directive
        );
        return NGX_CONF_ERROR;
    };
    if zone::days_for_size(size) == 0 {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "zone \"{}\" is too small in \"{}\" directive: {} holds no day of counters, at least {}k is needed",
            name,
            directive,
            size_text,
            zone::min_size().div_ceil(1024)
        );
        return NGX_CONF_ERROR;
    }
    // the name's bytes: the start of the argument, in the configuration pool
    let arg = ngx_str_t {
        len: name.len(),
        data: a[1].data,
    };
    // SAFETY: `cf` is being parsed and `arg` points into its pool.
    match unsafe { ZoneRef::define(cf, arg, size) } {
        Ok(_) => NGX_CONF_OK,
        Err(ZoneError::Duplicate) => {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "duplicate zone \"{}\" in \"{}\" directive",
                name,
                directive
            );
            NGX_CONF_ERROR
        }
        Err(ZoneError::Refused) => NGX_CONF_ERROR,
    }
}

unsafe extern "C" fn set_count(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_zone`; `conf` is this module's configuration of the level.
    let (a, conf) = unsafe { (args(cf), conf_of(conf)) };
    let directive = text(&a[0]);
    if conf.stats.count.is_some() {
        return duplicate(cf, &directive);
    }
    if text(&a[1]) == "off" {
        conf.stats.count = Some(Counting::Off);
        return NGX_CONF_OK;
    }
    // SAFETY: as above.
    match unsafe { zone_reference(cf, a[1], &directive) } {
        Some(zone) => {
            conf.stats.count = Some(Counting::Into(zone));
            NGX_CONF_OK
        }
        None => NGX_CONF_ERROR,
    }
}

unsafe extern "C" fn set_stats(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_count`.
    let (a, conf) = unsafe { (args(cf), conf_of(conf)) };
    let directive = text(&a[0]);
    if conf.stats.serve.is_some() {
        return duplicate(cf, &directive);
    }
    if conf.api {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"{}\" and \"music_api\" cannot share a location",
            directive
        );
        return NGX_CONF_ERROR;
    }
    // SAFETY: inside a location block the core module's location configuration exists.
    let Some(clcf) = (unsafe { NgxHttpCoreModule::location_conf_mut(&*cf) }) else {
        return NGX_CONF_ERROR;
    };
    // SAFETY: as above.
    let Some(zone) = (unsafe { zone_reference(cf, a[1], &directive) }) else {
        return NGX_CONF_ERROR;
    };
    conf.stats.serve = Some(zone);
    clcf.handler = Some(handler::stats_handler);
    NGX_CONF_OK
}

/// The module's postconfiguration part for stats: refuses a zone that is referred to but
/// never declared, and installs the log-phase counter when there is any zone.
///
/// # Safety
/// `cf` is the configuration of the `http` block just parsed.
pub unsafe fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: `cf` is valid (caller).
    let zones = unsafe { zone::zones(cf) };
    if let Some((name, _)) = zones.iter().find(|(_, declared)| !declared) {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "unknown stats zone \"{}\": declare it with \"music_stats_zone {}:<size>;\" in http {{}}",
            name,
            name
        );
        return NGX_ERROR as ngx_int_t;
    }
    if zones.is_empty() {
        return NGX_OK as ngx_int_t;
    }
    // SAFETY: `cf` is the http block's configuration, which has the core module's main conf.
    let Some(cmcf) = (unsafe { NgxHttpCoreModule::main_conf_mut(&*cf) }) else {
        return NGX_ERROR as ngx_int_t;
    };
    let phase = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_LOG_PHASE as usize];
    // SAFETY: the phase's handler array is an ngx_array_t of ngx_http_handler_pt, initialised
    // by ngx_http_init_phases before any postconfiguration runs.
    let h = unsafe { nginx_sys::ngx_array_push(&mut phase.handlers) } as *mut ngx_http_handler_pt;
    if h.is_null() {
        return NGX_ERROR as ngx_int_t;
    }
    // SAFETY: `h` is the new, writable element.
    unsafe { *h = Some(handler::log_handler) };
    NGX_OK as ngx_int_t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_nginx_reads_them() {
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("150000"), Some(150_000));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("m"), None);
        assert_eq!(parse_size("1.5m"), None);
        assert_eq!(parse_size("-1m"), None);
        assert_eq!(parse_size("1t"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
    }

    #[test]
    fn zone_argument() {
        assert_eq!(split_zone_arg("stats:1m"), Some(("stats", "1m")));
        assert_eq!(split_zone_arg("a:b:1m"), Some(("a", "b:1m")));
        assert_eq!(split_zone_arg("stats"), None);
        assert_eq!(split_zone_arg(":1m"), None);
    }

    #[test]
    fn merge_inherits_counting() {
        let http = StatsConf {
            count: Some(Counting::Off),
            serve: None,
        };
        let mut loc = StatsConf::default();
        loc.merge_from(&http);
        assert_eq!(loc.count, Some(Counting::Off));
        let mut unset = StatsConf::default();
        unset.merge_from(&StatsConf::default());
        assert_eq!(unset.count, None);
    }
}

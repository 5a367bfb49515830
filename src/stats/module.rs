//! The PV/UV counters as an nginx module of its own (`ngx_http_music_stats_module`, in the
//! same `.so` as the API module): its directive table, the setters, its location
//! configuration's create and merge, and the postconfiguration that installs the log-phase
//! counter. The setters share `conf::setter` with the API module's.

use std::borrow::Cow;
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::Ordering;

use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_http_module_t, ngx_http_request_t, ngx_int_t, ngx_module_t,
    ngx_str_t, NGX_CONF_TAKE1, NGX_ERROR, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_LOC_CONF,
    NGX_HTTP_MAIN_CONF, NGX_HTTP_MODULE, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG, NGX_OK,
};
use ngx::core::NGX_CONF_ERROR;
use ngx::http::{HttpModule, HttpModuleLocationConf, NgxHttpCoreModule};
use ngx::{ngx_conf_log_error, ngx_string};

use super::handler;
use super::zone::{self, ZoneError, ZoneRef};
use super::{parse_size, split_zone_arg, Counting, StatsConf};
use crate::conf::setter::{
    add_log_handler, args, command, conf_of, duplicate, serve_page, text, NGX_CONF_OK,
};

/// The module's type for ngx-rust's configuration helpers.
pub struct StatsModule;

impl HttpModule for StatsModule {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the static is initialised at load time and only read afterwards.
        unsafe { &*ptr::addr_of!(ngx_http_music_stats_module) }
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        // nginx has numbered the HTTP modules' ctx slots by now (and does again on a reload)
        handler::ROUTE_KEY_SLOT.store(Self::module().ctx_index, Ordering::Relaxed);
        // SAFETY: nginx passes the configuration of the http block just parsed.
        unsafe { check_zones_and_count(cf) }
    }
}

// SAFETY: the location configuration type registered below is `StatsConf`.
unsafe impl HttpModuleLocationConf for StatsModule {
    type LocationConf = StatsConf;
}

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

/// The directive table, terminated by an empty command.
static mut COMMANDS: [ngx_command_t; 4] = [
    command(
        ngx_string!("music_stats_zone"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
        set_zone,
    ),
    command(
        ngx_string!("music_stats_count"),
        ANY_LEVEL | NGX_CONF_TAKE1,
        set_count,
    ),
    command(
        ngx_string!("music_stats"),
        NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
        set_stats,
    ),
    ngx_command_t::empty(),
];

static NGX_HTTP_MUSIC_STATS_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: None,
    postconfiguration: Some(StatsModule::postconfiguration),
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(StatsModule::create_loc_conf),
    merge_loc_conf: Some(StatsModule::merge_loc_conf),
};

// Not exported in unit tests and fuzz builds (as the API module in lib.rs).
#[cfg_attr(not(any(test, fuzzing)), no_mangle)]
#[cfg_attr(not(any(test, fuzzing)), used)]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_music_stats_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(NGX_HTTP_MUSIC_STATS_MODULE_CTX) as *mut c_void,
    // the table lives for the whole program; nginx only reads it
    commands: ptr::addr_of_mut!(COMMANDS) as *mut _,
    type_: NGX_HTTP_MODULE as _,
    ..ngx_module_t::default()
};

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
    let (a, conf) = unsafe { (args(cf), conf_of::<StatsConf>(conf)) };
    let directive = text(&a[0]);
    if conf.count.is_some() {
        return duplicate(cf, &directive);
    }
    if text(&a[1]) == "off" {
        conf.count = Some(Counting::Off);
        return NGX_CONF_OK;
    }
    // SAFETY: as above.
    match unsafe { zone_reference(cf, a[1], &directive) } {
        Some(zone) => {
            conf.count = Some(Counting::Into(zone));
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
    let (a, conf) = unsafe { (args(cf), conf_of::<StatsConf>(conf)) };
    let directive = text(&a[0]);
    if conf.serve.is_some() {
        return duplicate(cf, &directive);
    }
    // SAFETY: as above.
    let Some(zone) = (unsafe { zone_reference(cf, a[1], &directive) }) else {
        return NGX_CONF_ERROR;
    };
    // SAFETY: inside a location block every http module's location configuration exists.
    let api_here = unsafe { crate::module::Module::location_conf(&*cf) }.is_some_and(|c| c.api);
    // SAFETY: `cf` is being parsed, inside a location block.
    if let Err(e) = unsafe { serve_page(cf, &directive, api_here, Some(stats_handler)) } {
        return e;
    }
    conf.serve = Some(zone);
    NGX_CONF_OK
}

/// After the http block is read: refuses a zone that is referred to but
/// never declared, and installs the log-phase counter when there is any zone.
///
/// # Safety
/// `cf` is the configuration of the `http` block just parsed.
unsafe fn check_zones_and_count(cf: *mut ngx_conf_t) -> ngx_int_t {
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
    // SAFETY: `cf` is the http block's configuration (caller).
    match unsafe { add_log_handler(cf, Some(log_handler)) } {
        true => NGX_OK as ngx_int_t,
        false => NGX_ERROR as ngx_int_t,
    }
}

/// NGX_HTTP_LOG_PHASE handler: counts the request in the zone of `music_stats_count`.
unsafe extern "C" fn log_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx runs log handlers with a valid main request whose configuration (the
    // location that finished it, or the server's) is set.
    let req = unsafe { &*r };
    let Some(Counting::Into(zone)) = StatsModule::location_conf(req).and_then(|c| c.count) else {
        return NGX_OK as ngx_int_t;
    };
    // SAFETY: as above.
    unsafe { handler::count(r, zone, &logged_route_key(r)) }
}

/// The content handler of `music_stats`.
unsafe extern "C" fn stats_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx runs content handlers with a valid request in its content phase.
    let req = unsafe { &*r };
    let Some(zone) = StatsModule::location_conf(req).and_then(|c| c.serve) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    // SAFETY: as above.
    unsafe { handler::serve(r, zone) }
}

/// The route key a request in its log phase counts under ([`handler::route_key`] of the location that
/// finished it), computed once per request: the stats and the metrics log handlers both count
/// under it, so the first to ask keeps it in the request's pool and the stats module's ctx slot
/// (which nothing else uses, and which an internal redirect clears with the location).
///
/// # Safety
/// `r` is a valid main request in its log phase; the key lives as long as its pool.
pub unsafe fn logged_route_key<'r>(r: *mut ngx_http_request_t) -> Cow<'r, str> {
    // SAFETY: valid (caller).
    if let Some(kept) = unsafe { handler::kept_route_key(r) } {
        return Cow::Borrowed(kept);
    }
    // SAFETY: valid (caller).
    let req = unsafe { &*r };
    let location = NgxHttpCoreModule::location_conf(req)
        .map(|clcf| handler::lossy(&clcf.name))
        .unwrap_or_default();
    let api = crate::module::Module::location_conf(req).filter(|c| c.api);
    // a plain location's key borrows its name: no allocation per request
    let key = match api {
        Some(c) => {
            let (uri, args) = (handler::lossy(&req.uri), handler::lossy(&req.args));
            handler::route_key(&location, Some(&c.prefix), &uri, &args)
        }
        None => handler::route_key(&location, None, "", ""),
    };
    // SAFETY: valid (caller); a failed allocation keeps nothing and the next handler
    // computes the key again.
    match unsafe { handler::keep_route_key(r, &[&key]) } {
        Some(kept) => Cow::Borrowed(kept),
        None => Cow::Owned(key.into_owned()),
    }
}

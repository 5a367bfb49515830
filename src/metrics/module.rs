//! The metrics as an nginx module of its own (`ngx_http_music_metrics_module`, in the same
//! `.so` as the API module): its directive table and setters, its location configuration,
//! the postconfiguration that installs the log-phase recorder, the worker hooks that attach
//! the zone, and the content handlers of `music_metrics` and `music_health`.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_cycle_t, ngx_http_module_t, ngx_http_request_t, ngx_int_t,
    ngx_module_t, ngx_str_t, NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_ERROR, NGX_HTTP_DELETE,
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_LOC_CONF,
    NGX_HTTP_MAIN_CONF, NGX_HTTP_MODULE, NGX_HTTP_NOT_ALLOWED, NGX_HTTP_OPTIONS, NGX_HTTP_PATCH,
    NGX_HTTP_POST, NGX_HTTP_PUT, NGX_LOG_EMERG, NGX_OK,
};
use ngx::core::NGX_CONF_ERROR;
use ngx::http::{HttpModule, HttpModuleLocationConf};
use ngx::{ngx_conf_log_error, ngx_string};

use super::health::{self, Probe, ReadyTarget};
use super::shared::METHODS;
use super::zone::{self, ZoneRef};
use super::{expose, record, MetricsConf, Page};
use crate::conf::setter::{
    add_log_handler, args, command, conf_of, duplicate, serve_page, text, NGX_CONF_OK,
};
use crate::ffi::executor::spawn;
use crate::ffi::request::{self, respond_now, PendingRequest};
use crate::http::{Body, Response};
use crate::stats::{parse_size, split_zone_arg};

/// The module's type for ngx-rust's configuration helpers.
pub struct MetricsModule;

impl HttpModule for MetricsModule {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the static is initialised at load time and only read afterwards.
        unsafe { &*ptr::addr_of!(ngx_http_music_metrics_module) }
    }

    unsafe extern "C" fn preconfiguration(_cf: *mut ngx_conf_t) -> ngx_int_t {
        // a new configuration is read: it declares its own zone and pages
        ZONE_DECLARED.store(false, Ordering::Relaxed);
        PAGE_WITHOUT_ZONE.store(false, Ordering::Relaxed);
        NGX_OK as ngx_int_t
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        // SAFETY: nginx passes the configuration of the http block just parsed.
        unsafe { check_and_install(cf) }
    }
}

// SAFETY: the location configuration type registered below is `MetricsConf`.
unsafe impl HttpModuleLocationConf for MetricsModule {
    type LocationConf = MetricsConf;
}

/// Whether the configuration being read has a `music_metrics_zone` (configurations are read
/// one at a time, by one thread).
static ZONE_DECLARED: AtomicBool = AtomicBool::new(false);
/// Whether a `music_metrics` page was configured before any zone was declared.
static PAGE_WITHOUT_ZONE: AtomicBool = AtomicBool::new(false);

/// The directive table, terminated by an empty command.
static mut COMMANDS: [ngx_command_t; 4] = [
    command(
        ngx_string!("music_metrics_zone"),
        NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
        set_zone,
    ),
    command(
        ngx_string!("music_metrics"),
        NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
        set_metrics,
    ),
    command(
        ngx_string!("music_health"),
        NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
        set_health,
    ),
    ngx_command_t::empty(),
];

static NGX_HTTP_MUSIC_METRICS_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(MetricsModule::preconfiguration),
    postconfiguration: Some(MetricsModule::postconfiguration),
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(MetricsModule::create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

unsafe extern "C" fn init_process(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    // SAFETY: nginx passes the worker's cycle.
    unsafe { zone::attach(cycle) };
    record::worker_start();
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn exit_process(_cycle: *mut ngx_cycle_t) {
    record::worker_exit();
}

// Not exported in unit tests and fuzz builds (as the API module in lib.rs).
#[cfg_attr(not(any(test, fuzzing)), no_mangle)]
#[cfg_attr(not(any(test, fuzzing)), used)]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_music_metrics_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(NGX_HTTP_MUSIC_METRICS_MODULE_CTX) as *mut c_void,
    // the table lives for the whole program; nginx only reads it
    commands: ptr::addr_of_mut!(COMMANDS) as *mut _,
    type_: NGX_HTTP_MODULE as _,
    init_process: Some(init_process),
    exit_process: Some(exit_process),
    ..ngx_module_t::default()
};

unsafe extern "C" fn set_zone(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls setters with a valid `cf` holding the directive's arguments.
    let a = unsafe { args(cf) };
    let (directive, value) = (text(&a[0]), text(&a[1]));
    if ZONE_DECLARED.load(Ordering::Relaxed) {
        return duplicate(cf, &directive);
    }
    let Some((name, size_text)) = split_zone_arg(&value) else {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "invalid value \"{}\" in \"{}\" directive: expected <name>:<size>, e.g. \"music_metrics:1m\"",
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
    if size < zone::min_size() {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "zone \"{}\" is too small in \"{}\" directive: at least {}k is needed",
            name,
            directive,
            zone::min_size().div_ceil(1024)
        );
        return NGX_CONF_ERROR;
    }
    let arg = ngx_str_t {
        len: name.len(),
        data: a[1].data,
    };
    // SAFETY: `cf` is being parsed and `arg` points into its pool.
    match unsafe { ZoneRef::define(cf, arg, size) } {
        Some(Ok(_)) => {
            ZONE_DECLARED.store(true, Ordering::Relaxed);
            NGX_CONF_OK
        }
        Some(Err(())) => {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "duplicate zone \"{}\" in \"{}\" directive",
                name,
                directive
            );
            NGX_CONF_ERROR
        }
        None => NGX_CONF_ERROR,
    }
}

unsafe extern "C" fn set_metrics(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_zone`; `conf` is this module's configuration of the level.
    let (a, conf) = unsafe { (args(cf), conf_of::<MetricsConf>(conf)) };
    let directive = text(&a[0]);
    if conf.page.is_some() {
        return duplicate(cf, &directive);
    }
    // SAFETY: inside a location block every http module's location configuration exists.
    let api_here = unsafe { crate::module::Module::location_conf(&*cf) }.is_some_and(|c| c.api);
    // SAFETY: `cf` is being parsed, inside a location block.
    if let Err(e) = unsafe { serve_page(cf, &directive, api_here, Some(metrics_handler)) } {
        return e;
    }
    if !ZONE_DECLARED.load(Ordering::Relaxed) {
        PAGE_WITHOUT_ZONE.store(true, Ordering::Relaxed);
    }
    conf.page = Some(Page::Metrics);
    NGX_CONF_OK
}

unsafe extern "C" fn set_health(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_metrics`.
    let (a, conf) = unsafe { (args(cf), conf_of::<MetricsConf>(conf)) };
    let (directive, value) = (text(&a[0]), text(&a[1]));
    if conf.page.is_some() {
        return duplicate(cf, &directive);
    }
    let Some(probe) = Probe::parse(&value) else {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "invalid value \"{}\" in \"{}\" directive, it must be \"live\" or \"ready\"",
            value,
            directive
        );
        return NGX_CONF_ERROR;
    };
    // SAFETY: inside a location block every http module's location configuration exists.
    let api_here = unsafe { crate::module::Module::location_conf(&*cf) }.is_some_and(|c| c.api);
    // SAFETY: `cf` is being parsed, inside a location block.
    if let Err(e) = unsafe { serve_page(cf, &directive, api_here, Some(health_handler)) } {
        return e;
    }
    conf.page = Some(Page::Health(probe));
    NGX_CONF_OK
}

/// Merges a location's configuration; for `music_health ready`, resolves the database and
/// pool settings it checks from the API module's configuration of the same location (merged
/// already: that module comes first in the `.so`'s module list).
unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    _prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx passes a location configuration created by `create_loc_conf`.
    let conf = unsafe { conf_of::<MetricsConf>(conf) };
    if conf.page != Some(Page::Health(Probe::Ready)) {
        return NGX_CONF_OK;
    }
    // SAFETY: while locations are merged `cf->ctx` holds this location's configurations.
    let Some(api) = (unsafe { crate::module::Module::location_conf(&*cf) }) else {
        return NGX_CONF_ERROR;
    };
    let Some(database) = api.database.clone() else {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"music_health ready\" needs \"music_database\" (the database it checks)"
        );
        return NGX_CONF_ERROR;
    };
    // the API module's merge filled every pool setting of this level: a child level that
    // sets nothing resolves to them
    let pool = crate::conf::LocationConf::default().merge_from(api).pool;
    conf.ready = Some(ReadyTarget { database, pool });
    NGX_CONF_OK
}

/// After the http block is read: refuses a page without a zone, and installs the log-phase
/// recorder when there is a zone.
///
/// # Safety
/// `cf` is the configuration of the `http` block just parsed.
unsafe fn check_and_install(cf: *mut ngx_conf_t) -> ngx_int_t {
    let declared = ZONE_DECLARED.load(Ordering::Relaxed);
    if PAGE_WITHOUT_ZONE.load(Ordering::Relaxed) && !declared {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"music_metrics\" needs a zone: declare one with \"music_metrics_zone <name>:<size>;\" in http {{}}"
        );
        return NGX_ERROR as ngx_int_t;
    }
    if !declared {
        return NGX_OK as ngx_int_t;
    }
    // SAFETY: `cf` is the http block's configuration (caller).
    match unsafe { add_log_handler(cf, Some(log_handler)) } {
        true => NGX_OK as ngx_int_t,
        false => NGX_ERROR as ngx_int_t,
    }
}

/// How often the log phase publishes the worker's pool gauges.
const PUBLISH_EVERY_MS: u64 = 100;

thread_local! {
    static LAST_PUBLISH: Cell<u64> = const { Cell::new(0) };
}

/// NGX_HTTP_LOG_PHASE handler: records the request (route, method, status, latency).
unsafe extern "C" fn log_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    let Some(zone) = zone::active() else {
        return NGX_OK as ngx_int_t;
    };
    // SAFETY: nginx runs log handlers with a valid main request whose configuration (the
    // location that finished it, or the server's) is set.
    let req = unsafe { &*r };
    // SAFETY: as above.
    let key = unsafe { crate::stats::module::logged_route_key(r) };
    // nginx has parsed the method into a bit: no string compare per request
    let method = [
        NGX_HTTP_GET,
        NGX_HTTP_HEAD,
        NGX_HTTP_POST,
        NGX_HTTP_PUT,
        NGX_HTTP_PATCH,
        NGX_HTTP_DELETE,
        NGX_HTTP_OPTIONS,
    ]
    .iter()
    .position(|&m| req.method == m as usize)
    .unwrap_or(METHODS.len() - 1);
    let status = u16::try_from(req.headers_out.status).unwrap_or(0);
    // SAFETY: ngx_cached_time points at one of nginx's static time slots, updated by this
    // process between events (the clock `$request_time` uses).
    let now = unsafe { *ptr::read_volatile(ptr::addr_of!(nginx_sys::ngx_cached_time)) };
    let now_ms = now.sec * 1000 + now.msec as i64;
    let start_ms = req.start_sec * 1000 + req.start_msec as i64;
    let latency_us = (now_ms - start_ms).max(0) as u64 * 1000;
    record::request(zone, &key, method, status, latency_us);
    // The request's lease is given back by now: this worker's pool gauges as they stand, at
    // most every PUBLISH_EVERY_MS (the pool publishes its own connects, failures and waits;
    // the page publishes the scraping worker's at once).
    // SAFETY: nginx updates ngx_current_msec in this process, between events.
    let now = unsafe { ptr::read_volatile(ptr::addr_of!(nginx_sys::ngx_current_msec)) } as u64;
    if now.wrapping_sub(LAST_PUBLISH.with(Cell::get)) >= PUBLISH_EVERY_MS {
        LAST_PUBLISH.with(|c| c.set(now));
        crate::db::pool::publish_gauges();
    }
    NGX_OK as ngx_int_t
}

/// The content handler of `music_metrics`: the exposition of the zone, all workers together.
unsafe extern "C" fn metrics_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx runs content handlers with a valid request in its content phase.
    let req = unsafe { &*r };
    if req.method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize == 0 {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    let Some(text) =
        zone::active().and_then(|z| z.with(|s| expose::render(&s.snapshot(zone::alive), &extra())))
    else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let response = Response {
        status: 200,
        content_type: Some(expose::CONTENT_TYPE),
        headers: vec![("Cache-Control", "no-store".into())],
        body: Body::Bytes(text.into_bytes()),
    };
    // SAFETY: `r` is valid and in its content phase (above).
    unsafe { respond_now(r, &response) }
}

/// The content handler of `music_health`.
unsafe extern "C" fn health_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx runs content handlers with a valid request in its content phase.
    let req = unsafe { &*r };
    if req.method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as usize == 0 {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    let Some(conf) = MetricsModule::location_conf(req) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let target = match (conf.page, &conf.ready) {
        // SAFETY: `r` is valid and in its content phase.
        (Some(Page::Health(Probe::Live)), _) => return unsafe { respond_now(r, &health::live()) },
        (Some(Page::Health(Probe::Ready)), Some(target)) => target.clone(),
        _ => return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
    };
    // SAFETY: `r` is valid.
    let rc = unsafe { request::discard_body(r) };
    if rc != NGX_OK as ngx_int_t {
        return rc;
    }
    // SAFETY: `r` is valid and in its content phase; NGX_DONE is returned below, and the
    // hold's reference is released by `PendingRequest::finish`.
    let Some(pending) = (unsafe { PendingRequest::hold::<MetricsModule>(r) }) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    spawn(async move {
        let response = health::ready(target).await;
        pending.finish(response);
    })
    .detach();
    request::DONE
}

fn extra() -> expose::Extra {
    expose::Extra {
        module_version: env!("CARGO_PKG_VERSION"),
        nginx_version: nginx_sys::NGINX_VERSION.to_str().unwrap_or(""),
        git_commit: option_env!("NGX_MUSIC_GIT_COMMIT").unwrap_or("unknown"),
        stats: crate::stats::zone::ZoneRef::all()
            .into_iter()
            .filter_map(|zone| {
                let today = crate::stats::zone::local_day().0;
                let s = zone.with_counters(|c| c.snapshot(today, 1))?;
                let day = s.days.first()?;
                Some((zone.name(), day.pv, day.uv))
            })
            .collect(),
    }
}

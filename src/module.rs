//! The API module's statics and its registration with nginx (`ngx_http_music_module`): the
//! module context, the directive table (in [`crate::conf::directives`]), configuration
//! create/merge, the worker hooks, and the content handler entry that finds the location's
//! settings and hands the request to [`crate::handler`].

use std::ffi::{c_char, c_void};
use std::ptr;

use nginx_sys::{
    ngx_conf_t, ngx_cycle_t, ngx_http_module_t, ngx_http_request_t, ngx_int_t, ngx_module_t,
    ngx_str_t, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_MODULE, NGX_LOG_EMERG, NGX_OK,
};
use ngx::core::NGX_CONF_ERROR;
use ngx::http::{HttpModule, HttpModuleLocationConf};
use ngx::{ngx_conf_log_error, ngx_log_error};

use crate::conf::{self, ApiSettings, LocationConf};
use crate::ffi::thread_task::ThreadPoolRef;
use crate::{db, ffi, handler};

/// The module's type for ngx-rust's configuration helpers.
pub struct Module;

impl HttpModule for Module {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the static is initialised at load time and only read afterwards.
        unsafe { &*ptr::addr_of!(ngx_http_music_module) }
    }
}

/// `clcf->handler` of every location with `music_api`: finds the location's settings and
/// hands the request to [`handler::serve_request`].
unsafe extern "C" fn content_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls the content handler with a valid request of this location.
    let req = unsafe { ngx::http::Request::from_ngx_http_request(r) };
    let Some(settings) = Module::location_conf(req).and_then(|c| c.settings.as_ref()) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    // SAFETY: as above; the settings live as long as the configuration, which outlives the
    // request and every task it starts (a reload keeps the old cycle until its requests end).
    unsafe { handler::serve_request::<Module>(r, settings) }
}

/// Merges a location's configuration with the enclosing level's and, for a `music_api`
/// location, resolves its settings, with what only the configuration cycle can (the PBKDF2
/// thread pool, the modules that verify `$remote_user`).
unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx passes two location configurations created by `create_loc_conf`.
    let (prev, conf) = unsafe {
        (
            &*(prev as *const LocationConf),
            &mut *(conf as *mut LocationConf),
        )
    };
    let merged = conf.merge_from(prev);
    if !conf.api {
        return ptr::null_mut();
    }
    if conf.auth_pages && merged.sessions.secret.is_none() {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"music_auth_pages\" in location \"{}\" needs \"music_django_secret_key_file\"",
            conf.prefix
        );
        return NGX_CONF_ERROR;
    }
    // SAFETY: while locations are merged `cf->ctx` holds this location's configurations, so
    // the core module's one is this location's.
    let Some(clcf) = (unsafe { ngx::http::NgxHttpCoreModule::location_conf_mut(&*cf) }) else {
        return NGX_CONF_ERROR;
    };
    clcf.handler = Some(content_handler);
    let Some(database) = conf.database.clone() else {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"music_api\" in location \"{}\" needs \"music_database\"",
            conf.prefix
        );
        return NGX_CONF_ERROR;
    };
    // Host names are looked up through the location's `resolver` when connecting, if set.
    let resolver = ffi::resolver::DbResolver::of_location(clcf);
    for db in std::iter::once(&database).chain(merged.reads.database.as_ref()) {
        if let Err(why) = db.use_resolver(resolver) {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "\"music_api\" in location \"{}\": {}",
                conf.prefix,
                why
            );
            return NGX_CONF_ERROR;
        }
    }
    let mut verifiers = None;
    if merged.auth.mode == conf::AuthMode::RemoteUser {
        // SAFETY: nginx is merging this location: `cf->ctx` is its context.
        match unsafe { ffi::access::check_location(cf) } {
            Ok(verified_by) => verifiers = Some(verified_by),
            Err(why) => {
                // SAFETY: `cf->log` is the configuration's log.
                let log = unsafe { (*cf).log };
                let at = conf
                    .auth_declared_at
                    .as_deref()
                    .unwrap_or("the configuration");
                ngx_log_error!(
                    NGX_LOG_EMERG,
                    log,
                    "\"music_auth remote_user\" in location \"{}\" {} in {}",
                    conf.prefix,
                    conf::unverified_remote_user(why),
                    at
                );
                return NGX_CONF_ERROR;
            }
        }
    }
    // The auth cache's PBKDF2 runs on this thread pool ("default" is created on demand).
    let name = &merged.auth.thread_pool_name;
    let mut s = ngx_str_t {
        len: name.len(),
        data: name.as_ptr() as *mut u8,
    };
    // SAFETY: `cf` is valid; nginx copies nothing from `s` that outlives the call except
    // into its own pool (ngx_thread_pool_add stores the name by value in conf memory, so
    // the bytes are leaked into a stable allocation first).
    let tp = unsafe {
        let stable = nginx_sys::ngx_pnalloc((*cf).pool, name.len()) as *mut u8;
        if stable.is_null() {
            return NGX_CONF_ERROR;
        }
        ptr::copy_nonoverlapping(name.as_ptr(), stable, name.len());
        s.data = stable;
        nginx_sys::ngx_thread_pool_add(cf, &mut s)
    };
    if tp.is_null() {
        return NGX_CONF_ERROR;
    }
    let mut settings = ApiSettings::new(
        conf.prefix.clone(),
        database,
        merged,
        ThreadPoolRef(tp),
        verifiers,
    );
    settings.auth_pages = conf.auth_pages;
    conf.settings = Some(settings);
    ptr::null_mut()
}

// SAFETY: the location configuration type registered below is `LocationConf`.
unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = LocationConf;
}

static NGX_HTTP_MUSIC_MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: None,
    postconfiguration: None,
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(Module::create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

unsafe extern "C" fn init_process(_cycle: *mut ngx_cycle_t) -> ngx_int_t {
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn exit_process(_cycle: *mut ngx_cycle_t) {
    // Drop the pools' tasks and close their sockets directly: a task queued but never run
    // again would keep its socket, and nginx would log "open socket #N left in connection M".
    db::pool::shutdown_all();
    crate::auth_listen::shutdown_all();
    ffi::executor::shutdown();
    ffi::peer::close_all();
}

// Not exported in unit tests and fuzz builds: nothing then references the FFI code, and those
// binaries link without nginx's symbols (the linker drops what is unreachable).
#[cfg_attr(not(any(test, fuzzing)), no_mangle)]
#[cfg_attr(not(any(test, fuzzing)), used)]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_music_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of!(NGX_HTTP_MUSIC_MODULE_CTX) as *mut c_void,
    // the table lives for the whole program; nginx only reads it
    commands: ptr::addr_of_mut!(conf::directives::COMMANDS) as *mut _,
    type_: NGX_HTTP_MODULE as _,
    init_process: Some(init_process),
    exit_process: Some(exit_process),
    ..ngx_module_t::default()
};

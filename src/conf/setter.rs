//! What every directive setter of the `.so`'s modules needs: the directive's words, the
//! location configuration nginx hands over, the table entry, and the `[emerg]` messages nginx's
//! own modules print (`"x" directive is duplicate`, `invalid value "v" in "x" directive`;
//! nginx adds `in <file>:<line>`).
//!
//! The API module (`conf::directives`) and the PV/UV module (`stats`) share these, so both
//! word their errors the same way.

use std::ffi::{c_char, c_void};
use std::ptr;

use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_http_conf_ctx_t, ngx_http_handler_pt,
    ngx_http_phases_NGX_HTTP_LOG_PHASE, ngx_str_t, ngx_uint_t, NGX_LOG_EMERG,
};
use ngx::core::NGX_CONF_ERROR;
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule};
use ngx::ngx_conf_log_error;

/// What a setter returns when the directive was taken.
pub const NGX_CONF_OK: *mut c_char = ptr::null_mut();

/// `conf` of a command that stores into the level's location configuration.
pub const LOC_CONF_OFFSET: ngx_uint_t = std::mem::offset_of!(ngx_http_conf_ctx_t, loc_conf);

/// A directive setter as nginx calls it.
pub type Setter =
    unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char;

/// A table entry whose setter receives the location configuration of the level.
pub const fn command(name: ngx_str_t, type_: u32, set: Setter) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: type_ as ngx_uint_t,
        set: Some(set),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

/// The bytes of an nginx string as text (invalid UTF-8 replaced).
pub fn text(s: &ngx_str_t) -> String {
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

/// The directive's arguments as nginx holds them, name first.
///
/// # Safety
/// `cf` is the configuration being parsed, inside a directive's setter.
pub unsafe fn args<'a>(cf: *mut ngx_conf_t) -> &'a [ngx_str_t] {
    // SAFETY: while a directive is parsed `cf->args` is an array of `nelts` ngx_str_t in the
    // configuration pool, which outlives the setter call (caller).
    unsafe {
        let a = &*(*cf).args;
        std::slice::from_raw_parts(a.elts as *const ngx_str_t, a.nelts)
    }
}

/// The directive's words as text, name first.
///
/// # Safety
/// As [`args`].
pub unsafe fn words(cf: *mut ngx_conf_t) -> Vec<String> {
    // SAFETY: as the caller's.
    unsafe { args(cf) }.iter().map(text).collect()
}

/// The location configuration of type `T` that nginx passes to a setter.
///
/// # Safety
/// `conf` is the configuration the module whose table holds the directive created for this
/// level, and that module's location configuration type is `T`.
pub unsafe fn conf_of<'a, T>(conf: *mut c_void) -> &'a mut T {
    // SAFETY: as the caller's.
    unsafe { &mut *(conf as *mut T) }
}

/// `"name" directive is duplicate`.
pub fn duplicate(cf: *mut ngx_conf_t, name: &str) -> *mut c_char {
    ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{}\" directive is duplicate", name);
    NGX_CONF_ERROR
}

/// `invalid value "v" in "name" directive[: why]` for `[name, v, ..]`.
pub fn invalid(cf: *mut ngx_conf_t, words: &[String], why: Option<&str>) -> *mut c_char {
    match why {
        Some(why) => {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "invalid value \"{}\" in \"{}\" directive: {}",
                words[1],
                words[0],
                why
            );
        }
        None => {
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "invalid value \"{}\" in \"{}\" directive",
                words[1],
                words[0]
            );
        }
    }
    NGX_CONF_ERROR
}

/// Makes `handler` the content handler of the location being read, for a page directive
/// (`music_stats`, `music_metrics`, `music_health`) that cannot share its location with the
/// API: `api_here` says whether `music_api` is already in it.
///
/// # Safety
/// `cf` is the configuration being parsed, inside a location block.
pub unsafe fn serve_page(
    cf: *mut ngx_conf_t,
    directive: &str,
    api_here: bool,
    handler: ngx_http_handler_pt,
) -> Result<(), *mut c_char> {
    if api_here {
        ngx_conf_log_error!(
            NGX_LOG_EMERG,
            cf,
            "\"{}\" and \"music_api\" cannot share a location",
            directive
        );
        return Err(NGX_CONF_ERROR);
    }
    // SAFETY: inside a location block the core module's location configuration exists.
    let Some(clcf) = (unsafe { NgxHttpCoreModule::location_conf_mut(&*cf) }) else {
        return Err(NGX_CONF_ERROR);
    };
    clcf.handler = handler;
    Ok(())
}

/// Adds `handler` to nginx's log phase (a module's postconfiguration); false when nginx
/// could not make room for it.
///
/// # Safety
/// `cf` is the configuration of the `http` block just parsed.
pub unsafe fn add_log_handler(cf: *mut ngx_conf_t, handler: ngx_http_handler_pt) -> bool {
    // SAFETY: `cf` is the http block's configuration, which has the core module's main conf.
    let Some(cmcf) = (unsafe { NgxHttpCoreModule::main_conf_mut(&*cf) }) else {
        return false;
    };
    let phase = &mut cmcf.phases[ngx_http_phases_NGX_HTTP_LOG_PHASE as usize];
    // SAFETY: the phase's handler array is an ngx_array_t of ngx_http_handler_pt, initialised
    // by ngx_http_init_phases before any postconfiguration runs.
    let h = unsafe { nginx_sys::ngx_array_push(&mut phase.handlers) } as *mut ngx_http_handler_pt;
    if h.is_null() {
        return false;
    }
    // SAFETY: `h` is the new, writable element.
    unsafe { *h = handler };
    true
}

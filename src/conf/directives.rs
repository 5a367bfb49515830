//! The directive table and its setters. Each setter validates its arguments and fails with an
//! `[emerg]` naming the directive and the bad value (nginx adds `in <file>:<line>`), the way
//! nginx's own modules do.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::rc::Rc;

use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_http_conf_ctx_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE,
    NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF, NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF,
    NGX_LOG_EMERG,
};
use ngx::core::NGX_CONF_ERROR;
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule};
use ngx::{ngx_conf_log_error, ngx_string};

use super::values::{parse_count, parse_duration_ms, parse_flag};
use super::{AuthMode, DbSettings, LocationConf};

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;
const LOC_CONF_OFFSET: ngx_uint_t = std::mem::offset_of!(ngx_http_conf_ctx_t, loc_conf);

type Setter = unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char;

const fn command(name: ngx_str_t, args: u32, set: Setter) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: (ANY_LEVEL | args) as ngx_uint_t,
        set: Some(set),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

/// The directive table, terminated by an empty command.
pub static mut COMMANDS: [ngx_command_t; 22] = [
    ngx_command_t {
        name: ngx_string!("music_api"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(set_api),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    command(ngx_string!("music_database"), NGX_CONF_TAKE1, set_database),
    command(ngx_string!("music_pool_size"), NGX_CONF_TAKE1, set_value),
    command(
        ngx_string!("music_pool_pipeline"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(ngx_string!("music_pool_queue"), NGX_CONF_TAKE1, set_value),
    command(ngx_string!("music_pool_timeout"), NGX_CONF_TAKE1, set_value),
    command(
        ngx_string!("music_connect_timeout"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(
        ngx_string!("music_query_timeout"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(ngx_string!("music_time_zone"), NGX_CONF_TAKE1, set_value),
    command(ngx_string!("music_auth"), NGX_CONF_TAKE1, set_value),
    command(
        ngx_string!("music_auth_cache_size"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(
        ngx_string!("music_auth_cache_valid"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(
        ngx_string!("music_auth_thread_pool"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(ngx_string!("music_cors"), NGX_CONF_TAKE1, set_value),
    command(
        ngx_string!("music_cors_origins"),
        NGX_CONF_1MORE,
        set_cors_origins,
    ),
    command(ngx_string!("music_cors_methods"), NGX_CONF_TAKE1, set_value),
    command(ngx_string!("music_cors_headers"), NGX_CONF_TAKE1, set_value),
    command(ngx_string!("music_cors_max_age"), NGX_CONF_TAKE1, set_value),
    // music_stats_zone, music_stats_count, music_stats (src/stats)
    crate::stats::COMMANDS[0],
    crate::stats::COMMANDS[1],
    crate::stats::COMMANDS[2],
    ngx_command_t::empty(),
];

fn str_of(s: &ngx_str_t) -> String {
    if s.len == 0 {
        return String::new();
    }
    // SAFETY: configuration strings point at `len` bytes of the configuration pool.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(s.data, s.len) }).into_owned()
}

/// The directive's words: name first, then the arguments.
unsafe fn words(cf: *mut ngx_conf_t) -> Vec<String> {
    // SAFETY: during parsing `cf->args` is an array of `nelts` ngx_str_t.
    unsafe {
        let args = &*(*cf).args;
        std::slice::from_raw_parts(args.elts as *const ngx_str_t, args.nelts)
            .iter()
            .map(str_of)
            .collect()
    }
}

/// `file:line` of the directive being read, as nginx prints it after `in`.
unsafe fn position(cf: *mut ngx_conf_t) -> String {
    // SAFETY: while a directive is read `cf->conf_file` is the file being parsed.
    unsafe {
        let file = &*(*cf).conf_file;
        format!("{}:{}", str_of(&file.file.name), file.line)
    }
}

unsafe fn conf_of<'a>(conf: *mut c_void) -> &'a mut LocationConf {
    // SAFETY: nginx passes the location configuration this module created for this level.
    unsafe { &mut *(conf as *mut LocationConf) }
}

fn invalid(cf: *mut ngx_conf_t, words: &[String], why: Option<&str>) -> *mut c_char {
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

fn duplicate(cf: *mut ngx_conf_t, name: &str) -> *mut c_char {
    ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{}\" directive is duplicate", name);
    NGX_CONF_ERROR
}

unsafe extern "C" fn set_api(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx calls setters with a valid `cf` and this module's configuration.
    let (conf, words) = unsafe { (conf_of(conf), words(cf)) };
    if conf.api {
        return duplicate(cf, &words[0]);
    }
    // SAFETY: inside a location block the core module's location configuration exists.
    let Some(clcf) = (unsafe { NgxHttpCoreModule::location_conf_mut(&*cf) }) else {
        return NGX_CONF_ERROR;
    };
    conf.api = true;
    conf.prefix = str_of(&clcf.name);
    clcf.handler = Some(crate::handler::content_handler);
    NGX_CONF_OK
}

const NGX_CONF_OK: *mut c_char = ptr::null_mut();

unsafe extern "C" fn set_database(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_api`.
    let (conf, words) = unsafe { (conf_of(conf), words(cf)) };
    if conf.database.is_some() {
        return duplicate(cf, &words[0]);
    }
    match DbSettings::parse(&words[1]) {
        Ok(db) => {
            conf.database = Some(Rc::new(db));
            NGX_CONF_OK
        }
        Err(why) => {
            // the value may hold a password: name the directive, not the value
            ngx_conf_log_error!(
                NGX_LOG_EMERG,
                cf,
                "invalid connection string in \"{}\" directive: {}",
                words[0],
                why
            );
            NGX_CONF_ERROR
        }
    }
}

unsafe extern "C" fn set_cors_origins(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_api`.
    let (conf, words) = unsafe { (conf_of(conf), words(cf)) };
    if conf.cors_origins.is_some() {
        return duplicate(cf, &words[0]);
    }
    let origins: Vec<String> = words[1..].to_vec();
    for o in &origins {
        let ok = o == "*" || o.starts_with("http://") || o.starts_with("https://");
        if !ok || (o == "*" && origins.len() > 1) {
            let w = [words[0].clone(), o.clone()];
            return invalid(
                cf,
                &w,
                Some("expected \"*\" or origins like \"https://example.com\""),
            );
        }
    }
    conf.cors_origins = Some(origins);
    NGX_CONF_OK
}

/// One-argument directives: parse, check for duplicates, store.
unsafe extern "C" fn set_value(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_api`.
    let (conf, words) = unsafe { (conf_of(conf), words(cf)) };
    let v = words[1].as_str();
    macro_rules! store {
        ($field:ident, $parsed:expr) => {{
            if conf.$field.is_some() {
                return duplicate(cf, &words[0]);
            }
            match $parsed {
                Some(x) => conf.$field = Some(x),
                None => return invalid(cf, &words, None),
            }
        }};
    }
    match words[0].as_str() {
        "music_pool_size" => store!(pool_size, parse_count(v, 1, 1024)),
        "music_pool_pipeline" => store!(pool_pipeline, parse_count(v, 1, 4096)),
        "music_pool_queue" => store!(pool_queue, parse_count(v, 0, 1_000_000)),
        "music_pool_timeout" => store!(pool_timeout_ms, parse_duration_ms(v)),
        "music_connect_timeout" => store!(
            connect_timeout_ms,
            parse_duration_ms(v).filter(|&ms| ms > 0)
        ),
        "music_query_timeout" => {
            store!(query_timeout_ms, parse_duration_ms(v).filter(|&ms| ms > 0))
        }
        "music_time_zone" => {
            if conf.time_zone.is_some() {
                return duplicate(cf, &words[0]);
            }
            match v.parse::<chrono_tz::Tz>() {
                Ok(tz) => conf.time_zone = Some(tz),
                Err(_) => return invalid(cf, &words, Some("unknown time zone")),
            }
        }
        "music_auth" => {
            store!(
                auth,
                match v {
                    "basic" => Some(AuthMode::Basic),
                    "remote_user" => Some(AuthMode::RemoteUser),
                    _ => None,
                }
            );
            // SAFETY: as in `set_api`.
            conf.auth_declared_at = Some(unsafe { position(cf) });
        }
        "music_auth_cache_size" => store!(auth_cache_size, parse_count(v, 0, 10_000_000)),
        "music_auth_cache_valid" => store!(auth_cache_valid_ms, parse_duration_ms(v)),
        "music_auth_thread_pool" => store!(
            auth_thread_pool,
            Some(v.to_owned()).filter(|s| !s.is_empty())
        ),
        "music_cors" => store!(cors, parse_flag(v)),
        "music_cors_methods" => store!(cors_methods, Some(v.to_owned())),
        "music_cors_headers" => store!(cors_headers, Some(v.to_owned())),
        "music_cors_max_age" => store!(cors_max_age, parse_duration_ms(v).map(|ms| ms / 1000)),
        _ => return NGX_CONF_ERROR,
    }
    NGX_CONF_OK
}

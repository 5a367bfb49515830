//! The directive table and its setters. Each setter validates its arguments and fails with an
//! `[emerg]` naming the directive and the bad value (nginx adds `in <file>:<line>`), the way
//! nginx's own modules do.

use std::ffi::{c_char, c_void};
use std::rc::Rc;

use nginx_sys::{
    ngx_command_t, ngx_conf_t, NGX_CONF_1MORE, NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF,
    NGX_HTTP_MAIN_CONF, NGX_HTTP_SRV_CONF, NGX_LOG_EMERG,
};
use ngx::core::NGX_CONF_ERROR;
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule};
use ngx::{ngx_conf_log_error, ngx_string};

use super::setter::{self, duplicate, invalid, text, words, NGX_CONF_OK};
use super::values::{parse_count, parse_duration_ms, parse_flag, parse_size};
use super::{AuthMode, DbSettings, LocationConf};
use crate::ffi::tls::TlsContext;

/// The largest `music_list_buffer_size`: every list read whole holds up to this much per
/// request, so a bound beyond it would not bound anything.
const MAX_LIST_BUFFER_SIZE: usize = 64 * 1024 * 1024;

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF;

/// A directive allowed at every level.
const fn command(name: nginx_sys::ngx_str_t, args: u32, set: setter::Setter) -> ngx_command_t {
    setter::command(name, ANY_LEVEL | args, set)
}

/// The directive table, terminated by an empty command.
pub static mut COMMANDS: [ngx_command_t; 29] = [
    setter::command(
        ngx_string!("music_api"),
        NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
        set_api,
    ),
    setter::command(
        ngx_string!("music_auth_pages"),
        NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
        set_api,
    ),
    command(ngx_string!("music_database"), NGX_CONF_TAKE1, set_database),
    command(
        ngx_string!("music_read_database"),
        NGX_CONF_TAKE1,
        set_database,
    ),
    command(
        ngx_string!("music_read_fallback"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(ngx_string!("music_pool_size"), NGX_CONF_TAKE1, set_value),
    command(
        ngx_string!("music_pool_stream_size"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(
        ngx_string!("music_list_buffer_size"),
        NGX_CONF_TAKE1,
        set_value,
    ),
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
    command(
        ngx_string!("music_prepared_statements"),
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
    command(ngx_string!("music_auth_listen"), NGX_CONF_TAKE1, set_value),
    command(
        ngx_string!("music_auth_thread_pool"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    command(ngx_string!("music_auth_queue"), NGX_CONF_TAKE1, set_value),
    command(ngx_string!("music_cors"), NGX_CONF_TAKE1, set_value),
    command(
        ngx_string!("music_cors_origins"),
        NGX_CONF_1MORE,
        set_cors_origins,
    ),
    command(ngx_string!("music_cors_methods"), NGX_CONF_TAKE1, set_value),
    command(ngx_string!("music_cors_headers"), NGX_CONF_TAKE1, set_value),
    command(ngx_string!("music_cors_max_age"), NGX_CONF_TAKE1, set_value),
    command(
        ngx_string!("music_django_secret_key_file"),
        NGX_CONF_1MORE,
        set_django_secret,
    ),
    command(
        ngx_string!("music_session_cookie"),
        NGX_CONF_TAKE1,
        set_value,
    ),
    ngx_command_t::empty(),
];

/// `file:line` of the directive being read, as nginx prints it after `in`.
unsafe fn position(cf: *mut ngx_conf_t) -> String {
    // SAFETY: while a directive is read `cf->conf_file` is the file being parsed.
    unsafe {
        let file = &*(*cf).conf_file;
        format!("{}:{}", text(&file.file.name), file.line)
    }
}

unsafe fn conf_of<'a>(conf: *mut c_void) -> &'a mut LocationConf {
    // SAFETY: nginx passes the location configuration this module created for this level.
    unsafe { setter::conf_of::<LocationConf>(conf) }
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
    let kind = if !clcf.regex.is_null() {
        LocationKind::Regex
    } else if clcf.named() != 0 {
        LocationKind::Named
    } else if clcf.exact_match() != 0 {
        LocationKind::Exact
    } else if clcf.noregex() != 0 {
        LocationKind::PrefixNoRegex
    } else {
        LocationKind::Prefix
    };
    let name = text(&clcf.name);
    if let Err(why) = api_location(kind, &name) {
        ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{}\" {}", words[0], why);
        return NGX_CONF_ERROR;
    }
    conf.api = true;
    conf.auth_pages = words[0] == "music_auth_pages";
    conf.prefix = name;
    // the content handler is installed when the location is merged (lib.rs), so that this
    // layer names nothing above it
    // `GET /api` answers 301 to `/api/` (Django's APPEND_SLASH), as nginx does for the
    // prefix of a `proxy_pass` location: the request would otherwise fall to another location.
    clcf.set_auto_redirect(1);
    NGX_CONF_OK
}

/// The forms of `location` (`ngx_http_core_location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocationKind {
    /// `location /api/`
    Prefix,
    /// `location ^~ /api/`
    PrefixNoRegex,
    /// `location = /api/`
    Exact,
    /// `location ~ ^/api/`, `location ~* ...`
    Regex,
    /// `location @api`
    Named,
}

/// Whether `music_api` can serve the location `name` of this kind: the location's prefix is
/// the API root that every route and every link in the answers is built on, so it must be a
/// prefix that ends in "/" (a request outside it, or a root without the slash, would get
/// wrong links or 404s), or that root itself as an exact match. The error says what to write
/// instead.
fn api_location(kind: LocationKind, name: &str) -> Result<(), String> {
    let slashed = |name: &str| match name.ends_with('/') {
        true => name.to_owned(),
        false => format!("{name}/"),
    };
    match kind {
        LocationKind::Prefix | LocationKind::PrefixNoRegex if name.ends_with('/') => Ok(()),
        // the root alone, e.g. kept outside a `limit_req` that guards the routes that check
        // passwords: its links are built on the same prefix as the prefix location's
        LocationKind::Exact if name.ends_with('/') => Ok(()),
        LocationKind::Prefix => Err(format!(
            "needs a location prefix ending in \"/\": write \"location {} {{\" instead of \
             \"location {name} {{\" (a request for \"{name}\" is then redirected to \"{}\")",
            slashed(name),
            slashed(name)
        )),
        LocationKind::PrefixNoRegex => Err(format!(
            "needs a location prefix ending in \"/\": write \"location ^~ {} {{\" instead of \
             \"location ^~ {name} {{\"",
            slashed(name)
        )),
        LocationKind::Exact => Err(format!(
            "cannot serve an exact match location of a path without the final \"/\" \
             (\"location = {name}\"): write the prefix location \"location {} {{\", or \
             \"location = {} {{\" for the API root alone",
            slashed(name),
            slashed(name)
        )),
        LocationKind::Regex => Err(format!(
            "cannot serve a regex location (\"{name}\"): write a prefix location ending in \
             \"/\", such as \"location /api/ {{\""
        )),
        LocationKind::Named => Err(format!(
            "cannot serve a named location (\"location {name}\"): write a prefix location \
             ending in \"/\", such as \"location /api/ {{\""
        )),
    }
}

unsafe extern "C" fn set_database(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_api`.
    let (conf, words) = unsafe { (conf_of(conf), words(cf)) };
    // `music_database` (every request), or `music_read_database` (the requests that only read)
    let slot = match words[0].as_str() {
        "music_read_database" => &mut conf.read_database,
        _ => &mut conf.database,
    };
    if slot.is_some() {
        return duplicate(cf, &words[0]);
    }
    // a name that does not resolve yet is an error at merge only if no `resolver` is set
    let parsed = DbSettings::parse_resolving_later(&words[1]).and_then(|mut db| {
        if db.may_use_tls() {
            // SAFETY: `cf` is the configuration being read, as this handler's caller gives it.
            db.tls_context = Some(unsafe { TlsContext::create(cf, &db.tls) }?);
        }
        Ok(db)
    });
    match parsed {
        Ok(db) => {
            *slot = Some(Rc::new(db));
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

/// `music_django_secret_key_file current [older …]`: the files are read now, by the master,
/// so that workers never open them and the keys never pass through the configuration text.
/// A relative name is relative to the configuration prefix, as `auth_basic_user_file`.
unsafe extern "C" fn set_django_secret(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    // SAFETY: as in `set_api`; `cf->cycle` is the cycle being configured.
    let (conf, words, prefix) =
        unsafe { (conf_of(conf), words(cf), text(&(*(*cf).cycle).conf_prefix)) };
    if conf.django_secret.is_some() {
        return duplicate(cf, &words[0]);
    }
    let paths: Vec<std::path::PathBuf> = words[1..]
        .iter()
        .map(|w| std::path::Path::new(&prefix).join(w))
        .collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    match super::secret::DjangoSecret::read(&refs) {
        Ok(secret) => {
            conf.django_secret = Some(Rc::new(secret));
            NGX_CONF_OK
        }
        Err(why) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "\"{}\" {}", words[0], why);
            NGX_CONF_ERROR
        }
    }
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
        "music_pool_stream_size" => store!(pool_stream_size, parse_count(v, 1, 1024)),
        "music_list_buffer_size" => store!(
            list_buffer_size,
            parse_size(v).filter(|&n| n <= MAX_LIST_BUFFER_SIZE)
        ),
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
        "music_prepared_statements" => store!(prepared_statements, parse_flag(v)),
        "music_read_fallback" => store!(read_fallback, parse_flag(v)),
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
        "music_auth_listen" => store!(auth_listen, parse_flag(v)),
        "music_auth_thread_pool" => store!(
            auth_thread_pool,
            Some(v.to_owned()).filter(|s| !s.is_empty())
        ),
        "music_auth_queue" => store!(auth_queue, parse_count(v, 1, 1_000_000)),
        "music_cors" => store!(cors, parse_flag(v)),
        "music_cors_methods" => store!(cors_methods, Some(v.to_owned())),
        "music_cors_headers" => store!(cors_headers, Some(v.to_owned())),
        "music_cors_max_age" => store!(cors_max_age, parse_duration_ms(v).map(|ms| ms / 1000)),
        // Django's cookie names are RFC 6265 tokens
        "music_session_cookie" => store!(
            session_cookie,
            Some(v.to_owned()).filter(|s| {
                !s.is_empty()
                    && s.bytes()
                        .all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&c))
            })
        ),
        _ => return NGX_CONF_ERROR,
    }
    NGX_CONF_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_locations() {
        assert_eq!(api_location(LocationKind::Prefix, "/api/"), Ok(()));
        assert_eq!(api_location(LocationKind::Prefix, "/"), Ok(()));
        assert_eq!(
            api_location(LocationKind::PrefixNoRegex, "/v1/music/"),
            Ok(())
        );
        assert_eq!(
            api_location(LocationKind::Prefix, "/music"),
            Err(
                "needs a location prefix ending in \"/\": write \"location /music/ {\" instead \
                 of \"location /music {\" (a request for \"/music\" is then redirected to \
                 \"/music/\")"
                    .into()
            )
        );
        assert_eq!(
            api_location(LocationKind::PrefixNoRegex, "/music"),
            Err(
                "needs a location prefix ending in \"/\": write \"location ^~ /music/ {\" \
                 instead of \"location ^~ /music {\""
                    .into()
            )
        );
        assert_eq!(api_location(LocationKind::Exact, "/api/"), Ok(()));
        assert_eq!(
            api_location(LocationKind::Exact, "/api"),
            Err(
                "cannot serve an exact match location of a path without the final \"/\" \
                 (\"location = /api\"): write the prefix location \"location /api/ {\", or \
                 \"location = /api/ {\" for the API root alone"
                    .into()
            )
        );
        assert_eq!(
            api_location(LocationKind::Regex, "^/api/"),
            Err(
                "cannot serve a regex location (\"^/api/\"): write a prefix location ending \
                 in \"/\", such as \"location /api/ {\""
                    .into()
            )
        );
        assert_eq!(
            api_location(LocationKind::Named, "@api"),
            Err(
                "cannot serve a named location (\"location @api\"): write a prefix location \
                 ending in \"/\", such as \"location /api/ {\""
                    .into()
            )
        );
    }
}

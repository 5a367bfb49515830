//! The module's directives, their per-location configuration and its merge.
//!
//! Every directive but `music_api` is allowed at http, server and location level and is
//! inherited downwards as nginx's own directives are: a value set in a location wins, else the
//! enclosing server's, else http's, else the default (applied in [`LocationConf::merge_from`]).

pub mod database;
pub mod directives;
pub mod setter;
pub mod tls;
pub mod values;

use std::rc::Rc;

use chrono_tz::Tz;

pub use database::DbSettings;

use crate::ffi::thread_task::ThreadPoolRef;

/// How `/api/musics…` requests are authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// HTTP Basic against Django's `auth_user` (the original's behaviour).
    Basic,
    /// Trust the user name an access-phase module (`auth_basic`, `auth_request`) verified in
    /// the same request, if it is an active user in `auth_user`.
    RemoteUser,
}

/// `music_auth_queue`: PBKDF2 checks a worker runs or queues at once.
pub const DEFAULT_AUTH_QUEUE: usize = 16;

/// Why `nginx -t` refuses a location with `music_auth remote_user`, and what to write instead.
pub fn unverified_remote_user(why: crate::ffi::access::Unverified) -> &'static str {
    match why {
        crate::ffi::access::Unverified::NoVerifier => {
            "trusts a user name nobody verifies: neither \"auth_basic\" (with \"auth_basic_user_file\") \
             nor \"auth_request\" is in effect there, so the name would be whatever the client's \
             Authorization header says; add \"auth_basic\" and \"auth_basic_user_file\" (or \
             \"auth_request\") to the location, or use \"music_auth basic\""
        }
        crate::ffi::access::Unverified::SatisfyAny => {
            "cannot be used with \"satisfy any\": a request that another access rule (such as \
             \"allow\") lets in reaches the API with a user name nobody verified; use \
             \"satisfy all\", or \"music_auth basic\""
        }
    }
}

pub const DEFAULT_TIME_ZONE: &str = "Asia/Taipei";
pub const DEFAULT_CORS_METHODS: &str = "GET, OPTIONS, PATCH, POST, PUT";
pub const DEFAULT_CORS_HEADERS: &str = "accept, accept-encoding, authorization, content-type, dnt, origin, user-agent, x-csrftoken, x-requested-with, Cache-Control";

/// Per-location configuration. `None` means "not set at this level".
#[derive(Debug, Default)]
pub struct LocationConf {
    /// `music_api` was given in this very location (not inherited).
    pub api: bool,
    /// The location's prefix (`/api/`), taken from the location when `music_api` is read.
    pub prefix: String,
    pub database: Option<Rc<DbSettings>>,
    pub pool_size: Option<usize>,
    /// Connections per worker for streamed lists, apart from `pool_size`.
    pub pool_stream_size: Option<usize>,
    pub pool_pipeline: Option<usize>,
    pub pool_queue: Option<usize>,
    pub pool_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub query_timeout_ms: Option<u64>,
    pub time_zone: Option<Tz>,
    pub auth: Option<AuthMode>,
    /// Where the `music_auth` in effect was written (`file:line`), for errors about it.
    pub auth_declared_at: Option<String>,
    /// Set in merge for `music_api` locations with `music_auth remote_user`: the modules that
    /// verify the user there (see `crate::ffi::access`).
    pub verifiers: Option<crate::ffi::access::Verifiers>,
    pub auth_cache_size: Option<usize>,
    pub auth_cache_valid_ms: Option<u64>,
    pub auth_thread_pool: Option<String>,
    pub auth_queue: Option<usize>,
    /// Resolved in merge (`ngx_thread_pool_add`) for locations with `music_api`.
    pub thread_pool: Option<ThreadPoolRef>,
    pub cors: Option<bool>,
    pub cors_origins: Option<Vec<String>>,
    pub cors_methods: Option<String>,
    pub cors_headers: Option<String>,
    pub cors_max_age: Option<u64>,
    /// Built once from the `music_cors*` values when the location is merged.
    pub cors_policy: Option<crate::api::CorsPolicy>,
}

fn inherit<T: Clone>(own: &mut Option<T>, prev: &Option<T>, default: impl FnOnce() -> T) {
    if own.is_none() {
        *own = Some(prev.clone().unwrap_or_else(default));
    }
}

impl LocationConf {
    /// nginx's `ngx_conf_merge_*_value`: own value, else the enclosing level's, else default.
    pub fn merge_from(&mut self, prev: &LocationConf) {
        if self.database.is_none() {
            self.database = prev.database.clone();
        }
        inherit(&mut self.pool_size, &prev.pool_size, || 2);
        inherit(&mut self.pool_stream_size, &prev.pool_stream_size, || 2);
        inherit(&mut self.pool_pipeline, &prev.pool_pipeline, || 32);
        inherit(&mut self.pool_queue, &prev.pool_queue, || 1024);
        inherit(&mut self.pool_timeout_ms, &prev.pool_timeout_ms, || 3000);
        inherit(
            &mut self.connect_timeout_ms,
            &prev.connect_timeout_ms,
            || 3000,
        );
        inherit(&mut self.query_timeout_ms, &prev.query_timeout_ms, || {
            10_000
        });
        inherit(&mut self.time_zone, &prev.time_zone, || {
            chrono_tz::Asia::Taipei
        });
        if self.auth.is_none() {
            self.auth_declared_at = prev.auth_declared_at.clone();
        }
        inherit(&mut self.auth, &prev.auth, || AuthMode::Basic);
        inherit(&mut self.auth_cache_size, &prev.auth_cache_size, || 1024);
        inherit(
            &mut self.auth_cache_valid_ms,
            &prev.auth_cache_valid_ms,
            || 5000,
        );
        inherit(&mut self.auth_thread_pool, &prev.auth_thread_pool, || {
            "default".into()
        });
        inherit(&mut self.auth_queue, &prev.auth_queue, || {
            DEFAULT_AUTH_QUEUE
        });
        inherit(&mut self.cors, &prev.cors, || true);
        inherit(&mut self.cors_origins, &prev.cors_origins, || {
            vec!["*".into()]
        });
        inherit(&mut self.cors_methods, &prev.cors_methods, || {
            DEFAULT_CORS_METHODS.into()
        });
        inherit(&mut self.cors_headers, &prev.cors_headers, || {
            DEFAULT_CORS_HEADERS.into()
        });
        inherit(&mut self.cors_max_age, &prev.cors_max_age, || 86_400);
    }
}

impl LocationConf {
    /// The CORS settings of this (merged) location, as the API layer takes them.
    pub fn build_cors_policy(&self) -> crate::api::CorsPolicy {
        let defaults = crate::api::CorsPolicy::default();
        crate::api::CorsPolicy {
            enabled: self.cors.unwrap_or(true),
            allow_origins: match &self.cors_origins {
                Some(list) => crate::api::AllowedOrigins::from_list(list.clone()),
                None => defaults.allow_origins,
            },
            allow_methods: self.cors_methods.clone().unwrap_or(defaults.allow_methods),
            allow_headers: self.cors_headers.clone().unwrap_or(defaults.allow_headers),
            max_age: self
                .cors_max_age
                .map_or(defaults.max_age, |s| s.min(u32::MAX as u64) as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_inherits_then_defaults() {
        let http = LocationConf {
            pool_size: Some(8),
            ..Default::default()
        };
        let mut server = LocationConf::default();
        server.merge_from(&http);
        let mut loc = LocationConf {
            query_timeout_ms: Some(50),
            ..Default::default()
        };
        loc.merge_from(&server);
        assert_eq!(loc.pool_size, Some(8));
        assert_eq!(loc.pool_stream_size, Some(2));
        assert_eq!(loc.query_timeout_ms, Some(50));
        assert_eq!(loc.pool_timeout_ms, Some(3000));
        assert_eq!(loc.time_zone, Some(chrono_tz::Asia::Taipei));
        assert_eq!(loc.cors_methods.as_deref(), Some(DEFAULT_CORS_METHODS));
        assert_eq!(loc.auth_queue, Some(DEFAULT_AUTH_QUEUE));
    }

    #[test]
    fn auth_queue_inherits_from_server() {
        let server = LocationConf {
            auth_queue: Some(1),
            ..Default::default()
        };
        let mut loc = LocationConf::default();
        loc.merge_from(&server);
        assert_eq!(loc.auth_queue, Some(1));
    }

    #[test]
    fn music_auth_keeps_where_it_was_written() {
        let server = LocationConf {
            auth: Some(AuthMode::RemoteUser),
            auth_declared_at: Some("nginx.conf:7".into()),
            ..Default::default()
        };
        let mut inherits = LocationConf::default();
        inherits.merge_from(&server);
        assert_eq!(inherits.auth, Some(AuthMode::RemoteUser));
        assert_eq!(inherits.auth_declared_at.as_deref(), Some("nginx.conf:7"));
        let mut own = LocationConf {
            auth: Some(AuthMode::Basic),
            auth_declared_at: Some("nginx.conf:12".into()),
            ..Default::default()
        };
        own.merge_from(&server);
        assert_eq!(own.auth_declared_at.as_deref(), Some("nginx.conf:12"));
    }
}

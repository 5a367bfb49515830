//! The module's directives, their per-location configuration and its merge.
//!
//! Every directive but `music_api` is allowed at http, server and location level and is
//! inherited downwards as nginx's own directives are: a value set in a location wins, else the
//! enclosing server's, else http's, else the default ([`settings`], applied in
//! [`LocationConf::merge_from`]). A location with `music_api` keeps the result as
//! [`ApiSettings`], which is all its request path reads.

pub mod database;
pub mod directives;
pub mod hosts;
pub mod secret;
pub mod setter;
pub mod settings;
pub mod tls;
pub mod values;

use std::rc::Rc;

use chrono_tz::Tz;

pub use database::DbSettings;
pub use settings::{ApiSettings, AuthMode, PoolSettings, ReadSettings, SessionSettings};

use crate::api::cors::{DEFAULT_ALLOW_HEADERS, DEFAULT_ALLOW_METHODS, DEFAULT_MAX_AGE};
use crate::api::{AllowedOrigins, CorsPolicy};
use settings::*;

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

/// Per-location configuration: what the directives set at each level (`None`: not set at this
/// level, so inherited), and for a `music_api` location the settings resolved from them.
#[derive(Debug, Default)]
pub struct LocationConf {
    /// `music_api` was given in this very location (not inherited).
    pub api: bool,
    /// `music_auth_pages` (instead of `music_api`): the login and logout pages.
    pub auth_pages: bool,
    /// The location's prefix (`/api/`), taken from the location when `music_api` is read.
    pub prefix: String,
    pub database: Option<Rc<DbSettings>>,
    /// `music_read_database`: where the requests that only read go.
    pub read_database: Option<Rc<DbSettings>>,
    /// `music_read_fallback`: reads go to `database` when no read server answers.
    pub read_fallback: Option<bool>,
    pub pool_size: Option<usize>,
    /// Connections per worker for streamed lists, apart from `pool_size`.
    pub pool_stream_size: Option<usize>,
    /// `music_list_buffer_size`, in bytes.
    pub list_buffer_size: Option<usize>,
    pub pool_pipeline: Option<usize>,
    pub pool_queue: Option<usize>,
    pub pool_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub query_timeout_ms: Option<u64>,
    /// `music_prepared_statements`: off sends every statement unnamed (for poolers in
    /// transaction mode).
    pub prepared_statements: Option<bool>,
    pub time_zone: Option<Tz>,
    pub auth: Option<AuthMode>,
    /// Where the `music_auth` in effect was written (`file:line`), for errors about it.
    pub auth_declared_at: Option<String>,
    pub auth_cache_size: Option<usize>,
    pub auth_cache_valid_ms: Option<u64>,
    pub auth_listen: Option<bool>,
    pub auth_thread_pool: Option<String>,
    pub auth_queue: Option<usize>,
    pub cors: Option<bool>,
    pub cors_origins: Option<Vec<String>>,
    pub cors_methods: Option<String>,
    pub cors_headers: Option<String>,
    pub cors_max_age: Option<u64>,
    /// `music_django_secret_key_file`: the keys, read when the directive is read.
    pub django_secret: Option<Rc<secret::DjangoSecret>>,
    pub session_cookie: Option<String>,
    /// Set in merge for a location with `music_api`: all the request path reads.
    pub settings: Option<ApiSettings>,
}

/// nginx's `ngx_conf_merge_*_value`: the own value, else the enclosing level's, else the
/// default; the level keeps the result (its sublevels inherit it) and it is returned.
fn merged<T: Clone>(own: &mut Option<T>, prev: &Option<T>, default: impl FnOnce() -> T) -> T {
    own.get_or_insert_with(|| prev.clone().unwrap_or_else(default))
        .clone()
}

impl LocationConf {
    /// Merges this level with the enclosing one (nginx's `merge_loc_conf`) and returns this
    /// level's settings, every default applied.
    pub fn merge_from(&mut self, prev: &LocationConf) -> MergedSettings {
        if self.database.is_none() {
            self.database = prev.database.clone();
        }
        if self.read_database.is_none() {
            self.read_database = prev.read_database.clone();
        }
        let reads = ReadSettings {
            database: self.read_database.clone(),
            fallback: merged(&mut self.read_fallback, &prev.read_fallback, || {
                DEFAULT_READ_FALLBACK
            }),
        };
        if self.django_secret.is_none() {
            self.django_secret = prev.django_secret.clone();
        }
        if self.auth.is_none() {
            self.auth_declared_at = prev.auth_declared_at.clone();
        }
        let pool = PoolSettings {
            size: merged(&mut self.pool_size, &prev.pool_size, || DEFAULT_POOL_SIZE),
            stream_size: merged(&mut self.pool_stream_size, &prev.pool_stream_size, || {
                DEFAULT_POOL_STREAM_SIZE
            }),
            pipeline: merged(&mut self.pool_pipeline, &prev.pool_pipeline, || {
                DEFAULT_POOL_PIPELINE
            }),
            queue: merged(&mut self.pool_queue, &prev.pool_queue, || {
                DEFAULT_POOL_QUEUE
            }),
            wait_ms: merged(&mut self.pool_timeout_ms, &prev.pool_timeout_ms, || {
                DEFAULT_POOL_TIMEOUT_MS
            }),
            connect_ms: merged(
                &mut self.connect_timeout_ms,
                &prev.connect_timeout_ms,
                || DEFAULT_CONNECT_TIMEOUT_MS,
            ),
            query_timeout_ms: merged(&mut self.query_timeout_ms, &prev.query_timeout_ms, || {
                DEFAULT_QUERY_TIMEOUT_MS
            }),
            prepared_statements: merged(
                &mut self.prepared_statements,
                &prev.prepared_statements,
                || DEFAULT_PREPARED_STATEMENTS,
            ),
        };
        let auth = AuthSettings {
            mode: merged(&mut self.auth, &prev.auth, || DEFAULT_AUTH),
            cache_size: merged(&mut self.auth_cache_size, &prev.auth_cache_size, || {
                DEFAULT_AUTH_CACHE_SIZE
            }),
            cache_valid_ms: merged(
                &mut self.auth_cache_valid_ms,
                &prev.auth_cache_valid_ms,
                || DEFAULT_AUTH_CACHE_VALID_MS,
            ),
            listen: merged(&mut self.auth_listen, &prev.auth_listen, || {
                DEFAULT_AUTH_LISTEN
            }),
            queue: merged(&mut self.auth_queue, &prev.auth_queue, || {
                DEFAULT_AUTH_QUEUE
            }),
            thread_pool_name: merged(&mut self.auth_thread_pool, &prev.auth_thread_pool, || {
                DEFAULT_AUTH_THREAD_POOL.into()
            }),
        };
        let cors = CorsPolicy {
            enabled: merged(&mut self.cors, &prev.cors, || DEFAULT_CORS),
            allow_origins: AllowedOrigins::from_list(merged(
                &mut self.cors_origins,
                &prev.cors_origins,
                || DEFAULT_CORS_ORIGINS.iter().map(|&o| o.into()).collect(),
            )),
            allow_methods: merged(&mut self.cors_methods, &prev.cors_methods, || {
                DEFAULT_ALLOW_METHODS.into()
            }),
            allow_headers: merged(&mut self.cors_headers, &prev.cors_headers, || {
                DEFAULT_ALLOW_HEADERS.into()
            }),
            max_age: merged(&mut self.cors_max_age, &prev.cors_max_age, || {
                DEFAULT_MAX_AGE.into()
            })
            .min(u32::MAX.into()) as u32,
        };
        MergedSettings {
            pool,
            list_buffer_size: merged(&mut self.list_buffer_size, &prev.list_buffer_size, || {
                DEFAULT_LIST_BUFFER_SIZE
            }),
            reads,
            auth,
            cors,
            time_zone: merged(&mut self.time_zone, &prev.time_zone, || DEFAULT_TIME_ZONE),
            sessions: SessionSettings {
                secret: self.django_secret.clone(),
                cookie_name: merged(&mut self.session_cookie, &prev.session_cookie, || {
                    DEFAULT_SESSION_COOKIE.into()
                }),
                csrf_cookie_name: "csrftoken".into(),
            },
        }
    }
}

#[cfg(test)]
impl ApiSettings {
    /// For unit tests: a `music_api` location at `prefix` after merge, `edit` applied to its
    /// directives first (a local database, no thread pool, no verifiers).
    pub fn for_tests(prefix: &str, edit: impl FnOnce(&mut LocationConf)) -> ApiSettings {
        let mut location = LocationConf {
            api: true,
            prefix: prefix.into(),
            ..Default::default()
        };
        edit(&mut location);
        let merged = location.merge_from(&LocationConf::default());
        let database =
            Rc::new(DbSettings::parse("host=127.0.0.1 user=music dbname=music").unwrap());
        ApiSettings::new(
            location.prefix.clone(),
            database,
            merged,
            crate::ffi::thread_task::ThreadPoolRef(std::ptr::null_mut()),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What nginx does for `location` inside `server` inside `http`: each level merged with
    /// the one around it, outermost first.
    fn merge_chain(
        mut http: LocationConf,
        mut server: LocationConf,
        mut location: LocationConf,
    ) -> (LocationConf, MergedSettings) {
        http.merge_from(&LocationConf::default());
        server.merge_from(&http);
        let merged = location.merge_from(&server);
        (location, merged)
    }

    #[test]
    fn defaults_when_no_level_sets_anything() {
        let (_, merged) = merge_chain(
            LocationConf::default(),
            LocationConf::default(),
            LocationConf::default(),
        );
        assert_eq!(
            merged,
            MergedSettings {
                pool: PoolSettings {
                    size: 2,
                    stream_size: 2,
                    pipeline: 32,
                    queue: 1024,
                    wait_ms: 3000,
                    connect_ms: 3000,
                    query_timeout_ms: 10_000,
                    prepared_statements: true,
                },
                list_buffer_size: 256 * 1024,
                // every read on music_database unless music_read_database is set
                reads: ReadSettings {
                    database: None,
                    fallback: true,
                },
                auth: AuthSettings {
                    mode: AuthMode::Basic,
                    cache_size: 1024,
                    cache_valid_ms: 5000,
                    listen: false,
                    queue: 16,
                    thread_pool_name: "default".into(),
                },
                // The original's django-cors-headers settings.
                cors: CorsPolicy::default(),
                time_zone: "Asia/Taipei".parse().unwrap(),
                sessions: SessionSettings {
                    secret: None,
                    cookie_name: "sessionid".into(),
                    csrf_cookie_name: "csrftoken".into(),
                },
            }
        );
    }

    #[test]
    fn inherits_http_then_server_then_location() {
        let http = LocationConf {
            pool_size: Some(8),
            pool_queue: Some(5),
            query_timeout_ms: Some(700),
            time_zone: Some(chrono_tz::UTC),
            cors_origins: Some(vec!["https://a.example".into()]),
            ..Default::default()
        };
        let server = LocationConf {
            pool_queue: Some(6),
            auth_cache_size: Some(0),
            auth_listen: Some(true),
            cors: Some(false),
            ..Default::default()
        };
        let location = LocationConf {
            query_timeout_ms: Some(50),
            connect_timeout_ms: Some(40),
            auth_thread_pool: Some("music".into()),
            cors_max_age: Some(u64::MAX),
            ..Default::default()
        };
        let (location, merged) = merge_chain(http, server, location);
        // http's value where nothing below sets it, the server's over http's, the location's
        // over both.
        assert_eq!(merged.pool.size, 8);
        assert_eq!(merged.pool.queue, 6);
        assert_eq!(merged.pool.query_timeout_ms, 50);
        assert_eq!(merged.pool.connect_ms, 40);
        assert_eq!(merged.pool.pipeline, DEFAULT_POOL_PIPELINE);
        assert_eq!(merged.time_zone, chrono_tz::UTC);
        assert_eq!(merged.auth.cache_size, 0);
        assert!(merged.auth.listen);
        assert_eq!(merged.auth.thread_pool_name, "music");
        assert!(!merged.cors.enabled);
        assert_eq!(
            merged.cors.allow_origins,
            AllowedOrigins::List(vec!["https://a.example".into()])
        );
        assert_eq!(merged.cors.max_age, u32::MAX);
        // The level keeps what it resolved, for the levels below it.
        let mut nested = LocationConf::default();
        assert_eq!(nested.merge_from(&location), merged);
    }

    /// A read server set at http level serves the locations below; `music_read_fallback` is
    /// inherited like any flag.
    #[test]
    fn the_read_server_and_its_fallback_are_inherited() {
        let read = Rc::new(DbSettings::parse("host=127.0.0.1 user=r").unwrap());
        let http = LocationConf {
            read_database: Some(read.clone()),
            ..Default::default()
        };
        let server = LocationConf {
            read_fallback: Some(false),
            ..Default::default()
        };
        let (location, merged) = merge_chain(http, server, LocationConf::default());
        assert!(Rc::ptr_eq(merged.reads.database.as_ref().unwrap(), &read));
        assert!(!merged.reads.fallback);
        let mut nested = LocationConf::default();
        assert_eq!(nested.merge_from(&location).reads, merged.reads);
        // another read server below replaces it
        let other = Rc::new(DbSettings::parse("host=127.0.0.1 user=o").unwrap());
        let mut own = LocationConf {
            read_database: Some(other.clone()),
            ..Default::default()
        };
        let reads = own.merge_from(&location).reads;
        assert!(Rc::ptr_eq(reads.database.as_ref().unwrap(), &other));
        assert_ne!(reads, merged.reads);
    }

    #[test]
    fn music_auth_keeps_where_it_was_written() {
        let server = LocationConf {
            auth: Some(AuthMode::RemoteUser),
            auth_declared_at: Some("nginx.conf:7".into()),
            ..Default::default()
        };
        let mut inherits = LocationConf::default();
        assert_eq!(inherits.merge_from(&server).auth.mode, AuthMode::RemoteUser);
        assert_eq!(inherits.auth_declared_at.as_deref(), Some("nginx.conf:7"));
        let mut own = LocationConf {
            auth: Some(AuthMode::Basic),
            auth_declared_at: Some("nginx.conf:12".into()),
            ..Default::default()
        };
        assert_eq!(own.merge_from(&server).auth.mode, AuthMode::Basic);
        assert_eq!(own.auth_declared_at.as_deref(), Some("nginx.conf:12"));
    }

    #[test]
    fn api_settings_are_the_merged_ones() {
        let server = LocationConf {
            pool_stream_size: Some(3),
            list_buffer_size: Some(0),
            auth: Some(AuthMode::RemoteUser),
            auth_queue: Some(1),
            ..Default::default()
        };
        let mut location = LocationConf {
            api: true,
            prefix: "/api/".into(),
            ..Default::default()
        };
        let merged = location.merge_from(&server);
        let database =
            Rc::new(DbSettings::parse("host=127.0.0.1 user=music dbname=music").unwrap());
        let api = ApiSettings::new(
            location.prefix.clone(),
            database.clone(),
            merged.clone(),
            crate::ffi::thread_task::ThreadPoolRef(std::ptr::null_mut()),
            None,
        );
        assert_eq!(api.prefix, "/api/");
        assert!(Rc::ptr_eq(&api.database, &database));
        assert_eq!(api.pool, merged.pool);
        assert_eq!(api.pool.stream_size, 3);
        assert_eq!(
            api.list_buffer_size, 0,
            "0 (every list streams) is inherited as a value"
        );
        assert_eq!(api.auth, merged.auth);
        assert_eq!(api.auth.queue, 1);
        assert_eq!(api.auth.mode, AuthMode::RemoteUser);
        assert_eq!(api.cors, merged.cors);
        assert_eq!(api.time_zone, merged.time_zone);
    }

    #[test]
    fn prepared_statements_off_inherits() {
        let http = LocationConf {
            prepared_statements: Some(false),
            ..Default::default()
        };
        let (_, merged) = merge_chain(http, LocationConf::default(), LocationConf::default());
        assert!(!merged.pool.prepared_statements);
        let own = LocationConf {
            prepared_statements: Some(true),
            ..Default::default()
        };
        let http = LocationConf {
            prepared_statements: Some(false),
            ..Default::default()
        };
        let (_, merged) = merge_chain(http, LocationConf::default(), own);
        assert!(merged.pool.prepared_statements);
    }
}

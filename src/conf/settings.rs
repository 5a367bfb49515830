//! What a `music_api` location does, decided once when the configuration is merged: plain
//! typed values, every directive's default applied, so that the request path reads settings
//! and never decides a default itself.
//!
//! The defaults below are the only ones; like nginx's own modules
//! (`ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 60000)`) they apply at merge time
//! to whatever no level set.

use std::rc::Rc;

use chrono_tz::Tz;

use super::database::DbSettings;
use super::secret::DjangoSecret;
use crate::api::CorsPolicy;
use crate::ffi::access::Verifiers;
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

/// `music_pool_size`.
pub const DEFAULT_POOL_SIZE: usize = 2;
/// `music_pool_stream_size`.
pub const DEFAULT_POOL_STREAM_SIZE: usize = 2;
/// `music_list_buffer_size`: a list answer up to this size is read whole on a shared
/// connection and answered from memory; a larger one streams on a connection of its own.
pub const DEFAULT_LIST_BUFFER_SIZE: usize = 256 * 1024;
/// `music_pool_pipeline`.
pub const DEFAULT_POOL_PIPELINE: usize = 32;
/// `music_pool_queue`.
pub const DEFAULT_POOL_QUEUE: usize = 1024;
/// `music_pool_timeout`.
pub const DEFAULT_POOL_TIMEOUT_MS: u64 = 3000;
/// `music_connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 3000;
/// `music_query_timeout`.
pub const DEFAULT_QUERY_TIMEOUT_MS: u64 = 10_000;
/// `music_prepared_statements`: statements are prepared once per connection.
pub const DEFAULT_PREPARED_STATEMENTS: bool = true;
/// `music_read_fallback`: a read goes to `music_database` when no `music_read_database`
/// server answers.
pub const DEFAULT_READ_FALLBACK: bool = true;
/// `music_time_zone`: the original deployment's `TIME_ZONE = 'Asia/Taipei'`.
pub const DEFAULT_TIME_ZONE: Tz = chrono_tz::Asia::Taipei;
/// `music_auth`: HTTP Basic, as the original.
pub const DEFAULT_AUTH: AuthMode = AuthMode::Basic;
/// `music_auth_cache_size`.
pub const DEFAULT_AUTH_CACHE_SIZE: usize = 1024;
/// `music_auth_cache_valid`.
pub const DEFAULT_AUTH_CACHE_VALID_MS: u64 = 5000;
/// `music_auth_listen`: cached credentials and sessions are trusted for
/// `music_auth_cache_valid`, the database is not asked to announce changes.
pub const DEFAULT_AUTH_LISTEN: bool = false;
/// `music_auth_queue`: PBKDF2 checks a worker runs or queues at once.
pub const DEFAULT_AUTH_QUEUE: usize = 16;
/// `music_auth_thread_pool`: nginx creates the pool "default" on demand.
pub const DEFAULT_AUTH_THREAD_POOL: &str = "default";
/// `music_cors`.
pub const DEFAULT_CORS: bool = true;
/// `music_cors_origins`: any origin. The methods, headers and max age default to the
/// original's (`crate::api::cors`).
pub const DEFAULT_CORS_ORIGINS: &[&str] = &["*"];

/// `music_session_cookie`: Django's `SESSION_COOKIE_NAME`.
pub const DEFAULT_SESSION_COOKIE: &str = "sessionid";

/// Django sessions (`music_django_secret_key_file`, `music_session_cookie`).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionSettings {
    /// Without a secret no session can be verified: session cookies are ignored.
    pub secret: Option<Rc<DjangoSecret>>,
    pub cookie_name: String,
    /// Django's `CSRF_COOKIE_NAME`.
    pub csrf_cookie_name: String,
}

/// The connection pools' limits (`music_pool_*`, `music_connect_timeout`,
/// `music_query_timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections per worker for short queries.
    pub size: usize,
    /// Connections per worker for streamed lists, apart from `size`.
    pub stream_size: usize,
    /// Queries pipelined on one connection at once.
    pub pipeline: usize,
    /// Requests that may wait for a connection.
    pub queue: usize,
    /// How long a request waits for a connection.
    pub wait_ms: u64,
    /// How long opening a connection (or a cancel request's socket) may take.
    pub connect_ms: u64,
    /// How long one statement may run.
    pub query_timeout_ms: u64,
    /// `music_prepared_statements`: named statements prepared once per connection, or each
    /// statement sent unnamed (no session state, for poolers in transaction mode).
    pub prepared_statements: bool,
}

/// Where the requests that only read go (`music_read_database`, `music_read_fallback`).
#[derive(Clone, Debug)]
pub struct ReadSettings {
    /// `None`: to `music_database`, as every other request.
    pub database: Option<Rc<DbSettings>>,
    /// When no read server answers, read from `music_database` instead of answering 503.
    pub fallback: bool,
}

impl PartialEq for ReadSettings {
    /// The same read server is the same parsed `music_read_database` (one per directive).
    fn eq(&self, other: &ReadSettings) -> bool {
        let same = match (&self.database, &other.database) {
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        same && self.fallback == other.fallback
    }
}

/// How requests are authenticated (`music_auth*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// Verified credentials a worker keeps.
    pub cache_size: usize,
    /// How long a verified entry is trusted without reading the user's row.
    pub cache_valid_ms: u64,
    /// `music_auth_listen`: each worker `LISTEN`s for the database's announcements of changed
    /// users and sessions and drops the entries concerned at once.
    pub listen: bool,
    /// PBKDF2 checks a worker runs or queues at once.
    pub queue: usize,
    /// The nginx thread pool PBKDF2 runs on.
    pub thread_pool_name: String,
}

/// The settings of one configuration level after merge: its own values, else the enclosing
/// level's, else the defaults above.
#[derive(Clone, Debug, PartialEq)]
pub struct MergedSettings {
    pub pool: PoolSettings,
    pub list_buffer_size: usize,
    pub reads: ReadSettings,
    pub auth: AuthSettings,
    pub cors: CorsPolicy,
    pub time_zone: Tz,
    pub sessions: SessionSettings,
}

/// Everything the request path of a `music_api` location reads, resolved at merge.
#[derive(Debug)]
pub struct ApiSettings {
    /// The location's prefix (`/api/`).
    pub prefix: String,
    /// The root's body after the request's host (`api::root_body_tail`), made once.
    pub root_body_tail: String,
    pub database: Rc<DbSettings>,
    pub pool: PoolSettings,
    /// `music_list_buffer_size`: the largest list answer read whole and sent from memory (0:
    /// every list streams).
    pub list_buffer_size: usize,
    /// The read pool's server, if any: its pool has the same limits as `pool`, of its own.
    pub reads: ReadSettings,
    pub auth: AuthSettings,
    pub cors: CorsPolicy,
    pub time_zone: Tz,
    pub sessions: SessionSettings,
    /// `music_auth_pages`: the location serves the login and logout pages, not the API.
    pub auth_pages: bool,
    /// `auth.thread_pool_name`, as nginx resolved it.
    pub thread_pool: ThreadPoolRef,
    /// The modules that verify the user name, set exactly when `auth.mode` is
    /// [`AuthMode::RemoteUser`] (see `crate::ffi::access`).
    pub verifiers: Option<Verifiers>,
}

impl ApiSettings {
    /// A `music_api` location's settings: the merged values plus what only nginx's merge can
    /// resolve.
    pub fn new(
        prefix: String,
        database: Rc<DbSettings>,
        merged: MergedSettings,
        thread_pool: ThreadPoolRef,
        verifiers: Option<Verifiers>,
    ) -> ApiSettings {
        let MergedSettings {
            pool,
            list_buffer_size,
            reads,
            auth,
            cors,
            time_zone,
            sessions,
        } = merged;
        ApiSettings {
            root_body_tail: crate::api::route::root_body_tail(&prefix),
            prefix,
            database,
            pool,
            list_buffer_size,
            reads,
            auth,
            cors,
            time_zone,
            sessions,
            auth_pages: false,
            thread_pool,
            verifiers,
        }
    }
}

//! How a Django session cookie authenticates a request (Django's `SessionMiddleware` +
//! `auth.get_user`, as DRF's SessionAuthentication reads them), with a per-worker cache in
//! front:
//!
//! 1. a key the worker accepted less than `music_auth_cache_valid` ago is accepted at once;
//! 2. otherwise the unexpired `django_session` row is read and its data verified with the
//!    secret (the current key or an older one), then the user row: it must exist, be active,
//!    and its password hash must still give the session's `_auth_user_hash`.
//!
//! So a logout, an expired row, a deactivated user or a changed password takes effect within
//! `music_auth_cache_valid`, the same bound as cached Basic credentials. Anything that does
//! not verify is an anonymous request (`Ok(None)`): DRF then tries Basic.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use crate::auth::session;
use crate::conf::ApiSettings;
use crate::db::pool::Pool;
use crate::db::queries::Db;
use crate::db::DbError;
use crate::service::trace::trace;
use crate::service::trace::Trace;

/// Accepted session keys of one database: user id and when the entry stops being trusted.
struct SessionCache {
    entries: HashMap<String, (i64, u64)>,
    capacity: usize,
    valid_ms: u64,
}

impl SessionCache {
    fn get(&mut self, key: &str, now: u64) -> Option<i64> {
        match self.entries.get(key) {
            Some(&(id, until)) if now < until => Some(id),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, key: &str, id: i64, now: u64) {
        if self.capacity == 0 || self.valid_ms == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.retain(|_, &mut (_, until)| now < until);
            if self.entries.len() >= self.capacity {
                // Full of fresh entries: start over rather than track an order; each dropped
                // session costs one more lookup.
                self.entries.clear();
            }
        }
        self.entries
            .insert(key.to_owned(), (id, now + self.valid_ms));
    }
}

thread_local! {
    static SESSION_CACHES: RefCell<HashMap<String, Rc<RefCell<SessionCache>>>> =
        RefCell::new(HashMap::new());
}

fn monotonic_ms() -> u64 {
    thread_local!(static START: Instant = Instant::now());
    START.with(|s| s.elapsed().as_millis() as u64)
}

fn session_cache(api: &ApiSettings) -> Rc<RefCell<SessionCache>> {
    SESSION_CACHES.with(|m| {
        m.borrow_mut()
            .entry(api.database.conninfo.clone())
            .or_insert_with(|| {
                Rc::new(RefCell::new(SessionCache {
                    entries: HashMap::new(),
                    capacity: api.auth.cache_size,
                    valid_ms: api.auth.cache_valid_ms,
                }))
            })
            .clone()
    })
}

/// Drops `key` from this worker's cache (a logout through this worker takes effect at once).
pub fn forget_session(api: &ApiSettings, key: &str) {
    session_cache(api).borrow_mut().entries.remove(key);
}

/// The id of the active user the session `key` logs in, or `None` (anonymous).
pub async fn authenticate_session(
    pool: &Rc<Pool>,
    api: &ApiSettings,
    key: &str,
    trace: &impl Trace,
) -> Result<Option<i64>, DbError> {
    let Some(secret) = api.sessions.secret.as_deref() else {
        return Ok(None);
    };
    if !session::session_key_is_plausible(key) {
        trace!(trace, "music: session key malformed");
        return Ok(None);
    }
    let cache = session_cache(api);
    if let Some(id) = cache.borrow_mut().get(key, monotonic_ms()) {
        trace!(trace, "music: session cache fresh");
        return Ok(Some(id));
    }
    let db = Db::new(pool.acquire().await?, &api.pool);
    let Some(data) = db.session_data(key).await? else {
        trace!(trace, "music: session unknown or expired");
        return Ok(None);
    };
    let keys = secret.keys();
    let Some(login) = session::decode(&data, &keys)
        .as_ref()
        .and_then(session::session_login)
    else {
        trace!(
            trace,
            "music: session data does not verify or names no login"
        );
        return Ok(None);
    };
    let user = db.user_by_id(login.user_id).await?;
    drop(db);
    match user {
        Some(u)
            if u.is_active && session::auth_hash_matches(&login.auth_hash, &u.password, &keys) =>
        {
            trace!(trace, "music: session of user {} accepted", u.id);
            cache.borrow_mut().put(key, u.id, monotonic_ms());
            Ok(Some(u.id))
        }
        _ => {
            trace!(
                trace,
                "music: session user unknown, inactive or password changed"
            );
            Ok(None)
        }
    }
}

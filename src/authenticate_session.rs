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
//!
//! With `music_auth_listen on` the database also announces each change of a session row or a
//! user ([`forget`]), and the entries concerned go at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use crate::auth::change::{session_digest, Change};
use crate::auth::session;
use crate::conf::ApiSettings;
use crate::db::pool::Pool;
use crate::db::queries::Db;
use crate::db::DbError;
use crate::service::trace::trace;
use crate::service::trace::Trace;

/// An accepted session: its user, when the entry stops being trusted, and the SHA-256 of its
/// key (all that the database's announcement of a change names).
struct Accepted {
    user_id: i64,
    until: u64,
    digest: [u8; 32],
}

/// Accepted session keys of one database.
struct SessionCache {
    entries: HashMap<String, Accepted>,
    /// The keys of `entries` by digest.
    by_digest: HashMap<[u8; 32], String>,
    capacity: usize,
    valid_ms: u64,
    /// Changes the database announced, counted: a lookup that read its rows before one of
    /// them does not cache what it found (see `crate::authenticate`).
    changes: u64,
}

impl SessionCache {
    fn new(capacity: usize, valid_ms: u64) -> SessionCache {
        SessionCache {
            entries: HashMap::new(),
            by_digest: HashMap::new(),
            capacity,
            valid_ms,
            changes: 0,
        }
    }

    fn get(&mut self, key: &str, now: u64) -> Option<i64> {
        match self.entries.get(key) {
            Some(a) if now < a.until => Some(a.user_id),
            Some(_) => {
                self.remove(key);
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
            self.retain(|a| now < a.until);
            if self.entries.len() >= self.capacity {
                // Full of fresh entries: start over rather than track an order; each dropped
                // session costs one more lookup.
                self.entries.clear();
                self.by_digest.clear();
            }
        }
        let digest = session_digest(key);
        let until = now + self.valid_ms;
        let accepted = Accepted {
            user_id: id,
            until,
            digest,
        };
        self.entries.insert(key.to_owned(), accepted);
        self.by_digest.insert(digest, key.to_owned());
    }

    fn remove(&mut self, key: &str) {
        if let Some(a) = self.entries.remove(key) {
            self.by_digest.remove(&a.digest);
        }
    }

    fn retain(&mut self, keep: impl Fn(&Accepted) -> bool) {
        let by_digest = &mut self.by_digest;
        self.entries.retain(|_, a| {
            let kept = keep(a);
            if !kept {
                by_digest.remove(&a.digest);
            }
            kept
        });
    }

    /// Drops what `change` makes untrustworthy.
    fn forget(&mut self, change: Change) {
        match change {
            Change::User(id) => self.retain(|a| a.user_id != id),
            Change::Session(digest) => {
                if let Some(key) = self.by_digest.remove(&digest) {
                    self.entries.remove(&key);
                }
            }
            Change::Everything => {
                self.entries.clear();
                self.by_digest.clear();
            }
        }
        self.changes += 1;
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
                crate::auth_listen::start(api, forget);
                let cache = SessionCache::new(api.auth.cache_size, api.auth.cache_valid_ms);
                Rc::new(RefCell::new(cache))
            })
            .clone()
    })
}

/// Drops `key` from this worker's cache (a logout through this worker takes effect at once).
pub fn forget_session(api: &ApiSettings, key: &str) {
    session_cache(api).borrow_mut().remove(key);
}

/// Drops this worker's cached sessions of the database `conninfo` that `change` concerns.
pub fn forget(conninfo: &str, change: Change) {
    let cache = SESSION_CACHES.with(|m| m.borrow().get(conninfo).cloned());
    if let Some(cache) = cache {
        cache.borrow_mut().forget(change);
    }
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
    let seen = cache.borrow().changes;
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
            let mut cache = cache.borrow_mut();
            if cache.changes == seen {
                cache.put(key, u.id, monotonic_ms());
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccc";

    /// The keys present, sorted, after checking that the digest index matches them.
    fn keys(c: &SessionCache) -> Vec<&str> {
        assert_eq!(c.by_digest.len(), c.entries.len());
        for (key, a) in &c.entries {
            assert_eq!(a.digest, session_digest(key));
            assert_eq!(
                c.by_digest.get(&a.digest).map(String::as_str),
                Some(key.as_str())
            );
        }
        let mut keys: Vec<&str> = c.entries.keys().map(String::as_str).collect();
        keys.sort();
        keys
    }

    #[test]
    fn an_announced_change_drops_the_sessions_it_concerns() {
        let mut c = SessionCache::new(8, 1000);
        c.put(A, 1, 0);
        c.put(B, 1, 0);
        c.put(C, 2, 0);
        c.forget(Change::Session(session_digest(B)));
        assert_eq!(c.get(B, 1), None);
        assert_eq!(keys(&c), [A, C]);
        c.forget(Change::Session(session_digest("not cached")));
        c.forget(Change::User(3));
        assert_eq!(keys(&c), [A, C]);
        c.forget(Change::User(1));
        assert_eq!(c.get(C, 1), Some(2));
        assert_eq!(keys(&c), [C]);
        c.forget(Change::Everything);
        assert_eq!(keys(&c), Vec::<&str>::new());
        assert_eq!(c.changes, 5);
    }

    #[test]
    fn the_digest_index_follows_expiry_eviction_and_logout() {
        let mut c = SessionCache::new(2, 1000);
        c.put(A, 1, 0);
        c.put(B, 1, 500);
        assert_eq!(c.get(A, 1000), None, "expired");
        assert_eq!(keys(&c), [B]);
        c.put(A, 1, 1000);
        // Full of fresh entries: a third one starts over.
        c.put(C, 1, 1001);
        assert_eq!(keys(&c), [C]);
        c.put(A, 1, 1001);
        c.remove(A);
        assert_eq!(keys(&c), [C]);
        // Full with an expired entry: only that one goes.
        c.put(B, 1, 1600);
        c.put(A, 1, 2001);
        assert_eq!(keys(&c), [A, B]);
    }
}

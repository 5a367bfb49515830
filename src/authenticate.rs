//! How a request's Basic credentials are checked, Django's way (ModelBackend + DRF
//! BasicAuthentication), with the per-worker caches in front so that PBKDF2 runs rarely and
//! never on the event loop:
//!
//! 1. a fresh cache entry accepts at once (no database round trip, no PBKDF2);
//! 2. otherwise the user row is read; a stale entry whose stored hash is unchanged and whose
//!    user is still active is refreshed without PBKDF2 (so a changed password or a
//!    deactivated user stops working within `music_auth_cache_valid`);
//! 3. otherwise PBKDF2 runs on the nginx thread pool; concurrent checks of the same
//!    credentials share one run (single flight), so a cold cache under load costs one hash,
//!    not one per waiting request;
//! 4. a recently failed pair against the same stored hash is refused without hashing again.
//!
//! With `music_auth_listen on` the database also tells the worker of each change
//! ([`forget`]): the user's entries go at once instead of at the end of the bound.
//!
//! A user name an access-phase module verified (`music_auth remote_user`,
//! [`authenticate_trusted`]) takes the same lookup and cache, without a password: it must be an
//! active user in `auth_user`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use crate::auth::change::Change;
use crate::auth::{
    username_is_storable, CacheKey, CacheLookup, CredentialCache, DjangoHash, FailureCache,
    LoginFailure, Revalidation, UserRow, VerifyJob,
};
use crate::conf::{ApiSettings, DbSettings, PoolSettings};
use crate::db::pool::Pool;
use crate::db::queries::Db;
use crate::db::DbError;
use crate::ffi::thread_task;
use crate::metrics::record::{self, Auth};
use crate::service::trace::trace;
use crate::service::trace::Trace;

/// The credentials a request presents.
pub struct Who<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

/// Where a user's row comes from: the database, or a fake in the unit tests.
trait UserSource {
    async fn by_name(&self, username: &str) -> Result<Option<UserRow>, DbError>;
}

/// Where PBKDF2 runs: the thread pool, or inline in the unit tests. `None`: refused (busy).
trait PasswordCheck {
    async fn run(&self, job: VerifyJob) -> Option<bool>;
}

/// Reads user rows on a connection leased for that one query.
struct UserLookup<'a> {
    pool: &'a Rc<Pool>,
    settings: &'a PoolSettings,
}

impl UserSource for UserLookup<'_> {
    async fn by_name(&self, username: &str) -> Result<Option<UserRow>, DbError> {
        let db = Db::new(self.pool.acquire().await?, self.settings);
        db.user_by_name(username).await
    }
}

/// PBKDF2 on the location's thread pool, within `music_auth_queue`.
struct ThreadPoolCheck<'a>(&'a ApiSettings);

impl PasswordCheck for ThreadPoolCheck<'_> {
    async fn run(&self, job: VerifyJob) -> Option<bool> {
        run_verify(self.0, job).await
    }
}

/// Why credentials were not accepted.
pub enum Refusal {
    /// Wrong user name or password, or an inactive user: one answer for all, as Django, and
    /// the reason for the error log only.
    Invalid(LoginFailure),
    /// `music_auth_queue` PBKDF2 checks are already running or queued in this worker, or the
    /// thread pool refused the task (its queue is full).
    Busy,
    Db(DbError),
}

thread_local! {
    /// The secret this worker's cache keys are made under, drawn at its first check (after
    /// the fork: each worker has its own).
    static KEY_SECRET: [u8; 32] = key_secret();
}

/// 32 bytes from the kernel's random source (a one-time read that never blocks once the
/// system has booted); where `/dev/urandom` cannot be read, from std's `RandomState`, which
/// the kernel seeds too.
fn key_secret() -> [u8; 32] {
    use std::hash::BuildHasher;
    use std::io::Read;
    let mut secret = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut secret));
    if read.is_err() {
        for (i, chunk) in secret.chunks_mut(8).enumerate() {
            let word = std::collections::hash_map::RandomState::new().hash_one(i);
            chunk.copy_from_slice(&word.to_le_bytes());
        }
    }
    secret
}

/// The cache key of a (user name, password) pair in this worker.
fn cache_key(username: &str, password: &str) -> CacheKey {
    KEY_SECRET.with(|secret| CacheKey::new(secret, username, password))
}

fn monotonic_ms() -> u64 {
    thread_local!(static START: Instant = Instant::now());
    START.with(|s| s.elapsed().as_millis() as u64)
}

struct AuthCaches {
    verified: CredentialCache,
    failed: FailureCache,
    /// User names an access-phase module verified (`music_auth remote_user`), found active.
    trusted: CredentialCache,
    /// Changes of users the database announced, counted. A check that read its row before
    /// one of them does not cache what it found: the row may be the one the change replaced,
    /// and the announcement has already been applied to an entry that did not exist yet.
    changes: u64,
}

impl AuthCaches {
    fn new(capacity: usize, valid_ms: u64) -> AuthCaches {
        AuthCaches {
            verified: CredentialCache::new(capacity, valid_ms),
            failed: FailureCache::new(FAILED_CHECKS_KEPT, FAILED_CHECK_TTL_MS),
            trusted: CredentialCache::new(capacity, valid_ms),
            changes: 0,
        }
    }

    /// Drops what `change` makes untrustworthy. Failed checks stay: each is tied to the hash
    /// it failed against, so it never refuses a password that became right.
    fn forget(&mut self, change: Change) {
        match change {
            Change::User(id) => {
                self.verified.remove_user(id);
                self.trusted.remove_user(id);
            }
            Change::Everything => {
                self.verified.clear();
                self.trusted.clear();
            }
            Change::Session(_) => return,
        }
        self.changes += 1;
    }
}

/// Drops this worker's cached credentials of the database `conninfo` that `change` concerns.
pub fn forget(conninfo: &str, change: Change) {
    let caches = AUTH_CACHES.with(|m| m.borrow().get(conninfo).cloned());
    if let Some(caches) = caches {
        caches.borrow_mut().forget(change);
    }
}

/// What a finished check decided: accepted, or refused and why.
type Verdict = Result<(), LoginFailure>;

/// One PBKDF2 run that other requests with the same credentials wait for.
#[derive(Default)]
struct Flight {
    /// Set once: Some(verdict) when the run finished, None if it was abandoned.
    outcome: Cell<Option<Option<Verdict>>>,
    waiters: RefCell<Vec<Waker>>,
}

impl Flight {
    fn finish(&self, outcome: Option<Verdict>) {
        if self.outcome.get().is_none() {
            self.outcome.set(Some(outcome));
        }
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    async fn wait(&self) -> Option<Verdict> {
        std::future::poll_fn(|cx| match self.outcome.get() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Removes the flight and wakes its waiters even if the leading request goes away.
struct FlightGuard {
    key: CacheKey,
    flight: Rc<Flight>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        IN_FLIGHT.with(|m| m.borrow_mut().remove(&self.key));
        self.flight.finish(None);
    }
}

/// A location's database settings and the caches of that database.
type CachesOfSettings = (Rc<DbSettings>, Rc<RefCell<AuthCaches>>);

thread_local! {
    /// Per worker, per database: verified credentials and recently failed ones.
    static AUTH_CACHES: RefCell<HashMap<String, Rc<RefCell<AuthCaches>>>> = RefCell::new(HashMap::new());
    /// `auth_caches`' answers by the settings object asked with: the same `Rc` on every request
    /// of a location, so a pointer compare over these few entries replaces cloning and hashing
    /// its connection string each time; the entry holds the settings, so the address stays theirs.
    static AUTH_CACHES_BY_SETTINGS: RefCell<Vec<CachesOfSettings>> =
        const { RefCell::new(Vec::new()) };
    static IN_FLIGHT: RefCell<HashMap<CacheKey, Rc<Flight>>> = RefCell::new(HashMap::new());
}

/// Wrong (user name, password) pairs a worker remembers, and for how long: enough to refuse
/// a client that repeats a wrong password without hashing it again, short enough that the
/// cache never matters to anyone else.
const FAILED_CHECKS_KEPT: usize = 1024;
const FAILED_CHECK_TTL_MS: u64 = 2000;

/// The caches of one database, sized by the first location that uses it in this worker.
fn auth_caches(api: &ApiSettings) -> Rc<RefCell<AuthCaches>> {
    let known = AUTH_CACHES_BY_SETTINGS.with(|m| {
        m.borrow()
            .iter()
            .find(|(s, _)| Rc::ptr_eq(s, &api.database))
            .map(|(_, caches)| caches.clone())
    });
    if let Some(caches) = known {
        return caches;
    }
    let auth = &api.auth;
    let caches = AUTH_CACHES.with(|m| {
        m.borrow_mut()
            .entry(api.database.conninfo.clone())
            .or_insert_with(|| {
                crate::auth_listen::start(api, forget);
                let caches = AuthCaches::new(auth.cache_size, auth.cache_valid_ms);
                Rc::new(RefCell::new(caches))
            })
            .clone()
    });
    AUTH_CACHES_BY_SETTINGS.with(|m| m.borrow_mut().push((api.database.clone(), caches.clone())));
    caches
}

/// Runs this thread-pool thread at the lowest CPU priority (once per thread): password
/// hashing then only uses cores that serving requests leaves free, so a stream of wrong
/// passwords does not slow down requests with cached credentials.
fn lower_thread_priority() {
    thread_local!(static DONE: Cell<bool> = const { Cell::new(false) });
    if !DONE.with(|d| d.replace(true)) {
        crate::ffi::process::lower_calling_thread_priority();
    }
}

/// PBKDF2 on the configured thread pool; `None` when `music_auth_queue` checks are already
/// pending in this worker or the pool refused the task. Refusing at once, rather than queueing
/// behind a stream of (probably wrong) passwords, keeps a login's wait bounded.
async fn run_verify(api: &ApiSettings, mut job: VerifyJob) -> Option<bool> {
    // Checks running or queued in this worker, all locations together.
    thread_local!(static PENDING: Cell<usize> = const { Cell::new(0) });
    struct Pending;
    impl Drop for Pending {
        fn drop(&mut self) {
            PENDING.with(|p| p.set(p.get().saturating_sub(1)));
            record::auth_queue(PENDING.with(|p| p.get()));
        }
    }
    if PENDING.with(|p| p.get()) >= api.auth.queue {
        record::auth(Auth::QueueRefusals);
        return None;
    }
    PENDING.with(|p| p.set(p.get() + 1));
    record::auth_queue(PENDING.with(|p| p.get()));
    record::auth(Auth::Pbkdf2Runs);
    let _pending = Pending;
    let job = thread_task::run(api.thread_pool, move || {
        lower_thread_priority();
        job.run();
        job
    })
    .await?;
    job.result()
}

/// A cache lookup's outcome, in the debug log's words.
fn cache_state(lookup: &CacheLookup) -> &'static str {
    match lookup {
        CacheLookup::Fresh(_) => "hit",
        CacheLookup::Stale { .. } => "stale",
        CacheLookup::Miss => "miss",
    }
}

/// Counts a refused login (a wrong password, an unknown or inactive user) in the metrics.
fn failed_login(refusal: &Refusal) {
    if let Refusal::Invalid(_) = refusal {
        record::auth(Auth::FailedLogins);
    }
}

/// Checks `username`/`password` against `auth_user`, reading the user's row on a connection
/// leased from `pool` for that query.
pub async fn authenticate(
    pool: &Rc<Pool>,
    api: &ApiSettings,
    who: Who<'_>,
    trace: &impl Trace,
) -> Result<(), Refusal> {
    let users = UserLookup {
        pool,
        settings: &api.pool,
    };
    check_basic(&users, &ThreadPoolCheck(api), &auth_caches(api), who, trace).await
}

/// [`authenticate`] with its user rows, PBKDF2 and caches given.
async fn check_basic(
    users: &impl UserSource,
    hasher: &impl PasswordCheck,
    caches: &RefCell<AuthCaches>,
    who: Who<'_>,
    trace: &impl Trace,
) -> Result<(), Refusal> {
    let Who { username, password } = who;
    if !username_is_storable(username) {
        // PostgreSQL text cannot hold NUL: no row can have this name, so do not ask.
        return Err(Refusal::Invalid(LoginFailure::UnknownUser));
    }
    let key = cache_key(username, password);
    let lookup = caches.borrow().verified.lookup(&key, monotonic_ms());
    trace!(trace, "music: auth cache {}", cache_state(&lookup));
    record::auth(match lookup {
        CacheLookup::Fresh(_) => Auth::CacheHits,
        CacheLookup::Stale { .. } => Auth::Revalidations,
        CacheLookup::Miss => Auth::CacheMisses,
    });
    if let CacheLookup::Fresh(_) = lookup {
        return Ok(());
    }
    // Someone is already checking these very credentials: share the outcome.
    if let Some(flight) = IN_FLIGHT.with(|m| m.borrow().get(&key).cloned()) {
        if let Some(verdict) = flight.wait().await {
            return verdict.map_err(Refusal::Invalid).inspect_err(failed_login);
        }
    }
    let guard = FlightGuard {
        key,
        flight: Rc::new(Flight::default()),
    };
    IN_FLIGHT.with(|m| m.borrow_mut().insert(key, guard.flight.clone()));
    let who = Who { username, password };
    let result = check(users, hasher, caches, key, lookup, who, trace)
        .await
        .inspect_err(failed_login);
    guard.flight.finish(match &result {
        Ok(()) => Some(Ok(())),
        Err(Refusal::Invalid(why)) => Some(Err(*why)),
        Err(_) => None,
    });
    result
}

/// Checks that a user name an access-phase module verified (`music_auth remote_user`) is an
/// active user in `auth_user`, the way Django's `RemoteUserBackend` does, except that an
/// unknown name is refused, never created. The same user lookup and cache as Basic: a fresh
/// entry accepts at once; otherwise one query, so a deactivated or deleted user stops working
/// within `music_auth_cache_valid`.
pub async fn authenticate_trusted(
    pool: &Rc<Pool>,
    api: &ApiSettings,
    username: &str,
    trace: &impl Trace,
) -> Result<(), Refusal> {
    let users = UserLookup {
        pool,
        settings: &api.pool,
    };
    check_trusted(&users, &auth_caches(api), username, trace).await
}

/// [`authenticate_trusted`] with its user rows and caches given.
async fn check_trusted(
    users: &impl UserSource,
    caches: &RefCell<AuthCaches>,
    username: &str,
    trace: &impl Trace,
) -> Result<(), Refusal> {
    // No password: the key only stands for the name, in a cache of its own.
    let key = cache_key(username, "");
    let lookup = caches.borrow().trusted.lookup(&key, monotonic_ms());
    trace!(
        trace,
        "music: auth cache {} (remote user)",
        cache_state(&lookup)
    );
    if let CacheLookup::Fresh(_) = lookup {
        return Ok(());
    }
    let seen = caches.borrow().changes;
    let user = users.by_name(username).await.map_err(Refusal::Db)?;
    let mut caches = caches.borrow_mut();
    match user {
        Some(user) if user.is_active => {
            if caches.changes == seen {
                let now = monotonic_ms();
                caches.trusted.insert(key, user.id, &user.password, now);
            }
            Ok(())
        }
        Some(_) => {
            caches.trusted.remove(&key);
            Err(Refusal::Invalid(LoginFailure::InactiveUser))
        }
        None => {
            caches.trusted.remove(&key);
            Err(Refusal::Invalid(LoginFailure::UnknownUser))
        }
    }
}

async fn check(
    users: &impl UserSource,
    hasher: &impl PasswordCheck,
    caches: &RefCell<AuthCaches>,
    key: CacheKey,
    lookup: CacheLookup,
    who: Who<'_>,
    trace: &impl Trace,
) -> Result<(), Refusal> {
    let Who { username, password } = who;
    let seen = caches.borrow().changes;
    let user = users.by_name(username).await.map_err(Refusal::Db)?;
    let now = monotonic_ms();
    if let CacheLookup::Stale { .. } = lookup {
        let revalidation = caches
            .borrow_mut()
            .verified
            .revalidate(&key, now, user.as_ref());
        if let Revalidation::Valid(_) = revalidation {
            return Ok(());
        }
    }
    let Some(user) = user else {
        // Django hashes once anyway, so that a missing user takes as long as a wrong password;
        // and when no check can be queued, a missing user is busy like an existing one.
        return match hasher.run(VerifyJob::dummy(password.to_owned())).await {
            Some(_) => Err(Refusal::Invalid(LoginFailure::UnknownUser)),
            None => Err(Refusal::Busy),
        };
    };
    if !user.is_active {
        return Err(Refusal::Invalid(LoginFailure::InactiveUser));
    }
    if caches
        .borrow()
        .failed
        .is_known_failure(&key, &user.password, now)
    {
        trace!(trace, "music: auth cache refused (a known wrong password)");
        return Err(Refusal::Invalid(LoginFailure::PasswordMismatch));
    }
    let Ok(hash) = DjangoHash::parse(&user.password) else {
        return Err(Refusal::Invalid(LoginFailure::PasswordMismatch));
    };
    match hasher.run(VerifyJob::new(password.to_owned(), hash)).await {
        Some(true) => {
            let mut caches = caches.borrow_mut();
            if caches.changes == seen {
                let now = monotonic_ms();
                caches.verified.insert(key, user.id, &user.password, now);
            }
            Ok(())
        }
        Some(false) => {
            caches
                .borrow_mut()
                .failed
                .record(key, &user.password, monotonic_ms());
            Err(Refusal::Invalid(LoginFailure::PasswordMismatch))
        }
        None => Err(Refusal::Busy),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;

    use futures_util::FutureExt;

    use super::*;
    use crate::auth::django_hash::make_pbkdf2_sha256;
    use crate::service::trace::Recorded;

    const PASSWORD: &str = "right-pw";

    /// `auth_user` with one row, counting the lookups; `fail` makes them fail.
    struct FakeUsers {
        row: Option<UserRow>,
        fail: Option<DbError>,
        lookups: Cell<usize>,
    }

    impl FakeUsers {
        fn with(active: bool) -> FakeUsers {
            FakeUsers {
                row: Some(UserRow {
                    id: 7,
                    password: make_pbkdf2_sha256(PASSWORD, "testsalt", 10),
                    is_active: active,
                }),
                fail: None,
                lookups: Cell::new(0),
            }
        }

        fn none() -> FakeUsers {
            FakeUsers {
                row: None,
                ..FakeUsers::with(true)
            }
        }
    }

    impl UserSource for FakeUsers {
        async fn by_name(&self, _: &str) -> Result<Option<UserRow>, DbError> {
            self.lookups.set(self.lookups.get() + 1);
            match &self.fail {
                Some(e) => Err(e.clone()),
                None => Ok(self.row.clone()),
            }
        }
    }

    /// PBKDF2 inline, counting the runs; `busy` refuses them as a full queue does.
    #[derive(Default)]
    struct Inline {
        busy: bool,
        runs: Cell<usize>,
    }

    impl PasswordCheck for Inline {
        async fn run(&self, mut job: VerifyJob) -> Option<bool> {
            self.runs.set(self.runs.get() + 1);
            if self.busy {
                return None;
            }
            job.run();
            job.result()
        }
    }

    fn caches(valid_ms: u64) -> RefCell<AuthCaches> {
        RefCell::new(AuthCaches {
            verified: CredentialCache::new(8, valid_ms),
            failed: FailureCache::new(8, 60_000),
            trusted: CredentialCache::new(8, valid_ms),
            changes: 0,
        })
    }

    fn now<T>(f: impl Future<Output = T>) -> T {
        f.now_or_never().expect("the fakes never wait")
    }

    fn basic(
        users: &FakeUsers,
        hasher: &Inline,
        caches: &RefCell<AuthCaches>,
        password: &str,
        trace: &Recorded,
    ) -> Result<(), Refusal> {
        let who = Who {
            username: "alice",
            password,
        };
        now(check_basic(users, hasher, caches, who, trace))
    }

    fn invalid(r: Result<(), Refusal>) -> Option<LoginFailure> {
        match r {
            Err(Refusal::Invalid(why)) => Some(why),
            _ => None,
        }
    }

    #[test]
    fn cache_keys_are_made_under_a_random_secret() {
        let (one, other) = (key_secret(), key_secret());
        assert_ne!(one, other);
        assert_ne!(one, [0; 32]);
        assert_eq!(
            cache_key("alice", PASSWORD),
            KEY_SECRET.with(|s| CacheKey::new(s, "alice", PASSWORD))
        );
        assert_ne!(
            cache_key("alice", PASSWORD),
            CacheKey::new(&[0; 32], "alice", PASSWORD)
        );
    }

    #[test]
    fn a_miss_reads_the_row_and_hashes_then_the_entry_is_fresh() {
        let (users, hasher, caches, trace) = (
            FakeUsers::with(true),
            Inline::default(),
            caches(60_000),
            Recorded::default(),
        );
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        assert_eq!((users.lookups.get(), hasher.runs.get()), (1, 1));
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        assert_eq!(
            (users.lookups.get(), hasher.runs.get()),
            (1, 1),
            "fresh: neither again"
        );
        assert_eq!(
            *trace.0.borrow(),
            ["music: auth cache miss", "music: auth cache hit"]
        );
    }

    #[test]
    fn a_stale_entry_with_the_same_hash_is_refreshed_without_pbkdf2() {
        let (users, hasher, caches, trace) = (
            FakeUsers::with(true),
            Inline::default(),
            caches(0),
            Recorded::default(),
        );
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        assert_eq!(
            (users.lookups.get(), hasher.runs.get()),
            (2, 1),
            "stale: row read, no hash"
        );
        assert_eq!(trace.0.borrow()[1], "music: auth cache stale");
    }

    #[test]
    fn a_stale_entry_of_a_deactivated_user_is_refused() {
        let (users, hasher, caches, trace) = (
            FakeUsers::with(true),
            Inline::default(),
            caches(0),
            Recorded::default(),
        );
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        let inactive = FakeUsers::with(false);
        let r = basic(&inactive, &hasher, &caches, PASSWORD, &trace);
        assert_eq!(invalid(r), Some(LoginFailure::InactiveUser));
    }

    #[test]
    fn a_wrong_password_is_refused_once_hashed_then_without_hashing() {
        let (users, hasher, caches, trace) = (
            FakeUsers::with(true),
            Inline::default(),
            caches(60_000),
            Recorded::default(),
        );
        let r = basic(&users, &hasher, &caches, "wrong", &trace);
        assert_eq!(invalid(r), Some(LoginFailure::PasswordMismatch));
        let r = basic(&users, &hasher, &caches, "wrong", &trace);
        assert_eq!(invalid(r), Some(LoginFailure::PasswordMismatch));
        assert_eq!(
            hasher.runs.get(),
            1,
            "the known failure is refused without PBKDF2"
        );
    }

    #[test]
    fn an_unknown_user_costs_a_hash_and_is_refused() {
        let (users, hasher, caches, trace) = (
            FakeUsers::none(),
            Inline::default(),
            caches(60_000),
            Recorded::default(),
        );
        let r = basic(&users, &hasher, &caches, PASSWORD, &trace);
        assert_eq!(invalid(r), Some(LoginFailure::UnknownUser));
        assert_eq!(hasher.runs.get(), 1);
    }

    #[test]
    fn a_full_queue_is_busy_for_known_and_unknown_users() {
        let busy = Inline {
            busy: true,
            ..Inline::default()
        };
        for users in [FakeUsers::with(true), FakeUsers::none()] {
            let r = basic(
                &users,
                &busy,
                &caches(60_000),
                PASSWORD,
                &Recorded::default(),
            );
            assert!(matches!(r, Err(Refusal::Busy)));
        }
    }

    #[test]
    fn a_database_error_is_passed_on_and_not_cached() {
        let users = FakeUsers {
            fail: Some(DbError::PoolTimeout),
            ..FakeUsers::with(true)
        };
        let (hasher, caches) = (Inline::default(), caches(60_000));
        let r = basic(&users, &hasher, &caches, PASSWORD, &Recorded::default());
        assert!(matches!(r, Err(Refusal::Db(DbError::PoolTimeout))));
        assert_eq!(hasher.runs.get(), 0);
        let r = basic(
            &FakeUsers::with(true),
            &hasher,
            &caches,
            PASSWORD,
            &Recorded::default(),
        );
        assert!(r.is_ok(), "the next request checks again");
    }

    #[test]
    fn a_name_with_nul_is_refused_without_asking() {
        let (users, hasher, caches) = (FakeUsers::with(true), Inline::default(), caches(60_000));
        let who = Who {
            username: "a\0b",
            password: PASSWORD,
        };
        let r = now(check_basic(
            &users,
            &hasher,
            &caches,
            who,
            &Recorded::default(),
        ));
        assert_eq!(invalid(r), Some(LoginFailure::UnknownUser));
        assert_eq!(users.lookups.get(), 0);
    }

    /// `auth_user` whose change the database announces while the row is being read.
    struct ChangedDuringRead<'a> {
        users: FakeUsers,
        caches: &'a RefCell<AuthCaches>,
        change: Change,
    }

    impl UserSource for ChangedDuringRead<'_> {
        async fn by_name(&self, name: &str) -> Result<Option<UserRow>, DbError> {
            self.caches.borrow_mut().forget(self.change);
            self.users.by_name(name).await
        }
    }

    #[test]
    fn an_announced_change_of_the_user_drops_its_entries() {
        let (users, hasher, caches, trace) = (
            FakeUsers::with(true),
            Inline::default(),
            caches(60_000),
            Recorded::default(),
        );
        assert!(now(check_trusted(&users, &caches, "alice", &trace)).is_ok());
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        // Another user's change, or a session's, leaves alice's entries.
        caches.borrow_mut().forget(Change::User(8));
        caches.borrow_mut().forget(Change::Session([0; 32]));
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        assert!(now(check_trusted(&users, &caches, "alice", &trace)).is_ok());
        assert_eq!((users.lookups.get(), hasher.runs.get()), (2, 1));
        // Hers drops both: the next requests read the row (and hash) again.
        caches.borrow_mut().forget(Change::User(7));
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        assert!(now(check_trusted(&users, &caches, "alice", &trace)).is_ok());
        assert_eq!((users.lookups.get(), hasher.runs.get()), (4, 2));
        caches.borrow_mut().forget(Change::Everything);
        assert!(basic(&users, &hasher, &caches, PASSWORD, &trace).is_ok());
        assert_eq!((users.lookups.get(), hasher.runs.get()), (5, 3));
    }

    #[test]
    fn a_row_read_while_a_change_was_announced_is_not_cached() {
        let (hasher, caches, trace) = (Inline::default(), caches(60_000), Recorded::default());
        for change in [Change::User(7), Change::Everything] {
            let users = ChangedDuringRead {
                users: FakeUsers::with(true),
                caches: &caches,
                change,
            };
            let who = || Who {
                username: "alice",
                password: PASSWORD,
            };
            assert!(now(check_basic(&users, &hasher, &caches, who(), &trace)).is_ok());
            assert!(now(check_basic(&users, &hasher, &caches, who(), &trace)).is_ok());
            assert!(now(check_trusted(&users, &caches, "alice", &trace)).is_ok());
            assert!(now(check_trusted(&users, &caches, "alice", &trace)).is_ok());
            assert_eq!(users.users.lookups.get(), 4, "{change:?}: never cached");
        }
        // A session's change concerns no row read here: the outcome is cached.
        let users = ChangedDuringRead {
            users: FakeUsers::with(true),
            caches: &caches,
            change: Change::Session([0; 32]),
        };
        assert!(now(check_trusted(&users, &caches, "alice", &trace)).is_ok());
        assert!(now(check_trusted(&users, &caches, "alice", &trace)).is_ok());
        assert_eq!(users.users.lookups.get(), 1);
    }

    #[test]
    fn a_trusted_name_must_be_an_active_user_and_is_cached() {
        let (cache, trace) = (caches(60_000), Recorded::default());
        let users = FakeUsers::with(true);
        assert!(now(check_trusted(&users, &cache, "alice", &trace)).is_ok());
        assert!(now(check_trusted(&users, &cache, "alice", &trace)).is_ok());
        assert_eq!(users.lookups.get(), 1);
        assert_eq!(trace.0.borrow()[1], "music: auth cache hit (remote user)");
        let other = caches(60_000);
        let r = now(check_trusted(
            &FakeUsers::with(false),
            &other,
            "bob",
            &trace,
        ));
        assert_eq!(invalid(r), Some(LoginFailure::InactiveUser));
        let r = now(check_trusted(&FakeUsers::none(), &other, "bob", &trace));
        assert_eq!(invalid(r), Some(LoginFailure::UnknownUser));
    }
}

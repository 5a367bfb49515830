//! Per-worker caches of password checks, so that PBKDF2 (tens of
//! milliseconds of CPU at 260000 iterations) runs once per
//! (user name, password, stored hash) instead of on every request.
//!
//! Both caches are plain single-threaded structures (no locks, no `Rc`,
//! no lifetimes): keep one of each per nginx worker, e.g. in a
//! `thread_local!` `RefCell`. Time is a monotonic clock in milliseconds
//! passed in by the caller (`now_ms`), never read here.
//!
//! Neither cache ever holds a password: entries are keyed by
//! [`CacheKey`], a keyed hash of the user name and password under a
//! per-process secret (see [`CacheKey::new`]).
//!
//! # Verified credentials ([`CredentialCache`])
//!
//! An entry records "this (user name, password) was verified against the
//! Django hash string H of user id N, at time T". For a request:
//!
//! * [`CacheLookup::Fresh`] (younger than `revalidate_after`): accept the
//!   user id without touching the database.
//! * [`CacheLookup::Stale`]: re-read the user's row (`id, password,
//!   is_active` by user name) and call [`CredentialCache::revalidate`]:
//!   if the id is the same, the stored hash string is byte-for-byte the
//!   one that was verified, and the user is active, the entry is refreshed
//!   and the request accepted *without* PBKDF2 (PBKDF2 is deterministic, so
//!   the same password against the same hash string gives the same
//!   answer); otherwise the entry is dropped and the request takes the
//!   full path.
//! * [`CacheLookup::Miss`]: full path (read the row, PBKDF2 off the event
//!   loop, [`CredentialCache::insert`] on success).
//!
//! **Bound:** a changed password, a deactivated or deleted user, or a user
//! name given to another user stops working on a worker at most
//! `revalidate_after` after the change (the age of the entry that worker
//! holds), since no entry is trusted without a database read once it is
//! that old. A new password works at once (it is a different key).
//!
//! The size is bounded by `capacity`; when full, the entry verified or
//! revalidated longest ago is evicted (cheap FIFO by last validation, so
//! entries in use, which are revalidated every `revalidate_after`, stay).
//!
//! # Failed checks ([`FailureCache`])
//!
//! A small bounded cache of (user name, password) pairs that PBKDF2 found
//! wrong, each with the hash string it was checked against, kept for a
//! short TTL. After reading the row, a request whose pair is known to have
//! failed against the *same* hash string is refused without PBKDF2, which
//! blunts clients that repeat the same wrong password. Because the stored
//! hash string is part of the check, this cache never refuses a correct
//! password: setting a password (even to a previously wrong guess) writes a
//! new hash string (new salt). A missing user can be recorded with an empty
//! hash string.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A cache key: a keyed hash of (user name, 0 byte, password), with the
/// user name's length prefixed so that NUL bytes in names cannot make two
/// pairs collide. Never shown by `Debug`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

/// The longest (length prefix, user name, 0 byte, password) hashed from one
/// buffer on the stack; longer pairs are fed to the hasher piece by piece.
const ONE_BUFFER_MAX: usize = 128;

impl CacheKey {
    /// BLAKE3 keyed with `secret` (32 bytes drawn at worker start) over
    /// `len(username) as u64 BE || username || 0x00 || password`. The
    /// secret is what keeps keys from being computed ahead of time for
    /// common passwords. BLAKE3's keyed mode is a MAC in one compression per 64 bytes,
    /// where HMAC-SHA256 takes four for a usual pair: this runs on every
    /// request with Basic credentials.
    pub fn new(secret: &[u8; 32], username: &str, password: &str) -> CacheKey {
        let length = (username.len() as u64).to_be_bytes();
        let parts: [&[u8]; 4] = [&length, username.as_bytes(), &[0], password.as_bytes()];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total <= ONE_BUFFER_MAX {
            // The one-call form skips setting up the incremental hasher, about a third of
            // the cost of a short key; the digest is the same.
            let mut buffer = [0u8; ONE_BUFFER_MAX];
            let mut at = 0;
            for part in parts {
                buffer[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            return CacheKey(*blake3::keyed_hash(secret, &buffer[..total]).as_bytes());
        }
        let mut hasher = blake3::Hasher::new_keyed(secret);
        for part in parts {
            hasher.update(part);
        }
        CacheKey(*hasher.finalize().as_bytes())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheKey(<redacted>)")
    }
}

/// What the verified-credentials cache knows about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLookup {
    /// Verified less than `revalidate_after` ago: authenticated as this id.
    Fresh(i64),
    /// Verified earlier: re-read the row and call
    /// [`CredentialCache::revalidate`].
    Stale { user_id: i64, password_hash: String },
    /// Unknown: full path.
    Miss,
}

/// The columns of `auth_user` that authentication reads (by user name),
/// and that decide a cached entry's validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub password: String,
    pub is_active: bool,
}

/// The result of [`CredentialCache::revalidate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revalidation {
    /// Same user, same hash string, active: authenticated as this id; the
    /// entry is fresh again.
    Valid(i64),
    /// Something changed (or the entry is gone): the entry was dropped;
    /// take the full path with the row just read.
    Invalid,
}

/// How the caches' maps hash their keys. A key is a BLAKE3 digest, already uniform, so its
/// first sixteen bytes mixed with a per-map random seed (a folded multiply) place it as well as
/// SipHash over all 32 bytes would, in a few instructions per lookup. The seed, from std's
/// `RandomState`, keeps the map safe from chosen keys on its own, whatever makes the digests:
/// without it, anyone who could compute digests could grind passwords until many share the
/// low bits that pick a bucket; with it the bucket of a digest cannot be predicted.
#[derive(Clone)]
struct DigestState([u64; 2]);

impl DigestState {
    fn new() -> DigestState {
        use std::hash::BuildHasher;
        let random = std::collections::hash_map::RandomState::new();
        DigestState([random.hash_one(1u8), random.hash_one(2u8)])
    }
}

impl std::hash::BuildHasher for DigestState {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher {
            seed: self.0,
            hash: 0,
        }
    }
}

struct DigestHasher {
    seed: [u64; 2],
    hash: u64,
}

impl std::hash::Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        // The digest's bytes come in one write (its length prefix in another, the same for
        // every key): fold in sixteen of each write that has them, anything shorter whole.
        let mut words = [0u64; 2];
        for (i, chunk) in bytes.chunks(8).take(2).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            words[i] = u64::from_le_bytes(word);
        }
        let a = words[0] ^ self.seed[0] ^ self.hash;
        let b = words[1] ^ self.seed[1];
        let product = u128::from(a) * u128::from(b);
        self.hash = (product as u64) ^ ((product >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A bounded map from [`CacheKey`] that evicts the entry written or
/// touched longest ago: both caches below keep their entries in one.
///
/// `order` lists (key, generation) in write order; an entry's generation
/// changes whenever it is written or touched, so the older pairs of that
/// key become tombstones, skipped on eviction and compacted lazily (the
/// queue stays within a constant factor of the live entries).
struct GenerationFifo<V> {
    map: HashMap<CacheKey, (V, u64), DigestState>,
    order: VecDeque<(CacheKey, u64)>,
    next_generation: u64,
    capacity: usize,
}

impl<V> GenerationFifo<V> {
    /// At most `capacity` entries; 0 keeps none.
    fn new(capacity: usize) -> Self {
        GenerationFifo {
            map: HashMap::with_hasher(DigestState::new()),
            order: VecDeque::new(),
            next_generation: 0,
            capacity,
        }
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn get(&self, key: &CacheKey) -> Option<&V> {
        self.map.get(key).map(|(v, _)| v)
    }

    /// Writes the key's entry (the newest now), evicting the oldest
    /// entries when a new key would exceed the capacity.
    fn insert(&mut self, key: CacheKey, value: V) {
        if self.capacity == 0 {
            return;
        }
        if !self.map.contains_key(&key) {
            while self.map.len() >= self.capacity {
                if !self.evict_oldest() {
                    break;
                }
            }
        }
        let generation = self.bump();
        self.map.insert(key, (value, generation));
        self.order.push_back((key, generation));
        self.compact_if_needed();
    }

    /// Makes an existing entry the newest, changed by `update`. False if
    /// the key is not there.
    fn touch(&mut self, key: &CacheKey, update: impl FnOnce(&mut V)) -> bool {
        let generation = self.next_generation;
        match self.map.get_mut(key) {
            None => false,
            Some((value, g)) => {
                update(value);
                *g = generation;
                self.next_generation += 1;
                self.order.push_back((*key, generation));
                self.compact_if_needed();
                true
            }
        }
    }

    fn remove(&mut self, key: &CacheKey) -> bool {
        // The tombstone left in `order` is skipped and compacted later.
        self.map.remove(key).is_some()
    }

    /// Keeps the entries `keep` says yes to. Linear in the size.
    fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.map.retain(|_, (v, _)| keep(v));
        self.compact();
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }

    fn bump(&mut self) -> u64 {
        let g = self.next_generation;
        self.next_generation += 1;
        g
    }

    /// Evicts the live entry written longest ago. False if none is left.
    fn evict_oldest(&mut self) -> bool {
        while let Some((key, generation)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|(_, g)| *g == generation) {
                self.map.remove(&key);
                return true;
            }
        }
        false
    }

    fn compact_if_needed(&mut self) {
        if self.order.len() > 2 * self.map.len() + 16 {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let map = &self.map;
        self.order
            .retain(|(k, g)| map.get(k).is_some_and(|(_, live)| live == g));
    }
}

struct Entry {
    user_id: i64,
    password_hash: String,
    verified_at: u64,
}

/// Bounded cache of verified credentials. See the module docs.
pub struct CredentialCache {
    /// Evicts the entry verified or revalidated longest ago.
    entries: GenerationFifo<Entry>,
    revalidate_after_ms: u64,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.entries.capacity)
            .field("revalidate_after_ms", &self.revalidate_after_ms)
            .finish()
    }
}

impl CredentialCache {
    /// A cache of at most `capacity` entries (0 disables it), trusted
    /// without a database read for `revalidate_after_ms`.
    pub fn new(capacity: usize, revalidate_after_ms: u64) -> CredentialCache {
        CredentialCache {
            entries: GenerationFifo::new(capacity),
            revalidate_after_ms,
        }
    }

    pub fn capacity(&self) -> usize {
        self.entries.capacity
    }

    pub fn revalidate_after_ms(&self) -> u64 {
        self.revalidate_after_ms
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Looks a key up at time `now_ms`. An entry from the "future" (a
    /// clock that went backwards) counts as stale.
    pub fn lookup(&self, key: &CacheKey, now_ms: u64) -> CacheLookup {
        match self.entries.get(key) {
            None => CacheLookup::Miss,
            Some(e) => match now_ms.checked_sub(e.verified_at) {
                Some(age) if age < self.revalidate_after_ms => CacheLookup::Fresh(e.user_id),
                _ => CacheLookup::Stale {
                    user_id: e.user_id,
                    password_hash: e.password_hash.clone(),
                },
            },
        }
    }

    /// Records that the key's password was verified (PBKDF2) against
    /// `password_hash`, the hash string of active user `user_id`. Replaces
    /// any entry for the key; evicts the oldest entry when full.
    pub fn insert(&mut self, key: CacheKey, user_id: i64, password_hash: &str, now_ms: u64) {
        self.entries.insert(
            key,
            Entry {
                user_id,
                password_hash: password_hash.to_owned(),
                verified_at: now_ms,
            },
        );
    }

    /// Marks an entry as validated at `now_ms` (after the caller checked
    /// the row itself). Returns false if the key is not cached (it may have
    /// been evicted while the row was being read).
    pub fn refresh(&mut self, key: &CacheKey, now_ms: u64) -> bool {
        self.entries.touch(key, |e| e.verified_at = now_ms)
    }

    /// Drops an entry. Returns whether there was one.
    pub fn remove(&mut self, key: &CacheKey) -> bool {
        self.entries.remove(key)
    }

    /// Applies a freshly read row (`None`: no such user) to a stale entry:
    /// refreshes it when the id and hash string are unchanged and the user
    /// is active, drops it otherwise.
    pub fn revalidate(
        &mut self,
        key: &CacheKey,
        now_ms: u64,
        row: Option<&UserRow>,
    ) -> Revalidation {
        let valid = match (self.entries.get(key), row) {
            (Some(e), Some(row)) => {
                row.is_active
                    && row.id == e.user_id
                    && bool::from(e.password_hash.as_bytes().ct_eq(row.password.as_bytes()))
            }
            _ => false,
        };
        if valid {
            let user_id = self.entries.get(key).map(|e| e.user_id);
            self.refresh(key, now_ms);
            match user_id {
                Some(id) => Revalidation::Valid(id),
                None => Revalidation::Invalid,
            }
        } else {
            self.remove(key);
            Revalidation::Invalid
        }
    }

    /// Drops every entry of a user (e.g. after the module itself changed
    /// or deleted it). Linear in the cache size.
    pub fn remove_user(&mut self, user_id: i64) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| e.user_id != user_id);
        before - self.entries.len()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

struct Failure {
    /// SHA-256 of the hash string the password failed against.
    hash_digest: [u8; 32],
    failed_at: u64,
}

/// Bounded, short-lived cache of failed password checks. See the module
/// docs.
pub struct FailureCache {
    /// Evicts the failure recorded longest ago.
    entries: GenerationFifo<Failure>,
    ttl_ms: u64,
}

impl fmt::Debug for FailureCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailureCache")
            .field("len", &self.entries.len())
            .field("capacity", &self.entries.capacity)
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

fn digest_of(password_hash: &str) -> [u8; 32] {
    Sha256::digest(password_hash.as_bytes()).into()
}

impl FailureCache {
    /// At most `capacity` failures (0 disables it), each kept `ttl_ms`.
    pub fn new(capacity: usize, ttl_ms: u64) -> FailureCache {
        FailureCache {
            entries: GenerationFifo::new(capacity),
            ttl_ms,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Records that the key's password did not match `password_hash` (the
    /// user's stored hash string; `""` for a user that does not exist).
    pub fn record(&mut self, key: CacheKey, password_hash: &str, now_ms: u64) {
        self.entries.insert(
            key,
            Failure {
                hash_digest: digest_of(password_hash),
                failed_at: now_ms,
            },
        );
    }

    /// True when this pair failed against this very hash string less than
    /// `ttl_ms` ago: refuse without PBKDF2.
    pub fn is_known_failure(&self, key: &CacheKey, password_hash: &str, now_ms: u64) -> bool {
        match self.entries.get(key) {
            None => false,
            Some(f) => {
                let young = now_ms
                    .checked_sub(f.failed_at)
                    .is_some_and(|age| age < self.ttl_ms);
                young && f.hash_digest == digest_of(password_hash)
            }
        }
    }

    /// Forgets a pair (e.g. once it verified after all).
    pub fn remove(&mut self, key: &CacheKey) -> bool {
        self.entries.remove(key)
    }

    /// Drops expired failures (optional housekeeping; lookups already
    /// ignore them).
    pub fn purge_expired(&mut self, now_ms: u64) {
        let ttl = self.ttl_ms;
        self.entries
            .retain(|f| now_ms.checked_sub(f.failed_at).is_some_and(|age| age < ttl));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "pbkdf2_sha256$260000$salt1$AAAA";
    const H2: &str = "pbkdf2_sha256$260000$salt2$BBBB";

    const SECRET: [u8; 32] = [7; 32];

    fn k(u: &str, p: &str) -> CacheKey {
        CacheKey::new(&SECRET, u, p)
    }

    #[test]
    fn keys_hash_apart_and_by_a_seed_of_each_map() {
        use std::hash::BuildHasher;
        let (one, other) = (DigestState::new(), DigestState::new());
        let keys: Vec<CacheKey> = (0..2000).map(|i| k("admin", &format!("pw{i}"))).collect();
        let hashes: std::collections::HashSet<u64> = keys.iter().map(|x| one.hash_one(x)).collect();
        assert_eq!(hashes.len(), keys.len());
        // the low bits that pick a bucket are spread too: 2000 keys over 256 buckets
        let mut buckets = [0u32; 256];
        for x in &keys {
            buckets[(one.hash_one(x) & 255) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n < 30), "{buckets:?}");
        // another map places the same key elsewhere: a bucket cannot be chosen from outside
        let moved = keys
            .iter()
            .filter(|x| one.hash_one(x) != other.hash_one(x))
            .count();
        assert_eq!(moved, keys.len());
    }

    #[test]
    fn key_is_blake3_keyed_over_the_pair_whatever_its_length() {
        // Both ways of hashing (one stack buffer, the incremental hasher) give the digest
        // of the whole message, on either side of the buffer's size.
        for len in [0, 1, ONE_BUFFER_MAX - 14, ONE_BUFFER_MAX - 13, 1000, 5000] {
            let password = "p".repeat(len);
            let mut message = (5u64).to_be_bytes().to_vec();
            message.extend_from_slice(b"admin\0");
            message.extend_from_slice(password.as_bytes());
            let expected = blake3::keyed_hash(&SECRET, &message);
            assert_eq!(k("admin", &password).0, *expected.as_bytes(), "{len}");
        }
    }

    #[test]
    fn key_separates_fields_and_is_redacted() {
        assert_ne!(k("ab", "c"), k("a", "bc"));
        assert_ne!(k("a\0b", "c"), k("a", "b\0c"));
        assert_ne!(k("admin", "x"), k("Admin", "x"));
        assert_eq!(k("admin", "admin1234"), k("admin", "admin1234"));
        assert_ne!(
            CacheKey::new(&[1; 32], "admin", "pw"),
            CacheKey::new(&[2; 32], "admin", "pw")
        );
        assert_eq!(
            format!("{:?}", k("admin", "admin1234")),
            "CacheKey(<redacted>)"
        );
    }

    #[test]
    fn fresh_then_stale_then_refresh() {
        let mut c = CredentialCache::new(8, 1000);
        let key = k("admin", "admin1234");
        assert_eq!(c.lookup(&key, 0), CacheLookup::Miss);
        c.insert(key, 1, H1, 100);
        assert_eq!(c.lookup(&key, 100), CacheLookup::Fresh(1));
        assert_eq!(c.lookup(&key, 1099), CacheLookup::Fresh(1));
        assert_eq!(
            c.lookup(&key, 1100),
            CacheLookup::Stale {
                user_id: 1,
                password_hash: H1.to_owned()
            }
        );
        assert!(c.refresh(&key, 1100));
        assert_eq!(c.lookup(&key, 2099), CacheLookup::Fresh(1));
        assert!(!c.refresh(&k("admin", "other"), 0));
    }

    #[test]
    fn clock_going_backwards_is_stale() {
        let mut c = CredentialCache::new(8, 1000);
        let key = k("admin", "pw");
        c.insert(key, 1, H1, 5000);
        assert!(matches!(c.lookup(&key, 4999), CacheLookup::Stale { .. }));
    }

    #[test]
    fn revalidate_rules() {
        let key = k("admin", "pw");
        let row = |id, password: &str, is_active| UserRow {
            id,
            password: password.to_owned(),
            is_active,
        };
        let fresh = || {
            let mut c = CredentialCache::new(8, 1000);
            c.insert(key, 7, H1, 0);
            c
        };

        let mut c = fresh();
        assert_eq!(
            c.revalidate(&key, 5000, Some(&row(7, H1, true))),
            Revalidation::Valid(7)
        );
        assert_eq!(c.lookup(&key, 5500), CacheLookup::Fresh(7));

        // Password changed.
        let mut c = fresh();
        assert_eq!(
            c.revalidate(&key, 5000, Some(&row(7, H2, true))),
            Revalidation::Invalid
        );
        assert_eq!(c.lookup(&key, 5000), CacheLookup::Miss);

        // Deactivated.
        let mut c = fresh();
        assert_eq!(
            c.revalidate(&key, 5000, Some(&row(7, H1, false))),
            Revalidation::Invalid
        );
        assert_eq!(c.lookup(&key, 5000), CacheLookup::Miss);

        // Deleted.
        let mut c = fresh();
        assert_eq!(c.revalidate(&key, 5000, None), Revalidation::Invalid);
        assert_eq!(c.lookup(&key, 5000), CacheLookup::Miss);

        // User name now belongs to another user (even with the same hash).
        let mut c = fresh();
        assert_eq!(
            c.revalidate(&key, 5000, Some(&row(8, H1, true))),
            Revalidation::Invalid
        );

        // Entry evicted meanwhile.
        let mut c = CredentialCache::new(8, 1000);
        assert_eq!(
            c.revalidate(&key, 5000, Some(&row(7, H1, true))),
            Revalidation::Invalid
        );
    }

    #[test]
    fn documented_bound_holds() {
        // A password change at t=300 stops the old password at the latest
        // when the entry (verified at t=0) is revalidate_after old.
        let ttl = 1000;
        let mut c = CredentialCache::new(8, ttl);
        let key = k("admin", "old");
        c.insert(key, 1, H1, 0);
        let mut now = 0;
        loop {
            match c.lookup(&key, now) {
                CacheLookup::Fresh(_) => now += 1,
                CacheLookup::Stale { .. } => {
                    let r = c.revalidate(
                        &key,
                        now,
                        Some(&UserRow {
                            id: 1,
                            password: H2.to_owned(),
                            is_active: true,
                        }),
                    );
                    assert_eq!(r, Revalidation::Invalid);
                    break;
                }
                CacheLookup::Miss => unreachable!(),
            }
        }
        assert_eq!(now, ttl);
    }

    #[test]
    fn capacity_evicts_oldest_validation() {
        let mut c = CredentialCache::new(3, 1000);
        let (a, b, d, e) = (k("a", "1"), k("b", "1"), k("d", "1"), k("e", "1"));
        c.insert(a, 1, H1, 0);
        c.insert(b, 2, H1, 1);
        c.insert(d, 3, H1, 2);
        // Revalidating `a` makes `b` the oldest.
        assert!(c.refresh(&a, 3));
        c.insert(e, 4, H1, 4);
        assert_eq!(c.len(), 3);
        assert_eq!(c.lookup(&b, 5), CacheLookup::Miss);
        assert_eq!(c.lookup(&a, 5), CacheLookup::Fresh(1));
        assert_eq!(c.lookup(&d, 5), CacheLookup::Fresh(3));
        assert_eq!(c.lookup(&e, 5), CacheLookup::Fresh(4));
        // Re-inserting an existing key does not evict anything.
        c.insert(d, 3, H2, 6);
        assert_eq!(c.len(), 3);
        assert_eq!(c.lookup(&a, 6), CacheLookup::Fresh(1));
    }

    #[test]
    fn order_queue_stays_bounded() {
        let mut c = CredentialCache::new(4, 10);
        let keys: Vec<CacheKey> = (0..4).map(|i| k(&i.to_string(), "pw")).collect();
        for (i, key) in keys.iter().enumerate() {
            c.insert(*key, i as i64, H1, 0);
        }
        for t in 0..10_000u64 {
            let key = &keys[(t % 4) as usize];
            assert!(c.refresh(key, t));
            if t % 7 == 0 {
                c.remove(key);
                c.insert(*key, (t % 4) as i64, H1, t);
            }
        }
        assert_eq!(c.len(), 4);
        assert!(
            c.entries.order.len() <= 2 * 4 + 16 + 1,
            "{}",
            c.entries.order.len()
        );
        for _ in 0..1000 {
            let i = c.entries.next_generation;
            c.insert(k(&format!("n{i}"), "pw"), 9, H1, 0);
        }
        assert_eq!(c.len(), 4);
        assert!(c.entries.order.len() <= 2 * 4 + 16 + 1);
    }

    #[test]
    fn zero_capacity_disables() {
        let mut c = CredentialCache::new(0, 1000);
        c.insert(k("a", "b"), 1, H1, 0);
        assert!(c.is_empty());
        assert_eq!(c.lookup(&k("a", "b"), 0), CacheLookup::Miss);
        let mut f = FailureCache::new(0, 1000);
        f.record(k("a", "b"), H1, 0);
        assert!(!f.is_known_failure(&k("a", "b"), H1, 0));
    }

    #[test]
    fn remove_user_and_clear() {
        let mut c = CredentialCache::new(8, 1000);
        c.insert(k("a", "1"), 1, H1, 0);
        c.insert(k("a", "2"), 1, H1, 0);
        c.insert(k("b", "1"), 2, H1, 0);
        assert_eq!(c.remove_user(1), 2);
        assert_eq!(c.len(), 1);
        assert!(c.remove(&k("b", "1")));
        assert!(!c.remove(&k("b", "1")));
        c.insert(k("b", "1"), 2, H1, 0);
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn failure_cache_is_tied_to_hash_and_ttl() {
        let mut f = FailureCache::new(4, 500);
        let key = k("admin", "wrong");
        assert!(!f.is_known_failure(&key, H1, 0));
        f.record(key, H1, 100);
        assert!(f.is_known_failure(&key, H1, 100));
        assert!(f.is_known_failure(&key, H1, 599));
        assert!(!f.is_known_failure(&key, H1, 600)); // expired
        assert!(!f.is_known_failure(&key, H2, 200)); // password changed since
        assert!(!f.is_known_failure(&key, H1, 50)); // clock went backwards
        assert!(!f.is_known_failure(&k("admin", "other"), H1, 200));
        // Missing user.
        let ghost = k("ghost", "pw");
        f.record(ghost, "", 0);
        assert!(f.is_known_failure(&ghost, "", 10));
        assert!(f.remove(&ghost));
        assert!(!f.is_known_failure(&ghost, "", 10));
    }

    #[test]
    fn failure_cache_is_bounded() {
        let mut f = FailureCache::new(3, 10_000);
        for i in 0..100 {
            f.record(k("u", &i.to_string()), H1, i);
        }
        assert_eq!(f.len(), 3);
        assert!(f.entries.order.len() <= 2 * 3 + 16 + 1);
        assert!(f.is_known_failure(&k("u", "99"), H1, 100));
        assert!(!f.is_known_failure(&k("u", "0"), H1, 100));
        f.purge_expired(50_000);
        assert!(f.is_empty());
        f.record(k("u", "x"), H1, 0);
        f.clear();
        assert!(f.is_empty());
    }

    #[test]
    fn storable_in_thread_local() {
        fn assert_static<T: 'static>() {}
        assert_static::<CredentialCache>();
        assert_static::<FailureCache>();
        thread_local! {
            static CACHE: std::cell::RefCell<CredentialCache> =
                std::cell::RefCell::new(CredentialCache::new(16, 1000));
        }
        CACHE.with(|c| c.borrow_mut().insert(k("a", "b"), 1, H1, 0));
        CACHE.with(|c| assert_eq!(c.borrow().lookup(&k("a", "b"), 1), CacheLookup::Fresh(1)));
    }

    #[test]
    fn fifo_evicts_the_entry_written_or_touched_longest_ago() {
        let mut f = GenerationFifo::new(2);
        let (a, b, c) = (k("a", ""), k("b", ""), k("c", ""));
        f.insert(a, 1);
        f.insert(b, 2);
        // Touching `a` makes `b` the oldest, and changes `a`'s value.
        assert!(f.touch(&a, |v| *v = 10));
        f.insert(c, 3);
        assert_eq!(
            (f.get(&a), f.get(&b), f.get(&c)),
            (Some(&10), None, Some(&3))
        );
        // Rewriting a present key evicts nothing.
        f.insert(c, 30);
        assert_eq!((f.len(), f.get(&a), f.get(&c)), (2, Some(&10), Some(&30)));
        // A removed key's tombstone is skipped: the next eviction takes a live entry.
        assert!(f.remove(&a));
        f.insert(b, 2);
        f.insert(a, 1);
        assert_eq!(
            (f.get(&c), f.get(&b), f.get(&a)),
            (None, Some(&2), Some(&1))
        );
        assert!(!f.touch(&c, |_| {}));
    }

    #[test]
    fn fifo_retain_compacts_and_zero_capacity_keeps_nothing() {
        let mut f = GenerationFifo::new(8);
        for i in 0..8u64 {
            f.insert(k(&i.to_string(), ""), i);
            f.touch(&k(&i.to_string(), ""), |_| {});
        }
        f.retain(|v| v % 2 == 0);
        assert_eq!(f.len(), 4);
        assert_eq!(f.order.len(), 4);
        // The oldest live entry ("0") goes first once the capacity is reached again.
        for i in 8..12u64 {
            f.insert(k(&i.to_string(), ""), i);
        }
        f.insert(k("new", ""), 99);
        assert_eq!(f.get(&k("0", "")), None);
        assert_eq!(f.get(&k("2", "")), Some(&2));
        let mut none = GenerationFifo::new(0);
        none.insert(k("a", ""), 1);
        assert_eq!((none.len(), none.get(&k("a", ""))), (0, None));
        f.clear();
        assert_eq!((f.len(), f.order.len()), (0, 0));
    }
}

//! Authentication for the Music API: HTTP Basic credentials checked against
//! Django's `auth_user` password hashes, as DRF 3.12 / Django 3.2 do it.
//!
//! Pure logic only (no nginx, no database, no I/O):
//!
//! * [`basic`]: the `Authorization` header, with DRF's exact error texts
//!   and Python's lenient base64 decoder.
//! * [`django_hash`]: `pbkdf2_sha256` / `pbkdf2_sha1` hash strings: parse,
//!   verify (constant-time), make.
//! * [`cache`]: per-worker caches of verified and failed checks, so PBKDF2
//!   does not run on every request (see its docs for the staleness bound).
//! * [`verify_job`]: the PBKDF2 check packaged for a thread pool.
//! * [`change`]: what the database's auth triggers announce (`music_auth_listen`).
//! * [`login_failure`]: why a login was refused, and its error-log line.
//! * [`django_signing`], [`session`], [`csrf`]: Django's signed session
//!   format, the login it records, and the CSRF check DRF applies to
//!   session-authenticated requests.
//!
//! Passwords never appear in any `Debug` output of these types.

pub mod basic;
pub mod cache;
pub mod change;
pub mod cookies;
pub mod csrf;
pub mod django_hash;
pub mod django_signing;
pub mod login_failure;
pub mod redirect;
pub mod session;
pub mod verify_job;

pub use basic::{parse_authorization, username_is_storable, BasicOutcome, NonUtf8};
pub use cache::{CacheKey, CacheLookup, CredentialCache, FailureCache, Revalidation, UserRow};
pub use django_hash::{try_make_password, Algorithm, DjangoHash, HashError, MAX_ITERATIONS};
pub use login_failure::LoginFailure;
pub use verify_job::VerifyJob;

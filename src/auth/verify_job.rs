//! The PBKDF2 check as a self-contained job for an nginx thread pool.
//!
//! A [`VerifyJob`] owns everything it needs (the password, a parsed
//! [`DjangoHash`]) and nothing tied to the worker's event loop: it is
//! `Send + 'static`, holds no `Rc` and no nginx pointers. Build it on the
//! event loop, call [`VerifyJob::run`] on a pool thread, and read
//! [`VerifyJob::result`] back on the event loop.
//!
//! The password buffer is wiped (zeroize crate: volatile writes the
//! compiler cannot elide) as soon as [`VerifyJob::run`] has used it, and
//! again on drop for a job that never ran.

use std::fmt;

use zeroize::Zeroizing;

use super::django_hash::DjangoHash;

/// A password check to run off the event loop.
pub struct VerifyJob {
    password: Zeroizing<String>,
    hash: DjangoHash,
    /// A dummy job always fails, whatever the password.
    dummy: bool,
    result: Option<bool>,
}

impl fmt::Debug for VerifyJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyJob")
            .field("password", &"<redacted>")
            .field("hash", &self.hash)
            .field("dummy", &self.dummy)
            .field("result", &self.result)
            .finish()
    }
}

impl VerifyJob {
    /// A job checking `password` against `hash`. Takes the password by
    /// value so that the only copy is the one this job wipes.
    pub fn new(password: String, hash: DjangoHash) -> VerifyJob {
        VerifyJob {
            password: Zeroizing::new(password),
            hash,
            dummy: false,
            result: None,
        }
    }

    /// A job that costs what a real check at Django's default 260000
    /// iterations costs and always fails: Django's `ModelBackend` hashes
    /// the password once for a user name that does not exist, so that
    /// response times do not tell which user names exist (Django ticket
    /// #20760). Optional: use it for unknown user names if that timing
    /// equality matters more than the CPU it costs.
    pub fn dummy(password: String) -> VerifyJob {
        VerifyJob {
            password: Zeroizing::new(password),
            hash: dummy_hash(),
            dummy: true,
            result: None,
        }
    }

    /// Runs PBKDF2 (blocking; ~0.1 s at 260000 iterations) and stores the
    /// result, then wipes the password. Running it again is a no-op.
    pub fn run(&mut self) {
        if self.result.is_some() {
            return;
        }
        let ok = self.hash.verify(&self.password);
        self.result = Some(ok && !self.dummy);
        // Wipe now rather than when the event loop gets around to dropping
        // the job (zeroize leaves an empty, valid String).
        zeroize::Zeroize::zeroize(&mut *self.password);
    }

    /// `None` until [`VerifyJob::run`] has run; then whether the password
    /// matched.
    pub fn result(&self) -> Option<bool> {
        self.result
    }

    /// The hash the password was (or will be) checked against; on success
    /// its [`DjangoHash::as_str`] is what goes into the credential cache.
    pub fn hash(&self) -> &DjangoHash {
        &self.hash
    }

    /// Whether this is a [`VerifyJob::dummy`] job.
    pub fn is_dummy(&self) -> bool {
        self.dummy
    }
}

/// A fixed, valid pbkdf2_sha256 hash at Django's default cost (of the
/// password "ngx-music dummy password", computed with Python's
/// `hashlib.pbkdf2_hmac`); only parsed here, so building a dummy job costs
/// no PBKDF2 on the event loop.
const DUMMY_HASH: &str =
    "pbkdf2_sha256$260000$ngxmusicdummysalt00000$x0THqYEfUVAIcnK5T5Ejf29EZ3BR7CWwnrsutWCLU8c=";

/// Parsed anew for each dummy job (microseconds, next to its PBKDF2): a process-wide cache of
/// it would outlive the module, whose unloading at exit leaves such a block unreachable
/// (build/memcheck counts that as a leak).
fn dummy_hash() -> DjangoHash {
    match DjangoHash::parse(DUMMY_HASH) {
        Ok(h) => h,
        Err(e) => unreachable!("dummy hash must parse: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::django_hash::{make_pbkdf2_sha256, DJANGO_DEFAULT_ITERATIONS};

    fn job(pw: &str, enc: &str) -> VerifyJob {
        VerifyJob::new(pw.to_owned(), DjangoHash::parse(enc).unwrap())
    }

    #[test]
    fn is_send_and_static() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<VerifyJob>();
    }

    #[test]
    fn runs_and_reports() {
        let enc = make_pbkdf2_sha256("admin1234", "seasalt", 50);
        let mut ok = job("admin1234", &enc);
        assert_eq!(ok.result(), None);
        ok.run();
        assert_eq!(ok.result(), Some(true));
        assert_eq!(ok.hash().as_str(), enc);
        // Password wiped after the run; running again keeps the result.
        assert!(ok.password.is_empty());
        ok.run();
        assert_eq!(ok.result(), Some(true));

        let mut bad = job("admin12345", &enc);
        bad.run();
        assert_eq!(bad.result(), Some(false));
    }

    #[test]
    fn runs_on_another_thread() {
        let enc = make_pbkdf2_sha256("pässwörd", "salt", 20);
        let mut j = job("pässwörd", &enc);
        j = std::thread::spawn(move || {
            j.run();
            j
        })
        .join()
        .unwrap();
        assert_eq!(j.result(), Some(true));
    }

    #[test]
    fn debug_redacts_password() {
        let enc = make_pbkdf2_sha256("admin1234", "seasalt", 1);
        let j = job("hunter2-secret", &enc);
        let dbg = format!("{j:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn dummy_costs_the_default_and_always_fails() {
        let j = VerifyJob::dummy("whatever".to_owned());
        assert!(j.is_dummy());
        assert_eq!(j.hash().iterations(), DJANGO_DEFAULT_ITERATIONS);
        assert_eq!(j.hash().as_str(), DUMMY_HASH);
        // The forced failure, checked on a cheap hash: even the matching
        // password fails.
        let enc = make_pbkdf2_sha256("pw", "seasalt", 3);
        let mut j = VerifyJob {
            dummy: true,
            ..job("pw", &enc)
        };
        j.run();
        assert_eq!(j.result(), Some(false));
    }
}

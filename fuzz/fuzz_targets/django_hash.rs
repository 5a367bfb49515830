//! Django password hashes: `DjangoHash::parse`, `verify`, `try_make_password`.
//!
//! Input: one selector byte, then the rest (UTF-8).
//! - selector bit 0 clear: `encoded \0 password`. A parsed hash is exactly the string it came
//!   from, rebuilt from its parts (algorithm, canonical iteration count, salt, digest); its
//!   `Debug` redacts salt and digest; when it has at most 1000 iterations, `verify(password)`
//!   is true exactly when `try_make_password` with its salt and count gives the same string.
//! - selector bit 0 set: `salt \0 password`; bit 1 picks SHA-1, bits 2-7 the iteration
//!   count (1-64). A made hash parses back to its parts and verifies its password only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_music::auth::{try_make_password, Algorithm, DjangoHash, HashError, MAX_ITERATIONS};

/// Hashes with more iterations are parsed but not verified (PBKDF2 time).
const VERIFY_MAX_ITERATIONS: u32 = 1000;

fn parsed(encoded: &str, password: &str) {
    let Ok(hash) = DjangoHash::parse(encoded) else {
        return;
    };
    assert_eq!(hash.as_str(), encoded);
    let iterations = hash.iterations();
    assert!((1..=MAX_ITERATIONS).contains(&iterations));
    let salt = hash.salt();
    assert!(!salt.is_empty() && !salt.contains('$'), "salt {salt:?}");
    let prefix = format!("{}${}${}$", hash.algorithm().name(), iterations, salt);
    assert!(
        encoded.starts_with(&prefix),
        "{encoded:?} is not {prefix:?}…"
    );
    assert_eq!(
        format!("{hash:?}"),
        format!(
            "DjangoHash {{ algorithm: {:?}, iterations: {}, salt: \"<redacted>\", digest: \"<redacted>\" }}",
            hash.algorithm(),
            iterations
        )
    );
    if iterations <= VERIFY_MAX_ITERATIONS {
        let made = try_make_password(hash.algorithm(), password, salt, iterations).unwrap();
        assert_eq!(hash.verify(password), made == encoded);
    }
}

fn made(selector: u8, salt: &str, password: &str) {
    let algorithm = if selector & 2 != 0 {
        Algorithm::Pbkdf2Sha1
    } else {
        Algorithm::Pbkdf2Sha256
    };
    let iterations = u32::from(selector >> 2) + 1;
    let encoded = match try_make_password(algorithm, password, salt, iterations) {
        Ok(encoded) => encoded,
        Err(e) => {
            assert_eq!(e, HashError::BadSalt);
            assert!(salt.is_empty() || salt.contains('$'));
            return;
        }
    };
    let hash = DjangoHash::parse(&encoded).unwrap_or_else(|e| panic!("{encoded:?}: {e}"));
    assert_eq!(hash.algorithm(), algorithm);
    assert_eq!(hash.iterations(), iterations);
    assert_eq!(hash.salt(), salt);
    assert!(
        hash.verify(password),
        "{encoded:?} does not verify its password"
    );
    // (Not `password + "\0"`: HMAC pads short keys with zero bytes, so PBKDF2 cannot tell
    // "pw" from "pw\0", in Python's hashlib, hence Django, as here.)
    let other = format!("{password}x");
    assert!(!hash.verify(&other), "{encoded:?} verifies {other:?}");
    parsed(&encoded, password);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (first, second) = text.split_once('\0').unwrap_or((text, ""));
    if selector & 1 == 0 {
        parsed(first, second);
    } else {
        made(selector, first, second);
    }
});

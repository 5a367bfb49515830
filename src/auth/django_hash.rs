//! Django password hashes (`auth_user.password`): parsing and verification
//! of the PBKDF2 formats Django 3.2 ships enabled by default,
//! `pbkdf2_sha256$<iterations>$<salt>$<base64 digest>` (its default hasher,
//! 260000 iterations) and `pbkdf2_sha1$…` (`PBKDF2SHA1PasswordHasher`).
//!
//! Django's `check_password(password, encoded)` is matched as follows:
//!
//! * `encoded` starting with `!` (`UNUSABLE_PASSWORD_PREFIX`, what
//!   `set_unusable_password()` stores) never verifies;
//! * the algorithm is the text before the first `$` (`identify_hasher`);
//!   anything other than the two PBKDF2 hashers never verifies here
//!   (Django's other default hashers, argon2 and bcrypt_sha256, need
//!   optional Python packages; the legacy sha1/md5/crypt ones are not in
//!   Django 3.2's default `PASSWORD_HASHERS`, so Django refuses them too);
//! * `PBKDF2PasswordHasher.verify` re-encodes the password with the stored
//!   salt and iteration count and compares the *whole string*. So a stored
//!   string only ever verifies when it is exactly what Django would write:
//!   the iteration count in canonical decimal (`int()` would accept
//!   `0260000`, ` 260000`, `+260000` or `260_000`, but `%d` writes
//!   `260000`, and the comparison fails), and the digest in canonical
//!   padded base64 of exactly the digest length. [`DjangoHash::parse`]
//!   rejects every other string up front, which gives the same answers.
//!   An iteration count of `0` never verifies in Django either
//!   (`iterations or 260000` re-encodes it as 260000); an empty salt or a
//!   string with fewer than four `$`-separated fields is a 500 in Django
//!   (`AssertionError`/`ValueError`) and simply never verifies here.
//! * Any iteration count is honoured, up to [`MAX_ITERATIONS`] (a sanity
//!   bound against a hash string that would pin a thread for minutes).
//!
//! Not reproduced: Django's `setter`, which on a successful login rewrites
//! a hash whose algorithm or iteration count is not the current default
//! (or whose salt is short) to `pbkdf2_sha256$260000$…`, and
//! `harden_runtime`, which pads the time of a failed check against a
//! low-iteration hash. Neither changes who can log in.

use std::fmt;
use std::sync::Arc;

use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::basic::python_b64decode;

/// Django 3.2's `PBKDF2PasswordHasher.iterations`.
pub const DJANGO_DEFAULT_ITERATIONS: u32 = 260_000;

/// Hash strings with more iterations than this are treated as unusable.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Length of the salts Django 3.2 generates (`salt()`: 128 bits of entropy
/// from `[a-zA-Z0-9]`, i.e. 22 characters).
pub const DJANGO_SALT_LEN: usize = 22;

/// Django's `UNUSABLE_PASSWORD_PREFIX`.
pub const UNUSABLE_PASSWORD_PREFIX: char = '!';

/// The hashers supported here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `django.contrib.auth.hashers.PBKDF2PasswordHasher`.
    Pbkdf2Sha256,
    /// `django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher`.
    Pbkdf2Sha1,
}

impl Algorithm {
    /// The algorithm name as it appears in the hash string.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Pbkdf2Sha256 => "pbkdf2_sha256",
            Algorithm::Pbkdf2Sha1 => "pbkdf2_sha1",
        }
    }

    /// Digest length in bytes (Django passes `dklen=None`: the hash size).
    pub fn digest_len(self) -> usize {
        match self {
            Algorithm::Pbkdf2Sha256 => 32,
            Algorithm::Pbkdf2Sha1 => 20,
        }
    }

    fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "pbkdf2_sha256" => Some(Algorithm::Pbkdf2Sha256),
            "pbkdf2_sha1" => Some(Algorithm::Pbkdf2Sha1),
            _ => None,
        }
    }

    fn derive(self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8; 32]) -> usize {
        let len = self.digest_len();
        match self {
            Algorithm::Pbkdf2Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out[..len])
            }
            Algorithm::Pbkdf2Sha1 => {
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out[..len])
            }
        }
        len
    }
}

/// Why a stored password string can never verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashError {
    /// The empty string.
    Empty,
    /// Starts with `!`: `set_unusable_password()`.
    Unusable,
    /// Not `pbkdf2_sha256` / `pbkdf2_sha1`.
    UnknownAlgorithm,
    /// Fewer than four `$`-separated fields.
    Malformed,
    /// The iteration count is not a canonical positive decimal number.
    BadIterations,
    /// More than [`MAX_ITERATIONS`].
    TooManyIterations,
    /// Empty salt (or, when making a hash, a salt containing `$`).
    BadSalt,
    /// The digest is not the canonical base64 of a digest of the right size.
    BadDigest,
}

impl fmt::Display for HashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HashError::Empty => "empty password hash",
            HashError::Unusable => "unusable password (set_unusable_password)",
            HashError::UnknownAlgorithm => "unsupported password hash algorithm",
            HashError::Malformed => "malformed password hash",
            HashError::BadIterations => "bad iteration count in password hash",
            HashError::TooManyIterations => "iteration count in password hash is too large",
            HashError::BadSalt => "bad salt in password hash",
            HashError::BadDigest => "bad digest in password hash",
        })
    }
}

impl std::error::Error for HashError {}

/// A parsed, usable Django PBKDF2 hash. Cloning is cheap (reference
/// counted); it is `Send + Sync`.
#[derive(Clone)]
pub struct DjangoHash {
    inner: Arc<Inner>,
}

struct Inner {
    encoded: String,
    algorithm: Algorithm,
    iterations: u32,
    /// Byte range of the salt inside `encoded`.
    salt: (usize, usize),
    digest: [u8; 32],
}

impl fmt::Debug for DjangoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DjangoHash")
            .field("algorithm", &self.inner.algorithm)
            .field("iterations", &self.inner.iterations)
            .field("salt", &"<redacted>")
            .field("digest", &"<redacted>")
            .finish()
    }
}

impl PartialEq for DjangoHash {
    fn eq(&self, other: &Self) -> bool {
        self.inner.encoded == other.inner.encoded
    }
}

impl Eq for DjangoHash {}

impl DjangoHash {
    /// Parses the content of `auth_user.password`. `Err` means no password
    /// can ever match it (Django's `check_password` returns `False`, or
    /// fails with a 500 for a few malformed strings).
    pub fn parse(encoded: &str) -> Result<DjangoHash, HashError> {
        if encoded.is_empty() {
            return Err(HashError::Empty);
        }
        if encoded.starts_with(UNUSABLE_PASSWORD_PREFIX) {
            return Err(HashError::Unusable);
        }
        // identify_hasher: encoded.split('$', 1)[0]
        let name = encoded.split('$').next().unwrap_or("");
        let algorithm = Algorithm::from_name(name).ok_or(HashError::UnknownAlgorithm)?;

        // decode: algorithm, iterations, salt, hash = encoded.split('$', 3)
        let mut fields = encoded.splitn(4, '$');
        let (_, iterations, salt, digest) =
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some(a), Some(i), Some(s), Some(d)) => (a, i, s, d),
                _ => return Err(HashError::Malformed),
            };

        let salt_start = name.len() + 1 + iterations.len() + 1;
        let iterations = parse_canonical_iterations(iterations)?;
        if salt.is_empty() {
            return Err(HashError::BadSalt);
        }
        let salt_range = (salt_start, salt_start + salt.len());

        let mut digest_bytes =
            python_b64decode(digest.as_bytes()).map_err(|()| HashError::BadDigest)?;
        let canonical =
            digest_bytes.len() == algorithm.digest_len() && b64encode(&digest_bytes) == digest;
        let mut stored = [0u8; 32];
        if canonical {
            stored[..digest_bytes.len()].copy_from_slice(&digest_bytes);
        }
        digest_bytes.zeroize();
        if !canonical {
            return Err(HashError::BadDigest);
        }

        Ok(DjangoHash {
            inner: Arc::new(Inner {
                encoded: encoded.to_owned(),
                algorithm,
                iterations,
                salt: salt_range,
                digest: stored,
            }),
        })
    }

    /// Whether `password` matches (Django's `check_password`). Runs PBKDF2
    /// with the stored iteration count: ~0.1 s at 260000, so call it off
    /// the event loop. The digest comparison is constant-time.
    pub fn verify(&self, password: &str) -> bool {
        let inner = &*self.inner;
        let mut out = [0u8; 32];
        let len = inner.algorithm.derive(
            password.as_bytes(),
            self.salt().as_bytes(),
            inner.iterations,
            &mut out,
        );
        let ok: bool = out[..len].ct_eq(&inner.digest[..len]).into();
        out.zeroize();
        ok
    }

    /// The hash string exactly as stored.
    pub fn as_str(&self) -> &str {
        &self.inner.encoded
    }

    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm
    }

    pub fn iterations(&self) -> u32 {
        self.inner.iterations
    }

    pub fn salt(&self) -> &str {
        let (a, b) = self.inner.salt;
        &self.inner.encoded[a..b]
    }
}

fn parse_canonical_iterations(s: &str) -> Result<u32, HashError> {
    let b = s.as_bytes();
    if b.is_empty() || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return Err(HashError::BadIterations);
    }
    // At most 10 digits fit the bound's check without overflow in u64.
    if b.len() > 10 {
        return Err(HashError::TooManyIterations);
    }
    let n = b.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
    if n > u64::from(MAX_ITERATIONS) {
        return Err(HashError::TooManyIterations);
    }
    Ok(n as u32)
}

/// Standard base64 with `=` padding (Python's `base64.b64encode`).
fn b64encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = chunk[0];
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        out.push(char::from(ALPHABET[(n >> 18) as usize & 63]));
        out.push(char::from(ALPHABET[(n >> 12) as usize & 63]));
        out.push(if chunk.len() > 1 {
            char::from(ALPHABET[(n >> 6) as usize & 63])
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            char::from(ALPHABET[n as usize & 63])
        } else {
            '='
        });
    }
    out
}

/// Encodes `password` as Django's `make_password(password, salt, hasher)`
/// does, for any supported algorithm.
///
/// Errors: an empty salt or one containing `$` ([`HashError::BadSalt`];
/// Django asserts on both), `iterations` of 0 ([`HashError::BadIterations`];
/// Django would silently use 260000) or above [`MAX_ITERATIONS`].
pub fn try_make_password(
    algorithm: Algorithm,
    password: &str,
    salt: &str,
    iterations: u32,
) -> Result<String, HashError> {
    if salt.is_empty() || salt.contains('$') {
        return Err(HashError::BadSalt);
    }
    if iterations == 0 {
        return Err(HashError::BadIterations);
    }
    if iterations > MAX_ITERATIONS {
        return Err(HashError::TooManyIterations);
    }
    let mut out = [0u8; 32];
    let len = algorithm.derive(password.as_bytes(), salt.as_bytes(), iterations, &mut out);
    let encoded = format!(
        "{}${}${}${}",
        algorithm.name(),
        iterations,
        salt,
        b64encode(&out[..len])
    );
    out.zeroize();
    Ok(encoded)
}

/// `make_password(password, salt, 'pbkdf2_sha256')` with an explicit
/// iteration count (use [`DJANGO_DEFAULT_ITERATIONS`] for what Django 3.2
/// writes). For tests and for the bootstrap of the admin user.
///
/// # Panics
///
/// On a salt that is empty or contains `$`, or on an iteration count of 0
/// or above [`MAX_ITERATIONS`] (see [`try_make_password`]).
pub fn make_pbkdf2_sha256(password: &str, salt: &str, iterations: u32) -> String {
    match try_make_password(Algorithm::Pbkdf2Sha256, password, salt, iterations) {
        Ok(s) => s,
        Err(e) => panic!("make_pbkdf2_sha256: {e}"),
    }
}

/// Builds a Django-style salt ([`DJANGO_SALT_LEN`] characters from
/// `[a-zA-Z0-9]`) from random bytes (e.g. read from `/dev/urandom`), by
/// rejection sampling so that every character is equally likely. Returns
/// `None` if `random` runs out first (64 bytes are plenty: each byte is
/// rejected with probability 8/256).
pub fn django_salt(random: &[u8]) -> Option<String> {
    const CHARS: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let salt: String = random
        .iter()
        .filter(|&&b| b < 248) // 248 = 4 * 62
        .take(DJANGO_SALT_LEN)
        .map(|&b| char::from(CHARS[usize::from(b % 62)]))
        .collect();
    (salt.len() == DJANGO_SALT_LEN).then_some(salt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Django 3.2's own test vector (tests/auth_tests/test_hashers.py,
    /// `test_pbkdf2`), also reproduced with
    /// `hashlib.pbkdf2_hmac('sha256', 'lètmein'.encode(), b'seasalt', 260000)`.
    const DJANGO_VECTOR: &str =
        "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=";

    #[test]
    fn django_test_vector_260000_iterations() {
        // The one full-cost test (~0.1-1 s depending on build profile).
        let h = DjangoHash::parse(DJANGO_VECTOR).unwrap();
        assert_eq!(h.algorithm(), Algorithm::Pbkdf2Sha256);
        assert_eq!(h.iterations(), 260_000);
        assert_eq!(h.salt(), "seasalt");
        assert!(h.verify("lètmein"));
        assert_eq!(
            make_pbkdf2_sha256("lètmein", "seasalt", DJANGO_DEFAULT_ITERATIONS),
            DJANGO_VECTOR
        );
    }

    /// Vectors computed with Python's hashlib.pbkdf2_hmac on this machine,
    /// formatted as Django's encode() does.
    const PY_VECTORS: &[(&str, &str)] = &[
        (
            "admin1234",
            "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$9FJ4LoHgV2z12xP2u6pv0T7p+8eMMK6soAZ0FlYMXfQ=",
        ),
        (
            "",
            "pbkdf2_sha256$1$s$hlaZvx+fQUB7nsOXctgpvyJ4ixMmVOdSfNbS+6nH3wk=",
        ),
        (
            "pässwörd",
            "pbkdf2_sha256$3$sälz$IxMdV1UypdHoTNZDsmjeZ4DNeZkmn6yP8Nz/I2xSQjE=",
        ),
        ("admin1234", "pbkdf2_sha1$10$abc$2ynkfch3rXGdLMAkJHCUpoNql38="),
        (
            "a\0b",
            "pbkdf2_sha256$5$salt$oCC/RRT9nagwjmJrIUF3H02cZALLLBBYys6QAyOSZU0=",
        ),
    ];

    #[test]
    fn python_vectors_verify_and_reencode() {
        for (pw, enc) in PY_VECTORS {
            let h = DjangoHash::parse(enc).unwrap();
            assert!(h.verify(pw), "{enc}");
            assert!(!h.verify(&format!("{pw}x")), "{enc}");
            assert_eq!(h.as_str(), *enc);
            let made = try_make_password(h.algorithm(), pw, h.salt(), h.iterations()).unwrap();
            assert_eq!(made, *enc);
        }
    }

    #[test]
    fn wrong_password_fails() {
        let enc = make_pbkdf2_sha256("admin1234", "somesalt", 10);
        let h = DjangoHash::parse(&enc).unwrap();
        assert!(h.verify("admin1234"));
        assert!(!h.verify("admin1235"));
        assert!(!h.verify(""));
        assert!(!h.verify("Admin1234"));
    }

    #[test]
    fn sha1_variant() {
        // Django's PBKDF2SHA1PasswordHasher vector at 260000 is
        // XXHk2gQ7tjWIyrS320RXXsGqkUg=; keep the test cheap with 10.
        let enc = try_make_password(Algorithm::Pbkdf2Sha1, "lètmein", "seasalt", 10).unwrap();
        assert!(enc.starts_with("pbkdf2_sha1$10$seasalt$"));
        assert_eq!(enc.len(), "pbkdf2_sha1$10$seasalt$".len() + 28);
        assert!(DjangoHash::parse(&enc).unwrap().verify("lètmein"));
    }

    #[test]
    fn unusable_and_unknown() {
        assert_eq!(DjangoHash::parse(""), Err(HashError::Empty));
        assert_eq!(
            DjangoHash::parse("!Yq1bYQ8zfpLgrQk0bCgT2CFqyjuBg9WXQj7cSx1D"),
            Err(HashError::Unusable)
        );
        assert_eq!(
            DjangoHash::parse(&format!("!{DJANGO_VECTOR}")),
            Err(HashError::Unusable)
        );
        for enc in [
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHQ$abc",
            "bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuu",
            "sha1$seasalt$cff36ea83f5706ce9aa7454e63e431fc726b2dc8",
            "md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3",
            "5f4dcc3b5aa765d61d8327deb882cf99",
            "PBKDF2_SHA256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",
            "admin1234",
        ] {
            assert_eq!(
                DjangoHash::parse(enc),
                Err(HashError::UnknownAlgorithm),
                "{enc}"
            );
        }
    }

    #[test]
    fn malformed_strings() {
        use HashError::*;
        let cases: &[(&str, HashError)] = &[
            ("pbkdf2_sha256", Malformed),
            ("pbkdf2_sha256$260000", Malformed),
            ("pbkdf2_sha256$260000$seasalt", Malformed),
            ("pbkdf2_sha256$0$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadIterations),
            ("pbkdf2_sha256$0260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadIterations),
            ("pbkdf2_sha256$+260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadIterations),
            ("pbkdf2_sha256$ 260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadIterations),
            ("pbkdf2_sha256$260_000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadIterations),
            ("pbkdf2_sha256$-1$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadIterations),
            ("pbkdf2_sha256$$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadIterations),
            // Arabic-Indic digits: Python's int() takes them, %d does not write them.
            ("pbkdf2_sha256$\u{662}\u{666}\u{660}\u{660}\u{660}\u{660}$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadIterations),
            ("pbkdf2_sha256$10000001$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", TooManyIterations),
            ("pbkdf2_sha256$99999999999999999999999$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", TooManyIterations),
            ("pbkdf2_sha256$260000$$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", BadSalt),
            // Missing padding, extra padding, whitespace, wrong length,
            // non-canonical trailing bits, '$' inside the digest field.
            ("pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo", BadDigest),
            ("pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo==", BadDigest),
            ("pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo= ", BadDigest),
            ("pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=\n", BadDigest),
            ("pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQp=", BadDigest),
            ("pbkdf2_sha256$260000$seasalt$XXHk2gQ7tjWIyrS320RXXsGqkUg=", BadDigest),
            ("pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjA$rZuoApoBh9JNGYoDRBUGu6tcJQo=", BadDigest),
            ("pbkdf2_sha256$260000$seasalt$", BadDigest),
        ];
        for (enc, want) in cases {
            assert_eq!(DjangoHash::parse(enc), Err(*want), "{enc}");
        }
    }

    #[test]
    fn iteration_bounds() {
        let enc = make_pbkdf2_sha256("pw", "salt", 1);
        assert_eq!(DjangoHash::parse(&enc).unwrap().iterations(), 1);
        let at_max = enc.replacen("$1$", &format!("${MAX_ITERATIONS}$"), 1);
        assert_eq!(
            DjangoHash::parse(&at_max).unwrap().iterations(),
            MAX_ITERATIONS
        );
        assert_eq!(
            try_make_password(Algorithm::Pbkdf2Sha256, "pw", "salt", 0),
            Err(HashError::BadIterations)
        );
        assert_eq!(
            try_make_password(Algorithm::Pbkdf2Sha256, "pw", "salt", MAX_ITERATIONS + 1),
            Err(HashError::TooManyIterations)
        );
    }

    #[test]
    fn salts() {
        assert_eq!(
            try_make_password(Algorithm::Pbkdf2Sha256, "pw", "", 1),
            Err(HashError::BadSalt)
        );
        assert_eq!(
            try_make_password(Algorithm::Pbkdf2Sha256, "pw", "a$b", 1),
            Err(HashError::BadSalt)
        );
        let random: Vec<u8> = (0..=255u8).rev().collect();
        let salt = django_salt(&random).unwrap();
        assert_eq!(salt.len(), DJANGO_SALT_LEN);
        assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()));
        // 255..248 are rejected; 247 % 62 = 61 -> '9'.
        assert!(salt.starts_with('9'));
        assert_eq!(django_salt(&[1; 21]), None);
        assert_eq!(django_salt(&[255; 64]), None);
        let enc = make_pbkdf2_sha256("admin1234", &salt, 2);
        assert!(DjangoHash::parse(&enc).unwrap().verify("admin1234"));
    }

    #[test]
    #[should_panic(expected = "bad salt")]
    fn make_panics_on_bad_salt() {
        let _ = make_pbkdf2_sha256("pw", "", 1);
    }

    #[test]
    fn debug_redacts_salt_and_digest() {
        let h = DjangoHash::parse(DJANGO_VECTOR).unwrap();
        let dbg = format!("{h:?}");
        assert!(dbg.contains("260000"));
        assert!(!dbg.contains("seasalt"), "{dbg}");
        assert!(!dbg.contains("YlZ2"), "{dbg}");
    }

    #[test]
    fn clone_is_shared_and_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<DjangoHash>();
        let h = DjangoHash::parse(DJANGO_VECTOR).unwrap();
        let h2 = h.clone();
        assert!(Arc::ptr_eq(&h.inner, &h2.inner));
        assert_eq!(h, h2);
    }

    #[test]
    fn b64encode_matches_python() {
        assert_eq!(b64encode(b""), "");
        assert_eq!(b64encode(b"a"), "YQ==");
        assert_eq!(b64encode(b"ab"), "YWI=");
        assert_eq!(b64encode(b"abc"), "YWJj");
        assert_eq!(b64encode(b"\xff\xef\xfe"), "/+/+");
        assert_eq!(b64encode(b"admin:admin1234"), "YWRtaW46YWRtaW4xMjM0");
    }
}

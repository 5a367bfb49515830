//! Django 3.2 database sessions (`django.contrib.sessions.backends.db`):
//! the `session_data` format, and the three keys `django.contrib.auth`
//! keeps in it (`_auth_user_id`, `_auth_user_backend`, `_auth_user_hash`).
//!
//! `SessionStore.decode` first reads the signed format
//! (`signing.loads(data, salt="django.contrib.sessions.SessionStore")`),
//! and when that fails the pre-3.1 one: standard base64 of
//! `<hex salted_hmac("django.contrib.sessionsSessionStore", json)>:<json>`
//! (SHA-1). Any failure is an empty session, i.e. an anonymous request.
//!
//! `auth.get_user` then accepts the session only when the backend is
//! `ModelBackend` (the only entry in `AUTHENTICATION_BACKENDS` of the
//! original app) and `_auth_user_hash` equals `get_session_auth_hash()` of
//! the user's *current* password hash (SHA-256, or its SHA-1 legacy form):
//! changing a password logs every other session out.

use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::basic::python_b64decode;
use super::django_signing::{self, hex, json_loads_latin1, salted_hmac_sha1, salted_hmac_sha256};

/// `SessionStore.key_salt` of the database backend.
pub const SESSION_SALT: &str = "django.contrib.sessions.SessionStore";
/// The legacy `_hash` key salt: `"django.contrib.sessions" + class name`.
const LEGACY_SESSION_SALT: &[u8] = b"django.contrib.sessionsSessionStore";
/// `AbstractBaseUser.get_session_auth_hash`'s key salt.
const AUTH_HASH_SALT: &[u8] = b"django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";
/// The backend the original app authenticates with.
pub const MODEL_BACKEND: &str = "django.contrib.auth.backends.ModelBackend";
/// Django's `session_key` column is `varchar(40)`: a longer cookie cannot
/// name a row, and a shorter one than 8 is refused by `_validate_session_key`.
pub const SESSION_KEY_MAX: usize = 40;
const SESSION_KEY_MIN: usize = 8;
/// Length of the keys Django (and this module) generate, from `[a-z0-9]`.
pub const SESSION_KEY_LEN: usize = 32;

/// Whether a `sessionid` cookie value is worth a database lookup: Django
/// would look up any key of 8 or more characters, and none longer than 40
/// can exist in the table.
pub fn session_key_is_plausible(key: &str) -> bool {
    (SESSION_KEY_MIN..=SESSION_KEY_MAX).contains(&key.len())
}

/// `SessionStore.decode(session_data)`: the session dictionary, or `None`
/// (Django's empty session) when neither format verifies with any key.
pub fn decode(session_data: &str, keys: &[&[u8]]) -> Option<serde_json::Map<String, Value>> {
    let value = match django_signing::loads(session_data, SESSION_SALT, keys) {
        Ok(v) => Some(v),
        Err(_) => legacy_decode(session_data, keys),
    }?;
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The pre-3.1 format, `SessionBase._legacy_decode`.
fn legacy_decode(session_data: &str, keys: &[&[u8]]) -> Option<Value> {
    if !session_data.is_ascii() {
        return None;
    }
    let raw = python_b64decode(session_data.as_bytes()).ok()?;
    let colon = raw.iter().position(|&b| b == b':')?;
    let (hash, serialized) = (&raw[..colon], &raw[colon + 1..]);
    let mut ok = false;
    for key in keys {
        let expected = hex(&salted_hmac_sha1(LEGACY_SESSION_SALT, serialized, key));
        ok |= bool::from(hash.ct_eq(expected.as_bytes()));
    }
    if !ok {
        return None;
    }
    json_loads_latin1(serialized)
}

/// `SessionStore.encode` of a freshly logged-in session.
pub fn encode_login(user_id: i64, auth_hash: &str, key: &[u8], now: u64) -> String {
    let session = json!({
        "_auth_user_id": user_id.to_string(),
        "_auth_user_backend": MODEL_BACKEND,
        "_auth_user_hash": auth_hash,
    });
    django_signing::dumps(&session, SESSION_SALT, key, now)
}

/// `user.get_session_auth_hash()` in Django 3.2 (SHA-256).
pub fn session_auth_hash(password_hash: &str, key: &[u8]) -> String {
    hex(&salted_hmac_sha256(
        AUTH_HASH_SALT,
        password_hash.as_bytes(),
        key,
    ))
}

/// `user._legacy_get_session_auth_hash()` (SHA-1), still accepted by 3.2.
fn legacy_session_auth_hash(password_hash: &str, key: &[u8]) -> String {
    hex(&salted_hmac_sha1(
        AUTH_HASH_SALT,
        password_hash.as_bytes(),
        key,
    ))
}

/// The login a session claims, before the user row is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLogin {
    /// `_auth_user_id`, as `AutoField.to_python` reads it.
    pub user_id: i64,
    /// `_auth_user_hash` (never empty).
    pub auth_hash: String,
}

/// The login in a decoded session: `None` (anonymous) when a key is missing,
/// the backend is not `ModelBackend`, the id is not an integer, or the
/// hash is empty, as `auth.get_user` treats them.
pub fn session_login(session: &serde_json::Map<String, Value>) -> Option<SessionLogin> {
    let user_id = match session.get("_auth_user_id")? {
        Value::String(s) => parse_python_int(s)?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    if session.get("_auth_user_backend")?.as_str()? != MODEL_BACKEND {
        return None;
    }
    let auth_hash = session.get("_auth_user_hash")?.as_str()?;
    if auth_hash.is_empty() {
        return None;
    }
    Some(SessionLogin {
        user_id,
        auth_hash: auth_hash.to_owned(),
    })
}

/// `int(s)` for the forms a session id takes: optional surrounding
/// whitespace and sign, ASCII digits.
fn parse_python_int(s: &str) -> Option<i64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Whether `claimed` is the session auth hash of `password_hash` under any
/// of `keys` (constant time), as `auth.get_user` verifies a session.
pub fn auth_hash_matches(claimed: &str, password_hash: &str, keys: &[&[u8]]) -> bool {
    let mut ok = false;
    for key in keys {
        ok |= bool::from(
            claimed
                .as_bytes()
                .ct_eq(session_auth_hash(password_hash, key).as_bytes()),
        );
        ok |= bool::from(
            claimed
                .as_bytes()
                .ct_eq(legacy_session_auth_hash(password_hash, key).as_bytes()),
        );
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by Django 3.2.25 with SECRET_KEY "test-secret-key-0123456789".
    const KEY: &[u8] = b"test-secret-key-0123456789";
    const SIGNED: &str = ".eJyrVopPLC3JiC8tTi2Kz0xRslIyVNJBFktKTM5OzQNJpGQl5qXn6yXn55UUZSbpgZToQWWL9XzzU1JznKBqUQzISCzOAOpOTEpWqgUAjnEncw:1r31eq:Rh9fsAhMn6vw67r0wlQjltQwDDWUTiKWfRW5yr7JbQE";
    const LEGACY: &str = "OThkZjFiOWRkNDkzZjgzMThjMjQzYTU3OTgyMjA3YmFiYmUyMDdiNTp7Il9hdXRoX3VzZXJfaWQiOiIxIiwiX2F1dGhfdXNlcl9iYWNrZW5kIjoiZGphbmdvLmNvbnRyaWIuYXV0aC5iYWNrZW5kcy5Nb2RlbEJhY2tlbmQiLCJfYXV0aF91c2VyX2hhc2giOiJhYmMifQ==";
    const PASSWORD: &str =
        "pbkdf2_sha256$260000$abcdefghijklmnopqrstuv$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn expected() -> SessionLogin {
        SessionLogin {
            user_id: 1,
            auth_hash: "abc".into(),
        }
    }

    #[test]
    fn decodes_djangos_signed_and_legacy_sessions() {
        assert_eq!(
            session_login(&decode(SIGNED, &[KEY]).unwrap()),
            Some(expected())
        );
        assert_eq!(
            session_login(&decode(LEGACY, &[KEY]).unwrap()),
            Some(expected())
        );
    }

    #[test]
    fn wrong_key_or_tampering_is_an_empty_session() {
        assert_eq!(decode(SIGNED, &[b"nope"]), None);
        assert_eq!(decode(LEGACY, &[b"nope"]), None);
        let tampered = LEGACY.replace("OThk", "OThl");
        assert_eq!(decode(&tampered, &[KEY]), None);
        for junk in ["", "é", "====", "a:b", "\0"] {
            assert_eq!(decode(junk, &[KEY]), None);
        }
    }

    #[test]
    fn rotated_key_still_reads_old_sessions() {
        assert!(decode(SIGNED, &[b"new", KEY]).is_some());
        assert!(decode(LEGACY, &[b"new", KEY]).is_some());
    }

    #[test]
    fn auth_hash_matches_django() {
        assert_eq!(
            session_auth_hash(PASSWORD, KEY),
            "e081a7f911dde9178fc6b5bf416ff1884360cc93be4a8435ffdc2b0086eebc4e"
        );
        assert!(auth_hash_matches(
            "1ac6ce96bf500c108f64276df16e132a0ed9a33a",
            PASSWORD,
            &[KEY]
        ));
        assert!(!auth_hash_matches("", PASSWORD, &[KEY]));
        assert!(!auth_hash_matches(
            "e081a7f911dde9178fc6b5bf416ff1884360cc93be4a8435ffdc2b0086eebc4e",
            "pbkdf2_sha256$260000$changed",
            &[KEY]
        ));
    }

    #[test]
    fn login_session_round_trips() {
        let h = session_auth_hash(PASSWORD, KEY);
        let data = encode_login(42, &h, KEY, 1_700_000_000);
        let login = session_login(&decode(&data, &[KEY]).unwrap()).unwrap();
        assert_eq!(login.user_id, 42);
        assert!(auth_hash_matches(&login.auth_hash, PASSWORD, &[KEY]));
    }

    #[test]
    fn session_login_refuses_incomplete_sessions() {
        let cases = [
            json!({}),
            json!({"_auth_user_id": "1", "_auth_user_hash": "h"}),
            json!({"_auth_user_id": "1", "_auth_user_backend": "x.Other", "_auth_user_hash": "h"}),
            json!({"_auth_user_id": "1", "_auth_user_backend": MODEL_BACKEND, "_auth_user_hash": ""}),
            json!({"_auth_user_id": "one", "_auth_user_backend": MODEL_BACKEND, "_auth_user_hash": "h"}),
            json!({"_auth_user_id": [1], "_auth_user_backend": MODEL_BACKEND, "_auth_user_hash": "h"}),
        ];
        for c in cases {
            assert_eq!(session_login(c.as_object().unwrap()), None, "{c}");
        }
        let ok = json!({"_auth_user_id": " 7 ", "_auth_user_backend": MODEL_BACKEND, "_auth_user_hash": "h"});
        assert_eq!(session_login(ok.as_object().unwrap()).unwrap().user_id, 7);
    }

    #[test]
    fn session_key_bounds() {
        assert!(!session_key_is_plausible("short"));
        assert!(session_key_is_plausible("abcdefgh"));
        assert!(!session_key_is_plausible(&"a".repeat(41)));
    }
}

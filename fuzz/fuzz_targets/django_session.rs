//! The parsers a session cookie goes through: `cookie_value` (Django's `parse_cookie`),
//! `session::decode` (signed and legacy session data), `session_login`, and the CSRF token
//! check.
//!
//! Input: one selector byte, then the rest (lossy UTF-8).
//! - selector bit 0 clear: the rest is a `Cookie` header and session data at once. Checks:
//!   nothing panics; a cookie value found never has surrounding whitespace unless it was
//!   quoted; data that is not signed with the key never decodes (the key is not in the input).
//! - selector bit 0 set: a round trip. The rest is a user id (decimal of the first 8 bytes)
//!   and an auth hash; the module's own `encode_login` must decode to the same login, and a
//!   change of any one character of the result must not decode to a different login.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ngx_music::auth::cookies::cookie_value;
use ngx_music::auth::csrf::{check, CsrfRequest};
use ngx_music::auth::session::{decode, encode_login, session_login, SessionLogin};

const KEY: &[u8] = b"fuzz-secret-key";

fn raw(text: &str) {
    for name in ["sessionid", "csrftoken", ""] {
        if let Some(v) = cookie_value(text, name) {
            if !v.is_empty() && !text.contains('"') {
                assert_eq!(v.trim(), v, "{text:?}");
            }
        }
    }
    // Only a holder of KEY can sign; the fuzzer never sees it, so nothing decodes unless it
    // is a legacy session whose SHA-1 the fuzzer would have to forge.
    if let Some(session) = decode(text, &[KEY]) {
        panic!("forged session {session:?} from {text:?}");
    }
    let _ = check(&CsrfRequest {
        method: "POST",
        secure: text.len() % 2 == 0,
        host: Some("example.com"),
        referer: Some(text),
        cookie: cookie_value(text, "csrftoken").as_deref(),
        submitted: Some(text),
    });
}

fn round_trip(rest: &[u8]) {
    let (id_bytes, hash) = rest.split_at(rest.len().min(8));
    let mut id = [0u8; 8];
    id[..id_bytes.len()].copy_from_slice(id_bytes);
    let user_id = i64::from_le_bytes(id);
    let auth_hash = String::from_utf8_lossy(hash).into_owned();
    if auth_hash.is_empty() {
        return;
    }
    let data = encode_login(user_id, &auth_hash, KEY, 1_700_000_000);
    let expected = SessionLogin { user_id, auth_hash };
    let got = decode(&data, &[KEY]).as_ref().and_then(session_login);
    assert_eq!(got.as_ref(), Some(&expected), "{data}");
    let pos = usize::from(rest.first().copied().unwrap_or(0)) % data.len();
    let mut tampered: Vec<char> = data.chars().collect();
    tampered[pos] = if tampered[pos] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    if tampered != data {
        let got = decode(&tampered, &[KEY]).as_ref().and_then(session_login);
        assert!(got.is_none() || got == Some(expected), "{tampered}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        raw(&String::from_utf8_lossy(rest))
    } else {
        round_trip(rest)
    }
});

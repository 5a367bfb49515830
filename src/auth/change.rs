//! What the database's auth triggers (`build/sql/auth_listen.sql`) announce on the
//! `ngx_music_auth` channel, and how a worker reads it.
//!
//! Any role that can connect to the database may `LISTEN` on any channel, so the payloads say
//! only which cache entries to drop: a user's id, or the SHA-256 of a session key (a key is 32
//! random characters: its digest cannot be turned back into a usable cookie). Never a password
//! hash, never a session key.
//!
//! * `user <id>`: the user's password, `is_active` or user name changed, or the user was
//!   deleted;
//! * `session <64 hex digits>`: that session row was updated or deleted;
//! * `all`: a table was truncated.
//!
//! Anything else (a newer trigger's payload, a `NOTIFY` typed by hand) drops everything: a
//! cache that forgets too much costs a few database reads, one that forgets too little lets a
//! changed password in.

use sha2::{Digest, Sha256};

/// The channel the triggers notify and the workers listen on.
pub const CHANNEL: &str = "ngx_music_auth";

/// The cache entries one notification invalidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Every entry of this user (Basic credentials, trusted names, sessions).
    User(i64),
    /// The session whose key has this [`session_digest`].
    Session([u8; 32]),
    /// Every entry.
    Everything,
}

impl Change {
    /// A notification's payload.
    pub fn parse(payload: &str) -> Change {
        let parsed = match payload.split_once(' ') {
            Some(("user", id)) if id.bytes().all(|b| b.is_ascii_digit()) => {
                id.parse().ok().map(Change::User)
            }
            Some(("session", digest)) => parse_hex_32(digest).map(Change::Session),
            _ => None,
        };
        parsed.unwrap_or(Change::Everything)
    }
}

/// The SHA-256 of a session key, as the triggers compute it
/// (`sha256(convert_to(session_key, 'UTF8'))`).
pub fn session_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Exactly 64 hex digits (either case).
fn parse_hex_32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::django_signing::hex;

    #[test]
    fn payloads_of_the_triggers() {
        assert_eq!(Change::parse("user 42"), Change::User(42));
        assert_eq!(Change::parse("user 0"), Change::User(0));
        let key = "abcdefghijklmnopqrstuvwxyz012345";
        let digest = session_digest(key);
        let payload = format!("session {}", hex(&digest));
        assert_eq!(Change::parse(&payload), Change::Session(digest));
        assert_eq!(
            Change::parse(&payload.to_uppercase().replacen("SESSION", "session", 1)),
            Change::Session(digest)
        );
        assert_eq!(Change::parse("all"), Change::Everything);
    }

    #[test]
    fn the_digest_is_sha256_of_the_key() {
        // sha256('abc'), as PostgreSQL's sha256('abc'::bytea) gives it.
        assert_eq!(
            hex(&session_digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn anything_else_drops_everything() {
        for bad in [
            "",
            "user",
            "user ",
            "user -1",
            "user +1",
            "user 1 ",
            "user 99999999999999999999",
            "user x",
            "User 1",
            "session ",
            "session abc",
            &format!("session {}", "g".repeat(64)),
            &format!("session {}", "a".repeat(63)),
            &format!("session {}", "a".repeat(65)),
            &format!("session {}é", "a".repeat(62)),
            "session\t00",
            "everything",
        ] {
            assert_eq!(Change::parse(bad), Change::Everything, "{bad:?}");
        }
    }
}

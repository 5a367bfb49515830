//! Why a login was refused, and the error-log line that says so.
//!
//! The lines use the words of nginx's own `auth_basic` (`user "NAME": password mismatch`,
//! `user "NAME" was not found in "..."`), without a module prefix, so that tools that already
//! read `auth_basic`'s lines (fail2ban's `nginx-http-auth` filter) read ours too. They are
//! logged with the request's connection log, so nginx appends `client: ADDR, server: ...,
//! request: "..."` exactly as it does for `auth_basic`. The password never appears.

use std::fmt::Write;

/// Why credentials that reached the database check were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginFailure {
    /// The user exists and is active, but the password did not match its stored hash (or the
    /// stored hash is an unusable one, which no password matches).
    PasswordMismatch,
    /// No `auth_user` row has this user name.
    UnknownUser,
    /// The user exists but `is_active` is false.
    InactiveUser,
}

/// The table whose rows the user names are looked up in (the "file" of `auth_basic`'s
/// `was not found in "FILE"`).
const USER_TABLE: &str = "auth_user";

/// Longest user name written to the log, in characters; Django's `auth_user.username` holds
/// at most 150. A longer name is cut there and marked with `...`.
const MAX_LOGGED_NAME_CHARS: usize = 150;

/// The error-log message for a refused login of `username` (nginx adds the client address).
pub fn log_message(failure: LoginFailure, username: &str) -> String {
    let user = loggable_user_name(username);
    match failure {
        LoginFailure::PasswordMismatch => format!("user \"{user}\": password mismatch"),
        LoginFailure::UnknownUser => format!("user \"{user}\" was not found in \"{USER_TABLE}\""),
        LoginFailure::InactiveUser => format!("user \"{user}\" is inactive in \"{USER_TABLE}\""),
    }
}

/// The user name as it may appear between the quotes of a log line: printable ASCII as is;
/// `"`, `\`, control characters (a `\n` would start a forged line) and every non-ASCII
/// character written as `\xHH` per UTF-8 byte, the escaping of nginx's access log. nginx's own
/// `auth_basic` writes the name raw.
fn loggable_user_name(username: &str) -> String {
    let mut out = String::with_capacity(username.len().min(MAX_LOGGED_NAME_CHARS) + 8);
    let mut chars = username.chars();
    for c in chars.by_ref().take(MAX_LOGGED_NAME_CHARS) {
        if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' {
            out.push(c);
        } else {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    }
    if chars.next().is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_use_auth_basic_words() {
        assert_eq!(
            log_message(LoginFailure::PasswordMismatch, "admin"),
            "user \"admin\": password mismatch"
        );
        assert_eq!(
            log_message(LoginFailure::UnknownUser, "nobody"),
            "user \"nobody\" was not found in \"auth_user\""
        );
        assert_eq!(
            log_message(LoginFailure::InactiveUser, "sleeper"),
            "user \"sleeper\" is inactive in \"auth_user\""
        );
    }

    #[test]
    fn hostile_names_cannot_forge_lines_or_quotes() {
        let forged = "x\n2026/01/01 00:00:00 [error] 1#1: *1 user \"admin\": ok\r";
        let msg = log_message(LoginFailure::UnknownUser, forged);
        assert_eq!(
            msg,
            "user \"x\\x0A2026/01/01 00:00:00 [error] 1#1: *1 user \\x22admin\\x22: ok\\x0D\" \
             was not found in \"auth_user\""
        );
        assert!(!msg.chars().any(|c| c.is_control()), "{msg}");
        assert_eq!(
            loggable_user_name("a\\b\tc\0d\x7f"),
            "a\\x5Cb\\x09c\\x00d\\x7F"
        );
    }

    #[test]
    fn non_ascii_is_escaped_per_utf8_byte() {
        // U+2028 (a line separator to some log viewers) and a bidi override are not printable
        // ASCII either.
        assert_eq!(
            loggable_user_name("é\u{2028}\u{202e}"),
            "\\xC3\\xA9\\xE2\\x80\\xA8\\xE2\\x80\\xAE"
        );
        assert_eq!(loggable_user_name("john doe"), "john doe");
    }

    #[test]
    fn long_names_are_cut() {
        let long = "a".repeat(MAX_LOGGED_NAME_CHARS + 1);
        let logged = loggable_user_name(&long);
        assert_eq!(logged, format!("{}...", "a".repeat(MAX_LOGGED_NAME_CHARS)));
        let exact = "b".repeat(MAX_LOGGED_NAME_CHARS);
        assert_eq!(loggable_user_name(&exact), exact);
    }
}

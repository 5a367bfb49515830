//! `music_auth_pages`: the login and logout pages of DRF's `/api-auth/` (Django's
//! `LoginView` and `LogoutView` with the database session backend), so that a browser can
//! log in once and then use the API with the session cookie instead of sending a password
//! on every request.
//!
//! * `GET login/` renders the form (`username`, `password`, `csrfmiddlewaretoken`, `next`)
//!   and sets the `csrftoken` cookie (a valid one is kept, as Django's `get_token`).
//! * `POST login/` checks CSRF as Django's middleware does, verifies the password as Basic
//!   does (PBKDF2 on the thread pool), then as Django's `login()`: a new session key, the
//!   session row in Django's signed format, `auth_user.last_login`, a rotated CSRF token,
//!   and a redirect to a safe `next` (else `LOGIN_REDIRECT_URL`, `/accounts/profile/`).
//!   A wrong password re-renders the form with Django's message.
//! * `logout/` deletes the session row and the cookie, then redirects to a safe `next` or
//!   says "Logged out".

use std::io::Read;

use chrono::{Duration, Utc};

use super::trace::Trace;
use crate::api::{self, ApiError};
use crate::auth::{cookies::cookie_value, csrf, redirect::is_safe_next, session};
use crate::authenticate::{self, authenticate, Refusal};
use crate::authenticate_session::forget_session;
use crate::conf::ApiSettings;
use crate::db::pool::{pool_for, Purpose};
use crate::db::queries::Db;
use crate::db::DbError;
use crate::http::{RequestInfo, Response};
use crate::service::trace::trace;

/// Why a page could not be served (`execute` answers these as it answers the API's).
#[derive(Debug)]
pub enum PageError {
    Api(ApiError),
    Db(DbError),
    Internal(&'static str),
}

impl From<DbError> for PageError {
    fn from(e: DbError) -> Self {
        PageError::Db(e)
    }
}

/// Django's `SESSION_COOKIE_AGE`: two weeks.
pub const SESSION_COOKIE_AGE: i64 = 14 * 24 * 3600;
/// Django's `CSRF_COOKIE_AGE`: one year.
const CSRF_COOKIE_AGE: i64 = 31_449_600;
/// Django's `LOGIN_REDIRECT_URL` default, where the original sent a login without `next`.
const LOGIN_REDIRECT_URL: &str = "/accounts/profile/";
/// `AuthenticationForm`'s `invalid_login` message.
const INVALID_LOGIN: &str =
    "Please enter a correct username and password. Note that both fields may be case-sensitive.";

/// Which page a request of a `music_auth_pages` location asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    LoginForm,
    LoginPost,
    Logout,
}

/// The page of `rest` (the path below the location) and method, or the answer at once.
pub fn page_for(rest: &str, method: &str) -> Result<Page, Response> {
    match (rest, method) {
        ("login/", "GET" | "HEAD") => Ok(Page::LoginForm),
        ("login/", "POST") => Ok(Page::LoginPost),
        ("login/", _) => Err(Response::empty(405).header("Allow", "GET, HEAD, POST, OPTIONS")),
        ("logout/", "GET" | "HEAD" | "POST") => Ok(Page::Logout),
        ("logout/", _) => Err(Response::empty(405).header("Allow", "GET, HEAD, POST, OPTIONS")),
        _ => Err(html(
            404,
            "<h1>Not Found</h1><p>The requested resource was not found on this server.</p>",
        )),
    }
}

fn html(status: u16, body: &str) -> Response {
    let mut r = Response::json(status, body.as_bytes().to_vec());
    r.content_type = Some("text/html; charset=utf-8");
    r
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn http_date(seconds_from_now: i64) -> String {
    (Utc::now() + Duration::seconds(seconds_from_now))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `n` bytes from the kernel's random source (never blocks once the system has booted).
fn random_bytes<const N: usize>() -> Result<[u8; N], PageError> {
    let mut buf = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|_| PageError::Internal("cannot read /dev/urandom"))?;
    Ok(buf)
}

/// A session key as Django makes them: 32 characters of `[a-z0-9]`.
fn new_session_key() -> Result<String, PageError> {
    const CHARS: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut key = String::with_capacity(session::SESSION_KEY_LEN);
    while key.len() < session::SESSION_KEY_LEN {
        // 252 = 7 * 36: rejecting the rest keeps every character equally likely
        for b in random_bytes::<64>()? {
            if b < 252 && key.len() < session::SESSION_KEY_LEN {
                key.push(char::from(CHARS[usize::from(b % 36)]));
            }
        }
    }
    Ok(key)
}

fn new_csrf_secret() -> Result<[u8; csrf::SECRET_LEN], PageError> {
    Ok(csrf::secret_from_random(&random_bytes()?))
}

fn csrf_cookie(token: &str) -> String {
    format!(
        "csrftoken={token}; expires={}; Max-Age={CSRF_COOKIE_AGE}; Path=/; SameSite=Lax",
        http_date(CSRF_COOKIE_AGE)
    )
}

fn form_page(action: &str, token: &str, username: &str, next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"errornote\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Log in</title></head><body>\n\
         <h1>Music API</h1>\n{error}<form action=\"{}\" method=\"post\">\n\
         <input type=\"hidden\" name=\"csrfmiddlewaretoken\" value=\"{}\">\n\
         <p><label for=\"id_username\">Username:</label> <input type=\"text\" name=\"username\" \
         value=\"{}\" autofocus autocapitalize=\"none\" autocomplete=\"username\" maxlength=\"150\" \
         required id=\"id_username\"></p>\n\
         <p><label for=\"id_password\">Password:</label> <input type=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required id=\"id_password\"></p>\n\
         <input type=\"hidden\" name=\"next\" value=\"{}\">\n\
         <p><input type=\"submit\" value=\"Log in\"></p>\n</form>\n</body></html>\n",
        escape(action),
        escape(token),
        escape(username),
        escape(next)
    )
}

fn mask(secret: &[u8; csrf::SECRET_LEN]) -> Result<String, PageError> {
    Ok(csrf::mask_secret(secret, &new_csrf_secret()?))
}

/// The login form with a CSRF token of the request's cookie secret (or a new one).
fn login_form(
    info: &RequestInfo,
    cookie: Option<&str>,
    username: &str,
    next: &str,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let (secret, set_cookie) = match cookie.and_then(csrf::secret_of) {
        Some(secret) => (secret, None),
        None => {
            let secret = new_csrf_secret()?;
            (secret, Some(mask(&secret)?))
        }
    };
    let body = form_page(&info.uri, &mask(&secret)?, username, next, error);
    let mut r = html(200, &body);
    r.add_header(
        "Cache-Control",
        "max-age=0, no-cache, no-store, must-revalidate, private",
    );
    if let Some(token) = set_cookie {
        r.add_header("Set-Cookie", csrf_cookie(&token));
    }
    Ok(r)
}

fn csrf_failure(reason: &str) -> Response {
    html(
        403,
        &format!(
            "<h1>Forbidden (403)</h1>\n<p>CSRF verification failed. Request aborted.</p>\n<p>{}</p>\n",
            escape(reason)
        ),
    )
}

/// Serves one page.
pub async fn serve(
    conf: &'static ApiSettings,
    page: Page,
    info: &RequestInfo,
    body: &[u8],
    trace: &impl Trace,
) -> Result<Response, PageError> {
    let Some(secret) = conf.sessions.secret.as_deref() else {
        return Err(PageError::Internal("music_auth_pages without a secret"));
    };
    let cookies = info.cookie.as_deref().unwrap_or_default();
    let csrf_cookie_value = cookie_value(cookies, &conf.sessions.csrf_cookie_name);
    let query = api::urlencoded::parse_pairs(info.args.as_bytes(), api::charset::Charset::Utf8);
    let form = if page == Page::LoginPost || (page == Page::Logout && info.method == "POST") {
        api::urlencoded::parse_pairs(body, api::charset::Charset::Utf8)
    } else {
        Vec::new()
    };
    let field = |name: &str| api::urlencoded::last_value(&form, name).unwrap_or_default();
    let next = api::urlencoded::last_value(&form, "next")
        .or_else(|| api::urlencoded::last_value(&query, "next"))
        .unwrap_or_default()
        .to_owned();
    if info.method == "POST" {
        let token = Some(field("csrfmiddlewaretoken"))
            .filter(|t| !t.is_empty())
            .or(info.csrf_token.as_deref());
        let check = csrf::check(&csrf::CsrfRequest {
            method: &info.method,
            secure: info.https,
            host: Some(&info.host),
            referer: info.referer.as_deref(),
            cookie: csrf_cookie_value.as_deref(),
            submitted: token,
        });
        if let Err(reason) = check {
            trace!(trace, "music: login page CSRF check failed");
            return Ok(csrf_failure(&reason));
        }
    }
    match page {
        Page::LoginForm => login_form(info, csrf_cookie_value.as_deref(), "", &next, None),
        Page::LoginPost => {
            let (username, password) = (field("username"), field("password"));
            if username.is_empty() || password.is_empty() {
                return login_form(
                    info,
                    csrf_cookie_value.as_deref(),
                    username,
                    &next,
                    Some("This field is required."),
                );
            }
            let pool = pool_for(&conf.database, &conf.pool, Purpose::Queries);
            let who = authenticate::Who { username, password };
            match authenticate(&pool, conf, who, trace).await {
                Ok(()) => {}
                Err(Refusal::Invalid(_)) => {
                    return login_form(
                        info,
                        csrf_cookie_value.as_deref(),
                        username,
                        &next,
                        Some(INVALID_LOGIN),
                    )
                }
                Err(Refusal::Busy) => {
                    return Err(PageError::Api(ApiError::service_unavailable(
                        "Authentication is busy, try again.",
                    )))
                }
                Err(Refusal::Db(e)) => return Err(PageError::Db(e)),
            }
            let db = Db::new(pool.acquire().await?, &conf.pool);
            let Some(user) = db.user_by_name(username).await? else {
                return login_form(info, None, username, &next, Some(INVALID_LOGIN));
            };
            // Django's login() of a request without a logged-in session: cycle_key (the old
            // row, if any, goes) and a new key.
            if let Some(old) = cookie_value(cookies, &conf.sessions.cookie_name) {
                if session::session_key_is_plausible(&old) {
                    db.delete_session(&old).await?;
                    forget_session(conf, &old);
                }
            }
            let key = new_session_key()?;
            let now = Utc::now().timestamp().max(0) as u64;
            let hash = session::session_auth_hash(&user.password, secret.current());
            let data = session::encode_login(user.id, &hash, secret.current(), now);
            db.insert_session(&key, &data, SESSION_COOKIE_AGE).await?;
            db.touch_last_login(user.id).await?;
            trace!(trace, "music: login of user {} by the login page", user.id);
            let location = if is_safe_next(&next, &info.host, info.https) {
                next
            } else {
                LOGIN_REDIRECT_URL.to_owned()
            };
            Ok(Response::empty(302)
                .header("Location", location)
                .header(
                    "Set-Cookie",
                    format!(
                        "{}={key}; expires={}; HttpOnly; Max-Age={SESSION_COOKIE_AGE}; Path=/; SameSite=Lax",
                        conf.sessions.cookie_name,
                        http_date(SESSION_COOKIE_AGE)
                    ),
                )
                // rotate_token(): a new CSRF secret after login
                .header("Set-Cookie", csrf_cookie(&mask(&new_csrf_secret()?)?)))
        }
        Page::Logout => {
            if let Some(key) = cookie_value(cookies, &conf.sessions.cookie_name) {
                if session::session_key_is_plausible(&key) {
                    let pool = pool_for(&conf.database, &conf.pool, Purpose::Queries);
                    let db = Db::new(pool.acquire().await?, &conf.pool);
                    db.delete_session(&key).await?;
                    forget_session(conf, &key);
                }
            }
            let delete = format!(
                "{}=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=Lax",
                conf.sessions.cookie_name
            );
            let r = if is_safe_next(&next, &info.host, info.https) {
                Response::empty(302).header("Location", next)
            } else {
                html(200, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Logged out</title></head><body>\n<h1>Logged out</h1>\n<p>Thanks for spending some quality time with the Web site today.</p>\n</body></html>\n")
            };
            Ok(r.header("Set-Cookie", delete))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_methods() {
        assert_eq!(page_for("login/", "GET").ok(), Some(Page::LoginForm));
        assert_eq!(page_for("login/", "POST").ok(), Some(Page::LoginPost));
        assert_eq!(page_for("logout/", "GET").ok(), Some(Page::Logout));
        assert_eq!(page_for("login/", "PUT").unwrap_err().status, 405);
        assert_eq!(page_for("other/", "GET").unwrap_err().status, 404);
    }

    #[test]
    fn session_keys_are_djangos_shape() {
        let k = new_session_key().unwrap();
        assert_eq!(k.len(), 32);
        assert!(k
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_ne!(k, new_session_key().unwrap());
    }

    #[test]
    fn form_escapes_what_it_echoes() {
        let p = form_page(
            "/api-auth/login/",
            "t",
            "<a\"",
            "/x?a=1&b=2",
            Some(INVALID_LOGIN),
        );
        assert!(p.contains("value=\"&lt;a&quot;\""));
        assert!(p.contains("value=\"/x?a=1&amp;b=2\""));
        assert!(p.contains(INVALID_LOGIN));
    }
}

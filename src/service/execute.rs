//! The database work of a planned request: authentication, the connection lease, the
//! statement and the answer, or the list to stream; and how each way of failing is answered.

use std::rc::Rc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::list;
use super::list_share;
use super::plan::{error_response, Credentials, Work};
use super::store::MusicStore;
use super::trace::{Silent, Trace};
use crate::api::{self, Action, ApiError, Mode};
use crate::auth;
use crate::authenticate::{self, authenticate, authenticate_trusted, Refusal};
use crate::authenticate_session::authenticate_session;
use crate::conf::ApiSettings;
use crate::db::pool::{pool_for, Purpose};
use crate::db::queries::Db;
use crate::db::statements::Stmt;
use crate::db::{DbError, MusicRow};
use crate::http::{RequestInfo, Response};
use crate::service::trace::trace;

/// What `execute` leaves to do.
pub enum Outcome {
    /// Answer this.
    Respond(Response),
    /// Stream these rows: a list answer, row by row on this leased connection.
    Stream(Db, Stmt),
}

/// Why a request is answered with an error rather than what it asked for. (The JSON body
/// parser's own `Failure`, in `api::input`, is about one body's syntax.)
#[derive(Debug)]
pub enum ServeError {
    Api(Response),
    /// Refused credentials: the 403 of a wrong user name or password, and this error-log line.
    Login(String),
    /// `music_auth remote_user`: nginx let this name in, but it is no active user in
    /// `auth_user`; DRF's RemoteUserAuthentication authenticates nobody then.
    UnknownRemoteUser(String),
    Db(DbError),
    /// A rule of this module that did not hold (a bug): a 500, never a "Database error.".
    Internal(&'static str),
    /// The client went away before the answer was ready.
    Gone,
}

impl From<DbError> for ServeError {
    fn from(e: DbError) -> Self {
        ServeError::Db(e)
    }
}

impl From<ApiError> for ServeError {
    fn from(e: ApiError) -> Self {
        ServeError::Api(error_response(e))
    }
}

/// The error log's level for a line about a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The client's doing (nginx logs those at info).
    Info,
    /// The request failed on this side.
    Error,
}

impl ServeError {
    /// The error-log line this failure deserves, if any.
    pub fn log_line(&self, info: &RequestInfo) -> Option<(Level, String)> {
        match self {
            // auth_basic's level and words: nginx appends client, server and request line.
            ServeError::Login(line) => Some((Level::Error, line.clone())),
            ServeError::UnknownRemoteUser(name) => Some((
                Level::Info,
                format!("music: remote user \"{name}\" is not an active user in auth_user"),
            )),
            ServeError::Db(e) => Some((
                Level::Error,
                format!("music: {} {}: {}", info.method, info.uri, e),
            )),
            ServeError::Internal(why) => Some((
                Level::Error,
                format!(
                    "music: {} {}: internal error: {}",
                    info.method, info.uri, why
                ),
            )),
            ServeError::Api(_) | ServeError::Gone => None,
        }
    }

    pub fn into_response(self) -> Response {
        match self {
            ServeError::Api(r) => r,
            ServeError::Gone => Response::empty(499),
            ServeError::Login(_) => error_response(ApiError::invalid_credentials()),
            ServeError::UnknownRemoteUser(_) => error_response(ApiError::not_provided()),
            ServeError::Db(e) => error_response(ApiError::database(&e)),
            ServeError::Internal(_) => {
                Response::json(500, br#"{"detail":"Internal server error."}"#.to_vec())
            }
        }
    }
}

/// A refusal of the credentials, as the answer says it.
fn refusal_error(refusal: Refusal, credentials: &Credentials) -> ServeError {
    match (refusal, credentials) {
        (Refusal::Busy, _) => {
            ApiError::service_unavailable("Authentication is busy, try again.").into()
        }
        (Refusal::Db(e), _) => ServeError::Db(e),
        (Refusal::Invalid(why), Credentials::Basic { username, .. }) => {
            ServeError::Login(auth::login_failure::log_message(why, username))
        }
        (Refusal::Invalid(_), Credentials::Trusted { username }) => {
            ServeError::UnknownRemoteUser(username.clone())
        }
        (Refusal::Invalid(_), Credentials::Session { .. }) => {
            ServeError::Internal("a session refused as Basic credentials")
        }
    }
}

/// Basic or trusted credentials: the user must verify.
async fn check_user(
    pool: &std::rc::Rc<crate::db::pool::Pool>,
    conf: &'static ApiSettings,
    credentials: &Credentials,
    trace: &impl Trace,
) -> Result<(), ServeError> {
    let checked = match credentials {
        Credentials::Basic { username, password } => {
            let who = authenticate::Who { username, password };
            authenticate(pool, conf, who, trace).await
        }
        Credentials::Trusted { username } => {
            authenticate_trusted(pool, conf, username, trace).await
        }
        Credentials::Session { .. } => {
            return Err(ServeError::Internal("a session where a user was expected"))
        }
    };
    checked.map_err(|refusal| refusal_error(refusal, credentials))
}

/// DRF's order: the session first (and then its CSRF check), else Basic.
async fn check_credentials(
    pool: &std::rc::Rc<crate::db::pool::Pool>,
    conf: &'static ApiSettings,
    credentials: &Credentials,
    info: &RequestInfo,
    body: &[u8],
    trace: &impl Trace,
) -> Result<(), ServeError> {
    let Credentials::Session { key, otherwise } = credentials else {
        return check_user(pool, conf, credentials, trace).await;
    };
    if authenticate_session(pool, conf, key, trace)
        .await?
        .is_some()
    {
        return csrf_check(conf, info, body).map_err(|reason| {
            trace!(trace, "music: CSRF check failed");
            ApiError::forbidden(&format!("CSRF Failed: {reason}")).into()
        });
    }
    match otherwise {
        Ok(basic) => check_user(pool, conf, basic, trace).await,
        Err(e) => Err(e.clone().into()),
    }
}

/// `SessionAuthentication.enforce_csrf`: the token comes from a POSTed form's
/// `csrfmiddlewaretoken`, else from `X-CSRFToken`.
fn csrf_check(conf: &ApiSettings, info: &RequestInfo, body: &[u8]) -> Result<(), String> {
    let form_token = if info.method == "POST" && is_form(info.content_type.as_deref()) {
        let pairs = api::urlencoded::parse_pairs(body, api::charset::Charset::Utf8);
        api::urlencoded::last_value(&pairs, "csrfmiddlewaretoken")
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    } else {
        None
    };
    let cookie = info
        .cookie
        .as_deref()
        .and_then(|c| auth::cookies::cookie_value(c, &conf.sessions.csrf_cookie_name));
    auth::csrf::check(&auth::csrf::CsrfRequest {
        method: &info.method,
        secure: info.https,
        host: Some(&info.host),
        referer: info.referer.as_deref(),
        cookie: cookie.as_deref(),
        submitted: form_token.as_deref().or(info.csrf_token.as_deref()),
    })
}

/// Whether Django parses this body into `request.POST` (urlencoded forms; multipart
/// forms are not read for the token here).
fn is_form(content_type: Option<&[u8]>) -> bool {
    let Some(ct) = content_type else { return false };
    let main = ct.split(|&b| b == b';').next().unwrap_or_default();
    main.trim_ascii()
        .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
}

/// Authenticates, leases a connection and runs the statement of `work`.
pub async fn execute(
    conf: &'static ApiSettings,
    work: &Work,
    info: &RequestInfo,
    body: &[u8],
    trace: &impl Trace,
) -> Result<Outcome, ServeError> {
    if let Some(page) = work.page {
        return match super::pages::serve(conf, page, info, body, trace).await {
            Ok(r) => Ok(Outcome::Respond(r)),
            Err(super::pages::PageError::Api(e)) => Err(e.into()),
            Err(super::pages::PageError::Db(e)) => Err(ServeError::Db(e)),
            Err(super::pages::PageError::Internal(why)) => Err(ServeError::Internal(why)),
        };
    }
    let pool = pool_for(&conf.database, &conf.pool, Purpose::Queries);
    // Authentication first: it holds a connection only for its user query, not while
    // PBKDF2 runs, so slow password checks cannot take the pool from other requests.
    if let Some(credentials) = &work.credentials {
        check_credentials(&pool, conf, credentials, info, body, trace).await?;
    }
    let stmt = match work.action {
        Ok(Action::ListAll) => Some(Stmt::List),
        Ok(Action::AllSingers) => Some(Stmt::AllSingers),
        _ => None,
    };
    // Streams have connections of their own (see `Purpose::Streams`).
    let purpose = match stmt {
        Some(_) => Purpose::Streams,
        None => Purpose::Queries,
    };
    // Reads (GET/HEAD of a list, an item, detail/, all_singer/) may go to music_read_database;
    // writes and logins always go to music_database (db::reads chooses the pool).
    let reads_only = matches!(
        work.action,
        Ok(Action::ListAll | Action::AllSingers | Action::Retrieve(_) | Action::Detail(_))
    );
    if let Some(stmt) = stmt.filter(|_| conf.list_buffer_size > 0) {
        // with the requests for the same list that arrive while one is read (list_share.rs)
        let key = (conf as *const ApiSettings as usize, stmt, reads_only);
        let lists = LISTS.with(Rc::clone);
        let own = read_list_whole(conf, stmt, reads_only, trace);
        let shared = move || read_list_whole(conf, stmt, reads_only, &Silent);
        let spawn: list_share::Spawn = |task| crate::ffi::executor::spawn(task).detach();
        match lists.read(key, own, shared, spawn).await? {
            Some(body) => return Ok(Outcome::Respond(Response::json(200, body))),
            None => trace!(
                trace,
                "music: list larger than {} bytes: streamed",
                conf.list_buffer_size
            ),
        }
    }
    let lease = crate::db::reads::lease_for(conf, purpose, reads_only).await?;
    match purpose {
        Purpose::Streams => trace!(trace, "music: pool lease (streams)"),
        Purpose::Queries => trace!(trace, "music: pool lease (queries)"),
    }
    let db = Db::new(lease, &conf.pool);
    if let Some(stmt) = stmt {
        trace!(trace, "music: statement {:?} (streamed)", stmt);
        return Ok(Outcome::Stream(db, stmt));
    }
    let action = match &work.action {
        Ok(action) => action,
        Err(e) => return Err(e.clone().into()),
    };
    let content_type = info.content_type.as_deref();
    let answer = answer(
        &db,
        action,
        content_type,
        body,
        &conf.time_zone,
        Utc::now,
        trace,
    );
    answer.await.map(Outcome::Respond)
}

/// A whole list's body, or `None` when it is larger than `music_list_buffer_size`.
type WholeList = Result<Option<Vec<u8>>, DbError>;

thread_local! {
    /// The worker's lists being read whole, by location, statement and pool.
    static LISTS: Rc<list_share::Shared<(usize, Stmt, bool), WholeList>> = Rc::default();
}

/// A list read whole on a shared connection (its pipeline's other queries go on while it is
/// read), answered from memory: its connection is given back before the client reads a byte,
/// so a slow reader holds none. `None`: the body is larger than `music_list_buffer_size`, and
/// the list is streamed on a connection of its own instead, from its first row again.
async fn read_list_whole(
    conf: &ApiSettings,
    stmt: Stmt,
    reads_only: bool,
    trace: &impl Trace,
) -> WholeList {
    let lease = crate::db::reads::lease_for(conf, Purpose::Queries, reads_only).await?;
    trace!(trace, "music: pool lease (queries)");
    let db = Db::new(lease, &conf.pool);
    let bound = conf.list_buffer_size;
    let head = list::head_rows(stmt, bound);
    trace!(trace, "music: statement {:?} (first {} rows)", stmt, head);
    let mut rows = list::DbRows::open(&db, stmt, Some(head)).await?;
    let body = list::ListBody::new(conf.time_zone, Utc::now());
    match list::read_whole(&mut rows, body, bound, head).await {
        Ok(Some(body)) => {
            trace!(trace, "music: list read whole: {} bytes", body.len());
            Ok(Some(body))
        }
        Ok(None) => Ok(None),
        Err(list::RowFailure::Db(e)) => Err(e),
        Err(list::RowFailure::Unreadable) => Err(DbError::Query(
            "a list row does not have the columns' types".into(),
        )),
    }
}

fn item_response(status: u16, row: &MusicRow, now: DateTime<Utc>, tz: &Tz) -> Response {
    let mut out = Vec::with_capacity(256);
    api::write_item(&mut out, row, now.into(), tz);
    Response::json(status, out)
}

/// The answer of one action that is not a list, from `store`; `now` is the clock.
pub async fn answer(
    store: &impl MusicStore,
    action: &Action,
    content_type: Option<&[u8]>,
    body: &[u8],
    tz: &Tz,
    now: impl Fn() -> DateTime<Utc>,
    trace: &impl Trace,
) -> Result<Response, ServeError> {
    let not_found = || ServeError::from(ApiError::not_found());
    // The row's age is counted when it is written, after the statement (a row just created
    // is 0 days old).
    let item = |status: u16, row: &MusicRow| item_response(status, row, now(), tz);
    let resp = match action {
        Action::Root | Action::InvalidId | Action::ListAll | Action::AllSingers => {
            return Err(not_found())
        }
        Action::Retrieve(id) => {
            trace!(trace, "music: statement retrieve {}", id);
            item(200, &store.retrieve(*id).await?.ok_or_else(not_found)?)
        }
        Action::Detail(id) => {
            trace!(trace, "music: statement detail {}", id);
            let (singer, song) = store.detail(*id).await?.ok_or_else(not_found)?;
            let mut out = Vec::with_capacity(64);
            api::write_detail(&mut out, &singer, &song);
            Response::json(200, out)
        }
        Action::Create => {
            let input = api::parse_music_input(content_type, body, Mode::Create)?;
            let (Some(song), Some(singer)) = (input.song.as_deref(), input.singer.as_deref())
            else {
                return Err(ServeError::Internal("a validated POST body lacks a field"));
            };
            trace!(trace, "music: statement create");
            item(201, &store.create(song, singer).await?)
        }
        Action::Replace(id) | Action::PartialUpdate(id) => {
            let mode = if matches!(action, Action::Replace(_)) {
                Mode::Replace
            } else {
                Mode::Partial
            };
            // DRF looks the object up (404) before it parses and validates the body.
            let input = match api::parse_music_input(content_type, body, mode) {
                Ok(input) => input,
                Err(e) => {
                    trace!(trace, "music: statement exists {} (invalid body)", id);
                    if !store.exists(*id).await? {
                        return Err(not_found());
                    }
                    return Err(e.into());
                }
            };
            let row = match mode {
                Mode::Replace => {
                    let (Some(song), Some(singer)) =
                        (input.song.as_deref(), input.singer.as_deref())
                    else {
                        return Err(ServeError::Internal("a validated PUT body lacks a field"));
                    };
                    trace!(trace, "music: statement replace {}", id);
                    store.replace(*id, song, singer).await?
                }
                _ => {
                    trace!(trace, "music: statement patch {}", id);
                    let (song, singer) = (input.song.as_deref(), input.singer.as_deref());
                    store.patch(*id, song, singer).await?
                }
            };
            item(200, &row.ok_or_else(not_found)?)
        }
        Action::Delete(id) => {
            trace!(trace, "music: statement delete {}", id);
            if !store.delete(*id).await? {
                return Err(not_found());
            }
            Response::empty(204)
        }
        Action::Options(resource) => {
            let exists = match api::options::needs_item_lookup(resource) {
                Some(id) => {
                    trace!(trace, "music: statement exists {}", id);
                    store.exists(id).await?
                }
                None => true,
            };
            Response::json(200, api::options_body(resource, exists).as_bytes().to_vec())
        }
    };
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use chrono::TimeZone;
    use futures_util::FutureExt;

    use super::*;
    use crate::api::Resource;
    use crate::auth::LoginFailure;
    use crate::http::Body;
    use crate::service::trace::Recorded;

    /// The music table in memory; `fail` makes every statement fail with it.
    #[derive(Default)]
    struct FakeStore {
        rows: RefCell<Vec<MusicRow>>,
        fail: Option<DbError>,
        calls: RefCell<Vec<&'static str>>,
    }

    fn when() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap()
    }

    impl FakeStore {
        fn with(rows: &[(i64, &str, &str)]) -> FakeStore {
            let store = FakeStore::default();
            for (id, song, singer) in rows {
                store.rows.borrow_mut().push(MusicRow {
                    id: *id,
                    song: song.to_string(),
                    singer: singer.to_string(),
                    last_modify_date: when().into(),
                    created: when().into(),
                });
            }
            store
        }

        fn call(&self, name: &'static str) -> Result<(), DbError> {
            self.calls.borrow_mut().push(name);
            match &self.fail {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            }
        }

        fn find(&self, id: i64) -> Option<MusicRow> {
            self.rows.borrow().iter().find(|r| r.id == id).cloned()
        }
    }

    impl MusicStore for FakeStore {
        async fn retrieve(&self, id: i64) -> Result<Option<MusicRow>, DbError> {
            self.call("retrieve")?;
            Ok(self.find(id))
        }
        async fn exists(&self, id: i64) -> Result<bool, DbError> {
            self.call("exists")?;
            Ok(self.find(id).is_some())
        }
        async fn create(&self, song: &str, singer: &str) -> Result<MusicRow, DbError> {
            self.call("create")?;
            let row = MusicRow {
                id: 100,
                song: song.into(),
                singer: singer.into(),
                last_modify_date: when().into(),
                created: when().into(),
            };
            self.rows.borrow_mut().push(row.clone());
            Ok(row)
        }
        async fn replace(
            &self,
            id: i64,
            song: &str,
            singer: &str,
        ) -> Result<Option<MusicRow>, DbError> {
            self.call("replace")?;
            Ok(self.find(id).map(|mut r| {
                r.song = song.into();
                r.singer = singer.into();
                r
            }))
        }
        async fn patch(
            &self,
            id: i64,
            song: Option<&str>,
            singer: Option<&str>,
        ) -> Result<Option<MusicRow>, DbError> {
            self.call("patch")?;
            Ok(self.find(id).map(|mut r| {
                if let Some(s) = song {
                    r.song = s.into();
                }
                if let Some(s) = singer {
                    r.singer = s.into();
                }
                r
            }))
        }
        async fn delete(&self, id: i64) -> Result<bool, DbError> {
            self.call("delete")?;
            let before = self.rows.borrow().len();
            self.rows.borrow_mut().retain(|r| r.id != id);
            Ok(self.rows.borrow().len() < before)
        }
        async fn detail(&self, id: i64) -> Result<Option<(String, String)>, DbError> {
            self.call("detail")?;
            Ok(self.find(id).map(|r| (r.singer, r.song)))
        }
    }

    const JSON: Option<&[u8]> = Some(b"application/json");

    fn request(method: &str, uri: &str) -> RequestInfo {
        RequestInfo {
            method: method.to_owned().into(),
            uri: uri.into(),
            ..Default::default()
        }
    }

    fn run(store: &FakeStore, action: Action, body: &str) -> Result<Response, ServeError> {
        let tz = chrono_tz::UTC;
        answer(
            store,
            &action,
            JSON,
            body.as_bytes(),
            &tz,
            when,
            &Recorded::default(),
        )
        .now_or_never()
        .expect("the fake store never waits")
    }

    fn text(r: &Response) -> String {
        match &r.body {
            Body::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
            Body::Empty => String::new(),
        }
    }

    fn status(result: Result<Response, ServeError>) -> u16 {
        match result {
            Ok(r) => r.status,
            Err(e) => e.into_response().status,
        }
    }

    #[test]
    fn retrieve_answers_the_row_or_404() {
        let store = FakeStore::with(&[(1, "Song", "Singer")]);
        let r = run(&store, Action::Retrieve(1), "").unwrap();
        assert_eq!(r.status, 200);
        let json: serde_json::Value = serde_json::from_str(&text(&r)).unwrap();
        assert_eq!(json["id"], 1);
        assert_eq!(json["song"], "Song");
        assert_eq!(status(run(&store, Action::Retrieve(2), "")), 404);
    }

    #[test]
    fn detail_answers_singer_and_song() {
        let store = FakeStore::with(&[(1, "Song", "Singer")]);
        let r = run(&store, Action::Detail(1), "").unwrap();
        assert_eq!(text(&r), r#"{"singer":"Singer","song":"Song"}"#);
        assert_eq!(status(run(&store, Action::Detail(9), "")), 404);
    }

    #[test]
    fn create_validates_before_the_statement() {
        let store = FakeStore::default();
        let r = run(&store, Action::Create, r#"{"song":"a","singer":"b"}"#).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(status(run(&store, Action::Create, r#"{"song":"a"}"#)), 400);
        assert_eq!(*store.calls.borrow(), ["create"]);
    }

    #[test]
    fn put_and_patch_look_the_object_up_before_validating() {
        let store = FakeStore::with(&[(1, "Song", "Singer")]);
        // An invalid body for a missing object is a 404, for an existing one a 400.
        assert_eq!(status(run(&store, Action::Replace(2), "{}")), 404);
        assert_eq!(status(run(&store, Action::Replace(1), "{}")), 400);
        assert_eq!(*store.calls.borrow(), ["exists", "exists"]);
        let r = run(&store, Action::Replace(1), r#"{"song":"x","singer":"y"}"#).unwrap();
        assert!(text(&r).contains(r#""song":"x""#));
        let r = run(&store, Action::PartialUpdate(1), r#"{"singer":"z"}"#).unwrap();
        assert!(text(&r).contains(r#""singer":"z""#) && text(&r).contains(r#""song":"Song""#));
        assert_eq!(status(run(&store, Action::PartialUpdate(5), "{}")), 404);
    }

    #[test]
    fn delete_is_204_then_404() {
        let store = FakeStore::with(&[(1, "Song", "Singer")]);
        assert_eq!(status(run(&store, Action::Delete(1), "")), 204);
        assert_eq!(status(run(&store, Action::Delete(1), "")), 404);
    }

    #[test]
    fn options_of_an_item_asks_whether_it_exists() {
        let store = FakeStore::with(&[(1, "Song", "Singer")]);
        let Some(crate::api::RouteOutcome::Found(item @ Resource::Item(_))) =
            Some(crate::api::route("musics/1/", ""))
        else {
            panic!("musics/1/ is an item");
        };
        let r = run(&store, Action::Options(item), "").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(*store.calls.borrow(), ["exists"]);
    }

    #[test]
    fn lists_and_invalid_ids_are_not_answered_here() {
        let store = FakeStore::default();
        for action in [
            Action::ListAll,
            Action::AllSingers,
            Action::InvalidId,
            Action::Root,
        ] {
            assert_eq!(status(run(&store, action, "")), 404, "{action:?}");
        }
        assert!(store.calls.borrow().is_empty());
    }

    #[test]
    fn every_database_error_has_its_answer() {
        let cases = [
            (DbError::QueryTimeout, 504),
            (DbError::Query("syntax".into()), 500),
            (DbError::Unavailable("refused".into()), 503),
            (DbError::QueueFull, 503),
            (DbError::PoolTimeout, 503),
            (DbError::StreamsBusy, 503),
            (DbError::ConnectionLost { write: true }, 503),
            (DbError::ConnectionLost { write: false }, 503),
        ];
        for (e, code) in cases {
            let store = FakeStore {
                fail: Some(e.clone()),
                ..FakeStore::default()
            };
            let result = run(&store, Action::Retrieve(1), "");
            let Err(ServeError::Db(got)) = &result else {
                panic!("{e:?}: not a database error");
            };
            assert_eq!(got, &e);
            let line = result
                .as_ref()
                .unwrap_err()
                .log_line(&request("GET", "/api/musics/1/"));
            assert_eq!(line.map(|(l, _)| l), Some(Level::Error), "{e:?}");
            assert_eq!(status(result), code, "{e:?}");
        }
    }

    #[test]
    fn every_failure_has_its_answer_and_log_level() {
        let info = request("GET", "/api/musics/");
        let cases: Vec<(ServeError, u16, Option<Level>)> = vec![
            (ApiError::not_found().into(), 404, None),
            (
                ServeError::Login("user \"x\": password mismatch".into()),
                403,
                Some(Level::Error),
            ),
            (
                ServeError::UnknownRemoteUser("bob".into()),
                403,
                Some(Level::Info),
            ),
            (
                ServeError::Internal("a rule broke"),
                500,
                Some(Level::Error),
            ),
            (ServeError::Gone, 499, None),
        ];
        for (e, code, level) in cases {
            let line = e.log_line(&info);
            assert_eq!(line.as_ref().map(|(l, _)| *l), level, "{e:?}");
            let r = e.into_response();
            assert_eq!(r.status, code);
            if code == 500 {
                assert!(!text(&r).contains("Database"), "{}", text(&r));
            }
        }
    }

    #[test]
    fn refusals_map_to_their_answers() {
        let basic = Credentials::Basic {
            username: "admin".into(),
            password: "x".into(),
        };
        let trusted = Credentials::Trusted {
            username: "bob".into(),
        };
        let e = refusal_error(Refusal::Invalid(LoginFailure::PasswordMismatch), &basic);
        assert!(matches!(&e, ServeError::Login(l) if l.contains("password mismatch")));
        assert_eq!(e.into_response().status, 403);
        let e = refusal_error(Refusal::Invalid(LoginFailure::UnknownUser), &trusted);
        assert!(matches!(&e, ServeError::UnknownRemoteUser(u) if u == "bob"));
        let r = e.into_response();
        assert_eq!(r.status, 403);
        assert!(text(&r).contains("not provided"), "{}", text(&r));
        let e = refusal_error(Refusal::Busy, &basic);
        assert_eq!(e.into_response().status, 503);
        let e = refusal_error(Refusal::Db(DbError::PoolTimeout), &basic);
        assert!(matches!(e, ServeError::Db(DbError::PoolTimeout)));
    }

    #[test]
    fn statements_are_traced() {
        let store = FakeStore::with(&[(1, "Song", "Singer")]);
        let trace = Recorded::default();
        let tz = chrono_tz::UTC;
        let _ = answer(&store, &Action::Delete(1), None, b"", &tz, when, &trace).now_or_never();
        assert_eq!(*trace.0.borrow(), ["music: statement delete 1"]);
    }
}

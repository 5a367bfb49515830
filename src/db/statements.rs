//! Every SQL statement the API runs. All take bind parameters; none is ever built from
//! request data. Each connection prepares all of them once, when it is opened, or, with
//! `music_prepared_statements off`, sends each one unnamed with its parameter types.

use tokio_postgres::types::Type;

pub const MUSIC_COLUMNS: &str = "id, song, singer, last_modify_date, created";

pub const LIST: &str = "SELECT id, song, singer, last_modify_date, created FROM music ORDER BY id";
pub const RETRIEVE: &str =
    "SELECT id, song, singer, last_modify_date, created FROM music WHERE id = $1";
pub const EXISTS: &str = "SELECT 1 FROM music WHERE id = $1";
/// The rows of several single-row GETs at once (`$1` their ids, in any order, an id possibly
/// twice): each row once, in no set order; an id with no row returns none.
pub const RETRIEVE_MANY: &str =
    "SELECT id, song, singer, last_modify_date, created FROM music WHERE id = ANY($1::bigint[])";
/// The rows of one or more POSTs (`$1` their songs, `$2` their singers, in the same order),
/// written in one transaction: rows are inserted, and so numbered and returned, in the order of
/// the arrays. Each row gets its own timestamp, as each request had its own transaction's
/// `now()` when it was written alone: the clock when its row is produced (once for both
/// columns: a subquery whose columns call a volatile function is not merged into the outer
/// query), plus its place in the batch in microseconds, since the rows of a batch are produced
/// several to a microsecond and two requests' rows must not share a timestamp.
pub const CREATE: &str = "INSERT INTO music (song, singer, last_modify_date, created) \
     SELECT song, singer, at, at FROM (\
     SELECT n, song, singer, clock_timestamp() + (n - 1) * interval '1 microsecond' AS at \
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS r (song, singer, n)) AS new \
     ORDER BY n RETURNING id, song, singer, last_modify_date, created";
/// The changes of one or more PUTs (`$1` their ids, `$2` songs, `$3` singers, in the same
/// order; no id twice), in one transaction. The rows are locked in id order first, so two of
/// these statements on two connections wait for each other instead of deadlocking (each would
/// otherwise lock in its own order). Each row gets its own `last_modify_date`, as each request
/// had its own transaction's `now()` alone: the clock when the row is changed. An id with no
/// row returns none.
pub const REPLACE: &str = "WITH new AS (\
     SELECT id, song, singer FROM unnest($1::bigint[], $2::text[], $3::text[]) AS n (id, song, singer)), \
     locked AS (SELECT music.id FROM music JOIN new ON music.id = new.id \
     ORDER BY music.id FOR UPDATE OF music) \
     UPDATE music SET song = new.song, singer = new.singer, last_modify_date = clock_timestamp() \
     FROM locked JOIN new ON new.id = locked.id WHERE music.id = locked.id \
     RETURNING music.id, music.song, music.singer, music.last_modify_date, music.created";
/// [`REPLACE`] for PATCHes: a NULL song or singer (the request left it out) keeps the row's.
pub const PATCH: &str = "WITH new AS (\
     SELECT id, song, singer FROM unnest($1::bigint[], $2::text[], $3::text[]) AS n (id, song, singer)), \
     locked AS (SELECT music.id FROM music JOIN new ON music.id = new.id \
     ORDER BY music.id FOR UPDATE OF music) \
     UPDATE music SET song = COALESCE(new.song, music.song), \
     singer = COALESCE(new.singer, music.singer), last_modify_date = clock_timestamp() \
     FROM locked JOIN new ON new.id = locked.id WHERE music.id = locked.id \
     RETURNING music.id, music.song, music.singer, music.last_modify_date, music.created";
/// The rows of one or more DELETEs (`$1` their ids; no id twice), in one transaction, locked in
/// id order first as in [`REPLACE`]; the ids of the rows deleted.
pub const DELETE: &str = "WITH locked AS (\
     SELECT id FROM music WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE) \
     DELETE FROM music USING locked WHERE music.id = locked.id RETURNING music.id";
pub const DETAIL: &str = "SELECT singer, song FROM music WHERE id = $1";
/// Distinct singers in the order of their first appearance (lowest id first): stable, and
/// what the original returned for a table filled in order.
pub const ALL_SINGERS: &str = "SELECT singer FROM music GROUP BY singer ORDER BY min(id)";
/// Django's ModelBackend looks users up by exact user name.
pub const USER_BY_NAME: &str = "SELECT id, password, is_active FROM auth_user WHERE username = $1";
/// A Django session row, only while it has not expired (the database backend's `load`).
pub const SESSION_BY_KEY: &str =
    "SELECT session_data FROM django_session WHERE session_key = $1 AND expire_date > now()";
/// The user a session names (ModelBackend's `get_user`).
pub const USER_BY_ID: &str = "SELECT id, password, is_active FROM auth_user WHERE id = $1::bigint";

/// The module's own login: a new session row (`$3`: seconds until it expires).
pub const INSERT_SESSION: &str =
    "INSERT INTO django_session (session_key, session_data, expire_date) \
     VALUES ($1, $2, now() + $3::bigint * interval '1 second') RETURNING session_key";
/// Logout.
pub const DELETE_SESSION: &str =
    "DELETE FROM django_session WHERE session_key = $1 RETURNING session_key";
/// Django's `update_last_login` on login.
pub const TOUCH_LAST_LOGIN: &str =
    "UPDATE auth_user SET last_login = now() WHERE id = $1::bigint RETURNING id";

/// The first `$1` rows of [`LIST`] and [`ALL_SINGERS`]: a list read whole on a shared
/// connection asks for no more rows than fit its memory bound, plus one that tells it is larger.
pub const LIST_HEAD: &str =
    "SELECT id, song, singer, last_modify_date, created FROM music ORDER BY id LIMIT $1";
pub const ALL_SINGERS_HEAD: &str =
    "SELECT singer FROM music GROUP BY singer ORDER BY min(id) LIMIT $1";

/// The statements in the order [`Prepared`](super::conn::Prepared) stores them.
pub const ALL: [&str; 18] = [
    LIST,
    RETRIEVE,
    EXISTS,
    CREATE,
    REPLACE,
    PATCH,
    DELETE,
    DETAIL,
    ALL_SINGERS,
    USER_BY_NAME,
    SESSION_BY_KEY,
    USER_BY_ID,
    INSERT_SESSION,
    DELETE_SESSION,
    TOUCH_LAST_LOGIN,
    RETRIEVE_MANY,
    LIST_HEAD,
    ALL_SINGERS_HEAD,
];

/// How a connection sends the statements (`music_prepared_statements`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatementMode {
    /// Prepared once per connection, then only bound and executed: the fastest, but the
    /// statements live in the server session, which a pooler in transaction mode does not keep
    /// (the next transaction may run on another server connection).
    Prepared,
    /// Parse, bind and execute of an unnamed statement in one round trip, every time: no state
    /// in the session, so any server connection behind a pooler can run it.
    Unnamed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stmt {
    List = 0,
    Retrieve,
    Exists,
    Create,
    Replace,
    Patch,
    Delete,
    Detail,
    AllSingers,
    UserByName,
    SessionByKey,
    UserById,
    InsertSession,
    DeleteSession,
    TouchLastLogin,
    RetrieveMany,
    ListHead,
    AllSingersHead,
}

const ID: &[Type] = &[Type::INT8];
const USERNAME: &[Type] = &[Type::TEXT];
const SONGS_SINGERS: &[Type] = &[Type::TEXT_ARRAY, Type::TEXT_ARRAY];
const IDS: &[Type] = &[Type::INT8_ARRAY];
const IDS_SONGS_SINGERS: &[Type] = &[Type::INT8_ARRAY, Type::TEXT_ARRAY, Type::TEXT_ARRAY];
const SESSION_ROW: &[Type] = &[Type::TEXT, Type::TEXT, Type::INT8];

impl Stmt {
    /// Every statement, in the order of [`ALL`].
    pub const EVERY: [Stmt; ALL.len()] = [
        Stmt::List,
        Stmt::Retrieve,
        Stmt::Exists,
        Stmt::Create,
        Stmt::Replace,
        Stmt::Patch,
        Stmt::Delete,
        Stmt::Detail,
        Stmt::AllSingers,
        Stmt::UserByName,
        Stmt::SessionByKey,
        Stmt::UserById,
        Stmt::InsertSession,
        Stmt::DeleteSession,
        Stmt::TouchLastLogin,
        Stmt::RetrieveMany,
        Stmt::ListHead,
        Stmt::AllSingersHead,
    ];

    pub fn sql(self) -> &'static str {
        ALL[self as usize]
    }

    /// The statement of the first rows of this list statement (`LIMIT $1`), if it is one.
    pub fn head(self) -> Option<Stmt> {
        match self {
            Stmt::List => Some(Stmt::ListHead),
            Stmt::AllSingers => Some(Stmt::AllSingersHead),
            _ => None,
        }
    }

    /// The types of `$1`, `$2`… as PostgreSQL infers them when the statement is prepared
    /// (`music.id` is bigint, `song` and `singer` text; checked with `pg_prepared_statements`),
    /// so an unnamed statement is planned exactly as the prepared one.
    pub fn param_types(self) -> &'static [Type] {
        match self {
            Stmt::List | Stmt::AllSingers => &[],
            Stmt::Retrieve
            | Stmt::Exists
            | Stmt::Detail
            | Stmt::UserById
            | Stmt::TouchLastLogin => ID,
            // `LIMIT $1` is a bigint
            Stmt::ListHead | Stmt::AllSingersHead => ID,
            Stmt::InsertSession => SESSION_ROW,
            Stmt::Create => SONGS_SINGERS,
            Stmt::Replace | Stmt::Patch => IDS_SONGS_SINGERS,
            Stmt::Delete | Stmt::RetrieveMany => IDS,
            // `username = $1` compares as text: varchar has no `=` of its own
            Stmt::UserByName | Stmt::SessionByKey | Stmt::DeleteSession => USERNAME,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_that_runs_alone_has_its_own_metrics_name() {
        use crate::metrics::shared::STATEMENTS;
        let heads: Vec<Stmt> = Stmt::EVERY.iter().filter_map(|s| s.head()).collect();
        for stmt in Stmt::EVERY {
            if heads.contains(&stmt) {
                assert!(
                    stmt as usize >= STATEMENTS.len(),
                    "{stmt:?} counts as its list"
                );
                continue;
            }
            let snake =
                format!("{stmt:?}")
                    .chars()
                    .enumerate()
                    .fold(String::new(), |mut s, (i, c)| {
                        if c.is_ascii_uppercase() && i > 0 {
                            s.push('_');
                        }
                        s.push(c.to_ascii_lowercase());
                        s
                    });
            assert_eq!(
                STATEMENTS.get(stmt as usize),
                Some(&snake.as_str()),
                "{stmt:?}"
            );
        }
    }

    #[test]
    fn statement_order_matches_enum() {
        assert_eq!(ALL[Stmt::List as usize], LIST);
        assert_eq!(ALL[Stmt::UserByName as usize], USER_BY_NAME);
        assert_eq!(ALL[Stmt::AllSingers as usize], ALL_SINGERS);
        assert_eq!(ALL[Stmt::UserById as usize], USER_BY_ID);
        assert!(ALL.iter().all(|s| s.matches('$').count() <= 3));
        assert!(LIST.contains(MUSIC_COLUMNS));
        // a list's head is the list with a row limit, nothing else changed
        for list in [Stmt::List, Stmt::AllSingers] {
            let head = list.head().unwrap();
            assert_eq!(head.sql(), format!("{} LIMIT $1", list.sql()));
        }
        assert!(Stmt::Retrieve.head().is_none());
    }

    #[test]
    fn every_parameter_has_a_declared_type() {
        for (i, s) in Stmt::EVERY.into_iter().enumerate() {
            assert_eq!(s as usize, i, "{s:?} out of the order of ALL");
            let highest = (1..=9)
                .filter(|n| s.sql().contains(&format!("${n}")))
                .max()
                .unwrap_or(0);
            assert_eq!(s.param_types().len(), highest, "{s:?}: {}", s.sql());
        }
        assert_eq!(Stmt::UserByName.param_types(), &[Type::TEXT]);
        assert_eq!(Stmt::Patch.param_types()[0], Type::INT8_ARRAY);
    }
}

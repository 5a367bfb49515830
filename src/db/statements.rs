//! Every SQL statement the API runs. All take bind parameters; none is ever built from
//! request data. Each connection prepares all of them once, when it is opened.

pub const MUSIC_COLUMNS: &str = "id, song, singer, last_modify_date, created";

pub const LIST: &str = "SELECT id, song, singer, last_modify_date, created FROM music ORDER BY id";
pub const RETRIEVE: &str =
    "SELECT id, song, singer, last_modify_date, created FROM music WHERE id = $1";
pub const EXISTS: &str = "SELECT 1 FROM music WHERE id = $1";
pub const CREATE: &str = "INSERT INTO music (song, singer, last_modify_date, created) \
     VALUES ($1, $2, now(), now()) RETURNING id, song, singer, last_modify_date, created";
pub const REPLACE: &str = "UPDATE music SET song = $2, singer = $3, last_modify_date = now() \
     WHERE id = $1 RETURNING id, song, singer, last_modify_date, created";
pub const PATCH: &str = "UPDATE music SET song = COALESCE($2, song), \
     singer = COALESCE($3, singer), last_modify_date = now() \
     WHERE id = $1 RETURNING id, song, singer, last_modify_date, created";
pub const DELETE: &str = "DELETE FROM music WHERE id = $1";
pub const DETAIL: &str = "SELECT singer, song FROM music WHERE id = $1";
/// Distinct singers in the order of their first appearance (lowest id first): stable, and
/// what the original returned for a table filled in order.
pub const ALL_SINGERS: &str = "SELECT singer FROM music GROUP BY singer ORDER BY min(id)";
/// Django's ModelBackend looks users up by exact user name.
pub const USER_BY_NAME: &str = "SELECT id, password, is_active FROM auth_user WHERE username = $1";

/// The statements in the order [`Prepared`](super::conn::Prepared) stores them.
pub const ALL: [&str; 10] = [
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
];

#[derive(Clone, Copy, Debug)]
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_order_matches_enum() {
        assert_eq!(ALL[Stmt::List as usize], LIST);
        assert_eq!(ALL[Stmt::UserByName as usize], USER_BY_NAME);
        assert_eq!(ALL[Stmt::AllSingers as usize], ALL_SINGERS);
        assert!(ALL.iter().all(|s| s.matches('$').count() <= 3));
        assert!(LIST.contains(MUSIC_COLUMNS));
    }
}

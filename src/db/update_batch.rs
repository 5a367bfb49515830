//! Concurrent PUTs, and concurrent PATCHes, of one worker written as one `UPDATE` each (the
//! batching itself is [`batch`](super::batch)'s). The statement locks its rows in
//! id order before it changes them, so two batches in flight on two connections wait for each
//! other instead of deadlocking; two writes of one row never share a batch, so each request's
//! answer is its own write's. A request whose row the statement did not return (none of that
//! id, or deleted meanwhile) gets no row: 404, as alone.

use std::collections::HashMap;
use std::marker::PhantomData;

use super::batch::{self, Kind};
use super::queries::Db;
use super::statements::Stmt;
use super::{DbError, MusicRow};

/// One request's change of a row: the fields it gives (a PATCH may leave either out; a PUT
/// gives both). A value is never null: the input rejects `null`, so a missing one means
/// "leave it as it is".
pub struct Change {
    id: i64,
    song: Option<String>,
    singer: Option<String>,
}

/// The statement a kind of update runs for its batches.
trait Statement: 'static {
    const STMT: Stmt;
}

/// PUT: both fields replaced.
struct Replace;
/// PATCH: the fields given replaced, the others left as they are.
struct Patch;

impl Statement for Replace {
    const STMT: Stmt = Stmt::Replace;
}

impl Statement for Patch {
    const STMT: Stmt = Stmt::Patch;
}

/// Updates with statement `S`: a kind of its own for each statement, so PUTs and PATCHes go
/// in batches apart (one statement per batch).
struct Update<S>(PhantomData<S>);

/// The row each request gets from what the statement returned, matched by id (the rows come
/// back in no set order).
fn answers(items: &[&Change], rows: Vec<MusicRow>) -> Vec<Result<Option<MusicRow>, DbError>> {
    let mut by_id: HashMap<i64, MusicRow> = rows.into_iter().map(|r| (r.id, r)).collect();
    items.iter().map(|c| Ok(by_id.remove(&c.id))).collect()
}

impl<S: Statement> Kind for Update<S> {
    type Item = Change;
    type Rows = Vec<MusicRow>;
    type Out = Option<MusicRow>;
    fn row_of(item: &Change) -> Option<i64> {
        Some(item.id)
    }
    /// The statement for `items`: ids, songs, singers in the same order.
    async fn send(db: &Db, items: &[&Change]) -> Result<Vec<MusicRow>, DbError> {
        let ids: Vec<i64> = items.iter().map(|c| c.id).collect();
        let songs: Vec<Option<&str>> = items.iter().map(|c| c.song.as_deref()).collect();
        let singers: Vec<Option<&str>> = items.iter().map(|c| c.singer.as_deref()).collect();
        db.update_rows(S::STMT, &ids, &songs, &singers).await
    }
    fn answers(items: &[&Change], rows: Vec<MusicRow>) -> Vec<Result<Option<MusicRow>, DbError>> {
        answers(items, rows)
    }
}

/// PUT of row `id`, in a batch with this worker's concurrent PUTs; `None`: no such row.
pub async fn replace(
    db: &Db,
    id: i64,
    song: &str,
    singer: &str,
) -> Result<Option<MusicRow>, DbError> {
    let change = Change {
        id,
        song: Some(song.to_owned()),
        singer: Some(singer.to_owned()),
    };
    batch::submit::<Update<Replace>>(db, change).await
}

/// PATCH of row `id` (the fields given), in a batch with this worker's concurrent PATCHes;
/// `None`: no such row.
pub async fn patch(
    db: &Db,
    id: i64,
    song: Option<&str>,
    singer: Option<&str>,
) -> Result<Option<MusicRow>, DbError> {
    let change = Change {
        id,
        song: song.map(str::to_owned),
        singer: singer.map(str::to_owned),
    };
    batch::submit::<Update<Patch>>(db, change).await
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn row(id: i64, song: &str) -> MusicRow {
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        MusicRow {
            id,
            song: song.into(),
            singer: "x".into(),
            last_modify_date: t.into(),
            created: t.into(),
        }
    }

    fn change(id: i64) -> Change {
        Change {
            id,
            song: None,
            singer: None,
        }
    }

    #[test]
    fn each_request_gets_the_row_of_its_id_and_a_missing_one_none() {
        let (a, b, c) = (change(5), change(9), change(2));
        let rows = vec![row(2, "two"), row(5, "five")];
        let got = answers(&[&a, &b, &c], rows);
        assert_eq!(
            got,
            vec![Ok(Some(row(5, "five"))), Ok(None), Ok(Some(row(2, "two")))]
        );
    }
}

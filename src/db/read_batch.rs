//! Concurrent single-row GETs of one worker read with one statement (the batching itself is
//! [`batch`](super::batch)'s). PostgreSQL answers each statement with a message of its own,
//! flushed at its end (over TLS: a record of its own, which both sides encrypt and decrypt at
//! a fixed cost per record), and runs each through its executor once: a batch of several ids
//! pays those once. A GET sent alone (nothing queued, a connection free) is read with the
//! one-row statement, as before. In clear text a GET goes alone whenever a connection is free;
//! over TLS a busy worker holds GETs back for fuller batches, as it does writes
//! (`batch::fills`). Each request still gets exactly the row it asked for, or a 404, as alone:
//! the batch is sent after every request in it arrived, so it sees every write answered before.

use super::batch::{self, Kind};
use super::queries::Db;
use super::{DbError, MusicRow};

/// A GET of the row of this id.
struct Retrieve;

impl Kind for Retrieve {
    const FILLS: bool = false;
    type Item = i64;
    type Rows = Vec<MusicRow>;
    type Out = Option<MusicRow>;
    fn row_of(_: &i64) -> Option<i64> {
        None
    }
    async fn send(db: &Db, items: &[&i64]) -> Result<Vec<MusicRow>, DbError> {
        let ids: Vec<i64> = items.iter().map(|id| **id).collect();
        db.retrieve_rows(&ids).await
    }
    fn answers(items: &[&i64], rows: Vec<MusicRow>) -> Vec<Result<Option<MusicRow>, DbError>> {
        answers(items, rows)
    }
    async fn alone(db: &Db, id: &i64) -> Result<Option<MusicRow>, DbError> {
        db.retrieve(*id).await
    }
}

/// Each id's row, or `None`; an id asked twice gets it twice. A row's texts go to the last
/// request that asked for it, and are copied only for the ones before: a batch is a few dozen
/// ids at most, so finding them by binary search costs less than a map and a copy of each row.
fn answers(items: &[&i64], mut rows: Vec<MusicRow>) -> Vec<Result<Option<MusicRow>, DbError>> {
    rows.sort_unstable_by_key(|r| r.id);
    items
        .iter()
        .enumerate()
        .map(|(i, &&id)| {
            let Ok(at) = rows.binary_search_by_key(&id, |r| r.id) else {
                return Ok(None);
            };
            let row = &mut rows[at];
            let asked_again = items[i + 1..].iter().any(|&&later| later == id);
            Ok(Some(match asked_again {
                true => row.clone(),
                // the id and the stamps stay, so the row is still found by the search
                false => MusicRow {
                    song: std::mem::take(&mut row.song),
                    singer: std::mem::take(&mut row.singer),
                    ..*row
                },
            }))
        })
        .collect()
}

/// The row of `id`, read in a batch with this worker's concurrent GETs of single rows; `None`:
/// no such row.
pub async fn retrieve(db: &Db, id: i64) -> Result<Option<MusicRow>, DbError> {
    batch::submit::<Retrieve>(db, id).await
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn row(id: i64) -> MusicRow {
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 8, 0, 0).unwrap();
        MusicRow {
            id,
            song: format!("song_{id}"),
            singer: format!("singer_{id}"),
            last_modify_date: at.into(),
            created: at.into(),
        }
    }

    #[test]
    fn each_request_gets_its_own_row_whatever_order_the_rows_come_in() {
        let got = answers(&[&3, &1, &2], vec![row(1), row(2), row(3)]);
        let ids: Vec<i64> = got.into_iter().map(|a| a.unwrap().unwrap().id).collect();
        assert_eq!(ids, [3, 1, 2]);
    }

    #[test]
    fn a_missing_row_is_none_for_its_request_only() {
        let got = answers(&[&1, &99, &2], vec![row(2), row(1)]);
        let ids: Vec<Option<i64>> = got.into_iter().map(|a| a.unwrap().map(|r| r.id)).collect();
        assert_eq!(ids, [Some(1), None, Some(2)]);
    }

    #[test]
    fn two_requests_for_one_row_both_get_it() {
        let got = answers(&[&5, &5], vec![row(5)]);
        assert!(got
            .iter()
            .all(|a| a.as_ref().unwrap().as_ref().unwrap() == &row(5)));
    }

    #[test]
    fn rows_asked_several_times_among_others_are_whole_for_every_request() {
        let asked = [&4, &2, &4, &9, &2, &7, &4];
        let got = answers(&asked, vec![row(7), row(2), row(4)]);
        let want: Vec<Option<MusicRow>> = asked
            .iter()
            .map(|&&id| (id != 9).then(|| row(id)))
            .collect();
        let got: Vec<Option<MusicRow>> = got.into_iter().map(|a| a.unwrap()).collect();
        assert_eq!(got, want);
    }
}

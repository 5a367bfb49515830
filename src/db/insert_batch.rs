//! Concurrent POSTs of one worker written as one `INSERT` (the batching itself is
//! [`batch`](super::batch)'s). Each request gets its own row, id and timestamps: the
//! statement inserts, and so numbers and returns, the rows in the order of the batch.

use super::batch::{self, Kind};
use super::queries::Db;
use super::{DbError, MusicRow};

/// A POST's row.
struct Create {
    song: String,
    singer: String,
}

impl Kind for Create {
    type Item = Create;
    type Rows = Vec<MusicRow>;
    type Out = MusicRow;

    fn row_of(_: &Create) -> Option<i64> {
        None
    }

    async fn send(db: &Db, items: &[&Create]) -> Result<Vec<MusicRow>, DbError> {
        let songs: Vec<&str> = items.iter().map(|e| e.song.as_str()).collect();
        let singers: Vec<&str> = items.iter().map(|e| e.singer.as_str()).collect();
        db.insert_rows(&songs, &singers).await
    }

    /// The returned rows, one per request, in order. The texts are not compared: a trigger of
    /// the schema may change them, and the request then answers the row as written, as it did
    /// alone. A row a trigger skipped makes the count short, and then no request can be told
    /// which row is its own (the others were written: this is no refusal to retry).
    fn answers(items: &[&Create], rows: Vec<MusicRow>) -> Vec<Result<MusicRow, DbError>> {
        if rows.len() == items.len() {
            rows.into_iter().map(Ok).collect()
        } else {
            let e = DbError::Query("the INSERT returned fewer rows than it was given".into());
            items.iter().map(|_| Err(e.clone())).collect()
        }
    }
}

/// Writes one POST's row, in a batch with the other POSTs of this worker that arrive meanwhile.
pub async fn create(db: &Db, song: &str, singer: &str) -> Result<MusicRow, DbError> {
    let item = Create {
        song: song.to_owned(),
        singer: singer.to_owned(),
    };
    batch::submit::<Create>(db, item).await
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn item(song: &str, singer: &str) -> Create {
        Create {
            song: song.into(),
            singer: singer.into(),
        }
    }

    fn row(id: i64, song: &str, singer: &str) -> MusicRow {
        let t = Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap();
        MusicRow {
            id,
            song: song.into(),
            singer: singer.into(),
            last_modify_date: t.into(),
            created: t.into(),
        }
    }

    #[test]
    fn rows_are_given_out_in_order_only_if_there_is_one_per_request() {
        let (a, b) = (item("a", "x"), item("b", "y"));
        let batch = [&a, &b];
        let good = vec![row(7, "a", "x"), row(8, "b", "y")];
        let answers = Create::answers(&batch, good.clone());
        assert_eq!(answers, good.into_iter().map(Ok).collect::<Vec<_>>());
        // a trigger changed a text: still that request's row
        let changed = vec![row(7, "A", "x"), row(8, "b", "y")];
        let answers = Create::answers(&batch, changed.clone());
        assert_eq!(answers, changed.into_iter().map(Ok).collect::<Vec<_>>());
        // a trigger skipped a row: which one is unknown
        let short = Create::answers(&batch, vec![row(7, "a", "x")]);
        assert_eq!(short.len(), 2);
        assert!(short.iter().all(|a| matches!(a, Err(DbError::Query(_)))));
    }
}

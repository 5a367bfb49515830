//! Concurrent DELETEs of one worker written as one `DELETE` (the batching itself is
//! [`batch`](super::batch)'s). The statement locks its rows in id order, as the
//! batched updates do, and two DELETEs of one id never share a batch: the second finds the row
//! gone (404), as it would alone.

use super::batch::{self, Kind};
use super::queries::Db;
use super::DbError;

/// A DELETE of the row of this id.
struct Delete(i64);

impl Kind for Delete {
    type Item = Delete;
    type Rows = Vec<i64>;
    type Out = bool;
    fn row_of(item: &Delete) -> Option<i64> {
        Some(item.0)
    }
    async fn send(db: &Db, items: &[&Delete]) -> Result<Vec<i64>, DbError> {
        let ids: Vec<i64> = items.iter().map(|d| d.0).collect();
        db.delete_rows(&ids).await
    }
    /// Whether each request's row was deleted: its id is among those the statement returned.
    fn answers(items: &[&Delete], deleted: Vec<i64>) -> Vec<Result<bool, DbError>> {
        items.iter().map(|d| Ok(deleted.contains(&d.0))).collect()
    }
}

/// DELETE of row `id`, in a batch with this worker's concurrent DELETEs; whether there was one.
pub async fn delete(db: &Db, id: i64) -> Result<bool, DbError> {
    batch::submit::<Delete>(db, Delete(id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_whose_id_was_not_returned_deleted_nothing() {
        let (a, b, c) = (Delete(3), Delete(8), Delete(1));
        assert_eq!(
            Delete::answers(&[&a, &b, &c], vec![1, 3]),
            vec![Ok(true), Ok(false), Ok(true)]
        );
    }
}

//! The statements an answer needs, as a trait: [`crate::db::queries::Db`] is the real one, and
//! the unit tests of [`super::execute`] answer from a fake without a database.

use crate::db::queries::Db;
use crate::db::{DbError, MusicRow};

/// The music table's statements, on one leased connection.
// Only ever used as a generic bound on this single-threaded event loop: the futures need not
// be `Send`, which is what the lint warns about.
#[allow(async_fn_in_trait)]
pub trait MusicStore {
    async fn retrieve(&self, id: i64) -> Result<Option<MusicRow>, DbError>;
    async fn exists(&self, id: i64) -> Result<bool, DbError>;
    async fn create(&self, song: &str, singer: &str) -> Result<MusicRow, DbError>;
    async fn replace(&self, id: i64, song: &str, singer: &str)
        -> Result<Option<MusicRow>, DbError>;
    async fn patch(
        &self,
        id: i64,
        song: Option<&str>,
        singer: Option<&str>,
    ) -> Result<Option<MusicRow>, DbError>;
    async fn delete(&self, id: i64) -> Result<bool, DbError>;
    async fn detail(&self, id: i64) -> Result<Option<(String, String)>, DbError>;
}

impl MusicStore for Db {
    async fn retrieve(&self, id: i64) -> Result<Option<MusicRow>, DbError> {
        // in a batch with the worker's concurrent GETs of single rows: one statement for all
        crate::db::read_batch::retrieve(self, id).await
    }
    async fn exists(&self, id: i64) -> Result<bool, DbError> {
        Db::exists(self, id).await
    }
    async fn create(&self, song: &str, singer: &str) -> Result<MusicRow, DbError> {
        // in a batch with the worker's concurrent POSTs: one commit for all of them
        crate::db::insert_batch::create(self, song, singer).await
    }
    async fn replace(
        &self,
        id: i64,
        song: &str,
        singer: &str,
    ) -> Result<Option<MusicRow>, DbError> {
        // in a batch with the worker's concurrent PUTs, as POSTs are
        crate::db::update_batch::replace(self, id, song, singer).await
    }
    async fn patch(
        &self,
        id: i64,
        song: Option<&str>,
        singer: Option<&str>,
    ) -> Result<Option<MusicRow>, DbError> {
        // in a batch with the worker's concurrent PATCHes
        crate::db::update_batch::patch(self, id, song, singer).await
    }
    async fn delete(&self, id: i64) -> Result<bool, DbError> {
        // in a batch with the worker's concurrent DELETEs
        crate::db::delete_batch::delete(self, id).await
    }
    async fn detail(&self, id: i64) -> Result<Option<(String, String)>, DbError> {
        Db::detail(self, id).await
    }
}

//! Which pool a request's connection comes from: the requests that only read go to
//! `music_read_database` when it is set (a pool of their own there, with the same limits as
//! the primary's), everything else, writes and logins included, to `music_database`. When
//! no read server can be reached, reads fall back to `music_database` unless
//! `music_read_fallback off`.

use super::pool::{pool_for, Lease, Purpose};
use super::DbError;
use crate::conf::ApiSettings;

/// A lease for a request: on the read server when `reads_only` and one is configured.
pub async fn lease_for(
    conf: &ApiSettings,
    purpose: Purpose,
    reads_only: bool,
) -> Result<Lease, DbError> {
    let primary = || pool_for(&conf.database, &conf.pool, purpose);
    let Some(read_server) = conf.reads.database.as_ref().filter(|_| reads_only) else {
        return primary().acquire().await;
    };
    match pool_for(read_server, &conf.pool, purpose).acquire().await {
        // Unreachable (the read pool logged why, with its next attempt): the primary has the
        // same rows, only fresher. A busy read pool is not a reason: the primary would then
        // carry the load the read server was added to take.
        Err(DbError::Unavailable(_)) if conf.reads.fallback => primary().acquire().await,
        other => other,
    }
}

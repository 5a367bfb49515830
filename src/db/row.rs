//! The `music` table's row as the queries return it.

use crate::time::Stamp;

/// One row of the `music` table; the texts owned, or borrowed from a database row while a
/// list streams (two allocations fewer per row, see [`super::Utf8Text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MusicRow<S = String> {
    pub id: i64,
    pub song: S,
    pub singer: S,
    pub last_modify_date: Stamp,
    pub created: Stamp,
}

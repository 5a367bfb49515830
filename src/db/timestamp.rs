//! `timestamptz` straight from PostgreSQL's binary format: microseconds since 2000-01-01
//! UTC in a big-endian i64, moved to the Unix epoch. tokio-postgres's chrono support reaches
//! the same instant through a NaiveDateTime plus a Duration (calendar arithmetic twice per
//! value); a list decodes two per row, so this only reads and shifts the integer.

use std::error::Error;

use tokio_postgres::types::{FromSql, Type};

use crate::time::Stamp;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// A `timestamptz` (or `timestamp`, read as UTC) column value.
pub struct PgTimestamp(pub Stamp);

impl<'a> FromSql<'a> for PgTimestamp {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into().map_err(|_| "timestamp: not 8 bytes")?;
        let pg_micros = i64::from_be_bytes(bytes);
        // 'infinity' and '-infinity' are i64::MAX and i64::MIN: no instant to show
        pg_micros
            .checked_add(PG_EPOCH_UNIX_MICROS)
            .and_then(Stamp::from_unix_micros)
            .map(PgTimestamp)
            .ok_or_else(|| "timestamp out of range".into())
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMPTZ | Type::TIMESTAMP)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn decode(pg_micros: i64) -> Result<Stamp, String> {
        PgTimestamp::from_sql(&Type::TIMESTAMPTZ, &pg_micros.to_be_bytes())
            .map(|t| t.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn agrees_with_tokio_postgres_chrono_decoding() {
        for micros in [
            0,
            1,
            -1,
            712_345_678_901_234,
            -3_155_760_000_000_001,
            86_399_999_999,
            i64::MAX - PG_EPOCH_UNIX_MICROS,
        ] {
            let raw = micros.to_be_bytes();
            let theirs = DateTime::<Utc>::from_sql(&Type::TIMESTAMPTZ, &raw)
                .ok()
                .map(Stamp::from);
            assert_eq!(decode(micros).ok(), theirs, "{micros}");
        }
    }

    #[test]
    fn infinity_and_bad_lengths_are_errors() {
        assert_eq!(decode(i64::MAX).unwrap_err(), "timestamp out of range");
        assert!(decode(i64::MIN).is_err());
        assert!(PgTimestamp::from_sql(&Type::TIMESTAMPTZ, &[0; 4]).is_err());
        assert!(PgTimestamp::accepts(&Type::TIMESTAMPTZ) && !PgTimestamp::accepts(&Type::DATE));
    }
}

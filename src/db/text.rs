//! A `text` / `varchar` column value borrowed from its row as UTF-8 bytes. tokio-postgres's
//! `&str` checks every value with `str::from_utf8`, whose set-up outweighs the check itself on
//! a list's short names; most are ASCII, which `is_ascii` confirms a word at a time, and only
//! the others take the full check. The bytes are written as JSON text as they are.

use std::error::Error;

use tokio_postgres::types::{FromSql, Type};

/// UTF-8 text, checked, as bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Text<'a>(&'a [u8]);

impl AsRef<[u8]> for Utf8Text<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0
    }
}

impl<'a> FromSql<'a> for Utf8Text<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        if !raw.is_ascii() {
            std::str::from_utf8(raw)?;
        }
        Ok(Utf8Text(raw))
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: &[u8]) -> Option<&[u8]> {
        Utf8Text::from_sql(&Type::TEXT, raw).ok().map(|t| t.0)
    }

    #[test]
    fn takes_what_str_takes() {
        let cases: [&[u8]; 9] = [
            b"",
            b"song_1",
            "周杰倫 🎵 é".as_bytes(),
            b"\x00\x7f",
            b"\xff",
            b"abc\xe2\x80",
            b"a\xc3",
            b"\xed\xa0\x80",
            "long enough to be read a word at a time, then é".as_bytes(),
        ];
        for raw in cases {
            let theirs = <&str as FromSql>::from_sql(&Type::TEXT, raw).ok();
            assert_eq!(decode(raw), theirs.map(str::as_bytes), "{raw:?}");
        }
    }

    #[test]
    fn accepts_the_text_types_only() {
        for ty in [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME] {
            assert!(Utf8Text::accepts(&ty), "{ty}");
        }
        assert!(!Utf8Text::accepts(&Type::BYTEA) && !Utf8Text::accepts(&Type::INT8));
    }
}

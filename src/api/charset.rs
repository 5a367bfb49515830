//! Request body decoding as Django and DRF do it.
//!
//! Django takes the `charset` parameter of the request's Content-Type when
//! Python knows the codec, and UTF-8 otherwise. This module knows the codecs
//! that matter in practice (UTF-8, UTF-8 with BOM, Latin-1, ASCII) under all
//! of Python's names for them; a charset it does not know is read as UTF-8,
//! as Django does for a charset Python does not know.

/// A text encoding of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    /// Python's `utf-8-sig`: UTF-8 with an optional leading BOM removed.
    Utf8Sig,
    Latin1,
    Ascii,
}

impl Charset {
    /// The codec for a `charset` label, using Python's normalisation and
    /// aliases (`UTF-8`, `utf8`, `latin-1`, `ISO-8859-1`, `us-ascii`, …).
    /// `None` for a label this module does not know.
    pub fn from_label(label: &str) -> Option<Charset> {
        let name = normalize_codec_name(label);
        let charset = match name.as_str() {
            "utf_8" | "cp65001" | "u8" | "utf" | "utf8" | "utf8_ucs2" | "utf8_ucs4" => {
                Charset::Utf8
            }
            "utf_8_sig" => Charset::Utf8Sig,
            "latin_1" | "8859" | "cp819" | "csisolatin1" | "ibm819" | "iso8859" | "iso8859_1"
            | "iso_8859_1" | "iso_8859_1_1987" | "iso_ir_100" | "l1" | "latin" | "latin1" => {
                Charset::Latin1
            }
            "ascii" | "646" | "ansi_x3.4_1968" | "ansi_x3.4_1986" | "ansi_x3_4_1968" | "cp367"
            | "csascii" | "ibm367" | "iso646_us" | "iso_646.irv_1991" | "iso_ir_6" | "us"
            | "us_ascii" => Charset::Ascii,
            _ => return None,
        };
        Some(charset)
    }

    /// Decodes a whole body the way DRF's JSON parser reads it (a
    /// `codecs.StreamReader`): an invalid byte is an error with Python's
    /// message, an incomplete UTF-8 sequence at the very end is dropped.
    pub fn decode_stream(self, bytes: &[u8]) -> Result<String, String> {
        match self {
            Charset::Utf8 => decode_utf8_stream(bytes),
            Charset::Utf8Sig => decode_utf8_stream(strip_bom(bytes)),
            Charset::Latin1 => Ok(decode_latin1(bytes)),
            Charset::Ascii => match bytes.iter().position(|b| !b.is_ascii()) {
                None => Ok(decode_latin1(bytes)),
                Some(pos) => Err(format!(
                    "'ascii' codec can't decode byte 0x{:02x} in position {pos}: ordinal not in range(128)",
                    bytes[pos]
                )),
            },
        }
    }

    /// `bytes.decode(charset)`: `None` on any error (incomplete tail too).
    pub fn decode_strict(self, bytes: &[u8]) -> Option<String> {
        match self {
            Charset::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_owned),
            Charset::Utf8Sig => std::str::from_utf8(strip_bom(bytes))
                .ok()
                .map(str::to_owned),
            Charset::Latin1 => Some(decode_latin1(bytes)),
            Charset::Ascii => bytes.is_ascii().then(|| decode_latin1(bytes)),
        }
    }

    /// `bytes.decode(charset, errors='replace')`.
    pub fn decode_lossy(self, bytes: &[u8]) -> String {
        match self {
            Charset::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Charset::Utf8Sig => String::from_utf8_lossy(strip_bom(bytes)).into_owned(),
            Charset::Latin1 => decode_latin1(bytes),
            Charset::Ascii => bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        '\u{fffd}'
                    }
                })
                .collect(),
        }
    }
}

/// Python's `encodings.normalize_encoding` after `codecs.lookup`'s
/// lowercasing: runs of characters other than ASCII letters, digits and `.`
/// become one `_`, leading and trailing ones are dropped.
fn normalize_codec_name(label: &str) -> String {
    let mut name = String::with_capacity(label.len());
    let mut punct = false;
    for c in label.chars() {
        if c.is_alphanumeric() || c == '.' {
            if punct && !name.is_empty() {
                name.push('_');
            }
            if c.is_ascii() {
                name.push(c.to_ascii_lowercase());
            }
            punct = false;
        } else {
            punct = true;
        }
    }
    name
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

fn decode_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn decode_utf8_stream(bytes: &[u8]) -> Result<String, String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_owned()),
        Err(err) => {
            let start = err.valid_up_to();
            match err.error_len() {
                // Incomplete sequence at the end: the stream reader keeps it
                // for a next read that never comes.
                None => Ok(String::from_utf8_lossy(&bytes[..start]).into_owned()),
                Some(1) => {
                    let byte = bytes[start];
                    let reason = if (0x80..=0xc1).contains(&byte) || byte >= 0xf5 {
                        "invalid start byte"
                    } else {
                        "invalid continuation byte"
                    };
                    Err(format!(
                        "'utf-8' codec can't decode byte 0x{byte:02x} in position {start}: {reason}"
                    ))
                }
                Some(len) => Err(format!(
                    "'utf-8' codec can't decode bytes in position {start}-{}: invalid continuation byte",
                    start + len - 1
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_python_aliases() {
        for label in [
            "utf-8", "UTF-8", "utf8", "U8", "UTF_8", "utf 8", "-utf-8-", "utf--8", "cp65001",
        ] {
            assert_eq!(Charset::from_label(label), Some(Charset::Utf8), "{label}");
        }
        assert_eq!(Charset::from_label("utf-8-sig"), Some(Charset::Utf8Sig));
        for label in [
            "latin-1",
            "Latin1",
            "ISO-8859-1",
            "iso8859_1",
            "l1",
            "latin",
            "ISO_8859-1:1987",
            "cp819",
        ] {
            assert_eq!(Charset::from_label(label), Some(Charset::Latin1), "{label}");
        }
        for label in [
            "ascii",
            "US-ASCII",
            "us",
            "646",
            "ANSI_X3.4-1968",
            "iso_646.irv:1991",
        ] {
            assert_eq!(Charset::from_label(label), Some(Charset::Ascii), "{label}");
        }
        for label in ["bogus", "", "utf-16", "cp1252", "utf-88"] {
            assert_eq!(Charset::from_label(label), None, "{label}");
        }
    }

    #[test]
    fn utf8_stream_errors_have_python_texts() {
        assert_eq!(
            Charset::Utf8.decode_stream(b"\xff{}").unwrap_err(),
            "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
        );
        assert_eq!(
            Charset::Utf8
                .decode_stream(b"{\"song\":\"a\xe9\",")
                .unwrap_err(),
            "'utf-8' codec can't decode byte 0xe9 in position 10: invalid continuation byte"
        );
        assert_eq!(
            Charset::Utf8
                .decode_stream(b"{\"song\":\"\xe2\x82A\"}")
                .unwrap_err(),
            "'utf-8' codec can't decode bytes in position 9-10: invalid continuation byte"
        );
        assert_eq!(
            Charset::Utf8.decode_stream(b"\x80").unwrap_err(),
            "'utf-8' codec can't decode byte 0x80 in position 0: invalid start byte"
        );
        assert_eq!(
            Charset::Utf8.decode_stream(b"a\xc0\xaf").unwrap_err(),
            "'utf-8' codec can't decode byte 0xc0 in position 1: invalid start byte"
        );
        // An encoded surrogate (ED A0 80) is refused at its first byte.
        assert_eq!(
            Charset::Utf8.decode_stream(b"\xed\xa0\x80").unwrap_err(),
            "'utf-8' codec can't decode byte 0xed in position 0: invalid continuation byte"
        );
        assert_eq!(
            Charset::Utf8
                .decode_stream(b"\xf4\x90\x80\x80")
                .unwrap_err(),
            "'utf-8' codec can't decode byte 0xf4 in position 0: invalid continuation byte"
        );
    }

    #[test]
    fn utf8_stream_drops_an_incomplete_tail() {
        assert_eq!(Charset::Utf8.decode_stream(b"{}\xe2").unwrap(), "{}");
        assert_eq!(
            Charset::Utf8.decode_stream(b"{}\xf0\x9f\x8e").unwrap(),
            "{}"
        );
        assert_eq!(Charset::Utf8.decode_stream("é".as_bytes()).unwrap(), "é");
        assert_eq!(
            Charset::Utf8.decode_stream(b"\xef\xbb\xbf{}").unwrap(),
            "\u{feff}{}"
        );
        assert_eq!(
            Charset::Utf8Sig.decode_stream(b"\xef\xbb\xbf{}").unwrap(),
            "{}"
        );
    }

    #[test]
    fn latin1_and_ascii() {
        assert_eq!(Charset::Latin1.decode_stream(b"a\xe9").unwrap(), "aé");
        assert_eq!(
            Charset::Ascii.decode_stream(b"ab\xe9").unwrap_err(),
            "'ascii' codec can't decode byte 0xe9 in position 2: ordinal not in range(128)"
        );
        assert_eq!(
            Charset::Ascii.decode_lossy(b"a\xe9\xff"),
            "a\u{fffd}\u{fffd}"
        );
        assert_eq!(Charset::Latin1.decode_lossy(b"a\xe9"), "aé");
    }

    #[test]
    fn strict_and_lossy_decoding() {
        assert_eq!(Charset::Utf8.decode_strict(b"a\xe2"), None);
        assert_eq!(
            Charset::Utf8.decode_strict("é".as_bytes()).as_deref(),
            Some("é")
        );
        assert_eq!(Charset::Ascii.decode_strict(b"\xe9"), None);
        assert_eq!(Charset::Latin1.decode_strict(b"\xe9").as_deref(), Some("é"));
        assert_eq!(Charset::Utf8.decode_lossy(b"\xe2\x82x"), "\u{fffd}x");
        assert_eq!(
            Charset::Utf8.decode_lossy(b"a\xff\xe2\x82"),
            "a\u{fffd}\u{fffd}"
        );
    }
}

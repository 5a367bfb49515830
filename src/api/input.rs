//! The request body of POST, PUT and PATCH, read and validated as DRF's
//! parsers and `MusicSerializer` (two `CharField`s with the defaults:
//! `allow_blank=False`, `trim_whitespace=True`, `allow_null=False`) do.
//!
//! Order of checks, as in DRF: the Content-Type picks a parser (415 if none),
//! the parser reads the body (400 parse errors), the data must be a
//! dictionary (400 `non_field_errors`), then each field is validated and all
//! field errors are reported together, `song` before `singer`.
//!
//! DRF reads the body only when the view touches it, i.e. after
//! authentication and, for PUT and PATCH, after the item was found: call
//! this after those steps.

mod float_repr;
mod media_type;
mod multipart;
mod pyjson;

use super::charset::Charset;
use super::error::{ApiError, FieldErrors};
use super::urlencoded;
use float_repr::python_float_str;
use media_type::{BodyParser, MediaType};
use multipart::PartValue;
use pyjson::Value;

/// The writable fields, in the serializer's order.
const FIELDS: [&str; 2] = ["song", "singer"];

/// The validated, trimmed values; `None` is a field absent from a PATCH.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MusicInput {
    pub song: Option<String>,
    pub singer: Option<String>,
}

/// Which request the body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// POST: both fields required.
    Create,
    /// PUT: both fields required.
    Replace,
    /// PATCH: any subset, `{}` included.
    Partial,
}

/// What the serializer receives for one field before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RawField {
    Missing,
    Null,
    /// Text (a JSON number arrives here as Python's `str()` of it), with
    /// the first lone surrogate it holds.
    Text(String, Option<u16>),
    /// true/false, an array or an object.
    NotAString,
    /// An uploaded file; `str()` of it is its name.
    File(String),
}

/// Reads and validates a body. `content_type` is the header as sent (`None`
/// when absent); an empty body is no data whatever its type.
pub fn parse_music_input(
    content_type: Option<&[u8]>,
    body: &[u8],
    mode: Mode,
) -> Result<MusicInput, ApiError> {
    let raw = if body.is_empty() {
        [RawField::Missing, RawField::Missing]
    } else {
        read_fields(content_type, body)?
    };
    validate(raw, mode)
}

fn read_fields(content_type: Option<&[u8]>, body: &[u8]) -> Result<[RawField; 2], ApiError> {
    // WSGI hands headers to Django as Latin-1 text.
    let content_type: String = content_type
        .unwrap_or_default()
        .iter()
        .map(|&b| char::from(b))
        .collect();
    let media = MediaType::parse(&content_type);
    let Some(parser) = media.as_ref().and_then(MediaType::parser) else {
        return Err(ApiError::unsupported_media_type(&content_type));
    };
    let charset = media
        .as_ref()
        .and_then(|m| m.param("charset"))
        .and_then(Charset::from_label)
        .unwrap_or(Charset::Utf8);
    match parser {
        BodyParser::Json => read_json(body, charset),
        BodyParser::Form => {
            let pairs = urlencoded::parse_pairs(body, charset);
            Ok(
                FIELDS.map(|name| match urlencoded::last_value(&pairs, name) {
                    Some(value) => RawField::Text(value.to_owned(), None),
                    None => RawField::Missing,
                }),
            )
        }
        BodyParser::Multipart => {
            let parts = multipart::parse(&content_type, body, charset)
                .map_err(|msg| ApiError::multipart_parse(&msg))?;
            Ok(FIELDS.map(|name| match parts.get(name) {
                Some(PartValue::Text(text)) => RawField::Text(text.to_owned(), None),
                Some(PartValue::File(name)) => RawField::File(name.to_owned()),
                None => RawField::Missing,
            }))
        }
    }
}

fn read_json(body: &[u8], charset: Charset) -> Result<[RawField; 2], ApiError> {
    let text = charset
        .decode_stream(body)
        .map_err(|msg| ApiError::json_parse(&msg))?;
    let members = match pyjson::loads(&text).map_err(|msg| ApiError::json_parse(&msg))? {
        Value::Object(members) => members,
        // DRF itself answers `null` with "No data provided"; the original's contract names
        // the Python type like for every other non-object, so `null` gives `NoneType`.
        other => return Err(ApiError::not_a_dict(other.python_type_name())),
    };
    Ok(FIELDS.map(|name| {
        // Duplicate keys: the last one wins, as in a Python dict.
        match members.iter().rev().find(|(key, _)| key.text == name) {
            None => RawField::Missing,
            Some((_, value)) => match value {
                Value::Null => RawField::Null,
                Value::Str(s) => RawField::Text(s.text.clone(), s.first_surrogate),
                Value::Int(digits) => RawField::Text(digits.clone(), None),
                Value::Float(f) => RawField::Text(python_float_str(*f), None),
                Value::Bool(_) | Value::Array | Value::Object(_) => RawField::NotAString,
            },
        }
    }))
}

/// DRF's `CharField.run_validation` for both fields, errors collected.
fn validate(raw: [RawField; 2], mode: Mode) -> Result<MusicInput, ApiError> {
    let mut values: [Option<String>; 2] = [None, None];
    let mut errors: Vec<FieldErrors> = Vec::new();
    for (i, field) in raw.into_iter().enumerate() {
        match validate_field(field, mode) {
            Ok(value) => values[i] = value,
            Err(messages) => errors.push((FIELDS[i], messages)),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::field_errors(&errors));
    }
    let [song, singer] = values;
    Ok(MusicInput { song, singer })
}

/// `Ok(None)`: absent from a PATCH, nothing to change.
fn validate_field(field: RawField, mode: Mode) -> Result<Option<String>, Vec<String>> {
    let fail = |message: &str| Err(vec![message.to_owned()]);
    match field {
        RawField::Missing if mode == Mode::Partial => Ok(None),
        RawField::Missing => fail("This field is required."),
        RawField::Null => fail("This field may not be null."),
        RawField::NotAString => fail("Not a valid string."),
        RawField::File(name) if python_strip(&name).is_empty() => {
            fail("This field may not be blank.")
        }
        RawField::File(_) => fail("Not a valid string."),
        RawField::Text(text, surrogate) => {
            let value = python_strip(&text);
            if value.is_empty() {
                return fail("This field may not be blank.");
            }
            // The validators run on the trimmed value and all report.
            let mut messages = Vec::new();
            if value.contains('\0') {
                messages.push("Null characters are not allowed.".to_owned());
            }
            if let Some(code) = surrogate {
                messages.push(format!("Surrogate characters are not allowed: U+{code:X}."));
            }
            if messages.is_empty() {
                Ok(Some(value.to_owned()))
            } else {
                Err(messages)
            }
        }
    }
}

/// Python's `str.strip()`: Unicode whitespace, which unlike Rust's includes
/// the separators U+001C..U+001F.
fn python_strip(s: &str) -> &str {
    s.trim_matches(is_python_space)
}

fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&[u8]> = Some(b"application/json");
    const FORM: Option<&[u8]> = Some(b"application/x-www-form-urlencoded");

    fn input(song: Option<&str>, singer: Option<&str>) -> MusicInput {
        MusicInput {
            song: song.map(str::to_owned),
            singer: singer.map(str::to_owned),
        }
    }

    fn json(body: &str, mode: Mode) -> Result<MusicInput, ApiError> {
        parse_music_input(JSON, body.as_bytes(), mode)
    }

    fn error_body(result: Result<MusicInput, ApiError>) -> (u16, String) {
        let err = result.expect_err("an error");
        (err.status, err.body)
    }

    #[test]
    fn valid_json_create() {
        assert_eq!(
            json(r#"{"song":"song1","singer":"singer1"}"#, Mode::Create).unwrap(),
            input(Some("song1"), Some("singer1"))
        );
    }

    #[test]
    fn read_only_and_unknown_keys_are_ignored() {
        assert_eq!(
            json(
                r#"{"id":5,"song":"a","singer":"b","created":"x","last_modify_date":1,"days_since_created":[],"other":{}}"#,
                Mode::Replace
            )
            .unwrap(),
            input(Some("a"), Some("b"))
        );
    }

    #[test]
    fn fields_after_nested_containers_are_found() {
        assert_eq!(
            json(
                r#"{"a":[{"b":[1,{"song":"inner"}]},[]],"song":"x","o":{"singer":"inner"},"singer":"y"}"#,
                Mode::Create
            )
            .unwrap(),
            input(Some("x"), Some("y"))
        );
    }

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_crash() {
        let deep = format!("{{\"song\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(
            error_body(json(&deep, Mode::Partial)),
            (
                400,
                r#"{"detail":"JSON parse error - maximum recursion depth exceeded while decoding a JSON array from a unicode string"}"#
                    .to_owned()
            )
        );
    }

    #[test]
    fn duplicate_keys_last_wins() {
        assert_eq!(
            json(r#"{"song":"a","song":"  b  ","singer":"x"}"#, Mode::Create).unwrap(),
            input(Some("b"), Some("x"))
        );
        assert_eq!(
            error_body(json(
                r#"{"song":"a","song":null,"singer":"x"}"#,
                Mode::Create
            )),
            (
                400,
                r#"{"song":["This field may not be null."]}"#.to_owned()
            )
        );
    }

    #[test]
    fn missing_fields_are_required_for_create_and_replace() {
        for mode in [Mode::Create, Mode::Replace] {
            assert_eq!(
                error_body(json("{}", mode)),
                (
                    400,
                    r#"{"song":["This field is required."],"singer":["This field is required."]}"#
                        .to_owned()
                )
            );
            assert_eq!(
                error_body(json(r#"{"song":"a"}"#, mode)),
                (400, r#"{"singer":["This field is required."]}"#.to_owned())
            );
        }
    }

    #[test]
    fn partial_accepts_any_subset() {
        assert_eq!(json("{}", Mode::Partial).unwrap(), input(None, None));
        assert_eq!(
            json(r#"{"song":" x "}"#, Mode::Partial).unwrap(),
            input(Some("x"), None)
        );
        assert_eq!(
            json(r#"{"singer":"y"}"#, Mode::Partial).unwrap(),
            input(None, Some("y"))
        );
        assert_eq!(
            error_body(json(r#"{"singer":""}"#, Mode::Partial)),
            (
                400,
                r#"{"singer":["This field may not be blank."]}"#.to_owned()
            )
        );
    }

    #[test]
    fn empty_body_is_no_data_whatever_the_type() {
        for ct in [JSON, FORM, Some(b"text/plain".as_slice()), None] {
            assert_eq!(
                parse_music_input(ct, b"", Mode::Partial).unwrap(),
                input(None, None)
            );
            assert_eq!(
                error_body(parse_music_input(ct, b"", Mode::Create)),
                (
                    400,
                    r#"{"song":["This field is required."],"singer":["This field is required."]}"#
                        .to_owned()
                )
            );
        }
    }

    #[test]
    fn blank_null_and_invalid_values() {
        assert_eq!(
            error_body(json(r#"{"song":"","singer":"   "}"#, Mode::Create)),
            (
                400,
                r#"{"song":["This field may not be blank."],"singer":["This field may not be blank."]}"#
                    .to_owned()
            )
        );
        assert_eq!(
            error_body(json(r#"{"song":null,"singer":true}"#, Mode::Create)),
            (
                400,
                r#"{"song":["This field may not be null."],"singer":["Not a valid string."]}"#
                    .to_owned()
            )
        );
        for value in ["true", "false", "[]", "[\"a\"]", "{}", "{\"a\":1}"] {
            assert_eq!(
                error_body(json(&format!(r#"{{"song":{value}}}"#), Mode::Partial)),
                (400, r#"{"song":["Not a valid string."]}"#.to_owned()),
                "{value}"
            );
        }
    }

    #[test]
    fn unicode_whitespace_is_trimmed_like_python_strip() {
        assert_eq!(
            json(
                "{\"song\":\"\\u3000\\u00a0 a b \\t\\n\\u2028\\u001f\",\"singer\":\"\\u0085x\\u200a\"}",
                Mode::Create
            )
            .unwrap(),
            input(Some("a b"), Some("x"))
        );
        assert_eq!(
            error_body(json(r#"{"song":" \u3000\u001c ","singer":"\u000b\u000c\r"}"#, Mode::Create)),
            (
                400,
                r#"{"song":["This field may not be blank."],"singer":["This field may not be blank."]}"#
                    .to_owned()
            )
        );
        // Not whitespace for Python: zero width space, BOM, U+180E.
        assert_eq!(
            json(r#"{"song":"\u200b","singer":"\ufeff\u180e"}"#, Mode::Create).unwrap(),
            input(Some("\u{200b}"), Some("\u{feff}\u{180e}"))
        );
    }

    #[test]
    fn python_whitespace_set_is_exact() {
        // Every code point for which CPython 3.11's str.isspace() is true.
        let expected: Vec<u32> = vec![
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ];
        let actual: Vec<u32> = (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_space(c))
            .map(|c| c as u32)
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn numbers_become_python_text() {
        assert_eq!(
            json(
                r#"{"song":12345678901234567890,"singer":1e16}"#,
                Mode::Create
            )
            .unwrap(),
            input(Some("12345678901234567890"), Some("1e+16"))
        );
        let cases = [
            ("1.5", "1.5"),
            ("0.1", "0.1"),
            ("1e-5", "1e-05"),
            ("-0.0", "-0.0"),
            ("-0", "0"),
            ("0", "0"),
            ("-12", "-12"),
            ("1E2", "100.0"),
            ("1e400", "inf"),
            ("-1e400", "-inf"),
        ];
        for (number, text) in cases {
            assert_eq!(
                json(&format!(r#"{{"song":{number}}}"#), Mode::Partial).unwrap(),
                input(Some(text), None),
                "{number}"
            );
        }
    }

    #[test]
    fn null_and_surrogate_characters() {
        assert_eq!(
            error_body(json(
                r#"{"song":"\ud800","singer":"a\u0000\udc00"}"#,
                Mode::Create
            )),
            (
                400,
                r#"{"song":["Surrogate characters are not allowed: U+D800."],"singer":["Null characters are not allowed.","Surrogate characters are not allowed: U+DC00."]}"#
                    .to_owned()
            )
        );
        assert_eq!(
            error_body(json(r#"{"song":" \u0000 "}"#, Mode::Partial)),
            (
                400,
                r#"{"song":["Null characters are not allowed."]}"#.to_owned()
            )
        );
        // A surrogate pair is one valid character.
        assert_eq!(
            json(r#"{"song":"\ud834\udd1e"}"#, Mode::Partial).unwrap(),
            input(Some("𝄞"), None)
        );
    }

    #[test]
    fn not_a_dictionary() {
        for (body, name) in [
            ("[1]", "list"),
            ("\"x\"", "str"),
            ("1", "int"),
            ("1.5", "float"),
            ("true", "bool"),
        ] {
            assert_eq!(
                error_body(json(body, Mode::Create)),
                (
                    400,
                    format!(
                        r#"{{"non_field_errors":["Invalid data. Expected a dictionary, but got {name}."]}}"#
                    )
                ),
                "{body}"
            );
        }
        for mode in [Mode::Create, Mode::Replace, Mode::Partial] {
            assert_eq!(
                error_body(json("null", mode)),
                (
                    400,
                    r#"{"non_field_errors":["Invalid data. Expected a dictionary, but got NoneType."]}"#.to_owned()
                )
            );
        }
    }

    #[test]
    fn malformed_json() {
        assert_eq!(
            error_body(json(r#"{"a":}"#, Mode::Create)),
            (
                400,
                r#"{"detail":"JSON parse error - Expecting value: line 1 column 6 (char 5)"}"#
                    .to_owned()
            )
        );
        assert_eq!(
            error_body(json("{\n \"a\" 1}", Mode::Create)),
            (
                400,
                r#"{"detail":"JSON parse error - Expecting ':' delimiter: line 2 column 6 (char 7)"}"#
                    .to_owned()
            )
        );
        assert_eq!(
            error_body(json(r#"{"song":NaN}"#, Mode::Create)),
            (
                400,
                r#"{"detail":"JSON parse error - Out of range float values are not JSON compliant: 'NaN'"}"#
                    .to_owned()
            )
        );
        assert_eq!(
            error_body(parse_music_input(JSON, b"\xef\xbb\xbf{}", Mode::Create)),
            (
                400,
                r#"{"detail":"JSON parse error - Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"}"#
                    .to_owned()
            )
        );
    }

    #[test]
    fn json_body_encodings() {
        assert_eq!(
            error_body(parse_music_input(JSON, b"\xff{}", Mode::Create)),
            (
                400,
                r#"{"detail":"JSON parse error - 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"}"#
                    .to_owned()
            )
        );
        // A truncated character at the very end is dropped, as DRF's reader does.
        assert_eq!(
            parse_music_input(JSON, b"{\"song\":\"a\",\"singer\":\"b\"}\xe2", Mode::Create)
                .unwrap(),
            input(Some("a"), Some("b"))
        );
        assert_eq!(
            parse_music_input(
                Some(b"application/json; charset=latin-1"),
                b"{\"song\":\"a\xe9\",\"singer\":\"b\"}",
                Mode::Create
            )
            .unwrap(),
            input(Some("aé"), Some("b"))
        );
        // An unknown charset is ignored (UTF-8), as Django does.
        assert_eq!(
            error_body(parse_music_input(
                Some(b"application/json; charset=bogus"),
                b"{\"song\":\"a\xe9\",\"singer\":\"b\"}",
                Mode::Create
            )),
            (
                400,
                r#"{"detail":"JSON parse error - 'utf-8' codec can't decode byte 0xe9 in position 10: invalid continuation byte"}"#
                    .to_owned()
            )
        );
        assert_eq!(
            parse_music_input(
                Some(b"application/json; charset=utf-8-sig"),
                b"\xef\xbb\xbf{\"song\":\"a\"}",
                Mode::Partial
            )
            .unwrap(),
            input(Some("a"), None)
        );
    }

    #[test]
    fn content_types() {
        let body = br#"{"song":"a","singer":"b"}"#;
        for ct in [
            "application/json",
            "APPLICATION/JSON; charset=UTF-8",
            "*/*",
            "application/*",
        ] {
            assert_eq!(
                parse_music_input(Some(ct.as_bytes()), body, Mode::Create).unwrap(),
                input(Some("a"), Some("b")),
                "{ct}"
            );
        }
        assert_eq!(
            error_body(parse_music_input(Some(b"text/plain"), b"x", Mode::Create)),
            (
                415,
                r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#.to_owned()
            )
        );
        assert_eq!(
            error_body(parse_music_input(
                Some(b"text/plain; charset=utf-8"),
                b"x",
                Mode::Create
            )),
            (
                415,
                r#"{"detail":"Unsupported media type \"text/plain; charset=utf-8\" in request."}"#
                    .to_owned()
            )
        );
        assert_eq!(
            error_body(parse_music_input(None, b"x", Mode::Create)),
            (
                415,
                r#"{"detail":"Unsupported media type \"\" in request."}"#.to_owned()
            )
        );
        assert_eq!(
            error_body(parse_music_input(Some(b"text/\xe9"), b"x", Mode::Create)),
            (
                415,
                "{\"detail\":\"Unsupported media type \\\"text/\u{e9}\\\" in request.\"}"
                    .to_owned()
            )
        );
    }

    #[test]
    fn form_bodies() {
        assert_eq!(
            parse_music_input(FORM, b"song=a+b&singer=%E2%82%AC&song=c%20d", Mode::Create).unwrap(),
            input(Some("c d"), Some("€"))
        );
        assert_eq!(
            error_body(parse_music_input(FORM, b"song=&singer=+", Mode::Partial)),
            (
                400,
                r#"{"song":["This field may not be blank."],"singer":["This field may not be blank."]}"#
                    .to_owned()
            )
        );
        assert_eq!(
            parse_music_input(FORM, b"x=1", Mode::Partial).unwrap(),
            input(None, None)
        );
        assert_eq!(
            error_body(parse_music_input(FORM, b"x=1", Mode::Create)),
            (
                400,
                r#"{"song":["This field is required."],"singer":["This field is required."]}"#
                    .to_owned()
            )
        );
        assert_eq!(
            error_body(parse_music_input(
                FORM,
                b"song=%ff&singer=%00",
                Mode::Create
            )),
            (
                400,
                r#"{"singer":["Null characters are not allowed."]}"#.to_owned()
            )
        );
        assert_eq!(
            parse_music_input(FORM, b"song=%ff&singer=null", Mode::Create).unwrap(),
            input(Some("\u{fffd}"), Some("null"))
        );
    }

    #[test]
    fn multipart_bodies() {
        let ct: &[u8] = b"multipart/form-data; boundary=XX";
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"song\"\r\n\r\n s1 \r\n\
--XX\r\nContent-Disposition: form-data; name=\"singer\"\r\n\r\nx\r\n--XX--\r\n";
        assert_eq!(
            parse_music_input(Some(ct), body, Mode::Create).unwrap(),
            input(Some("s1"), Some("x"))
        );
        let with_file = b"--XX\r\nContent-Disposition: form-data; name=\"song\"\r\n\r\n s1 \r\n\
--XX\r\nContent-Disposition: form-data; name=\"singer\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX--\r\n";
        assert_eq!(
            error_body(parse_music_input(Some(ct), with_file, Mode::Create)),
            (400, r#"{"singer":["Not a valid string."]}"#.to_owned())
        );
        let blank_file = b"--XX\r\nContent-Disposition: form-data; name=\"song\"; filename=\" \"\r\n\r\nhello\r\n--XX--\r\n";
        assert_eq!(
            error_body(parse_music_input(Some(ct), blank_file, Mode::Partial)),
            (
                400,
                r#"{"song":["This field may not be blank."]}"#.to_owned()
            )
        );
        assert_eq!(
            error_body(parse_music_input(
                Some(b"multipart/form-data"),
                b"song=a",
                Mode::Create
            )),
            (
                400,
                r#"{"detail":"Multipart form parse error - Invalid boundary in multipart: None"}"#
                    .to_owned()
            )
        );
    }
}

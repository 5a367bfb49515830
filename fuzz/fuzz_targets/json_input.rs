//! `parse_music_input` with JSON bodies (DRF's `JSONParser`, CPython's `json.loads`), and
//! with arbitrary Content-Type headers (media type and charset parsing, the 415 path).
//!
//! Input: one selector byte, then the body. Selector `% 16` picks the Content-Type from
//! `TYPES`; `TYPES.len()` means no header, anything above means a custom header: the bytes
//! up to the first NUL, the body after it.
//!
//! Checks (besides no panic, hang or blow-up): the shared answer invariants (common.rs), and
//! for the JSON types whose charset is known, a differential check against serde_json on
//! the decoded text:
//! - serde_json accepts the text => no "JSON parse error"; a non-object => "Expected a
//!   dictionary"; an object => the same answer as a minimal document holding only its last
//!   `song` and `singer` members (duplicates, nesting, escapes, other keys change nothing);
//! - no "JSON parse error" => serde_json accepts the text too, unless serde_json refuses a
//!   number out of f64 range or a lone surrogate escape, which Python accepts.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use ngx_music::api::charset::Charset;

const TYPES: [(&[u8], Option<Charset>); 10] = [
    (b"application/json", Some(Charset::Utf8)),
    (b"application/json; charset=utf-8", Some(Charset::Utf8)),
    (
        b"application/json; charset=ISO-8859-1",
        Some(Charset::Latin1),
    ),
    (b"application/json; charset=us-ascii", Some(Charset::Ascii)),
    (
        b"application/json; charset=utf-8-sig",
        Some(Charset::Utf8Sig),
    ),
    (
        b"Application/JSON ; Charset=\"latin1\"",
        Some(Charset::Latin1),
    ),
    (
        b"application/json; charset=no-such-codec",
        Some(Charset::Utf8),
    ),
    (b"*/json", Some(Charset::Utf8)),
    (b"application/x-www-form-urlencoded", None),
    (b"multipart/form-data; boundary=b", None),
];

/// Whether `text` holds a `\uD800`-`\uDFFF` escape (roughly: escaped backslashes are not
/// told apart, which only skips a few more inputs).
fn has_surrogate_escape(text: &str) -> bool {
    text.as_bytes().windows(4).any(|w| {
        w[0] == b'\\'
            && w[1] == b'u'
            && matches!(w[2], b'd' | b'D')
            && matches!(w[3], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let index = usize::from(selector % 16);
    let (content_type, body, charset) = match TYPES.get(index) {
        Some(&(ct, charset)) => (Some(ct), rest, charset),
        None if index == TYPES.len() => (None, rest, None),
        None => match rest.iter().position(|&b| b == 0) {
            Some(nul) => (Some(&rest[..nul]), &rest[nul + 1..], None),
            None => (Some(rest), &[][..], None),
        },
    };

    let results = common::parse_checked(content_type, body);
    if index < TYPES.len() {
        for r in &results {
            assert!(
                !matches!(r, Err(e) if e.status == 415),
                "415 for {content_type:?}"
            );
        }
    }
    let (Some(charset), false) = (charset, body.is_empty()) else {
        return;
    };
    let partial = &results[2];
    let text = match charset.decode_stream(body) {
        Ok(text) => text,
        Err(_) => {
            assert!(
                common::is_json_parse_error(partial),
                "undecodable body: {partial:?}"
            );
            return;
        }
    };
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(members)) => {
            assert!(
                !common::is_json_parse_error(partial),
                "serde_json reads it: {partial:?}"
            );
            // A number's text is Python's str() of it: re-serialising it would change it.
            if members.get("song").is_some_and(|v| v.is_number())
                || members.get("singer").is_some_and(|v| v.is_number())
            {
                return;
            }
            let mut minimal = serde_json::Map::new();
            for name in ["song", "singer"] {
                if let Some(v) = members.get(name) {
                    minimal.insert(name.to_owned(), v.clone());
                }
            }
            let minimal = serde_json::to_vec(&serde_json::Value::Object(minimal)).unwrap();
            let expected = common::parse_checked(Some(b"application/json"), &minimal);
            assert_eq!(
                results,
                expected,
                "differs from the minimal document {:?}",
                String::from_utf8_lossy(&minimal)
            );
        }
        Ok(_) => assert!(
            matches!(partial, Err(e) if e.status == 400 && e.body.contains("Expected a dictionary")),
            "valid non-object JSON: {partial:?}"
        ),
        Err(err) => {
            let msg = err.to_string();
            // Python reads lone surrogate escapes and numbers beyond f64 (as inf).
            let python_accepts = msg.contains("number out of range")
                || (msg.contains("hex escape") && has_surrogate_escape(&text));
            // serde_json's recursion limit (128) is lower than the decoder's (900).
            let too_deep = msg.contains("recursion limit exceeded");
            if !python_accepts && !too_deep {
                assert!(
                    common::is_json_parse_error(partial),
                    "serde_json refuses it ({msg}) but the decoder answers {partial:?}"
                );
            }
        }
    }
});

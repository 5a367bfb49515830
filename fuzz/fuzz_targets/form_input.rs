//! `parse_music_input` with `application/x-www-form-urlencoded` and `multipart/form-data`
//! bodies (Django's `QueryDict` and `MultiPartParser`).
//!
//! Input: one selector byte, then the rest.
//! - selector bit 7 clear: a raw body. Bit 0: urlencoded or multipart (boundary `XyZzy`);
//!   bits 1-3: the charset parameter (`CHARSETS`); bit 4: a custom Content-Type instead
//!   (the bytes up to the first NUL; the body after it).
//! - selector bit 7 set: a round trip. The rest is `song \0 singer \0 name \0 value …`
//!   (UTF-8). song and singer are sent as a urlencoded form, as a multipart form and as
//!   JSON: all three answers must be the same. The remaining pairs (with song and singer)
//!   are urlencoded and must come back from `parse_pairs` exactly.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use ngx_music::api::charset::Charset;
use ngx_music::api::urlencoded::{last_value, parse_pairs};

const CHARSETS: [&str; 8] = [
    "",
    "; charset=utf-8",
    "; charset=latin-1",
    "; charset=ascii",
    "; charset=utf-8-sig",
    "; charset=cp1252",
    "; charset=\"UTF8\"",
    "; charset=",
];
const BOUNDARY: &str = "XyZzy";

/// Python's `quote` with no safe characters: every byte but `[A-Za-z0-9_.~-]` escaped.
fn quote(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.~-".contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn multipart_body(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        body.extend_from_slice(
            format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn round_trip(rest: &[u8]) {
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let strings: Vec<&str> = text.split('\0').collect();
    let song = strings[0];
    let singer = strings.get(1).copied().unwrap_or("");

    // The same two fields in the three body types.
    let form = format!("song={}&singer={}", quote(song), quote(singer));
    let form_result =
        common::parse_checked(Some(b"application/x-www-form-urlencoded"), form.as_bytes());
    let json = serde_json::to_vec(&serde_json::json!({"song": song, "singer": singer})).unwrap();
    let json_result = common::parse_checked(Some(b"application/json"), &json);
    assert_eq!(
        form_result, json_result,
        "urlencoded {form:?} and JSON differ"
    );
    let delimiter = format!("--{BOUNDARY}");
    if !song.contains(&delimiter) && !singer.contains(&delimiter) {
        let body = multipart_body(&[("song", song), ("singer", singer)]);
        let ct = format!("multipart/form-data; boundary={BOUNDARY}");
        let multipart_result = common::parse_checked(Some(ct.as_bytes()), &body);
        assert_eq!(multipart_result, json_result, "multipart and JSON differ");
    }

    // parse_pairs gives back exactly the pairs that were encoded (names may be empty).
    let pairs: Vec<(&str, &str)> = strings
        .chunks(2)
        .map(|c| (c[0], c.get(1).copied().unwrap_or("")))
        .collect();
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(n, v)| format!("{}={}", quote(n), quote(v)))
        .collect();
    let encoded = encoded.join("&");
    let decoded = parse_pairs(encoded.as_bytes(), Charset::Utf8);
    let expected: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(decoded, expected, "from {encoded:?}");
    if let Some((name, value)) = pairs.last() {
        assert_eq!(last_value(&decoded, name), Some(*value));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 0x80 != 0 {
        return round_trip(rest);
    }
    let multipart = selector & 1 != 0;
    let charset = CHARSETS[usize::from((selector >> 1) & 7)];
    let (content_type, body, custom) = if selector & 0x10 != 0 {
        match rest.iter().position(|&b| b == 0) {
            Some(nul) => (rest[..nul].to_vec(), &rest[nul + 1..], true),
            None => (rest.to_vec(), &[][..], true),
        }
    } else if multipart {
        let ct = format!("multipart/form-data; boundary={BOUNDARY}{charset}");
        (ct.into_bytes(), rest, false)
    } else {
        let ct = format!("application/x-www-form-urlencoded{charset}");
        (ct.into_bytes(), rest, false)
    };

    let results = common::parse_checked(Some(&content_type), body);
    if !custom {
        for r in &results {
            if let Err(e) = r {
                assert_ne!(
                    e.status,
                    415,
                    "415 for {:?}",
                    String::from_utf8_lossy(&content_type)
                );
                assert!(!e.body.contains("Invalid boundary"), "{:?}", e.body);
                assert!(!e.body.contains("JSON parse error"), "{:?}", e.body);
            }
        }
        if !multipart {
            // urlencoded never fails to parse: only field errors.
            for r in &results {
                if let Err(e) = r {
                    assert!(!e.body.starts_with("{\"detail\""), "{:?}", e.body);
                }
            }
        }
    }
});

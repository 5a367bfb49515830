//! `multipart/form-data` bodies, read as Django's `MultiPartParser` reads
//! them, for the plain text fields this API has.
//!
//! - The boundary parameter is required and must pass Python's
//!   `cgi.valid_boundary` (1 to 201 printable ASCII characters, not ending
//!   in a space), else `Invalid boundary in multipart: <boundary or None>`.
//! - The body is cut at every `--boundary`; the CRLF before it belongs to
//!   the delimiter. A part's headers end at the first blank line, which must
//!   lie within its first 1024 bytes; a part without a usable
//!   `Content-Disposition` name is skipped (preamble, epilogue, the final
//!   `--`).
//! - A part with a non-empty `filename` is a file; a file whose name is
//!   empty once reduced to its base name is skipped, and so is a file in
//!   the last piece of the body (Django completes a file when the next
//!   piece starts). Django puts files after
//!   the text fields of the same name, so a file wins a name lookup.
//! - Field names and values are read in the request's charset with
//!   invalid bytes replaced.
//!
//! Not reproduced: `Content-Transfer-Encoding: base64` fields (read as they
//! are) and Django's `DATA_UPLOAD_MAX_*` limits (nginx's
//! `client_max_body_size` bounds the body instead).

use crate::api::charset::Charset;

use super::media_type::MediaType;

/// Django's `parse_boundary_stream` looks for the blank line in this many
/// bytes only.
const MAX_HEADER_SIZE: usize = 1024;

/// The parts that matter to a form: text fields and uploaded files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FormParts {
    /// `(name, value)` in order.
    pub fields: Vec<(String, String)>,
    /// `(name, file name)` in order.
    pub files: Vec<(String, String)>,
}

/// What a serializer sees for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartValue<'a> {
    Text(&'a str),
    /// An uploaded file; `str()` of it is its name.
    File(&'a str),
}

impl FormParts {
    /// The value `request.data[name]` has: the last file of that name if
    /// any, else the last text field.
    pub fn get(&self, name: &str) -> Option<PartValue<'_>> {
        last_named(&self.files, name)
            .map(PartValue::File)
            .or_else(|| last_named(&self.fields, name).map(PartValue::Text))
    }
}

fn last_named<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Parses `body`. `content_type` is the header as sent; the error is the
/// text after `Multipart form parse error - `.
pub fn parse(content_type: &str, body: &[u8], charset: Charset) -> Result<FormParts, String> {
    if !content_type.starts_with("multipart/") {
        return Err(format!("Invalid Content-Type: {content_type}"));
    }
    if !content_type.is_ascii() {
        return Err(format!(
            "Invalid non-ASCII Content-Type in multipart: {content_type}"
        ));
    }
    let media = MediaType::parse(content_type);
    let boundary = media.as_ref().and_then(|m| m.param("boundary"));
    let boundary = match boundary {
        Some(b) if valid_boundary(b) => b,
        Some(b) => return Err(format!("Invalid boundary in multipart: {b}")),
        None => return Err("Invalid boundary in multipart: None".to_owned()),
    };
    let mut delimiter = b"--".to_vec();
    delimiter.extend_from_slice(boundary.as_bytes());

    let mut parts = FormParts::default();
    let pieces = split_parts(body, &delimiter);
    for (i, piece) in pieces.iter().enumerate() {
        // Django registers a file when the next piece starts: a file in the
        // last piece (no delimiter after it) is dropped.
        let file_completes = i + 1 < pieces.len();
        read_part(piece, charset, file_completes, &mut parts);
    }
    Ok(parts)
}

/// Python's `cgi.valid_boundary`: `^[ -~]{0,200}[!-~]$`.
fn valid_boundary(boundary: &str) -> bool {
    let bytes = boundary.as_bytes();
    match bytes.split_last() {
        Some((last, rest)) => {
            rest.len() <= 200
                && rest.iter().all(|b| (b' '..=b'~').contains(b))
                && (b'!'..=b'~').contains(last)
        }
        None => false,
    }
}

/// The pieces between delimiters, each without the CR LF before the next
/// delimiter (Django's `BoundaryIter`).
fn split_parts<'a>(body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        match find(rest, delimiter) {
            Some(index) => {
                let mut end = index;
                if end > 0 && rest[end - 1] == b'\n' {
                    end -= 1;
                }
                if end > 0 && rest[end - 1] == b'\r' {
                    end -= 1;
                }
                pieces.push(&rest[..end]);
                rest = &rest[index + delimiter.len()..];
            }
            None => {
                pieces.push(rest);
                break;
            }
        }
    }
    pieces
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Adds one part to `parts` if it is a named field or file.
fn read_part(part: &[u8], charset: Charset, file_completes: bool, parts: &mut FormParts) {
    let head = &part[..part.len().min(MAX_HEADER_SIZE)];
    let Some(header_end) = find(head, b"\r\n\r\n") else {
        return;
    };
    let mut disposition = None;
    for line in split_crlf(&head[..header_end]) {
        if let Some(params) = content_disposition(line) {
            disposition = Some(params);
        }
    }
    let Some(params) = disposition else {
        return;
    };
    let Some(name) = param(&params, "name") else {
        return;
    };
    let name = charset.decode_lossy(strip_py(name));
    let value = &part[header_end + 4..];
    match param(&params, "filename").filter(|f| !f.is_empty()) {
        Some(file_name) => {
            let file_name = charset.decode_lossy(file_name);
            let base = file_name.rsplit(['/', '\\']).next().unwrap_or("");
            if file_completes && !matches!(base, "" | "." | "..") {
                parts.files.push((name, base.to_owned()));
            }
        }
        None => parts.fields.push((name, charset.decode_lossy(value))),
    }
}

type Params = Vec<(String, Vec<u8>)>;

/// The parameters of a `Content-Disposition` header line, or `None` for
/// any other line (Django lowercases the line's first piece and splits it
/// at `:`; a line it cannot decode is skipped).
fn content_disposition(line: &[u8]) -> Option<Params> {
    let pieces = split_params(line);
    let (first, rest) = pieces.split_first()?;
    if !first.is_ascii() {
        return None;
    }
    let first = first.to_ascii_lowercase();
    let colon = first.iter().position(|&b| b == b':')?;
    if &first[..colon] != b"content-disposition" {
        return None;
    }
    let mut params = Vec::new();
    for piece in rest {
        let Some(eq) = piece.iter().position(|&b| b == b'=') else {
            continue;
        };
        let key = strip_py(&piece[..eq]);
        if !key.is_ascii() {
            return None;
        }
        let mut key = String::from_utf8_lossy(key).to_ascii_lowercase();
        let mut value = strip_py(&piece[eq + 1..]).to_vec();
        let extended = key.ends_with('*');
        if extended {
            key.pop();
        }
        if value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' {
            value = replace(
                &replace(&value[1..value.len() - 1], b"\\\\", b"\\"),
                b"\\\"",
                b"\"",
            );
        }
        if extended && value.iter().filter(|&&b| b == b'\'').count() == 2 {
            // RFC 2231 `charset'lang'value`: keep the percent-decoded value.
            let encoded = value.rsplit(|&b| b == b'\'').next().unwrap_or_default();
            value = percent_decode(encoded);
        }
        params.push((key, value));
    }
    Some(params)
}

/// Last value of a parameter, as a dict built from them would hold.
fn param<'a>(params: &'a Params, name: &str) -> Option<&'a [u8]> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_slice())
}

/// Django's `_parse_header_params` on `;` + line.
fn split_params(line: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut rest = line;
    loop {
        let mut end = None;
        let mut quotes = 0;
        for (i, &b) in rest.iter().enumerate() {
            if b == b'"' {
                quotes += 1;
            } else if b == b';' && (i == 0 || quotes % 2 == 0) {
                end = Some(i);
                break;
            }
        }
        match end {
            Some(end) => {
                pieces.push(strip_py(&rest[..end]));
                rest = &rest[end + 1..];
            }
            None => {
                pieces.push(strip_py(rest));
                return pieces;
            }
        }
    }
}

/// Header lines: Django splits the header block at CR LF only.
fn split_crlf(block: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut rest = block;
    while let Some(i) = find(rest, b"\r\n") {
        lines.push(&rest[..i]);
        rest = &rest[i + 2..];
    }
    lines.push(rest);
    lines
}

/// Python's `bytes.strip()`: ASCII whitespace including VT.
fn strip_py(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = find(rest, from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

fn percent_decode(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
        if value[i] == b'%' {
            if let (Some(hi), Some(lo)) = (hex(value.get(i + 1)), hex(value.get(i + 2))) {
                out.push((hi << 4 | lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(value[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XX";

    fn body(parts: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(b"--XX\r\n");
            out.extend_from_slice(part.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XX--\r\n");
        out
    }

    fn field(name: &str, value: &str) -> String {
        format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
    }

    fn parse_ok(body: &[u8]) -> FormParts {
        parse(CT, body, Charset::Utf8).unwrap()
    }

    #[test]
    fn text_fields() {
        let parts = parse_ok(&body(&[&field("song", " s1 "), &field("singer", "周杰倫")]));
        assert_eq!(parts.get("song"), Some(PartValue::Text(" s1 ")));
        assert_eq!(parts.get("singer"), Some(PartValue::Text("周杰倫")));
        assert_eq!(parts.get("id"), None);
    }

    #[test]
    fn values_keep_inner_line_breaks_and_lose_one_crlf() {
        let parts = parse_ok(&body(&[&field("song", "a\r\nb\r\n")]));
        assert_eq!(parts.get("song"), Some(PartValue::Text("a\r\nb\r\n")));
        let parts = parse_ok(&body(&[&field("song", "")]));
        assert_eq!(parts.get("song"), Some(PartValue::Text("")));
    }

    #[test]
    fn last_field_wins_and_files_win_over_fields() {
        let parts = parse_ok(&body(&[&field("song", "a"), &field("song", "b")]));
        assert_eq!(parts.get("song"), Some(PartValue::Text("b")));
        let file = "Content-Disposition: form-data; name=\"song\"; filename=\"dir/a.txt\"\r\n\
                    Content-Type: text/plain\r\n\r\nhello";
        let parts = parse_ok(&body(&[file, &field("song", "text")]));
        assert_eq!(parts.get("song"), Some(PartValue::File("a.txt")));
    }

    #[test]
    fn empty_filename_is_a_field_and_unusable_names_are_skipped() {
        let empty = "Content-Disposition: form-data; name=\"song\"; filename=\"\"\r\n\r\nvalue";
        let parts = parse_ok(&body(&[empty]));
        assert_eq!(parts.get("song"), Some(PartValue::Text("value")));
        for name in ["dir/", "..", "a\\."] {
            let file = format!(
                "Content-Disposition: form-data; name=\"song\"; filename=\"{name}\"\r\n\r\nx"
            );
            let parts = parse_ok(&body(&[&file]));
            assert_eq!(parts.get("song"), None, "{name}");
        }
    }

    #[test]
    fn parts_without_a_name_or_headers_are_skipped() {
        let no_name = "Content-Disposition: form-data\r\n\r\nx";
        let no_disposition = "Content-Type: text/plain\r\n\r\nx";
        let no_blank_line = "Content-Disposition: form-data; name=\"song\"";
        let parts = parse_ok(&body(&[no_name, no_disposition, no_blank_line]));
        assert_eq!(parts, FormParts::default());
    }

    #[test]
    fn headers_must_end_within_1024_bytes() {
        let long = format!(
            "Content-Disposition: form-data; name=\"song\"\r\nX-Pad: {}\r\n\r\nv",
            "p".repeat(1000)
        );
        assert_eq!(parse_ok(&body(&[&long])).get("song"), None);
    }

    #[test]
    fn header_names_are_case_insensitive_and_params_unquoted() {
        let part = "content-disposition: FORM-DATA; NAME=singer\r\n\r\nx";
        assert_eq!(
            parse_ok(&body(&[part])).get("singer"),
            Some(PartValue::Text("x"))
        );
        let part = "Content-Disposition: form-data; name=\"a;b\\\"c\"\r\n\r\nx";
        assert_eq!(
            parse_ok(&body(&[part])).get("a;b\"c"),
            Some(PartValue::Text("x"))
        );
        let part = "Content-Disposition: form-data; name*=UTF-8''s%C3%A9\r\n\r\nx";
        assert_eq!(
            parse_ok(&body(&[part])).get("sé"),
            Some(PartValue::Text("x"))
        );
    }

    #[test]
    fn preamble_and_epilogue_are_ignored() {
        let mut data = b"preamble\r\n\r\nignored\r\n".to_vec();
        data.extend_from_slice(&body(&[&field("song", "a")]));
        data.extend_from_slice(b"epilogue");
        assert_eq!(parse_ok(&data).get("song"), Some(PartValue::Text("a")));
    }

    #[test]
    fn invalid_bytes_are_replaced() {
        let mut data =
            b"--XX\r\nContent-Disposition: form-data; name=\"song\"\r\n\r\na\xff".to_vec();
        data.extend_from_slice(b"\r\n--XX--");
        assert_eq!(
            parse_ok(&data).get("song"),
            Some(PartValue::Text("a\u{fffd}"))
        );
        assert_eq!(
            parse(CT, &data, Charset::Latin1).unwrap().get("song"),
            Some(PartValue::Text("aÿ"))
        );
    }

    #[test]
    fn content_type_and_boundary_errors() {
        let data = body(&[&field("song", "a")]);
        assert_eq!(
            parse("multipart/form-data", &data, Charset::Utf8).unwrap_err(),
            "Invalid boundary in multipart: None"
        );
        assert_eq!(
            parse("multipart/form-data; boundary=", &data, Charset::Utf8).unwrap_err(),
            "Invalid boundary in multipart: "
        );
        assert_eq!(
            parse("multipart/form-data; boundary=\"a \"", &data, Charset::Utf8).unwrap_err(),
            "Invalid boundary in multipart: a "
        );
        let long = "b".repeat(202);
        assert_eq!(
            parse(
                &format!("multipart/form-data; boundary={long}"),
                &data,
                Charset::Utf8
            )
            .unwrap_err(),
            format!("Invalid boundary in multipart: {long}")
        );
        assert!(parse(
            &format!("multipart/form-data; boundary={}", "b".repeat(201)),
            &data,
            Charset::Utf8
        )
        .is_ok());
        assert_eq!(
            parse("Multipart/Form-Data; boundary=XX", &data, Charset::Utf8).unwrap_err(),
            "Invalid Content-Type: Multipart/Form-Data; boundary=XX"
        );
        assert_eq!(
            parse(
                "multipart/form-data; boundary=XX; x=é",
                &data,
                Charset::Utf8
            )
            .unwrap_err(),
            "Invalid non-ASCII Content-Type in multipart: multipart/form-data; boundary=XX; x=é"
        );
    }
}

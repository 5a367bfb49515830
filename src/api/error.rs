//! Error answers: a status and a compact JSON body with DRF's exact texts.

use super::json_string::write_json_string;
use crate::db::DbError;

/// An answer that is not a success: HTTP status plus compact JSON body.
/// Headers that depend on the route (`Allow` on a 405, CORS, `Vary`) are the
/// caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub body: String,
}

/// One field's error list, in the order DRF reports them.
pub type FieldErrors = (&'static str, Vec<String>);

impl ApiError {
    /// `{"detail":"<text>"}` with the given status.
    pub fn detail(status: u16, text: &str) -> ApiError {
        let mut out = Vec::with_capacity(text.len() + 16);
        out.extend_from_slice(b"{\"detail\":");
        write_json_string(&mut out, text);
        out.push(b'}');
        ApiError {
            status,
            body: into_string(out),
        }
    }

    /// 404 `{"detail":"Not found."}`: unknown path, bad or missing id.
    pub fn not_found() -> ApiError {
        ApiError::detail(404, "Not found.")
    }

    /// 404 for a non-GET/HEAD request whose URL lacks its trailing slash
    /// (GET and HEAD get a 301 instead). `slashed_path` is the URL path the
    /// client should have used, e.g. `/api/musics/`.
    pub fn slash_required(slashed_path: &str) -> ApiError {
        ApiError::detail(
            404,
            &format!("Not found. This URL needs a trailing slash: \"{slashed_path}\"."),
        )
    }

    /// 405 `{"detail":"Method \"DELETE\" not allowed."}`; add `Allow`.
    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::detail(405, &format!("Method \"{method}\" not allowed."))
    }

    /// 415 for a body whose Content-Type no parser takes, quoted as sent
    /// (`""` when the header is missing).
    pub fn unsupported_media_type(content_type_as_sent: &str) -> ApiError {
        ApiError::detail(
            415,
            &format!("Unsupported media type \"{content_type_as_sent}\" in request."),
        )
    }

    /// 400 `{"detail":"JSON parse error - <msg>"}`.
    pub fn json_parse(msg: &str) -> ApiError {
        ApiError::detail(400, &format!("JSON parse error - {msg}"))
    }

    /// 400 `{"detail":"Multipart form parse error - <msg>"}`.
    pub fn multipart_parse(msg: &str) -> ApiError {
        ApiError::detail(400, &format!("Multipart form parse error - {msg}"))
    }

    /// 400 for valid JSON that is not an object; `python_type_name` is
    /// `list`, `str`, `int`, `float` or `bool`.
    pub fn not_a_dict(python_type_name: &str) -> ApiError {
        ApiError::non_field_error(&format!(
            "Invalid data. Expected a dictionary, but got {python_type_name}."
        ))
    }

    /// 400 for a JSON body that is `null` (DRF's serializer special case).
    pub fn no_data_provided() -> ApiError {
        ApiError::non_field_error("No data provided")
    }

    fn non_field_error(message: &str) -> ApiError {
        ApiError::field_errors(&[("non_field_errors", vec![message.to_owned()])])
    }

    /// 400 `{"song":["…"],"singer":["…"]}` in the order given (the
    /// serializer's field order).
    pub fn field_errors(errors: &[FieldErrors]) -> ApiError {
        let mut out = Vec::with_capacity(64);
        out.push(b'{');
        for (i, (field, messages)) in errors.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_string(&mut out, field);
            out.extend_from_slice(b":[");
            for (j, message) in messages.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                write_json_string(&mut out, message);
            }
            out.push(b']');
        }
        out.push(b'}');
        ApiError {
            status: 400,
            body: into_string(out),
        }
    }

    /// 403 with any authentication failure's text.
    pub fn forbidden(detail: &str) -> ApiError {
        ApiError::detail(403, detail)
    }

    /// 403: no usable credentials (also another scheme such as `Bearer`).
    pub fn not_provided() -> ApiError {
        ApiError::detail(403, "Authentication credentials were not provided.")
    }

    /// 403: unknown user, wrong password or inactive user.
    pub fn invalid_credentials() -> ApiError {
        ApiError::detail(403, "Invalid username/password.")
    }

    /// 403: `Authorization: Basic` with nothing after it.
    pub fn basic_no_credentials() -> ApiError {
        ApiError::detail(403, "Invalid basic header. No credentials provided.")
    }

    /// 403: `Authorization: Basic <credentials> <more words>`.
    pub fn basic_spaces() -> ApiError {
        ApiError::detail(
            403,
            "Invalid basic header. Credentials string should not contain spaces.",
        )
    }

    /// 403: credentials that are not base64 or not UTF-8 once decoded.
    pub fn basic_not_base64() -> ApiError {
        ApiError::detail(
            403,
            "Invalid basic header. Credentials not correctly base64 encoded.",
        )
    }

    /// 503: the database cannot be reached or the pool is exhausted.
    pub fn service_unavailable(detail: &str) -> ApiError {
        ApiError::detail(503, detail)
    }

    /// 504: a statement took longer than allowed.
    pub fn gateway_timeout(detail: &str) -> ApiError {
        ApiError::detail(504, detail)
    }

    /// The answer to a database operation that failed: 504 for a statement past
    /// `music_query_timeout`, 500 for a statement PostgreSQL refused, 503 for the rest (the
    /// database is unreachable or busy, the connection broke, or a pooler lost the prepared
    /// statements). The server's own message
    /// goes to the error log, never to the client.
    pub fn database(e: &DbError) -> ApiError {
        match e {
            DbError::QueryTimeout => ApiError::gateway_timeout(&e.to_string()),
            DbError::Query(_) => ApiError::detail(500, "Database error."),
            DbError::Unavailable(_) | DbError::StatementsLost(_) => {
                ApiError::service_unavailable("Database unavailable.")
            }
            _ => ApiError::service_unavailable(&e.to_string()),
        }
    }
}

fn into_string(bytes: Vec<u8>) -> String {
    // Only UTF-8 text and ASCII punctuation are ever written.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(err: ApiError, status: u16, body: &str) {
        assert_eq!(err.status, status);
        assert_eq!(err.body, body);
        serde_json::from_str::<serde_json::Value>(&err.body).expect("valid JSON");
    }

    #[test]
    fn not_found_and_slash() {
        check(ApiError::not_found(), 404, r#"{"detail":"Not found."}"#);
        check(
            ApiError::slash_required("/api/musics/"),
            404,
            r#"{"detail":"Not found. This URL needs a trailing slash: \"/api/musics/\"."}"#,
        );
    }

    #[test]
    fn method_not_allowed_escapes_the_method() {
        check(
            ApiError::method_not_allowed("DELETE"),
            405,
            r#"{"detail":"Method \"DELETE\" not allowed."}"#,
        );
        check(
            ApiError::method_not_allowed("A\"B\\"),
            405,
            r#"{"detail":"Method \"A\"B\\\" not allowed."}"#,
        );
    }

    #[test]
    fn unsupported_media_type_quotes_the_type() {
        check(
            ApiError::unsupported_media_type("text/plain"),
            415,
            r#"{"detail":"Unsupported media type \"text/plain\" in request."}"#,
        );
        check(
            ApiError::unsupported_media_type(""),
            415,
            r#"{"detail":"Unsupported media type \"\" in request."}"#,
        );
    }

    #[test]
    fn parse_errors() {
        check(
            ApiError::json_parse("Expecting value: line 1 column 1 (char 0)"),
            400,
            r#"{"detail":"JSON parse error - Expecting value: line 1 column 1 (char 0)"}"#,
        );
        check(
            ApiError::json_parse("Expecting ':' delimiter: line 2 column 6 (char 7)"),
            400,
            r#"{"detail":"JSON parse error - Expecting ':' delimiter: line 2 column 6 (char 7)"}"#,
        );
        check(
            ApiError::multipart_parse("Invalid boundary in multipart: None"),
            400,
            r#"{"detail":"Multipart form parse error - Invalid boundary in multipart: None"}"#,
        );
    }

    #[test]
    fn not_a_dict_for_each_python_type() {
        for name in ["list", "str", "int", "float", "bool", "NoneType"] {
            check(
                ApiError::not_a_dict(name),
                400,
                &format!(
                    r#"{{"non_field_errors":["Invalid data. Expected a dictionary, but got {name}."]}}"#
                ),
            );
        }
        check(
            ApiError::no_data_provided(),
            400,
            r#"{"non_field_errors":["No data provided"]}"#,
        );
    }

    #[test]
    fn field_errors_keep_order_and_lists() {
        check(
            ApiError::field_errors(&[
                ("song", vec!["This field is required.".into()]),
                (
                    "singer",
                    vec![
                        "Null characters are not allowed.".into(),
                        "Surrogate characters are not allowed: U+D800.".into(),
                    ],
                ),
            ]),
            400,
            r#"{"song":["This field is required."],"singer":["Null characters are not allowed.","Surrogate characters are not allowed: U+D800."]}"#,
        );
        check(ApiError::field_errors(&[]), 400, "{}");
    }

    #[test]
    fn auth_errors_are_403_with_drf_texts() {
        check(
            ApiError::forbidden("User inactive or deleted."),
            403,
            r#"{"detail":"User inactive or deleted."}"#,
        );
        check(
            ApiError::not_provided(),
            403,
            r#"{"detail":"Authentication credentials were not provided."}"#,
        );
        check(
            ApiError::invalid_credentials(),
            403,
            r#"{"detail":"Invalid username/password."}"#,
        );
        check(
            ApiError::basic_no_credentials(),
            403,
            r#"{"detail":"Invalid basic header. No credentials provided."}"#,
        );
        check(
            ApiError::basic_spaces(),
            403,
            r#"{"detail":"Invalid basic header. Credentials string should not contain spaces."}"#,
        );
        check(
            ApiError::basic_not_base64(),
            403,
            r#"{"detail":"Invalid basic header. Credentials not correctly base64 encoded."}"#,
        );
    }

    #[test]
    fn service_errors_carry_their_detail() {
        check(
            ApiError::service_unavailable("database unavailable: connection refused"),
            503,
            r#"{"detail":"database unavailable: connection refused"}"#,
        );
        check(
            ApiError::gateway_timeout("database query timed out after 5s"),
            504,
            r#"{"detail":"database query timed out after 5s"}"#,
        );
        check(
            ApiError::service_unavailable("line\nbreak \u{1}"),
            503,
            r#"{"detail":"line\nbreak \u0001"}"#,
        );
    }

    #[test]
    fn database_errors_statuses_and_texts() {
        let answer = |e: DbError| {
            let a = ApiError::database(&e);
            (a.status, a.body)
        };
        assert_eq!(
            answer(DbError::QueryTimeout),
            (504, r#"{"detail":"Database query timed out."}"#.to_owned())
        );
        // the server's reasons stay in the error log
        assert_eq!(
            answer(DbError::Unavailable(
                "password authentication failed".into()
            )),
            (503, r#"{"detail":"Database unavailable."}"#.to_owned())
        );
        // a pooler that does not keep prepared statements: the database is unusable as
        // configured, not the request at fault; the hint goes to the error log
        assert_eq!(
            answer(DbError::StatementsLost(
                "ERROR: prepared statement \"s3\" does not exist".into()
            )),
            (503, r#"{"detail":"Database unavailable."}"#.to_owned())
        );
        assert_eq!(
            answer(DbError::Query("relation \"music\" does not exist".into())),
            (500, r#"{"detail":"Database error."}"#.to_owned())
        );
        assert_eq!(
            answer(DbError::PoolTimeout),
            (
                503,
                r#"{"detail":"Database busy: no connection became free in time."}"#.to_owned()
            )
        );
        assert_eq!(
            answer(DbError::QueueFull),
            (
                503,
                r#"{"detail":"Database busy: too many requests waiting for a connection."}"#
                    .to_owned()
            )
        );
        assert_eq!(
            answer(DbError::StreamsBusy),
            (
                503,
                r#"{"detail":"All list streams are busy, try again later."}"#.to_owned()
            )
        );
        let (status, unknown) = answer(DbError::ConnectionLost { write: true });
        assert_eq!(status, 503);
        assert!(unknown.contains("outcome is unknown"));
        assert_eq!(
            answer(DbError::ConnectionLost { write: false }),
            (503, r#"{"detail":"Database connection lost."}"#.to_owned())
        );
    }
}

//! The request's Content-Type: which of DRF's three parsers takes the body,
//! and the parameters (`charset`, `boundary`) Django reads from it.

/// DRF's default parsers, in the order it tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyParser {
    Json,
    Form,
    Multipart,
}

const PARSERS: [(BodyParser, &str, &str); 3] = [
    (BodyParser::Json, "application", "json"),
    (BodyParser::Form, "application", "x-www-form-urlencoded"),
    (BodyParser::Multipart, "multipart", "form-data"),
];

/// A parsed Content-Type value as Django's `parse_header` gives it: the type
/// lowercased and trimmed, parameter names lowercased, quoted values
/// unquoted. `None` when the type or a parameter name is not ASCII (Django
/// cannot decode it either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub main: String,
    pub sub: String,
    pub params: Vec<(String, String)>,
}

impl MediaType {
    pub fn parse(value: &str) -> Option<MediaType> {
        let mut parts = header_params(value).into_iter();
        let full = parts.next().unwrap_or_default();
        if !full.is_ascii() {
            return None;
        }
        let full = full.to_ascii_lowercase();
        let (main, sub) = full.split_once('/').unwrap_or((&full, ""));
        let mut params = Vec::new();
        for part in parts {
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if !name.is_ascii() {
                return None;
            }
            params.push((name.to_ascii_lowercase(), unquote(value.trim())));
        }
        Some(MediaType {
            main: main.to_owned(),
            sub: sub.to_owned(),
            params,
        })
    }

    /// The last value of a parameter (a Python dict keeps the last).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// DRF's `media_type_matches(parser_type, request_type)`: a `*` in the
    /// request's type matches anything, parameters are not compared.
    pub fn parser(&self) -> Option<BodyParser> {
        PARSERS.iter().find_map(|&(parser, main, sub)| {
            let sub_ok = self.sub == "*" || self.sub == sub;
            let main_ok = self.main == "*" || self.main == main;
            (sub_ok && main_ok).then_some(parser)
        })
    }
}

/// Splits at `;` outside double quotes and trims each piece (Django's
/// `_parse_header_params`).
fn header_params(value: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = value;
    loop {
        let mut end = None;
        let mut quotes = 0;
        for (i, b) in rest.bytes().enumerate() {
            match b {
                b'"' => quotes += 1,
                b';' if i > 0 && quotes % 2 == 0 => {
                    end = Some(i);
                    break;
                }
                // A `;` at the very start ends an empty piece.
                b';' if i == 0 => {
                    end = Some(0);
                    break;
                }
                _ => {}
            }
        }
        match end {
            Some(end) => {
                pieces.push(rest[..end].trim());
                rest = &rest[end + 1..];
            }
            None => {
                pieces.push(rest.trim());
                return pieces;
            }
        }
    }
}

fn unquote(value: &str) -> String {
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        value[1..value.len() - 1]
            .replace("\\\\", "\\")
            .replace("\\\"", "\"")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser_for(value: &str) -> Option<BodyParser> {
        MediaType::parse(value).and_then(|m| m.parser())
    }

    #[test]
    fn the_three_parsers() {
        assert_eq!(parser_for("application/json"), Some(BodyParser::Json));
        assert_eq!(
            parser_for("application/x-www-form-urlencoded"),
            Some(BodyParser::Form)
        );
        assert_eq!(
            parser_for("multipart/form-data; boundary=XX"),
            Some(BodyParser::Multipart)
        );
    }

    #[test]
    fn type_is_case_insensitive_and_trimmed_params_ignored() {
        assert_eq!(
            parser_for("APPLICATION/JSON; charset=UTF-8"),
            Some(BodyParser::Json)
        );
        assert_eq!(
            parser_for("  application/json  ;x=1"),
            Some(BodyParser::Json)
        );
        assert_eq!(
            parser_for("application/json;indent=4"),
            Some(BodyParser::Json)
        );
    }

    #[test]
    fn wildcards_in_the_request_type_match_like_drf() {
        assert_eq!(parser_for("*/*"), Some(BodyParser::Json));
        assert_eq!(parser_for("application/*"), Some(BodyParser::Json));
        assert_eq!(parser_for("*/json"), Some(BodyParser::Json));
        assert_eq!(parser_for("*/form-data"), Some(BodyParser::Multipart));
        assert_eq!(parser_for("multipart/*"), Some(BodyParser::Multipart));
        assert_eq!(parser_for("text/*"), None);
        assert_eq!(parser_for("*"), None);
    }

    #[test]
    fn other_types_have_no_parser() {
        for value in [
            "text/plain",
            "",
            "application",
            "application/jsonx",
            "application / json",
            "application/xml",
            "multipart/mixed",
            "text/json",
        ] {
            assert_eq!(parser_for(value), None, "{value}");
        }
        assert_eq!(MediaType::parse("applicatión/json"), None);
    }

    #[test]
    fn params_are_unquoted_and_last_wins() {
        let m = MediaType::parse(
            "multipart/form-data; boundary=\"a;b\"; Charset=latin-1; charset=utf-8",
        )
        .unwrap();
        assert_eq!(m.param("boundary"), Some("a;b"));
        assert_eq!(m.param("charset"), Some("utf-8"));
        assert_eq!(m.param("missing"), None);
        // Django counts quotes without looking at backslashes.
        let m =
            MediaType::parse("multipart/form-data; boundary=\"a;b\\\"c\"; charset=utf-8").unwrap();
        assert_eq!(m.param("boundary"), Some("\"a;b\\\"c\"; charset=utf-8"));
        assert_eq!(m.param("charset"), None);
        let m = MediaType::parse("application/json;charset=\"latin-1\"").unwrap();
        assert_eq!(m.param("charset"), Some("latin-1"));
        let m = MediaType::parse("application/json; novalue; =x").unwrap();
        assert_eq!(m.params, vec![(String::new(), "x".to_owned())]);
    }
}

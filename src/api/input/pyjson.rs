//! A JSON decoder that accepts and refuses exactly what DRF's `JSONParser`
//! (CPython's `json.loads` with DRF's strict constants) does, with the same
//! error texts and positions, e.g. `Expecting ',' delimiter: line 1 column 7
//! (char 6)`.
//!
//! What it keeps is what the API needs: the top-level value's Python type,
//! and for a top-level object its members in order (nested containers are
//! checked but not kept). Strings may hold lone surrogates (`"\ud800"`), as
//! Python strings can; they are recorded so that DRF's surrogate validator
//! can be reproduced.

/// Deepest nesting accepted. CPython raises `RecursionError` (a 500 in DRF)
/// somewhat below 1000 levels (983 measured in a bare DRF view); this
/// decoder answers a parse error instead. Nesting uses heap, not stack.
pub const MAX_DEPTH: usize = 900;

/// CPython 3.11's limit on digits in an integer (`sys.int_info`).
const MAX_INT_DIGITS: usize = 4300;

/// A decoded JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Members in document order, duplicates included; empty when nested.
    Object(Vec<(PyStr, Value)>),
    Array,
    Str(PyStr),
    /// Decimal text as Python's `str(int)` prints it.
    Int(String),
    Float(f64),
    Bool(bool),
    Null,
}

impl Value {
    /// `type(value).__name__` in Python.
    pub fn python_type_name(&self) -> &'static str {
        match self {
            Value::Object(_) => "dict",
            Value::Array => "list",
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Null => "NoneType",
        }
    }
}

/// A Python string: the text, with U+FFFD standing in for lone surrogates,
/// the first of which is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PyStr {
    pub text: String,
    pub first_surrogate: Option<u16>,
}

/// Decodes `doc` as `json.loads` does. The error is `str(exception)`.
pub fn loads(doc: &str) -> Result<Value, String> {
    if doc.starts_with('\u{feff}') {
        return Err(position_message(
            doc,
            "Unexpected UTF-8 BOM (decode using utf-8-sig)",
            0,
        ));
    }
    let scanner = Scanner { s: doc.as_bytes() };
    let start = scanner.skip_ws(0);
    scanner
        .scan_once(start)
        .and_then(|(value, end)| {
            let end = scanner.skip_ws(end);
            if end != doc.len() {
                Err(Failure::At("Extra data", end))
            } else {
                Ok(value)
            }
        })
        .map_err(|failure| match failure {
            Failure::At(msg, pos) => position_message(doc, msg, pos),
            Failure::Plain(msg) => msg,
        })
}

/// Why decoding stopped.
enum Failure {
    /// A `JSONDecodeError` at a byte offset (printed in characters).
    At(&'static str, usize),
    /// Any other `ValueError` (no position).
    Plain(String),
}

type Scan<T> = Result<(T, usize), Failure>;

/// `JSONDecodeError`'s text: `msg: line L column C (char P)`, counted in
/// characters like Python.
fn position_message(doc: &str, msg: &str, byte_pos: usize) -> String {
    let before = &doc[..byte_pos];
    let pos = before.chars().count();
    let line = before.matches('\n').count() + 1;
    let column = match before.rfind('\n') {
        Some(nl) => before[nl + 1..].chars().count() + 1,
        None => pos + 1,
    };
    format!("{msg}: line {line} column {column} (char {pos})")
}

struct Scanner<'a> {
    s: &'a [u8],
}

/// An object or array being read.
enum Container {
    Array,
    Object {
        /// Members are kept for the top-level object only.
        keep: bool,
        members: Vec<(PyStr, Value)>,
        /// The key whose value is being read.
        key: PyStr,
    },
}

impl Scanner<'_> {
    fn skip_ws(&self, mut i: usize) -> usize {
        while i < self.s.len() && matches!(self.s[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.s.get(i).copied()
    }

    fn follows(&self, i: usize, word: &[u8]) -> bool {
        self.s.get(i..i + word.len()) == Some(word)
    }

    /// One value starting exactly at `i` (CPython's `scan_once`, with its
    /// recursion into objects and arrays unrolled onto `stack`, so that
    /// nesting costs heap, not the worker's stack).
    fn scan_once(&self, i: usize) -> Scan<Value> {
        let mut stack: Vec<Container> = Vec::new();
        let mut i = i;
        loop {
            // A value is expected at `i`.
            let (mut value, mut end) = match self.at(i) {
                Some(b'{') => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(too_deep("object"));
                    }
                    let after = self.skip_ws(i + 1);
                    if self.at(after) == Some(b'}') {
                        (Value::Object(Vec::new()), after + 1)
                    } else {
                        let (key, value_start) = self.scan_member_key(after)?;
                        stack.push(Container::Object {
                            keep: stack.is_empty(),
                            members: Vec::new(),
                            key,
                        });
                        i = value_start;
                        continue;
                    }
                }
                Some(b'[') => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(too_deep("array"));
                    }
                    let after = self.skip_ws(i + 1);
                    if self.at(after) == Some(b']') {
                        (Value::Array, after + 1)
                    } else {
                        stack.push(Container::Array);
                        i = after;
                        continue;
                    }
                }
                _ => self.scan_scalar(i)?,
            };
            // A value ended at `end`: close containers until one wants more.
            loop {
                match stack.last_mut() {
                    None => return Ok((value, end)),
                    Some(Container::Array) => {
                        let after = self.skip_ws(end);
                        match self.at(after) {
                            Some(b']') => {
                                stack.pop();
                                value = Value::Array;
                                end = after + 1;
                            }
                            Some(b',') => {
                                i = self.skip_ws(after + 1);
                                break;
                            }
                            _ => return Err(Failure::At("Expecting ',' delimiter", after)),
                        }
                    }
                    Some(Container::Object { keep, members, key }) => {
                        if *keep {
                            members.push((std::mem::take(key), value));
                        }
                        let after = self.skip_ws(end);
                        match self.at(after) {
                            Some(b'}') => {
                                let members = match stack.pop() {
                                    Some(Container::Object { members, .. }) => members,
                                    _ => Vec::new(),
                                };
                                value = Value::Object(members);
                                end = after + 1;
                            }
                            Some(b',') => {
                                let (next_key, value_start) =
                                    self.scan_member_key(self.skip_ws(after + 1))?;
                                *key = next_key;
                                i = value_start;
                                break;
                            }
                            _ => return Err(Failure::At("Expecting ',' delimiter", after)),
                        }
                    }
                }
            }
        }
    }

    /// `"key" :` at `i`; returns the key and where its value starts.
    fn scan_member_key(&self, i: usize) -> Scan<PyStr> {
        if self.at(i) != Some(b'"') {
            return Err(Failure::At(
                "Expecting property name enclosed in double quotes",
                i,
            ));
        }
        let (key, after_key) = self.scan_string(i + 1)?;
        let colon = self.skip_ws(after_key);
        if self.at(colon) != Some(b':') {
            return Err(Failure::At("Expecting ':' delimiter", colon));
        }
        Ok((key, self.skip_ws(colon + 1)))
    }

    /// A string, literal or number at `i`.
    fn scan_scalar(&self, i: usize) -> Scan<Value> {
        let len = self.s.len();
        let Some(c) = self.at(i) else {
            return Err(Failure::At("Expecting value", i));
        };
        match c {
            b'"' => {
                let (text, end) = self.scan_string(i + 1)?;
                return Ok((Value::Str(text), end));
            }
            b'n' if i + 3 < len && self.follows(i + 1, b"ull") => return Ok((Value::Null, i + 4)),
            b't' if i + 3 < len && self.follows(i + 1, b"rue") => {
                return Ok((Value::Bool(true), i + 4))
            }
            b'f' if i + 4 < len && self.follows(i + 1, b"alse") => {
                return Ok((Value::Bool(false), i + 5))
            }
            b'N' if i + 2 < len && self.follows(i + 1, b"aN") => return Err(constant("NaN")),
            b'I' if i + 7 < len && self.follows(i + 1, b"nfinity") => {
                return Err(constant("Infinity"))
            }
            b'-' if i + 8 < len && self.follows(i + 1, b"Infinity") => {
                return Err(constant("-Infinity"))
            }
            _ => {}
        }
        self.scan_number(i)
    }

    /// The string whose content starts at `start` (just after the quote),
    /// as CPython's `scanstring` (strict: raw control characters refused).
    fn scan_string(&self, start: usize) -> Scan<PyStr> {
        let s = self.s;
        let len = s.len();
        let begin = start - 1;
        let mut out = PyStr::default();
        let mut end = start;
        loop {
            let mut next = end;
            while next < len && s[next] != b'"' && s[next] != b'\\' {
                if s[next] <= 0x1f {
                    return Err(Failure::At("Invalid control character at", next));
                }
                next += 1;
            }
            if next >= len {
                return Err(Failure::At("Unterminated string starting at", begin));
            }
            // Both bounds are on ASCII bytes, so this is a valid slice.
            out.text
                .push_str(std::str::from_utf8(&s[end..next]).unwrap_or(""));
            if s[next] == b'"' {
                return Ok((out, next + 1));
            }
            // A backslash.
            next += 1;
            if next == len {
                return Err(Failure::At("Unterminated string starting at", begin));
            }
            if s[next] != b'u' {
                let unescaped = match s[next] {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    _ => return Err(Failure::At("Invalid \\escape", next - 1)),
                };
                out.text.push(unescaped);
                end = next + 1;
                continue;
            }
            // \uXXXX, possibly the first half of a surrogate pair.
            let u = next;
            end = u + 5;
            if end >= len {
                return Err(Failure::At("Invalid \\uXXXX escape", u));
            }
            let mut code = hex4(&s[u + 1..end]).ok_or(Failure::At("Invalid \\uXXXX escape", u))?;
            if (0xd800..=0xdbff).contains(&code)
                && end + 6 < len
                && s[end] == b'\\'
                && s[end + 1] == b'u'
            {
                let low = hex4(&s[end + 2..end + 6])
                    .ok_or(Failure::At("Invalid \\uXXXX escape", end + 1))?;
                if (0xdc00..=0xdfff).contains(&low) {
                    code = 0x10000 + ((code - 0xd800) << 10 | (low - 0xdc00));
                    end += 6;
                }
            }
            match char::from_u32(code) {
                Some(c) => out.text.push(c),
                None => {
                    // A lone surrogate: Python keeps it, Rust cannot.
                    out.first_surrogate.get_or_insert(code as u16);
                    out.text.push('\u{fffd}');
                }
            }
        }
    }

    /// A number at `start` (CPython's `_match_number_unicode`).
    fn scan_number(&self, start: usize) -> Scan<Value> {
        let s = self.s;
        let len = s.len();
        let digit = |i: usize| i < len && s[i].is_ascii_digit();
        let mut i = start;
        if s[i] == b'-' {
            i += 1;
            if i >= len {
                return Err(Failure::At("Expecting value", start));
            }
        }
        match s[i] {
            b'1'..=b'9' => {
                i += 1;
                while digit(i) {
                    i += 1;
                }
            }
            b'0' => i += 1,
            _ => return Err(Failure::At("Expecting value", start)),
        }
        let mut is_float = false;
        if i + 1 < len && s[i] == b'.' && s[i + 1].is_ascii_digit() {
            is_float = true;
            i += 2;
            while digit(i) {
                i += 1;
            }
        }
        if i + 1 < len && (s[i] == b'e' || s[i] == b'E') {
            let e_start = i;
            i += 1;
            if i + 1 < len && (s[i] == b'-' || s[i] == b'+') {
                i += 1;
            }
            while digit(i) {
                i += 1;
            }
            if s[i - 1].is_ascii_digit() {
                is_float = true;
            } else {
                i = e_start;
            }
        }
        // ASCII only, so a valid slice.
        let text = std::str::from_utf8(&s[start..i]).unwrap_or("0");
        if is_float {
            let value = text.parse::<f64>().unwrap_or(f64::NAN);
            return Ok((Value::Float(value), i));
        }
        let digits = text.trim_start_matches('-');
        if digits.len() > MAX_INT_DIGITS {
            return Err(Failure::Plain(format!(
                "Exceeds the limit ({MAX_INT_DIGITS} digits) for integer string conversion: \
                 value has {} digits; use sys.set_int_max_str_digits() to increase the limit",
                digits.len()
            )));
        }
        let text = if digits == "0" { "0" } else { text };
        Ok((Value::Int(text.to_owned()), i))
    }
}

fn hex4(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |acc, &b| {
        char::from(b).to_digit(16).map(|d| acc << 4 | d)
    })
}

/// DRF's `strict_constant`: NaN and the infinities are refused.
fn constant(name: &str) -> Failure {
    Failure::Plain(format!(
        "Out of range float values are not JSON compliant: '{name}'"
    ))
}

fn too_deep(kind: &str) -> Failure {
    Failure::Plain(format!(
        "maximum recursion depth exceeded while decoding a JSON {kind} from a unicode string"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(doc: &str) -> String {
        loads(doc).expect_err(doc)
    }

    fn ok(doc: &str) -> Value {
        loads(doc).unwrap_or_else(|e| panic!("{doc}: {e}"))
    }

    fn text(value: &Value) -> &str {
        match value {
            Value::Str(s) => &s.text,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn members(value: Value) -> Vec<(String, Value)> {
        match value {
            Value::Object(m) => m.into_iter().map(|(k, v)| (k.text, v)).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    /// Expected texts were printed by CPython 3.11's `json.loads`.
    #[test]
    fn error_texts_and_positions_match_cpython() {
        let cases = [
            ("", "Expecting value: line 1 column 1 (char 0)"),
            (" ", "Expecting value: line 1 column 2 (char 1)"),
            ("-", "Expecting value: line 1 column 1 (char 0)"),
            ("-a", "Expecting value: line 1 column 1 (char 0)"),
            ("tru", "Expecting value: line 1 column 1 (char 0)"),
            ("nul", "Expecting value: line 1 column 1 (char 0)"),
            ("nan", "Expecting value: line 1 column 1 (char 0)"),
            ("01", "Extra data: line 1 column 2 (char 1)"),
            ("1.", "Extra data: line 1 column 2 (char 1)"),
            ("1.e5", "Extra data: line 1 column 2 (char 1)"),
            ("1e", "Extra data: line 1 column 2 (char 1)"),
            ("1e+", "Extra data: line 1 column 2 (char 1)"),
            ("{} {}", "Extra data: line 1 column 4 (char 3)"),
            ("[", "Expecting value: line 1 column 2 (char 1)"),
            ("[1", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
            ("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"),
            ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
            (
                "{",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            (
                "{1:2}",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            (
                "{\"a\":1,}",
                "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)",
            ),
            (
                "{\"a\"",
                "Expecting ':' delimiter: line 1 column 5 (char 4)",
            ),
            (
                "{\"a\" 1}",
                "Expecting ':' delimiter: line 1 column 6 (char 5)",
            ),
            (
                "{\n \"a\" 1}",
                "Expecting ':' delimiter: line 2 column 6 (char 7)",
            ),
            ("{\"a\":", "Expecting value: line 1 column 6 (char 5)"),
            ("{\"a\":}", "Expecting value: line 1 column 6 (char 5)"),
            (
                "{\"a\":1",
                "Expecting ',' delimiter: line 1 column 7 (char 6)",
            ),
            (
                "\"abc",
                "Unterminated string starting at: line 1 column 1 (char 0)",
            ),
            (
                "\"\\",
                "Unterminated string starting at: line 1 column 1 (char 0)",
            ),
            ("\"\\x\"", "Invalid \\escape: line 1 column 2 (char 1)"),
            (
                "\"a\u{1}b\"",
                "Invalid control character at: line 1 column 3 (char 2)",
            ),
            (
                "\"\\u12\"",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                "\"\\u123\"",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                "\"\\u1234",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                "\"\\u 123\"",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                "\"\\ud800\\u12\"",
                "Invalid \\uXXXX escape: line 1 column 9 (char 8)",
            ),
            (
                "\"\\ud800\\uzzzz\"",
                "Invalid \\uXXXX escape: line 1 column 9 (char 8)",
            ),
            (
                "\"\\ud800\\u",
                "Invalid \\uXXXX escape: line 1 column 9 (char 8)",
            ),
            (
                "\"\\ud800\\udc0",
                "Invalid \\uXXXX escape: line 1 column 9 (char 8)",
            ),
            (
                "\u{feff}1",
                "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
            ),
            (
                "NaN",
                "Out of range float values are not JSON compliant: 'NaN'",
            ),
            (
                "Infinity",
                "Out of range float values are not JSON compliant: 'Infinity'",
            ),
            (
                "-Infinity",
                "Out of range float values are not JSON compliant: '-Infinity'",
            ),
            (
                "{\"song\":NaN}",
                "Out of range float values are not JSON compliant: 'NaN'",
            ),
        ];
        for (doc, expected) in cases {
            assert_eq!(err(doc), expected, "{doc:?}");
        }
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            err("{\"周杰倫\" 1}"),
            "Expecting ':' delimiter: line 1 column 8 (char 7)"
        );
        assert_eq!(
            err("[\"é\",\n \"周\"\n x]"),
            "Expecting ',' delimiter: line 3 column 2 (char 12)"
        );
        assert_eq!(err("[\n\n"), "Expecting value: line 3 column 1 (char 3)");
    }

    #[test]
    fn int_digit_limit() {
        assert!(matches!(ok(&"1".repeat(4300)), Value::Int(_)));
        assert!(matches!(
            ok(&format!("-{}", "1".repeat(4300))),
            Value::Int(_)
        ));
        assert_eq!(
            err(&"1".repeat(4301)),
            "Exceeds the limit (4300 digits) for integer string conversion: value has 4301 digits; \
             use sys.set_int_max_str_digits() to increase the limit"
        );
    }

    #[test]
    fn nesting_limit() {
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(ok(&deep_ok), Value::Array);
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            err(&too_deep),
            "maximum recursion depth exceeded while decoding a JSON array from a unicode string"
        );
        let objects = format!(
            "{}1{}",
            "{\"a\":".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(
            err(&objects),
            "maximum recursion depth exceeded while decoding a JSON object from a unicode string"
        );
    }

    #[test]
    fn scalars_and_type_names() {
        let cases = [
            ("{}", "dict"),
            ("[1, [2], {}]", "list"),
            ("\"x\"", "str"),
            ("1", "int"),
            ("-0", "int"),
            ("1.5", "float"),
            ("1e400", "float"),
            ("true", "bool"),
            ("false", "bool"),
            ("null", "NoneType"),
        ];
        for (doc, name) in cases {
            assert_eq!(ok(doc).python_type_name(), name, "{doc}");
        }
    }

    #[test]
    fn numbers_keep_python_values() {
        assert_eq!(
            ok("12345678901234567890"),
            Value::Int("12345678901234567890".into())
        );
        assert_eq!(ok("-0"), Value::Int("0".into()));
        assert_eq!(ok("-12"), Value::Int("-12".into()));
        assert_eq!(ok(" 0 "), Value::Int("0".into()));
        assert_eq!(ok("2.5E-3"), Value::Float(0.0025));
        assert_eq!(ok("1E5"), Value::Float(100000.0));
        assert_eq!(ok("1e400"), Value::Float(f64::INFINITY));
        match ok("-0.0") {
            Value::Float(f) => assert!(f == 0.0 && f.is_sign_negative()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strings_unescape_like_python() {
        assert_eq!(
            text(&ok(r#""a\"b\\c\/d\b\f\n\r\t""#)),
            "a\"b\\c/d\u{8}\u{c}\n\r\t"
        );
        assert_eq!(text(&ok(r#""\u00e9\u5468""#)), "é周");
        assert_eq!(text(&ok(r#""\uD834\uDD1E""#)), "𝄞");
        assert_eq!(text(&ok(r#""\u0000""#)), "\u{0}");
        assert_eq!(text(&ok("\"周杰倫 \u{7f}\"")), "周杰倫 \u{7f}");
    }

    #[test]
    fn lone_surrogates_are_recorded() {
        let cases = [
            (r#""\ud800""#, "\u{fffd}", Some(0xd800)),
            (r#""\ud800x""#, "\u{fffd}x", Some(0xd800)),
            (r#""\ud800\n""#, "\u{fffd}\n", Some(0xd800)),
            (r#""a\udc00""#, "a\u{fffd}", Some(0xdc00)),
            (r#""\ud800\ud800""#, "\u{fffd}\u{fffd}", Some(0xd800)),
            (r#""\udc00\ud800""#, "\u{fffd}\u{fffd}", Some(0xdc00)),
            (r#""ok""#, "ok", None),
        ];
        for (doc, expected, surrogate) in cases {
            match ok(doc) {
                Value::Str(s) => {
                    assert_eq!(s.text, expected, "{doc}");
                    assert_eq!(s.first_surrogate, surrogate, "{doc}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn object_members_in_order_with_duplicates() {
        let m = members(ok(r#"{"song":"a", "song" : "b","x":{"y":1},"n":null}"#));
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["song", "song", "x", "n"]);
        assert_eq!(text(&m[1].1), "b");
        // Nested containers are checked but not kept.
        assert_eq!(m[2].1, Value::Object(vec![]));
        assert_eq!(m[3].1, Value::Null);
    }

    #[test]
    fn whitespace_is_json_whitespace_only() {
        assert!(loads(" \t\r\n{}\n").is_ok());
        assert_eq!(err("\u{a0}{}"), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(err("{}\u{c}"), "Extra data: line 1 column 3 (char 2)");
    }
}

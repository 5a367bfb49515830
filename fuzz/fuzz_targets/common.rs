//! Checks shared by the body targets (json_input, form_input).
#![allow(dead_code)]

use ngx_music::api::{parse_music_input, ApiError, Mode, MusicInput};

pub fn mode(selector: u8) -> Mode {
    match selector % 3 {
        0 => Mode::Create,
        1 => Mode::Replace,
        _ => Mode::Partial,
    }
}

/// Python's `str.isspace()` for one character (what `str.strip()` removes).
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// An error answer is 400 or 415 with a JSON object body.
pub fn check_error(e: &ApiError) {
    assert!(
        matches!(e.status, 400 | 415),
        "status {} for {:?}",
        e.status,
        e.body
    );
    let v: serde_json::Value = serde_json::from_str(&e.body)
        .unwrap_or_else(|err| panic!("error body is not JSON ({err}): {:?}", e.body));
    assert!(v.is_object(), "error body is not an object: {:?}", e.body);
}

pub fn is_json_parse_error(r: &Result<MusicInput, ApiError>) -> bool {
    matches!(r, Err(e) if e.status == 400 && e.body.starts_with("{\"detail\":\"JSON parse error - "))
}

/// What every answer of `parse_music_input` must satisfy, and how the three modes relate:
/// POST and PUT validate alike; PATCH only drops "required", so anything POST accepts PATCH
/// accepts with the same values, and whatever PATCH refuses POST refuses too.
pub fn parse_checked(
    content_type: Option<&[u8]>,
    body: &[u8],
) -> [Result<MusicInput, ApiError>; 3] {
    let results = [Mode::Create, Mode::Replace, Mode::Partial]
        .map(|mode| parse_music_input(content_type, body, mode));
    for (r, mode) in results
        .iter()
        .zip([Mode::Create, Mode::Replace, Mode::Partial])
    {
        match r {
            Ok(input) => {
                if mode != Mode::Partial {
                    assert!(
                        input.song.is_some() && input.singer.is_some(),
                        "{mode:?}: {input:?}"
                    );
                }
                for value in [&input.song, &input.singer].into_iter().flatten() {
                    assert!(!value.is_empty(), "blank value accepted");
                    assert!(!value.starts_with(is_python_space), "untrimmed {value:?}");
                    assert!(!value.ends_with(is_python_space), "untrimmed {value:?}");
                    assert!(!value.contains('\0'), "NUL accepted: {value:?}");
                }
            }
            Err(e) => check_error(e),
        }
    }
    let [create, replace, partial] = &results;
    assert_eq!(create, replace, "POST and PUT differ");
    match (create, partial) {
        (Ok(c), p) => assert_eq!(Ok(c), p.as_ref(), "PATCH differs from an accepted POST"),
        (Err(_), Err(_)) => {}
        (Err(c), Ok(p)) => assert!(
            p.song.is_none() || p.singer.is_none(),
            "PATCH accepts both fields {p:?} but POST says {c:?}"
        ),
    }
    // An empty body is no data, whatever the type.
    if body.is_empty() {
        assert_eq!(partial, &Ok(MusicInput::default()));
    }
    results
}

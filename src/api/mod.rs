//! The Music API itself, without nginx or a database: which route a URL
//! names, what a body says, and the exact bytes DRF would answer.
//!
//! - [`mod@route`]: URL and method to [`Resource`] and [`Action`], `Allow`.
//! - [`input`]: request bodies (JSON, form, multipart) to [`MusicInput`].
//! - [`json`]: items, lists, the root and the detail action as JSON.
//! - [`options`]: OPTIONS metadata bodies.
//! - [`cors`]: CORS headers and preflights.
//! - [`error`]: every error answer ([`ApiError`]).
//! - [`charset`], [`urlencoded`]: text decoding shared by the above.

pub mod charset;
pub mod cors;
pub mod error;
pub mod input;
pub mod json;
pub mod options;
pub mod route;
pub mod urlencoded;

pub use cors::{vary_header, AllowedOrigins, CorsHeaders, CorsPolicy};
pub use error::ApiError;
pub use input::{parse_music_input, Mode, MusicInput};
pub use json::{
    root_body, write_detail, write_item, write_json_string, write_string_array_item, MusicRow,
    CONTENT_TYPE, LIST_CLOSE, LIST_OPEN, LIST_SEPARATOR,
};
pub use options::body as options_body;
pub use route::{action, allow, needs_auth, route, Action, Pk, Resource, RouteOutcome};

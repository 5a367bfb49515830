//! The Music API itself, without nginx or a database: which route a URL
//! names, what a body says, and the exact bytes DRF would answer.
//!
//! - [`mod@route`]: URL and method to [`Resource`] and [`Action`], `Allow`, the root's body.
//! - [`input`]: request bodies (JSON, form, multipart) to [`MusicInput`].
//! - [`json`]: items, lists and the detail action as JSON ([`json_string`]: one text).
//! - [`options`]: OPTIONS metadata bodies.
//! - [`cors`]: CORS headers and preflights.
//! - [`error`]: every error answer ([`ApiError`]).
//! - [`charset`], [`urlencoded`]: text decoding shared by the above.

pub mod charset;
pub mod cors;
pub mod error;
pub mod input;
pub mod json;
pub mod json_string;
pub mod options;
pub mod route;
pub mod urlencoded;

pub use cors::{vary_header, AllowedOrigins, CorsPolicy};
pub use error::ApiError;
pub use input::{parse_music_input, Mode, MusicInput};
pub use json::{write_detail, write_item};
pub use json_string::write_json_string;
pub use options::body as options_body;
pub use route::{action, allow, needs_auth, root_body, route, Action, Resource, RouteOutcome};

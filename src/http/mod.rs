//! A request and a response as the API layer sees them: what was asked ([`RequestInfo`],
//! copied out of nginx by `ffi::request`) and the answer before the FFI layer hands it to nginx.

mod request;

use std::borrow::Cow;

pub use request::RequestInfo;

/// The body of a [`Response`].
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Body {
    #[default]
    Empty,
    Bytes(Vec<u8>),
}

/// Status, content type, extra headers and body of one answer.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<&'static str>,
    /// Values are borrowed when fixed (`Vary: Accept`, `Allow`): no allocation per answer.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Body,
}

pub const JSON: &str = "application/json";

impl Response {
    /// A JSON answer with `status` and a compact JSON `body`.
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: Some(JSON),
            headers: Vec::new(),
            body: Body::Bytes(body),
        }
    }

    /// An answer without a body and without a Content-Type (204, a CORS preflight, ...).
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            ..Response::default()
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn add_header(&mut self, name: &'static str, value: impl Into<Cow<'static, str>>) {
        self.headers.push((name, value.into()));
    }
}

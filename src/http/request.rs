//! What the API needs to know about a request, copied out of nginx's structures once, in the
//! content handler (`ffi::request` fills it).

use std::borrow::Cow;

#[derive(Debug, Default)]
pub struct RequestInfo {
    /// Borrowed for the methods the API knows: no allocation for them.
    pub method: Cow<'static, str>,
    /// `r->uri`: the decoded, normalised path.
    pub uri: String,
    /// `r->args`: the raw query string without `?`.
    pub args: String,
    /// The Host header as sent (with its port), else the server name.
    pub host: String,
    pub https: bool,
    pub authorization: Option<Vec<u8>>,
    pub content_type: Option<Vec<u8>>,
    pub origin: Option<String>,
    pub cors_request_method: Option<String>,
    /// The user name an access-phase module verified in this request (`ffi::access`); set by
    /// the handler for `music_auth remote_user`.
    pub remote_user: Option<String>,
    pub has_body: bool,
    /// Every `Cookie` header, joined with `; ` (as a WSGI server hands them to Django).
    pub cookie: Option<String>,
    pub referer: Option<String>,
    /// `X-CSRFToken` (Django's `CSRF_HEADER_NAME`).
    pub csrf_token: Option<String>,
}

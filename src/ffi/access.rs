//! Whether an access-phase module verified the request's user name (`music_auth remote_user`).
//!
//! nginx parses the user name out of `Authorization: Basic` whenever anything evaluates
//! `$remote_user` (a `set`, a log format, a header), whether or not a password was checked, so
//! `r->headers_in.user` alone proves nothing. A name is verified only when, at the location that
//! serves the request, an access-phase module that checks it is in effect, and every access
//! check must pass (`satisfy all`): `auth_basic` with a user file and a realm other than `off`,
//! or `auth_request`. A subrequest skips the access phase, so nothing in it is verified.
//!
//! The two modules keep their location configuration in structs private to their C files;
//! their layouts are mirrored below. The modules are looked up by name in the cycle, so an nginx
//! built without `auth_request` works too.

use std::ffi::{c_void, CStr};

use nginx_sys::{
    ngx_conf_t, ngx_http_complex_value_t, ngx_http_conf_ctx_t, ngx_http_core_loc_conf_t,
    ngx_http_request_t, ngx_module_t, ngx_str_t, ngx_uint_t, NGX_HTTP_SATISFY_ALL, NGX_OK,
};

/// `ngx_http_auth_basic_loc_conf_t` (src/http/modules/ngx_http_auth_basic_module.c, unchanged
/// from nginx 1.11 to 1.28): after merge each pointer is a complex value or null (not set).
#[repr(C)]
struct AuthBasicLocConf {
    realm: *mut ngx_http_complex_value_t,
    user_file: *mut ngx_http_complex_value_t,
}

/// `ngx_http_auth_request_conf_t` (src/http/modules/ngx_http_auth_request_module.c, unchanged
/// since the module joined nginx in 1.5.4): after merge an empty `uri` means `auth_request off`.
#[repr(C)]
struct AuthRequestConf {
    uri: ngx_str_t,
    vars: *mut c_void,
}

/// Where the verifying modules keep their location configuration (`ctx_index`), for the
/// modules this nginx has.
#[derive(Clone, Copy, Debug, Default)]
pub struct Verifiers {
    auth_basic: Option<usize>,
    auth_request: Option<usize>,
}

/// Why a location cannot trust `$remote_user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unverified {
    /// Neither `auth_basic` (with a user file) nor `auth_request` is in effect.
    NoVerifier,
    /// `satisfy any`: another access rule (`allow`) can let the request in unchecked.
    SatisfyAny,
}

/// Reads `cf->cycle`'s module list for the verifying modules.
///
/// # Safety
/// `cf` must be the configuration being read, with its cycle's module list set.
unsafe fn find_verifiers(cf: *mut ngx_conf_t) -> Verifiers {
    let mut found = Verifiers::default();
    // SAFETY: while the configuration is read, `cycle->modules` is an array of
    // `modules_n` module pointers (null-terminated), each with a NUL-terminated name.
    unsafe {
        let cycle = &*(*cf).cycle;
        let modules = std::slice::from_raw_parts(cycle.modules, cycle.modules_n);
        for &m in modules {
            let Some(m) = m.as_ref() else { break };
            if m.name.is_null() {
                continue;
            }
            match CStr::from_ptr(m.name).to_bytes() {
                b"ngx_http_auth_basic_module" => found.auth_basic = Some(m.ctx_index),
                b"ngx_http_auth_request_module" => found.auth_request = Some(m.ctx_index),
                _ => {}
            }
        }
    }
    found
}

fn core_module() -> &'static ngx_module_t {
    // SAFETY: nginx's own static module; its `ctx_index` is set before any configuration is
    // merged and only read afterwards.
    unsafe { &*std::ptr::addr_of!(nginx_sys::ngx_http_core_module) }
}

/// The merged location configuration `loc_conf[index]` of a location, as `T`.
///
/// # Safety
/// `loc_conf` must be a location's configuration array and `index` the `ctx_index` of the
/// module whose configuration is a `T`.
unsafe fn conf_at<'a, T>(loc_conf: *mut *mut c_void, index: usize) -> Option<&'a T> {
    // SAFETY: the caller guarantees the array and the type of its element.
    unsafe { (*loc_conf.add(index) as *const T).as_ref() }
}

/// A merged pointer setting: None when not set (null), and also for nginx's "unset" marker,
/// which only an unmerged configuration holds.
///
/// # Safety
/// `p` must be null, `NGX_CONF_UNSET_PTR` or a valid pointer.
unsafe fn merged<'a, T>(p: *mut T) -> Option<&'a T> {
    if p as usize == usize::MAX {
        return None;
    }
    // SAFETY: neither the marker nor (checked by `as_ref`) null: valid (caller).
    unsafe { p.as_ref() }
}

/// A complex value that is the constant `off`.
fn is_constant_off(cv: &ngx_http_complex_value_t) -> bool {
    // SAFETY: a complex value's `value` is its text (for a constant, the whole value).
    let text = unsafe { ngx_str_bytes(&cv.value) };
    cv.lengths.is_null() && text == b"off"
}

/// # Safety
/// `s` must point at `len` initialised bytes (or have a zero length).
unsafe fn ngx_str_bytes(s: &ngx_str_t) -> &[u8] {
    if s.len == 0 || s.data.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(s.data, s.len) }
    }
}

/// At merge of a `music_api` location with `music_auth remote_user`: can a request there carry
/// a verified user name? The modules' own merges have run by then: they are nginx's static
/// modules, merged in module order before this dynamic module.
///
/// # Safety
/// `cf` must be the configuration being merged, `cf->ctx` the location's context.
pub unsafe fn check_location(cf: *mut ngx_conf_t) -> Result<Verifiers, Unverified> {
    // SAFETY: the caller guarantees `cf`; during a location's merge `cf->ctx` is an
    // `ngx_http_conf_ctx_t` whose `loc_conf` is that location's array.
    unsafe {
        let verifiers = find_verifiers(cf);
        let loc_conf = (*((*cf).ctx as *mut ngx_http_conf_ctx_t)).loc_conf;
        let clcf = conf_at::<ngx_http_core_loc_conf_t>(loc_conf, core_module().ctx_index);
        if clcf.is_some_and(|c| c.satisfy != NGX_HTTP_SATISFY_ALL as ngx_uint_t) {
            return Err(Unverified::SatisfyAny);
        }
        let basic = verifiers
            .auth_basic
            .and_then(|i| conf_at::<AuthBasicLocConf>(loc_conf, i))
            .is_some_and(|c| match (merged(c.realm), merged(c.user_file)) {
                (Some(realm), Some(_)) => !is_constant_off(realm),
                _ => false,
            });
        let request = verifiers
            .auth_request
            .and_then(|i| conf_at::<AuthRequestConf>(loc_conf, i))
            .is_some_and(|c| c.uri.len > 0);
        if basic || request {
            Ok(verifiers)
        } else {
            Err(Unverified::NoVerifier)
        }
    }
}

/// The user name an access-phase module verified in this very request, or None: a
/// subrequest, `satisfy any`, no verifying module in effect (an `auth_basic` realm that is
/// `off` at run time included), or no (UTF-8) user name in the header.
///
/// # Safety
/// `r` must be a valid request in its content phase.
pub unsafe fn verified_user(r: *mut ngx_http_request_t, verifiers: &Verifiers) -> Option<String> {
    // SAFETY: the caller guarantees `r`; `r->loc_conf` is the configuration the access phase
    // used (the location's, or its `limit_except` block's).
    unsafe {
        if (*r).main != r {
            return None;
        }
        let loc_conf = (*r).loc_conf;
        let clcf = conf_at::<ngx_http_core_loc_conf_t>(loc_conf, core_module().ctx_index)?;
        if clcf.satisfy != NGX_HTTP_SATISFY_ALL as ngx_uint_t {
            return None;
        }
        let basic = verifiers
            .auth_basic
            .and_then(|i| conf_at::<AuthBasicLocConf>(loc_conf, i))
            .is_some_and(|c| !c.user_file.is_null() && realm_is_on(r, c.realm));
        let request = verifiers
            .auth_request
            .and_then(|i| conf_at::<AuthRequestConf>(loc_conf, i))
            .is_some_and(|c| c.uri.len > 0);
        if !(basic || request) {
            return None;
        }
        // Already parsed when auth_basic ran; auth_request leaves it to `$remote_user`.
        if nginx_sys::ngx_http_auth_basic_user(r) != NGX_OK as nginx_sys::ngx_int_t {
            return None;
        }
        let name = ngx_str_bytes(&(*r).headers_in.user);
        if name.is_empty() {
            return None;
        }
        String::from_utf8(name.to_vec()).ok()
    }
}

/// auth_basic's own test: its handler declines (checks nothing) when the realm evaluates to
/// `off`.
///
/// # Safety
/// `r` must be a valid request; `realm` null or a complex value of its configuration.
unsafe fn realm_is_on(r: *mut ngx_http_request_t, realm: *mut ngx_http_complex_value_t) -> bool {
    if realm.is_null() {
        return false;
    }
    let mut value = ngx_str_t {
        len: 0,
        data: std::ptr::null_mut(),
    };
    // SAFETY: `r` and `realm` are valid (caller); the value is allocated in the request pool.
    unsafe {
        if nginx_sys::ngx_http_complex_value(r, realm, &mut value) != NGX_OK as nginx_sys::ngx_int_t
        {
            return false;
        }
        ngx_str_bytes(&value) != b"off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complex(text: &'static [u8], lengths: *mut c_void) -> ngx_http_complex_value_t {
        // SAFETY: an all-zero complex value is valid (null pointers, empty text).
        let mut cv: ngx_http_complex_value_t = unsafe { std::mem::zeroed() };
        cv.value = ngx_str_t {
            len: text.len(),
            data: text.as_ptr() as *mut u8,
        };
        cv.lengths = lengths;
        cv
    }

    #[test]
    fn only_the_constant_off_switches_auth_basic_off_at_configuration_time() {
        assert!(is_constant_off(&complex(b"off", std::ptr::null_mut())));
        assert!(!is_constant_off(&complex(b"music", std::ptr::null_mut())));
        assert!(!is_constant_off(&complex(b"offline", std::ptr::null_mut())));
        // `auth_basic $realm`: decided per request
        let mut code = 0usize;
        let lengths = &mut code as *mut usize as *mut c_void;
        assert!(!is_constant_off(&complex(b"$realm", lengths)));
    }

    #[test]
    fn an_unmerged_pointer_counts_as_not_set() {
        let mut x = 1u8;
        // SAFETY: null, the marker, and a valid pointer.
        unsafe {
            assert!(merged::<u8>(std::ptr::null_mut()).is_none());
            assert!(merged::<u8>(usize::MAX as *mut u8).is_none());
            assert_eq!(merged(&mut x as *mut u8), Some(&1));
        }
    }
}

//! ngx-music: the Music REST API (a Django REST Framework app's routes) served by an nginx
//! content handler that talks to PostgreSQL from the worker's own event loop.
//!
//! This file lists the crate's modules and the `.so`'s nginx modules: the API
//! ([`module`]) and the PV/UV counters ([`stats::module`]). The README's "Layout" section
//! shows a request's path through the files.

pub mod api;
pub mod auth;
pub mod auth_listen;
pub mod authenticate;
pub mod authenticate_session;
pub mod conf;
pub mod db;
pub mod ffi;
pub mod handler;
pub mod http;
pub mod metrics;
pub mod module;
pub mod service;
pub mod stats;
pub mod time;

/// The Rust allocations of the module (the nginx core keeps its pools and glibc's malloc)
/// with the `mimalloc` feature: see `ffi::allocator`, and Cargo.toml for why the memory checks
/// build without it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: ffi::allocator::MiMalloc = ffi::allocator::MiMalloc;

// The `.so`'s module list, as nginx's `objs/ngx_modules.c` would declare it: two nginx
// modules, the API and the PV/UV counters. Written out because ngx 0.5's `ngx_modules!` macro
// counts only one module (its `count!` rejects the trailing comma it generates for two).
#[cfg(not(any(test, fuzzing)))]
mod module_list {
    use std::ffi::c_char;
    use std::ptr;

    use nginx_sys::ngx_module_t;

    use crate::metrics::module::ngx_http_music_metrics_module;
    use crate::module::ngx_http_music_module;
    use crate::stats::module::ngx_http_music_stats_module;

    #[no_mangle]
    #[allow(non_upper_case_globals)]
    pub static mut ngx_modules: [*const ngx_module_t; 4] = [
        ptr::addr_of!(ngx_http_music_module),
        ptr::addr_of!(ngx_http_music_stats_module),
        ptr::addr_of!(ngx_http_music_metrics_module),
        ptr::null(),
    ];

    #[no_mangle]
    #[allow(non_upper_case_globals)]
    pub static mut ngx_module_names: [*const c_char; 4] = [
        c"ngx_http_music_module".as_ptr(),
        c"ngx_http_music_stats_module".as_ptr(),
        c"ngx_http_music_metrics_module".as_ptr(),
        ptr::null(),
    ];

    #[no_mangle]
    #[allow(non_upper_case_globals)]
    pub static mut ngx_module_order: [*const c_char; 1] = [ptr::null()];
}

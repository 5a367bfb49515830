//! The unsafe boundary with nginx, in one place: the request (what was asked, how to answer),
//! the database socket on nginx's event loop, the non-cancelable deadline timer, and the
//! thread-pool offload. Everything outside this folder (and `lib.rs`, `conf/directives.rs`,
//! `handler.rs`, which hand raw pointers to it) is safe Rust.

pub mod executor;
pub mod peer;
pub mod request;
pub mod thread_task;
pub mod timer;

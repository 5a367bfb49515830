//! The unsafe boundary with nginx, in one place: the request (what was asked, how to answer),
//! the database socket on nginx's event loop, whether an access-phase module verified the user,
//! the debug log of the service layer's decisions, the non-cancelable deadline timer, the
//! thread-pool offload, process-wide facts (the cycle's log, thread priority), and with the
//! `mimalloc` feature the module's allocator. Outside
//! this folder, `unsafe` appears only where nginx calls in or owns the memory: the module and
//! directive tables and hooks (`module.rs`, `lib.rs`, `conf/directives.rs`), the request glue
//! (`handler.rs`), and the statistics' shared-memory zone and its handlers (`stats/`);
//! every block there too says why it is sound (`// SAFETY:`).

pub mod access;
#[cfg(feature = "mimalloc")]
pub mod allocator;
pub mod debug_log;
pub mod executor;
pub mod peer;
pub mod process;
pub mod request;
pub mod resolver;
pub mod thread_task;
pub mod timer;
pub mod tls;
pub mod tls_io;

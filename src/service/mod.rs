//! The API's decisions, in safe Rust that names nothing of nginx: [`plan`] decides what a
//! request's headers alone can answer, [`execute`] does the database work of the rest and says
//! "answer this" or "stream these rows", [`list`] renders a streamed list's rows. The nginx
//! glue that calls them is `handler.rs`; what they log goes through [`trace::Trace`].

pub mod execute;
pub mod list;
mod list_share;
pub mod pages;
pub mod plan;
pub mod root;
pub mod store;
pub mod trace;

pub use execute::{execute, Outcome, ServeError};
pub use plan::{plan, Plan, Work};
pub use trace::Trace;

//! The practice itself: its name, which its admins set on their first run
//! (the server's first start names it from `practice_name` in the
//! settings) and may change later.
//!
//! Invariants:
//! - Only admins rename (`Permission::ManagePractice`); the name is one
//!   line of 1–100 characters.
//! - A rename is audited in its transaction as `practice.renamed`, without
//!   the names (the entry says that it changed; the practice sees its name).
//! - Nothing caches the name: reminders read it at send time, so the
//!   linter's check of a name with a service word in it ("Riverside
//!   Counseling") applies from the next send on.

pub mod http;
#[macro_use]
mod sql;
pub mod store;

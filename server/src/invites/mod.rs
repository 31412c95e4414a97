//! Invitations: a practice's admin or clinician invites a person by a
//! one-time link; redeeming it creates their account with the invited role,
//! in one transaction with the invite's consumption. The SQL is still in
//! `storage/sql.rs` (with the users it creates); the refusals and the
//! handlers are here.

pub mod error;
pub mod http;

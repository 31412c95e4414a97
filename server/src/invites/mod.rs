//! Invitations: a practice's admin or clinician invites a person by a
//! one-time link; redeeming it creates their account with the invited role,
//! in one transaction with the invite's consumption. The slice: its rows and
//! store trait (`store.rs`), their SQL (`sql.rs`, instantiated per backend
//! in `storage/`), the refusals (`error.rs`) and the handlers (`http.rs`).

pub mod error;
pub mod http;
pub mod rules;
#[macro_use]
mod sql;
pub mod store;

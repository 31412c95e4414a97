//! Reminders: appointments, minimum-necessary templates enforced by a
//! linter, each client's confidential-communication preferences (45 CFR
//! 164.522(b)), and PHI-free nudges.
//!
//! Only what scheduling needs is on the server (times, people, status);
//! details (address, telehealth link, note) travel end to end inside the
//! conversation. Everything that leaves the encrypted channel — an SMS, an
//! email — is rendered from a template whose only merge fields are the
//! allow-listed ones in `rules::template`, and linted (`rules::lint`) both
//! when the template is saved and on every send.

pub mod channels;
pub mod contact;
pub mod error;
pub mod http;
pub mod jobs;
pub mod rules;
pub mod service;
#[macro_use]
mod sql;
pub mod store;

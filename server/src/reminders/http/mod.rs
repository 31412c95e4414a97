//! The reminders slice's HTTP handlers, one file per resource. They parse
//! at the edge (ids, zones, enums), call `service`, and answer; every
//! refusal is a `ReminderError` mapped in `error.rs`.

pub mod appointments;
pub mod inbound;
pub mod nudges;
pub mod preferences;
pub mod reminders;
pub mod templates;

use crate::error::AppError;

/// Parses an id from a path segment; an unparsable one is simply absent.
fn id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, AppError> {
    raw.parse().map_err(|_| AppError::not_found(what))
}

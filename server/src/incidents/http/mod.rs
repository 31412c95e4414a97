//! The incidents slice's HTTP handlers, one file per resource. They parse
//! at the edge, call `service`, and answer; every refusal is an
//! `IncidentError` mapped in `error.rs`.

pub mod incidents;
pub mod webhooks;

use crate::error::AppError;

/// Parses an id from a path segment; an unparsable one is simply absent.
fn id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, AppError> {
    raw.parse().map_err(|_| AppError::not_found(what))
}

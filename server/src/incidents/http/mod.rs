//! The incidents slice's HTTP handlers, one file per resource. They parse
//! at the edge, call `service`, and answer; every refusal is an
//! `IncidentError` mapped in `error.rs`.

pub mod incidents;
pub mod webhooks;

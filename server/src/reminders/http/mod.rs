//! The reminders slice's HTTP handlers, one file per resource. They parse
//! at the edge (ids, zones, enums), call `service`, and answer; every
//! refusal is a `ReminderError` mapped in `error.rs`.

pub mod appointments;
pub mod inbound;
pub mod nudges;
pub mod preferences;
pub mod reminders;
pub mod templates;

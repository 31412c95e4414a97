//! The reminders slice's background jobs (run by `crate::jobs::Runner`).

pub mod dispatch;
pub mod nudge;
pub mod outbox;

//! The reminders slice's background jobs (run by `crate::jobs::Runner`).

pub mod dispatch;

//! The incidents slice's background jobs (run by `crate::jobs::Runner`).

pub mod deadlines;
pub mod deliver;
pub mod watch;

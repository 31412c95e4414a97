//! The push slice's background job.

pub mod send;

//! Revocation's background jobs.

pub mod shared_devices;

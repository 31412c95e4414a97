//! Authentication: passwords, TOTP, tokens, throttling and sessions.

pub mod error;
pub mod hashing;
pub mod password;
pub mod secrets;
pub mod session;
pub mod step_up;
pub mod throttle;
pub mod totp;
pub mod trim;

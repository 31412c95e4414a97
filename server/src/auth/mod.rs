//! Authentication: passwords, TOTP, tokens, throttling and sessions, and
//! the sign-in handlers (`http`, the edge layer of this folder).

pub mod error;
pub mod hashing;
pub mod http;
pub mod password;
pub mod secrets;
pub mod session;
pub mod step_up;
pub mod throttle;
pub mod totp;
pub mod trim;

//! The incidents slice's decisions, pure and unit-tested without a
//! database: statuses and their changes, detectors, deadlines, webhooks.

pub mod account;
pub mod assessment;
pub mod deadlines;
pub mod detect;
pub mod evidence;
pub mod exception;
pub mod notice;
pub mod status;
pub mod webhook;

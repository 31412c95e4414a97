//! Incidents: reports and detectors open them, the privacy officer runs
//! them to a breach decision with the deadlines of 45 CFR 164.404–412,
//! and signed, retried, PHI-free webhooks (Standard Webhooks) tell the
//! practice's own systems. See docs/incidents.md.

pub mod damage;
pub mod error;
pub mod http;
pub mod jobs;
pub mod rules;
pub mod service;
#[macro_use]
mod sql;
pub mod store;

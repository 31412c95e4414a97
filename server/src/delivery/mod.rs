//! The MLS Delivery Service: KeyPackage directory, conversation ordering,
//! real-time fan-out over WebSocket and catch-up over HTTP.
//!
//! The database is the single source of truth. Wake-ups may carry a newly
//! committed entry, which a socket sends straight away only when it directly
//! follows what that socket has sent; otherwise (and for everything not
//! carried) the socket reads the log from its position, in order. So a lost
//! or reordered wake-up delays delivery at most until the next one (or
//! reconnect) and never reorders or drops anything. This is also what lets a
//! PostgreSQL LISTEN/NOTIFY implementation of `Wakeups` carry wake-ups
//! between nodes (without the entries) without touching the rest.

pub mod accept;
pub mod batcher;
pub mod error;
pub mod http;
pub mod membership;
pub mod rules;
pub mod server_key;
pub mod service;
#[macro_use]
mod sql;
pub mod store;
pub mod wake;
pub mod ws;

/// The MLS group id of a conversation: the UTF-8 of its id.
pub fn group_id(conversation_id: &str) -> &[u8] {
    conversation_id.as_bytes()
}

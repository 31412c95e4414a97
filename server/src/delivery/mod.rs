//! The MLS Delivery Service: KeyPackage directory, conversation ordering,
//! real-time fan-out over WebSocket and catch-up over HTTP.
//!
//! The database is the single source of truth; wake-ups carry no data. A
//! connection that is woken reads what it has not sent yet from the log, in
//! order, so a lost wake-up delays delivery at most until the next one (or
//! reconnect) and never reorders or drops anything. This is also what lets a
//! PostgreSQL LISTEN/NOTIFY implementation of `Wakeups` carry wake-ups
//! between nodes without touching the rest.

pub mod batcher;
pub mod server_key;
pub mod wake;
pub mod ws;

/// The MLS group id of a conversation: the UTF-8 of its id.
pub fn group_id(conversation_id: &str) -> &[u8] {
    conversation_id.as_bytes()
}

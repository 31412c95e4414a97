//! The history archive (docs/history.md, step 2): each person's history of
//! each of their conversations, sealed on their device under a history key
//! the server never sees, kept here so that a new device can restore it with
//! the person's history recovery key when no device of the conversation is
//! left to hand the history over (step 1, inside MLS).
//!
//! Invariants:
//! - a blob is opaque: the server checks its size and its owner, never its
//!   content; it is sealed for one person and one conversation (the AAD of
//!   `crypto/src/archive.rs`), so swapping blobs opens nothing;
//! - only one of the conversation's two people stores or reads their own
//!   blob of it; anyone else gets 404, as for the conversation itself;
//! - every read is audited (`history_archive.fetched`), as are the first
//!   store of a conversation's blob and turning the archive off; later
//!   stores replace the blob without an entry (the device re-seals after
//!   every change of the history);
//! - at most [`rules::MAX_ARCHIVE_BYTES`] per blob and one blob per person
//!   and conversation: what one person stores is bounded by their
//!   conversations, with no count to race.

pub mod error;
pub mod http;
pub mod rules;
pub mod service;
#[macro_use]
mod sql;
pub mod store;

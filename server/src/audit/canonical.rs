//! The canonical, versioned byte encoding of an audit entry, and its
//! Merkle leaf hash. See `docs/audit.md` ("Canonical entry encoding").
//!
//! Version 1, all integers big-endian:
//!
//! ```text
//! 0x01                                  version
//! u64  seq                              dense per practice, from 1
//! i64  at                               Unix seconds
//! field practice_id                     then, in this order:
//! field actor_user_id, actor_device_id, action, target_user_id,
//!       target_device_id, target_conversation_id, outcome, request_id,
//!       ip, detail
//! field := 0x00                         (NULL)
//!        | 0x01 u32 len  len bytes      (UTF-8 text exactly as stored)
//! ```
//!
//! `detail` is hashed as the JSON text stored in the database, byte for
//! byte, so verification never depends on re-serialising JSON.
//!
//! Leaf hash (RFC 9162 §2.1.1): `SHA-256(0x00 || canonical bytes)`.

// This module reads bytes from outside (the network or a file someone
// handed us): no index or slice that could panic on what it is given.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::Event;
use serde::{Deserialize, Serialize};

/// Current encoding version (first byte of the canonical bytes).
pub const ENCODING_VERSION: u8 = 1;

/// A SHA-256 value.
pub type Hash = [u8; 32];

/// One audit entry exactly as stored: every field that is hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Entry {
    /// Tenant.
    pub practice_id: String,
    /// Dense per-practice sequence number (leaf index + 1).
    pub seq: i64,
    /// Time (Unix seconds).
    pub at: i64,
    /// Acting user.
    pub actor_user_id: Option<String>,
    /// Acting device.
    pub actor_device_id: Option<String>,
    /// Dotted action name.
    pub action: String,
    /// User acted upon (for a client: whose records).
    pub target_user_id: Option<String>,
    /// Device acted upon.
    pub target_device_id: Option<String>,
    /// Conversation acted upon.
    pub target_conversation_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// Request id.
    pub request_id: Option<String>,
    /// Coarse client address.
    pub ip: Option<String>,
    /// Identifier-only JSON detail, as the exact stored text.
    pub detail: Option<String>,
}

impl Entry {
    /// The entry an event becomes once it has its sequence number and time.
    /// Must render every field exactly as `append_event` binds it.
    pub fn from_event(ev: &Event, seq: i64, at: i64) -> Self {
        Self {
            practice_id: ev.practice_id.to_string(),
            seq,
            at,
            actor_user_id: ev.actor_user.map(|u| u.to_string()),
            actor_device_id: ev.actor_device.map(|d| d.to_string()),
            action: ev.action.to_string(),
            target_user_id: ev.target_user.map(|u| u.to_string()),
            target_device_id: ev.target_device.map(|d| d.to_string()),
            target_conversation_id: ev.target_conversation.clone(),
            outcome: ev.outcome.as_str().to_string(),
            request_id: ev.request_id.clone(),
            ip: ev.ip.clone(),
            detail: ev.detail.as_ref().map(|d| d.to_string()),
        }
    }

    /// The canonical bytes (version 1).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        self.canonical_bytes_with_seq(self.seq)
    }

    /// The canonical bytes as if the entry had sequence number `seq`
    /// (used to recognise an entry moved to another position).
    pub fn canonical_bytes_with_seq(&self, seq: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(ENCODING_VERSION);
        out.extend_from_slice(&(seq as u64).to_be_bytes());
        out.extend_from_slice(&self.at.to_be_bytes());
        let fields: [Option<&str>; 11] = [
            Some(&self.practice_id),
            self.actor_user_id.as_deref(),
            self.actor_device_id.as_deref(),
            Some(&self.action),
            self.target_user_id.as_deref(),
            self.target_device_id.as_deref(),
            self.target_conversation_id.as_deref(),
            Some(&self.outcome),
            self.request_id.as_deref(),
            self.ip.as_deref(),
            self.detail.as_deref(),
        ];
        for field in fields {
            match field {
                None => out.push(0),
                Some(text) => {
                    out.push(1);
                    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        out
    }

    /// The Merkle leaf hash of this entry.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash_of(&self.canonical_bytes())
    }

    /// The leaf hash the entry would have at sequence number `seq`.
    pub fn leaf_hash_at(&self, seq: i64) -> Hash {
        leaf_hash_of(&self.canonical_bytes_with_seq(seq))
    }
}

/// `SHA-256(0x00 || bytes)`.
pub fn leaf_hash_of(bytes: &[u8]) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[0]);
    ctx.update(bytes);
    digest_hash(ctx.finish())
}

/// The leaf hash `append_event` stores for an event at `seq` and `at`.
pub fn event_leaf_hash(ev: &Event, seq: i64, at: i64) -> Hash {
    Entry::from_event(ev, seq, at).leaf_hash()
}

/// A SHA-256 digest as a [`Hash`].
pub(crate) fn digest_hash(d: ring::digest::Digest) -> Hash {
    // A SHA-256 digest is 32 bytes by construction; the fallback is never
    // taken and exists only so that no length assumption can panic.
    as_hash(d.as_ref()).unwrap_or_default()
}

/// Bytes of exactly 32 as a [`Hash`]; anything else is not one.
pub(crate) fn as_hash(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

/// The digest of a document the log vouches for (an incident report's
/// record): lower-case hex SHA-256 of its JSON with every object's keys
/// sorted and no whitespace — serde_json's compact form of a `Value`, and
/// Python's `json.dumps(doc, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)` for documents of strings, integers, booleans and
/// nulls (what a report holds), so a reader can recompute it without our
/// code. An audit entry carries it in its detail; the entry's inclusion
/// proof then covers the document too.
pub fn document_sha256(doc: &serde_json::Value) -> String {
    // Serialising a `Value` to bytes cannot fail (its keys are strings).
    let bytes = serde_json::to_vec(doc).unwrap_or_default();
    hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref())
}

/// Lower-case hex of a hash.
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

/// Parses a 32-byte lower- or upper-case hex hash.
pub fn parse_hash(text: &str) -> Option<Hash> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(text.as_bytes())
        .ok()?;
    as_hash(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_digest_is_what_python_computes_with_sorted_keys() {
        // json.dumps(d, sort_keys=True, separators=(",", ":"),
        // ensure_ascii=False), SHA-256, hex — computed by Python.
        let d = serde_json::json!({"b": "é \"q\"", "a": [1, null, true], "c": {"z": 0, "y": -5}});
        assert_eq!(
            document_sha256(&d),
            "ba00d901decbdf45bd77feb77e75a87643dfc1abb308f70a5534de5ce01c986b"
        );
    }

    fn sample() -> Entry {
        Entry {
            practice_id: "p".into(),
            seq: 7,
            at: 1_700_000_000,
            actor_user_id: Some("u".into()),
            actor_device_id: None,
            action: "auth.login".into(),
            target_user_id: None,
            target_device_id: None,
            target_conversation_id: None,
            outcome: "success".into(),
            request_id: None,
            ip: Some("10.0.0.0/24".into()),
            detail: Some("{\"a\":1}".into()),
        }
    }

    #[test]
    fn encoding_is_stable() {
        // A fixed vector: changing the encoding must change ENCODING_VERSION.
        let bytes = sample().canonical_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(&bytes[1..9], &7u64.to_be_bytes());
        assert_eq!(hex(&sample().leaf_hash()), hex(&leaf_hash_of(&bytes)),);
        // NULL and empty string differ.
        let mut e = sample();
        e.actor_device_id = Some(String::new());
        assert_ne!(e.leaf_hash(), sample().leaf_hash());
        // Every field is covered.
        let mut e = sample();
        e.ip = Some("10.0.1.0/24".into());
        assert_ne!(e.leaf_hash(), sample().leaf_hash());
        assert_eq!(sample().leaf_hash_at(7), sample().leaf_hash());
        assert_ne!(sample().leaf_hash_at(8), sample().leaf_hash());
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = sample();
        a.actor_user_id = Some("ab".into());
        a.actor_device_id = Some("c".into());
        let mut b = sample();
        b.actor_user_id = Some("a".into());
        b.actor_device_id = Some("bc".into());
        assert_ne!(a.leaf_hash(), b.leaf_hash());
    }
}

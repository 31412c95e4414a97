//! Audit events: who did what, from which device, to whose records.
//!
//! Invariants:
//! - An event is appended by the storage layer inside the same database
//!   transaction as the action it records (`Store` methods take the event),
//!   so an action without its audit record cannot be committed.
//! - Sequence numbers are dense per practice, allocated under a row lock on
//!   `audit_heads`; the tamper-evident tree (Merkle hashing, signed heads) is
//!   built over exactly this sequence.
//! - No event carries message content, tokens, passwords or TOTP codes.
//!   `detail` holds only identifiers and counts.

pub mod action;
pub mod canonical;
pub mod export;
pub mod http;
pub mod merkle;
pub mod service;
pub mod signing;
pub mod store;
pub mod verify;

use crate::ids::{DeviceId, PracticeId, UserId};
// Request facts live below every layer; events are built from them.
pub use crate::request::{coarse_ip, RequestMeta};
pub use action::Action;
use serde_json::Value;

/// Whether the recorded attempt succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The action happened.
    Success,
    /// The action was refused or failed.
    Failure,
}

impl Outcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One audit record, before it gets its sequence number.
#[derive(Clone, Debug)]
pub struct Event {
    /// Tenant.
    pub practice_id: PracticeId,
    /// Acting user.
    pub actor_user: Option<UserId>,
    /// Acting device.
    pub actor_device: Option<DeviceId>,
    /// What happened (stored as its stable dotted name).
    pub action: Action,
    /// User acted upon (for a client, whose records were touched).
    pub target_user: Option<UserId>,
    /// Device acted upon.
    pub target_device: Option<DeviceId>,
    /// Conversation acted upon.
    pub target_conversation: Option<String>,
    /// Result.
    pub outcome: Outcome,
    /// Request id.
    pub request_id: Option<String>,
    /// Coarse client address.
    pub ip: Option<String>,
    /// Identifiers and counts only.
    pub detail: Option<Value>,
}

impl Event {
    /// A successful action by the request's actor.
    pub fn new(practice_id: PracticeId, action: Action, meta: &RequestMeta) -> Self {
        Self {
            practice_id,
            actor_user: meta.actor_user,
            actor_device: meta.actor_device,
            action,
            target_user: None,
            target_device: None,
            target_conversation: None,
            outcome: Outcome::Success,
            request_id: meta.request_id.clone(),
            ip: meta.ip.clone(),
            detail: None,
        }
    }

    /// Marks the event as a refused attempt.
    pub fn failed(mut self) -> Self {
        self.outcome = Outcome::Failure;
        self
    }

    /// Sets the acting user and device (when the actor is only known later,
    /// as at login).
    pub fn actor(mut self, user: UserId, device: Option<DeviceId>) -> Self {
        self.actor_user = Some(user);
        self.actor_device = device;
        self
    }

    /// Sets the target user.
    pub fn target_user(mut self, user: UserId) -> Self {
        self.target_user = Some(user);
        self
    }

    /// Sets the target device.
    pub fn target_device(mut self, device: DeviceId) -> Self {
        self.target_device = Some(device);
        self
    }

    /// Adds identifier-only detail.
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

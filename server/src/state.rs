//! Shared state handed to every handler. No globals: everything a request
//! needs travels here.

use crate::clock::Clock;
use crate::config::Settings;
use crate::storage::Store;
use std::sync::Arc;

/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Storage backend.
    pub store: Arc<dyn Store>,
    /// Configuration.
    pub settings: Arc<Settings>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// The gate every password hash goes through (bounded by memory).
    pub hashing: crate::auth::hashing::Hashing,
    /// An Argon2id hash verified against when a login is unknown.
    pub dummy_hash: Arc<str>,
    /// Tamper-evident audit log: store, signing key, signed heads.
    pub audit: crate::audit::service::AuditService,
    /// Group-commit writer for application messages.
    pub messages: crate::delivery::batcher::Batcher<crate::delivery::batcher::Messages>,
    /// Group-commit writer for delivery acknowledgements (cursors).
    pub acks: crate::delivery::batcher::Batcher<crate::delivery::batcher::Acks>,
    /// Group-commit writer for the access records of deliveries.
    pub deliveries: crate::delivery::batcher::Batcher<crate::delivery::batcher::Deliveries>,
    /// Delivery wake-ups.
    pub wakeups: Arc<dyn crate::delivery::wake::Wakeups>,
    /// The server's MLS external-sender key (signs Remove proposals).
    pub external_sender: Arc<alcove_crypto::server::ExternalSenderKey>,
    /// Its public `ExternalSender` encoding, base64, for clients.
    pub external_sender_b64: Arc<str>,
}

impl AppState {
    /// Current time.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

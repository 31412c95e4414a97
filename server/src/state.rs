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
    /// The delivery service: writers, wake-ups, the server's MLS key.
    pub delivery: crate::delivery::service::DeliveryService,
    /// Reminders: the contact key, the linter's word lists.
    pub reminders: crate::reminders::service::ReminderService,
    /// Web Push: the server's VAPID key.
    pub push: crate::push::PushService,
    /// The key that seals TOTP secrets and unlock shares at rest.
    pub at_rest: Arc<crate::sealing::SealKey>,
}

impl AppState {
    /// Current time.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

//! The delivery service's handle, one field of `AppState`: the group-commit
//! writers (messages, access records of deliveries, acknowledgements), the
//! wake-ups that carry committed entries to sockets, and the server's MLS
//! external-sender key. Built once by `start`, for the binary and the tests
//! alike; cheap to clone.

use super::batcher::{Acks, Batcher, Deliveries, Messages};
use super::wake::{LocalWakeups, Wakeups};
use crate::clock::Clock;
use crate::storage::Store;
use std::path::Path;
use std::sync::Arc;

/// Cheap to clone.
#[derive(Clone)]
pub struct DeliveryService {
    /// Group-commit writer for application messages.
    pub messages: Batcher<Messages>,
    /// Group-commit writer for delivery acknowledgements (cursors).
    pub acks: Batcher<Acks>,
    /// Group-commit writer for the access records of deliveries.
    pub deliveries: Batcher<Deliveries>,
    /// Delivery wake-ups.
    pub wakeups: Arc<dyn Wakeups>,
    /// The server's MLS external-sender key (signs Remove proposals).
    pub external_sender: Arc<alcove_crypto::server::ExternalSenderKey>,
    /// Its public `ExternalSender` encoding, base64, for clients.
    pub external_sender_b64: Arc<str>,
}

impl DeliveryService {
    /// Loads (or creates, 0600) the server's key in `data_dir` and starts
    /// the writers (needs a Tokio runtime).
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let key = super::server_key::load_or_create(data_dir)?;
        let public = key
            .public_bytes()
            .map_err(|e| anyhow::anyhow!("server key: {}", e.code()))?;
        let wakeups: Arc<dyn Wakeups> = Arc::new(LocalWakeups::default());
        Ok(Self {
            messages: Batcher::start(store.clone(), clock.clone(), wakeups.clone()),
            acks: Batcher::start(store.clone(), clock.clone(), wakeups.clone()),
            deliveries: Batcher::start(store, clock, wakeups.clone()),
            wakeups,
            external_sender: Arc::new(key),
            external_sender_b64: data_encoding::BASE64.encode(&public).into(),
        })
    }
}

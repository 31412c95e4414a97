//! Web Push: a device whose browser subscribed is told "a new secure
//! message" while its tab is closed. See docs/push.md.
//!
//! Invariants:
//! - a push carries [`rules::PAYLOAD`] and nothing else — no name, no
//!   conversation, no count — encrypted to the browser (RFC 8291) and
//!   signed for the push service (VAPID, RFC 8292);
//! - one subscription per device, made by that device's own session; it
//!   survives an idle sign-out (that is when a notice is needed) and ends at
//!   logout and at revocation, in the transaction that ends them;
//! - a device is pushed only for application messages from someone else
//!   that it has not acknowledged, never while a socket of it is open,
//!   never for a person who opted out, at most once per cooldown;
//! - an endpoint is the client's to choose, so it is held to the webhook
//!   rules against server-side request forgery (https, public addresses,
//!   checked again on every resolved address at connect time).

pub mod error;
pub mod http;
pub mod jobs;
pub mod rules;
pub mod service;
#[macro_use]
mod sql;
pub mod store;

use data_encoding::BASE64URL_NOPAD;
use std::path::Path;
use std::sync::Arc;
use web_push_native::jwt_simple::algorithms::ES256KeyPair;
use web_push_native::p256;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

/// The server's VAPID key (ES256), kept in the data directory (0600),
/// made on first start. Nodes sharing a database share the file, as they
/// share the sealing key.
#[derive(Clone)]
pub struct PushService {
    key: Arc<ES256KeyPair>,
    public: Arc<str>,
}

impl PushService {
    /// Loads `push-vapid.key` from `data_dir`, or makes it.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("push-vapid.key");
        let key = match std::fs::read(&path) {
            Ok(bytes) => ES256KeyPair::from_bytes(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is not a VAPID key: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = ES256KeyPair::generate();
                crate::private_files::create_dir(data_dir)?;
                crate::private_files::write_new(&path, &key.to_bytes())?;
                key
            }
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        // Browsers take the uncompressed point (65 bytes).
        let compressed = key.public_key().to_bytes();
        let point = p256::PublicKey::from_sec1_bytes(&compressed)
            .map_err(|e| anyhow::anyhow!("VAPID public key: {e}"))?
            .to_encoded_point(false);
        let public = BASE64URL_NOPAD.encode(point.as_bytes());
        Ok(Self {
            key: Arc::new(key),
            public: public.into(),
        })
    }

    /// The application server key browsers subscribe with (base64url of
    /// the uncompressed P-256 point).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The signing key.
    pub fn key(&self) -> &ES256KeyPair {
        &self.key
    }
}

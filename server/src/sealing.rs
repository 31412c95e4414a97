//! Secrets at rest: small values the server must keep but a copy of the
//! database alone must not yield — TOTP secrets, devices' unlock shares,
//! webhook signing keys
//! (and, through the reminders slice's `ContactKey`, contact addresses).
//!
//! Sealed with ChaCha20-Poly1305 under a 256-bit key held outside the
//! database (a 0600 file in the data directory, created on first start;
//! several nodes must share it, as they share the audit signing key), a
//! random 96-bit nonce, and the purpose and row id as associated data (a
//! sealed value moved to another row or column does not open). Stored as
//! `v1` ‖ nonce ‖ ciphertext.
//!
//! What it protects: a database copy that leaves without the data
//! directory (a PostgreSQL dump, a backup). Not: a thief of the whole data
//! directory, or of the running server's memory.
//!
//! Rows written before sealing existed hold the plain value, recognisable
//! by its length (which no sealed value has). The first start after the
//! upgrade seals them, once per database (`reseal_plain`, before the server
//! answers anything), and `open` refuses a plain value: someone who can write to the database but lacks
//! the key cannot plant a TOTP secret they know, or an unlock share.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::Path;
use zeroize::Zeroizing;

const VERSION: &[u8] = b"v1";
const NONCE_LEN: usize = 12;

/// Reads a 32-byte key file from the data directory, creating it (0600)
/// with fresh random bytes on first start.
pub fn load_key_file(data_dir: &Path, name: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let path = data_dir.join(name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh = Zeroizing::new(crate::auth::secrets::random_bytes::<32>().to_vec());
            crate::private_files::create_dir(data_dir)?;
            crate::private_files::write_new(&path, &fresh)?;
            fresh
        }
        Err(e) => return Err(e.into()),
    };
    if bytes.len() != 32 {
        anyhow::bail!("{} is not a 32-byte key", path.display());
    }
    Ok(bytes)
}

/// What a sealed value is.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// A user's TOTP secret (20 bytes), bound to the user's id.
    TotpSecret,
    /// A device's unlock share (32 bytes), bound to the device's id.
    UnlockShare,
    /// A webhook endpoint's signing key (32 bytes), bound to its id.
    WebhookSecret,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::TotpSecret => b"alcove/totp-secret",
            Purpose::UnlockShare => b"alcove/unlock-share",
            Purpose::WebhookSecret => b"alcove/webhook-secret",
        }
    }

    /// The length of the plain value in rows written before sealing.
    pub fn legacy_len(self) -> usize {
        match self {
            Purpose::TotpSecret => 20,
            Purpose::UnlockShare | Purpose::WebhookSecret => 32,
        }
    }
}

/// The at-rest key.
pub struct SealKey {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(..)")
    }
}

fn aad(purpose: Purpose, id: &str) -> Vec<u8> {
    let mut aad = purpose.label().to_vec();
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

impl SealKey {
    /// Loads `at-rest.key` from the data directory, creating it on first
    /// start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self::from_bytes(&load_key_file(data_dir, "at-rest.key")?))
    }

    /// A key from its bytes (tests).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
        }
    }

    /// Seals a value for one row.
    pub fn seal(&self, purpose: Purpose, id: &str, plain: &[u8]) -> anyhow::Result<Vec<u8>> {
        let nonce = crate::auth::secrets::random_bytes::<NONCE_LEN>();
        let aad = aad(purpose, id);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        let mut out = VERSION.to_vec();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a stored value sealed for this row. `None`: it does not open
    /// (another row's, tampered, another key, or a plain value).
    pub fn open(&self, purpose: Purpose, id: &str, stored: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let rest = stored.strip_prefix(VERSION)?;
        let (nonce, ct) = rest.split_at_checked(NONCE_LEN)?;
        let aad = aad(purpose, id);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .ok()
            .map(Zeroizing::new)
    }
}

/// The purpose of a sealed column's values.
fn purpose_of(column: crate::storage::SealedColumn) -> Purpose {
    use crate::storage::SealedColumn;
    match column {
        SealedColumn::UserTotp | SealedColumn::EnrollmentTotp => Purpose::TotpSecret,
        SealedColumn::UnlockShare => Purpose::UnlockShare,
        SealedColumn::WebhookSecret => Purpose::WebhookSecret,
    }
}

/// The one-time step's name (`one_time_steps`).
const RESEAL_STEP: &str = "seal-plain-secrets";

/// Seals every value still stored plain (written before sealing existed),
/// once per database: the step is recorded, and a plain value found at a
/// later start was planted, not left over — it stays plain and `open`
/// refuses it. Run at start, before serving; returns how many rows it
/// sealed.
pub async fn reseal_plain(
    store: &dyn crate::storage::Store,
    key: &SealKey,
    now: crate::clock::UnixTime,
) -> anyhow::Result<usize> {
    if store.step_done(RESEAL_STEP).await? {
        return Ok(0);
    }
    let mut sealed = 0;
    for column in crate::storage::SealedColumn::ALL {
        let purpose = purpose_of(column);
        for (id, plain) in store.plain_secrets(column, purpose.legacy_len()).await? {
            let plain = Zeroizing::new(plain);
            let value = key.seal(purpose, &id, &plain)?;
            store.reseal_secret(column, &id, &plain, &value).await?;
            sealed += 1;
        }
    }
    store.record_step(RESEAL_STEP, now).await?;
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_row_purpose_and_key() {
        let key = SealKey::from_bytes(&[3; 32]);
        let secret = [9u8; 20];
        let sealed = key.seal(Purpose::TotpSecret, "user-1", &secret).unwrap();
        assert_ne!(sealed.len(), 20, "never the legacy length");
        assert!(!sealed.windows(20).any(|w| w == secret), "not in the clear");
        assert_eq!(
            key.open(Purpose::TotpSecret, "user-1", &sealed)
                .unwrap()
                .as_slice(),
            &secret
        );
        assert!(
            key.open(Purpose::TotpSecret, "user-2", &sealed).is_none(),
            "another row"
        );
        assert!(
            key.open(Purpose::UnlockShare, "user-1", &sealed).is_none(),
            "another purpose"
        );
        assert!(SealKey::from_bytes(&[4; 32])
            .open(Purpose::TotpSecret, "user-1", &sealed)
            .is_none());
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert!(key.open(Purpose::TotpSecret, "user-1", &tampered).is_none());
    }

    #[test]
    fn a_plain_value_does_not_open() {
        // Planted by someone who can write to the database without the key.
        let key = SealKey::from_bytes(&[3; 32]);
        assert!(key.open(Purpose::UnlockShare, "d", &[7u8; 32]).is_none());
        assert!(key.open(Purpose::TotpSecret, "u", &[7u8; 20]).is_none());
    }
}

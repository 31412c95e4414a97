//! Contact addresses encrypted at rest.
//!
//! A practice's list of phone numbers is a list of people in treatment, so
//! a stolen database must not yield it. Each address is sealed with
//! ChaCha20-Poly1305 under a 256-bit key held outside the database (the
//! data directory's `contact.key`, 0600, created on first start), with a
//! random 96-bit nonce and the client's id as associated data (a ciphertext
//! moved onto another client's row does not open). Several PostgreSQL nodes
//! must share the file, as they share the audit signing key.
//!
//! An address is opened only to send through it, and never logged.

use crate::ids::UserId;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::Path;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// The key; cheap to clone behind an `Arc`.
pub struct ContactKey {
    cipher: ChaCha20Poly1305,
    index: ring::hmac::Key,
}

impl std::fmt::Debug for ContactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactKey(..)")
    }
}

impl ContactKey {
    /// Loads `contact.key` from the data directory, creating it (0600) on
    /// first start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Self::from_bytes(&crate::sealing::load_key_file(
            data_dir,
            "contact.key",
        )?))
    }

    /// A key from its bytes (tests).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        // The index key is derived, so one file holds both and neither
        // reveals the other.
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes);
        let index = ring::hmac::sign(&derive, b"alcove/contact-index/v1");
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(bytes)),
            index: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, index.as_ref()),
        }
    }

    /// A keyed hash of a phone number (E.164), to find the client an
    /// inbound SMS came from without storing numbers in the clear.
    pub fn phone_index(&self, number: &str) -> Vec<u8> {
        ring::hmac::sign(&self.index, number.trim().as_bytes())
            .as_ref()
            .to_vec()
    }

    /// Seals an address for one client: nonce ‖ ciphertext.
    pub fn seal(&self, client: UserId, address: &str) -> Vec<u8> {
        let nonce = crate::auth::secrets::random_bytes::<NONCE_LEN>();
        let aad = client.to_string();
        let sealed = self.cipher.encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: address.as_bytes(),
                aad: aad.as_bytes(),
            },
        );
        match sealed {
            Ok(ct) => {
                let mut out = nonce.to_vec();
                out.extend_from_slice(&ct);
                out
            }
            // ChaCha20-Poly1305 fails only on inputs of 256 GiB; an address
            // is bounded far below at the edge. Store nothing rather than
            // the address in the clear.
            Err(_) => Vec::new(),
        }
    }

    /// Opens a sealed address, or `None` when it does not open (another
    /// client's, tampered, another key).
    pub fn open(&self, client: UserId, sealed: &[u8]) -> Option<Zeroizing<String>> {
        let (nonce, ct) = sealed.split_at_checked(NONCE_LEN)?;
        let aad = client.to_string();
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok().map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_opens_only_for_its_own_client_and_key() {
        let key = ContactKey::from_bytes(&[7; 32]);
        let alice = UserId::new();
        let sealed = key.seal(alice, "+15555550100");
        assert!(!sealed.windows(4).any(|w| w == b"5555"), "not in the clear");
        assert_eq!(
            key.open(alice, &sealed).as_deref().map(String::as_str),
            Some("+15555550100")
        );
        assert!(
            key.open(UserId::new(), &sealed).is_none(),
            "moved to another row"
        );
        assert!(ContactKey::from_bytes(&[8; 32])
            .open(alice, &sealed)
            .is_none());
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert!(key.open(alice, &tampered).is_none());
        assert!(key.open(alice, &[1, 2, 3]).is_none());
        // The phone index is stable for one number and key, and differs
        // between numbers and keys.
        assert_eq!(
            key.phone_index("+15555550100"),
            key.phone_index("+15555550100")
        );
        assert_ne!(
            key.phone_index("+15555550100"),
            key.phone_index("+15555550101")
        );
        assert_ne!(
            key.phone_index("+15555550100"),
            ContactKey::from_bytes(&[8; 32]).phone_index("+15555550100")
        );
        // Two seals of one address differ (fresh nonce).
        assert_ne!(
            key.seal(alice, "a@b.example"),
            key.seal(alice, "a@b.example")
        );
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let alice = UserId::new();
        let sealed = ContactKey::load_or_create(dir.path())
            .unwrap()
            .seal(alice, "x@y.example");
        let again = ContactKey::load_or_create(dir.path()).unwrap();
        assert!(again.open(alice, &sealed).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("contact.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

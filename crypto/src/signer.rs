//! Ed25519 signing with the signing key expanded once per device.
//!
//! `openmls_basic_credential::SignatureKeyPair::sign` rebuilds an
//! `ed25519_dalek::SigningKey` from the raw private bytes on every signature,
//! which recomputes the public key (a full base-point multiplication). In
//! WebAssembly that was 13 % of an encrypt + decrypt. [`DeviceSigner`] keeps
//! the expanded key next to the key pair; the key pair stays the form that
//! snapshots serialise, so the snapshot format is unchanged.
//!
//! Invariant: `key` is always derived from `pair.private()`, and its public
//! half equals `pair.public()` (checked at construction).

use ed25519_dalek::Signer as _;
use openmls::prelude::tls_codec::{Deserialize as _, SecretVLBytes, Serialize as _};
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::SignatureScheme;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A device's (or the server's) Ed25519 key pair with the expanded signing
/// key cached. Both halves are zeroized on drop (`SignatureKeyPair` and
/// `ed25519_dalek::SigningKey` zeroize themselves).
pub(crate) struct DeviceSigner {
    pair: SignatureKeyPair,
    key: ed25519_dalek::SigningKey,
}

impl DeviceSigner {
    /// Wraps a key pair; refuses anything but a well-formed Ed25519 pair.
    pub(crate) fn new(pair: SignatureKeyPair) -> Result<Self> {
        if pair.signature_scheme() != SignatureScheme::ED25519 {
            return Err(Error::malformed("signature key"));
        }
        // The private half is only reachable through the pair's TLS encoding
        // (`private || public || scheme`); both copies are zeroized on drop.
        let encoded = Zeroizing::new(
            pair.tls_serialize_detached()
                .map_err(|_| Error::malformed("signature key"))?,
        );
        let private = SecretVLBytes::tls_deserialize(&mut encoded.as_slice())
            .map_err(|_| Error::malformed("signature key"))?;
        let key = ed25519_dalek::SigningKey::try_from(private.as_slice())
            .map_err(|_| Error::malformed("signature key"))?;
        if key.verifying_key().as_bytes().as_slice() != pair.public() {
            return Err(Error::malformed("signature key"));
        }
        Ok(Self { pair, key })
    }

    /// The key pair (for storage and snapshots).
    pub(crate) fn pair(&self) -> &SignatureKeyPair {
        &self.pair
    }

    /// The 32-byte public key.
    pub(crate) fn public(&self) -> &[u8] {
        self.pair.public()
    }
}

impl Signer for DeviceSigner {
    fn sign(&self, payload: &[u8]) -> core::result::Result<Vec<u8>, SignerError> {
        Ok(self.key.sign(payload).to_bytes().to_vec())
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmls_traits::crypto::OpenMlsCrypto;

    #[test]
    fn signatures_verify_under_the_pair_public_key() {
        let pair = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
        let public = pair.public().to_vec();
        let signer = DeviceSigner::new(pair).unwrap();
        let sig = Signer::sign(&signer, b"payload").unwrap();
        let crypto = openmls_rust_crypto::RustCrypto::default();
        crypto
            .verify_signature(SignatureScheme::ED25519, b"payload", &public, &sig)
            .unwrap();
        assert!(crypto
            .verify_signature(SignatureScheme::ED25519, b"other", &public, &sig)
            .is_err());
    }

    #[test]
    fn a_pair_whose_halves_disagree_is_refused() {
        let a = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
        let b = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
        let encoded = a.tls_serialize_detached().unwrap();
        let private = SecretVLBytes::tls_deserialize(&mut encoded.as_slice()).unwrap();
        let mixed = SignatureKeyPair::from_raw(
            SignatureScheme::ED25519,
            private.as_slice().to_vec(),
            b.to_public_vec(),
        );
        assert!(DeviceSigner::new(mixed).is_err());
    }
}

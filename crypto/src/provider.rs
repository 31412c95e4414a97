//! The openmls provider a [`crate::Device`] owns: RustCrypto (with parsed
//! Ed25519 verifying keys cached) + [`AlcoveStorage`], the in-memory
//! storage whose values are zeroized when overwritten, deleted and dropped,
//! and can be exported/imported deterministically for snapshots.

use std::sync::Mutex;

use openmls::prelude::tls_codec::SecretVLBytes;
use openmls_rust_crypto::RustCrypto;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::{
    AeadType, Ciphersuite, CryptoError, ExporterSecret, HashType, HpkeCiphertext, HpkeConfig,
    HpkeKeyPair, KemOutput, SignatureScheme,
};
use openmls_traits::OpenMlsProvider;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::storage::AlcoveStorage;
use crate::wire::Reader;

/// Parsed verifying keys kept per device: a conversation has a handful of
/// senders, and parsing (point decompression, a field inversion and square
/// root) was 5 % of a decrypt in WebAssembly.
const VERIFYING_KEY_CACHE: usize = 64;

/// RustCrypto with a small cache of parsed Ed25519 verifying keys. Every
/// other operation is RustCrypto's. Only public keys are cached, and a key
/// enters the cache only after it parsed as a valid point, so verification
/// is exactly RustCrypto's `verify_strict`.
#[derive(Default)]
pub(crate) struct AlcoveCrypto {
    inner: RustCrypto,
    verifying_keys: Mutex<Vec<([u8; 32], ed25519_dalek::VerifyingKey)>>,
}

impl AlcoveCrypto {
    fn verifying_key(&self, pk: &[u8]) -> Result<ed25519_dalek::VerifyingKey, CryptoError> {
        let bytes: [u8; 32] = pk.try_into().map_err(|_| CryptoError::CryptoLibraryError)?;
        let mut cache = self
            .verifying_keys
            .lock()
            .map_err(|_| CryptoError::CryptoLibraryError)?;
        if let Some((_, key)) = cache.iter().find(|(b, _)| *b == bytes) {
            return Ok(*key);
        }
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| CryptoError::CryptoLibraryError)?;
        if cache.len() >= VERIFYING_KEY_CACHE {
            cache.remove(0);
        }
        cache.push((bytes, key));
        Ok(key)
    }
}

impl OpenMlsCrypto for AlcoveCrypto {
    fn supports(&self, ciphersuite: Ciphersuite) -> Result<(), CryptoError> {
        self.inner.supports(ciphersuite)
    }
    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        self.inner.supported_ciphersuites()
    }
    fn hkdf_extract(
        &self,
        hash_type: HashType,
        salt: &[u8],
        ikm: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_extract(hash_type, salt, ikm)
    }
    fn hmac(
        &self,
        hash_type: HashType,
        key: &[u8],
        message: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hmac(hash_type, key, message)
    }
    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_expand(hash_type, prk, info, okm_len)
    }
    fn hash(&self, hash_type: HashType, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.hash(hash_type, data)
    }
    fn aead_encrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        data: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.aead_encrypt(alg, key, data, nonce, aad)
    }
    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.aead_decrypt(alg, key, ct_tag, nonce, aad)
    }
    fn signature_key_gen(&self, alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        self.inner.signature_key_gen(alg)
    }
    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if alg != SignatureScheme::ED25519 {
            return self.inner.verify_signature(alg, data, pk, signature);
        }
        let key = self.verifying_key(pk)?;
        let sig: [u8; 64] = signature
            .try_into()
            .map_err(|_| CryptoError::CryptoLibraryError)?;
        key.verify_strict(data, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| CryptoError::InvalidSignature)
    }
    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.sign(alg, data, key)
    }
    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> Result<HpkeCiphertext, CryptoError> {
        self.inner.hpke_seal(config, pk_r, info, aad, ptxt)
    }
    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.hpke_open(config, input, sk_r, info, aad)
    }
    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<(KemOutput, ExporterSecret), CryptoError> {
        self.inner.hpke_setup_sender_and_export(
            config,
            pk_r,
            info,
            exporter_context,
            exporter_length,
        )
    }
    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<ExporterSecret, CryptoError> {
        self.inner.hpke_setup_receiver_and_export(
            config,
            enc,
            sk_r,
            info,
            exporter_context,
            exporter_length,
        )
    }
    fn derive_hpke_keypair(
        &self,
        config: HpkeConfig,
        ikm: &[u8],
    ) -> Result<HpkeKeyPair, CryptoError> {
        self.inner.derive_hpke_keypair(config, ikm)
    }
}

#[derive(Default)]
pub(crate) struct AlcoveProvider {
    crypto: AlcoveCrypto,
    storage: AlcoveStorage,
}

impl OpenMlsProvider for AlcoveProvider {
    type CryptoProvider = AlcoveCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = AlcoveStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }
    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }
    fn rand(&self) -> &Self::RandProvider {
        &self.crypto.inner
    }
}

impl AlcoveProvider {
    /// Export all storage entries, sorted by key (deterministic).
    pub(crate) fn export_storage(&self, out: &mut Zeroizing<Vec<u8>>) -> Result<()> {
        self.storage.export(out)
    }

    /// Build a provider from exported entries.
    pub(crate) fn import_storage(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            crypto: AlcoveCrypto::default(),
            storage: AlcoveStorage::import(r)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: SignatureScheme = SignatureScheme::ED25519;

    #[test]
    fn cached_verification_gives_rustcryptos_verdicts() {
        let ours = AlcoveCrypto::default();
        let plain = RustCrypto::default();
        let (private, public) = plain.signature_key_gen(ED25519).unwrap();
        let sig = plain.sign(ED25519, b"message", &private).unwrap();
        let mut tampered = sig.clone();
        tampered[10] ^= 1;
        // The second round verifies with the cached key.
        for _ in 0..2 {
            assert!(ours
                .verify_signature(ED25519, b"message", &public, &sig)
                .is_ok());
            assert_eq!(
                ours.verify_signature(ED25519, b"other", &public, &sig),
                Err(CryptoError::InvalidSignature)
            );
            assert_eq!(
                ours.verify_signature(ED25519, b"message", &public, &tampered),
                plain.verify_signature(ED25519, b"message", &public, &tampered)
            );
        }
        assert!(ours
            .verify_signature(ED25519, b"message", &public[..31], &sig)
            .is_err());
        assert!(ours
            .verify_signature(ED25519, b"message", &public, &sig[..63])
            .is_err());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let ours = AlcoveCrypto::default();
        let plain = RustCrypto::default();
        for _ in 0..(VERIFYING_KEY_CACHE + 10) {
            let (private, public) = plain.signature_key_gen(ED25519).unwrap();
            let sig = plain.sign(ED25519, b"m", &private).unwrap();
            assert!(ours.verify_signature(ED25519, b"m", &public, &sig).is_ok());
        }
        assert_eq!(
            ours.verifying_keys.lock().unwrap().len(),
            VERIFYING_KEY_CACHE
        );
    }
}

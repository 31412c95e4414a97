//! Sealing of device state at rest (ChaCha20-Poly1305 under an HKDF-SHA256
//! key derived from a device secret and a server-held unlock share).
//!
//! Sealed format, version 1:
//!
//! ```text
//! "ALCS"           4 bytes magic
//! version u8       = 0x01
//! nonce            12 bytes (random per seal)
//! ciphertext||tag  ChaCha20-Poly1305 of the snapshot plaintext
//! ```
//!
//! Key: `HKDF-SHA256(salt = "alcove-seal-v1", ikm = device_secret(32) ||
//! unlock_share(32), info = "alcove device state key")`, 32 bytes.
//!
//! AAD: `"alcove-sealed-state" || version u8 || u16 BE len || device_id`.
//!
//! When the server destroys the unlock share the key can no longer be
//! derived, so a copy of the sealed state on a stolen device is useless
//! (crypto-shredding).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Magic prefix of sealed state.
pub const SEALED_MAGIC: &[u8; 4] = b"ALCS";
/// Sealed format version written by this build.
pub const SEALED_VERSION: u8 = 1;
/// Header length (magic + version + nonce).
pub const SEALED_HEADER_LEN: usize = 4 + 1 + 12;
/// Maximum sealed blob size accepted (64 MiB).
pub const MAX_SEALED_LEN: usize = 64 * 1024 * 1024;
const HKDF_SALT: &[u8] = b"alcove-seal-v1";
const HKDF_INFO: &[u8] = b"alcove device state key";
const AAD_LABEL: &[u8] = b"alcove-sealed-state";

macro_rules! secret32 {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wrap 32 secret bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }
            /// Wrap a slice that must be exactly 32 bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self> {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| {
                    Error::InvalidArgument(concat!(stringify!($name), " must be 32 bytes").into())
                })?;
                Ok(Self(arr))
            }
            /// Fresh random value from the OS CSPRNG.
            pub fn generate() -> Result<Self> {
                Ok(Self(crate::random_array::<32>()?))
            }
            /// The secret bytes (handle with care).
            pub fn expose(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret32!(
    /// Per-device secret kept on the device (e.g. derived from the user's
    /// passphrase, or held in platform key storage).
    DeviceSecret
);
secret32!(
    /// Server-held share needed to unseal; destroying it crypto-shreds the
    /// device's stored state.
    UnlockShare
);

fn derive_key(
    device_secret: &DeviceSecret,
    unlock_share: &UnlockShare,
) -> Result<Zeroizing<[u8; 32]>> {
    // Both halves are fixed-size arrays, so the key material is their
    // concatenation without any index arithmetic.
    let mut ikm = Zeroizing::new(Vec::with_capacity(64));
    ikm.extend_from_slice(device_secret.expose());
    ikm.extend_from_slice(unlock_share.expose());
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm.as_slice());
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(HKDF_INFO, okm.as_mut_slice())
        .map_err(|_| Error::internal("hkdf expand"))?;
    Ok(okm)
}

fn aad(device_id: &str, version: u8) -> Result<Vec<u8>> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 3 + device_id.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.push(version);
    crate::wire::put_bytes_u16(&mut aad, device_id.as_bytes())?;
    Ok(aad)
}

/// Seal `plaintext` for `device_id` with a random nonce.
pub fn seal(
    plaintext: &[u8],
    device_id: &str,
    device_secret: &DeviceSecret,
    unlock_share: &UnlockShare,
) -> Result<Vec<u8>> {
    let nonce = crate::random_array::<12>()?;
    seal_with_nonce(plaintext, device_id, device_secret, unlock_share, nonce)
}

/// Seal with a caller-chosen nonce. Only for test vectors: reusing a nonce
/// under the same key is catastrophic.
#[doc(hidden)]
pub fn seal_with_nonce(
    plaintext: &[u8],
    device_id: &str,
    device_secret: &DeviceSecret,
    unlock_share: &UnlockShare,
    nonce: [u8; 12],
) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_SEALED_LEN - SEALED_HEADER_LEN - 16 {
        return Err(Error::TooLarge {
            len: plaintext.len(),
            limit: MAX_SEALED_LEN - SEALED_HEADER_LEN - 16,
        });
    }
    let key = derive_key(device_secret, unlock_share)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_slice()));
    let aad = aad(device_id, SEALED_VERSION)?;
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| Error::internal("aead encrypt"))?;
    let mut out = Vec::with_capacity(SEALED_HEADER_LEN + ct.len());
    out.extend_from_slice(SEALED_MAGIC);
    out.push(SEALED_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open a sealed blob. Any wrong key, wrong device id, or damage yields
/// [`Error::UnsealFailed`] (or `Malformed`/`UnsupportedVersion` for a bad
/// header); never panics.
pub fn unseal(
    sealed: &[u8],
    device_id: &str,
    device_secret: &DeviceSecret,
    unlock_share: &UnlockShare,
) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() > MAX_SEALED_LEN {
        return Err(Error::TooLarge {
            len: sealed.len(),
            limit: MAX_SEALED_LEN,
        });
    }
    let mut r = crate::wire::Reader::new(sealed);
    if r.take(4)? != SEALED_MAGIC {
        return Err(Error::malformed("sealed state magic"));
    }
    let version = r.u8()?;
    if version != SEALED_VERSION {
        return Err(Error::UnsupportedVersion(u32::from(version)));
    }
    let nonce = r.array::<12>()?;
    let ct = r.rest();
    if ct.len() < 16 {
        return Err(Error::malformed("sealed state truncated"));
    }
    let key = derive_key(device_secret, unlock_share)?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_slice()));
    let aad = aad(device_id, version)?;
    let pt = cipher
        .decrypt(Nonce::from_slice(&nonce), Payload { msg: ct, aad: &aad })
        .map_err(|_| Error::UnsealFailed)?;
    Ok(Zeroizing::new(pt))
}

//! The history archive (docs/history.md, step 2): a person's conversation
//! history sealed under a per-person *history key* that only the person's
//! devices and the person hold, so that a new device can restore it when no
//! device of the conversation is left to hand it over. The server stores the
//! sealed blobs and can open none of them.
//!
//! Sealed format, version 1:
//!
//! ```text
//! "ALCA"           4 bytes magic
//! version u8       = 0x01
//! nonce            12 bytes (random per seal)
//! ciphertext||tag  ChaCha20-Poly1305 of the archive plaintext
//! ```
//!
//! Key: `HKDF-SHA256(salt = "alcove-archive-v1", ikm = history_key(32),
//! info = "alcove history archive key")`.
//!
//! AAD: `"alcove-history-archive" || version u8 || str16 user_id ||
//! str16 conversation_id`: a blob opens only as the archive of the person
//! and conversation it was sealed for, so the server cannot swap blobs
//! between conversations or people.
//!
//! The person keeps the key as a **history recovery key**: the 32 key bytes
//! and a 2-byte check (the first two bytes of SHA-256 of the key), in
//! RFC 4648 base32 without padding, in groups of five joined by `-`
//! (55 characters, 11 groups). Parsing ignores case, spaces and dashes and
//! reads `0`/`1`/`8` as `O`/`I`/`B`; a typo fails the check
//! ([`Error::InvalidArgument`]) rather than opening nothing later.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Magic prefix of a sealed archive.
pub const ARCHIVE_MAGIC: &[u8; 4] = b"ALCA";
/// Archive format version written by this build.
pub const ARCHIVE_VERSION: u8 = 1;
/// Header length (magic + version + nonce).
pub const ARCHIVE_HEADER_LEN: usize = 4 + 1 + 12;
/// Largest sealed archive accepted (the server's limit is lower).
pub const MAX_ARCHIVE_LEN: usize = 16 * 1024 * 1024;
const HKDF_SALT: &[u8] = b"alcove-archive-v1";
const HKDF_INFO: &[u8] = b"alcove history archive key";
const AAD_LABEL: &[u8] = b"alcove-history-archive";
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A person's history key: 32 secret bytes, zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct HistoryKey([u8; 32]);

impl core::fmt::Debug for HistoryKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HistoryKey(<redacted>)")
    }
}

impl HistoryKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self> {
        Ok(Self(crate::random_array::<32>()?))
    }

    /// Wraps a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidArgument("a history key is 32 bytes".into()))?;
        Ok(Self(arr))
    }

    /// The secret bytes (handle with care).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key's public name: 16 hex digits of SHA-256 over a domain label
    /// and the key. The server keeps the current one per person and takes
    /// archives sealed under it only, so devices never mix keys; it names
    /// the key without opening anything.
    pub fn key_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"alcove history key id v1");
        h.update(self.0);
        let d: [u8; 32] = h.finalize().into();
        let [a, b, c, e, f, g, i, j, ..] = d;
        crate::wire::hex_encode(&[a, b, c, e, f, g, i, j])
    }

    /// The history recovery key as the person writes it down.
    pub fn to_recovery_text(&self) -> String {
        let mut bytes = Zeroizing::new(Vec::with_capacity(34));
        bytes.extend_from_slice(&self.0);
        bytes.extend_from_slice(&check(&self.0));
        let mut out = String::with_capacity(66);
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut written = 0usize;
        let mut push = |v: u32, out: &mut String| {
            if written > 0 && written % 5 == 0 {
                out.push('-');
            }
            out.push(symbol(v));
            written += 1;
        };
        for &b in bytes.iter() {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                push(acc >> bits, &mut out);
            }
        }
        if bits > 0 {
            push(acc << (5 - bits), &mut out);
        }
        acc.zeroize();
        out
    }

    /// Parses a history recovery key (see the module docs).
    pub fn from_recovery_text(text: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument("not a history recovery key".into());
        let mut bytes = Zeroizing::new(Vec::with_capacity(35));
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut chars = 0usize;
        for c in text.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                '0' => 'O',
                '1' => 'I',
                '8' => 'B',
                other => other,
            };
            let v = ALPHABET
                .iter()
                .position(|&a| char::from(a) == c)
                .ok_or_else(bad)?;
            chars += 1;
            if chars > 55 {
                return Err(bad());
            }
            acc = (acc << 5) | (v as u32);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push(((acc >> bits) & 0xff) as u8);
            }
        }
        acc.zeroize();
        if chars != 55 || bytes.len() != 34 {
            return Err(bad());
        }
        let (key, sum) = bytes.split_first_chunk::<32>().ok_or_else(bad)?;
        let key = *key;
        if sum != check(&key) {
            return Err(Error::InvalidArgument(
                "this history recovery key has a typo".into(),
            ));
        }
        Ok(Self(key))
    }
}

fn check(key: &[u8; 32]) -> [u8; 2] {
    let d: [u8; 32] = Sha256::digest(key).into();
    let [a, b, ..] = d;
    [a, b]
}

/// The base32 symbol of the low five bits of `v`.
fn symbol(v: u32) -> char {
    // `& 31` keeps the index in 0..32, the alphabet's length.
    ALPHABET
        .get((v & 31) as usize)
        .map_or('A', |&c| char::from(c))
}

fn derive(key: &HistoryKey) -> Result<Zeroizing<[u8; 32]>> {
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), key.expose());
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(HKDF_INFO, okm.as_mut_slice())
        .map_err(|_| Error::internal("hkdf expand"))?;
    Ok(okm)
}

fn aad(user_id: &str, conversation_id: &str, version: u8) -> Result<Vec<u8>> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 5 + user_id.len() + conversation_id.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.push(version);
    crate::wire::put_bytes_u16(&mut aad, user_id.as_bytes())?;
    crate::wire::put_bytes_u16(&mut aad, conversation_id.as_bytes())?;
    Ok(aad)
}

/// Seals `plaintext` as `user_id`'s archive of `conversation_id`.
pub fn seal(
    plaintext: &[u8],
    user_id: &str,
    conversation_id: &str,
    key: &HistoryKey,
) -> Result<Vec<u8>> {
    let limit = MAX_ARCHIVE_LEN - ARCHIVE_HEADER_LEN - 16;
    if plaintext.len() > limit {
        return Err(Error::TooLarge {
            len: plaintext.len(),
            limit,
        });
    }
    let nonce = crate::random_array::<12>()?;
    let k = derive(key)?;
    let ct = ChaCha20Poly1305::new(Key::from_slice(k.as_slice()))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad(user_id, conversation_id, ARCHIVE_VERSION)?,
            },
        )
        .map_err(|_| Error::internal("aead encrypt"))?;
    let mut out = Vec::with_capacity(ARCHIVE_HEADER_LEN + ct.len());
    out.extend_from_slice(ARCHIVE_MAGIC);
    out.push(ARCHIVE_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens `user_id`'s archive of `conversation_id`. A wrong key, another
/// person's or conversation's blob, or damage: [`Error::UnsealFailed`].
pub fn open(
    sealed: &[u8],
    user_id: &str,
    conversation_id: &str,
    key: &HistoryKey,
) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() > MAX_ARCHIVE_LEN {
        return Err(Error::TooLarge {
            len: sealed.len(),
            limit: MAX_ARCHIVE_LEN,
        });
    }
    let mut r = crate::wire::Reader::new(sealed);
    if r.take(4)? != ARCHIVE_MAGIC {
        return Err(Error::malformed("archive magic"));
    }
    let version = r.u8()?;
    if version != ARCHIVE_VERSION {
        return Err(Error::UnsupportedVersion(u32::from(version)));
    }
    let nonce = r.array::<12>()?;
    let ct = r.rest();
    if ct.len() < 16 {
        return Err(Error::malformed("archive truncated"));
    }
    let k = derive(key)?;
    let pt = ChaCha20Poly1305::new(Key::from_slice(k.as_slice()))
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: ct,
                aad: &aad(user_id, conversation_id, version)?,
            },
        )
        .map_err(|_| Error::UnsealFailed)?;
    Ok(Zeroizing::new(pt))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_key_round_trips_and_a_typo_is_caught() {
        let key = HistoryKey::generate().unwrap();
        let text = key.to_recovery_text();
        assert_eq!(text.len(), 55 + 10, "{text}");
        assert_eq!(text.split('-').count(), 11);
        assert_eq!(HistoryKey::from_recovery_text(&text).unwrap(), key);
        // Lower case, spaces instead of dashes: the same key.
        let loose = text.to_lowercase().replace('-', " ");
        assert_eq!(HistoryKey::from_recovery_text(&loose).unwrap(), key);
        // One character changed: refused, not a different key.
        let mut chars: Vec<char> = text.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert!(HistoryKey::from_recovery_text(&typo).is_err());
        assert!(HistoryKey::from_recovery_text(&text[..60]).is_err());
        assert!(HistoryKey::from_recovery_text(&format!("{text}A")).is_err());
        assert!(HistoryKey::from_recovery_text("not a key at all").is_err());
    }

    #[test]
    fn an_archive_opens_only_for_its_person_conversation_and_key() {
        let key = HistoryKey::generate().unwrap();
        let sealed = seal(b"records", "user-1", "conv-1", &key).unwrap();
        assert_eq!(
            &*open(&sealed, "user-1", "conv-1", &key).unwrap(),
            b"records"
        );
        let other = HistoryKey::generate().unwrap();
        for (user, conv, k) in [
            ("user-2", "conv-1", &key),
            ("user-1", "conv-2", &key),
            ("user-1", "conv-1", &other),
        ] {
            assert_eq!(
                open(&sealed, user, conv, k).unwrap_err().code(),
                "unseal_failed"
            );
        }
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(
            open(&damaged, "user-1", "conv-1", &key).unwrap_err().code(),
            "unseal_failed"
        );
        assert!(open(&sealed[..10], "user-1", "conv-1", &key).is_err());
        // The key's id is stable and names this key only.
        assert_eq!(
            key.key_id(),
            HistoryKey::from_slice(key.expose()).unwrap().key_id()
        );
        assert_eq!(key.key_id().len(), 16);
        assert_ne!(key.key_id(), other.key_id());
        // A fresh nonce every time.
        assert_ne!(seal(b"records", "user-1", "conv-1", &key).unwrap(), sealed);
    }
}

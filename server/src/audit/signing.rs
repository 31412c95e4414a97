//! The Ed25519 audit key and signed tree heads.
//!
//! The key is a PKCS#8 (v2) file outside the database — by default
//! `<data_dir>/audit-signing.key`, created with mode 0600 on first use — so a
//! stolen or edited database cannot produce new signatures. Verifiers need
//! only the 32-byte public key (`GET /api/v1/audit/head` shows it; pin it).

use super::canonical::{hex, parse_hash, Hash};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// Domain separation of tree-head signatures.
const STH_CONTEXT: &[u8] = b"alcove-audit-sth-v1\0";
/// Domain separation of export-manifest signatures.
const MANIFEST_CONTEXT: &[u8] = b"alcove-audit-export-v1\0";

/// The server's audit signing key.
pub struct AuditKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("key_id", &self.key_id())
            .finish()
    }
}

impl AuditKey {
    /// Loads the key at `path`, creating it (0600, never overwritten) when
    /// absent.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Self::from_pkcs8(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    crate::private_files::create_dir(dir)?;
                }
                let rng = ring::rand::SystemRandom::new();
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| anyhow::anyhow!("cannot generate the audit signing key"))?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(doc.as_ref())?;
                        file.sync_all()?;
                        Self::from_pkcs8(doc.as_ref())
                    }
                    // Another process or request created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::from_pkcs8(&std::fs::read(path)?)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(anyhow::anyhow!("cannot read the audit signing key: {e}")),
        }
    }

    /// Parses a PKCS#8 document.
    pub fn from_pkcs8(bytes: &[u8]) -> anyhow::Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(bytes).map_err(|_| {
            anyhow::anyhow!("the audit signing key file is not an Ed25519 PKCS#8 key")
        })?;
        Ok(Self { pair })
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.pair.public_key().as_ref().to_vec())
    }

    /// Short identifier of the public key.
    pub fn key_id(&self) -> String {
        self.public_key().key_id()
    }

    /// Signs the head of `practice`'s tree.
    pub fn sign_head(
        &self,
        practice_id: &str,
        tree_size: u64,
        root: &Hash,
        timestamp: i64,
    ) -> SignedTreeHead {
        let msg = sth_message(practice_id, tree_size, root, timestamp);
        SignedTreeHead {
            version: 1,
            practice_id: practice_id.to_string(),
            tree_size,
            root_hash: hex(root),
            timestamp,
            key_id: self.key_id(),
            signature: data_encoding::BASE64.encode(self.pair.sign(&msg).as_ref()),
        }
    }

    /// Signs an export manifest's bytes.
    pub fn sign_manifest(&self, manifest_bytes: &[u8]) -> String {
        let mut msg = MANIFEST_CONTEXT.to_vec();
        msg.extend_from_slice(manifest_bytes);
        data_encoding::BASE64.encode(self.pair.sign(&msg).as_ref())
    }
}

/// An Ed25519 public key (32 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(pub Vec<u8>);

impl PublicKey {
    /// Parses hex or base64 text (a file's content may end in a newline).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(t.as_bytes())
            .ok()
            .or_else(|| data_encoding::BASE64.decode(t.as_bytes()).ok())?;
        (bytes.len() == 32).then_some(Self(bytes))
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// First 8 bytes of SHA-256 of the key, hex.
    pub fn key_id(&self) -> String {
        hex(&ring::digest::digest(&ring::digest::SHA256, &self.0).as_ref()[..8])
    }

    /// Whether `head` carries a valid signature by this key.
    pub fn verify_head(&self, head: &SignedTreeHead) -> bool {
        let Some(root) = parse_hash(&head.root_hash) else {
            return false;
        };
        let Ok(sig) = data_encoding::BASE64.decode(head.signature.as_bytes()) else {
            return false;
        };
        let msg = sth_message(&head.practice_id, head.tree_size, &root, head.timestamp);
        head.version == 1
            && UnparsedPublicKey::new(&ED25519, &self.0)
                .verify(&msg, &sig)
                .is_ok()
    }

    /// Whether `signature` signs the manifest bytes.
    pub fn verify_manifest(&self, manifest_bytes: &[u8], signature: &str) -> bool {
        let Ok(sig) = data_encoding::BASE64.decode(signature.as_bytes()) else {
            return false;
        };
        let mut msg = MANIFEST_CONTEXT.to_vec();
        msg.extend_from_slice(manifest_bytes);
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&msg, &sig)
            .is_ok()
    }
}

/// `context || u32 len || practice || u64 size || i64 time || root`.
fn sth_message(practice_id: &str, tree_size: u64, root: &Hash, timestamp: i64) -> Vec<u8> {
    let mut msg = STH_CONTEXT.to_vec();
    msg.extend_from_slice(&(practice_id.len() as u32).to_be_bytes());
    msg.extend_from_slice(practice_id.as_bytes());
    msg.extend_from_slice(&tree_size.to_be_bytes());
    msg.extend_from_slice(&timestamp.to_be_bytes());
    msg.extend_from_slice(root);
    msg
}

/// A signed statement "practice P's log had `tree_size` entries with this
/// root at this time".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedTreeHead {
    /// Format version (1).
    pub version: u8,
    /// Practice whose log this is.
    pub practice_id: String,
    /// Number of entries covered (seq 1..=tree_size).
    pub tree_size: u64,
    /// RFC 9162 tree hash, lower-case hex.
    pub root_hash: String,
    /// Signing time (Unix seconds).
    pub timestamp: i64,
    /// Key identifier (first 8 bytes of SHA-256 of the public key, hex).
    pub key_id: String,
    /// Ed25519 signature, base64.
    pub signature: String,
}

impl SignedTreeHead {
    /// The root as bytes (None when malformed).
    pub fn root(&self) -> Option<Hash> {
        parse_hash(&self.root_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("k/audit-signing.key");
        let a = AuditKey::load_or_create(&path).expect("create");
        let b = AuditKey::load_or_create(&path).expect("load");
        assert_eq!(a.public_key(), b.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let head = a.sign_head("p", 3, &[7u8; 32], 10);
        assert!(b.public_key().verify_head(&head));
        let mut forged = head.clone();
        forged.tree_size = 2;
        assert!(!a.public_key().verify_head(&forged));
        let other = AuditKey::load_or_create(&dir.path().join("other.key")).expect("other");
        assert!(!other.public_key().verify_head(&head));
        assert_eq!(
            PublicKey::parse(&a.public_key().to_hex()),
            Some(a.public_key())
        );
    }
}

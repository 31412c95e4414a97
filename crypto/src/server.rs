//! Helpers for the delivery service (the server), so that `server/` never
//! touches openmls types: KeyPackage validation, reading the public framing
//! of MLS messages, Welcome routing, and the server's external-sender key
//! that signs Remove proposals.
//!
//! None of these functions can read message content: application messages
//! are PrivateMessages and this module has no group secrets.

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::crypto::OpenMlsCrypto;
use zeroize::Zeroizing;

use crate::device::{identity_of, parse_mls_message, serialize_out, MAX_GROUP_ID_LEN};
use crate::error::{Error, Result};
use crate::identity::DeviceIdentity;
use crate::provider::AlcoveProvider;
use crate::wire::{put_bytes_u16, put_bytes_u32, Reader};
use crate::CIPHERSUITE;

/// A KeyPackage that passed [`validate_key_package`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedKeyPackage {
    /// The KeyPackageRef (RFC 9420 §5.2, 32 bytes): store it as the
    /// package's id; Welcomes name the packages they target by this value.
    pub key_package_ref: Vec<u8>,
    /// Identity from the credential (equals the expected identity).
    pub identity: DeviceIdentity,
    /// Ed25519 public key of the device (compare with the registered key).
    pub signature_key: Vec<u8>,
    /// Lifetime start, Unix seconds.
    pub not_before: u64,
    /// Lifetime end, Unix seconds (drop the package after this).
    pub not_after: u64,
    /// True for a last-resort package (may be handed out more than once).
    pub last_resort: bool,
}

pub(crate) fn parse_key_package(bytes: &[u8], crypto: &impl OpenMlsCrypto) -> Result<KeyPackage> {
    let msg = parse_mls_message(bytes).map_err(|e| Error::InvalidKeyPackage(e.to_string()))?;
    let MlsMessageBodyIn::KeyPackage(kp_in) = msg.extract() else {
        return Err(Error::InvalidKeyPackage("not a key package message".into()));
    };
    let kp = kp_in
        .validate(crypto, ProtocolVersion::Mls10)
        .map_err(|e| match e {
            KeyPackageVerifyError::LifetimeError(_) => Error::KeyPackageLifetime,
            other => Error::InvalidKeyPackage(other.to_string()),
        })?;
    if kp.ciphersuite() != CIPHERSUITE {
        return Err(Error::UnsupportedCiphersuite);
    }
    Ok(kp)
}

/// Validate an uploaded KeyPackage (`MLSMessage` encoding, wire format
/// `mls_key_package`): protocol version, ciphersuite (only Alcove's),
/// signatures (leaf node and package), lifetime at `now_unix_secs` and at
/// most ~3 months long, and that the credential's identity equals
/// `expected` (the uploading device).
pub fn validate_key_package(
    bytes: &[u8],
    expected: &DeviceIdentity,
    now_unix_secs: u64,
) -> Result<ValidatedKeyPackage> {
    let crypto = openmls_rust_crypto::RustCrypto::default();
    let kp = parse_key_package(bytes, &crypto)?;
    let lifetime = kp.life_time();
    // Same rule as openmls' `Lifetime::validate_with_time`, with the
    // caller's clock (and no std::time, which differs on wasm32).
    if lifetime.not_after() <= now_unix_secs || lifetime.not_before() > now_unix_secs {
        return Err(Error::KeyPackageLifetime);
    }
    if !lifetime.has_acceptable_range() {
        return Err(Error::KeyPackageLifetime);
    }
    let identity = identity_of(kp.leaf_node().credential())
        .map_err(|e| Error::InvalidKeyPackage(e.to_string()))?;
    if &identity != expected {
        return Err(Error::IdentityMismatch);
    }
    let key_package_ref = kp
        .hash_ref(&crypto)
        .map_err(|e| Error::internal(format!("hash ref: {e}")))?
        .as_slice()
        .to_vec();
    Ok(ValidatedKeyPackage {
        key_package_ref,
        identity,
        signature_key: kp.leaf_node().signature_key().as_slice().to_vec(),
        not_before: lifetime.not_before(),
        not_after: lifetime.not_after(),
        last_resort: kp.last_resort(),
    })
}

/// MLS wire format of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireFormatKind {
    /// `mls_public_message`: signed, not encrypted (handshake).
    PublicMessage,
    /// `mls_private_message`: encrypted (application).
    PrivateMessage,
    /// `mls_welcome`.
    Welcome,
    /// `mls_group_info`.
    GroupInfo,
    /// `mls_key_package`.
    KeyPackage,
}

/// Content type visible in the framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    /// Application data (always a PrivateMessage in Alcove).
    Application,
    /// A standalone proposal.
    Proposal,
    /// A commit.
    Commit,
    /// A Welcome for new members.
    Welcome,
    /// A GroupInfo.
    GroupInfo,
    /// A KeyPackage.
    KeyPackage,
}

impl ContentKind {
    /// Stable lower-case name (for storage and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Application => "application",
            ContentKind::Proposal => "proposal",
            ContentKind::Commit => "commit",
            ContentKind::Welcome => "welcome",
            ContentKind::GroupInfo => "group_info",
            ContentKind::KeyPackage => "key_package",
        }
    }
}

/// Sender as visible in the framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderInfo {
    /// A member at this leaf index (PublicMessage only).
    Member(u32),
    /// An external sender at this index of the ExternalSenders extension
    /// (index 0 is the Alcove server).
    External(u32),
    /// A new member proposing to join itself (not used by Alcove).
    NewMemberProposal,
    /// A new member joining by external commit (not used by Alcove).
    NewMemberCommit,
    /// Encrypted: PrivateMessages hide their sender from the server.
    Hidden,
    /// Not applicable (Welcome, GroupInfo, KeyPackage).
    None,
}

/// What the server can learn from a message's public framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    /// Wire format.
    pub wire_format: WireFormatKind,
    /// Content type.
    pub content: ContentKind,
    /// Group id (PublicMessage / PrivateMessage only).
    pub group_id: Option<Vec<u8>>,
    /// Epoch the message was sent in (PublicMessage / PrivateMessage only).
    pub epoch: Option<u64>,
    /// Sender.
    pub sender: SenderInfo,
    /// For Welcomes: KeyPackageRefs of the devices it is addressed to.
    pub welcome_key_package_refs: Vec<Vec<u8>>,
}

fn sender_info(s: &Sender) -> Result<SenderInfo> {
    Ok(match s {
        Sender::Member(i) => SenderInfo::Member(i.u32()),
        Sender::External(i) => {
            let b = i
                .tls_serialize_detached()
                .map_err(|e| Error::internal(format!("sender index: {e}")))?;
            let arr: [u8; 4] = b
                .as_slice()
                .try_into()
                .map_err(|_| Error::internal("sender index width"))?;
            SenderInfo::External(u32::from_be_bytes(arr))
        }
        Sender::NewMemberProposal => SenderInfo::NewMemberProposal,
        Sender::NewMemberCommit => SenderInfo::NewMemberCommit,
    })
}

fn content_kind(c: ContentType) -> ContentKind {
    match c {
        ContentType::Application => ContentKind::Application,
        ContentType::Proposal => ContentKind::Proposal,
        ContentType::Commit => ContentKind::Commit,
    }
}

/// Read group id, epoch, content type and sender from an `MLSMessage`'s
/// public framing. Does not verify signatures (the server has no group
/// state); members verify everything. Never panics on any input.
pub fn inspect_message(bytes: &[u8]) -> Result<MessageInfo> {
    let msg = parse_mls_message(bytes)?;
    let info = match msg.extract() {
        MlsMessageBodyIn::PublicMessage(p) => MessageInfo {
            wire_format: WireFormatKind::PublicMessage,
            content: content_kind(p.content_type()),
            group_id: Some(p.group_id().to_vec()),
            epoch: Some(p.epoch().as_u64()),
            sender: sender_info(p.sender())?,
            welcome_key_package_refs: Vec::new(),
        },
        MlsMessageBodyIn::PrivateMessage(p) => MessageInfo {
            wire_format: WireFormatKind::PrivateMessage,
            content: content_kind(p.content_type()),
            group_id: Some(p.group_id().to_vec()),
            epoch: Some(p.epoch().as_u64()),
            sender: SenderInfo::Hidden,
            welcome_key_package_refs: Vec::new(),
        },
        MlsMessageBodyIn::Welcome(w) => MessageInfo {
            wire_format: WireFormatKind::Welcome,
            content: ContentKind::Welcome,
            group_id: None,
            epoch: None,
            sender: SenderInfo::None,
            welcome_key_package_refs: w
                .secrets()
                .iter()
                .map(|s| s.new_member().as_slice().to_vec())
                .collect(),
        },
        MlsMessageBodyIn::GroupInfo(_) => MessageInfo {
            wire_format: WireFormatKind::GroupInfo,
            content: ContentKind::GroupInfo,
            group_id: None,
            epoch: None,
            sender: SenderInfo::None,
            welcome_key_package_refs: Vec::new(),
        },
        MlsMessageBodyIn::KeyPackage(_) => MessageInfo {
            wire_format: WireFormatKind::KeyPackage,
            content: ContentKind::KeyPackage,
            group_id: None,
            epoch: None,
            sender: SenderInfo::None,
            welcome_key_package_refs: Vec::new(),
        },
    };
    Ok(info)
}

/// KeyPackageRefs a Welcome (`MLSMessage`) is addressed to: route the
/// Welcome only to the devices that uploaded those KeyPackages.
pub fn welcome_key_package_refs(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let info = inspect_message(bytes)?;
    if info.wire_format != WireFormatKind::Welcome {
        return Err(Error::malformed("not a welcome"));
    }
    Ok(info.welcome_key_package_refs)
}

/// Default credential identity of the server's external-sender key.
pub const DEFAULT_SERVER_IDENTITY: &[u8] = b"alcove-server-v1";
const SERVER_KEY_MAGIC: &[u8; 4] = b"ALSK";
const SERVER_KEY_VERSION: u8 = 1;

/// The server's external-sender signing key. Its public part goes into every
/// group's ExternalSenders extension (at index 0), which lets the server sign
/// Remove proposals that members will accept and commit.
///
/// `Debug` never prints the private key.
pub struct ExternalSenderKey {
    signer: SignatureKeyPair,
    identity: Vec<u8>,
}

impl core::fmt::Debug for ExternalSenderKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExternalSenderKey")
            .field("identity", &String::from_utf8_lossy(&self.identity))
            .field("public_key", &crate::wire::hex_encode(self.signer.public()))
            .finish_non_exhaustive()
    }
}

impl ExternalSenderKey {
    /// Generate a new Ed25519 key with the given credential identity
    /// (e.g. [`DEFAULT_SERVER_IDENTITY`]; 1..=255 bytes).
    pub fn generate(identity: &[u8]) -> Result<Self> {
        if identity.is_empty() || identity.len() > 255 {
            return Err(Error::InvalidArgument(
                "identity must be 1..=255 bytes".into(),
            ));
        }
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm())
            .map_err(|e| Error::internal(format!("keygen: {e:?}")))?;
        Ok(Self {
            signer,
            identity: identity.to_vec(),
        })
    }

    /// Secret serialization for the server's key store:
    /// `"ALSK" || 0x01 || identity str16 || u32-len TLS SignatureKeyPair`.
    /// Zeroized on drop.
    pub fn to_secret_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(SERVER_KEY_MAGIC);
        out.push(SERVER_KEY_VERSION);
        put_bytes_u16(&mut out, &self.identity)?;
        let s = Zeroizing::new(
            self.signer
                .tls_serialize_detached()
                .map_err(|e| Error::internal(format!("serialize: {e}")))?,
        );
        put_bytes_u32(&mut out, &s)?;
        Ok(out)
    }

    /// Parse [`ExternalSenderKey::to_secret_bytes`] output.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        if r.take(4)? != SERVER_KEY_MAGIC {
            return Err(Error::malformed("server key magic"));
        }
        let v = r.u8()?;
        if v != SERVER_KEY_VERSION {
            return Err(Error::UnsupportedVersion(u32::from(v)));
        }
        let identity = r.bytes_u16(255)?.to_vec();
        if identity.is_empty() {
            return Err(Error::malformed("server identity"));
        }
        let signer = SignatureKeyPair::tls_deserialize_exact(r.bytes_u32(4096)?)
            .map_err(|_| Error::malformed("server key"))?;
        r.finish()?;
        if signer.signature_scheme() != CIPHERSUITE.signature_algorithm()
            || signer.public().len() != 32
        {
            return Err(Error::malformed("server key"));
        }
        Ok(Self { signer, identity })
    }

    /// Ed25519 public key (32 bytes).
    pub fn public_key(&self) -> &[u8] {
        self.signer.public()
    }

    /// The public `ExternalSender` struct (RFC 9420 §12.1.8.1, TLS encoded):
    /// give these bytes to clients; they pass them to
    /// [`crate::Device::create_group`].
    pub fn public_bytes(&self) -> Result<Vec<u8>> {
        let credential: Credential = BasicCredential::new(self.identity.clone()).into();
        ExternalSender::new(self.signer.public().into(), credential)
            .tls_serialize_detached()
            .map_err(|e| Error::internal(format!("serialize: {e}")))
    }

    /// Build a signed external Remove proposal (PublicMessage, sender
    /// `external(0)`) removing the device at `leaf_index` from `group_id` at
    /// `epoch` (the group's current epoch as the server has ordered it). The
    /// next member device to come online commits it.
    pub fn propose_remove(&self, group_id: &[u8], epoch: u64, leaf_index: u32) -> Result<Vec<u8>> {
        if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_LEN {
            return Err(Error::InvalidArgument("group id length".into()));
        }
        let msg = ExternalProposal::new_remove::<AlcoveProvider>(
            LeafNodeIndex::new(leaf_index),
            GroupId::from_slice(group_id),
            GroupEpoch::from(epoch),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(|e| Error::internal(format!("propose remove: {e:?}")))?;
        serialize_out(&msg)
    }
}

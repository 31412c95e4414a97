//! A device: one MLS client (one leaf in every conversation it belongs to).
//!
//! [`Device`] owns its openmls provider (crypto + in-memory storage), its
//! Ed25519 signature key and its credential, and exposes byte-in/byte-out
//! operations. All MLS messages it produces and consumes are `MLSMessage`
//! TLS encodings (RFC 9420 §6). Handshake messages (commits, proposals) are
//! sent as `PublicMessage` so the delivery service can read group id, epoch,
//! sender and content type; application messages are `PrivateMessage`.
//!
//! Commit protocol: `add_devices`, `remove_devices`, `self_update` and
//! `commit_pending_proposals` create a *pending* commit and return it. Send
//! it to the server; if the server accepts it, call
//! [`Device::merge_pending_commit`] (or process the echoed commit, which
//! merges it too); if the server rejects it because another commit won the
//! epoch, call [`Device::discard_pending_commit`], process the winning
//! commit, and retry.

use std::collections::BTreeMap;

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::identity::DeviceIdentity;
use crate::provider::AlcoveProvider;
use crate::seal::{self, DeviceSecret, UnlockShare};
use crate::signer::DeviceSigner;
use crate::wire::{put_bytes_u16, put_bytes_u32, Reader};
use crate::CIPHERSUITE;

/// Maximum size of an MLS message accepted or produced (4 MiB).
pub const MAX_MESSAGE_LEN: usize = 4 * 1024 * 1024;
/// Snapshot plaintext format version. Version 2: storage values are
/// postcard-encoded (version 1, JSON values, is no longer readable).
pub const SNAPSHOT_VERSION: u8 = 2;
const SNAPSHOT_MAGIC: &[u8; 4] = b"ALCD";
/// Maximum group id length in bytes.
pub const MAX_GROUP_ID_LEN: usize = 255;
/// Past epochs whose application secrets are kept to decrypt late messages.
pub const MAX_PAST_EPOCHS: usize = 2;
/// Application ciphertexts are padded to a multiple of this many bytes.
pub const PADDING_SIZE: usize = 32;
/// Default KeyPackage lifetime (seconds): 28 days.
pub const KEY_PACKAGE_LIFETIME_SECS: u64 = 28 * 24 * 60 * 60;
/// Clock-skew allowance subtracted from `not_before` (seconds).
pub const KEY_PACKAGE_SKEW_SECS: u64 = 60 * 60;
/// Maximum KeyPackages per batch.
pub const MAX_KEY_PACKAGE_BATCH: usize = 500;

/// A member of a group as shown to the UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Leaf index in the ratchet tree (stable while the device is a member).
    pub leaf_index: u32,
    /// Parsed identity of the device.
    pub identity: DeviceIdentity,
    /// Ed25519 public signature key of the device.
    pub signature_key: Vec<u8>,
}

/// Output of an operation that creates a commit.
#[derive(Clone, Debug)]
pub struct CommitOutput {
    /// The commit (`MLSMessage`, PublicMessage). Send to the server.
    pub commit: Vec<u8>,
    /// The Welcome (`MLSMessage`) for added devices, if any.
    pub welcome: Option<Vec<u8>>,
    /// KeyPackageRefs the Welcome is encrypted to (one per added device).
    pub welcome_key_package_refs: Vec<Vec<u8>>,
    /// Epoch the commit was created in (the server accepts one per epoch).
    pub epoch: u64,
    /// The GroupInfo of the epoch this commit creates (`MLSMessage`, signed
    /// by this device, with the ratchet tree and the external public key):
    /// upload it with the commit so a new device of an allowed person can
    /// join by external commit without waiting for anyone.
    pub group_info: Option<Vec<u8>>,
}

/// Output of joining a group from a Welcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinOutput {
    /// Group id joined.
    pub group_id: Vec<u8>,
    /// Epoch after joining.
    pub epoch: u64,
    /// This device's leaf index.
    pub own_leaf_index: u32,
}

/// Result of processing an incoming MLS message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Processed {
    /// A decrypted application message (decode it with
    /// [`crate::Envelope::decode`]).
    Application {
        /// Group id.
        group_id: Vec<u8>,
        /// Epoch the message was sent in.
        epoch: u64,
        /// The sending device.
        sender: MemberInfo,
        /// Plaintext bytes.
        plaintext: Vec<u8>,
    },
    /// A proposal was validated and stored; call
    /// [`Device::commit_pending_proposals`] to commit it.
    ProposalStored {
        /// Group id.
        group_id: Vec<u8>,
        /// Epoch of the proposal.
        epoch: u64,
        /// True if the server (external sender) proposed it.
        from_server: bool,
        /// Members the proposal removes.
        removes: Vec<MemberInfo>,
        /// True if this device is among the removed.
        removes_self: bool,
    },
    /// A commit from another member was validated and merged.
    CommitMerged {
        /// Group id.
        group_id: Vec<u8>,
        /// Epoch after the commit.
        epoch: u64,
        /// Leaf index of the committer.
        committer: u32,
        /// Members added by the commit.
        added: Vec<MemberInfo>,
        /// Members removed by the commit.
        removed: Vec<MemberInfo>,
        /// True if this device was removed: the group is now inactive.
        self_removed: bool,
    },
    /// This device's own pending commit came back from the server and was
    /// merged.
    OwnCommitMerged {
        /// Group id.
        group_id: Vec<u8>,
        /// Epoch after the commit.
        epoch: u64,
    },
    /// A handshake message for an epoch that is already past (duplicate or
    /// superseded). Nothing changed; drop it.
    Stale {
        /// Group id.
        group_id: Vec<u8>,
        /// Epoch stated in the message.
        message_epoch: u64,
        /// Current epoch.
        group_epoch: u64,
    },
    /// An application message this device sent, echoed back. Nothing changed.
    OwnMessage {
        /// Group id.
        group_id: Vec<u8>,
    },
}

/// A device: identity, signature key, and the MLS state of every group it is
/// in. `Debug` never prints key material.
pub struct Device {
    provider: AlcoveProvider,
    signer: DeviceSigner,
    identity: DeviceIdentity,
    groups: BTreeMap<Vec<u8>, MlsGroup>,
}

impl core::fmt::Debug for Device {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("identity", &self.identity)
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// helpers

fn check_len(bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(Error::TooLarge {
            len: bytes.len(),
            limit: MAX_MESSAGE_LEN,
        });
    }
    Ok(())
}

fn check_group_id(group_id: &[u8]) -> Result<()> {
    if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_LEN {
        return Err(Error::InvalidArgument(format!(
            "group id must be 1..={MAX_GROUP_ID_LEN} bytes"
        )));
    }
    Ok(())
}

pub(crate) fn parse_mls_message(bytes: &[u8]) -> Result<MlsMessageIn> {
    check_len(bytes)?;
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(Error::malformed)
}

pub(crate) fn serialize_out(msg: &MlsMessageOut) -> Result<Vec<u8>> {
    msg.tls_serialize_detached()
        .map_err(|e| Error::internal(format!("serialize: {e}")))
}

pub(crate) fn identity_of(credential: &Credential) -> Result<DeviceIdentity> {
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|_| Error::InvalidMessage("credential is not a basic credential".into()))?;
    DeviceIdentity::from_bytes(basic.identity())
}

fn member_info(m: &Member) -> Result<MemberInfo> {
    Ok(MemberInfo {
        leaf_index: m.index.u32(),
        identity: identity_of(&m.credential)?,
        signature_key: m.signature_key.clone(),
    })
}

fn storage_err(e: impl core::fmt::Debug) -> Error {
    Error::internal(format!("storage: {e:?}"))
}

fn validation_error(e: &ValidationError) -> Error {
    match e {
        ValidationError::UnableToDecrypt(_) => Error::DecryptFailed,
        ValidationError::WrongEpoch | ValidationError::NoPastEpochData => Error::DecryptFailed,
        other => Error::InvalidMessage(other.to_string()),
    }
}

fn process_error<S: core::fmt::Debug>(e: ProcessMessageError<S>) -> Error {
    match e {
        ProcessMessageError::ValidationError(v) => validation_error(&v),
        ProcessMessageError::GroupStateError(MlsGroupStateError::UseAfterEviction) => {
            Error::NotMember
        }
        ProcessMessageError::GroupStateError(g) => Error::InvalidMessage(g.to_string()),
        ProcessMessageError::StorageError(s) => storage_err(s),
        ProcessMessageError::LibraryError(l) => Error::internal(l),
        other => Error::InvalidMessage(format!("{other:?}")),
    }
}

fn group_state_error(e: &MlsGroupStateError) -> Error {
    match e {
        MlsGroupStateError::UseAfterEviction => Error::NotMember,
        MlsGroupStateError::PendingCommit => Error::PendingCommit,
        other => Error::InvalidArgument(other.to_string()),
    }
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .padding_size(PADDING_SIZE)
        .sender_ratchet_configuration(SenderRatchetConfiguration::new(100, 1000))
        .build()
}

fn group_info_out(gi: Option<openmls::messages::group_info::GroupInfo>) -> Result<Option<Vec<u8>>> {
    gi.map(|g| serialize_out(&MlsMessageOut::from(g)))
        .transpose()
}

fn epoch_of(group: &MlsGroup) -> u64 {
    group.epoch().as_u64()
}

fn welcome_refs(welcome: Option<&MlsMessageOut>) -> Result<Vec<Vec<u8>>> {
    let Some(w) = welcome else {
        return Ok(Vec::new());
    };
    crate::server::welcome_key_package_refs(&serialize_out(w)?)
}

// ---------------------------------------------------------------------------

impl Device {
    /// Generate a fresh device: new Ed25519 key pair and credential.
    pub fn new(identity: DeviceIdentity) -> Result<Self> {
        let pair = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm())
            .map_err(|e| Error::internal(format!("keygen: {e:?}")))?;
        let provider = AlcoveProvider::default();
        pair.store(provider.storage()).map_err(storage_err)?;
        let signer = DeviceSigner::new(pair)?;
        Ok(Self {
            provider,
            signer,
            identity,
            groups: BTreeMap::new(),
        })
    }

    /// This device's identity.
    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    /// This device's Ed25519 public signature key (32 bytes). The server
    /// records it at registration and can compare it with KeyPackages.
    pub fn signature_public_key(&self) -> &[u8] {
        self.signer.public()
    }

    fn credential_with_key(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.identity.to_bytes()).into(),
            signature_key: self.signer.public().into(),
        }
    }

    fn build_key_package(&self, now_unix_secs: u64, last_resort: bool) -> Result<Vec<u8>> {
        let lifetime = Lifetime::init(
            now_unix_secs.saturating_sub(KEY_PACKAGE_SKEW_SECS),
            now_unix_secs.saturating_add(KEY_PACKAGE_LIFETIME_SECS),
        );
        let mut builder = KeyPackage::builder().key_package_lifetime(lifetime);
        if last_resort {
            builder = builder
                .mark_as_last_resort()
                .leaf_node_capabilities(Capabilities::new(
                    None,
                    Some(&[CIPHERSUITE]),
                    Some(&[ExtensionType::LastResort]),
                    None,
                    Some(&[CredentialType::Basic]),
                ));
        }
        let bundle = builder
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                self.credential_with_key(),
            )
            .map_err(|e| Error::internal(format!("key package: {e:?}")))?;
        let msg = MlsMessageOut::from(bundle.key_package().clone());
        serialize_out(&msg)
    }

    /// Generate `count` one-time KeyPackages (`MLSMessage` encoded), valid
    /// from `now - 1h` for 28 days. Their private keys stay in this device's
    /// state until used by a Welcome.
    pub fn key_packages(&mut self, count: usize, now_unix_secs: u64) -> Result<Vec<Vec<u8>>> {
        if count > MAX_KEY_PACKAGE_BATCH {
            return Err(Error::InvalidArgument(format!(
                "at most {MAX_KEY_PACKAGE_BATCH} key packages per batch"
            )));
        }
        (0..count)
            .map(|_| self.build_key_package(now_unix_secs, false))
            .collect()
    }

    /// Generate a last-resort KeyPackage (RFC 9420 last_resort extension):
    /// the server hands it out only when one-time packages are exhausted, and
    /// it may be used by several Welcomes.
    pub fn last_resort_key_package(&mut self, now_unix_secs: u64) -> Result<Vec<u8>> {
        self.build_key_package(now_unix_secs, true)
    }

    fn group(&self, group_id: &[u8]) -> Result<&MlsGroup> {
        self.groups.get(group_id).ok_or(Error::UnknownGroup)
    }

    /// Create a conversation group with this device as the only member. The
    /// group context carries the server's external-sender key
    /// (`external_sender` as produced by
    /// [`crate::server::ExternalSenderKey::public_bytes`]) so the server can
    /// propose removals.
    pub fn create_group(&mut self, group_id: &[u8], external_sender: &[u8]) -> Result<()> {
        check_group_id(group_id)?;
        if self.groups.contains_key(group_id) {
            return Err(Error::GroupExists);
        }
        let sender = ExternalSender::tls_deserialize_exact(external_sender)
            .map_err(|e| Error::InvalidArgument(format!("external sender: {e}")))?;
        let extensions = Extensions::single(Extension::ExternalSenders(vec![sender]))
            .map_err(|e| Error::internal(format!("extensions: {e}")))?;
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .wire_format_policy(PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .padding_size(PADDING_SIZE)
            .sender_ratchet_configuration(SenderRatchetConfiguration::new(100, 1000))
            .with_group_context_extensions(extensions)
            .build();
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &config,
            GroupId::from_slice(group_id),
            self.credential_with_key(),
        )
        .map_err(|e| match e {
            NewGroupError::GroupAlreadyExists => Error::GroupExists,
            other => Error::internal(format!("create group: {other:?}")),
        })?;
        self.groups.insert(group_id.to_vec(), group);
        Ok(())
    }

    /// Add devices by their KeyPackages (`MLSMessage` encoded, as fetched
    /// from the server). Every KeyPackage is validated (signature, suite,
    /// lifetime, identity format). Returns the pending commit and the Welcome.
    pub fn add_devices(
        &mut self,
        group_id: &[u8],
        key_packages: &[Vec<u8>],
    ) -> Result<CommitOutput> {
        if key_packages.is_empty() {
            return Err(Error::InvalidArgument("no key packages".into()));
        }
        let mut kps = Vec::with_capacity(key_packages.len());
        for kp in key_packages {
            let kp = crate::server::parse_key_package(kp, self.provider.crypto())?;
            identity_of(kp.leaf_node().credential())
                .map_err(|e| Error::InvalidKeyPackage(e.to_string()))?;
            kps.push(kp);
        }
        let Self {
            provider,
            signer,
            groups,
            ..
        } = self;
        let group = groups.get_mut(group_id).ok_or(Error::UnknownGroup)?;
        let epoch = epoch_of(group);
        let (commit, welcome, gi) =
            group
                .add_members(provider, signer, &kps)
                .map_err(|e| match e {
                    AddMembersError::GroupStateError(g) => group_state_error(&g),
                    other => Error::InvalidArgument(format!("add: {other}")),
                })?;
        Ok(CommitOutput {
            commit: serialize_out(&commit)?,
            welcome_key_package_refs: welcome_refs(Some(&welcome))?,
            welcome: Some(serialize_out(&welcome)?),
            epoch,
            group_info: group_info_out(gi)?,
        })
    }

    /// Remove devices by leaf index. Returns the pending commit.
    pub fn remove_devices(
        &mut self,
        group_id: &[u8],
        leaf_indices: &[u32],
    ) -> Result<CommitOutput> {
        if leaf_indices.is_empty() {
            return Err(Error::InvalidArgument("no leaf indices".into()));
        }
        let Self {
            provider,
            signer,
            groups,
            ..
        } = self;
        let group = groups.get_mut(group_id).ok_or(Error::UnknownGroup)?;
        let own = group.own_leaf_index().u32();
        for idx in leaf_indices {
            if *idx == own {
                return Err(Error::InvalidArgument("cannot remove own device".into()));
            }
            if group.member(LeafNodeIndex::new(*idx)).is_none() {
                return Err(Error::InvalidArgument(format!("no member at leaf {idx}")));
            }
        }
        let epoch = epoch_of(group);
        let idx: Vec<LeafNodeIndex> = leaf_indices
            .iter()
            .map(|i| LeafNodeIndex::new(*i))
            .collect();
        let (commit, welcome, gi) =
            group
                .remove_members(provider, signer, &idx)
                .map_err(|e| match e {
                    RemoveMembersError::GroupStateError(g) => group_state_error(&g),
                    other => Error::InvalidArgument(format!("remove: {other}")),
                })?;
        Ok(CommitOutput {
            commit: serialize_out(&commit)?,
            welcome_key_package_refs: welcome_refs(welcome.as_ref())?,
            welcome: welcome.as_ref().map(serialize_out).transpose()?,
            epoch,
            group_info: group_info_out(gi)?,
        })
    }

    /// Commit a fresh leaf key (post-compromise security). Also commits any
    /// pending proposals. Returns the pending commit.
    pub fn self_update(&mut self, group_id: &[u8]) -> Result<CommitOutput> {
        let Self {
            provider,
            signer,
            groups,
            ..
        } = self;
        let group = groups.get_mut(group_id).ok_or(Error::UnknownGroup)?;
        if group
            .pending_proposals()
            .any(|p| removes_leaf(p, group.own_leaf_index()))
        {
            return Err(Error::InvalidArgument(
                "a pending proposal removes this device".into(),
            ));
        }
        let epoch = epoch_of(group);
        let bundle = group
            .self_update(provider, signer, LeafNodeParameters::default())
            .map_err(|e| match e {
                SelfUpdateError::GroupStateError(g) => group_state_error(&g),
                other => Error::internal(format!("self update: {other:?}")),
            })?;
        let (commit, welcome, gi) = bundle.into_messages();
        Ok(CommitOutput {
            commit: serialize_out(&commit)?,
            welcome_key_package_refs: welcome_refs(welcome.as_ref())?,
            welcome: welcome.as_ref().map(serialize_out).transpose()?,
            epoch,
            group_info: gi.as_ref().map(serialize_out).transpose()?,
        })
    }

    /// True if proposals are waiting to be committed.
    pub fn has_pending_proposals(&self, group_id: &[u8]) -> Result<bool> {
        Ok(self.group(group_id)?.pending_proposals().next().is_some())
    }

    /// Commit all stored proposals (e.g. the server's external Remove).
    /// Returns `None` if nothing is pending, or if a pending proposal removes
    /// this device itself (another member must commit that).
    pub fn commit_pending_proposals(&mut self, group_id: &[u8]) -> Result<Option<CommitOutput>> {
        let Self {
            provider,
            signer,
            groups,
            ..
        } = self;
        let group = groups.get_mut(group_id).ok_or(Error::UnknownGroup)?;
        if !group.is_active() {
            return Err(Error::NotMember);
        }
        let own = group.own_leaf_index();
        if group.pending_proposals().next().is_none()
            || group.pending_proposals().any(|p| removes_leaf(p, own))
        {
            return Ok(None);
        }
        let epoch = epoch_of(group);
        let (commit, welcome, gi) = group
            .commit_to_pending_proposals(provider, signer)
            .map_err(|e| match e {
                CommitToPendingProposalsError::GroupStateError(g) => group_state_error(&g),
                other => Error::InvalidMessage(format!("commit: {other}")),
            })?;
        Ok(Some(CommitOutput {
            commit: serialize_out(&commit)?,
            welcome_key_package_refs: welcome_refs(welcome.as_ref())?,
            welcome: welcome.as_ref().map(serialize_out).transpose()?,
            epoch,
            group_info: group_info_out(gi)?,
        }))
    }

    /// The server accepted this device's pending commit: apply it.
    pub fn merge_pending_commit(&mut self, group_id: &[u8]) -> Result<u64> {
        let Self {
            provider, groups, ..
        } = self;
        let group = groups.get_mut(group_id).ok_or(Error::UnknownGroup)?;
        if group.pending_commit().is_none() {
            return Err(Error::NoPendingCommit);
        }
        group
            .merge_pending_commit(provider)
            .map_err(|e| Error::internal(format!("merge: {e:?}")))?;
        Ok(epoch_of(group))
    }

    /// The server rejected this device's pending commit (another commit won
    /// the epoch): drop it. Proposals stay queued.
    pub fn discard_pending_commit(&mut self, group_id: &[u8]) -> Result<()> {
        let Self {
            provider, groups, ..
        } = self;
        let group = groups.get_mut(group_id).ok_or(Error::UnknownGroup)?;
        group
            .clear_pending_commit(provider.storage())
            .map_err(storage_err)
    }

    /// True if a local commit is waiting for the server's verdict.
    pub fn has_pending_commit(&self, group_id: &[u8]) -> Result<bool> {
        Ok(self.group(group_id)?.pending_commit().is_some())
    }

    /// Join a group from a Welcome (`MLSMessage`) addressed to one of this
    /// device's KeyPackages.
    pub fn join_from_welcome(&mut self, welcome: &[u8]) -> Result<JoinOutput> {
        let msg = parse_mls_message(welcome)?;
        let MlsMessageBodyIn::Welcome(welcome) = msg.extract() else {
            return Err(Error::malformed("not a welcome"));
        };
        if welcome.ciphersuite() != CIPHERSUITE {
            return Err(Error::UnsupportedCiphersuite);
        }
        let staged = StagedWelcome::new_from_welcome(&self.provider, &join_config(), welcome, None)
            .map_err(|e| match e {
                WelcomeError::NoMatchingKeyPackage | WelcomeError::NoMatchingEncryptionKey => {
                    Error::NotMember
                }
                other => Error::InvalidMessage(format!("welcome: {other}")),
            })?;
        // Every member must carry a well-formed Alcove identity.
        for m in staged.members() {
            identity_of(&m.credential)?;
        }
        let group = staged
            .into_group(&self.provider)
            .map_err(|e| Error::InvalidMessage(format!("welcome: {e}")))?;
        let group_id = group.group_id().to_vec();
        if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_LEN {
            return Err(Error::InvalidMessage("group id length".into()));
        }
        let out = JoinOutput {
            group_id: group_id.clone(),
            epoch: epoch_of(&group),
            own_leaf_index: group.own_leaf_index().u32(),
        };
        // A re-join replaces an old (e.g. inactive) state; the new group was
        // already written to storage under the same id, so only the old
        // in-memory handle is dropped.
        self.groups.insert(group_id, group);
        Ok(out)
    }

    /// The GroupInfo of the group's current epoch (`MLSMessage`, signed by
    /// this device, with the ratchet tree and the external public key). The
    /// creator uploads it once, at epoch 0; every later commit carries its
    /// own in [`CommitOutput::group_info`].
    pub fn group_info(&self, group_id: &[u8]) -> Result<Vec<u8>> {
        let group = self.group(group_id)?;
        let gi = group
            .export_group_info(self.provider.crypto(), &self.signer, true)
            .map_err(|e| Error::internal(format!("group info: {e:?}")))?;
        serialize_out(&gi)
    }

    /// Join a group by external commit (RFC 9420 §12.4.3.2) against a
    /// GroupInfo fetched from the server (it carries the ratchet tree).
    /// Every member of the tree must carry a well-formed Alcove identity and
    /// the group must use Alcove's ciphersuite. If this device is already a
    /// leaf (a stale state), the commit replaces that leaf.
    ///
    /// openmls merges an external commit at once: the group is at the new
    /// epoch when this returns. Send [`CommitOutput::commit`] (with its
    /// group info) to the server; if it is refused, call
    /// [`Device::forget_group`] (another commit won the epoch: fetch the new
    /// GroupInfo and try again). A group this device is an active member of
    /// is refused with [`Error::GroupExists`].
    pub fn join_by_external_commit(&mut self, group_info: &[u8]) -> Result<CommitOutput> {
        let vgi = crate::public_group::parse_group_info(group_info)?;
        if vgi.ciphersuite() != CIPHERSUITE {
            return Err(Error::UnsupportedCiphersuite);
        }
        let group_id = vgi.group_id().to_vec();
        check_group_id(&group_id)?;
        let epoch = vgi.epoch().as_u64();
        let credential = self.credential_with_key();
        let Self {
            provider,
            signer,
            groups,
            ..
        } = self;
        // An inactive local state of the same group (this device was
        // removed) is replaced; an active one must be forgotten first.
        if let Some(old) = groups.get(&group_id) {
            if old.is_active() {
                return Err(Error::GroupExists);
            }
        }
        if let Some(mut old) = groups.remove(&group_id) {
            old.delete(provider.storage()).map_err(storage_err)?;
        }
        let (group, bundle) = MlsGroup::external_commit_builder()
            .with_config(join_config())
            .build_group(provider, vgi, credential)
            .map_err(|e| Error::InvalidMessage(format!("external commit: {e}")))?
            .load_psks(provider.storage())
            .map_err(|e| Error::InvalidMessage(format!("external commit: {e}")))?
            .build(provider.rand(), provider.crypto(), signer, |_| true)
            .map_err(|e| Error::InvalidMessage(format!("external commit: {e}")))?
            .finalize(provider)
            .map_err(|e| Error::InvalidMessage(format!("external commit: {e}")))?;
        for m in group.members() {
            identity_of(&m.credential)?;
        }
        let (commit, _welcome, gi) = bundle.into_messages();
        groups.insert(group_id, group);
        Ok(CommitOutput {
            commit: serialize_out(&commit)?,
            welcome: None,
            welcome_key_package_refs: Vec::new(),
            epoch,
            group_info: gi.as_ref().map(serialize_out).transpose()?,
        })
    }

    /// Encrypt an application message (e.g. an encoded
    /// [`crate::Envelope`]) as a PrivateMessage.
    pub fn encrypt(&mut self, group_id: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_MESSAGE_LEN / 2 {
            return Err(Error::TooLarge {
                len: plaintext.len(),
                limit: MAX_MESSAGE_LEN / 2,
            });
        }
        let Self {
            provider,
            signer,
            groups,
            ..
        } = self;
        let group = groups.get_mut(group_id).ok_or(Error::UnknownGroup)?;
        let msg = group
            .create_message(provider, signer, plaintext)
            .map_err(|e| match e {
                CreateMessageError::GroupStateError(g) => group_state_error(&g),
                other => Error::internal(format!("encrypt: {other}")),
            })?;
        serialize_out(&msg)
    }

    /// Process any incoming group message (application, proposal, commit).
    ///
    /// * Application messages are decrypted.
    /// * Proposals are validated (only Remove/Update from members and Remove
    ///   from the server are accepted) and stored.
    /// * Commits from other members are validated and merged; this device's
    ///   own echoed commit merges its pending commit.
    /// * Handshake messages from past epochs return [`Processed::Stale`];
    ///   messages from future epochs return [`Error::WrongEpoch`] (catch up,
    ///   then retry).
    pub fn process(&mut self, message: &[u8]) -> Result<Processed> {
        let msg = parse_mls_message(message)?;
        let protocol = msg
            .try_into_protocol_message()
            .map_err(|_| Error::malformed("not a group message"))?;
        let group_id = protocol.group_id().to_vec();
        let message_epoch = protocol.epoch().as_u64();
        let is_handshake = protocol.is_handshake_message();
        let is_commit = protocol.content_type() == ContentType::Commit;
        let Self {
            provider, groups, ..
        } = self;
        let group = groups.get_mut(&group_id).ok_or(Error::UnknownGroup)?;
        if !group.is_active() {
            return Err(Error::NotMember);
        }
        let group_epoch = epoch_of(group);
        if message_epoch > group_epoch {
            return Err(Error::WrongEpoch {
                message_epoch,
                group_epoch,
            });
        }
        if is_handshake && message_epoch < group_epoch {
            return Ok(Processed::Stale {
                group_id,
                message_epoch,
                group_epoch,
            });
        }
        // Another member's commit for our epoch means the server chose it over
        // any commit of ours: drop ours before staging theirs.
        let own = group.own_leaf_index();
        if is_commit && group.pending_commit().is_some() {
            let from_self = matches!(&protocol, ProtocolMessage::PublicMessage(p)
                if matches!(p.sender(), Sender::Member(i) if *i == own));
            if !from_self {
                group
                    .clear_pending_commit(provider.storage())
                    .map_err(storage_err)?;
            }
        }
        let processed = group
            .process_message(provider, protocol)
            .map_err(process_error)?;
        let sender = processed.sender().clone();
        let credential = processed.credential().clone();
        let epoch = processed.epoch().as_u64();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(app) => {
                let Sender::Member(idx) = sender else {
                    return Err(Error::InvalidMessage(
                        "application message from non-member".into(),
                    ));
                };
                let identity = identity_of(&credential)?;
                let signature_key = group
                    .members()
                    .find(|m| m.index == idx)
                    .map(|m| m.signature_key)
                    .unwrap_or_default();
                Ok(Processed::Application {
                    group_id,
                    epoch,
                    sender: MemberInfo {
                        leaf_index: idx.u32(),
                        identity,
                        signature_key,
                    },
                    plaintext: app.into_bytes(),
                })
            }
            ProcessedMessageContent::ProposalMessage(proposal) => {
                let from_server = matches!(proposal.sender(), Sender::External(_));
                let mut removes = Vec::new();
                let mut removes_self = false;
                match proposal.proposal() {
                    Proposal::Remove(r) => {
                        let idx = r.removed();
                        removes_self = idx == own;
                        let m = group.members().find(|m| m.index == idx).ok_or_else(|| {
                            Error::InvalidMessage("remove of unknown leaf".into())
                        })?;
                        removes.push(member_info(&m)?);
                    }
                    Proposal::Update(_) if !from_server => {}
                    _ => return Err(Error::InvalidMessage("proposal type not allowed".into())),
                }
                group
                    .store_pending_proposal(provider.storage(), *proposal)
                    .map_err(storage_err)?;
                Ok(Processed::ProposalStored {
                    group_id,
                    epoch,
                    from_server,
                    removes,
                    removes_self,
                })
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                // An external commit's committer is the joiner, whose leaf
                // is the one its path installs.
                let joiner_key = match sender {
                    Sender::Member(_) => None,
                    Sender::NewMemberCommit => {
                        let leaf = staged.update_path_leaf_node().ok_or_else(|| {
                            Error::InvalidMessage("external commit without path".into())
                        })?;
                        identity_of(leaf.credential())?;
                        Some(leaf.signature_key().as_slice().to_vec())
                    }
                    _ => return Err(Error::InvalidMessage("commit from non-member".into())),
                };
                let mut removed = Vec::new();
                for r in staged.remove_proposals() {
                    let idx = r.remove_proposal().removed();
                    if let Some(m) = group.members().find(|m| m.index == idx) {
                        removed.push(member_info(&m)?);
                    }
                }
                let mut added_keys = Vec::new();
                for a in staged.add_proposals() {
                    let kp = a.add_proposal().key_package();
                    if kp.ciphersuite() != CIPHERSUITE {
                        return Err(Error::UnsupportedCiphersuite);
                    }
                    identity_of(kp.leaf_node().credential())?;
                    added_keys.push(kp.leaf_node().signature_key().as_slice().to_vec());
                }
                let self_removed = staged.self_removed();
                group
                    .merge_staged_commit(provider, *staged)
                    .map_err(|e| Error::internal(format!("merge: {e:?}")))?;
                if let Some(key) = &joiner_key {
                    added_keys.push(key.clone());
                }
                let added = group
                    .members()
                    .filter(|m| added_keys.contains(&m.signature_key))
                    .map(|m| member_info(&m))
                    .collect::<Result<Vec<_>>>()?;
                let committer = match (sender, &joiner_key) {
                    (Sender::Member(i), _) => i.u32(),
                    (_, Some(key)) => group
                        .members()
                        .find(|m| &m.signature_key == key)
                        .map(|m| m.index.u32())
                        .ok_or_else(|| Error::internal("joiner not in tree"))?,
                    _ => return Err(Error::internal("committer")),
                };
                Ok(Processed::CommitMerged {
                    group_id,
                    epoch: epoch_of(group),
                    committer,
                    added,
                    removed,
                    self_removed,
                })
            }
            ProcessedMessageContent::OwnPendingCommit => {
                group
                    .merge_pending_commit(provider)
                    .map_err(|e| Error::internal(format!("merge: {e:?}")))?;
                Ok(Processed::OwnCommitMerged {
                    group_id,
                    epoch: epoch_of(group),
                })
            }
            ProcessedMessageContent::OwnPrivateMessage => Ok(Processed::OwnMessage { group_id }),
            ProcessedMessageContent::ExternalJoinProposalMessage(_) => Err(Error::InvalidMessage(
                "external join proposals are not allowed".into(),
            )),
        }
    }

    /// Current epoch of a group.
    pub fn epoch(&self, group_id: &[u8]) -> Result<u64> {
        Ok(epoch_of(self.group(group_id)?))
    }

    /// True if this device is still a member of the group.
    pub fn is_active(&self, group_id: &[u8]) -> Result<bool> {
        Ok(self.group(group_id)?.is_active())
    }

    /// This device's leaf index in a group.
    pub fn own_leaf_index(&self, group_id: &[u8]) -> Result<u32> {
        Ok(self.group(group_id)?.own_leaf_index().u32())
    }

    /// Members of a group, ordered by leaf index.
    pub fn members(&self, group_id: &[u8]) -> Result<Vec<MemberInfo>> {
        let group = self.group(group_id)?;
        if !group.is_active() {
            return Err(Error::NotMember);
        }
        group.members().map(|m| member_info(&m)).collect()
    }

    /// Leaf indices of all devices of a user in a group.
    pub fn leaves_of_user(&self, group_id: &[u8], user_id: &str) -> Result<Vec<u32>> {
        Ok(self
            .members(group_id)?
            .into_iter()
            .filter(|m| m.identity.user_id == user_id)
            .map(|m| m.leaf_index)
            .collect())
    }

    /// Ids of all groups this device holds state for (active or not).
    pub fn group_ids(&self) -> Vec<Vec<u8>> {
        self.groups.keys().cloned().collect()
    }

    /// Delete all state of a group (e.g. after being removed).
    pub fn forget_group(&mut self, group_id: &[u8]) -> Result<()> {
        let mut group = self.groups.remove(group_id).ok_or(Error::UnknownGroup)?;
        group.delete(self.provider.storage()).map_err(storage_err)
    }

    // -----------------------------------------------------------------------
    // snapshots

    /// Export the whole device state (identity, signature key, every group's
    /// MLS state, unused KeyPackage private keys) as plaintext snapshot bytes.
    /// Prefer [`Device::seal`]; the returned buffer is zeroized on drop.
    ///
    /// Format v2: `"ALCD" || version u8 || identity str16 || signer u32-len
    /// (TLS SignatureKeyPair) || group count u32 || group ids (u16-len each)
    /// || storage entry count u32 || entries (u32-len key, u32-len value),
    /// sorted by key`; the entries' encoding is in `docs/protocol.md` §9.
    pub fn snapshot(&self) -> Result<Zeroizing<Vec<u8>>> {
        let identity = self.identity.to_bytes();
        let signer = Zeroizing::new(
            self.signer
                .pair()
                .tls_serialize_detached()
                .map_err(|e| Error::internal(format!("signer: {e}")))?,
        );
        // Sized for everything before the storage entries, so the buffer
        // does not reallocate (leaving an unwiped copy of the signature key
        // behind) before `export_storage`, which reserves for the entries.
        let header = SNAPSHOT_MAGIC.len()
            + 1
            + 2
            + identity.len()
            + 4
            + signer.len()
            + 4
            + self.groups.keys().map(|g| 2 + g.len()).sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(header));
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.push(SNAPSHOT_VERSION);
        put_bytes_u16(&mut out, &identity)?;
        put_bytes_u32(&mut out, &signer)?;
        let n = u32::try_from(self.groups.len()).map_err(|_| Error::internal("groups"))?;
        out.extend_from_slice(&n.to_be_bytes());
        for gid in self.groups.keys() {
            put_bytes_u16(&mut out, gid)?;
        }
        self.provider.export_storage(&mut out)?;
        Ok(out)
    }

    /// Restore a device from plaintext snapshot bytes.
    pub fn restore(snapshot: &[u8]) -> Result<Self> {
        let mut r = Reader::new(snapshot);
        if r.take(4)? != SNAPSHOT_MAGIC {
            return Err(Error::malformed("snapshot magic"));
        }
        let version = r.u8()?;
        if version != SNAPSHOT_VERSION {
            return Err(Error::UnsupportedVersion(u32::from(version)));
        }
        let identity = DeviceIdentity::from_bytes(r.bytes_u16(4096)?)?;
        let signer_bytes = r.bytes_u32(4096)?;
        let signer = SignatureKeyPair::tls_deserialize_exact(signer_bytes)
            .map_err(|_| Error::malformed("signature key"))?;
        if signer.signature_scheme() != CIPHERSUITE.signature_algorithm()
            || signer.public().len() != 32
        {
            return Err(Error::malformed("signature key"));
        }
        let signer = DeviceSigner::new(signer)?;
        let n = usize::try_from(r.u32()?).map_err(|_| Error::malformed("group count"))?;
        if n > r.remaining() / 2 {
            return Err(Error::malformed("group count"));
        }
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let gid = r.bytes_u16(MAX_GROUP_ID_LEN)?.to_vec();
            if gid.is_empty() {
                return Err(Error::malformed("group id"));
            }
            ids.push(gid);
        }
        let provider = AlcoveProvider::import_storage(&mut r)?;
        r.finish()?;
        let mut groups = BTreeMap::new();
        for gid in ids {
            let group = MlsGroup::load(provider.storage(), &GroupId::from_slice(&gid))
                .map_err(|_| Error::malformed("group state"))?
                .ok_or_else(|| Error::malformed("group state missing"))?;
            groups.insert(gid, group);
        }
        Ok(Self {
            provider,
            signer,
            identity,
            groups,
        })
    }

    /// Export and seal the device state (see [`crate::seal`]). Each call
    /// uses a fresh nonce; store the result in place of the previous one.
    pub fn seal(
        &self,
        device_secret: &DeviceSecret,
        unlock_share: &UnlockShare,
    ) -> Result<Vec<u8>> {
        let snap = self.snapshot()?;
        seal::seal(&snap, &self.identity.device_id, device_secret, unlock_share)
    }

    /// Open sealed state for `device_id` and restore the device. Wrong keys,
    /// wrong device id, or damage return an error (never panic).
    pub fn unseal(
        sealed: &[u8],
        device_id: &str,
        device_secret: &DeviceSecret,
        unlock_share: &UnlockShare,
    ) -> Result<Self> {
        let snap = seal::unseal(sealed, device_id, device_secret, unlock_share)?;
        let device = Self::restore(&snap)?;
        if device.identity.device_id != device_id {
            return Err(Error::UnsealFailed);
        }
        Ok(device)
    }
}

fn removes_leaf(p: &QueuedProposal, leaf: LeafNodeIndex) -> bool {
    matches!(p.proposal(), Proposal::Remove(r) if r.removed() == leaf)
}

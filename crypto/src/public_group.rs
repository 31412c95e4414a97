//! The delivery service's view of a conversation: openmls' [`PublicGroup`],
//! the public state of an MLS group (ratchet tree, group context,
//! transcript hashes) that a server can hold without any group secret.
//!
//! The server never trusts a client's account of who was added or removed.
//! [`ConversationState::apply_commit`] checks a commit the way a member
//! would, as far as public data allows (framing, signature, epoch,
//! proposals, the update path and its parent hashes), merges it, and
//! reports the *facts* the server's authorization rules decide on: who
//! committed, which KeyPackages were added, which leaves were removed and
//! by whom, whether the committer changed its own leaf's identity, and the
//! membership after the commit, read from the tree. This module decides
//! nothing about who may do what: that is the server's (`delivery::rules`).
//!
//! Invariants:
//! - A state only ever advances by a commit that openmls' public
//!   processing accepted; a refused commit leaves the caller's stored bytes
//!   untouched (the state is consumed and rebuilt from those bytes).
//! - Proposals the commit may reference are only the server's own Remove
//!   proposals, passed in per call from the log; members' standalone
//!   proposals are never queued.
//! - A GroupInfo is accepted only if its group context, confirmation tag
//!   and ratchet tree are exactly this state's and it is signed by a leaf of
//!   this tree, so a joiner by external commit can trust what it fetches.

use openmls::messages::group_info::VerifiableGroupInfo;
use openmls::prelude::*;
use zeroize::Zeroizing;

use crate::device::{identity_of, parse_mls_message, MAX_GROUP_ID_LEN};
use crate::error::{Error, Result};
use crate::identity::DeviceIdentity;
use crate::storage::AlcoveStorage;
use crate::wire::{put_bytes_u16, Reader};
use crate::CIPHERSUITE;

const STATE_MAGIC: &[u8; 4] = b"ALPG";
const STATE_VERSION: u8 = 1;

/// A leaf of the tree: a member device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeMember {
    /// Leaf index.
    pub leaf_index: u32,
    /// Identity from the leaf's credential.
    pub identity: DeviceIdentity,
    /// Ed25519 public key of the leaf.
    pub signature_key: Vec<u8>,
}

/// Who made a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committer {
    /// A member, at this leaf (before the commit).
    Member(TreeMember),
    /// A new device joining by external commit, with its new leaf.
    External(TreeMember),
}

impl Committer {
    /// The committing device's identity.
    pub fn identity(&self) -> &DeviceIdentity {
        match self {
            Committer::Member(m) | Committer::External(m) => &m.identity,
        }
    }
}

/// A device added by an Add proposal of the commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedDevice {
    /// KeyPackageRef of the package used (RFC 9420 §5.2).
    pub key_package_ref: Vec<u8>,
    /// Identity from the package's credential.
    pub identity: DeviceIdentity,
    /// Its leaf index after the commit.
    pub leaf_index: u32,
}

/// A leaf removed by a Remove proposal of the commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedDevice {
    /// The removed leaf.
    pub leaf_index: u32,
    /// Identity of the removed leaf.
    pub identity: DeviceIdentity,
    /// True when the proposal is the server's own (external sender 0),
    /// committed by reference.
    pub by_server: bool,
}

/// What a commit did, as read from its content and the tree.
#[derive(Clone, Debug)]
pub struct CommitFacts {
    /// Epoch the commit was made in.
    pub epoch: u64,
    /// Who committed.
    pub committer: Committer,
    /// Devices added.
    pub added: Vec<AddedDevice>,
    /// Leaves removed.
    pub removed: Vec<RemovedDevice>,
    /// Update proposals committed (by reference; Alcove never queues them).
    pub updates: usize,
    /// Proposal types other than Add, Remove, Update and (in an external
    /// commit) ExternalInit, by name: these change the group's rules
    /// (extensions, PSKs, re-init) and Alcove's server refuses them.
    pub other_proposals: Vec<&'static str>,
    /// For a member commit with an update path: the identity and key its
    /// new leaf node carries (must be the committer's own).
    pub path_leaf: Option<(DeviceIdentity, Vec<u8>)>,
    /// Members after the commit, by leaf index.
    pub members_after: Vec<TreeMember>,
}

/// The public state of one conversation's MLS group.
pub struct ConversationState {
    storage: AlcoveStorage,
    group: PublicGroup,
}

impl core::fmt::Debug for ConversationState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ConversationState")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

fn crypto() -> openmls_rust_crypto::RustCrypto {
    openmls_rust_crypto::RustCrypto::default()
}

fn tls<T: tls_codec::Serialize>(v: &T) -> Result<Vec<u8>> {
    v.tls_serialize_detached()
        .map_err(|e| Error::internal(format!("serialize: {e}")))
}

fn tree_member(m: &Member) -> Result<TreeMember> {
    Ok(TreeMember {
        leaf_index: m.index.u32(),
        identity: identity_of(&m.credential)?,
        signature_key: m.signature_key.clone(),
    })
}

fn leaf_member(group: &PublicGroup, index: LeafNodeIndex) -> Result<TreeMember> {
    let leaf = group
        .leaf(index)
        .ok_or_else(|| Error::InvalidMessage(format!("no member at leaf {}", index.u32())))?;
    Ok(TreeMember {
        leaf_index: index.u32(),
        identity: identity_of(leaf.credential())?,
        signature_key: leaf.signature_key().as_slice().to_vec(),
    })
}

pub(crate) fn parse_group_info(bytes: &[u8]) -> Result<VerifiableGroupInfo> {
    match parse_mls_message(bytes)?.extract() {
        MlsMessageBodyIn::GroupInfo(vgi) => Ok(vgi),
        _ => Err(Error::malformed("not a group info")),
    }
}

fn proposal_name(p: &Proposal) -> &'static str {
    match p.proposal_type() {
        ProposalType::Add => "add",
        ProposalType::Update => "update",
        ProposalType::Remove => "remove",
        ProposalType::PreSharedKey => "pre_shared_key",
        ProposalType::Reinit => "reinit",
        ProposalType::ExternalInit => "external_init",
        ProposalType::GroupContextExtensions => "group_context_extensions",
        ProposalType::SelfRemove => "self_remove",
        _ => "other",
    }
}

impl ConversationState {
    /// Start tracking a group from a member-signed GroupInfo that carries
    /// its ratchet tree (the conversation's creator uploads it at epoch 0).
    /// Checks the GroupInfo's signature against the tree, the tree's
    /// validity, the ciphersuite and the group id; the caller checks the
    /// members and the external senders.
    pub fn from_group_info(group_info: &[u8], group_id: &[u8]) -> Result<Self> {
        let vgi = parse_group_info(group_info)?;
        if vgi.ciphersuite() != CIPHERSUITE {
            return Err(Error::UnsupportedCiphersuite);
        }
        if vgi.group_id().as_slice() != group_id {
            return Err(Error::InvalidMessage("group info of another group".into()));
        }
        let tree = vgi
            .extensions()
            .ratchet_tree()
            .map(|t| t.ratchet_tree().clone())
            .ok_or_else(|| Error::InvalidMessage("group info without ratchet tree".into()))?;
        let storage = AlcoveStorage::default();
        let (group, _) =
            PublicGroup::from_external(&crypto(), &storage, tree, vgi, ProposalStore::new())
                .map_err(|e| Error::InvalidMessage(format!("group info: {e}")))?;
        Ok(Self { storage, group })
    }

    /// Restore from [`ConversationState::to_bytes`].
    pub fn restore(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        if r.take(4)? != STATE_MAGIC {
            return Err(Error::malformed("group state magic"));
        }
        let v = r.u8()?;
        if v != STATE_VERSION {
            return Err(Error::UnsupportedVersion(u32::from(v)));
        }
        let group_id = GroupId::from_slice(r.bytes_u16(MAX_GROUP_ID_LEN)?);
        let storage = AlcoveStorage::import(&mut r)?;
        r.finish()?;
        let group = PublicGroup::load(&storage, &group_id)
            .map_err(|_| Error::malformed("group state"))?
            .ok_or_else(|| Error::malformed("group state incomplete"))?;
        Ok(Self { storage, group })
    }

    /// Compact encoding: `"ALPG" || 0x01 || group id str16 || storage
    /// entries` (tree, context, transcript hash, confirmation tag; no
    /// history, so loading costs the same at every epoch).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        out.extend_from_slice(STATE_MAGIC);
        out.push(STATE_VERSION);
        put_bytes_u16(&mut out, self.group.group_id().as_slice())?;
        self.storage.export(&mut out)?;
        // Public data only: nothing secret to wipe.
        Ok(out.to_vec())
    }

    /// Current epoch.
    pub fn epoch(&self) -> u64 {
        self.group.group_context().epoch().as_u64()
    }

    /// Group id.
    pub fn group_id(&self) -> &[u8] {
        self.group.group_id().as_slice()
    }

    /// Members by leaf index, from the tree.
    pub fn members(&self) -> Result<Vec<TreeMember>> {
        self.group.members().map(|m| tree_member(&m)).collect()
    }

    /// The `ExternalSender` entries of the group context (TLS encoded
    /// each), to compare with the server's own.
    pub fn external_senders(&self) -> Result<Vec<Vec<u8>>> {
        match self.group.group_context().extensions().external_senders() {
            Some(senders) => senders.iter().map(tls).collect(),
            None => Ok(Vec::new()),
        }
    }

    /// Check and merge one commit (`MLSMessage` PublicMessage). `server_proposals`
    /// are the server's Remove proposals of the current epoch, as it put them
    /// in the log; the commit may reference them. On success the state is at
    /// the next epoch and the facts are returned for the server's rules; on
    /// error `self` is dropped (reload it from the stored bytes).
    pub fn apply_commit(
        mut self,
        commit: &[u8],
        server_proposals: &[Vec<u8>],
    ) -> Result<(Self, CommitFacts)> {
        let crypto = crypto();
        let epoch = self.epoch();
        for p in server_proposals {
            let msg = parse_mls_message(p)?
                .try_into_protocol_message()
                .map_err(|_| Error::malformed("not a group message"))?;
            if msg.epoch().as_u64() != epoch {
                continue;
            }
            let processed = self
                .group
                .process_message(&crypto, msg)
                .map_err(|e| Error::InvalidMessage(format!("server proposal: {e}")))?;
            match processed.into_content() {
                ProcessedMessageContent::ProposalMessage(q)
                    if matches!(q.sender(), Sender::External(_))
                        && matches!(q.proposal(), Proposal::Remove(_)) =>
                {
                    self.group
                        .add_proposal(&self.storage, *q)
                        .map_err(|_| Error::internal("queue proposal"))?;
                }
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "not a server Remove proposal: {other:?}"
                    )))
                }
            }
        }

        let msg = parse_mls_message(commit)?;
        let protocol = msg
            .try_into_protocol_message()
            .map_err(|_| Error::malformed("not a group message"))?;
        if !matches!(protocol, ProtocolMessage::PublicMessage(_))
            || protocol.content_type() != ContentType::Commit
        {
            return Err(Error::InvalidMessage("expected a public commit".into()));
        }
        if protocol.epoch().as_u64() != epoch {
            return Err(Error::WrongEpoch {
                message_epoch: protocol.epoch().as_u64(),
                group_epoch: epoch,
            });
        }
        let processed = self
            .group
            .process_message(&crypto, protocol)
            .map_err(|e| Error::InvalidMessage(format!("commit: {e}")))?;
        let sender = processed.sender().clone();
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            return Err(Error::InvalidMessage("expected a commit".into()));
        };

        let external = matches!(sender, Sender::NewMemberCommit);
        let mut other_proposals = Vec::new();
        for q in staged.queued_proposals() {
            let p = q.proposal();
            match p.proposal_type() {
                ProposalType::Add | ProposalType::Remove | ProposalType::Update => {}
                ProposalType::ExternalInit if external => {}
                _ => other_proposals.push(proposal_name(p)),
            }
        }
        let mut removed = Vec::new();
        for r in staged.remove_proposals() {
            let idx = r.remove_proposal().removed();
            let member = leaf_member(&self.group, idx)?;
            removed.push(RemovedDevice {
                leaf_index: idx.u32(),
                identity: member.identity,
                by_server: matches!(r.sender(), Sender::External(_)),
            });
        }
        let mut added_refs = Vec::new();
        for a in staged.add_proposals() {
            let kp = a.add_proposal().key_package();
            if kp.ciphersuite() != CIPHERSUITE {
                return Err(Error::UnsupportedCiphersuite);
            }
            let kp_ref = kp
                .hash_ref(&crypto)
                .map_err(|e| Error::internal(format!("hash ref: {e}")))?
                .as_slice()
                .to_vec();
            let identity = identity_of(kp.leaf_node().credential())
                .map_err(|e| Error::InvalidKeyPackage(e.to_string()))?;
            added_refs.push((
                kp_ref,
                identity,
                kp.leaf_node().signature_key().as_slice().to_vec(),
            ));
        }
        let updates = staged.update_proposals().count();
        let path_leaf = match staged.update_path_leaf_node() {
            Some(leaf) => Some((
                identity_of(leaf.credential())?,
                leaf.signature_key().as_slice().to_vec(),
            )),
            None => None,
        };
        let committer_before = match &sender {
            Sender::Member(idx) => Some(leaf_member(&self.group, *idx)?),
            Sender::NewMemberCommit => None,
            _ => return Err(Error::InvalidMessage("commit from a non-member".into())),
        };

        self.group
            .merge_commit(&self.storage, *staged)
            .map_err(|e| Error::internal(format!("merge: {e:?}")))?;
        let members_after = self.members()?;
        let leaf_of = |identity: &DeviceIdentity, key: &[u8]| {
            members_after
                .iter()
                .find(|m| &m.identity == identity && m.signature_key == key)
                .map(|m| m.leaf_index)
        };
        let added = added_refs
            .into_iter()
            .map(|(key_package_ref, identity, key)| {
                let leaf_index = leaf_of(&identity, &key)
                    .ok_or_else(|| Error::internal("added leaf not in tree"))?;
                Ok(AddedDevice {
                    key_package_ref,
                    identity,
                    leaf_index,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let committer = match committer_before {
            Some(m) => Committer::Member(m),
            None => {
                let (identity, key) = path_leaf
                    .clone()
                    .ok_or_else(|| Error::InvalidMessage("external commit without path".into()))?;
                let leaf_index = leaf_of(&identity, &key)
                    .ok_or_else(|| Error::internal("joiner leaf not in tree"))?;
                Committer::External(TreeMember {
                    leaf_index,
                    identity,
                    signature_key: key,
                })
            }
        };
        let facts = CommitFacts {
            epoch,
            committer,
            added,
            removed,
            updates,
            other_proposals,
            path_leaf,
            members_after,
        };
        Ok((self, facts))
    }

    /// Check that a GroupInfo (`MLSMessage`) describes exactly this state:
    /// the same group context (epoch, tree hash, transcript hash,
    /// extensions), the same confirmation tag and the same ratchet tree (in
    /// its extension, which external joiners need), with an external public
    /// key, signed by the leaf it names. Returns that signer's leaf index.
    pub fn check_group_info(&self, group_info: &[u8]) -> Result<u32> {
        let vgi = parse_group_info(group_info)?;
        let mismatch = |what: &str| Error::InvalidMessage(format!("group info: {what}"));
        if vgi.extensions().external_pub().is_none() {
            return Err(mismatch("no external public key"));
        }
        let tree = vgi
            .extensions()
            .ratchet_tree()
            .ok_or_else(|| mismatch("no ratchet tree"))?;
        if tls(tree.ratchet_tree())? != tls(&self.group.export_ratchet_tree())? {
            return Err(mismatch("ratchet tree differs"));
        }
        // GroupInfoTBS = group_context || extensions || confirmation_tag ||
        // signer (u32): compare everything but the signer with our state.
        let tbs = vgi
            .unsigned_payload()
            .map_err(|e| Error::internal(format!("serialize: {e}")))?;
        let mut expected = tls(self.group.group_context())?;
        expected.extend_from_slice(&tls(vgi.extensions())?);
        expected.extend_from_slice(&tls(self.group.confirmation_tag())?);
        let split = tbs
            .len()
            .checked_sub(4)
            .ok_or_else(|| mismatch("too short"))?;
        let (body, signer) = tbs.split_at(split);
        if body != expected.as_slice() {
            return Err(mismatch("context or confirmation tag differs"));
        }
        let signer: [u8; 4] = signer.try_into().map_err(|_| mismatch("signer"))?;
        let signer = u32::from_be_bytes(signer);
        let leaf = self
            .group
            .leaf(LeafNodeIndex::new(signer))
            .ok_or_else(|| mismatch("unknown signer"))?;
        let key = OpenMlsSignaturePublicKey::new(
            leaf.signature_key().as_slice().to_vec().into(),
            CIPHERSUITE.signature_algorithm(),
        )
        .map_err(|_| mismatch("signer key"))?;
        vgi.verify_no_out(&crypto(), &key)
            .map_err(|_| mismatch("bad signature"))?;
        Ok(signer)
    }
}

//! The in-memory openmls storage a [`crate::Device`] uses.
//!
//! Adapted from `openmls_memory_storage` 0.6.0 (`MemoryStorage`, MIT
//! licence, © the OpenMLS authors), with these changes:
//!
//! * keys and values are encoded with `postcard` (compact, deterministic
//!   binary serde) instead of JSON: the message secrets are re-encoded on
//!   every encrypt and every decrypt, and as JSON (every secret byte a decimal
//!   number) that was a quarter of the per-message cost in WebAssembly;
//! * the one stored type whose `Deserialize` needs a self-describing format,
//!   `MlsGroupJoinConfig` (its `PastEpochDeletionPolicy` reads an untagged
//!   enum, i.e. `deserialize_any`), stays JSON; it is written once per group;
//! * values are [`Zeroizing`]: wiped when overwritten, deleted and dropped;
//!   encoding buffers are wiped when they grow;
//! * no panics: every failure is a [`StorageError`];
//! * `clear_proposal_queue` deletes the queued proposals themselves (the
//!   original removed keys without their label and version, so committed
//!   proposals stayed in storage, and in every snapshot, for good);
//! * the feature-gated parts (`extensions-draft`, `virtual-clients-draft`,
//!   test utilities, persistence) are left out: Alcove does not enable them.
//!
//! Entry layout (also `docs/protocol.md` §9): key = `label ||
//! postcard(key fields) || u16 BE storage version (1)`; value =
//! `postcard(value)`, except the join config (JSON) and the two lists (own
//! leaf nodes, proposal queue refs), which are a concatenation of `u32 BE
//! length || postcard(item)`.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use openmls_traits::storage::{traits, StorageProvider, CURRENT_VERSION};
use postcard::ser_flavors::Flavor;
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::wire::{put_bytes_u32, Reader};

/// Maximum number of storage entries accepted when restoring.
const MAX_ENTRIES: usize = 1 << 20;
/// Maximum size of one storage key or value accepted when restoring.
const MAX_ENTRY_LEN: usize = 16 * 1024 * 1024;

/// A stored value: wiped when it is overwritten, removed or dropped.
type Value = Zeroizing<Vec<u8>>;

/// Errors of [`AlcoveStorage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StorageError {
    /// A key or value could not be encoded.
    #[error("storage: encoding failed")]
    Encode,
    /// A stored value could not be decoded into the requested type.
    #[error("storage: decoding failed")]
    Decode,
    /// A list references an entry that is missing.
    #[error("storage: missing entry")]
    Missing,
    /// A lock was poisoned by a panic elsewhere.
    #[error("storage: lock poisoned")]
    Poisoned,
}

type StorageResult<T> = core::result::Result<T, StorageError>;

const KEY_PACKAGE_LABEL: &[u8] = b"KeyPackage";
const PSK_LABEL: &[u8] = b"Psk";
const ENCRYPTION_KEY_PAIR_LABEL: &[u8] = b"EncryptionKeyPair";
const SIGNATURE_KEY_PAIR_LABEL: &[u8] = b"SignatureKeyPair";
const EPOCH_KEY_PAIRS_LABEL: &[u8] = b"EpochKeyPairs";
const TREE_LABEL: &[u8] = b"Tree";
const GROUP_CONTEXT_LABEL: &[u8] = b"GroupContext";
const INTERIM_TRANSCRIPT_HASH_LABEL: &[u8] = b"InterimTranscriptHash";
const CONFIRMATION_TAG_LABEL: &[u8] = b"ConfirmationTag";
const JOIN_CONFIG_LABEL: &[u8] = b"MlsGroupJoinConfig";
const OWN_LEAF_NODES_LABEL: &[u8] = b"OwnLeafNodes";
const GROUP_STATE_LABEL: &[u8] = b"GroupState";
const QUEUED_PROPOSAL_LABEL: &[u8] = b"QueuedProposal";
const PROPOSAL_QUEUE_REFS_LABEL: &[u8] = b"ProposalQueueRefs";
const OWN_LEAF_NODE_INDEX_LABEL: &[u8] = b"OwnLeafNodeIndex";
const EPOCH_SECRETS_LABEL: &[u8] = b"EpochSecrets";
const RESUMPTION_PSK_STORE_LABEL: &[u8] = b"ResumptionPsk";
const MESSAGE_SECRETS_LABEL: &[u8] = b"MessageSecrets";

/// postcard output into a `Vec` that wipes its old allocation whenever it
/// has to grow (a plain `Vec` would leave copies of secrets in freed memory).
struct WipingSink<'a>(&'a mut Vec<u8>);

impl WipingSink<'_> {
    #[inline]
    fn reserve(&mut self, additional: usize) {
        let len = self.0.len();
        if self.0.capacity() - len >= additional {
            return;
        }
        let want = len
            .saturating_add(additional)
            .max(self.0.capacity().saturating_mul(2))
            .max(64);
        let mut grown = Vec::with_capacity(want);
        grown.extend_from_slice(self.0);
        self.0.zeroize();
        *self.0 = grown;
    }
}

impl Flavor for WipingSink<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.reserve(1);
        self.0.push(data);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.reserve(data.len());
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Append the postcard encoding of `value` to `out`.
fn encode_into<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> StorageResult<()> {
    postcard::serialize_with_flavor(value, WipingSink(out)).map_err(|_| StorageError::Encode)
}

/// postcard encoding of `value`; `size_hint` is the expected length (e.g.
/// the length of the value it replaces), to avoid growing the buffer.
fn encode<T: Serialize + ?Sized>(value: &T, size_hint: usize) -> StorageResult<Value> {
    let mut out = Zeroizing::new(Vec::with_capacity(
        size_hint.saturating_add(size_hint / 8).saturating_add(16),
    ));
    encode_into(&mut out, value)?;
    Ok(out)
}

/// Decode a whole postcard value (trailing bytes are an error).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StorageResult<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((v, [])) => Ok(v),
        _ => Err(StorageError::Decode),
    }
}

/// `label || postcard(key) || u16 BE version`.
fn storage_key<K: Serialize + ?Sized>(label: &[u8], key: &K) -> StorageResult<Vec<u8>> {
    let mut out = Vec::with_capacity(label.len() + 48);
    out.extend_from_slice(label);
    encode_into(&mut out, key)?;
    out.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
    Ok(out)
}

/// Split a list value (`u32 BE length || item`, repeated) into its items.
fn list_items(bytes: &[u8]) -> StorageResult<Vec<&[u8]>> {
    let mut items = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or(StorageError::Decode)?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| StorageError::Decode)?;
        if tail.len() < len {
            return Err(StorageError::Decode);
        }
        let (item, tail) = tail.split_at(len);
        items.push(item);
        rest = tail;
    }
    Ok(items)
}

fn push_list_item(list: &mut Vec<u8>, item: &[u8]) -> StorageResult<()> {
    let len = u32::try_from(item.len()).map_err(|_| StorageError::Encode)?;
    WipingSink(list).reserve(4 + item.len());
    list.extend_from_slice(&len.to_be_bytes());
    list.extend_from_slice(item);
    Ok(())
}

/// In-memory openmls storage with postcard-encoded, zeroized values.
/// `Debug` prints the number of entries only.
#[derive(Default)]
pub(crate) struct AlcoveStorage {
    values: RwLock<HashMap<Vec<u8>, Value>>,
}

impl core::fmt::Debug for AlcoveStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let entries = self.values.read().map(|v| v.len()).ok();
        f.debug_struct("AlcoveStorage")
            .field("entries", &entries)
            .finish_non_exhaustive()
    }
}

impl AlcoveStorage {
    fn read_map(&self) -> StorageResult<RwLockReadGuard<'_, HashMap<Vec<u8>, Value>>> {
        self.values.read().map_err(|_| StorageError::Poisoned)
    }

    fn write_map(&self) -> StorageResult<RwLockWriteGuard<'_, HashMap<Vec<u8>, Value>>> {
        self.values.write().map_err(|_| StorageError::Poisoned)
    }

    /// Store `postcard(value)` under `label`/`key`, wiping what was there.
    fn put<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
        value: &V,
    ) -> StorageResult<()> {
        let k = storage_key(label, key)?;
        let mut map = self.write_map()?;
        let hint = map.get(&k).map_or(0, |v| v.len());
        let v = encode(value, hint)?;
        map.insert(k, v);
        Ok(())
    }

    fn get<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        label: &[u8],
        key: &K,
    ) -> StorageResult<Option<V>> {
        let k = storage_key(label, key)?;
        let map = self.read_map()?;
        map.get(&k).map(|v| decode(v)).transpose()
    }

    fn remove<K: Serialize + ?Sized>(&self, label: &[u8], key: &K) -> StorageResult<()> {
        let k = storage_key(label, key)?;
        // The removed value is a `Zeroizing` and is wiped as it drops here.
        self.write_map()?.remove(&k);
        Ok(())
    }

    fn list_append<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
        item: &V,
    ) -> StorageResult<()> {
        let k = storage_key(label, key)?;
        let item = encode(item, 0)?;
        let mut map = self.write_map()?;
        let list = map.entry(k).or_default();
        push_list_item(list, &item)
    }

    /// Remove the first item equal to `postcard(item)` from a list.
    fn list_remove<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &K,
        item: &V,
    ) -> StorageResult<()> {
        let k = storage_key(label, key)?;
        let item = encode(item, 0)?;
        let mut map = self.write_map()?;
        let Some(list) = map.get(&k) else {
            return Ok(());
        };
        let items = list_items(list)?;
        let Some(pos) = items.iter().position(|i| *i == item.as_slice()) else {
            return Ok(());
        };
        let mut rebuilt = Zeroizing::new(Vec::with_capacity(list.len()));
        for (i, it) in items.iter().enumerate() {
            if i != pos {
                push_list_item(&mut rebuilt, it)?;
            }
        }
        map.insert(k, rebuilt);
        Ok(())
    }

    fn list<K: Serialize + ?Sized, V: DeserializeOwned>(
        &self,
        label: &[u8],
        key: &K,
    ) -> StorageResult<Vec<V>> {
        let k = storage_key(label, key)?;
        let map = self.read_map()?;
        match map.get(&k) {
            Some(list) => list_items(list)?.into_iter().map(decode).collect(),
            None => Ok(Vec::new()),
        }
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.values.read().map(|v| v.len()).unwrap_or(0)
    }

    /// Export all entries, sorted by key (deterministic): `u32 count ||
    /// count × (u32-len key || u32-len value)`.
    pub(crate) fn export(&self, out: &mut Zeroizing<Vec<u8>>) -> Result<()> {
        let values = self
            .read_map()
            .map_err(|_| Error::internal("storage lock poisoned"))?;
        let mut entries: Vec<(&Vec<u8>, &Value)> = values.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let n = u32::try_from(entries.len()).map_err(|_| Error::internal("too many entries"))?;
        let size: usize = entries.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        // Reserve up front so the snapshot buffer does not reallocate (and
        // leave unwiped copies behind) while the values are copied in.
        if out.capacity() - out.len() < 4 + size {
            let mut grown = Zeroizing::new(Vec::with_capacity(out.len() + 4 + size));
            grown.extend_from_slice(out);
            *out = grown;
        }
        out.extend_from_slice(&n.to_be_bytes());
        for (k, v) in entries {
            put_bytes_u32(out, k)?;
            put_bytes_u32(out, v)?;
        }
        Ok(())
    }

    /// Build a storage from exported entries (keys unique, at most
    /// [`MAX_ENTRIES`] entries of at most [`MAX_ENTRY_LEN`] bytes each).
    pub(crate) fn import(r: &mut Reader<'_>) -> Result<Self> {
        let n = usize::try_from(r.u32()?).map_err(|_| Error::malformed("entry count"))?;
        if n > MAX_ENTRIES || n > r.remaining() / 8 {
            return Err(Error::malformed("entry count"));
        }
        let mut map = HashMap::with_capacity(n);
        for _ in 0..n {
            let k = r.bytes_u32(MAX_ENTRY_LEN)?.to_vec();
            let v = Zeroizing::new(r.bytes_u32(MAX_ENTRY_LEN)?.to_vec());
            if map.insert(k, v).is_some() {
                return Err(Error::malformed("duplicate storage key"));
            }
        }
        Ok(Self {
            values: RwLock::new(map),
        })
    }
}

/// The key of a group's epoch key pairs: `(group id, epoch, leaf index)`.
#[derive(Serialize)]
struct EpochKeyPairsId<'a, G: Serialize, E: Serialize>(&'a G, &'a E, u32);

impl StorageProvider<CURRENT_VERSION> for AlcoveStorage {
    type Error = StorageError;

    // --- group state: writers -------------------------------------------

    fn write_mls_join_config<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        config: &MlsGroupJoinConfig,
    ) -> StorageResult<()> {
        // JSON: see the module documentation.
        let k = storage_key(JOIN_CONFIG_LABEL, group_id)?;
        let v = Zeroizing::new(serde_json::to_vec(config).map_err(|_| StorageError::Encode)?);
        self.write_map()?.insert(k, v);
        Ok(())
    }

    fn append_own_leaf_node<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNode: traits::LeafNode<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        leaf_node: &LeafNode,
    ) -> StorageResult<()> {
        self.list_append(OWN_LEAF_NODES_LABEL, group_id, leaf_node)
    }

    fn queue_proposal<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
        QueuedProposal: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
        proposal: &QueuedProposal,
    ) -> StorageResult<()> {
        self.put(QUEUED_PROPOSAL_LABEL, &(group_id, proposal_ref), proposal)?;
        self.list_append(PROPOSAL_QUEUE_REFS_LABEL, group_id, proposal_ref)
    }

    fn write_tree<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        TreeSync: traits::TreeSync<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        tree: &TreeSync,
    ) -> StorageResult<()> {
        self.put(TREE_LABEL, group_id, tree)
    }

    fn write_interim_transcript_hash<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        InterimTranscriptHash: traits::InterimTranscriptHash<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        interim_transcript_hash: &InterimTranscriptHash,
    ) -> StorageResult<()> {
        self.put(
            INTERIM_TRANSCRIPT_HASH_LABEL,
            group_id,
            interim_transcript_hash,
        )
    }

    fn write_context<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupContext: traits::GroupContext<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_context: &GroupContext,
    ) -> StorageResult<()> {
        self.put(GROUP_CONTEXT_LABEL, group_id, group_context)
    }

    fn write_confirmation_tag<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ConfirmationTag: traits::ConfirmationTag<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        confirmation_tag: &ConfirmationTag,
    ) -> StorageResult<()> {
        self.put(CONFIRMATION_TAG_LABEL, group_id, confirmation_tag)
    }

    fn write_group_state<
        GroupState: traits::GroupState<CURRENT_VERSION>,
        GroupId: traits::GroupId<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_state: &GroupState,
    ) -> StorageResult<()> {
        self.put(GROUP_STATE_LABEL, group_id, group_state)
    }

    fn write_message_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MessageSecrets: traits::MessageSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        message_secrets: &MessageSecrets,
    ) -> StorageResult<()> {
        self.put(MESSAGE_SECRETS_LABEL, group_id, message_secrets)
    }

    fn write_resumption_psk_store<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ResumptionPskStore: traits::ResumptionPskStore<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        resumption_psk_store: &ResumptionPskStore,
    ) -> StorageResult<()> {
        self.put(RESUMPTION_PSK_STORE_LABEL, group_id, resumption_psk_store)
    }

    fn write_own_leaf_index<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNodeIndex: traits::LeafNodeIndex<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        own_leaf_index: &LeafNodeIndex,
    ) -> StorageResult<()> {
        self.put(OWN_LEAF_NODE_INDEX_LABEL, group_id, own_leaf_index)
    }

    fn write_group_epoch_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupEpochSecrets: traits::GroupEpochSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        group_epoch_secrets: &GroupEpochSecrets,
    ) -> StorageResult<()> {
        self.put(EPOCH_SECRETS_LABEL, group_id, group_epoch_secrets)
    }

    // --- crypto objects: writers ----------------------------------------

    fn write_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
        SignatureKeyPair: traits::SignatureKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
        signature_key_pair: &SignatureKeyPair,
    ) -> StorageResult<()> {
        self.put(SIGNATURE_KEY_PAIR_LABEL, public_key, signature_key_pair)
    }

    fn write_encryption_key_pair<
        EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &EncryptionKey,
        key_pair: &HpkeKeyPair,
    ) -> StorageResult<()> {
        self.put(ENCRYPTION_KEY_PAIR_LABEL, public_key, key_pair)
    }

    fn write_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
        key_pairs: &[HpkeKeyPair],
    ) -> StorageResult<()> {
        let id = EpochKeyPairsId(group_id, epoch, leaf_index);
        self.put(EPOCH_KEY_PAIRS_LABEL, &id, key_pairs)
    }

    fn write_key_package<
        HashReference: traits::HashReference<CURRENT_VERSION>,
        KeyPackage: traits::KeyPackage<CURRENT_VERSION>,
    >(
        &self,
        hash_ref: &HashReference,
        key_package: &KeyPackage,
    ) -> StorageResult<()> {
        self.put(KEY_PACKAGE_LABEL, hash_ref, key_package)
    }

    fn write_psk<
        PskId: traits::PskId<CURRENT_VERSION>,
        PskBundle: traits::PskBundle<CURRENT_VERSION>,
    >(
        &self,
        psk_id: &PskId,
        psk: &PskBundle,
    ) -> StorageResult<()> {
        self.put(PSK_LABEL, psk_id, psk)
    }

    // --- group state: readers -------------------------------------------

    fn mls_group_join_config<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<MlsGroupJoinConfig>> {
        let k = storage_key(JOIN_CONFIG_LABEL, group_id)?;
        let map = self.read_map()?;
        map.get(&k)
            .map(|v| serde_json::from_slice(v).map_err(|_| StorageError::Decode))
            .transpose()
    }

    fn own_leaf_nodes<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNode: traits::LeafNode<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Vec<LeafNode>> {
        self.list(OWN_LEAF_NODES_LABEL, group_id)
    }

    fn queued_proposal_refs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Vec<ProposalRef>> {
        self.list(PROPOSAL_QUEUE_REFS_LABEL, group_id)
    }

    fn queued_proposals<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
        QueuedProposal: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Vec<(ProposalRef, QueuedProposal)>> {
        let refs: Vec<ProposalRef> = self.list(PROPOSAL_QUEUE_REFS_LABEL, group_id)?;
        refs.into_iter()
            .map(|r| {
                let proposal = self
                    .get(QUEUED_PROPOSAL_LABEL, &(group_id, &r))?
                    .ok_or(StorageError::Missing)?;
                Ok((r, proposal))
            })
            .collect()
    }

    fn tree<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        TreeSync: traits::TreeSync<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<TreeSync>> {
        self.get(TREE_LABEL, group_id)
    }

    fn group_context<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupContext: traits::GroupContext<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<GroupContext>> {
        self.get(GROUP_CONTEXT_LABEL, group_id)
    }

    fn interim_transcript_hash<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        InterimTranscriptHash: traits::InterimTranscriptHash<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<InterimTranscriptHash>> {
        self.get(INTERIM_TRANSCRIPT_HASH_LABEL, group_id)
    }

    fn confirmation_tag<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ConfirmationTag: traits::ConfirmationTag<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<ConfirmationTag>> {
        self.get(CONFIRMATION_TAG_LABEL, group_id)
    }

    fn group_state<
        GroupState: traits::GroupState<CURRENT_VERSION>,
        GroupId: traits::GroupId<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<GroupState>> {
        self.get(GROUP_STATE_LABEL, group_id)
    }

    fn message_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        MessageSecrets: traits::MessageSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<MessageSecrets>> {
        self.get(MESSAGE_SECRETS_LABEL, group_id)
    }

    fn resumption_psk_store<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ResumptionPskStore: traits::ResumptionPskStore<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<ResumptionPskStore>> {
        self.get(RESUMPTION_PSK_STORE_LABEL, group_id)
    }

    fn own_leaf_index<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        LeafNodeIndex: traits::LeafNodeIndex<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<LeafNodeIndex>> {
        self.get(OWN_LEAF_NODE_INDEX_LABEL, group_id)
    }

    fn group_epoch_secrets<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        GroupEpochSecrets: traits::GroupEpochSecrets<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<Option<GroupEpochSecrets>> {
        self.get(EPOCH_SECRETS_LABEL, group_id)
    }

    // --- crypto objects: readers ----------------------------------------

    fn signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
        SignatureKeyPair: traits::SignatureKeyPair<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> StorageResult<Option<SignatureKeyPair>> {
        self.get(SIGNATURE_KEY_PAIR_LABEL, public_key)
    }

    fn encryption_key_pair<
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
        EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>,
    >(
        &self,
        public_key: &EncryptionKey,
    ) -> StorageResult<Option<HpkeKeyPair>> {
        self.get(ENCRYPTION_KEY_PAIR_LABEL, public_key)
    }

    fn encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
        HpkeKeyPair: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> StorageResult<Vec<HpkeKeyPair>> {
        let id = EpochKeyPairsId(group_id, epoch, leaf_index);
        Ok(self.get(EPOCH_KEY_PAIRS_LABEL, &id)?.unwrap_or_default())
    }

    fn key_package<
        KeyPackageRef: traits::HashReference<CURRENT_VERSION>,
        KeyPackage: traits::KeyPackage<CURRENT_VERSION>,
    >(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> StorageResult<Option<KeyPackage>> {
        self.get(KEY_PACKAGE_LABEL, hash_ref)
    }

    fn psk<PskBundle: traits::PskBundle<CURRENT_VERSION>, PskId: traits::PskId<CURRENT_VERSION>>(
        &self,
        psk_id: &PskId,
    ) -> StorageResult<Option<PskBundle>> {
        self.get(PSK_LABEL, psk_id)
    }

    // --- group state: deleters ------------------------------------------

    fn remove_proposal<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
    ) -> StorageResult<()> {
        self.list_remove(PROPOSAL_QUEUE_REFS_LABEL, group_id, proposal_ref)?;
        self.remove(QUEUED_PROPOSAL_LABEL, &(group_id, proposal_ref))
    }

    fn delete_own_leaf_nodes<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(OWN_LEAF_NODES_LABEL, group_id)
    }

    fn delete_group_config<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(JOIN_CONFIG_LABEL, group_id)
    }

    fn delete_tree<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(TREE_LABEL, group_id)
    }

    fn delete_confirmation_tag<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(CONFIRMATION_TAG_LABEL, group_id)
    }

    fn delete_group_state<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(GROUP_STATE_LABEL, group_id)
    }

    fn delete_context<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(GROUP_CONTEXT_LABEL, group_id)
    }

    fn delete_interim_transcript_hash<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(INTERIM_TRANSCRIPT_HASH_LABEL, group_id)
    }

    fn delete_message_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(MESSAGE_SECRETS_LABEL, group_id)
    }

    fn delete_all_resumption_psk_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(RESUMPTION_PSK_STORE_LABEL, group_id)
    }

    fn delete_own_leaf_index<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(OWN_LEAF_NODE_INDEX_LABEL, group_id)
    }

    fn delete_group_epoch_secrets<GroupId: traits::GroupId<CURRENT_VERSION>>(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        self.remove(EPOCH_SECRETS_LABEL, group_id)
    }

    fn clear_proposal_queue<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        ProposalRef: traits::ProposalRef<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
    ) -> StorageResult<()> {
        let refs: Vec<ProposalRef> = self.list(PROPOSAL_QUEUE_REFS_LABEL, group_id)?;
        let mut keys = Vec::with_capacity(refs.len() + 1);
        for r in &refs {
            keys.push(storage_key(QUEUED_PROPOSAL_LABEL, &(group_id, r))?);
        }
        keys.push(storage_key(PROPOSAL_QUEUE_REFS_LABEL, group_id)?);
        let mut map = self.write_map()?;
        for k in keys {
            map.remove(&k);
        }
        Ok(())
    }

    // --- crypto objects: deleters ---------------------------------------

    fn delete_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<CURRENT_VERSION>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> StorageResult<()> {
        self.remove(SIGNATURE_KEY_PAIR_LABEL, public_key)
    }

    fn delete_encryption_key_pair<EncryptionKey: traits::EncryptionKey<CURRENT_VERSION>>(
        &self,
        public_key: &EncryptionKey,
    ) -> StorageResult<()> {
        self.remove(ENCRYPTION_KEY_PAIR_LABEL, public_key)
    }

    fn delete_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<CURRENT_VERSION>,
        EpochKey: traits::EpochKey<CURRENT_VERSION>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> StorageResult<()> {
        self.remove(
            EPOCH_KEY_PAIRS_LABEL,
            &EpochKeyPairsId(group_id, epoch, leaf_index),
        )
    }

    fn delete_key_package<KeyPackageRef: traits::HashReference<CURRENT_VERSION>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> StorageResult<()> {
        self.remove(KEY_PACKAGE_LABEL, hash_ref)
    }

    fn delete_psk<PskKey: traits::PskId<CURRENT_VERSION>>(
        &self,
        psk_id: &PskKey,
    ) -> StorageResult<()> {
        self.remove(PSK_LABEL, psk_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmls::prelude::{GroupId, LeafNodeIndex, MlsGroupJoinConfig};

    const LABELS: &[&[u8]] = &[
        KEY_PACKAGE_LABEL,
        PSK_LABEL,
        ENCRYPTION_KEY_PAIR_LABEL,
        SIGNATURE_KEY_PAIR_LABEL,
        EPOCH_KEY_PAIRS_LABEL,
        TREE_LABEL,
        GROUP_CONTEXT_LABEL,
        INTERIM_TRANSCRIPT_HASH_LABEL,
        CONFIRMATION_TAG_LABEL,
        JOIN_CONFIG_LABEL,
        OWN_LEAF_NODES_LABEL,
        GROUP_STATE_LABEL,
        QUEUED_PROPOSAL_LABEL,
        PROPOSAL_QUEUE_REFS_LABEL,
        OWN_LEAF_NODE_INDEX_LABEL,
        EPOCH_SECRETS_LABEL,
        RESUMPTION_PSK_STORE_LABEL,
        MESSAGE_SECRETS_LABEL,
    ];

    /// `label || key` is unambiguous only if no label is a prefix of another.
    #[test]
    fn labels_are_prefix_free() {
        for a in LABELS {
            for b in LABELS {
                if a != b {
                    assert!(!b.starts_with(a), "{a:?} is a prefix of {b:?}");
                }
            }
        }
    }

    /// Every stored value is wiped when it is overwritten, removed or
    /// dropped: the map's value type must zeroize on drop.
    #[test]
    fn stored_values_zeroize_on_drop() {
        fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroize_on_drop::<Value>();
    }

    #[test]
    fn write_overwrite_read_delete() {
        let s = AlcoveStorage::default();
        let gid = GroupId::from_slice(b"group");
        assert_eq!(
            s.own_leaf_index::<_, LeafNodeIndex>(&gid).unwrap(),
            None::<LeafNodeIndex>
        );
        s.write_own_leaf_index(&gid, &LeafNodeIndex::new(7))
            .unwrap();
        s.write_own_leaf_index(&gid, &LeafNodeIndex::new(300))
            .unwrap();
        assert_eq!(s.len(), 1);
        let got: Option<LeafNodeIndex> = s.own_leaf_index(&gid).unwrap();
        assert_eq!(got, Some(LeafNodeIndex::new(300)));
        // Key: label || postcard(GroupId) || version; value: varint 300.
        let key = storage_key(OWN_LEAF_NODE_INDEX_LABEL, &gid).unwrap();
        let mut expected = b"OwnLeafNodeIndex".to_vec();
        expected.extend_from_slice(&[5, b'g', b'r', b'o', b'u', b'p', 0, 1]);
        assert_eq!(key, expected);
        assert_eq!(
            s.values.read().unwrap().get(&key).unwrap().as_slice(),
            &[0xac, 0x02]
        );
        s.delete_own_leaf_index(&gid).unwrap();
        assert_eq!(s.len(), 0);
        assert_eq!(
            s.own_leaf_index::<_, LeafNodeIndex>(&gid).unwrap(),
            None::<LeafNodeIndex>
        );
    }

    /// The join config needs a self-describing format (it is stored as
    /// JSON); postcard cannot read it back, which is why.
    #[test]
    fn join_config_round_trips() {
        let s = AlcoveStorage::default();
        let gid = GroupId::from_slice(b"g");
        let config = MlsGroupJoinConfig::builder()
            .max_past_epochs(2)
            .padding_size(32)
            .build();
        s.write_mls_join_config(&gid, &config).unwrap();
        let got: Option<MlsGroupJoinConfig> = s.mls_group_join_config(&gid).unwrap();
        assert_eq!(got, Some(config.clone()));
        let bytes = postcard::to_allocvec(&config).unwrap();
        assert!(postcard::from_bytes::<MlsGroupJoinConfig>(&bytes).is_err());
    }

    #[test]
    fn lists_append_and_remove() {
        let s = AlcoveStorage::default();
        let gid = GroupId::from_slice(b"g");
        for i in [1u32, 2, 3, 2] {
            s.list_append(OWN_LEAF_NODES_LABEL, &gid, &i).unwrap();
        }
        s.list_remove(OWN_LEAF_NODES_LABEL, &gid, &2u32).unwrap();
        s.list_remove(OWN_LEAF_NODES_LABEL, &gid, &9u32).unwrap();
        let got: Vec<u32> = s.list(OWN_LEAF_NODES_LABEL, &gid).unwrap();
        assert_eq!(got, vec![1, 3, 2]);
        s.delete_own_leaf_nodes(&gid).unwrap();
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn damaged_values_are_errors() {
        let s = AlcoveStorage::default();
        let gid = GroupId::from_slice(b"g");
        s.write_own_leaf_index(&gid, &LeafNodeIndex::new(1))
            .unwrap();
        let key = storage_key(OWN_LEAF_NODE_INDEX_LABEL, &gid).unwrap();
        // Trailing byte.
        s.values
            .write()
            .unwrap()
            .insert(key.clone(), Zeroizing::new(vec![1, 0]));
        assert_eq!(
            s.own_leaf_index::<_, LeafNodeIndex>(&gid).unwrap_err(),
            StorageError::Decode
        );
        // Truncated varint.
        s.values
            .write()
            .unwrap()
            .insert(key, Zeroizing::new(vec![0x80]));
        assert!(s.own_leaf_index::<_, LeafNodeIndex>(&gid).is_err());
        // Truncated list.
        s.values.write().unwrap().insert(
            storage_key(OWN_LEAF_NODES_LABEL, &gid).unwrap(),
            Zeroizing::new(vec![0, 0, 0, 9, 1]),
        );
        assert!(s.list::<_, u32>(OWN_LEAF_NODES_LABEL, &gid).is_err());
    }

    #[test]
    fn wiping_sink_grows_and_keeps_content() {
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        encode_into(&mut out, &data).unwrap();
        assert_eq!(postcard::from_bytes::<Vec<u8>>(&out).unwrap(), data);
    }

    #[test]
    fn debug_prints_no_values() {
        let s = AlcoveStorage::default();
        let gid = GroupId::from_slice(b"g");
        s.write_own_leaf_index(&gid, &LeafNodeIndex::new(0x4242))
            .unwrap();
        let d = format!("{s:?} {s:#?}");
        assert!(d.contains("entries"));
        // postcard(0x4242) = c2 84 01
        assert!(!d.contains("194") && !d.contains("132") && !d.contains("c2"));
    }
}

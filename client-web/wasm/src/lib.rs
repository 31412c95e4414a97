//! WebAssembly bindings over `alcove-crypto` for the browser client.
//!
//! Bytes cross the boundary as `Uint8Array`; every length is validated
//! here before it reaches the protocol core; every error is a JS `Error`
//! with a stable `code` property (see `docs/protocol.md` §10).
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use alcove_crypto::archive::{self, HistoryKey};
use alcove_crypto::device::MAX_GROUP_ID_LEN;
use alcove_crypto::seal::{self, DeviceSecret, UnlockShare};
use alcove_crypto::server::{self, ExternalSenderKey};
use alcove_crypto::{CommitOutput, Device, DeviceIdentity, Envelope, Error, MemberInfo, Processed};
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

const MAX_MESSAGE: usize = alcove_crypto::MAX_MESSAGE_LEN;
const MAX_SEALED: usize = alcove_crypto::seal::MAX_SEALED_LEN;

fn js_err(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

fn arg_err(msg: &str) -> JsValue {
    js_err(Error::InvalidArgument(msg.to_string()))
}

fn check(bytes: &[u8], max: usize, what: &str) -> Result<(), JsValue> {
    if bytes.len() > max {
        let e = js_err(Error::TooLarge {
            len: bytes.len(),
            limit: max,
        });
        let _ = Reflect::set(&e, &"field".into(), &what.into());
        return Err(e);
    }
    Ok(())
}

fn check_group(group_id: &[u8]) -> Result<(), JsValue> {
    if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_LEN {
        return Err(arg_err("groupId must be 1..=255 bytes"));
    }
    Ok(())
}

fn secret32(bytes: &[u8], what: &str) -> Result<[u8; 32], JsValue> {
    bytes
        .try_into()
        .map_err(|_| arg_err(&format!("{what} must be 32 bytes")))
}

/// A non-negative safe integer from JS (seconds, epochs).
fn time_secs(t: f64) -> Result<u64, JsValue> {
    if !t.is_finite() || !(0.0..=9_007_199_254_740_991.0).contains(&t) || t.fract() != 0.0 {
        return Err(arg_err("expected a non-negative safe integer"));
    }
    Ok(t as u64)
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &key.into(), &value.into());
}

fn bytes(v: &[u8]) -> Uint8Array {
    Uint8Array::from(v)
}

fn member_obj(m: &MemberInfo) -> Object {
    let o = Object::new();
    set(&o, "leafIndex", m.leaf_index);
    set(&o, "practiceId", m.identity.practice_id.as_str());
    set(&o, "userId", m.identity.user_id.as_str());
    set(&o, "deviceId", m.identity.device_id.as_str());
    set(&o, "signatureKey", bytes(&m.signature_key));
    o
}

fn members_arr(ms: &[MemberInfo]) -> Array {
    ms.iter().map(|m| JsValue::from(member_obj(m))).collect()
}

fn commit_obj(c: &CommitOutput) -> Object {
    let o = Object::new();
    set(&o, "commit", bytes(&c.commit));
    match &c.welcome {
        Some(w) => set(&o, "welcome", bytes(w)),
        None => set(&o, "welcome", JsValue::NULL),
    }
    let refs: Array = c
        .welcome_key_package_refs
        .iter()
        .map(|r| JsValue::from(bytes(r)))
        .collect();
    set(&o, "welcomeKeyPackageRefs", refs);
    set(&o, "epoch", c.epoch as f64);
    match &c.group_info {
        Some(g) => set(&o, "groupInfo", bytes(g)),
        None => set(&o, "groupInfo", JsValue::NULL),
    }
    o
}

fn processed_obj(p: &Processed) -> Object {
    let o = Object::new();
    match p {
        Processed::Application {
            group_id,
            epoch,
            sender,
            plaintext,
        } => {
            set(&o, "kind", "application");
            set(&o, "groupId", bytes(group_id));
            set(&o, "epoch", *epoch as f64);
            set(&o, "sender", member_obj(sender));
            set(&o, "plaintext", bytes(plaintext));
        }
        Processed::ProposalStored {
            group_id,
            epoch,
            from_server,
            removes,
            removes_self,
        } => {
            set(&o, "kind", "proposal_stored");
            set(&o, "groupId", bytes(group_id));
            set(&o, "epoch", *epoch as f64);
            set(&o, "fromServer", *from_server);
            set(&o, "removes", members_arr(removes));
            set(&o, "removesSelf", *removes_self);
        }
        Processed::CommitMerged {
            group_id,
            epoch,
            committer,
            added,
            removed,
            self_removed,
        } => {
            set(&o, "kind", "commit_merged");
            set(&o, "groupId", bytes(group_id));
            set(&o, "epoch", *epoch as f64);
            set(&o, "committer", *committer);
            set(&o, "added", members_arr(added));
            set(&o, "removed", members_arr(removed));
            set(&o, "selfRemoved", *self_removed);
        }
        Processed::OwnCommitMerged { group_id, epoch } => {
            set(&o, "kind", "own_commit_merged");
            set(&o, "groupId", bytes(group_id));
            set(&o, "epoch", *epoch as f64);
        }
        Processed::Stale {
            group_id,
            message_epoch,
            group_epoch,
        } => {
            set(&o, "kind", "stale");
            set(&o, "groupId", bytes(group_id));
            set(&o, "messageEpoch", *message_epoch as f64);
            set(&o, "epoch", *group_epoch as f64);
        }
        Processed::OwnMessage { group_id } => {
            set(&o, "kind", "own_message");
            set(&o, "groupId", bytes(group_id));
        }
    }
    o
}

/// One device (MLS client). Keep one per browser profile; seal it after
/// every operation.
#[wasm_bindgen]
pub struct AlcoveDevice {
    inner: Device,
}

#[wasm_bindgen]
impl AlcoveDevice {
    /// Generate a new device identity and signature key.
    #[wasm_bindgen(constructor)]
    pub fn new(practice_id: &str, user_id: &str, device_id: &str) -> Result<AlcoveDevice, JsValue> {
        let id = DeviceIdentity::new(practice_id, user_id, device_id).map_err(js_err)?;
        Ok(Self {
            inner: Device::new(id).map_err(js_err)?,
        })
    }

    /// Credential identity bytes (`alcove-id-v1` format).
    #[wasm_bindgen(js_name = identityBytes)]
    pub fn identity_bytes(&self) -> Vec<u8> {
        self.inner.identity().to_bytes()
    }

    /// Device id.
    #[wasm_bindgen(js_name = deviceId)]
    pub fn device_id(&self) -> String {
        self.inner.identity().device_id.clone()
    }

    /// Ed25519 public key (32 bytes).
    #[wasm_bindgen(js_name = signaturePublicKey)]
    pub fn signature_public_key(&self) -> Vec<u8> {
        self.inner.signature_public_key().to_vec()
    }

    /// `count` one-time KeyPackages, valid from `nowSecs`.
    #[wasm_bindgen(js_name = keyPackages)]
    pub fn key_packages(&mut self, count: u32, now_secs: f64) -> Result<Array, JsValue> {
        if count == 0 || count > 500 {
            return Err(arg_err("count must be 1..=500"));
        }
        let kps = self
            .inner
            .key_packages(count as usize, time_secs(now_secs)?)
            .map_err(js_err)?;
        Ok(kps.iter().map(|k| JsValue::from(bytes(k))).collect())
    }

    /// A last-resort KeyPackage.
    #[wasm_bindgen(js_name = lastResortKeyPackage)]
    pub fn last_resort_key_package(&mut self, now_secs: f64) -> Result<Vec<u8>, JsValue> {
        self.inner
            .last_resort_key_package(time_secs(now_secs)?)
            .map_err(js_err)
    }

    /// Create a group carrying the server's external-sender key.
    #[wasm_bindgen(js_name = createGroup)]
    pub fn create_group(&mut self, group_id: &[u8], external_sender: &[u8]) -> Result<(), JsValue> {
        check_group(group_id)?;
        check(external_sender, 4096, "externalSender")?;
        self.inner
            .create_group(group_id, external_sender)
            .map_err(js_err)
    }

    /// Add devices by KeyPackage (array of Uint8Array). Returns
    /// `{commit, welcome, welcomeKeyPackageRefs, epoch, groupInfo}`; the
    /// commit is pending. Every commit output carries `groupInfo`, the
    /// GroupInfo of the epoch the commit creates (upload it with the commit).
    #[wasm_bindgen(js_name = addDevices)]
    pub fn add_devices(&mut self, group_id: &[u8], key_packages: Array) -> Result<Object, JsValue> {
        check_group(group_id)?;
        if key_packages.length() == 0 || key_packages.length() > 500 {
            return Err(arg_err("1..=500 key packages"));
        }
        let mut kps = Vec::with_capacity(key_packages.length() as usize);
        for v in key_packages.iter() {
            let arr = v
                .dyn_into::<Uint8Array>()
                .map_err(|_| arg_err("key packages must be Uint8Array"))?;
            if arr.length() as usize > 64 * 1024 {
                return Err(arg_err("key package too large"));
            }
            kps.push(arr.to_vec());
        }
        let out = self.inner.add_devices(group_id, &kps).map_err(js_err)?;
        Ok(commit_obj(&out))
    }

    /// Remove devices by leaf index; returns the pending commit.
    #[wasm_bindgen(js_name = removeDevices)]
    pub fn remove_devices(
        &mut self,
        group_id: &[u8],
        leaf_indices: Vec<u32>,
    ) -> Result<Object, JsValue> {
        check_group(group_id)?;
        if leaf_indices.is_empty() || leaf_indices.len() > 10_000 {
            return Err(arg_err("1..=10000 leaf indices"));
        }
        let out = self
            .inner
            .remove_devices(group_id, &leaf_indices)
            .map_err(js_err)?;
        Ok(commit_obj(&out))
    }

    /// Commit a fresh leaf key; returns the pending commit.
    #[wasm_bindgen(js_name = selfUpdate)]
    pub fn self_update(&mut self, group_id: &[u8]) -> Result<Object, JsValue> {
        check_group(group_id)?;
        Ok(commit_obj(
            &self.inner.self_update(group_id).map_err(js_err)?,
        ))
    }

    /// Commit stored proposals; `null` if nothing to commit.
    #[wasm_bindgen(js_name = commitPendingProposals)]
    pub fn commit_pending_proposals(&mut self, group_id: &[u8]) -> Result<JsValue, JsValue> {
        check_group(group_id)?;
        Ok(
            match self
                .inner
                .commit_pending_proposals(group_id)
                .map_err(js_err)?
            {
                Some(c) => commit_obj(&c).into(),
                None => JsValue::NULL,
            },
        )
    }

    /// The server accepted the pending commit; returns the new epoch.
    #[wasm_bindgen(js_name = mergePendingCommit)]
    pub fn merge_pending_commit(&mut self, group_id: &[u8]) -> Result<f64, JsValue> {
        check_group(group_id)?;
        Ok(self.inner.merge_pending_commit(group_id).map_err(js_err)? as f64)
    }

    /// The server rejected the pending commit (409).
    #[wasm_bindgen(js_name = discardPendingCommit)]
    pub fn discard_pending_commit(&mut self, group_id: &[u8]) -> Result<(), JsValue> {
        check_group(group_id)?;
        self.inner.discard_pending_commit(group_id).map_err(js_err)
    }

    /// Join from a Welcome; returns `{groupId, epoch, ownLeafIndex}`.
    #[wasm_bindgen(js_name = joinFromWelcome)]
    pub fn join_from_welcome(&mut self, welcome: &[u8]) -> Result<Object, JsValue> {
        check(welcome, MAX_MESSAGE, "welcome")?;
        let j = self.inner.join_from_welcome(welcome).map_err(js_err)?;
        let o = Object::new();
        set(&o, "groupId", bytes(&j.group_id));
        set(&o, "epoch", j.epoch as f64);
        set(&o, "ownLeafIndex", j.own_leaf_index);
        Ok(o)
    }

    /// The GroupInfo of the group's current epoch (signed by this device,
    /// with the ratchet tree and the external public key). The creator
    /// uploads it once, at epoch 0.
    #[wasm_bindgen(js_name = groupInfo)]
    pub fn group_info(&self, group_id: &[u8]) -> Result<Vec<u8>, JsValue> {
        check_group(group_id)?;
        self.inner.group_info(group_id).map_err(js_err)
    }

    /// Join a group by external commit against a GroupInfo fetched from the
    /// server. Returns the commit output (`{commit, welcome: null,
    /// welcomeKeyPackageRefs: [], epoch, groupInfo}`). The commit is already
    /// merged: if the server refuses it, call `forgetGroup`. Throws
    /// `group_exists` if this device is an active member already.
    #[wasm_bindgen(js_name = joinByExternalCommit)]
    pub fn join_by_external_commit(&mut self, group_info: &[u8]) -> Result<Object, JsValue> {
        check(group_info, MAX_MESSAGE, "groupInfo")?;
        Ok(commit_obj(
            &self
                .inner
                .join_by_external_commit(group_info)
                .map_err(js_err)?,
        ))
    }

    /// Delete all state of a group (after being removed, or after the server
    /// refused an external commit).
    #[wasm_bindgen(js_name = forgetGroup)]
    pub fn forget_group(&mut self, group_id: &[u8]) -> Result<(), JsValue> {
        check_group(group_id)?;
        self.inner.forget_group(group_id).map_err(js_err)
    }

    /// True if this device is still a member of the group.
    #[wasm_bindgen(js_name = isActive)]
    pub fn is_active(&self, group_id: &[u8]) -> Result<bool, JsValue> {
        check_group(group_id)?;
        self.inner.is_active(group_id).map_err(js_err)
    }

    /// Encrypt an application message (an encoded envelope).
    pub fn encrypt(&mut self, group_id: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, JsValue> {
        check_group(group_id)?;
        check(
            plaintext,
            alcove_crypto::envelope::MAX_ENVELOPE_LEN,
            "plaintext",
        )?;
        self.inner.encrypt(group_id, plaintext).map_err(js_err)
    }

    /// Process any incoming group message; returns an object with `kind`
    /// = application | proposal_stored | commit_merged | own_commit_merged
    /// | stale | own_message.
    pub fn process(&mut self, message: &[u8]) -> Result<Object, JsValue> {
        check(message, MAX_MESSAGE, "message")?;
        Ok(processed_obj(&self.inner.process(message).map_err(js_err)?))
    }

    /// Current epoch.
    pub fn epoch(&self, group_id: &[u8]) -> Result<f64, JsValue> {
        Ok(self.inner.epoch(group_id).map_err(js_err)? as f64)
    }

    /// Own leaf index.
    #[wasm_bindgen(js_name = ownLeafIndex)]
    pub fn own_leaf_index(&self, group_id: &[u8]) -> Result<u32, JsValue> {
        self.inner.own_leaf_index(group_id).map_err(js_err)
    }

    /// Members: array of `{leafIndex, practiceId, userId, deviceId, signatureKey}`.
    pub fn members(&self, group_id: &[u8]) -> Result<Array, JsValue> {
        Ok(members_arr(&self.inner.members(group_id).map_err(js_err)?))
    }

    /// Seal the whole state (store the result in IndexedDB, replacing the
    /// previous blob).
    pub fn seal(&self, device_secret: &[u8], unlock_share: &[u8]) -> Result<Vec<u8>, JsValue> {
        let ds = DeviceSecret::from_bytes(secret32(device_secret, "deviceSecret")?);
        let us = UnlockShare::from_bytes(secret32(unlock_share, "unlockShare")?);
        self.inner.seal(&ds, &us).map_err(js_err)
    }

    /// Restore a device from sealed state.
    pub fn unseal(
        sealed: &[u8],
        device_id: &str,
        device_secret: &[u8],
        unlock_share: &[u8],
    ) -> Result<AlcoveDevice, JsValue> {
        check(sealed, MAX_SEALED, "sealed")?;
        let ds = DeviceSecret::from_bytes(secret32(device_secret, "deviceSecret")?);
        let us = UnlockShare::from_bytes(secret32(unlock_share, "unlockShare")?);
        Ok(Self {
            inner: Device::unseal(sealed, device_id, &ds, &us).map_err(js_err)?,
        })
    }
}

/// Encode an envelope given in canonical JSON form.
#[wasm_bindgen(js_name = envelopeEncode)]
pub fn envelope_encode(json: &str) -> Result<Vec<u8>, JsValue> {
    check(
        json.as_bytes(),
        4 * alcove_crypto::envelope::MAX_ENVELOPE_LEN,
        "json",
    )?;
    Envelope::from_json(json)
        .and_then(|e| e.encode())
        .map_err(js_err)
}

/// Decode an envelope to canonical JSON form.
#[wasm_bindgen(js_name = envelopeDecode)]
pub fn envelope_decode(bytes: &[u8]) -> Result<String, JsValue> {
    Envelope::decode(bytes)
        .and_then(|e| e.to_json())
        .map_err(js_err)
}

/// Seal arbitrary bytes with a fixed nonce. Only for checking test vectors.
#[wasm_bindgen(js_name = sealWithNonceForVectors)]
pub fn seal_with_nonce_for_vectors(
    plaintext: &[u8],
    device_id: &str,
    device_secret: &[u8],
    unlock_share: &[u8],
    nonce: &[u8],
) -> Result<Vec<u8>, JsValue> {
    check(plaintext, MAX_SEALED, "plaintext")?;
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| arg_err("nonce must be 12 bytes"))?;
    seal::seal_with_nonce(
        plaintext,
        device_id,
        &DeviceSecret::from_bytes(secret32(device_secret, "deviceSecret")?),
        &UnlockShare::from_bytes(secret32(unlock_share, "unlockShare")?),
        nonce,
    )
    .map_err(js_err)
}

/// Seal application data (e.g. the local message history) for this
/// device with a fresh random nonce: the same key derivation as the device
/// state (device secret + unlock share), so revoking the device's unlock
/// share crypto-shreds it too. Use a distinct `deviceId` label per kind of
/// data (e.g. `"<device id>/history"`): it is bound in the AAD, so blobs
/// cannot be swapped between kinds.
#[wasm_bindgen(js_name = sealBytes)]
pub fn seal_bytes(
    plaintext: &[u8],
    device_id: &str,
    device_secret: &[u8],
    unlock_share: &[u8],
) -> Result<Vec<u8>, JsValue> {
    check(plaintext, MAX_SEALED, "plaintext")?;
    seal::seal(
        plaintext,
        device_id,
        &DeviceSecret::from_bytes(secret32(device_secret, "deviceSecret")?),
        &UnlockShare::from_bytes(secret32(unlock_share, "unlockShare")?),
    )
    .map_err(js_err)
}

/// Open sealed bytes (vector checks and tooling).
#[wasm_bindgen(js_name = unsealBytes)]
pub fn unseal_bytes(
    sealed: &[u8],
    device_id: &str,
    device_secret: &[u8],
    unlock_share: &[u8],
) -> Result<Vec<u8>, JsValue> {
    check(sealed, MAX_SEALED, "sealed")?;
    seal::unseal(
        sealed,
        device_id,
        &DeviceSecret::from_bytes(secret32(device_secret, "deviceSecret")?),
        &UnlockShare::from_bytes(secret32(unlock_share, "unlockShare")?),
    )
    .map(|z| z.to_vec())
    .map_err(js_err)
}

/// Test/tooling helper: generate a server external-sender key, returning its
/// secret serialization. (The real server does this natively.)
#[wasm_bindgen(js_name = serverKeyGenerate)]
pub fn server_key_generate() -> Result<Vec<u8>, JsValue> {
    let k = ExternalSenderKey::generate(server::DEFAULT_SERVER_IDENTITY).map_err(js_err)?;
    Ok(k.to_secret_bytes().map_err(js_err)?.to_vec())
}

/// Public `ExternalSender` bytes of a server key.
#[wasm_bindgen(js_name = serverKeyPublic)]
pub fn server_key_public(secret: &[u8]) -> Result<Vec<u8>, JsValue> {
    check(secret, 4096, "secret")?;
    ExternalSenderKey::from_secret_bytes(secret)
        .and_then(|k| k.public_bytes())
        .map_err(js_err)
}

/// Signed external Remove proposal from a server key.
#[wasm_bindgen(js_name = serverProposeRemove)]
pub fn server_propose_remove(
    secret: &[u8],
    group_id: &[u8],
    epoch: f64,
    leaf_index: u32,
) -> Result<Vec<u8>, JsValue> {
    check(secret, 4096, "secret")?;
    check_group(group_id)?;
    let epoch = time_secs(epoch)?;
    ExternalSenderKey::from_secret_bytes(secret)
        .and_then(|k| k.propose_remove(group_id, epoch, leaf_index))
        .map_err(js_err)
}

// ---- the history archive (docs/history.md, step 2) ----------------------

/// A fresh history key (32 bytes): the person's, shown once as a history
/// recovery key (`historyKeyText`), kept sealed on their devices.
#[wasm_bindgen(js_name = historyKeyNew)]
pub fn history_key_new() -> Result<Vec<u8>, JsValue> {
    Ok(HistoryKey::generate().map_err(js_err)?.expose().to_vec())
}

/// The key's public name (16 hex digits): the server takes archives under
/// the person's current key only.
#[wasm_bindgen(js_name = historyKeyId)]
pub fn history_key_id(key: &[u8]) -> Result<String, JsValue> {
    Ok(HistoryKey::from_slice(key).map_err(js_err)?.key_id())
}

/// The history recovery key the person writes down for `key`.
#[wasm_bindgen(js_name = historyKeyText)]
pub fn history_key_text(key: &[u8]) -> Result<String, JsValue> {
    Ok(HistoryKey::from_slice(key)
        .map_err(js_err)?
        .to_recovery_text())
}

/// The key a written-down history recovery key stands for; a typo is
/// `invalid_argument`.
#[wasm_bindgen(js_name = historyKeyParse)]
pub fn history_key_parse(text: &str) -> Result<Vec<u8>, JsValue> {
    if text.len() > 200 {
        return Err(arg_err("not a history recovery key"));
    }
    Ok(HistoryKey::from_recovery_text(text)
        .map_err(js_err)?
        .expose()
        .to_vec())
}

/// Seals `userId`'s archive of `conversationId` under `key`.
#[wasm_bindgen(js_name = archiveSeal)]
pub fn archive_seal(
    plaintext: &[u8],
    user_id: &str,
    conversation_id: &str,
    key: &[u8],
) -> Result<Vec<u8>, JsValue> {
    check(plaintext, archive::MAX_ARCHIVE_LEN, "plaintext")?;
    archive::seal(
        plaintext,
        user_id,
        conversation_id,
        &HistoryKey::from_slice(key).map_err(js_err)?,
    )
    .map_err(js_err)
}

/// Opens `userId`'s archive of `conversationId`; a wrong key is `unseal_failed`.
#[wasm_bindgen(js_name = archiveOpen)]
pub fn archive_open(
    sealed: &[u8],
    user_id: &str,
    conversation_id: &str,
    key: &[u8],
) -> Result<Vec<u8>, JsValue> {
    check(sealed, archive::MAX_ARCHIVE_LEN, "sealed")?;
    archive::open(
        sealed,
        user_id,
        conversation_id,
        &HistoryKey::from_slice(key).map_err(js_err)?,
    )
    .map(|z| z.to_vec())
    .map_err(js_err)
}

//! Sealed device state: round-trip in the middle of a conversation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use alcove_crypto::{Device, DeviceSecret, Error, UnlockShare};
use common::*;

#[test]
fn snapshot_roundtrip_mid_conversation() {
    let server = server_key();
    let mut devs = four_device_group(&server);
    let ds = DeviceSecret::generate().unwrap();
    let us = UnlockShare::generate().unwrap();
    // Some traffic first, so ratchets have advanced.
    for i in 0..3u8 {
        let ct = devs[0].encrypt(GROUP, &text("before", i)).unwrap();
        for d in devs.iter_mut().skip(1) {
            d.process(&ct).unwrap();
        }
    }
    // p1 seals its state and is dropped (tab closed).
    let p1 = devs.remove(2);
    let device_id = p1.identity().device_id.clone();
    let sealed = p1.seal(&ds, &us).unwrap();
    let epoch = p1.epoch(GROUP).unwrap();
    drop(p1);
    // Meanwhile: a message and a commit.
    let away = text("while away", 10);
    let ct = devs[1].encrypt(GROUP, &away).unwrap();
    devs[0].process(&ct).unwrap();
    devs[2].process(&ct).unwrap();
    let upd = devs[0].self_update(GROUP).unwrap();
    devs[0].merge_pending_commit(GROUP).unwrap();
    devs[1].process(&upd.commit).unwrap();
    devs[2].process(&upd.commit).unwrap();
    // Restore and catch up in order.
    let mut p1 = Device::unseal(&sealed, &device_id, &ds, &us).unwrap();
    assert_eq!(p1.epoch(GROUP).unwrap(), epoch);
    assert_eq!(p1.members(GROUP).unwrap().len(), 4);
    assert_eq!(
        common::plaintext_of(&p1.process(&ct).unwrap()),
        away.as_slice()
    );
    p1.process(&upd.commit).unwrap();
    // And keeps talking both ways.
    let ct = p1.encrypt(GROUP, b"back").unwrap();
    for d in devs.iter_mut() {
        assert_eq!(common::plaintext_of(&d.process(&ct).unwrap()), b"back");
    }
    let ct = devs[2].encrypt(GROUP, b"welcome back").unwrap();
    assert_eq!(
        common::plaintext_of(&p1.process(&ct).unwrap()),
        b"welcome back"
    );
    // Re-sealing uses a fresh nonce, and the old blob is no longer needed.
    let sealed2 = p1.seal(&ds, &us).unwrap();
    assert_ne!(sealed, sealed2);
    // Wrong key material / wrong device / damage: errors, never panics.
    let wrong = UnlockShare::generate().unwrap();
    assert_eq!(
        Device::unseal(&sealed2, &device_id, &ds, &wrong).unwrap_err(),
        Error::UnsealFailed
    );
    assert_eq!(
        Device::unseal(&sealed2, "p-dev-2", &ds, &us).unwrap_err(),
        Error::UnsealFailed
    );
    let mut damaged = sealed2.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x80;
    assert_eq!(
        Device::unseal(&damaged, &device_id, &ds, &us)
            .unwrap_err()
            .code(),
        "unseal_failed"
    );
    assert!(Device::unseal(&sealed2[..10], &device_id, &ds, &us).is_err());
}

/// The storage entries of a plaintext snapshot (docs/protocol.md §9), in
/// order: `(key, value)`.
fn storage_entries(snap: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let u16_at = |p: usize| u16::from_be_bytes([snap[p], snap[p + 1]]) as usize;
    let u32_at = |p: usize| u32::from_be_bytes(snap[p..p + 4].try_into().unwrap()) as usize;
    assert_eq!(&snap[..4], b"ALCD");
    assert_eq!(snap[4], alcove_crypto::SNAPSHOT_VERSION);
    let mut p = 5;
    p += 2 + u16_at(p); // identity
    p += 4 + u32_at(p); // signature key pair
    let groups = u32_at(p);
    p += 4;
    for _ in 0..groups {
        p += 2 + u16_at(p);
    }
    let n = u32_at(p);
    p += 4;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let kl = u32_at(p);
        let key = snap[p + 4..p + 4 + kl].to_vec();
        p += 4 + kl;
        let vl = u32_at(p);
        let value = snap[p + 4..p + 4 + vl].to_vec();
        p += 4 + vl;
        out.push((key, value));
    }
    assert_eq!(p, snap.len(), "nothing follows the entries");
    out
}

fn keys_with_label(snap: &[u8], label: &[u8]) -> usize {
    storage_entries(snap)
        .iter()
        .filter(|(k, _)| k.starts_with(label))
        .count()
}

/// A snapshot taken with a pending (server) proposal and the previous
/// epoch's secrets restores into a device that still decrypts a late message
/// from that epoch, still holds the proposal, and follows the commit of it.
#[test]
fn snapshot_with_pending_proposal_and_past_epoch_secrets() {
    let server = server_key();
    let mut devs = four_device_group(&server);
    // A message sent in epoch 1 that p1 will only see after the restore.
    let late = text("late from epoch 1", 1);
    let late_ct = devs[1].encrypt(GROUP, &late).unwrap();
    devs[0].process(&late_ct).unwrap();
    // Epoch 1 -> 2.
    let upd = devs[0].self_update(GROUP).unwrap();
    devs[0].merge_pending_commit(GROUP).unwrap();
    for d in devs.iter_mut().skip(1) {
        d.process(&upd.commit).unwrap();
    }
    assert_eq!(devs[2].epoch(GROUP).unwrap(), 2);
    // Some epoch-2 traffic (nobody can send while a proposal is pending).
    let ct = devs[3].encrypt(GROUP, b"epoch 2").unwrap();
    for d in devs.iter_mut().take(3) {
        assert_eq!(common::plaintext_of(&d.process(&ct).unwrap()), b"epoch 2");
    }
    // The server proposes removing p2 (leaf 3); everyone stores it.
    let proposal = server.propose_remove(GROUP, 2, 3).unwrap();
    for d in devs.iter_mut() {
        assert!(matches!(
            d.process(&proposal).unwrap(),
            alcove_crypto::Processed::ProposalStored {
                from_server: true,
                ..
            }
        ));
    }

    let snap = devs[2].snapshot().unwrap();
    assert_eq!(keys_with_label(&snap, b"QueuedProposal"), 1);
    assert_eq!(keys_with_label(&snap, b"ProposalQueueRefs"), 1);
    // Deterministic: the same state exports the same bytes, and a restored
    // device exports what it was restored from.
    assert_eq!(*devs[2].snapshot().unwrap(), *snap);
    drop(devs.remove(2));
    let mut p1 = Device::restore(&snap).unwrap();
    assert_eq!(*p1.snapshot().unwrap(), *snap);
    assert_eq!(p1.epoch(GROUP).unwrap(), 2);

    // The late epoch-1 message still decrypts.
    match p1.process(&late_ct).unwrap() {
        alcove_crypto::Processed::Application {
            epoch, plaintext, ..
        } => {
            assert_eq!(epoch, 1);
            assert_eq!(plaintext, late);
        }
        other => panic!("expected the late application message, got {other:?}"),
    }
    // The proposal survived: p1 could commit it itself...
    assert!(p1.has_pending_proposals(GROUP).unwrap());
    assert!(p1.commit_pending_proposals(GROUP).unwrap().is_some());
    p1.discard_pending_commit(GROUP).unwrap();
    // ... and follows c1's commit of it (which refers to it by reference).
    let out = devs[0].commit_pending_proposals(GROUP).unwrap().unwrap();
    devs[0].merge_pending_commit(GROUP).unwrap();
    match p1.process(&out.commit).unwrap() {
        alcove_crypto::Processed::CommitMerged { removed, epoch, .. } => {
            assert_eq!(epoch, 3);
            assert_eq!(removed.len(), 1);
            assert_eq!(removed[0].leaf_index, 3);
        }
        other => panic!("expected the commit, got {other:?}"),
    }
    devs[1].process(&out.commit).unwrap();
    // The committed proposal is gone from storage, not only from memory.
    let after = p1.snapshot().unwrap();
    assert_eq!(keys_with_label(&after, b"QueuedProposal"), 0);
    assert_eq!(keys_with_label(&after, b"ProposalQueueRefs"), 0);
    // Epoch 3 both ways.
    let ct = p1.encrypt(GROUP, b"epoch 3").unwrap();
    assert_eq!(
        common::plaintext_of(&devs[0].process(&ct).unwrap()),
        b"epoch 3"
    );
    let ct = devs[1].encrypt(GROUP, b"epoch 3 too").unwrap();
    assert_eq!(
        common::plaintext_of(&p1.process(&ct).unwrap()),
        b"epoch 3 too"
    );
}

/// Version 1 snapshots (JSON storage values) are refused with
/// `unsupported_version`, as is any other version.
#[test]
fn other_snapshot_versions_are_unsupported() {
    assert_eq!(alcove_crypto::SNAPSHOT_VERSION, 2);
    let dev = device("user", "dev");
    let mut snap = dev.snapshot().unwrap().to_vec();
    assert_eq!(snap[4], 2);
    Device::restore(&snap).unwrap();
    for v in [0u8, 1, 3, 0xff] {
        snap[4] = v;
        let err = Device::restore(&snap).unwrap_err();
        assert_eq!(err, Error::UnsupportedVersion(u32::from(v)));
        assert_eq!(err.code(), "unsupported_version");
    }
}

/// Forgetting a group deletes every storage entry keyed by its id.
#[test]
fn forget_group_deletes_its_entries() {
    let server = server_key();
    let mut devs = four_device_group(&server);
    let proposal = server.propose_remove(GROUP, 1, 3).unwrap();
    devs[1].process(&proposal).unwrap();
    let ct = devs[0].encrypt(GROUP, b"x").unwrap();
    devs[1].process(&ct).unwrap();
    let mentions_group = |snap: &[u8]| {
        storage_entries(snap)
            .iter()
            .filter(|(k, _)| k.windows(GROUP.len()).any(|w| w == GROUP))
            .count()
    };
    assert!(mentions_group(&devs[1].snapshot().unwrap()) >= 10);
    devs[1].forget_group(GROUP).unwrap();
    assert_eq!(mentions_group(&devs[1].snapshot().unwrap()), 0);
}

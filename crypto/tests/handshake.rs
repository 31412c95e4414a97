//! External Remove, duplicates, out-of-order delivery, concurrent commits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_range_loop,
    clippy::cloned_ref_to_slice_refs
)]
mod common;

use alcove_crypto::server::{inspect_message, ContentKind, SenderInfo};
use alcove_crypto::{Error, Processed};
use common::*;

#[test]
fn server_external_remove_committed_by_non_creator() {
    let server = server_key();
    let mut devs = four_device_group(&server);
    let (c, p) = devs.split_at_mut(2);
    let (c1, c2) = c.split_at_mut(1);
    let (p1, p2) = p.split_at_mut(1);
    let (c1, c2, p1, p2) = (&mut c1[0], &mut c2[0], &mut p1[0], &mut p2[0]);

    // The server revokes p2: it knows p2's leaf index and the current epoch.
    let leaf = p2.own_leaf_index(GROUP).unwrap();
    let epoch = c1.epoch(GROUP).unwrap();
    let proposal = server.propose_remove(GROUP, epoch, leaf).unwrap();
    let info = inspect_message(&proposal).unwrap();
    assert_eq!(info.content, ContentKind::Proposal);
    assert_eq!(info.sender, SenderInfo::External(0));
    assert_eq!(info.epoch, Some(epoch));
    assert_eq!(info.group_id.as_deref(), Some(GROUP));

    let p2_id = p2.identity().clone();
    for d in [&mut *c1, &mut *c2, &mut *p1, &mut *p2] {
        match d.process(&proposal).unwrap() {
            Processed::ProposalStored {
                from_server,
                removes,
                removes_self,
                ..
            } => {
                assert!(from_server);
                assert_eq!(removes[0].identity, p2_id);
                assert_eq!(removes_self, d.identity().device_id == "p-dev-2");
            }
            other => panic!("{other:?}"),
        }
    }
    // The removed device cannot commit its own removal.
    assert!(p2.commit_pending_proposals(GROUP).unwrap().is_none());
    // p1 (a client device, not the group creator) comes online first and commits.
    let out = p1.commit_pending_proposals(GROUP).unwrap().unwrap();
    assert_eq!(out.epoch, epoch);
    let info = inspect_message(&out.commit).unwrap();
    assert_eq!(info.content, ContentKind::Commit);
    assert_eq!(
        info.sender,
        SenderInfo::Member(p1.own_leaf_index(GROUP).unwrap())
    );
    // The server accepts it and fans it out, including back to p1.
    assert!(matches!(
        p1.process(&out.commit).unwrap(),
        Processed::OwnCommitMerged { .. }
    ));
    for d in [&mut *c1, &mut *c2] {
        match d.process(&out.commit).unwrap() {
            Processed::CommitMerged {
                removed,
                self_removed,
                ..
            } => {
                assert!(!self_removed);
                assert_eq!(removed[0].leaf_index, leaf);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        p2.process(&out.commit).unwrap(),
        Processed::CommitMerged {
            self_removed: true,
            ..
        }
    ));
    assert!(!p2.is_active(GROUP).unwrap());
    let ct = c2.encrypt(GROUP, &text("post revocation", 1)).unwrap();
    assert_eq!(p2.process(&ct).unwrap_err(), Error::NotMember);
    for d in [&mut *c1, &mut *p1] {
        d.process(&ct).unwrap();
        assert_eq!(d.members(GROUP).unwrap().len(), 3);
        assert!(!d.has_pending_proposals(GROUP).unwrap());
    }
}

#[test]
fn duplicate_and_out_of_order_handshake() {
    let server = server_key();
    let mut devs = four_device_group(&server);
    let mut new_dev = device("client-1", "p-dev-3");
    let kp = key_package(&mut new_dev);
    // c1: epoch 1 -> 2 (self update), then 2 -> 3 (add).
    let a = devs[0].self_update(GROUP).unwrap();
    devs[0].merge_pending_commit(GROUP).unwrap();
    let b = devs[0].add_devices(GROUP, &[kp]).unwrap();
    devs[0].merge_pending_commit(GROUP).unwrap();
    assert_eq!((a.epoch, b.epoch), (1, 2));
    let p1 = &mut devs[2];
    // B before A: the device is behind; typed error, state unchanged.
    let err = p1.process(&b.commit).unwrap_err();
    assert_eq!(
        err,
        Error::WrongEpoch {
            message_epoch: 2,
            group_epoch: 1
        }
    );
    assert_eq!(p1.epoch(GROUP).unwrap(), 1);
    // Then in order.
    assert!(matches!(
        p1.process(&a.commit).unwrap(),
        Processed::CommitMerged { epoch: 2, .. }
    ));
    match p1.process(&b.commit).unwrap() {
        Processed::CommitMerged {
            epoch: 3, added, ..
        } => {
            assert_eq!(added.len(), 1);
            assert_eq!(added[0].identity.device_id, "p-dev-3");
        }
        other => panic!("{other:?}"),
    }
    // Duplicates are stale no-ops.
    for dup in [&a.commit, &b.commit] {
        assert!(matches!(
            p1.process(dup).unwrap(),
            Processed::Stale { group_epoch: 3, .. }
        ));
    }
    // Own commit echoed after explicit merge: stale too.
    assert!(matches!(
        devs[0].process(&b.commit).unwrap(),
        Processed::Stale { .. }
    ));
    // The new device joins and talks to p1.
    new_dev
        .join_from_welcome(b.welcome.as_ref().unwrap())
        .unwrap();
    let ct = new_dev.encrypt(GROUP, &text("hi", 3)).unwrap();
    let expected = devs[0].process(&ct).unwrap();
    assert_eq!(
        plaintext_of(&devs[2].process(&ct).unwrap()),
        plaintext_of(&expected)
    );
    // A duplicated application message fails to decrypt (ratchet consumed)
    // but does not corrupt state.
    assert_eq!(devs[2].process(&ct).unwrap_err().code(), "decrypt_failed");
    let ct2 = new_dev.encrypt(GROUP, b"again").unwrap();
    assert_eq!(plaintext_of(&devs[2].process(&ct2).unwrap()), b"again");
}

#[test]
fn concurrent_commits_first_wins_loser_retries() {
    let server = server_key();
    let mut devs = four_device_group(&server);
    // c1 and p1 both commit in epoch 1.
    let win = devs[0].self_update(GROUP).unwrap();
    let lose = devs[2].self_update(GROUP).unwrap();
    assert_eq!(win.epoch, lose.epoch);
    // Server accepts `win` (first), answers 409 to p1; p1 discards its commit
    // and processes the winner (processing the winner also clears it).
    devs[2].discard_pending_commit(GROUP).unwrap();
    assert!(matches!(
        devs[0].process(&win.commit).unwrap(),
        Processed::OwnCommitMerged { epoch: 2, .. }
    ));
    for i in 1..4 {
        assert!(matches!(
            devs[i].process(&win.commit).unwrap(),
            Processed::CommitMerged { epoch: 2, .. }
        ));
    }
    // The losing commit, if ever delivered, is stale.
    assert!(matches!(
        devs[1].process(&lose.commit).unwrap(),
        Processed::Stale { .. }
    ));
    // p1 retries at epoch 2.
    let retry = devs[2].self_update(GROUP).unwrap();
    assert_eq!(retry.epoch, 2);
    devs[2].merge_pending_commit(GROUP).unwrap();
    for i in [0, 1, 3] {
        devs[i].process(&retry.commit).unwrap();
    }
    // Without an explicit discard, a foreign commit for the same epoch
    // replaces the local pending commit.
    let w2 = devs[1].self_update(GROUP).unwrap();
    let _l2 = devs[3].self_update(GROUP).unwrap();
    devs[1].merge_pending_commit(GROUP).unwrap();
    assert!(matches!(
        devs[3].process(&w2.commit).unwrap(),
        Processed::CommitMerged { .. }
    ));
    assert!(!devs[3].has_pending_commit(GROUP).unwrap());
    devs[0].process(&w2.commit).unwrap();
    devs[2].process(&w2.commit).unwrap();
    let ct = devs[3].encrypt(GROUP, b"in sync").unwrap();
    for i in 0..3 {
        assert_eq!(plaintext_of(&devs[i].process(&ct).unwrap()), b"in sync");
    }
}

#[test]
fn last_resort_key_package_serves_two_welcomes() {
    let server = server_key();
    let mut a = device("clinician-1", "c-dev-1");
    let mut b = device("clinician-1", "c-dev-9");
    let mut z = device("client-9", "z-dev-1");
    let kp = z.last_resort_key_package(now()).unwrap();
    let v = alcove_crypto::server::validate_key_package(&kp, z.identity(), now()).unwrap();
    assert!(v.last_resort);
    let g2: &[u8] = b"second-group";
    a.create_group(GROUP, &server.public_bytes().unwrap())
        .unwrap();
    b.create_group(g2, &server.public_bytes().unwrap()).unwrap();
    let w1 = a.add_devices(GROUP, &[kp.clone()]).unwrap();
    let w2 = b.add_devices(g2, &[kp]).unwrap();
    assert_eq!(w1.welcome_key_package_refs, vec![v.key_package_ref.clone()]);
    z.join_from_welcome(w1.welcome.as_ref().unwrap()).unwrap();
    z.join_from_welcome(w2.welcome.as_ref().unwrap()).unwrap();
    assert_eq!(z.group_ids().len(), 2);
}

#[test]
fn welcome_not_for_me_is_not_member() {
    let server = server_key();
    let mut a = device("clinician-1", "c-dev-1");
    let mut b = device("client-1", "p-dev-1");
    let mut stranger = device("client-2", "x-dev-1");
    a.create_group(GROUP, &server.public_bytes().unwrap())
        .unwrap();
    let out = a.add_devices(GROUP, &[key_package(&mut b)]).unwrap();
    let err = stranger
        .join_from_welcome(out.welcome.as_ref().unwrap())
        .unwrap_err();
    assert_eq!(err.code(), "not_member");
}

//! The server's public view of a conversation follows every commit, reports
//! what each commit really did, and lets a new device join by external
//! commit against a GroupInfo it checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use alcove_crypto::public_group::{Committer, ConversationState};
use alcove_crypto::{Error, Processed};
use common::*;

#[test]
fn the_server_follows_adds_removes_and_an_external_join() {
    let server = server_key();
    let mut c1 = device("clinician-1", "c-dev-1");
    let mut p1 = device("client-1", "p-dev-1");
    let mut p2 = device("client-1", "p-dev-2");
    c1.create_group(GROUP, &server.public_bytes().unwrap())
        .unwrap();

    // Epoch 0: the creator's GroupInfo starts the server's state.
    let state = ConversationState::from_group_info(&c1.group_info(GROUP).unwrap(), GROUP).unwrap();
    assert_eq!(state.epoch(), 0);
    assert_eq!(
        state.external_senders().unwrap(),
        vec![server.public_bytes().unwrap()]
    );
    let members = state.members().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(&members[0].identity, c1.identity());
    // Another group's GroupInfo is refused.
    assert!(ConversationState::from_group_info(&c1.group_info(GROUP).unwrap(), b"other").is_err());

    // The clinician adds the client's phone.
    let kp = key_package(&mut p1);
    let out = c1.add_devices(GROUP, &[kp]).unwrap();
    let bytes = state.to_bytes().unwrap();
    let state = ConversationState::restore(&bytes).unwrap();
    let (state, facts) = state.apply_commit(&out.commit, &[]).unwrap();
    assert_eq!(facts.epoch, 0);
    assert!(matches!(&facts.committer, Committer::Member(m) if &m.identity == c1.identity()));
    assert_eq!(facts.added.len(), 1);
    assert_eq!(&facts.added[0].identity, p1.identity());
    assert_eq!(
        facts.added[0].key_package_ref,
        out.welcome_key_package_refs[0]
    );
    assert!(facts.removed.is_empty() && facts.other_proposals.is_empty());
    assert_eq!(facts.members_after.len(), 2);
    assert_eq!(state.epoch(), 1);
    // The commit's GroupInfo is exactly the new state; the old one is not.
    let gi1 = out.group_info.clone().unwrap();
    state.check_group_info(&gi1).unwrap();
    let restored = ConversationState::restore(&state.to_bytes().unwrap()).unwrap();
    assert!(restored
        .check_group_info(&c1.group_info(GROUP).unwrap())
        .is_err());
    c1.merge_pending_commit(GROUP).unwrap();
    p1.join_from_welcome(out.welcome.as_ref().unwrap()).unwrap();
    // After the merge the creator's own export matches too.
    restored
        .check_group_info(&c1.group_info(GROUP).unwrap())
        .unwrap();

    // A stale commit (epoch 0) is refused by the state at epoch 1.
    assert!(matches!(
        restored.apply_commit(&out.commit, &[]),
        Err(Error::WrongEpoch { .. })
    ));
    let state = ConversationState::restore(&state.to_bytes().unwrap()).unwrap();

    // The client's laptop joins by itself, against the GroupInfo the
    // server holds, while nobody else is online.
    let ext = p2.join_by_external_commit(&gi1).unwrap();
    let (state, facts) = state.apply_commit(&ext.commit, &[]).unwrap();
    match &facts.committer {
        Committer::External(m) => assert_eq!(&m.identity, p2.identity()),
        other => panic!("{other:?}"),
    }
    assert!(facts.added.is_empty() && facts.removed.is_empty());
    assert_eq!(facts.members_after.len(), 3);
    state
        .check_group_info(ext.group_info.as_ref().unwrap())
        .unwrap();
    // (openmls merged the external commit already.)
    // It writes first; the others catch up with the commit and decrypt.
    let hello = p2.encrypt(GROUP, &text("new laptop", 1)).unwrap();
    for d in [&mut c1, &mut p1] {
        match d.process(&ext.commit).unwrap() {
            Processed::CommitMerged { added, .. } => assert_eq!(&added[0].identity, p2.identity()),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            plaintext_of(&d.process(&hello).unwrap()),
            text("new laptop", 1)
        );
    }

    // The server removes the phone; the clinician commits the proposal by
    // reference, and the server sees it was the server's.
    let leaf = p1.own_leaf_index(GROUP).unwrap();
    let proposal = server.propose_remove(GROUP, state.epoch(), leaf).unwrap();
    c1.process(&proposal).unwrap();
    p2.process(&proposal).unwrap();
    let out = c1.commit_pending_proposals(GROUP).unwrap().unwrap();
    // Without the proposal in hand, the server cannot resolve the reference.
    let copy = ConversationState::restore(&state.to_bytes().unwrap()).unwrap();
    assert!(copy.apply_commit(&out.commit, &[]).is_err());
    let (state, facts) = state.apply_commit(&out.commit, &[proposal]).unwrap();
    assert_eq!(facts.removed.len(), 1);
    assert_eq!(facts.removed[0].leaf_index, leaf);
    assert!(facts.removed[0].by_server);
    assert_eq!(facts.members_after.len(), 2);
    state
        .check_group_info(out.group_info.as_ref().unwrap())
        .unwrap();

    // A member's own inline Remove (signing out another device of its own
    // user) is reported as not the server's.
    c1.merge_pending_commit(GROUP).unwrap();
    p2.process(&out.commit).unwrap();
    let p2_leaf = p2.own_leaf_index(GROUP).unwrap();
    let out = c1.remove_devices(GROUP, &[p2_leaf]).unwrap();
    let (_, facts) = state.apply_commit(&out.commit, &[]).unwrap();
    assert_eq!(facts.removed.len(), 1);
    assert!(!facts.removed[0].by_server);
    assert_eq!(&facts.removed[0].identity, p2.identity());
}

#[test]
fn state_bytes_are_compact_and_garbage_is_refused() {
    let server = server_key();
    let mut c1 = device("clinician-1", "c-dev-1");
    c1.create_group(GROUP, &server.public_bytes().unwrap())
        .unwrap();
    let mut kps = Vec::new();
    let mut others = Vec::new();
    for i in 0..9 {
        let mut d = device("client-1", &format!("p-dev-{i}"));
        kps.push(key_package(&mut d));
        others.push(d);
    }
    let state = ConversationState::from_group_info(&c1.group_info(GROUP).unwrap(), GROUP).unwrap();
    let out = c1.add_devices(GROUP, &kps).unwrap();
    let (state, _) = state.apply_commit(&out.commit, &[]).unwrap();
    let bytes = state.to_bytes().unwrap();
    // Ten leaves: a few KB, not a history.
    assert!(bytes.len() < 16 * 1024, "{} bytes", bytes.len());
    for cut in [0, 3, 5, bytes.len() / 2, bytes.len() - 1] {
        assert!(ConversationState::restore(&bytes[..cut]).is_err());
    }
    assert!(ConversationState::from_group_info(b"not a group info", GROUP).is_err());
    assert!(state.check_group_info(&out.commit).is_err());
}

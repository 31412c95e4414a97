#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use alcove_crypto::{Error, Processed};
use common::*;

#[test]
fn everyone_decrypts_everyone() {
    let server = server_key();
    let mut devs = four_device_group(&server);
    for d in &devs {
        assert_eq!(d.members(GROUP).unwrap().len(), 4);
        assert_eq!(d.epoch(GROUP).unwrap(), 1);
    }
    for s in 0..devs.len() {
        let body = format!("hello from {s}");
        let expected = text(&body, s as u8);
        let ct = devs[s].encrypt(GROUP, &expected).unwrap();
        let sender_id = devs[s].identity().clone();
        for (i, d) in devs.iter_mut().enumerate() {
            if i == s {
                continue;
            }
            let p = d.process(&ct).unwrap();
            let Processed::Application {
                sender, plaintext, ..
            } = p
            else {
                panic!()
            };
            assert_eq!(sender.identity, sender_id);
            assert_eq!(plaintext, expected);
        }
    }
}

#[test]
fn removed_device_cannot_decrypt_later_messages() {
    let server = server_key();
    let mut devs = four_device_group(&server);
    let mut p2 = devs.pop().unwrap();
    let p2_leaf = p2.own_leaf_index(GROUP).unwrap();
    let out = devs[0].remove_devices(GROUP, &[p2_leaf]).unwrap();
    devs[0].merge_pending_commit(GROUP).unwrap();
    // A copy of p2's state that never sees the commit (e.g. a stolen device
    // cut off by the server).
    let mut p2_offline = alcove_crypto::Device::restore(&p2.snapshot().unwrap()).unwrap();
    for d in devs.iter_mut().skip(1) {
        match d.process(&out.commit).unwrap() {
            Processed::CommitMerged {
                removed,
                self_removed,
                ..
            } => {
                assert!(!self_removed);
                assert_eq!(removed.len(), 1);
                assert_eq!(removed[0].leaf_index, p2_leaf);
            }
            other => panic!("{other:?}"),
        }
    }
    match p2.process(&out.commit).unwrap() {
        Processed::CommitMerged { self_removed, .. } => assert!(self_removed),
        other => panic!("{other:?}"),
    }
    let ct = devs[0].encrypt(GROUP, &text("after removal", 9)).unwrap();
    for d in devs.iter_mut().skip(1) {
        d.process(&ct).unwrap();
    }
    let err = p2.process(&ct).unwrap_err();
    assert_eq!(err, Error::NotMember);
    assert_eq!(err.code(), "not_member");
    assert_eq!(p2.encrypt(GROUP, b"x").unwrap_err(), Error::NotMember);
    let err = p2_offline.process(&ct).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongEpoch {
                message_epoch: 2,
                group_epoch: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "wrong_epoch");
    for d in &devs {
        assert_eq!(d.members(GROUP).unwrap().len(), 3);
    }
}

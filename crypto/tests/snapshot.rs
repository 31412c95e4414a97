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

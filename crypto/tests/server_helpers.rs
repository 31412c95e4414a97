//! Server-side helpers: KeyPackage validation, framing inspection, keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_range_loop,
    clippy::cloned_ref_to_slice_refs
)]
mod common;

use alcove_crypto::server::{
    inspect_message, validate_key_package, welcome_key_package_refs, ContentKind,
    ExternalSenderKey, SenderInfo, WireFormatKind,
};
use alcove_crypto::{Error, Processed};
use common::*;

#[test]
fn key_package_validation() {
    let mut d = device("user-a", "dev-a");
    let kps = d.key_packages(3, now()).unwrap();
    let mut refs = Vec::new();
    for kp in &kps {
        let v = validate_key_package(kp, d.identity(), now()).unwrap();
        assert_eq!(v.key_package_ref.len(), 32);
        assert_eq!(v.signature_key, d.signature_public_key());
        assert!(!v.last_resort);
        assert!(v.not_before <= now() && now() < v.not_after);
        refs.push(v.key_package_ref);
    }
    refs.dedup();
    assert_eq!(refs.len(), 3);
    // Uploaded by the wrong device.
    let other = identity("user-a", "dev-b");
    assert_eq!(
        validate_key_package(&kps[0], &other, now()).unwrap_err(),
        Error::IdentityMismatch
    );
    // Outside the lifetime at the server's time.
    let far = now() + 365 * 24 * 3600;
    assert_eq!(
        validate_key_package(&kps[0], d.identity(), far).unwrap_err(),
        Error::KeyPackageLifetime
    );
    assert_eq!(
        validate_key_package(&kps[0], d.identity(), 1000).unwrap_err(),
        Error::KeyPackageLifetime
    );
    // Tampered bytes: flip each byte of the package; must never validate as
    // the same identity with a different content and must never panic.
    let kp = &kps[0];
    for i in 0..kp.len() {
        let mut bad = kp.clone();
        bad[i] ^= 0x01;
        if let Ok(v) = validate_key_package(&bad, d.identity(), now()) {
            panic!("tampered byte {i} accepted: {v:?}");
        }
    }
    // Not a key package.
    assert_eq!(
        validate_key_package(b"junk", d.identity(), now())
            .unwrap_err()
            .code(),
        "invalid_key_package"
    );
}

#[test]
fn inspect_all_message_kinds() {
    let server = server_key();
    let mut c1 = device("clin", "c1");
    let mut p1 = device("client", "p1");
    let kp = key_package(&mut p1);
    assert_eq!(
        inspect_message(&kp).unwrap().content,
        ContentKind::KeyPackage
    );
    c1.create_group(GROUP, &server.public_bytes().unwrap())
        .unwrap();
    let out = c1.add_devices(GROUP, &[kp.clone()]).unwrap();
    c1.merge_pending_commit(GROUP).unwrap();

    let commit = inspect_message(&out.commit).unwrap();
    assert_eq!(commit.wire_format, WireFormatKind::PublicMessage);
    assert_eq!(commit.content, ContentKind::Commit);
    assert_eq!(commit.group_id.as_deref(), Some(GROUP));
    assert_eq!(commit.epoch, Some(0));
    assert_eq!(commit.sender, SenderInfo::Member(0));

    let welcome = out.welcome.unwrap();
    let w = inspect_message(&welcome).unwrap();
    assert_eq!(w.content, ContentKind::Welcome);
    let kp_ref = validate_key_package(&kp, p1.identity(), now())
        .unwrap()
        .key_package_ref;
    assert_eq!(w.welcome_key_package_refs, vec![kp_ref.clone()]);
    assert_eq!(welcome_key_package_refs(&welcome).unwrap(), vec![kp_ref]);
    assert!(welcome_key_package_refs(&out.commit).is_err());

    p1.join_from_welcome(&welcome).unwrap();
    let app = c1.encrypt(GROUP, b"secret words").unwrap();
    let a = inspect_message(&app).unwrap();
    assert_eq!(a.wire_format, WireFormatKind::PrivateMessage);
    assert_eq!(a.content, ContentKind::Application);
    assert_eq!(a.epoch, Some(1));
    assert_eq!(a.sender, SenderInfo::Hidden);
    assert!(!app.windows(b"secret".len()).any(|w| w == b"secret"));
    assert!(matches!(
        p1.process(&app).unwrap(),
        Processed::Application { .. }
    ));

    assert!(inspect_message(b"").is_err());
    assert!(inspect_message(&[0u8; 64]).is_err());
}

#[test]
fn external_sender_key_roundtrip_and_foreign_key_rejected() {
    let server = server_key();
    let bytes = server.to_secret_bytes().unwrap();
    let restored = ExternalSenderKey::from_secret_bytes(&bytes).unwrap();
    assert_eq!(restored.public_key(), server.public_key());
    assert_eq!(
        restored.public_bytes().unwrap(),
        server.public_bytes().unwrap()
    );
    assert!(ExternalSenderKey::from_secret_bytes(&bytes[..bytes.len() - 1]).is_err());

    let mut devs = four_device_group(&server);
    let leaf = devs[3].own_leaf_index(GROUP).unwrap();
    // A proposal signed by some other key is rejected.
    let imposter = server_key();
    let bad = imposter.propose_remove(GROUP, 1, leaf).unwrap();
    assert_eq!(devs[0].process(&bad).unwrap_err().code(), "invalid_message");
    // A restored key works.
    let good = restored.propose_remove(GROUP, 1, leaf).unwrap();
    assert!(matches!(
        devs[0].process(&good).unwrap(),
        Processed::ProposalStored {
            from_server: true,
            ..
        }
    ));
    // A proposal for a past epoch is stale, for a future epoch wrong_epoch.
    let future = restored.propose_remove(GROUP, 5, leaf).unwrap();
    assert_eq!(devs[1].process(&future).unwrap_err().code(), "wrong_epoch");
    let past = restored.propose_remove(GROUP, 0, leaf).unwrap();
    assert!(matches!(
        devs[1].process(&past).unwrap(),
        Processed::Stale { .. }
    ));
}

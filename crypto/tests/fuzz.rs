//! Property tests: decoding arbitrary bytes never panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use alcove_crypto::seal::unseal;
use alcove_crypto::server::{
    inspect_message, validate_key_package, welcome_key_package_refs, ExternalSenderKey,
};
use alcove_crypto::{Device, DeviceIdentity, DeviceSecret, Envelope, UnlockShare};
use proptest::prelude::*;

fn cfg() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cfg())]

    #[test]
    fn envelope_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::decode(&bytes);
    }

    #[test]
    fn envelope_decode_with_valid_header_never_panics(ty in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut b = vec![1u8, ty];
        b.extend_from_slice(&[0u8; 24]);
        b.extend_from_slice(&(body.len() as u32).to_be_bytes());
        b.extend_from_slice(&body);
        if let Ok(e) = Envelope::decode(&b) {
            // Whatever decodes re-encodes to the same bytes (canonical).
            prop_assert_eq!(e.encode().unwrap(), b);
        }
    }

    #[test]
    fn identity_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = DeviceIdentity::from_bytes(&bytes);
    }

    #[test]
    fn snapshot_restore_and_unseal_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Device::restore(&bytes);
        let mut with_magic = b"ALCD".to_vec();
        with_magic.push(alcove_crypto::SNAPSHOT_VERSION);
        with_magic.extend_from_slice(&bytes);
        let _ = Device::restore(&with_magic);
        let ds = DeviceSecret::from_bytes([1; 32]);
        let us = UnlockShare::from_bytes([2; 32]);
        let _ = unseal(&bytes, "d", &ds, &us);
        let mut sealed = b"ALCS\x01".to_vec();
        sealed.extend_from_slice(&bytes);
        let _ = Device::unseal(&sealed, "d", &ds, &us);
        let _ = ExternalSenderKey::from_secret_bytes(&bytes);
    }

    #[test]
    fn server_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = inspect_message(&bytes);
        let _ = welcome_key_package_refs(&bytes);
        let id = DeviceIdentity::new("p", "u", "d").unwrap();
        let _ = validate_key_package(&bytes, &id, 1_700_000_000);
    }

    #[test]
    fn mls_prefixed_parsing_never_panics(wf in 1u16..=5, bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        // Valid MLSMessage header (version mls10, wire format) + noise.
        let mut b = vec![0x00, 0x01];
        b.extend_from_slice(&wf.to_be_bytes());
        b.extend_from_slice(&bytes);
        let _ = inspect_message(&b);
        let id = DeviceIdentity::new("p", "u", "d").unwrap();
        let _ = validate_key_package(&b, &id, 1_700_000_000);
    }
}

/// Mutations of a real snapshot (a member of a group with a pending
/// proposal and past-epoch secrets) never panic a restore, nor decrypting or
/// encrypting with the restored device if one comes out of it. The storage
/// values are postcard now, which decodes far more byte strings than JSON
/// did. (Committing with a tampered tree can trip a `debug_assert!` inside
/// openmls, which trusts its storage: sealed state is authenticated, so only
/// the key holder could feed such a state.)
#[test]
fn mutated_snapshots_never_panic() {
    let server = common::server_key();
    let mut devs = common::four_device_group(&server);
    let upd = devs[0].self_update(common::GROUP).unwrap();
    devs[0].merge_pending_commit(common::GROUP).unwrap();
    devs[2].process(&upd.commit).unwrap();
    let prop = server.propose_remove(common::GROUP, 2, 3).unwrap();
    devs[2].process(&prop).unwrap();
    let ct = devs[0].encrypt(common::GROUP, b"hello").unwrap();
    let snap = devs[2].snapshot().unwrap();
    let mut rng = 0x9E3779B97F4A7C15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut restored = 0;
    for _ in 0..400 {
        let mut m = snap.to_vec();
        let n = 1 + (next() % 4) as usize;
        for _ in 0..n {
            // Leave the header alone so the storage entries get parsed.
            let i = 5 + (next() as usize) % (m.len() - 5);
            m[i] ^= (next() as u8) | 1;
        }
        if let Ok(mut d) = Device::restore(&m) {
            restored += 1;
            let _ = d.process(&ct);
            let _ = d.encrypt(common::GROUP, b"x");
            let _ = d.snapshot();
        }
    }
    // Most single-byte changes land in secrets or public keys, which do
    // decode: the loop above really exercised restored devices.
    assert!(restored > 0);
}

/// Mutations of real messages (one group, many mutated inputs) never panic
/// a device or the server helpers.
#[test]
fn mutated_real_messages_never_panic() {
    let server = common::server_key();
    let mut devs = common::four_device_group(&server);
    let app = devs[0].encrypt(common::GROUP, b"hello").unwrap();
    let upd = devs[1].self_update(common::GROUP).unwrap();
    devs[1].discard_pending_commit(common::GROUP).unwrap();
    let prop = server.propose_remove(common::GROUP, 1, 3).unwrap();
    let mut d = common::device("x", "y");
    let kp = d.key_packages(1, common::now()).unwrap().remove(0);
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for base in [&app, &upd.commit, &prop, &kp] {
        for _ in 0..150 {
            let mut m = base.clone();
            let n = 1 + (next() % 3) as usize;
            for _ in 0..n {
                let i = (next() as usize) % m.len();
                m[i] ^= (next() as u8) | 1;
            }
            if next() % 5 == 0 {
                let cut = (next() as usize) % m.len();
                m.truncate(cut);
            }
            let _ = inspect_message(&m);
            let _ = validate_key_package(&m, d.identity(), common::now());
            let _ = devs[2].process(&m);
        }
    }
    // The device still works after all that.
    let ct = devs[0].encrypt(common::GROUP, b"still fine").unwrap();
    assert_eq!(
        common::plaintext_of(&devs[2].process(&ct).unwrap()),
        b"still fine"
    );
}

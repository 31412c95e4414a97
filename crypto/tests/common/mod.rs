//! Shared test helpers: a tiny in-memory stand-in for the server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use alcove_crypto::server::{self, ExternalSenderKey};
use alcove_crypto::{Device, DeviceIdentity, Processed};

/// Current time in seconds. openmls checks KeyPackage lifetimes against the
/// system clock internally as well, so tests use the real clock.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
pub const PRACTICE: &str = "6f1c2a4e-8b1d-4c55-9a57-2f0d3c9b7e11";

pub fn identity(user: &str, device: &str) -> DeviceIdentity {
    DeviceIdentity::new(PRACTICE, user, device).unwrap()
}

pub fn device(user: &str, device: &str) -> Device {
    Device::new(identity(user, device)).unwrap()
}

/// Upload one KeyPackage through the server's validation, return it.
pub fn key_package(d: &mut Device) -> Vec<u8> {
    let kp = d.key_packages(1, now()).unwrap().remove(0);
    let v = server::validate_key_package(&kp, d.identity(), now()).unwrap();
    assert_eq!(&v.identity, d.identity());
    kp
}

pub fn server_key() -> ExternalSenderKey {
    ExternalSenderKey::generate(server::DEFAULT_SERVER_IDENTITY).unwrap()
}

/// Deliver a message to every device in `to`, expecting success.
pub fn deliver(msg: &[u8], to: &mut [&mut Device]) -> Vec<Processed> {
    to.iter_mut().map(|d| d.process(msg).unwrap()).collect()
}

pub fn text(s: &str, id: u8) -> Vec<u8> {
    alcove_crypto::Envelope {
        client_message_id: [id; 16],
        sent_at_ms: now() * 1000,
        content: alcove_crypto::Content::Text(s.to_string()),
    }
    .encode()
    .unwrap()
}

pub fn plaintext_of(p: &Processed) -> &[u8] {
    match p {
        Processed::Application { plaintext, .. } => plaintext,
        other => panic!("expected application message, got {other:?}"),
    }
}

pub const GROUP: &[u8] = b"conv-5b0e3c1a-0d7e-4f7b-8d44-3a1e9c2f6b90";

/// Clinician (2 devices) + client (2 devices), all in one group created by
/// the clinician's first device. Returns [c1, c2, p1, p2].
pub fn four_device_group(server: &ExternalSenderKey) -> Vec<Device> {
    let mut c1 = device("clinician-1", "c-dev-1");
    let mut c2 = device("clinician-1", "c-dev-2");
    let mut p1 = device("client-1", "p-dev-1");
    let mut p2 = device("client-1", "p-dev-2");
    c1.create_group(GROUP, &server.public_bytes().unwrap())
        .unwrap();
    let kps = vec![
        key_package(&mut c2),
        key_package(&mut p1),
        key_package(&mut p2),
    ];
    let out = c1.add_devices(GROUP, &kps).unwrap();
    assert_eq!(out.welcome_key_package_refs.len(), 3);
    c1.merge_pending_commit(GROUP).unwrap();
    let welcome = out.welcome.unwrap();
    for d in [&mut c2, &mut p1, &mut p2] {
        let j = d.join_from_welcome(&welcome).unwrap();
        assert_eq!(j.group_id, GROUP);
        assert_eq!(j.epoch, 1);
    }
    vec![c1, c2, p1, p2]
}

//! `Debug` of every secret-holding type prints no key bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use alcove_crypto::server::ExternalSenderKey;
use alcove_crypto::{hex_encode, DeviceSecret, UnlockShare};
use common::*;

fn forms(secret: &[u8]) -> Vec<String> {
    let dec: Vec<String> = secret.iter().map(|b| b.to_string()).collect();
    vec![
        hex_encode(secret),
        hex_encode(&secret[..8]),
        format!("{:?}", secret),
        format!("{:?}", &secret[..8]),
        dec[..8].join(", "),
        dec[..8].join(","),
    ]
}

fn assert_redacted(debug: &str, secret: &[u8]) {
    for f in forms(secret) {
        assert!(
            !debug.contains(&f),
            "Debug output leaks secret ({f}): {debug}"
        );
    }
}

#[test]
fn secrets_are_redacted_in_debug() {
    let ds = DeviceSecret::from_bytes([0x41; 32]);
    let us = UnlockShare::from_bytes(core::array::from_fn(|i| i as u8 + 100));
    let d = format!("{ds:?} {ds:#?}");
    assert_redacted(&d, ds.expose());
    let u = format!("{us:?} {us:#?}");
    assert_redacted(&u, us.expose());

    // Server key: its private key sits in the secret serialization after
    // "ALSK" 01 | u16 id | u32 len | TLS VLBytes(len=0x20) private.
    let server = ExternalSenderKey::generate(b"alcove-server-v1").unwrap();
    let sb = server.to_secret_bytes().unwrap();
    let id_len = u16::from_be_bytes([sb[5], sb[6]]) as usize;
    let off = 7 + id_len + 4;
    assert_eq!(sb[off], 0x20);
    let private = &sb[off + 1..off + 33];
    let s = format!("{server:?} {server:#?}");
    assert_redacted(&s, private);

    // Device: its private key is in the snapshot at the same layout.
    let dev = device("user", "dev");
    let snap = dev.snapshot().unwrap();
    let id_len = u16::from_be_bytes([snap[5], snap[6]]) as usize;
    let off = 7 + id_len + 4;
    assert_eq!(snap[off], 0x20);
    let private = &snap[off + 1..off + 33];
    let s = format!("{dev:?} {dev:#?}");
    assert_redacted(&s, private);
    assert!(s.contains("Device"));
}

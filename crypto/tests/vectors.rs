//! Checks the checked-in vectors in `tests/vectors/*.json`.
//! Regenerate with `cargo run -p alcove-crypto --example gen-vectors`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alcove_crypto::seal::{seal_with_nonce, unseal, DeviceSecret, UnlockShare};
use alcove_crypto::{hex_decode, Envelope, Error};
use serde_json::Value;

fn load(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hx(v: &Value) -> Vec<u8> {
    hex_decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn envelope_vectors() {
    let v = load("envelope.json");
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 10);
    for case in vectors {
        let name = case["name"].as_str().unwrap();
        let expected = Envelope::from_json(&case["envelope"].to_string()).unwrap();
        let encoded = hx(&case["encoded"]);
        assert_eq!(expected.encode().unwrap(), encoded, "encode {name}");
        let decoded = Envelope::decode(&encoded).unwrap();
        assert_eq!(decoded, expected, "decode {name}");
        let back: Value = serde_json::from_str(&decoded.to_json().unwrap()).unwrap();
        assert_eq!(back, case["envelope"], "json {name}");
    }
    for case in v["invalid"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let err = Envelope::decode(&hx(&case["encoded"])).unwrap_err();
        assert_eq!(
            err.code(),
            case["error"].as_str().unwrap(),
            "invalid {name}"
        );
    }
}

#[test]
fn sealing_vectors() {
    let v = load("sealing.json");
    let vectors = v["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 3);
    for case in vectors {
        let name = case["name"].as_str().unwrap();
        let dev = case["device_id"].as_str().unwrap();
        let ds = DeviceSecret::from_slice(&hx(&case["device_secret"])).unwrap();
        let us = UnlockShare::from_slice(&hx(&case["unlock_share"])).unwrap();
        let nonce: [u8; 12] = hx(&case["nonce"]).try_into().unwrap();
        let pt = hx(&case["plaintext"]);
        let sealed = hx(&case["sealed"]);
        assert_eq!(
            seal_with_nonce(&pt, dev, &ds, &us, nonce).unwrap(),
            sealed,
            "seal {name}"
        );
        assert_eq!(
            &*unseal(&sealed, dev, &ds, &us).unwrap(),
            &pt,
            "unseal {name}"
        );
        // wrong device id, wrong share, wrong secret
        assert_eq!(
            unseal(&sealed, "other", &ds, &us).unwrap_err(),
            Error::UnsealFailed
        );
        let us2 = UnlockShare::from_bytes([0x99; 32]);
        assert_eq!(
            unseal(&sealed, dev, &ds, &us2).unwrap_err(),
            Error::UnsealFailed
        );
        let ds2 = DeviceSecret::from_bytes([0x98; 32]);
        assert_eq!(
            unseal(&sealed, dev, &ds2, &us).unwrap_err(),
            Error::UnsealFailed
        );
        // every single-byte flip fails (header: malformed/version; body: unseal_failed)
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            let err = unseal(&bad, dev, &ds, &us).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::UnsealFailed | Error::Malformed(_) | Error::UnsupportedVersion(_)
                ),
                "{name} flip {i}: {err:?}"
            );
        }
    }
}

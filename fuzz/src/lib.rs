//! Shared state of the fuzz targets.
//!
//! The stateful targets (`commit`, `group_info`, `welcome`) run against a
//! real conversation: a group of two devices at epoch 1 that
//! `examples/write_seeds.rs` built once and saved in `fixtures/`, together
//! with the seed corpora made from the same group (so the seed commits and
//! GroupInfos really apply to it). Regenerate both together:
//! `fuzz/write-seeds.sh`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use alcove_crypto::DeviceIdentity;
use std::path::PathBuf;

/// Group id of the fixture conversation.
pub const GROUP_ID: &[u8] = b"alcove-fuzz-conversation-0001";
/// Practice of every fixture identity.
pub const PRACTICE: &str = "6f1c2a4e-8b1d-4c55-9a57-2f0d3c9b7e11";

/// The fixture identities: the clinician's device (creator, leaf 0), the
/// client's phone (leaf 1), the client's laptop (not a member; its
/// KeyPackages are the `key_package` seeds and a Welcome adds it).
pub fn identity(which: &str) -> DeviceIdentity {
    let (user, device) = match which {
        "clinician" => ("3a5b1f7e-0c2d-4e6f-8a9b-1c2d3e4f5a6b", "c-dev-1"),
        "phone" => ("9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a", "p-dev-1"),
        _ => ("9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a", "p-dev-2"),
    };
    DeviceIdentity::new(PRACTICE, user, device).expect("fixture identity")
}

/// `fuzz/fixtures/<name>`.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Reads a fixture file (panics with a hint when it is missing).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run fuzz/write-seeds.sh", path.display()))
}

/// Current time (openmls checks KeyPackage lifetimes against the system
/// clock too, so the targets use it rather than a fixed time).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Splits fuzz input into length-prefixed parts: a part is a u16 (big
/// endian) length and that many bytes; the last part is the rest.
/// `join` is its inverse (the seed writer uses it).
pub fn split(mut data: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(parts);
    for _ in 1..parts {
        if data.len() < 2 {
            out.push(&data[..0]);
            continue;
        }
        let n = usize::from(u16::from_be_bytes([data[0], data[1]])).min(data.len() - 2);
        out.push(&data[2..2 + n]);
        data = &data[2 + n..];
    }
    out.push(data);
    out
}

/// Inverse of [`split`].
pub fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 < parts.len() {
            out.extend_from_slice(&u16::try_from(p.len()).expect("part too long").to_be_bytes());
        }
        out.extend_from_slice(p);
    }
    out
}

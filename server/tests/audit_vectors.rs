//! The audit log's golden vectors (`docs/vectors/audit.json`, written by
//! `docs/vectors/audit.py` from the specification): the Rust encoding, leaf
//! hash, proofs and proof check must agree with them byte for byte. The
//! browser's in-page check is held to the same file in Chromium
//! (`tests/browser/tests/audit.test.mjs`), so the two cannot drift apart
//! while the browser's check stays independent of the server's code.

// Test code: a failed step is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alcove_server::audit::canonical::{hex, parse_hash, Entry, Hash};
use alcove_server::audit::merkle::{inclusion_proof, root, verify_inclusion};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../../docs/vectors/audit.json")).unwrap()
}

fn hash(v: &Value) -> Hash {
    parse_hash(v.as_str().unwrap()).unwrap()
}

#[test]
fn every_entry_encodes_and_hashes_to_its_golden_vector() {
    let v = vectors();
    let entries = v["entries"].as_array().unwrap();
    assert!(entries.len() >= 5);
    for case in entries {
        let name = case["name"].as_str().unwrap();
        let entry: Entry = serde_json::from_value(case["entry"].clone()).unwrap();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&entry.canonical_bytes()),
            case["canonical_hex"].as_str().unwrap(),
            "canonical bytes of: {name}"
        );
        assert_eq!(
            hex(&entry.leaf_hash()),
            case["leaf_hash"].as_str().unwrap(),
            "leaf hash of: {name}"
        );
    }
}

#[test]
fn every_inclusion_proof_matches_and_verifies_and_a_changed_one_does_not() {
    let v = vectors();
    let cases = v["inclusion"].as_array().unwrap();
    // The leaves of the largest tree, in order, rebuild every smaller one.
    let largest = cases
        .iter()
        .map(|c| c["tree_size"].as_u64().unwrap())
        .max()
        .unwrap();
    let leaves: Vec<Hash> = (0..largest)
        .map(|i| {
            let c = cases
                .iter()
                .find(|c| {
                    c["tree_size"].as_u64() == Some(largest) && c["leaf_index"].as_u64() == Some(i)
                })
                .unwrap();
            hash(&c["leaf_hash"])
        })
        .collect();
    for c in cases {
        let (size, index) = (
            c["tree_size"].as_u64().unwrap(),
            c["leaf_index"].as_u64().unwrap(),
        );
        let proof: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(hash).collect();
        let tree = &leaves[..size as usize];
        assert_eq!(root(tree), hash(&c["root_hash"]), "root of {size}");
        assert_eq!(
            inclusion_proof(index as usize, tree),
            proof,
            "proof of {index} in {size}"
        );
        let leaf = hash(&c["leaf_hash"]);
        assert!(verify_inclusion(
            index,
            size,
            &leaf,
            &proof,
            &hash(&c["root_hash"])
        ));
        let mut other = leaf;
        other[0] ^= 1;
        assert!(!verify_inclusion(
            index,
            size,
            &other,
            &proof,
            &hash(&c["root_hash"])
        ));
    }
}

//! The audit export parser and offline verifier (`audit::export::parse`,
//! `audit::verify::verify_export`, what `alcove audit verify-export` runs on
//! a file handed over by someone else), with the key and the witness heads
//! of the seed exports (`fixtures/audit_*`).
#![no_main]

use alcove_server::audit::signing::{PublicKey, SignedTreeHead};
use alcove_server::audit::{export, verify};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static FIXTURE: OnceLock<(PublicKey, Vec<SignedTreeHead>)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (key, heads) = FIXTURE.get_or_init(|| {
        let key = String::from_utf8(alcove_fuzz::fixture("audit_public_key.hex")).expect("hex");
        let heads = String::from_utf8(alcove_fuzz::fixture("audit_heads.jsonl")).expect("heads");
        (
            PublicKey::parse(&key).expect("public key"),
            verify::read_heads_file(&heads).expect("heads"),
        )
    });
    let parsed = export::parse(data);
    let _ = parsed.lines.len() + parsed.malformed.len();
    let alone = verify::verify_export(data, key, &[]);
    let witnessed = verify::verify_export(data, key, heads);
    if witnessed.ok() {
        assert!(parsed.header.is_some());
    }
    let _ = (alone.ok(), format!("{alone}"));
});

//! Regenerate the checked-in test vectors:
//!
//! ```sh
//! cargo run -p alcove-crypto --example gen-vectors
//! ```
//!
//! Writes `crypto/tests/vectors/envelope.json` and
//! `crypto/tests/vectors/sealing.json`. Every value is fixed, so the output
//! is deterministic; a diff after regeneration means the wire format changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use alcove_crypto::envelope::{
    Content, Envelope, Modality, OccurrenceRef, ReceiptKind, Reminder, ReminderChange,
    ReminderDetails, ResponseKind,
};
use alcove_crypto::hex_encode;
use alcove_crypto::seal::{seal_with_nonce, DeviceSecret, UnlockShare};
use serde_json::{json, Value};

fn env(id: u8, ts: u64, content: Content) -> Envelope {
    Envelope {
        client_message_id: [id; 16],
        sent_at_ms: ts,
        content,
    }
}

fn envelope_vectors() -> Value {
    let cases: Vec<(&str, Envelope)> = vec![
        (
            "text_ascii",
            env(
                0x01,
                1_767_225_600_000,
                Content::Text("See you Tuesday.".into()),
            ),
        ),
        ("text_empty", env(0x02, 0, Content::Text(String::new()))),
        (
            "text_utf8",
            env(
                0x03,
                1_767_225_600_123,
                Content::Text("Grüße — 好 🙂".into()),
            ),
        ),
        (
            "reminder",
            env(
                0x04,
                1_767_225_600_000,
                Content::Reminder(Reminder {
                    reminder_id: [0xaa; 16],
                    starts_at_ms: 1_767_312_000_000,
                    duration_minutes: 50,
                    template_id: "appointment-v1".into(),
                    location: "Office 2".into(),
                    requires_response: true,
                    details: None,
                }),
            ),
        ),
        (
            "reminder_response_confirm",
            env(
                0x05,
                1_767_225_700_000,
                Content::ReminderResponse {
                    reminder_id: [0xaa; 16],
                    response: ResponseKind::Confirm,
                    note: String::new(),
                    occurrence: None,
                },
            ),
        ),
        (
            "reminder_response_reschedule",
            env(
                0x06,
                1_767_225_800_000,
                Content::ReminderResponse {
                    reminder_id: [0xaa; 16],
                    response: ResponseKind::RescheduleRequest,
                    note: "Can we do Thursday?".into(),
                    occurrence: None,
                },
            ),
        ),
        (
            "reminder_details_v2",
            env(
                0x0c,
                1_767_225_600_000,
                Content::Reminder(Reminder {
                    reminder_id: [0xbb; 16],
                    starts_at_ms: 1_767_312_000_000,
                    duration_minutes: 50,
                    template_id: "appointment-v2".into(),
                    location: String::new(),
                    requires_response: true,
                    details: Some(ReminderDetails {
                        change: ReminderChange::Rescheduled,
                        time_zone: "America/New_York".into(),
                        modality: Modality::Telehealth,
                        link: "https://video.example/r/7f3a".into(),
                        note: "Same link as last week.".into(),
                    }),
                }),
            ),
        ),
        (
            "reminder_response_occurrence_v2",
            env(
                0x0d,
                1_767_225_700_000,
                Content::ReminderResponse {
                    reminder_id: [0xbb; 16],
                    response: ResponseKind::Cancel,
                    note: String::new(),
                    occurrence: Some(OccurrenceRef {
                        occurrence_id: [0xcc; 16],
                        starts_at_ms: 1_767_312_000_000,
                    }),
                },
            ),
        ),
        (
            "receipt_delivered",
            env(
                0x07,
                1_767_225_900_000,
                Content::Receipt {
                    kind: ReceiptKind::Delivered,
                    message_ids: vec![[0x01; 16]],
                },
            ),
        ),
        (
            "receipt_read_two",
            env(
                0x08,
                1_767_226_000_000,
                Content::Receipt {
                    kind: ReceiptKind::Read,
                    message_ids: vec![[0x01; 16], [0x03; 16]],
                },
            ),
        ),
        (
            "system",
            env(
                0x09,
                1_767_226_100_000,
                Content::System {
                    code: "device_added".into(),
                    detail: "New device".into(),
                },
            ),
        ),
        (
            "unknown_future_type",
            env(
                0x0a,
                1_767_226_200_000,
                Content::Unknown {
                    type_code: 0x42,
                    body: vec![0xde, 0xad, 0xbe, 0xef],
                },
            ),
        ),
    ];
    let vectors: Vec<Value> = cases
        .iter()
        .map(|(name, e)| {
            json!({
                "name": name,
                "envelope": serde_json::from_str::<Value>(&e.to_json().unwrap()).unwrap(),
                "encoded": hex_encode(&e.encode().unwrap()),
            })
        })
        .collect();
    let text = cases[0].1.encode().unwrap();
    let mut trailing = text.clone();
    trailing.push(0);
    let mut bad_version = text.clone();
    bad_version[0] = 2;
    let mut bad_utf8 = env(0x0b, 0, Content::Text("x".into())).encode().unwrap();
    let last = bad_utf8.len() - 1;
    bad_utf8[last] = 0xff;
    let mut bad_bool = cases[3].1.encode().unwrap();
    let last = bad_bool.len() - 1;
    bad_bool[last] = 2;
    // The details extension under a version byte nobody defined, and cut short.
    let v2 = cases
        .iter()
        .find(|(n, _)| *n == "reminder_details_v2")
        .unwrap()
        .1
        .encode()
        .unwrap();
    let v1_len = cases[3].1.encode().unwrap().len() - "Office 2".len();
    let mut bad_extension = v2.clone();
    bad_extension[v1_len] = 3;
    // One byte short inside the extension, with body_len saying so (else it
    // would only test the header's length).
    let mut truncated_extension = v2[..v2.len() - 1].to_vec();
    let body_len = u32::try_from(truncated_extension.len() - 30).unwrap();
    truncated_extension[26..30].copy_from_slice(&body_len.to_be_bytes());
    let invalid = vec![
        json!({"name": "empty", "encoded": "", "error": "malformed"}),
        json!({"name": "truncated_header", "encoded": hex_encode(&text[..10]), "error": "malformed"}),
        json!({"name": "truncated_body", "encoded": hex_encode(&text[..text.len() - 1]), "error": "malformed"}),
        json!({"name": "trailing_byte", "encoded": hex_encode(&trailing), "error": "malformed"}),
        json!({"name": "unsupported_version", "encoded": hex_encode(&bad_version), "error": "unsupported_version"}),
        json!({"name": "text_not_utf8", "encoded": hex_encode(&bad_utf8), "error": "malformed"}),
        json!({"name": "reminder_bad_bool", "encoded": hex_encode(&bad_bool), "error": "malformed"}),
        json!({"name": "reminder_unknown_extension", "encoded": hex_encode(&bad_extension), "error": "malformed"}),
        json!({"name": "reminder_truncated_extension", "encoded": hex_encode(&truncated_extension), "error": "malformed"}),
    ];
    json!({
        "description": "Alcove content envelope v1 (docs/protocol.md). For each vector: encode(envelope) == encoded and decode(encoded) == envelope. Invalid inputs must fail with the given error code.",
        "regenerate": "cargo run -p alcove-crypto --example gen-vectors",
        "vectors": vectors,
        "invalid": invalid,
    })
}

fn sealing_vectors() -> Value {
    let cases: Vec<(&str, &str, [u8; 32], [u8; 32], [u8; 12], Vec<u8>)> = vec![
        (
            "short",
            "1d7b2f0e-9c44-4a3b-8f6e-2b5a7c9d0e13",
            [0x11; 32],
            [0x22; 32],
            [0x33; 12],
            b"alcove sealed state test".to_vec(),
        ),
        (
            "empty_plaintext",
            "device-2",
            core::array::from_fn(|i| i as u8),
            core::array::from_fn(|i| 0xff - i as u8),
            [0x00; 12],
            Vec::new(),
        ),
        (
            "binary_300",
            "device-3",
            [0x5a; 32],
            [0xa5; 32],
            core::array::from_fn(|i| (i * 7) as u8),
            (0..300u32).map(|i| (i % 251) as u8).collect(),
        ),
    ];
    let vectors: Vec<Value> = cases
        .iter()
        .map(|(name, dev, ds, us, nonce, pt)| {
            let sealed = seal_with_nonce(
                pt,
                dev,
                &DeviceSecret::from_bytes(*ds),
                &UnlockShare::from_bytes(*us),
                *nonce,
            )
            .unwrap();
            json!({
                "name": name,
                "device_id": dev,
                "device_secret": hex_encode(ds),
                "unlock_share": hex_encode(us),
                "nonce": hex_encode(nonce),
                "plaintext": hex_encode(pt),
                "sealed": hex_encode(&sealed),
            })
        })
        .collect();
    json!({
        "description": "Alcove sealed device state v1 (docs/protocol.md): sealed = \"ALCS\" || 0x01 || nonce || ChaCha20-Poly1305(key = HKDF-SHA256(salt=\"alcove-seal-v1\", ikm=device_secret||unlock_share, info=\"alcove device state key\"), aad = \"alcove-sealed-state\" || 0x01 || u16 len || device_id). Check seal(...) == sealed and unseal(sealed) == plaintext; unsealing with another device_id or unlock_share, or after flipping any byte, fails with unseal_failed (or malformed for a damaged header).",
        "regenerate": "cargo run -p alcove-crypto --example gen-vectors",
        "vectors": vectors,
    })
}

fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, v) in [
        ("envelope.json", envelope_vectors()),
        ("sealing.json", sealing_vectors()),
    ] {
        let mut s = serde_json::to_string_pretty(&v).unwrap();
        s.push('\n');
        std::fs::write(dir.join(file), s).unwrap();
        println!("wrote {}", dir.join(file).display());
    }
}

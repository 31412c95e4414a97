#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alcove_crypto::envelope::{MAX_ENVELOPE_LEN, MAX_RECEIPT_IDS};
use alcove_crypto::{Content, Envelope, Error, ReceiptKind};

fn env(content: Content) -> Envelope {
    Envelope {
        client_message_id: [7; 16],
        sent_at_ms: 42,
        content,
    }
}

#[test]
fn size_limit_on_encode_and_decode() {
    let max_text = MAX_ENVELOPE_LEN - alcove_crypto::envelope::ENVELOPE_HEADER_LEN;
    let ok = env(Content::Text("a".repeat(max_text)));
    let bytes = ok.encode().unwrap();
    assert_eq!(bytes.len(), MAX_ENVELOPE_LEN);
    assert_eq!(Envelope::decode(&bytes).unwrap(), ok);
    let too_big = env(Content::Text("a".repeat(max_text + 1)));
    assert!(matches!(
        too_big.encode().unwrap_err(),
        Error::TooLarge { .. }
    ));
    let mut big = bytes.clone();
    big.push(b'a');
    assert_eq!(Envelope::decode(&big).unwrap_err().code(), "too_large");
}

#[test]
fn unknown_type_is_skippable_and_roundtrips() {
    let mut bytes = env(Content::Text("hi".into())).encode().unwrap();
    bytes[1] = 200;
    let e = Envelope::decode(&bytes).unwrap();
    assert_eq!(
        e.content,
        Content::Unknown {
            type_code: 200,
            body: b"hi".to_vec()
        }
    );
    assert_eq!(e.encode().unwrap(), bytes);
}

#[test]
fn receipt_bounds() {
    let empty = env(Content::Receipt {
        kind: ReceiptKind::Read,
        message_ids: vec![],
    });
    assert_eq!(empty.encode().unwrap_err().code(), "invalid_argument");
    let many = env(Content::Receipt {
        kind: ReceiptKind::Read,
        message_ids: vec![[1; 16]; MAX_RECEIPT_IDS + 1],
    });
    assert_eq!(many.encode().unwrap_err().code(), "invalid_argument");
    let max = env(Content::Receipt {
        kind: ReceiptKind::Delivered,
        message_ids: vec![[1; 16]; MAX_RECEIPT_IDS],
    });
    assert_eq!(Envelope::decode(&max.encode().unwrap()).unwrap(), max);
}

#[test]
fn unknown_content_with_known_code_is_rejected() {
    let e = env(Content::Unknown {
        type_code: 1,
        body: vec![],
    });
    assert_eq!(e.encode().unwrap_err().code(), "invalid_argument");
}

fn record(seq: u64, content: Content) -> alcove_crypto::HistoryRecord {
    alcove_crypto::HistoryRecord {
        seq,
        sender_user_id: "user-a".into(),
        status: alcove_crypto::HistoryStatus::Delivered,
        envelope: Envelope {
            client_message_id: [seq as u8; 16],
            sent_at_ms: 1_000 + seq,
            content,
        },
    }
}

#[test]
fn a_history_handover_carries_the_original_envelopes_both_ways() {
    let e = env(Content::History {
        for_device: "device-new".into(),
        records: vec![
            record(3, Content::Text("first".into())),
            record(5, Content::Text("second, with ünïcode".into())),
        ],
    });
    let bytes = e.encode().unwrap();
    assert_eq!(bytes[1], alcove_crypto::envelope::TYPE_HISTORY);
    assert_eq!(Envelope::decode(&bytes).unwrap(), e);
    let json = e.to_json().unwrap();
    assert!(json.contains(r#""type":"history""#), "{json}");
    assert!(json.contains(r#""status":"delivered""#), "{json}");
    assert_eq!(Envelope::from_json(&json).unwrap(), e);
}

#[test]
fn a_handover_holds_only_messages_people_wrote() {
    // A receipt or a handover inside a handover is refused on both sides:
    // it would change another message's state, or recurse.
    for inner in [
        Content::Receipt {
            kind: ReceiptKind::Read,
            message_ids: vec![[1; 16]],
        },
        Content::History {
            for_device: "x".into(),
            records: vec![record(1, Content::Text("t".into()))],
        },
    ] {
        let e = env(Content::History {
            for_device: "device-new".into(),
            records: vec![record(1, inner.clone())],
        });
        assert_eq!(e.encode().unwrap_err().code(), "invalid_argument");
        // Hand-made bytes with such a record do not decode either.
        let good = env(Content::History {
            for_device: "d".into(),
            records: vec![record(1, Content::Text("t".into()))],
        })
        .encode()
        .unwrap();
        let nested = env(inner).encode().unwrap();
        let mut body = Vec::new();
        body.extend_from_slice(&1u16.to_be_bytes());
        body.push(b'd');
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&6u16.to_be_bytes());
        body.extend_from_slice(b"user-a");
        body.push(2);
        body.extend_from_slice(&(nested.len() as u32).to_be_bytes());
        body.extend_from_slice(&nested);
        let mut bad = good[..26].to_vec();
        bad.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bad.extend_from_slice(&body);
        assert_eq!(Envelope::decode(&bad).unwrap_err().code(), "malformed");
    }
    // None at all is allowed: "there is nothing earlier".
    let empty = env(Content::History {
        for_device: "d".into(),
        records: vec![],
    });
    assert_eq!(Envelope::decode(&empty.encode().unwrap()).unwrap(), empty);
    let too_many = env(Content::History {
        for_device: "d".into(),
        records: (0..1025)
            .map(|i| record(i, Content::Text(String::new())))
            .collect(),
    });
    assert_eq!(too_many.encode().unwrap_err().code(), "invalid_argument");
}

#[test]
fn a_handover_with_an_unknown_status_is_malformed() {
    let mut bytes = env(Content::History {
        for_device: "d".into(),
        records: vec![record(1, Content::Text("t".into()))],
    })
    .encode()
    .unwrap();
    // header 30 + for_device (2 + 1) + count 2 + seq 8 + user (2 + 6) = status
    let status_at = 30 + 3 + 2 + 8 + 8;
    assert_eq!(bytes[status_at], 2);
    bytes[status_at] = 9;
    assert_eq!(Envelope::decode(&bytes).unwrap_err().code(), "malformed");
}

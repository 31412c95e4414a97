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

//! The content envelope every device decodes from a decrypted application
//! message (`Envelope::decode`); what decodes must encode back to itself.
#![no_main]

use alcove_crypto::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::decode(data) else {
        return;
    };
    if let Ok(bytes) = envelope.encode() {
        assert_eq!(Envelope::decode(&bytes).ok().as_ref(), Some(&envelope));
    }
    if let Ok(json) = envelope.to_json() {
        assert_eq!(Envelope::from_json(&json).ok().as_ref(), Some(&envelope));
    }
});

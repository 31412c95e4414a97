//! MLS framing as the server reads it: `inspect_message` (every posted
//! commit, message and Welcome) and `welcome_key_package_refs`.
#![no_main]

use alcove_crypto::server::{inspect_message, welcome_key_package_refs, WireFormatKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let info = inspect_message(data);
    let refs = welcome_key_package_refs(data);
    match info {
        Ok(info) if info.wire_format == WireFormatKind::Welcome => {
            assert_eq!(refs.ok(), Some(info.welcome_key_package_refs));
        }
        Ok(info) => {
            assert!(refs.is_err());
            assert!(info.welcome_key_package_refs.is_empty());
        }
        Err(_) => assert!(refs.is_err()),
    }
});

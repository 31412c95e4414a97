//! KeyPackage validation on upload (`validate_key_package`, called by
//! `PUT /api/v1/devices/me/key-packages` for every package).
#![no_main]

use alcove_crypto::server::validate_key_package;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static EXPECTED: OnceLock<alcove_crypto::DeviceIdentity> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let expected = EXPECTED.get_or_init(|| alcove_fuzz::identity("laptop"));
    let now = alcove_fuzz::now();
    if let Ok(v) = validate_key_package(data, expected, now) {
        assert_eq!(&v.identity, expected);
        assert_eq!(v.key_package_ref.len(), 32);
        assert!(v.not_before <= now && now < v.not_after);
    }
});

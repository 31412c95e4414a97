//! Welcome routing and joining: the server reads the KeyPackageRefs a
//! posted Welcome names (`welcome_key_package_refs`, which decide whom it
//! is delivered to), and the addressed device (a real one holding the
//! KeyPackage's private keys, `fixtures/laptop_device.bin`) joins from it.
#![no_main]

use alcove_crypto::server::welcome_key_package_refs;
use alcove_crypto::Device;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static DEVICE: OnceLock<Vec<u8>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let snapshot = DEVICE.get_or_init(|| alcove_fuzz::fixture("laptop_device.bin"));
    let refs = welcome_key_package_refs(data);
    let mut device = Device::restore(snapshot).expect("fixture device");
    if let Ok(joined) = device.join_from_welcome(data) {
        // A Welcome that a device accepts names it, so the server routed it.
        assert!(refs.is_ok_and(|r| !r.is_empty()));
        assert_eq!(device.epoch(&joined.group_id).ok(), Some(joined.epoch));
        let _ = device
            .members(&joined.group_id)
            .expect("members after join");
    }
});

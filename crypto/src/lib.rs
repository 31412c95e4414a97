//! # alcove-crypto
//!
//! The Alcove protocol core: a sans-I/O MLS (RFC 9420) client built on
//! `openmls` 0.9 with exactly one ciphersuite,
//! `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519`, plus
//!
//! * [`identity`]: the exact bytes a device credential carries,
//! * [`envelope`]: the typed content inside every application message,
//! * [`seal`]: sealing the device state at rest (crypto-shredding),
//! * [`server`]: helpers the delivery service uses without touching openmls.
//!
//! No network, no files, no clocks: every time value is passed in by the
//! caller. All byte inputs are bounds-checked; malformed input is an
//! [`Error`], never a panic. See `docs/protocol.md` for the specification.
#![deny(missing_docs)]
// Malformed input is an error, never a panic: besides the workspace's
// unwrap/expect/panic denial, no indexing or slicing that could go out of
// bounds (`.get`, `split_at_checked`, pattern matching instead).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod archive;
pub mod device;
pub mod envelope;
pub mod error;
pub mod identity;
pub mod public_group;
pub mod seal;
pub mod server;

mod provider;
mod signer;
mod storage;
mod wire;

pub use archive::HistoryKey;
pub use device::{
    CommitOutput, Device, JoinOutput, MemberInfo, Processed, MAX_MESSAGE_LEN, SNAPSHOT_VERSION,
};
pub use envelope::{
    Content, Envelope, HistoryRecord, HistoryStatus, Modality, OccurrenceRef, ReceiptKind,
    Reminder, ReminderChange, ReminderDetails, ResponseKind,
};
pub use error::{Error, Result};
pub use identity::DeviceIdentity;
pub use seal::{DeviceSecret, UnlockShare};
pub use wire::{hex_decode, hex_encode};

use openmls::prelude::Ciphersuite;
use openmls_traits::random::OpenMlsRand;

/// The only ciphersuite Alcove uses.
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// Random bytes from the OS-seeded CSPRNG used by openmls.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N]> {
    openmls_rust_crypto::RustCrypto::default()
        .random_array::<N>()
        .map_err(|_| Error::internal("random number generator failed"))
}

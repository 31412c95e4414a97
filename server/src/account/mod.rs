//! A person's own account (the account page): who they are, their
//! devices, their password, their authenticator and their recovery codes.
//!
//! Invariants:
//! - Changing the password needs the current one, checked under the
//!   account's sign-in throttle (the same reservations as a login), so an
//!   unlocked session left open on a shared computer cannot be used to
//!   guess it quickly, nor to take the account over without it.
//! - The new hash replaces the one the current password was checked
//!   against, or nothing: two changes racing each other cannot both win
//!   (compare-and-set on the stored hash).
//! - A changed password ends every other session of the person in the same
//!   transaction as the new hash (whoever knew the old one is signed out
//!   everywhere), and their sockets are told to close at once; the session
//!   that changed it stays. Devices are not revoked: their keys are theirs.
//! - New recovery codes need a fresh second factor
//!   ([`crate::auth::step_up`]); they replace every earlier code in one
//!   transaction and are shown once.
//! - Nothing here writes a password, a code or a hash to a log, an error
//!   or the audit log (which records that it happened, and how many
//!   sessions ended).

pub mod http;
#[macro_use]
mod sql;
pub mod store;

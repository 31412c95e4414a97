//! Storage of the account page's changes.

use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{DeviceId, PracticeId, SessionId, UserId};
use crate::storage::error::StoreResult;
use async_trait::async_trait;

/// What a password change did.
#[derive(Debug)]
pub enum PasswordChange {
    /// Changed; these other sessions (and their devices) were ended.
    Changed(Vec<(SessionId, DeviceId)>),
    /// The stored hash was no longer the one the current password was
    /// checked against (another change won): nothing written.
    Stale,
}

/// A confirmed authenticator: the pending enrolment's secret (as sealed),
/// the step its first code used, and the new recovery codes' hashes.
#[derive(Debug)]
pub struct NewAuthenticator<'a> {
    /// Tenant.
    pub practice: PracticeId,
    /// Whose.
    pub user: UserId,
    /// The pending enrolment's secret, as sealed.
    pub secret: &'a [u8],
    /// The TOTP step of the code that confirmed it (recorded as used).
    pub step: i64,
    /// The new recovery codes' hashes.
    pub code_hashes: &'a [Vec<u8>],
}

/// The account page's writes, each in one transaction with its audit event.
#[async_trait]
pub trait AccountStore {
    /// Replaces `user`'s password hash if it is still `expected_hash`, and
    /// ends every other open session of theirs (`keep` stays), with
    /// `event` (its detail gets how many sessions ended).
    async fn change_password(
        &self,
        user: UserId,
        expected_hash: &str,
        new_hash: &str,
        keep: SessionId,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<PasswordChange>;

    /// Replaces every recovery code of `user` (used or not) with these.
    async fn renew_recovery_codes(
        &self,
        practice: PracticeId,
        user: UserId,
        code_hashes: &[Vec<u8>],
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;

    /// Makes the pending enrolment (`new.secret`, started by `new.user`)
    /// their authenticator: the secret replaces any earlier one, the
    /// code's `step` is recorded as used, and these recovery codes replace
    /// every earlier one, with `event`. `Ok(false)`: no such pending
    /// enrolment any more (confirmed or restarted meanwhile).
    async fn confirm_authenticator(
        &self,
        new: &NewAuthenticator<'_>,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<bool>;

    /// Renames `device` if it is `user`'s own and not revoked, with
    /// `event`. `NotFound`: no such device of theirs.
    async fn rename_device(
        &self,
        practice: PracticeId,
        user: UserId,
        device: DeviceId,
        name: &str,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;

    /// How many of `user`'s recovery codes are still unused.
    async fn recovery_codes_left(&self, user: UserId) -> StoreResult<i64>;
}

//! Storage of invitations: the rows and the trait the backends implement
//! (`sql.rs`). The token itself is never stored, only its SHA-256.

use super::error::InviteError;
use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{DeviceId, InviteId, PracticeId, SessionId, UserId};
use crate::storage::error::StoreResult;
use crate::storage::models::{NewUser, Role, User};
use async_trait::async_trait;

/// An invitation. The token itself is never stored, only its SHA-256.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Invite {
    /// Identifier (safe to show; not the token).
    pub id: InviteId,
    /// Tenant.
    pub practice_id: PracticeId,
    /// Role the invitee will have (a row with any other stored value fails
    /// to load).
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// Who created it (none for the bootstrap link).
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// When it was redeemed.
    pub used_at: Option<UnixTime>,
    /// Who redeemed it.
    pub used_by: Option<UserId>,
    /// When it was revoked.
    pub revoked_at: Option<UnixTime>,
    /// Whom it is for, in the inviter's words.
    pub label: Option<String>,
    /// A sign-in reset link: the existing account it resets (no new
    /// account is made from it).
    pub for_user: Option<UserId>,
}

/// An invite to store; the token is only its hash.
#[derive(Clone, Debug)]
pub struct NewInvite {
    /// Identifier.
    pub id: InviteId,
    /// Tenant.
    pub practice_id: PracticeId,
    /// Role of the invitee.
    pub role: Role,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Inviter.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Whom it is for, in the inviter's words (shown only in the
    /// practice's list of invitations).
    pub label: Option<String>,
    /// A sign-in reset link for this existing account.
    pub for_user: Option<UserId>,
}

/// What redeeming a reset link did.
#[derive(Debug)]
pub struct Reset {
    /// The account, with its new password.
    pub user: User,
    /// Its sessions that were open, now ended (their sockets close).
    pub ended: Vec<(SessionId, DeviceId)>,
}

/// Invitations, each change in one transaction with its audit event.
#[async_trait]
pub trait InviteStore {
    /// Stores a new invite.
    async fn create_invite(&self, invite: &NewInvite, event: audit::Event) -> StoreResult<()>;

    /// The invite behind a token hash, whatever its state.
    async fn invite_by_token(&self, token_hash: &[u8]) -> StoreResult<Invite>;

    /// Invites of a practice, newest first. `created_by` narrows to one inviter.
    async fn list_invites(
        &self,
        practice: PracticeId,
        created_by: Option<UserId>,
    ) -> StoreResult<Vec<Invite>>;

    /// Revokes a pending invite. `created_by` restricts to one inviter's own.
    async fn revoke_invite(
        &self,
        practice: PracticeId,
        id: InviteId,
        created_by: Option<UserId>,
        now: UnixTime,
        event: audit::Event,
    ) -> Result<(), InviteError>;

    /// Atomically consumes the invite and creates the user with its role.
    async fn redeem_invite(
        &self,
        token_hash: &[u8],
        user: &NewUser,
        now: UnixTime,
        meta: &audit::RequestMeta,
    ) -> Result<User, InviteError>;

    /// Stores a reset link for `invite.for_user`, revoking any earlier one
    /// still pending (one live link per account), with `event`.
    async fn create_reset_link(&self, invite: &NewInvite, event: audit::Event) -> StoreResult<()>;

    /// Consumes the reset link behind `token_hash` if it is pending and for
    /// `user`, sets the new password hash, and ends every open session of
    /// the account, in one transaction with `event` (its detail gets how
    /// many sessions ended). Refused as an invite is (used, expired,
    /// unknown); `NotFound` too when the account was deactivated meanwhile.
    async fn redeem_reset(
        &self,
        token_hash: &[u8],
        user: UserId,
        new_hash: &str,
        now: UnixTime,
        event: audit::Event,
    ) -> Result<Reset, InviteError>;
}

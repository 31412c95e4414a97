//! Storage of invitations: the rows and the trait the backends implement
//! (`sql.rs`). The token itself is never stored, only its SHA-256.

use super::error::InviteError;
use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{InviteId, PracticeId, UserId};
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
}

//! Storage of revocation: revoking devices and deactivating users in one
//! transaction each, unlock shares (crypto-shredding), the server's Remove
//! proposals, lost-device reports and offboarding access reviews.
//!
//! Invariants:
//! - Revoking a device, in one transaction: marks it revoked, ends its
//!   sessions, deletes its KeyPackages, its pending Welcomes and its unlock
//!   share. From the commit on, no token of it is accepted, it cannot be
//!   added anywhere, and its sealed local state can never be opened again.
//! - A revoked device that is still a leaf of a conversation is a *pending
//!   removal* until a commit removes its leaf; while any is pending, no
//!   application message is accepted in that conversation.
//! - The server issues at most one Remove proposal per (conversation, leaf,
//!   epoch), and only for the conversation's current epoch.

use super::error::RevocationError;
use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{DeviceId, PracticeId, UserId};
use crate::storage::error::StoreResult;
use async_trait::async_trait;
use serde::Serialize;

/// A revoked device still in a group.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct PendingRemoval {
    /// Conversation awaiting the removal commit.
    pub conversation_id: String,
    /// The revoked device.
    pub device_id: DeviceId,
    /// Its leaf.
    pub leaf_index: i64,
    /// The conversation's current epoch.
    pub epoch: i64,
    /// Whether the server's proposal for this epoch is in the log.
    pub proposed: bool,
}

/// A device with its owner, for the practice's device inventory.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct InventoryDevice {
    /// Device.
    pub id: DeviceId,
    /// Owner.
    pub user_id: UserId,
    /// Owner's display name.
    pub user_name: String,
    /// Owner's role.
    pub role: String,
    /// Device name.
    pub name: String,
    /// Coarse user agent.
    pub user_agent: String,
    /// First login.
    pub created_at: UnixTime,
    /// Last request.
    pub last_seen_at: UnixTime,
    /// Revocation time.
    pub revoked_at: Option<UnixTime>,
    /// `signed_out`, `lost` or `deactivated`.
    pub revoked_reason: Option<String>,
}

/// A lost-device report (the incidents feature opens incidents from these).
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct LostDeviceReport {
    /// Identifier.
    pub id: String,
    /// Device.
    pub device_id: DeviceId,
    /// Owner.
    pub user_id: UserId,
    /// Who reported it.
    pub reported_by: UserId,
    /// When.
    pub reported_at: UnixTime,
    /// The device's last authenticated request.
    pub last_seen_at: UnixTime,
    /// Conversations it was in (JSON array of ids).
    pub conversations: String,
}

/// One conversation a user could reach, for an access review.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct AccessReviewRow {
    /// Conversation.
    pub conversation_id: String,
    /// Its client.
    pub client_user_id: UserId,
    /// Client's display name.
    pub client_name: String,
    /// Last time any device of the user acknowledged delivery in it.
    pub last_access_at: Option<UnixTime>,
    /// Messages the user's devices acknowledged, highest seq.
    pub last_seq_accessed: Option<i64>,
}

/// What a revocation touched.
#[derive(Clone, Debug, Default)]
pub struct Revoked {
    /// Devices newly revoked.
    pub devices: Vec<DeviceId>,
    /// Conversations that now await a removal commit.
    pub conversations: Vec<String>,
}

/// How devices are revoked: why, who reported them lost, and which of them
/// had a socket open as they were cut off (recorded with each revocation).
#[derive(Debug, Clone, Copy)]
pub struct HowRevoked<'a> {
    /// `signed_out` or `lost`.
    pub reason: &'static str,
    /// Who reported them lost (a loss report is recorded).
    pub lost_by: Option<UserId>,
    /// Those with a socket open.
    pub sockets_open: &'a [DeviceId],
}

/// Storage of revocation.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// This device's unlock share, created on first request.
    async fn unlock_share(
        &self,
        practice: PracticeId,
        device: DeviceId,
        fresh: &[u8],
        now: UnixTime,
        event: audit::Event,
    ) -> Result<Vec<u8>, RevocationError>;

    /// The owner and state of a device of this practice.
    async fn device_owner(
        &self,
        practice: PracticeId,
        device: DeviceId,
    ) -> StoreResult<InventoryDevice>;

    /// Revokes devices (see the module invariants). With `lost_by`, records
    /// a lost-device report naming the reporter. Already revoked devices are
    /// skipped.
    async fn revoke_devices(
        &self,
        practice: PracticeId,
        devices: &[DeviceId],
        how: HowRevoked<'_>,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<Revoked>;

    /// Devices signed in as a shared or public computer that are not
    /// revoked and have no live session left (every session ended, expired
    /// or idle past its timeout at `now`): at most `limit`, oldest first.
    async fn lapsed_shared_devices(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> StoreResult<Vec<(PracticeId, DeviceId)>>;

    /// Deactivates a user: every device revoked, pending invites they sent
    /// cancelled, assignments ended.
    async fn deactivate_user(
        &self,
        practice: PracticeId,
        user: UserId,
        now: UnixTime,
        event: audit::Event,
    ) -> Result<Revoked, RevocationError>;

    /// Pending removals of one conversation, or of a practice.
    async fn pending_removals(
        &self,
        practice: Option<PracticeId>,
        conversation: Option<&str>,
    ) -> StoreResult<Vec<PendingRemoval>>;

    /// Appends the server's Remove proposal if `epoch` is still current and
    /// none was issued for this leaf in it. Returns its seq, or None.
    async fn append_removal_proposal(
        &self,
        removal: &PendingRemoval,
        data: &[u8],
        now: UnixTime,
    ) -> StoreResult<Option<i64>>;

    /// Every device of the practice.
    async fn practice_devices(&self, practice: PracticeId) -> StoreResult<Vec<InventoryDevice>>;

    /// Lost-device reports, newest first.
    async fn lost_device_reports(&self, practice: PracticeId)
        -> StoreResult<Vec<LostDeviceReport>>;

    /// Conversations a user takes part in, with their last access.
    async fn access_review(
        &self,
        practice: PracticeId,
        user: UserId,
    ) -> StoreResult<Vec<AccessReviewRow>>;
}

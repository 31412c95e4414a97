//! Storage of the MLS delivery service: KeyPackages, assignments,
//! conversations, the ordered log, Welcomes and delivery cursors.
//!
//! Invariants:
//! - `conversations.epoch` moves only through `accept_commit`, by exactly one
//!   per accepted commit, under a conditional update: of two commits for the
//!   same epoch exactly one is accepted (the first to commit).
//! - `last_seq` is dense per conversation; every log entry takes the next seq
//!   inside the transaction that stores it, so readers see the log in order
//!   with no gaps once committed.
//! - A KeyPackage is handed out at most once (the last-resort one excepted).
//! - Only devices of the conversation's allowed users are ever members.
//! - An application message is stored at most once per (sender device,
//!   client message id).

use super::error::DeliveryResult;
use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{DeviceId, PracticeId, UserId};
use crate::storage::error::StoreResult;
use async_trait::async_trait;
use serde::Serialize;

/// A validated KeyPackage to store.
#[derive(Clone, Debug)]
pub struct NewKeyPackage {
    /// KeyPackageRef (primary key).
    pub kp_ref: Vec<u8>,
    /// The `MLSMessage` bytes.
    pub data: Vec<u8>,
    /// Last-resort package.
    pub last_resort: bool,
    /// Lifetime end.
    pub not_after: UnixTime,
}

/// A KeyPackage handed to a member device to add `device_id`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimedKeyPackage {
    /// Device the package belongs to.
    pub device_id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// The `MLSMessage` bytes (base64 in JSON).
    #[serde(serialize_with = "b64")]
    #[schema(value_type = String, format = Byte)]
    pub key_package: Vec<u8>,
}

/// Serializes bytes as standard base64.
pub fn b64<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&data_encoding::BASE64.encode(bytes))
}

/// Serializes optional bytes as standard base64.
pub fn b64_opt<S: serde::Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(b) => s.serialize_str(&data_encoding::BASE64.encode(b)),
        None => s.serialize_none(),
    }
}

/// A conversation row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Conversation {
    /// Identifier (UUID text; its UTF-8 bytes are the MLS group id).
    pub id: String,
    /// Tenant.
    pub practice_id: PracticeId,
    /// The client whose conversation this is.
    pub client_user_id: UserId,
    /// The clinician or associate.
    pub staff_user_id: UserId,
    /// Current epoch as ordered by the server.
    pub epoch: i64,
    /// Last log sequence number.
    pub last_seq: i64,
    /// Creation time.
    pub created_at: UnixTime,
}

/// A conversation as one user lists it.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    /// Identifier.
    pub id: String,
    /// Client.
    pub client_user_id: UserId,
    /// Client's display name.
    pub client_name: String,
    /// Staff member.
    pub staff_user_id: UserId,
    /// Staff member's display name.
    pub staff_name: String,
    /// Current epoch.
    pub epoch: i64,
    /// Last log sequence number.
    pub last_seq: i64,
    /// Application messages from others after this device's cursor. The
    /// server cannot tell a text from a receipt (both are ciphertext), so
    /// this is an upper bound; clients count unread texts themselves.
    pub unread: i64,
    /// Whether the requesting device is a member of the MLS group.
    pub joined: bool,
    /// The other person was deactivated: the conversation stays readable
    /// but takes no new messages (409 `conversation_closed`).
    pub closed: bool,
}

/// An active member device.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Member {
    /// Device.
    pub device_id: DeviceId,
    /// Its user.
    pub user_id: UserId,
    /// Its leaf in the group.
    pub leaf_index: i64,
    /// Whether other member devices may hand it the conversation's earlier
    /// messages (docs/history.md): not a shared computer (it keeps
    /// nothing), not a device signed in since a reset link (whoever held
    /// the link must not get the history from it).
    pub handover: bool,
}

/// A commit to order, after the server's public group checked it and
/// `delivery::rules` allowed it.
#[derive(Clone, Debug)]
pub struct NewCommit {
    /// Conversation.
    pub conversation_id: String,
    /// Committing device.
    pub sender_device: DeviceId,
    /// Epoch the commit was made in.
    pub epoch: i64,
    /// The commit bytes.
    pub data: Vec<u8>,
    /// The public group state after the commit.
    pub state: Vec<u8>,
    /// The GroupInfo of the new epoch.
    pub group_info: Vec<u8>,
    /// Every leaf after the commit (device, user, leaf index), from the tree.
    pub members_after: Vec<(DeviceId, UserId, i64)>,
    /// The Welcome and the devices it adds.
    pub welcome: Option<Vec<u8>>,
    /// Devices the Welcome is for.
    pub welcome_to: Vec<DeviceId>,
    /// KeyPackages the commit used (no longer outstanding).
    pub used_key_packages: Vec<Vec<u8>>,
    /// Refuse if a leaf's device is revoked when the transaction runs.
    pub forbid_revoked: bool,
}

/// The server's public group state of a conversation.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GroupState {
    /// Epoch of the state.
    pub epoch: i64,
    /// `alcove_crypto::public_group::ConversationState` bytes.
    pub state: Vec<u8>,
    /// The latest GroupInfo (member-signed, with the ratchet tree).
    pub group_info: Vec<u8>,
}

/// What the rules need to know to decide on a commit.
#[derive(Clone, Debug, Default)]
pub struct MembershipFacts {
    /// The devices named.
    pub devices: Vec<crate::delivery::rules::DeviceFact>,
    /// The KeyPackages named.
    pub key_packages: Vec<crate::delivery::rules::KeyPackageFact>,
}

/// An application message to append.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Conversation.
    pub conversation_id: String,
    /// Sending device.
    pub sender_device: DeviceId,
    /// Epoch from the framing.
    pub epoch: i64,
    /// Client message id (idempotency key).
    pub client_msg_id: Vec<u8>,
    /// Ciphertext.
    pub data: Vec<u8>,
}

/// Where an entry landed.
#[derive(Clone, Debug)]
pub struct Appended {
    /// Its sequence number.
    pub seq: i64,
    /// True when this was a retry of an entry already stored.
    pub duplicate: bool,
    /// Devices to wake: never the sender, whose own entries are not
    /// delivered to it (waking it would only read the log for nothing).
    pub wake: Vec<DeviceId>,
}

/// One log entry as delivered.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    /// Sequence number.
    pub seq: i64,
    /// `application`, `commit` or `proposal`.
    pub kind: String,
    /// Epoch.
    pub epoch: i64,
    /// Sending device (none for the server's own proposals).
    pub sender_device_id: Option<String>,
    /// The MLS message (base64).
    #[serde(serialize_with = "b64")]
    #[schema(value_type = String, format = Byte)]
    pub data: Vec<u8>,
}

/// A Welcome waiting for its device.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct PendingWelcome {
    /// Identifier (acknowledge with it).
    pub id: String,
    /// Conversation joined.
    pub conversation_id: String,
    /// The Welcome (base64).
    #[serde(serialize_with = "b64")]
    #[schema(value_type = String, format = Byte)]
    pub data: Vec<u8>,
}

/// A person someone may message.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Contact {
    /// User.
    pub user_id: UserId,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: String,
}

/// A range of a conversation's log handed to one device.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The conversation (its client is the record's subject).
    pub conversation: Conversation,
    /// The receiving device.
    pub device: DeviceId,
    /// First sequence number handed over.
    pub from_seq: i64,
    /// Last sequence number handed over.
    pub to_seq: i64,
    /// How: `socket` or `http` (for investigators).
    pub via: &'static str,
    /// The record's actor and request metadata.
    pub event: audit::Event,
}

/// Storage of the delivery service.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Stores validated KeyPackages of a device, binding its signature key on
    /// first upload (a different key later is refused). Returns how many
    /// unclaimed, unexpired regular packages it now has.
    #[allow(clippy::too_many_arguments)]
    async fn store_key_packages(
        &self,
        practice: PracticeId,
        device: DeviceId,
        signature_key: &[u8],
        packages: &[NewKeyPackage],
        now: UnixTime,
        event: audit::Event,
    ) -> DeliveryResult<i64>;

    /// Unclaimed, unexpired regular KeyPackages of a device.
    async fn key_package_count(&self, device: DeviceId, now: UnixTime) -> StoreResult<i64>;

    /// Records that a staff member looks after a client.
    async fn assign(
        &self,
        practice: PracticeId,
        staff: UserId,
        client: UserId,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;

    /// Whether an active assignment exists.
    async fn is_assigned(
        &self,
        practice: PracticeId,
        staff: UserId,
        client: UserId,
    ) -> StoreResult<bool>;

    /// People a user may message: a client's staff, a staff member's clients.
    async fn contacts(&self, practice: PracticeId, user: UserId) -> StoreResult<Vec<Contact>>;

    /// Creates a conversation with the creating device as its only member
    /// (leaf 0, epoch 0); returns the existing one for the same pair.
    #[allow(clippy::too_many_arguments)]
    async fn create_conversation(
        &self,
        practice: PracticeId,
        id: &str,
        client: UserId,
        staff: UserId,
        creator: (UserId, DeviceId),
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<(Conversation, bool)>;

    /// A conversation of this practice.
    async fn conversation(&self, practice: PracticeId, id: &str) -> StoreResult<Conversation>;

    /// Conversations a user takes part in, as seen from one device.
    async fn conversations_of(
        &self,
        practice: PracticeId,
        user: UserId,
        device: DeviceId,
    ) -> StoreResult<Vec<ConversationSummary>>;

    /// Active member devices.
    async fn members(&self, conversation: &str) -> StoreResult<Vec<Member>>;

    /// Claims one KeyPackage for each device of the conversation's users that
    /// is not revoked and not yet a member (the claimer excluded). Devices
    /// with no package are returned in the second list.
    async fn claim_key_packages(
        &self,
        conversation: &Conversation,
        claimer: DeviceId,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<(Vec<ClaimedKeyPackage>, Vec<DeviceId>)>;

    /// The server's public group state of a conversation, if uploaded.
    async fn group_state(&self, conversation: &str) -> StoreResult<Option<GroupState>>;

    /// Stores the first public group state (false if one exists already).
    async fn init_group_state(
        &self,
        conversation: &str,
        state: &GroupState,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<bool>;

    /// The server's Remove proposals of `epoch`, as in the log (a commit of
    /// that epoch may reference them).
    async fn server_proposals(&self, conversation: &str, epoch: i64) -> StoreResult<Vec<Vec<u8>>>;

    /// Facts for `delivery::rules`: what is known of these devices and
    /// KeyPackages.
    async fn membership_facts(
        &self,
        devices: &[DeviceId],
        key_packages: &[Vec<u8>],
    ) -> StoreResult<MembershipFacts>;

    /// Orders a checked commit: accepted only if its epoch is current (and,
    /// if asked, no leaf is a revoked device); writes the log entry, the new
    /// group state and GroupInfo, the membership rows from the tree, the
    /// Welcomes and the audit record in one transaction.
    async fn accept_commit(
        &self,
        commit: &NewCommit,
        now: UnixTime,
        event: audit::Event,
    ) -> DeliveryResult<Appended>;

    /// Appends several messages in one transaction (group commit): one
    /// fsync for the batch. Each gets its own answer; a database failure
    /// fails the batch as a whole and stores none of it.
    async fn append_messages(
        &self,
        batch: &[(NewMessage, audit::Event)],
        now: UnixTime,
    ) -> StoreResult<Vec<DeliveryResult<Appended>>>;

    /// Log entries for a device after `after_seq`, from its join point, not
    /// its own, at most `limit`.
    async fn fetch_log(
        &self,
        conversation: &str,
        device: DeviceId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<LogEntry>>;

    /// Moves devices' cursors forward (never back), several in one
    /// transaction (group commit of acknowledgements); each request gets the
    /// cursor after the call. Writes no audit record: an acknowledgement
    /// only says how far a device has processed, and a client that never
    /// sends one must leave the same trace (`record_deliveries` does that).
    async fn ack_many(
        &self,
        batch: &[(Conversation, DeviceId, i64)],
        now: UnixTime,
    ) -> StoreResult<Vec<DeliveryResult<i64>>>;

    /// The access records of what the server hands to devices: each request
    /// is the range `from_seq..=to_seq` of a conversation's log about to be
    /// sent to a device (over its socket or `GET …/messages`), with the
    /// event to record it under. Adjacent or overlapping ranges of the same
    /// device and conversation in one batch become one record. Written
    /// before the entries leave, so nothing is delivered unrecorded.
    async fn record_deliveries(
        &self,
        batch: &[Delivery],
        now: UnixTime,
    ) -> StoreResult<Vec<DeliveryResult<()>>>;

    /// Conversations a device is an active member of, with its cursor.
    async fn device_cursors(&self, device: DeviceId) -> StoreResult<Vec<(String, i64)>>;

    /// Welcomes not yet acknowledged by a device.
    async fn pending_welcomes(&self, device: DeviceId) -> StoreResult<Vec<PendingWelcome>>;

    /// Acknowledges a Welcome.
    async fn ack_welcome(&self, device: DeviceId, id: &str, now: UnixTime) -> StoreResult<()>;
}

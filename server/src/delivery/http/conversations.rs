//! The delivery API over HTTP: KeyPackages, assignments, conversations,
//! commits, messages, catch-up and Welcomes. Real-time delivery of the same
//! log is `delivery::ws`.

use crate::api::extract::{ApiJson, ApiPath, ApiQuery};
use crate::audit::Action;
use crate::auth::session::Authed;
pub use crate::delivery::accept::Sequenced;
use crate::delivery::accept::{accept_message, check_size, mls_error};
use crate::delivery::membership;
use crate::delivery::rules::MembershipError;
use crate::delivery::store::{
    ClaimedKeyPackage, Contact, Conversation, ConversationSummary, Delivery, LogEntry, Member,
    NewKeyPackage, PendingWelcome,
};
use crate::delivery::{group_id, wake::Wake};
use crate::error::{ApiResult, AppError};
use crate::ids::{DeviceId, UserId};
use crate::state::AppState;
use crate::storage::{Role, StoreError};
use alcove_crypto::server::{self as mls, ContentKind, SenderInfo, WireFormatKind};
use alcove_crypto::DeviceIdentity;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

pub use crate::delivery::accept::MAX_MLS_MESSAGE;
/// Longest base64 text of an MLS message (`MAX_MLS_MESSAGE` bytes), as the
/// OpenAPI document states it.
const MAX_MLS_BASE64: usize = MAX_MLS_MESSAGE.div_ceil(3) * 4;
/// Below this many unused KeyPackages a device is told to upload more.
pub const LOW_KEY_PACKAGES: i64 = 10;
/// Most KeyPackages in one upload.
pub const MAX_KEY_PACKAGE_BATCH: usize = 100;

/// Bytes sent as standard base64 in JSON.
#[derive(Clone, Debug)]
pub struct Base64(pub Vec<u8>);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        data_encoding::BASE64
            .decode(s.as_bytes())
            .map(Base64)
            .map_err(|_| serde::de::Error::custom("expected standard base64"))
    }
}

/// KeyPackage upload.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadKeyPackages {
    /// `MLSMessage` KeyPackages (base64), at most 100.
    #[schema(value_type = Vec<MlsBase64>, max_items = 100)]
    pub key_packages: Vec<Base64>,
    /// An optional last-resort KeyPackage (base64), replacing the previous one.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte, max_length = 349528)]
    pub last_resort: Option<Base64>,
}

/// An `MLSMessage` in standard base64 (at most 256 KiB decoded); in the
/// OpenAPI document only.
pub struct MlsBase64;

impl utoipa::PartialSchema for MlsBase64 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Byte)))
            .max_length(Some(MAX_MLS_BASE64))
            .description(Some("MLSMessage, standard base64"))
            .into()
    }
}

impl ToSchema for MlsBase64 {}

/// KeyPackage stock of this device.
#[derive(Serialize, ToSchema)]
pub struct KeyPackageStatus {
    /// Unused regular KeyPackages.
    pub available: i64,
    /// True when the device should upload more.
    pub low: bool,
}

fn identity_of(authed: &Authed) -> ApiResult<DeviceIdentity> {
    DeviceIdentity::new(
        authed.practice_id.to_string(),
        authed.user_id.to_string(),
        authed.device_id.to_string(),
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("identity: {}", e.code())))
}

/// Upload KeyPackages of this device.
#[utoipa::path(post, path = "/api/v1/key-packages", request_body = UploadKeyPackages, tag = "delivery",
    responses((status = 200, body = KeyPackageStatus), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "key_mismatch")))]
pub async fn upload_key_packages(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<UploadKeyPackages>,
) -> ApiResult<Json<KeyPackageStatus>> {
    if req.key_packages.len() > MAX_KEY_PACKAGE_BATCH {
        return Err(AppError::invalid(
            "too_many",
            format!("upload at most {MAX_KEY_PACKAGE_BATCH} at once"),
        ));
    }
    let expected = identity_of(&authed)?;
    let now = state.now();
    let mut packages = Vec::new();
    let mut signature_key: Option<Vec<u8>> = None;
    let all = req
        .key_packages
        .iter()
        .map(|k| (k, false))
        .chain(req.last_resort.iter().map(|k| (k, true)));
    for (kp, declared_last_resort) in all {
        check_size(&kp.0)?;
        let valid =
            mls::validate_key_package(&kp.0, &expected, now.max(0) as u64).map_err(|e| {
                AppError::bad_request(
                    "invalid_key_package",
                    format!("KeyPackage refused ({})", e.code()),
                )
            })?;
        if valid.last_resort != declared_last_resort {
            return Err(AppError::bad_request(
                "invalid_key_package",
                "last-resort flag does not match the field",
            ));
        }
        match &signature_key {
            Some(k) if *k != valid.signature_key => {
                return Err(AppError::bad_request(
                    "invalid_key_package",
                    "KeyPackages use different signature keys",
                ))
            }
            _ => signature_key = Some(valid.signature_key.clone()),
        }
        packages.push(NewKeyPackage {
            kp_ref: valid.key_package_ref,
            data: kp.0.clone(),
            last_resort: valid.last_resort,
            not_after: valid.not_after.min(i64::MAX as u64) as i64,
        });
    }
    let Some(signature_key) = signature_key else {
        return Err(AppError::invalid(
            "invalid_field",
            "no KeyPackages in the upload",
        ));
    };
    let event = authed
        .event(Action::KeyPackagesUploaded)
        .detail(serde_json::json!({"count": packages.len()}));
    let available = state
        .store
        .store_key_packages(
            authed.practice_id,
            authed.device_id,
            &signature_key,
            &packages,
            now,
            event,
        )
        .await?;
    Ok(Json(KeyPackageStatus {
        available,
        low: available < LOW_KEY_PACKAGES,
    }))
}

/// This device's KeyPackage stock.
#[utoipa::path(get, path = "/api/v1/key-packages", tag = "delivery", responses((status = 200, body = KeyPackageStatus)))]
pub async fn key_package_status(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<KeyPackageStatus>> {
    let available = state
        .store
        .key_package_count(authed.device_id, state.now())
        .await?;
    Ok(Json(KeyPackageStatus {
        available,
        low: available < LOW_KEY_PACKAGES,
    }))
}

/// An assignment of a client to a clinician or associate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The clinician or associate.
    pub staff_user_id: UserId,
    /// The client.
    pub client_user_id: UserId,
}

/// Assign a client to a clinician or associate (admins only). A client a
/// clinician or associate invited is assigned to them when they redeem
/// the invite; any other assignment is the practice's decision, so a
/// clinician cannot reach another clinician's client by naming its id.
#[utoipa::path(post, path = "/api/v1/assignments", request_body = Assign, tag = "delivery",
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<Assign>,
) -> ApiResult<StatusCode> {
    if authed.role != Role::Admin {
        return Err(AppError::forbidden(
            "only an admin assigns clients (a client you invite is assigned to you)",
        ));
    }
    let staff = state
        .store
        .user(authed.practice_id, req.staff_user_id)
        .await
        .map_err(|_| AppError::not_found("user"))?;
    let client = state
        .store
        .user(authed.practice_id, req.client_user_id)
        .await
        .map_err(|_| AppError::not_found("user"))?;
    if !matches!(staff.role(), Role::Clinician | Role::Associate) || client.role() != Role::Client {
        return Err(AppError::invalid(
            "invalid_assignment",
            "assign a client to a clinician or associate",
        ));
    }
    let event = authed
        .event(Action::AssignmentCreated)
        .target_user(client.id)
        .detail(serde_json::json!({"staff_user_id": staff.id}));
    state
        .store
        .assign(authed.practice_id, staff.id, client.id, state.now(), event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// People I may message.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "delivery", responses((status = 200, body = [Contact])))]
pub async fn contacts(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<Contact>>> {
    Ok(Json(
        state
            .store
            .contacts(authed.practice_id, authed.user_id)
            .await?,
    ))
}

/// Start (or find) the conversation with an assigned person.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartConversation {
    /// The client (for staff) or the clinician (for clients).
    pub with_user_id: UserId,
}

/// What a device needs to run a conversation's MLS group.
#[derive(Serialize, ToSchema)]
pub struct ConversationInfo {
    /// Identifier; its UTF-8 bytes are the MLS group id.
    pub id: String,
    /// The client.
    pub client_user_id: UserId,
    /// The staff member.
    pub staff_user_id: UserId,
    /// Current epoch.
    pub epoch: i64,
    /// Last sequence number.
    pub last_seq: i64,
    /// Member devices.
    pub members: Vec<Member>,
    /// The server's `ExternalSender` (base64) for the group context.
    pub external_sender: String,
    /// Whether the server holds the group's state (the creator uploaded its
    /// first GroupInfo): until then nobody can commit or join.
    pub has_group_info: bool,
}

async fn participant(state: &AppState, authed: &Authed, id: &str) -> ApiResult<Conversation> {
    let conversation = match state.store.conversation(authed.practice_id, id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Err(AppError::not_found("conversation")),
        Err(e) => return Err(e.into()),
    };
    if conversation.client_user_id != authed.user_id && conversation.staff_user_id != authed.user_id
    {
        return Err(AppError::not_found("conversation"));
    }
    Ok(conversation)
}

async fn info(state: &AppState, conversation: Conversation) -> ApiResult<ConversationInfo> {
    let members = state.store.members(&conversation.id).await?;
    let has_group_info = state.store.group_state(&conversation.id).await?.is_some();
    Ok(ConversationInfo {
        has_group_info,
        id: conversation.id,
        client_user_id: conversation.client_user_id,
        staff_user_id: conversation.staff_user_id,
        epoch: conversation.epoch,
        last_seq: conversation.last_seq,
        members,
        external_sender: state.delivery.external_sender_b64.to_string(),
    })
}

/// Start a conversation; the calling device becomes its first member and
/// creates the MLS group locally.
#[utoipa::path(post, path = "/api/v1/conversations", request_body = StartConversation, tag = "delivery",
    responses((status = 201, body = ConversationInfo), (status = 200, body = ConversationInfo, description = "already exists"),
        (status = 403, body = crate::error::ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<StartConversation>,
) -> ApiResult<(StatusCode, Json<ConversationInfo>)> {
    let (client, staff) = match authed.role {
        Role::Client => (authed.user_id, req.with_user_id),
        Role::Clinician | Role::Associate => (req.with_user_id, authed.user_id),
        Role::Admin => {
            return Err(AppError::forbidden(
                "admins do not take part in client conversations",
            ))
        }
    };
    if !state
        .store
        .is_assigned(authed.practice_id, staff, client)
        .await?
    {
        return Err(
            AppError::forbidden("you can only message people assigned to you")
                .with_code("not_assigned"),
        );
    }
    let id = uuid::Uuid::new_v4().to_string();
    let event = authed
        .event(Action::ConversationCreated)
        .target_user(client);
    let (conversation, created) = state
        .store
        .create_conversation(
            authed.practice_id,
            &id,
            client,
            staff,
            (authed.user_id, authed.device_id),
            state.now(),
            event,
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(info(&state, conversation).await?)))
}

/// My conversations, with unread counts for this device.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "delivery", responses((status = 200, body = [ConversationSummary])))]
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<ConversationSummary>>> {
    Ok(Json(
        state
            .store
            .conversations_of(authed.practice_id, authed.user_id, authed.device_id)
            .await?,
    ))
}

/// One conversation.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "conversation id")), responses((status = 200, body = ConversationInfo), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConversationInfo>> {
    let conversation = participant(&state, &authed, &id).await?;
    Ok(Json(info(&state, conversation).await?))
}

/// KeyPackages claimed to add devices.
#[derive(Serialize, ToSchema)]
pub struct Claimed {
    /// One per device to add.
    pub key_packages: Vec<ClaimedKeyPackage>,
    /// Devices that have no KeyPackage available (add them later).
    pub missing: Vec<DeviceId>,
}

/// Claim one KeyPackage for every device of the conversation's people that
/// is not yet in the group. Only a member device may claim.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/key-packages/claim", tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "conversation id")), responses((status = 200, body = Claimed), (status = 403, body = crate::error::ErrorBody)))]
pub async fn claim(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Claimed>> {
    let conversation = participant(&state, &authed, &id).await?;
    require_member(&state, &conversation, authed.device_id).await?;
    let event = authed
        .event(Action::KeyPackagesClaimed)
        .target_user(conversation.client_user_id);
    let (key_packages, missing) = state
        .store
        .claim_key_packages(&conversation, authed.device_id, state.now(), event)
        .await?;
    // Tell a device whose stock ran low (or out) to upload more, at once,
    // over its socket, rather than at its next start.
    let mut low = missing.clone();
    for k in &key_packages {
        if state
            .store
            .key_package_count(k.device_id, state.now())
            .await?
            < LOW_KEY_PACKAGES
        {
            low.push(k.device_id);
        }
    }
    state.delivery.wakeups.wake(&low, Wake::KeyPackagesLow);
    Ok(Json(Claimed {
        key_packages,
        missing,
    }))
}

async fn require_member(
    state: &AppState,
    conversation: &Conversation,
    device: DeviceId,
) -> ApiResult<()> {
    let members = state.store.members(&conversation.id).await?;
    if members.iter().any(|m| m.device_id == device) {
        Ok(())
    } else {
        Err(crate::delivery::error::DeliveryError::NotMember.into())
    }
}

/// A commit to order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostCommit {
    /// The commit (`MLSMessage` PublicMessage, base64): a member's commit,
    /// or an external commit by a device joining by itself.
    #[schema(value_type = String, format = Byte, max_length = 349528)]
    pub commit: Base64,
    /// The Welcome for added devices (base64), addressed to exactly the
    /// KeyPackages the commit adds.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte, max_length = 349528)]
    pub welcome: Option<Base64>,
    /// The GroupInfo of the epoch the commit creates (base64, signed by the
    /// committer, with the ratchet tree and the external public key).
    /// Required (optional in the schema only so that a request with the
    /// removed fields is told so first).
    #[serde(default)]
    #[schema(value_type = String, format = Byte, max_length = 349528)]
    pub group_info: Option<Base64>,
    /// No longer accepted (the server reads who is added from the commit).
    #[serde(default)]
    #[schema(value_type = Option<Object>, deprecated)]
    pub added: Option<serde_json::Value>,
    /// No longer accepted (the server reads who is removed from the commit).
    #[serde(default)]
    #[schema(value_type = Option<Object>, deprecated)]
    pub removed_leaves: Option<serde_json::Value>,
}

/// Order a commit: exactly one per epoch is accepted; a later one gets 409
/// `stale_epoch` with `current_epoch`. The server's public group checks the
/// commit and membership is read from it: see `docs/protocol.md` for who
/// may add and remove whom, and the error codes.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/commits", request_body = PostCommit, tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "conversation id")),
    responses((status = 200, body = Sequenced), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn commit(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PostCommit>,
) -> ApiResult<Json<Sequenced>> {
    if req.added.is_some() {
        return Err(MembershipError::FieldRemoved("added").into());
    }
    if req.removed_leaves.is_some() {
        return Err(MembershipError::FieldRemoved("removed_leaves").into());
    }
    let Some(group_info) = req.group_info else {
        return Err(AppError::invalid(
            "invalid_field",
            "group_info (the GroupInfo of the epoch the commit creates) is required",
        ));
    };
    let conversation = participant(&state, &authed, &id).await?;
    check_size(&req.commit.0)?;
    check_size(&group_info.0)?;
    let framing = mls::inspect_message(&req.commit.0).map_err(mls_error)?;
    if framing.wire_format != WireFormatKind::PublicMessage
        || framing.content != ContentKind::Commit
        || framing.group_id.as_deref() != Some(group_id(&conversation.id))
        || !matches!(
            framing.sender,
            SenderInfo::Member(_) | SenderInfo::NewMemberCommit
        )
    {
        return Err(AppError::bad_request(
            "malformed_mls",
            "expected a public commit for this conversation",
        ));
    }
    if let Some(w) = &req.welcome {
        check_size(&w.0)?;
    }
    let event = authed
        .event(Action::ConversationCommit)
        .target_user(conversation.client_user_id);
    let accepted = membership::accept_commit(
        &state,
        &conversation,
        (authed.user_id, authed.device_id),
        membership::PostedCommit {
            commit: req.commit.0,
            welcome: req.welcome.map(|w| w.0),
            group_info: group_info.0,
        },
        event,
    )
    .await?;
    Ok(Json(Sequenced {
        seq: accepted.seq,
        epoch: accepted.epoch,
        duplicate: false,
    }))
}

/// The first GroupInfo of a conversation's group.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostGroupInfo {
    /// `MLSMessage` GroupInfo (base64) with the ratchet tree, signed by a
    /// member, at the conversation's current epoch.
    #[schema(value_type = String, format = Byte, max_length = 349528)]
    pub group_info: Base64,
}

/// Upload the group's first GroupInfo (the creator, right after creating
/// the group at epoch 0): the server starts its public view of the group
/// from it. Its members must be exactly the conversation's member rows.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/group-info", request_body = PostGroupInfo, tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "conversation id")),
    responses((status = 204), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "group_state_exists")))]
pub async fn post_group_info(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PostGroupInfo>,
) -> ApiResult<StatusCode> {
    let conversation = participant(&state, &authed, &id).await?;
    require_member(&state, &conversation, authed.device_id).await?;
    check_size(&req.group_info.0)?;
    let event = authed
        .event(Action::ConversationGroupStarted)
        .target_user(conversation.client_user_id);
    membership::init_group_state(&state, &conversation, req.group_info.0, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The GroupInfo a new device joins against.
#[derive(Serialize, ToSchema)]
pub struct GroupInfoOut {
    /// Its epoch.
    pub epoch: i64,
    /// `MLSMessage` GroupInfo (base64), with the ratchet tree and the
    /// external public key.
    #[serde(serialize_with = "crate::delivery::store::b64")]
    #[schema(value_type = String, format = Byte)]
    pub group_info: Vec<u8>,
}

/// The current GroupInfo, for a device of one of the conversation's people
/// that joins by external commit (no other member needs to be online).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/group-info", tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "conversation id")),
    responses((status = 200, body = GroupInfoOut), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_group_info(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<GroupInfoOut>> {
    let conversation = participant(&state, &authed, &id).await?;
    let Some(stored) = state.store.group_state(&conversation.id).await? else {
        return Err(AppError::not_found("group info").with_code("group_info_missing"));
    };
    Ok(Json(GroupInfoOut {
        epoch: stored.epoch,
        group_info: stored.group_info,
    }))
}

/// An application message.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// 16 random bytes chosen by the sender (base64); a retry with the same
    /// id is stored once.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9+/]{21}[AQgw]==$")]
    pub client_msg_id: Base64,
    /// The `MLSMessage` PrivateMessage (base64).
    #[schema(value_type = String, format = Byte, max_length = 349528)]
    pub data: Base64,
}

/// Send an application message. The answer means it is durably stored.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", request_body = PostMessage, tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "conversation id")),
    responses((status = 200, body = Sequenced), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "stale_epoch, removal_pending, or conversation_closed (the other person was deactivated: nothing was sent)"),
        (status = 413, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody, description = "unavailable: not stored; retry")))]
pub async fn send(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PostMessage>,
) -> ApiResult<Json<Sequenced>> {
    let conversation = participant(&state, &authed, &id).await?;
    let sequenced = accept_message(
        &state,
        &authed,
        &conversation,
        req.client_msg_id.0,
        req.data.0,
    )
    .await?;
    Ok(Json(sequenced))
}

/// Catch-up paging.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct After {
    /// Return entries after this sequence number.
    #[serde(default)]
    pub after: i64,
    /// At most this many (1..=500, default 100); out of range is 422.
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A page of the log.
#[derive(Serialize, ToSchema)]
pub struct LogPage {
    /// Entries in order.
    pub entries: Vec<LogEntry>,
}

/// Fetch the log after a sequence number (for devices that cannot hold a
/// socket); what is returned is recorded in the audit log as delivered to
/// this device. Acknowledge with `/ack`.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "delivery",
    params(("id" = String, Path), After), responses((status = 200, body = LogPage), (status = 403, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody, description = "unavailable: the access could not be recorded, nothing returned; retry")))]
pub async fn fetch(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<After>,
) -> ApiResult<Json<LogPage>> {
    let conversation = participant(&state, &authed, &id).await?;
    require_member(&state, &conversation, authed.device_id).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("invalid_field", "limit must be 1 to 500"));
    }
    let entries = state
        .store
        .fetch_log(&conversation.id, authed.device_id, q.after.max(0), limit)
        .await?;
    // The access record is durable before the entries leave: a client that
    // reads and never acknowledges leaves the same trace as one that does.
    if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
        state
            .delivery
            .deliveries
            .submit(Delivery {
                conversation,
                device: authed.device_id,
                from_seq: first.seq,
                to_seq: last.seq,
                via: "http",
                event: authed.event(Action::MessageDelivered),
            })
            .await?;
    }
    Ok(Json(LogPage { entries }))
}

/// Acknowledgement of processed entries.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ack {
    /// Everything up to this sequence number is processed.
    pub seq: i64,
}

/// The cursor after an acknowledgement.
#[derive(Serialize, ToSchema)]
pub struct Acked {
    /// Acknowledged sequence number.
    pub acked_seq: i64,
}

/// Acknowledge processed entries: moves this device's cursor (where its
/// socket resumes). The access itself was recorded when the entries were
/// handed over.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/ack", request_body = Ack, tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "conversation id")), responses((status = 200, body = Acked),
        (status = 503, body = crate::error::ErrorBody, description = "unavailable: not recorded; retry")))]
pub async fn ack(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<Ack>,
) -> ApiResult<Json<Acked>> {
    let conversation = participant(&state, &authed, &id).await?;
    let acked_seq = state
        .delivery
        .acks
        .submit((conversation, authed.device_id, req.seq))
        .await?;
    Ok(Json(Acked { acked_seq }))
}

/// Welcomes waiting for this device.
#[utoipa::path(get, path = "/api/v1/welcomes", tag = "delivery", responses((status = 200, body = [PendingWelcome])))]
pub async fn welcomes(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<PendingWelcome>>> {
    Ok(Json(state.store.pending_welcomes(authed.device_id).await?))
}

/// Acknowledge a Welcome once joined.
#[utoipa::path(post, path = "/api/v1/welcomes/{id}/ack", tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "welcome id")), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn ack_welcome(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    match state
        .store
        .ack_welcome(authed.device_id, &id, state.now())
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(AppError::not_found("welcome")),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn documented_base64_limit_is_the_mls_limit() {
        // The `max_length = 349528` attributes above spell this out.
        assert_eq!(super::MAX_MLS_BASE64, 349_528);
        assert_eq!(
            data_encoding::BASE64.encode_len(super::MAX_MLS_MESSAGE),
            349_528
        );
    }
}

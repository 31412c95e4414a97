//! Commits (exactly one per epoch) and the group's GroupInfo.

use super::*;

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

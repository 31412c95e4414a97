//! Conversations: the people I may message, starting one, listing mine,
//! reading one.

use super::*;
use crate::policy::Scope;

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
    // Which side of the care relation the caller is on. Admins see the
    // practice but do not converse (the route needs `Converse`, which they
    // lack); refused here too rather than placed on either side.
    let (client, staff) = match crate::policy::scope(authed.role) {
        Scope::Own => (authed.user_id, req.with_user_id),
        Scope::OwnClients => (req.with_user_id, authed.user_id),
        Scope::Practice => {
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

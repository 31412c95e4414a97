//! Application messages: send, catch up over HTTP, acknowledge.

use super::*;

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

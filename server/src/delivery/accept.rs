//! Accepting an application message into a conversation: the checks and
//! the durable append shared by `POST …/messages` and the socket's `send`
//! frame, so both answer exactly alike. (Commits go through `membership`.)

use super::group_id;
use crate::audit::Action;
use crate::auth::session::Authed;
use crate::delivery::store::{Conversation, NewMessage};
use crate::error::{ApiResult, AppError};
use crate::state::AppState;
use alcove_crypto::server::{self as mls, ContentKind, WireFormatKind};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// Largest MLS message accepted (after base64 decoding).
pub const MAX_MLS_MESSAGE: usize = 256 * 1024;

/// Where a log entry landed.
#[derive(Serialize, ToSchema)]
pub struct Sequenced {
    /// Sequence number in the conversation.
    pub seq: i64,
    /// Epoch after this entry.
    pub epoch: i64,
    /// True when this retry was already stored.
    pub duplicate: bool,
}

/// A refusal of bytes that are not an acceptable MLS message.
pub fn mls_error(e: alcove_crypto::Error) -> AppError {
    AppError::bad_request(
        "malformed_mls",
        format!("not an acceptable MLS message ({})", e.code()),
    )
}

/// Refuses MLS messages above `MAX_MLS_MESSAGE` (413 `too_large`).
pub fn check_size(bytes: &[u8]) -> ApiResult<()> {
    if bytes.len() > MAX_MLS_MESSAGE {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "MLS message too large",
        ));
    }
    Ok(())
}

/// Checks and durably appends one application message from `authed`'s
/// device to a conversation its user takes part in (the batcher then
/// wakes the members' sockets). Shared by `POST …/messages` and the socket's `send`
/// frame, so both answer exactly alike.
pub async fn accept_message(
    state: &AppState,
    authed: &Authed,
    conversation: &Conversation,
    client_msg_id: Vec<u8>,
    data: Vec<u8>,
) -> ApiResult<Sequenced> {
    if client_msg_id.len() != 16 {
        return Err(AppError::invalid(
            "invalid_field",
            "client_msg_id must be 16 bytes",
        ));
    }
    check_size(&data)?;
    let framing = mls::inspect_message(&data).map_err(mls_error)?;
    let Some(epoch) = framing.epoch else {
        return Err(AppError::bad_request(
            "malformed_mls",
            "expected an application message",
        ));
    };
    if framing.wire_format != WireFormatKind::PrivateMessage
        || framing.content != ContentKind::Application
        || framing.group_id.as_deref() != Some(group_id(&conversation.id))
    {
        return Err(AppError::bad_request(
            "malformed_mls",
            "expected an application message for this conversation",
        ));
    }
    let message = NewMessage {
        conversation_id: conversation.id.clone(),
        sender_device: authed.device_id,
        epoch: epoch.min(i64::MAX as u64) as i64,
        client_msg_id,
        data,
    };
    let mut event = authed
        .event(Action::MessageAccepted)
        .target_user(conversation.client_user_id);
    event.target_conversation = Some(conversation.id.clone());
    let epoch = message.epoch;
    // The batcher carries the entry to the members' sockets once durable.
    let appended = state.delivery.messages.submit((message, event)).await?;
    Ok(Sequenced {
        seq: appended.seq,
        epoch,
        duplicate: appended.duplicate,
    })
}

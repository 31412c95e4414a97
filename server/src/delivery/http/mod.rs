//! The delivery slice's HTTP handlers, one file per resource: KeyPackages,
//! assignments, conversations (and contacts), commits and GroupInfo,
//! messages (send, catch-up, acknowledge) and Welcomes. They parse at the
//! edge and call `accept`, `membership` and the store; real-time delivery of
//! the same log is `delivery::ws`. What several of them share is here.

pub mod assignments;
pub mod commits;
pub mod conversations;
pub mod key_packages;
pub mod messages;
pub mod welcomes;

// The handler files take these, and the helpers below, through
// `use super::*`: one list for the resource files of one slice.
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

fn identity_of(authed: &Authed) -> ApiResult<DeviceIdentity> {
    DeviceIdentity::new(
        authed.practice_id.to_string(),
        authed.user_id.to_string(),
        authed.device_id.to_string(),
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("identity: {}", e.code())))
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

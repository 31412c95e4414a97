//! What a signed-in person does with their history archive: store the
//! sealed history of a conversation, list, fetch, and turn it all off.

use super::error::ArchiveError;
use super::rules;
use super::store::{ArchiveSummary, KeyCheck};
use crate::audit::Action;
use crate::auth::session::Authed;
use crate::clock::UnixTime;
use crate::state::AppState;
use data_encoding::BASE64;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A sealed archive, as a device sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreRequest {
    /// The sealed archive (base64): `crypto/src/archive.rs`'s format.
    pub archive: String,
    /// The public id of the key it is sealed under (`HistoryKey::key_id`):
    /// it must be the person's current one.
    pub key_id: String,
}

/// Turning the backup on: the new history key's public id.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnOnRequest {
    /// `HistoryKey::key_id` of the key the person was shown.
    pub key_id: String,
}

/// A stored archive.
#[derive(Debug, Serialize, ToSchema)]
pub struct Archive {
    /// The sealed archive (base64).
    pub archive: String,
    /// When it was stored.
    pub updated_at: UnixTime,
}

/// One of the caller's archives, without its content.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArchiveEntry {
    /// The conversation.
    pub conversation_id: String,
    /// Bytes.
    pub size: i64,
    /// When it was stored.
    pub updated_at: UnixTime,
}

/// The caller's archives.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArchiveList {
    /// The public id of their current history key; none: the backup is off.
    pub key_id: Option<String>,
    /// One per conversation.
    pub archives: Vec<ArchiveEntry>,
}

/// A conversation id as the path gives it: anything but a UUID names no
/// conversation (404, like another person's).
fn conversation_id(id: &str) -> Result<String, ArchiveError> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| ArchiveError::NotFound)
}

/// Stores the caller's archive of conversation `id` (replacing theirs).
pub async fn store(
    state: &AppState,
    authed: &Authed,
    id: &str,
    req: StoreRequest,
) -> Result<(), ArchiveError> {
    let conversation = conversation_id(id)?;
    let key_id = rules::key_id(&req.key_id)?;
    let archive = rules::parse(&req.archive)?;
    let mut created = authed.event(Action::HistoryArchiveCreated);
    created.target_conversation = Some(conversation.clone());
    match state
        .store
        .put_archive(
            authed.practice_id,
            authed.user_id,
            &conversation,
            &key_id,
            &archive,
            created,
            state.now(),
        )
        .await?
    {
        KeyCheck::Done => Ok(()),
        KeyCheck::Mismatch => Err(ArchiveError::KeyChanged),
    }
}

/// Turns the caller's backup on under `key_id` (the same key again: done).
pub async fn turn_on(
    state: &AppState,
    authed: &Authed,
    req: TurnOnRequest,
) -> Result<(), ArchiveError> {
    let key_id = rules::key_id(&req.key_id)?;
    let event = authed.event(Action::HistoryArchiveEnabled);
    match state
        .store
        .set_archive_key(authed.user_id, &key_id, event, state.now())
        .await?
    {
        KeyCheck::Done => Ok(()),
        KeyCheck::Mismatch => Err(ArchiveError::Exists),
    }
}

/// The caller's archive of conversation `id`; the read is audited.
pub async fn fetch(state: &AppState, authed: &Authed, id: &str) -> Result<Archive, ArchiveError> {
    let conversation = conversation_id(id)?;
    let mut fetched = authed.event(Action::HistoryArchiveFetched);
    fetched.target_conversation = Some(conversation.clone());
    let (archive, updated_at) = state
        .store
        .fetch_archive(authed.user_id, &conversation, fetched, state.now())
        .await?;
    Ok(Archive {
        archive: BASE64.encode(&archive),
        updated_at,
    })
}

/// The caller's archives, without content.
pub async fn list(state: &AppState, authed: &Authed) -> Result<ArchiveList, ArchiveError> {
    let archives = state.store.list_archives(authed.user_id).await?;
    let key_id = state.store.archive_key(authed.user_id).await?;
    Ok(ArchiveList {
        key_id,
        archives: archives
            .into_iter()
            .map(|a: ArchiveSummary| ArchiveEntry {
                conversation_id: a.conversation_id,
                size: a.size,
                updated_at: a.updated_at,
            })
            .collect(),
    })
}

/// Deletes every archive of the caller (turning the archive off).
pub async fn delete_all(state: &AppState, authed: &Authed) -> Result<u64, ArchiveError> {
    let event = authed.event(Action::HistoryArchiveDeleted);
    Ok(state
        .store
        .delete_archives(authed.user_id, event, state.now())
        .await?)
}

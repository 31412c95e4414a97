//! What the archive slice keeps: one sealed blob per person and
//! conversation.

use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{PracticeId, UserId};
use crate::storage::error::StoreResult;
use async_trait::async_trait;

/// One stored archive, without its content.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArchiveSummary {
    /// The conversation it is the history of.
    pub conversation_id: String,
    /// Its size in bytes.
    pub size: i64,
    /// When it was last replaced.
    pub updated_at: UnixTime,
}

/// What `put_archive` and `set_archive_key` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// Done.
    Done,
    /// The person's current key is another one, or there is none.
    Mismatch,
}

/// History archives.
#[async_trait]
pub trait ArchiveStore {
    /// Makes `key_id` the person's current history key (turning the backup
    /// on). The same key again: nothing changes. Another key while one is
    /// set: `Mismatch` (the old backup must be deleted first).
    async fn set_archive_key(
        &self,
        user: UserId,
        key_id: &str,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<KeyCheck>;

    /// The person's current key id, if the backup is on.
    async fn archive_key(&self, user: UserId) -> StoreResult<Option<String>>;

    /// Stores (replaces) `user`'s archive of `conversation`. `NotFound`:
    /// the user is not one of the conversation's two people in `practice`.
    /// `created` is appended only when there was none before. `Mismatch`:
    /// `key_id` is not the person's current key (nothing is written).
    #[allow(clippy::too_many_arguments)] // one row's fields, the event and the time
    async fn put_archive(
        &self,
        practice: PracticeId,
        user: UserId,
        conversation: &str,
        key_id: &str,
        archive: &[u8],
        created: audit::Event,
        now: UnixTime,
    ) -> StoreResult<KeyCheck>;

    /// `user`'s archive of `conversation` and when it was stored, with the
    /// read's audit event in the same transaction. `NotFound`: none.
    async fn fetch_archive(
        &self,
        user: UserId,
        conversation: &str,
        fetched: audit::Event,
        now: UnixTime,
    ) -> StoreResult<(Vec<u8>, UnixTime)>;

    /// `user`'s archives, without their content.
    async fn list_archives(&self, user: UserId) -> StoreResult<Vec<ArchiveSummary>>;

    /// Deletes every archive of `user` and their current key (the event is
    /// appended when there was either); how many archives.
    async fn delete_archives(
        &self,
        user: UserId,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<u64>;
}

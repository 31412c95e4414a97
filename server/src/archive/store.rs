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

/// History archives.
#[async_trait]
pub trait ArchiveStore {
    /// Stores (replaces) `user`'s archive of `conversation`. `NotFound`:
    /// the user is not one of the conversation's two people in `practice`.
    /// `created` is appended only when there was none before (true then).
    async fn put_archive(
        &self,
        practice: PracticeId,
        user: UserId,
        conversation: &str,
        archive: &[u8],
        created: audit::Event,
        now: UnixTime,
    ) -> StoreResult<bool>;

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

    /// Deletes every archive of `user` (the event is appended when there
    /// was one); how many.
    async fn delete_archives(
        &self,
        user: UserId,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<u64>;
}

//! Storage of the practice's own settings.

use crate::audit;
use crate::clock::UnixTime;
use crate::ids::PracticeId;
use crate::storage::error::StoreResult;
use async_trait::async_trait;

/// The practice's writes, each in one transaction with its audit event.
#[async_trait]
pub trait PracticeStore {
    /// Sets the practice's display name.
    async fn rename_practice(
        &self,
        practice: PracticeId,
        name: &str,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;
}

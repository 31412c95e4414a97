//! Storage of what the practice records about a person.

use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{PracticeId, UserId};
use crate::storage::error::StoreResult;
use async_trait::async_trait;

/// What the practice records about its people, each change in one
/// transaction with its audit event.
#[async_trait]
pub trait PeopleStore {
    /// Records (or clears) a person's state of residence; `NotFound` when
    /// the person is not of this practice.
    async fn set_residence(
        &self,
        practice: PracticeId,
        user: UserId,
        state: Option<&'static str>,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;

    /// The recorded states of residence of these people (of this
    /// practice), by id; a person with none recorded is absent.
    async fn residences(
        &self,
        practice: PracticeId,
        users: &[String],
    ) -> StoreResult<Vec<(String, String)>>;
}

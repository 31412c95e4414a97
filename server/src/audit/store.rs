//! What the audit log needs from storage: the [`AuditStore`] trait and its
//! rows. The trait is the audit capability's; `storage/audit_store.rs`
//! implements it for both backends, so that storage depends on audit and
//! never the other way round.
//!
//! Invariant every implementation keeps: no method updates or deletes an
//! audit entry (the one-off backfill only fills a NULL leaf hash with the
//! hash of the row's own content).

use super::canonical::{Entry, Hash};
use super::signing::SignedTreeHead;
use crate::storage::error::StoreResult;
use async_trait::async_trait;

/// Entries per block of `audit_subjects` (migration 0005 computes
/// `seq / 1024` and must agree).
pub const SUBJECT_BLOCK: i64 = 1024;
/// An entry and the leaf hash stored with it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredEntry {
    /// The hashed fields.
    #[sqlx(flatten)]
    pub entry: Entry,
    /// Leaf hash written by `append_event` (NULL before migration 0003).
    pub leaf_hash: Option<Vec<u8>>,
}

impl StoredEntry {
    /// The stored leaf hash, when present and well-formed.
    pub fn stored_leaf(&self) -> Option<Hash> {
        self.leaf_hash
            .as_deref()
            .and_then(crate::audit::canonical::as_hash)
    }
}

/// Filters of the admin query and export. All optional; combined with AND.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Acting user.
    pub user: Option<String>,
    /// Acting or target device.
    pub device: Option<String>,
    /// Target user (the client whose records were touched).
    pub client: Option<String>,
    /// Exact action name.
    pub action: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Entries at or after this time.
    pub from: Option<i64>,
    /// Entries before this time.
    pub to: Option<i64>,
    /// Only seq < this (newest-first paging).
    pub before_seq: Option<i64>,
    /// Only seq > this (oldest-first paging).
    pub after_seq: Option<i64>,
}

/// Read access to the audit log, and signed-head bookkeeping.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Practices that have audit entries.
    async fn audit_practices(&self) -> StoreResult<Vec<String>>;

    /// The practice's sequence counter (`audit_heads.seq`; 0 when none).
    async fn audit_counter(&self, practice: &str) -> StoreResult<i64>;

    /// Entries with seq > `after_seq`, ascending, at most `limit`.
    async fn audit_rows(
        &self,
        practice: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEntry>>;

    /// `(seq, leaf_hash)` of every entry with seq <= `upto`, ascending.
    async fn audit_leaves(
        &self,
        practice: &str,
        upto: i64,
    ) -> StoreResult<Vec<(i64, Option<Vec<u8>>)>>;

    /// Filtered entries: newest first, or oldest first with `ascending`.
    async fn audit_query(
        &self,
        practice: &str,
        filter: &AuditFilter,
        ascending: bool,
        limit: i64,
    ) -> StoreResult<Vec<StoredEntry>>;

    /// Records a signed head (idempotent per tree size).
    async fn store_signed_head(&self, head: &SignedTreeHead) -> StoreResult<()>;

    /// Signed heads issued for the practice, by tree size.
    async fn signed_heads(&self, practice: &str) -> StoreResult<Vec<SignedTreeHead>>;

    /// Fills NULL leaf hashes (rows from before migration 0003) from the
    /// rows' own content; returns how many.
    async fn backfill_leaf_hashes(&self) -> StoreResult<u64>;

    /// Closes the pool.
    async fn close(&self);
}

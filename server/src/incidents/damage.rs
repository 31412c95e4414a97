//! A damaged audit log, recorded where the practice sees it: when the
//! publisher finds a practice's log failing its check before signing (a gap,
//! a wrong leaf hash, no longer the tree of its last signed head), it
//! appends `audit.verification_failed` to that practice's log. The detector
//! (`jobs::watch`) turns that event into an audit-tampering incident, and
//! the incident's webhook tells the practice's own systems.
//!
//! At most one event a day per practice while the damage stays (the
//! publisher checks every few minutes): the incident is de-duplicated to one
//! open per cause anyway, and a log that is being tampered with should not
//! also be flooded.

use crate::audit::service::DamageReport;
use crate::audit::{Action, Event, RequestMeta};
use crate::ids::PracticeId;
use crate::storage::Store;
use async_trait::async_trait;
use std::sync::Arc;

/// How often the event is written again while the log stays damaged.
const AGAIN_AFTER_SECS: i64 = 86_400;

/// Records damage as `audit.verification_failed`.
pub struct RecordDamage {
    store: Arc<dyn Store>,
}

impl RecordDamage {
    /// Over the main store.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl DamageReport for RecordDamage {
    async fn damaged(&self, practice: &str, check: &'static str, now: i64) {
        let Ok(practice) = practice.parse::<PracticeId>() else {
            return;
        };
        let event = Event::new(
            practice,
            Action::AuditVerificationFailed,
            &RequestMeta::default(),
        )
        .detail(serde_json::json!({ "check": check }));
        if let Err(e) = self
            .store
            .append_audit_once(&event, now - AGAIN_AFTER_SECS, now)
            .await
        {
            tracing::error!(error = %e, "audit: the damage could not be recorded");
        }
    }
}

//! Approaching deadlines: for every incident that may still owe notices,
//! announces each threshold of days left (30, 14, 7, 3, 1, and once when
//! passed) as an `incident.deadline_approaching` audit event — which the
//! watcher turns into webhook deliveries like any other — recorded with
//! the threshold in one transaction, so each is announced once, by one
//! node. The incidents page shows the days left at every visit.

use crate::audit;
use crate::audit::Action;
use crate::incidents::rules::deadlines;
use crate::incidents::service::event_detail;
use crate::jobs::{Job, Round};
use crate::state::AppState;
use async_trait::async_trait;

/// Incidents looked at per round.
const PER_ROUND: i64 = 500;

/// The deadlines job.
pub struct Deadlines {
    state: AppState,
}

impl Deadlines {
    /// The job over the server's state.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[async_trait]
impl Job for Deadlines {
    fn name(&self) -> &'static str {
        "incidents.deadlines"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        let store = &self.state.store;
        let now = self.state.clock.now();
        let today = deadlines::day_of(now);
        for (row, last) in store.notice_candidates(PER_ROUND).await? {
            let d = deadlines::of(
                row.discovered_at,
                row.affected_count,
                row.max_state_residents,
                row.delayed_until,
            );
            let days_left = deadlines::days_left(today, d.individuals);
            let Some(threshold) = deadlines::notice_due(days_left, last) else {
                continue;
            };
            let event = audit::Event::new(
                row.practice_id,
                Action::IncidentDeadlineApproaching,
                &audit::RequestMeta::default(),
            )
            .detail({
                let mut detail = event_detail(&row);
                detail["deadline"] = serde_json::json!(d.individuals.to_string());
                detail["days_left"] = serde_json::json!(days_left);
                detail
            });
            store
                .record_deadline_notice(row.id, last, threshold, event, now)
                .await?;
        }
        Ok(Round::Idle)
    }
}

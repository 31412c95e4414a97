//! The watcher: reads each practice's audit log from its cursor, lets the
//! detectors open incidents (`rules::detect`) and queues webhook
//! deliveries for the events the practice's endpoints subscribe to
//! (`rules::webhook`), and records all of it with the cursor in one
//! transaction.
//!
//! The audit log is the outbox: every cause (a revocation, a lockout, an
//! incident's change) writes its audit event in its own transaction, so
//! what the watcher reads is exactly what committed, in commit order (a
//! practice's sequence numbers are taken under its head row's lock). A
//! crash before the watcher's commit reads the same events again; its
//! openings are de-duplicated by cause and its deliveries were not
//! written. With several nodes, one holds a practice's lease at a time.

use crate::audit;
use crate::audit::Action;
use crate::ids::{DeviceId, IncidentId, PracticeId, UserId};
use crate::incidents::rules::detect::{self, Seen};
use crate::incidents::rules::webhook::{self, Facts};
use crate::incidents::store::{Announcement, NewIncident, Subject, WatchRound, WatchedEvent};
use crate::jobs::{Job, Round};
use crate::state::AppState;
use async_trait::async_trait;

/// Log entries a round covers per practice. Only the ones the detectors
/// and webhooks read are fetched (most entries are messages delivered), so
/// a wide span costs an index range, and one cursor write covers it.
const SPAN_PER_ROUND: i64 = 5000;
/// Practices per round.
const PRACTICES_PER_ROUND: i64 = 20;
/// A claim's lease (seconds).
const LEASE_SECS: i64 = 60;

/// The watcher job.
pub struct Watch {
    state: AppState,
    /// The actions read: those a detector opens on, those counted, and
    /// those announced to webhooks.
    watched: Vec<&'static str>,
}

impl Watch {
    /// The job over the server's state.
    pub fn new(state: AppState) -> Self {
        let mut watched: Vec<&'static str> = Action::ALL
            .iter()
            .filter(|a| {
                detect::OPENS_ON.contains(a) || webhook::event_type_of(a.as_str()).is_some()
            })
            .map(|a| a.as_str())
            .collect();
        let mut this = Self {
            state,
            watched: Vec::new(),
        };
        for c in this.counted() {
            watched.extend(c.actions.iter().map(|a| a.as_str()));
        }
        watched.sort_unstable();
        watched.dedup();
        this.watched = watched;
        this
    }
}

#[async_trait]
impl Job for Watch {
    fn name(&self) -> &'static str {
        "incidents.watch"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        let store = &self.state.store;
        let now = self.state.clock.now();
        let claimed = store
            .claim_watch(now, now + LEASE_SECS, PRACTICES_PER_ROUND)
            .await?;
        if claimed.is_empty() {
            return Ok(Round::Idle);
        }
        let mut more = claimed.len() as i64 >= PRACTICES_PER_ROUND;
        for (practice, after) in claimed {
            let (events, upto, behind) = store
                .watched_events(practice, after, SPAN_PER_ROUND, &self.watched)
                .await?;
            more |= behind;
            let mut round = self.read(practice, upto, &events);
            self.count(practice, &events, &mut round).await?;
            store.finish_watch(&round, self.state.clock.now()).await?;
        }
        Ok(if more { Round::More } else { Round::Idle })
    }
}

/// A detector that counts one account's events of some actions over a
/// window of the log (rather than reading one event).
struct Counted {
    /// The actions counted.
    actions: &'static [Action],
    /// The window, ending at the account's last such event in the round (s).
    window_secs: i64,
    /// The count that opens an incident (0: off).
    threshold: i64,
    /// The opening at a count.
    open: fn(&str, i64, i64) -> Option<detect::Opening>,
}

impl Watch {
    /// The counted detectors, with the practice's settings.
    fn counted(&self) -> [Counted; 2] {
        let s = &self.state.settings.incidents;
        [
            // Refused requests and requests for ids that are not the
            // caller's: someone trying what their role may not, or walking
            // ids.
            Counted {
                actions: &[Action::AccessRefused, Action::AccessNotFound],
                window_secs: s.probe_window_secs,
                threshold: s.probe_refusals,
                open: detect::probing,
            },
            // Exports and access reviews: the record taken out in bulk.
            Counted {
                actions: &[
                    Action::AuditExported,
                    Action::IncidentReportExported,
                    Action::AccessReviewViewed,
                ],
                window_secs: s.bulk_read_window_secs,
                threshold: s.bulk_reads,
                open: detect::bulk_reads,
            },
        ]
    }

    /// Each account with a counted event in this round is counted over the
    /// window ending at its last such event here (the log, not this round,
    /// is the record: a run split over rounds still counts whole).
    async fn count(
        &self,
        practice: PracticeId,
        events: &[WatchedEvent],
        round: &mut WatchRound,
    ) -> anyhow::Result<()> {
        for c in self.counted() {
            if c.threshold <= 0 {
                continue;
            }
            let names: Vec<&'static str> = c.actions.iter().map(|a| a.as_str()).collect();
            let mut last: std::collections::BTreeMap<&str, &WatchedEvent> = Default::default();
            for e in events.iter().filter(|e| names.contains(&e.action.as_str())) {
                if let Some(actor) = e.actor_user_id.as_deref() {
                    last.insert(actor, e);
                }
            }
            for (actor, e) in last {
                let n = self
                    .state
                    .store
                    .actions_by(practice, actor, &names, e.at - c.window_secs, e.seq)
                    .await?;
                if let Some(o) = (c.open)(actor, n, c.threshold) {
                    round.openings.push(opening(practice, e, o));
                }
            }
        }
        Ok(())
    }

    /// What one round's events open and announce; the cursor moves to
    /// `upto`, the end of the span read.
    fn read(&self, practice: PracticeId, upto: i64, events: &[WatchedEvent]) -> WatchRound {
        let mut round = WatchRound {
            practice_id: practice,
            seq: upto,
            openings: Vec::new(),
            announcements: Vec::new(),
        };
        for e in events {
            let seen = Seen {
                action: &e.action,
                target_user: e.target_user_id.as_deref(),
                target_device: e.target_device_id.as_deref(),
            };
            if let Some(o) = detect::detect(&seen) {
                round.openings.push(opening(practice, e, o));
            }
            if let Some(event_type) = webhook::event_type_of(&e.action) {
                let facts = self.facts(e);
                let at = chrono::DateTime::<chrono::Utc>::from_timestamp(e.at, 0)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                round.announcements.push(Announcement {
                    event_type,
                    payload: webhook::payload(event_type, &at, &facts).to_string(),
                });
            }
        }
        round
    }

    /// What a webhook may say of an audit event: the ids and codes of its
    /// columns and of an incident event's detail (written by
    /// `service::event_detail`: ids, codes, counts), nothing else.
    fn facts(&self, e: &WatchedEvent) -> Facts {
        let detail: serde_json::Value = e
            .detail
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default();
        let text = |k: &str| detail.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let incident_id = text("incident_id");
        Facts {
            link: incident_id
                .as_ref()
                .map(|id| format!("{}/incidents#{id}", self.state.settings.public_url())),
            incident_id,
            kind: text("kind"),
            status: text("status"),
            decision: text("decision"),
            affected_count: detail.get("affected_count").and_then(|v| v.as_i64()),
            deadlines: match (
                text("deadline"),
                detail.get("days_left").and_then(|v| v.as_i64()),
            ) {
                (Some(individuals), Some(days_left)) => {
                    Some(serde_json::json!({"individuals": individuals, "days_left": days_left}))
                }
                _ => None,
            },
            device_id: e.target_device_id.clone(),
            user_id: e.target_user_id.clone(),
        }
    }
}

fn opening(
    practice: PracticeId,
    e: &WatchedEvent,
    o: detect::Opening,
) -> (NewIncident, audit::Event) {
    let id = IncidentId::new();
    let user: Option<UserId> = o.user.as_deref().and_then(|u| u.parse().ok());
    let device: Option<DeviceId> = o.device.as_deref().and_then(|d| d.parse().ok());
    let subjects = if user.is_some() || device.is_some() {
        vec![Subject {
            user_id: user,
            device_id: device,
        }]
    } else {
        Vec::new()
    };
    let mut event = audit::Event::new(
        practice,
        Action::IncidentOpened,
        &audit::RequestMeta::default(),
    )
    .detail(serde_json::json!({
        "incident_id": id,
        "kind": o.kind.code(),
        "status": "open",
        "decision": null,
        "affected_count": 0,
        "detected_from": e.seq,
    }));
    if let Some(u) = user {
        event = event.target_user(u);
    }
    if let Some(d) = device {
        event = event.target_device(d);
    }
    (
        NewIncident {
            id,
            practice_id: practice,
            kind: o.kind.code(),
            discovered_at: e.at,
            reported_by: None,
            cause: Some(o.cause),
            subjects,
            entry: o.entry.to_owned(),
            note: None,
        },
        event,
    )
}

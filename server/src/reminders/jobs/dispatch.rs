//! The dispatcher: claims due reminders under a lease, decides each over
//! the facts as they are now (`rules::dispatch`), renders and lints it
//! (`rules::check` — on every send, not only on save), sends it and records
//! the outcome with its audit event.
//!
//! What survives a `kill -9`, at each point:
//! - before the claim commits: nothing happened; the rows are claimed on
//!   restart;
//! - after the claim, before a send: the lease runs out (`lease_secs`) and
//!   the reminder is claimed again — lost none;
//! - after the provider accepted it, before the outcome is recorded: it is
//!   claimed again and sent again. SMTP and the SMS API have no idempotency
//!   key, so these are the only duplicates — at most one round, since a
//!   round's outcomes are committed together (one fsync per round); an
//!   email duplicate carries the same `Message-ID`;
//! - after the outcome is recorded: done.
//!
//! A reminder found more than `grace_secs` late (the server was down) is
//! dropped and recorded, not sent.

use super::outbox::{self, Contacts, Letter, Outbox, Practices};
use crate::audit;
use crate::audit::Action;
use crate::ids::{PracticeId, UserId};
use crate::jobs::{Job, Round};
use crate::reminders::channels::SendError;
use crate::reminders::rules::dispatch::{self, Channel, Decision, Facts};
use crate::reminders::rules::plan;
use crate::reminders::rules::schedule;
use crate::reminders::rules::template::Kind;
use crate::reminders::store::{DueReminder, Finish, PreferencesRow};
use crate::state::AppState;
use async_trait::async_trait;
use chrono::TimeZone;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;

/// Sends at once, per node.
const CONCURRENT_SENDS: usize = 32;

/// What this job sends.
const KIND: Kind = Kind::Reminder;

/// The dispatcher job.
pub struct Dispatch {
    state: AppState,
    outbox: Outbox,
}

impl Dispatch {
    /// Builds the channels the settings configure.
    pub fn new(state: AppState) -> anyhow::Result<Self> {
        let outbox = Outbox::new(&state)?;
        Ok(Self { state, outbox })
    }
}

#[async_trait]
impl Job for Dispatch {
    fn name(&self) -> &'static str {
        "reminders.dispatch"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        let s = &self.state.settings.reminders;
        let now = self.state.clock.now();
        let claimed = self
            .state
            .store
            .claim_due_reminders(now, now + s.lease_secs.max(1), s.batch_size.max(1))
            .await?;
        let Some(first) = claimed.first() else {
            return Ok(Round::Idle);
        };
        // The clients' preferences, read by the round's claim token after
        // the claim: what each client allows as of this round.
        let prefs: HashMap<(PracticeId, UserId), PreferencesRow> = self
            .state
            .store
            .claimed_preferences(&first.claim)
            .await?
            .into_iter()
            .map(|p| ((p.practice_id, p.client_id), p))
            .collect();
        let prefs = Arc::new(prefs);
        let full = claimed.len() as i64 >= s.batch_size.max(1);
        let practices: Vec<_> = claimed.iter().map(|r| r.practice_id).collect();
        let practices = Arc::new(Practices::read(&self.state, KIND, practices).await?);
        let results: Vec<anyhow::Result<(Finish, audit::Event)>> =
            futures_util::stream::iter(claimed)
                .map(|r| {
                    let practices = practices.clone();
                    let prefs = prefs.clone();
                    async move {
                        let p = prefs.get(&(r.practice_id, r.client_id));
                        self.one(r, &practices, p).await
                    }
                })
                .buffer_unordered(CONCURRENT_SENDS)
                .collect()
                .await;
        // A storage failure fails the round (retried); the leases make the
        // unrecorded ones come back.
        let finished: Vec<(Finish, audit::Event)> =
            results.into_iter().collect::<anyhow::Result<_>>()?;
        // One commit for the round's outcomes: what a crash before it loses
        // is the record of at most one batch, sent again after the leases
        // run out (docs/reminders.md).
        self.state
            .store
            .finish_reminders(&finished, self.state.clock.now())
            .await?;
        self.announce(&finished).await;
        Ok(if full { Round::More } else { Round::Idle })
    }
}

impl Dispatch {
    /// Tells the staff whose reminders page lists this round's reminders
    /// that their outcomes changed, after the commit, so the page shows
    /// "sent" or "withheld: why" as it happens. Best effort: the outcomes
    /// are durable whatever happens here, and the page reads them when
    /// opened. One look-up per practice and clinician in the round.
    async fn announce(&self, finished: &[(Finish, audit::Event)]) {
        let mut whose: Vec<(PracticeId, UserId)> = finished
            .iter()
            .filter(|(f, _)| f.status != "pending")
            .map(|(f, _)| (f.practice_id, f.clinician_id))
            .collect();
        whose.sort_unstable();
        whose.dedup();
        for (practice, clinician) in whose {
            match self
                .state
                .store
                .reminder_watchers(practice, clinician)
                .await
            {
                Ok(devices) => self
                    .state
                    .delivery
                    .wakeups
                    .wake(&devices, crate::delivery::wake::Wake::Appointments),
                Err(e) => tracing::warn!(error = %e, "reminder outcomes not announced"),
            }
        }
    }

    async fn one(
        &self,
        r: DueReminder,
        practices: &Practices,
        prefs: Option<&PreferencesRow>,
    ) -> anyhow::Result<(Finish, audit::Event)> {
        let state = &self.state;
        let now = state.clock.now();
        let to = Contacts::of(state, r.client_id, prefs);
        let Ok(tz) = schedule::zone(&r.time_zone) else {
            return self.end(&r, "withdrawn", "unknown_time_zone");
        };
        let facts = Facts {
            now,
            due_at: r.due_at,
            starts_at: r.starts_at,
            status: r.occurrence_status.clone(),
            grace_secs: state.settings.reminders.grace_secs,
            opted_out: prefs.is_some_and(|p| p.opted_out),
            email: to.email.is_some(),
            sms: to.sms.is_some(),
            email_configured: self.outbox.configured(Channel::Email),
            sms_configured: self.outbox.configured(Channel::Sms),
            quiet: prefs
                .and_then(|p| plan::parse_quiet(p.quiet_start.as_deref(), p.quiet_end.as_deref())),
            tz,
        };
        let done = dispatch::channels_sent(r.sent_channels.as_deref());
        let channels = match dispatch::decide(&facts) {
            Decision::Send(c) => dispatch::still_owed(c, &done),
            // Partly sent by an earlier try: that stays sent; the rest is
            // not tried now, for this reason.
            other if !done.is_empty() => {
                let why = other.reason().unwrap_or("not_sent");
                return Ok(self.sent(&r, Vec::new(), Some(format!("not retried: {why}"))));
            }
            Decision::Withhold(why) => return self.end(&r, "withheld", why),
            Decision::Drop(why) => return self.end(&r, "dropped", why),
            Decision::Withdraw(why) => return self.end(&r, "withdrawn", why),
        };
        if channels.is_empty() {
            // Everything still allowed went out already.
            return Ok(self.sent(&r, Vec::new(), None));
        }

        // Render and lint, now.
        let Some(at) = chrono::Utc.timestamp_opt(r.starts_at, 0).single() else {
            return self.end(&r, "withdrawn", "bad_start");
        };
        let letter = Letter {
            kind: KIND,
            practice_id: r.practice_id,
            practice_name: &r.practice_name,
            clinician_name: &r.clinician_name,
            at: Some(at.with_timezone(&tz)),
        };
        let rendered = match outbox::compose(state, practices, prefs, &letter, &channels) {
            Ok(rendered) => rendered,
            Err(reason) if !done.is_empty() => {
                return Ok(self.sent(&r, Vec::new(), Some(format!("not retried: {reason}"))))
            }
            Err(reason) => return Ok(self.end_with(&r, "withheld", reason)),
        };

        // Send through each allowed channel.
        let mut sent: Vec<(Channel, String)> = Vec::new();
        let mut failed: Vec<(Channel, SendError)> = Vec::new();
        for channel in channels {
            match self
                .outbox
                .send(channel, &r.id.to_string(), &to, &rendered)
                .await
            {
                Ok(id) => sent.push((channel, id)),
                Err(e) => failed.push((channel, e)),
            }
        }
        let now = state.clock.now();
        let failures = failed
            .iter()
            .map(|(c, e)| format!("{}: {e}", c.code()))
            .collect::<Vec<_>>()
            .join("; ");
        let transient = failed
            .iter()
            .any(|(_, e)| matches!(e, SendError::Transient(_)));
        if transient && r.attempts < state.settings.reminders.max_attempts {
            // What went out now is recorded with the retry, so the next try
            // sends only the channel that failed.
            let (channel, provider_id) = self.so_far(&r, &sent);
            let finish = Finish {
                id: r.id,
                practice_id: r.practice_id,
                clinician_id: r.clinician_id,
                status: "pending",
                channel,
                provider_id,
                reason: Some(format!("retrying: {failures}")),
                retry_at: Some(now + dispatch::retry_delay_secs(r.attempts)),
            };
            return Ok((finish, self.event(&r, Action::ReminderRetry)));
        }
        if !sent.is_empty() || !done.is_empty() {
            return Ok(self.sent(&r, sent, (!failed.is_empty()).then_some(failures)));
        }
        Ok(self.end_with(&r, "failed", failures))
    }

    /// The channels and provider ids it went out through: an earlier try's
    /// and this one's.
    fn so_far(
        &self,
        r: &DueReminder,
        now: &[(Channel, String)],
    ) -> (Option<String>, Option<String>) {
        let mut channels: Vec<String> = r.sent_channels.iter().map(String::clone).collect();
        let mut ids: Vec<String> = r.sent_ids.iter().map(String::clone).collect();
        for (c, id) in now {
            channels.push(c.code().to_owned());
            ids.push(format!("{}:{id}", c.code()));
        }
        let join = |v: Vec<String>, sep: &str| (!v.is_empty()).then(|| v.join(sep));
        (join(channels, ","), join(ids, " "))
    }

    /// Sent: through an earlier try's channels and these; `reason` names a
    /// channel that did not go.
    fn sent(
        &self,
        r: &DueReminder,
        now: Vec<(Channel, String)>,
        reason: Option<String>,
    ) -> (Finish, audit::Event) {
        let (channel, provider_id) = self.so_far(r, &now);
        let event = self
            .event(r, Action::ReminderSent)
            .detail(serde_json::json!({
                "reminder": r.id,
                "channels": channel,
            }));
        let finish = Finish {
            id: r.id,
            practice_id: r.practice_id,
            clinician_id: r.clinician_id,
            status: "sent",
            channel,
            provider_id,
            reason,
            retry_at: None,
        };
        (finish, event)
    }

    fn event(&self, r: &DueReminder, action: audit::Action) -> audit::Event {
        audit::Event::new(r.practice_id, action, &audit::RequestMeta::default())
            .target_user(r.client_id)
    }

    fn end(
        &self,
        r: &DueReminder,
        status: &'static str,
        why: &str,
    ) -> anyhow::Result<(Finish, audit::Event)> {
        Ok(self.end_with(r, status, why.to_owned()))
    }

    fn end_with(
        &self,
        r: &DueReminder,
        status: &'static str,
        reason: String,
    ) -> (Finish, audit::Event) {
        let action = match status {
            "withheld" => Action::ReminderWithheld,
            "dropped" => Action::ReminderDropped,
            "withdrawn" => Action::ReminderWithdrawn,
            _ => Action::ReminderFailed,
        };
        let event = self
            .event(r, action)
            .detail(serde_json::json!({ "reminder": r.id, "reason": reason }));
        let finish = Finish {
            id: r.id,
            practice_id: r.practice_id,
            clinician_id: r.clinician_id,
            status,
            channel: None,
            provider_id: None,
            reason: Some(reason),
            retry_at: None,
        };
        (finish, event)
    }
}

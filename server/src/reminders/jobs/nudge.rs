//! The nudge job: "You have a new secure message" by SMS or email when a
//! message to a client stays unread while they are offline
//! (`rules::nudge`), linted like every template, at send time.
//!
//! Where the work comes from: every accepted message leaves a hint on its
//! conversation in the statement that already moves `last_seq`
//! (`awaiting_client_since`); this job claims conversations whose hint is
//! older than the practice's delay, reads the truth (the client's
//! acknowledgements from devices they still have, who sent what, whether
//! one of their devices has a socket open), decides, and clears or advances
//! the hint only where no entry came since it looked.
//!
//! What survives a `kill -9`: as for reminders (`dispatch.rs`) — a claim
//! whose round was not recorded comes back when its lease runs out, so a
//! nudge is lost never and sent twice at most when the kill fell between
//! the provider's acceptance and the round's commit; the email then
//! carries the same `Message-ID` (one per conversation and unread message).
//!
//! With several nodes, "online" is what this node sees; a socket on another
//! node acknowledges a message within milliseconds, which clears the hint
//! before the delay is up.

use super::outbox::{self, Contacts, Letter, Outbox, Practices};
use crate::audit;
use crate::audit::Action;
use crate::jobs::{Job, Round};
use crate::reminders::channels::SendError;
use crate::reminders::rules::dispatch::{retry_delay_secs, Channel};
use crate::reminders::rules::nudge::{self, Decision, Facts};
use crate::reminders::rules::template::Kind;
use crate::reminders::rules::{plan, schedule};
use crate::reminders::store::{NudgeCandidate, NudgeFinish, NudgeRecord};
use crate::state::AppState;
use async_trait::async_trait;
use futures_util::StreamExt;
use std::sync::Arc;

/// Sends at once, per node.
const CONCURRENT_SENDS: usize = 32;

/// What this job sends.
const KIND: Kind = Kind::Nudge;

/// The nudge job.
pub struct Nudge {
    state: AppState,
    outbox: Outbox,
}

impl Nudge {
    /// Builds the channels the settings configure.
    pub fn new(state: AppState) -> anyhow::Result<Self> {
        let outbox = Outbox::new(&state)?;
        Ok(Self { state, outbox })
    }
}

#[async_trait]
impl Job for Nudge {
    fn name(&self) -> &'static str {
        "reminders.nudge"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        let s = &self.state.settings.reminders;
        let now = self.state.clock.now();
        let batch = s.batch_size.max(1);
        let claimed = self
            .state
            .store
            .claim_nudges(now, now + s.lease_secs.max(1), batch)
            .await?;
        if claimed.is_empty() {
            return Ok(Round::Idle);
        }
        let full = claimed.len() as i64 >= batch;
        let practices: Vec<_> = claimed.iter().map(|c| c.practice_id).collect();
        let practices = Arc::new(Practices::read(&self.state, KIND, practices).await?);
        let finished: Vec<NudgeFinish> = futures_util::stream::iter(claimed)
            .map(|c| {
                let practices = practices.clone();
                async move { self.one(c, &practices).await }
            })
            .buffer_unordered(CONCURRENT_SENDS)
            .collect::<Vec<anyhow::Result<NudgeFinish>>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        self.state
            .store
            .finish_nudges(&finished, self.state.clock.now())
            .await?;
        Ok(if full { Round::More } else { Round::Idle })
    }
}

impl Nudge {
    async fn one(&self, c: NudgeCandidate, practices: &Practices) -> anyhow::Result<NudgeFinish> {
        let state = &self.state;
        let now = state.clock.now();
        let prefs = state
            .store
            .reminder_preferences(c.practice_id, c.client_id)
            .await?;
        let to = Contacts::of(state, c.client_id, prefs.as_ref());
        // The client's own zone, else their latest appointment's.
        let tz = prefs
            .as_ref()
            .and_then(|p| p.time_zone.as_deref())
            .or(c.appointment_zone.as_deref())
            .and_then(|z| schedule::zone(z).ok())
            .unwrap_or(chrono_tz::UTC);
        let facts = Facts {
            now,
            after_minutes: c.after_minutes,
            cooldown_minutes: c.cooldown_minutes,
            unread_since: c.unread.map(|(_, at)| at),
            online: state.delivery.wakeups.online(&c.client_devices),
            client_active: c.client_active,
            last_sent_at: c.last_sent_at,
            opted_out: prefs.as_ref().is_some_and(|p| p.opted_out),
            email: to.email.is_some(),
            sms: to.sms.is_some(),
            email_configured: self.outbox.configured(Channel::Email),
            sms_configured: self.outbox.configured(Channel::Sms),
            quiet: prefs
                .as_ref()
                .and_then(|p| plan::parse_quiet(p.quiet_start.as_deref(), p.quiet_end.as_deref())),
            tz,
        };
        let channel = match nudge::decide(&facts) {
            Decision::Clear => return Ok(self.finish(&c, None, None, 0)),
            Decision::Later(at) => return Ok(self.finish(&c, c.unread, Some(at), c.attempts)),
            Decision::Withhold(why) => return Ok(self.ended(&c, "withheld", None, why.to_owned())),
            Decision::Send(channel) => channel,
        };
        let letter = Letter {
            kind: KIND,
            practice_id: c.practice_id,
            practice_name: &c.practice_name,
            clinician_name: &c.clinician_name,
            at: None,
        };
        let rendered = match outbox::compose(state, practices, prefs.as_ref(), &letter, &[channel])
        {
            Ok(rendered) => rendered,
            Err(reason) => return Ok(self.ended(&c, "withheld", None, reason)),
        };
        // One Message-ID per conversation and unread message: a resend
        // after a crash is recognisably the same email.
        let unread_seq = c.unread.map_or(0, |(seq, _)| seq);
        let message_id = format!("nudge-{}-{unread_seq}", c.conversation_id);
        match self.outbox.send(channel, &message_id, &to, &rendered).await {
            Ok(provider_id) => {
                let mut f = self.finish(&c, None, None, 0);
                f.sent_at = Some(state.clock.now());
                f.record = Some(NudgeRecord {
                    status: "sent",
                    channel: Some(channel.code().to_owned()),
                    provider_id: Some(provider_id),
                    reason: None,
                });
                f.event = Some(self.event(&c, Action::NudgeSent).detail(serde_json::json!({
                    "conversation": c.conversation_id,
                    "channel": channel.code(),
                })));
                Ok(f)
            }
            Err(SendError::Transient(_))
                if c.attempts + 1 < state.settings.reminders.max_attempts =>
            {
                let attempts = c.attempts + 1;
                let retry = state.clock.now() + retry_delay_secs(attempts);
                Ok(self.finish(&c, c.unread, Some(retry), attempts))
            }
            Err(e) => Ok(self.ended(&c, "failed", Some(channel), e.to_string())),
        }
    }

    fn finish(
        &self,
        c: &NudgeCandidate,
        awaiting: Option<(i64, i64)>,
        not_before: Option<i64>,
        attempts: i64,
    ) -> NudgeFinish {
        NudgeFinish {
            conversation_id: c.conversation_id.clone(),
            practice_id: c.practice_id,
            client_id: c.client_id,
            last_seq: c.last_seq,
            awaiting,
            not_before,
            attempts,
            sent_at: None,
            record: None,
            event: None,
        }
    }

    /// Withheld or failed: recorded with the reason and forgotten until
    /// the conversation's next message.
    fn ended(
        &self,
        c: &NudgeCandidate,
        status: &'static str,
        channel: Option<Channel>,
        reason: String,
    ) -> NudgeFinish {
        let mut f = self.finish(c, None, None, 0);
        let action = if status == "failed" {
            Action::NudgeFailed
        } else {
            Action::NudgeWithheld
        };
        f.event = Some(self.event(c, action).detail(serde_json::json!({
            "conversation": c.conversation_id,
            "reason": reason,
        })));
        f.record = Some(NudgeRecord {
            status,
            channel: channel.map(|ch| ch.code().to_owned()),
            provider_id: None,
            reason: Some(reason),
        });
        f
    }

    fn event(&self, c: &NudgeCandidate, action: audit::Action) -> audit::Event {
        audit::Event::new(c.practice_id, action, &audit::RequestMeta::default())
            .target_user(c.client_id)
    }
}

//! The push job: claims subscribed devices with news under a lease,
//! decides (`rules::decide`), sends "a new secure message" encrypted to the
//! browser (RFC 8291) with the server's VAPID signature (RFC 8292), and
//! records the round's outcomes together.
//!
//! What survives a `kill -9`: a device whose round was not recorded comes
//! back when its lease runs out and is pushed again — at least once; a
//! duplicate notice says nothing more than the first.
//!
//! With several nodes, "online" is what this node sees; a socket on another
//! node acknowledges within milliseconds, so the device has no news left.

use crate::audit;
use crate::audit::Action;
use crate::incidents::jobs::deliver::GuardedResolver;
use crate::jobs::{Job, Round};
use crate::push::rules::{self, Decision, Facts};
use crate::push::store::{PushCandidate, PushOutcome};
use crate::reminders::rules::{plan, schedule};
use crate::state::AppState;
use async_trait::async_trait;
use data_encoding::BASE64URL_NOPAD;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use web_push_native::{p256, Auth, WebPushBuilder};

/// Pushes at once, per node.
const CONCURRENT: usize = 16;
/// Devices per round.
const BATCH: i64 = 200;
/// A claim's lease beyond the push's timeout (seconds).
const LEASE_SLACK_SECS: i64 = 30;
/// How long a push service keeps an undelivered notice (seconds): a
/// phone off for a day has no use for yesterday's.
const TTL_SECS: u64 = 12 * 3600;

/// The push job.
pub struct Send {
    state: AppState,
    http: reqwest::Client,
}

impl Send {
    /// The job with its HTTP client (no redirects, a timeout, the guarded
    /// resolver).
    pub fn new(state: AppState) -> anyhow::Result<Self> {
        let s = &state.settings.push;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the name itself,
            // past the guarded resolver: never one for these requests.
            .no_proxy()
            .timeout(Duration::from_millis(s.timeout_ms.max(100)))
            .dns_resolver(Arc::new(GuardedResolver::new(s.allow_private)))
            .user_agent("Alcove-Push/1")
            .build()?;
        Ok(Self { state, http })
    }
}

#[async_trait]
impl Job for Send {
    fn name(&self) -> &'static str {
        "push.send"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        let now = self.state.clock.now();
        // The lease covers the whole round: a batch goes CONCURRENT at a
        // time, each up to the timeout, so another node does not take a
        // device back while this one is still pushing it.
        let waves = (BATCH as u64).div_ceil(CONCURRENT as u64);
        let lease = (waves * self.state.settings.push.timeout_ms / 1000) as i64 + LEASE_SLACK_SECS;
        let claimed = self
            .state
            .store
            .claim_pushes(now, now + lease, BATCH)
            .await?;
        if claimed.is_empty() {
            return Ok(Round::Idle);
        }
        let full = claimed.len() as i64 >= BATCH;
        let outcomes: Vec<PushOutcome> = futures_util::stream::iter(claimed)
            .map(|c| self.handle(c))
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        self.state
            .store
            .finish_pushes(&outcomes, self.state.clock.now())
            .await?;
        Ok(if full { Round::More } else { Round::Idle })
    }
}

impl Send {
    async fn handle(&self, c: PushCandidate) -> PushOutcome {
        let now = self.state.clock.now();
        let facts = Facts {
            quiet: plan::parse_quiet(c.quiet_start.as_deref(), c.quiet_end.as_deref()),
            tz: c
                .time_zone
                .as_deref()
                .and_then(|z| schedule::zone(z).ok())
                .unwrap_or(chrono_tz::UTC),
            now,
            online: self.state.delivery.wakeups.online(&[c.device_id]),
            opted_out: c.opted_out,
            pushed_at: c.pushed_at,
            cooldown_secs: self.state.settings.push.cooldown_secs.max(0),
        };
        match rules::decide(&facts) {
            Decision::Skip => PushOutcome::Told {
                device_id: c.device_id,
                pushed: false,
                at: now,
            },
            Decision::Later(at) => PushOutcome::Later {
                device_id: c.device_id,
                at,
            },
            Decision::Push => match self.post(&c).await {
                Ok(status) if (200..300).contains(&status) => PushOutcome::Told {
                    device_id: c.device_id,
                    pushed: true,
                    at: now,
                },
                Ok(status) if rules::gone(Some(status)) => PushOutcome::Gone {
                    device_id: c.device_id,
                    endpoint: c.endpoint.clone(),
                    event: Box::new(
                        audit::Event::new(
                            c.practice_id,
                            Action::PushUnsubscribed,
                            &audit::RequestMeta::default(),
                        )
                        .target_user(c.user_id)
                        .target_device(c.device_id)
                        .detail(serde_json::json!({"reason": "gone"})),
                    ),
                },
                _ => PushOutcome::Failed {
                    device_id: c.device_id,
                    retry_at: now + rules::retry_after(c.failures + 1),
                },
            },
        }
    }

    /// One encrypted, VAPID-signed POST; the answer's status, or an error
    /// (never a body).
    async fn post(&self, c: &PushCandidate) -> Result<u16, &'static str> {
        let s = &self.state.settings.push;
        let url = reqwest::Url::parse(&c.endpoint).map_err(|_| "bad_url")?;
        if !s.allow_private
            && !url
                .host_str()
                .is_some_and(crate::incidents::rules::webhook::host_allowed)
        {
            return Err("address_refused");
        }
        let key = BASE64URL_NOPAD
            .decode(c.p256dh.as_bytes())
            .ok()
            .and_then(|k| p256::PublicKey::from_sec1_bytes(&k).ok())
            .ok_or("bad_key")?;
        let auth = BASE64URL_NOPAD
            .decode(c.auth.as_bytes())
            .ok()
            .filter(|a| a.len() == 16)
            .ok_or("bad_auth")?;
        let uri = c.endpoint.parse().map_err(|_| "bad_url")?;
        let request = WebPushBuilder::new(uri, key, Auth::clone_from_slice(&auth))
            .with_valid_duration(Duration::from_secs(TTL_SECS))
            .with_vapid(self.state.push.key(), &s.contact)
            .build(rules::PAYLOAD)
            .map_err(|_| "encrypt_failed")?;
        let mut out = self.http.post(url);
        for (name, value) in request.headers() {
            out = out.header(name.as_str(), value.as_bytes());
        }
        let answer = out
            .body(request.into_body())
            .send()
            .await
            .map_err(|_| "request_failed")?;
        Ok(answer.status().as_u16())
    }
}

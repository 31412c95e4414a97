//! Webhook delivery: claims due deliveries under a lease, signs each
//! attempt as Standard Webhooks does (the same `webhook-id` every time, a
//! fresh timestamp and signature), POSTs it, and records the round's
//! outcomes together: delivered on a 2xx; otherwise retried on the
//! schedule of `rules::webhook::retry_after` (about three days, with
//! jitter), then failed. An endpoint that has failed throughout for three
//! days is disabled and the event audited.
//!
//! Server-side request forgery: a URL's literal address is checked here
//! and every address a name resolves to is checked by the resolver at
//! connection time (so a name that resolves to a public address when saved
//! and to 127.0.0.1 later is refused then); redirects are not followed.
//!
//! What survives a `kill -9`: an attempt whose outcome was not recorded is
//! made again after its lease, with the same `webhook-id` — at least once,
//! and a receiver drops the duplicate by its id.

use crate::audit;
use crate::audit::Action;
use crate::incidents::rules::webhook;
use crate::incidents::store::{AttemptOutcome, ClaimedDelivery};
use crate::jobs::{Job, Round};
use crate::sealing::Purpose;
use crate::state::AppState;
use async_trait::async_trait;
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Attempts at once, per node.
const CONCURRENT: usize = 16;
/// A claim's lease beyond the attempt's timeout (seconds).
const LEASE_SLACK_SECS: i64 = 30;
/// An endpoint failing throughout this long is disabled (seconds).
const DISABLE_AFTER_SECS: i64 = 3 * 86_400;

/// Resolves names and keeps only the addresses a webhook (or a push
/// endpoint) may reach: the check at connect time that defeats DNS
/// rebinding.
pub struct GuardedResolver {
    allow_private: bool,
}

impl GuardedResolver {
    /// `allow_private`: tests, a receiver inside the operator's network.
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found
                .filter(|a| allow_private || webhook::address_allowed(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err("the name resolves to no address a webhook may reach".into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The delivery job.
pub struct Deliver {
    state: AppState,
    http: reqwest::Client,
}

impl Deliver {
    /// The job, with its HTTP client (no redirects, a timeout, the
    /// guarded resolver).
    pub fn new(state: AppState) -> anyhow::Result<Self> {
        let s = &state.settings.incidents;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the name itself,
            // past the guarded resolver: never one for these requests.
            .no_proxy()
            .timeout(Duration::from_millis(s.webhook_timeout_ms.max(100)))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: s.webhook_allow_private,
            }))
            .user_agent("Alcove-Webhooks/1")
            .build()?;
        Ok(Self { state, http })
    }
}

#[async_trait]
impl Job for Deliver {
    fn name(&self) -> &'static str {
        "incidents.deliver"
    }

    async fn round(&self) -> anyhow::Result<Round> {
        let s = &self.state.settings.incidents;
        let now = self.state.clock.now();
        let lease = (s.webhook_timeout_ms / 1000) as i64 + LEASE_SLACK_SECS;
        let batch = s.batch_size.max(1);
        let claimed = self
            .state
            .store
            .claim_deliveries(now, now + lease, batch)
            .await?;
        if claimed.is_empty() {
            return Ok(Round::Idle);
        }
        let full = claimed.len() as i64 >= batch;
        let outcomes: Vec<AttemptOutcome> = futures_util::stream::iter(claimed)
            .map(|d| self.attempt(d))
            .buffer_unordered(CONCURRENT)
            .collect()
            .await;
        self.state
            .store
            .finish_deliveries(&outcomes, self.state.clock.now())
            .await?;
        Ok(if full { Round::More } else { Round::Idle })
    }
}

impl Deliver {
    async fn attempt(&self, d: ClaimedDelivery) -> AttemptOutcome {
        let attempts = d.attempts + 1;
        let (delivered, status_code, error) = match self.post(&d).await {
            Ok(status) if (200..300).contains(&status) => (true, Some(status), None),
            Ok(status) => (false, Some(status), Some(format!("answered {status}"))),
            Err(kind) => (false, None, Some(kind.to_owned())),
        };
        let now = self.state.clock.now();
        let next_attempt_at = if delivered {
            None
        } else {
            let jitter = f64::from(crate::auth::secrets::random_bytes::<1>()[0]) / 256.0;
            u32::try_from(attempts)
                .ok()
                .filter(|n| *n < webhook::MAX_ATTEMPTS)
                .and_then(|n| webhook::retry_after(n, jitter))
                .map(|after| now + after)
        };
        // Turned off when the endpoint has failed for three days, or when
        // a delivery runs out of its attempts (about two and a half days)
        // while the endpoint has failed throughout its life: otherwise the
        // last retry would come before the three days, and an endpoint
        // down for good would never be turned off nor the admins told.
        let exhausted = next_attempt_at.is_none();
        let disable = (!delivered
            && d.failing_since.is_some_and(|since| {
                now - since >= DISABLE_AFTER_SECS
                    || (exhausted && since <= d.created_at + webhook::OUTAGE_SLACK_SECS)
            }))
        .then(|| {
            audit::Event::new(
                d.practice_id,
                Action::WebhookEndpointDisabled,
                &audit::RequestMeta::default(),
            )
            .detail(serde_json::json!({"endpoint_id": d.endpoint_id, "reason": "failing"}))
        });
        AttemptOutcome {
            id: d.id,
            endpoint_id: d.endpoint_id,
            practice_id: d.practice_id,
            attempts,
            delivered,
            status_code,
            error,
            next_attempt_at,
            disable,
        }
    }

    /// One signed POST; the answer's status, or the kind of failure
    /// (never a body: what a receiver answers is not ours to keep).
    async fn post(&self, d: &ClaimedDelivery) -> Result<i64, &'static str> {
        let url = reqwest::Url::parse(&d.url).map_err(|_| "bad_url")?;
        if !self.state.settings.incidents.webhook_allow_private
            && !url.host_str().is_some_and(webhook::host_allowed)
        {
            return Err("address_refused");
        }
        let timestamp = self.state.clock.now();
        let key = self
            .state
            .at_rest
            .open(
                Purpose::WebhookSecret,
                &d.endpoint_id.to_string(),
                &d.secret,
            )
            .ok_or("secret_unreadable")?;
        // After a rotation, and until its overlap ends, the previous secret
        // signs too: a receiver still on it keeps accepting.
        let previous = match (&d.previous_secret, d.previous_secret_until) {
            (Some(sealed), Some(until)) if until > timestamp => Some(
                self.state
                    .at_rest
                    .open(Purpose::WebhookSecret, &d.endpoint_id.to_string(), sealed)
                    .ok_or("secret_unreadable")?,
            ),
            _ => None,
        };
        let mut keys: Vec<&[u8]> = vec![&key];
        if let Some(p) = &previous {
            keys.push(p);
        }
        let signature = webhook::signatures(&keys, &d.id, timestamp, &d.payload);
        let answer = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.payload.clone())
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect_failed"
                } else {
                    "request_failed"
                }
            })?;
        Ok(i64::from(answer.status().as_u16()))
    }
}

//! What the push slice keeps: one Web Push subscription per device, and
//! the push job's working state on it.

use super::rules::Subscription;
use crate::audit;
use crate::clock::UnixTime;
use crate::ids::{DeviceId, PracticeId, UserId};
use crate::storage::error::StoreResult;
use async_trait::async_trait;

/// A subscribed device with messages it has not acknowledged, sent after
/// its last push by someone else.
#[derive(Debug, Clone, sqlx::FromRow)]
#[allow(missing_docs)] // the columns of `push_subscriptions`
pub struct PushCandidate {
    pub device_id: DeviceId,
    pub practice_id: PracticeId,
    pub user_id: UserId,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub pushed_at: Option<UnixTime>,
    pub failures: i64,
    /// The person turned reminders and notices off.
    pub opted_out: bool,
    /// Their quiet hours ("21:00", "07:00"), as their preferences keep them.
    pub quiet_start: Option<String>,
    pub quiet_end: Option<String>,
    /// Their zone: their preferences', else their latest appointment's.
    pub time_zone: Option<String>,
}

/// What one round did with a claimed device.
#[derive(Debug, Clone)]
pub enum PushOutcome {
    /// Pushed (or skipped: online, opted out): its messages until now are
    /// told.
    Told {
        /// Device.
        device_id: DeviceId,
        /// Whether a push went.
        pushed: bool,
        /// When the device was looked at: messages accepted from then on
        /// (during the round, too) are still news.
        at: UnixTime,
    },
    /// Look again then.
    Later {
        /// Device.
        device_id: DeviceId,
        /// When.
        at: UnixTime,
    },
    /// The push failed; retried then.
    Failed {
        /// Device.
        device_id: DeviceId,
        /// When to retry.
        retry_at: UnixTime,
    },
    /// The push service says the subscription is gone: dropped, audited.
    Gone {
        /// Device.
        device_id: DeviceId,
        /// The endpoint that is gone (a subscription the browser made
        /// again meanwhile is another endpoint, and stays).
        endpoint: String,
        /// Its audit event (boxed: the other outcomes are small).
        event: Box<audit::Event>,
    },
}

impl PushOutcome {
    /// The device it is about.
    pub fn device(&self) -> DeviceId {
        match self {
            PushOutcome::Told { device_id, .. }
            | PushOutcome::Later { device_id, .. }
            | PushOutcome::Failed { device_id, .. }
            | PushOutcome::Gone { device_id, .. } => *device_id,
        }
    }
}

/// Push subscriptions.
#[async_trait]
pub trait PushStore {
    /// Sets the device's subscription (replacing one it had), with its
    /// audit event. `NotFound`: the device is not the user's active one.
    async fn put_push_subscription(
        &self,
        practice: PracticeId,
        user: UserId,
        device: DeviceId,
        subscription: &Subscription,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<()>;

    /// Removes the device's subscription; the audit event is written only
    /// when there was one (`false`: there was none).
    async fn delete_push_subscription(
        &self,
        device: DeviceId,
        event: audit::Event,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// Leases up to `limit` subscribed devices that have application
    /// messages from someone else, newer than their acknowledgement and
    /// than their last push, and are due (`not_before`, lease).
    async fn claim_pushes(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: i64,
    ) -> StoreResult<Vec<PushCandidate>>;

    /// Records a round's outcomes in one transaction and frees the leases.
    async fn finish_pushes(&self, outcomes: &[PushOutcome], now: UnixTime) -> StoreResult<()>;
}

//! What a signed-in person does with push: learn the server's key,
//! subscribe this device, unsubscribe it.

use super::error::PushError;
use super::rules;
use crate::audit::Action;
use crate::auth::session::Authed;
use crate::state::AppState;
use crate::storage::error::StoreError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The server's application server key.
#[derive(Debug, Serialize, ToSchema)]
pub struct VapidKey {
    /// base64url of the uncompressed P-256 point: the
    /// `applicationServerKey` of `pushManager.subscribe`.
    pub public_key: String,
}

/// A browser's `PushSubscription` as `toJSON()` gives it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriptionRequest {
    /// The push service's URL for this browser.
    pub endpoint: String,
    /// Its keys.
    pub keys: SubscriptionKeys,
    /// `expirationTime` (ignored: the push service says when it is gone).
    #[serde(default, rename = "expirationTime")]
    pub expiration_time: Option<serde_json::Value>,
}

/// The keys of a subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// The browser's P-256 key (base64url).
    pub p256dh: String,
    /// Its authentication secret (base64url).
    pub auth: String,
}

/// The key to subscribe with.
pub fn key(state: &AppState) -> VapidKey {
    VapidKey {
        public_key: state.push.public_key().to_owned(),
    }
}

/// Subscribes the caller's device (replacing what it had). Audited without
/// the endpoint or keys.
pub async fn subscribe(
    state: &AppState,
    authed: &Authed,
    req: SubscriptionRequest,
) -> Result<(), PushError> {
    if authed.device_shared {
        return Err(PushError::SharedComputer);
    }
    let s = &state.settings.push;
    let sub = rules::check(
        &req.endpoint,
        &req.keys.p256dh,
        &req.keys.auth,
        s.allow_http,
        s.allow_private,
    )?;
    let event = authed
        .event(Action::PushSubscribed)
        .target_device(authed.device_id);
    state
        .store
        .put_push_subscription(
            authed.practice_id,
            authed.user_id,
            authed.device_id,
            &sub,
            event,
            state.now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => PushError::Invalid("this device cannot subscribe"),
            other => other.into(),
        })
}

/// Removes the caller's device's subscription (none: nothing happens).
pub async fn unsubscribe(state: &AppState, authed: &Authed) -> Result<(), PushError> {
    let event = authed
        .event(Action::PushUnsubscribed)
        .target_device(authed.device_id)
        .detail(serde_json::json!({"reason": "by_user"}));
    state
        .store
        .delete_push_subscription(authed.device_id, event, state.now())
        .await?;
    Ok(())
}

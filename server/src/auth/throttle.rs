//! Login throttling per account and per client address.
//!
//! Failures are counted in the database (so every node sees them) under
//! hashed keys, in a sliding window. An account or address that reaches its
//! limit gets 429 until enough failures age out of the window; the same
//! answer is given for unknown accounts, so throttling reveals nothing.

use super::secrets::labelled_hash;
use crate::error::AppError;
use crate::state::AppState;

/// The hashed keys one login attempt counts against.
pub struct Keys {
    /// Per account (by normalised login, known or not).
    pub account: Vec<u8>,
    /// Per client address.
    pub ip: Option<Vec<u8>>,
}

impl Keys {
    /// Keys for a login name and address.
    pub fn new(login: &str, ip: Option<std::net::IpAddr>) -> Self {
        Self {
            account: labelled_hash("alcove-throttle-account", login),
            ip: ip.map(|ip| labelled_hash("alcove-throttle-ip", &ip.to_string())),
        }
    }

    /// All keys, for recording a failure.
    pub fn all(&self) -> Vec<Vec<u8>> {
        let mut keys = vec![self.account.clone()];
        keys.extend(self.ip.clone());
        keys
    }
}

/// Refuses with 429 when either key is over its limit.
pub async fn check(state: &AppState, keys: &Keys) -> Result<(), AppError> {
    let auth = &state.settings.auth;
    let since = state.now() - auth.failure_window_secs;
    let account = state
        .store
        .count_auth_failures(&keys.account, since)
        .await?;
    if account >= auth.max_failures_per_account {
        return Err(AppError::throttled(auth.failure_window_secs));
    }
    if let Some(ip) = &keys.ip {
        if state.store.count_auth_failures(ip, since).await? >= auth.max_failures_per_ip {
            return Err(AppError::throttled(auth.failure_window_secs));
        }
    }
    Ok(())
}

/// Records a failure (with an audit event when the account is known).
/// Returns true when this failure reached the account's limit (a lockout).
pub async fn record_failure(
    state: &AppState,
    keys: &Keys,
    event: Option<crate::audit::Event>,
) -> Result<bool, AppError> {
    let auth = &state.settings.auth;
    let now = state.now();
    let forget_before = now - auth.failure_window_secs;
    state
        .store
        .record_auth_failure(&keys.all(), now, forget_before, event.clone())
        .await?;
    let count = state
        .store
        .count_auth_failures(&keys.account, forget_before)
        .await?;
    let locked = count == auth.max_failures_per_account;
    if locked {
        if let Some(event) = event {
            let mut lockout = event;
            lockout.action = "auth.lockout";
            state.store.append_audit(lockout, now).await?;
        }
    }
    Ok(locked)
}

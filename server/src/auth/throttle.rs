//! Login throttling that holds under concurrency.
//!
//! Every attempt (password, TOTP, recovery code, enrolment, invite
//! redemption) first *reserves* itself: one row per throttling key, written
//! and committed before any Argon2 or TOTP work. Only then does it count the
//! rows in the window, its own and every concurrent attempt's included; one
//! over a limit is refused (429) and its rows dropped. So of N simultaneous
//! attempts against a limit L at most L are evaluated, whatever N is (the
//! k-th to commit its reservation sees at least k rows). A success drops its
//! rows and clears the account's; a failure keeps them as the failure record.
//!
//! The keys (hashed, so the table holds no logins or addresses):
//! - account *and* client address — `max_failures_per_account` (10): the
//!   limit that stops guessing. Keyed by address too, so failures from an
//!   attacker's address do not lock the owner out at theirs;
//! - the account from all addresses — `max_failures_per_account_global`
//!   (100): a ceiling against distributed guessing;
//! - the client address — `max_failures_per_ip` (100), which behind a
//!   reverse proxy needs `trusted_proxies` (else every user is the proxy).
//!
//! Unknown accounts are counted the same way, so throttling reveals nothing.
//!
//! A known account reaching its limit is audited once per window as
//! `auth.lockout` (which opens a credential-compromise incident), whether
//! the limit was reached by failures evaluated one after another or by a
//! burst refused here before evaluation — and also when it is the
//! all-addresses ceiling that refuses (distributed guessing, where no one
//! address ever reaches its own limit).

use super::secrets::labelled_hash;
use crate::audit::Action;
use crate::error::AppError;
use crate::state::AppState;

/// The hashed keys one login attempt counts against.
pub struct Keys {
    /// Per account and client address.
    pub account_at_ip: Vec<u8>,
    /// Per account (by normalised login, known or not), all addresses.
    pub account: Vec<u8>,
    /// Per client address.
    pub ip: Option<Vec<u8>>,
}

impl Keys {
    /// Keys for a login name and address.
    pub fn new(login: &str, ip: Option<std::net::IpAddr>) -> Self {
        let at = ip.map(|ip| ip.to_string()).unwrap_or_default();
        Self {
            account_at_ip: labelled_hash("alcove-throttle-account-ip", &format!("{login}\n{at}")),
            account: labelled_hash("alcove-throttle-account", login),
            ip: ip.map(|ip| labelled_hash("alcove-throttle-ip", &ip.to_string())),
        }
    }

    /// Keys for an account of a practice (logins are unique per practice),
    /// the same for password and enrolment attempts.
    pub fn for_account(
        practice: crate::ids::PracticeId,
        login: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Self {
        Self::new(&format!("{practice}\n{login}"), ip)
    }

    /// Keys for something that is not an account (an invite redemption):
    /// per address only, under its own label.
    pub fn for_address(label: &str, ip: Option<std::net::IpAddr>) -> Self {
        let at = ip.map(|ip| ip.to_string()).unwrap_or_default();
        let key = labelled_hash("alcove-throttle-scope", &format!("{label}\n{at}"));
        Self {
            account_at_ip: key.clone(),
            account: key,
            ip: None,
        }
    }

    fn all(&self) -> Vec<Vec<u8>> {
        let mut keys = vec![self.account_at_ip.clone()];
        if self.account != self.account_at_ip {
            keys.push(self.account.clone());
        }
        keys.extend(self.ip.clone());
        keys
    }
}

/// A reserved attempt: resolve it with [`Attempt::succeeded`] or
/// [`Attempt::failed`]. Dropped unresolved (an error, a crash), its rows
/// stay and count as a failure: the safe side.
#[must_use]
pub struct Attempt {
    id: String,
}

/// Reserves an attempt, or refuses with 429 when a key is over its limit.
/// `lockout`: the event to audit (once per window) when an account key
/// refuses a known account; None for an unknown account or no account.
pub async fn begin(
    state: &AppState,
    keys: &Keys,
    lockout: Option<crate::audit::Event>,
) -> Result<Attempt, AppError> {
    let auth = &state.settings.auth;
    let now = state.now();
    let since = now - auth.failure_window_secs;
    let attempt = Attempt {
        id: uuid::Uuid::new_v4().to_string(),
    };
    state
        .store
        .reserve_auth_attempt(&keys.all(), &attempt.id, now, since)
        .await?;
    // (key, limit, whether it is the account's own)
    let mut limits = vec![(&keys.account_at_ip, auth.max_failures_per_account, true)];
    if keys.account != keys.account_at_ip {
        limits.push((&keys.account, auth.max_failures_per_account_global, true));
    }
    if let Some(ip) = &keys.ip {
        limits.push((ip, auth.max_failures_per_ip, false));
    }
    for (key, limit, account) in limits {
        // `>`: the count includes this attempt's own reservation.
        if state.store.count_auth_failures(key, since).await? > limit {
            state.store.drop_auth_attempt(&attempt.id).await?;
            if let (true, Some(event)) = (account, lockout) {
                record_lockout(state, event).await?;
            }
            return Err(AppError::throttled(auth.failure_window_secs));
        }
    }
    Ok(attempt)
}

/// Audits `auth.lockout` for the event's account, unless one already was
/// in this window (atomically: concurrent refusals write one).
async fn record_lockout(state: &AppState, mut event: crate::audit::Event) -> Result<(), AppError> {
    let now = state.now();
    let since = now - state.settings.auth.failure_window_secs;
    event.action = Action::AuthLockout;
    state.store.append_audit_once(&event, since, now).await?;
    Ok(())
}

impl Attempt {
    /// The attempt succeeded: it and the account's earlier failures (at
    /// this address and everywhere) no longer count.
    pub async fn succeeded(self, state: &AppState, keys: &Keys) -> Result<(), AppError> {
        state.store.drop_auth_attempt(&self.id).await?;
        state.store.clear_auth_failures(&keys.account_at_ip).await?;
        state.store.clear_auth_failures(&keys.account).await?;
        Ok(())
    }

    /// The attempt failed: its rows stay as the failure record; the event
    /// (when the account is known) is audited, and a lockout when this
    /// failure reached the account-and-address limit.
    pub async fn failed(
        self,
        state: &AppState,
        keys: &Keys,
        event: Option<crate::audit::Event>,
    ) -> Result<(), AppError> {
        let auth = &state.settings.auth;
        let now = state.now();
        let Some(event) = event else {
            return Ok(());
        };
        state.store.append_audit(event.clone(), now).await?;
        let count = state
            .store
            .count_auth_failures(&keys.account_at_ip, now - auth.failure_window_secs)
            .await?;
        // At or past the limit, once per window: concurrent failures may
        // count past it together (their reservations are rows too), so
        // "exactly the limit" could be seen by none of them.
        if count < auth.max_failures_per_account {
            return Ok(());
        }
        record_lockout(state, event).await
    }

    /// The attempt was not evaluated at all (the server was too busy to
    /// hash): it does not count.
    pub async fn abandoned(self, state: &AppState) -> Result<(), AppError> {
        state.store.drop_auth_attempt(&self.id).await?;
        Ok(())
    }

    /// The attempt was answered without a verdict on the secret (e.g.
    /// `mfa_required`): it keeps counting, so such answers cannot be used
    /// to test passwords for free, but nothing is audited as a failure.
    pub fn counted(self) {}
}

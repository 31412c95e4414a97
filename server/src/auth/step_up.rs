//! A fresh second factor for an act the person must sign themselves (the
//! sign-off of an incident's breach decision): their current TOTP code,
//! checked now, whatever the session's age.
//!
//! Invariants:
//! - A code is used once: the step is consumed like a sign-in's, so a code
//!   seen over a shoulder or replayed from a request log does not sign
//!   again, and a sign-in with it afterwards fails too.
//! - Wrong codes count against the account's sign-in budget (the same
//!   reservations as a login, so a burst of concurrent guesses is bounded
//!   by the limit, not by the burst), and a wrong code is audited as a
//!   failed `auth.mfa`.
//! - Only [`verify`] makes a [`FreshSecondFactor`], so a service that
//!   takes one cannot be reached without it.

use super::session::Authed;
use super::{throttle, totp};
use crate::audit::Action;
use crate::error::AppError;
use crate::sealing::Purpose;
use crate::state::AppState;

/// Proof that the caller gave a valid, unused TOTP code just now.
#[derive(Debug)]
pub struct FreshSecondFactor {
    _private: (),
}

/// Checks `code` against the caller's TOTP secret.
pub async fn verify(
    state: &AppState,
    authed: &Authed,
    code: &str,
) -> Result<FreshSecondFactor, AppError> {
    let user = state.store.user(authed.practice_id, authed.user_id).await?;
    let Some(sealed) = user.totp_secret.as_deref() else {
        return Err(AppError::conflict(
            "mfa_not_enrolled",
            "this needs a second factor: set up an authenticator app first",
        ));
    };
    let keys = throttle::Keys::for_account(user.practice_id, &user.login, None);
    let attempt = throttle::begin(state, &keys, None).await?;
    let secret = state
        .at_rest
        .open(Purpose::TotpSecret, &user.id.to_string(), sealed)
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "a TOTP secret does not open under the at-rest key"
            ))
        })?;
    let fresh = match totp::verify(&secret, code, state.now()) {
        Some(step) => state.store.consume_totp_step(user.id, step).await?,
        None => false,
    };
    if !fresh {
        let event = authed
            .event(Action::AuthMfa)
            .failed()
            .target_user(user.id)
            .detail(serde_json::json!({"purpose": "step_up"}));
        attempt.failed(state, &keys, Some(event)).await?;
        return Err(AppError::unauthorized(
            "invalid_mfa_code",
            "that code is not valid; try the current one",
        ));
    }
    attempt.succeeded(state, &keys).await?;
    Ok(FreshSecondFactor { _private: () })
}

//! The account page's HTTP handlers: who am I and my devices, change the
//! password, see how many recovery codes are left and make new ones.

use super::store::{NewAuthenticator, PasswordChange};
use crate::api::extract::{ApiJson, ApiPath, Meta};
use crate::audit::{Action, RequestMeta};
use crate::auth::http::clean_name;
use crate::auth::http::{
    invalid_mfa_code, lockout_event, new_enrollment, open_totp, MfaEnrollment,
};
use crate::auth::session::{self, Authed};
use crate::auth::{password, secrets, step_up, throttle, totp};
use crate::error::{ApiResult, AppError};
use crate::ids::{DeviceId, PracticeId, UserId};
use crate::request::client_ip;
use crate::state::AppState;
use crate::storage::{Role, StoreError, User};
use axum::extract::State;
use axum::http::{request::Parts, StatusCode};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new password, with the current one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password (or passphrase) in use now.
    #[schema(value_type = String)]
    pub current_password: SecretString,
    /// The new one (at least 12 characters, not a common password, not the
    /// login).
    #[schema(value_type = String)]
    pub new_password: SecretString,
}

/// What changing the password did.
#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// Other sessions of yours that were signed out (this one stays).
    pub sessions_ended: usize,
}

/// Change my password; signs out every other session of mine.
#[utoipa::path(post, path = "/api/v1/me/password", request_body = ChangePassword, tag = "me",
    responses(
        (status = 200, body = PasswordChanged, description = "changed; other sessions ended"),
        (status = 401, body = crate::error::ErrorBody, description = "wrong_password: the current password is not correct (counted like a failed sign-in)"),
        (status = 409, body = crate::error::ErrorBody, description = "password_changed_meanwhile: another change came first; nothing written"),
        (status = 422, body = crate::error::ErrorBody, description = "weak_password, same_password"),
        (status = 429, body = crate::error::ErrorBody, description = "throttled"),
        (status = 503, body = crate::error::ErrorBody, description = "busy: no password-hashing slot free in time; nothing was checked or counted"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    Meta(meta): Meta,
    authed: Authed,
    parts: Parts,
    ApiJson(req): ApiJson<ChangePassword>,
) -> ApiResult<Json<PasswordChanged>> {
    let user = state.store.user(authed.practice_id, authed.user_id).await?;
    // What the new password must be is checked before anything is counted,
    // so a typo in it costs no attempt.
    password::check_policy(&req.new_password, &user.login)
        .map_err(|w| AppError::invalid("weak_password", w.message()))?;
    if req.new_password.expose_secret() == req.current_password.expose_secret() {
        return Err(AppError::invalid(
            "same_password",
            "the new password is the one in use now: choose another",
        ));
    }
    let check = PasswordCheck {
        meta: &meta,
        parts: &parts,
        failed_as: Action::AuthPasswordChanged,
    };
    check
        .run(&state, &authed, &user, &req.current_password)
        .await?;
    let new = req.new_password.clone();
    let new_hash = state.hashing.run(move || password::hash(&new)).await??;
    let event = authed
        .event(Action::AuthPasswordChanged)
        .target_user(user.id);
    let change = state
        .store
        .change_password(
            user.id,
            &user.password_hash,
            &new_hash,
            authed.session_id,
            state.now(),
            event,
        )
        .await?;
    let ended = match change {
        PasswordChange::Changed(ended) => ended,
        PasswordChange::Stale => {
            return Err(AppError::conflict(
                "password_changed_meanwhile",
                "your password was changed by another request just now: sign in again if that was not you",
            ))
        }
    };
    // Their sockets close now, like a logout's.
    session::close_sockets(&state, &ended);
    Ok(Json(PasswordChanged {
        sessions_ended: ended.len(),
    }))
}

/// The current password, checked like a sign-in's: the same Argon2id work,
/// under the account's throttle (a wrong one counts, and is audited as a
/// failed `failed_as`). Guards what an unlocked session left open must not
/// be able to do alone.
struct PasswordCheck<'a> {
    meta: &'a RequestMeta,
    parts: &'a Parts,
    failed_as: Action,
}

impl PasswordCheck<'_> {
    async fn run(
        &self,
        state: &AppState,
        authed: &Authed,
        user: &User,
        current: &SecretString,
    ) -> ApiResult<()> {
        let keys =
            throttle::Keys::for_account(user.practice_id, &user.login, client_ip(self.parts));
        let attempt = throttle::begin(state, &keys, Some(lockout_event(user, self.meta))).await?;
        let current = current.clone();
        let phc = user.password_hash.clone();
        let checked = if current.expose_secret().len() > 4 * password::MAX_LEN {
            Ok(false)
        } else {
            state
                .hashing
                .run(move || password::verify(&current, &phc))
                .await
        };
        let ok = match checked {
            Ok(ok) => ok,
            Err(e) => {
                // Too busy to check: nothing was learnt, nothing counts.
                attempt.abandoned(state).await?;
                return Err(e.into());
            }
        };
        if !ok {
            let event = authed
                .event(self.failed_as)
                .failed()
                .target_user(user.id)
                .detail(serde_json::json!({"reason": "password"}));
            attempt.failed(state, &keys, Some(event)).await?;
            return Err(AppError::unauthorized(
                "wrong_password",
                "your current password is not correct",
            ));
        }
        attempt.succeeded(state, &keys).await
    }
}

/// Start setting up an authenticator app: the current password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAuthenticator {
    /// The password (or passphrase) in use now.
    #[schema(value_type = String)]
    pub current_password: SecretString,
}

/// Set up an authenticator app (a client's first, or a new phone): a new
/// secret to scan, confirmed by `POST /me/authenticator/confirm`. Until
/// then the one in use (if any) stays.
#[utoipa::path(post, path = "/api/v1/me/authenticator", request_body = StartAuthenticator, tag = "me",
    responses(
        (status = 201, body = MfaEnrollment, description = "scan the secret, then confirm with a code (within 30 minutes)"),
        (status = 401, body = crate::error::ErrorBody, description = "wrong_password (counted like a failed sign-in)"),
        (status = 429, body = crate::error::ErrorBody, description = "throttled"),
        (status = 503, body = crate::error::ErrorBody, description = "busy: no password-hashing slot free in time"),
    ))]
pub async fn start_authenticator(
    State(state): State<AppState>,
    Meta(meta): Meta,
    authed: Authed,
    parts: Parts,
    ApiJson(req): ApiJson<StartAuthenticator>,
) -> ApiResult<(StatusCode, Json<MfaEnrollment>)> {
    let user = state.store.user(authed.practice_id, authed.user_id).await?;
    let check = PasswordCheck {
        meta: &meta,
        parts: &parts,
        failed_as: Action::AuthMfaEnrolled,
    };
    check
        .run(&state, &authed, &user, &req.current_password)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(new_enrollment(&state, &user).await?),
    ))
}

/// Confirm a new authenticator with its first code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmAuthenticator {
    /// From `POST /me/authenticator`.
    #[schema(value_type = String)]
    pub enrollment_token: SecretString,
    /// A current code from the new authenticator.
    #[schema(value_type = String)]
    pub totp_code: SecretString,
}

/// Make the new authenticator the one sign-ins ask for; new recovery codes
/// (shown once) replace the earlier ones.
#[utoipa::path(post, path = "/api/v1/me/authenticator/confirm", request_body = ConfirmAuthenticator, tag = "me",
    responses(
        (status = 201, body = RecoveryCodes, description = "in use from now on; new recovery codes, shown once"),
        (status = 401, body = crate::error::ErrorBody, description = "invalid_mfa_code (counted like a failed sign-in)"),
        (status = 404, body = crate::error::ErrorBody, description = "enrollment_not_found: unknown, expired, someone else's, or already confirmed"),
        (status = 429, body = crate::error::ErrorBody, description = "throttled"),
    ))]
pub async fn confirm_authenticator(
    State(state): State<AppState>,
    Meta(meta): Meta,
    authed: Authed,
    parts: Parts,
    ApiJson(req): ApiJson<ConfirmAuthenticator>,
) -> ApiResult<(StatusCode, Json<RecoveryCodes>)> {
    let gone = || AppError::not_found("enrolment").with_code("enrollment_not_found");
    let token_hash = secrets::hash_token(req.enrollment_token.expose_secret());
    // Only this person's own pending enrolment: another's is as absent as
    // an unknown one.
    let (user, secret) = match state.store.mfa_enrollment(&token_hash, state.now()).await {
        Ok((user, secret))
            if user.id == authed.user_id && user.practice_id == authed.practice_id =>
        {
            (user, secret)
        }
        Ok(_) | Err(StoreError::NotFound) => return Err(gone()),
        Err(e) => return Err(e.into()),
    };
    let keys = throttle::Keys::for_account(user.practice_id, &user.login, client_ip(&parts));
    let attempt = throttle::begin(&state, &keys, Some(lockout_event(&user, &meta))).await?;
    let opened = open_totp(&state, &user, &secret)?;
    let Some(step) = totp::verify(&opened, req.totp_code.expose_secret(), state.now()) else {
        let event = authed
            .event(Action::AuthMfa)
            .failed()
            .target_user(user.id)
            .detail(serde_json::json!({"purpose": "enrolment"}));
        attempt.failed(&state, &keys, Some(event)).await?;
        return Err(invalid_mfa_code());
    };
    attempt.succeeded(&state, &keys).await?;
    let codes = secrets::NewRecoveryCodes::generate();
    let event = authed
        .event(Action::AuthMfaEnrolled)
        .target_user(user.id)
        .detail(serde_json::json!({"replaced": user.totp_secret.is_some()}));
    let confirmed = state
        .store
        .confirm_authenticator(
            &NewAuthenticator {
                practice: user.practice_id,
                user: user.id,
                secret: &secret,
                step,
                code_hashes: &codes.hashes,
            },
            state.now(),
            event,
        )
        .await?;
    if !confirmed {
        return Err(gone());
    }
    let shown = codes.shown();
    Ok((
        StatusCode::CREATED,
        Json(RecoveryCodes {
            recovery_codes: shown,
        }),
    ))
}

/// A device's new name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameDevice {
    /// 1–64 characters, one line ("Work laptop"; better not a full name).
    #[schema(max_length = 64)]
    pub name: String,
}

/// Rename one of my devices (not a revoked one).
#[utoipa::path(patch, path = "/api/v1/me/devices/{id}", request_body = RenameDevice, tag = "me",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "renamed"),
        (status = 404, body = crate::error::ErrorBody, description = "not a device of yours, or revoked"),
        (status = 422, body = crate::error::ErrorBody, description = "invalid_name")))]
pub async fn rename_device(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RenameDevice>,
) -> ApiResult<StatusCode> {
    let device: DeviceId = id.parse().map_err(|_| AppError::not_found("device"))?;
    let name = clean_name(&req.name, "name", 64)?;
    // The entry says which device; not what it is called now.
    let event = authed.event(Action::DeviceRenamed).target_device(device);
    match state
        .store
        .rename_device(
            authed.practice_id,
            authed.user_id,
            device,
            &name,
            state.now(),
            event,
        )
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(AppError::not_found("device")),
        Err(e) => Err(e.into()),
    }
}

/// How many recovery codes are left.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesLeft {
    /// Unused recovery codes (each signs in once instead of the app's code).
    pub left: i64,
    /// Whether an authenticator app is set up (recovery codes exist only then).
    pub mfa_enabled: bool,
}

/// My unused recovery codes (a count; the codes themselves are never shown again).
#[utoipa::path(get, path = "/api/v1/me/recovery-codes", tag = "me",
    responses((status = 200, body = RecoveryCodesLeft), (status = 401, body = crate::error::ErrorBody)))]
pub async fn recovery_codes_left(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<RecoveryCodesLeft>> {
    let user = state.store.user(authed.practice_id, authed.user_id).await?;
    let left = state.store.recovery_codes_left(user.id).await?;
    Ok(Json(RecoveryCodesLeft {
        left,
        mfa_enabled: user.totp_secret.is_some(),
    }))
}

/// New recovery codes: needs a current authenticator code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewRecoveryCodes {
    /// The current code from the authenticator app.
    #[schema(value_type = String)]
    pub totp_code: SecretString,
}

/// The new codes, shown once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Each signs in once instead of the authenticator's code. Every earlier
    /// code no longer works.
    pub recovery_codes: Vec<String>,
}

/// Replace my recovery codes (all earlier ones stop working).
#[utoipa::path(post, path = "/api/v1/me/recovery-codes", request_body = RenewRecoveryCodes, tag = "me",
    responses(
        (status = 201, body = RecoveryCodes, description = "new codes, shown once"),
        (status = 401, body = crate::error::ErrorBody, description = "invalid_mfa_code (counted like a failed sign-in)"),
        (status = 409, body = crate::error::ErrorBody, description = "mfa_not_enrolled"),
        (status = 429, body = crate::error::ErrorBody, description = "throttled"),
    ))]
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<RenewRecoveryCodes>,
) -> ApiResult<(StatusCode, Json<RecoveryCodes>)> {
    let _fresh = step_up::verify(&state, &authed, req.totp_code.expose_secret()).await?;
    let codes = secrets::NewRecoveryCodes::generate();
    let event = authed
        .event(Action::AuthRecoveryCodesRenewed)
        .target_user(authed.user_id);
    state
        .store
        .renew_recovery_codes(
            authed.practice_id,
            authed.user_id,
            &codes.hashes,
            state.now(),
            event,
        )
        .await?;
    let shown = codes.shown();
    Ok((
        StatusCode::CREATED,
        Json(RecoveryCodes {
            recovery_codes: shown,
        }),
    ))
}

/// The current session's view of its user.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// User.
    pub user_id: UserId,
    /// Login name.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Whether TOTP is enrolled.
    pub mfa_enabled: bool,
    /// Practice.
    pub practice_id: PracticeId,
    /// Practice name.
    pub practice_name: String,
    /// The practice has a name of its own (not the default one a first
    /// start gives it): the admin's first-run guide asks for one until then.
    pub practice_named: bool,
    /// This device.
    pub device_id: DeviceId,
    /// Send as `X-CSRF-Token` on state-changing cookie requests.
    pub csrf_token: String,
    /// Idle timeout (seconds): the page locks itself after this.
    pub idle_timeout_secs: i64,
    /// Absolute session end.
    pub session_expires_at: i64,
    /// This device signed in as a shared or public computer: the page keeps
    /// nothing, and a page that finds such a session it did not start (a
    /// reload, another tab) ends it.
    pub shared_computer: bool,
}

/// Who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(State(state): State<AppState>, authed: Authed) -> ApiResult<Json<Me>> {
    let user = state.store.user(authed.practice_id, authed.user_id).await?;
    let practice = state.store.practice(authed.practice_id).await?;
    Ok(Json(Me {
        user_id: user.id,
        login: user.login.clone(),
        display_name: user.display_name.clone(),
        role: user.role(),
        mfa_enabled: user.totp_secret.is_some(),
        practice_id: practice.id,
        practice_named: practice.name != crate::config::DEFAULT_PRACTICE_NAME,
        practice_name: practice.name,
        device_id: authed.device_id,
        csrf_token: authed.csrf,
        idle_timeout_secs: authed.idle_timeout_secs,
        session_expires_at: authed.expires_at,
        shared_computer: authed.device_shared,
    }))
}

/// A device as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    /// Device.
    #[serde(flatten)]
    pub device: crate::storage::Device,
    /// True for the device making this request.
    pub current: bool,
}

/// My devices, newest first.
#[utoipa::path(get, path = "/api/v1/me/devices", tag = "me",
    responses((status = 200, body = [DeviceView]), (status = 401, body = crate::error::ErrorBody)))]
pub async fn devices(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<DeviceView>>> {
    let devices = state
        .store
        .list_devices(authed.practice_id, authed.user_id)
        .await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|device| DeviceView {
                current: device.id == authed.device_id,
                device,
            })
            .collect(),
    ))
}

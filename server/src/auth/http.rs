//! The sign-in HTTP handlers — login, MFA enrolment, logout — and the
//! steps of a sign-in that invitations and the account page reuse (device
//! choice, second factor, opening a session).
//!
//! Invariants:
//! - every login runs one Argon2id verification, against a dummy hash when
//!   the login is unknown, so timing does not tell which logins exist;
//! - every attempt is reserved in the account's throttle before the
//!   password is checked, and counted unless no hashing slot was free;
//! - a TOTP step or a recovery code is used up by the request that uses it
//!   (a replay is a wrong code);
//! - the token is handed over once: in an `HttpOnly` cookie, or in the body
//!   for a bearer client.

use crate::api::extract::{ApiJson, Meta};
use crate::audit::Action;
use crate::audit::{Event, RequestMeta};
use crate::auth::error::SessionError;
use crate::auth::session::{self, Authed, IssuedSession};
use crate::auth::{password, secrets, throttle, totp};
use crate::error::{ApiResult, AppError};
use crate::ids::{DeviceId, PracticeId};
use crate::request::{client_ip, coarse_user_agent};
use crate::sealing::Purpose;
use crate::state::AppState;
use crate::storage::{DeviceChoice, Role, StoreError, User};
use axum::extract::State;
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How the new session token is handed over.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenTransport {
    /// An `HttpOnly` cookie; the token never reaches page scripts (browsers).
    #[default]
    Cookie,
    /// In the response body, for `Authorization: Bearer` (other clients).
    Bearer,
}

/// Result of a sign-in step.
#[derive(Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AuthOutcome {
    /// A session is open.
    SignedIn(SignedIn),
    /// Staff must enrol TOTP before first use: scan `otpauth_uri` (or type
    /// `totp_secret`), then call `/api/v1/auth/mfa/enroll` with a code.
    MfaEnrollmentRequired(MfaEnrollment),
}

/// An open session.
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    /// User.
    pub user_id: String,
    /// The practice (the browser remembers it for the next sign-in).
    pub practice_id: PracticeId,
    /// Device this session is bound to.
    pub device_id: DeviceId,
    /// Role.
    pub role: Role,
    /// Send as `X-CSRF-Token` on state-changing cookie requests.
    pub csrf_token: String,
    /// Absolute session end (Unix seconds).
    pub expires_at: i64,
    /// Idle timeout of this session (seconds).
    pub idle_timeout_secs: i64,
    /// The bearer token (only with `transport: "bearer"`; shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// One-time recovery codes (only right after MFA enrolment; shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// A pending TOTP enrolment.
#[derive(Serialize, ToSchema)]
pub struct MfaEnrollment {
    /// Pass back to `/api/v1/auth/mfa/enroll` (valid 30 minutes).
    pub enrollment_token: String,
    /// The TOTP secret in base32, for typing into an authenticator app.
    pub totp_secret: String,
    /// The same secret as an `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

/// A response that may set the session cookie.
pub struct AuthResponse {
    status: StatusCode,
    outcome: AuthOutcome,
    cookie: Option<axum::http::HeaderValue>,
}

impl IntoResponse for AuthResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.outcome)).into_response();
        if let Some(cookie) = self.cookie {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        response
    }
}

const ENROLLMENT_TTL_SECS: i64 = 30 * 60;

/// Normalises a login name: trimmed, lower case, 3 to 254 printable characters.
pub fn normalise_login(login: &str) -> Result<String, AppError> {
    let login = login.trim().to_lowercase();
    let len = login.chars().count();
    if !(3..=254).contains(&len) || login.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AppError::invalid(
            "invalid_login",
            "a login is 3 to 254 characters without spaces (an email address works well)",
        ));
    }
    Ok(login)
}

/// Checks a free-text name (display or device name).
pub fn clean_name(name: &str, what: &'static str, max: usize) -> Result<String, AppError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > max || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "invalid_name",
            format!("{what} must be 1 to {max} characters"),
        ));
    }
    Ok(name.to_string())
}

/// The device a sign-in is for: an existing device of the user, or a new
/// one with a name ("Work laptop").
pub fn device_choice(
    device_id: Option<DeviceId>,
    device_name: Option<&str>,
    shared: bool,
    parts: &Parts,
) -> Result<DeviceChoice, AppError> {
    match (device_id, device_name) {
        // A shared computer keeps nothing, so it has no device to go back
        // to; a device that kept its state is not made shared afterwards.
        (Some(_), _) if shared => Err(AppError::invalid(
            "invalid_field",
            "a shared computer signs in as a new device: send device_name, not device_id",
        )),
        (Some(id), _) => Ok(DeviceChoice::Existing(id)),
        (None, Some(name)) => Ok(DeviceChoice::New {
            id: DeviceId::new(),
            name: clean_name(name, "device_name", 64)?,
            user_agent: coarse_user_agent(parts),
            shared,
        }),
        (None, None) => Err(AppError::invalid(
            "invalid_field",
            "device_name is required for a new device",
        )),
    }
}

/// Opens a session on the chosen device and builds the answer.
#[allow(clippy::too_many_arguments)]
pub async fn open_session(
    state: &AppState,
    user: &User,
    device: &DeviceChoice,
    transport: TokenTransport,
    meta: &RequestMeta,
    method: &'static str,
    status: StatusCode,
) -> ApiResult<AuthResponse> {
    let issued = session::issue(state, user.role());
    let event = Event::new(user.practice_id, Action::AuthLogin, meta)
        .actor(user.id, None)
        .detail(serde_json::json!({"session_id": issued.record.id, "method": method}));
    let device_id = state
        .store
        .create_session(user, device, &issued.record, state.now(), event)
        .await
        .map_err(device_error)?;
    Ok(signed_in(
        state,
        user,
        device_id,
        issued,
        transport,
        cookie_outlives_browser(device),
        None,
        status,
    ))
}

/// A shared computer's cookie ends with the browser; any other lasts the
/// session's lifetime.
fn cookie_outlives_browser(device: &DeviceChoice) -> bool {
    !matches!(device, DeviceChoice::New { shared: true, .. })
}

fn device_error(e: SessionError) -> AppError {
    match e {
        SessionError::Store(StoreError::NotFound) => AppError::not_found("device"),
        other => other.into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn signed_in(
    state: &AppState,
    user: &User,
    device_id: DeviceId,
    issued: IssuedSession,
    transport: TokenTransport,
    persistent: bool,
    recovery_codes: Option<Vec<String>>,
    status: StatusCode,
) -> AuthResponse {
    let lifetime = state.settings.auth.session_lifetime_secs;
    let (token, cookie) = match transport {
        TokenTransport::Bearer => (Some(issued.token.expose_secret().to_string()), None),
        TokenTransport::Cookie => (
            None,
            Some(session::session_cookie(
                state,
                &issued.token,
                persistent.then_some(lifetime),
            )),
        ),
    };
    AuthResponse {
        status,
        outcome: AuthOutcome::SignedIn(SignedIn {
            user_id: user.id.to_string(),
            practice_id: user.practice_id,
            device_id,
            role: user.role(),
            csrf_token: issued.csrf,
            expires_at: issued.record.expires_at,
            idle_timeout_secs: issued.record.idle_timeout_secs,
            token,
            recovery_codes,
        }),
        cookie,
    }
}

/// Starts TOTP enrolment for a staff member who has none yet.
pub async fn start_enrollment(
    state: &AppState,
    user: &User,
    status: StatusCode,
) -> ApiResult<AuthResponse> {
    Ok(AuthResponse {
        status,
        outcome: AuthOutcome::MfaEnrollmentRequired(new_enrollment(state, user).await?),
        cookie: None,
    })
}

/// A new TOTP secret for `user`, stored sealed as their one pending
/// enrolment (an earlier pending one is dropped) for 30 minutes. Confirmed
/// by its first code: at sign-up (`enroll`) or from the account page.
pub async fn new_enrollment(state: &AppState, user: &User) -> ApiResult<MfaEnrollment> {
    let secret = totp::new_secret();
    let (token, token_hash) = secrets::new_token();
    let sealed = state
        .at_rest
        .seal(Purpose::TotpSecret, &user.id.to_string(), &secret)
        .map_err(AppError::internal)?;
    state
        .store
        .start_mfa_enrollment(
            user,
            &token_hash,
            &sealed,
            state.now() + ENROLLMENT_TTL_SECS,
        )
        .await?;
    Ok(MfaEnrollment {
        enrollment_token: token.expose_secret().to_string(),
        totp_secret: totp::secret_base32(&secret),
        otpauth_uri: totp::otpauth_uri(&secret, &user.login),
    })
}

/// Login request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The practice signed in to. Logins are unique per practice; it may be
    /// left out only when the server hosts a single practice (else 400
    /// `practice_required`, whatever the login). The browser remembers it
    /// from the invitation and from each sign-in.
    #[serde(default)]
    pub practice_id: Option<PracticeId>,
    /// Login name.
    pub login: String,
    /// Password or passphrase.
    #[schema(value_type = String)]
    pub password: SecretString,
    /// Current TOTP code (required once TOTP is enrolled).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub totp_code: Option<SecretString>,
    /// A one-time recovery code instead of a TOTP code.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub recovery_code: Option<SecretString>,
    /// Sign in again on this existing device of yours.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    /// Name for a new device ("Work laptop"); required without `device_id`.
    #[serde(default)]
    pub device_name: Option<String>,
    /// Cookie (default) or bearer.
    #[serde(default)]
    pub transport: TokenTransport,
    /// A shared or public computer: a new device (not `device_id`), a
    /// cookie that ends with the browser, and the device signed out by the
    /// server once its session is over.
    #[serde(default)]
    pub shared_computer: bool,
}

/// Sign in with password (and TOTP when enrolled).
#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest, tag = "auth",
    responses(
        (status = 200, body = AuthOutcome, description = "signed in, or TOTP enrolment required"),
        (status = 400, body = crate::error::ErrorBody, description = "practice_required: the server hosts several practices and none was named"),
        (status = 401, body = crate::error::ErrorBody, description = "invalid_credentials, mfa_required, invalid_mfa_code, device_revoked"),
        (status = 429, body = crate::error::ErrorBody, description = "throttled"),
        (status = 503, body = crate::error::ErrorBody, description = "busy: no password-hashing slot free in time; nothing was checked or counted; retry after Retry-After"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    parts: Parts,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<AuthResponse> {
    let login = req.login.trim().to_lowercase();
    if login.is_empty()
        || login.len() > 254
        || req.password.expose_secret().len() > 4 * password::MAX_LEN
    {
        return Err(invalid_credentials());
    }
    // Decided before anything about the login is looked at, so the answer
    // says nothing about which practices use it.
    let practice = match req.practice_id {
        Some(p) => p,
        None => match state.store.sole_practice().await? {
            Some(p) => p,
            // No practice yet: nobody to sign in as; the usual refusal,
            // after the usual work.
            None if state.store.practice_count().await? == 0 => PracticeId::new(),
            None => return Err(AppError::bad_request(
                "practice_required",
                "this server hosts several practices: sign in from your practice's sign-in link",
            )),
        },
    };
    let keys = throttle::Keys::for_account(practice, &login, client_ip(&parts));
    let user = match state.store.user_by_login(practice, &login).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let lockout = user.as_ref().map(|u| lockout_event(u, &meta));
    let attempt = throttle::begin(&state, &keys, lockout).await?;

    // Always run one Argon2id verification, against a dummy hash when the
    // login is unknown, so timing does not reveal which logins exist.
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.to_string());
    let pw = req.password.clone();
    let password_ok = match state.hashing.run(move || password::verify(&pw, &phc)).await {
        Ok(ok) => ok,
        Err(e) => {
            // Too busy to check: nothing was learnt about the password, so
            // the reservation is dropped rather than counted.
            attempt.abandoned(&state).await?;
            return Err(e.into());
        }
    };
    let user = match user {
        Some(user) if password_ok && user.deactivated_at.is_none() => user,
        Some(user) => {
            let event = Event::new(user.practice_id, Action::AuthLogin, &meta)
                .failed()
                .target_user(user.id)
                .detail(serde_json::json!({"reason": "password"}));
            attempt.failed(&state, &keys, Some(event)).await?;
            return Err(invalid_credentials());
        }
        None => {
            attempt.failed(&state, &keys, None).await?;
            return Err(invalid_credentials());
        }
    };

    let device = match device_choice(
        req.device_id,
        req.device_name.as_deref(),
        req.shared_computer,
        &parts,
    ) {
        Ok(d) => d,
        Err(e) => {
            attempt.counted();
            return Err(e);
        }
    };
    let method = match &user.totp_secret {
        None if user.role().is_staff() => {
            attempt.succeeded(&state, &keys).await?;
            return start_enrollment(&state, &user, StatusCode::OK).await;
        }
        None => "password",
        Some(stored) => {
            let secret = open_totp(&state, &user, stored)?;
            let given = (req.totp_code.as_ref(), req.recovery_code.as_ref());
            match second_factor(&state, &user, &secret, given.0, given.1).await? {
                SecondFactor::Missing => {
                    attempt.counted();
                    return Err(AppError::unauthorized(
                        "mfa_required",
                        "enter the code from your authenticator app",
                    ));
                }
                SecondFactor::Wrong => {
                    let event = Event::new(user.practice_id, Action::AuthMfa, &meta)
                        .failed()
                        .target_user(user.id);
                    attempt.failed(&state, &keys, Some(event)).await?;
                    return Err(invalid_mfa_code());
                }
                SecondFactor::Totp => "password+totp",
                SecondFactor::RecoveryCode => "password+recovery_code",
            }
        }
    };
    attempt.succeeded(&state, &keys).await?;
    open_session(
        &state,
        &user,
        &device,
        req.transport,
        &meta,
        method,
        StatusCode::OK,
    )
    .await
}

/// What is audited when the throttle refuses a known account outright.
pub(crate) fn lockout_event(user: &User, meta: &crate::audit::RequestMeta) -> Event {
    Event::new(user.practice_id, Action::AuthLockout, meta)
        .failed()
        .target_user(user.id)
        .detail(serde_json::json!({"reason": "throttled"}))
}

/// The user's TOTP secret, opened from its sealed row.
pub(crate) fn open_totp(
    state: &AppState,
    user: &User,
    stored: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, AppError> {
    state
        .at_rest
        .open(Purpose::TotpSecret, &user.id.to_string(), stored)
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "a TOTP secret does not open under the at-rest key"
            ))
        })
}

/// What a second factor given with a request turned out to be.
pub(crate) enum SecondFactor {
    /// None was given.
    Missing,
    /// A wrong code, or one already used.
    Wrong,
    /// A current TOTP code (its step is now used).
    Totp,
    /// An unused recovery code (now used).
    RecoveryCode,
}

/// Checks (and uses up) the TOTP code or recovery code given for `user`,
/// whose opened TOTP secret is `secret`.
pub(crate) async fn second_factor(
    state: &AppState,
    user: &User,
    secret: &[u8],
    totp_code: Option<&SecretString>,
    recovery_code: Option<&SecretString>,
) -> ApiResult<SecondFactor> {
    Ok(match (totp_code, recovery_code) {
        (None, None) => SecondFactor::Missing,
        (Some(code), _) => match totp::verify(secret, code.expose_secret(), state.now()) {
            // Refuse a replay of a code already used in this or a later step.
            Some(step) if state.store.consume_totp_step(user.id, step).await? => SecondFactor::Totp,
            _ => SecondFactor::Wrong,
        },
        (None, Some(code)) => {
            let hash = secrets::hash_recovery_code(code);
            if state
                .store
                .consume_recovery_code(user.id, &hash, state.now())
                .await?
            {
                SecondFactor::RecoveryCode
            } else {
                SecondFactor::Wrong
            }
        }
    })
}

pub(crate) fn invalid_mfa_code() -> AppError {
    AppError::unauthorized(
        "invalid_mfa_code",
        "that code is not valid; try the current one",
    )
}

fn invalid_credentials() -> AppError {
    AppError::unauthorized(
        "invalid_credentials",
        "the login or password is not correct",
    )
}

/// TOTP enrolment confirmation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// From the `mfa_enrollment_required` answer.
    #[schema(value_type = String)]
    pub enrollment_token: SecretString,
    /// A current code from the authenticator app.
    #[schema(value_type = String)]
    pub totp_code: SecretString,
    /// Sign in again on this existing device of yours.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    /// Name for a new device ("Work laptop"); required without `device_id`.
    #[serde(default)]
    pub device_name: Option<String>,
    /// Cookie (default) or bearer.
    #[serde(default)]
    pub transport: TokenTransport,
    /// A shared or public computer, as at sign-in (a staff member's first
    /// sign-in there goes through this step).
    #[serde(default)]
    pub shared_computer: bool,
}

/// Confirm TOTP enrolment; signs in and returns recovery codes once.
#[utoipa::path(post, path = "/api/v1/auth/mfa/enroll", request_body = EnrollRequest, tag = "auth",
    responses(
        (status = 200, body = AuthOutcome, description = "signed in; recovery codes included once"),
        (status = 401, body = crate::error::ErrorBody, description = "invalid_mfa_code"),
        (status = 404, body = crate::error::ErrorBody, description = "unknown or expired enrolment"),
        (status = 429, body = crate::error::ErrorBody, description = "throttled"),
    ))]
pub async fn enroll(
    State(state): State<AppState>,
    Meta(meta): Meta,
    parts: Parts,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> ApiResult<AuthResponse> {
    let token_hash = secrets::hash_token(req.enrollment_token.expose_secret());
    // Tokens are looked up under a per-address throttle, like invites: an
    // unknown one counts as a failed guess (256 bits make guessing
    // hopeless, but no answer that tells tokens apart is free); a known one
    // counts nothing here and goes on to its account's throttle.
    let probe = throttle::Keys::for_address("mfa-enrollment", client_ip(&parts));
    let probing = throttle::begin(&state, &probe, None).await?;
    let (user, secret) = match state.store.mfa_enrollment(&token_hash, state.now()).await {
        Ok(found) => {
            probing.abandoned(&state).await?;
            found
        }
        Err(StoreError::NotFound) => {
            probing.failed(&state, &probe, None).await?;
            return Err(AppError::not_found("enrolment").with_code("enrollment_not_found"));
        }
        Err(e) => {
            probing.abandoned(&state).await?;
            return Err(e.into());
        }
    };
    let keys = throttle::Keys::for_account(user.practice_id, &user.login, client_ip(&parts));
    let attempt = throttle::begin(&state, &keys, Some(lockout_event(&user, &meta))).await?;
    let device = match device_choice(
        req.device_id,
        req.device_name.as_deref(),
        req.shared_computer,
        &parts,
    ) {
        Ok(d) => d,
        Err(e) => {
            attempt.counted();
            return Err(e);
        }
    };
    // `secret` stays sealed: it is what the store matches and keeps.
    let opened = open_totp(&state, &user, &secret)?;
    let Some(step) = totp::verify(&opened, req.totp_code.expose_secret(), state.now()) else {
        let event = Event::new(user.practice_id, Action::AuthMfa, &meta)
            .failed()
            .target_user(user.id);
        attempt.failed(&state, &keys, Some(event)).await?;
        return Err(invalid_mfa_code());
    };
    let codes = secrets::NewRecoveryCodes::generate();
    let issued = session::issue(&state, user.role());
    let device_id = state
        .store
        .complete_mfa_enrollment(
            &user,
            &secret,
            step,
            &codes.hashes,
            &device,
            &issued.record,
            state.now(),
            &meta,
        )
        .await
        .map_err(|e| match e {
            SessionError::Store(StoreError::NotFound) => {
                AppError::not_found("enrolment").with_code("enrollment_not_found")
            }
            other => other.into(),
        })?;
    attempt.succeeded(&state, &keys).await?;
    let shown = codes.shown();
    Ok(signed_in(
        &state,
        &user,
        device_id,
        issued,
        req.transport,
        cookie_outlives_browser(&device),
        Some(shown),
        StatusCode::OK,
    ))
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "signed out"), (status = 401, body = crate::error::ErrorBody)))]
pub async fn logout(State(state): State<AppState>, authed: Authed) -> ApiResult<Response> {
    let event = authed
        .event(Action::AuthLogout)
        .target_device(authed.device_id)
        .detail(serde_json::json!({"session_id": authed.session_id}));
    state
        .store
        .end_session(authed.session_id, "logout", state.now(), event)
        .await?;
    // The session's open sockets close now, with the reason the browser
    // treats as "signed out".
    session::close_sockets(&state, &[(authed.session_id, authed.device_id)]);
    // A shared computer's device has no session left now: sign it out at
    // once rather than at the job's next round. A failure here leaves it to
    // that round; the logout itself has happened.
    if authed.device_shared {
        let event = authed
            .event(Action::DeviceRevoked)
            .target_device(authed.device_id);
        if let Err(e) = crate::revocation::revoke_devices(
            &state,
            authed.practice_id,
            &[authed.device_id],
            "signed_out",
            None,
            event,
        )
        .await
        {
            tracing::warn!(error = %e, "shared device not signed out at logout; the job retries");
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&state));
    Ok(response)
}

//! Invites: create, list, revoke, inspect and accept.
//!
//! Who may invite whom: admins invite anyone (staff and clients); clinicians
//! invite clients. An invite link carries only its token, after `#` so it
//! never reaches server logs or `Referer` headers.

use crate::api::extract::{ApiJson, ApiPath, Meta};
use crate::audit::Action;
use crate::auth::http::{
    self as sign_in, clean_name, device_choice, normalise_login, AuthResponse, TokenTransport,
};
use crate::auth::session::{self, Authed};
use crate::auth::{password, secrets, throttle};
use crate::error::{ApiResult, AppError};
use crate::ids::{InviteId, UserId};
use crate::invites::error::InviteError;
use crate::policy::{self, Scope};
use crate::request::client_ip;
use crate::state::AppState;
use crate::storage::{Invite, NewInvite, NewUser, Role, StoreError};
use axum::extract::State;
use axum::http::{request::Parts, StatusCode};
use axum::Json;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The link a person opens to accept an invite.
pub fn invite_link(public_url: &str, token: &SecretString) -> String {
    format!("{public_url}/invite#{}", token.expose_secret())
}

/// Invite creation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// Role of the invitee.
    pub role: Role,
    /// Whom it is for, as you know them ("Sam R.", "front desk"), up to 60
    /// characters: shown only in your practice's list of invitations,
    /// never in the link, a log line or the audit log.
    #[serde(default)]
    #[schema(max_length = 60)]
    pub label: Option<String>,
}

/// A created invite; `link` is shown once.
#[derive(Serialize, ToSchema)]
pub struct CreatedInvite {
    /// Identifier (for listing and revoking; not the token).
    pub id: InviteId,
    /// Role of the invitee.
    pub role: Role,
    /// The single-use link (carries only the token).
    pub link: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
    /// Whom it is for, in the inviter's words.
    pub label: Option<String>,
}

/// Invite as listed.
#[derive(Serialize, ToSchema)]
pub struct InviteView {
    /// Identifier.
    pub id: InviteId,
    /// Role of the invitee.
    pub role: String,
    /// `pending`, `used`, `revoked` or `expired`.
    pub status: &'static str,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Who redeemed it.
    pub used_by: Option<UserId>,
    /// Whom it is for, in the inviter's words.
    pub label: Option<String>,
    /// The display name of who redeemed it.
    pub used_by_name: Option<String>,
}

fn status_of(invite: &Invite, now: i64) -> &'static str {
    if invite.used_at.is_some() {
        "used"
    } else if invite.revoked_at.is_some() {
        "revoked"
    } else if invite.expires_at <= now {
        "expired"
    } else {
        "pending"
    }
}

fn may_invite(inviter: Role, invitee: Role) -> bool {
    match inviter {
        Role::Admin => true,
        Role::Clinician => invitee == Role::Client,
        Role::Associate | Role::Client => false,
    }
}

/// Create an invite.
#[utoipa::path(post, path = "/api/v1/invites", request_body = CreateInvite, tag = "invites",
    responses((status = 201, body = CreatedInvite), (status = 403, body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<CreateInvite>,
) -> ApiResult<(StatusCode, Json<CreatedInvite>)> {
    if !may_invite(authed.role, req.role) {
        return Err(AppError::forbidden(format!(
            "your role cannot invite a {}",
            req.role
        )));
    }
    // Blank means none; otherwise one line of printable text.
    let label = match req.label.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(clean_name(text, "label", 60)?),
    };
    let now = state.now();
    let (token, token_hash) = secrets::new_token();
    let invite = NewInvite {
        id: InviteId::new(),
        practice_id: authed.practice_id,
        role: req.role,
        token_hash,
        created_by: Some(authed.user_id),
        created_at: now,
        expires_at: now + state.settings.auth.invite_ttl_secs,
        label,
        for_user: None,
    };
    let event = authed
        .event(Action::InviteCreated)
        .detail(serde_json::json!({"invite_id": invite.id, "role": req.role}));
    state.store.create_invite(&invite, event).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvite {
            id: invite.id,
            role: req.role,
            link: invite_link(&state.settings.public_url(), &token),
            expires_at: invite.expires_at,
            label: invite.label,
        }),
    ))
}

/// List invites (admins: the practice's; clinicians: their own).
#[utoipa::path(get, path = "/api/v1/invites", tag = "invites",
    responses((status = 200, body = [InviteView]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<InviteView>>> {
    // The route needs `InvitePeople` (admins and clinicians): an admin
    // reaches the practice's invitations, a clinician their own.
    let only_own = match policy::scope(authed.role) {
        Scope::Practice => None,
        Scope::OwnClients => Some(authed.user_id),
        Scope::Own => return Err(AppError::forbidden("your role cannot list invites")),
    };
    let now = state.now();
    let invites = state
        .store
        .list_invites(authed.practice_id, only_own)
        .await?;
    let event = authed
        .event(Action::InvitesListed)
        .detail(serde_json::json!({"count": invites.len()}));
    state.store.append_audit(event, now).await?;
    // Who accepted each: only people these invitations brought in (a
    // clinician sees only their own invitations).
    let names: std::collections::HashMap<UserId, String> =
        if invites.iter().any(|i| i.used_by.is_some()) {
            state
                .store
                .list_users(authed.practice_id)
                .await?
                .into_iter()
                .map(|u| (u.id, u.display_name))
                .collect()
        } else {
            Default::default()
        };
    Ok(Json(
        invites
            .iter()
            .map(|i| InviteView {
                id: i.id,
                role: i.role.to_string(),
                status: status_of(i, now),
                created_by: i.created_by,
                created_at: i.created_at,
                expires_at: i.expires_at,
                used_by: i.used_by,
                label: i.label.clone(),
                used_by_name: i.used_by.and_then(|u| names.get(&u).cloned()),
            })
            .collect(),
    ))
}

/// Revoke a pending invite.
#[utoipa::path(delete, path = "/api/v1/invites/{id}", tag = "invites",
    params(("id" = String, Path, description = "invite id")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id: InviteId = id.parse().map_err(|_| AppError::not_found("invite"))?;
    // The route needs `InvitePeople` (admins and clinicians): an admin
    // reaches the practice's invitations, a clinician their own.
    let only_own = match policy::scope(authed.role) {
        Scope::Practice => None,
        Scope::OwnClients => Some(authed.user_id),
        Scope::Own => return Err(AppError::forbidden("your role cannot revoke invites")),
    };
    let event = authed
        .event(Action::InviteRevoked)
        .detail(serde_json::json!({"invite_id": id}));
    match state
        .store
        .revoke_invite(authed.practice_id, id, only_own, state.now(), event)
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(InviteError::Store(StoreError::NotFound)) => Err(AppError::not_found("invite")),
        Err(InviteError::Used) => Err(AppError::conflict(
            "invite_not_pending",
            "this invite was already used or revoked",
        )),
        Err(e) => Err(e.into()),
    }
}

/// A token presented by the invitee.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectInvite {
    /// The token from the link.
    #[schema(value_type = String)]
    pub token: SecretString,
}

/// What the invite page shows before registration.
#[derive(Serialize, ToSchema)]
pub struct InviteInfo {
    /// Role the invitee will have.
    pub role: String,
    /// Practice name.
    pub practice_name: String,
    /// Expiry.
    pub expires_at: i64,
    /// Staff must enrol TOTP after choosing a password.
    pub requires_mfa: bool,
    /// A sign-in reset link: the display name of the account it resets
    /// (the page asks for a new password, not for a new account).
    pub reset_for: Option<String>,
    /// A reset of an account with an authenticator app: its code (or a
    /// recovery code) is asked too.
    pub needs_code: bool,
}

async fn pending_invite(state: &AppState, token: &SecretString) -> ApiResult<Invite> {
    if token.expose_secret().len() > 128 {
        return Err(AppError::not_found("invite").with_code("invite_not_found"));
    }
    let invite = match state
        .store
        .invite_by_token(&secrets::hash_token(token.expose_secret()))
        .await
    {
        Ok(i) => i,
        Err(StoreError::NotFound) => {
            return Err(AppError::not_found("invite").with_code("invite_not_found"))
        }
        Err(e) => return Err(e.into()),
    };
    match status_of(&invite, state.now()) {
        "pending" => Ok(invite),
        "expired" => Err(InviteError::Expired.into()),
        _ => Err(InviteError::Used.into()),
    }
}

/// Look at an invite before accepting it.
#[utoipa::path(post, path = "/api/v1/invites/inspect", request_body = InspectInvite, tag = "invites",
    responses((status = 200, body = InviteInfo), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "invite_used"),
        (status = 410, body = crate::error::ErrorBody, description = "invite_expired"),
        (status = 429, body = crate::error::ErrorBody, description = "throttled: too many unknown or used tokens from this address")))]
pub async fn inspect(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(req): ApiJson<InspectInvite>,
) -> ApiResult<Json<InviteInfo>> {
    // Looking tokens up is guessing them too: counted against the same
    // per-address budget as redemptions. A valid token only gives its
    // reservation back — it never clears the address's failures, or one
    // real invitation, looked at again and again, would reset the count
    // for any number of guesses.
    let keys = throttle::Keys::for_address("invite-redemption", client_ip(&parts));
    let attempt = throttle::begin(&state, &keys, None).await?;
    let invite = match pending_invite(&state, &req.token).await {
        Ok(invite) => {
            attempt.abandoned(&state).await?;
            invite
        }
        Err(e) if e.status == axum::http::StatusCode::SERVICE_UNAVAILABLE => {
            attempt.abandoned(&state).await?;
            return Err(e);
        }
        Err(e) => {
            attempt.failed(&state, &keys, None).await?;
            return Err(e);
        }
    };
    let practice = state.store.practice(invite.practice_id).await?;
    let role = invite.role;
    let account = match invite.for_user {
        Some(id) => Some(state.store.user(invite.practice_id, id).await?),
        None => None,
    };
    Ok(Json(InviteInfo {
        role: role.to_string(),
        practice_name: practice.name,
        expires_at: invite.expires_at,
        requires_mfa: role.is_staff() && account.is_none(),
        needs_code: account.as_ref().is_some_and(|u| u.totp_secret.is_some()),
        reset_for: account.map(|u| u.display_name),
    }))
}

/// Registration through an invite.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    /// The token from the link.
    #[schema(value_type = String)]
    pub token: SecretString,
    /// Login name (an email address works well).
    pub login: String,
    /// Name others in the practice see.
    pub display_name: String,
    /// Password (staff) or passphrase (clients), at least 12 characters.
    #[schema(value_type = String)]
    pub password: SecretString,
    /// Name for this device (clients; staff name it at TOTP enrolment).
    #[serde(default)]
    pub device_name: Option<String>,
    /// Cookie (default) or bearer.
    #[serde(default)]
    pub transport: TokenTransport,
}

/// Accept an invite: create the account. Clients are signed in at once;
/// staff continue with TOTP enrolment.
#[utoipa::path(post, path = "/api/v1/invites/accept", request_body = AcceptInvite, tag = "invites",
    responses((status = 201, body = crate::auth::http::AuthOutcome),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 410, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody, description = "throttled: too many failed redemptions from this address"),
        (status = 503, body = crate::error::ErrorBody, description = "busy: no password-hashing slot free in time; nothing was written or counted; retry after Retry-After")))]
pub async fn accept(
    State(state): State<AppState>,
    Meta(meta): Meta,
    parts: Parts,
    ApiJson(req): ApiJson<AcceptInvite>,
) -> ApiResult<AuthResponse> {
    // Validate everything before the invite is consumed, so a typo does not
    // burn the link.
    let login = normalise_login(&req.login)?;
    let display_name = clean_name(&req.display_name, "display_name", 100)?;
    password::check_policy(&req.password, &login)
        .map_err(|w| AppError::invalid("weak_password", w.message()))?;
    throttled_redemption(
        &state,
        &parts,
        redeem(&state, &meta, &parts, req, login, display_name),
    )
    .await
}

/// Runs a redemption (of an invitation or a reset link) under the
/// per-address throttle, as logins are: an attempt reserves itself before
/// the Argon2 work, and unknown or used tokens (or wrong codes) count as
/// failures. Unavailable (too busy to hash, or storage down): nothing was
/// decided about the token, so nothing counts.
async fn throttled_redemption(
    state: &AppState,
    parts: &Parts,
    redemption: impl std::future::Future<Output = ApiResult<AuthResponse>>,
) -> ApiResult<AuthResponse> {
    let keys = throttle::Keys::for_address("invite-redemption", client_ip(parts));
    let attempt = throttle::begin(state, &keys, None).await?;
    let result = redemption.await;
    match &result {
        Ok(_) => attempt.succeeded(state, &keys).await?,
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => attempt.abandoned(state).await?,
        Err(_) => attempt.failed(state, &keys, None).await?,
    }
    result
}

async fn redeem(
    state: &AppState,
    meta: &crate::audit::RequestMeta,
    parts: &Parts,
    req: AcceptInvite,
    login: String,
    display_name: String,
) -> ApiResult<AuthResponse> {
    let invite = pending_invite(state, &req.token).await?;
    if invite.for_user.is_some() {
        // A reset link makes no account (the SQL refuses it too).
        return Err(AppError::not_found("invite").with_code("invite_not_found"));
    }
    let is_staff = invite.role.is_staff();
    let device = match is_staff {
        true => None,
        false => Some(device_choice(
            None,
            req.device_name.as_deref(),
            false,
            parts,
        )?),
    };
    let pw = req.password.clone();
    let password_hash = state.hashing.run(move || password::hash(&pw)).await??;
    let new_user = NewUser {
        id: UserId::new(),
        login,
        display_name,
        password_hash,
    };
    let token_hash = secrets::hash_token(req.token.expose_secret());
    let user = state
        .store
        .redeem_invite(&token_hash, &new_user, state.now(), meta)
        .await?;
    match device {
        None => sign_in::start_enrollment(state, &user, StatusCode::CREATED).await,
        Some(device) => {
            sign_in::open_session(
                state,
                &user,
                &device,
                req.transport,
                meta,
                "password",
                StatusCode::CREATED,
            )
            .await
        }
    }
}

/// A sign-in reset link, made by an admin for a person who cannot sign in
/// (a forgotten passphrase, a lost authenticator with no recovery codes).
#[derive(Serialize, ToSchema)]
pub struct ResetLink {
    /// The single-use link (carries only the token): give it to the person
    /// in person or by phone.
    pub link: String,
    /// Expiry (Unix seconds): a day.
    pub expires_at: i64,
}

/// How long a reset link works.
pub const RESET_LINK_TTL_SECS: i64 = 24 * 3600;

/// Make a sign-in reset link for a person of the practice (admins). Any
/// earlier link of theirs stops working. Redeeming it sets a new password
/// and signs the account out everywhere; it gives nobody the person's
/// history, which stays on their devices.
#[utoipa::path(post, path = "/api/v1/users/{id}/reset-link", tag = "invites",
    params(("id" = uuid::Uuid, Path, description = "user id")),
    responses((status = 201, body = ResetLink), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody, description = "no such active person"),
        (status = 409, body = crate::error::ErrorBody, description = "own_account: use the account page")))]
pub async fn create_reset_link(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<ResetLink>)> {
    let id: UserId = id.parse().map_err(|_| AppError::not_found("user"))?;
    if id == authed.user_id {
        return Err(AppError::conflict(
            "own_account",
            "change your own password on the account page",
        ));
    }
    let user = match state.store.user(authed.practice_id, id).await {
        Ok(u) if u.deactivated_at.is_none() => u,
        Ok(_) | Err(StoreError::NotFound) => return Err(AppError::not_found("user")),
        Err(e) => return Err(e.into()),
    };
    let now = state.now();
    let (token, token_hash) = secrets::new_token();
    let invite = NewInvite {
        id: InviteId::new(),
        practice_id: authed.practice_id,
        role: user.role(),
        token_hash,
        created_by: Some(authed.user_id),
        created_at: now,
        expires_at: now + RESET_LINK_TTL_SECS,
        label: None,
        for_user: Some(user.id),
    };
    let event = authed
        .event(Action::AuthResetLinkIssued)
        .target_user(user.id)
        .detail(serde_json::json!({"invite_id": invite.id}));
    state.store.create_reset_link(&invite, event).await?;
    Ok((
        StatusCode::CREATED,
        Json(ResetLink {
            link: invite_link(&state.settings.public_url(), &token),
            expires_at: invite.expires_at,
        }),
    ))
}

/// A new password through a reset link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The token from the link.
    #[schema(value_type = String)]
    pub token: SecretString,
    /// The new password (staff) or passphrase (clients), at least 12
    /// characters.
    #[schema(value_type = String)]
    pub password: SecretString,
    /// A current code of the account's authenticator app, when it has one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub totp_code: Option<SecretString>,
    /// Or one of its recovery codes.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub recovery_code: Option<SecretString>,
    /// Name for this device.
    #[serde(default)]
    pub device_name: Option<String>,
    /// Cookie (default) or bearer.
    #[serde(default)]
    pub transport: TokenTransport,
}

/// Set a new password through a reset link: every session of the account
/// ends (its sockets close), and this browser is signed in as a new device.
#[utoipa::path(post, path = "/api/v1/invites/reset", request_body = ResetPassword, tag = "invites",
    responses((status = 201, body = crate::auth::http::AuthOutcome),
        (status = 401, body = crate::error::ErrorBody, description = "mfa_required or invalid_mfa_code: the account's authenticator code (or a recovery code) is needed; the link is not used up"),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 410, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody),
        (status = 429, body = crate::error::ErrorBody, description = "throttled: too many failed redemptions from this address"),
        (status = 503, body = crate::error::ErrorBody, description = "busy: no password-hashing slot free in time; nothing was written or counted; retry after Retry-After")))]
pub async fn reset(
    State(state): State<AppState>,
    Meta(meta): Meta,
    parts: Parts,
    ApiJson(req): ApiJson<ResetPassword>,
) -> ApiResult<AuthResponse> {
    throttled_redemption(&state, &parts, redeem_reset(&state, &meta, &parts, req)).await
}

async fn redeem_reset(
    state: &AppState,
    meta: &crate::audit::RequestMeta,
    parts: &Parts,
    req: ResetPassword,
) -> ApiResult<AuthResponse> {
    let invite = pending_invite(state, &req.token).await?;
    let gone = || AppError::not_found("invite").with_code("invite_not_found");
    let Some(user_id) = invite.for_user else {
        return Err(gone());
    };
    let user = match state.store.user(invite.practice_id, user_id).await {
        Ok(u) if u.deactivated_at.is_none() => u,
        Ok(_) | Err(StoreError::NotFound) => return Err(gone()),
        Err(e) => return Err(e.into()),
    };
    password::check_policy(&req.password, &user.login)
        .map_err(|w| AppError::invalid("weak_password", w.message()))?;
    let device = device_choice(None, req.device_name.as_deref(), false, parts)?;
    // An account with an authenticator keeps needing it: the link alone
    // (which its issuer saw) does not take such an account over. A wrong
    // code counts against the account's sign-in budget too, as a sign-in's
    // would, so the link's holder cannot guess codes from many addresses.
    if let Some(sealed) = user.totp_secret.as_deref() {
        let secret = sign_in::open_totp(state, &user, sealed)?;
        let keys = throttle::Keys::for_account(user.practice_id, &user.login, None);
        let attempt = throttle::begin(state, &keys, None).await?;
        let given = sign_in::second_factor(
            state,
            &user,
            &secret,
            req.totp_code.as_ref(),
            req.recovery_code.as_ref(),
        )
        .await?;
        match given {
            sign_in::SecondFactor::Totp | sign_in::SecondFactor::RecoveryCode => {
                attempt.succeeded(state, &keys).await?;
            }
            sign_in::SecondFactor::Missing => {
                attempt.abandoned(state).await?;
                return Err(AppError::unauthorized(
                    "mfa_required",
                    "this account has an authenticator app: enter its current code, or a recovery code",
                ));
            }
            sign_in::SecondFactor::Wrong => {
                let event = crate::audit::Event::new(user.practice_id, Action::AuthMfa, meta)
                    .failed()
                    .target_user(user.id)
                    .detail(serde_json::json!({"purpose": "reset_link"}));
                attempt.failed(state, &keys, Some(event)).await?;
                return Err(sign_in::invalid_mfa_code());
            }
        }
    }
    let pw = req.password.clone();
    let new_hash = state.hashing.run(move || password::hash(&pw)).await??;
    let event = crate::audit::Event::new(user.practice_id, Action::AuthPasswordReset, meta)
        .actor(user.id, None)
        .target_user(user.id);
    let done = state
        .store
        .redeem_reset(
            &secrets::hash_token(req.token.expose_secret()),
            user.id,
            &new_hash,
            state.now(),
            event,
        )
        .await?;
    // Every earlier session of the account closes its socket now.
    session::close_sockets(state, &done.ended);
    // Staff who never finished setting up their authenticator set it up
    // now, as at any sign-in: a reset link is no way around it.
    if done.user.role().is_staff() && done.user.totp_secret.is_none() {
        return sign_in::start_enrollment(state, &done.user, StatusCode::CREATED).await;
    }
    sign_in::open_session(
        state,
        &done.user,
        &device,
        req.transport,
        meta,
        "reset_link",
        StatusCode::CREATED,
    )
    .await
}

//! Sessions: issuing tokens, and the `Authed` extractor that checks them.
//!
//! Invariants:
//! - A session is bound to one device; a revoked device or a deactivated
//!   user fails every token at its next use, whatever the session's state.
//! - Idle timeout and absolute lifetime are decided on the server clock; a
//!   session that has timed out is ended (and audited) on first sight.
//! - Browsers authenticate with an `HttpOnly; SameSite=Strict` cookie and must
//!   send the session's CSRF token in `X-CSRF-Token` on state-changing
//!   requests, from an allowed `Origin` when the header is present. Bearer
//!   tokens are not ambient credentials and need neither.
//! - Last-seen is written at most every `TOUCH_INTERVAL_SECS`, so reads do not
//!   all become writes; idle timeouts are therefore exact to within that.

// This module reads bytes from outside (the network or a file someone
// handed us): no index or slice that could panic on what it is given.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::secrets::{constant_time_eq, csrf_token, hash_token, new_token};
use crate::audit::Action;
use crate::audit::{Event, RequestMeta};
use crate::error::AppError;
use crate::ids::{DeviceId, PracticeId, SessionId, UserId};
use crate::request::request_meta;
use crate::state::AppState;
use crate::storage::{NewSession, Role, SessionRecord, StoreError};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method};
use secrecy::{ExposeSecret, SecretString};

/// Name of the session cookie. The `__Host-` prefix makes the browser
/// accept it only with `Secure`, `Path=/` and no `Domain`: a page on a
/// sibling subdomain (or a man in the middle on plain HTTP) cannot plant or
/// overwrite it — a fixated session would otherwise read what the victim
/// then writes.
pub const COOKIE: &str = "__Host-alcove_session";
/// Its name in plain-HTTP loopback development (`secure_cookie()` false),
/// where the prefix, which requires `Secure`, cannot be used. A request's
/// cookie is read under the one name the server's settings give, never both.
pub const DEV_COOKIE: &str = "alcove_session";

/// The session cookie's name under these settings.
pub fn cookie_name(settings: &crate::config::Settings) -> &'static str {
    if settings.secure_cookie() {
        COOKIE
    } else {
        DEV_COOKIE
    }
}
/// Header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A revoked device's token presented again is audited at most this often
/// per device.
pub const REVOKED_USE_AUDIT_SECS: i64 = 3600;
/// Last-seen is refreshed at most this often.
pub const TOUCH_INTERVAL_SECS: i64 = 15;

/// A freshly issued session token (shown once).
pub struct IssuedSession {
    /// What the store keeps.
    pub record: NewSession,
    /// The token to hand to the device.
    pub token: SecretString,
    /// The CSRF token for cookie use.
    pub csrf: String,
}

/// Issues a session token with the role's idle timeout.
pub fn issue(state: &AppState, role: Role) -> IssuedSession {
    let (token, token_hash) = new_token();
    let auth = &state.settings.auth;
    let idle = if role.is_staff() {
        auth.staff_idle_timeout_secs
    } else {
        auth.client_idle_timeout_secs
    };
    let csrf = csrf_token(&token_hash);
    IssuedSession {
        record: NewSession {
            id: SessionId::new(),
            token_hash,
            idle_timeout_secs: idle,
            expires_at: state.now() + auth.session_lifetime_secs,
        },
        token,
        csrf,
    }
}

/// `Set-Cookie` value carrying the session token. Without `max_age` it is
/// a browser-session cookie: gone when the browser closes (a shared
/// computer).
pub fn session_cookie(state: &AppState, token: &SecretString, max_age: Option<i64>) -> HeaderValue {
    let secure = if state.settings.secure_cookie() {
        "; Secure"
    } else {
        ""
    };
    let max_age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let value = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict{max_age}{secure}",
        cookie_name(&state.settings),
        token.expose_secret()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.settings.secure_cookie() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(&state.settings)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// How the token arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `Cookie:` header (browsers).
    Cookie,
    /// `Authorization: Bearer` (other clients).
    Bearer,
}

/// An authenticated request.
#[derive(Clone, Debug)]
pub struct Authed {
    /// Session.
    pub session_id: SessionId,
    /// Tenant every query of this request is scoped to.
    pub practice_id: PracticeId,
    /// User.
    pub user_id: UserId,
    /// Device.
    pub device_id: DeviceId,
    /// Role.
    pub role: Role,
    /// How the token arrived.
    pub transport: Transport,
    /// CSRF token of this session.
    pub csrf: String,
    /// Session's idle timeout.
    pub idle_timeout_secs: i64,
    /// Session's absolute end.
    pub expires_at: i64,
    /// The device signed in as a shared or public computer.
    pub device_shared: bool,
    /// Request facts, with the actor filled in.
    pub meta: RequestMeta,
}

impl Authed {
    /// Refuses (403 `forbidden`) unless the role holds the permission
    /// (`policy.rs`). The router checks each operation's own permission
    /// before its handler runs; a handler asks again only for a second
    /// permission a data rule needs.
    pub fn may(&self, permission: crate::policy::Permission) -> Result<(), AppError> {
        if crate::policy::allows(self.role, permission) {
            Ok(())
        } else {
            Err(AppError::forbidden("your role does not allow this"))
        }
    }

    /// An audit event by this user and device.
    pub fn event(&self, action: crate::audit::Action) -> Event {
        Event::new(self.practice_id, action, &self.meta)
    }
}

fn presented_token(parts: &Parts, cookie: &str) -> Option<(String, Transport)> {
    if let Some(auth) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        // RFC 9110 §11.1: the scheme is case-insensitive, and one or more
        // spaces separate it from the credentials.
        if let Some((scheme, token)) = auth.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some((token.trim().to_string(), Transport::Bearer));
            }
        }
    }
    for value in parts.headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((name, token)) = pair.trim().split_once('=') else {
                continue;
            };
            if name == cookie && !token.is_empty() {
                return Some((token.to_string(), Transport::Cookie));
            }
        }
    }
    None
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(authed) = parts.extensions.get::<Authed>() {
            return Ok(authed.clone());
        }
        let (token, transport) = presented_token(parts, cookie_name(&state.settings))
            .ok_or_else(|| AppError::unauthorized("unauthenticated", "sign in first"))?;
        // Bound the work an arbitrary header can cause before hashing.
        if token.len() > 128 {
            return Err(AppError::unauthorized("unauthenticated", "sign in first"));
        }
        let token_hash = hash_token(&token);
        let record = match state.store.session_by_token(&token_hash).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => {
                return Err(AppError::unauthorized("unauthenticated", "sign in first"))
            }
            Err(e) => return Err(e.into()),
        };
        let mut meta = request_meta(parts);
        meta.actor_user = Some(record.user_id);
        meta.actor_device = Some(record.device_id);
        check_session(state, &record, &meta).await?;

        let csrf = csrf_token(&token_hash);
        if transport == Transport::Cookie && is_state_changing(&parts.method) {
            check_csrf(state, parts, &csrf)?;
        }

        let now = state.now();
        if now - record.last_seen_at >= TOUCH_INTERVAL_SECS
            || now - record.device_last_seen_at >= TOUCH_INTERVAL_SECS
        {
            state
                .store
                .touch_session(record.id, record.device_id, now)
                .await?;
        }
        let authed = Authed {
            session_id: record.id,
            practice_id: record.practice_id,
            user_id: record.user_id,
            device_id: record.device_id,
            role: record.role,
            transport,
            csrf,
            idle_timeout_secs: record.idle_timeout_secs,
            expires_at: record.expires_at,
            device_shared: record.device_shared,
            meta,
        };
        parts.extensions.insert(authed.clone());
        Ok(authed)
    }
}

/// Closes, at once, the sockets opened with these (now ended) sessions, on
/// their devices: every way a session ends goes through here, so none
/// leaves a socket receiving.
pub fn close_sockets(state: &AppState, ended: &[(SessionId, DeviceId)]) {
    for (session, device) in ended {
        state.delivery.wakeups.wake(
            &[*device],
            crate::delivery::wake::Wake::SessionEnded(*session),
        );
    }
}

/// Requests already on their way when their session was signed out (other
/// tabs, a socket's reconnect) are not evidence of anything.
pub const SIGNED_OUT_GRACE_SECS: i64 = 60;

fn just_signed_out(record: &SessionRecord, now: i64) -> bool {
    record.end_reason.as_deref() == Some("logout")
        && record
            .ended_at
            .is_some_and(|ended| now - ended <= SIGNED_OUT_GRACE_SECS)
}

pub(crate) async fn check_session(
    state: &AppState,
    record: &SessionRecord,
    meta: &RequestMeta,
) -> Result<(), AppError> {
    if record.device_revoked_at.is_some() {
        // Someone still holds the revoked device, or its token: evidence
        // for an incident (the detector opens one). Audited once an hour
        // per device, so that a token presented in a loop costs no write
        // per request. Not a shared computer's: the server revokes it
        // routinely when its session is over, and the browser left open
        // there still holds the cookie.
        let now = state.now();
        if !record.device_shared {
            let event = Event::new(record.practice_id, Action::DeviceRevokedTokenUsed, meta)
                .failed()
                .target_user(record.user_id)
                .target_device(record.device_id);
            state
                .store
                .append_audit_once(&event, now - REVOKED_USE_AUDIT_SECS, now)
                .await?;
        }
        return Err(super::error::device_revoked());
    }
    if record.user_deactivated_at.is_some() {
        return Err(AppError::unauthorized(
            "account_deactivated",
            "this account has been deactivated",
        ));
    }
    if let Some(ended) = record.ended_at {
        // A token whose owner signed out, presented well after: the logout
        // cleared it from that browser, so someone copied it (a cookie
        // lifted from a shared machine, a token from a log). Evidence for
        // an incident, audited once an hour per device. Other ends are
        // routine: an idle page still holds its cookie, and a password
        // change elsewhere leaves the other browsers theirs.
        let now = state.now();
        if record.end_reason.as_deref() == Some("logout") && !just_signed_out(record, now) {
            let event = Event::new(record.practice_id, Action::SessionEndedTokenUsed, meta)
                .failed()
                .target_user(record.user_id)
                .target_device(record.device_id)
                .detail(serde_json::json!({"session_id": record.id, "ended_at": ended}));
            state
                .store
                .append_audit_once(&event, now - REVOKED_USE_AUDIT_SECS, now)
                .await?;
        }
        // The page that gets this says it in words: why matters to a
        // person whose other browser just signed them out.
        let message = match record.end_reason.as_deref() {
            Some("password_changed") => {
                "your password was changed on another device, so this session was signed out; sign in with the new one"
            }
            _ => "your session has ended; sign in again",
        };
        return Err(AppError::unauthorized("session_ended", message));
    }
    let now = state.now();
    let reason = if now >= record.expires_at {
        Some("lifetime")
    } else if now - record.last_seen_at > record.idle_timeout_secs {
        Some("idle")
    } else {
        None
    };
    if let Some(reason) = reason {
        let event = Event::new(record.practice_id, Action::SessionExpired, meta)
            .target_device(record.device_id)
            .detail(serde_json::json!({"session_id": record.id, "reason": reason}));
        state
            .store
            .end_session(record.id, reason, now, event)
            .await?;
        // Its sockets close at once, not at their next look.
        close_sockets(state, &[(record.id, record.device_id)]);
        return Err(AppError::unauthorized(
            "session_expired",
            "your session timed out; sign in again",
        ));
    }
    Ok(())
}

fn check_csrf(state: &AppState, parts: &Parts, csrf: &str) -> Result<(), AppError> {
    let presented = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), csrf.as_bytes()) {
        return Err(AppError::forbidden("missing or wrong CSRF token").with_code("csrf_failed"));
    }
    if let Some(origin) = parts
        .headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        if !state.settings.origins().iter().any(|o| o == origin) {
            return Err(
                AppError::forbidden("request from a foreign origin").with_code("bad_origin")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn parts(cookie: &str) -> Parts {
        axum::http::Request::builder()
            .header(header::COOKIE, cookie)
            .body(())
            .expect("request")
            .into_parts()
            .0
    }

    #[test]
    fn a_secure_deployment_names_its_cookie_with_the_host_prefix() {
        let mut s = Settings::defaults();
        s.public_url = Some("https://alcove.example.org".into());
        assert_eq!(cookie_name(&s), "__Host-alcove_session");
        s.public_url = Some("http://127.0.0.1:8080".into());
        assert_eq!(cookie_name(&s), "alcove_session", "loopback development");
    }

    #[test]
    fn only_the_configured_name_is_read() {
        // A cookie planted under the unprefixed name (from a sibling
        // subdomain, say) is not a session of a secure deployment.
        let planted = parts("alcove_session=fixated; other=1");
        assert_eq!(presented_token(&planted, COOKIE), None);
        let real = parts("other=1; __Host-alcove_session=tok");
        assert_eq!(
            presented_token(&real, COOKIE),
            Some(("tok".to_string(), Transport::Cookie))
        );
        assert_eq!(presented_token(&real, DEV_COOKIE), None);
        assert_eq!(
            presented_token(&parts("__Host-alcove_session="), COOKIE),
            None
        );
    }
}

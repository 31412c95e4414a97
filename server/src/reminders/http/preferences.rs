//! `/api/v1/reminders/preferences/{client_id}`: a client's
//! confidential-communication preferences (45 CFR 164.522(b)).

use crate::api::extract::{path_id, ApiJson, ApiPath};
use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::ids::UserId;
use crate::reminders::rules::check::SenderChoice;
use crate::reminders::rules::locale::Language;
use crate::reminders::service::{self, PreferencesInput, PreferencesView};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

/// What the client asks for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPreferences {
    /// Reminders by email allowed.
    pub email_enabled: bool,
    /// Reminders by SMS allowed.
    pub sms_enabled: bool,
    /// The address to use: absent keeps the stored one, `""` clears it.
    #[serde(default)]
    pub email: Option<String>,
    /// The number (E.164): absent keeps the stored one, `""` clears it.
    #[serde(default)]
    pub phone: Option<String>,
    /// Quiet hours begin (`HH:MM`, the client's zone); with `quiet_end`.
    #[serde(default)]
    pub quiet_start: Option<String>,
    /// Quiet hours end.
    #[serde(default)]
    pub quiet_end: Option<String>,
    /// The client's IANA zone (quiet hours of nudges): absent keeps the
    /// stored one.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Which name reminders carry.
    pub sender: SenderChoice,
    /// Minutes before each appointment (1–3 leads, 15 min – 14 days).
    pub leads_minutes: Vec<u32>,
    /// Language of reminders.
    pub language: Language,
    /// No reminders at all.
    pub opted_out: bool,
}

/// A client's preferences (addresses masked); defaults when never set.
#[utoipa::path(get, path = "/api/v1/reminders/preferences/{client_id}", tag = "reminders",
    params(("client_id" = uuid::Uuid, Path, description = "client id")),
    responses((status = 200, body = PreferencesView),
        (status = 403, body = crate::error::ErrorBody, description = "staff not assigned"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<Json<PreferencesView>> {
    let client: UserId = path_id(&raw, "client")?;
    Ok(Json(service::preferences(&state, &authed, client).await?))
}

/// Replaces a client's preferences (the client, or staff recording a
/// request made by phone: audited, and the client sees who set them).
/// Pending reminders are re-planned in the same transaction.
#[utoipa::path(put, path = "/api/v1/reminders/preferences/{client_id}", tag = "reminders",
    request_body = PutPreferences,
    params(("client_id" = uuid::Uuid, Path, description = "client id")),
    responses((status = 200, body = PreferencesView),
        (status = 403, body = crate::error::ErrorBody, description = "staff not assigned"),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "a field out of bounds (named, not its value)")))]
pub async fn put(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<PutPreferences>,
) -> ApiResult<Json<PreferencesView>> {
    let client: UserId = path_id(&raw, "client")?;
    let quiet = match (req.quiet_start, req.quiet_end) {
        (Some(s), Some(e)) if !s.is_empty() && !e.is_empty() => Some((s, e)),
        (None, None) => None,
        (Some(s), Some(e)) if s.is_empty() && e.is_empty() => None,
        _ => {
            return Err(crate::reminders::error::ReminderError::Invalid(
                "quiet_start and quiet_end go together",
            )
            .into())
        }
    };
    let input = PreferencesInput {
        email_enabled: req.email_enabled,
        sms_enabled: req.sms_enabled,
        email: req.email,
        phone: req.phone,
        quiet,
        time_zone: req.time_zone,
        sender: req.sender,
        leads_minutes: req.leads_minutes,
        language: req.language,
        opted_out: req.opted_out,
    };
    service::put_preferences(&state, &authed, client, input).await?;
    Ok(Json(service::preferences(&state, &authed, client).await?))
}

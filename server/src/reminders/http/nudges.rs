//! `/api/v1/reminders/nudges`: the "You have a new secure message" nudges
//! that went out (or why not), and the practice's timing for them.

use crate::api::extract::ApiJson;
use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::reminders::service::{self, NudgeSettings};
use crate::reminders::store::NudgeView;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;

/// Nudges of the practice (admins) or of one's own conversations
/// (clinicians, associates), newest first: when, through which channel,
/// or why not — never the text or where it went.
#[utoipa::path(get, path = "/api/v1/reminders/nudges", tag = "reminders",
    responses((status = 200, body = [NudgeView]),
        (status = 403, body = crate::error::ErrorBody, description = "a client")))]
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<NudgeView>>> {
    Ok(Json(service::list_nudges(&state, &authed).await?))
}

/// The practice's nudge timing.
#[utoipa::path(get, path = "/api/v1/reminders/nudges/settings", tag = "reminders",
    responses((status = 200, body = NudgeSettings),
        (status = 403, body = crate::error::ErrorBody, description = "a client")))]
pub async fn get_settings(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<NudgeSettings>> {
    Ok(Json(service::nudge_settings(&state, &authed).await?))
}

/// Sets the practice's nudge timing (an admin; audited).
#[utoipa::path(put, path = "/api/v1/reminders/nudges/settings", tag = "reminders",
    request_body = NudgeSettings,
    responses((status = 200, body = NudgeSettings),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 422, body = crate::error::ErrorBody, description = "out of bounds")))]
pub async fn put_settings(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<NudgeSettings>,
) -> ApiResult<Json<NudgeSettings>> {
    Ok(Json(
        service::put_nudge_settings(&state, &authed, req).await?,
    ))
}

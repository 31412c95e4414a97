//! `GET /api/v1/reminders`: what was sent, is pending, failed, was withheld
//! or withdrawn, each with its reason.

use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::reminders::service;
use crate::reminders::store::ReminderView;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;

/// Reminders of the practice (admins) or of one's own appointments
/// (clinicians, associates), newest due first.
#[utoipa::path(get, path = "/api/v1/reminders", tag = "reminders",
    responses((status = 200, body = [ReminderView]),
        (status = 403, body = crate::error::ErrorBody, description = "a client")))]
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<ReminderView>>> {
    Ok(Json(service::list(&state, &authed).await?))
}

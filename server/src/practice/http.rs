//! The practice's HTTP handlers: rename it.

use crate::api::extract::ApiJson;
use crate::audit::Action;
use crate::auth::http::clean_name;
use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::ids::PracticeId;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new name for the practice.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenamePractice {
    /// One line, 1–100 characters: what people see at the top of every page
    /// (and, where the reminder rules allow, as a reminder's sender).
    #[schema(max_length = 100)]
    pub name: String,
}

/// The practice as its admins see it.
#[derive(Serialize, ToSchema)]
pub struct PracticeView {
    /// Identifier.
    pub id: PracticeId,
    /// Display name.
    pub name: String,
    /// It is a name of its own, not the default one.
    pub named: bool,
}

/// Rename the practice (admins).
#[utoipa::path(patch, path = "/api/v1/practice", request_body = RenamePractice, tag = "practice",
    responses((status = 200, body = PracticeView), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "invalid_name")))]
pub async fn rename(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<RenamePractice>,
) -> ApiResult<Json<PracticeView>> {
    let name = clean_name(&req.name, "name", 100)?;
    let event = authed.event(Action::PracticeRenamed);
    state
        .store
        .rename_practice(authed.practice_id, &name, state.now(), event)
        .await?;
    Ok(Json(PracticeView {
        id: authed.practice_id,
        named: name != crate::config::DEFAULT_PRACTICE_NAME,
        name,
    }))
}

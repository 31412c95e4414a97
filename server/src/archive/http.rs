//! `/api/v1/history-archive`: the caller's sealed history archives.

use super::service::{self, Archive, ArchiveList, StoreRequest, TurnOnRequest};
use crate::api::extract::{ApiJson, ApiPath};
use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// The caller's archives (which conversations, sizes, times; no content).
#[utoipa::path(get, path = "/api/v1/history-archive", tag = "history",
    responses((status = 200, body = ArchiveList), (status = 401, body = crate::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, authed: Authed) -> ApiResult<Json<ArchiveList>> {
    Ok(Json(service::list(&state, &authed).await?))
}

/// Turns the caller's history backup on under a new key (by its public
/// id; the key itself never reaches the server). The same key again: 204.
#[utoipa::path(put, path = "/api/v1/history-archive", tag = "history", request_body = TurnOnRequest,
    responses((status = 204),
        (status = 401, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "archive_exists: a backup under another key exists; delete it first"),
        (status = 422, body = crate::error::ErrorBody, description = "invalid_field: key_id")))]
pub async fn turn_on(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<TurnOnRequest>,
) -> ApiResult<StatusCode> {
    service::turn_on(&state, &authed, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores the caller's sealed archive of a conversation they are one of
/// the two people of (replacing theirs).
#[utoipa::path(put, path = "/api/v1/history-archive/{id}", tag = "history", request_body = StoreRequest,
    params(("id" = uuid::Uuid, Path, description = "conversation id")),
    responses((status = 204),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody, description = "not one of the conversation's two people"),
        (status = 409, body = crate::error::ErrorBody, description = "archive_key_changed: not sealed under the person's current key (the backup is off, or uses a new key)"),
        (status = 413, body = crate::error::ErrorBody, description = "too_large: over 1 MiB"),
        (status = 422, body = crate::error::ErrorBody, description = "invalid_field: not a sealed archive, or key_id")))]
pub async fn store(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<StoreRequest>,
) -> ApiResult<StatusCode> {
    service::store(&state, &authed, &id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's sealed archive of a conversation (audited).
#[utoipa::path(get, path = "/api/v1/history-archive/{id}", tag = "history",
    params(("id" = uuid::Uuid, Path, description = "conversation id")),
    responses((status = 200, body = Archive),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn fetch(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Archive>> {
    Ok(Json(service::fetch(&state, &authed, &id).await?))
}

/// Deletes every archive of the caller (turning the archive off).
#[utoipa::path(delete, path = "/api/v1/history-archive", tag = "history",
    responses((status = 204), (status = 401, body = crate::error::ErrorBody)))]
pub async fn delete_all(State(state): State<AppState>, authed: Authed) -> ApiResult<StatusCode> {
    service::delete_all(&state, &authed).await?;
    Ok(StatusCode::NO_CONTENT)
}

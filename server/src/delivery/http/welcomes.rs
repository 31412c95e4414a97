//! Welcomes waiting for a device, and their acknowledgement.

use super::*;

/// Welcomes waiting for this device.
#[utoipa::path(get, path = "/api/v1/welcomes", tag = "delivery", responses((status = 200, body = [PendingWelcome])))]
pub async fn welcomes(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<PendingWelcome>>> {
    Ok(Json(state.store.pending_welcomes(authed.device_id).await?))
}

/// Acknowledge a Welcome once joined.
#[utoipa::path(post, path = "/api/v1/welcomes/{id}/ack", tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "welcome id")), responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
pub async fn ack_welcome(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    match state
        .store
        .ack_welcome(authed.device_id, &id, state.now())
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(AppError::not_found("welcome")),
        Err(e) => Err(e.into()),
    }
}

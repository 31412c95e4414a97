//! `/api/v1/push`: the server's key and this device's subscription.

use super::service::{self, SubscriptionRequest, VapidKey};
use crate::api::extract::ApiJson;
use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// The application server key to subscribe with (VAPID, RFC 8292).
#[utoipa::path(get, path = "/api/v1/push/key", tag = "push",
    responses((status = 200, body = VapidKey), (status = 401, body = crate::error::ErrorBody)))]
pub async fn key(State(state): State<AppState>, _authed: Authed) -> Json<VapidKey> {
    Json(service::key(&state))
}

/// Subscribes this device to "a new secure message" notices (replacing
/// its earlier subscription). Ends at logout and revocation.
#[utoipa::path(put, path = "/api/v1/push/subscription", tag = "push", request_body = SubscriptionRequest,
    responses((status = 204),
        (status = 401, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "shared_computer: a shared computer keeps nothing"),
        (status = 422, body = crate::error::ErrorBody, description = "invalid_field (keys), endpoint_refused (scheme, address)")))]
pub async fn subscribe(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<SubscriptionRequest>,
) -> ApiResult<StatusCode> {
    service::subscribe(&state, &authed, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends this device's subscription.
#[utoipa::path(delete, path = "/api/v1/push/subscription", tag = "push",
    responses((status = 204), (status = 401, body = crate::error::ErrorBody)))]
pub async fn unsubscribe(State(state): State<AppState>, authed: Authed) -> ApiResult<StatusCode> {
    service::unsubscribe(&state, &authed).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/webhooks`: the practice's endpoints (admins), their delivery
//! logs, redelivery.

use crate::api::extract::{path_id, ApiJson, ApiPath};
use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::incidents::service::{
    self, CreatedEndpoint, NewEndpointRequest, RotatedSecret, TestQueued,
};
use crate::incidents::store::{DeliveryView, EndpointView};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

/// Adds an endpoint; its `whsec_` secret is answered this once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "incidents", request_body = NewEndpointRequest,
    responses((status = 201, body = CreatedEndpoint),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 422, body = crate::error::ErrorBody, description = "url_refused (scheme, address), unknown event type, too many endpoints")))]
pub async fn create(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<NewEndpointRequest>,
) -> ApiResult<(StatusCode, Json<CreatedEndpoint>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create_endpoint(&state, &authed, req).await?),
    ))
}

/// The practice's endpoints (never their secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "incidents",
    responses((status = 200, body = [EndpointView]),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin")))]
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<EndpointView>>> {
    Ok(Json(service::endpoints(&state, &authed).await?))
}

/// Turns an endpoint off; its log stays.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/disable", tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "endpoint id")),
    responses((status = 204),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service::disable_endpoint(&state, &authed, path_id(&raw, "endpoint")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns an endpoint back on (one the server turned off after three days
/// of failures, or an admin did); its waiting deliveries go out again.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/enable", tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "endpoint id")),
    responses((status = 204),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "the practice already has 10 endpoints on")))]
pub async fn enable(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service::enable_endpoint(&state, &authed, path_id(&raw, "endpoint")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces an endpoint's signing secret; the new one is answered this
/// once, and the previous one keeps signing beside it for a day.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = RotatedSecret),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<Json<RotatedSecret>> {
    Ok(Json(
        service::rotate_secret(&state, &authed, path_id(&raw, "endpoint")?).await?,
    ))
}

/// An endpoint's deliveries, newest first: status, attempts, the last
/// answer's code (never a body).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "endpoint id")),
    responses((status = 200, body = [DeliveryView]),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    Ok(Json(
        service::deliveries(&state, &authed, path_id(&raw, "endpoint")?).await?,
    ))
}

/// Sends a test delivery (event `webhook.test`, no data) to an enabled
/// endpoint, signed and retried like any other.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "endpoint id")),
    responses((status = 202, body = TestQueued),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody, description = "no such enabled endpoint"),
        (status = 429, body = crate::error::ErrorBody, description = "too_soon: a test went to it less than 10 s ago (Retry-After)")))]
pub async fn test(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<TestQueued>)> {
    let queued = service::send_test(&state, &authed, path_id(&raw, "endpoint")?).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

/// Sends a delivery again, under the same `webhook-id`.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{id}/redeliver", tag = "incidents",
    params(("id" = String, Path, description = "delivery id (msg_…)")),
    responses((status = 204),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn redeliver(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service::redeliver(&state, &authed, &raw).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The HTTP API under `/api/v1`, health endpoints, and the layers every
//! response passes through (request id, header and body limits, security
//! headers, panic catching, JSON errors for unknown routes and methods).

pub mod extract;
pub mod openapi;

use crate::archive::http as archive;
use crate::audit::http as audit;
use crate::auth::http as auth;
use crate::delivery::http as delivery;
use crate::error::AppError;
use crate::incidents::http as incidents;
use crate::invites::http as invites;
use crate::people::http as people;
use crate::push::http as push;
use crate::reminders::http as reminders;
use crate::request::{client_address, ClientAddr, RequestId};
use crate::revocation::http as revocation;
use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use axum::{Json, Router};
use tracing::Instrument;

/// Body limit of routes that carry MLS messages (base64 of up to 256 KiB,
/// plus JSON framing).
const MLS_BODY_LIMIT: usize = 400 * 1024;

/// Most header fields in one request; more is 431 `headers_too_large`.
pub const MAX_HEADER_COUNT: usize = 100;
/// Largest header block (names, values and 4 bytes of framing each); more
/// is 431 `headers_too_large`.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Longest request target (path and query); longer is 414 `uri_too_long`.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The whole application: API, health, web client.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/mfa/enroll", post(auth::enroll))
        .route("/auth/logout", post(auth::logout))
        .route("/invites", post(invites::create).get(invites::list))
        .route("/invites/{id}", delete(invites::revoke))
        .route("/invites/inspect", post(invites::inspect))
        .route("/invites/accept", post(invites::accept))
        .route("/invites/reset", post(invites::reset))
        .route("/me", get(crate::account::http::me))
        .route("/me/devices", get(crate::account::http::devices))
        .route(
            "/me/devices/{id}",
            patch(crate::account::http::rename_device),
        )
        .route("/practice", patch(crate::practice::http::rename))
        .route("/me/password", post(crate::account::http::change_password))
        .route(
            "/me/authenticator",
            post(crate::account::http::start_authenticator),
        )
        .route(
            "/me/authenticator/confirm",
            post(crate::account::http::confirm_authenticator),
        )
        .route(
            "/me/recovery-codes",
            get(crate::account::http::recovery_codes_left)
                .post(crate::account::http::renew_recovery_codes),
        )
        .route("/users", get(people::list))
        .route("/users/{id}", get(people::get))
        .route("/users/{id}/residence", put(people::set_residence))
        .route("/users/{id}/reset-link", post(invites::create_reset_link))
        .route("/audit/events", get(audit::events))
        .route("/audit/export", get(audit::export))
        .route("/audit/head", get(audit::head))
        .route("/audit/proof/inclusion", get(audit::inclusion))
        .route("/audit/proof/inclusions", get(audit::inclusions))
        .route("/audit/proof/consistency", get(audit::consistency))
        .route(
            "/key-packages",
            post(delivery::key_packages::upload_key_packages)
                .get(delivery::key_packages::key_package_status),
        )
        .route("/assignments", post(delivery::assignments::assign))
        .route("/contacts", get(delivery::conversations::contacts))
        .route(
            "/conversations",
            post(delivery::conversations::start).get(delivery::conversations::list),
        )
        .route("/conversations/{id}", get(delivery::conversations::get))
        .route(
            "/conversations/{id}/key-packages/claim",
            post(delivery::key_packages::claim),
        )
        .route(
            "/conversations/{id}/group-info",
            post(delivery::commits::post_group_info)
                .get(delivery::commits::get_group_info)
                .layer(DefaultBodyLimit::max(MLS_BODY_LIMIT)),
        )
        .route(
            "/conversations/{id}/commits",
            post(delivery::commits::commit).layer(DefaultBodyLimit::max(MLS_BODY_LIMIT)),
        )
        .route(
            "/conversations/{id}/messages",
            post(delivery::messages::send)
                .get(delivery::messages::fetch)
                .layer(DefaultBodyLimit::max(MLS_BODY_LIMIT)),
        )
        .route("/conversations/{id}/ack", post(delivery::messages::ack))
        .route("/welcomes", get(delivery::welcomes::welcomes))
        .route("/welcomes/{id}/ack", post(delivery::welcomes::ack_welcome))
        .route("/ws", get(crate::delivery::ws::upgrade))
        .route("/devices", get(revocation::inventory))
        .route("/devices/{id}/revoke", post(revocation::revoke_device))
        .route("/users/{id}/deactivate", post(revocation::deactivate_user))
        .route("/users/{id}/access-review", get(revocation::access_review))
        .route("/revocations/pending", get(revocation::pending))
        .route("/lost-devices", get(revocation::lost_devices))
        .route("/me/unlock-share", get(revocation::unlock_share))
        .route(
            "/appointments",
            post(reminders::appointments::create).get(reminders::appointments::list),
        )
        .route(
            "/appointments/{id}",
            put(reminders::appointments::reschedule),
        )
        .route(
            "/appointments/{id}/cancel",
            post(reminders::appointments::cancel),
        )
        .route(
            "/occurrences/{id}/answer",
            post(reminders::appointments::answer),
        )
        .route(
            "/reminders/preferences/{client_id}",
            get(reminders::preferences::get).put(reminders::preferences::put),
        )
        .route(
            "/reminders/templates/{kind}/{language}",
            get(reminders::templates::get).put(reminders::templates::put),
        )
        .route(
            "/reminders/templates/{kind}/{language}/lint",
            post(reminders::templates::lint),
        )
        .route("/reminders/nudges", get(reminders::nudges::list))
        .route(
            "/reminders/nudges/settings",
            get(reminders::nudges::get_settings).put(reminders::nudges::put_settings),
        )
        .route("/reminders", get(reminders::reminders::list))
        .route("/reminders/sms/inbound", post(reminders::inbound::receive))
        .route(
            "/incidents",
            get(incidents::incidents::list).post(incidents::incidents::report),
        )
        .route(
            "/incidents/{id}",
            get(incidents::incidents::get).patch(incidents::incidents::change),
        )
        .route(
            "/incidents/{id}/assessment",
            put(incidents::incidents::save_assessment),
        )
        .route(
            "/incidents/{id}/sign-off",
            post(incidents::incidents::sign_off),
        )
        .route("/incidents/{id}/notice", get(incidents::incidents::notice))
        .route(
            "/incidents/{id}/report",
            get(incidents::incidents::export_report),
        )
        .route("/push/key", get(push::key))
        .route(
            "/history-archive",
            get(archive::list)
                .put(archive::turn_on)
                .delete(archive::delete_all),
        )
        .route(
            "/history-archive/{id}",
            get(archive::fetch)
                .put(archive::store)
                .layer(DefaultBodyLimit::max(crate::archive::rules::BODY_LIMIT)),
        )
        .route(
            "/push/subscription",
            put(push::subscribe).delete(push::unsubscribe),
        )
        .route(
            "/webhooks",
            get(incidents::webhooks::list).post(incidents::webhooks::create),
        )
        .route("/webhooks/{id}/disable", post(incidents::webhooks::disable))
        .route("/webhooks/{id}/enable", post(incidents::webhooks::enable))
        .route("/webhooks/{id}/test", post(incidents::webhooks::test))
        .route(
            "/webhooks/{id}/rotate-secret",
            post(incidents::webhooks::rotate_secret),
        )
        .route(
            "/webhooks/{id}/deliveries",
            get(incidents::webhooks::deliveries),
        )
        .route(
            "/webhooks/deliveries/{id}/redeliver",
            post(incidents::webhooks::redeliver),
        )
        .route("/openapi.json", get(openapi::serve))
        // Every route, before its extractors: the policy's permission.
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(no_store));

    let max_body = state.settings.limits.max_body_bytes;
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(header_limits))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            resolve_client_addr,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Checks the route's permission (`policy::ROUTES`) before anything but
/// the headers is read: the session (401 as `Authed` answers), then the
/// role (403 `forbidden`, audited). The authenticated session is handed on
/// in the request's extensions, so the handler's `Authed` does not look it
/// up again. A route missing from the table is refused: fail closed.
async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use crate::policy::{self, Access};
    use axum::extract::FromRequestParts;
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let path = matched.map(|p| p.strip_prefix("/api/v1").unwrap_or(p));
    let Some(route) = path.and_then(|p| policy::route(req.method().as_str(), p)) else {
        tracing::error!(route = ?matched, "a route without a policy entry was refused");
        return AppError::forbidden("this operation is not in the access policy").into_response();
    };
    let Access::Session(permission) = route.access else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let authed = match crate::auth::session::Authed::from_request_parts(&mut parts, &state).await {
        Ok(authed) => authed,
        Err(e) => return e.into_response(),
    };
    if let Err(refused) = authed.may(permission) {
        let event = authed
            .event(route.refused_as)
            .failed()
            .detail(serde_json::json!({"permission": permission.as_str()}));
        if let Err(e) = state.store.append_audit(event, state.now()).await {
            return AppError::from(e).into_response();
        }
        return refused.into_response();
    }
    let response = next.run(Request::from_parts(parts, body)).await;
    if response.status() == StatusCode::NOT_FOUND && route.path.contains('{') {
        // An id that is nobody's, or not the caller's (the data rules
        // answer 404 for both). Recorded, with the route's template and
        // never the id asked for, so that someone walking ids — a person
        // or a stolen session — is seen by the probing detector like a
        // burst of refusals. The answer stands whatever the record does.
        let event = authed
            .event(crate::audit::Action::AccessNotFound)
            .failed()
            .detail(serde_json::json!({"route": route.path}));
        if let Err(e) = state.store.append_audit(event, state.now()).await {
            tracing::warn!(error = %e, "a request for an unknown id was not recorded");
        }
    }
    response
}

async fn api_not_found() -> AppError {
    AppError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Outside `/api/v1`: JSON under `/api` (any version), a bare 404 for the
/// web client's paths.
async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        api_not_found().await.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Refuses, in JSON, requests whose headers or target exceed the API's
/// limits. hyper's own limits are set higher (`crate::HYPER_MAX_HEADERS`),
/// so that only grossly oversized requests get hyper's bodiless 431.
async fn header_limits(req: Request, next: Next) -> Response {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADER_COUNT || bytes > MAX_HEADER_BYTES {
        return AppError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "the request headers are too large",
        )
        .into_response();
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().len())
        .unwrap_or(0);
    if target > MAX_URI_BYTES {
        return AppError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "the request target is too long",
        )
        .into_response();
    }
    next.run(req).await
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    // The payload may quote request data: log that a panic happened, not what.
    tracing::error!("handler panicked");
    AppError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error",
    )
    .into_response()
}

/// Gives every request a fresh id (never the client's), logs one line per
/// request with the route template (never the raw URI), and echoes the id.
async fn request_id(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "-".into());
    let span =
        tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route);
    let started = std::time::Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    response
}

/// Middleware: resolves [`ClientAddr`] once per request.
async fn resolve_client_addr(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(axum::extract::ConnectInfo(peer)) = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .copied()
    {
        let ip = client_address(
            peer.ip(),
            request.headers(),
            &state.settings.auth.trusted_proxies,
        );
        request.extensions_mut().insert(ClientAddr(ip));
    }
    next.run(request).await
}

/// Headers on every response.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// API answers may carry personal data: never cache them.
async fn no_store(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200), (status = 503, body = crate::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, AppError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(
            serde_json::json!({"status": "ready", "storage": state.store.backend()}),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database is not reachable",
            ))
        }
    }
}

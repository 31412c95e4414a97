//! The browser client, served from this origin with its assets compiled into
//! the binary (no CDN, no third-party origin).

use crate::state::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../../client-web/static/index.html");
const APP_JS: &str = include_str!("../../client-web/static/app.js");
const APP_CSS: &str = include_str!("../../client-web/static/app.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Routes of the web client. Every client-side page (`/`, `/invite`, …) gets
/// the same shell; the page reads secrets only from the URL fragment.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }))
        .route("/invite", get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }))
        .route("/app.js", get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/app.css", get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }))
}

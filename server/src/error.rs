//! The one error type handlers return, and the error policy.
//!
//! Policy: libraries and the store return typed errors; handlers turn them
//! into an `AppError` with a stable machine code and a human sentence. The
//! response body is always `{"error": code, "message": sentence}`. The cause
//! of a 500 is logged (with the request id from the tracing span) and never
//! sent to the client. Messages never contain tokens, passwords, message
//! content or client names.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;

/// An error answer.
#[derive(Debug)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable sentence, safe to show.
    pub message: Cow<'static, str>,
    /// Seconds to wait before retrying (429).
    pub retry_after: Option<i64>,
    /// Internal cause, logged and never sent.
    pub source: Option<anyhow::Error>,
    /// Extra machine-readable fields merged into the body (never secrets).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The JSON error body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub error: &'static str,
    /// Human-readable sentence.
    pub message: String,
    /// Extra fields for some codes (e.g. `current_epoch` with `stale_epoch`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AppError {
    /// Any status, code and message.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            source: None,
            extra: None,
        }
    }

    /// 400: the request could not be parsed.
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: not authenticated (or no longer).
    pub fn unauthorized(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403: authenticated but not allowed.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: absent, or belongs to another practice (indistinguishable).
    pub fn not_found(what: &'static str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409: conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422: well-formed but invalid.
    pub fn invalid(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 429: throttled.
    pub fn throttled(retry_after: i64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "too many failed attempts; try again later",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 503: too busy to do this now (nothing was decided or written);
    /// retry after `retry_after` seconds.
    pub fn busy(retry_after: i64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the server is busy; try again in a moment",
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// 500 with a logged cause.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        );
        e.source = Some(cause.into());
        e
    }
}

impl From<crate::storage::error::StoreError> for AppError {
    fn from(e: crate::storage::error::StoreError) -> Self {
        use crate::storage::error::StoreError as E;
        match e {
            E::NotFound => AppError::not_found("resource"),
            E::Unavailable => AppError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server could not complete this just now; nothing was changed; retry",
            ),
            other => AppError::internal(other),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::internal(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log_cause();
        let body = ErrorBody {
            error: self.code,
            message: self.message.into_owned(),
            extra: self.extra,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, AppError>;

impl AppError {
    /// Logs the internal cause, if any (never sent to the client). Called
    /// wherever an error is answered, on HTTP or on a socket.
    pub fn log_cause(&self) {
        if let Some(source) = &self.source {
            tracing::error!(error = %source, code = self.code, "request failed");
        }
    }

    /// Replaces the machine code (keeping status and message).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

/// Checks that each error is answered with its status and code: the one
/// loop behind every capability's mapping test.
#[cfg(test)]
pub(crate) fn assert_answers<E: Into<AppError>>(cases: Vec<(E, StatusCode, &str)>) {
    for (e, status, code) in cases {
        let app: AppError = e.into();
        assert_eq!((app.status, app.code), (status, code));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::error::StoreError;

    async fn answer(e: AppError) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = e.into_response();
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        (
            status,
            retry,
            serde_json::from_slice(&bytes).unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn every_store_refusal_has_its_status_and_code() {
        let cases = [
            (StoreError::NotFound, 404, "not_found"),
            (StoreError::Unavailable, 503, "unavailable"),
        ];
        for (error, status, code) in cases {
            let (got, _, body) = answer(error.into()).await;
            assert_eq!(got.as_u16(), status, "{code}");
            assert_eq!(body["error"], code);
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{code}"
            );
        }
        let (_, _, body) =
            answer(crate::delivery::error::DeliveryError::StaleEpoch { current: 7 }.into()).await;
        assert_eq!(body["current_epoch"], 7, "the epoch to catch up to");
    }

    #[tokio::test]
    async fn internal_errors_say_nothing_of_their_cause() {
        let (status, _, body) = answer(AppError::internal(anyhow::anyhow!(
            "secret path /var/lib/x"
        )))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "internal");
        assert!(!body.to_string().contains("secret"), "{body}");
    }

    #[tokio::test]
    async fn throttled_and_busy_answers_say_when_to_retry() {
        let (status, retry, body) = answer(AppError::throttled(900)).await;
        assert_eq!((status.as_u16(), retry.as_deref()), (429, Some("900")));
        assert_eq!(body["error"], "throttled");
        let (status, retry, body) = answer(AppError::busy(0)).await;
        assert_eq!((status.as_u16(), retry.as_deref()), (503, Some("1")));
        assert_eq!(body["error"], "busy");
    }
}

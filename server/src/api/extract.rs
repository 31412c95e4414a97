//! Extractors that parse at the edge: JSON bodies, query strings and path
//! parameters with our error format, request facts for the audit log, and
//! the authenticated session.

// This module reads bytes from outside (the network or a file someone
// handed us): no index or slice that could panic on what it is given.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::error::AppError;
use crate::request::{request_meta, RequestMeta};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A JSON body whose rejections use the API's error format:
/// 400 for malformed JSON, 413 over the size limit, 415 without a JSON
/// content type, 422 for well-formed JSON of the wrong shape or types.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            // serde's message names the field and the expected type, never
            // the submitted value.
            let detail = e.body_text();
            let detail = detail
                .rsplit(": ")
                .next()
                .unwrap_or("invalid field")
                .to_string();
            AppError::invalid("invalid_field", detail)
        }
        JsonRejection::JsonSyntaxError(_) => {
            AppError::bad_request("malformed_json", "the request body is not valid JSON")
        }
        JsonRejection::MissingJsonContentType(_) => AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is too large",
        ),
        _ => AppError::bad_request("malformed_body", "the request body could not be read"),
    }
}

/// A query string whose rejections use the API's error format: 400
/// `invalid_query` for an unknown parameter or a value of the wrong type.
/// The message names the parameter when it can, never the value.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> AppError {
    // axum's text is "Failed to deserialize query string: <field>: <why>"
    // (serde_path_to_error); keep only a plain parameter name.
    let text = rejection.body_text();
    let rest = text.split_once(": ").map(|(_, r)| r).unwrap_or("");
    let field = rest.split_once(": ").map(|(f, _)| f).filter(|f| {
        !f.is_empty() && f.len() <= 40 && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let message = match field {
        Some(f) => format!("the query parameter {f} is malformed"),
        None => "the query string has an unknown or malformed parameter".to_string(),
    };
    AppError::bad_request("invalid_query", message)
}

/// Path parameters whose rejections use the API's error format: 400
/// `invalid_path` for a segment that does not decode (e.g. percent-encoded
/// bytes that are not UTF-8) or does not parse as the expected type.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> AppError {
    if rejection.status().is_server_error() {
        // A route and its extractor disagree: a programming error.
        return AppError::internal(anyhow::anyhow!("path extractor: {}", rejection.body_text()));
    }
    AppError::bad_request("invalid_path", "a path parameter is malformed")
}

/// Request facts for audit events: request id and coarse address.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(parts)))
    }
}

/// Parses an id taken from a path segment; one that does not parse names
/// nothing here, so it is simply not found (never a parse error that would
/// tell ids apart).
pub fn path_id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, AppError> {
    raw.parse().map_err(|_| AppError::not_found(what))
}

//! The push slice's refusals, and how each is answered.

use crate::error::AppError;
use crate::storage::error::StoreError;

/// What the push slice refuses.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A field is malformed (named, never its value).
    #[error("{0}")]
    Invalid(&'static str),
    /// An endpoint the server may not call (scheme, address).
    #[error("{0}")]
    EndpointRefused(&'static str),
    /// A shared or public computer keeps nothing, notices included.
    #[error("a shared computer cannot receive notices: it keeps nothing once closed")]
    SharedComputer,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PushError> for AppError {
    fn from(e: PushError) -> Self {
        let message = e.to_string();
        match e {
            PushError::Invalid(_) => AppError::invalid("invalid_field", message),
            PushError::EndpointRefused(_) => AppError::invalid("endpoint_refused", message),
            PushError::SharedComputer => AppError::conflict("shared_computer", message),
            PushError::Store(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(PushError, StatusCode, &str)> = vec![
            (
                PushError::Invalid("keys.auth"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                PushError::EndpointRefused("https only"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "endpoint_refused",
            ),
            (
                PushError::SharedComputer,
                StatusCode::CONFLICT,
                "shared_computer",
            ),
            (
                StoreError::NotFound.into(),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
        ];
        for (e, status, code) in cases {
            let app: AppError = e.into();
            assert_eq!(app.status, status);
            assert_eq!(app.code, code);
        }
    }
}

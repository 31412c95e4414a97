//! What opening a session refuses, and how each refusal is answered.
//! Infrastructure failures (and a device of another person, `NotFound`) are
//! a wrapped [`StoreError`].

use crate::error::AppError;
use crate::storage::error::StoreError;

/// What opening a session on a device refuses.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The chosen device was revoked: it can never sign in again (a new
    /// sign-in names a new device).
    #[error("device revoked")]
    DeviceRevoked,
    /// Storage failed, or the device is not the person's (`NotFound`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

// The SQL bodies use `?` on sqlx's errors, as every store does.
impl From<sqlx::Error> for SessionError {
    fn from(e: sqlx::Error) -> Self {
        SessionError::Store(e.into())
    }
}

/// The answer to a revoked device, wherever it is refused.
pub fn device_revoked() -> AppError {
    AppError::unauthorized(
        "device_revoked",
        "this device has been signed out and can no longer be used",
    )
}

impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::DeviceRevoked => device_revoked(),
            SessionError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(SessionError, StatusCode, &str)> = vec![
            (
                SessionError::DeviceRevoked,
                StatusCode::UNAUTHORIZED,
                "device_revoked",
            ),
            (
                SessionError::Store(StoreError::NotFound),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                SessionError::Store(StoreError::Unavailable),
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
            ),
        ];
        crate::error::assert_answers(cases);
    }
}

//! What revocation refuses, and how each refusal is answered. Infrastructure
//! failures are a wrapped [`StoreError`].

use crate::error::AppError;
use crate::storage::error::StoreError;

/// What revocation refuses.
#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// Deactivating this admin would leave the practice without an active
    /// admin (nobody could revoke a lost device or deactivate anyone).
    #[error("the practice's last active admin")]
    LastAdmin,
    /// The device asking for its unlock share was revoked (its share is
    /// destroyed and never made again).
    #[error("device revoked")]
    DeviceRevoked,
    /// Storage failed, or the user is not in this practice (`NotFound`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

// The SQL bodies use `?` on sqlx's errors, as every store does.
impl From<sqlx::Error> for RevocationError {
    fn from(e: sqlx::Error) -> Self {
        RevocationError::Store(e.into())
    }
}

impl From<RevocationError> for AppError {
    fn from(e: RevocationError) -> Self {
        match e {
            RevocationError::LastAdmin => AppError::conflict(
                "last_admin",
                "this is the practice's only active admin; invite another admin before deactivating this one",
            ),
            RevocationError::DeviceRevoked => crate::auth::error::device_revoked(),
            RevocationError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(RevocationError, StatusCode, &str)> = vec![
            (
                RevocationError::LastAdmin,
                StatusCode::CONFLICT,
                "last_admin",
            ),
            (
                RevocationError::DeviceRevoked,
                StatusCode::UNAUTHORIZED,
                "device_revoked",
            ),
            (
                StoreError::NotFound.into(),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                StoreError::Unavailable.into(),
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
            ),
        ];
        crate::error::assert_answers(cases);
    }
}

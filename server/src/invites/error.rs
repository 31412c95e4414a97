//! What redeeming or revoking an invitation refuses, and how each refusal is
//! answered. Infrastructure failures are a wrapped [`StoreError`].

use crate::error::AppError;
use crate::storage::error::StoreError;
use axum::http::StatusCode;

/// What invitations refuse.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The invite was already used or revoked.
    #[error("invite already used or revoked")]
    Used,
    /// The invite has expired.
    #[error("invite expired")]
    Expired,
    /// The login name is taken.
    #[error("login already taken")]
    LoginTaken,
    /// Storage failed, or no such invite (`NotFound`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

// The SQL bodies use `?` on sqlx's errors, as every store does.
impl From<sqlx::Error> for InviteError {
    fn from(e: sqlx::Error) -> Self {
        InviteError::Store(e.into())
    }
}

impl From<InviteError> for AppError {
    fn from(e: InviteError) -> Self {
        match e {
            InviteError::Used => AppError::conflict(
                "invite_used",
                "this invite was already used or has been revoked",
            ),
            InviteError::Expired => AppError::new(
                StatusCode::GONE,
                "invite_expired",
                "this invite has expired; ask for a new one",
            ),
            InviteError::LoginTaken => {
                AppError::conflict("login_taken", "this login name is already in use")
            }
            InviteError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(InviteError, StatusCode, &str)> = vec![
            (InviteError::Used, StatusCode::CONFLICT, "invite_used"),
            (InviteError::Expired, StatusCode::GONE, "invite_expired"),
            (InviteError::LoginTaken, StatusCode::CONFLICT, "login_taken"),
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

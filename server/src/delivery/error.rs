//! What the delivery slice refuses, and how each refusal is answered (over
//! HTTP, and in the socket's `refused` frames, which carry the same code).
//! Infrastructure failures are a wrapped [`StoreError`].

use crate::error::AppError;
use crate::storage::error::StoreError;

/// What delivery refuses.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The device is not a member of the conversation (or not at that leaf).
    #[error("not a member of the conversation")]
    NotMember,
    /// The device's MLS signature key differs from the one it registered.
    #[error("signature key differs from the registered one")]
    KeyMismatch,
    /// A revoked device is still in the group: commit its removal first.
    #[error("a revoked device awaits removal")]
    RemovalPending,
    /// The other person of the conversation was deactivated: nobody would
    /// ever read what is sent into it.
    #[error("the other person of the conversation is no longer with the practice")]
    ConversationClosed,
    /// The epoch has moved on; catch up and retry.
    #[error("stale epoch; current is {current}")]
    StaleEpoch {
        /// The conversation's current epoch.
        current: i64,
    },
    /// Storage failed (or its writer is unavailable).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Shorthand.
pub type DeliveryResult<T> = Result<T, DeliveryError>;

// The SQL bodies use `?` on sqlx's errors, as every store does.
impl From<sqlx::Error> for DeliveryError {
    fn from(e: sqlx::Error) -> Self {
        DeliveryError::Store(e.into())
    }
}

impl From<DeliveryError> for AppError {
    fn from(e: DeliveryError) -> Self {
        use DeliveryError as E;
        match e {
            E::NotMember => AppError::forbidden("this device is not a member of the conversation")
                .with_code("not_member"),
            E::KeyMismatch => AppError::conflict(
                "key_mismatch",
                "this device registered a different signature key",
            ),
            E::RemovalPending => AppError::conflict(
                "removal_pending",
                "a revoked device is still in this conversation; process the server's proposal and commit it first",
            ),
            E::ConversationClosed => AppError::conflict(
                "conversation_closed",
                "the other person of this conversation is no longer with the practice; nothing was sent; contact the practice",
            ),
            E::StaleEpoch { current } => {
                let mut e = AppError::conflict(
                    "stale_epoch",
                    "the conversation moved to a newer epoch; catch up and retry",
                );
                let mut extra = serde_json::Map::new();
                extra.insert("current_epoch".into(), current.into());
                e.extra = Some(extra);
                e
            }
            E::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(DeliveryError, StatusCode, &str)> = vec![
            (
                DeliveryError::NotMember,
                StatusCode::FORBIDDEN,
                "not_member",
            ),
            (
                DeliveryError::KeyMismatch,
                StatusCode::CONFLICT,
                "key_mismatch",
            ),
            (
                DeliveryError::RemovalPending,
                StatusCode::CONFLICT,
                "removal_pending",
            ),
            (
                DeliveryError::ConversationClosed,
                StatusCode::CONFLICT,
                "conversation_closed",
            ),
            (
                DeliveryError::StaleEpoch { current: 7 },
                StatusCode::CONFLICT,
                "stale_epoch",
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
        let stale: AppError = DeliveryError::StaleEpoch { current: 7 }.into();
        assert_eq!(
            stale.extra.and_then(|m| m.get("current_epoch").cloned()),
            Some(7.into())
        );
    }
}

//! The history archive's refusals, and how each is answered.

use crate::error::AppError;
use crate::storage::error::StoreError;
use axum::http::StatusCode;

/// What the archive slice refuses.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not a sealed archive (named, never its content).
    #[error("{0}")]
    Invalid(&'static str),
    /// Over [`super::rules::MAX_ARCHIVE_BYTES`].
    #[error("the archive is larger than the server keeps for one conversation (1 MiB)")]
    TooLarge,
    /// The archive was sealed under a key that is not the person's current
    /// one (turned off, or made again elsewhere): the device forgets it.
    #[error(
        "the history backup now uses another key, or is off: this device's key is no longer used"
    )]
    KeyChanged,
    /// A backup under another key exists: delete it before making a new one.
    #[error("a history backup under another key exists: delete it first")]
    Exists,
    /// Not one of the conversation's two people, or no such blob.
    #[error("not found")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ArchiveError> for AppError {
    fn from(e: ArchiveError) -> Self {
        let message = e.to_string();
        match e {
            ArchiveError::Invalid(_) => AppError::invalid("invalid_field", message),
            ArchiveError::TooLarge => {
                AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
            }
            ArchiveError::KeyChanged => AppError::conflict("archive_key_changed", message),
            ArchiveError::Exists => AppError::conflict("archive_exists", message),
            ArchiveError::NotFound => AppError::not_found("history archive"),
            ArchiveError::Store(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(ArchiveError, StatusCode, &str)> = vec![
            (
                ArchiveError::Invalid("archive"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                ArchiveError::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
            ),
            (ArchiveError::NotFound, StatusCode::NOT_FOUND, "not_found"),
            (
                ArchiveError::KeyChanged,
                StatusCode::CONFLICT,
                "archive_key_changed",
            ),
            (ArchiveError::Exists, StatusCode::CONFLICT, "archive_exists"),
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

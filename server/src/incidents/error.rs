//! The incidents slice's refusals, and how each is answered.

use super::rules::assessment::AssessmentError;
use super::rules::exception::ExceptionError;
use super::rules::status::TransitionError;
use crate::error::AppError;
use crate::storage::error::StoreError;

/// What the incidents slice refuses.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such incident, endpoint, delivery, user or device here.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A field is out of bounds (named, never its value).
    #[error("{0}")]
    Invalid(&'static str),
    /// The status cannot change that way.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The assessment cannot be saved or signed off now.
    #[error(transparent)]
    Assessment(#[from] AssessmentError),
    /// An exception of 164.402(1) without its facts, or facts without it.
    #[error(transparent)]
    Exception(#[from] ExceptionError),
    /// Someone else changed the incident since it was read.
    #[error("the incident changed since you read it; reload and try again")]
    Changed,
    /// A webhook URL that may not be called (scheme, address).
    #[error("{0}")]
    UrlRefused(&'static str),
    /// Done again too soon (retry after this many seconds).
    #[error("too soon; try again in {0} seconds")]
    TooSoon(i64),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something of ours failed (never answered in detail).
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl From<StoreError> for IncidentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => IncidentError::NotFound("incident"),
            other => IncidentError::Store(other),
        }
    }
}

impl From<IncidentError> for AppError {
    fn from(e: IncidentError) -> Self {
        let message = e.to_string();
        match e {
            IncidentError::Forbidden(_) => AppError::forbidden(message),
            IncidentError::NotFound(what) => AppError::not_found(what),
            IncidentError::Invalid(_) => AppError::invalid("invalid_field", message),
            IncidentError::Transition(_) => AppError::conflict("bad_transition", message),
            IncidentError::Assessment(AssessmentError::Invalid(_)) => {
                AppError::invalid("invalid_field", message)
            }
            IncidentError::Assessment(AssessmentError::SignedOff) => {
                AppError::conflict("signed_off", message)
            }
            IncidentError::Assessment(AssessmentError::NotDecided) => {
                AppError::conflict("not_decided", message)
            }
            IncidentError::Exception(_) => AppError::invalid("exception_facts", message),
            IncidentError::Changed => AppError::conflict("changed", message),
            IncidentError::UrlRefused(_) => AppError::invalid("url_refused", message),
            IncidentError::TooSoon(secs) => {
                let mut e = AppError::new(
                    axum::http::StatusCode::TOO_MANY_REQUESTS,
                    "too_soon",
                    message,
                );
                e.retry_after = Some(secs.max(1));
                e
            }
            IncidentError::Store(s) => s.into(),
            IncidentError::Internal(cause) => AppError::internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(IncidentError, StatusCode, &str)> = vec![
            (
                IncidentError::Forbidden("admins only"),
                StatusCode::FORBIDDEN,
                "forbidden",
            ),
            (
                IncidentError::NotFound("incident"),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                IncidentError::Invalid("kind"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                TransitionError::ReasoningRequired.into(),
                StatusCode::CONFLICT,
                "bad_transition",
            ),
            (IncidentError::Changed, StatusCode::CONFLICT, "changed"),
            (
                ExceptionError::Required.into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "exception_facts",
            ),
            (
                AssessmentError::Invalid("a statement").into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                AssessmentError::SignedOff.into(),
                StatusCode::CONFLICT,
                "signed_off",
            ),
            (
                AssessmentError::NotDecided.into(),
                StatusCode::CONFLICT,
                "not_decided",
            ),
            (
                IncidentError::TooSoon(10),
                StatusCode::TOO_MANY_REQUESTS,
                "too_soon",
            ),
            (
                IncidentError::UrlRefused("https only"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "url_refused",
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

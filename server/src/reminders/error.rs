//! The reminders slice's refusals, and how each is answered.

use super::rules::lint::Finding;
use super::rules::schedule::ScheduleError;
use crate::error::AppError;
use crate::storage::error::StoreError;

/// What the reminders slice refuses.
#[derive(Debug, thiserror::Error)]
pub enum ReminderError {
    /// The schedule cannot be kept (zone, time, recurrence).
    #[error("{0}")]
    Schedule(#[from] ScheduleError),
    /// The first occurrence is not in the future.
    #[error("the appointment must start in the future")]
    InThePast,
    /// A field of the request is out of bounds (named, never its value).
    #[error("{0}")]
    Invalid(&'static str),
    /// The template says more than may leave the encrypted channel.
    #[error("the template was refused: {}", .0.first().map_or("", |f| f.reason.as_str()))]
    TemplateRefused(Vec<Finding>),
    /// The caller does not look after this client.
    #[error("you can only schedule for clients assigned to you")]
    NotAssigned,
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such appointment, occurrence or client here.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ReminderError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ReminderError::NotFound("appointment"),
            other => ReminderError::Store(other),
        }
    }
}

impl From<ReminderError> for AppError {
    fn from(e: ReminderError) -> Self {
        let message = e.to_string();
        match e {
            ReminderError::Schedule(ScheduleError::UnknownZone) => {
                AppError::invalid("unknown_time_zone", message)
            }
            ReminderError::Schedule(ScheduleError::NonexistentTime) => {
                AppError::invalid("nonexistent_time", message)
            }
            ReminderError::Schedule(_) => AppError::invalid("bad_recurrence", message),
            ReminderError::InThePast => AppError::invalid("in_the_past", message),
            ReminderError::Invalid(_) => AppError::invalid("invalid_field", message),
            ReminderError::TemplateRefused(findings) => {
                let mut err = AppError::invalid("template_refused", message);
                let mut extra = serde_json::Map::new();
                extra.insert(
                    "findings".into(),
                    serde_json::to_value(&findings).unwrap_or_default(),
                );
                err.extra = Some(extra);
                err
            }
            ReminderError::NotAssigned => AppError::forbidden(message).with_code("not_assigned"),
            ReminderError::Forbidden(_) => AppError::forbidden(message),
            ReminderError::NotFound(what) => AppError::not_found(what),
            ReminderError::Store(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn each_refusal_has_its_status_and_code() {
        let cases: Vec<(ReminderError, StatusCode, &str)> = vec![
            (
                ScheduleError::UnknownZone.into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_time_zone",
            ),
            (
                ScheduleError::NonexistentTime.into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "nonexistent_time",
            ),
            (
                ScheduleError::BadRecurrence.into(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_recurrence",
            ),
            (
                ReminderError::InThePast,
                StatusCode::UNPROCESSABLE_ENTITY,
                "in_the_past",
            ),
            (
                ReminderError::Invalid("phone must be E.164"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            ),
            (
                ReminderError::TemplateRefused(vec![]),
                StatusCode::UNPROCESSABLE_ENTITY,
                "template_refused",
            ),
            (
                ReminderError::NotAssigned,
                StatusCode::FORBIDDEN,
                "not_assigned",
            ),
            (
                ReminderError::Forbidden("admins only"),
                StatusCode::FORBIDDEN,
                "forbidden",
            ),
            (
                ReminderError::NotFound("occurrence"),
                StatusCode::NOT_FOUND,
                "not_found",
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

//! `/api/v1/appointments` and `/api/v1/occurrences/{id}/answer`.

use crate::api::extract::{path_id, ApiJson, ApiPath, ApiQuery};
use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::ids::{AppointmentId, OccurrenceId, UserId};
use crate::reminders::rules::schedule::Recurrence;
use crate::reminders::service::{self, Answer, Modality, TimingInput};
use crate::reminders::store::Occurrence;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A new appointment series.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppointment {
    /// The client.
    pub client_id: UserId,
    /// The clinician (an admin scheduling must name one; staff schedule
    /// their own and may leave it out).
    #[serde(default)]
    pub clinician_id: Option<UserId>,
    /// The client's IANA zone (`America/New_York`).
    pub time_zone: String,
    /// Wall-clock start there, `YYYY-MM-DDTHH:MM`.
    pub start_local: String,
    /// Minutes, 5–480.
    pub duration_minutes: u32,
    /// Weekly or every two weeks, 2–52 times.
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
    /// In person or telehealth.
    pub modality: Modality,
}

/// New timing for a series.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reschedule {
    /// The client's IANA zone.
    pub time_zone: String,
    /// Wall-clock start there, `YYYY-MM-DDTHH:MM`.
    pub start_local: String,
    /// Minutes, 5–480.
    pub duration_minutes: u32,
    /// Weekly or every two weeks.
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
    /// In person or telehealth.
    pub modality: Modality,
}

/// A series and its occurrences' ids.
#[derive(Serialize, ToSchema)]
pub struct Scheduled {
    /// The series.
    pub id: AppointmentId,
    /// Its (new) occurrences, in order.
    pub occurrences: Vec<OccurrenceId>,
}

/// Schedules an appointment (staff, for their assigned clients; admins).
/// Its reminders are planned in the same transaction.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "reminders", request_body = CreateAppointment,
    responses((status = 201, body = Scheduled),
        (status = 403, body = crate::error::ErrorBody, description = "a client, or not assigned"),
        (status = 404, body = crate::error::ErrorBody, description = "no such client"),
        (status = 422, body = crate::error::ErrorBody, description = "zone, time, recurrence or duration")))]
pub async fn create(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<CreateAppointment>,
) -> ApiResult<(StatusCode, Json<Scheduled>)> {
    let input = TimingInput {
        time_zone: req.time_zone,
        start_local: req.start_local,
        duration_minutes: req.duration_minutes,
        recurrence: req.recurrence,
        modality: req.modality,
    };
    let (id, occurrences) =
        service::create_appointment(&state, &authed, req.client_id, req.clinician_id, &input)
            .await?;
    Ok((StatusCode::CREATED, Json(Scheduled { id, occurrences })))
}

/// Filters of the list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// One client's (staff; a client may name only themselves).
    pub client_id: Option<UserId>,
}

/// Upcoming occurrences: a client's own, a clinician's own appointments,
/// an admin's all (from a day ago on).
#[utoipa::path(get, path = "/api/v1/appointments", tag = "reminders", params(ListQuery),
    responses((status = 200, body = [Occurrence]),
        (status = 404, body = crate::error::ErrorBody, description = "a client named another client")))]
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Occurrence>>> {
    Ok(Json(service::upcoming(&state, &authed, q.client_id).await?))
}

/// Moves a series: its future occurrences are replaced, their pending
/// reminders withdrawn and re-planned.
#[utoipa::path(put, path = "/api/v1/appointments/{id}", tag = "reminders", request_body = Reschedule,
    params(("id" = uuid::Uuid, Path, description = "appointment id")),
    responses((status = 200, body = Scheduled),
        (status = 403, body = crate::error::ErrorBody, description = "a client"),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn reschedule(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<Reschedule>,
) -> ApiResult<Json<Scheduled>> {
    let id: AppointmentId = path_id(&raw, "appointment")?;
    let input = TimingInput {
        time_zone: req.time_zone,
        start_local: req.start_local,
        duration_minutes: req.duration_minutes,
        recurrence: req.recurrence,
        modality: req.modality,
    };
    let occurrences = service::reschedule(&state, &authed, id, &input).await?;
    Ok(Json(Scheduled { id, occurrences }))
}

/// Which occurrences to cancel.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// One occurrence; absent, every future one.
    #[serde(default)]
    pub occurrence_id: Option<OccurrenceId>,
}

/// Cancels a series' future occurrences (or one) and withdraws their
/// pending reminders.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "reminders", request_body = CancelRequest,
    params(("id" = uuid::Uuid, Path, description = "appointment id")),
    responses((status = 204, description = "cancelled"),
        (status = 403, body = crate::error::ErrorBody, description = "a client"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<CancelRequest>,
) -> ApiResult<StatusCode> {
    let id: AppointmentId = path_id(&raw, "appointment")?;
    service::cancel(&state, &authed, id, req.occurrence_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A client's answer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// Confirm or cancel.
    pub answer: Answer,
}

/// The client confirms or cancels one of their upcoming occurrences.
#[utoipa::path(post, path = "/api/v1/occurrences/{id}/answer", tag = "reminders", request_body = AnswerRequest,
    params(("id" = uuid::Uuid, Path, description = "occurrence id")),
    responses((status = 200, body = Occurrence),
        (status = 403, body = crate::error::ErrorBody, description = "not a client"),
        (status = 404, body = crate::error::ErrorBody, description = "not theirs, past, or cancelled")))]
pub async fn answer(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<AnswerRequest>,
) -> ApiResult<Json<Occurrence>> {
    let id: OccurrenceId = path_id(&raw, "occurrence")?;
    Ok(Json(
        service::answer(&state, &authed, id, req.answer, "app").await?,
    ))
}

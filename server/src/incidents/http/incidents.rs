//! `/api/v1/incidents`: report, list, read and decide incidents.

use crate::api::extract::{path_id, ApiJson, ApiPath, ApiQuery};
use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::incidents::rules::notice::Language;
use crate::incidents::service::{
    self, AssessmentView, Change, IncidentDetail, IncidentView, Report, SaveAssessment, SignOff,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::IntoParams;

/// Reports an incident (any staff member): a message sent to the wrong
/// client, a lost device, a suspicious sign-in, anything else. Reporting
/// decides nothing; the practice's admins assess it.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = Report,
    responses((status = 201, body = IncidentView),
        (status = 403, body = crate::error::ErrorBody, description = "a client"),
        (status = 404, body = crate::error::ErrorBody, description = "no such user or device here"),
        (status = 422, body = crate::error::ErrorBody, description = "a field out of bounds")))]
pub async fn report(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<Report>,
) -> ApiResult<(StatusCode, Json<IncidentView>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::report(&state, &authed, req).await?),
    ))
}

/// The practice's incidents, newest first, with their deadlines (admins).
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents",
    responses((status = 200, body = [IncidentView]),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin")))]
pub async fn list(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<IncidentView>>> {
    Ok(Json(service::list(&state, &authed).await?))
}

/// One incident with its subjects and timeline (admins).
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id")),
    responses((status = 200, body = IncidentDetail),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<Json<IncidentDetail>> {
    Ok(Json(
        service::get(&state, &authed, path_id(&raw, "incident")?).await?,
    ))
}

/// Changes an incident (admins): its status, the breach decision with its
/// reasoning, the discovery date (with a reason), counts, a
/// law-enforcement delay, a note. Audited; on the timeline.
#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = Change,
    params(("id" = uuid::Uuid, Path, description = "incident id")),
    responses((status = 200, body = IncidentView),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "bad_transition, or changed since read"),
        (status = 422, body = crate::error::ErrorBody, description = "a field out of bounds")))]
pub async fn change(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<Change>,
) -> ApiResult<Json<IncidentView>> {
    Ok(Json(
        service::change(&state, &authed, path_id(&raw, "incident")?, req).await?,
    ))
}

/// Saves the four-factor assessment's statements (admins), over the
/// version read. Audited; on the timeline.
#[utoipa::path(put, path = "/api/v1/incidents/{id}/assessment", tag = "incidents", request_body = SaveAssessment,
    params(("id" = uuid::Uuid, Path, description = "incident id")),
    responses((status = 200, body = AssessmentView),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "changed since read, or signed off"),
        (status = 422, body = crate::error::ErrorBody, description = "a statement empty or too long")))]
pub async fn save_assessment(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<SaveAssessment>,
) -> ApiResult<Json<AssessmentView>> {
    Ok(Json(
        service::save_assessment(&state, &authed, path_id(&raw, "incident")?, req).await?,
    ))
}

/// Signs off the decision and its assessment (admins) with the current
/// code of the signer's authenticator app, checked now and used once.
/// From then on neither changes. Audited; on the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/sign-off", tag = "incidents", request_body = SignOff,
    params(("id" = uuid::Uuid, Path, description = "incident id")),
    responses((status = 200, body = AssessmentView),
        (status = 401, body = crate::error::ErrorBody, description = "invalid_mfa_code"),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "not decided, signed off already, changed since read, or no second factor set up"),
        (status = 429, body = crate::error::ErrorBody, description = "too many wrong codes")))]
pub async fn sign_off(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
    ApiJson(req): ApiJson<SignOff>,
) -> ApiResult<Json<AssessmentView>> {
    // The router refused other roles already (policy.rs), before a code
    // could spend the account's sign-in budget or consume a step.
    let id = path_id(&raw, "incident")?;
    service::check_sign_off(&state, &authed, id, req.expected_version).await?;
    let fresh =
        crate::auth::step_up::verify(&state, &authed, req.totp_code.expose_secret()).await?;
    Ok(Json(
        service::sign_off(&state, &authed, id, req.expected_version, fresh).await?,
    ))
}

/// The draft notice to individuals (45 CFR 164.404(c)) of an incident
/// (admins): the five elements filled from its record where it knows them,
/// blanks marked where only the practice does. Alcove never sends it.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/notice", tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id"), NoticeQuery),
    responses((status = 200, body = crate::incidents::rules::notice::Notice),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn notice(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(q): ApiQuery<NoticeQuery>,
) -> ApiResult<Json<crate::incidents::rules::notice::Notice>> {
    let id = path_id(&raw, "incident")?;
    let language = q.language.unwrap_or(Language::En);
    Ok(Json(service::notice(&state, &authed, id, language).await?))
}

/// Which language to draft the notice in.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// `en` (default) or `es`.
    #[param(inline, value_type = Option<Language>)]
    pub language: Option<Language>,
}

/// An incident's report (admins): its record, assessment and evidence,
/// the draft notice for a breach, and the audit entries behind them as a
/// standard audit export that verifies offline (`alcove audit verify
/// --export`). A download (`Content-Disposition: attachment`). Audited.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/report", tag = "incidents",
    params(("id" = uuid::Uuid, Path, description = "incident id")),
    responses((status = 200, body = crate::incidents::service::IncidentReport),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn export_report(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(raw): ApiPath<String>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let id = path_id(&raw, "incident")?;
    let report = service::export_report(&state, &authed, id).await?;
    let mut response = Json(report).into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!(
        "attachment; filename=\"alcove-incident-{id}.json\""
    )) {
        response
            .headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

//! `/api/v1/reminders/templates/{kind}/{language}` and the live lint.

use crate::api::extract::{ApiJson, ApiPath};
use crate::auth::session::Authed;
use crate::error::{ApiResult, AppError};
use crate::reminders::rules::defaults::Texts;
use crate::reminders::rules::locale::Language;
use crate::reminders::rules::template::Kind;
use crate::reminders::service::{self, TemplateView};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

fn parse(kind: &str, language: &str) -> Result<(Kind, Language), AppError> {
    let kind = Kind::from_code(kind).ok_or_else(|| AppError::not_found("template kind"))?;
    let language = Language::from_code(language).ok_or_else(|| AppError::not_found("language"))?;
    Ok((kind, language))
}

/// The template in use, linted now, with its preview.
#[utoipa::path(get, path = "/api/v1/reminders/templates/{kind}/{language}", tag = "reminders",
    params(("kind" = String, Path, description = "reminder or nudge"), ("language" = String, Path, description = "en or es")),
    responses((status = 200, body = TemplateView),
        (status = 403, body = crate::error::ErrorBody, description = "a client"),
        (status = 404, body = crate::error::ErrorBody, description = "no such kind or language")))]
pub async fn get(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((kind, language)): ApiPath<(String, String)>,
) -> ApiResult<Json<TemplateView>> {
    let (kind, language) = parse(&kind, &language)?;
    Ok(Json(
        service::template(&state, &authed, kind, language).await?,
    ))
}

/// The three texts of a template.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateTexts {
    /// The SMS.
    pub sms: String,
    /// The email subject.
    pub email_subject: String,
    /// The email body.
    pub email_body: String,
}

impl From<TemplateTexts> for Texts {
    fn from(t: TemplateTexts) -> Self {
        Texts {
            sms: t.sms,
            email_subject: t.email_subject,
            email_body: t.email_body,
        }
    }
}

/// Saves a new version (admins). Refused with 422 `template_refused` and
/// the findings (reason and offending span) when it would disclose more
/// than an appointment and its time.
#[utoipa::path(put, path = "/api/v1/reminders/templates/{kind}/{language}", tag = "reminders",
    request_body = TemplateTexts,
    params(("kind" = String, Path, description = "reminder or nudge"), ("language" = String, Path, description = "en or es")),
    responses((status = 200, body = TemplateView),
        (status = 403, body = crate::error::ErrorBody, description = "not an admin"),
        (status = 404, body = crate::error::ErrorBody, description = "no such kind or language"),
        (status = 422, body = crate::error::ErrorBody, description = "refused by the linter (`findings`), or too long")))]
pub async fn put(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((kind, language)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<TemplateTexts>,
) -> ApiResult<Json<TemplateView>> {
    let (kind, language) = parse(&kind, &language)?;
    Ok(Json(
        service::put_template(&state, &authed, kind, language, req.into()).await?,
    ))
}

/// Lints texts as the editor types (nothing is saved).
#[utoipa::path(post, path = "/api/v1/reminders/templates/{kind}/{language}/lint", tag = "reminders",
    request_body = TemplateTexts,
    params(("kind" = String, Path, description = "reminder or nudge"), ("language" = String, Path, description = "en or es")),
    responses((status = 200, body = TemplateView),
        (status = 403, body = crate::error::ErrorBody, description = "a client"),
        (status = 404, body = crate::error::ErrorBody, description = "no such kind or language"),
        (status = 422, body = crate::error::ErrorBody, description = "a text too long to lint")))]
pub async fn lint(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath((kind, language)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<TemplateTexts>,
) -> ApiResult<Json<TemplateView>> {
    let (kind, language) = parse(&kind, &language)?;
    let texts: Texts = req.into();
    Ok(Json(
        service::lint(&state, &authed, kind, language, texts, 0).await?,
    ))
}

//! `POST /api/v1/reminders/sms/inbound`: replies to reminder texts, from
//! the SMS gateway (Twilio's webhook shape, `X-Twilio-Signature` checked).

// This module reads bytes from outside (the network or a file someone
// handed us): no index or slice that could panic on what it is given.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::error::{ApiResult, AppError};
use crate::reminders::rules::inbound;
use crate::reminders::service;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

/// The path the gateway is told to call (the signature covers the URL).
pub const PATH: &str = "/api/v1/reminders/sms/inbound";

/// An inbound SMS (form fields `From`, `Body`, `AccountSid`, …). Answered
/// with TwiML whose one message says only what was done — never a time, a
/// name or a place.
#[utoipa::path(post, path = "/api/v1/reminders/sms/inbound", tag = "reminders",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "the gateway's form: From, To, Body, AccountSid, MessageSid"),
    responses((status = 200, content_type = "text/xml", body = String, description = "TwiML reply"),
        (status = 403, body = crate::error::ErrorBody, description = "bad_signature: not signed by the configured gateway"),
        (status = 404, body = crate::error::ErrorBody, description = "no SMS gateway is configured")))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let Some(sms) = state.settings.reminders.sms.clone() else {
        return Err(AppError::not_found("inbound SMS"));
    };
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the gateway's form (application/x-www-form-urlencoded)",
        ));
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let url = format!("{}{PATH}", state.settings.public_url());
    let account_ok = params
        .iter()
        .find(|(k, _)| k == "AccountSid")
        .is_none_or(|(_, v)| *v == sms.account_sid);
    if !account_ok || !inbound::verify(sms.auth_token.expose_secret(), &url, &params, signature) {
        return Err(
            AppError::forbidden("the request is not signed by the configured SMS gateway")
                .with_code("bad_signature"),
        );
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let answer =
        service::inbound_sms(&state, field("From"), inbound::parse_reply(field("Body"))).await?;
    let twiml = match answer {
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            xml_escape(text)
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_owned(),
    };
    Ok(([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], twiml).into_response())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

//! The OpenAPI 3 document, generated from the handlers' annotations and
//! completed by [`Contract`] with what every operation of a kind can answer.
//!
//! Each handler's annotation lists the answers particular to it (its success,
//! 403 for a role it refuses, 404 for what it looks up, 409 for a conflict).
//! The answers that come from the shared extractors and layers are added here,
//! by the same rules that the code follows, so that they cannot be forgotten
//! on one operation: 401 and (state-changing, for cookie sessions) 403 from
//! `Authed`; 400/413/415/422 from `ApiJson`; 400 from `ApiQuery` and
//! `ApiPath`; 414/431 from the header limits; 500 from anywhere.
//! `scripts/test.d/40-schemathesis.sh` checks the server against the result.

use axum::Json;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Alcove API",
        description = "End-to-end encrypted messaging for therapy practices. Every refusal is {\"error\": code, \"message\": text} (application/json) with its status."
    ),
    paths(
        super::healthz,
        super::readyz,
        crate::auth::http::login,
        crate::auth::http::enroll,
        crate::auth::http::logout,
        crate::invites::http::create,
        crate::invites::http::list,
        crate::invites::http::revoke,
        crate::invites::http::inspect,
        crate::invites::http::accept,
        crate::invites::http::reset,
        crate::invites::http::create_reset_link,
        crate::account::http::me,
        crate::account::http::devices,
        crate::practice::http::rename,
        crate::account::http::change_password,
        crate::account::http::rename_device,
        crate::account::http::start_authenticator,
        crate::account::http::confirm_authenticator,
        crate::account::http::recovery_codes_left,
        crate::account::http::renew_recovery_codes,
        crate::people::http::list,
        crate::people::http::get,
        crate::people::http::set_residence,
        crate::audit::http::events,
        crate::audit::http::export,
        crate::audit::http::head,
        crate::audit::http::inclusion,
        crate::audit::http::inclusions,
        crate::audit::http::consistency,
        crate::delivery::http::key_packages::upload_key_packages,
        crate::delivery::http::key_packages::key_package_status,
        crate::delivery::http::assignments::assign,
        crate::delivery::http::conversations::contacts,
        crate::delivery::http::conversations::start,
        crate::delivery::http::conversations::list,
        crate::delivery::http::conversations::get,
        crate::delivery::http::key_packages::claim,
        crate::delivery::http::commits::commit,
        crate::delivery::http::commits::post_group_info,
        crate::delivery::http::commits::get_group_info,
        crate::delivery::http::messages::send,
        crate::delivery::http::messages::fetch,
        crate::delivery::http::messages::ack,
        crate::delivery::http::welcomes::welcomes,
        crate::delivery::http::welcomes::ack_welcome,
        crate::revocation::http::revoke_device,
        crate::revocation::http::deactivate_user,
        crate::revocation::http::inventory,
        crate::revocation::http::pending,
        crate::revocation::http::lost_devices,
        crate::revocation::http::access_review,
        crate::revocation::http::unlock_share,
        crate::reminders::http::appointments::create,
        crate::reminders::http::appointments::list,
        crate::reminders::http::appointments::reschedule,
        crate::reminders::http::appointments::cancel,
        crate::reminders::http::appointments::answer,
        crate::reminders::http::preferences::get,
        crate::reminders::http::preferences::put,
        crate::reminders::http::templates::get,
        crate::reminders::http::templates::put,
        crate::reminders::http::templates::lint,
        crate::reminders::http::reminders::list,
        crate::reminders::http::nudges::list,
        crate::reminders::http::nudges::get_settings,
        crate::reminders::http::nudges::put_settings,
        crate::reminders::http::inbound::receive,
        crate::incidents::http::incidents::report,
        crate::incidents::http::incidents::list,
        crate::incidents::http::incidents::get,
        crate::incidents::http::incidents::change,
        crate::incidents::http::incidents::save_assessment,
        crate::incidents::http::incidents::sign_off,
        crate::incidents::http::incidents::notice,
        crate::incidents::http::incidents::export_report,
        crate::push::http::key,
        crate::push::http::subscribe,
        crate::push::http::unsubscribe,
        crate::archive::http::list,
        crate::archive::http::turn_on,
        crate::archive::http::delete_all,
        crate::archive::http::fetch,
        crate::archive::http::store,
        crate::incidents::http::webhooks::create,
        crate::incidents::http::webhooks::list,
        crate::incidents::http::webhooks::disable,
        crate::incidents::http::webhooks::enable,
        crate::incidents::http::webhooks::rotate_secret,
        crate::incidents::http::webhooks::deliveries,
        crate::incidents::http::webhooks::redeliver,
        crate::incidents::http::webhooks::test,
    ),
    // AuditAction: every action the log records, by its stable name (the
    // browser's audit page offers them as suggestions from here).
    components(schemas(crate::error::ErrorBody, crate::audit::Action)),
    modifiers(&Contract)
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// What an operation needs, from the access policy (`policy::ROUTES`);
/// the health probes outside `/api/v1` need nothing.
fn access(path: &str, method: &str) -> crate::policy::Access {
    use crate::policy::{self, Access, Permission};
    match path.strip_prefix("/api/v1") {
        Some(route) => policy::route(method, route)
            .map(|r| r.access)
            // Not in the table (the server refuses it; a test fails
            // first: `every_operation_has_an_access_policy_entry`).
            .unwrap_or(Access::Session(Permission::SignedIn)),
        None => Access::Public,
    }
}

/// Adds the security schemes and the answers every operation of a kind can
/// give (see the module documentation).
pub struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <token>` (scheme case-insensitive), from a sign-in with `\"transport\": \"bearer\"`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::session::COOKIE,
                "HttpOnly session cookie (`alcove_session` on a plain-HTTP loopback development server, where the `__Host-` prefix cannot be used); state-changing requests also need `X-CSRF-Token` (from /me) and a same-origin `Origin`",
            ))),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                let access = access(path, method);
                complete(op, method, access);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

fn complete(op: &mut Operation, method: &str, access: crate::policy::Access) {
    use crate::policy::{Access, Permission};
    let public = access == Access::Public;
    let params = op.parameters.as_deref().unwrap_or(&[]);
    let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
    let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
    let has_body = op.request_body.is_some();
    if !public {
        op.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("session_cookie", Vec::<String>::new()),
        ]);
        error(
            op,
            401,
            "unauthenticated, session_expired, session_ended, device_revoked or account_deactivated",
        );
        if let Access::Session(permission) = access {
            if permission != Permission::SignedIn {
                let needs = format!(
                    "forbidden: the role lacks the permission `{}` (access policy)",
                    permission.as_str()
                );
                error(op, 403, &needs);
            }
        }
        if method != "get" {
            error(
                op,
                403,
                "csrf_failed or bad_origin (cookie sessions), or refused by role",
            );
        }
    }
    if has_body {
        error(
            op,
            400,
            "malformed_json (the body is not JSON), or a refusal particular to the operation",
        );
        error(op, 413, "too_large: the body exceeds the limit");
        error(
            op,
            415,
            "unsupported_media_type: the body is not sent as application/json",
        );
        error(
            op,
            422,
            "invalid_field: well-formed JSON of the wrong shape, types or values",
        );
    }
    if has_query {
        error(
            op,
            400,
            "invalid_query: an unknown parameter or a value of the wrong type",
        );
        error(op, 422, "a parameter out of its range");
    }
    if has_path {
        error(op, 400, "invalid_path: a path segment that does not decode");
        error(op, 404, "not_found: no such resource (or not yours)");
    }
    error(op, 414, "uri_too_long: the request target exceeds 8 KiB");
    error(
        op,
        431,
        "headers_too_large: more than 100 header fields or 32 KiB of headers",
    );
    error(
        op,
        500,
        "internal: an unexpected error (logged, never detailed)",
    );
}

/// Documents an error answer unless the operation already does.
fn error(op: &mut Operation, status: u16, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                    )
                    .build(),
            )
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operations the router serves that the document leaves out: the
    /// socket upgrade (not an HTTP exchange OpenAPI can describe) and the
    /// document itself.
    const UNDOCUMENTED: &[(&str, &str)] = &[("GET", "/ws"), ("GET", "/openapi.json")];

    #[test]
    fn the_document_lists_every_audit_action_by_its_stable_name() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let listed = &doc["components"]["schemas"]["AuditAction"]["enum"];
        let names: Vec<&str> = crate::audit::Action::ALL
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(listed, &serde_json::json!(names));
        let said = &doc["components"]["schemas"]["AuditAction"]["x-enum-descriptions"];
        let sentences: Vec<&str> = crate::audit::Action::ALL
            .iter()
            .map(|a| a.describe())
            .collect();
        assert_eq!(said, &serde_json::json!(sentences));
    }

    #[test]
    fn every_operation_has_an_access_policy_entry_and_every_entry_an_operation() {
        let mut doc = ApiDoc::openapi();
        let mut documented = Vec::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            let Some(route) = path.strip_prefix("/api/v1") else {
                continue;
            };
            for (method, _) in operations(item) {
                let method = method.to_ascii_uppercase();
                assert!(
                    crate::policy::route(&method, route).is_some(),
                    "{method} {route} has no entry in policy::ROUTES"
                );
                documented.push((method, route.to_string()));
            }
        }
        for r in crate::policy::ROUTES {
            let listed = documented.iter().any(|(m, p)| m == r.method && p == r.path)
                || UNDOCUMENTED.contains(&(r.method, r.path));
            assert!(
                listed,
                "{} {} is in the policy but not an operation",
                r.method, r.path
            );
        }
    }
}

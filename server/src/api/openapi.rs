//! The OpenAPI 3 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Alcove API",
        description = "End-to-end encrypted messaging for therapy practices. Errors are {\"error\": code, \"message\": text}."
    ),
    paths(
        super::healthz,
        super::readyz,
        super::auth::login,
        super::auth::enroll,
        super::auth::logout,
        super::invites::create,
        super::invites::list,
        super::invites::revoke,
        super::invites::inspect,
        super::invites::accept,
        super::me::me,
        super::me::devices,
        super::users::list,
        super::users::get,
        super::audit::events,
        super::audit::export,
        super::audit::head,
        super::audit::inclusion,
        super::audit::consistency,
        super::conversations::upload_key_packages,
        super::conversations::key_package_status,
        super::conversations::assign,
        super::conversations::contacts,
        super::conversations::start,
        super::conversations::list,
        super::conversations::get,
        super::conversations::claim,
        super::conversations::commit,
        super::conversations::post_group_info,
        super::conversations::get_group_info,
        super::conversations::send,
        super::conversations::fetch,
        super::conversations::ack,
        super::conversations::welcomes,
        super::conversations::ack_welcome,
        super::revocation::revoke_device,
        super::revocation::deactivate_user,
        super::revocation::inventory,
        super::revocation::pending,
        super::revocation::lost_devices,
        super::revocation::access_review,
        super::revocation::unlock_share,
    ),
    components(schemas(crate::error::ErrorBody))
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

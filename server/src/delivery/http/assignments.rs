//! Assignments of clients to clinicians and associates.

use super::*;

/// An assignment of a client to a clinician or associate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The clinician or associate.
    pub staff_user_id: UserId,
    /// The client.
    pub client_user_id: UserId,
}

/// Assign a client to a clinician or associate (admins only). A client a
/// clinician or associate invited is assigned to them when they redeem
/// the invite; any other assignment is the practice's decision, so a
/// clinician cannot reach another clinician's client by naming its id.
#[utoipa::path(post, path = "/api/v1/assignments", request_body = Assign, tag = "delivery",
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<Assign>,
) -> ApiResult<StatusCode> {
    // Only admins get here: the route needs `ManagePeople`.
    let staff = state
        .store
        .user(authed.practice_id, req.staff_user_id)
        .await
        .map_err(|_| AppError::not_found("user"))?;
    let client = state
        .store
        .user(authed.practice_id, req.client_user_id)
        .await
        .map_err(|_| AppError::not_found("user"))?;
    if !matches!(staff.role(), Role::Clinician | Role::Associate) || client.role() != Role::Client {
        return Err(AppError::invalid(
            "invalid_assignment",
            "assign a client to a clinician or associate",
        ));
    }
    let event = authed
        .event(Action::AssignmentCreated)
        .target_user(client.id)
        .detail(serde_json::json!({"staff_user_id": staff.id}));
    state
        .store
        .assign(authed.practice_id, staff.id, client.id, state.now(), event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

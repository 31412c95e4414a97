//! People of the practice (admins): the list, one person, their state of
//! residence. The full admin console, assignments and supervision come with
//! the practice-administration issue.

use super::rules::UsState;
use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::Action;
use crate::auth::session::Authed;
use crate::error::{ApiResult, AppError};
use crate::ids::UserId;
use crate::policy::Permission;
use crate::state::AppState;
use crate::storage::{Role, StoreError, User};
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user as an admin sees them (no secrets).
#[derive(Serialize, ToSchema)]
pub struct UserView {
    /// User.
    pub id: UserId,
    /// Login name.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Whether TOTP is enrolled.
    pub mfa_enabled: bool,
    /// Creation time.
    pub created_at: i64,
    /// Deactivation time.
    pub deactivated_at: Option<i64>,
    /// State of residence (USPS code), where the practice recorded it.
    pub state_of_residence: Option<String>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            login: u.login.clone(),
            display_name: u.display_name.clone(),
            role: u.role(),
            mfa_enabled: u.totp_secret.is_some(),
            created_at: u.created_at,
            deactivated_at: u.deactivated_at,
            state_of_residence: u.state_of_residence.clone(),
        }
    }
}

/// Users of the practice.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [UserView]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(State(state): State<AppState>, authed: Authed) -> ApiResult<Json<Vec<UserView>>> {
    // The operation's own permission (ManagePeople) was checked by the
    // router.
    let users = state.store.list_users(authed.practice_id).await?;
    let event = authed
        .event(Action::UsersListed)
        .detail(serde_json::json!({"count": users.len()}));
    state.store.append_audit(event, state.now()).await?;
    Ok(Json(users.iter().map(UserView::from).collect()))
}

/// One user (admins, or yourself).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "user id")),
    responses((status = 200, body = UserView),
        (status = 404, body = crate::error::ErrorBody, description = "no such user, or another user for someone who may not manage people")))]
pub async fn get(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<UserView>> {
    let id: UserId = id.parse().map_err(|_| AppError::not_found("user"))?;
    // Another person's account is not yours: as absent as any other.
    if id != authed.user_id && authed.may(Permission::ManagePeople).is_err() {
        return Err(AppError::not_found("user"));
    }
    match state.store.user(authed.practice_id, id).await {
        Ok(user) => {
            if id != authed.user_id {
                let event = authed.event(Action::UsersViewed).target_user(id);
                state.store.append_audit(event, state.now()).await?;
            }
            Ok(Json(UserView::from(&user)))
        }
        Err(StoreError::NotFound) => Err(AppError::not_found("user")),
        Err(e) => Err(e.into()),
    }
}

/// A person's state of residence, as the practice recorded it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetResidence {
    /// USPS code of a state, DC or a territory ("CA", "DC", "PR"), or null
    /// to clear it.
    #[schema(max_length = 2, nullable)]
    pub state: Option<String>,
}

/// Record (or clear) a person's state of residence (admins). Breach
/// notification counts the affected residents of each state from it.
#[utoipa::path(put, path = "/api/v1/users/{id}/residence", request_body = SetResidence, tag = "users",
    params(("id" = uuid::Uuid, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody, description = "invalid_state: not a USPS code of a state, DC or a territory")))]
pub async fn set_residence(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SetResidence>,
) -> ApiResult<Json<UserView>> {
    let id: UserId = id.parse().map_err(|_| AppError::not_found("user"))?;
    let code = match req.state.as_deref() {
        None => None,
        Some(s) => Some(UsState::parse(s).map(UsState::code).ok_or_else(|| {
            AppError::invalid(
                "invalid_state",
                "state: the two-letter USPS code of a state, DC or a territory (e.g. CA)",
            )
        })?),
    };
    // The entry says that it changed and whose, not to what.
    let event = authed.event(Action::UserResidenceRecorded).target_user(id);
    match state
        .store
        .set_residence(authed.practice_id, id, code, state.now(), event)
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(AppError::not_found("user")),
        Err(e) => return Err(e.into()),
    }
    let user = state.store.user(authed.practice_id, id).await?;
    Ok(Json(UserView::from(&user)))
}

//! The signed-in user: who am I, my devices.

use crate::auth::session::Authed;
use crate::error::ApiResult;
use crate::ids::{DeviceId, PracticeId, UserId};
use crate::state::AppState;
use crate::storage::Role;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The current session's view of its user.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// User.
    pub user_id: UserId,
    /// Login name.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Whether TOTP is enrolled.
    pub mfa_enabled: bool,
    /// Practice.
    pub practice_id: PracticeId,
    /// Practice name.
    pub practice_name: String,
    /// The practice has a name of its own (not the default one a first
    /// start gives it): the admin's first-run guide asks for one until then.
    pub practice_named: bool,
    /// This device.
    pub device_id: DeviceId,
    /// Send as `X-CSRF-Token` on state-changing cookie requests.
    pub csrf_token: String,
    /// Idle timeout (seconds): the page locks itself after this.
    pub idle_timeout_secs: i64,
    /// Absolute session end.
    pub session_expires_at: i64,
    /// This device signed in as a shared or public computer: the page keeps
    /// nothing, and a page that finds such a session it did not start (a
    /// reload, another tab) ends it.
    pub shared_computer: bool,
}

/// Who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(State(state): State<AppState>, authed: Authed) -> ApiResult<Json<Me>> {
    let user = state.store.user(authed.practice_id, authed.user_id).await?;
    let practice = state.store.practice(authed.practice_id).await?;
    Ok(Json(Me {
        user_id: user.id,
        login: user.login.clone(),
        display_name: user.display_name.clone(),
        role: user.role(),
        mfa_enabled: user.totp_secret.is_some(),
        practice_id: practice.id,
        practice_named: practice.name != crate::config::DEFAULT_PRACTICE_NAME,
        practice_name: practice.name,
        device_id: authed.device_id,
        csrf_token: authed.csrf,
        idle_timeout_secs: authed.idle_timeout_secs,
        session_expires_at: authed.expires_at,
        shared_computer: authed.device_shared,
    }))
}

/// A device as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    /// Device.
    #[serde(flatten)]
    pub device: crate::storage::Device,
    /// True for the device making this request.
    pub current: bool,
}

/// My devices, newest first.
#[utoipa::path(get, path = "/api/v1/me/devices", tag = "me",
    responses((status = 200, body = [DeviceView]), (status = 401, body = crate::error::ErrorBody)))]
pub async fn devices(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<DeviceView>>> {
    let devices = state
        .store
        .list_devices(authed.practice_id, authed.user_id)
        .await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|device| DeviceView {
                current: device.id == authed.device_id,
                device,
            })
            .collect(),
    ))
}

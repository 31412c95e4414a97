//! Revocation API: sign out or report lost a device, deactivate a user,
//! device inventory, pending removals, lost-device reports, access reviews,
//! and the device's unlock share.

use crate::api::extract::{ApiJson, ApiPath};
use crate::audit::Action;
use crate::auth::{secrets, session::Authed};
use crate::error::{ApiResult, AppError};
use crate::ids::{DeviceId, UserId};
use crate::policy::Permission;
use crate::revocation;
use crate::revocation::error::RevocationError;
use crate::revocation::store::{
    AccessReviewRow, InventoryDevice, LostDeviceReport, PendingRemoval,
};
use crate::sealing::Purpose;
use crate::state::AppState;
use crate::storage::StoreError;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a device is revoked.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// "Sign out this device".
    SignedOut,
    /// "I lost this device": also files a lost-device report.
    Lost,
}

/// Revocation request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeDevice {
    /// Signed out or lost.
    pub reason: RevokeReason,
}

/// What a revocation did.
#[derive(Serialize, ToSchema)]
pub struct RevocationResult {
    /// Devices revoked by this call.
    pub devices_revoked: Vec<DeviceId>,
    /// Conversations that await a member's removal commit.
    pub conversations_pending_removal: Vec<String>,
}

/// Revoke a device: your own, or (admins) any in the practice.
#[utoipa::path(post, path = "/api/v1/devices/{id}/revoke", request_body = RevokeDevice, tag = "revocation",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = RevocationResult), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "already revoked")))]
pub async fn revoke_device(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeDevice>,
) -> ApiResult<Json<RevocationResult>> {
    let device: DeviceId = id.parse().map_err(|_| AppError::not_found("device"))?;
    let target = match state.store.device_owner(authed.practice_id, device).await {
        Ok(d) => d,
        Err(StoreError::NotFound) => return Err(AppError::not_found("device")),
        Err(e) => return Err(e.into()),
    };
    // Someone else's device is not yours unless you manage the practice's
    // devices: as absent as any other.
    if target.user_id != authed.user_id && authed.may(Permission::ManageDevices).is_err() {
        return Err(AppError::not_found("device"));
    }
    if target.revoked_at.is_some() {
        return Err(AppError::conflict(
            "already_revoked",
            "this device is already signed out",
        ));
    }
    let (reason, lost_by, action) = match req.reason {
        RevokeReason::SignedOut => ("signed_out", None, Action::DeviceRevoked),
        RevokeReason::Lost => ("lost", Some(authed.user_id), Action::DeviceReportedLost),
    };
    let revoked = revocation::revoke_devices(
        &state,
        authed.practice_id,
        &[device],
        reason,
        lost_by,
        authed.event(action),
    )
    .await?;
    Ok(Json(RevocationResult {
        devices_revoked: revoked.devices,
        conversations_pending_removal: revoked.conversations,
    }))
}

/// Deactivate a user (a departed associate): every device revoked, pending
/// invites they sent cancelled, assignments ended, devices removed from every
/// conversation.
#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", tag = "revocation",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = RevocationResult), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "last_admin: the practice would have no active admin"),
        (status = 422, body = crate::error::ErrorBody, description = "cannot_deactivate_self")))]
pub async fn deactivate_user(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RevocationResult>> {
    let user: UserId = id.parse().map_err(|_| AppError::not_found("user"))?;
    if user == authed.user_id {
        return Err(AppError::invalid(
            "cannot_deactivate_self",
            "ask another admin to deactivate your account",
        ));
    }
    let revoked = match revocation::deactivate_user(
        &state,
        authed.practice_id,
        user,
        authed.event(Action::UserDeactivated),
    )
    .await
    {
        Ok(r) => r,
        Err(RevocationError::Store(StoreError::NotFound)) => {
            return Err(AppError::not_found("user"))
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(RevocationResult {
        devices_revoked: revoked.devices,
        conversations_pending_removal: revoked.conversations,
    }))
}

/// Every device of the practice (admins).
#[utoipa::path(get, path = "/api/v1/devices", tag = "revocation",
    responses((status = 200, body = [InventoryDevice]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn inventory(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<InventoryDevice>>> {
    Ok(Json(
        state.store.practice_devices(authed.practice_id).await?,
    ))
}

/// Conversations still awaiting a member's commit of a revoked device's removal (admins).
#[utoipa::path(get, path = "/api/v1/revocations/pending", tag = "revocation",
    responses((status = 200, body = [PendingRemoval]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn pending(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<PendingRemoval>>> {
    Ok(Json(
        state
            .store
            .pending_removals(Some(authed.practice_id), None)
            .await?,
    ))
}

/// Lost-device reports (admins).
#[utoipa::path(get, path = "/api/v1/lost-devices", tag = "revocation",
    responses((status = 200, body = [LostDeviceReport]), (status = 403, body = crate::error::ErrorBody)))]
pub async fn lost_devices(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<Vec<LostDeviceReport>>> {
    Ok(Json(
        state.store.lost_device_reports(authed.practice_id).await?,
    ))
}

/// The clients and conversations a user could reach, with last access (admins; for offboarding).
#[utoipa::path(get, path = "/api/v1/users/{id}/access-review", tag = "revocation",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = [AccessReviewRow]), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn access_review(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Vec<AccessReviewRow>>> {
    let user: UserId = id.parse().map_err(|_| AppError::not_found("user"))?;
    state
        .store
        .user(authed.practice_id, user)
        .await
        .map_err(|_| AppError::not_found("user"))?;
    let rows = state.store.access_review(authed.practice_id, user).await?;
    let event = authed
        .event(Action::AccessReviewViewed)
        .target_user(user)
        .detail(serde_json::json!({"conversations": rows.len()}));
    state.store.append_audit(event, state.now()).await?;
    Ok(Json(rows))
}

/// This device's unlock share.
#[derive(Serialize, ToSchema)]
pub struct UnlockShare {
    /// 32 bytes (base64). Keep in memory only; combined with the device
    /// secret it opens the sealed local state. Destroyed on revocation.
    pub unlock_share: String,
}

/// The server-held half of this device's local-state key.
#[utoipa::path(get, path = "/api/v1/me/unlock-share", tag = "revocation",
    responses((status = 200, body = UnlockShare), (status = 401, body = crate::error::ErrorBody)))]
pub async fn unlock_share(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<UnlockShare>> {
    let fresh = zeroize::Zeroizing::new(secrets::random_bytes::<32>());
    let event = authed
        .event(Action::UnlockShareFetched)
        .target_device(authed.device_id);
    let id = authed.device_id.to_string();
    let sealed = state
        .at_rest
        .seal(Purpose::UnlockShare, &id, &fresh[..])
        .map_err(AppError::internal)?;
    // The store keeps the first share a device was given; this one is
    // dropped when one exists.
    let stored = state
        .store
        .unlock_share(
            authed.practice_id,
            authed.device_id,
            &sealed,
            state.now(),
            event,
        )
        .await?;
    let share = state
        .at_rest
        .open(Purpose::UnlockShare, &id, &stored)
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "an unlock share does not open under the at-rest key"
            ))
        })?;
    Ok(Json(UnlockShare {
        unlock_share: data_encoding::BASE64.encode(&share),
    }))
}

//! KeyPackages: a device uploads its own and reads its stock; a member
//! claims one for every device of the conversation's people not yet in it.

use super::*;

/// KeyPackage upload.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadKeyPackages {
    /// `MLSMessage` KeyPackages (base64), at most 100.
    #[schema(value_type = Vec<MlsBase64>, max_items = 100)]
    pub key_packages: Vec<Base64>,
    /// An optional last-resort KeyPackage (base64), replacing the previous one.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte, max_length = 349528)]
    pub last_resort: Option<Base64>,
}

/// KeyPackage stock of this device.
#[derive(Serialize, ToSchema)]
pub struct KeyPackageStatus {
    /// Unused regular KeyPackages.
    pub available: i64,
    /// True when the device should upload more.
    pub low: bool,
}

/// Upload KeyPackages of this device.
#[utoipa::path(post, path = "/api/v1/key-packages", request_body = UploadKeyPackages, tag = "delivery",
    responses((status = 200, body = KeyPackageStatus), (status = 400, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody, description = "key_mismatch")))]
pub async fn upload_key_packages(
    State(state): State<AppState>,
    authed: Authed,
    ApiJson(req): ApiJson<UploadKeyPackages>,
) -> ApiResult<Json<KeyPackageStatus>> {
    if req.key_packages.len() > MAX_KEY_PACKAGE_BATCH {
        return Err(AppError::invalid(
            "too_many",
            format!("upload at most {MAX_KEY_PACKAGE_BATCH} at once"),
        ));
    }
    let expected = identity_of(&authed)?;
    let now = state.now();
    let mut packages = Vec::new();
    let mut signature_key: Option<Vec<u8>> = None;
    let all = req
        .key_packages
        .iter()
        .map(|k| (k, false))
        .chain(req.last_resort.iter().map(|k| (k, true)));
    for (kp, declared_last_resort) in all {
        check_size(&kp.0)?;
        let valid =
            mls::validate_key_package(&kp.0, &expected, now.max(0) as u64).map_err(|e| {
                AppError::bad_request(
                    "invalid_key_package",
                    format!("KeyPackage refused ({})", e.code()),
                )
            })?;
        if valid.last_resort != declared_last_resort {
            return Err(AppError::bad_request(
                "invalid_key_package",
                "last-resort flag does not match the field",
            ));
        }
        match &signature_key {
            Some(k) if *k != valid.signature_key => {
                return Err(AppError::bad_request(
                    "invalid_key_package",
                    "KeyPackages use different signature keys",
                ))
            }
            _ => signature_key = Some(valid.signature_key.clone()),
        }
        packages.push(NewKeyPackage {
            kp_ref: valid.key_package_ref,
            data: kp.0.clone(),
            last_resort: valid.last_resort,
            not_after: valid.not_after.min(i64::MAX as u64) as i64,
        });
    }
    let Some(signature_key) = signature_key else {
        return Err(AppError::invalid(
            "invalid_field",
            "no KeyPackages in the upload",
        ));
    };
    let event = authed
        .event(Action::KeyPackagesUploaded)
        .detail(serde_json::json!({"count": packages.len()}));
    let available = state
        .store
        .store_key_packages(
            authed.practice_id,
            authed.device_id,
            &signature_key,
            &packages,
            now,
            event,
        )
        .await?;
    Ok(Json(KeyPackageStatus {
        available,
        low: available < LOW_KEY_PACKAGES,
    }))
}

/// This device's KeyPackage stock.
#[utoipa::path(get, path = "/api/v1/key-packages", tag = "delivery", responses((status = 200, body = KeyPackageStatus)))]
pub async fn key_package_status(
    State(state): State<AppState>,
    authed: Authed,
) -> ApiResult<Json<KeyPackageStatus>> {
    let available = state
        .store
        .key_package_count(authed.device_id, state.now())
        .await?;
    Ok(Json(KeyPackageStatus {
        available,
        low: available < LOW_KEY_PACKAGES,
    }))
}

/// KeyPackages claimed to add devices.
#[derive(Serialize, ToSchema)]
pub struct Claimed {
    /// One per device to add.
    pub key_packages: Vec<ClaimedKeyPackage>,
    /// Devices that have no KeyPackage available (add them later).
    pub missing: Vec<DeviceId>,
}

/// Claim one KeyPackage for every device of the conversation's people that
/// is not yet in the group. Only a member device may claim.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/key-packages/claim", tag = "delivery",
    params(("id" = uuid::Uuid, Path, description = "conversation id")), responses((status = 200, body = Claimed), (status = 403, body = crate::error::ErrorBody)))]
pub async fn claim(
    State(state): State<AppState>,
    authed: Authed,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Claimed>> {
    let conversation = participant(&state, &authed, &id).await?;
    require_member(&state, &conversation, authed.device_id).await?;
    let event = authed
        .event(Action::KeyPackagesClaimed)
        .target_user(conversation.client_user_id);
    let (key_packages, missing) = state
        .store
        .claim_key_packages(&conversation, authed.device_id, state.now(), event)
        .await?;
    // Tell a device whose stock ran low (or out) to upload more, at once,
    // over its socket, rather than at its next start.
    let mut low = missing.clone();
    for k in &key_packages {
        if state
            .store
            .key_package_count(k.device_id, state.now())
            .await?
            < LOW_KEY_PACKAGES
        {
            low.push(k.device_id);
        }
    }
    state.delivery.wakeups.wake(&low, Wake::KeyPackagesLow);
    Ok(Json(Claimed {
        key_packages,
        missing,
    }))
}

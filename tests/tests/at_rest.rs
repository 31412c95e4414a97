//! A copy of the database alone does not give away second factors, the
//! halves of devices' local-state keys or webhook signing keys: they are
//! sealed under a key file in the data directory (0600), bound to their
//! row; sign-in with TOTP and a device's unlock still work. Both backends.

use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    totp_secrets_and_unlock_shares_are_sealed_at_rest,
    secrets_left_plain_from_before_sealing_are_sealed_once_and_planted_ones_refused
);

async fn totp_secrets_and_unlock_shares_are_sealed_at_rest(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;

    // The admin's TOTP secret, as their authenticator app holds it.
    let secret = data_encoding::BASE32_NOPAD
        .decode(
            p.admin
                .totp_secret
                .as_deref()
                .expect("enrolled")
                .trim_end_matches('=')
                .as_bytes(),
        )
        .expect("base32");
    let stored = app
        .raw_bytes(&format!(
            "SELECT totp_secret FROM users WHERE id = '{}'",
            p.admin.user_id
        ))
        .await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].len() > secret.len(), "sealed, not the 20 bytes");
    assert!(
        !stored[0].windows(secret.len()).any(|w| w == secret),
        "the secret is not in the clear"
    );

    // A device's unlock share: the same twice, and not in the clear.
    let (status, first) = p.client.client.get("/api/v1/me/unlock-share").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, again) = p.client.client.get("/api/v1/me/unlock-share").await;
    assert_eq!(first, again, "one share per device");
    let share = data_encoding::BASE64
        .decode(first["unlock_share"].as_str().expect("share").as_bytes())
        .expect("base64");
    assert_eq!(share.len(), 32);
    let stored = app
        .raw_bytes(&format!(
            "SELECT share FROM device_unlock_shares WHERE device_id = '{}'",
            p.client.device_id
        ))
        .await;
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0].windows(32).any(|w| w == share),
        "the share is not in the clear"
    );

    // A webhook's signing key, shown once to the admin.
    let (status, created) = p
        .admin
        .client
        .post(
            "/api/v1/webhooks",
            &json!({"url": "https://hooks.example.org/a", "event_types": ["incident.opened"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = data_encoding::BASE64
        .decode(
            created["secret"]
                .as_str()
                .expect("secret")
                .trim_start_matches("whsec_")
                .as_bytes(),
        )
        .expect("base64");
    let stored = app
        .raw_bytes(&format!(
            "SELECT secret FROM webhook_endpoints WHERE id = '{}'",
            created["endpoint"]["id"].as_str().expect("id")
        ))
        .await;
    assert!(
        !stored[0].windows(32).any(|w| w == key),
        "the webhook key is not in the clear"
    );

    // Moved onto another user's row, a sealed secret does not open: the
    // sign-in fails closed (no session), it never falls back.
    app.raw_sql(&[format!(
        "UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE id = '{}') WHERE id = '{}'",
        p.admin.user_id, p.clinician.user_id
    )])
    .await;
    app.next_totp_step();
    let (status, body) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": p.clinician.practice_id, "login": p.clinician.login,
                    "password": p.clinician.password, "device_name": "x",
                    "totp_code": app.totp(p.admin.totp_secret.as_deref().expect("secret"))}),
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(
        body.get("token").is_none() && body["error"] == "internal",
        "{body}"
    );

    // The key file sits beside the others, readable by the server alone.
    let key = app.settings.data_dir.join("at-rest.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key).expect("key file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    app.stop().await;
}

/// Someone who can write to the database but lacks the key plants a TOTP
/// secret they know: it does not sign in, neither now nor after a restart.
/// A database from before sealing (its plain secrets genuine) is sealed at
/// its first start, once, and its people sign in as before.
async fn secrets_left_plain_from_before_sealing_are_sealed_once_and_planted_ones_refused(
    b: Backend,
) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let known = [5u8; 20];
    let known_b32 = data_encoding::BASE32_NOPAD.encode(&known);
    let literal = if app.store.backend() == "postgres" {
        format!("'\\x{}'::bytea", data_encoding::HEXLOWER.encode(&known))
    } else {
        format!("X'{}'", data_encoding::HEXLOWER.encode(&known))
    };
    let plant_sql = format!(
        "UPDATE users SET totp_secret = {literal} WHERE id = '{}'",
        p.clinician.user_id
    );
    let plant = || app.raw_sql(std::slice::from_ref(&plant_sql));
    let sign_in = || async {
        app.next_totp_step();
        app.client()
            .post(
                "/api/v1/auth/login",
                &json!({"practice_id": p.clinician.practice_id, "login": p.clinician.login,
                        "password": p.clinician.password, "device_name": "x",
                        "totp_code": app.totp(&known_b32)}),
            )
            .await
    };
    let stored = || async {
        app.raw_bytes(&format!(
            "SELECT totp_secret FROM users WHERE id = '{}'",
            p.clinician.user_id
        ))
        .await
        .remove(0)
    };
    // A restart: the binary's start-up path on the same database and keys.
    let restart = || async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        alcove_server::Application::build(
            app.store.clone(),
            app.settings.clone(),
            std::sync::Arc::new(app.clock.clone()),
            listener,
        )
        .await
        .expect("start")
        .run_until(async {})
        .await
        .expect("stop");
    };

    plant().await;
    let (status, body) = sign_in().await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.get("token").is_none(), "{body}");
    restart().await;
    assert_eq!(stored().await, known, "a planted value is not sealed later");
    let (status, body) = sign_in().await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");

    // The same database as it was before sealing existed: the step never ran.
    app.raw_sql(&["DELETE FROM one_time_steps".to_string()])
        .await;
    restart().await;
    let sealed = stored().await;
    assert_ne!(sealed.len(), known.len(), "sealed at the first start");
    assert!(!sealed.windows(20).any(|w| w == known), "not in the clear");
    let (status, body) = sign_in().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Recorded: it does not run again.
    plant().await;
    restart().await;
    assert_eq!(stored().await, known);
    app.stop().await;
}

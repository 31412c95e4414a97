//! The "done when" story of the foundation, on both backends: an admin
//! completes setup with password + TOTP, invites a clinician who registers
//! with MFA and logs in, who invites a client who registers and logs in;
//! logout ends the session.

use alcove_tests::{on_both_backends, token_of, ApiClient, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    admin_clinician_client_story,
    setup_link_is_one_time_and_carries_only_a_token
);

async fn admin_clinician_client_story(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let setup = app.new_practice("Riverside Counselling").await;

    // The invite page can look at the invite before registering.
    let anon = app.client();
    let (status, info) = anon
        .post(
            "/api/v1/invites/inspect",
            &json!({"token": token_of(&setup.link)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["role"], "admin");
    assert_eq!(info["practice_name"], "Riverside Counselling");
    assert_eq!(info["requires_mfa"], true);

    let admin = app
        .register_staff(&setup.link, "admin@riverside.example")
        .await;
    assert_eq!(admin.recovery_codes.len(), 10);
    let (status, me) = admin.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["mfa_enabled"], true);
    assert_eq!(me["idle_timeout_secs"], 900);

    // Admin invites a clinician, who registers with MFA.
    let link = app.invite(&admin, "clinician").await;
    let clinician = app.register_staff(&link, "dr.lee@riverside.example").await;

    // The clinician logs out and back in: password alone is not enough.
    let (status, _) = clinician
        .client
        .post("/api/v1/auth/logout", &json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = clinician.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let fresh = app.client();
    let (status, body) = fresh
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": clinician.practice_id, "login": clinician.login, "password": clinician.password, "device_name": "Tablet"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("mfa_required")),
        "{body}"
    );
    app.next_totp_step();
    let secret = clinician.totp_secret.clone().expect("secret");
    let (status, body) = fresh
        .post(
            "/api/v1/auth/login",
            &json!({"login": "DR.LEE@riverside.example", "password": clinician.password,
                    "totp_code": app.totp(&secret), "device_name": "Tablet"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "signed_in");
    assert!(
        body.get("token").is_none(),
        "cookie logins never expose the token to scripts"
    );
    let mut clinician_client = fresh;
    clinician_client.csrf = body["csrf_token"].as_str().map(str::to_string);

    // The clinician invites a client, who registers with a passphrase only.
    let (status, created) = clinician_client
        .post("/api/v1/invites", &json!({"role": "client"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let client = app
        .register_client(created["link"].as_str().expect("link"), "sam@example.net")
        .await;
    let (status, me) = client.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "client");
    assert_eq!(me["idle_timeout_secs"], 1800);
    assert_eq!(me["practice_name"], "Riverside Counselling");

    // The client logs in again from another browser, with a bearer token.
    let (status, body) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": client.practice_id, "login": client.login, "password": client.password, "device_name": "Laptop",
                    "transport": "bearer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut bearer = ApiClient::new(&app.base);
    bearer.bearer = body["token"].as_str().map(str::to_string);
    let (status, devices) = bearer.get("/api/v1/me/devices").await;
    assert_eq!(status, StatusCode::OK);
    let devices = devices.as_array().expect("array");
    assert_eq!(devices.len(), 2);
    assert_eq!(devices.iter().filter(|d| d["current"] == true).count(), 1);
    assert!(devices
        .iter()
        .any(|d| d["name"] == "My phone" && d["user_agent"] == "Chrome on Linux"));

    // Logout ends that session and only that one.
    let (status, _) = bearer.post("/api/v1/auth/logout", &json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = bearer.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_ended"))
    );
    let (status, _) = client.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);

    // Every step left an audit record in this practice.
    let practice = me["practice_id"]
        .as_str()
        .expect("practice")
        .parse()
        .expect("id");
    let audit = app.store.recent_audit(practice, 200).await.expect("audit");
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in [
        "practice.created",
        "invite.created",
        "invite.redeemed",
        "auth.mfa_enrolled",
        "auth.login",
        "auth.logout",
    ] {
        assert!(actions.contains(&action), "missing {action} in {actions:?}");
    }
    let seqs: Vec<i64> = audit.iter().map(|a| a.seq).rev().collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "audit sequence is dense"
    );
    app.stop().await;
}

async fn setup_link_is_one_time_and_carries_only_a_token(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let setup = app.new_practice("Quiet Harbor Therapy").await;
    let (base, token) = setup.link.split_once('#').expect("fragment");
    assert_eq!(
        base,
        format!("{}/invite", app.base),
        "nothing but the token, and not in the path or query"
    );
    assert!(token.len() >= 43, "256-bit token");
    assert!(!setup.link.to_lowercase().contains("harbor"));
    assert_eq!(setup.expires_at - app.clock_now(), 24 * 3600);

    app.register_staff(&setup.link, "owner@harbor.example")
        .await;
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/accept",
            &json!({"token": token, "login": "intruder@example.org", "display_name": "X",
                    "password": "a long enough passphrase"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("invite_used")),
        "{body}"
    );
    app.stop().await;
}

trait ClockNow {
    fn clock_now(&self) -> i64;
}

impl ClockNow for TestApp {
    fn clock_now(&self) -> i64 {
        use alcove_server::clock::Clock;
        self.clock.now()
    }
}

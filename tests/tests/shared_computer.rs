//! "A shared or public computer" at sign-in, on both backends: the cookie
//! ends with the browser (no `Max-Age`), the device is marked shared, and
//! the server signs it out for good — at logout at once, and within a round
//! of its job when its session lapses with the tab left open — while a
//! person's own device whose session lapsed stays theirs.

use alcove_tests::{on_both_backends, Backend, Person, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_both_backends!(
    a_shared_computer_is_signed_out_for_good_at_logout,
    a_shared_computer_left_open_is_signed_out_when_its_session_lapses,
    a_shared_computer_cannot_reuse_a_device,
    a_staff_members_first_sign_in_on_a_shared_computer_is_a_shared_one,
);

/// Signs `who` in on a shared computer with a cookie; returns the raw
/// `Set-Cookie` header, the body, and a client carrying that cookie.
async fn sign_in_shared(app: &TestApp, who: &Person) -> (String, Value, reqwest::Client) {
    let http = cookie_client();
    let response = http
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(
            &json!({"practice_id": who.practice_id, "login": who.login, "password": who.password,
                      "device_name": "Library computer", "shared_computer": true}),
        )
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = set_cookie(&response);
    let body: Value = response.json().await.expect("json");
    (cookie, body, http)
}

/// A browser-like client: it keeps the cookies it is given.
fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

/// The raw `Set-Cookie` header of a sign-in.
fn set_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_string()
}

/// The device `id` as its owner's devices list shows it.
async fn device_seen_by(owner: &alcove_tests::ApiClient, id: &str) -> Value {
    let (status, devices) = owner.get("/api/v1/me/devices").await;
    assert_eq!(status, StatusCode::OK, "{devices}");
    devices
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["id"] == id)
        .cloned()
        .expect("listed")
}

async fn a_shared_computer_is_signed_out_for_good_at_logout(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (cookie, body, http) = sign_in_shared(&app, &p.client).await;
    // A browser-session cookie: gone when the browser closes.
    assert!(!cookie.to_ascii_lowercase().contains("max-age"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let device = body["device_id"].as_str().expect("device").to_string();
    let seen = device_seen_by(&p.client.client, &device).await;
    assert_eq!(seen["shared"], true, "{seen}");
    assert!(seen["revoked_at"].is_null());

    let response = http
        .post(format!("{}/api/v1/auth/logout", app.base))
        .header("x-csrf-token", body["csrf_token"].as_str().expect("csrf"))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Signed out for good by the time logout answered: revoked, so its
    // unlock share is gone and nothing it kept could ever be opened.
    let seen = device_seen_by(&p.client.client, &device).await;
    assert!(seen["revoked_at"].is_number(), "{seen}");
    let (status, again) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": p.client.practice_id, "login": p.client.login,
                    "password": p.client.password, "device_id": device}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{again}");
    assert_eq!(again["error"], "device_revoked");
    // Audited as the person's own act: their logout signed it out.
    let (_, log) = p
        .admin
        .client
        .get(&format!(
            "/api/v1/audit/events?action=device.revoked&device={device}"
        ))
        .await;
    let entries = log["events"].as_array().expect("events");
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(
        entries[0]["actor_user_id"],
        p.client.user_id.as_str(),
        "{log}"
    );
    app.stop().await;
}

async fn a_shared_computer_left_open_is_signed_out_when_its_session_lapses(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| {
        s.auth.shared_devices_interval_ms = 20;
    })
    .await
    else {
        return;
    };
    let p = app.practice_with_people().await;
    let (_, body, _) = sign_in_shared(&app, &p.client).await;
    let shared = body["device_id"].as_str().expect("device").to_string();
    // Nobody comes back to the library computer: its session goes idle.
    // (So does every other session: the phone's too.)
    app.clock
        .advance(app.settings.auth.client_idle_timeout_secs + 60);
    // The client signs in again on the phone, the same device as before: a
    // person's own device is not signed out when a session lapses.
    let token = app.bearer_session(&p.client).await;
    let mut phone = app.client();
    phone.bearer = Some(token);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = device_seen_by(&phone, &shared).await;
        if seen["revoked_at"].is_number() {
            break;
        }
        assert!(Instant::now() < deadline, "not signed out: {seen}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let own = device_seen_by(&phone, &p.client.device_id).await;
    assert!(own["revoked_at"].is_null(), "{own}");
    // Audited as the server's act: nobody signed it out.
    let practice: alcove_server::ids::PracticeId = p.client.practice_id.parse().expect("practice");
    let entries = app.store.recent_audit(practice, 500).await.expect("audit");
    let revoked: Vec<_> = entries
        .iter()
        .filter(|e| {
            e.action == "device.revoked" && e.target_device_id.as_deref() == Some(shared.as_str())
        })
        .collect();
    assert_eq!(revoked.len(), 1);
    assert!(revoked[0].actor_user_id.is_none());
    app.stop().await;
}

async fn a_shared_computer_cannot_reuse_a_device(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (status, body) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": p.client.practice_id, "login": p.client.login,
                    "password": p.client.password, "device_id": p.client.device_id,
                    "shared_computer": true}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_field");
    let own = device_seen_by(&p.client.client, &p.client.device_id).await;
    assert_eq!(own["shared"], false);
    app.stop().await;
}

async fn a_staff_members_first_sign_in_on_a_shared_computer_is_a_shared_one(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    // The associate sets a password; the authenticator comes at first
    // sign-in, which is on the clinic's shared front-desk computer.
    app.staff_without_authenticator(
        &admin,
        "associate",
        "assoc@p.example",
        "associate passphrase",
    )
    .await;
    let http = cookie_client();
    let step: Value = http
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(
            &json!({"login": "assoc@p.example", "password": "associate passphrase",
                      "device_name": "Front desk", "shared_computer": true}),
        )
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    assert_eq!(step["status"], "mfa_enrollment_required", "{step}");
    let secret = step["totp_secret"].as_str().expect("secret");
    let response = http
        .post(format!("{}/api/v1/auth/mfa/enroll", app.base))
        .json(
            &json!({"enrollment_token": step["enrollment_token"], "totp_code": app.totp(secret),
                      "device_name": "Front desk", "shared_computer": true}),
        )
        .send()
        .await
        .expect("enrol");
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = set_cookie(&response);
    // The same as a shared sign-in: a cookie gone with the browser, and a
    // device the server signs out for good when the session ends.
    assert!(!cookie.to_ascii_lowercase().contains("max-age"), "{cookie}");
    let me: Value = http
        .get(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["shared_computer"], true, "{me}");
    app.stop().await;
}

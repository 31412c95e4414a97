//! Sessions: automatic logoff, absolute lifetime, revoked devices, CSRF.

use alcove_server::clock::Clock;
use alcove_server::ids::{DeviceId, PracticeId};
use alcove_tests::{on_both_backends, ApiClient, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    idle_timeout_logs_staff_and_clients_off,
    absolute_lifetime_ends_active_sessions,
    revoked_device_fails_every_token,
    cookie_requests_need_csrf_token_and_allowed_origin,
);

async fn practice_of(person: &alcove_tests::Person) -> PracticeId {
    let (_, me) = person.client.get("/api/v1/me").await;
    me["practice_id"]
        .as_str()
        .expect("practice")
        .parse()
        .expect("uuid")
}

async fn idle_timeout_logs_staff_and_clients_off(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let client = app
        .register_client(&app.invite(&admin, "client").await, "c@p.example")
        .await;

    // Activity keeps a session alive past the idle timeout in total.
    for _ in 0..3 {
        app.clock.advance(10 * 60);
        assert_eq!(admin.client.get("/api/v1/me").await.0, StatusCode::OK);
        assert_eq!(client.client.get("/api/v1/me").await.0, StatusCode::OK);
    }
    // 15 idle minutes end a staff session; 30 a client's.
    app.clock.advance(16 * 60);
    let (status, body) = admin.client.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_expired")),
        "{body}"
    );
    let client_practice = practice_of(&client).await;
    app.clock.advance(31 * 60);
    let (status, body) = client.client.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_expired"))
    );
    // Once expired, always expired, even when the clock would allow it.
    let (status, body) = admin.client.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_ended"))
    );

    let events = app
        .store
        .recent_audit(client_practice, 50)
        .await
        .expect("audit");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "session.expired")
            .count(),
        2,
        "each expiry audited once"
    );
    app.stop().await;
}

async fn absolute_lifetime_ends_active_sessions(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| s.auth.session_lifetime_secs = 3600).await
    else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    for _ in 0..5 {
        app.clock.advance(10 * 60);
        assert_eq!(admin.client.get("/api/v1/me").await.0, StatusCode::OK);
    }
    app.clock.advance(11 * 60);
    let (status, body) = admin.client.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_expired"))
    );
    app.stop().await;
}

async fn revoked_device_fails_every_token(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let client = app
        .register_client(&app.invite(&admin, "client").await, "c@p.example")
        .await;
    // A second session on the same device, by bearer token.
    let mut bearer = ApiClient::new(&app.base);
    bearer.bearer = Some(app.bearer_session(&client).await);
    assert_eq!(bearer.get("/api/v1/me").await.0, StatusCode::OK);

    let practice = practice_of(&client).await;
    let device: DeviceId = client.device_id.parse().expect("device id");
    let event = alcove_server::audit::Event::new(
        practice,
        alcove_server::audit::Action::DeviceRevoked,
        &Default::default(),
    )
    .target_device(device);
    app.store
        .revoke_devices(
            practice,
            &[device],
            alcove_server::revocation::store::HowRevoked {
                reason: "lost",
                lost_by: None,
                sockets_open: &[],
            },
            app.clock.now(),
            event,
        )
        .await
        .expect("revoke");

    for c in [&client.client, &bearer] {
        let (status, body) = c.get("/api/v1/me").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("device_revoked")),
            "{body}"
        );
    }
    // Logging in again on the revoked device is refused; a new device works.
    let (status, body) = app
        .client()
        .post("/api/v1/auth/login", &json!({"practice_id": client.practice_id, "login": client.login, "password": client.password, "device_id": client.device_id}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("device_revoked")),
        "{body}"
    );
    let (status, _) = app
        .client()
        .post("/api/v1/auth/login", &json!({"practice_id": client.practice_id, "login": client.login, "password": client.password, "device_name": "New phone"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

async fn cookie_requests_need_csrf_token_and_allowed_origin(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let mut admin = app.practice_with_admin("P", "admin@p.example").await;
    let csrf = admin.client.csrf.take();

    let (status, body) = admin
        .client
        .post("/api/v1/invites", &json!({"role": "client"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed")),
        "{body}"
    );
    admin.client.csrf = Some("not-the-token".into());
    let (status, _) = admin
        .client
        .post("/api/v1/invites", &json!({"role": "client"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    admin.client.csrf = csrf.clone();
    let foreign = admin
        .client
        .http
        .post(format!("{}/api/v1/invites", app.base))
        .header("x-csrf-token", csrf.clone().expect("csrf"))
        .header("origin", "https://evil.example")
        .json(&json!({"role": "client"}))
        .send()
        .await
        .expect("send");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let same_origin = admin
        .client
        .http
        .post(format!("{}/api/v1/invites", app.base))
        .header("x-csrf-token", csrf.expect("csrf"))
        .header("origin", app.base.clone())
        .json(&json!({"role": "client"}))
        .send()
        .await
        .expect("send");
    assert_eq!(same_origin.status(), StatusCode::CREATED);
    // Reads need no CSRF token.
    admin.client.csrf = None;
    assert_eq!(admin.client.get("/api/v1/invites").await.0, StatusCode::OK);
    app.stop().await;
}

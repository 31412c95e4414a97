//! Logins: second factor, replay, recovery codes, throttling, and answers
//! that do not reveal whether an account exists.

use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    wrong_and_replayed_totp_codes_are_refused,
    recovery_codes_work_once,
    throttling_per_account_looks_the_same_for_unknown_accounts,
    throttling_per_ip,
    staff_without_totp_must_enrol_before_first_use,
);

async fn login_with(app: &TestApp, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
    app.client().post("/api/v1/auth/login", &body).await
}

async fn wrong_and_replayed_totp_codes_are_refused(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let secret = admin.totp_secret.clone().expect("secret");
    let login = |code: String| {
        login_with(
            &app,
            json!({"practice_id": admin.practice_id, "login": admin.login, "password": admin.password, "totp_code": code, "device_name": "d"}),
        )
    };
    app.next_totp_step();
    let good = app.totp(&secret);
    let wrong = format!(
        "{:06}",
        (good.parse::<u32>().expect("digits") + 1) % 1_000_000
    );
    let (status, body) = login(wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_mfa_code"))
    );
    let (status, body) = login("12ab56".into()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_mfa_code"))
    );
    assert_eq!(login(good.clone()).await.0, StatusCode::OK);
    let (status, body) = login(good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_mfa_code")),
        "replay refused"
    );
    app.next_totp_step();
    assert_eq!(login(app.totp(&secret)).await.0, StatusCode::OK);
    app.stop().await;
}

async fn recovery_codes_work_once(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let code = admin.recovery_codes[3].to_uppercase();
    let body = json!({"practice_id": admin.practice_id, "login": admin.login, "password": admin.password, "recovery_code": code, "device_name": "d"});
    let (status, first) = app.client().post("/api/v1/auth/login", &body).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = app.client().post("/api/v1/auth/login", &body).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_mfa_code"))
    );
    app.stop().await;
}

async fn throttling_per_account_looks_the_same_for_unknown_accounts(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let client = app
        .register_client(&app.invite(&admin, "client").await, "c@p.example")
        .await;

    let attempt = |login: &str, password: &str| {
        login_with(
            &app,
            json!({"login": login, "password": password, "device_name": "d"}),
        )
    };
    let wrong_pw = attempt(&client.login, "not the passphrase at all").await;
    let unknown = attempt("nobody@p.example", "not the passphrase at all").await;
    assert_eq!(
        wrong_pw, unknown,
        "identical answers for a wrong password and an unknown login"
    );
    assert_eq!(wrong_pw.0, StatusCode::UNAUTHORIZED);

    for _ in 0..9 {
        attempt(&client.login, "still not the passphrase").await;
        attempt("nobody@p.example", "still not the passphrase").await;
    }
    // Ten failures: now even the right passphrase is throttled.
    let (status, body) = attempt(&client.login, &client.password).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("throttled")),
        "{body}"
    );
    let unknown = attempt("nobody@p.example", "x").await;
    assert_eq!(unknown.0, StatusCode::TOO_MANY_REQUESTS);
    // The lockout was audited.
    let practice: alcove_server::ids::PracticeId = client.practice_id.parse().expect("practice");
    let events = app.store.recent_audit(practice, 100).await.expect("audit");
    assert_eq!(
        events.iter().filter(|e| e.action == "auth.lockout").count(),
        1
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "auth.login" && e.outcome == "failure")
            .count(),
        10
    );

    // The window slides: after 15 minutes the account can log in again.
    app.clock.advance(15 * 60 + 1);
    let (status, body) = attempt(&client.login, &client.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}

async fn throttling_per_ip(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| s.auth.max_failures_per_ip = 5).await else {
        return;
    };
    for i in 0..5 {
        let body = json!({"login": format!("user{i}@x.example"), "password": "wrong wrong wrong"});
        assert_eq!(
            app.client().post("/api/v1/auth/login", &body).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let body = json!({"login": "fresh@x.example", "password": "wrong wrong wrong"});
    let (status, _) = app.client().post("/api/v1/auth/login", &body).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the sixth account from one address is throttled"
    );
    app.stop().await;
}

async fn staff_without_totp_must_enrol_before_first_use(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    // The associate sets a password but abandons enrolment.
    app.staff_without_authenticator(
        &admin,
        "associate",
        "assoc@p.example",
        "associate passphrase",
    )
    .await;
    // Logging in with the password gives a new enrolment, never a session.
    let c = app.client();
    let (status, body) = c
        .post("/api/v1/auth/login", &json!({"login": "assoc@p.example", "password": "associate passphrase", "device_name": "d"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "mfa_enrollment_required", "{body}");
    assert_eq!(c.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let secret = body["totp_secret"].as_str().expect("secret").to_string();
    let (status, bad) = c
        .post("/api/v1/auth/mfa/enroll", &json!({"enrollment_token": body["enrollment_token"], "totp_code": "000000", "device_name": "d"}))
        .await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_mfa_code"))
    );
    let (status, ok) = c
        .post("/api/v1/auth/mfa/enroll", &json!({"enrollment_token": body["enrollment_token"], "totp_code": app.totp(&secret), "device_name": "d"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["recovery_codes"].as_array().map(Vec::len), Some(10));
    // The enrolment token is spent.
    let (status, _) = c
        .post("/api/v1/auth/mfa/enroll", &json!({"enrollment_token": body["enrollment_token"], "totp_code": app.totp(&secret), "device_name": "d"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

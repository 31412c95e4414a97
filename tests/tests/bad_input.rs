//! Bad input gets a clear JSON error with the right status and changes
//! nothing, on every endpoint that takes a body.

use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(malformed_wrong_types_oversize_and_unknown_routes);

const BODY_ENDPOINTS: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/mfa/enroll",
    "/api/v1/invites",
    "/api/v1/invites/inspect",
    "/api/v1/invites/accept",
];

async fn malformed_wrong_types_oversize_and_unknown_routes(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let c = &admin.client;
    let practice: alcove_server::ids::PracticeId = {
        let (_, me) = c.get("/api/v1/me").await;
        me["practice_id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    };
    let before = app
        .store
        .recent_audit(practice, 1000)
        .await
        .expect("audit")
        .len();

    for path in BODY_ENDPOINTS {
        let (status, body) = c
            .post_raw(path, b"{not json".to_vec(), Some("application/json"))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("malformed_json")),
            "{path}: {body}"
        );
        assert!(body["message"].is_string());

        let (status, body) = c
            .post(
                path,
                &json!({"login": 42, "password": [], "role": 7, "token": {}}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"], "invalid_field");

        let big = format!("{{\"login\": \"{}\"}}", "x".repeat(70 * 1024));
        let (status, body) = c
            .post_raw(path, big.into_bytes(), Some("application/json"))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large")),
            "{path}: {body}"
        );

        let (status, body) = c
            .post_raw(
                path,
                b"login=x".to_vec(),
                Some("application/x-www-form-urlencoded"),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("unsupported_media_type")
            ),
            "{path}"
        );

        let (status, body) = c.post(path, &json!({"unexpected": true})).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: unknown fields are refused: {body}"
        );
    }
    // Unknown enum value.
    let (status, body) = c
        .post("/api/v1/invites", &json!({"role": "superuser"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
    );
    // Over-long and control-character names.
    let link = app.invite(&admin, "client").await;
    let (status, body) = app
        .client()
        .post("/api/v1/invites/accept", &json!({"token": alcove_tests::token_of(&link), "login": "n@p.example",
            "display_name": "x".repeat(101), "password": "a fine long passphrase", "device_name": "d"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_name"))
    );
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/accept",
            &json!({"token": alcove_tests::token_of(&link), "login": "a b",
            "display_name": "N", "password": "a fine long passphrase", "device_name": "d"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_login"))
    );
    // The invite survived every refusal.
    let (status, _) = app
        .client()
        .post(
            "/api/v1/invites/inspect",
            &json!({"token": alcove_tests::token_of(&link)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Unknown routes and methods answer in JSON.
    let (status, body) = c.get("/api/v1/nope").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = c.get("/api/v1/auth/login").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    // Unauthenticated access to a protected endpoint.
    let (status, body) = app.client().get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let mut junk = app.client();
    junk.bearer = Some("x".repeat(5000));
    assert_eq!(junk.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);

    // Nothing was written by any refused request (one invite was created on purpose).
    let after = app.store.recent_audit(practice, 1000).await.expect("audit");
    assert_eq!(
        after.len(),
        before + 1,
        "{:?}",
        after.iter().take(3).map(|a| &a.action).collect::<Vec<_>>()
    );
    app.stop().await;
}

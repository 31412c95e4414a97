//! Bad input gets a clear JSON error with the right status and changes
//! nothing: bodies on every endpoint that takes one, query strings, path
//! parameters, oversized headers and request targets, unknown routes and
//! methods; and the `Authorization` scheme is matched case-insensitively.

use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    malformed_wrong_types_oversize_and_unknown_routes,
    queries_paths_headers_and_routes_answer_json,
    bearer_scheme_is_case_insensitive
);

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

/// Sends a GET with extra headers; answers status, content type and body.
async fn get_with(url: &str, headers: &[(String, String)]) -> (StatusCode, Option<String>, String) {
    let mut req = reqwest::Client::new().get(url);
    for (name, value) in headers {
        req = req.header(name.as_str(), value.as_str());
    }
    let response = req.send().await.expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, content_type, response.text().await.expect("body"))
}

/// Asserts a JSON error body with this status and code.
fn assert_json_error(
    what: &str,
    (status, content_type, body): &(StatusCode, Option<String>, String),
    want: StatusCode,
    code: &str,
) {
    assert_eq!(*status, want, "{what}: {body}");
    assert_eq!(content_type.as_deref(), Some("application/json"), "{what}");
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: JSON: {body}"));
    assert_eq!(body["error"], code, "{what}: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

async fn queries_paths_headers_and_routes_answer_json(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let c = &admin.client;
    let conv = uuid::Uuid::new_v4();

    // Query strings that do not parse: 400 invalid_query, naming the
    // parameter but never echoing the value.
    let (status, body) = c
        .get(&format!("/api/v1/conversations/{conv}/messages?after=abc"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query")),
        "{body}"
    );
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains("after") && !message.contains("abc"),
        "{message}"
    );
    for query in [
        "limit=1.5",
        "after=1&after=2",
        "unknown=1",
        "after=99999999999999999999",
    ] {
        let (status, body) = c
            .get(&format!("/api/v1/conversations/{conv}/messages?{query}"))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{query}: {body}"
        );
    }
    for path in [
        "/api/v1/audit/events?limit=abc",
        "/api/v1/audit/export?from=yesterday",
        "/api/v1/audit/proof/inclusion?seq=x",
        "/api/v1/audit/proof/inclusion",
        "/api/v1/audit/proof/inclusions?seqs=",
        "/api/v1/audit/proof/inclusions?seqs=1,x",
        "/api/v1/audit/proof/inclusions?seqs=0",
        "/api/v1/audit/proof/inclusions?seq=1",
        "/api/v1/audit/proof/consistency?first=-1",
    ] {
        let (status, body) = c.get(path).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{path}: {body}"
        );
    }
    // Well-formed but out of the documented range: 422.
    for path in [
        "/api/v1/audit/events?limit=0",
        "/api/v1/audit/events?limit=501",
        "/api/v1/audit/events?format=xml",
        "/api/v1/audit/export?limit=-3",
    ] {
        let (status, body) = c.get(path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    let (status, body) = c.get("/api/v1/audit/events?limit=500").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Path segments that do not decode (percent-encoded bytes that are not
    // UTF-8): 400 invalid_path, on every extractor.
    for path in [
        "/api/v1/users/%FF".to_string(),
        "/api/v1/conversations/%C3%28".to_string(),
        "/api/v1/conversations/%FF/messages?after=1".to_string(),
        "/api/v1/users/%FE%FF/access-review".to_string(),
    ] {
        let (status, body) = c.get(&path).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_path")),
            "{path}: {body}"
        );
    }
    let (status, body) = c.delete("/api/v1/invites/%FF").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_path")),
        "{body}"
    );
    // An id that decodes but is not one: 404 as before.
    let (status, body) = c.get("/api/v1/users/not-an-id").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // Oversized headers: the API's own limits answer 431 in JSON...
    let me = format!("{}/api/v1/me", app.base);
    let many: Vec<(String, String)> = (0..150)
        .map(|i| (format!("x-filler-{i}"), "v".to_string()))
        .collect();
    assert_json_error(
        "150 header fields",
        &get_with(&me, &many).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    );
    let big = vec![("x-filler".to_string(), "a".repeat(40 * 1024))];
    assert_json_error(
        "a 40 KiB header",
        &get_with(&me, &big).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    );
    let spread: Vec<(String, String)> = (0..20)
        .map(|i| (format!("x-filler-{i}"), "b".repeat(2000)))
        .collect();
    assert_json_error(
        "20 headers of 2 KB",
        &get_with(&me, &spread).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    );
    // ...on every route, not only the API.
    assert_json_error(
        "150 header fields on /healthz",
        &get_with(&format!("{}/healthz", app.base), &many).await,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
    );
    // Just under the limits is fine.
    let fine: Vec<(String, String)> = (0..80)
        .map(|i| (format!("x-filler-{i}"), "c".repeat(100)))
        .collect();
    assert_eq!(
        get_with(&format!("{}/healthz", app.base), &fine).await.0,
        StatusCode::OK
    );
    // Beyond hyper's own limits (alcove_server::HYPER_MAX_HEADERS fields,
    // or a header block over its read buffer) hyper answers before any
    // layer runs: still 431, but with no body (docs/threat-model.md).
    let flood: Vec<(String, String)> = (0..alcove_server::HYPER_MAX_HEADERS + 10)
        .map(|i| (format!("x-filler-{i}"), "v".to_string()))
        .collect();
    let (status, _, body) = get_with(&me, &flood).await;
    assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(body.is_empty(), "{body}");

    // An over-long request target: 414 in JSON.
    assert_json_error(
        "a 9 KB query string",
        &get_with(&format!("{me}?q={}", "q".repeat(9 * 1024)), &[]).await,
        StatusCode::URI_TOO_LONG,
        "uri_too_long",
    );

    // Unknown routes anywhere under /api, and wrong methods outside
    // /api/v1, answer in JSON too (405 with Allow).
    for path in ["/api", "/api/", "/api/v2/me", "/api/nope"] {
        assert_json_error(
            path,
            &get_with(&format!("{}{path}", app.base), &[]).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    for path in ["/healthz", "/readyz", "/api/v1/me"] {
        let response = reqwest::Client::new()
            .delete(format!("{}{path}", app.base))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert!(response.headers().contains_key("allow"), "{path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], "method_not_allowed", "{path}");
    }
    // The web client's own paths keep a bare 404.
    let (status, _, _) = get_with(&format!("{}/no-such-page", app.base), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn bearer_scheme_is_case_insensitive(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let client = app
        .register_client(&app.invite(&admin, "client").await, "c@p.example")
        .await;
    let token = app.bearer_session(&client).await;
    let me = format!("{}/api/v1/me", app.base);
    // RFC 9110 §11.1: the scheme is case-insensitive; one or more spaces.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        for gap in [" ", "   "] {
            let auth = vec![("authorization".to_string(), format!("{scheme}{gap}{token}"))];
            let (status, _, body) = get_with(&me, &auth).await;
            assert_eq!(status, StatusCode::OK, "{scheme:?}{gap:?}: {body}");
            let body: Value = serde_json::from_str(&body).expect("JSON");
            assert_eq!(body["user_id"], client.user_id.as_str());
        }
    }
    // Other schemes, a scheme with no credentials, or the token alone are
    // not a session.
    for auth in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer".to_string(),
        "Bearer ".to_string(),
        token.clone(),
    ] {
        let headers = vec![("authorization".to_string(), auth.clone())];
        assert_json_error(
            &auth,
            &get_with(&me, &headers).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
    }
    app.stop().await;
}

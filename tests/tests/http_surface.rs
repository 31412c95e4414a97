//! Headers, health, and the OpenAPI document.

use alcove_tests::{Backend, TestApp};
use reqwest::StatusCode;

#[tokio::test]
async fn security_headers_health_and_openapi() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let http = reqwest::Client::new();

    let page = http
        .get(format!("{}/", app.base))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers();
    assert_eq!(
        h["content-security-policy"],
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    );
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");

    let api = http
        .get(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .expect("api");
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert!(api.headers().contains_key("x-request-id"));

    for path in ["/healthz", "/readyz"] {
        let r = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("health");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }

    let doc: serde_json::Value = http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/mfa/enroll",
        "/api/v1/auth/logout",
        "/api/v1/invites",
        "/api/v1/invites/{id}",
        "/api/v1/invites/inspect",
        "/api/v1/invites/accept",
        "/api/v1/me",
        "/api/v1/me/devices",
        "/api/v1/users",
        "/api/v1/users/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    // Every operation lists what the shared extractors and layers can
    // answer (server/src/api/openapi.rs), and query parameters are in the
    // query.
    let public = [
        "/healthz",
        "/readyz",
        "/api/v1/auth/login",
        "/api/v1/auth/mfa/enroll",
        "/api/v1/invites/inspect",
        "/api/v1/invites/accept",
        "/api/v1/invites/reset",
        "/api/v1/reminders/sms/inbound",
    ];
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            operations += 1;
            let what = format!("{method} {path}");
            let responses = op["responses"].as_object().expect("responses");
            for status in ["414", "431", "500"] {
                assert!(responses.contains_key(status), "{what}: {status}");
            }
            if !public.contains(&path.as_str()) {
                assert!(responses.contains_key("401"), "{what}: 401");
                assert!(op["security"].is_array(), "{what}: security");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{what}: {status}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let placed = p["in"].as_str().expect("in");
                let name = p["name"].as_str().expect("name");
                let templated = path.contains(&format!("{{{name}}}"));
                assert_eq!(placed == "path", templated, "{what}: {name} is in {placed}");
                assert!(responses.contains_key("400"), "{what}: 400 for {name}");
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{what}: {status} is an ErrorBody"
                    );
                }
            }
        }
    }
    assert!(operations >= 42, "{operations} operations");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    app.stop().await;
}

//! The practice's name, on both backends: an admin names it on the first
//! run (everyone's pages show it at once), nobody else may, a bad name is
//! refused without being echoed, and the audit entry says that it changed,
//! not what it says.

use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(an_admin_names_the_practice_and_nobody_else_may);

async fn an_admin_names_the_practice_and_nobody_else_may(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    // A first start's practice has the default name until it is given one.
    let fresh = app
        .practice_with_admin(
            alcove_server::config::DEFAULT_PRACTICE_NAME,
            "first@q.example",
        )
        .await;
    let (_, me) = fresh.client.get("/api/v1/me").await;
    assert_eq!(me["practice_named"], false, "the default name: {me}");
    let p = app.practice_with_people().await;
    let (status, body) = p
        .admin
        .client
        .patch(
            "/api/v1/practice",
            &json!({"name": "  Maple Street Practice  "}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Maple Street Practice");
    assert_eq!(body["named"], true);
    for who in [&p.clinician, &p.client] {
        let (_, me) = who.client.get("/api/v1/me").await;
        assert_eq!(me["practice_name"], "Maple Street Practice");
        assert_eq!(me["practice_named"], true);
    }
    for who in [&p.clinician, &p.client] {
        let (status, body) = who
            .client
            .patch("/api/v1/practice", &json!({"name": "Taken Over"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    for bad in [String::new(), "x".repeat(101), "Two\nLines".to_string()] {
        let (status, body) = p
            .admin
            .client
            .patch("/api/v1/practice", &json!({"name": bad}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(!body.to_string().contains("Lines"), "not echoed: {body}");
    }
    let (_, me) = p.admin.client.get("/api/v1/me").await;
    assert_eq!(
        me["practice_name"], "Maple Street Practice",
        "nothing half-written"
    );
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=practice.renamed")
        .await;
    let entries = log["events"].as_array().expect("events");
    assert_eq!(entries.len(), 1, "{log}");
    assert!(!log.to_string().contains("Maple"), "{log}");
    app.stop().await;
}

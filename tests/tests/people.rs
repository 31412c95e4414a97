//! A person's state of residence, on both backends: an admin records it (in
//! any case, stored as the USPS code), clears it, and nobody else may; a
//! made-up state is refused without being echoed and changes nothing; the
//! audit entry says that it changed and whose, not to what.

use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(an_admin_records_where_a_client_lives_and_nobody_else_may);

async fn an_admin_records_where_a_client_lives_and_nobody_else_may(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let path = format!("/api/v1/users/{}/residence", p.client.user_id);
    let (status, body) = p.admin.client.put(&path, &json!({"state": " ca "})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state_of_residence"], "CA");
    let (_, listed) = p.admin.client.get("/api/v1/users").await;
    let client = listed
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["id"] == p.client.user_id.as_str())
        .expect("the client is listed");
    assert_eq!(client["state_of_residence"], "CA");

    // Not a state: refused, not echoed, nothing changed.
    for bad in ["Atlantis", "XX", ""] {
        let (status, body) = p.admin.client.put(&path, &json!({"state": bad})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"], "invalid_state");
        assert!(!body.to_string().contains("Atlantis"), "{body}");
    }
    // Staff who do not manage people, and the client, may not.
    for who in [&p.clinician, &p.client] {
        let (status, body) = who.client.put(&path, &json!({"state": "TX"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (_, person) = p
        .admin
        .client
        .get(&format!("/api/v1/users/{}", p.client.user_id))
        .await;
    assert_eq!(person["state_of_residence"], "CA", "nothing half-written");
    // Someone of no practice of ours (a made-up id): as absent as any.
    let (status, _) = p
        .admin
        .client
        .put(
            "/api/v1/users/6f9619ff-8b86-4d11-b42d-00c04fc964ff/residence",
            &json!({"state": "TX"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Cleared.
    let (status, body) = p.admin.client.put(&path, &json!({"state": null})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["state_of_residence"].is_null(), "{body}");

    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=user.residence_recorded")
        .await;
    let entries = log["events"].as_array().expect("events");
    assert_eq!(entries.len(), 2, "recorded and cleared: {log}");
    assert_eq!(entries[0]["target_user_id"], p.client.user_id.as_str());
    assert!(!log.to_string().contains("\"CA\""), "{log}");
    app.stop().await;
}

//! Tenancy: no request reads or changes another practice's data, on every
//! endpoint that takes an identifier or lists rows.

use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    practices_cannot_see_or_touch_each_other,
    a_clinician_cannot_take_another_clinicians_client_by_its_id,
    a_login_used_in_another_practice_is_indistinguishable_from_a_new_one,
);

/// One practice's clinician tries to learn whether an address is a client
/// of another practice (the fact of treatment) by redeeming an invite of
/// their own with it: the answer is the one a never-used address gets.
async fn a_login_used_in_another_practice_is_indistinguishable_from_a_new_one(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let a = app.practice_with_people().await; // sam@p.example is A's client
    let admin_b = app.practice_with_admin("B", "admin@b.example").await;
    let clinician_b = app
        .register_staff(&app.invite(&admin_b, "clinician").await, "dr@b.example")
        .await;

    let redeem = |login: &'static str| {
        let app = &app;
        let clinician_b = &clinician_b;
        async move {
            let link = app.invite(clinician_b, "client").await;
            let (status, body) = app
                .client()
                .post(
                    "/api/v1/invites/accept",
                    &json!({"token": alcove_tests::token_of(&link), "login": login, "display_name": "Probe",
                            "password": "a probing passphrase", "device_name": "Probe"}),
                )
                .await;
            (
                status,
                body["status"].clone(),
                body.as_object().map(|o| {
                    let mut keys: Vec<String> = o.keys().cloned().collect();
                    keys.sort();
                    keys
                }),
            )
        }
    };
    let used_elsewhere = redeem("sam@p.example").await;
    let never_used = redeem("nobody@p.example").await;
    assert_eq!(used_elsewhere.0, StatusCode::CREATED, "{used_elsewhere:?}");
    assert_eq!(used_elsewhere, never_used);

    // Two people, one login, two practices: each signs in to their own.
    let sign_in = |practice: Option<&str>, password: &str| {
        let mut body = json!({"login": "sam@p.example", "password": password, "device_name": "d",
                              "transport": "bearer"});
        if let Some(p) = practice {
            body["practice_id"] = json!(p);
        }
        let c = app.client();
        async move { c.post("/api/v1/auth/login", &body).await }
    };
    let (status, body) = sign_in(Some(&a.client.practice_id), &a.client.password).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"], a.client.user_id.as_str());
    let (status, body) = sign_in(Some(&admin_b.practice_id), "a probing passphrase").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["user_id"], a.client.user_id.as_str());
    // The other practice's password in this practice: the plain refusal.
    let (status, body) = sign_in(Some(&admin_b.practice_id), &a.client.password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_credentials");

    // With several practices on the server, a sign-in must name one —
    // the same answer for every login, used or not, before any lookup.
    let (status, known) = sign_in(None, &a.client.password).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{known}");
    assert_eq!(known["error"], "practice_required");
    let (_, unknown) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"login": "never@x.example", "password": "whatever it is"}),
        )
        .await;
    assert_eq!(known, unknown);
    app.stop().await;
}

async fn a_clinician_cannot_take_another_clinicians_client_by_its_id(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let people = app.practice_with_people().await;
    let other = app
        .register_staff(
            &app.invite(&people.admin, "clinician").await,
            "other@p.example",
        )
        .await;
    let (status, body) = other
        .client
        .post(
            "/api/v1/assignments",
            &json!({"staff_user_id": other.user_id, "client_user_id": people.client.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden");
    // Nothing changed: the client is still not among their contacts, and
    // a conversation with them is refused.
    let (_, contacts) = other.client.get("/api/v1/contacts").await;
    assert!(
        !contacts.to_string().contains(&people.client.user_id),
        "{contacts}"
    );
    let (status, body) = other
        .client
        .post(
            "/api/v1/conversations",
            &json!({"with_user_id": people.client.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The admin may.
    let (status, body) = people
        .admin
        .client
        .post(
            "/api/v1/assignments",
            &json!({"staff_user_id": other.user_id, "client_user_id": people.client.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    app.stop().await;
}

async fn practices_cannot_see_or_touch_each_other(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin_a = app.practice_with_admin("A", "admin@a.example").await;
    let admin_b = app.practice_with_admin("B", "admin@b.example").await;
    let client_b = app
        .register_client(&app.invite(&admin_b, "client").await, "client@b.example")
        .await;
    let (_, invite_b) = admin_b
        .client
        .post("/api/v1/invites", &json!({"role": "client"}))
        .await;
    let invite_b = invite_b["id"].as_str().expect("id");

    // Read one user of B: absent, not forbidden.
    let (status, body) = admin_a
        .client
        .get(&format!("/api/v1/users/{}", client_b.user_id))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{body}"
    );
    // Revoke an invite of B: absent, and it stays usable.
    assert_eq!(
        admin_a
            .client
            .delete(&format!("/api/v1/invites/{invite_b}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, b_invites) = admin_b.client.get("/api/v1/invites").await;
    let still = b_invites
        .as_array()
        .expect("array")
        .iter()
        .find(|i| i["id"] == invite_b)
        .expect("listed");
    assert_eq!(still["status"], "pending");
    // Lists hold only the caller's practice.
    let (_, users_a) = admin_a.client.get("/api/v1/users").await;
    let logins: Vec<&str> = users_a
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|u| u["login"].as_str())
        .collect();
    assert_eq!(logins, vec!["admin@a.example"]);
    let (_, invites_a) = admin_a.client.get("/api/v1/invites").await;
    assert!(invites_a
        .as_array()
        .expect("array")
        .iter()
        .all(|i| i["id"] != invite_b));
    // Devices: only one's own.
    let (_, devices) = admin_a.client.get("/api/v1/me/devices").await;
    assert!(devices
        .as_array()
        .expect("array")
        .iter()
        .all(|d| d["user_id"] == admin_a.user_id.as_str()));
    // Signing in with another user's device id is refused.
    let (status, _) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": client_b.practice_id, "login": client_b.login, "password": client_b.password,
            "device_id": admin_a.device_id}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Audit events stay in their practice.
    let a: alcove_server::ids::PracticeId = {
        let (_, me) = admin_a.client.get("/api/v1/me").await;
        me["practice_id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    };
    let events = app.store.recent_audit(a, 500).await.expect("audit");
    assert!(events
        .iter()
        .all(|e| e.actor_user_id.as_deref() != Some(client_b.user_id.as_str())));
    assert!(events
        .iter()
        .all(|e| e.target_user_id.as_deref() != Some(client_b.user_id.as_str())));
    app.stop().await;
}

//! Invites: who may invite whom, expiry, revocation, single use, listing.

use alcove_tests::{on_both_backends, token_of, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    roles_decide_who_may_invite_whom,
    invites_expire_and_can_be_revoked,
    an_invitation_says_whom_it_is_for_and_who_accepted_it,
);

async fn an_invitation_says_whom_it_is_for_and_who_accepted_it(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let dr = &p.clinician;
    let (status, created) = dr
        .client
        .post(
            "/api/v1/invites",
            &json!({"role": "client", "label": "  Jordan P.  "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["label"], "Jordan P.");
    let link = created["link"].as_str().expect("link").to_string();
    assert!(
        !link.contains("Jordan"),
        "the link carries only the token: {link}"
    );
    // Blank is none; too long or a control character is refused, and
    // nothing is created.
    let (status, blank) = dr
        .client
        .post(
            "/api/v1/invites",
            &json!({"role": "client", "label": "   "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(blank["label"].is_null(), "{blank}");
    for bad in ["x".repeat(61), "Jordan\nP.".to_string()] {
        let (status, body) = dr
            .client
            .post("/api/v1/invites", &json!({"role": "client", "label": bad}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            !body.to_string().contains("Jordan"),
            "the refusal does not echo it: {body}"
        );
    }
    let (status, accepted) = app
        .client()
        .post(
            "/api/v1/invites/accept",
            &json!({"token": token_of(&link), "login": "jordan@p.example", "display_name": "Jordan Pike",
                    "password": "a fine long passphrase", "device_name": "Phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");

    let (_, mine) = dr.client.get("/api/v1/invites").await;
    let jordan = mine
        .as_array()
        .expect("array")
        .iter()
        .find(|i| i["label"] == "Jordan P.")
        .cloned()
        .expect("listed with its label");
    assert_eq!(jordan["status"], "used");
    assert_eq!(jordan["used_by_name"], "Jordan Pike");
    // Never in the audit log.
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=invite.created")
        .await;
    assert!(!log.to_string().contains("Jordan"), "{log}");
    app.stop().await;
}

async fn roles_decide_who_may_invite_whom(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    for role in ["admin", "clinician", "associate", "client"] {
        let (status, body) = admin
            .client
            .post("/api/v1/invites", &json!({"role": role}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "admin invites {role}: {body}");
    }
    let clinician = app
        .register_staff(&app.invite(&admin, "clinician").await, "c@p.example")
        .await;
    let associate = app
        .register_staff(&app.invite(&admin, "associate").await, "a@p.example")
        .await;
    let client = app
        .register_client(&app.invite(&clinician, "client").await, "cl@p.example")
        .await;

    for role in ["admin", "clinician", "associate"] {
        let (status, body) = clinician
            .client
            .post("/api/v1/invites", &json!({"role": role}))
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "clinician invites {role}"
        );
    }
    for person in [&associate, &client] {
        let (status, _) = person
            .client
            .post("/api/v1/invites", &json!({"role": "client"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            person.client.get("/api/v1/invites").await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            person.client.get("/api/v1/users").await.0,
            StatusCode::FORBIDDEN
        );
    }

    // Clinicians see only their own invites; admins see all of the practice.
    let (_, mine) = clinician.client.get("/api/v1/invites").await;
    let mine = mine.as_array().expect("array");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["status"], "used");
    assert_eq!(mine[0]["used_by"], client.user_id.as_str());
    let (_, all) = admin.client.get("/api/v1/invites").await;
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(4 + 2 + 1 + 1),
        "bootstrap + 4 + 2 staff + 1 client"
    );
    let serialized = all.to_string();
    assert!(
        !serialized.contains("token") && !serialized.contains("link"),
        "listing never shows tokens"
    );
    app.stop().await;
}

async fn invites_expire_and_can_be_revoked(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let accept = |link: String, login: &'static str| {
        let body = json!({"token": token_of(&link), "login": login, "display_name": "N",
                          "password": "a fine long passphrase", "device_name": "d"});
        let c = app.client();
        async move { c.post("/api/v1/invites/accept", &body).await }
    };

    // Expired after 7 days (the default), with 410.
    let old = app.invite(&admin, "client").await;
    app.clock.advance(7 * 24 * 3600 + 1);
    let (status, body) = accept(old.clone(), "late@p.example").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::GONE, Some("invite_expired")),
        "{body}"
    );
    let (status, _) = app
        .client()
        .post("/api/v1/invites/inspect", &json!({"token": token_of(&old)}))
        .await;
    assert_eq!(status, StatusCode::GONE);

    // The admin's session timed out while the clock moved; sign in again.
    let admin = relogin(&app, admin).await;

    // Revoked: refused, and cannot be revoked twice.
    let (status, created) = admin
        .client
        .post("/api/v1/invites", &json!({"role": "client"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().expect("id");
    assert_eq!(
        admin
            .client
            .delete(&format!("/api/v1/invites/{id}"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = accept(
        created["link"].as_str().expect("link").to_string(),
        "x@p.example",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("invite_used"))
    );
    let (status, body) = admin.client.delete(&format!("/api/v1/invites/{id}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("invite_not_pending"))
    );
    assert_eq!(
        admin.client.delete("/api/v1/invites/not-a-uuid").await.0,
        StatusCode::NOT_FOUND
    );

    // Unknown token.
    let (status, body) = accept(format!("{}/invite#AAAA", app.base), "y@p.example").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("invite_not_found"))
    );

    // A weak password does not consume the invite.
    let link = app.invite(&admin, "client").await;
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/accept",
            &json!({"token": token_of(&link), "login": "z@p.example",
            "display_name": "Z", "password": "password1234", "device_name": "d"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("weak_password"))
    );
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/accept",
            &json!({"token": token_of(&link), "login": "z@p.example",
            "display_name": "Z", "password": "short", "device_name": "d"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("weak_password"))
    );
    // A taken login does not consume it either.
    let (status, body) = accept(link.clone(), "admin@p.example").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("login_taken"))
    );
    let (status, body) = accept(link, "z@p.example").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.stop().await;
}

async fn relogin(app: &TestApp, mut person: alcove_tests::Person) -> alcove_tests::Person {
    app.next_totp_step();
    let code = app.totp(person.totp_secret.as_deref().expect("secret"));
    let (status, body) = person
        .client
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": person.practice_id, "login": person.login, "password": person.password,
            "totp_code": code, "device_id": person.device_id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    person.client.csrf = body["csrf_token"].as_str().map(str::to_string);
    person
}

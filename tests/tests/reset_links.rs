//! A forgotten passphrase, on both backends: the client asks the practice,
//! an admin makes a sign-in reset link, and the client sets a new
//! passphrase with it — every earlier session of theirs ends, the link
//! works once, for that account only, and makes no account. An account
//! with an authenticator app still needs its code, so the link alone (which
//! the admin saw) does not take it over.

use alcove_server::clock::Clock;
use alcove_tests::mls::{two_device_conversation, MlsClient};
use alcove_tests::{on_both_backends, Backend, Person, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    a_client_who_forgot_their_passphrase_is_back_in_with_a_reset_link,
    no_device_hands_history_to_one_signed_in_since_a_reset_link,
    a_reset_link_for_an_account_with_an_authenticator_needs_its_code_too,
    a_reset_link_works_once_even_when_opened_twice_at_once,
    staff_who_never_set_up_an_authenticator_must_still_set_it_up_after_a_reset,
    wrong_codes_sent_at_once_with_a_reset_link_stop_at_the_accounts_limit,
);

async fn wrong_codes_sent_at_once_with_a_reset_link_stop_at_the_accounts_limit(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| s.auth.max_failures_per_account = 3).await
    else {
        return;
    };
    let p = app.practice_with_people().await;
    let (_, made) = reset_link(&p.admin, &p.clinician).await;
    let token = token_of(&made["link"]);
    // The link's holder guesses 12 codes at once (none of them one the
    // authenticator would accept now: the codes of this step and the next
    // and previous ones are left out).
    let secret = p.clinician.totp_secret.clone().expect("enrolled");
    let now = app.clock.now();
    let valid: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|d| alcove_tests::totp_code(&secret, now + d))
        .collect();
    let guesses: Vec<String> = (100_000..)
        .map(|n: u32| n.to_string())
        .filter(|g| !valid.contains(g))
        .take(12)
        .collect();
    let tries = futures_util::future::join_all(guesses.iter().map(|guess| {
        let c = app.client();
        let token = token.clone();
        async move {
            c.post(
                "/api/v1/invites/reset",
                &json!({"token": token, "password": NEW, "device_name": "Desk",
                        "totp_code": guess}),
            )
            .await
        }
    }))
    .await;
    let checked = tries
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = tries
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= 3 && checked + refused == 12,
        "at most the account's limit of codes is checked: {:?}",
        tries
            .iter()
            .map(|(s, b)| (*s, b.to_string()))
            .collect::<Vec<_>>()
    );
    // Nothing changed, and the link still works once the window has passed.
    app.clock.advance(app.settings.auth.failure_window_secs + 1);
    app.next_totp_step();
    let code = app.totp(p.clinician.totp_secret.as_deref().expect("enrolled"));
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/reset",
            &json!({"token": token, "password": NEW, "device_name": "Desk", "totp_code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.stop().await;
}

async fn staff_who_never_set_up_an_authenticator_must_still_set_it_up_after_a_reset(
    backend: Backend,
) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    // An associate accepts the invitation and stops before the
    // authenticator step.
    let link = app.invite(&p.admin, "associate").await;
    let token = link.split_once('#').expect("fragment").1.to_string();
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/accept",
            &json!({"token": token, "login": "assoc@p.example", "display_name": "Assoc",
                    "password": "an associate's long passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, users) = p.admin.client.get("/api/v1/users").await;
    let assoc = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["login"] == "assoc@p.example")
        .expect("listed")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, made) = p
        .admin
        .client
        .post(&format!("/api/v1/users/{assoc}/reset-link"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/reset",
            &json!({"token": token_of(&made["link"]), "password": NEW, "device_name": "Desk"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // No session without the second factor: the authenticator step again.
    assert_eq!(body["status"], "mfa_enrollment_required", "{body}");
    assert!(
        body.get("csrf_token").is_none() && body.get("token").is_none(),
        "{body}"
    );
    app.stop().await;
}

/// The token after `#` in a link.
fn token_of(link: &Value) -> String {
    let link = link.as_str().expect("link");
    link.split_once('#').expect("a fragment").1.to_string()
}

async fn reset_link(admin: &Person, who: &Person) -> (StatusCode, Value) {
    admin
        .client
        .post(
            &format!("/api/v1/users/{}/reset-link", who.user_id),
            &json!({}),
        )
        .await
}

async fn sign_in(app: &TestApp, who: &Person, password: &str) -> StatusCode {
    let (status, _) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": who.practice_id, "login": who.login, "password": password,
                    "device_name": "Library computer", "transport": "bearer"}),
        )
        .await;
    status
}

const NEW: &str = "seven lanterns over the harbour";

async fn a_client_who_forgot_their_passphrase_is_back_in_with_a_reset_link(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    // Only admins make them, and not for themselves.
    let (status, _) = reset_link(&p.clinician, &p.client).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = reset_link(&p.admin, &p.admin).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "own_account");

    // The client's laptop is still signed in, with its socket open.
    let mut laptop = MlsClient::sign_in(&app, &p.client, "Laptop").await;
    laptop.connect(&app).await;

    let (status, made) = reset_link(&p.admin, &p.client).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = token_of(&made["link"]);
    let anon = app.client();
    let (status, info) = anon
        .post("/api/v1/invites/inspect", &json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert!(info["reset_for"].is_string(), "{info}");
    assert_eq!(info["needs_code"], false);
    // It makes no account.
    let (status, body) = anon
        .post(
            "/api/v1/invites/accept",
            &json!({"token": token, "login": "someone@else.example", "display_name": "Someone",
                    "password": "a perfectly long passphrase", "device_name": "Phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Not an invitation either: the practice's list does not show it.
    let (_, invites) = p.admin.client.get("/api/v1/invites").await;
    assert!(
        invites
            .as_array()
            .expect("invites")
            .iter()
            .all(|i| i["status"] != "pending"),
        "{invites}"
    );

    // A weak passphrase is refused and does not use the link up.
    let (status, body) = anon
        .post(
            "/api/v1/invites/reset",
            &json!({"token": token, "password": "short", "device_name": "New phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = p.client.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "nothing ended yet");

    let (status, body) = anon
        .post(
            "/api/v1/invites/reset",
            &json!({"token": token, "password": NEW, "device_name": "New phone", "transport": "bearer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["token"].is_string(), "signed in: {body}");
    // Every earlier session ended, and the laptop's socket closed with it;
    // the old passphrase no longer works.
    let (status, body) = p.client.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let closed = loop {
        let frame = laptop.next_frame().await;
        if frame["type"] == "closed" {
            break frame;
        }
    };
    assert_eq!(closed["frame"], json!([4000, "session_ended"]), "{closed}");
    assert_eq!(
        sign_in(&app, &p.client, &p.client.password).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(sign_in(&app, &p.client, NEW).await, StatusCode::OK);
    // Once only.
    let (status, body) = anon
        .post(
            "/api/v1/invites/reset",
            &json!({"token": token, "password": "yet another long passphrase", "device_name": "Third"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    for action in ["auth.reset_link_issued", "auth.password_reset"] {
        let (_, log) = p
            .admin
            .client
            .get(&format!("/api/v1/audit/events?action={action}"))
            .await;
        let entries = log["events"].as_array().expect("events");
        assert_eq!(entries.len(), 1, "{action}: {log}");
        assert_eq!(entries[0]["target_user_id"], p.client.user_id.as_str());
        assert!(!log.to_string().contains(&token), "{log}");
    }
    app.stop().await;
}

async fn a_reset_link_for_an_account_with_an_authenticator_needs_its_code_too(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| s.auth.max_failures_per_account = 3).await
    else {
        return;
    };
    let p = app.practice_with_people().await;
    let (status, made) = reset_link(&p.admin, &p.clinician).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = token_of(&made["link"]);
    let anon = app.client();
    let (_, info) = anon
        .post("/api/v1/invites/inspect", &json!({"token": token}))
        .await;
    assert_eq!(info["needs_code"], true, "{info}");
    assert_eq!(
        info["requires_mfa"], false,
        "no enrolment: the account has one"
    );
    let body = |code: Option<String>| {
        let mut b = json!({"token": token, "password": NEW, "device_name": "Office"});
        if let Some(c) = code {
            b["totp_code"] = json!(c);
        }
        b
    };
    let (status, answer) = anon.post("/api/v1/invites/reset", &body(None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"], "mfa_required");
    let (status, answer) = anon
        .post("/api/v1/invites/reset", &body(Some("000000".into())))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"], "invalid_mfa_code");
    assert_eq!(
        sign_in(&app, &p.clinician, NEW).await,
        StatusCode::UNAUTHORIZED,
        "nothing changed"
    );
    // Wrong codes count against the account, as a sign-in's do (one more
    // wrong one here, and the wrong sign-in above): at the limit even the
    // right code waits, so the link's holder cannot guess codes from many
    // addresses.
    let (status, _) = anon
        .post("/api/v1/invites/reset", &body(Some("111111".into())))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.next_totp_step();
    let code = app.totp(p.clinician.totp_secret.as_deref().expect("enrolled"));
    let (status, answer) = anon.post("/api/v1/invites/reset", &body(Some(code))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    app.clock.advance(app.settings.auth.failure_window_secs + 1);
    app.next_totp_step();
    let code = app.totp(p.clinician.totp_secret.as_deref().expect("enrolled"));
    let (status, answer) = anon.post("/api/v1/invites/reset", &body(Some(code))).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let (status, _) = p.clinician.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old session ended");
    app.stop().await;
}

async fn a_reset_link_works_once_even_when_opened_twice_at_once(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (_, first) = reset_link(&p.admin, &p.client).await;
    // A newer link replaces the first.
    let (_, made) = reset_link(&p.admin, &p.client).await;
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/reset",
            &json!({"token": token_of(&first["link"]), "password": NEW, "device_name": "Phone"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the earlier link stopped: {body}"
    );
    let token = token_of(&made["link"]);
    let tries = futures_util::future::join_all((0..6).map(|i| {
        let c = app.client();
        let token = token.clone();
        async move {
            c.post(
                "/api/v1/invites/reset",
                &json!({"token": token, "password": format!("{NEW} number {i}"), "device_name": "Phone"}),
            )
            .await
        }
    }))
    .await;
    let won: Vec<usize> = tries
        .iter()
        .enumerate()
        .filter(|(_, (s, _))| *s == StatusCode::CREATED)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        tries
            .iter()
            .map(|(s, b)| (*s, b.to_string()))
            .collect::<Vec<_>>()
    );
    for (i, (status, body)) in tries.iter().enumerate() {
        if i != won[0] {
            assert!(
                *status == StatusCode::CONFLICT || *status == StatusCode::SERVICE_UNAVAILABLE,
                "{status} {body}"
            );
        }
    }
    assert_eq!(
        sign_in(&app, &p.client, &format!("{NEW} number {}", won[0])).await,
        StatusCode::OK,
        "the winner's passphrase is the one in use"
    );
    app.stop().await;
}

/// The member list every device reads before handing a new device the
/// conversation's earlier messages (docs/history.md): `handover` is false
/// for a device signed in since a reset link — whoever held the link, the
/// admin who made it included, must not get the history from it — and
/// stays true for the devices from before. (A shared computer's is false
/// too: the Chromium story of the shared computer sees it.)
async fn no_device_hands_history_to_one_signed_in_since_a_reset_link(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut office, phone) = two_device_conversation(&app, &p.clinician, &p.client).await;

    // Ten minutes later, a reset link, used; then the client signs in a new
    // laptop with the new passphrase, which joins the conversation by itself.
    app.clock.advance(600);
    let (status, made) = reset_link(&p.admin, &p.client).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (status, body) = app
        .client()
        .post(
            "/api/v1/invites/reset",
            &json!({"token": token_of(&made["link"]), "password": NEW, "device_name": "New phone", "transport": "bearer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after_reset = Person {
        client: app.client(),
        login: p.client.login.clone(),
        password: NEW.to_string(),
        totp_secret: None,
        user_id: p.client.user_id.clone(),
        practice_id: p.client.practice_id.clone(),
        device_id: String::new(),
        recovery_codes: Vec::new(),
    };
    let mut laptop = MlsClient::sign_in(&app, &after_reset, "Laptop after the reset").await;
    let (status, body) = laptop.join_external(&conv).await;
    assert!(status.is_success(), "{status} {body}");
    // The office device catches up, then reads the list as every device
    // does before a handover.
    office.sync_http(&conv).await;
    let (status, info) = office
        .api
        .get(&format!("/api/v1/conversations/{conv}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let handover = |device: &str| {
        info["members"]
            .as_array()
            .expect("members")
            .iter()
            .find(|m| m["device_id"] == device)
            .map(|m| m["handover"].clone())
    };
    assert_eq!(handover(&laptop.device_id), Some(json!(false)), "{info}");
    assert_eq!(handover(&phone.device_id), Some(json!(true)), "{info}");
    assert_eq!(handover(&office.device_id), Some(json!(true)), "{info}");
    app.stop().await;
}

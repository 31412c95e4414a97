//! The account page, on both backends: a person changes their password
//! (every other session of theirs signed out, its socket closed at once;
//! the current password checked under the sign-in throttle, even in a
//! burst; two changes racing: one wins) and replaces their recovery codes
//! with a fresh authenticator code (the old ones stop working).

use alcove_tests::mls::MlsClient;
use alcove_tests::{on_both_backends, Backend, Person, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    a_new_password_signs_out_every_other_session_and_closes_its_socket,
    the_current_password_is_guessed_under_the_sign_in_throttle_even_in_a_burst,
    two_password_changes_at_once_one_wins,
    new_recovery_codes_need_a_fresh_code_and_retire_the_old_ones,
    a_client_turns_on_an_authenticator_and_staff_move_theirs_to_a_new_phone,
    a_person_renames_their_own_devices_and_nobody_elses,
);

async fn a_person_renames_their_own_devices_and_nobody_elses(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let phone = format!("/api/v1/me/devices/{}", p.client.device_id);
    let (status, body) = p
        .client
        .client
        .patch(&phone, &json!({"name": " Sam's old phone "}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, devices) = p.client.client.get("/api/v1/me/devices").await;
    assert_eq!(devices[0]["name"], "Sam's old phone", "{devices}");
    // Someone else's device is as absent as an unknown one, even to an admin.
    for who in [&p.clinician, &p.admin] {
        let (status, _) = who.client.patch(&phone, &json!({"name": "Mine now"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = p
        .client
        .client
        .patch("/api/v1/me/devices/not-a-uuid", &json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [String::new(), "x".repeat(65)] {
        let (status, _) = p.client.client.patch(&phone, &json!({"name": bad})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (_, devices) = p.client.client.get("/api/v1/me/devices").await;
    assert_eq!(
        devices[0]["name"], "Sam's old phone",
        "nothing half-written"
    );
    // A revoked device keeps the name it had.
    let laptop = MlsClient::sign_in(&app, &p.client, "Laptop").await;
    let (status, _) = p
        .client
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", laptop.device_id),
            &json!({"reason": "signed_out"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = p
        .client
        .client
        .patch(
            &format!("/api/v1/me/devices/{}", laptop.device_id),
            &json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=device.renamed")
        .await;
    assert_eq!(log["events"].as_array().map(Vec::len), Some(1), "{log}");
    assert!(!log.to_string().contains("old phone"), "{log}");
    app.stop().await;
}

/// Starts an authenticator enrolment as `who`; returns (token, secret).
async fn start_authenticator(who: &Person) -> (String, String) {
    let (status, body) = who
        .client
        .post(
            "/api/v1/me/authenticator",
            &json!({"current_password": who.password}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (
        body["enrollment_token"]
            .as_str()
            .expect("token")
            .to_string(),
        body["totp_secret"].as_str().expect("secret").to_string(),
    )
}

async fn a_client_turns_on_an_authenticator_and_staff_move_theirs_to_a_new_phone(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;

    // A client turns one on: the current passphrase first.
    let (status, body) = p
        .client
        .client
        .post(
            "/api/v1/me/authenticator",
            &json!({"current_password": "not my passphrase at all"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("wrong_password"))
    );
    let (token, secret) = start_authenticator(&p.client).await;
    let (status, body) = p
        .client
        .client
        .post(
            "/api/v1/me/authenticator/confirm",
            &json!({"enrollment_token": token, "totp_code": "000000"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_mfa_code"))
    );
    // Someone else cannot confirm it, even with the right code.
    let (status, body) = p
        .clinician
        .client
        .post(
            "/api/v1/me/authenticator/confirm",
            &json!({"enrollment_token": token, "totp_code": app.totp(&secret)}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("enrollment_not_found"))
    );
    let (status, body) = p
        .client
        .client
        .post(
            "/api/v1/me/authenticator/confirm",
            &json!({"enrollment_token": token, "totp_code": app.totp(&secret)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let codes = body["recovery_codes"].as_array().expect("codes").len() as i64;
    assert_eq!(codes, 10);
    let (_, left) = p.client.client.get("/api/v1/me/recovery-codes").await;
    assert_eq!(left, json!({"left": codes, "mfa_enabled": true}));
    // Sign-ins now ask for the code.
    let (status, body) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": p.client.practice_id, "login": p.client.login, "password": p.client.password,
                    "device_id": p.client.device_id}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("mfa_required"))
    );
    app.next_totp_step();
    assert_eq!(
        sign_in(
            &app,
            &p.client,
            &p.client.password,
            Some(json!({"totp_code": app.totp(&secret)}))
        )
        .await,
        StatusCode::OK
    );

    // A clinician moves to a new phone. Until the new one is confirmed,
    // the old one still signs in.
    let dr = &p.clinician;
    let old = dr.totp_secret.clone().expect("secret");
    let (token, new) = start_authenticator(dr).await;
    app.next_totp_step();
    assert_eq!(
        sign_in(
            &app,
            dr,
            &dr.password,
            Some(json!({"totp_code": app.totp(&old)}))
        )
        .await,
        StatusCode::OK
    );
    app.next_totp_step();
    let (status, _) = dr
        .client
        .post(
            "/api/v1/me/authenticator/confirm",
            &json!({"enrollment_token": token, "totp_code": app.totp(&old)}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old phone's code does not confirm the new one"
    );
    let (status, body) = dr
        .client
        .post(
            "/api/v1/me/authenticator/confirm",
            &json!({"enrollment_token": token, "totp_code": app.totp(&new)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Confirmed once only.
    let (status, _) = dr
        .client
        .post(
            "/api/v1/me/authenticator/confirm",
            &json!({"enrollment_token": token, "totp_code": app.totp(&new)}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.next_totp_step();
    assert_eq!(
        sign_in(
            &app,
            dr,
            &dr.password,
            Some(json!({"totp_code": app.totp(&old)}))
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(
            &app,
            dr,
            &dr.password,
            Some(json!({"totp_code": app.totp(&new)}))
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(
            &app,
            dr,
            &dr.password,
            Some(json!({"recovery_code": dr.recovery_codes[0]}))
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "the old recovery codes went with the old phone"
    );
    app.stop().await;
}

/// Signs in with a password (and, for staff, a code or a recovery code);
/// returns the status.
async fn sign_in(
    app: &TestApp,
    who: &Person,
    password: &str,
    second: Option<serde_json::Value>,
) -> StatusCode {
    let mut body = json!({"practice_id": who.practice_id, "login": who.login, "password": password,
                          "device_name": "Borrowed laptop", "transport": "bearer"});
    if let Some(extra) = second {
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
    }
    let (status, _) = app.client().post("/api/v1/auth/login", &body).await;
    status
}

async fn a_new_password_signs_out_every_other_session_and_closes_its_socket(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    // The client is also signed in on a laptop, with its socket open, and
    // has a second session on the phone itself.
    let mut laptop = MlsClient::sign_in(&app, &p.client, "Laptop").await;
    laptop.connect(&app).await;
    let other_on_phone = app.bearer_session(&p.client).await;

    let new_password = "a new passphrase nobody has seen";
    let (status, body) = p
        .client
        .client
        .post(
            "/api/v1/me/password",
            &json!({"current_password": p.client.password, "new_password": new_password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sessions_ended"], 2, "{body}");

    // The laptop's socket closes now, as signed out.
    let closed = loop {
        let frame = laptop.next_frame().await;
        if frame["type"] == "closed" {
            break frame;
        }
    };
    assert_eq!(closed["frame"], json!([4000, "session_ended"]), "{closed}");
    let (status, body) = laptop.api.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "session_ended");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("password was changed"),
        "{body}"
    );
    let mut phone2 = app.client();
    phone2.bearer = Some(other_on_phone);
    let (status, _) = phone2.get("/api/v1/me").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the other session on the same device ended too"
    );
    // The session that changed it goes on.
    let (status, _) = p.client.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(
        sign_in(&app, &p.client, &p.client.password, None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, &p.client, new_password, None).await,
        StatusCode::OK
    );

    // Audited, with how many sessions ended, and nothing secret.
    let (status, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=auth.password_changed")
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log["events"].as_array().expect("events");
    assert_eq!(entries.len(), 1, "{log}");
    let detail: serde_json::Value =
        serde_json::from_str(entries[0]["detail"].as_str().expect("detail")).expect("json");
    assert_eq!(detail["sessions_ended"], 2, "{log}");
    let text = log.to_string();
    assert!(!text.contains(new_password) && !text.contains(&p.client.password));
    app.stop().await;
}

async fn the_current_password_is_guessed_under_the_sign_in_throttle_even_in_a_burst(
    backend: Backend,
) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let limit = app.settings.auth.max_failures_per_account;
    let client = &p.client.client;

    // What the new password must be is refused first, and costs nothing.
    for (new, code) in [
        ("short", "weak_password"),
        (p.client.password.as_str(), "same_password"),
    ] {
        let (status, body) = client
            .post(
                "/api/v1/me/password",
                &json!({"current_password": p.client.password, "new_password": new}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"], code, "{body}");
    }

    // Someone at an unlocked session guesses the current password: a burst
    // of twice the limit, at once.
    let bodies: Vec<_> = (0..2 * limit)
        .map(|i| json!({"current_password": format!("guess number {i} of many"), "new_password": "taken over for good now"}))
        .collect();
    let guesses = bodies
        .iter()
        .map(|body| client.post("/api/v1/me/password", body));
    let answers = futures_util::future::join_all(guesses).await;
    let wrong = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count() as i64;
    let throttled = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count() as i64;
    assert_eq!(wrong + throttled, 2 * limit, "{answers:?}");
    assert!(
        wrong <= limit,
        "at most {limit} guesses were checked, {wrong} were"
    );
    assert!(answers
        .iter()
        .all(|(s, b)| *s != StatusCode::UNAUTHORIZED || b["error"] == "wrong_password"));
    // The session was not ended by a wrong guess (401 here is an answer).
    let (status, _) = client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK);
    // Nothing changed: after the window, the old password still signs in.
    app.clock.advance(app.settings.auth.failure_window_secs + 1);
    assert_eq!(
        sign_in(&app, &p.client, &p.client.password, None).await,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&app, &p.client, "taken over for good now", None).await,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

async fn two_password_changes_at_once_one_wins(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let other = app.bearer_session(&p.client).await;
    let mut second = app.client();
    second.bearer = Some(other);
    let first = json!({"current_password": p.client.password, "new_password": "first of two new passphrases"});
    let other = json!({"current_password": p.client.password, "new_password": "second of two new passphrases"});
    let a = p.client.client.post("/api/v1/me/password", &first);
    let b = second.post("/api/v1/me/password", &other);
    let ((sa, ba), (sb, bb)) = futures_util::future::join(a, b).await;
    let won: Vec<&str> = [
        (sa, "first of two new passphrases"),
        (sb, "second of two new passphrases"),
    ]
    .iter()
    .filter(|(s, _)| *s == StatusCode::OK)
    .map(|(_, pw)| *pw)
    .collect();
    assert_eq!(won.len(), 1, "{sa} {ba} / {sb} {bb}");
    // The loser was told: it lost the race (409) or checked against the
    // winner's new hash (401).
    for (s, body) in [(sa, &ba), (sb, &bb)] {
        if s != StatusCode::OK {
            assert!(
                (s == StatusCode::CONFLICT && body["error"] == "password_changed_meanwhile")
                    || (s == StatusCode::UNAUTHORIZED && body["error"] == "wrong_password"),
                "{s} {body}"
            );
        }
    }
    assert_eq!(sign_in(&app, &p.client, won[0], None).await, StatusCode::OK);
    app.stop().await;
}

async fn new_recovery_codes_need_a_fresh_code_and_retire_the_old_ones(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let dr = &p.clinician;
    let issued = dr.recovery_codes.len() as i64;
    assert!(issued > 0);
    let (status, body) = dr.client.get("/api/v1/me/recovery-codes").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"left": issued, "mfa_enabled": true}));

    // One code used to sign in: one fewer left.
    let first_old = dr.recovery_codes[0].clone();
    assert_eq!(
        sign_in(
            &app,
            dr,
            &dr.password,
            Some(json!({"recovery_code": first_old}))
        )
        .await,
        StatusCode::OK
    );
    let (_, body) = dr.client.get("/api/v1/me/recovery-codes").await;
    assert_eq!(body["left"], issued - 1);

    // A wrong code makes nothing.
    let (status, body) = dr
        .client
        .post("/api/v1/me/recovery-codes", &json!({"totp_code": "000000"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_mfa_code");
    let (_, body) = dr.client.get("/api/v1/me/recovery-codes").await;
    assert_eq!(body["left"], issued - 1);

    app.next_totp_step();
    let code = app.totp(dr.totp_secret.as_deref().expect("secret"));
    let (status, body) = dr
        .client
        .post("/api/v1/me/recovery-codes", &json!({"totp_code": code}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let fresh: Vec<String> = body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect();
    assert_eq!(fresh.len() as i64, issued);
    assert!(fresh.iter().all(|c| !dr.recovery_codes.contains(c)));
    // The same code cannot make another set.
    let (status, _) = dr
        .client
        .post("/api/v1/me/recovery-codes", &json!({"totp_code": code}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The old unused codes no longer sign in; a new one does, once.
    let old = dr.recovery_codes[1].clone();
    assert_eq!(
        sign_in(&app, dr, &dr.password, Some(json!({"recovery_code": old}))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(
            &app,
            dr,
            &dr.password,
            Some(json!({"recovery_code": fresh[0]}))
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(
            &app,
            dr,
            &dr.password,
            Some(json!({"recovery_code": fresh[0]}))
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    let (_, body) = dr.client.get("/api/v1/me/recovery-codes").await;
    assert_eq!(body["left"], issued - 1);

    // Audited, without the codes.
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=auth.recovery_codes_renewed")
        .await;
    assert_eq!(log["events"].as_array().map(Vec::len), Some(1), "{log}");
    assert!(!log.to_string().contains(&fresh[0]));

    // A client without an authenticator app has no codes to renew.
    let (status, body) = p.client.client.get("/api/v1/me/recovery-codes").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"left": 0, "mfa_enabled": false}));
    let (status, body) = p
        .client
        .client
        .post("/api/v1/me/recovery-codes", &json!({"totp_code": "123456"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "mfa_not_enrolled");
    app.stop().await;
}

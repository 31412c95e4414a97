//! Revocation on both backends: a revoked device loses its sessions, its
//! socket, its KeyPackages, its unlock share and — once a remaining member
//! commits the server's Remove proposal — the group keys.

use alcove_crypto::{Device, DeviceSecret, Processed, UnlockShare};
use alcove_server::clock::Clock;
use alcove_tests::mls::{four_device_conversation, unb64, MlsClient};
use alcove_tests::{on_both_backends, Backend, Person, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    revoked_device_is_cut_off_everywhere,
    departed_associate_is_removed_cryptographically,
    who_may_revoke_and_lost_device_reports,
    a_practice_always_keeps_an_active_admin,
);

struct Setup {
    admin: Person,
    clinician: Person,
    client: Person,
    conv: String,
    d: Vec<MlsClient>,
}

/// Clinician (2 devices) and client (2 devices) in one conversation.
async fn setup(app: &TestApp) -> Setup {
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let clinician = app
        .register_staff(&app.invite(&admin, "clinician").await, "dr@p.example")
        .await;
    let client = app
        .register_client(&app.invite(&clinician, "client").await, "sam@p.example")
        .await;
    let (conv, d) = four_device_conversation(app, &clinician, &client).await;
    Setup {
        admin,
        clinician,
        client,
        conv,
        d,
    }
}

/// Processes everything pending and commits the server's proposals, as a
/// client does before sending.
async fn commit_pending_removals(
    device: &mut MlsClient,
    conv: &str,
) -> (serde_json::Value, Vec<u8>) {
    device.sync_http(conv).await;
    assert!(
        device
            .device
            .has_pending_proposals(conv.as_bytes())
            .expect("pending"),
        "the server's proposal arrived"
    );
    let out = device
        .device
        .commit_pending_proposals(conv.as_bytes())
        .expect("commit")
        .expect("a commit");
    let (status, body) = device.post_commit(conv, &out).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body, out.commit)
}

async fn revoked_device_is_cut_off_everywhere(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let Setup {
        admin, conv, mut d, ..
    } = setup(&app).await;

    // The laptop seals its state under its secret and the server's share.
    let (status, share) = d[3].api.get("/api/v1/me/unlock-share").await;
    assert_eq!(status, StatusCode::OK);
    let share = UnlockShare::from_slice(&unb64(share["unlock_share"].as_str().expect("share")))
        .expect("32 bytes");
    let secret = DeviceSecret::generate().expect("secret");
    let sealed = d[3].device.seal(&secret, &share).expect("seal");
    assert!(Device::unseal(&sealed, &d[3].device_id, &secret, &share).is_ok());
    let (status, again) = d[3].api.get("/api/v1/me/unlock-share").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        unb64(again["unlock_share"].as_str().expect("share")),
        share.expose().to_vec(),
        "stable per device"
    );

    d[3].connect(&app).await;
    // The client signs the laptop out from the phone.
    let (status, body) = d[2]
        .api
        .post(
            &format!("/api/v1/devices/{}/revoke", d[3].device_id),
            &json!({"reason": "signed_out"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversations_pending_removal"], json!([conv]));

    // (b) The open socket closes with the reason.
    let closed = d[3].next_frame().await;
    assert_eq!(closed["frame"], json!([4001, "revoked"]), "{closed}");
    // (a) Every token fails; (f) reconnecting gets a distinct error.
    let (status, body) = d[3].api.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("device_revoked"))
    );
    let (status, body) = d[3]
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("device_revoked"))
    );
    // (c) No KeyPackages left; (e) the unlock share is gone for good.
    let laptop = d[3].device_id.parse().expect("id");
    assert_eq!(
        app.store
            .key_package_count(laptop, i64::MAX / 2)
            .await
            .expect("count"),
        0
    );
    let practice: alcove_server::ids::PracticeId = d[3].practice_id.parse().expect("id");
    let ev = alcove_server::audit::Event::new(
        practice,
        alcove_server::audit::Action::UsersListed,
        &Default::default(),
    );
    assert!(
        matches!(
            app.store
                .unlock_share(practice, laptop, &[9; 32], 0, ev)
                .await,
            Err(alcove_server::revocation::error::RevocationError::DeviceRevoked)
        ),
        "no share can be issued again"
    );
    let other = UnlockShare::from_slice(&[9; 32]).expect("share");
    let err = Device::unseal(&sealed, &d[3].device_id, &secret, &other).expect_err("cannot unseal");
    assert_eq!(err.code(), "unseal_failed");

    // (d) Nothing is sent until a member commits the removal.
    let (status, body) = d[0].send_text(&app, &conv, "too early").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("removal_pending")),
        "{body}"
    );
    let (_, pending) = admin.client.get("/api/v1/revocations/pending").await;
    assert_eq!(pending[0]["conversation_id"], conv.as_str());
    assert_eq!(pending[0]["proposed"], true);
    // The clinician's phone, not the group's creator, commits it.
    commit_pending_removals(&mut d[1], &conv).await;
    let (_, pending) = admin.client.get("/api/v1/revocations/pending").await;
    assert_eq!(pending, json!([]));
    for i in [0, 2] {
        d[i].sync_http(&conv).await;
    }
    let (status, sent) = d[0].send_text(&app, &conv, "after removal").await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    d[2].sync_http(&conv).await;
    assert_eq!(
        d[2].texts[&conv].last().map(String::as_str),
        Some("after removal")
    );
    // The laptop's own copy of its keys cannot read it.
    let seq = sent["seq"].as_i64().expect("seq");
    let entry = app
        .store
        .fetch_log(&conv, d[2].device_id.parse().expect("id"), seq - 1, 1)
        .await
        .expect("log");
    let err = d[3]
        .device
        .process(&entry[0].data)
        .expect_err("cannot decrypt");
    assert!(
        ["decrypt_failed", "wrong_epoch", "not_member"].contains(&err.code()),
        "{}",
        err.code()
    );
    app.stop().await;
}

async fn departed_associate_is_removed_cryptographically(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let associate = app
        .register_staff(&app.invite(&admin, "associate").await, "assoc@p.example")
        .await;
    // Associates cannot invite; the admin invites the client and assigns it.
    let client = app
        .register_client(&app.invite(&admin, "client").await, "kim@p.example")
        .await;
    let (status, _) = admin
        .client
        .post(
            "/api/v1/assignments",
            &json!({"staff_user_id": associate.user_id, "client_user_id": client.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut a = MlsClient::sign_in(&app, &associate, "Work phone").await;
    let mut k = MlsClient::sign_in(&app, &client, "Phone").await;
    let conv = a.start_conversation(&client.user_id).await;
    assert_eq!(a.add_missing(&conv).await.0, StatusCode::OK);
    k.join_welcomes().await;
    a.send_text(&app, &conv, "hello from your associate").await;
    k.sync_http(&conv).await;
    a.sync_http(&conv).await;
    let (status, _) = k.send_text(&app, &conv, "hi").await;
    assert_eq!(status, StatusCode::OK);
    a.sync_http(&conv).await;
    assert_eq!(a.texts[&conv], vec!["hi"]);

    // The associate leaves on Friday.
    let (status, body) = admin
        .client
        .post(
            &format!("/api/v1/users/{}/deactivate", associate.user_id),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversations_pending_removal"], json!([conv]));
    let (status, body) = a.api.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("device_revoked"))
    );
    let (status, body) = associate.client.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": associate.practice_id, "login": associate.login, "password": associate.password, "device_name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (_, contacts) = k.api.get("/api/v1/contacts").await;
    assert_eq!(contacts, json!([]), "assignment ended");

    // The client's device is the remaining member: it commits the removal.
    // What a stolen copy of the associate's device would be fed: the
    // server's proposal (as every member sees it) and the removal commit.
    let k_done = k.processed.get(&conv).copied().unwrap_or(0);
    let proposals: Vec<Vec<u8>> = app
        .store
        .fetch_log(&conv, k.device_id.parse().expect("id"), k_done, 100)
        .await
        .expect("log")
        .into_iter()
        .filter(|e| e.kind == "proposal")
        .map(|e| e.data)
        .collect();
    let (_, removal_commit) = commit_pending_removals(&mut k, &conv).await;
    let (_, review) = admin
        .client
        .get(&format!(
            "/api/v1/users/{}/access-review",
            associate.user_id
        ))
        .await;
    assert_eq!(review[0]["conversation_id"], conv.as_str());
    assert_eq!(review[0]["client_user_id"], client.user_id.as_str());
    assert!(review[0]["last_access_at"].as_i64().is_some(), "{review}");

    // A copy of the associate's device state cannot decrypt what follows.
    let env = alcove_crypto::Envelope {
        client_message_id: [5; 16],
        sent_at_ms: 1,
        content: alcove_crypto::Content::Text("after you left".into()),
    };
    let ciphertext = k
        .device
        .encrypt(conv.as_bytes(), &env.encode().expect("encode"))
        .expect("encrypt");
    // Nobody would ever read it: the conversation takes no new message,
    // and the client's list says so.
    let (status, sent) = k.post_message(&conv, &[5; 16], &ciphertext).await;
    assert_eq!(
        (status, sent["error"].as_str()),
        (StatusCode::CONFLICT, Some("conversation_closed")),
        "{sent}"
    );
    let (_, list) = k.api.get("/api/v1/conversations").await;
    assert_eq!(list[0]["closed"], true, "{list}");
    let (_, earlier) = k
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"))
        .await;
    assert!(
        !earlier["entries"].as_array().expect("entries").is_empty(),
        "what was said before stays readable: {earlier}"
    );
    // The server delivers nothing more to the revoked device...
    let done = a.processed.get(&conv).copied().unwrap_or(0);
    let log = app
        .store
        .fetch_log(&conv, a.device_id.parse().expect("id"), done, 100)
        .await
        .expect("log");
    assert!(log.is_empty(), "nothing is delivered to a revoked device");
    // ...and a stolen copy fed the log from a database copy learns only
    // that it was removed.
    let stolen: Vec<Vec<u8>> = proposals.into_iter().chain([removal_commit]).collect();
    let mut self_removed = false;
    for data in &stolen {
        if let Processed::CommitMerged {
            self_removed: removed,
            ..
        } = a.device.process(data).expect("process")
        {
            self_removed |= removed;
        }
    }
    assert!(self_removed, "the associate's state saw its own removal");
    let err = a.device.process(&ciphertext).expect_err("must not decrypt");
    assert!(
        [
            "decrypt_failed",
            "wrong_epoch",
            "not_member",
            "inactive_group"
        ]
        .contains(&err.code()),
        "{}",
        err.code()
    );
    app.stop().await;
}

async fn who_may_revoke_and_lost_device_reports(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let Setup {
        admin,
        clinician,
        client,
        conv,
        d,
    } = setup(&app).await;
    // A client cannot revoke the clinician's device; nor see the inventory.
    let (status, _) = d[2]
        .api
        .post(
            &format!("/api/v1/devices/{}/revoke", d[0].device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        client.client.get("/api/v1/devices").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        clinician
            .client
            .post(
                &format!("/api/v1/users/{}/deactivate", client.user_id),
                &json!({})
            )
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Another practice's admin cannot touch it.
    let other = app.practice_with_admin("Q", "admin@q.example").await;
    let (status, _) = other
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", d[0].device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        other
            .client
            .post(
                &format!("/api/v1/users/{}/deactivate", client.user_id),
                &json!({})
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The clinician reports the phone lost from the office device.
    let (status, body) = d[0]
        .api
        .post(
            &format!("/api/v1/devices/{}/revoke", d[1].device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = d[0]
        .api
        .post(
            &format!("/api/v1/devices/{}/revoke", d[1].device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("already_revoked"))
    );
    let (_, reports) = admin.client.get("/api/v1/lost-devices").await;
    let report = &reports[0];
    assert_eq!(report["device_id"], d[1].device_id.as_str());
    assert_eq!(report["user_id"], clinician.user_id.as_str());
    assert_eq!(report["reported_by"], clinician.user_id.as_str());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(report["conversations"].as_str().expect("json"))
            .expect("array"),
        json!([conv])
    );
    let (_, inventory) = admin.client.get("/api/v1/devices").await;
    let phone = inventory
        .as_array()
        .expect("array")
        .iter()
        .find(|x| x["id"] == d[1].device_id.as_str())
        .expect("listed");
    assert_eq!(phone["revoked_reason"], "lost");
    let (_, empty) = other.client.get("/api/v1/lost-devices").await;
    assert_eq!(empty, json!([]));
    // The audit log names the event.
    let practice = d[0].practice_id.parse().expect("id");
    let events = app.store.recent_audit(practice, 300).await.expect("audit");
    assert!(events.iter().any(|e| e.action == "device.reported_lost"
        && e.target_device_id.as_deref() == Some(d[1].device_id.as_str())));
    app.stop().await;
}

/// Two admins deactivating each other at the same moment: one wins, and
/// the practice is never left without an admin to revoke a lost device.
/// The store refuses the last active admin whichever way it is asked.
async fn a_practice_always_keeps_an_active_admin(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    for round in 0..4 {
        let first = app
            .practice_with_admin(&format!("P{round}"), &format!("first{round}@p.example"))
            .await;
        let second = app
            .register_staff(
                &app.invite(&first, "admin").await,
                &format!("second{round}@p.example"),
            )
            .await;
        let (to_second, to_first) = (
            format!("/api/v1/users/{}/deactivate", second.user_id),
            format!("/api/v1/users/{}/deactivate", first.user_id),
        );
        let body = json!({});
        let (a, b) = tokio::join!(
            first.client.post(&to_second, &body),
            second.client.post(&to_first, &body)
        );
        let won = [&a, &b]
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .count();
        assert_eq!(
            won, 1,
            "round {round}: exactly one deactivation wins: {a:?} {b:?}"
        );
        let (lost_status, lost_body) = if a.0 == StatusCode::OK { &b } else { &a };
        // The loser was either refused as the last admin or, if its request
        // arrived after it was deactivated, no longer signed in.
        assert!(
            (*lost_status == StatusCode::CONFLICT && lost_body["error"] == "last_admin")
                || *lost_status == StatusCode::UNAUTHORIZED,
            "round {round}: {lost_status} {lost_body}"
        );
        let survivor = if a.0 == StatusCode::OK {
            &first
        } else {
            &second
        };
        let (status, users) = survivor.client.get("/api/v1/users").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the remaining admin still runs the practice"
        );
        let active_admins = users
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "admin" && u["deactivated_at"].is_null())
            .count();
        assert_eq!(active_admins, 1, "round {round}: {users}");
        // Asked directly, the store refuses to deactivate the last one too.
        let practice = survivor.practice_id.parse().unwrap();
        let event = alcove_server::audit::Event::new(
            practice,
            alcove_server::audit::Action::UserDeactivated,
            &alcove_server::audit::RequestMeta::default(),
        );
        let refused = app
            .store
            .deactivate_user(
                practice,
                survivor.user_id.parse().unwrap(),
                app.clock.now(),
                event,
            )
            .await;
        assert!(
            matches!(
                refused,
                Err(alcove_server::revocation::error::RevocationError::LastAdmin)
            ),
            "{refused:?}"
        );
    }
    app.stop().await;
}

//! Membership from the MLS tree, on both backends: the server reads who a
//! commit adds and removes from the commit itself, through its public view
//! of the group, and decides who may change whom. A client that lies in
//! every field it can is refused, changes nothing, and the honest devices
//! keep talking; a revocation cannot be undone by any member; a new device
//! joins by itself.

use alcove_tests::mls::{b64, four_device_conversation, two_device_conversation, unb64, MlsClient};
use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    a_lying_member_changes_nothing,
    no_member_can_undo_a_revocation,
    a_new_device_joins_by_itself_and_writes_first,
    a_lost_only_phone_is_replaced_with_nobody_else_online,
    key_packages_cannot_be_drained,
);

fn code(body: &Value) -> Option<&str> {
    body["error"].as_str()
}

/// The server's view: member device ids and the epoch.
async fn server_view(d: &MlsClient, conv: &str) -> (Vec<String>, i64) {
    let (status, info) = d.api.get(&format!("/api/v1/conversations/{conv}")).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let mut members: Vec<String> = info["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["device_id"].as_str().expect("id").to_string())
        .collect();
    members.sort();
    (members, info["epoch"].as_i64().expect("epoch"))
}

fn commits(conv: &str) -> String {
    format!("/api/v1/conversations/{conv}/commits")
}

/// Everyone still talks: `from` sends, every other device decrypts it.
async fn everyone_still_talks(
    app: &TestApp,
    conv: &str,
    d: &mut [MlsClient],
    from: usize,
    text: &str,
) {
    for device in d.iter_mut() {
        device.sync_http(conv).await;
    }
    let (status, body) = d[from].send_text(app, conv, text).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (i, device) in d.iter_mut().enumerate() {
        if i == from {
            continue;
        }
        device.sync_http(conv).await;
        assert_eq!(
            device.texts[conv].last().map(String::as_str),
            Some(text),
            "device {i}"
        );
    }
}

async fn a_lying_member_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut d) = four_device_conversation(&app, &p.clinician, &p.client).await;
    let g = conv.as_bytes();
    let view = server_view(&d[0], &conv).await;
    assert_eq!(view.0.len(), 4);

    // 1. The old declared fields are refused outright, even on an honest commit.
    let honest = d[2].device.self_update(g).expect("update");
    for field in ["removed_leaves", "added"] {
        let mut body = json!({"commit": b64(&honest.commit),
                              "group_info": b64(honest.group_info.as_ref().expect("gi"))});
        body[field] = json!([0, 1]);
        let (status, answer) = d[2].api.post(&commits(&conv), &body).await;
        assert_eq!(
            (status, code(&answer)),
            (StatusCode::BAD_REQUEST, Some("field_removed")),
            "{answer}"
        );
    }
    d[2].device.discard_pending_commit(g).expect("discard");

    // 2. A valid MLS commit by the client removing the clinician's devices.
    let clinician_leaves: Vec<u32> = d[2]
        .device
        .members(g)
        .expect("members")
        .iter()
        .filter(|m| m.identity.user_id == p.clinician.user_id)
        .map(|m| m.leaf_index)
        .collect();
    let out = d[2]
        .device
        .remove_devices(g, &clinician_leaves)
        .expect("remove");
    let (status, answer) = d[2].post_commit(&conv, &out).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, Some("remove_not_allowed")),
        "{answer}"
    );

    // 3. An outsider added with its own KeyPackage, with and without a Welcome.
    let stranger = app
        .register_client(&app.invite(&p.clinician, "client").await, "eve@p.example")
        .await;
    let mut eve = MlsClient::sign_in(&app, &stranger, "Eve's phone").await;
    let kp = eve.device.key_packages(1, now(&app)).expect("kp").remove(0);
    let out = d[0].device.add_devices(g, &[kp]).expect("add");
    let (status, answer) = d[0].post_commit(&conv, &out).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, Some("add_not_allowed")),
        "{answer}"
    );
    let out = d[0]
        .device
        .add_devices(
            g,
            &[eve.device.key_packages(1, now(&app)).expect("kp").remove(0)],
        )
        .expect("add");
    let (status, answer) = d[0]
        .api
        .post(
            &commits(&conv),
            &json!({"commit": b64(&out.commit),
                                        "group_info": b64(out.group_info.as_ref().expect("gi"))}),
        )
        .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, Some("add_not_allowed")),
        "{answer}"
    );
    d[0].device.discard_pending_commit(g).expect("discard");
    assert!(eve.join_welcomes().await.is_empty());

    // 4. A GroupInfo that does not describe the new epoch (the old one).
    let stale_info = d[1].device.group_info(g).expect("gi");
    let out = d[1].device.self_update(g).expect("update");
    let (status, answer) = d[1]
        .api
        .post(
            &commits(&conv),
            &json!({"commit": b64(&out.commit), "group_info": b64(&stale_info)}),
        )
        .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::BAD_REQUEST, Some("group_info_mismatch")),
        "{answer}"
    );
    d[1].device.discard_pending_commit(g).expect("discard");

    // 5. Another device's commit posted with this device's session.
    let theirs = d[3].device.self_update(g).expect("update");
    let (status, answer) = d[2]
        .api
        .post(&commits(&conv), &json!({"commit": b64(&theirs.commit),
                                        "group_info": b64(theirs.group_info.as_ref().expect("gi"))}))
        .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::FORBIDDEN, Some("not_member")),
        "{answer}"
    );
    d[3].device.discard_pending_commit(g).expect("discard");

    // 6. An outsider with a leaked GroupInfo tries to join by external commit.
    let (_, leaked) = d[2]
        .api
        .get(&format!("/api/v1/conversations/{conv}/group-info"))
        .await;
    let out = eve
        .device
        .join_by_external_commit(&unb64(leaked["group_info"].as_str().expect("gi")))
        .expect("external commit");
    let (status, answer) = eve
        .api
        .post(
            &commits(&conv),
            &json!({"commit": b64(&out.commit),
                                        "group_info": b64(out.group_info.as_ref().expect("gi"))}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    // None of it changed the server's view.
    assert_eq!(server_view(&d[0], &conv).await, view);

    // 7. A commit for a stale epoch, after an honest one won.
    let a = d[0].device.self_update(g).expect("update");
    let b = d[1].device.self_update(g).expect("update");
    let (status, answer) = d[0].post_commit(&conv, &a).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = d[1].post_commit(&conv, &b).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::CONFLICT, Some("stale_epoch")),
        "{answer}"
    );
    let (members, epoch) = server_view(&d[0], &conv).await;
    assert_eq!((members, epoch), (view.0.clone(), view.1 + 1));

    // The honest devices keep decrypting each other.
    everyone_still_talks(&app, &conv, &mut d, 3, "still private").await;
    everyone_still_talks(&app, &conv, &mut d, 0, "and still here").await;
    app.stop().await;
}

async fn no_member_can_undo_a_revocation(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut d) = four_device_conversation(&app, &p.clinician, &p.client).await;
    let g = conv.as_bytes();
    // The client's laptop is lost; the admin revokes it.
    let (status, body) = p
        .admin
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", d[3].device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let revoked = d.pop().expect("laptop");

    // A member commits without the server's Remove: refused.
    d[0].sync_http(&conv).await;
    assert!(d[0].device.has_pending_proposals(g).expect("pending"));
    // (self_update would include the pending proposal: clear it locally,
    // as a lying client would, by processing nothing and committing an
    // update from a device that never saw the proposal.)
    let skipper = d[1].device.self_update(g).expect("update");
    let (status, answer) = d[1].post_commit(&conv, &skipper).await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::CONFLICT, Some("removal_pending")),
        "{answer}"
    );
    // Declaring the leaf removed is no longer a thing.
    let (status, answer) = d[1]
        .api
        .post(
            &commits(&conv),
            &json!({"commit": b64(&skipper.commit), "removed_leaves": [3]}),
        )
        .await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::BAD_REQUEST, Some("field_removed")),
        "{answer}"
    );
    // Sends stay refused and the removal stays pending.
    let (status, answer) = d[2].send_text(&app, &conv, "to everyone?").await;
    assert_eq!(
        (status, code(&answer)),
        (StatusCode::CONFLICT, Some("removal_pending")),
        "{answer}"
    );
    let (_, pending) = p.admin.client.get("/api/v1/revocations/pending").await;
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "{pending}");

    // The honest path: commit the server's proposal.
    let out = d[0]
        .device
        .commit_pending_proposals(g)
        .expect("commit")
        .expect("a commit");
    let (status, answer) = d[0].post_commit(&conv, &out).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, pending) = p.admin.client.get("/api/v1/revocations/pending").await;
    assert_eq!(pending, json!([]));
    let (members, _) = server_view(&d[0], &conv).await;
    assert!(!members.contains(&revoked.device_id));
    assert_eq!(members.len(), 3);
    for device in d.iter_mut().skip(1) {
        device.sync_http(&conv).await;
    }
    everyone_still_talks(&app, &conv, &mut d, 2, "only the three of us").await;
    app.stop().await;
}

async fn a_new_device_joins_by_itself_and_writes_first(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut c1, mut k1) = two_device_conversation(&app, &p.clinician, &p.client).await;

    // The client signs in on a laptop; nobody else does anything.
    let mut k2 = MlsClient::sign_in(&app, &p.client, "Laptop").await;
    let (status, answer) = k2.join_external(&conv).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (members, _) = server_view(&k2, &conv).await;
    assert!(members.contains(&k2.device_id));
    let (status, body) = k2.send_text(&app, &conv, "hello from my laptop").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The others come back and decrypt it.
    for d in [&mut c1, &mut k1] {
        d.sync_http(&conv).await;
        assert_eq!(
            d.texts[&conv].last().map(String::as_str),
            Some("hello from my laptop")
        );
    }
    // A second external join by the same device (already a member) must
    // not duplicate it: the client refuses locally, and a KeyPackage claim
    // no longer offers it.
    let (_, info) = k2
        .api
        .get(&format!("/api/v1/conversations/{conv}/group-info"))
        .await;
    let current = unb64(info["group_info"].as_str().expect("group info"));
    assert_eq!(
        k2.device.join_by_external_commit(&current).unwrap_err(),
        alcove_crypto::Error::GroupExists
    );
    let (_, claimed) = c1
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/key-packages/claim"),
            &json!({}),
        )
        .await;
    assert_eq!(claimed["key_packages"], json!([]), "{claimed}");
    app.stop().await;
}

async fn a_lost_only_phone_is_replaced_with_nobody_else_online(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut c1, mut k1) = two_device_conversation(&app, &p.clinician, &p.client).await;
    c1.send_text(&app, &conv, "see you tuesday").await;
    k1.sync_http(&conv).await;

    // The phone is lost; the client reports it from a new laptop.
    let mut k2 = MlsClient::sign_in(&app, &p.client, "Laptop").await;
    let (status, body) = k2
        .api
        .post(
            &format!("/api/v1/devices/{}/revoke", k1.device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The laptop joins by itself although the lost phone is still a leaf
    // (an external commit cannot remove another device)...
    let (status, answer) = k2.join_external(&conv).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // ...receives the server's Remove for the new epoch, commits it itself...
    k2.sync_http(&conv).await;
    assert!(k2
        .device
        .has_pending_proposals(conv.as_bytes())
        .expect("pending"));
    let out = k2
        .device
        .commit_pending_proposals(conv.as_bytes())
        .expect("commit")
        .expect("a commit");
    let (status, answer) = k2.post_commit(&conv, &out).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // ...and writes, all before the clinician is back.
    let (status, body) = k2.send_text(&app, &conv, "new laptop, lost my phone").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (members, _) = server_view(&k2, &conv).await;
    assert_eq!(members.len(), 2);
    assert!(!members.contains(&k1.device_id));
    c1.sync_http(&conv).await;
    assert_eq!(
        c1.texts[&conv].last().map(String::as_str),
        Some("new laptop, lost my phone")
    );
    let (_, pending) = p.admin.client.get("/api/v1/revocations/pending").await;
    assert_eq!(pending, json!([]));
    app.stop().await;
}

async fn key_packages_cannot_be_drained(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, _office, k1) = two_device_conversation(&app, &p.clinician, &p.client).await;
    // The clinician's new tablet has five one-time packages.
    let mut tablet = MlsClient::sign_in(&app, &p.clinician, "Tablet").await;
    tablet.connect(&app).await;
    let claim = format!("/api/v1/conversations/{conv}/key-packages/claim");
    // Six claims by the client, concurrently and one after another, all
    // get the same package.
    let mut handed = Vec::new();
    let empty = json!({});
    let claims = (0..3).map(|_| k1.api.post(&claim, &empty));
    for (status, body) in futures_util::future::join_all(claims).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        handed.push(body["key_packages"][0]["key_package"].clone());
    }
    for _ in 0..3 {
        let (status, body) = k1.api.post(&claim, &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        handed.push(body["key_packages"][0]["key_package"].clone());
    }
    assert!(
        handed.iter().all(|k| k == &handed[0] && k.is_string()),
        "{handed:?}"
    );
    let (_, stock) = tablet.api.get("/api/v1/key-packages").await;
    assert_eq!(stock["available"], 4, "{stock}");
    // The tablet is told at once that its stock is low.
    let mut frame = tablet.next_frame().await;
    while frame["type"] != "key_packages_low" {
        frame = tablet.next_frame().await;
    }
    app.stop().await;
}

fn now(app: &TestApp) -> u64 {
    use alcove_server::clock::Clock;
    app.clock.now().max(0) as u64
}

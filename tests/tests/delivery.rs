//! End-to-end delivery with real MLS devices, on both backends: clinician
//! (2 devices) and client (2 devices) in one conversation; live delivery,
//! catch-up, commit races, outsiders, idempotent sends, bad input.

use alcove_tests::mls::{b64, four_device_conversation, MlsClient};
use alcove_tests::{on_both_backends, Backend, Person, TestApp};
use reqwest::StatusCode;
use serde_json::json;

on_both_backends!(
    four_devices_everyone_reads_everyone_in_order,
    commit_race_one_wins_the_other_retries,
    outsiders_are_refused_and_cannot_decrypt,
    retried_send_is_stored_once_and_bad_input_changes_nothing,
    one_batch_answers_each_message_and_ack_as_if_alone,
    sends_over_the_socket_are_stored_once_answered_and_delivered,
    a_device_that_sent_many_messages_still_receives_at_once,
    a_device_acknowledging_every_entry_gets_more_than_its_window,
);

/// The browser acknowledges every entry it processed. An acknowledgement
/// reads the log on only when the socket's window held entries back, so a
/// phone that was away while more than two windows of messages arrived
/// still catches up whole over its socket, and so does a burst larger than
/// the window sent while it is connected and not yet reading.
async fn a_device_acknowledging_every_entry_gets_more_than_its_window(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = practice(&app).await;
    let (conv, mut d) = conversation(&app, &p).await;
    let many = alcove_server::delivery::ws::WINDOW as usize * 2 + 10;
    for i in 0..many {
        let (status, body) = d[0]
            .send_text(&app, &conv, &format!("while away {i}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    d[2].connect(&app).await;
    let got = d[2].receive_texts(&conv, many).await;
    let expected: Vec<String> = (0..many).map(|i| format!("while away {i}")).collect();
    assert_eq!(got, expected, "every entry, in order, once");

    for i in 0..many {
        let (status, body) = d[0].send_text(&app, &conv, &format!("live {i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let got = d[2].receive_texts(&conv, 2 * many).await;
    assert_eq!(got.len(), 2 * many);
    assert_eq!(got[2 * many - 1], format!("live {}", many - 1));
    app.stop().await;
}

struct Practice {
    clinician: Person,
    client: Person,
}

async fn practice(app: &TestApp) -> Practice {
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let clinician = app
        .register_staff(&app.invite(&admin, "clinician").await, "dr@p.example")
        .await;
    let client = app
        .register_client(&app.invite(&clinician, "client").await, "sam@p.example")
        .await;
    Practice { clinician, client }
}

/// Clinician device 1 starts the conversation and adds every other device.
async fn conversation(app: &TestApp, p: &Practice) -> (String, Vec<MlsClient>) {
    let (conv, devices) = four_device_conversation(app, &p.clinician, &p.client).await;
    let (_, contacts) = devices[0].api.get("/api/v1/contacts").await;
    assert!(
        contacts
            .as_array()
            .expect("array")
            .iter()
            .any(|c| c["user_id"] == p.client.user_id.as_str()),
        "the invited client is assigned: {contacts}"
    );
    (conv, devices)
}

async fn four_devices_everyone_reads_everyone_in_order(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = practice(&app).await;
    let (conv, mut d) = conversation(&app, &p).await;
    for device in d.iter_mut() {
        device.connect(&app).await;
    }
    // Each device sends two messages; every other device gets all six
    // others', each sender's in order.
    let mut expected = Vec::new();
    for round in 0..2 {
        for (i, device) in d.iter_mut().enumerate() {
            let text = format!("msg {round} from device {i}");
            let (status, body) = device.send_text(&app, &conv, &text).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            expected.push((i, text));
        }
    }
    for (i, device) in d.iter_mut().enumerate() {
        let got = device.receive_texts(&conv, 6).await;
        let want: Vec<String> = expected
            .iter()
            .filter(|(s, _)| *s != i)
            .map(|(_, t)| t.clone())
            .collect();
        assert_eq!(
            got, want,
            "device {i} sees the others' messages in send order"
        );
    }

    let practice_id = app
        .store
        .sole_practice()
        .await
        .expect("read")
        .expect("one practice");
    // Acknowledgements travel over the socket and are group-committed:
    // wait (with a deadline) for their access records.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events = app
            .store
            .recent_audit(practice_id, 500)
            .await
            .expect("audit");
        if events.iter().any(|e| e.action == "message.delivered") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deliveries are audited"
        );
        tokio::task::yield_now().await;
    }

    // An offline device catches up: device 3 disconnects, misses two
    // messages, and gets them in order over HTTP (and on reconnect).
    d[3].ws = None;
    d[0].send_text(&app, &conv, "while you were away 1").await;
    d[1].send_text(&app, &conv, "while you were away 2").await;
    d[3].sync_http(&conv).await;
    let texts = &d[3].texts[&conv];
    assert_eq!(
        &texts[texts.len() - 2..],
        ["while you were away 1", "while you were away 2"]
    );
    // Device 2 reconnects without acknowledging anything it has not seen and
    // resumes from its cursor.
    d[2].ws = None;
    d[0].send_text(&app, &conv, "after reconnect").await;
    d[2].connect(&app).await;
    let got = d[2].receive_texts(&conv, 9).await;
    assert_eq!(
        &got[6..],
        [
            "while you were away 1",
            "while you were away 2",
            "after reconnect"
        ]
    );
    app.stop().await;
}

async fn commit_race_one_wins_the_other_retries(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = practice(&app).await;
    let (conv, mut d) = conversation(&app, &p).await;
    // Devices 1 and 2 both commit a self-update in the same epoch.
    let a = d[1].device.self_update(conv.as_bytes()).expect("update a");
    let b = d[2].device.self_update(conv.as_bytes()).expect("update b");
    let post = |out: &alcove_crypto::CommitOutput| json!({"commit": b64(&out.commit), "group_info": out.group_info.as_ref().map(|g| b64(g))});
    let path = format!("/api/v1/conversations/{conv}/commits");
    let (sa, ra) = d[1].api.post(&path, &post(&a)).await;
    let (sb, rb) = d[2].api.post(&path, &post(&b)).await;
    assert_eq!(sa, StatusCode::OK, "{ra}");
    assert_eq!(
        (sb, rb["error"].as_str()),
        (StatusCode::CONFLICT, Some("stale_epoch")),
        "{rb}"
    );
    assert_eq!(rb["current_epoch"], ra["epoch"]);
    d[1].device
        .merge_pending_commit(conv.as_bytes())
        .expect("merge a");
    // The loser discards, catches up, and retries successfully.
    d[2].device
        .discard_pending_commit(conv.as_bytes())
        .expect("discard");
    d[2].sync_http(&conv).await;
    let retry = d[2]
        .device
        .self_update(conv.as_bytes())
        .expect("update b again");
    let (status, body) = d[2].api.post(&path, &post(&retry)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    d[2].device
        .merge_pending_commit(conv.as_bytes())
        .expect("merge b");
    // The stale commit replayed is refused again and changes nothing.
    let (status, _) = d[2].api.post(&path, &post(&b)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Everyone converges and can still talk.
    for i in [0, 3] {
        d[i].sync_http(&conv).await;
    }
    d[1].sync_http(&conv).await;
    let (status, _) = d[3].send_text(&app, &conv, "after the race").await;
    assert_eq!(status, StatusCode::OK);
    for device in d.iter_mut().take(3) {
        device.sync_http(&conv).await;
        assert_eq!(
            device.texts[&conv].last().map(String::as_str),
            Some("after the race")
        );
    }
    app.stop().await;
}

async fn outsiders_are_refused_and_cannot_decrypt(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let clinician = app
        .register_staff(&app.invite(&admin, "clinician").await, "dr@p.example")
        .await;
    let client = app
        .register_client(&app.invite(&clinician, "client").await, "sam@p.example")
        .await;
    let other = app
        .register_client(&app.invite(&clinician, "client").await, "alex@p.example")
        .await;
    let p = Practice { clinician, client };
    let (conv, mut d) = conversation(&app, &p).await;
    let mut outsider = MlsClient::sign_in(&app, &other, "Phone").await;

    // The other client of the same clinician: not a participant.
    let (status, _) = outsider
        .api
        .get(&format!("/api/v1/conversations/{conv}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = outsider
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = outsider
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/key-packages/claim"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Its KeyPackage is never handed out for this conversation...
    let (status, claimed) = d[0]
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/key-packages/claim"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        claimed["key_packages"]
            .as_array()
            .expect("array")
            .is_empty(),
        "{claimed}"
    );
    // ...and a commit adding it with a package obtained elsewhere is refused.
    let stolen = outsider
        .device
        .key_packages(1, now(&app))
        .expect("kp")
        .remove(0);
    let out = d[0]
        .device
        .add_devices(conv.as_bytes(), &[stolen])
        .expect("add");
    let (status, body) = d[0].post_commit(&conv, &out).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("add_not_allowed")),
        "{body}"
    );
    // The outsider has no welcome and cannot decrypt a message it somehow got.
    assert!(outsider.join_welcomes().await.is_empty());
    let (status, sent) = d[0].send_text(&app, &conv, "private").await;
    assert_eq!(status, StatusCode::OK);
    d[1].sync_http(&conv).await;
    let seq = sent["seq"].as_i64().expect("seq");
    let entry = app
        .store
        .fetch_log(&conv, d[1].device_id.parse().expect("id"), seq - 1, 1)
        .await
        .expect("log");
    assert!(
        outsider.device.process(&entry[0].data).is_err(),
        "an outsider cannot decrypt"
    );
    // A client-only device cannot start a conversation with an unassigned clinician.
    let (status, body) = outsider
        .api
        .post(
            "/api/v1/conversations",
            &json!({"with_user_id": admin.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    app.stop().await;
}

async fn retried_send_is_stored_once_and_bad_input_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = practice(&app).await;
    let (conv, mut d) = conversation(&app, &p).await;
    let id = [7u8; 16];
    let env = alcove_crypto::Envelope {
        client_message_id: id,
        sent_at_ms: 1,
        content: alcove_crypto::Content::Text("once".into()),
    };
    let ct = d[0]
        .device
        .encrypt(conv.as_bytes(), &env.encode().expect("encode"))
        .expect("encrypt");
    let (s1, first) = d[0].post_message(&conv, &id, &ct).await;
    let (s2, again) = d[0].post_message(&conv, &id, &ct).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first["seq"], again["seq"]);
    assert_eq!(again["duplicate"], true);
    d[1].sync_http(&conv).await;
    assert_eq!(d[1].texts[&conv], vec!["once"]);

    let last_seq = |app: &TestApp| {
        let conv = conv.clone();
        let store = app.store.clone();
        async move {
            let practice = store
                .sole_practice()
                .await
                .expect("read")
                .expect("one practice");
            store
                .conversation(practice, &conv)
                .await
                .expect("conv")
                .last_seq
        }
    };
    let before = last_seq(&app).await;
    let msgs = format!("/api/v1/conversations/{conv}/messages");
    // Malformed MLS bytes.
    let (status, body) = d[0]
        .api
        .post(
            &msgs,
            &json!({"client_msg_id": b64(&[1; 16]), "data": b64(b"not mls")}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_mls"))
    );
    // Not base64.
    let (status, _) = d[0]
        .api
        .post(
            &msgs,
            &json!({"client_msg_id": b64(&[1; 16]), "data": "***"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A commit posted as a message, and a message posted as a commit.
    let upd = d[0].device.self_update(conv.as_bytes()).expect("update");
    let (status, _) = d[0]
        .api
        .post(
            &msgs,
            &json!({"client_msg_id": b64(&[2; 16]), "data": b64(&upd.commit)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    d[0].device
        .discard_pending_commit(conv.as_bytes())
        .expect("discard");
    let (status, _) = d[0]
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/commits"),
            &json!({"commit": b64(&ct), "group_info": b64(&ct)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Oversize.
    let big = vec![0u8; 300 * 1024];
    let (status, body) = d[0]
        .api
        .post(
            &msgs,
            &json!({"client_msg_id": b64(&[3; 16]), "data": b64(&big)}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Wrong epoch: a message from before a commit.
    let stale = d[0]
        .device
        .encrypt(conv.as_bytes(), b"stale")
        .expect("encrypt");
    let upd = d[1].device.self_update(conv.as_bytes()).expect("update");
    let (status, _) = d[1]
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/commits"),
            &json!({"commit": b64(&upd.commit), "group_info": upd.group_info.as_ref().map(|g| b64(g))}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    d[1].device
        .merge_pending_commit(conv.as_bytes())
        .expect("merge");
    let (status, body) = d[0].post_message(&conv, &[4; 16], &stale).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("stale_epoch")),
        "{body}"
    );
    // Only the commit moved the log.
    assert_eq!(last_seq(&app).await, before + 1);

    // Over the socket: bad frames get errors, oversize frames close it.
    d[2].connect(&app).await;
    d[2].send_frame(json!({"type": "ack", "conversation_id": "not-mine", "seq": 1}))
        .await;
    let mut frame = d[2].next_frame().await;
    while frame["type"] == "entry" {
        frame = d[2].next_frame().await;
    }
    assert_eq!(frame["error"], "not_member", "{frame}");
    d[2].send_frame(json!({"type": "nonsense"})).await;
    assert_eq!(d[2].next_frame().await["error"], "bad_frame");
    d[2].send_frame(json!({"type": "ack", "conversation_id": "x".repeat(300 * 1024), "seq": 1}))
        .await;
    let closed = d[2].next_frame().await;
    assert_eq!(closed["type"], "closed", "{closed}");
    app.stop().await;
}

fn now(app: &TestApp) -> u64 {
    use alcove_server::clock::Clock;
    app.clock.now() as u64
}

/// The group commit writes a whole batch with a few statements; every
/// message and acknowledgement in it must still get the answer it would
/// have got alone, in arrival order, and the audit log must stay dense and
/// verifiable.
async fn one_batch_answers_each_message_and_ack_as_if_alone(backend: Backend) {
    use alcove_server::audit::{Event, RequestMeta};
    use alcove_server::clock::Clock;
    use alcove_server::delivery::error::DeliveryError;
    use alcove_server::delivery::store::NewMessage;
    use alcove_server::ids::{DeviceId, PracticeId};

    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = practice(&app).await;
    let (conv, d) = conversation(&app, &p).await;
    let practice_id: PracticeId = d[0].practice_id.parse().expect("practice id");
    let conversation = app
        .store
        .conversation(practice_id, &conv)
        .await
        .expect("conversation");
    let epoch = conversation.epoch;
    let start = conversation.last_seq;
    let device = |i: usize| -> DeviceId { d[i].device_id.parse().expect("device id") };
    let outsider: DeviceId = uuid::Uuid::new_v4().to_string().parse().expect("device id");
    let message = |from: DeviceId, id: u8, epoch: i64| {
        let meta = RequestMeta {
            actor_device: Some(from),
            ..RequestMeta::default()
        };
        (
            NewMessage {
                conversation_id: conv.clone(),
                sender_device: from,
                epoch,
                client_msg_id: vec![id; 16],
                data: vec![id; 300],
            },
            Event::new(
                practice_id,
                alcove_server::audit::Action::MessageAccepted,
                &meta,
            ),
        )
    };
    let now = app.clock.now();
    let batch = vec![
        message(device(0), 1, epoch),     // accepted
        message(device(2), 2, epoch),     // accepted
        message(device(0), 1, epoch),     // retry of the first, same batch
        message(device(1), 3, epoch + 1), // wrong epoch
        message(outsider, 4, epoch),      // not a member
        message(device(3), 5, epoch),     // accepted
    ];
    let answers = app
        .store
        .append_messages(&batch, now)
        .await
        .expect("batch written");
    assert_eq!(answers.len(), 6);
    let ok = |i: usize| answers[i].as_ref().expect("accepted").clone();
    assert_eq!((ok(0).seq, ok(0).duplicate), (start + 1, false));
    assert_eq!((ok(1).seq, ok(1).duplicate), (start + 2, false));
    assert_eq!((ok(2).seq, ok(2).duplicate), (start + 1, true));
    assert!(ok(2).wake.is_empty(), "a duplicate wakes nobody");
    assert!(
        matches!(answers[3], Err(DeliveryError::StaleEpoch { current }) if current == epoch),
        "{:?}",
        answers[3]
    );
    assert!(
        matches!(answers[4], Err(DeliveryError::NotMember)),
        "{:?}",
        answers[4]
    );
    assert_eq!((ok(5).seq, ok(5).duplicate), (start + 3, false));
    let mut woken = ok(0).wake.clone();
    woken.sort();
    let mut others: Vec<DeviceId> = (1..4).map(device).collect();
    others.sort();
    assert_eq!(woken, others, "every member device but the sender is woken");

    // A retry in a later batch finds the stored row.
    let again = app
        .store
        .append_messages(&[message(device(0), 1, epoch)], now)
        .await
        .expect("batch written");
    let again = again[0].as_ref().expect("duplicate");
    assert_eq!((again.seq, again.duplicate), (start + 1, true));

    // Every device reads exactly the three stored messages, in order.
    let log = app
        .store
        .fetch_log(&conv, device(1), start, 100)
        .await
        .expect("log");
    let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![start + 1, start + 2, start + 3]);

    // Acknowledgements: two for the same device merge (the furthest wins,
    // both get it), one is for an earlier point than its cursor already
    // has, one is from an outsider.
    let ack = |device: DeviceId, seq: i64| (conversation.clone(), device, seq);
    let acked = app
        .store
        .ack_many(
            &[
                ack(device(1), start + 1),
                ack(device(2), start + 3),
                ack(device(1), start + 3),
                ack(outsider, start + 1),
            ],
            now,
        )
        .await
        .expect("acks written");
    assert_eq!(acked[0].as_ref().ok(), Some(&(start + 3)));
    assert_eq!(acked[1].as_ref().ok(), Some(&(start + 3)));
    assert_eq!(acked[2].as_ref().ok(), Some(&(start + 3)));
    assert!(matches!(acked[3], Err(DeliveryError::NotMember)));
    let back = app
        .store
        .ack_many(&[ack(device(1), start + 1)], now)
        .await
        .expect("ack written");
    assert_eq!(
        back[0].as_ref().ok(),
        Some(&(start + 3)),
        "a cursor never moves back"
    );
    assert!(app
        .store
        .fetch_log(&conv, device(1), start + 3, 100)
        .await
        .expect("log")
        .is_empty());

    // Deliveries: device 1 got the first entry, then the next two (one
    // record for the run), device 2 all three over HTTP, device 3 the
    // first and the third (two records: a gap is not papered over).
    let delivery = |i: usize, from: i64, to: i64, via: &'static str| {
        let meta = RequestMeta {
            actor_device: Some(device(i)),
            ..RequestMeta::default()
        };
        alcove_server::delivery::store::Delivery {
            conversation: conversation.clone(),
            device: device(i),
            from_seq: from,
            to_seq: to,
            via,
            event: Event::new(
                practice_id,
                alcove_server::audit::Action::MessageDelivered,
                &meta,
            ),
        }
    };
    let recorded = app
        .store
        .record_deliveries(
            &[
                delivery(1, start + 1, start + 1, "socket"),
                delivery(2, start + 1, start + 3, "http"),
                delivery(3, start + 1, start + 1, "socket"),
                delivery(1, start + 2, start + 3, "socket"),
                delivery(3, start + 3, start + 3, "socket"),
            ],
            now,
        )
        .await
        .expect("deliveries written");
    assert!(recorded.iter().all(|r| r.is_ok()));

    // The audit log: one record per accepted message and one per run of
    // entries handed to a device — none for acknowledgements —, numbered
    // densely, and the whole log verifies.
    let audit = alcove_server::storage::audit_store::open(&app.settings)
        .await
        .expect("audit store");
    let rows = audit
        .audit_rows(&d[0].practice_id, 0, 100_000)
        .await
        .expect("rows");
    let accepted = rows
        .iter()
        .filter(|r| r.entry.action == "message.accepted")
        .count();
    let delivered: Vec<(String, serde_json::Value)> = rows
        .iter()
        .filter(|r| r.entry.action == "message.delivered")
        .map(|r| {
            (
                r.entry.target_device_id.clone().unwrap_or_default(),
                serde_json::from_str(r.entry.detail.as_deref().unwrap_or("null")).expect("detail"),
            )
        })
        .collect();
    assert_eq!(accepted, 3);
    let range = |i: usize, from: i64, to: i64, via: &str| {
        (
            device(i).to_string(),
            serde_json::json!({"from_seq": from, "to_seq": to, "via": via}),
        )
    };
    assert_eq!(
        delivered,
        vec![
            range(1, start + 1, start + 3, "socket"),
            range(2, start + 1, start + 3, "http"),
            range(3, start + 1, start + 1, "socket"),
            range(3, start + 3, start + 3, "socket"),
        ],
        "one record per run handed to a device"
    );
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.entry.seq, i as i64 + 1, "audit sequence is dense");
    }
    let key =
        alcove_server::audit::service::AuditService::new(&app.settings, app.store.audit_store())
            .key()
            .expect("key")
            .public_key();
    let report =
        alcove_server::audit::verify::verify_database(&*audit, &d[0].practice_id, &key, &[])
            .await
            .expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    audit.close().await;
    app.stop().await;
}

/// The next frame of the given type (skipping entries and other traffic).
async fn frame_of_type(device: &mut MlsClient, kind: &str) -> serde_json::Value {
    loop {
        let frame = device.next_frame().await;
        if frame["type"] == kind {
            return frame;
        }
        assert_ne!(frame["type"], "closed", "socket closed: {frame}");
    }
}

async fn sends_over_the_socket_are_stored_once_answered_and_delivered(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = practice(&app).await;
    let (conv, mut d) = conversation(&app, &p).await;
    d[0].connect(&app).await;
    d[2].connect(&app).await;

    let id = [9u8; 16];
    let env = alcove_crypto::Envelope {
        client_message_id: id,
        sent_at_ms: 1,
        content: alcove_crypto::Content::Text("over the socket".into()),
    };
    let ct = d[0]
        .device
        .encrypt(conv.as_bytes(), &env.encode().expect("encode"))
        .expect("encrypt");
    let send = json!({"type": "send", "conversation_id": conv, "client_msg_id": b64(&id), "data": b64(&ct)});
    d[0].send_frame(send.clone()).await;
    let sent = frame_of_type(&mut d[0], "sent").await;
    assert_eq!(sent["client_msg_id"], b64(&id));
    assert_eq!(sent["conversation_id"], conv.as_str());
    assert_eq!(sent["duplicate"], false);
    let seq = sent["seq"].as_i64().expect("seq");
    assert_eq!(
        d[2].receive_texts(&conv, 1).await,
        vec!["over the socket"],
        "the client's device receives it live"
    );

    // A retry is answered with the same seq and stored once.
    d[0].send_frame(send).await;
    let again = frame_of_type(&mut d[0], "sent").await;
    assert_eq!(
        (again["seq"].as_i64(), again["duplicate"].as_bool()),
        (Some(seq), Some(true))
    );

    // Refusals name the message they refuse and store nothing.
    let garbage = json!({"type": "send", "conversation_id": conv, "client_msg_id": b64(&[1u8; 16]), "data": b64(b"not mls")});
    d[0].send_frame(garbage).await;
    let failed = frame_of_type(&mut d[0], "send_failed").await;
    assert_eq!(
        (failed["error"].as_str(), failed["client_msg_id"].as_str()),
        (Some("malformed_mls"), Some(b64(&[1u8; 16]).as_str()))
    );
    d[0].send_frame(
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "%%", "data": "%%"}),
    )
    .await;
    let failed = frame_of_type(&mut d[0], "send_failed").await;
    assert_eq!(failed["error"], "invalid_base64");
    d[0].send_frame(json!({"type": "send", "conversation_id": "not-mine", "client_msg_id": b64(&id), "data": b64(&ct)})).await;
    let failed = frame_of_type(&mut d[0], "send_failed").await;
    assert_eq!(
        (failed["error"].as_str(), failed["conversation_id"].as_str()),
        (Some("not_found"), Some("not-mine"))
    );

    d[3].sync_http(&conv).await;
    assert_eq!(
        d[3].texts[&conv],
        vec!["over the socket"],
        "stored exactly once"
    );
    app.stop().await;
}

/// A device's own messages are not delivered back to it, but they are in
/// the log between the entries it does receive. A clinician who sends more
/// than a socket's window of messages (reminders, say) — with or without an
/// unacknowledged message from the client outstanding — still gets the
/// client's next reply live.
async fn a_device_that_sent_many_messages_still_receives_at_once(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = practice(&app).await;
    let (conv, mut d) = conversation(&app, &p).await;
    d[0].connect(&app).await;
    let many = alcove_server::delivery::ws::WINDOW as usize + 20;

    // Round 1: nothing outstanding while the clinician sends.
    let (status, _) = d[2].send_text(&app, &conv, "hello").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d[0].receive_texts(&conv, 1).await, vec!["hello"]);
    for i in 0..many {
        let (status, body) = d[0].send_text(&app, &conv, &format!("note {i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, _) = d[2].send_text(&app, &conv, "reply").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d[0].receive_texts(&conv, 2).await, vec!["hello", "reply"]);

    // Round 2: the client's message is acknowledged only after the
    // clinician's burst.
    let (status, _) = d[2].send_text(&app, &conv, "are you there").await;
    assert_eq!(status, StatusCode::OK);
    let frame = frame_of_type(&mut d[0], "entry").await;
    d[0].handle_entry(&conv, &frame);
    for i in 0..many {
        let (status, body) = d[0].send_text(&app, &conv, &format!("more {i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    d[0].send_frame(json!({"type": "ack", "conversation_id": conv, "seq": frame["seq"]}))
        .await;
    let (status, _) = d[2].send_text(&app, &conv, "second reply").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        d[0].receive_texts(&conv, 4).await,
        vec!["hello", "reply", "are you there", "second reply"]
    );

    // The client's device, catching up over HTTP, has every note in order.
    d[2].sync_http(&conv).await;
    assert_eq!(d[2].texts[&conv].len(), 2 * many);
    app.stop().await;
}

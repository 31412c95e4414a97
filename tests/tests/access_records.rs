//! Reads are recorded by the server, not by the reader: a client that
//! takes messages over its socket or over HTTP and never acknowledges
//! anything leaves the same access records as an honest one; and on
//! SQLite every writer — the audit head publisher included — goes through
//! the one writer connection, so heads published continuously under send
//! load refuse no send.

use alcove_server::audit::service::{self, AuditService, FileWitness, Witness};
use alcove_tests::mls::{two_device_conversation, MlsClient};
use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

on_both_backends!(
    a_client_that_reads_and_never_acknowledges_leaves_access_records,
    heads_published_continuously_under_send_load_refuse_no_send,
);

/// The delivery records naming `device`: (from, to, via), in log order.
async fn deliveries_to(app: &TestApp, practice: &str, device: &str) -> Vec<(i64, i64, String)> {
    let rows = app
        .store
        .audit_store()
        .audit_rows(practice, 0, 100_000)
        .await
        .expect("audit rows");
    rows.into_iter()
        .filter(|r| {
            r.entry.action == "message.delivered"
                && r.entry.target_device_id.as_deref() == Some(device)
        })
        .map(|r| {
            let d: Value =
                serde_json::from_str(r.entry.detail.as_deref().unwrap_or("null")).expect("detail");
            (
                d["from_seq"].as_i64().expect("from"),
                d["to_seq"].as_i64().expect("to"),
                d["via"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Every seq in `seqs` lies in one of the recorded ranges.
fn covered(records: &[(i64, i64, String)], seqs: &[i64], via: &str) -> bool {
    seqs.iter().all(|s| {
        records
            .iter()
            .any(|(from, to, v)| from <= s && s <= to && v == via)
    })
}

async fn a_client_that_reads_and_never_acknowledges_leaves_access_records(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let people = app.practice_with_people().await;
    let (conv, mut office, mut phone) =
        two_device_conversation(&app, &people.clinician, &people.client).await;

    // The phone holds a socket and never acknowledges what it gets.
    phone.connect(&app).await;
    let mut sent = Vec::new();
    for i in 0..3 {
        let (status, body) = office.send_text(&app, &conv, &format!("note {i}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        sent.push(body["seq"].as_i64().expect("seq"));
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let frame = phone.next_frame().await;
        if frame["type"] == "entry" {
            got.push(frame["seq"].as_i64().expect("seq"));
        }
    }
    assert_eq!(got, sent);
    let records = deliveries_to(&app, &phone.practice_id, &phone.device_id).await;
    assert!(
        covered(&records, &sent, "socket"),
        "every entry the socket handed over is recorded before it left, unacknowledged: {records:?}"
    );

    // A second device of the client's reads over HTTP, never acknowledging.
    let mut laptop = MlsClient::sign_in(&app, &people.client, "Laptop").await;
    let (status, body) = laptop.join_external(&conv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    office.sync_http(&conv).await; // the office merges the laptop's join
    let (status, body) = office.send_text(&app, &conv, "for the laptop").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seq = body["seq"].as_i64().expect("seq");
    let after = seq - 1;
    let (status, page) = laptop
        .api
        .get(&format!(
            "/api/v1/conversations/{conv}/messages?after={after}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().expect("entries");
    assert!(entries.iter().any(|e| e["seq"] == seq), "{page}");
    let records = deliveries_to(&app, &laptop.practice_id, &laptop.device_id).await;
    assert!(
        covered(&records, &[seq], "http"),
        "a page read over HTTP is recorded: {records:?}"
    );

    // Acknowledging adds no record: the reads were recorded already.
    let before = deliveries_to(&app, &laptop.practice_id, &laptop.device_id)
        .await
        .len();
    let (status, body) = laptop
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/ack"),
            &json!({"seq": seq}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        deliveries_to(&app, &laptop.practice_id, &laptop.device_id)
            .await
            .len(),
        before
    );
    // Nothing new to read: an empty page records nothing.
    let (status, page) = laptop
        .api
        .get(&format!(
            "/api/v1/conversations/{conv}/messages?after={seq}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        deliveries_to(&app, &laptop.practice_id, &laptop.device_id)
            .await
            .len(),
        before
    );
    app.stop().await;
}

async fn heads_published_continuously_under_send_load_refuse_no_send(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let people = app.practice_with_people().await;
    let (conv, office, _phone) =
        two_device_conversation(&app, &people.clinician, &people.client).await;
    let office = Arc::new(tokio::sync::Mutex::new(office));

    // A publisher signing and recording a head every few milliseconds,
    // on the server's own store handle, as `alcove serve` runs it.
    let dir = tempfile::tempdir().expect("dir");
    let heads = dir.path().join("heads.jsonl");
    let witnesses: Vec<Arc<dyn Witness>> = vec![Arc::new(FileWitness {
        path: heads.clone(),
    })];
    let audit = AuditService::new(&app.settings, app.store.audit_store());
    let publisher = service::spawn_publisher(
        audit,
        Arc::new(alcove_server::clock::SystemClock),
        witnesses,
        Duration::from_millis(5),
        None,
    );

    // Eight senders, 40 messages each, all at once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let office = office.clone();
        let conv = conv.clone();
        tasks.push(tokio::spawn(async move {
            let mut refusals = Vec::new();
            for i in 0..40 {
                // Encrypt under the lock (one MLS state), post outside it.
                let (id, ct, api) = {
                    let mut o = office.lock().await;
                    let id: [u8; 16] = uuid::Uuid::new_v4().into_bytes();
                    let env = alcove_crypto::Envelope {
                        client_message_id: id,
                        sent_at_ms: 1,
                        content: alcove_crypto::Content::Text(format!("load {i}")),
                    };
                    let ct = o
                        .device
                        .encrypt(conv.as_bytes(), &env.encode().expect("encode"))
                        .expect("encrypt");
                    (id, ct, o.api.clone())
                };
                let (status, body) = api
                    .post(
                        &format!("/api/v1/conversations/{conv}/messages"),
                        &json!({"client_msg_id": alcove_tests::mls::b64(&id),
                                "data": alcove_tests::mls::b64(&ct)}),
                    )
                    .await;
                if status != StatusCode::OK {
                    refusals.push(format!("{status} {body}"));
                }
            }
            refusals
        }));
    }
    let mut refusals = Vec::new();
    for t in tasks {
        refusals.extend(t.await.expect("sender"));
    }
    assert!(refusals.is_empty(), "sends refused: {refusals:?}");

    // Heads were really being published meanwhile (and keep coming).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = std::fs::read_to_string(&heads)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "heads are published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publisher.abort();
    app.stop().await;
}

//! Webhook delivery rate (Incidents benchmark): N pending deliveries to a
//! local receiver, signed and sent by the delivery job, on SQLite.
//!
//! `cargo run --release -p alcove-tests --example webhook_delivery -- [N] [batch]`
//! (defaults 5000 and the server's `incidents.batch_size`). The server runs
//! in process (`TestApp`, the binary's own start-up path) over a fresh
//! SQLite file; one endpoint is added through the API; the deliveries are
//! written straight into the table (the set-up, not what is measured), all
//! due at once. The run ends when the receiver has every one; then it waits
//! until every row is recorded delivered. Reports the rate (target
//! ≥ 500/s).

use alcove_tests::webhooks::Receiver;
use alcove_tests::{Backend, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let batch: Option<i64> = args.next().and_then(|a| a.parse().ok());
    let receiver = Receiver::start("127.0.0.1").await;
    let app = TestApp::start_with(Backend::Sqlite, move |s| {
        s.incidents.webhook_allow_private = true;
        s.incidents.webhook_allow_http = true;
        if let Some(b) = batch {
            s.incidents.batch_size = b;
        }
    })
    .await
    .expect("sqlite");
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let (status, created) = admin
        .client
        .post(
            "/api/v1/webhooks",
            &json!({"url": receiver.url, "event_types": ["incident.updated"]}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    let endpoint = created["endpoint"]["id"].as_str().expect("id").to_string();
    let practice = admin.practice_id.clone();

    // Written far in the future, then made due all at once.
    let setup = Instant::now();
    let payload = r#"{"type":"incident.updated","timestamp":"2026-12-06T00:00:00Z","data":{"incident_id":"00000000-0000-4000-8000-000000000000","status":"assessing","affected_count":3}}"#;
    let mut statements = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|_| {
                format!(
                    "('msg_{}', '{practice}', '{endpoint}', 'incident.updated', '{payload}', 'pending', 4102444800, 0)",
                    uuid::Uuid::new_v4().simple()
                )
            })
            .collect();
        statements.push(format!(
            "INSERT INTO webhook_deliveries (id, practice_id, endpoint_id, event_type, payload, status, next_attempt_at, created_at) VALUES {}",
            rows.join(",")
        ));
    }
    app.raw_sql(&statements).await;
    println!(
        "set-up: {n} deliveries written in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    app.raw_sql(&["UPDATE webhook_deliveries SET next_attempt_at = 0".to_string()])
        .await;
    let got = receiver
        .wait_until(Duration::from_secs(600), |r| r.len() >= n)
        .await;
    let received = started.elapsed().as_secs_f64();
    // Until recorded too (the last round's outcomes are committed after).
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let ep = endpoint.parse().expect("endpoint id");
        let pending = app
            .store
            .list_deliveries(practice.parse().expect("practice"), ep, 1)
            .await
            .expect("log");
        if pending.first().is_some_and(|d| d.status == "delivered") || Instant::now() > end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    println!(
        "| webhook deliveries received | {} of {n} ({} distinct ids) in {received:.2} s → {:.0}/s |",
        got.len(),
        ids.len(),
        got.len() as f64 / received
    );
    app.stop().await;
}

//! The Web Push job's cost on messaging (Client experience, item 5), on
//! SQLite, pushing to a local stand-in push service (a real HTTP server in
//! the same process; no real push service is reachable here).
//!
//! `cargo run --release -p alcove-tests --example push_cost -- SUBSCRIPTIONS WINDOW_SECS ROUNDS [INTERVAL_MS]`
//!
//! One clinician device sends to its client over HTTP, one request at a
//! time (encrypt, POST, next: what the browser does), in windows of
//! WINDOW_SECS that alternate between *subscribed* — the client's phone
//! (offline, a member of the conversation: every message is news to it, so
//! it is pushed once per cooldown) and SUBSCRIPTIONS − 1 more devices
//! subscribed (devices of other people with nothing new, the rows the push
//! job's claim looks through every round) — and *none* (no subscription at
//! all, the job's round finds nothing). ROUNDS of each. INTERVAL_MS is
//! `push.interval_ms` (default 1000, the server's default). Reports the
//! messages per second of each window and the pushes received. Target:
//! subscribed windows within 5 % of the others.
//!
//! The extra devices and subscriptions are written straight into the
//! database (the set-up, not what is measured); the phone subscribes
//! through the API, as a browser does.

use alcove_tests::push::{browser_keys, PushService};
use alcove_tests::{Backend, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    let (subs, window, rounds, interval_ms) = (num(0, 1000), num(1, 10), num(2, 3), num(3, 1000));
    let app = TestApp::start_with(Backend::Sqlite, |s| {
        s.push.interval_ms = interval_ms;
        s.push.allow_private = true;
        s.push.allow_http = true;
    })
    .await
    .expect("sqlite app");
    let p = app.practice_with_people().await;
    let (conv, mut sender, phone) =
        alcove_tests::mls::two_device_conversation(&app, &p.clinician, &p.client).await;
    let service = PushService::start().await;
    let keys = browser_keys();
    let (status, body) = phone
        .api
        .put(
            "/api/v1/push/subscription",
            &json!({"endpoint": service.endpoint, "keys": {"p256dh": keys.p256dh, "auth": keys.auth}}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");

    // The other subscriptions: devices of the admin with nothing new.
    let now = alcove_server::clock::Clock::now(&app.clock);
    let mut setup = Vec::new();
    for chunk in (1..subs).collect::<Vec<_>>().chunks(200) {
        let ids: Vec<String> = chunk
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let devices: Vec<String> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                format!(
                    "('{id}', '{}', '{}', 'bench device {i}', 'bench', {now}, {now}, FALSE)",
                    p.admin.practice_id, p.admin.user_id
                )
            })
            .collect();
        setup.push(format!(
            "INSERT INTO devices (id, practice_id, user_id, name, user_agent, created_at, last_seen_at, shared) VALUES {}",
            devices.join(", ")
        ));
        let rows: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    "('{id}', '{}', '{}', '{}', '{}', '{}', {now}, 0)",
                    p.admin.practice_id, p.admin.user_id, service.endpoint, keys.p256dh, keys.auth
                )
            })
            .collect();
        setup.push(format!(
            "INSERT INTO push_subscriptions (device_id, practice_id, user_id, endpoint, p256dh, auth, created_at, failures) VALUES {}",
            rows.join(", ")
        ));
    }
    setup.push("CREATE TABLE bench_subscriptions AS SELECT * FROM push_subscriptions".into());
    app.raw_sql(&setup).await;
    let off = ["DELETE FROM push_subscriptions".to_string()];
    let on = [
        "DELETE FROM push_subscriptions".to_string(),
        "INSERT INTO push_subscriptions SELECT * FROM bench_subscriptions".to_string(),
    ];

    // Subscribed windows are the even ones.
    let mut done = vec![0u64; (rounds * 2) as usize];
    let mut i = 0u64;
    for w in 0..rounds * 2 {
        app.raw_sql(if w % 2 == 0 { &on[..] } else { &off[..] })
            .await;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(window) {
            let (status, body) = sender.send_text(&app, &conv, &format!("message {i}")).await;
            assert!(status.is_success(), "{status} {body}");
            done[w as usize] += 1;
            i += 1;
        }
    }
    let per_sec = |n: u64| n as f64 / window as f64;
    let busy: Vec<f64> = done.iter().step_by(2).map(|&n| per_sec(n)).collect();
    let idle: Vec<f64> = done
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&n| per_sec(n))
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "| {subs} subscriptions vs none, {rounds} × {window} s windows each, push.interval_ms {interval_ms} | subscribed {:?} msg/s (mean {:.0}) | none {:?} msg/s (mean {:.0}) | subscribed/none {:.3} | pushes received {} |",
        busy.iter().map(|x| x.round()).collect::<Vec<_>>(),
        mean(&busy),
        idle.iter().map(|x| x.round()).collect::<Vec<_>>(),
        mean(&idle),
        mean(&busy) / mean(&idle),
        service.received().len(),
    );
    app.stop().await;
}

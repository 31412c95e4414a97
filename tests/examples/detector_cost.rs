//! The incident detectors' cost on sign-in throughput (Incidents,
//! benchmark): failed sign-ins — each hashed, audited, and read by the
//! watcher, whose detectors count them — per second, with the watcher on
//! (the default: it reads the audit log every second) against off
//! (`incidents.watch_interval_ms` an hour: it reads once at start-up and
//! then sleeps), alternated over rounds so drift hits both alike. Target:
//! on ≥ 95 % of off.
//!
//! `cargo build --release -p alcove-server --bin alcove && cargo run --release -p alcove-tests --example detector_cost -- [ATTEMPTS] [ROUNDS]`
//! (defaults 400 and 3; `ALCOVE_BIN` names another server binary). Each
//! round starts a fresh release server (a separate process on 127.0.0.1:0
//! over a temporary SQLite file) with the throttles raised out of the way
//! (every attempt comes from 127.0.0.1), so every attempt is hashed.
//! Messaging throughput with the watcher on and off is measured with
//! `alcove-bench` and the same variable (BENCHMARKS.md).

use alcove_tests::release_server::ReleaseServer;
use futures_util::stream::{self, StreamExt};
use serde_json::json;
use std::time::{Duration, Instant};

/// Attempts in flight at once.
const CONCURRENCY: usize = 16;

async fn round(attempts: usize, watcher_on: bool) -> f64 {
    let mut env = vec![
        ("ALCOVE_AUTH__MAX_FAILURES_PER_IP", "100000000"),
        ("ALCOVE_AUTH__MAX_FAILURES_PER_ACCOUNT", "100000000"),
        ("ALCOVE_AUTH__MAX_FAILURES_PER_ACCOUNT_GLOBAL", "100000000"),
    ];
    if !watcher_on {
        env.push(("ALCOVE_INCIDENTS__WATCH_INTERVAL_MS", "3600000"));
    }
    let server = ReleaseServer::start(&env).await;
    let base = format!("http://{}", server.addr);
    server
        .first_admin("admin@cost.example", "cost passphrase 2026")
        .await;
    // Settled after start-up (the watcher's first read included).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let answers: Vec<u16> = stream::iter(0..attempts)
        .map(|_| {
            let req = http.post(format!("{base}/api/v1/auth/login")).json(
                &json!({"login": "admin@cost.example", "password": "not the passphrase",
                              "device_name": "x"}),
            );
            async move { req.send().await.map_or(0, |r| r.status().as_u16()) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let refused = answers.iter().filter(|&&s| s == 401).count();
    assert_eq!(
        refused, attempts,
        "every attempt hashed and refused: {answers:?}"
    );
    attempts as f64 / secs
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let attempts: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    println!("| round | watcher | failed sign-ins/s |");
    println!("|---|---|---|");
    for r in 0..rounds {
        let order = if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for watcher_on in order {
            let rate = round(attempts, watcher_on).await;
            println!(
                "| {} | {} | {rate:.1} |",
                r + 1,
                if watcher_on { "on" } else { "off" }
            );
            if watcher_on { &mut on } else { &mut off }.push(rate);
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (m_on, m_off) = (mean(&on), mean(&off));
    println!(
        "mean: on {m_on:.1}/s, off {m_off:.1}/s, on/off {:.3} (target >= 0.95)",
        m_on / m_off
    );
}

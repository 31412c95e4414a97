//! Bounded password hashing under a storm of sign-ins (Hardening item 3):
//! 2,000 concurrent logins against the release server while `/readyz` is
//! probed every 20 ms and the server's resident size sampled every 50 ms;
//! then a minute of quiet, and the resident size again.
//!
//! `cargo build --release -p alcove-server --bin alcove && cargo run --release -p alcove-tests --example login_storm -- [LOGINS]`
//! (default 2000; `ALCOVE_BIN` names another server binary). The server is a
//! separate process on 127.0.0.1:0 over a temporary SQLite file with its
//! default hashing settings (128 MiB budget, one hash per core, 2 s queue)
//! and throttles raised out of the way (every login comes from 127.0.0.1).
//! Targets: `/readyz` p99 ≤ 50 ms; peak RSS ≤ idle + budget + 64 MiB; RSS
//! within 64 MiB of idle a minute after.

use alcove_tests::release_server::ReleaseServer;
use alcove_tests::rss_kib;
use futures_util::future::join_all;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let logins: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let server = ReleaseServer::start(&[
        ("ALCOVE_AUTH__MAX_FAILURES_PER_IP", "100000000"),
        ("ALCOVE_AUTH__MAX_FAILURES_PER_ACCOUNT", "100000000"),
        ("ALCOVE_AUTH__MAX_FAILURES_PER_ACCOUNT_GLOBAL", "100000000"),
    ])
    .await;
    let pid = server.child.id().expect("pid");
    let base = format!("http://{}", server.addr);

    // An account to sign in to.
    server
        .first_admin("admin@storm.example", "storm passphrase 2026")
        .await;

    // Idle: settled after start-up and one hash.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let probe = {
        let stop = stop.clone();
        let url = format!("{base}/readyz");
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut lat = Vec::new();
            let mut failed = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0)
                    }
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (lat, failed)
        })
    };
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        })
    };

    // The storm: half a known login with a wrong password, half unknown
    // logins (which verify against the dummy hash), all at once.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let started = Instant::now();
    let answers = join_all((0..logins).map(|i| {
        let login = if i % 2 == 0 {
            "admin@storm.example".to_string()
        } else {
            format!("nobody{i}@storm.example")
        };
        let req = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"login": login, "password": "not the passphrase", "device_name": "x"}));
        async move {
            match req.send().await {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            }
        }
    }))
    .await;
    let storm_secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut lat, probe_failed) = probe.await.expect("probe");
    let peak = sampler.await.expect("sampler");
    lat.sort_by(|a, b| a.total_cmp(b));

    let count = |s: u16| answers.iter().filter(|&&a| a == s).count();
    println!("logins: {logins} concurrent, answered in {storm_secs:.1} s");
    println!(
        "answers: 401 {}  503 busy {}  429 {}  other/failed {}",
        count(401),
        count(503),
        count(429),
        logins - count(401) - count(503) - count(429)
    );
    if !lat.is_empty() {
        println!(
            "/readyz during the storm: {} probes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, failed {probe_failed}",
            lat.len(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat[lat.len() - 1]
        );
    }
    println!(
        "RSS: idle {} MiB, peak {} MiB (limit idle + 128 + 64 = {} MiB)",
        idle / 1024,
        peak / 1024,
        idle / 1024 + 192
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = rss_kib(pid);
    println!(
        "RSS a minute after: {} MiB (limit idle + 64 = {} MiB)",
        after / 1024,
        idle / 1024 + 64
    );
}

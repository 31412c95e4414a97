//! Revocation benchmark (issue 6): time from the revoke call's answer to the
//! revoked device's WebSocket receiving its close frame (`4001 revoked`),
//! over many revocations, while thousands of other idle sockets are open.
//!
//! `cargo build --release -p alcove-server && cargo run --release -p alcove-tests --example revocation_latency -- [REVOCATIONS] [IDLE]`
//! (defaults 1000 and 10000). The server is the release `alcove` binary, a
//! separate process on 127.0.0.1:0 over a temporary SQLite file, so each
//! process holds one end of every socket (the open-files limit here is 20000).

use alcove_tests::release_server::ReleaseServer;
use alcove_tests::ApiClient;
use futures_util::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn totp(secret: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    alcove_tests::totp_code(secret, now)
}

/// Registers through an invite with a bearer session; returns (token, login).
async fn register(api: &ApiClient, link: &str, login: &str) -> String {
    let token = link.rsplit('#').next().expect("token");
    let (status, body) = api
        .post(
            "/api/v1/invites/accept",
            &json!({"token": token, "login": login, "display_name": login,
            "password": "bench passphrase 2026", "device_name": "d", "transport": "bearer"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let signed = if body["status"] == "mfa_enrollment_required" {
        let secret = body["totp_secret"].as_str().expect("secret");
        api.post(
            "/api/v1/auth/mfa/enroll",
            &json!({"enrollment_token": body["enrollment_token"],
            "totp_code": totp(secret), "device_name": "d", "transport": "bearer"}),
        )
        .await
        .1
    } else {
        body
    };
    signed["token"].as_str().expect("token").to_string()
}

async fn socket(server: &ReleaseServer, token: &str) -> Ws {
    let url = format!("ws://{}/api/v1/ws", server.addr);
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .expect("connect")
        .0
}

async fn login(api: &ApiClient, login: &str, password: &str, name: &str) -> (String, String) {
    let (status, body) = api
        .post("/api/v1/auth/login", &json!({"login": login, "password": password, "device_name": name, "transport": "bearer"}))
        .await;
    assert_eq!(status, 200, "{body}");
    (
        body["token"].as_str().expect("token").into(),
        body["device_id"].as_str().expect("device").into(),
    )
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let revocations = args.first().copied().unwrap_or(1000);
    let idle = args.get(1).copied().unwrap_or(10_000);
    let server = ReleaseServer::start(&[]).await;
    let base = format!("http://{}", server.addr);
    let anon = ApiClient::new(&base);
    let mut admin_api = ApiClient::new(&base);
    admin_api.bearer = Some(register(&anon, &server.link, "admin@bench.example").await);
    let (_, invite) = admin_api
        .post("/api/v1/invites", &json!({"role": "client"}))
        .await;
    register(
        &anon,
        invite["link"].as_str().expect("link"),
        "client@bench.example",
    )
    .await;
    let (login_name, password) = ("client@bench.example", "bench passphrase 2026");

    // Idle sockets, all on one device of the client.
    let (idle_token, _) = login(&anon, login_name, password, "Idle").await;
    let started = Instant::now();
    let mut idle_sockets = Vec::with_capacity(idle);
    for _ in 0..idle {
        idle_sockets.push(socket(&server, &idle_token).await);
    }
    println!(
        "{idle} idle sockets open in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Devices to revoke, each with an open socket.
    let mut targets = Vec::with_capacity(revocations);
    for i in 0..revocations {
        let (token, device) = login(&anon, login_name, password, &format!("Device {i}")).await;
        targets.push((device, socket(&server, &token).await));
    }
    println!("{revocations} target devices signed in with sockets");

    let mut latencies_ms = Vec::with_capacity(revocations);
    let mut early = 0;
    for (device, mut ws) in targets {
        let (status, body) = admin_api
            .post(
                &format!("/api/v1/devices/{device}/revoke"),
                &json!({"reason": "signed_out"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let returned = Instant::now();
        let closed = loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("closed within 10 s")
            {
                Some(Ok(Message::Close(frame))) => {
                    let frame = frame.expect("close frame");
                    assert_eq!(
                        (u16::from(frame.code), frame.reason.as_str()),
                        (4001, "revoked")
                    );
                    break Instant::now();
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended without a close frame: {other:?}"),
            }
        };
        // The close can arrive before the HTTP answer has been read.
        if closed < returned {
            early += 1;
        }
        latencies_ms.push(closed.saturating_duration_since(returned).as_secs_f64() * 1e3);
    }
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "revoke answer -> socket closed (4001 revoked), {} revocations, {idle} idle sockets open: \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({early} closed before the answer was read, counted as 0)",
        latencies_ms.len(),
        pct(&latencies_ms, 0.50),
        pct(&latencies_ms, 0.99),
        latencies_ms.last().copied().unwrap_or(0.0),
    );
    // The idle sockets were not disturbed.
    // (They may have received pings meanwhile; only a close or an error
    // counts as closed.)
    let mut still_open = 0;
    for ws in idle_sockets.iter_mut() {
        let open = loop {
            match tokio::time::timeout(Duration::from_millis(1), ws.next()).await {
                Err(_) => break true,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(_) => break false,
            }
        };
        still_open += usize::from(open);
    }
    println!("idle sockets still open: {still_open}/{idle}");
}

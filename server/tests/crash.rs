//! Acknowledged means durable: messages the server acknowledged survive a
//! `kill -9` that comes before the recipient fetched them.

// Test code: a failed step is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alcove_crypto::{Content, Device, DeviceIdentity, Envelope, Processed};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::process::Child;

const BIN: &str = env!("CARGO_BIN_EXE_alcove");

/// The SMTP server process the reminder tests use (one source, shared
/// with the `alcove-tests` crate).
#[path = "../../tests/src/smtp.rs"]
#[allow(dead_code)]
mod smtp;

/// The stand-in SMS gateway the reminder tests use (shared likewise).
#[path = "../../tests/src/gateway.rs"]
#[allow(dead_code)]
mod gateway;

/// The one launcher of the binary (shared with the `alcove-tests` crate).
#[path = "../../tests/src/launch.rs"]
mod launch;

async fn start(dir: &Path) -> (Child, String, Option<String>) {
    start_with(dir, &[]).await
}

async fn start_with(dir: &Path, env: &[(&str, String)]) -> (Child, String, Option<String>) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let l = launch::launch(Path::new(BIN), dir, &env)
        .await
        .expect("alcove listens");
    (l.child, format!("http://{}", l.addr), l.link)
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let text = r.text().await.expect("text");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
}

fn b64(b: &[u8]) -> String {
    data_encoding::BASE64.encode(b)
}
fn unb64(v: &Value) -> Vec<u8> {
    data_encoding::BASE64
        .decode(v.as_str().expect("b64").as_bytes())
        .expect("b64")
}
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}
fn totp(secret: &Value) -> String {
    let s = data_encoding::BASE32_NOPAD
        .decode(secret.as_str().expect("secret").as_bytes())
        .expect("b32");
    format!(
        "{:06}",
        alcove_server::auth::totp::code_at_step(&s, now() as i64 / 30)
    )
}

/// Registers through an invite link with a bearer session (staff enrol TOTP).
async fn register(base: &str, link: &str, login: &str) -> (Api, Device) {
    let token = link.rsplit('#').next().expect("token");
    let mut api = Api {
        http: reqwest::Client::new(),
        base: base.to_string(),
        token: None,
    };
    let (status, body) = api
        .post(
            "/api/v1/invites/accept",
            json!({"token": token, "login": login, "display_name": login,
            "password": "a long test passphrase", "device_name": "d", "transport": "bearer"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let signed = if body["status"] == "mfa_enrollment_required" {
        let (status, signed) = api
            .post("/api/v1/auth/mfa/enroll", json!({"enrollment_token": body["enrollment_token"],
                "totp_code": totp(&body["totp_secret"]), "device_name": "d", "transport": "bearer"}))
            .await;
        assert_eq!(status, 200, "{signed}");
        signed
    } else {
        body
    };
    api.token = signed["token"].as_str().map(str::to_string);
    let (_, me) = api.get("/api/v1/me").await;
    let identity = DeviceIdentity::new(
        me["practice_id"].as_str().expect("p"),
        me["user_id"].as_str().expect("u"),
        me["device_id"].as_str().expect("d"),
    )
    .expect("identity");
    let mut device = Device::new(identity).expect("device");
    let kps = device.key_packages(3, now()).expect("kps");
    let (status, _) = api
        .post(
            "/api/v1/key-packages",
            json!({"key_packages": kps.iter().map(|k| b64(k)).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(status, 200);
    (api, device)
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9_before_delivery() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, addr, link) = start(dir.path()).await;
    let (admin, _) = register(&addr, &link.expect("setup link"), "admin@x.example").await;
    let (_, inv) = admin
        .post("/api/v1/invites", json!({"role": "clinician"}))
        .await;
    let (clinician, mut c) =
        register(&addr, inv["link"].as_str().expect("link"), "dr@x.example").await;
    let (_, inv) = clinician
        .post("/api/v1/invites", json!({"role": "client"}))
        .await;
    let (client, mut k) =
        register(&addr, inv["link"].as_str().expect("link"), "sam@x.example").await;
    let (_, me) = client.get("/api/v1/me").await;

    let (status, conv) = clinician
        .post(
            "/api/v1/conversations",
            json!({"with_user_id": me["user_id"]}),
        )
        .await;
    assert_eq!(status, 201, "{conv}");
    let id = conv["id"].as_str().expect("id").to_string();
    c.create_group(id.as_bytes(), &unb64(&conv["external_sender"]))
        .expect("group");
    let gi = c.group_info(id.as_bytes()).expect("group info");
    let (status, body) = clinician
        .post(
            &format!("/api/v1/conversations/{id}/group-info"),
            json!({"group_info": b64(&gi)}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, claimed) = clinician
        .post(
            &format!("/api/v1/conversations/{id}/key-packages/claim"),
            json!({}),
        )
        .await;
    let kp = unb64(&claimed["key_packages"][0]["key_package"]);
    let out = c.add_devices(id.as_bytes(), &[kp]).expect("add");
    let (status, body) = clinician
        .post(
            &format!("/api/v1/conversations/{id}/commits"),
            json!({"commit": b64(&out.commit),
            "welcome": b64(out.welcome.as_ref().expect("welcome")),
            "group_info": b64(out.group_info.as_ref().expect("group info"))}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    c.merge_pending_commit(id.as_bytes()).expect("merge");

    let mut sent = Vec::new();
    for i in 0..20u8 {
        let env = Envelope {
            client_message_id: [i; 16],
            sent_at_ms: 1,
            content: Content::Text(format!("note {i}")),
        };
        let ct = c
            .encrypt(id.as_bytes(), &env.encode().expect("encode"))
            .expect("encrypt");
        let (status, body) = clinician
            .post(
                &format!("/api/v1/conversations/{id}/messages"),
                json!({"client_msg_id": b64(&[i; 16]), "data": b64(&ct)}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        sent.push(format!("note {i}"));
    }
    // Acknowledged, not yet delivered: crash.
    server.kill().await.expect("SIGKILL");

    let (_server, addr, _) = start(dir.path()).await;
    let client = Api {
        base: addr,
        ..client
    };
    let (_, welcomes) = client.get("/api/v1/welcomes").await;
    k.join_from_welcome(&unb64(&welcomes[0]["data"]))
        .expect("join");
    let (status, page) = client
        .get(&format!("/api/v1/conversations/{id}/messages?after=0"))
        .await;
    assert_eq!(status, 200, "{page}");
    let mut got = Vec::new();
    for e in page["entries"].as_array().expect("entries") {
        if let Processed::Application { plaintext, .. } =
            k.process(&unb64(&e["data"])).expect("process")
        {
            if let Content::Text(t) = Envelope::decode(&plaintext).expect("envelope").content {
                got.push(t);
            }
        }
    }
    assert_eq!(
        got, sent,
        "all 20 acknowledged messages, in order, after kill -9"
    );
}

/// Reminders dispatched while the server is killed: none lost, duplicated
/// at most the ones in flight, each duplicate with the same `Message-ID`
/// (docs/reminders.md says what survives at each point).
#[tokio::test]
async fn reminders_survive_kill_9_during_dispatch() {
    const APPOINTMENTS: usize = 150;
    const BATCH: usize = 20;
    // A relay that takes 40 ms a message: the kill lands with sends in
    // flight.
    let sink = smtp::SmtpSink::start_slow(40);
    let texts = gateway::Gateway::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let clock = dir.path().join("clock");
    std::fs::write(&clock, "0").expect("clock file");
    let env: Vec<(&str, String)> = vec![
        ("ALCOVE_TESTING__CLOCK_FILE", clock.display().to_string()),
        ("ALCOVE_REMINDERS__DISPATCH_INTERVAL_MS", "10".into()),
        ("ALCOVE_REMINDERS__BATCH_SIZE", BATCH.to_string()),
        ("ALCOVE_REMINDERS__LEASE_SECS", "5".into()),
        ("ALCOVE_REMINDERS__GRACE_SECS", "86400".into()),
        ("ALCOVE_REMINDERS__EMAIL__HOST", "127.0.0.1".into()),
        ("ALCOVE_REMINDERS__EMAIL__PORT", sink.port.to_string()),
        ("ALCOVE_REMINDERS__EMAIL__TLS", "none".into()),
        (
            "ALCOVE_REMINDERS__EMAIL__FROM",
            "reminders@x.example".into(),
        ),
        ("ALCOVE_REMINDERS__SMS__BASE_URL", texts.base.clone()),
        ("ALCOVE_REMINDERS__SMS__ACCOUNT_SID", "AC123".into()),
        ("ALCOVE_REMINDERS__SMS__AUTH_TOKEN", "gateway-token".into()),
        ("ALCOVE_REMINDERS__SMS__FROM", "+15555550000".into()),
    ];
    let (mut server, addr, link) = start_with(dir.path(), &env).await;
    let (admin, _) = register(&addr, &link.expect("setup link"), "admin@x.example").await;
    let (_, inv) = admin
        .post("/api/v1/invites", json!({"role": "clinician"}))
        .await;
    let (clinician, _) = register(&addr, inv["link"].as_str().expect("link"), "dr@x.example").await;
    let (_, inv) = clinician
        .post("/api/v1/invites", json!({"role": "client"}))
        .await;
    let (client, _) = register(&addr, inv["link"].as_str().expect("link"), "sam@x.example").await;
    let (_, me) = client.get("/api/v1/me").await;
    let client_id = me["user_id"].as_str().expect("id").to_string();
    let (status, body) = client
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/reminders/preferences/{client_id}"),
            Some(
                json!({"email_enabled": true, "sms_enabled": true, "email": "sam@home.example",
                        "phone": "+15555550123", "sender": "neutral", "leads_minutes": [120],
                        "language": "en", "opted_out": false}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Every appointment at one minute, three days ahead (UTC), each with
    // one reminder 2 h before.
    let start = now() as i64 + 3 * 86_400;
    let start = start - start % 60;
    let local = chrono::DateTime::from_timestamp(start, 0)
        .expect("time")
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    for _ in 0..APPOINTMENTS {
        let (status, body) = clinician
            .post(
                "/api/v1/appointments",
                json!({"client_id": client_id, "time_zone": "UTC", "start_local": local,
                       "duration_minutes": 50, "modality": "in_person"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // Time moves to just after they fell due: the dispatcher starts.
    let due = start - 7_200;
    std::fs::write(&clock, (due + 30 - now() as i64).to_string()).expect("clock");
    let first = sink.wait_for(30, Duration::from_secs(60)).await;
    assert!(first.len() >= 30, "dispatch started: {}", first.len());
    server.kill().await.expect("kill -9");
    let at_kill = sink.messages().len();
    assert!(
        at_kill < APPOINTMENTS,
        "killed mid-dispatch ({at_kill} already out)"
    );

    // Restarted, with time past the dead node's leases.
    std::fs::write(&clock, (due + 60 - now() as i64).to_string()).expect("clock");
    let (mut server, _, _) = start_with(dir.path(), &env).await;
    let db = dir.path().join("alcove.db");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let sent = loop {
        let sent = reminders_sent(&db).await;
        if sent == APPOINTMENTS as i64 || tokio::time::Instant::now() >= deadline {
            break sent;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sent, APPOINTMENTS as i64, "every reminder recorded as sent");
    server.kill().await.expect("stop");

    // Counted at the SMTP server: every reminder arrived; extra copies are
    // at most one batch (the ones in flight), and share the Message-ID.
    let mut per_id: std::collections::HashMap<String, usize> = Default::default();
    for m in sink.messages() {
        let id = m
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .expect("a Message-ID")
            .trim()
            .to_string();
        *per_id.entry(id).or_default() += 1;
    }
    assert_eq!(per_id.len(), APPOINTMENTS, "none lost");
    let duplicates: usize = per_id.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= BATCH,
        "{duplicates} duplicates, more than one batch in flight"
    );
    // Counted at the gateway too: the texts carry no id, so by number —
    // one per reminder, and at most one batch more (in flight at the kill).
    let posted = texts.posted();
    assert!(
        posted.len() >= APPOINTMENTS,
        "none lost: {} texts",
        posted.len()
    );
    assert!(
        posted.len() <= APPOINTMENTS + BATCH,
        "{} texts, more than one batch in flight duplicated",
        posted.len()
    );
    assert!(posted.iter().all(|p| p.form["To"] == "+15555550123"));
    println!(
        "kill -9 during dispatch: {at_kill} emails out before the kill, {duplicates} duplicated, 0 lost; {} texts for {APPOINTMENTS}",
        posted.len()
    );
}

async fn reminders_sent(db: &Path) -> i64 {
    use sqlx::Connection;
    let Ok(mut c) =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await
    else {
        return 0;
    };
    sqlx::query_scalar("SELECT COUNT(*) FROM reminders WHERE status = 'sent'")
        .fetch_one(&mut c)
        .await
        .unwrap_or(0)
}

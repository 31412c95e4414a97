//! Reminder dispatch rate (Reminders benchmark): N reminders falling due
//! within one minute, sent by SMS to a local stand-in gateway, on SQLite.
//!
//! `cargo run --release -p alcove-tests --example reminder_dispatch -- [N]`
//! (default 10000). The server runs in process (`TestApp`, the binary's own
//! start-up path) over a fresh SQLite file with its default dispatch
//! settings; the rows are written straight into the database (the set-up,
//! not what is measured), spread over one client's preferences (SMS only).
//! The clock then jumps to one minute past the first due time and the run
//! ends when every reminder is recorded sent. Reports the rate (target
//! ≥ 2,000/s), the gateway's count, and lateness (send time − due time,
//! in the server's clock, which jumped: so lateness here is queueing delay).

use alcove_server::clock::Clock;
use alcove_server::config::SmsSettings;
use alcove_tests::gateway::Gateway;
use alcove_tests::{rss_kib, Backend, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let gateway = Gateway::start().await;
    let base = gateway.base.clone();
    let app = TestApp::start_with(Backend::Sqlite, move |s| {
        s.reminders.sms = Some(SmsSettings {
            base_url: base,
            account_sid: "AC1".into(),
            auth_token: "t".to_string().into(),
            from: "+15555550000".into(),
        });
    })
    .await
    .expect("sqlite");
    let p = app.practice_with_people().await;
    let (status, body) = p
        .client
        .client
        .put(
            &format!("/api/v1/reminders/preferences/{}", p.client.user_id),
            &json!({"email_enabled": false, "sms_enabled": true, "phone": "+15555550123",
                    "sender": "neutral", "leads_minutes": [120], "language": "en", "opted_out": false}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let (_, me) = p.client.client.get("/api/v1/me").await;
    let practice = me["practice_id"].as_str().expect("practice").to_string();
    let client = p.client.user_id.clone();
    let clinician = p.clinician.user_id.clone();

    // One series with N occurrences (at one-minute spacing of their due
    // times over a minute: N per 60 s), written straight into the tables.
    let now = app.clock.now();
    let first_due = now + 86_400;
    let appointment = uuid::Uuid::new_v4().to_string();
    app.raw_sql(&[format!(
        "INSERT INTO appointments (id, practice_id, client_id, clinician_id, time_zone, start_local, duration_minutes,
           rrule, modality, created_by, created_at, updated_at)
         VALUES ('{appointment}', '{practice}', '{client}', '{clinician}', 'UTC', '2030-01-01T10:00', 50, NULL,
           'in_person', '{clinician}', {now}, {now})"
    )])
    .await;
    let setup = Instant::now();
    let mut statements = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut occ = Vec::new();
        let mut rem = Vec::new();
        for &i in chunk {
            let o = uuid::Uuid::new_v4();
            let due = first_due + (i as i64 * 60) / n as i64;
            occ.push(format!(
                "('{o}', '{appointment}', '{practice}', '{client}', {}, 'scheduled', {now})",
                due + 7_200
            ));
            rem.push(format!(
                "('{}', '{practice}', '{o}', '{client}', 120, {due}, 'pending', 0, {now})",
                uuid::Uuid::new_v4()
            ));
        }
        statements.push(format!(
            "INSERT INTO appointment_occurrences (id, appointment_id, practice_id, client_id, starts_at, status, updated_at) VALUES {}",
            occ.join(",")
        ));
        statements.push(format!(
            "INSERT INTO reminders (id, practice_id, occurrence_id, client_id, lead_minutes, due_at, status, attempts, updated_at) VALUES {}",
            rem.join(",")
        ));
    }
    app.raw_sql(&statements).await;
    println!(
        "set-up: {n} reminders written in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let rss_before = rss_kib(std::process::id());
    // All fall due: the clock jumps to a minute past the first due time.
    app.clock.advance(first_due + 60 - now);
    let started = Instant::now();
    let mut peak_rss = rss_before;
    let practice_id = practice.parse().expect("id");
    loop {
        peak_rss = peak_rss.max(rss_kib(std::process::id()));
        let posted = gateway.posted().len();
        if posted >= n || started.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Until recorded too.
    let rows = app
        .store
        .list_reminders(practice_id, None, 10)
        .await
        .expect("rows");
    let posted = gateway.posted().len();
    println!(
        "| reminders sent | {posted} of {n} in {elapsed:.2} s → {:.0}/s |",
        posted as f64 / elapsed
    );
    println!("| server RSS before / peak | {rss_before} / {peak_rss} KiB |");
    println!(
        "| newest rows | {:?} |",
        rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>()
    );
    app.stop().await;
}

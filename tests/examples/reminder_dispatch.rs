//! Reminder dispatch (Reminders benchmark), on SQLite, sent by SMS to a
//! local stand-in gateway (a real HTTP server in the same process).
//!
//! Burst: `cargo run --release -p alcove-tests --example reminder_dispatch -- [N]`
//! (default 10000): N reminders falling due within one minute. The clock
//! jumps to one minute past the first due time and the run ends when the
//! gateway has every message. Reports the rate (target ≥ 2,000/s).
//!
//! Steady: `… --example reminder_dispatch -- --steady RATE SECS [INTERVAL_MS]`:
//! RATE reminders fall due each second for SECS seconds while the server's
//! clock follows real time (a ticker moves the injected clock each whole
//! second, as the system clock would). Reports lateness — arrival at the
//! gateway minus the instant the reminder fell due — p50/p99/max (target
//! p99 ≤ 1 s at 200/s) and the resident size over the run. Arrivals are
//! matched to due times in order (the dispatcher claims by due time; sends
//! within one round may finish out of order, which moves a reminder by at
//! most a round's spread). INTERVAL_MS is `reminders.dispatch_interval_ms`
//! (default 250, the server's default: how long an idle dispatcher waits
//! before looking again).
//!
//! Overhead: `… --example reminder_dispatch -- --overhead RATE WINDOW_SECS ROUNDS [INTERVAL_MS]`:
//! messaging throughput (one clinician device sending to its client over
//! HTTP, one request at a time: encrypt, POST, next) measured in windows of
//! WINDOW_SECS, alternating a window in which RATE reminders fall due each
//! second (the dispatcher sending) with one in which none do (idle), ROUNDS
//! times each. Target: the busy windows within 5 % of the idle ones.
//!
//! The server runs in process (`TestApp`, the binary's own start-up path)
//! over a fresh SQLite file; the rows are written straight into the
//! database (the set-up, not what is measured), for one client's
//! preferences (SMS only).

use alcove_server::clock::Clock;
use alcove_server::config::SmsSettings;
use alcove_tests::gateway::Gateway;
use alcove_tests::{rss_kib, Backend, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
    };
    if args.first().is_some_and(|a| a == "--overhead") {
        return overhead(num(1, 200), num(2, 10), num(3, 3), num(4, 250)).await;
    }
    let steady = args.first().is_some_and(|a| a == "--steady");
    let (rate, secs, interval_ms) = (num(1, 200), num(2, 60), num(3, 250));
    let n: usize = if steady {
        (rate * secs) as usize
    } else {
        num(0, 10_000) as usize
    };
    let (app, gateway, _people, who) = start(interval_ms).await;
    // N due times: RATE a second (steady), or spread over a minute (burst).
    let now = app.clock.now();
    let first_due = now + 86_400;
    let dues: Vec<i64> = (0..n)
        .map(|i| {
            if steady {
                first_due + (i as u64 / rate) as i64
            } else {
                first_due + (i as i64 * 60) / n as i64
            }
        })
        .collect();
    let setup = Instant::now();
    write_due(&app, &who, &dues).await;
    println!(
        "set-up: {n} reminders written in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let rss_before = rss_kib(std::process::id());
    if steady {
        return steady_run(
            app,
            gateway,
            first_due,
            n,
            rate,
            secs,
            interval_ms,
            rss_before,
        )
        .await;
    }
    // All fall due: the clock jumps to a minute past the first due time.
    app.clock.advance(first_due + 60 - now);
    let started = Instant::now();
    let mut peak_rss = rss_before;
    let practice_id = who.practice.parse().expect("id");
    loop {
        peak_rss = peak_rss.max(rss_kib(std::process::id()));
        let posted = gateway.count();
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
    let posted = gateway.count();
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

/// The practice's ids the rows name.
struct Who {
    practice: String,
    client: String,
    clinician: String,
}

/// The server in process over a fresh SQLite file, texting a local
/// gateway; a client who allows texts only, two hours before.
async fn start(interval_ms: u64) -> (TestApp, Gateway, alcove_tests::PracticePeople, Who) {
    let gateway = Gateway::start().await;
    let base = gateway.base.clone();
    let app = TestApp::start_with(Backend::Sqlite, move |s| {
        s.reminders.dispatch_interval_ms = interval_ms;
        s.reminders.sms = Some(SmsSettings {
            base_url: base,
            account_sid: "AC1".into(),
            auth_token: "t".to_string().into(),
            from: "+15555550000".into(),
            ca_file: None,
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
    let who = Who {
        practice: me["practice_id"].as_str().expect("practice").to_string(),
        client: p.client.user_id.clone(),
        clinician: p.clinician.user_id.clone(),
    };
    (app, gateway, p, who)
}

/// One series with an occurrence two hours after each due time and its
/// pending reminder, written straight into the tables (set-up, not what is
/// measured).
async fn write_due(app: &TestApp, who: &Who, dues: &[i64]) {
    let Who {
        practice,
        client,
        clinician,
    } = who;
    let now = app.clock.now();
    let appointment = uuid::Uuid::new_v4().to_string();
    let mut statements = vec![format!(
        "INSERT INTO appointments (id, practice_id, client_id, clinician_id, time_zone, start_local, duration_minutes,
           rrule, modality, created_by, created_at, updated_at)
         VALUES ('{appointment}', '{practice}', '{client}', '{clinician}', 'UTC', '2030-01-01T10:00', 50, NULL,
           'in_person', '{clinician}', {now}, {now})"
    )];
    for chunk in dues.chunks(500) {
        let (mut occ, mut rem) = (Vec::new(), Vec::new());
        for due in chunk {
            let o = uuid::Uuid::new_v4();
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
}

/// Moves the injected clock with real time, a whole second at a time as
/// the system clock would, from `origin` at `t0`.
fn follow_real_time(app: &TestApp, origin: i64, t0: Instant) -> tokio::task::JoinHandle<()> {
    app.clock.advance(origin - app.clock.now());
    let clock = app.clock.clone();
    tokio::spawn(async move {
        loop {
            let target = origin + t0.elapsed().as_secs() as i64;
            let now = clock.now();
            if target > now {
                clock.advance(target - now);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

/// The clock follows real time from two seconds before the first due time;
/// the run ends when every reminder arrived (or after the run and a minute).
#[allow(clippy::too_many_arguments)]
async fn steady_run(
    app: TestApp,
    gateway: Gateway,
    first_due: i64,
    n: usize,
    rate: u64,
    secs: u64,
    interval_ms: u64,
    rss_before: u64,
) {
    let origin = first_due - 2;
    let t0 = Instant::now();
    let ticker = follow_real_time(&app, origin, t0);
    let mut rss = Vec::new();
    loop {
        rss.push(rss_kib(std::process::id()));
        let posted = gateway.count();
        if posted >= n || t0.elapsed() > Duration::from_secs(secs + 62) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ticker.abort();
    let mut arrivals: Vec<Instant> = gateway.posted().iter().map(|p| p.received).collect();
    arrivals.sort();
    // Reminder i fell due when the clock reached its second.
    let mut late_ms: Vec<f64> = arrivals
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let due = Duration::from_secs((first_due - origin) as u64 + i as u64 / rate);
            (at.duration_since(t0).as_secs_f64() - due.as_secs_f64()) * 1000.0
        })
        .collect();
    late_ms.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        late_ms
            .get(((late_ms.len() as f64 * q) as usize).min(late_ms.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let third = rss.len() / 3;
    println!(
        "| {rate}/s for {secs} s, dispatch_interval_ms {interval_ms} | {} of {n} arrived | lateness p50 / p99 / max = {:.0} / {:.0} / {:.0} ms | RSS start / after 1/3 / end / peak = {rss_before} / {} / {} / {} KiB |",
        arrivals.len(),
        pct(0.50),
        pct(0.99),
        late_ms.last().copied().unwrap_or(f64::NAN),
        rss.get(third).copied().unwrap_or(0),
        rss.last().copied().unwrap_or(0),
        rss.iter().copied().max().unwrap_or(0),
    );
    app.stop().await;
}

/// Messaging throughput in alternating windows, with and without the
/// dispatcher sending `rate` reminders a second.
async fn overhead(rate: u64, window: u64, rounds: u64, interval_ms: u64) {
    let (app, gateway, p, who) = start(interval_ms).await;
    let (conv, mut sender, _receiver) =
        alcove_tests::mls::two_device_conversation(&app, &p.clinician, &p.client).await;
    // Busy windows are the even ones: reminders due each of their seconds.
    // (Seconds ahead, not a day: the sender's session must not time out.)
    let first_due = app.clock.now() + 2;
    let mut dues = Vec::new();
    for w in (0..rounds * 2).step_by(2) {
        for sec in 0..window {
            dues.extend(std::iter::repeat_n(
                first_due + (w * window + sec) as i64,
                rate as usize,
            ));
        }
    }
    write_due(&app, &who, &dues).await;
    // The clock follows real time from the first window's start.
    let t0 = Instant::now();
    let ticker = follow_real_time(&app, first_due, t0);
    let total = Duration::from_secs(window * rounds * 2);
    let mut done = vec![0u64; (rounds * 2) as usize];
    let mut i = 0u64;
    while t0.elapsed() < total {
        let (status, body) = sender.send_text(&app, &conv, &format!("message {i}")).await;
        assert!(status.is_success(), "{status} {body}");
        let w = (t0.elapsed().as_secs() / window) as usize;
        if let Some(n) = done.get_mut(w) {
            *n += 1;
        }
        i += 1;
    }
    ticker.abort();
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
        "| dispatcher {rate}/s vs idle, {rounds} × {window} s windows each, dispatch_interval_ms {interval_ms} | busy {:?} msg/s (mean {:.0}) | idle {:?} msg/s (mean {:.0}) | busy/idle {:.3} | reminders sent {} of {} |",
        busy.iter().map(|x| x.round()).collect::<Vec<_>>(),
        mean(&busy),
        idle.iter().map(|x| x.round()).collect::<Vec<_>>(),
        mean(&idle),
        mean(&busy) / mean(&idle),
        gateway.count(),
        dues.len(),
    );
    app.stop().await;
}

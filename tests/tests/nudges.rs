//! "You have a new secure message", told as a client lives it: a message
//! from their clinician waits unread while none of their devices is
//! connected, and after the practice's delay one PHI-free text reaches
//! their phone — never while they are online or have read it, never twice
//! within the cooldown, never through a channel they did not allow. The
//! SMS goes to a local stand-in for the gateway, the email to a real SMTP
//! server process; the server's clock is moved by the test; both backends.
//!
//! Absences are observed against a sentinel: a second client whose message
//! was sent later, so the job (which takes conversations oldest hint first)
//! has looked at the first conversation by the time the sentinel's nudge
//! arrives.

use alcove_tests::gateway::{Gateway, Posted};
use alcove_tests::mls::{two_device_conversation, MlsClient};
use alcove_tests::smtp::SmtpSink;
use alcove_tests::{on_both_backends, Backend, PracticePeople, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);
const SAM: &str = "+15555550123";
const ALEX: &str = "+15555550177";

struct World {
    app: TestApp,
    smtp: SmtpSink,
    sms: Gateway,
    p: PracticePeople,
}

async fn world(b: Backend) -> Option<World> {
    let smtp = SmtpSink::start();
    let sms = Gateway::start().await;
    let (port, base) = (smtp.port, sms.base.clone());
    let app = TestApp::start_with(b, move |s| {
        s.reminders.dispatch_interval_ms = 20;
        // The story spans hours of the server's clock; the people in it
        // stay signed in.
        s.auth.staff_idle_timeout_secs = 86_400;
        s.auth.client_idle_timeout_secs = 86_400;
        alcove_tests::gateway::configure_channels(s, port, base);
    })
    .await?;
    let p = app.practice_with_people().await;
    Some(World { app, smtp, sms, p })
}

fn prefs(phone: &str) -> Value {
    json!({"email_enabled": true, "sms_enabled": true,
           "email": "private@example.org", "phone": phone,
           "sender": "neutral", "leads_minutes": [1440], "language": "en", "opted_out": false})
}

impl World {
    async fn set_prefs(&self, client: &alcove_tests::Person, body: Value) {
        let path = format!("/api/v1/reminders/preferences/{}", client.user_id);
        let (status, view) = client.client.put(&path, &body).await;
        assert_eq!(status, StatusCode::OK, "{view}");
    }

    /// A second client of the clinician, with SMS allowed to `ALEX`, in a
    /// conversation of their own; returns the clinician's device in it.
    async fn sentinel(&self) -> (String, MlsClient) {
        let link = self.app.invite(&self.p.clinician, "client").await;
        let alex = self.app.register_client(&link, "alex@p.example").await;
        self.set_prefs(&alex, prefs(ALEX)).await;
        let (conv, office, _phone) =
            two_device_conversation(&self.app, &self.p.clinician, &alex).await;
        (conv, office)
    }

    fn advance_minutes(&self, minutes: i64) {
        self.app.clock.advance(minutes * 60);
    }

    /// Texts that reached the gateway for `to`.
    fn texts_to(&self, to: &str) -> Vec<Posted> {
        self.sms
            .posted()
            .into_iter()
            .filter(|p| p.form.get("To").map(String::as_str) == Some(to))
            .collect()
    }

    /// Waits until `n` texts reached `to`.
    async fn until_texts_to(&self, to: &str, n: usize) -> Vec<Posted> {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let got = self.texts_to(to);
            if got.len() >= n || tokio::time::Instant::now() >= end {
                assert_eq!(got.len(), n, "texts to {to}: {:?}", self.sms.posted());
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the clinician's list holds `n` records of `conv`
    /// (written when the job's round ends, after all of its sends).
    async fn until_records(&self, conv: &str, n: usize) -> Vec<Value> {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let of: Vec<Value> = self
                .nudges_seen_by_clinician()
                .await
                .into_iter()
                .filter(|r| r["conversation_id"] == conv)
                .collect();
            if of.len() >= n || tokio::time::Instant::now() >= end {
                assert_eq!(of.len(), n, "records of {conv}: {of:?}");
                return of;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn nudges_seen_by_clinician(&self) -> Vec<Value> {
        let (status, list) = self
            .p
            .clinician
            .client
            .get("/api/v1/reminders/nudges")
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array().expect("array").clone()
    }
}

on_both_backends!(
    an_unread_message_to_an_offline_client_brings_one_phi_free_text,
    a_client_online_or_who_has_read_it_is_not_nudged,
    a_nudge_the_preferences_forbid_is_withheld_with_its_reason,
    nudge_timing_is_the_practices_and_only_an_admin_sets_it,
);

async fn an_unread_message_to_an_offline_client_brings_one_phi_free_text(b: Backend) {
    let Some(w) = world(b).await else { return };
    w.set_prefs(&w.p.client, prefs(SAM)).await;
    let (conv, mut office, _phone) =
        two_device_conversation(&w.app, &w.p.clinician, &w.p.client).await;
    let (status, body) = office
        .send_text(&w.app, &conv, "Sam, about what you said on Tuesday")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // After the practice's delay (15 minutes by default): one text.
    w.advance_minutes(16);
    let got = w.until_texts_to(SAM, 1).await;
    let records = w.until_records(&conv, 1).await;
    assert_eq!(records[0]["status"], "sent", "{records:?}");
    assert_eq!(records[0]["channel"], "sms", "{records:?}");
    // SMS first, one channel only: nothing by email.
    assert!(w.smtp.messages().is_empty(), "{:?}", w.smtp.messages());
    let body = &got[0].form["Body"];
    assert!(body.contains("you have a new secure message"), "{body}");
    for leak in [
        "Tuesday",
        "Sam",
        "dr@p.example",
        "sam@p.example",
        conv.as_str(),
    ] {
        assert!(!body.contains(leak), "{leak} in {body}");
    }
    assert!(
        body.contains(&w.app.base),
        "the app's address, no identifier: {body}"
    );

    // A second unread message within the cooldown (3 hours) brings none.
    let (status, _) = office.send_text(&w.app, &conv, "and one more thing").await;
    assert_eq!(status, StatusCode::OK);
    let (sentinel_conv, mut sentinel_office) = w.sentinel().await;
    let (status, _) = sentinel_office
        .send_text(&w.app, &sentinel_conv, "hello")
        .await;
    assert_eq!(status, StatusCode::OK);
    w.advance_minutes(16);
    w.until_records(&sentinel_conv, 1).await;
    assert_eq!(w.texts_to(SAM).len(), 1, "within the cooldown");
    assert_eq!(w.until_records(&conv, 1).await.len(), 1);

    // After it, one more for the message still unread.
    w.advance_minutes(180);
    w.until_texts_to(SAM, 2).await;
    w.app.stop().await;
}

async fn a_client_online_or_who_has_read_it_is_not_nudged(b: Backend) {
    let Some(w) = world(b).await else { return };
    w.set_prefs(&w.p.client, prefs(SAM)).await;
    let (conv, mut office, mut phone) =
        two_device_conversation(&w.app, &w.p.clinician, &w.p.client).await;
    let (sentinel_conv, mut sentinel_office) = w.sentinel().await;

    // Online: the phone's socket is open (it has not acknowledged yet).
    phone.connect(&w.app).await;
    let (status, _) = office.send_text(&w.app, &conv, "are you there?").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = sentinel_office
        .send_text(&w.app, &sentinel_conv, "hi")
        .await;
    assert_eq!(status, StatusCode::OK);
    w.advance_minutes(16);
    w.until_records(&sentinel_conv, 1).await;
    assert!(w.texts_to(SAM).is_empty(), "online, not nudged");

    // Read: the phone acknowledges it and goes away; nothing awaits Sam.
    assert_eq!(phone.receive_texts(&conv, 1).await, vec!["are you there?"]);
    phone.sync_http(&conv).await;
    drop(phone.ws.take());
    w.advance_minutes(200);
    let (status, _) = sentinel_office
        .send_text(&w.app, &sentinel_conv, "hi again")
        .await;
    assert_eq!(status, StatusCode::OK);
    w.advance_minutes(16);
    w.until_records(&sentinel_conv, 2).await;
    assert!(w.texts_to(SAM).is_empty(), "read, not nudged");
    assert!(w.until_records(&conv, 0).await.is_empty());
    w.app.stop().await;
}

async fn a_nudge_the_preferences_forbid_is_withheld_with_its_reason(b: Backend) {
    let Some(w) = world(b).await else { return };
    let mut opted_out = prefs(SAM);
    opted_out["opted_out"] = json!(true);
    w.set_prefs(&w.p.client, opted_out).await;
    let (conv, mut office, _phone) =
        two_device_conversation(&w.app, &w.p.clinician, &w.p.client).await;
    let (status, _) = office.send_text(&w.app, &conv, "see you soon").await;
    assert_eq!(status, StatusCode::OK);
    w.advance_minutes(16);

    let end = tokio::time::Instant::now() + DEADLINE;
    let record = loop {
        let list = w.nudges_seen_by_clinician().await;
        if let Some(n) = list
            .into_iter()
            .find(|n| n["conversation_id"] == conv.as_str())
        {
            break n;
        }
        assert!(tokio::time::Instant::now() < end, "no nudge record");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(record["status"], "withheld", "{record}");
    assert_eq!(record["reason"], "opted_out", "{record}");
    assert!(w.sms.posted().is_empty() && w.smtp.messages().is_empty());
    // Never the text or where it would have gone.
    let raw = record.to_string();
    assert!(
        !raw.contains(SAM) && !raw.contains("private@example.org"),
        "{raw}"
    );

    // A client does not read the practice's nudge list.
    let (status, body) = w.p.client.client.get("/api/v1/reminders/nudges").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden", "{body}");
    w.app.stop().await;
}

async fn nudge_timing_is_the_practices_and_only_an_admin_sets_it(b: Backend) {
    let Some(w) = world(b).await else { return };
    let path = "/api/v1/reminders/nudges/settings";
    let (status, body) = w.p.clinician.client.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"after_minutes": 15, "cooldown_minutes": 180}));
    let (status, body) =
        w.p.clinician
            .client
            .put(path, &json!({"after_minutes": 5, "cooldown_minutes": 60}))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for bad in [
        json!({"after_minutes": 1, "cooldown_minutes": 60}),
        json!({"after_minutes": 5, "cooldown_minutes": 10}),
        json!({"after_minutes": 5}),
    ] {
        let (status, body) = w.p.admin.client.put(path, &bad).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, body) =
        w.p.admin
            .client
            .put(path, &json!({"after_minutes": 0, "cooldown_minutes": 60}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    w.app.stop().await;
}

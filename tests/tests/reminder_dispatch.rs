//! Reminders going out, told as a client receives them: through a real SMTP
//! server process on loopback and a local stand-in for the SMS gateway,
//! only through what the client's preferences allow, withheld with the
//! reason when they may not go, retried when the gateway is busy, dropped
//! when the server was down past the grace window — on both backends, with
//! the server's clock moved by the test.

use alcove_server::clock::Clock;
use alcove_server::ids::PracticeId;
use alcove_server::reminders::store::ReminderView;
use alcove_tests::gateway::Gateway;
use alcove_tests::smtp::SmtpSink;
use alcove_tests::{on_both_backends, Backend, PracticePeople, TestApp};
use chrono::{Duration as Days, TimeZone, Utc};
use chrono_tz::Tz;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

struct World {
    app: TestApp,
    smtp: SmtpSink,
    sms: Gateway,
    p: PracticePeople,
    practice: PracticeId,
}

async fn world(b: Backend) -> Option<World> {
    world_with(b, |_| {}).await
}

/// The world, with `tweak` applied to the settings last.
async fn world_with(
    b: Backend,
    tweak: impl FnOnce(&mut alcove_server::config::Settings),
) -> Option<World> {
    let smtp = SmtpSink::start();
    let sms = Gateway::start().await;
    let (port, base) = (smtp.port, sms.base.clone());
    let app = TestApp::start_with(b, move |s| {
        s.reminders.dispatch_interval_ms = 20;
        alcove_tests::gateway::configure_channels(s, port, base);
        tweak(s);
    })
    .await?;
    let p = app.practice_with_people().await;
    let (_, me) = p.client.client.get("/api/v1/me").await;
    let practice = me["practice_id"].as_str().unwrap().parse().unwrap();
    Some(World {
        app,
        smtp,
        sms,
        p,
        practice,
    })
}

impl World {
    async fn prefs(&self, body: Value) {
        let path = format!("/api/v1/reminders/preferences/{}", self.p.client.user_id);
        let (status, view) = self.p.client.client.put(&path, &body).await;
        assert_eq!(status, StatusCode::OK, "{view}");
    }

    /// An appointment three days ahead at 15:00 New York; its reminders.
    async fn appointment(&self) -> Vec<ReminderView> {
        let tz: Tz = "America/New_York".parse().unwrap();
        let now = Utc
            .timestamp_opt(self.app.clock.now(), 0)
            .unwrap()
            .with_timezone(&tz);
        let day = (now + Days::days(3)).date_naive();
        let start = day
            .and_hms_opt(15, 0, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M")
            .to_string();
        let (status, body) = self
            .p
            .clinician
            .client
            .post(
                "/api/v1/appointments",
                &json!({"client_id": self.p.client.user_id, "time_zone": "America/New_York",
                        "start_local": start, "duration_minutes": 50, "modality": "in_person"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut r = self.reminders().await;
        r.sort_by_key(|r| r.due_at);
        r
    }

    async fn reminders(&self) -> Vec<ReminderView> {
        self.app
            .store
            .list_reminders(self.practice, None, 100)
            .await
            .expect("reminders")
    }

    /// Moves the server's clock to `at` (UTC seconds).
    fn clock_to(&self, at: i64) {
        let now = self.app.clock.now();
        if at > now {
            self.app.clock.advance(at - now);
        }
    }

    /// The reminder once `done` holds for it (or at the deadline).
    async fn until(
        &self,
        id: alcove_server::ids::ReminderId,
        done: impl Fn(&ReminderView) -> bool,
    ) -> ReminderView {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let r = self
                .reminders()
                .await
                .into_iter()
                .find(|r| r.id == id)
                .expect("row");
            if done(&r) || tokio::time::Instant::now() >= end {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn until_status(&self, id: alcove_server::ids::ReminderId, status: &str) -> ReminderView {
        let r = self.until(id, |r| r.status == status).await;
        assert_eq!(r.status, status, "{r:?}");
        r
    }
}

/// Still pending, the text to be tried again after the gateway's 503.
fn assert_text_waits_for_retry(row: &ReminderView) {
    assert_eq!(row.status, "pending", "{row:?}");
    let reason = row.reason.as_deref().unwrap_or("");
    assert!(reason.starts_with("retrying: sms: transient"), "{row:?}");
}

fn both_channels() -> Value {
    json!({"email_enabled": true, "sms_enabled": true,
           "email": "sam.private@example.org", "phone": "+15555550123",
           "sender": "neutral", "leads_minutes": [2880, 120], "language": "en", "opted_out": false})
}

on_both_backends!(
    a_due_reminder_goes_out_by_email_and_sms_as_the_preferences_allow,
    with_only_email_allowed_no_sms_reaches_the_gateway,
    a_reminder_no_channel_allows_is_withheld_with_its_reason,
    a_template_refused_at_send_time_withholds_the_reminder,
    a_busy_gateway_is_tried_again_later,
    when_the_gateway_is_busy_only_the_text_is_tried_again_not_the_email,
    texts_go_to_an_https_gateway_whose_certificate_is_trusted_and_never_to_one_that_is_not,
    after_downtime_past_the_grace_window_a_reminder_is_dropped_not_sent,
);

async fn a_due_reminder_goes_out_by_email_and_sms_as_the_preferences_allow(b: Backend) {
    let Some(w) = world(b).await else { return };
    w.prefs(both_channels()).await;
    let reminders = w.appointment().await;
    assert_eq!(reminders.len(), 2);
    let first = &reminders[0];
    assert!(w.smtp.messages().is_empty(), "nothing before it is due");
    w.clock_to(first.due_at);

    let mail = w.smtp.wait_for(1, DEADLINE).await;
    assert_eq!(mail.len(), 1);
    let sms = w.sms.wait_for(1, DEADLINE).await;
    assert_eq!(sms.len(), 1);
    let sent = w.until_status(first.id, "sent").await;
    assert_eq!(sent.channel.as_deref(), Some("email,sms"));

    // The email: the reminder's own Message-ID, the appointment and its
    // time, and nothing about the care or the people.
    let m = &mail[0];
    assert!(
        m.contains(&format!(
            "Message-ID: <{}.email@practice.example>",
            first.id
        )),
        "{m}"
    );
    assert!(m.contains("To: sam.private@example.org"), "{m}");
    assert!(m.contains("Subject: Appointment on "), "{m}");
    assert!(m.contains("at 3:00 PM"), "{m}");
    for secret in ["dr@p.example", "sam@p.example"] {
        assert!(!m.contains(secret), "{secret} in {m}");
    }
    // The SMS: to the number on file, basic auth, the linted text.
    let s = &sms[0];
    assert_eq!(s.account, "AC123");
    assert_eq!(s.form["To"], "+15555550123");
    assert_eq!(s.form["From"], "+15555550000");
    assert!(
        s.form["Body"].starts_with("Appointment reminder: you have an appointment on "),
        "{:?}",
        s.form
    );
    assert!(s.form["Body"].contains("at 3:00 PM. Reply C to confirm or X to cancel."));
    let expected = format!(
        "Basic {}",
        data_encoding::BASE64.encode(b"AC123:gateway-token")
    );
    assert_eq!(s.authorization, expected);
    assert!(sent.reason.is_none(), "{sent:?}");
    // The second reminder is still waiting for its time.
    assert_eq!(
        w.reminders()
            .await
            .iter()
            .filter(|r| r.status == "pending")
            .count(),
        1
    );
    w.app.stop().await;
}

async fn with_only_email_allowed_no_sms_reaches_the_gateway(b: Backend) {
    let Some(w) = world(b).await else { return };
    let mut prefs = both_channels();
    prefs["sms_enabled"] = json!(false);
    w.prefs(prefs).await;
    let reminders = w.appointment().await;
    w.clock_to(reminders[0].due_at);
    let sent = w.until_status(reminders[0].id, "sent").await;
    assert_eq!(sent.channel.as_deref(), Some("email"));
    assert_eq!(w.smtp.messages().len(), 1);
    assert!(
        w.sms.posted().is_empty(),
        "the number is on file, but SMS is not allowed"
    );
    w.app.stop().await;
}

async fn a_reminder_no_channel_allows_is_withheld_with_its_reason(b: Backend) {
    let Some(w) = world(b).await else { return };
    // No channel allowed: withheld, and never sent another way.
    let reminders = w.appointment().await;
    w.clock_to(reminders[0].due_at);
    let withheld = w.until_status(reminders[0].id, "withheld").await;
    assert_eq!(withheld.reason.as_deref(), Some("no_allowed_channel"));
    assert!(w.smtp.messages().is_empty() && w.sms.posted().is_empty());
    w.app.stop().await;
}

async fn a_template_refused_at_send_time_withholds_the_reminder(b: Backend) {
    let Some(w) = world(b).await else { return };
    w.prefs(both_channels()).await;
    let texts = json!({"sms": "{sender}: {weekday} at {time}.", "email_subject": "On {date}",
                       "email_body": "See you {weekday} at {time}."});
    let (status, body) =
        w.p.admin
            .client
            .put("/api/v1/reminders/templates/reminder/en", &texts)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reminders = w.appointment().await;
    // Valid when saved, not at send time (as when a word list grew since).
    w.app
        .raw_sql(&[
            "UPDATE reminder_templates SET sms = '{sender}: your therapy is {weekday} at {time}.'"
                .to_string(),
        ])
        .await;
    w.clock_to(reminders[0].due_at);
    let withheld = w.until_status(reminders[0].id, "withheld").await;
    let reason = withheld.reason.unwrap_or_default();
    assert!(
        reason.starts_with("refused_by_linter: “therapy”"),
        "{reason}"
    );
    assert!(w.smtp.messages().is_empty() && w.sms.posted().is_empty());
    w.app.stop().await;
}

async fn a_busy_gateway_is_tried_again_later(b: Backend) {
    let Some(w) = world(b).await else { return };
    let mut prefs = both_channels();
    prefs["email_enabled"] = json!(false);
    w.prefs(prefs).await;
    let reminders = w.appointment().await;
    w.sms.fail_next(1);
    w.clock_to(reminders[0].due_at);
    // The 503 leaves it pending with its reason, not before 30 s from now.
    let row = w
        .until(reminders[0].id, |r| r.attempts >= 1 && r.reason.is_some())
        .await;
    assert_text_waits_for_retry(&row);
    assert!(w.sms.posted().is_empty());
    w.clock_to(w.app.clock.now() + 31);
    let sent = w.until_status(reminders[0].id, "sent").await;
    assert_eq!(sent.attempts, 2);
    assert_eq!(w.sms.posted().len(), 1, "sent once");
    w.app.stop().await;
}

async fn when_the_gateway_is_busy_only_the_text_is_tried_again_not_the_email(b: Backend) {
    let Some(w) = world(b).await else { return };
    w.prefs(both_channels()).await;
    let reminders = w.appointment().await;
    w.sms.fail_next(1);
    w.clock_to(reminders[0].due_at);
    // The email went; the text waits for its retry, and the row says so.
    let mail = w.smtp.wait_for(1, DEADLINE).await;
    assert_eq!(mail.len(), 1);
    let row = w.until(reminders[0].id, |r| r.reason.is_some()).await;
    assert_text_waits_for_retry(&row);
    assert_eq!(row.channel.as_deref(), Some("email"), "{row:?}");
    w.clock_to(w.app.clock.now() + 31);
    let sent = w.until_status(reminders[0].id, "sent").await;
    assert_eq!(sent.channel.as_deref(), Some("email,sms"), "{sent:?}");
    assert_eq!(sent.reason, None, "{sent:?}");
    assert_eq!(w.sms.posted().len(), 1, "the text went once");
    assert_eq!(w.smtp.messages().len(), 1, "the email was not sent again");
    // One `reminder.sent`, once it is done. (The staff sessions timed out
    // while the clock moved: read the log from the store.)
    let rows = w
        .app
        .store
        .audit_store()
        .audit_rows(&w.practice.to_string(), 0, 10_000)
        .await
        .expect("audit rows");
    let sent_events = rows
        .iter()
        .filter(|r| r.entry.action == "reminder.sent")
        .count();
    assert_eq!(sent_events, 1);
    w.app.stop().await;
}

async fn texts_go_to_an_https_gateway_whose_certificate_is_trusted_and_never_to_one_that_is_not(
    b: Backend,
) {
    let tls = alcove_tests::gateway::TlsGateway::start();
    for trusted in [false, true] {
        let (base, ca) = (tls.base.clone(), tls.ca_file.clone());
        let Some(w) = world_with(b, move |s| {
            if let Some(sms) = s.reminders.sms.as_mut() {
                sms.base_url = base;
                sms.ca_file = trusted.then_some(ca);
            }
        })
        .await
        else {
            return;
        };
        let mut prefs = both_channels();
        prefs["email_enabled"] = json!(false);
        w.prefs(prefs).await;
        let reminders = w.appointment().await;
        let before = tls.posted().len();
        w.clock_to(reminders[0].due_at);
        if trusted {
            w.until_status(reminders[0].id, "sent").await;
            let posted = tls.posted();
            assert_eq!(posted.len(), before + 1);
            assert_eq!(posted[before]["To"], "+15555550123");
        } else {
            // A certificate the server does not trust is a gateway it
            // cannot reach: nothing is posted, the text waits for a retry.
            let row = w.until(reminders[0].id, |r| r.reason.is_some()).await;
            assert_eq!(row.status, "pending", "{row:?}");
            assert_eq!(
                row.reason.as_deref(),
                Some("retrying: sms: transient: the gateway could not be reached"),
                "{row:?}"
            );
            assert_eq!(
                tls.posted().len(),
                before,
                "nothing reached the untrusted gateway"
            );
        }
        w.app.stop().await;
    }
}

async fn after_downtime_past_the_grace_window_a_reminder_is_dropped_not_sent(b: Backend) {
    let Some(w) = world(b).await else { return };
    w.prefs(both_channels()).await;
    let reminders = w.appointment().await;
    // As if the server had been down for the grace window and a minute.
    w.clock_to(reminders[0].due_at + 1800 + 60);
    let dropped = w.until_status(reminders[0].id, "dropped").await;
    assert_eq!(dropped.reason.as_deref(), Some("late"));
    assert!(w.smtp.messages().is_empty() && w.sms.posted().is_empty());
    w.app.stop().await;
}

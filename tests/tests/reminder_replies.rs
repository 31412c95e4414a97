//! Replies to reminder texts, as the gateway delivers them: signed as
//! Twilio signs them (checked against Twilio's own `RequestValidator`),
//! C confirms and X cancels the sender's next appointment, STOP records the
//! opt-out, and an unsigned or mis-signed request changes nothing — on both
//! backends.

use alcove_server::config::SmsSettings;
use alcove_tests::smtp::twilio_signature;
use alcove_tests::{on_both_backends, Backend, PracticePeople, TestApp};
use reqwest::StatusCode;
use serde_json::json;

const TOKEN: &str = "gateway-token";
const NUMBER: &str = "+15555550123";

async fn world(b: Backend) -> Option<(TestApp, PracticePeople)> {
    let app = TestApp::start_with(b, |s| {
        s.reminders.sms = Some(SmsSettings {
            base_url: "http://127.0.0.1:9".into(),
            account_sid: "AC123".into(),
            auth_token: TOKEN.to_string().into(),
            from: "+15555550000".into(),
            ca_file: None,
        });
    })
    .await?;
    let p = app.practice_with_people().await;
    let path = format!("/api/v1/reminders/preferences/{}", p.client.user_id);
    let (status, body) = p
        .client
        .client
        .put(
            &path,
            &json!({"email_enabled": false, "sms_enabled": true, "phone": NUMBER, "sender": "neutral",
                    "leads_minutes": [120], "language": "en", "opted_out": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = p
        .clinician
        .client
        .post(
            "/api/v1/appointments",
            &json!({"client_id": p.client.user_id, "time_zone": "America/New_York",
                    "start_local": "2027-06-01T10:00", "duration_minutes": 50,
                    "recurrence": {"every_weeks": 1, "count": 2}, "modality": "in_person"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Some((app, p))
}

/// Posts a reply as the gateway would, signed by Twilio's library (or
/// with the signature given).
async fn reply(
    app: &TestApp,
    from: &str,
    body: &str,
    signature: Option<&str>,
) -> (StatusCode, String) {
    let url = format!("{}/api/v1/reminders/sms/inbound", app.settings.public_url());
    let params = [
        ("AccountSid", "AC123"),
        ("MessageSid", "SM0123456789"),
        ("From", from),
        ("To", "+15555550000"),
        ("Body", body),
    ];
    let sig = match signature {
        Some(s) => s.to_string(),
        None => twilio_signature(TOKEN, &url, &params),
    };
    let response = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", sig)
        .form(&params)
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.text().await.expect("body"))
}

async fn statuses(p: &PracticePeople) -> Vec<String> {
    let (_, list) = p.client.client.get("/api/v1/appointments").await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap().to_string())
        .collect()
}

on_both_backends!(
    replying_c_confirms_and_x_cancels_the_next_appointment,
    a_reply_not_signed_by_the_gateway_changes_nothing,
    stop_records_the_opt_out_in_the_preferences,
);

async fn replying_c_confirms_and_x_cancels_the_next_appointment(b: Backend) {
    let Some((app, p)) = world(b).await else {
        return;
    };
    let (status, twiml) = reply(&app, NUMBER, " c ", None).await;
    assert_eq!(status, StatusCode::OK, "{twiml}");
    assert!(
        twiml.contains("<Message>Thank you, your appointment is confirmed.</Message>"),
        "{twiml}"
    );
    assert_eq!(statuses(&p).await, ["confirmed", "scheduled"]);
    // X answers the next one still open: the confirmed one comes first.
    let (status, twiml) = reply(&app, NUMBER, "X", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.contains("cancelled"), "{twiml}");
    assert_eq!(statuses(&p).await, ["cancelled", "scheduled"]);
    // A sentence is not a keyword; an unknown number gets nothing.
    let (status, twiml) = reply(&app, NUMBER, "C but maybe late", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!twiml.contains("<Message>"), "{twiml}");
    let (_, twiml) = reply(&app, "+15555559999", "C", None).await;
    assert!(!twiml.contains("<Message>"), "{twiml}");
    assert_eq!(statuses(&p).await, ["cancelled", "scheduled"]);
    app.stop().await;
}

async fn a_reply_not_signed_by_the_gateway_changes_nothing(b: Backend) {
    let Some((app, p)) = world(b).await else {
        return;
    };
    let url = format!("{}/api/v1/reminders/sms/inbound", app.settings.public_url());
    let wrong_key = twilio_signature("not-the-token", &url, &[("From", NUMBER), ("Body", "C")]);
    for sig in ["", "AAAA", wrong_key.as_str()] {
        let (status, body) = reply(&app, NUMBER, "C", Some(sig)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let err: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(err["error"], "bad_signature");
    }
    // Signed for another body: the body was changed on the way.
    let good_for_x = twilio_signature(
        TOKEN,
        &url,
        &[
            ("AccountSid", "AC123"),
            ("MessageSid", "SM0123456789"),
            ("From", NUMBER),
            ("To", "+15555550000"),
            ("Body", "X"),
        ],
    );
    let (status, _) = reply(&app, NUMBER, "C", Some(&good_for_x)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(statuses(&p).await, ["scheduled", "scheduled"]);
    // Not a form: refused in the API's error format.
    let response = reqwest::Client::new()
        .post(&url)
        .json(&json!({"Body": "C"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.stop().await;
}

async fn stop_records_the_opt_out_in_the_preferences(b: Backend) {
    let Some((app, p)) = world(b).await else {
        return;
    };
    let (status, twiml) = reply(&app, NUMBER, "STOP", None).await;
    assert_eq!(status, StatusCode::OK, "{twiml}");
    assert!(twiml.contains("no more texts"), "{twiml}");
    let (_, prefs) = p
        .client
        .client
        .get(&format!(
            "/api/v1/reminders/preferences/{}",
            p.client.user_id
        ))
        .await;
    assert_eq!(prefs["opted_out"], true, "{prefs}");
    assert_eq!(prefs["phone_hint"], "•••0123");
    let (status, twiml) = reply(&app, NUMBER, "help", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.contains("Reply C to confirm"), "{twiml}");
    app.stop().await;
}

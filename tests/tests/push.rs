//! "A new secure message" while the tab is closed, told as a client lives
//! it: their browser subscribes their phone to Web Push; a message from
//! their clinician makes one push to the phone's push service — a push
//! service of our own on loopback, since no real one is reachable here —
//! which the browser's side opens with libraries we did not write
//! (`http_ece` decrypts it, `py_vapid` checks the server's signature), and
//! inside is nothing but `{"type":"message"}`. At most one per minute;
//! signing out ends them; a push service that says the subscription is
//! gone ends it; a lying browser's endpoint into the server's own network
//! is refused. Both backends.
//!
//! Absences are observed against a sentinel: a second device of the same
//! client, subscribed to its own push service, whose push shows the job
//! has looked at every device with news by then.

use alcove_server::clock::Clock;
use alcove_tests::mls::four_device_conversation;
use alcove_tests::push::{browser_keys, open, BrowserKeys, PushService};
use alcove_tests::{on_both_backends, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

on_both_backends!(
    a_client_away_from_the_app_is_told_of_a_new_message_and_nothing_more,
    a_subscription_the_push_service_says_is_gone_is_dropped,
    a_lying_browser_cannot_point_pushes_into_the_servers_network,
    notices_outlive_an_idle_sign_out_but_not_a_revoked_device,
    a_notice_in_the_clients_quiet_hours_waits_for_their_end,
    a_new_password_ends_the_notices_of_the_devices_it_signs_out,
);

async fn app(b: Backend) -> Option<TestApp> {
    TestApp::start_with(b, |s| {
        s.push.interval_ms = 20;
        s.push.allow_private = true;
        s.push.allow_http = true;
    })
    .await
}

/// How many subscriptions a device has, read from the database itself.
async fn subscriptions(app: &TestApp, b: Backend, device: &str) -> usize {
    let query = match b {
        Backend::Sqlite => format!(
            "SELECT CAST(device_id AS BLOB) FROM push_subscriptions WHERE device_id = '{device}'"
        ),
        Backend::Postgres => format!(
            "SELECT convert_to(device_id, 'UTF8') FROM push_subscriptions WHERE device_id = '{device}'"
        ),
    };
    app.raw_bytes(&query).await.len()
}

async fn subscribe(api: &alcove_tests::ApiClient, service: &PushService, keys: &BrowserKeys) {
    let (status, body) = api
        .put(
            "/api/v1/push/subscription",
            &json!({"endpoint": service.endpoint, "expirationTime": null,
                    "keys": {"p256dh": keys.p256dh, "auth": keys.auth}}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn a_client_away_from_the_app_is_told_of_a_new_message_and_nothing_more(b: Backend) {
    let Some(app) = app(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut devices) = four_device_conversation(&app, &p.clinician, &p.client).await;
    let (phone_service, laptop_service) = (PushService::start().await, PushService::start().await);
    let (phone_keys, laptop_keys) = (browser_keys(), browser_keys());
    let (status, key) = devices[2].api.get("/api/v1/push/key").await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let vapid = key["public_key"].as_str().expect("key").to_string();
    assert_eq!(vapid.len(), 87, "65 bytes, base64url: {vapid}");
    subscribe(&devices[2].api, &phone_service, &phone_keys).await;
    subscribe(&devices[3].api, &laptop_service, &laptop_keys).await;
    // The clinician's own phone: never told of the clinician's own words.
    let clinician_service = PushService::start().await;
    subscribe(&devices[1].api, &clinician_service, &browser_keys()).await;

    // The clinician writes: each of the client's devices gets one push.
    let (status, _) = devices[0]
        .send_text(
            &app,
            &conv,
            "Sam, see you Tuesday at 3 about the panic attacks",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = phone_service.wait_for(1, DEADLINE).await;
    assert_eq!(got.len(), 1, "one push");
    let push = &got[0];
    assert_eq!(push.encoding, "aes128gcm");
    assert_eq!(push.ttl, "43200");
    let opened =
        open(&phone_keys, push).unwrap_or_else(|e| panic!("the browser could not open it: {e}"));
    // Nothing but the fact of a message: no name, no words, no conversation.
    assert_eq!(opened["payload"], r#"{"type":"message"}"#);
    // The audience is the push service's origin. web-push-native leaves a
    // port out of it, which matters only to a service on a non-default
    // port — ours here, never a real one (they serve https on 443).
    assert_eq!(opened["claims"]["aud"], "http://127.0.0.1", "{opened}");
    assert_eq!(opened["claims"]["sub"], app.settings.push.contact.as_str());
    assert!(opened["claims"]["exp"].as_i64().expect("exp") > app.clock.now());
    assert_eq!(
        opened["k"],
        vapid.as_str(),
        "signed by the key browsers subscribe with"
    );
    assert_eq!(laptop_service.wait_for(1, DEADLINE).await.len(), 1);

    // A second message within the minute waits for the cooldown: then one
    // more push, not one per message.
    let (status, _) = devices[0].send_text(&app, &conv, "second").await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(61);
    assert_eq!(phone_service.wait_for(2, DEADLINE).await.len(), 2);
    assert_eq!(laptop_service.wait_for(2, DEADLINE).await.len(), 2);

    // The phone signs out: its push notices end with it.
    let (status, body) = devices[2].api.post("/api/v1/auth/logout", &json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(subscriptions(&app, b, &devices[2].device_id).await, 0);
    for n in [3, 4] {
        app.clock.advance(61);
        let (status, _) = devices[0].send_text(&app, &conv, "after").await;
        assert_eq!(status, StatusCode::OK);
        // The laptop's push is the sentinel: the round that told it had
        // the phone's news too (the next round starts after it ends).
        assert_eq!(laptop_service.wait_for(n, DEADLINE).await.len(), n);
    }
    assert_eq!(
        phone_service.received().len(),
        2,
        "nothing after signing out"
    );
    // By the laptop's last push, every round that could have told the
    // clinician's phone of the clinician's own messages had run.
    assert!(
        clinician_service.received().is_empty(),
        "not told of one's own messages"
    );
    app.stop().await;
}

async fn a_subscription_the_push_service_says_is_gone_is_dropped(b: Backend) {
    let Some(app) = app(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut devices) = four_device_conversation(&app, &p.clinician, &p.client).await;
    let service = PushService::start().await;
    let keys = browser_keys();
    subscribe(&devices[2].api, &service, &keys).await;
    // The browser unsubscribed behind our back: the push service says 410.
    service.answer(410);
    let (status, _) = devices[0].send_text(&app, &conv, "hello").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(service.wait_for(1, DEADLINE).await.len(), 1);
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (_, log) = p
            .admin
            .client
            .get("/api/v1/audit/events?action=push.unsubscribed")
            .await;
        let events = log["events"].as_array().cloned().unwrap_or_default();
        if let Some(e) = events.first() {
            assert!(e.to_string().contains("gone"), "{e}");
            assert!(
                !e.to_string().contains(&service.endpoint),
                "no endpoint in the log: {e}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < end, "{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing more goes to it.
    app.clock.advance(61);
    let (status, _) = devices[0].send_text(&app, &conv, "again").await;
    assert_eq!(status, StatusCode::OK);
    let sentinel = PushService::start().await;
    subscribe(&devices[3].api, &sentinel, &browser_keys()).await;
    let (status, _) = devices[0].send_text(&app, &conv, "and again").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sentinel.wait_for(1, DEADLINE).await.len(), 1);
    assert_eq!(service.received().len(), 1);
    assert_eq!(subscriptions(&app, b, &devices[2].device_id).await, 0);
    app.stop().await;
}

/// A subscription comes from the browser, so every field is a lying
/// client's to choose: an endpoint into the server's own network (or not
/// https), keys that are not keys, fields nobody asked for.
async fn a_lying_browser_cannot_point_pushes_into_the_servers_network(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let keys = browser_keys();
    let sub = |endpoint: &str, p256dh: &str, auth: &str| json!({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}});
    for (body, code) in [
        (
            sub("https://127.0.0.1/push/x", &keys.p256dh, &keys.auth),
            "endpoint_refused",
        ),
        (
            sub("https://169.254.169.254/latest", &keys.p256dh, &keys.auth),
            "endpoint_refused",
        ),
        (
            sub("http://push.example.net/x", &keys.p256dh, &keys.auth),
            "endpoint_refused",
        ),
        (
            sub("https://push.example.net/x", "AAAA", &keys.auth),
            "invalid_field",
        ),
        (
            sub("https://push.example.net/x", &keys.p256dh, "c2hvcnQ"),
            "invalid_field",
        ),
    ] {
        let (status, answer) = p
            .client
            .client
            .put("/api/v1/push/subscription", &body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} {answer}");
        assert_eq!(answer["error"], code, "{answer}");
    }
    let (status, answer) = p
        .client
        .client
        .put(
            "/api/v1/push/subscription",
            &json!({"endpoint": "https://push.example.net/x", "keys": {"p256dh": keys.p256dh, "auth": keys.auth, "extra": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, _) = app
        .client()
        .put(
            "/api/v1/push/subscription",
            &sub("https://push.example.net/x", &keys.p256dh, &keys.auth),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A shared or public computer keeps nothing: no notices either, even
    // from a page that asks for them.
    let (status, signed) = app
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({"practice_id": p.client.practice_id, "login": p.client.login,
                    "password": p.client.password, "device_name": "Library computer",
                    "shared_computer": true, "transport": "bearer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    let mut library = app.client();
    library.bearer = signed["token"].as_str().map(str::to_string);
    let (status, answer) = library
        .put(
            "/api/v1/push/subscription",
            &sub("https://push.example.net/x", &keys.p256dh, &keys.auth),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"], "shared_computer", "{answer}");
    // A real push service's address is accepted, and audited without it.
    let (status, answer) = p
        .client
        .client
        .put(
            "/api/v1/push/subscription",
            &sub("https://push.example.net/x", &keys.p256dh, &keys.auth),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=push.subscribed")
        .await;
    assert_eq!(log["events"].as_array().map(Vec::len), Some(1), "{log}");
    assert!(!log.to_string().contains("push.example.net"), "{log}");
    assert!(!log.to_string().contains(&keys.auth), "{log}");
    let _: Value = log;
    app.stop().await;
}

/// The client's phone sits unused past the idle timeout — the moment a
/// notice is for — and still gets one; a laptop revoked while a message
/// waits for it gets nothing more (it stays in the conversation until a
/// member commits its removal, so only its subscription's end stops it).
async fn notices_outlive_an_idle_sign_out_but_not_a_revoked_device(b: Backend) {
    let Some(app) = TestApp::start_with(b, |s| {
        s.push.interval_ms = 20;
        s.push.allow_private = true;
        s.push.allow_http = true;
        // The clinician and the admin stay signed in while the client's
        // devices idle out.
        s.auth.staff_idle_timeout_secs = 86_400;
    })
    .await
    else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut devices) = four_device_conversation(&app, &p.clinician, &p.client).await;
    let (phone, laptop) = (PushService::start().await, PushService::start().await);
    subscribe(&devices[2].api, &phone, &browser_keys()).await;
    subscribe(&devices[3].api, &laptop, &browser_keys()).await;

    // The phone idles past the client's timeout; its session ends.
    app.clock
        .advance(app.settings.auth.client_idle_timeout_secs + 60);
    let (status, _) = devices[2].api.get("/api/v1/me").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "signed out for inactivity"
    );
    let (status, _) = devices[0].send_text(&app, &conv, "are you there?").await;
    assert_eq!(status, StatusCode::OK);
    // Told, though signed out: that is when a notice is for.
    assert_eq!(phone.wait_for(1, DEADLINE).await.len(), 1);
    assert_eq!(laptop.wait_for(1, DEADLINE).await.len(), 1);

    // A second message within the minute waits for both; meanwhile the
    // admin revokes the laptop (reported lost).
    let (status, _) = devices[0].send_text(&app, &conv, "hello?").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = p
        .admin
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", devices[3].device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        subscriptions(&app, b, &devices[3].device_id).await,
        0,
        "ended with the device"
    );
    app.clock.advance(61);
    // The phone's second push is the sentinel: the round that told it had
    // the laptop's waiting message too.
    assert_eq!(phone.wait_for(2, DEADLINE).await.len(), 2);
    assert_eq!(
        laptop.received().len(),
        1,
        "the revoked laptop is told nothing more"
    );
    app.stop().await;
}

/// The client keeps quiet hours (their reminder preferences): a message at
/// night is told when they end, not at once. The clinician's phone, whose
/// owner keeps none, is the sentinel: a message from the client reaches it
/// at once, after the clinician's, so the round that told it had looked at
/// the client's phone too.
async fn a_notice_in_the_clients_quiet_hours_waits_for_their_end(b: Backend) {
    use chrono::{Timelike, Utc};
    let Some(app) = TestApp::start_with(b, |s| {
        s.push.interval_ms = 20;
        s.push.allow_private = true;
        s.push.allow_http = true;
        s.auth.staff_idle_timeout_secs = 86_400;
        s.auth.client_idle_timeout_secs = 86_400;
    })
    .await
    else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut devices) = four_device_conversation(&app, &p.clinician, &p.client).await;
    // Quiet from the start of this UTC hour for two hours.
    let now = chrono::DateTime::<Utc>::from_timestamp(app.clock.now(), 0).expect("now");
    let (start, end) = (now.hour(), (now.hour() + 2) % 24);
    let (status, view) = p
        .client
        .client
        .put(
            &format!("/api/v1/reminders/preferences/{}", p.client.user_id),
            &json!({"email_enabled": false, "sms_enabled": false, "sender": "neutral",
                    "leads_minutes": [1440], "language": "en", "opted_out": false,
                    "quiet_start": format!("{start:02}:00"), "quiet_end": format!("{end:02}:00"),
                    "time_zone": "UTC"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let (client_phone, clinician_phone) = (PushService::start().await, PushService::start().await);
    subscribe(&devices[2].api, &client_phone, &browser_keys()).await;
    subscribe(&devices[1].api, &clinician_phone, &browser_keys()).await;

    let (status, _) = devices[0].send_text(&app, &conv, "late note").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = devices[3].send_text(&app, &conv, "thanks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clinician_phone.wait_for(1, DEADLINE).await.len(), 1);
    assert!(
        client_phone.received().is_empty(),
        "quiet hours: nothing yet"
    );

    // The quiet hours end: the notice goes.
    let ends = (now
        .date_naive()
        .and_hms_opt(now.hour(), 0, 0)
        .expect("hour")
        .and_utc()
        + chrono::Duration::hours(2))
    .timestamp();
    app.clock.advance(ends - app.clock.now() + 1);
    assert_eq!(client_phone.wait_for(1, DEADLINE).await.len(), 1);
    app.stop().await;
}

/// A client who fears their passphrase is known changes it from their
/// phone: every other device is signed out, and is told of nothing more
/// (an attacker's browser would otherwise keep learning when messages
/// come); the phone keeps its notices.
async fn a_new_password_ends_the_notices_of_the_devices_it_signs_out(b: Backend) {
    let Some(app) = app(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (_conv, devices) = four_device_conversation(&app, &p.clinician, &p.client).await;
    let (phone, laptop) = (PushService::start().await, PushService::start().await);
    subscribe(&devices[2].api, &phone, &browser_keys()).await;
    subscribe(&devices[3].api, &laptop, &browser_keys()).await;
    let (status, body) = devices[2]
        .api
        .post(
            "/api/v1/me/password",
            &json!({"current_password": p.client.password,
                    "new_password": "a different and rather long passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(subscriptions(&app, b, &devices[3].device_id).await, 0);
    assert_eq!(subscriptions(&app, b, &devices[2].device_id).await, 1);
    app.stop().await;
}

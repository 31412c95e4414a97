//! Incidents, told as a practice lives them: a client reports their phone
//! lost and an incident opens by itself; twenty wrong passwords make one
//! incident, not twenty; a clinician reports a message sent to the wrong
//! client; the privacy officer assesses and decides, and two of them
//! deciding at once cannot both win; the practice's own system receives
//! signed, PHI-free webhooks — verified by the Standard Webhooks reference
//! library — retried under one `webhook-id`; webhook URLs into the
//! server's own network are refused. Both backends.

use alcove_server::audit::signing::PublicKey;
use alcove_server::audit::verify::{verify_export, verify_file};
use alcove_server::clock::Clock;
use alcove_tests::mls::two_device_conversation;
use alcove_tests::webhooks::{verify, Receiver};
use alcove_tests::{on_both_backends, Backend, Person, PracticePeople, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

/// Waits (until DEADLINE) for delivery `id` of `endpoint`'s log to satisfy
/// `done`, as the admin reads it; returns the row.
async fn delivery_row(
    admin: &Person,
    endpoint: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (_, log) = admin
            .client
            .get(&format!("/api/v1/webhooks/{endpoint}/deliveries"))
            .await;
        let row = log
            .as_array()
            .and_then(|l| l.iter().find(|d| d["id"] == id))
            .cloned();
        if let Some(row) = row.filter(|r| done(r)) {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "delivery {id} not there: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn app(b: Backend, allow_private: bool) -> Option<TestApp> {
    app_with(b, allow_private, allow_private).await
}

async fn app_with(b: Backend, allow_private: bool, allow_http: bool) -> Option<TestApp> {
    TestApp::start_with(b, move |s| {
        s.incidents.watch_interval_ms = 20;
        s.incidents.deliver_interval_ms = 20;
        s.incidents.webhook_allow_private = allow_private;
        s.incidents.webhook_allow_http = allow_http;
        s.auth.max_failures_per_account = 5;
    })
    .await
}

/// A server whose watcher looks often and whose staff stay signed in all
/// day (the lost-device stories move the clock past a client's idle
/// timeout).
async fn officer_app(
    b: Backend,
    adjust: impl FnOnce(&mut alcove_server::config::Settings),
) -> Option<TestApp> {
    TestApp::start_with(b, |s| {
        s.incidents.watch_interval_ms = 20;
        s.auth.staff_idle_timeout_secs = 86_400;
        adjust(s);
    })
    .await
}

/// Waits until the admin's incident list satisfies `pred`.
/// Adds a webhook endpoint as `who`.
async fn add_webhook(who: &Person, url: &str, event_types: &[&str]) -> (StatusCode, Value) {
    who.client
        .post(
            "/api/v1/webhooks",
            &json!({"url": url, "event_types": event_types}),
        )
        .await
}

/// An endpoint as created: its secret (shown this once) and its id.
struct Hook {
    secret: String,
    endpoint: String,
}

/// Reads an endpoint's creation answer.
fn hook(created: &Value) -> Hook {
    Hook {
        secret: created["secret"].as_str().expect("secret").to_string(),
        endpoint: created["endpoint"]["id"].as_str().expect("id").to_string(),
    }
}

/// A practice whose own system receives `incident.opened` and
/// `device.revoked`: the receiver, the people, and the endpoint as created.
async fn hooked_practice(app: &TestApp) -> (Receiver, PracticePeople, Hook) {
    let receiver = Receiver::start("127.0.0.1").await;
    let p = app.practice_with_people().await;
    let (status, created) = add_webhook(
        &p.admin,
        &receiver.url,
        &["incident.opened", "device.revoked"],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (receiver, p, hook(&created))
}

/// `who` reports their own device lost: it is revoked, an incident opens.
async fn reports_own_device_lost(who: &Person) {
    let (status, body) = who
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", who.device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn until_incidents(p: &PracticePeople, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (status, list) = p.admin.client.get("/api/v1/incidents").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let list = list.as_array().expect("array").clone();
        if pred(&list) || tokio::time::Instant::now() >= end {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the incident of `kind` a detector opens, asserts it is the
/// only one of its kind (one per cause, not one per event), and returns its
/// detail.
async fn the_one_incident(p: &PracticePeople, kind: &str) -> Value {
    let list = until_incidents(p, |l| l.iter().any(|i| i["kind"] == kind)).await;
    let opened: Vec<&Value> = list.iter().filter(|i| i["kind"] == kind).collect();
    assert_eq!(opened.len(), 1, "one {kind} incident: {list:?}");
    let (status, detail) = p
        .admin
        .client
        .get(&format!(
            "/api/v1/incidents/{}",
            opened[0]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    detail
}

on_both_backends!(
    a_phone_reported_lost_opens_an_incident_the_privacy_officer_decides,
    the_evidence_lists_what_the_lost_device_received_and_the_safe_harbor_facts,
    twenty_wrong_passwords_make_one_incident,
    staff_report_and_only_admins_read_or_decide,
    webhooks_are_signed_as_the_standard_says_retried_under_one_id_and_carry_no_phi,
    webhook_urls_into_the_servers_own_network_are_refused,
    an_approaching_deadline_is_announced_once_per_threshold,
    a_practice_has_at_most_ten_webhooks_even_when_added_at_once,
    a_revoked_phone_used_again_opens_one_unauthorized_access_incident,
    the_privacy_officer_signs_off_the_prefilled_worksheet_with_a_fresh_code,
    a_breach_gets_a_draft_notice_with_its_blanks_and_nobody_named,
    a_burst_of_refused_requests_from_one_account_opens_one_probing_incident,
    a_session_walking_ids_that_are_not_its_own_opens_one_probing_incident,
    the_prefill_itself_can_be_signed_off_unedited,
    a_signed_out_token_used_again_opens_one_credential_incident,
    an_admin_taking_out_exports_and_access_reviews_in_bulk_opens_one_incident,
    a_rotated_webhook_secret_signs_beside_the_new_one_until_the_overlap_ends,
    a_damaged_audit_log_opens_one_audit_tampering_incident,
    a_receiver_down_across_a_server_restart_gets_every_event_under_its_id,
    a_compromised_clinician_account_lists_each_client_whose_records_it_reached,
    an_exception_stands_only_on_every_fact_its_clause_requires,
    a_test_delivery_reaches_the_receiver_signed_with_nothing_in_it,
    a_phone_connected_as_it_is_cut_off_is_recorded_as_open_and_claims_no_safe_harbor,
    a_database_restored_to_an_earlier_state_is_caught_by_its_witness_at_start,
    a_webhook_failing_for_three_days_is_turned_off_told_and_turned_back_on,
    test_deliveries_pressed_at_once_send_one,
);

async fn a_damaged_audit_log_opens_one_audit_tampering_incident(b: Backend) {
    let Some(app) = officer_app(b, |s| s.audit.publish_interval_secs = 1).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let practice = &p.client.practice_id;
    // Someone with the database swaps entry 3's leaf hash for entry 2's
    // (as if to hide what entry 3 was).
    app.raw_sql(&[format!(
        "UPDATE audit_events SET leaf_hash = (SELECT leaf_hash FROM audit_events WHERE practice_id = '{practice}' AND seq = 2)
         WHERE practice_id = '{practice}' AND seq = 3"
    )])
    .await;
    // The publisher's check before signing finds it, records it in the
    // practice's own log, and the detector opens the incident.
    let detail = the_one_incident(&p, "audit_tampering").await;
    assert_eq!(detail["incident"]["status"], "open", "{detail}");
    assert_eq!(detail["incident"]["detected"], true, "{detail}");
    let practice_id: alcove_server::ids::PracticeId = practice.parse().expect("practice");
    let recorded: Vec<_> = app
        .store
        .recent_audit(practice_id, 500)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "audit.verification_failed")
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    // Nothing about the practice's people in it.
    assert_eq!(recorded[0].actor_user_id, None);
    app.stop().await;
}

async fn a_rotated_webhook_secret_signs_beside_the_new_one_until_the_overlap_ends(b: Backend) {
    // A minute's overlap rather than the day: the reference library checks
    // each timestamp against the real time (five minutes' tolerance), so
    // the server's clock may run only minutes ahead of it.
    let Some(app) = TestApp::start_with(b, |s| {
        s.incidents.watch_interval_ms = 20;
        s.incidents.deliver_interval_ms = 20;
        s.incidents.webhook_allow_private = true;
        s.incidents.webhook_allow_http = true;
        s.incidents.webhook_rotation_overlap_secs = 60;
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start("127.0.0.1").await;
    let p = app.practice_with_people().await;
    let (status, created) = add_webhook(&p.admin, &receiver.url, &["incident.opened"]).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let Hook {
        secret: old,
        endpoint,
    } = hook(&created);
    let rotate = format!("/api/v1/webhooks/{endpoint}/rotate-secret");

    // Only admins; an unknown endpoint is absent.
    let (status, _) = p.clinician.client.post(&rotate, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = p
        .admin
        .client
        .post(
            "/api/v1/webhooks/6f9619ff-8b86-4d11-b42d-00c04fc964ff/rotate-secret",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, rotated) = p.admin.client.post(&rotate, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().expect("secret").to_string();
    assert!(new.starts_with("whsec_") && new != old);
    let until = rotated["previous_valid_until"].as_i64().expect("until");
    assert_eq!(until, app.clock.now() + 60);
    let (_, listed) = p.admin.client.get("/api/v1/webhooks").await;
    assert_eq!(listed[0]["previous_secret_until"], until);
    assert!(!listed.to_string().contains(&new), "shown once");

    // Within the overlap: a receiver on either secret accepts (the reference
    // library checks each of the header's signatures).
    let report = |note: &str| json!({"kind": "other", "note": note});
    let (status, _) = p
        .clinician
        .client
        .post("/api/v1/incidents", &report("first"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let got = receiver.wait_until(DEADLINE, |r| !r.is_empty()).await;
    let first = got.first().expect("a delivery").clone();
    assert_eq!(first.signature.split(' ').count(), 2, "{first:?}");
    verify(&new, &first).unwrap_or_else(|e| panic!("new secret refused: {e}"));
    verify(&old, &first).unwrap_or_else(|e| panic!("old secret refused within the day: {e}"));

    // After it: the new secret only.
    app.clock.advance(61);
    let (status, _) = p
        .clinician
        .client
        .post("/api/v1/incidents", &report("second"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let got = receiver.wait_until(DEADLINE, |r| r.len() >= 2).await;
    let second = got
        .iter()
        .find(|r| r.id != first.id)
        .expect("a second delivery")
        .clone();
    assert_eq!(second.signature.split(' ').count(), 1, "{second:?}");
    verify(&new, &second).unwrap_or_else(|e| panic!("new secret refused: {e}"));
    assert!(
        verify(&old, &second).is_err(),
        "the old secret no longer verifies"
    );

    // Audited, without either secret.
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=webhook.secret_rotated")
        .await;
    let entries = log["events"].as_array().expect("events");
    assert_eq!(entries.len(), 1, "{log}");
    let text = log.to_string();
    for secret in [&old, &new] {
        assert!(!text.contains(secret.trim_start_matches("whsec_")), "{log}");
    }
    app.stop().await;
}

async fn an_admin_taking_out_exports_and_access_reviews_in_bulk_opens_one_incident(b: Backend) {
    let Some(app) = officer_app(b, |s| s.incidents.bulk_reads = 10).await else {
        return;
    };
    let p = app.practice_with_people().await;
    // An admin's session takes the record out: audit exports and access
    // reviews, 24 requests at once.
    let review = format!("/api/v1/users/{}/access-review", p.client.user_id);
    let answers = futures_util::future::join_all((0..24).map(|i| {
        let path = if i % 2 == 0 {
            "/api/v1/audit/export".to_owned()
        } else {
            review.clone()
        };
        let c = &p.admin.client;
        async move { c.get(&path).await }
    }))
    .await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "each read is allowed: {:?}",
        answers.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    let detail = the_one_incident(&p, "unauthorized_access").await;
    assert_eq!(detail["subjects"][0]["user_id"], p.admin.user_id.as_str());
    assert_eq!(
        detail["timeline"][0]["entry"],
        "detected: many audit exports or access reviews by one account"
    );
    app.stop().await;
}

async fn a_signed_out_token_used_again_opens_one_credential_incident(b: Backend) {
    let Some(app) = app(b, false).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let practice: alcove_server::ids::PracticeId = p.client.practice_id.parse().expect("practice");
    let audited = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            store
                .recent_audit(practice, 500)
                .await
                .expect("audit")
                .iter()
                .filter(|e| e.action == "session.ended_token_used")
                .count()
        }
    };
    let mut copied = app.client();
    copied.bearer = Some(app.bearer_session(&p.client).await);
    let (status, _) = copied.post("/api/v1/auth/logout", &json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A request already on its way when its owner signed out: refused, and
    // not evidence of anything.
    let (status, body) = copied.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_ended"))
    );
    assert_eq!(audited(&app).await, 0);

    // Well after the logout, someone uses a copy of the token, in a burst.
    app.clock
        .advance(alcove_server::auth::session::SIGNED_OUT_GRACE_SECS + 1);
    let copied = &copied;
    let attempts = (0..10).map(|_| async move { copied.get("/api/v1/conversations").await });
    for (status, body) in futures_util::future::join_all(attempts).await {
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("session_ended"))
        );
    }
    assert_eq!(audited(&app).await, 1, "audited once, not once per request");
    let detail = the_one_incident(&p, "credential_compromise").await;
    assert!(
        detail["subjects"]
            .to_string()
            .contains(p.client.device_id.as_str()),
        "{detail}"
    );

    // A session that lapsed is routine: its page still holds the cookie.
    let mut idle = app.client();
    idle.bearer = Some(app.bearer_session(&p.client).await);
    app.clock
        .advance(app.settings.auth.client_idle_timeout_secs + 60);
    let (status, body) = idle.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_expired"))
    );
    let (status, body) = idle.get("/api/v1/me").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_ended"))
    );
    assert_eq!(
        audited(&app).await,
        1,
        "an expired session's token is not evidence"
    );
    app.stop().await;
}

async fn a_phone_reported_lost_opens_an_incident_the_privacy_officer_decides(b: Backend) {
    let Some(app) = app(b, false).await else {
        return;
    };
    let p = app.practice_with_people().await;
    reports_own_device_lost(&p.client).await;

    let list = until_incidents(&p, |l| !l.is_empty()).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let incident = &list[0];
    assert_eq!(incident["kind"], "lost_device");
    assert_eq!(incident["status"], "open");
    assert_eq!(incident["detected"], true);
    let id = incident["id"].as_str().expect("id").to_string();
    let (status, detail) = p.admin.client.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(
        detail["subjects"][0]["device_id"],
        p.client.device_id.as_str()
    );
    assert_eq!(detail["subjects"][0]["user_id"], p.client.user_id.as_str());
    assert_eq!(
        detail["timeline"][0]["entry"],
        "reported: a device was lost"
    );
    // Reported at once, its session still live: it may have been unlocked,
    // so the safe harbor's facts do not hold.
    let ev = &detail["evidence"][0];
    assert_eq!(ev["device_id"], p.client.device_id.as_str());
    assert_eq!(ev["affected_clients"], json!([p.client.user_id]));
    assert_eq!(ev["live_session_at_revocation"], true, "{ev}");
    assert_eq!(ev["safe_harbor_facts"], false, "{ev}");
    // Deadlines run from discovery: 60 days for the individuals.
    assert_eq!(detail["incident"]["deadlines"]["days_left"], 60);

    // Assess, then decide: a decision without its reasoning is refused.
    let path = format!("/api/v1/incidents/{id}");
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "open", "status": "assessing"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = p
        .admin
        .client
        .patch(&path, &json!({"expected_status": "assessing", "status": "decided", "decision": "not_a_breach"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "bad_transition");
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "assessing", "status": "decided", "decision": "not_a_breach",
                    "note": "The phone was locked and its state sealed; the unlock share was destroyed at revocation."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "not_a_breach");
    // Someone who read it before the decision cannot overwrite it.
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "assessing", "status": "closed", "note": "no"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "changed");
    let (_, detail) = p.admin.client.get(&path).await;
    let entries: Vec<&str> = detail["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["entry"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        entries,
        [
            "reported: a device was lost",
            "status: assessing",
            "decided: not a breach"
        ]
    );

    // Every change is in the audit log.
    let practice: alcove_server::ids::PracticeId = p.admin.practice_id.parse().expect("practice");
    let actions: Vec<String> = app
        .store
        .recent_audit(practice, 500)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in ["incident.opened", "incident.updated", "incident.decided"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    app.stop().await;
}

async fn the_evidence_lists_what_the_lost_device_received_and_the_safe_harbor_facts(b: Backend) {
    let Some(app) = officer_app(b, |_| {}).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (conv, mut office, mut phone) =
        two_device_conversation(&app, &p.clinician, &p.client).await;
    for text in ["one", "two", "three"] {
        let (status, _) = office.send_text(&app, &conv, text).await;
        assert_eq!(status, StatusCode::OK);
    }
    // The phone reads them over HTTP (recorded as handed over).
    phone.sync_http(&conv).await;
    assert_eq!(phone.texts[&conv], ["one", "two", "three"]);
    // The practice recorded where the client lives.
    let (status, person) = p
        .admin
        .client
        .put(
            &format!("/api/v1/users/{}/residence", p.client.user_id),
            &json!({"state": "ny"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{person}");
    // The phone's app locks itself once idle; the loss is reported later,
    // by the admin.
    app.clock.advance(31 * 60);
    let (status, body) = p
        .admin
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", phone.device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = until_incidents(&p, |l| !l.is_empty()).await;
    let (status, detail) = p
        .admin
        .client
        .get(&format!(
            "/api/v1/incidents/{}",
            list[0]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let ev = &detail["evidence"][0];
    assert_eq!(ev["device_id"], phone.device_id.as_str(), "{ev}");
    assert_eq!(ev["affected_clients"], json!([p.client.user_id]), "{ev}");
    let c = &ev["conversations"][0];
    assert_eq!(c["conversation_id"], conv.as_str(), "{ev}");
    assert_eq!(c["client_id"], p.client.user_id.as_str());
    let last = c["ranges"]
        .as_array()
        .expect("ranges")
        .last()
        .expect("a range")["to_seq"]
        .as_i64()
        .expect("seq");
    assert!(
        c["entries"].as_i64().expect("entries") >= 3 && last >= 3,
        "{c}"
    );
    assert_eq!(ev["unlock_share_destroyed"], true, "{ev}");
    assert_eq!(
        ev["live_session_at_revocation"], false,
        "idle past its timeout: {ev}"
    );
    assert_eq!(ev["safe_harbor_facts"], true, "{ev}");
    assert_eq!(ev["socket_open_at_revocation"], false, "{ev}");
    // Its removal from the group waits for a member's commit ...
    let incident_path = format!("/api/v1/incidents/{}", list[0]["id"].as_str().expect("id"));
    assert_eq!(
        ev["removals"],
        json!([{"conversation_id": conv, "removed_at": null, "commit_seq": null, "epoch": null}]),
        "{ev}"
    );
    // ... which the office makes (as it does before it next sends): the
    // evidence then names the commit and the epoch it created.
    office.sync_http(&conv).await;
    let out = office
        .device
        .commit_pending_proposals(conv.as_bytes())
        .expect("commit")
        .expect("a commit");
    let (status, committed) = office.post_commit(&conv, &out).await;
    assert_eq!(status, StatusCode::OK, "{committed}");
    let (_, detail) = p.admin.client.get(&incident_path).await;
    let removal = &detail["evidence"][0]["removals"][0];
    assert_eq!(removal["commit_seq"], committed["seq"], "{removal}");
    assert_eq!(
        removal["epoch"].as_i64(),
        committed["epoch"].as_i64(),
        "the epoch the commit created: {removal} {committed}"
    );
    assert!(removal["removed_at"].is_i64(), "{removal}");
    assert!(detail["assessment"]["factors"][3]["text"]
        .as_str()
        .expect("text")
        .contains("A commit removed it from 1 conversation"));
    // The media rule's count, from the recorded state of residence.
    assert_eq!(
        detail["residence"],
        json!({"by_state": [{"state": "NY", "count": 1}], "not_recorded": 0, "largest": 1}),
        "{detail}"
    );
    // Never content.
    for text in ["one", "two", "three"] {
        assert!(
            !detail.to_string().contains(&format!("\"{text}\"")),
            "{detail}"
        );
    }
    app.stop().await;
}

async fn twenty_wrong_passwords_make_one_incident(b: Backend) {
    let Some(app) = app(b, false).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let wrong = json!({"practice_id": p.client.practice_id, "login": p.client.login,
                       "password": "not the passphrase at all", "device_name": "x"});
    // Ten one after another (the fifth locks the account out), then a
    // burst of ten at once against the locked account.
    for _ in 0..10 {
        let (status, body) = app.client().post("/api/v1/auth/login", &wrong).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{body}"
        );
    }
    let attempts = (0..10).map(|_| {
        let c = app.client();
        let body = wrong.clone();
        async move { c.post("/api/v1/auth/login", &body).await.0 }
    });
    let answers = futures_util::future::join_all(attempts).await;
    assert!(
        answers.iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
    // A later event the watcher turns into an incident of its own: once
    // that one is there, everything the burst wrote has been read.
    reports_own_device_lost(&p.clinician).await;
    let list = until_incidents(&p, |l| l.iter().any(|i| i["kind"] == "lost_device")).await;
    let list: Vec<Value> = list
        .into_iter()
        .filter(|i| i["kind"] != "lost_device")
        .collect();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["kind"], "credential_compromise");
    let (_, detail) = p
        .admin
        .client
        .get(&format!(
            "/api/v1/incidents/{}",
            list[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(detail["subjects"][0]["user_id"], p.client.user_id.as_str());
    app.stop().await;
}

async fn staff_report_and_only_admins_read_or_decide(b: Backend) {
    let Some(app) = app(b, false).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let report = json!({"kind": "misdirected_message", "user_id": p.client.user_id,
                        "note": "Sent Tuesday's message to the wrong client."});
    let (status, body) = p.client.client.post("/api/v1/incidents", &report).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = p.clinician.client.post("/api/v1/incidents", &report).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["kind"], "misdirected_message");
    assert_eq!(body["detected"], false);
    let id = body["id"].as_str().expect("id").to_string();
    for who in [&p.clinician, &p.client] {
        let (status, body) = who.client.get("/api/v1/incidents").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"], "forbidden");
        let (status, _) = who
            .client
            .patch(
                &format!("/api/v1/incidents/{id}"),
                &json!({"expected_status": "open", "status": "assessing"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // Bad input: a clear refusal, nothing written.
    for (bad, code) in [
        (json!({"kind": "gossip"}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"kind": "other", "discovered_at": 4_102_444_800i64}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "other", "user_id": uuid::Uuid::new_v4()}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, body) = p.clinician.client.post("/api/v1/incidents", &bad).await;
        assert_eq!(status, code, "{bad}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }

    // A breach affecting 600, 501 of them in one state: HHS and the media
    // with the individuals; a written law-enforcement delay holds them all.
    let path = format!("/api/v1/incidents/{id}");
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "open", "status": "decided", "decision": "breach",
                    "affected_count": 600, "max_state_residents": 501,
                    "note": "Message content disclosed to another client."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deadlines"]["hhs_with_individuals"], true);
    assert_eq!(body["deadlines"]["hhs"], body["deadlines"]["individuals"]);
    assert_eq!(body["deadlines"]["media"], body["deadlines"]["individuals"]);
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "decided", "law_enforcement_delay": {"kind": "written", "until": "2099-01-31"},
                    "note": "Written request from the police, case 42."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deadlines"]["individuals"], "2099-01-31");
    assert_eq!(body["deadlines"]["hhs"], "2099-01-31");
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "decided", "max_state_residents": 700}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "more residents than affected: {body}"
    );
    app.stop().await;
}

async fn webhooks_are_signed_as_the_standard_says_retried_under_one_id_and_carry_no_phi(
    b: Backend,
) {
    let Some(app) = app(b, true).await else {
        return;
    };
    let (receiver, p, Hook { secret, endpoint }) = hooked_practice(&app).await;
    assert!(secret.starts_with("whsec_"));
    let (_, listed) = p.admin.client.get("/api/v1/webhooks").await;
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );

    // The receiver is down for the first attempt.
    receiver.fail_next(1);
    reports_own_device_lost(&p.client).await;
    let got = receiver
        .wait_until(DEADLINE, |r| r.iter().any(|x| x.refused))
        .await;
    let first = got
        .iter()
        .find(|x| x.refused)
        .expect("a refused attempt")
        .clone();
    // The server has recorded the refusal (the receiver answers before the
    // job writes its outcome; advancing the clock in between would put the
    // retry after the advanced time).
    delivery_row(&p.admin, &endpoint, &first.id, |d| {
        d["attempts"].as_i64() >= Some(1)
    })
    .await;
    // Retried after its backoff (5 s and jitter) on the server's clock.
    app.clock.advance(10);
    let got = receiver
        .wait_until(DEADLINE, |r| {
            r.iter().filter(|x| !x.refused).count() >= 2
                && r.iter().any(|x| !x.refused && x.id == first.id)
        })
        .await;
    let delivered: Vec<_> = got.iter().filter(|x| !x.refused).collect();
    assert!(
        delivered.iter().any(|x| x.id == first.id),
        "the retry carries the same webhook-id: {got:?}"
    );
    let mut types = Vec::new();
    for r in &delivered {
        let payload =
            verify(&secret, r).unwrap_or_else(|e| panic!("standardwebhooks refused {r:?}: {e}"));
        types.push(payload["type"].as_str().expect("type").to_string());
        // PHI-free: ids, codes, counts and a link only.
        for phi in [
            "sam@p.example",
            "dr@p.example",
            "My phone",
            "Office laptop",
            "client passphrase",
        ] {
            assert!(!r.body.contains(phi), "{phi} in {}", r.body);
        }
        let keys: Vec<&String> = payload["data"].as_object().expect("data").keys().collect();
        for k in &keys {
            assert!(
                [
                    "incident_id",
                    "kind",
                    "status",
                    "decision",
                    "affected_count",
                    "deadlines",
                    "device_id",
                    "user_id",
                    "link"
                ]
                .contains(&k.as_str()),
                "{k}"
            );
        }
    }
    types.sort();
    types.dedup();
    assert_eq!(types, ["device.revoked", "incident.opened"]);

    // A signature under another secret does not verify.
    let forged = verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", delivered[0]);
    assert!(forged.is_err(), "{forged:?}");

    // The delivery log: delivered, two attempts for the first.
    let (status, log) = p
        .admin
        .client
        .get(&format!("/api/v1/webhooks/{endpoint}/deliveries"))
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let row = log
        .as_array()
        .expect("log")
        .iter()
        .find(|d| d["id"] == first.id.as_str())
        .expect("logged")
        .clone();
    assert_eq!(row["status"], "delivered", "{row}");
    assert_eq!(row["attempts"], 2, "{row}");
    assert_eq!(row["last_status"], 204, "{row}");
    // Redelivery sends it again under the same id.
    let before = receiver.received().len();
    let (status, body) = p
        .admin
        .client
        .post(
            &format!("/api/v1/webhooks/deliveries/{}/redeliver", first.id),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let got = receiver.wait_until(DEADLINE, |r| r.len() > before).await;
    assert_eq!(got.last().expect("again").id, first.id);
    app.stop().await;
}

/// The practice's system is down while the server restarts (a deploy): the
/// events waiting for it are in the database's outbox, not in memory, so
/// once it is up again it gets every one, each attempt under the event's
/// one `webhook-id`.
async fn a_receiver_down_across_a_server_restart_gets_every_event_under_its_id(b: Backend) {
    let Some(app) = app(b, true).await else {
        return;
    };
    let (receiver, p, Hook { secret, .. }) = hooked_practice(&app).await;

    // Down: every attempt is refused.
    receiver.fail_next(usize::MAX);
    reports_own_device_lost(&p.client).await;
    // Both events (the revocation and the incident it opened) were tried.
    let tried = |r: &[alcove_tests::webhooks::Received]| {
        let mut ids: Vec<String> = r.iter().map(|x| x.id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let got = receiver.wait_until(DEADLINE, |r| tried(r).len() >= 2).await;
    let waiting = tried(&got);
    assert_eq!(waiting.len(), 2, "{got:?}");
    assert!(got.iter().all(|x| x.refused));

    let app = app.restart().await;
    receiver.fail_next(0);
    // Past the backoff the refusals earned (one attempt each, 5 s and
    // jitter), on the server's clock; within the receiver's 5-minute
    // tolerance of the real clock for the signed timestamp.
    app.clock.advance(60);
    let got = receiver
        .wait_until(DEADLINE, |r| {
            waiting
                .iter()
                .all(|id| r.iter().any(|x| !x.refused && &x.id == id))
        })
        .await;
    let mut types = Vec::new();
    for id in &waiting {
        let delivered = got
            .iter()
            .find(|x| !x.refused && &x.id == id)
            .unwrap_or_else(|| panic!("{id} never arrived after the restart: {got:?}"));
        let payload = verify(&secret, delivered)
            .unwrap_or_else(|e| panic!("standardwebhooks refused {delivered:?}: {e}"));
        types.push(payload["type"].as_str().expect("type").to_string());
    }
    types.sort();
    assert_eq!(types, ["device.revoked", "incident.opened"]);
    // No event under a new id: every attempt of each was under its own.
    assert_eq!(tried(&got), waiting, "{got:?}");
    app.stop().await;
}

async fn webhook_urls_into_the_servers_own_network_are_refused(b: Backend) {
    let Some(app) = app(b, false).await else {
        return;
    };
    let p = app.practice_with_people().await;
    for url in [
        "http://93.184.216.34/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://user:pw@example.org/hook",
    ] {
        let (status, body) = add_webhook(&p.admin, url, &["incident.opened"]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["error"], "url_refused", "{url}: {body}");
    }
    let (status, body) = add_webhook(&p.admin, "https://example.org/hook", &["everything"]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = add_webhook(
        &p.clinician,
        "https://example.org/hook",
        &["incident.opened"],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    app.stop().await;

    // A name that passes the check but resolves into the server's own
    // network (this machine's host name, on loopback) is refused at
    // connection time: nothing reaches a receiver listening there.
    let Some(app) = app_with(b, false, true).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("host name")
        .trim()
        .to_string();
    let ip = tokio::net::lookup_host((host.as_str(), 0))
        .await
        .expect("the host name resolves")
        .map(|a| a.ip())
        .find(|ip| ip.is_loopback())
        .unwrap_or_else(|| panic!("{host} does not resolve to loopback here"));
    let receiver = Receiver::start(&ip.to_string()).await;
    let port = receiver
        .url
        .rsplit(':')
        .next()
        .expect("port")
        .trim_end_matches("/hook")
        .to_string();
    let url = format!("http://{host}:{port}/hook");
    let (status, created) = add_webhook(&p.admin, &url, &["device.revoked"]).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let Hook { endpoint, .. } = hook(&created);
    let (status, _) = p
        .client
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", p.client.device_id),
            &json!({"reason": "signed_out"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let end = tokio::time::Instant::now() + DEADLINE;
    let row = loop {
        let (_, log) = p
            .admin
            .client
            .get(&format!("/api/v1/webhooks/{endpoint}/deliveries"))
            .await;
        if let Some(row) = log
            .as_array()
            .and_then(|l| l.first())
            .filter(|d| d["attempts"].as_i64() >= Some(1))
        {
            break row.clone();
        }
        assert!(tokio::time::Instant::now() < end, "no attempt: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(row["status"], "pending", "{row}");
    assert!(row["last_status"].is_null(), "no answer came: {row}");
    assert!(receiver.received().is_empty());
    app.stop().await;
}

async fn an_approaching_deadline_is_announced_once_per_threshold(b: Backend) {
    let Some(app) = TestApp::start_with(b, |s| {
        s.incidents.watch_interval_ms = 20;
        s.incidents.deliver_interval_ms = 20;
        s.incidents.deadlines_interval_ms = 20;
        s.incidents.webhook_allow_private = true;
        s.incidents.webhook_allow_http = true;
    })
    .await
    else {
        return;
    };
    let receiver = Receiver::start("127.0.0.1").await;
    let p = app.practice_with_people().await;
    let (status, body) =
        add_webhook(&p.admin, &receiver.url, &["incident.deadline_approaching"]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = p
        .clinician
        .client
        .post("/api/v1/incidents", &json!({"kind": "misdirected_message"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id").to_string();

    let announced = |r: &[alcove_tests::webhooks::Received]| -> Vec<i64> {
        r.iter()
            .filter(|x| x.body.contains("incident.deadline_approaching"))
            .filter_map(|x| serde_json::from_str::<Value>(&x.body).ok())
            .filter_map(|v| v["data"]["deadlines"]["days_left"].as_i64())
            .collect()
    };
    // 47 days after discovery: 13 left, the 30 and 14 thresholds both
    // passed while nobody looked — announced once, as 14.
    app.clock.advance(47 * 86_400);
    let got = receiver
        .wait_until(DEADLINE, |r| !announced(r).is_empty())
        .await;
    assert_eq!(announced(&got), [13], "{got:?}");
    let body: Value = serde_json::from_str(&got[0].body).expect("json");
    assert_eq!(body["data"]["incident_id"], id.as_str());
    // A week later: the 7-day threshold, once (14 is not announced again).
    app.clock.advance(7 * 86_400);
    let got = receiver
        .wait_until(DEADLINE, |r| announced(r).len() >= 2)
        .await;
    assert_eq!(announced(&got), [13, 6], "{got:?}");
    app.stop().await;
}

async fn a_practice_has_at_most_ten_webhooks_even_when_added_at_once(b: Backend) {
    let Some(app) = app(b, false).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let urls: Vec<String> = (0..15)
        .map(|i| format!("https://hooks.example.org/{i}"))
        .collect();
    let adds = urls
        .iter()
        .map(|url| add_webhook(&p.admin, url, &["incident.opened"]));
    let answers = futures_util::future::join_all(adds).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 10, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"], "invalid_field", "{body}");
    }
    let (_, listed) = p.admin.client.get("/api/v1/webhooks").await;
    assert_eq!(listed.as_array().expect("list").len(), 10);
    // Turning one off makes room for one more.
    let first = listed[0]["id"].as_str().expect("id").to_string();
    let (status, _) = p
        .admin
        .client
        .post(&format!("/api/v1/webhooks/{first}/disable"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = add_webhook(
        &p.admin,
        "https://hooks.example.org/x",
        &["incident.opened"],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Turning endpoints back on counts too: with nine on and two off, two
    // enables at once make ten, not eleven.
    let second = listed[1]["id"].as_str().expect("id").to_string();
    let (status, _) = p
        .admin
        .client
        .post(&format!("/api/v1/webhooks/{second}/disable"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let empty = json!({});
    let paths = [&first, &second].map(|id| format!("/api/v1/webhooks/{id}/enable"));
    let enables = paths.iter().map(|path| p.admin.client.post(path, &empty));
    let answers = futures_util::future::join_all(enables).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|(s, _)| *s).collect();
    assert!(
        statuses.contains(&StatusCode::NO_CONTENT)
            && statuses.contains(&StatusCode::UNPROCESSABLE_ENTITY),
        "{answers:?}"
    );
    let (_, listed) = p.admin.client.get("/api/v1/webhooks").await;
    let on = listed
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| e["enabled"] == true)
        .count();
    assert_eq!(on, 10, "{listed}");
    app.stop().await;
}

/// The practice's receiving system is down for three days: the server
/// turns the endpoint off rather than retry for ever, says so to the
/// admins (why and since when, and in the audit log), and once the system
/// is fixed an admin turns it back on and the events still waiting reach
/// it under their own ids.
async fn a_webhook_failing_for_three_days_is_turned_off_told_and_turned_back_on(b: Backend) {
    // Staff stay signed in across the three days the story skips.
    let Some(app) = officer_app(b, |s| {
        s.incidents.deliver_interval_ms = 20;
        s.incidents.webhook_allow_private = true;
        s.incidents.webhook_allow_http = true;
        s.auth.staff_idle_timeout_secs = 30 * 86_400;
        s.auth.session_lifetime_secs = 30 * 86_400;
    })
    .await
    else {
        return;
    };
    let (receiver, p, Hook { endpoint, .. }) = hooked_practice(&app).await;
    receiver.fail_next(usize::MAX);
    reports_own_device_lost(&p.client).await;
    let refused = receiver
        .wait_until(DEADLINE, |r| r.iter().filter(|x| x.refused).count() >= 2)
        .await;
    let mut waiting: Vec<String> = refused.iter().map(|x| x.id.clone()).collect();
    waiting.sort();
    waiting.dedup();
    assert_eq!(
        waiting.len(),
        2,
        "incident.opened and device.revoked: {refused:?}"
    );

    // The receiver stays down: the clock follows the retry schedule (5 s,
    // 5 min, … 20 h, with jitter) a day at a time, each step waiting for
    // the attempts it makes due, until the deliveries run out of attempts
    // and the endpoint is turned off.
    let mut off = Value::Null;
    for _ in 0..12 {
        let before = receiver.received().len();
        app.clock.advance(25 * 3_600);
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (_, listed) = p.admin.client.get("/api/v1/webhooks").await;
            if listed[0]["enabled"] == false {
                off = listed[0].clone();
                break;
            }
            if receiver.received().len() > before {
                break;
            }
            assert!(tokio::time::Instant::now() < end, "no attempt: {listed}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if off != Value::Null {
            break;
        }
    }
    assert_ne!(off, Value::Null, "turned off within the retry schedule");
    assert_eq!(off["disabled_reason"], "failing", "{off}");
    assert!(off["disabled_at"].as_i64().is_some(), "{off}");
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=webhook.endpoint_disabled")
        .await;
    let entries = log["events"].as_array().expect("events");
    assert_eq!(entries.len(), 1, "{log}");
    assert!(log.to_string().contains("failing"), "{log}");

    // Only an admin turns it back on, only their practice's.
    let enable = format!("/api/v1/webhooks/{endpoint}/enable");
    let (status, _) = p.clinician.client.post(&enable, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let other = app.practice_with_admin("Other", "other.admin").await;
    let (status, body) = other.client.post(&enable, &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Fixed: turned back on, the waiting events arrive, each under its id.
    receiver.fail_next(0);
    let (status, body) = p.admin.client.post(&enable, &json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, listed) = p.admin.client.get("/api/v1/webhooks").await;
    assert_eq!(listed[0]["enabled"], true, "{listed}");
    assert_eq!(listed[0]["disabled_reason"], Value::Null, "{listed}");
    assert_eq!(listed[0]["failing_since"], Value::Null, "{listed}");
    let got = receiver
        .wait_until(DEADLINE, |r| {
            waiting
                .iter()
                .all(|id| r.iter().any(|x| !x.refused && &x.id == id))
        })
        .await;
    for id in &waiting {
        let r = got
            .iter()
            .find(|x| !x.refused && &x.id == id)
            .unwrap_or_else(|| panic!("{id} never arrived: {got:?}"));
        // The same event as first refused (its signature's timestamp is
        // the story's clock, three days ahead of the reference library's,
        // so the signature itself is checked in the other stories).
        let before = refused.iter().find(|x| &x.id == id).expect("refused");
        assert_eq!(r.body, before.body);
    }
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=webhook.endpoint_enabled")
        .await;
    assert_eq!(log["events"].as_array().expect("events").len(), 1, "{log}");
    app.stop().await;
}

/// An admin (or a script) presses "Send a test" many times at once: one
/// test goes out, the rest are answered 429 `too_soon`; ten seconds later
/// another may go.
async fn test_deliveries_pressed_at_once_send_one(b: Backend) {
    let Some(app) = app(b, true).await else {
        return;
    };
    let (receiver, p, Hook { endpoint, .. }) = hooked_practice(&app).await;
    let test = format!("/api/v1/webhooks/{endpoint}/test");
    let empty = json!({});
    let presses = (0..8).map(|_| p.admin.client.post(&test, &empty));
    let answers = futures_util::future::join_all(presses).await;
    let sent: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(sent.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::ACCEPTED) {
        assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"], "too_soon", "{body}");
    }
    let first = sent[0]["delivery_id"].as_str().expect("id").to_string();
    receiver
        .wait_until(DEADLINE, |r| r.iter().any(|x| x.id == first))
        .await;
    app.clock.advance(10);
    let (status, body) = p.admin.client.post(&test, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, log) = p
        .admin
        .client
        .get(&format!("/api/v1/webhooks/{endpoint}/deliveries"))
        .await;
    let tests = log
        .as_array()
        .expect("log")
        .iter()
        .filter(|d| d["event_type"] == "webhook.test")
        .count();
    assert_eq!(tests, 2, "{log}");
    app.stop().await;
}

/// An admin revokes a client's phone; whoever holds it keeps trying its
/// session, many times at once. Every request is refused (401
/// `device_revoked`), the use is audited once, and one unauthorized-access
/// incident opens naming the device and its owner.
async fn a_revoked_phone_used_again_opens_one_unauthorized_access_incident(b: Backend) {
    let Some(app) = app(b, false).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let token = app.bearer_session(&p.client).await;
    let (status, body) = p
        .admin
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", p.client.device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let attempts = (0..20).map(|_| {
        let mut c = app.client();
        c.bearer = Some(token.clone());
        async move { c.get("/api/v1/conversations").await }
    });
    for (status, body) in futures_util::future::join_all(attempts).await {
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("device_revoked"))
        );
    }
    let detail = the_one_incident(&p, "unauthorized_access").await;
    let subjects = detail["subjects"].to_string();
    assert!(subjects.contains(p.client.device_id.as_str()), "{detail}");
    let practice: alcove_server::ids::PracticeId = p.client.practice_id.parse().expect("practice");
    let events = app.store.recent_audit(practice, 500).await.expect("audit");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "device.revoked_token_used")
            .count(),
        1,
        "audited once, not once per request"
    );
    app.stop().await;
}

/// The lost phone of the evidence story, reported by the admin once its
/// app had locked itself; the incident's id.
async fn lost_phone_incident(app: &TestApp, p: &PracticePeople) -> String {
    let (conv, mut office, mut phone) = two_device_conversation(app, &p.clinician, &p.client).await;
    for text in ["one", "two"] {
        let (status, _) = office.send_text(app, &conv, text).await;
        assert_eq!(status, StatusCode::OK);
    }
    phone.sync_http(&conv).await;
    app.clock.advance(31 * 60);
    let (status, body) = p
        .admin
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", phone.device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = until_incidents(p, |l| !l.is_empty()).await;
    list[0]["id"].as_str().expect("id").to_string()
}

async fn the_privacy_officer_signs_off_the_prefilled_worksheet_with_a_fresh_code(b: Backend) {
    let Some(app) = officer_app(b, |s| s.auth.max_failures_per_account = 3).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let id = lost_phone_incident(&app, &p).await;
    let path = format!("/api/v1/incidents/{id}");
    let (_, detail) = p.admin.client.get(&path).await;
    let a = &detail["assessment"];
    assert_eq!(a["version"], 0, "{a}");
    let factors = a["factors"].as_array().expect("factors");
    assert_eq!(factors.len(), 4);
    assert!(
        factors[0]["text"]
            .as_str()
            .unwrap()
            .contains("messages of 1 client"),
        "{a}"
    );
    assert!(
        factors[3]["text"]
            .as_str()
            .unwrap()
            .contains("safe harbor hold"),
        "{a}"
    );
    // Each prefilled statement rests on entries of the signed log, which
    // the audit API proves.
    let expected = [
        "message.delivered",
        "device.reported_lost",
        "device.reported_lost",
        "device.reported_lost",
    ];
    for (f, action) in factors.iter().zip(expected) {
        let sources = f["sources"].as_array().expect("sources");
        assert!(!sources.is_empty(), "{f}");
        let seq = sources[0].as_i64().unwrap();
        let (status, proof) = p
            .admin
            .client
            .get(&format!("/api/v1/audit/proof/inclusion?seq={seq}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{proof}");
        assert_eq!(proof["entry"]["action"], action, "{f}");
    }

    // Edited over the version read; a stale or blank save is refused.
    let mut statements = json!({
        "nature_extent": factors[0]["text"],
        "recipient": "Unknown: the phone was left on a bus.",
        "acquired_viewed": factors[2]["text"],
        "mitigation": factors[3]["text"],
    });
    let save = |version: i64, statements: &Value| json!({"expected_version": version, "statements": statements});
    let put = format!("{path}/assessment");
    // Two officers saving over the same version at once: one wins, the
    // other is told (neither overwrites the other silently).
    let body = save(0, &statements);
    let both =
        futures_util::future::join_all((0..2).map(|_| p.admin.client.put(&put, &body))).await;
    let won: Vec<&Value> = both
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(won.len(), 1, "{both:?}");
    assert!(
        both.iter()
            .any(|(s, b)| *s == StatusCode::CONFLICT && b["error"] == "changed"),
        "{both:?}"
    );
    let saved = won[0].clone();
    assert_eq!(saved["version"], 1);
    assert_eq!(
        saved["factors"][1]["text"],
        "Unknown: the phone was left on a bus."
    );
    let (status, err) = p.admin.client.put(&put, &save(0, &statements)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"], "changed");
    statements["mitigation"] = json!("   ");
    let (status, err) = p.admin.client.put(&put, &save(1, &statements)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");

    // Signed off only once decided; only by an admin.
    let secret = p.admin.totp_secret.clone().expect("admin has TOTP");
    let sign = format!("{path}/sign-off");
    app.next_totp_step();
    let (status, err) = p
        .admin
        .client
        .post(
            &sign,
            &json!({"expected_version": 1, "totp_code": app.totp(&secret)}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"], "not_decided");
    let (status, _) = p
        .clinician
        .client
        .post(
            &sign,
            &json!({"expected_version": 1, "totp_code": "000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (from, to) in [("open", "assessing"), ("assessing", "decided")] {
        let (status, body) = p
            .admin
            .client
            .patch(&path, &json!({"expected_status": from, "status": to, "decision": if to == "decided" { json!("not_a_breach") } else { Value::Null },
                "note": "Sealed, share destroyed, locked when lost."}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Guesses at once are bounded by the account's budget, not the burst.
    let wrong = json!({"expected_version": 1, "totp_code": "000000"});
    let answers =
        futures_util::future::join_all((0..8).map(|_| p.admin.client.post(&sign, &wrong))).await;
    let refused = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(refused <= 3 && refused + throttled == 8, "{answers:?}");
    let (_, detail) = p.admin.client.get(&path).await;
    assert!(detail["assessment"]["signed_off_at"].is_null());

    // After the window, the current code signs it off, once.
    app.clock.advance(app.settings.auth.failure_window_secs + 1);
    app.next_totp_step();
    let code = app.totp(&secret);
    let (status, signed) = p
        .admin
        .client
        .post(&sign, &json!({"expected_version": 1, "totp_code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert!(signed["signed_off_at"].is_i64(), "{signed}");
    assert_eq!(signed["signed_off_by"], p.admin.user_id.as_str());
    let (status, err) = p
        .admin
        .client
        .post(&sign, &json!({"expected_version": 1, "totp_code": code}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"], "signed_off");

    // Final: the words and the decision no longer change.
    statements["mitigation"] = json!("changed later");
    let (status, err) = p.admin.client.put(&put, &save(1, &statements)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"], "signed_off");
    let (status, err) = p
        .admin
        .client
        .patch(&path, &json!({"expected_status": "decided", "decision": "breach", "note": "on second thought"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["error"], "signed_off");
    let (_, detail) = p.admin.client.get(&path).await;
    let entries: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entry"].as_str().unwrap())
        .collect();
    assert!(entries.contains(&"assessment saved"), "{entries:?}");
    assert!(entries.contains(&"signed off: not a breach"), "{entries:?}");
    assert_eq!(
        detail["assessment"]["factors"][1]["text"],
        "Unknown: the phone was left on a bus."
    );
    app.stop().await;
}

async fn a_breach_gets_a_draft_notice_with_its_blanks_and_nobody_named(b: Backend) {
    let Some(app) = officer_app(b, |_| {}).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let id = lost_phone_incident(&app, &p).await;
    let path = format!("/api/v1/incidents/{id}");
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "open", "status": "decided", "decision": "breach",
            "note": "The phone was unlocked when it was taken."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, n) = p.admin.client.get(&format!("{path}/notice")).await;
    assert_eq!(status, StatusCode::OK, "{n}");
    let text = n["body"].as_str().expect("body");
    // The five elements of 164.404(c)(1), the dates from the record.
    let (_, detail) = p.admin.client.get(&path).await;
    let discovered = chrono::DateTime::from_timestamp(
        detail["incident"]["discovered_at"]
            .as_i64()
            .expect("discovered"),
        0,
    )
    .expect("date")
    .date_naive()
    .to_string();
    for part in [
        "What happened".to_string(),
        format!("We learned of it on {discovered}."),
        "What information was involved".into(),
        "What we are doing".into(),
        "cut the device off".into(),
        "What you can do".into(),
        "please contact us at [toll-free number".into(),
    ] {
        assert!(text.contains(&part), "{part} in {text}");
    }
    assert_eq!(
        n["blanks"],
        json!([
            "[name]",
            "[toll-free number, email address, web site or postal address]"
        ])
    );
    // Nobody named, nothing said: not the client, not the clinician.
    for who in [&p.client, &p.clinician] {
        assert!(!text.contains(&who.login), "{text}");
        assert!(!text.contains(&who.user_id), "{text}");
    }
    let (status, _) = p.clinician.client.get(&format!("{path}/notice")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The same draft in Spanish, with the same blanks; an unknown language
    // is refused, not answered in English.
    let (status, es) = p
        .admin
        .client
        .get(&format!("{path}/notice?language=es"))
        .await;
    assert_eq!(status, StatusCode::OK, "{es}");
    let texto = es["body"].as_str().expect("body");
    assert!(
        texto.contains(&format!("Nos enteramos el {discovered}.")),
        "{texto}"
    );
    assert!(texto.contains("Qué puede hacer usted"), "{texto}");
    assert_eq!(es["blanks"], n["blanks"]);
    let (status, refused) = p
        .admin
        .client
        .get(&format!("{path}/notice?language=fr"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_query");

    // The report: the record, the notice, and the audit entries behind
    // them, which verify offline against the pinned key.
    let (status, report) = p.admin.client.get(&format!("{path}/report")).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["alcove_incident_report"], 1);
    assert_eq!(report["record"]["incident"]["decision"], "breach");
    assert!(report["notice"]["body"]
        .as_str()
        .unwrap()
        .contains("What happened"));
    let export = report["audit_export"].as_str().expect("export");
    let (_, head) = p.admin.client.get("/api/v1/audit/head").await;
    let key = PublicKey::parse(head["public_key"].as_str().expect("key")).expect("key");
    let verified = verify_export(export.as_bytes(), &key, &[]);
    assert!(verified.ok(), "{verified}");
    let actions: Vec<String> = export
        .lines()
        .skip(1)
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for a in [
        "message.delivered",
        "device.reported_lost",
        "incident.opened",
        "incident.decided",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    // An altered entry does not verify.
    let tampered = export.replacen("\"device.reported_lost\"", "\"device.revoked\"", 1);
    assert!(!verify_export(tampered.as_bytes(), &key, &[]).ok());
    // The whole file verifies as a document: its export, and its record
    // and notice against the digest its own export entry recorded.
    let file = serde_json::to_vec(&report).expect("json");
    let whole = verify_file(&file, &key, &[]);
    assert!(whole.ok(), "{whole}");
    // A record edited after the fact (the decision turned round) does not,
    // though every audit entry in it still does.
    let mut edited = report.clone();
    edited["record"]["incident"]["decision"] = json!("not_a_breach");
    let edited = verify_file(&serde_json::to_vec(&edited).expect("json"), &key, &[]);
    assert!(edited.has("document"), "{edited}");
    let mut edited = report.clone();
    edited["notice"]["body"] = json!("Nothing happened.");
    let edited = verify_file(&serde_json::to_vec(&edited).expect("json"), &key, &[]);
    assert!(edited.has("document"), "{edited}");
    // A later export carries the first one's entry too; the first file's
    // record and time put into it do not verify: only its own, newest
    // entry vouches for a file.
    app.clock.advance(5);
    let (status, newer) = p.admin.client.get(&format!("{path}/report")).await;
    assert_eq!(status, StatusCode::OK, "{newer}");
    let newer_file = serde_json::to_vec(&newer).expect("json");
    let verified = verify_file(&newer_file, &key, &[]);
    assert!(verified.ok(), "{verified}");
    let mut swapped = newer.clone();
    for k in ["record", "notice", "generated_at"] {
        swapped[k] = report[k].clone();
    }
    let swapped = verify_file(&serde_json::to_vec(&swapped).expect("json"), &key, &[]);
    assert!(swapped.has("document"), "{swapped}");
    let (status, _) = p.clinician.client.get(&format!("{path}/report")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

async fn a_burst_of_refused_requests_from_one_account_opens_one_probing_incident(b: Backend) {
    let Some(app) = officer_app(b, |s| s.incidents.probe_refusals = 10).await else {
        return;
    };
    let p = app.practice_with_people().await;
    // A few refusals are a mistake, not an incident.
    for _ in 0..3 {
        let (status, _) = p.client.client.get("/api/v1/incidents").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // A clinician's session tries the admin's pages, 25 requests at once.
    let answers = futures_util::future::join_all(
        (0..25).map(|_| p.clinician.client.get("/api/v1/incidents")),
    )
    .await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::FORBIDDEN));
    let detail = the_one_incident(&p, "unauthorized_access").await;
    assert_eq!(
        detail["subjects"][0]["user_id"],
        p.clinician.user_id.as_str()
    );
    assert_eq!(
        detail["timeline"][0]["entry"],
        "detected: many refused requests from one account"
    );
    // The client's three refusals made none (one incident, the clinician's).
    app.stop().await;
}

/// A client's session asks for conversations by ids that are nobody's (or
/// somebody else's: the answer is the same 404) — someone walking ids,
/// whoever holds the session. Each is recorded with the route and never
/// the id, and the burst opens one incident, as refusals do.
async fn a_session_walking_ids_that_are_not_its_own_opens_one_probing_incident(b: Backend) {
    let Some(app) = officer_app(b, |s| s.incidents.probe_refusals = 10).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let ids: Vec<String> = (0..25).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("/api/v1/conversations/{id}"))
        .collect();
    let answers =
        futures_util::future::join_all(paths.iter().map(|path| p.client.client.get(path))).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::NOT_FOUND),
        "{answers:?}"
    );
    let detail = the_one_incident(&p, "unauthorized_access").await;
    assert_eq!(detail["subjects"][0]["user_id"], p.client.user_id.as_str());
    let (status, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=access.not_found&limit=100")
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let events = log["events"].as_array().expect("events");
    assert_eq!(events.len(), 25, "one record per request: {log}");
    let text = log.to_string();
    assert!(text.contains("/conversations/{id}"), "the route: {log}");
    for id in &ids {
        assert!(!text.contains(id.as_str()), "the id asked for is not kept");
    }
    app.stop().await;
}

async fn the_prefill_itself_can_be_signed_off_unedited(b: Backend) {
    let Some(app) = officer_app(b, |_| {}).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let id = lost_phone_incident(&app, &p).await;
    let path = format!("/api/v1/incidents/{id}");
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "open", "status": "decided", "decision": "not_a_breach",
            "note": "Locked, sealed, key half destroyed."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, before) = p.admin.client.get(&path).await;
    assert_eq!(before["assessment"]["version"], 0, "nothing saved");
    let secret = p.admin.totp_secret.clone().expect("admin has TOTP");
    app.next_totp_step();
    let (status, signed) = p
        .admin
        .client
        .post(
            &format!("{path}/sign-off"),
            &json!({"expected_version": 0, "totp_code": app.totp(&secret)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(signed["version"], 1);
    // What was signed is the prefill as it was read.
    for (a, b) in signed["factors"]
        .as_array()
        .unwrap()
        .iter()
        .zip(before["assessment"]["factors"].as_array().unwrap())
    {
        assert_eq!(a["text"], b["prefilled"]);
    }
    app.stop().await;
}

async fn a_compromised_clinician_account_lists_each_client_whose_records_it_reached(b: Backend) {
    let Some(app) = officer_app(b, |_| {}).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let link = app.invite(&p.clinician, "client").await;
    let alex = app.register_client(&link, "alex.second").await;
    // The clinician writes to two clients; a refused try reaches nothing.
    let (sam_conv, mut office, mut phone) =
        two_device_conversation(&app, &p.clinician, &p.client).await;
    for text in ["first words", "second words"] {
        let (status, _) = office.send_text(&app, &sam_conv, text).await;
        assert_eq!(status, StatusCode::OK);
    }
    phone.sync_http(&sam_conv).await;
    let (alex_conv, mut office2, _) = two_device_conversation(&app, &p.clinician, &alex).await;
    let (status, _) = office2.send_text(&app, &alex_conv, "third words").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = p.clinician.client.get("/api/v1/audit/export").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = p
        .admin
        .client
        .put(
            &format!("/api/v1/users/{}/residence", alex.user_id),
            &json!({"state": "OR"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // An hour later, the clinician's password may be known to someone
    // else: reported.
    app.clock.advance(3_600);
    let (status, made) = p
        .admin
        .client
        .post(
            "/api/v1/incidents",
            &json!({"kind": "credential_compromise", "user_id": p.clinician.user_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let path = format!("/api/v1/incidents/{}", made["id"].as_str().expect("id"));
    let (status, detail) = p.admin.client.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["evidence"], json!([]), "no device named");
    let a = &detail["accounts"][0];
    assert_eq!(a["user_id"], p.clinician.user_id.as_str(), "{a}");
    let mut both = vec![p.client.user_id.clone(), alex.user_id.clone()];
    both.sort();
    assert_eq!(a["affected_clients"], json!(both), "{a}");
    let sent = |client: &str| {
        a["clients"]
            .as_array()
            .expect("clients")
            .iter()
            .find(|c| c["client_id"] == client)
            .map(|c| c["messages_sent"].as_i64().expect("count"))
    };
    assert_eq!(sent(&p.client.user_id), Some(2), "{a}");
    assert_eq!(sent(&alex.user_id), Some(1), "{a}");
    assert!(a["sign_ins"].as_i64().expect("sign-ins") >= 3, "{a}");
    assert_eq!(a["sign_in_addresses"], 1, "{a}");
    assert_eq!(a["secured_at"], Value::Null);
    assert_eq!(a["incomplete"], false);
    let window = a["to"].as_i64().expect("to") - a["from"].as_i64().expect("from");
    assert!(window >= 30 * 86_400, "the look-back before discovery: {a}");
    // The worksheet starts from it, each statement with its entries.
    let factors = &detail["assessment"]["factors"];
    let nature = factors[0]["text"].as_str().expect("text");
    assert!(nature.contains("records of 2 clients"), "{nature}");
    assert!(nature.contains("3 messages sent"), "{nature}");
    assert_eq!(factors[0]["sources"].as_array().map(Vec::len), Some(4));
    assert!(factors[3]["text"]
        .as_str()
        .expect("text")
        .contains("has not been secured"));
    // The media rule counts the people the account reached.
    assert_eq!(
        detail["residence"],
        json!({"by_state": [{"state": "OR", "count": 1}], "not_recorded": 1, "largest": 1}),
        "{detail}"
    );
    // Never content, never a login.
    let text = detail.to_string();
    for secret in [
        "first words",
        "third words",
        "alex.second",
        p.clinician.login.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // The clinician replaces the password: the account is secured.
    let (status, body) = p
        .clinician
        .client
        .post(
            "/api/v1/me/password",
            &json!({"current_password": p.clinician.password,
                    "new_password": "a new and rather long passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, detail) = p.admin.client.get(&path).await;
    let a = &detail["accounts"][0];
    assert!(a["secured_at"].is_i64(), "{a}");
    assert!(a["sources"]["secured"].is_i64(), "{a}");
    assert!(detail["assessment"]["factors"][3]["text"]
        .as_str()
        .expect("text")
        .contains("was secured on"));

    // The officer judges the account was misused only from shortly before
    // the discovery: the search starts there, the clients reached before
    // drop out, and the timeline and the log keep the date and the reason.
    let discovered = detail["incident"]["discovered_at"]
        .as_i64()
        .expect("discovered");
    let since = discovered - 60;
    let status_now = detail["incident"]["status"].clone();
    for (body, why) in [
        (
            json!({"expected_status": status_now, "account_since": discovered + 60,
                "note": "later"}),
            "not after the discovery",
        ),
        (
            json!({"expected_status": status_now, "account_since": since}),
            "a reason is required",
        ),
    ] {
        let (status, answer) = p.admin.client.patch(&path, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {answer}");
    }
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": status_now, "account_since": since,
                    "note": "The laptop was with them until an hour ago."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, log) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=incident.updated")
        .await;
    let detail: Value =
        serde_json::from_str(log["events"][0]["detail"].as_str().expect("detail")).expect("json");
    assert_eq!(detail["account_since"], since, "{log}");
    let (_, detail) = p.admin.client.get(&path).await;
    let a = &detail["accounts"][0];
    assert_eq!(a["from"], since, "{a}");
    assert_eq!(a["affected_clients"], json!([]), "{a}");
    app.stop().await;
}

async fn an_exception_stands_only_on_every_fact_its_clause_requires(b: Backend) {
    let Some(app) = app(b, false).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (status, made) = p
        .clinician
        .client
        .post(
            "/api/v1/incidents",
            &json!({"kind": "misdirected_message", "note": "sent to the wrong client"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let path = format!("/api/v1/incidents/{}", made["id"].as_str().expect("id"));
    let (status, detail) = p.admin.client.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let choices = detail["exception_choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 3);
    assert_eq!(choices[2]["citation"], "164.402(1)(iii)");
    let particulars =
        "The message was withdrawn before it was opened; the app shows it was never read.";
    let decide = |exception: Value, decision: &str| {
        let mut body = json!({"expected_status": "open", "status": "decided", "decision": decision,
                              "note": "Recalled at once."});
        if !exception.is_null() {
            body["exception"] = exception;
        }
        body
    };
    let refused = [
        // The decision without its facts.
        (
            decide(Value::Null, "exception"),
            "an exception names its clause",
        ),
        // A clause without its one fact.
        (
            decide(
                json!({"clause": "unable_to_retain", "affirmed": [], "particulars": particulars}),
                "exception",
            ),
            "164.402(1)(iii) also requires",
        ),
        // A fact of another clause does not stand in for one of its own.
        (
            decide(
                json!({"clause": "unintentional_use",
                       "affirmed": ["workforce_member", "good_faith", "within_scope", "could_not_retain"],
                       "particulars": particulars}),
                "exception",
            ),
            "164.402(1)(i) does not rest on",
        ),
        // Every fact, but no particulars.
        (
            decide(
                json!({"clause": "unable_to_retain", "affirmed": ["could_not_retain"], "particulars": "  "}),
                "exception",
            ),
            "particulars",
        ),
        // An exception's facts with another decision.
        (
            decide(
                json!({"clause": "unable_to_retain", "affirmed": ["could_not_retain"], "particulars": particulars}),
                "not_a_breach",
            ),
            "only the decision",
        ),
    ];
    for (body, says) in refused {
        let (status, answer) = p.admin.client.patch(&path, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {answer}"
        );
        assert_eq!(answer["error"], "exception_facts", "{answer}");
        assert!(
            answer["message"].as_str().expect("message").contains(says),
            "{answer}"
        );
    }
    // Nothing half-written.
    let (_, detail) = p.admin.client.get(&path).await;
    assert_eq!(detail["incident"]["status"], "open");
    assert_eq!(detail["incident"]["decision"], Value::Null);
    assert_eq!(detail["timeline"].as_array().map(Vec::len), Some(1));

    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &decide(
                json!({"clause": "unable_to_retain", "affirmed": ["could_not_retain"],
                       "particulars": format!("  {particulars}  ")}),
                "exception",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["decision"], "exception");
    assert_eq!(
        body["exception"],
        json!({"clause": "unable_to_retain", "affirmed": ["could_not_retain"], "particulars": particulars})
    );
    let (_, detail) = p.admin.client.get(&path).await;
    assert_eq!(
        detail["timeline"][1]["entry"],
        "decided: exception (164.402(1)(iii))"
    );
    // The audit record names the clause, never the officer's words.
    let (status, page) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=incident.decided")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let decided = page["events"].as_array().expect("events");
    assert_eq!(decided.len(), 1, "{page}");
    assert!(
        decided[0].to_string().contains("unable_to_retain"),
        "{page}"
    );
    assert!(!decided[0].to_string().contains("withdrawn"), "{page}");

    // Decided again as a breach: the exception goes with the old decision.
    let (status, body) = p
        .admin
        .client
        .patch(
            &path,
            &json!({"expected_status": "decided", "decision": "breach",
                    "note": "It was opened after all."}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["exception"], Value::Null, "{body}");
    app.stop().await;
}

async fn a_test_delivery_reaches_the_receiver_signed_with_nothing_in_it(b: Backend) {
    let Some(app) = app(b, true).await else {
        return;
    };
    let (receiver, p, Hook { secret, endpoint }) = hooked_practice(&app).await;
    let test = format!("/api/v1/webhooks/{endpoint}/test");
    // Only the practice's admins test its webhooks.
    let (status, _) = p.clinician.client.post(&test, &json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, queued) = p.admin.client.post(&test, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["delivery_id"].as_str().expect("id").to_string();
    // The endpoint subscribes to incident events only; a test goes anyway.
    let got = receiver
        .wait_until(DEADLINE, |r| r.iter().any(|x| x.id == id && !x.refused))
        .await;
    let r = got.iter().find(|x| x.id == id).expect("the test");
    let payload =
        verify(&secret, r).unwrap_or_else(|e| panic!("standardwebhooks refused {r:?}: {e}"));
    assert_eq!(payload["type"], "webhook.test");
    assert_eq!(payload["data"], json!({}), "nothing in it");
    // It shows in the endpoint's delivery log, delivered.
    let row = delivery_row(&p.admin, &endpoint, &id, |d| d["status"] == "delivered").await;
    assert_eq!(row["event_type"], "webhook.test");
    // Not to an endpoint of another practice, nor to none.
    let other = app.practice_with_admin("Other", "other.admin").await;
    let (status, body) = other.client.post(&test, &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = p
        .admin
        .client
        .post(
            &format!("/api/v1/webhooks/{}/test", uuid::Uuid::new_v4()),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    app.stop().await;
}

async fn a_phone_connected_as_it_is_cut_off_is_recorded_as_open_and_claims_no_safe_harbor(
    b: Backend,
) {
    let Some(app) = officer_app(b, |_| {}).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let (_conv, _office, mut phone) = two_device_conversation(&app, &p.clinician, &p.client).await;
    phone.connect(&app).await;
    let (status, body) = p
        .admin
        .client
        .post(
            &format!("/api/v1/devices/{}/revoke", phone.device_id),
            &json!({"reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let detail = the_one_incident(&p, "lost_device").await;
    let ev = &detail["evidence"][0];
    assert_eq!(ev["device_id"], phone.device_id.as_str(), "{ev}");
    assert_eq!(ev["socket_open_at_revocation"], true, "{ev}");
    assert_eq!(ev["safe_harbor_facts"], false, "{ev}");
    app.stop().await;
}

async fn a_database_restored_to_an_earlier_state_is_caught_by_its_witness_at_start(b: Backend) {
    let Some(app) = officer_app(b, |s| s.audit.publish_interval_secs = 1).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let practice = p.admin.practice_id.clone();
    // The publisher hands the practice's heads to the witness file.
    let heads = app.settings.audit_heads_path();
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let witnessed = std::fs::read_to_string(&heads)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|h| h["practice_id"] == practice.as_str())
            .filter_map(|h| h["tree_size"].as_u64())
            .max()
            .unwrap_or(0);
        if witnessed >= 6 {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "no head witnessed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The database is put back as a backup from before had it: three
    // entries, no signed head after them, the watcher's cursor with them.
    // Consistent with itself: only the witness knows better.
    app.raw_sql(&[
        format!("DELETE FROM audit_events WHERE practice_id = '{practice}' AND seq > 3"),
        format!("UPDATE audit_heads SET seq = 3 WHERE practice_id = '{practice}'"),
        format!("DELETE FROM audit_signed_heads WHERE practice_id = '{practice}'"),
        format!("UPDATE incident_watch SET seq = 3 WHERE practice_id = '{practice}'"),
    ])
    .await;
    let app = app.restart().await;
    let detail = the_one_incident(&p, "audit_tampering").await;
    assert_eq!(detail["incident"]["detected"], true, "{detail}");
    let (status, page) = p
        .admin
        .client
        .get("/api/v1/audit/events?action=audit.verification_failed")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let failed = page["events"].as_array().expect("events");
    assert_eq!(failed.len(), 1, "{page}");
    assert!(failed[0].to_string().contains("witness"), "{page}");
    app.stop().await;
}

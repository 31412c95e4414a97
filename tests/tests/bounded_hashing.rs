//! Password hashing is bounded: a burst of sign-ins beyond what the hashing
//! gate holds is answered 503 `busy` with `Retry-After` (the JSON error
//! body), none of those answers counts against the account's throttle,
//! and the owner signs in once the burst has passed — on both backends.

use alcove_tests::{on_both_backends, Backend, TestApp};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(a_burst_beyond_the_hashing_gate_is_answered_busy_and_not_counted,);

async fn a_burst_beyond_the_hashing_gate_is_answered_busy_and_not_counted(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| {
        s.auth.hash_concurrency = 1;
        s.auth.hash_queue_ms = 1;
        // Far above the burst: only the gate can refuse here.
        s.auth.max_failures_per_account = 1000;
        s.auth.max_failures_per_ip = 1000;
        s.auth.max_failures_per_account_global = 1000;
    })
    .await
    else {
        return;
    };
    let client = app.practice_with_people().await.client;
    let wrong = json!({"practice_id": client.practice_id, "login": client.login, "password": "not the password at all", "device_name": "x"});
    let http = reqwest::Client::new();
    let answers = join_all((0..60).map(|_| {
        let req = http
            .post(format!("{}/api/v1/auth/login", app.base))
            .json(&wrong);
        async move {
            let r = req.send().await.expect("request");
            let status = r.status();
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body: Value = r.json().await.expect("JSON body");
            (status, retry, body)
        }
    }))
    .await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let checked = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        !busy.is_empty(),
        "one slot, 1 ms of queue: a burst of 60 overflows it"
    );
    assert!(checked >= 1, "the gate still lets hashes through");
    assert_eq!(busy.len() + checked, 60, "{answers:?}");
    for (_, retry, body) in &busy {
        assert_eq!(body["error"], "busy", "{body}");
        assert!(body["message"].is_string());
        assert!(retry
            .as_deref()
            .is_some_and(|r| r.parse::<u64>().is_ok_and(|n| n >= 1)));
    }

    // Only the checked attempts count: the owner, at the same address, is
    // below a limit set just above them.
    let practice: alcove_server::ids::PracticeId = client.practice_id.parse().expect("practice");
    let failures = app
        .store
        .recent_audit(practice, 1000)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.action == "auth.login" && e.outcome == "failure")
        .count();
    assert_eq!(
        failures, checked,
        "busy answers are not recorded as failed sign-ins"
    );
    let right = json!({"practice_id": client.practice_id, "login": client.login, "password": client.password, "device_name": "x"});
    let r = http
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&right)
        .send()
        .await
        .expect("request");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the owner signs in after the burst"
    );
    app.stop().await;
}

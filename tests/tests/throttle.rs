//! Login throttles hold under concurrent requests, on both backends: a burst
//! of wrong guesses is evaluated at most `limit` times, the right password
//! hidden in a burst gets no extra chances, `mfa_required` answers count,
//! an attacker's failures do not lock the owner out at the owner's address,
//! and forwarding headers count only from a trusted proxy.

use alcove_tests::{on_both_backends, Backend, TestApp};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    a_concurrent_burst_is_evaluated_at_most_limit_times,
    mfa_required_answers_count_as_attempts,
    an_attacker_elsewhere_cannot_lock_the_owner_out,
    forwarding_headers_count_only_from_trusted_proxies,
    invite_redemptions_are_throttled_under_a_burst,
    distributed_guessing_is_refused_and_audited_as_one_lockout,
    invite_lookups_are_guesses_too_and_a_real_invite_does_not_reset_the_count,
    enrolment_tokens_are_guessed_under_the_throttle_too,
);

/// Posts every body to `path` at once, each as its own client (no cookies
/// shared), and gives the statuses in order.
async fn post_all(app: &TestApp, path: &str, bodies: &[Value]) -> Vec<StatusCode> {
    join_all(bodies.iter().map(|body| {
        reqwest::Client::new()
            .post(format!("{}{path}", app.base))
            .json(body)
            .send()
    }))
    .await
    .into_iter()
    .map(|r| r.expect("request").status())
    .collect()
}

/// Posts a login from `from` (an `X-Forwarded-For` address, if any).
async fn login_from(app: &TestApp, body: &Value, from: Option<&str>) -> StatusCode {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(body);
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.expect("request").status()
}

/// Sends `body` one at a time until throttled; returns how many were
/// evaluated (at most `limit + 1` tries).
async fn spend_the_rest(app: &TestApp, body: &Value, from: Option<&str>, limit: usize) -> usize {
    let mut evaluated = 0;
    for _ in 0..=limit {
        match login_from(app, body, from).await {
            StatusCode::TOO_MANY_REQUESTS => return evaluated,
            _ => evaluated += 1,
        }
    }
    panic!("never throttled after {evaluated} more attempts");
}

async fn a_concurrent_burst_is_evaluated_at_most_limit_times(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let client = app.practice_with_people().await.client;
    let limit = app.settings.auth.max_failures_per_account as usize;
    let wrong = json!({"practice_id": client.practice_id, "login": client.login, "password": "not the password at all", "device_name": "x"});
    let right = json!({"practice_id": client.practice_id, "login": client.login, "password": client.password, "device_name": "x"});
    // 40 at once, the right password last among them.
    let mut bodies = vec![wrong.clone(); 39];
    bodies.push(right.clone());
    let answers = join_all(bodies.iter().map(|b| login_from(&app, b, None))).await;
    let evaluated = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED || **s == StatusCode::OK)
        .count();
    let throttled = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(evaluated <= limit, "{evaluated} evaluated of {answers:?}");
    assert_eq!(evaluated + throttled, answers.len(), "{answers:?}");
    // Attempts refused under contention give their slot back, so what is
    // left of the window can still be used — but never more than the limit
    // in all.
    // (A success in the burst clears the account's failures: then the
    // owner is simply signed in.)
    if !answers.contains(&StatusCode::OK) {
        let more = spend_the_rest(&app, &wrong, None, limit).await;
        assert_eq!(evaluated + more, limit, "{answers:?}");
        assert_eq!(
            login_from(&app, &right, None).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    app.stop().await;
}

async fn mfa_required_answers_count_as_attempts(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("P", "admin@p.example").await;
    let limit = app.settings.auth.max_failures_per_account as usize;
    // The right password without a code, many times at once: it must not
    // become a free password oracle.
    let body = json!({"practice_id": admin.practice_id, "login": admin.login, "password": admin.password, "device_name": "x"});
    let answers = join_all((0..limit + 5).map(|_| login_from(&app, &body, None))).await;
    let mfa = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(mfa <= limit, "{answers:?}");
    assert!(
        answers.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
    app.stop().await;
}

async fn an_attacker_elsewhere_cannot_lock_the_owner_out(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| {
        s.auth.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await
    else {
        return;
    };
    let client = app.practice_with_people().await.client;
    let wrong = json!({"practice_id": client.practice_id, "login": client.login, "password": "guess guess guess", "device_name": "x"});
    let attacker = Some("203.0.113.7");
    let answers = join_all((0..30).map(|_| login_from(&app, &wrong, attacker))).await;
    assert!(
        answers.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
    let evaluated = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limit = app.settings.auth.max_failures_per_account as usize;
    assert!(evaluated <= limit, "{answers:?}");
    spend_the_rest(&app, &wrong, attacker, limit).await;
    assert_eq!(
        login_from(&app, &wrong, attacker).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, at home, signs in.
    let right = json!({"practice_id": client.practice_id, "login": client.login, "password": client.password, "device_name": "x"});
    assert_eq!(
        login_from(&app, &right, Some("198.51.100.9")).await,
        StatusCode::OK
    );
    app.stop().await;
}

async fn forwarding_headers_count_only_from_trusted_proxies(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let client = app.practice_with_people().await.client;
    let limit = app.settings.auth.max_failures_per_account as usize;
    let wrong = json!({"practice_id": client.practice_id, "login": client.login, "password": "guess guess guess", "device_name": "x"});
    // Without trusted proxies, a made-up address per request changes nothing.
    let mut statuses = Vec::new();
    for i in 0..=limit {
        let ip = format!("198.51.100.{}", i + 1);
        statuses.push(login_from(&app, &wrong, Some(&ip)).await);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    app.stop().await;
}

async fn invite_redemptions_are_throttled_under_a_burst(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let limit = app.settings.auth.max_failures_per_account as usize;
    // Made-up tokens, all at once, from one address: at most `limit` are
    // looked up, the rest are refused before any work.
    let guesses: Vec<Value> = (0..30)
        .map(|i| {
            json!({"token": format!("guess-{i:040}"), "login": format!("x{i}@p.example"),
                   "display_name": "X", "password": "a long enough passphrase", "device_name": "d"})
        })
        .collect();
    let statuses = post_all(&app, "/api/v1/invites/accept", &guesses).await;
    let looked_up = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(looked_up <= limit, "{statuses:?}");
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // What contention left of the window can still be used, never more
    // than the limit in all; then a real invite from the same address
    // waits for the window too.
    let redeem = |body: Value| {
        let url = format!("{}/api/v1/invites/accept", app.base);
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    let mut more = 0;
    while redeem(guesses[0].clone()).await != StatusCode::TOO_MANY_REQUESTS {
        more += 1;
        assert!(looked_up + more <= limit, "{statuses:?} then {more} more");
    }
    assert_eq!(looked_up + more, limit);
    let link = app.invite(&p.clinician, "client").await;
    let body = json!({"token": alcove_tests::token_of(&link), "login": "real@p.example",
                      "display_name": "R", "password": "a long enough passphrase", "device_name": "d"});
    assert_eq!(redeem(body).await, StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

/// Guesses against one account from many addresses at once, none reaching
/// its own limit: the all-addresses ceiling refuses them, and the account's
/// lockout is audited once — so a credential-compromise incident opens
/// although no single address ever failed ten times.
async fn distributed_guessing_is_refused_and_audited_as_one_lockout(backend: Backend) {
    let Some(app) = TestApp::start_with(backend, |s| {
        s.auth.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
        s.auth.max_failures_per_account_global = 6;
    })
    .await
    else {
        return;
    };
    let client = app.practice_with_people().await.client;
    let wrong = json!({"practice_id": client.practice_id, "login": client.login, "password": "guess guess guess", "device_name": "x"});
    let addresses: Vec<String> = (0..30).map(|i| format!("203.0.113.{}", i + 1)).collect();
    let answers = join_all(
        addresses
            .iter()
            .map(|ip| login_from(&app, &wrong, Some(ip.as_str()))),
    )
    .await;
    let evaluated = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(evaluated <= 6, "{answers:?}");
    assert!(
        answers.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{answers:?}"
    );
    // What contention left of the ceiling, from yet more addresses; then
    // every further guess is refused, and adds nothing to the audit log.
    let mut more = 0;
    for i in 0..=6 {
        let ip = format!("198.51.100.{}", i + 1);
        match login_from(&app, &wrong, Some(&ip)).await {
            StatusCode::TOO_MANY_REQUESTS => break,
            _ => more += 1,
        }
    }
    assert_eq!(evaluated + more, 6, "{answers:?}");
    for i in 0..5 {
        let ip = format!("192.0.2.{}", i + 1);
        assert_eq!(
            login_from(&app, &wrong, Some(&ip)).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let practice: alcove_server::ids::PracticeId = client.practice_id.parse().expect("practice");
    let events = app.store.recent_audit(practice, 200).await.expect("audit");
    let lockouts: Vec<_> = events
        .iter()
        .filter(|e| e.action == "auth.lockout")
        .collect();
    assert_eq!(lockouts.len(), 1, "{lockouts:?}");
    assert_eq!(
        lockouts[0].target_user_id.as_deref(),
        Some(client.user_id.as_str())
    );
    app.stop().await;
}

/// Looking an invitation up (`/invites/inspect`) is guessing its token as
/// much as redeeming it is: a burst of made-up tokens is looked up at most
/// `limit` times, and looking at one real invitation again and again does
/// not reset the address's count.
async fn invite_lookups_are_guesses_too_and_a_real_invite_does_not_reset_the_count(
    backend: Backend,
) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let limit = app.settings.auth.max_failures_per_account as usize;
    let real = alcove_tests::token_of(&app.invite(&p.clinician, "client").await);
    let inspect = |token: String| {
        let url = format!("{}/api/v1/invites/inspect", app.base);
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({ "token": token }))
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    // Half the budget on guesses, one after another.
    for i in 0..limit / 2 {
        assert_eq!(
            inspect(format!("guess-{i:040}")).await,
            StatusCode::NOT_FOUND
        );
    }
    // The real invitation, looked at again and again (one after another:
    // at once, their reservations would count against the budget too).
    for _ in 0..20 {
        assert_eq!(inspect(real.clone()).await, StatusCode::OK);
    }
    // Then a burst of guesses: only the rest of the budget is looked up.
    let guesses = join_all((0..30).map(|i| inspect(format!("later-{i:040}")))).await;
    let looked_up = guesses
        .iter()
        .filter(|s| **s == StatusCode::NOT_FOUND)
        .count();
    assert!(looked_up <= limit - limit / 2, "{guesses:?}");
    assert!(
        guesses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{guesses:?}"
    );
    app.stop().await;
}

/// Made-up TOTP-enrolment tokens, all at once from one address: at most
/// `limit` are looked up, the rest are refused with 429 before any lookup.
async fn enrolment_tokens_are_guessed_under_the_throttle_too(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let limit = app.settings.auth.max_failures_per_account as usize;
    let guesses: Vec<Value> = (0..30)
        .map(|i| {
            json!({"enrollment_token": format!("guess-{i:040}"), "totp_code": "123456",
                   "device_name": "d"})
        })
        .collect();
    let statuses = post_all(&app, "/api/v1/auth/mfa/enroll", &guesses).await;
    let looked_up = statuses
        .iter()
        .filter(|s| **s == StatusCode::NOT_FOUND)
        .count();
    // At most the limit. Possibly none: on PostgreSQL every reservation
    // of the burst can commit before any of them counts, and then each
    // sees the window full (refusing is the safe side); what is left of
    // the budget is used one at a time below.
    assert!(looked_up <= limit, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::NOT_FOUND || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // What contention left of the window can still be used, one at a
    // time, never more than the limit in all; then every guess is refused.
    let client = alcove_tests::ApiClient::new(&app.base);
    let mut more = 0;
    loop {
        let (status, body) = client
            .post(
                "/api/v1/auth/mfa/enroll",
                &json!({"enrollment_token": format!("late-{more}"), "totp_code": "123456", "device_name": "d"}),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["error"], "throttled");
            break;
        }
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        more += 1;
        assert!(looked_up + more <= limit, "{looked_up} + {more} lookups");
    }
    app.stop().await;
}

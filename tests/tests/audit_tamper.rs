//! Tamper evidence: every kind of tampering with the audit log, done with
//! raw SQL directly in the database, is detected and named by the verifier
//! — modified, deleted, inserted, reordered entries and a truncated log —
//! on SQLite and PostgreSQL. Each scenario runs on its own practice, whose
//! log is independent.

use alcove_server::audit::canonical::Entry;
use alcove_server::audit::service::AuditService;
use alcove_server::audit::signing::{PublicKey, SignedTreeHead};
use alcove_server::audit::verify::{verify_database, Problem, Report};
use alcove_server::audit::{Event, RequestMeta};
use alcove_server::config::DatabaseKind;
use alcove_server::ids::{PracticeId, UserId};
use alcove_tests::{on_both_backends, Backend, TestApp};

/// Runs raw SQL on the test's database, outside the server.
async fn sql(app: &TestApp, statements: &[String]) {
    app.raw_sql(statements).await
}

fn bytes_literal(app: &TestApp, bytes: &[u8]) -> String {
    let hex = alcove_server::audit::canonical::hex(bytes);
    match app.settings.database() {
        DatabaseKind::Sqlite(_) => format!("X'{hex}'"),
        DatabaseKind::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

/// A practice with `n` entries in its log and a signed head over them.
async fn practice_with_log(app: &TestApp, name: &str, n: usize) -> (String, SignedTreeHead) {
    let practice: PracticeId = app.new_practice(name).await.practice_id;
    let meta = RequestMeta {
        request_id: Some("req".into()),
        ip: Some("127.0.0.0/24".into()),
        ..Default::default()
    };
    // practice.created and invite.created are entries 1 and 2.
    for i in 2..n {
        let ev = Event::new(practice, alcove_server::audit::Action::UsersViewed, &meta)
            .actor(UserId::new(), None)
            .target_user(UserId::new())
            .detail(serde_json::json!({"i": i}));
        app.store
            .append_audit(ev, 1_700_000_000 + i as i64)
            .await
            .expect("append");
    }
    let service = AuditService::new(&app.settings, app.store.audit_store());
    let (head, tree) = service
        .sign_head(&practice.to_string(), 1_800_000_000)
        .await
        .expect("sign");
    assert_eq!(tree.size(), n);
    (practice.to_string(), head)
}

async fn verify(app: &TestApp, practice: &str, witness: &[SignedTreeHead]) -> Report {
    let key = public_key(app);
    let store = alcove_server::storage::audit_store::open(&app.settings)
        .await
        .expect("audit store");
    let report = verify_database(&*store, practice, &key, witness)
        .await
        .expect("verify");
    store.close().await;
    report
}

fn public_key(app: &TestApp) -> PublicKey {
    AuditService::new(&app.settings, app.store.audit_store())
        .key()
        .expect("key")
        .public_key()
}

async fn row(app: &TestApp, practice: &str, seq: i64) -> Entry {
    let store = alcove_server::storage::audit_store::open(&app.settings)
        .await
        .expect("audit store");
    let r = store.audit_rows(practice, seq - 1, 1).await.expect("row");
    store.close().await;
    r.into_iter().next().expect("row exists").entry
}

on_both_backends!(tampering_in_the_database_is_detected_and_named);

async fn tampering_in_the_database_is_detected_and_named(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    const N: usize = 10;

    // Intact: verifies, against the stored head.
    let (p, _) = practice_with_log(&app, "intact", N).await;
    let report = verify(&app, &p, &[]).await;
    assert!(report.ok(), "{report}");
    assert_eq!(
        (report.entries, report.verified_size),
        (N, N as u64),
        "{report}"
    );

    // Modified: one field of entry 3 changed in place.
    let (p, _) = practice_with_log(&app, "modified", N).await;
    sql(
        &app,
        &[format!(
            "UPDATE audit_events SET action = 'auth.login' WHERE practice_id = '{p}' AND seq = 3"
        )],
    )
    .await;
    let report = verify(&app, &p, &[]).await;
    assert_eq!(
        report.problems,
        vec![Problem::Modified { seq: 3 }],
        "{report}"
    );

    // Modified with its leaf hash recomputed: the signed head catches it.
    let (p, _) = practice_with_log(&app, "modified-rehashed", N).await;
    let mut e = row(&app, &p, 6).await;
    e.outcome = "failure".into();
    let leaf = bytes_literal(&app, &e.leaf_hash());
    sql(&app, &[format!(
        "UPDATE audit_events SET outcome = 'failure', leaf_hash = {leaf} WHERE practice_id = '{p}' AND seq = 6"
    )])
    .await;
    let report = verify(&app, &p, &[]).await;
    assert_eq!(
        report.problems,
        vec![Problem::HeadMismatch {
            tree_size: N as u64,
            last_good: 0
        }],
        "{report}"
    );

    // Deleted: entry 4 removed.
    let (p, _) = practice_with_log(&app, "deleted", N).await;
    sql(
        &app,
        &[format!(
            "DELETE FROM audit_events WHERE practice_id = '{p}' AND seq = 4"
        )],
    )
    .await;
    let report = verify(&app, &p, &[]).await;
    assert_eq!(
        report.problems,
        vec![Problem::Deleted { seq: 4 }],
        "{report}"
    );

    // Deleted, and the later entries renumbered to close the gap.
    let (p, _) = practice_with_log(&app, "deleted-renumbered", N).await;
    sql(
        &app,
        &[
            format!("DELETE FROM audit_events WHERE practice_id = '{p}' AND seq = 4"),
            format!(
                "UPDATE audit_events SET seq = -(seq - 1) WHERE practice_id = '{p}' AND seq > 4"
            ),
            format!("UPDATE audit_events SET seq = -seq WHERE practice_id = '{p}' AND seq < 0"),
            format!("UPDATE audit_heads SET seq = seq - 1 WHERE practice_id = '{p}'"),
        ],
    )
    .await;
    let report = verify(&app, &p, &[]).await;
    assert!(report.has("deleted"), "{report}");
    assert!(
        report.problems.contains(&Problem::Deleted { seq: 4 }),
        "{report}"
    );
    assert!(
        !report.has("truncated") && !report.has("modified"),
        "{report}"
    );

    // Inserted: a fabricated entry (with a correct leaf hash) at seq 5, the
    // later entries renumbered to make room and the counter moved on.
    let (p, _) = practice_with_log(&app, "inserted", N).await;
    let at = row(&app, &p, 5).await.at;
    let fake = Entry {
        practice_id: p.clone(),
        seq: 5,
        at,
        actor_user_id: None,
        actor_device_id: None,
        action: "auth.logout".into(),
        target_user_id: None,
        target_device_id: None,
        target_conversation_id: None,
        outcome: "success".into(),
        request_id: None,
        ip: None,
        detail: None,
    };
    let leaf = bytes_literal(&app, &fake.leaf_hash());
    sql(
        &app,
        &[
            format!(
                "UPDATE audit_events SET seq = -(seq + 1) WHERE practice_id = '{p}' AND seq >= 5"
            ),
            format!("UPDATE audit_events SET seq = -seq WHERE practice_id = '{p}' AND seq < 0"),
            format!(
                "INSERT INTO audit_events (practice_id, seq, at, action, outcome, leaf_hash)
                 VALUES ('{p}', 5, {at}, 'auth.logout', 'success', {leaf})"
            ),
            format!("UPDATE audit_heads SET seq = seq + 1 WHERE practice_id = '{p}'"),
        ],
    )
    .await;
    let report = verify(&app, &p, &[]).await;
    assert_eq!(
        report.problems,
        vec![Problem::Inserted { seq: 5 }],
        "{report}"
    );

    // Inserted at the end, past the sequence counter.
    let (p, _) = practice_with_log(&app, "appended", N).await;
    sql(&app, &[format!(
        "INSERT INTO audit_events (practice_id, seq, at, action, outcome) VALUES ('{p}', {}, 1, 'auth.login', 'success')",
        N + 1
    )])
    .await;
    let report = verify(&app, &p, &[]).await;
    assert!(
        report
            .problems
            .contains(&Problem::Inserted { seq: N as i64 + 1 }),
        "{report}"
    );

    // Reordered: entries 3 and 4 swap places.
    let (p, _) = practice_with_log(&app, "reordered", N).await;
    sql(
        &app,
        &[
            format!("UPDATE audit_events SET seq = -1 WHERE practice_id = '{p}' AND seq = 3"),
            format!("UPDATE audit_events SET seq = 3 WHERE practice_id = '{p}' AND seq = 4"),
            format!("UPDATE audit_events SET seq = 4 WHERE practice_id = '{p}' AND seq = -1"),
        ],
    )
    .await;
    let report = verify(&app, &p, &[]).await;
    assert_eq!(
        report.problems,
        vec![Problem::Reordered {
            seq: 4,
            found_at: 3
        }],
        "{report}"
    );

    // Truncated: the last three entries removed and the counter wound back.
    let (p, head) = practice_with_log(&app, "truncated", N).await;
    sql(
        &app,
        &[
            format!(
                "DELETE FROM audit_events WHERE practice_id = '{p}' AND seq > {}",
                N - 3
            ),
            format!(
                "UPDATE audit_heads SET seq = {} WHERE practice_id = '{p}'",
                N - 3
            ),
        ],
    )
    .await;
    let report = verify(&app, &p, &[]).await;
    assert_eq!(
        report.problems,
        vec![Problem::Truncated {
            expected: N as i64,
            found: N as i64 - 3
        }],
        "{report}"
    );
    // ...and the stored signed heads deleted too: only a witness's copy of a
    // head shows it now.
    sql(
        &app,
        &[format!(
            "DELETE FROM audit_signed_heads WHERE practice_id = '{p}'"
        )],
    )
    .await;
    let report = verify(&app, &p, &[]).await;
    assert!(
        report.ok(),
        "without outside evidence a clean truncation is invisible: {report}"
    );
    let report = verify(&app, &p, &[head]).await;
    assert_eq!(
        report.problems,
        vec![Problem::Truncated {
            expected: N as i64,
            found: N as i64 - 3
        }],
        "{report}"
    );

    // A forged head (signed by another key) is named, not trusted.
    let (p, mut head) = practice_with_log(&app, "forged-head", N).await;
    head.tree_size += 5;
    let report = verify(&app, &p, &[head]).await;
    assert!(
        report.has("bad_signature") && !report.has("truncated"),
        "{report}"
    );

    // The server refuses to sign a head over a damaged log: an entry since
    // the last head that does not match its leaf hash, or one without one.
    let (p, _) = practice_with_log(&app, "no-signing", N).await;
    let service = AuditService::new(&app.settings, app.store.audit_store());
    let practice: PracticeId = p.parse().expect("id");
    app.store
        .append_audit(
            Event::new(
                practice,
                alcove_server::audit::Action::UsersListed,
                &RequestMeta::default(),
            ),
            1,
        )
        .await
        .expect("append");
    assert!(service.sign_head(&p, 1_900_000_000).await.is_ok());
    app.store
        .append_audit(
            Event::new(
                practice,
                alcove_server::audit::Action::UsersListed,
                &RequestMeta::default(),
            ),
            2,
        )
        .await
        .expect("append");
    sql(
        &app,
        &[format!(
            "UPDATE audit_events SET action = 'x' WHERE practice_id = '{p}' AND seq = {}",
            N + 2
        )],
    )
    .await;
    assert!(
        service.sign_head(&p, 1_900_000_001).await.is_err(),
        "entry not matching its leaf hash"
    );
    sql(&app, &[format!("UPDATE audit_events SET action = 'users.listed', leaf_hash = NULL WHERE practice_id = '{p}' AND seq = {}", N + 2)]).await;
    assert!(
        service.sign_head(&p, 1_900_000_002).await.is_err(),
        "entry without a leaf hash"
    );
    // A head that the log no longer extends.
    sql(
        &app,
        &[
            format!(
                "DELETE FROM audit_events WHERE practice_id = '{p}' AND seq = {}",
                N + 2
            ),
            format!(
                "UPDATE audit_events SET leaf_hash = NULL WHERE practice_id = '{p}' AND seq = 1"
            ),
        ],
    )
    .await;
    assert!(service.sign_head(&p, 1_900_000_003).await.is_err());
    app.stop().await;
}

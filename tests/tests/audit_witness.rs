//! Signed tree heads leave the server: the periodic publisher hands every
//! new head to the witnesses (a file, a URL), a failing witness is retried,
//! and `alcove audit verify` (the library behind the subcommand) checks the
//! database against the witnessed heads.

use alcove_server::audit::service::{self, AuditService, FileWitness, HttpWitness, Witness};
use alcove_server::audit::signing::SignedTreeHead;
use alcove_server::audit::verify::{read_heads_file, run_cli, verify_database};
use alcove_server::audit::{Event, RequestMeta};
use alcove_server::clock::Clock;
use alcove_tests::{on_both_backends, Backend, TestApp};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A one-route HTTP server: every POST body goes to the channel, answered
/// with `status`.
async fn witness_server(status: u16) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/heads", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let _ = tx.send(text[end + 4..end + 4 + len].to_string());
                            let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                            let _ = sock.write_all(answer.as_bytes()).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, rx)
}

async fn next_head(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> SignedTreeHead {
    let body = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a head within 20 s")
        .expect("open");
    serde_json::from_str(&body).expect("a signed tree head")
}

on_both_backends!(publisher_hands_heads_to_witnesses);

async fn publisher_hands_heads_to_witnesses(backend: Backend) {
    let (url, mut posted) = witness_server(200).await;
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    // Witnesses of this test's own publisher, apart from the server's (which
    // publishes to the server's settings' witnesses on its own schedule).
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = app.settings.clone();
    settings.audit.witness_url = Some(url.clone());
    settings.audit.witness_file = Some(dir.path().join("heads.jsonl"));
    let practice = app.new_practice("P").await.practice_id;
    let audit = AuditService::new(&settings, app.store.audit_store());
    let key = audit.key().expect("key").public_key();
    let witnesses = service::configured_witnesses(&settings);
    assert_eq!(witnesses.len(), 2, "heads file + URL");
    let task = service::spawn_publisher(
        audit.clone(),
        Arc::new(app.clock.clone()),
        witnesses,
        Duration::from_millis(50),
        None,
    );

    // The first round publishes the new practice's head (2 entries) to both.
    let head = next_head(&mut posted).await;
    assert_eq!(
        (head.practice_id.as_str(), head.tree_size),
        (practice.to_string().as_str(), 2)
    );
    assert!(key.verify_head(&head));
    // The log grows; the next round publishes the larger head, and an
    // unchanged log is not published again.
    // In one transaction: a round that fell between three separate appends
    // would publish a head of 3 or 4 first (seen once on a loaded machine).
    let meta = RequestMeta::default();
    let grown: Vec<Event> = (0..3)
        .map(|_| Event::new(practice, alcove_server::audit::Action::UsersListed, &meta))
        .collect();
    app.store
        .append_audits(&grown, app.clock.now())
        .await
        .expect("append");
    let head = next_head(&mut posted).await;
    assert_eq!(head.tree_size, 5);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), posted.recv())
            .await
            .is_err(),
        "nothing new, nothing posted"
    );
    task.abort();

    // The heads file holds the same heads.
    let file = settings.audit_heads_path();
    let deadline = Instant::now() + Duration::from_secs(10);
    let heads = loop {
        let heads = read_heads_file(&std::fs::read_to_string(&file).unwrap_or_default())
            .expect("heads file");
        if heads.iter().any(|h| h.tree_size == 5) || Instant::now() > deadline {
            break heads;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(
        heads.iter().map(|h| h.tree_size).collect::<Vec<_>>(),
        vec![2, 5]
    );
    assert!(heads.iter().all(|h| key.verify_head(h)));

    // The database verifies against them; cut the log and only the witness
    // still knows.
    let store = audit.store().await.expect("store");
    assert!(
        verify_database(&*store, &practice.to_string(), &key, &heads)
            .await
            .expect("verify")
            .ok()
    );
    assert!(
        run_cli(&settings, None, None, None, None).await.is_ok(),
        "alcove audit verify: clean"
    );
    cut_log(&app, &practice.to_string()).await;
    let report = verify_database(&*store, &practice.to_string(), &key, &heads)
        .await
        .expect("verify");
    assert!(report.has("truncated"), "{report}");
    // The subcommand reads the configured heads file by default and fails.
    let err = run_cli(&settings, None, None, None, None)
        .await
        .expect_err("fails");
    assert!(err.to_string().contains("failed verification"), "{err}");
    // The same with the heads file and the public key given explicitly.
    let hex = key.to_hex();
    assert!(run_cli(
        &settings,
        None,
        Some(practice.to_string()),
        Some(file.clone()),
        Some(hex)
    )
    .await
    .is_err());
    app.stop().await;
}

async fn cut_log(app: &TestApp, practice: &str) {
    use sqlx::Connection;
    let statements = [
        format!("DELETE FROM audit_events WHERE practice_id = '{practice}' AND seq > 3"),
        format!("UPDATE audit_heads SET seq = 3 WHERE practice_id = '{practice}'"),
        format!("DELETE FROM audit_signed_heads WHERE practice_id = '{practice}'"),
    ];
    match app.database_url() {
        Some(url) => {
            let mut c = sqlx::PgConnection::connect(&url).await.expect("pg");
            for s in &statements {
                sqlx::query(s).execute(&mut c).await.expect("sql");
            }
        }
        None => {
            let path = app.settings.data_dir.join("alcove.db");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("sqlite");
            for s in &statements {
                sqlx::query(s).execute(&mut c).await.expect("sql");
            }
        }
    }
}

#[tokio::test]
async fn a_failing_witness_is_retried_next_round() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let practice = app.new_practice("P").await.practice_id;
    let (url, mut posted) = witness_server(503).await;
    let dir = tempfile::tempdir().expect("dir");
    let witnesses: Vec<Arc<dyn Witness>> = vec![
        Arc::new(FileWitness {
            path: dir.path().join("heads.jsonl"),
        }),
        Arc::new(HttpWitness::new(&url)),
    ];
    let audit = AuditService::new(&app.settings, app.store.audit_store());
    let mut published = std::collections::HashMap::new();
    let heads = service::publish_once(&audit, &witnesses, &mut published, 1, None)
        .await
        .expect("round");
    assert_eq!(heads.len(), 1);
    assert_eq!(next_head(&mut posted).await.tree_size, 2);
    assert!(
        published.is_empty(),
        "not marked published while a witness failed"
    );
    service::publish_once(&audit, &witnesses, &mut published, 2, None)
        .await
        .expect("round");
    assert_eq!(next_head(&mut posted).await.tree_size, 2, "retried");
    let _ = practice;
    app.stop().await;
}

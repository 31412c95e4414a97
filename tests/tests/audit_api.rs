//! The admin audit API: query with filters and cursor paging, signed head,
//! inclusion and consistency proofs, self-verifying exports (JSONL, CSV),
//! admin-only, practice-scoped, every view itself audited, nothing editable;
//! and tampering with an export is detected and named.

use alcove_server::audit::canonical::parse_hash;
use alcove_server::audit::merkle;
use alcove_server::audit::signing::{PublicKey, SignedTreeHead};
use alcove_server::audit::verify::{verify_export, Problem};
use alcove_tests::{on_both_backends, Backend, Person, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

async fn raw_get(person: &Person, path: &str) -> (StatusCode, String) {
    let r = person
        .client
        .http
        .get(format!("{}{path}", person.client.base))
        .send()
        .await
        .expect("request");
    (r.status(), r.text().await.expect("body"))
}

fn events(body: &Value) -> Vec<Value> {
    body["events"].as_array().expect("events").clone()
}

async fn pinned_key(admin: &Person) -> PublicKey {
    let (status, body) = admin.client.get("/api/v1/audit/head").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    PublicKey::parse(body["public_key"].as_str().expect("key")).expect("key parses")
}

on_both_backends!(
    admins_query_prove_and_export_the_log,
    tampering_with_an_export_is_detected_and_named
);

async fn admins_query_prove_and_export_the_log(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("A", "admin@a.example").await;
    let clinician = app
        .register_staff(&app.invite(&admin, "clinician").await, "clin@a.example")
        .await;
    let client = app
        .register_client(&app.invite(&clinician, "client").await, "client@a.example")
        .await;
    let other = app.practice_with_admin("B", "admin@b.example").await;
    // Admin views the client's record: an access to the client.
    assert_eq!(
        admin
            .client
            .get(&format!("/api/v1/users/{}", client.user_id))
            .await
            .0,
        StatusCode::OK
    );

    // Everything, newest first; the view itself is the newest entry.
    let (status, body) = admin.client.get("/api/v1/audit/events").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all = events(&body);
    assert_eq!(all[0]["action"], "audit.viewed", "{body}");
    assert_eq!(all[0]["actor_user_id"], admin.user_id.as_str());
    assert_eq!(all[0]["actor_device_id"], admin.device_id.as_str());
    let seqs: Vec<i64> = all
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] == w[1] + 1),
        "dense, newest first: {seqs:?}"
    );
    assert_eq!(*seqs.last().expect("one"), 1);

    // Accounting of access for the client.
    let (_, body) = admin
        .client
        .get(&format!("/api/v1/audit/events?client={}", client.user_id))
        .await;
    let about_client = events(&body);
    assert!(
        about_client
            .iter()
            .all(|e| e["target_user_id"] == client.user_id.as_str()),
        "{body}"
    );
    let actions: Vec<&str> = about_client
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"users.viewed") && actions.contains(&"invite.redeemed"),
        "{actions:?}"
    );
    // By actor, device, action, outcome, time.
    let (_, body) = admin
        .client
        .get(&format!("/api/v1/audit/events?user={}", clinician.user_id))
        .await;
    assert!(
        !events(&body).is_empty()
            && events(&body)
                .iter()
                .all(|e| e["actor_user_id"] == clinician.user_id.as_str())
    );
    let (_, body) = admin
        .client
        .get(&format!("/api/v1/audit/events?device={}", client.device_id))
        .await;
    assert!(!events(&body).is_empty(), "{body}");
    assert!(events(&body)
        .iter()
        .all(|e| e["actor_device_id"] == client.device_id.as_str()
            || e["target_device_id"] == client.device_id.as_str()));
    let (_, body) = admin
        .client
        .get("/api/v1/audit/events?action=invite.created")
        .await;
    assert_eq!(
        events(&body).len(),
        3,
        "setup + clinician + client invites: {body}"
    );
    let (_, body) = admin
        .client
        .get("/api/v1/audit/events?outcome=failure")
        .await;
    assert!(events(&body).is_empty(), "{body}");
    let now = alcove_server::clock::Clock::now(&app.clock);
    let (_, body) = admin
        .client
        .get(&format!("/api/v1/audit/events?from={}", now + 1000))
        .await;
    assert!(events(&body).is_empty(), "{body}");
    // Cursor paging walks the whole log once.
    let (mut cursor, mut walked) = (None::<i64>, Vec::new());
    loop {
        let path = match cursor {
            Some(c) => format!("/api/v1/audit/events?action=audit.viewed&limit=2&cursor={c}"),
            None => "/api/v1/audit/events?action=audit.viewed&limit=2".to_string(),
        };
        let (status, body) = admin.client.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        walked.extend(
            events(&body)
                .iter()
                .map(|e| e["seq"].as_i64().expect("seq")),
        );
        match body["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(
        walked.len() >= 5 && walked.windows(2).all(|w| w[0] > w[1]),
        "{walked:?}"
    );
    // Bad filters.
    assert_eq!(
        admin.client.get("/api/v1/audit/events?client=nope").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        admin
            .client
            .get("/api/v1/audit/events?outcome=maybe")
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        admin.client.get("/api/v1/audit/events?colour=red").await.0,
        StatusCode::BAD_REQUEST
    );

    // Admins only; the refused attempt is itself recorded.
    for who in [&clinician, &client] {
        for path in [
            "/api/v1/audit/events",
            "/api/v1/audit/export",
            "/api/v1/audit/head",
            "/api/v1/audit/proof/inclusion?seq=1",
            "/api/v1/audit/proof/consistency?first=1",
        ] {
            let (status, body) = who.client.get(path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        }
    }
    let (_, body) = admin
        .client
        .get(&format!(
            "/api/v1/audit/events?outcome=failure&user={}",
            client.user_id
        ))
        .await;
    assert_eq!(events(&body).len(), 5, "{body}");
    assert_eq!(
        app.client().get("/api/v1/audit/events").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Nothing edits or deletes entries.
    assert_eq!(
        admin.client.delete("/api/v1/audit/events").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        admin
            .client
            .post("/api/v1/audit/events", &serde_json::json!({}))
            .await
            .0,
        StatusCode::METHOD_NOT_ALLOWED
    );

    // Practice-scoped: B sees only B.
    let (_, mine) = admin.client.get("/api/v1/me").await;
    let (status, body) = other.client.get("/api/v1/audit/events?limit=500").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        events(&body)
            .iter()
            .all(|e| e["practice_id"] != mine["practice_id"]),
        "{body}"
    );
    let (_, body) = other
        .client
        .get(&format!("/api/v1/audit/events?client={}", client.user_id))
        .await;
    assert!(events(&body).is_empty(), "{body}");

    // Signed head, inclusion and consistency proofs.
    let (_, head) = admin.client.get("/api/v1/audit/head").await;
    let key = PublicKey::parse(head["public_key"].as_str().expect("key")).expect("key");
    let sth: SignedTreeHead = serde_json::from_value(head["head"].clone()).expect("head");
    assert!(key.verify_head(&sth));
    assert_eq!(sth.practice_id, mine["practice_id"].as_str().expect("id"));
    let (status, inc) = admin
        .client
        .get("/api/v1/audit/proof/inclusion?seq=3")
        .await;
    assert_eq!(status, StatusCode::OK, "{inc}");
    let inc_head: SignedTreeHead = serde_json::from_value(inc["head"].clone()).expect("head");
    assert!(key.verify_head(&inc_head));
    assert!(proves(&inc, 2, &inc_head));
    assert_eq!(
        admin
            .client
            .get("/api/v1/audit/proof/inclusion?seq=100000")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Several entries under one head, in one request: each proof verifies
    // against that head; asking past the log's end is 404.
    let (status, batch) = admin
        .client
        .get("/api/v1/audit/proof/inclusions?seqs=3,1,3,2")
        .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    let batch_head: SignedTreeHead = serde_json::from_value(batch["head"].clone()).expect("head");
    assert!(key.verify_head(&batch_head));
    let proofs = batch["proofs"].as_array().expect("proofs");
    assert_eq!(proofs.len(), 3, "duplicates once each: {batch}");
    for (i, p) in proofs.iter().enumerate() {
        assert_eq!(p["leaf_index"], i as u64, "ascending: {batch}");
        assert!(proves(p, i as u64, &batch_head), "{p}");
    }
    assert_eq!(
        admin
            .client
            .get("/api/v1/audit/proof/inclusions?seqs=1,100000")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (status, con) = admin
        .client
        .get(&format!(
            "/api/v1/audit/proof/consistency?first={}",
            sth.tree_size
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{con}");
    let new_head: SignedTreeHead = serde_json::from_value(con["head"].clone()).expect("head");
    assert!(
        new_head.tree_size > sth.tree_size,
        "the proof request itself was logged"
    );
    let proof: Vec<_> = con["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| parse_hash(h.as_str().expect("hex")).expect("hash"))
        .collect();
    assert!(merkle::verify_consistency(
        sth.tree_size,
        new_head.tree_size,
        &sth.root().expect("r"),
        &new_head.root().expect("r"),
        &proof
    ));

    // Exports verify on their own, whole or filtered, JSONL or CSV.
    for (path, kind) in [
        ("/api/v1/audit/export".to_string(), "jsonl"),
        ("/api/v1/audit/export?format=csv".to_string(), "csv"),
        (
            format!("/api/v1/audit/export?client={}", client.user_id),
            "jsonl",
        ),
        (
            format!("/api/v1/audit/export?format=csv&client={}", client.user_id),
            "csv",
        ),
    ] {
        let (status, text) = raw_get(&admin, &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {text}");
        let report = verify_export(text.as_bytes(), &key, std::slice::from_ref(&sth));
        assert!(report.ok(), "{path}: {report}");
        assert!(report.entries > 0);
        if kind == "csv" {
            assert!(text.starts_with("\"alcove-audit-export-v1\""), "{text}");
        }
        if path.contains("client=") {
            assert_eq!(report.entries, about_client.len(), "{path}");
        }
    }
    assert_eq!(
        admin.client.get("/api/v1/audit/export?format=pdf").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (_, body) = admin
        .client
        .get("/api/v1/audit/events?action=audit.exported&outcome=success")
        .await;
    assert_eq!(events(&body).len(), 4, "every export is audited: {body}");
    let (_, body) = admin
        .client
        .get("/api/v1/audit/events?action=audit.proof_viewed&outcome=success")
        .await;
    assert_eq!(
        events(&body).len(),
        5,
        "one entry asked for twice (once absent), a batch twice (once past the end), consistency once: {body}"
    );
    app.stop().await;
}

fn line_value(text: &str, n: usize) -> Value {
    serde_json::from_str(text.lines().nth(n).expect("line")).expect("json")
}

fn with_lines(text: &str, f: impl FnOnce(&mut Vec<String>)) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    f(&mut lines);
    lines.join("\n") + "\n"
}

async fn tampering_with_an_export_is_detected_and_named(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let admin = app.practice_with_admin("A", "admin@a.example").await;
    for _ in 0..3 {
        app.invite(&admin, "client").await;
    }
    let key = pinned_key(&admin).await;
    let (status, text) = raw_get(&admin, "/api/v1/audit/export").await;
    assert_eq!(status, StatusCode::OK);
    let n = text.lines().count() - 1;
    assert!(n >= 8, "{n}");
    assert!(verify_export(text.as_bytes(), &key, &[]).ok());
    let manifest = &line_value(&text, 0)["manifest"];
    assert!(
        manifest["previous_head"]["tree_size"]
            .as_u64()
            .expect("previous head")
            < manifest["head"]["tree_size"].as_u64().expect("head")
    );
    assert!(
        !manifest["consistency_proof"]
            .as_array()
            .expect("proof")
            .is_empty(),
        "checked by the verifier"
    );
    let seq_of = |line: usize| line_value(&text, line)["seq"].as_i64().expect("seq");

    // Modified: one field of the entry on line 4 (seq 3).
    let tampered = with_lines(&text, |l| {
        let mut v: Value = serde_json::from_str(&l[3]).expect("json");
        v["outcome"] = "failure".into();
        l[3] = v.to_string();
    });
    let report = verify_export(tampered.as_bytes(), &key, &[]);
    assert_eq!(
        report.problems,
        vec![Problem::Modified { seq: seq_of(3) }],
        "{report}"
    );
    // ...even with its leaf hash recomputed by the forger.
    let tampered = with_lines(&text, |l| {
        let mut v: Value = serde_json::from_str(&l[3]).expect("json");
        v["outcome"] = "failure".into();
        let e: alcove_server::audit::canonical::Entry =
            serde_json::from_value(v.clone()).expect("entry");
        v["leaf_hash"] = alcove_server::audit::canonical::hex(&e.leaf_hash()).into();
        l[3] = v.to_string();
    });
    assert_eq!(
        verify_export(tampered.as_bytes(), &key, &[]).problems,
        vec![Problem::Modified { seq: seq_of(3) }]
    );

    // Deleted: line 5 removed.
    let tampered = with_lines(&text, |l| {
        l.remove(5);
    });
    let report = verify_export(tampered.as_bytes(), &key, &[]);
    assert_eq!(
        report.problems,
        vec![Problem::Deleted { seq: seq_of(5) }],
        "{report}"
    );

    // Inserted: a fabricated line claiming seq 4, before the real one.
    let tampered = with_lines(&text, |l| {
        let mut v: Value = serde_json::from_str(&l[4]).expect("json");
        v["action"] = "auth.logout".into();
        l.insert(4, v.to_string());
    });
    let report = verify_export(tampered.as_bytes(), &key, &[]);
    assert_eq!(
        report.problems,
        vec![Problem::Inserted { seq: seq_of(4) }],
        "{report}"
    );
    // ...or with a seq the signed manifest does not list.
    let tampered = with_lines(&text, |l| {
        let mut v: Value = serde_json::from_str(&l[2]).expect("json");
        v["seq"] = (n as i64 + 50).into();
        l.push(v.to_string());
    });
    let report = verify_export(tampered.as_bytes(), &key, &[]);
    assert_eq!(
        report.problems,
        vec![Problem::Inserted { seq: n as i64 + 50 }],
        "{report}"
    );

    // Reordered: lines 3 and 4 swapped.
    let tampered = with_lines(&text, |l| l.swap(3, 4));
    let report = verify_export(tampered.as_bytes(), &key, &[]);
    assert_eq!(
        report.problems,
        vec![Problem::Reordered {
            seq: seq_of(3),
            found_at: 5
        }],
        "{report}"
    );

    // Truncated: the last two lines cut off.
    let tampered = with_lines(&text, |l| {
        l.truncate(l.len() - 2);
    });
    let report = verify_export(tampered.as_bytes(), &key, &[]);
    assert_eq!(
        report.problems,
        vec![Problem::Truncated {
            expected: n as i64,
            found: n as i64 - 2
        }],
        "{report}"
    );

    // The manifest cannot be edited to match (e.g. to hide the truncation).
    let tampered = with_lines(&text, |l| {
        let mut v: Value = serde_json::from_str(&l[0]).expect("json");
        v["manifest"]["seqs"] = serde_json::json!([[1, n as i64 - 2]]);
        l[0] = v.to_string();
        l.truncate(l.len() - 2);
    });
    let report = verify_export(tampered.as_bytes(), &key, &[]);
    assert_eq!(
        report.problems,
        vec![Problem::BadSignature {
            what: "the export manifest".into()
        }],
        "{report}"
    );
    // Another key does not verify it at all.
    let stranger = PublicKey(vec![7u8; 32]);
    assert!(verify_export(text.as_bytes(), &stranger, &[]).has("bad_signature"));

    // CSV: a modified field and a removed record are named too.
    let (_, csv) = raw_get(&admin, "/api/v1/audit/export?format=csv").await;
    assert!(verify_export(csv.as_bytes(), &key, &[]).ok());
    let tampered = csv.replacen("\"invite.created\"", "\"invite.revoked\"", 1);
    let report = verify_export(tampered.as_bytes(), &key, &[]);
    assert_eq!(report.problems.len(), 1, "{report}");
    assert!(report.has("modified"), "{report}");
    let mut records: Vec<&str> = csv.split("\r\n").collect();
    records.remove(4);
    let report = verify_export(records.join("\r\n").as_bytes(), &key, &[]);
    assert_eq!(
        report.problems,
        vec![Problem::Deleted { seq: 3 }],
        "{report}"
    );
    app.stop().await;
}

/// Whether an answered inclusion proof (`entry`, `proof`) leads entry
/// `index` to `head`'s root, checked with the server's own verifier.
fn proves(answer: &Value, index: u64, head: &SignedTreeHead) -> bool {
    let path: Vec<_> = answer["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|h| parse_hash(h.as_str().expect("hex")).expect("hash"))
        .collect();
    let entry: alcove_server::audit::canonical::Entry =
        serde_json::from_value(answer["entry"].clone()).expect("entry");
    merkle::verify_inclusion(
        index,
        head.tree_size,
        &entry.leaf_hash(),
        &path,
        &head.root().expect("root"),
    )
}

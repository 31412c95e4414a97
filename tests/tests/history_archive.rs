//! The history archive (docs/history.md, step 2), told as a client lives
//! it: their device seals the history of their conversation under their
//! history key (the crypto crate's own `archive::seal`, as the browser's
//! wasm does) and stores it; a new device of theirs reads it back and opens
//! it with the key from their history recovery key. Only they read their
//! blob: their clinician, the admin and other practices get 404. Every read
//! is audited, the first store once even when devices store at once, and
//! turning it off deletes everything. A lying device cannot store what is
//! not a sealed archive, nor more than the limit, however many at once.
//! Both backends.

use alcove_crypto::archive::{self, HistoryKey};
use alcove_tests::{on_both_backends, ApiClient, Backend, Person, TestApp};
use data_encoding::BASE64;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    a_person_keeps_a_sealed_archive_of_their_conversation_and_only_they_read_it,
    a_device_with_an_old_key_can_neither_mix_keys_nor_undo_turning_off,
    a_lying_device_cannot_store_what_is_not_an_archive_or_too_much,
    devices_storing_at_once_record_one_first_store,
);

/// The clinician starts a conversation with their client; its id.
async fn conversation(clinician: &Person, client: &Person) -> String {
    let (status, body) = clinician
        .client
        .post(
            "/api/v1/conversations",
            &json!({"with_user_id": client.user_id}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    body["id"].as_str().expect("id").to_string()
}

async fn audit(admin: &Person, action: &str) -> Vec<Value> {
    let (status, body) = admin
        .client
        .get(&format!("/api/v1/audit/events?action={action}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().expect("events").clone()
}

/// The key id every store of the stories without a real key uses.
const SOME_KEY: &str = "0123456789abcdef";

async fn store_under(
    api: &ApiClient,
    conv: &str,
    key_id: &str,
    sealed: &[u8],
) -> (StatusCode, Value) {
    api.put(
        &format!("/api/v1/history-archive/{conv}"),
        &json!({"archive": BASE64.encode(sealed), "key_id": key_id}),
    )
    .await
}

async fn store(api: &ApiClient, conv: &str, sealed: &[u8]) -> (StatusCode, Value) {
    store_under(api, conv, SOME_KEY, sealed).await
}

/// Turns the backup on under `key_id`.
async fn turn_on(api: &ApiClient, key_id: &str) -> (StatusCode, Value) {
    api.put("/api/v1/history-archive", &json!({"key_id": key_id}))
        .await
}

async fn a_person_keeps_a_sealed_archive_of_their_conversation_and_only_they_read_it(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let conv = conversation(&p.clinician, &p.client).await;
    let key = HistoryKey::generate().expect("key");
    let records = br#"[{"seq":3,"text":"see you Thursday"}]"#;
    let sealed = archive::seal(records, &p.client.user_id, &conv, &key).expect("seal");
    // Nothing is taken before the backup is on.
    let (status, body) = store_under(&p.client.client, &conv, &key.key_id(), &sealed).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "archive_key_changed");
    let (status, body) = turn_on(&p.client.client, &key.key_id()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = store_under(&p.client.client, &conv, &key.key_id(), &sealed).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    // The list says which conversation, how big and when; never content.
    let (status, list) = p.client.client.get("/api/v1/history-archive").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["key_id"], key.key_id().as_str());
    assert_eq!(list["archives"][0]["conversation_id"], conv.as_str());
    assert_eq!(list["archives"][0]["size"], sealed.len() as i64);
    assert!(list["archives"][0].get("archive").is_none());

    // A new device of the client (another session) reads it back and opens
    // it with the key the recovery text stands for.
    let text = key.to_recovery_text();
    let restored = HistoryKey::from_recovery_text(&text).expect("recovery key");
    let (status, got) = p
        .client
        .client
        .get(&format!("/api/v1/history-archive/{conv}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let bytes = BASE64
        .decode(got["archive"].as_str().expect("archive").as_bytes())
        .expect("base64");
    assert_eq!(bytes, sealed);
    assert_eq!(
        &*archive::open(&bytes, &p.client.user_id, &conv, &restored).expect("opens"),
        records
    );
    // What the server stores does not contain the history.
    let stored = app
        .raw_bytes("SELECT archive FROM history_archives")
        .await
        .concat();
    assert!(!String::from_utf8_lossy(&stored).contains("Thursday"));

    // Nobody else reads it: the other person of the conversation (who has
    // their own), the admin, another practice.
    let path = format!("/api/v1/history-archive/{conv}");
    let (status, body) = p.clinician.client.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found");
    let (status, _) = p.admin.client.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let outsider = app.practice_with_admin("Elsewhere", "else-admin").await;
    let (status, _) = outsider.client.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nor store one for a conversation they are not one of the two people of.
    let (status, _) = turn_on(&p.admin.client, SOME_KEY).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = store(&p.admin.client, &conv, &sealed).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = turn_on(&outsider.client, SOME_KEY).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = store(&outsider.client, &conv, &sealed).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The clinician's own archive of it is theirs alone.
    let theirs = archive::seal(b"[]", &p.clinician.user_id, &conv, &key).expect("seal");
    let (status, _) = turn_on(&p.clinician.client, &key.key_id()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = store_under(&p.clinician.client, &conv, &key.key_id(), &theirs).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = p.client.client.get(&path).await;
    assert_eq!(
        got["archive"].as_str(),
        Some(BASE64.encode(&sealed).as_str())
    );

    // Stored again (the device re-seals after every change): replaced, and
    // "created" recorded once; each read recorded.
    let again = archive::seal(records, &p.client.user_id, &conv, &key).expect("seal");
    let (status, _) = store_under(&p.client.client, &conv, &key.key_id(), &again).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = p.client.client.get(&path).await;
    assert_eq!(
        got["archive"].as_str(),
        Some(BASE64.encode(&again).as_str())
    );
    let created = audit(&p.admin, "history_archive.created").await;
    assert_eq!(
        created.len(),
        2,
        "the client's and the clinician's: {created:?}"
    );
    let fetched = audit(&p.admin, "history_archive.fetched").await;
    assert_eq!(fetched.len(), 3, "{fetched:?}");
    assert!(fetched
        .iter()
        .all(|e| e["target_conversation_id"] == conv.as_str()));

    // Turned off: everything of the client's is gone, the clinician's stays.
    let (status, _) = p.client.client.delete("/api/v1/history-archive").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = p.client.client.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = p.client.client.get("/api/v1/history-archive").await;
    assert_eq!(list["archives"], json!([]));
    assert_eq!(list["key_id"], Value::Null, "off");
    let (status, _) = p.clinician.client.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit(&p.admin, "history_archive.deleted").await.len(), 1);
    app.stop().await;
}

async fn a_lying_device_cannot_store_what_is_not_an_archive_or_too_much(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let conv = conversation(&p.clinician, &p.client).await;
    let api = &p.client.client;
    let path = format!("/api/v1/history-archive/{conv}");
    let (status, _) = turn_on(api, SOME_KEY).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // One byte over the limit, eight at once: every one refused, nothing kept.
    let mut big = b"ALCA".to_vec();
    big.resize(alcove_server::archive::rules::MAX_ARCHIVE_BYTES + 1, 1);
    let attempts = (0..8).map(|_| store(api, &conv, &big));
    for (status, body) in futures_util::future::join_all(attempts).await {
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["error"], "too_large");
    }
    // A body far over the route's limit is refused before it is read.
    let huge = json!({"archive": "A".repeat(alcove_server::archive::rules::BODY_LIMIT + 10), "key_id": SOME_KEY});
    let (status, body) = api.put(&path, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"], "too_large");
    // Not base64, not a sealed archive, a field it does not know: 422.
    let good = BASE64.encode(
        &archive::seal(b"[]", "u", "c", &HistoryKey::generate().expect("key")).expect("seal"),
    );
    for bad in [
        json!({"archive": "not base64!", "key_id": SOME_KEY}),
        json!({"archive": BASE64.encode(&[0u8; 64]), "key_id": SOME_KEY}),
        json!({"archive": good, "key_id": SOME_KEY, "extra": 1}),
        json!({"archive": good, "key_id": "0123456789ABCDEF"}),
        json!({"archive": good}),
        json!({}),
    ] {
        let (status, body) = api.put(&path, &bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {body}");
        assert!(body["message"].is_string(), "{body}");
    }
    // Not a conversation id: 404 with the JSON body.
    let (status, body) = api.get("/api/v1/history-archive/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found");
    // Nothing was stored by any of it.
    let (_, list) = api.get("/api/v1/history-archive").await;
    assert_eq!(list["archives"], json!([]));
    // The limit itself is accepted.
    big.truncate(alcove_server::archive::rules::MAX_ARCHIVE_BYTES);
    let (status, body) = store(api, &conv, &big).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    app.stop().await;
}

async fn devices_storing_at_once_record_one_first_store(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let conv = conversation(&p.clinician, &p.client).await;
    let key = HistoryKey::generate().expect("key");
    let (status, _) = turn_on(&p.client.client, &key.key_id()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let blobs: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            archive::seal(format!("[{i}]").as_bytes(), &p.client.user_id, &conv, &key)
                .expect("seal")
        })
        .collect();
    let api = &p.client.client;
    let id = key.key_id();
    let attempts = blobs.iter().map(|blob| store_under(api, &conv, &id, blob));
    for (status, body) in futures_util::future::join_all(attempts).await {
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    assert_eq!(audit(&p.admin, "history_archive.created").await.len(), 1);
    // What is kept is one whole blob of the eight, and it opens.
    let (_, got) = api.get(&format!("/api/v1/history-archive/{conv}")).await;
    let bytes = BASE64
        .decode(got["archive"].as_str().expect("archive").as_bytes())
        .expect("base64");
    assert!(blobs.contains(&bytes));
    assert!(archive::open(&bytes, &p.client.user_id, &conv, &key).is_ok());
    app.stop().await;
}

async fn a_device_with_an_old_key_can_neither_mix_keys_nor_undo_turning_off(b: Backend) {
    let Some(app) = TestApp::start(b).await else {
        return;
    };
    let p = app.practice_with_people().await;
    let conv = conversation(&p.clinician, &p.client).await;
    let api = &p.client.client;
    let (old, new) = (
        HistoryKey::generate().expect("key"),
        HistoryKey::generate().expect("key"),
    );
    let seal = |k: &HistoryKey| archive::seal(b"[]", &p.client.user_id, &conv, k).expect("seal");
    let (status, _) = turn_on(api, &old.key_id()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Turning on again with the same key (another device of theirs): fine.
    let (status, _) = turn_on(api, &old.key_id()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = store_under(api, &conv, &old.key_id(), &seal(&old)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Another device made a new key while this backup exists: refused.
    let (status, body) = turn_on(api, &new.key_id()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "archive_exists");
    let (status, body) = store_under(api, &conv, &new.key_id(), &seal(&new)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "archive_key_changed");

    // Turned off while devices with the old key store at once: whatever
    // the order, nothing stays of the old key once "off" is answered.
    let blob = seal(&old);
    let old_id = old.key_id();
    let stores = (0..6).map(|_| store_under(api, &conv, &old_id, &blob));
    let off = api.delete("/api/v1/history-archive");
    let (stored, (status, _)) =
        futures_util::future::join(futures_util::future::join_all(stores), off).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (status, body) in stored {
        assert!(
            status == StatusCode::NO_CONTENT
                || (status == StatusCode::CONFLICT && body["error"] == "archive_key_changed"),
            "{status} {body}"
        );
    }
    // A device with the old key, later: refused, nothing comes back.
    let (status, _) = store_under(api, &conv, &old.key_id(), &blob).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, list) = api.get("/api/v1/history-archive").await;
    assert_eq!(list["key_id"], Value::Null, "{list}");
    assert_eq!(list["archives"], json!([]), "{list}");
    // A new backup under the new key works.
    let (status, _) = turn_on(api, &new.key_id()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = store_under(api, &conv, &new.key_id(), &seal(&new)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.stop().await;
}

//! Storage conformance: the same story against the `Store` trait on SQLite
//! and PostgreSQL, including the races the API relies on being impossible.

use alcove_server::audit::{Event, RequestMeta};
use alcove_server::auth::error::SessionError;
use alcove_server::ids::{DeviceId, InviteId, PracticeId, SessionId, UserId};
use alcove_server::invites::error::InviteError;
use alcove_server::storage::{
    DeviceChoice, NewInvite, NewSession, NewUser, Practice, Role, Store, StoreError,
};
use alcove_tests::{on_both_backends, Backend, TestDb};
use std::sync::Arc;

on_both_backends!(
    store_story,
    concurrent_redemptions_use_an_invite_once,
    audit_sequence_stays_dense_under_concurrency
);

async fn open(backend: Backend) -> Option<(TestDb, Arc<dyn Store>)> {
    let db = TestDb::create(backend).await?;
    let store = alcove_server::storage::open(&db.settings())
        .await
        .expect("open");
    // Migrating twice is a no-op.
    store.migrate().await.expect("re-migrate");
    Some((db, store))
}

async fn practice_with_invite(store: &dyn Store, role: Role, now: i64) -> (PracticeId, Vec<u8>) {
    let practice = Practice {
        id: PracticeId::new(),
        name: "P".into(),
        created_at: now,
    };
    let token_hash = vec![7u8; 32]
        .into_iter()
        .chain(practice.id.0.as_bytes().iter().copied())
        .collect::<Vec<u8>>();
    let invite = NewInvite {
        id: InviteId::new(),
        practice_id: practice.id,
        role,
        token_hash: token_hash.clone(),
        created_by: None,
        created_at: now,
        expires_at: now + 100,
        label: None,
        for_user: None,
    };
    store
        .create_practice(&practice, &invite)
        .await
        .expect("practice");
    (practice.id, token_hash)
}

fn new_user(login: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        login: login.into(),
        display_name: "N".into(),
        password_hash: "$argon2id$x".into(),
    }
}

async fn store_story(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let now = 1_800_000_000;
    assert_eq!(store.practice_count().await.expect("count"), 0);
    let (practice, token) = practice_with_invite(&*store, Role::Clinician, now).await;
    assert_eq!(store.practice_count().await.expect("count"), 1);

    let meta = RequestMeta::default();
    let user = store
        .redeem_invite(&token, &new_user("a@x"), now + 1, &meta)
        .await
        .expect("redeem");
    assert_eq!(user.role(), Role::Clinician);
    assert_eq!(user.practice_id, practice);
    assert!(matches!(
        store
            .redeem_invite(&token, &new_user("b@x"), now + 2, &meta)
            .await,
        Err(InviteError::Used)
    ));
    assert!(matches!(
        store
            .redeem_invite(b"nope", &new_user("c@x"), now, &meta)
            .await,
        Err(InviteError::Store(StoreError::NotFound))
    ));

    // Sessions and devices.
    let device = DeviceId::new();
    let session = NewSession {
        id: SessionId::new(),
        token_hash: vec![1; 32],
        idle_timeout_secs: 900,
        expires_at: now + 3600,
    };
    let choice = DeviceChoice::New {
        id: device,
        name: "Laptop".into(),
        user_agent: "Chrome on Linux".into(),
        shared: false,
    };
    let ev =
        Event::new(practice, alcove_server::audit::Action::AuthLogin, &meta).actor(user.id, None);
    assert_eq!(
        store
            .create_session(&user, &choice, &session, now, ev.clone())
            .await
            .expect("session"),
        device
    );
    let record = store.session_by_token(&[1; 32]).await.expect("by token");
    assert_eq!(
        (record.user_id, record.device_id, record.role.as_str()),
        (user.id, device, "clinician")
    );
    store
        .touch_session(record.id, device, now + 60)
        .await
        .expect("touch");
    assert_eq!(
        store
            .session_by_token(&[1; 32])
            .await
            .expect("again")
            .last_seen_at,
        now + 60
    );
    assert_eq!(
        store
            .list_devices(practice, user.id)
            .await
            .expect("devices")[0]
            .last_seen_at,
        now + 60
    );
    store
        .end_session(record.id, "logout", now + 61, ev.clone())
        .await
        .expect("end");
    assert_eq!(
        store
            .session_by_token(&[1; 32])
            .await
            .expect("ended")
            .ended_at,
        Some(now + 61)
    );

    // Revocation ends every session of the device and blocks reuse.
    let s2 = NewSession {
        id: SessionId::new(),
        token_hash: vec![2; 32],
        ..session.clone()
    };
    store
        .create_session(&user, &DeviceChoice::Existing(device), &s2, now, ev.clone())
        .await
        .expect("s2");
    store
        .revoke_devices(practice, &[device], lost(), now + 70, ev.clone())
        .await
        .expect("revoke");
    let r2 = store.session_by_token(&[2; 32]).await.expect("s2");
    assert!(r2.device_revoked_at.is_some() && r2.ended_at.is_some());
    let s3 = NewSession {
        id: SessionId::new(),
        token_hash: vec![3; 32],
        ..session.clone()
    };
    assert!(matches!(
        store
            .create_session(&user, &DeviceChoice::Existing(device), &s3, now, ev.clone())
            .await,
        Err(SessionError::DeviceRevoked)
    ));
    // Another practice cannot revoke or use it.
    let (other, _) = practice_with_invite(&*store, Role::Admin, now).await;
    assert!(matches!(
        store
            .revoke_devices(
                other,
                &[device],
                alcove_server::revocation::store::HowRevoked {
                    reason: "signed_out",
                    lost_by: None,
                    sockets_open: &[],
                },
                now,
                ev.clone(),
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.user(other, user.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .list_devices(other, user.id)
        .await
        .expect("empty")
        .is_empty());

    // TOTP steps only move forward; recovery codes work once.
    assert!(store.consume_totp_step(user.id, 100).await.expect("step"));
    assert!(!store.consume_totp_step(user.id, 100).await.expect("replay"));
    assert!(!store.consume_totp_step(user.id, 99).await.expect("older"));
    assert!(store.consume_totp_step(user.id, 101).await.expect("newer"));

    // Throttle counters slide.
    let key = vec![9u8; 32];
    for t in 0..3 {
        store
            .reserve_auth_attempt(
                std::slice::from_ref(&key),
                &format!("a{t}"),
                now + t,
                now - 1000,
            )
            .await
            .expect("fail");
    }
    assert_eq!(
        store
            .count_auth_failures(&key, now - 1)
            .await
            .expect("count"),
        3
    );
    assert_eq!(
        store
            .count_auth_failures(&key, now + 1)
            .await
            .expect("count"),
        1
    );
    // A succeeded attempt gives its row back; clearing forgets the rest.
    store.drop_auth_attempt("a2").await.expect("drop");
    assert_eq!(
        store
            .count_auth_failures(&key, now - 1)
            .await
            .expect("count"),
        2
    );
    store.clear_auth_failures(&key).await.expect("clear");
    assert_eq!(store.count_auth_failures(&key, 0).await.expect("count"), 0);

    // Every write above was audited in its own practice, densely.
    let events = store.recent_audit(practice, 100).await.expect("audit");
    let seqs: Vec<i64> = events.iter().rev().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    assert_eq!(
        store.recent_audit(other, 100).await.expect("other").len(),
        2
    );
    store.close().await;
}

async fn concurrent_redemptions_use_an_invite_once(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let now = 1_800_000_000;
    let (_, token) = practice_with_invite(&*store, Role::Client, now).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            store
                .redeem_invite(
                    &token,
                    &new_user(&format!("u{i}@x")),
                    now + 1,
                    &RequestMeta::default(),
                )
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(InviteError::Used) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1, "exactly one redemption wins");
    store.close().await;
}

async fn audit_sequence_stays_dense_under_concurrency(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let now = 1_800_000_000;
    let (practice, _) = practice_with_invite(&*store, Role::Client, now).await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit(
                    Event::new(
                        practice,
                        alcove_server::audit::Action::UsersListed,
                        &RequestMeta::default(),
                    ),
                    now,
                )
                .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("append");
    }
    let events = store.recent_audit(practice, 100).await.expect("audit");
    let seqs: Vec<i64> = events.iter().rev().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=42).collect::<Vec<_>>());
    store.close().await;
}

/// A loss reported by nobody in particular, no socket open.
fn lost() -> alcove_server::revocation::store::HowRevoked<'static> {
    alcove_server::revocation::store::HowRevoked {
        reason: "lost",
        lost_by: None,
        sockets_open: &[],
    }
}

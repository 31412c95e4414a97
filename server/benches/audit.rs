//! Audit log benchmarks (issue 7): append rate through the store, the
//! recomputation a verification of 1,000,000 entries does, and checking one
//! inclusion proof. Run: `cargo bench -p alcove-server --bench audit`.
//! Plain timing (no criterion): each figure is a single long run or the mean
//! of many iterations, printed with what it measured.

// A benchmark is a test program: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alcove_server::audit::canonical::Entry;
use alcove_server::audit::merkle::{verify_inclusion, Frontier, Tree};
use alcove_server::audit::{Event, RequestMeta};
use alcove_server::ids::{InviteId, PracticeId};
use alcove_server::storage::{NewInvite, Practice, Role};
use std::time::Instant;

fn entry(seq: i64) -> Entry {
    Entry {
        practice_id: "5f0c8a9e-2b1d-4c7e-9a34-0d6f1e2b3c4d".into(),
        seq,
        at: 1_800_000_000 + seq,
        actor_user_id: Some("0b6a4c1e-9f2d-4e3a-8c7b-1a2b3c4d5e6f".into()),
        actor_device_id: Some("7c2e9a1b-4d3f-4a6e-b5c8-2d1e0f9a8b7c".into()),
        action: "message.delivered".into(),
        target_user_id: Some("3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7".into()),
        target_device_id: Some("7c2e9a1b-4d3f-4a6e-b5c8-2d1e0f9a8b7c".into()),
        target_conversation_id: Some("9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d".into()),
        outcome: "success".into(),
        request_id: Some("2f1e0d9c8b7a69584736251403f2e1d0".into()),
        ip: Some("127.0.0.0/24".into()),
        detail: Some(r#"{"from_seq":41,"to_seq":57}"#.into()),
    }
}

fn main() {
    let n: i64 = std::env::var("AUDIT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);

    // 1. What `alcove audit verify` recomputes: every entry's canonical
    //    encoding and leaf hash, and the tree root over them.
    let entries: Vec<Entry> = (1..=n).map(entry).collect();
    let started = Instant::now();
    let mut frontier = Frontier::new();
    for e in &entries {
        frontier.push(e.leaf_hash());
    }
    let root = frontier.root();
    let verify_secs = started.elapsed().as_secs_f64();
    println!("verify {n} entries (encode + leaf hash + root): {verify_secs:.2} s  (target <= 5 s for 1,000,000)");

    // 2. One inclusion proof.
    let leaves: Vec<_> = entries.iter().map(Entry::leaf_hash).collect();
    let tree = Tree::new(leaves.clone());
    assert_eq!(tree.root(), root);
    let indices: Vec<usize> = (0..10_000).map(|i| (i * 7919) % leaves.len()).collect();
    let proofs: Vec<_> = indices.iter().map(|&i| tree.inclusion_proof(i)).collect();
    let started = Instant::now();
    for (i, proof) in indices.iter().zip(&proofs) {
        assert!(verify_inclusion(
            *i as u64,
            n as u64,
            &leaves[*i],
            proof,
            &root
        ));
    }
    let per_proof_us = started.elapsed().as_secs_f64() * 1e6 / indices.len() as f64;
    println!(
        "verify one inclusion proof in a {n}-entry tree: {per_proof_us:.2} us  (target <= 100 us)"
    );

    // 3. Append rate through the real store (SQLite file, synchronous=FULL):
    //    one transaction per event, as a standalone audited action does.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("dir");
        let mut settings = alcove_server::config::Settings::defaults();
        settings.data_dir = dir.path().to_path_buf();
        let store = alcove_server::storage::open(&settings)
            .await
            .expect("store");
        let practice = Practice {
            id: PracticeId::new(),
            name: "Bench".into(),
            created_at: 0,
        };
        let invite = NewInvite {
            id: InviteId::new(),
            practice_id: practice.id,
            role: Role::Admin,
            token_hash: vec![1; 32],
            created_by: None,
            created_at: 0,
            expires_at: 1,
            label: None,
            for_user: None,
        };
        store
            .create_practice(&practice, &invite)
            .await
            .expect("practice");
        let count = 2_000;
        let started = Instant::now();
        for _ in 0..count {
            let ev = Event::new(
                practice.id,
                alcove_server::audit::Action::UsersListed,
                &RequestMeta::default(),
            );
            store.append_audit(ev, 1_800_000_000).await.expect("append");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "append rate, one durable transaction per event (SQLite): {:.0} events/s",
            count as f64 / secs
        );
        let mut tasks = Vec::new();
        let started = Instant::now();
        for _ in 0..8 {
            let store = store.clone();
            let id = practice.id;
            tasks.push(tokio::spawn(async move {
                for _ in 0..250 {
                    let ev = Event::new(
                        id,
                        alcove_server::audit::Action::UsersListed,
                        &RequestMeta::default(),
                    );
                    store.append_audit(ev, 1_800_000_000).await.expect("append");
                }
            }));
        }
        for t in tasks {
            t.await.expect("join");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "append rate, 8 concurrent writers (SQLite): {:.0} events/s",
            2000.0 / secs
        );
        store.close().await;
    });
}

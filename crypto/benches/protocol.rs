//! Protocol-core benchmarks. Run:
//!
//! ```sh
//! cargo bench -p alcove-crypto --bench protocol
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{SystemTime, UNIX_EPOCH};

use alcove_crypto::server::ExternalSenderKey;
use alcove_crypto::{Device, DeviceIdentity, DeviceSecret, UnlockShare};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};

const GROUP: &[u8] = b"bench-group";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn dev(i: usize) -> Device {
    Device::new(
        DeviceIdentity::new("practice", format!("user-{i}"), format!("device-{i}")).unwrap(),
    )
    .unwrap()
}

/// A creator device in a group of `n` devices; returns (creator snapshot,
/// one joined member device).
fn group_of(n: usize) -> (Vec<u8>, Device) {
    let server = ExternalSenderKey::generate(b"alcove-server-v1").unwrap();
    let mut creator = dev(0);
    creator
        .create_group(GROUP, &server.public_bytes().unwrap())
        .unwrap();
    let mut others: Vec<Device> = (1..n).map(dev).collect();
    let mut member = None;
    if !others.is_empty() {
        let kps: Vec<Vec<u8>> = others
            .iter_mut()
            .map(|d| d.key_packages(1, now()).unwrap().remove(0))
            .collect();
        let out = creator.add_devices(GROUP, &kps).unwrap();
        creator.merge_pending_commit(GROUP).unwrap();
        let mut first = others.remove(0);
        first
            .join_from_welcome(out.welcome.as_ref().unwrap())
            .unwrap();
        member = Some(first);
    }
    (
        creator.snapshot().unwrap().to_vec(),
        member.unwrap_or_else(|| dev(999)),
    )
}

fn bench_messages(c: &mut Criterion) {
    let (snap, _) = group_of(2);
    let mut a = Device::restore(&snap).unwrap();
    let payload = vec![0x61u8; 200];
    c.bench_function("encrypt_200B", |bench| {
        bench.iter(|| a.encrypt(GROUP, &payload).unwrap())
    });
    // Fresh pair: the encrypt-only run above advanced a's sender ratchet far
    // beyond b's maximum forward distance.
    let (snap, mut b) = group_of(2);
    let mut a = Device::restore(&snap).unwrap();
    c.bench_function("encrypt_decrypt_200B", |bench| {
        bench.iter(|| {
            let ct = a.encrypt(GROUP, &payload).unwrap();
            b.process(&ct).unwrap()
        })
    });
}

fn bench_membership(c: &mut Criterion) {
    let mut g = c.benchmark_group("membership");
    g.sample_size(20);
    for n in [2usize, 10, 50] {
        let (snap, _) = group_of(n);
        g.bench_with_input(BenchmarkId::new("add_one_device", n), &n, |bench, _| {
            bench.iter_batched(
                || {
                    let creator = Device::restore(&snap).unwrap();
                    let kp = dev(10_000).key_packages(1, now()).unwrap().remove(0);
                    (creator, kp)
                },
                |(mut creator, kp)| {
                    creator.add_devices(GROUP, &[kp]).unwrap();
                    creator.merge_pending_commit(GROUP).unwrap();
                    creator
                },
                BatchSize::SmallInput,
            )
        });
        if n >= 2 {
            g.bench_with_input(BenchmarkId::new("remove_one_device", n), &n, |bench, _| {
                bench.iter_batched(
                    || Device::restore(&snap).unwrap(),
                    |mut creator| {
                        creator.remove_devices(GROUP, &[1]).unwrap();
                        creator.merge_pending_commit(GROUP).unwrap();
                        creator
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

fn bench_seal(c: &mut Criterion) {
    let (snap, _) = group_of(10);
    let d = Device::restore(&snap).unwrap();
    let ds = DeviceSecret::from_bytes([1; 32]);
    let us = UnlockShare::from_bytes([2; 32]);
    let sealed = d.seal(&ds, &us).unwrap();
    let mut g = c.benchmark_group("snapshot_10_member_group");
    g.bench_function("seal", |bench| bench.iter(|| d.seal(&ds, &us).unwrap()));
    g.bench_function("unseal", |bench| {
        bench.iter(|| Device::unseal(&sealed, "device-0", &ds, &us).unwrap())
    });
    g.finish();
    println!(
        "sealed size for a member of a 10-device group: {} bytes",
        sealed.len()
    );
}

/// A group of `n` devices as the server tracks it: (the server's state
/// bytes, the creator's snapshot).
fn server_group_of(n: usize) -> (Vec<u8>, Vec<u8>) {
    use alcove_crypto::public_group::ConversationState;
    let server = ExternalSenderKey::generate(b"alcove-server-v1").unwrap();
    let mut creator = dev(0);
    creator
        .create_group(GROUP, &server.public_bytes().unwrap())
        .unwrap();
    let mut state =
        ConversationState::from_group_info(&creator.group_info(GROUP).unwrap(), GROUP).unwrap();
    if n > 1 {
        let kps: Vec<Vec<u8>> = (1..n)
            .map(|i| dev(i).key_packages(1, now()).unwrap().remove(0))
            .collect();
        let out = creator.add_devices(GROUP, &kps).unwrap();
        state = state.apply_commit(&out.commit, &[]).unwrap().0;
        creator.merge_pending_commit(GROUP).unwrap();
    }
    (
        state.to_bytes().unwrap(),
        creator.snapshot().unwrap().to_vec(),
    )
}

/// The delivery service's work per commit: load the conversation's public
/// group, check and merge the commit, check the uploaded GroupInfo, store
/// the state again (`server/src/delivery/membership.rs`).
fn bench_server_commit(c: &mut Criterion) {
    use alcove_crypto::public_group::ConversationState;
    let mut g = c.benchmark_group("server_commit");
    g.sample_size(20);
    for n in [2usize, 10, 50] {
        let (state, snap) = server_group_of(n);
        println!("server state of a {n}-device group: {} bytes", state.len());
        let work = |commit: &[u8], gi: &[u8]| {
            let s = ConversationState::restore(&state).unwrap();
            let (next, _facts) = s.apply_commit(commit, &[]).unwrap();
            next.check_group_info(gi).unwrap();
            next.to_bytes().unwrap()
        };
        g.bench_with_input(BenchmarkId::new("self_update", n), &n, |bench, _| {
            bench.iter_batched(
                || Device::restore(&snap).unwrap().self_update(GROUP).unwrap(),
                |out| work(&out.commit, out.group_info.as_ref().unwrap()),
                BatchSize::SmallInput,
            )
        });
        g.bench_with_input(BenchmarkId::new("add_one_device", n), &n, |bench, _| {
            bench.iter_batched(
                || {
                    let kp = dev(10_000).key_packages(1, now()).unwrap().remove(0);
                    Device::restore(&snap)
                        .unwrap()
                        .add_devices(GROUP, &[kp])
                        .unwrap()
                },
                |out| work(&out.commit, out.group_info.as_ref().unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_messages,
    bench_membership,
    bench_seal,
    bench_server_commit
);
criterion_main!(benches);

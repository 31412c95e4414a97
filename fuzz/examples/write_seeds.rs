//! Writes the fixtures (`fuzz/fixtures/`) and the seed corpora
//! (`fuzz/corpus/<target>/seed-*`) from one real conversation, so the
//! stateful targets start from inputs that really apply to their state.
//!
//! `fuzz/write-seeds.sh`, then minimize (`cargo fuzz cmin <target>`).
//! KeyPackages expire after 28 days (openmls checks lifetimes against the
//! system clock), after which the KeyPackage and Add seeds only reach the
//! lifetime check: regenerate then.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alcove_crypto::public_group::ConversationState;
use alcove_crypto::server::{ExternalSenderKey, DEFAULT_SERVER_IDENTITY};
use alcove_crypto::{
    Content, Device, Envelope, Modality, OccurrenceRef, Processed, ReceiptKind, Reminder,
    ReminderChange, ReminderDetails, ResponseKind,
};
use alcove_fuzz::{fixture_path, identity, join, now, GROUP_ID};
use alcove_server::audit::canonical::{hex, Entry};
use alcove_server::audit::export::{self, Manifest};
use alcove_server::audit::merkle;
use alcove_server::audit::signing::AuditKey;
use std::path::PathBuf;

/// Built like the targets (`fuzz/write-seeds.sh` passes cargo-fuzz's
/// flags, so the instrumented dependencies are shared), this example links
/// libFuzzer's runtime, which calls into a fuzz target: there is none here.
#[cfg(fuzzing)]
#[no_mangle]
pub fn rust_fuzzer_test_input(_: &[u8]) -> i32 {
    0
}

fn corpus(target: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(format!("seed-{name}")), bytes).unwrap();
}

fn write_fixture(name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(fixture_path("")).unwrap();
    std::fs::write(fixture_path(name), bytes).unwrap();
}

/// A commit-target input: no proposals, the commit, its GroupInfo.
fn commit_input(commit: &[u8], group_info: Option<&[u8]>) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend(join(&[commit, group_info.unwrap_or(&[])]));
    v
}

fn main() {
    let t = now();
    let server = ExternalSenderKey::generate(DEFAULT_SERVER_IDENTITY).unwrap();
    let mut clinician = Device::new(identity("clinician")).unwrap();
    let mut phone = Device::new(identity("phone")).unwrap();
    let mut laptop = Device::new(identity("laptop")).unwrap();
    clinician
        .create_group(GROUP_ID, &server.public_bytes().unwrap())
        .unwrap();

    // Epoch 0 → 1: the clinician adds the phone; the server follows.
    let gi0 = clinician.group_info(GROUP_ID).unwrap();
    let state0 = ConversationState::from_group_info(&gi0, GROUP_ID).unwrap();
    let kp_phone = phone.key_packages(1, t).unwrap().remove(0);
    let add_phone = clinician
        .add_devices(GROUP_ID, &[kp_phone.clone()])
        .unwrap();
    let (state1, _) = state0.apply_commit(&add_phone.commit, &[]).unwrap();
    let gi1 = add_phone.group_info.clone().unwrap();
    state1.check_group_info(&gi1).unwrap();
    clinician.merge_pending_commit(GROUP_ID).unwrap();
    phone
        .join_from_welcome(add_phone.welcome.as_ref().unwrap())
        .unwrap();
    let state1_bytes = state1.to_bytes().unwrap();
    write_fixture("conversation_epoch1.bin", &state1_bytes);

    // The laptop's KeyPackages (the key_package seeds; one is Welcomed).
    let mut kps = laptop.key_packages(2, t).unwrap();
    kps.push(laptop.last_resort_key_package(t).unwrap());
    for (i, kp) in kps.iter().enumerate() {
        seed("key_package", &format!("laptop-{i}"), kp);
    }
    seed("key_package", "phone-wrong-identity", &kp_phone);

    // Commits at epoch 1, each checked against the server's state, then
    // discarded so the next one starts from epoch 1 again.
    let check = |input: &[u8]| {
        let parts = alcove_fuzz::split(&input[1..], usize::from(input[0] % 3) + 2);
        let n = parts.len() - 2;
        let proposals: Vec<Vec<u8>> = parts[..n].iter().map(|p| p.to_vec()).collect();
        let s = ConversationState::restore(&state1_bytes).unwrap();
        let (next, _) = s.apply_commit(parts[n], &proposals).unwrap();
        if !parts[n + 1].is_empty() {
            next.check_group_info(parts[n + 1]).unwrap();
        }
    };
    let mut commits: Vec<(String, Vec<u8>)> = Vec::new();
    let mut group_infos: Vec<(String, Vec<u8>)> = vec![("epoch0".into(), gi0.clone())];
    group_infos.push(("epoch1".into(), gi1.clone()));

    let update = clinician.self_update(GROUP_ID).unwrap();
    clinician.discard_pending_commit(GROUP_ID).unwrap();
    commits.push((
        "update".into(),
        commit_input(&update.commit, update.group_info.as_deref()),
    ));
    group_infos.push(("epoch2-update".into(), update.group_info.clone().unwrap()));

    let add_laptop = clinician.add_devices(GROUP_ID, &kps[..1]).unwrap();
    clinician.discard_pending_commit(GROUP_ID).unwrap();
    let welcome = add_laptop.welcome.clone().unwrap();
    commits.push((
        "add".into(),
        commit_input(&add_laptop.commit, add_laptop.group_info.as_deref()),
    ));
    group_infos.push(("epoch2-add".into(), add_laptop.group_info.clone().unwrap()));

    let remove_phone = clinician.remove_devices(GROUP_ID, &[1]).unwrap();
    clinician.discard_pending_commit(GROUP_ID).unwrap();
    commits.push((
        "remove".into(),
        commit_input(&remove_phone.commit, remove_phone.group_info.as_deref()),
    ));

    let phone_update = phone.self_update(GROUP_ID).unwrap();
    phone.discard_pending_commit(GROUP_ID).unwrap();
    commits.push((
        "update-leaf1".into(),
        commit_input(&phone_update.commit, phone_update.group_info.as_deref()),
    ));

    // The laptop's state before it joins anything: the welcome fixture.
    let snapshot = laptop.snapshot().unwrap();
    write_fixture("laptop_device.bin", &snapshot);
    {
        let mut d = Device::restore(&snapshot).unwrap();
        d.join_from_welcome(&welcome).unwrap();
    }
    seed("welcome", "add-laptop", &welcome);
    seed(
        "welcome",
        "add-phone-not-addressed",
        add_phone.welcome.as_ref().unwrap(),
    );

    // An external join by another laptop (same person, new keys).
    let mut laptop2 = Device::new(identity("laptop")).unwrap();
    let external = laptop2.join_by_external_commit(&gi1).unwrap();
    commits.push((
        "external-join".into(),
        commit_input(&external.commit, external.group_info.as_deref()),
    ));

    // The server's Remove proposal for the phone, committed by the clinician.
    let proposal = server.propose_remove(GROUP_ID, 1, 1).unwrap();
    let stored = clinician.process(&proposal).unwrap();
    assert!(matches!(stored, Processed::ProposalStored { .. }));
    let by_server = clinician
        .commit_pending_proposals(GROUP_ID)
        .unwrap()
        .unwrap();
    clinician.discard_pending_commit(GROUP_ID).unwrap();
    let mut input = vec![1u8];
    input.extend(join(&[
        &proposal,
        &by_server.commit,
        by_server.group_info.as_deref().unwrap_or(&[]),
    ]));
    commits.push(("server-remove".into(), input));
    // A commit of the wrong epoch.
    commits.push(("stale-epoch0".into(), commit_input(&add_phone.commit, None)));

    for (name, input) in &commits {
        if name != "stale-epoch0" {
            check(input);
        }
        seed("commit", name, input);
    }
    for (name, gi) in &group_infos {
        seed("group_info", name, gi);
    }

    // Envelopes, one of each content type.
    let envelopes = [
        Content::Text("See you on Tuesday at 10.".into()),
        Content::Reminder(Reminder {
            reminder_id: [7; 16],
            starts_at_ms: 1_767_000_000_000,
            duration_minutes: 50,
            template_id: "appointment-v1".into(),
            location: "Office 2".into(),
            requires_response: true,
            details: Some(ReminderDetails {
                change: ReminderChange::Scheduled,
                time_zone: "America/New_York".into(),
                modality: Modality::Telehealth,
                link: "https://video.example/r/1".into(),
                note: "Door code 4411".into(),
            }),
        }),
        Content::ReminderResponse {
            reminder_id: [7; 16],
            response: ResponseKind::RescheduleRequest,
            note: "Could we do Wednesday?".into(),
            occurrence: Some(OccurrenceRef {
                occurrence_id: [8; 16],
                starts_at_ms: 1_767_000_000_000,
            }),
        },
        Content::Receipt {
            kind: ReceiptKind::Read,
            message_ids: vec![[1; 16], [2; 16]],
        },
        Content::System {
            code: "device_added".into(),
            detail: "laptop".into(),
        },
        Content::Unknown {
            type_code: 200,
            body: vec![1, 2, 3],
        },
    ];
    let mut first_envelope = Vec::new();
    for (i, content) in envelopes.into_iter().enumerate() {
        let e = Envelope {
            client_message_id: [i as u8; 16],
            sent_at_ms: 1_767_000_000_000 + i as u64,
            content,
        };
        let bytes = e.encode().unwrap();
        if i == 0 {
            first_envelope = bytes.clone();
        }
        seed("envelope", &format!("type-{i}"), &bytes);
    }

    // Every kind of MLS message for the framing target.
    let app = phone.encrypt(GROUP_ID, &first_envelope).unwrap();
    let framing: [(&str, &[u8]); 8] = [
        ("key-package", &kps[0]),
        ("last-resort", &kps[2]),
        ("commit", &add_laptop.commit),
        ("external-commit", &external.commit),
        ("proposal", &proposal),
        ("welcome", &welcome),
        ("group-info", &gi1),
        ("application", &app),
    ];
    for (name, bytes) in framing {
        seed("mls_framing", name, bytes);
    }

    // Socket frames.
    let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
    let conv = "0b7e5a0c-3f2d-4c1b-9a8e-7d6c5b4a3f21";
    let frames = [
        format!(r#"{{"type":"ack","conversation_id":"{conv}","seq":42}}"#),
        r#"{"type":"ack_welcome","id":"5e2d9c1a-7b3f-4e6d-8c0b-1a2f3e4d5c6b"}"#.to_string(),
        format!(
            r#"{{"type":"send","conversation_id":"{conv}","client_msg_id":"{}","data":"{}"}}"#,
            b64(&[9; 16]),
            b64(&app)
        ),
        format!(
            r#"{{"type":"send","conversation_id":"{conv}","client_msg_id":"not base64!","data":"AAAA"}}"#
        ),
    ];
    for (i, f) in frames.iter().enumerate() {
        seed("ws_frame", &format!("frame-{i}"), f.as_bytes());
    }

    // API bodies (selector byte = index in api_json's BODIES).
    let user = "3a5b1f7e-0c2d-4e6f-8a9b-1c2d3e4f5a6b";
    let device = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f";
    let bodies: Vec<(u8, String)> = vec![
        (
            0,
            format!(
                r#"{{"login":"dr.lee","password":"correct horse","totp_code":"123456","device_id":"{device}","device_name":"Laptop","transport":"bearer"}}"#
            ),
        ),
        (
            1,
            r#"{"enrollment_token":"abc","totp_code":"654321","device_name":"Phone","transport":"cookie"}"#
                .into(),
        ),
        (
            2,
            format!(
                r#"{{"key_packages":["{}","{}"],"last_resort":"{}"}}"#,
                b64(&kps[0]),
                b64(&kps[1]),
                b64(&kps[2])
            ),
        ),
        (
            3,
            format!(r#"{{"staff_user_id":"{user}","client_user_id":"{user}"}}"#),
        ),
        (4, format!(r#"{{"with_user_id":"{user}"}}"#)),
        (
            5,
            format!(
                r#"{{"commit":"{}","welcome":"{}","group_info":"{}"}}"#,
                b64(&add_laptop.commit),
                b64(&welcome),
                b64(add_laptop.group_info.as_deref().unwrap())
            ),
        ),
        (6, format!(r#"{{"group_info":"{}"}}"#, b64(&gi0))),
        (
            7,
            format!(
                r#"{{"client_msg_id":"{}","data":"{}"}}"#,
                b64(&[9; 16]),
                b64(&app)
            ),
        ),
        (8, r#"{"seq":17}"#.into()),
        (9, r#"{"role":"client"}"#.into()),
        (10, r#"{"token":"invite-token"}"#.into()),
        (
            11,
            r#"{"token":"invite-token","login":"sam","display_name":"Sam","password":"a long passphrase","device_name":"Phone","transport":"bearer"}"#
                .into(),
        ),
        (12, r#"{"reason":"lost"}"#.into()),
    ];
    for (which, body) in bodies {
        let mut input = vec![which];
        input.extend_from_slice(body.as_bytes());
        seed("api_json", &format!("body-{which}"), &input);
    }

    // An audit log of six entries, heads at 3 and 6, and exports of it.
    let dir = std::env::temp_dir().join(format!("alcove-fuzz-seeds-{}", std::process::id()));
    let key = AuditKey::load_or_create(&dir.join("audit.key")).unwrap();
    let practice = alcove_fuzz::PRACTICE.to_string();
    let actions = [
        "auth.login",
        "conversation.created",
        "message.accepted",
        "message.delivered",
        "device.revoked",
        "audit.exported",
    ];
    let entries: Vec<Entry> = actions
        .iter()
        .enumerate()
        .map(|(i, action)| Entry {
            practice_id: practice.clone(),
            seq: i as i64 + 1,
            at: 1_767_000_000 + i as i64,
            actor_user_id: Some(user.into()),
            actor_device_id: (i % 2 == 0).then(|| device.to_string()),
            action: action.to_string(),
            target_user_id: (i == 4).then(|| user.to_string()),
            target_device_id: None,
            target_conversation_id: (i == 1 || i == 2).then(|| conv.to_string()),
            outcome: if i == 3 { "failure" } else { "success" }.into(),
            request_id: Some(format!("req-{i}")),
            ip: Some("203.0.113.0/24".into()),
            detail: (i == 5).then(|| r#"{"format":"csv"}"#.to_string()),
        })
        .collect();
    let leaves: Vec<alcove_server::audit::canonical::Hash> =
        entries.iter().map(|e| e.leaf_hash()).collect();
    let tree = merkle::Tree::new(leaves.clone());
    let previous = key.sign_head(&practice, 3, &merkle::root(&leaves[..3]), 1_767_000_010);
    let head = key.sign_head(&practice, 6, &tree.root(), 1_767_000_020);
    let heads = format!(
        "{}\n{}\n",
        serde_json::to_string(&previous).unwrap(),
        serde_json::to_string(&head).unwrap()
    );
    write_fixture("audit_heads.jsonl", heads.as_bytes());
    write_fixture("audit_public_key.hex", key.public_key().to_hex().as_bytes());
    let make = |seqs: &[i64], filter: &str, with_previous: bool| {
        let manifest = Manifest {
            format_version: export::FORMAT_VERSION,
            practice_id: practice.clone(),
            generated_at: 1_767_000_030,
            filter: filter.into(),
            public_key: key.public_key().to_hex(),
            head: head.clone(),
            seqs: export::ranges(seqs),
            previous_head: with_previous.then(|| previous.clone()),
            consistency_proof: if with_previous {
                merkle::consistency_proof(3, tree.leaves())
                    .iter()
                    .map(|h| hex(h))
                    .collect()
            } else {
                Vec::new()
            },
        };
        let header = export::header(&key, manifest);
        let lines: Vec<_> = seqs
            .iter()
            .map(|&s| {
                let i = (s - 1) as usize;
                export::line(entries[i].clone(), &leaves[i], &tree.inclusion_proof(i))
            })
            .collect();
        (
            export::to_jsonl(&header, &lines),
            export::to_csv(&header, &lines),
        )
    };
    let (full_jsonl, full_csv) = make(&[1, 2, 3, 4, 5, 6], "", true);
    let (some_jsonl, some_csv) = make(&[2, 4, 5], "action=message.accepted", false);
    for (name, text) in [
        ("full.jsonl", &full_jsonl),
        ("full.csv", &full_csv),
        ("filtered.jsonl", &some_jsonl),
        ("filtered.csv", &some_csv),
    ] {
        let report =
            alcove_server::audit::verify::verify_export(text.as_bytes(), &key.public_key(), &[]);
        assert!(report.ok(), "{name}: {report}");
        seed("audit_export", name, text.as_bytes());
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("fixtures and seeds written");
}

//! The admin's filtered audit query gives exactly what a full scan of the
//! log gives, on both backends, over a log long enough to span several
//! blocks of `audit_subjects` (the table that narrows a query by user,
//! client or device to the stretches of the log where they appear) —
//! including a block where the subject is absent, paging in both
//! directions and every combination of subject with the other filters.

use alcove_server::audit::store::{AuditFilter, StoredEntry, SUBJECT_BLOCK};
use alcove_server::audit::{Event, RequestMeta};
use alcove_server::ids::{DeviceId, PracticeId, UserId};
use alcove_tests::{on_both_backends, Backend, TestApp};

/// What a full scan gives for the filter, newest or oldest first.
fn expected(all: &[StoredEntry], f: &AuditFilter, ascending: bool, limit: usize) -> Vec<i64> {
    let is = |v: &Option<String>, want: &Option<String>| want.is_none() || v == want;
    let mut seqs: Vec<i64> = all
        .iter()
        .map(|r| &r.entry)
        .filter(|e| {
            is(&e.actor_user_id, &f.user)
                && is(&e.target_user_id, &f.client)
                && (f.device.is_none()
                    || e.actor_device_id == f.device
                    || e.target_device_id == f.device)
                && f.action.as_ref().is_none_or(|a| &e.action == a)
                && f.outcome.as_ref().is_none_or(|o| &e.outcome == o)
                && f.from.is_none_or(|t| e.at >= t)
                && f.to.is_none_or(|t| e.at < t)
                && f.before_seq.is_none_or(|s| e.seq < s)
                && f.after_seq.is_none_or(|s| e.seq > s)
        })
        .map(|e| e.seq)
        .collect();
    if !ascending {
        seqs.reverse();
    }
    seqs.truncate(limit);
    seqs
}

async fn filtered_queries_match_a_full_scan(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let practice: PracticeId = app.new_practice("Audit query").await.practice_id;
    let meta = RequestMeta::default();
    let (client, staff, other) = (UserId::new(), UserId::new(), UserId::new());
    let (phone, laptop) = (DeviceId::new(), DeviceId::new());
    // 2,600 entries: the client is named in the first and third blocks of
    // 1,024 but not in the second; the staff member acts throughout.
    let block = SUBJECT_BLOCK as usize;
    let mut events = Vec::new();
    for i in 0..2600usize {
        let action = if i % 3 == 0 {
            alcove_server::audit::Action::MessageDelivered
        } else {
            alcove_server::audit::Action::MessageAccepted
        };
        let actor = if i % 5 == 0 { other } else { staff };
        let device = if i % 2 == 0 { phone } else { laptop };
        let mut ev = Event::new(practice, action, &meta).actor(actor, Some(device));
        if !(block..2 * block).contains(&i) && i % 4 != 1 {
            ev = ev.target_user(client);
        } else if i % 11 == 0 {
            ev = ev.target_user(other).target_device(phone);
        }
        if i % 7 == 0 {
            ev = ev.failed();
        }
        events.push(ev);
    }
    for (n, chunk) in events.chunks(500).enumerate() {
        app.store
            .append_audits(chunk, 1_700_000_000 + n as i64)
            .await
            .expect("append");
    }
    let store = alcove_server::storage::audit_store::open(&app.settings)
        .await
        .expect("audit store");
    let practice = practice.to_string();
    let all = store.audit_rows(&practice, 0, 100_000).await.expect("rows");
    assert!(all.len() > 2600);

    let some = |s: UserId| Some(s.to_string());
    let filters = [
        AuditFilter {
            client: some(client),
            ..Default::default()
        },
        AuditFilter {
            user: some(staff),
            ..Default::default()
        },
        AuditFilter {
            device: Some(phone.to_string()),
            ..Default::default()
        },
        AuditFilter {
            client: some(client),
            action: Some("message.delivered".into()),
            ..Default::default()
        },
        AuditFilter {
            client: some(client),
            user: some(other),
            outcome: Some("failure".into()),
            ..Default::default()
        },
        AuditFilter {
            client: some(other),
            device: Some(phone.to_string()),
            from: Some(1_700_000_002),
            to: Some(1_700_000_005),
            ..Default::default()
        },
        AuditFilter {
            user: some(UserId::new()),
            ..Default::default()
        },
        AuditFilter {
            action: Some("message.accepted".into()),
            outcome: Some("success".into()),
            ..Default::default()
        },
    ];
    // Bounds inside, at the edges of, and across the blocks.
    let bounds = [
        (None, None),
        (Some(1500), None),
        (None, Some(1024)),
        (Some(1023), Some(2049)),
        (Some(1100), Some(2000)),
        (Some(2600), Some(10)),
    ];
    for f in &filters {
        for &(after_seq, before_seq) in &bounds {
            for ascending in [false, true] {
                for limit in [1usize, 7, 100, 5000] {
                    let f = AuditFilter {
                        after_seq,
                        before_seq,
                        ..f.clone()
                    };
                    let got: Vec<i64> = store
                        .audit_query(&practice, &f, ascending, limit as i64)
                        .await
                        .expect("query")
                        .into_iter()
                        .map(|r| r.entry.seq)
                        .collect();
                    assert_eq!(
                        got,
                        expected(&all, &f, ascending, limit),
                        "{f:?} ascending={ascending} limit={limit}"
                    );
                }
            }
        }
    }

    // Paging newest first, as the admin page does, reaches every entry
    // that names the client, once each.
    let mut pages = Vec::new();
    let mut before_seq = None;
    loop {
        let f = AuditFilter {
            client: some(client),
            before_seq,
            ..Default::default()
        };
        let page = store
            .audit_query(&practice, &f, false, 100)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        before_seq = Some(last.entry.seq);
        pages.extend(page.into_iter().map(|r| r.entry.seq));
    }
    let f = AuditFilter {
        client: some(client),
        ..Default::default()
    };
    assert_eq!(pages, expected(&all, &f, false, usize::MAX));
    assert!(pages.len() > 1000, "{}", pages.len());
    app.stop().await;
}

on_both_backends!(filtered_queries_match_a_full_scan);

//! Evidence for a lost or stolen device, from the server's own records
//! (pure: facts in, the summary the four-factor assessment starts from).
//!
//! - Which conversations the device received entries of, and which ranges:
//!   the server records every range it hands a device (`message.delivered`
//!   audit events, written before the entries leave), so a device that read
//!   and never acknowledged is counted too. Never content: sequence numbers
//!   and counts.
//! - Who is affected: the client of each such conversation; for a client's
//!   own device, the client.
//! - The encryption safe harbor's facts: the device's local state is sealed
//!   under a key one half of which (the unlock share) the server held; the
//!   share's row is deleted at revocation. "Destroyed" means: the row is
//!   gone and SQLite overwrites deleted content (`secure_delete`), but a
//!   copy survives in the write-ahead log until the next checkpoint and in
//!   any backup taken before — the practice's backup policy decides how
//!   long. A device with a live session at revocation may have been
//!   unlocked: its screen and memory held plaintext, and the safe harbor
//!   is not claimed for it.

use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One delivery record of the device.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Conversation.
    pub conversation_id: String,
    /// Its client.
    pub client_id: Option<String>,
    /// First and last seq handed over.
    pub from_seq: i64,
    /// Last seq.
    pub to_seq: i64,
    /// When.
    pub at: i64,
    /// The audit entry that records it.
    pub audit_seq: i64,
}

/// What the server knows of the device.
#[derive(Debug, Clone, Default)]
pub struct DeviceFacts {
    /// The device.
    pub device_id: String,
    /// Its owner.
    pub owner_id: String,
    /// The owner is a client.
    pub owner_is_client: bool,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// The server still holds its unlock share.
    pub share_held: bool,
    /// A session of it was live at revocation (or is now, unrevoked).
    pub live_session_at_revocation: bool,
    /// Last seen before the loss was reported.
    pub last_seen_at: Option<i64>,
    /// Its delivery records, in order.
    pub delivered: Vec<Delivered>,
    /// The audit entries of its loss report and its revocation.
    pub report_seq: Option<i64>,
    /// Its revocation's audit entry.
    pub revocation_seq: Option<i64>,
    /// Audit entries of its revoked token presented again (each one hour
    /// of attempts at most: see `device.revoked_token_used`).
    pub token_use_seqs: Vec<i64>,
    /// Whether a socket of it was open as it was revoked (recorded with the
    /// revocation; `None` for a revocation recorded before that was kept).
    pub socket_open_at_revocation: Option<bool>,
    /// Its removal from each conversation it was a member of.
    pub removals: Vec<Removal>,
}

/// The device's removal from one conversation's group: the commit that
/// removed its leaf, after which it holds no key of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Removal {
    /// Conversation.
    pub conversation_id: String,
    /// When the removal commit was accepted (none: still pending — the
    /// server's Remove proposal waits for a member's commit).
    pub removed_at: Option<i64>,
    /// The removal commit's position in the conversation's log.
    pub commit_seq: Option<i64>,
    /// The epoch the removal commit created: from it on, nothing sent in
    /// the conversation can be read with the device's keys.
    pub epoch: Option<i64>,
}

/// The audit entries a device's evidence rests on (each can be proven in
/// the signed log: `GET /api/v1/audit/proof/inclusion?seq=`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct EvidenceSources {
    /// The loss report.
    pub report: Option<i64>,
    /// The revocation.
    pub revocation: Option<i64>,
    /// The records of entries handed to it.
    pub deliveries: Vec<i64>,
    /// Its revoked token presented again.
    pub token_uses: Vec<i64>,
}

/// What one conversation gave the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ConversationEvidence {
    /// Conversation.
    pub conversation_id: String,
    /// Its client (an affected individual).
    pub client_id: Option<String>,
    /// Ranges handed over (after merging adjacent ones).
    pub ranges: Vec<SeqRange>,
    /// Entries handed over in all.
    pub entries: i64,
    /// The last hand-over.
    pub last_delivered_at: i64,
}

/// Entries `from_seq..=to_seq` of a conversation's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct SeqRange {
    /// First.
    pub from_seq: i64,
    /// Last.
    pub to_seq: i64,
}

/// The device's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DeviceEvidence {
    /// The device.
    pub device_id: String,
    /// Its owner.
    pub owner_id: String,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// Last seen before the report.
    pub last_seen_at: Option<i64>,
    /// The unlock share is gone: the sealed local state cannot be opened.
    pub unlock_share_destroyed: bool,
    /// A session was live at revocation: it may have been unlocked.
    pub live_session_at_revocation: bool,
    /// A socket of it was open as it was revoked (`None`: not recorded).
    pub socket_open_at_revocation: Option<bool>,
    /// Its removal from each conversation's group (the removal commit's
    /// epoch), or that it is still pending.
    pub removals: Vec<Removal>,
    /// The safe harbor's facts hold: revoked, share destroyed, no live
    /// session and no open socket (the privacy officer still decides).
    pub safe_harbor_facts: bool,
    /// Per conversation.
    pub conversations: Vec<ConversationEvidence>,
    /// The affected individuals (client ids), sorted.
    pub affected_clients: Vec<String>,
    /// The audit entries behind these facts.
    pub sources: EvidenceSources,
}

/// Summarises the facts.
pub fn summarize(f: &DeviceFacts) -> DeviceEvidence {
    let mut raw: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    let mut by_conv: BTreeMap<&str, ConversationEvidence> = BTreeMap::new();
    for d in &f.delivered {
        if d.to_seq < d.from_seq {
            continue;
        }
        let c = by_conv
            .entry(&d.conversation_id)
            .or_insert_with(|| ConversationEvidence {
                conversation_id: d.conversation_id.clone(),
                client_id: d.client_id.clone(),
                ranges: Vec::new(),
                entries: 0,
                last_delivered_at: d.at,
            });
        raw.entry(&d.conversation_id)
            .or_default()
            .push((d.from_seq, d.to_seq));
        c.last_delivered_at = c.last_delivered_at.max(d.at);
    }
    for (conv, c) in by_conv.iter_mut() {
        let merged = merge(raw.remove(conv).unwrap_or_default());
        c.entries = merged.iter().map(|(a, b)| b - a + 1).sum();
        c.ranges = merged
            .into_iter()
            .map(|(from_seq, to_seq)| SeqRange { from_seq, to_seq })
            .collect();
    }
    let conversations: Vec<ConversationEvidence> = by_conv.into_values().collect();
    let mut affected: Vec<String> = conversations
        .iter()
        .filter_map(|c| c.client_id.clone())
        .collect();
    if f.owner_is_client {
        affected.push(f.owner_id.clone());
    }
    affected.sort();
    affected.dedup();
    let destroyed = f.revoked_at.is_some() && !f.share_held;
    // Open to the server as it was cut off: in use, as a live session is.
    let in_use = f.live_session_at_revocation || f.socket_open_at_revocation == Some(true);
    DeviceEvidence {
        device_id: f.device_id.clone(),
        owner_id: f.owner_id.clone(),
        revoked_at: f.revoked_at,
        last_seen_at: f.last_seen_at,
        unlock_share_destroyed: destroyed,
        live_session_at_revocation: f.live_session_at_revocation,
        socket_open_at_revocation: f.socket_open_at_revocation,
        removals: f.removals.clone(),
        safe_harbor_facts: destroyed && !in_use,
        conversations,
        affected_clients: affected,
        sources: EvidenceSources {
            report: f.report_seq,
            revocation: f.revocation_seq,
            deliveries: f.delivered.iter().map(|d| d.audit_seq).collect(),
            token_uses: f.token_use_seqs.clone(),
        },
    }
}

/// Where the affected individuals live, as far as the practice recorded it:
/// the counts per state that decide whether a state's media must be told
/// (more than 500 residents of one state, 164.406).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Residence {
    /// Affected individuals per state (USPS code), largest first.
    pub by_state: Vec<StateCount>,
    /// Affected individuals whose state was not recorded.
    pub not_recorded: u64,
    /// The largest count of one state (what the media rule compares with
    /// 500); a lower bound while some are not recorded.
    pub largest: u64,
}

/// Affected residents of one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StateCount {
    /// USPS code.
    pub state: String,
    /// How many.
    pub count: u64,
}

/// Counts the affected individuals of all the evidence per recorded state
/// (`affected`: every affected person, repeats allowed; `recorded`: person
/// id → state, for those with one).
pub fn residence<'a>(
    affected: impl IntoIterator<Item = &'a str>,
    recorded: &[(String, String)],
) -> Residence {
    let affected: std::collections::BTreeSet<&str> = affected.into_iter().collect();
    let states: BTreeMap<&str, &str> = recorded
        .iter()
        .map(|(id, st)| (id.as_str(), st.as_str()))
        .collect();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut not_recorded = 0;
    for id in affected {
        match states.get(id) {
            Some(st) => *counts.entry(st).or_default() += 1,
            None => not_recorded += 1,
        }
    }
    let mut by_state: Vec<StateCount> = counts
        .into_iter()
        .map(|(state, count)| StateCount {
            state: state.to_owned(),
            count,
        })
        .collect();
    by_state.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.state.cmp(&b.state)));
    Residence {
        largest: by_state.first().map_or(0, |c| c.count),
        by_state,
        not_recorded,
    }
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge(mut ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    ranges.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(conv: &str, client: &str, from: i64, to: i64, at: i64) -> Delivered {
        Delivered {
            conversation_id: conv.into(),
            client_id: Some(client.into()),
            from_seq: from,
            to_seq: to,
            at,
            audit_seq: at * 10,
        }
    }

    #[test]
    fn a_clinicians_lost_phone_lists_each_clients_conversation_and_ranges() {
        let f = DeviceFacts {
            device_id: "phone".into(),
            owner_id: "dr".into(),
            revoked_at: Some(100),
            delivered: vec![
                d("c1", "sam", 1, 3, 10),
                d("c2", "alex", 1, 1, 11),
                d("c1", "sam", 4, 6, 12),
                d("c1", "sam", 9, 9, 13),
            ],
            ..Default::default()
        };
        let e = summarize(&f);
        assert_eq!(e.affected_clients, ["alex", "sam"]);
        let c1 = &e.conversations[0];
        assert_eq!(c1.conversation_id, "c1");
        let ranges: Vec<(i64, i64)> = c1.ranges.iter().map(|r| (r.from_seq, r.to_seq)).collect();
        assert_eq!(ranges, [(1, 6), (9, 9)]);
        assert_eq!(c1.entries, 7);
        assert_eq!(c1.last_delivered_at, 13);
        assert!(e.unlock_share_destroyed && e.safe_harbor_facts);
    }

    #[test]
    fn residents_are_counted_once_per_person_across_devices_per_recorded_state() {
        let phone = summarize(&DeviceFacts {
            device_id: "phone".into(),
            owner_id: "dr".into(),
            delivered: vec![d("c1", "sam", 1, 3, 10), d("c2", "alex", 1, 1, 11)],
            ..Default::default()
        });
        let laptop = summarize(&DeviceFacts {
            device_id: "laptop".into(),
            owner_id: "dr".into(),
            delivered: vec![
                d("c1", "sam", 1, 3, 10),
                d("c3", "kim", 1, 1, 11),
                d("c4", "lee", 1, 1, 12),
            ],
            ..Default::default()
        });
        let recorded = [
            ("sam".to_owned(), "CA".to_owned()),
            ("kim".to_owned(), "CA".to_owned()),
            ("alex".to_owned(), "NY".to_owned()),
            ("nobody".to_owned(), "TX".to_owned()),
        ];
        let affected = [phone, laptop];
        let r = residence(
            affected
                .iter()
                .flat_map(|e| e.affected_clients.iter().map(String::as_str)),
            &recorded,
        );
        let counts: Vec<(&str, u64)> = r
            .by_state
            .iter()
            .map(|c| (c.state.as_str(), c.count))
            .collect();
        assert_eq!(
            counts,
            [("CA", 2), ("NY", 1)],
            "sam once, though on both devices; an unaffected person not at all"
        );
        assert_eq!(r.not_recorded, 1, "lee");
        assert_eq!(r.largest, 2);
        assert_eq!(residence([], &recorded), Residence::default());
    }

    #[test]
    fn a_live_session_or_a_held_share_withholds_the_safe_harbor_facts() {
        let base = DeviceFacts {
            device_id: "p".into(),
            owner_id: "sam".into(),
            owner_is_client: true,
            revoked_at: Some(5),
            ..Default::default()
        };
        let e = summarize(&base);
        assert_eq!(
            e.affected_clients,
            ["sam"],
            "a client's own device: the client"
        );
        assert!(e.safe_harbor_facts);
        assert!(
            !summarize(&DeviceFacts {
                live_session_at_revocation: true,
                ..base.clone()
            })
            .safe_harbor_facts
        );
        assert!(
            !summarize(&DeviceFacts {
                share_held: true,
                ..base.clone()
            })
            .safe_harbor_facts
        );
        assert!(
            !summarize(&DeviceFacts {
                socket_open_at_revocation: Some(true),
                ..base.clone()
            })
            .safe_harbor_facts,
            "a socket open as it was cut off: in use"
        );
        assert!(
            summarize(&DeviceFacts {
                socket_open_at_revocation: Some(false),
                ..base.clone()
            })
            .safe_harbor_facts
        );
        assert!(
            !summarize(&DeviceFacts {
                revoked_at: None,
                ..base
            })
            .unlock_share_destroyed
        );
    }
}

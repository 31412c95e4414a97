//! Evidence for an account — a password or second factor that may be known
//! to someone else, or someone reaching records they should not: which
//! clients' records the account reached in the window, how it signed in,
//! and whether it has been secured since. Pure: the audit entries in, the
//! summary the four-factor assessment starts from.
//!
//! Invariants:
//! - Only what the account itself did counts as reaching a record: an
//!   audit entry whose actor is the account, that succeeded, and that names
//!   a client (the client of its conversation, or a client it acted on).
//!   Refusals (`access.refused`, `access.not_found`) reached nothing.
//! - A client's own account reaches that client's records: the client is
//!   affected even when the window shows nothing else.
//! - Never content: counts, times and the audit entries behind them; the
//!   addresses an account signed in from are counted, never shown.
//! - The window is stated with the evidence (from `discovered_at` minus the
//!   practice's look-back to now): a reader knows what was searched. When
//!   the log held more entries than one read takes, the evidence says it is
//!   incomplete rather than under-counting in silence.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// Entries handed to the account's devices.
pub const DELIVERED: &str = "message.delivered";
/// A message the account sent.
pub const SENT: &str = "message.accepted";
/// A sign-in.
pub const LOGIN: &str = "auth.login";
/// A second-factor check at sign-in.
pub const MFA: &str = "auth.mfa";
/// What secures an account after the fact: its password replaced (every
/// other session ends with it) or the account deactivated.
pub const SECURING: [&str; 3] = [
    "auth.password_changed",
    "auth.password_reset",
    "user.deactivated",
];
/// Refusals: they reached nothing.
const REFUSALS: [&str; 2] = ["access.refused", "access.not_found"];
/// The most sign-in entries cited as sources.
const MAX_SIGN_IN_SOURCES: usize = 100;

/// One audit entry of, or about, the account in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    /// Its action.
    pub action: String,
    /// The account itself acted (else it was acted on).
    pub by_account: bool,
    /// It succeeded.
    pub succeeded: bool,
    /// The client it names, if any.
    pub client_id: Option<String>,
    /// For a delivery: how many entries were handed over.
    pub entries: i64,
    /// Where the request came from (counted, never shown).
    pub address: Option<String>,
    /// When.
    pub at: i64,
    /// Its audit entry.
    pub seq: i64,
}

/// What the server's log holds of the account in the window.
#[derive(Debug, Clone, Default)]
pub struct AccountFacts {
    /// The account.
    pub user_id: String,
    /// It is a client's.
    pub is_client: bool,
    /// The window searched.
    pub from: i64,
    /// Its end.
    pub to: i64,
    /// When the incident was discovered (what secures it comes after).
    pub discovered_at: i64,
    /// The entries, in log order.
    pub events: Vec<AccountEvent>,
    /// The log held more than one read takes: the evidence is incomplete.
    pub truncated: bool,
}

/// What the account reached of one client's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClientReach {
    /// The client (an affected individual).
    pub client_id: String,
    /// Entries of their conversations handed to the account's devices.
    pub entries_delivered: i64,
    /// Messages the account sent into their conversations.
    pub messages_sent: i64,
    /// Other records of theirs it acted on (appointments, preferences …).
    pub other_accesses: i64,
    /// The first access in the window.
    pub first_at: i64,
    /// The last.
    pub last_at: i64,
}

/// The audit entries an account's evidence rests on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccountSources {
    /// The first and the last access to each client's records.
    pub accesses: Vec<i64>,
    /// Sign-ins and failed sign-ins (the first hundred).
    pub sign_ins: Vec<i64>,
    /// What secured the account after discovery.
    pub secured: Option<i64>,
}

/// The account's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccountEvidence {
    /// The account.
    pub user_id: String,
    /// The window searched: from (Unix seconds).
    pub from: i64,
    /// To.
    pub to: i64,
    /// Per client whose records it reached, by client id.
    pub clients: Vec<ClientReach>,
    /// The affected individuals (client ids), sorted.
    pub affected_clients: Vec<String>,
    /// Sign-ins in the window.
    pub sign_ins: i64,
    /// How many different addresses they came from.
    pub sign_in_addresses: i64,
    /// Failed sign-ins (a wrong password or code) in the window.
    pub failed_sign_ins: i64,
    /// When the account was first secured after discovery (its password
    /// replaced, or deactivated), if it was.
    pub secured_at: Option<i64>,
    /// The log held more than one read takes: counts are lower bounds.
    pub incomplete: bool,
    /// The audit entries behind these facts.
    pub sources: AccountSources,
}

/// Summarises the facts.
pub fn summarize(f: &AccountFacts) -> AccountEvidence {
    let mut clients: BTreeMap<&str, (ClientReach, i64, i64)> = BTreeMap::new();
    let (mut sign_ins, mut failed) = (0, 0);
    let mut addresses: BTreeSet<&str> = BTreeSet::new();
    let mut sign_in_sources = Vec::new();
    let mut secured: Option<(i64, i64)> = None;
    for e in &f.events {
        let sign_in = e.action == LOGIN || e.action == MFA;
        if sign_in {
            if e.succeeded && e.by_account && e.action == LOGIN {
                sign_ins += 1;
                if let Some(a) = e.address.as_deref() {
                    addresses.insert(a);
                }
            } else if !e.succeeded {
                failed += 1;
            }
            if sign_in_sources.len() < MAX_SIGN_IN_SOURCES {
                sign_in_sources.push(e.seq);
            }
            continue;
        }
        if SECURING.contains(&e.action.as_str())
            && e.succeeded
            && e.at >= f.discovered_at
            && secured.is_none()
        {
            secured = Some((e.at, e.seq));
            continue;
        }
        if !e.by_account || !e.succeeded || REFUSALS.contains(&e.action.as_str()) {
            continue;
        }
        let Some(client) = e.client_id.as_deref() else {
            continue;
        };
        let (reach, first_seq, last_seq) = clients.entry(client).or_insert_with(|| {
            (
                ClientReach {
                    client_id: client.to_owned(),
                    entries_delivered: 0,
                    messages_sent: 0,
                    other_accesses: 0,
                    first_at: e.at,
                    last_at: e.at,
                },
                e.seq,
                e.seq,
            )
        });
        match e.action.as_str() {
            DELIVERED => reach.entries_delivered += e.entries.max(0),
            SENT => reach.messages_sent += 1,
            _ => reach.other_accesses += 1,
        }
        reach.first_at = reach.first_at.min(e.at);
        reach.last_at = reach.last_at.max(e.at);
        *first_seq = (*first_seq).min(e.seq);
        *last_seq = (*last_seq).max(e.seq);
    }
    let mut accesses: Vec<i64> = clients.values().flat_map(|(_, a, b)| [*a, *b]).collect();
    accesses.sort_unstable();
    accesses.dedup();
    let mut affected: Vec<String> = clients.keys().map(|c| (*c).to_owned()).collect();
    if f.is_client {
        affected.push(f.user_id.clone());
    }
    affected.sort();
    affected.dedup();
    AccountEvidence {
        user_id: f.user_id.clone(),
        from: f.from,
        to: f.to,
        clients: clients.into_values().map(|(r, _, _)| r).collect(),
        affected_clients: affected,
        sign_ins,
        sign_in_addresses: i64::try_from(addresses.len()).unwrap_or(i64::MAX),
        failed_sign_ins: failed,
        secured_at: secured.map(|(at, _)| at),
        incomplete: f.truncated,
        sources: AccountSources {
            accesses,
            sign_ins: sign_in_sources,
            secured: secured.map(|(_, seq)| seq),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str, client: Option<&str>, at: i64, seq: i64) -> AccountEvent {
        AccountEvent {
            action: action.into(),
            by_account: true,
            succeeded: true,
            client_id: client.map(Into::into),
            entries: 0,
            address: None,
            at,
            seq,
        }
    }

    fn facts(events: Vec<AccountEvent>) -> AccountFacts {
        AccountFacts {
            user_id: "dr".into(),
            from: 0,
            to: 1_000,
            discovered_at: 500,
            events,
            ..Default::default()
        }
    }

    #[test]
    fn an_account_reaches_each_client_it_acted_on_with_counts_and_first_and_last_entries() {
        let mut delivered = ev(DELIVERED, Some("sam"), 10, 1);
        delivered.entries = 5;
        let mut later = ev(DELIVERED, Some("sam"), 40, 9);
        later.entries = 2;
        let e = summarize(&facts(vec![
            delivered,
            ev(SENT, Some("sam"), 20, 3),
            ev("appointment.created", Some("alex"), 30, 5),
            later,
        ]));
        assert_eq!(e.affected_clients, ["alex", "sam"]);
        let sam = &e.clients[1];
        assert_eq!(
            (sam.entries_delivered, sam.messages_sent, sam.other_accesses),
            (7, 1, 0)
        );
        assert_eq!((sam.first_at, sam.last_at), (10, 40));
        assert_eq!(e.clients[0].other_accesses, 1);
        assert_eq!(
            e.sources.accesses,
            [1, 5, 9],
            "alex once, sam first and last"
        );
        assert!(!e.incomplete);
    }

    #[test]
    fn refusals_failures_and_what_others_did_to_the_account_reach_nothing() {
        let mut by_admin = ev("users.viewed", Some("sam"), 10, 1);
        by_admin.by_account = false;
        let mut failed = ev(SENT, Some("sam"), 11, 2);
        failed.succeeded = false;
        let e = summarize(&facts(vec![
            by_admin,
            failed,
            ev("access.refused", Some("sam"), 12, 3),
            ev("access.not_found", Some("kim"), 13, 4),
            ev("conversation.created", None, 14, 5),
        ]));
        assert!(e.clients.is_empty() && e.affected_clients.is_empty());
        assert!(e.sources.accesses.is_empty());
    }

    #[test]
    fn sign_ins_are_counted_with_their_addresses_and_failures_never_shown() {
        let login = |addr: &str, seq| AccountEvent {
            address: Some(addr.into()),
            ..ev(LOGIN, None, seq, seq)
        };
        let mut wrong = ev(LOGIN, None, 5, 5);
        (wrong.succeeded, wrong.by_account) = (false, false);
        let mut wrong_code = ev(MFA, None, 6, 6);
        wrong_code.succeeded = false;
        let e = summarize(&facts(vec![
            login("10.0.0.1", 1),
            login("10.0.0.1", 2),
            login("203.0.113.9", 3),
            wrong,
            wrong_code,
        ]));
        assert_eq!(
            (e.sign_ins, e.sign_in_addresses, e.failed_sign_ins),
            (3, 2, 2)
        );
        assert_eq!(e.sources.sign_ins, [1, 2, 3, 5, 6]);
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("10.0.0.1") && !json.contains("203.0.113.9"));
    }

    #[test]
    fn only_what_secured_the_account_after_discovery_counts_as_mitigation() {
        let e = summarize(&facts(vec![
            ev("auth.password_changed", None, 100, 1),
            ev("auth.password_reset", None, 600, 2),
            ev("user.deactivated", None, 700, 3),
        ]));
        assert_eq!(e.secured_at, Some(600));
        assert_eq!(e.sources.secured, Some(2));
        assert_eq!(summarize(&facts(vec![])).secured_at, None);
    }

    #[test]
    fn a_clients_own_account_affects_the_client_and_a_cut_read_says_so() {
        let e = summarize(&AccountFacts {
            user_id: "sam".into(),
            is_client: true,
            truncated: true,
            ..facts(vec![])
        });
        assert_eq!(e.affected_clients, ["sam"]);
        assert!(e.incomplete);
    }
}

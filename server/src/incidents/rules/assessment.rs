//! The four-factor risk assessment of 45 CFR 164.402(2), as a worksheet:
//! each factor's statement prefilled from the evidence (never content:
//! counts, ranges, times, the safe harbor's facts), with the audit entries
//! it rests on, edited by the privacy officer, then signed off with a
//! fresh second factor. Pure.
//!
//! Invariants:
//! - The prefill says only what the server's records show, and says so
//!   when they show nothing: a statement the records cannot support is left
//!   for the privacy officer to write ("not known from Alcove's records").
//! - The sources of a statement are computed from the evidence at read time,
//!   never taken from a client: a save changes the words, not what they
//!   rest on.
//! - Signed off is final: the statements no longer change, and only a
//!   decided incident can be signed off (the decision is what is signed).

use super::account::AccountEvidence;
use super::deadlines::day_of;
use super::evidence::DeviceEvidence;
use super::status::{Decision, Kind, Status};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most a statement may hold, in bytes.
pub const MAX_STATEMENT: usize = 8_000;

/// The four factors, in the regulation's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// (i) The nature and extent of the PHI involved.
    NatureExtent,
    /// (ii) The unauthorized person who used it or to whom it was disclosed.
    Recipient,
    /// (iii) Whether it was actually acquired or viewed.
    AcquiredViewed,
    /// (iv) The extent to which the risk has been mitigated.
    Mitigation,
}

impl Factor {
    /// Every factor, in order.
    pub const ALL: [Factor; 4] = [
        Factor::NatureExtent,
        Factor::Recipient,
        Factor::AcquiredViewed,
        Factor::Mitigation,
    ];

    /// Its heading, as the regulation words it.
    pub fn title(self) -> &'static str {
        match self {
            Factor::NatureExtent => "(i) The nature and extent of the PHI involved",
            Factor::Recipient => {
                "(ii) The unauthorized person who used the PHI or to whom it was disclosed"
            }
            Factor::AcquiredViewed => "(iii) Whether the PHI was actually acquired or viewed",
            Factor::Mitigation => "(iv) The extent to which the risk has been mitigated",
        }
    }
}

/// The statements as written (stored; one text per factor).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Statements {
    /// Factor (i).
    pub nature_extent: String,
    /// Factor (ii).
    pub recipient: String,
    /// Factor (iii).
    pub acquired_viewed: String,
    /// Factor (iv).
    pub mitigation: String,
}

impl Statements {
    /// The text of one factor.
    pub fn get(&self, f: Factor) -> &str {
        match f {
            Factor::NatureExtent => &self.nature_extent,
            Factor::Recipient => &self.recipient,
            Factor::AcquiredViewed => &self.acquired_viewed,
            Factor::Mitigation => &self.mitigation,
        }
    }

    fn set(&mut self, f: Factor, text: String) {
        match f {
            Factor::NatureExtent => self.nature_extent = text,
            Factor::Recipient => self.recipient = text,
            Factor::AcquiredViewed => self.acquired_viewed = text,
            Factor::Mitigation => self.mitigation = text,
        }
    }
}

/// One factor of the worksheet as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FactorView {
    /// Which.
    pub factor: Factor,
    /// Its heading.
    pub title: &'static str,
    /// What the records say (the prefill).
    pub prefilled: String,
    /// The statement as it stands (the prefill until edited).
    pub text: String,
    /// Audit entries (seq) the prefill rests on.
    pub sources: Vec<i64>,
}

/// What the prefill knows: the incident's kind, its devices' evidence and
/// its accounts'.
pub fn prefill(
    kind: Kind,
    evidence: &[DeviceEvidence],
    accounts: &[AccountEvidence],
) -> Vec<FactorView> {
    const UNKNOWN: &str = "Not known from Alcove's records: describe what is known.";
    let mut texts = Statements::default();
    let mut sources: [Vec<i64>; 4] = Default::default();
    if evidence.is_empty() && accounts.is_empty() {
        for f in Factor::ALL {
            texts.set(f, UNKNOWN.to_owned());
        }
        if kind == Kind::MisdirectedMessage {
            texts.recipient = "Another person than the one intended, named in the report: \
                 say whether they are a client of the practice (bound by nothing) or a covered \
                 person (bound to protect it)."
                .to_owned();
        }
    }
    for e in evidence {
        let conversations = e.conversations.len();
        let entries: i64 = e.conversations.iter().map(|c| c.entries).sum();
        let clients = e.affected_clients.len();
        let deliveries = &e.sources.deliveries;
        append(
            &mut texts,
            Factor::NatureExtent,
            format!(
                "The device held the end-to-end encrypted messages of {} ({} handed over in {}), \
                 and its own history of them. Alcove keeps no diagnoses or clinical notes; \
                 appointment details travel inside the messages.",
                count(clients, "client"),
                count(usize::try_from(entries).unwrap_or(0), "entry"),
                count(conversations, "conversation"),
            ),
        );
        sources[0].extend(deliveries.iter().copied());
        append(
            &mut texts,
            Factor::Recipient,
            "Whoever has the device now: not known. Its stored messages are sealed under a key \
             half of which only the server held."
                .to_owned(),
        );
        sources[1].extend(e.sources.report);
        let viewed = if e.live_session_at_revocation {
            "A session of the device was live when it was revoked: it may have been unlocked, \
             and its screen and memory may have held messages. The encryption safe harbor is \
             not claimed for it."
                .to_owned()
        } else if e.socket_open_at_revocation == Some(true) {
            "The device was connected (its socket open) when it was revoked: it may have been \
             in use, its screen and memory holding messages. The encryption safe harbor is not \
             claimed for it."
                .to_owned()
        } else if e.revoked_at.is_some() {
            "No session of the device was live when it was revoked: the app locks itself when \
             idle, so the messages were sealed on the device."
                .to_owned()
        } else {
            "The device is not revoked yet.".to_owned()
        };
        let uses = e.sources.token_uses.len();
        let tried = if uses > 0 {
            format!(
                " Its revoked credential was presented again ({}; refused).",
                count(uses, "recorded hour")
            )
        } else {
            " Its revoked credential has not been presented since.".to_owned()
        };
        append(
            &mut texts,
            Factor::AcquiredViewed,
            format!("{viewed}{tried}"),
        );
        sources[2].extend(e.sources.revocation);
        sources[2].extend(e.sources.token_uses.iter().copied());
        let mitigation = match (e.revoked_at, e.unlock_share_destroyed) {
            (Some(_), true) => {
                "The device was revoked: its sessions ended, it was removed from its \
                 conversations, and the server's half of the key that seals its stored \
                 messages (the unlock share) was destroyed, so they cannot be opened."
            }
            (Some(_), false) => {
                "The device was revoked, but the server still holds its unlock share."
            }
            (None, _) => "The device is not revoked: revoke it now.",
        };
        let removed: Vec<&super::evidence::Removal> = e
            .removals
            .iter()
            .filter(|r| r.removed_at.is_some())
            .collect();
        let pending = e.removals.len() - removed.len();
        let removals = if e.removals.is_empty() {
            String::new()
        } else {
            let epochs: Vec<String> = removed
                .iter()
                .filter_map(|r| r.epoch.map(|n| n.to_string()))
                .collect();
            let by_commit = if removed.is_empty() {
                String::new()
            } else {
                format!(
                    " A commit removed it from {} (from epoch {} on, nothing sent there opens \
                     with its keys).",
                    count(removed.len(), "conversation"),
                    epochs.join(", ")
                )
            };
            let waiting = if pending > 0 {
                format!(
                    " Its removal from {} waits for a member's commit.",
                    count(pending, "conversation")
                )
            } else {
                String::new()
            };
            format!("{by_commit}{waiting}")
        };
        let harbor = if e.safe_harbor_facts {
            " The facts of the encryption safe harbor hold: the PHI on the device was secured \
             and its key was not compromised."
        } else {
            ""
        };
        append(
            &mut texts,
            Factor::Mitigation,
            format!("{mitigation}{removals}{harbor}"),
        );
        sources[3].extend(e.sources.revocation);
    }
    for a in accounts {
        prefill_account(&mut texts, &mut sources, a);
    }
    Factor::ALL
        .iter()
        .zip(sources)
        .map(|(f, mut src)| {
            src.sort_unstable();
            src.dedup();
            let text = texts.get(*f).to_owned();
            FactorView {
                factor: *f,
                title: f.title(),
                prefilled: text.clone(),
                text,
                sources: src,
            }
        })
        .collect()
}

/// An account's part of the prefill: whose records it reached in the
/// window, how it signed in, whether it has been secured since.
fn prefill_account(texts: &mut Statements, sources: &mut [Vec<i64>; 4], a: &AccountEvidence) {
    let window = format!("from {} to {}", day_of(a.from), day_of(a.to));
    let lower = if a.incomplete {
        " (at least: the log held more than one read takes)"
    } else {
        ""
    };
    let delivered: i64 = a.clients.iter().map(|c| c.entries_delivered).sum();
    let sent: i64 = a.clients.iter().map(|c| c.messages_sent).sum();
    let other: i64 = a.clients.iter().map(|c| c.other_accesses).sum();
    let n = |v: i64, what| count(usize::try_from(v).unwrap_or(0), what);
    append(
        texts,
        Factor::NatureExtent,
        format!(
            "In the window searched ({window}) the account reached the records of {}{lower}: {} handed to its devices, {} sent, {} (appointments, preferences). Alcove keeps no diagnoses or clinical notes; appointment details travel inside the messages.",
            count(a.clients.len(), "client"),
            n(delivered, "entry"),
            n(sent, "message"),
            n(other, "other record"),
        ),
    );
    sources[0].extend(a.sources.accesses.iter().copied());
    append(
        texts,
        Factor::Recipient,
        format!(
            "Whoever used the account's credentials, if anyone else did: not known from Alcove's records. In the window it signed in {} from {}; {} failed.",
            n(a.sign_ins, "time"),
            n(a.sign_in_addresses, "address"),
            n(a.failed_sign_ins, "sign-in"),
        ),
    );
    sources[1].extend(a.sources.sign_ins.iter().copied());
    let acquired = if delivered > 0 {
        "Entries were handed to the account's devices in the window: they were acquired as far as the server can tell; whether the person using the account read them is not known."
    } else {
        "No entries were handed to the account's devices in the window."
    };
    append(texts, Factor::AcquiredViewed, acquired.to_owned());
    sources[2].extend(a.sources.accesses.iter().copied());
    let mitigation = match a.secured_at {
        Some(at) => format!(
            "The account was secured on {} (its password replaced, which ends every other session, or the account deactivated).",
            day_of(at)
        ),
        None => "The account has not been secured since the incident was discovered: make a sign-in reset link for it or deactivate it."
            .to_owned(),
    };
    append(texts, Factor::Mitigation, mitigation);
    sources[3].extend(a.sources.secured);
}

fn append(texts: &mut Statements, f: Factor, more: String) {
    let before = texts.get(f);
    let joined = if before.is_empty() {
        more
    } else {
        format!("{before}\n{more}")
    };
    texts.set(f, joined);
}

fn count(n: usize, what: &str) -> String {
    let plural = match what {
        "entry" => "entries".to_owned(),
        w if w.ends_with('s') => format!("{w}es"),
        w => format!("{w}s"),
    };
    format!("{n} {}", if n == 1 { what.to_owned() } else { plural })
}

/// The worksheet with the saved statements laid over the prefill.
pub fn with_saved(mut factors: Vec<FactorView>, saved: Option<&Statements>) -> Vec<FactorView> {
    if let Some(saved) = saved {
        for f in &mut factors {
            f.text = saved.get(f.factor).to_owned();
        }
    }
    factors
}

/// Why a save or a sign-off is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssessmentError {
    /// A statement is empty or too long.
    #[error("{0}")]
    Invalid(&'static str),
    /// Signed off: it no longer changes.
    #[error("the assessment is signed off and no longer changes")]
    SignedOff,
    /// Only a decided incident is signed off.
    #[error("record the decision first: the sign-off signs the decision and its assessment")]
    NotDecided,
}

/// Checks the statements of a save.
pub fn check(s: &Statements, signed_off: bool) -> Result<(), AssessmentError> {
    if signed_off {
        return Err(AssessmentError::SignedOff);
    }
    for f in Factor::ALL {
        let t = s.get(f);
        if t.trim().is_empty() {
            return Err(AssessmentError::Invalid(
                "every factor needs a statement (write what is not known, too)",
            ));
        }
        if t.len() > MAX_STATEMENT {
            return Err(AssessmentError::Invalid("a statement: at most 8,000 bytes"));
        }
    }
    Ok(())
}

/// Whether the assessment may be signed off now.
pub fn may_sign_off(
    status: Status,
    decision: Option<Decision>,
    signed_off: bool,
) -> Result<(), AssessmentError> {
    if signed_off {
        return Err(AssessmentError::SignedOff);
    }
    match (status, decision) {
        (Status::Decided | Status::Notifying | Status::Closed, Some(_)) => Ok(()),
        _ => Err(AssessmentError::NotDecided),
    }
}

#[cfg(test)]
mod tests {
    use super::super::evidence::{ConversationEvidence, EvidenceSources, SeqRange};
    use super::*;

    fn lost_phone(live: bool) -> DeviceEvidence {
        DeviceEvidence {
            device_id: "phone".into(),
            owner_id: "dr".into(),
            revoked_at: Some(100),
            last_seen_at: None,
            unlock_share_destroyed: true,
            live_session_at_revocation: live,
            socket_open_at_revocation: Some(false),
            removals: vec![super::super::evidence::Removal {
                conversation_id: "c1".into(),
                removed_at: Some(101),
                commit_seq: Some(7),
                epoch: Some(4),
            }],
            safe_harbor_facts: !live,
            conversations: vec![ConversationEvidence {
                conversation_id: "c1".into(),
                client_id: Some("sam".into()),
                ranges: vec![SeqRange {
                    from_seq: 1,
                    to_seq: 6,
                }],
                entries: 6,
                last_delivered_at: 90,
            }],
            affected_clients: vec!["sam".into()],
            sources: EvidenceSources {
                report: Some(40),
                revocation: Some(40),
                deliveries: vec![12, 17],
                token_uses: vec![55],
            },
        }
    }

    #[test]
    fn a_lost_phone_is_prefilled_with_counts_the_safe_harbor_and_its_sources() {
        let w = prefill(Kind::LostDevice, &[lost_phone(false)], &[]);
        assert_eq!(w.len(), 4);
        assert!(w[0]
            .text
            .contains("1 client (6 entries handed over in 1 conversation)"));
        assert_eq!(w[0].sources, [12, 17]);
        assert!(w[2].text.contains("No session of the device was live"));
        assert!(w[2]
            .text
            .contains("presented again (1 recorded hour; refused)"));
        assert_eq!(w[2].sources, [40, 55]);
        assert!(w[3].text.contains("unlock share) was destroyed"));
        assert!(
            w[3].text
                .contains("A commit removed it from 1 conversation (from epoch 4 on"),
            "{}",
            w[3].text
        );
        assert!(w[3].text.contains("safe harbor hold"));
        for f in &w {
            assert_eq!(f.text, f.prefilled);
            assert!(!f.text.contains("sam"), "ids, not people, in the prefill");
        }
    }

    #[test]
    fn a_compromised_account_is_prefilled_with_whose_records_it_reached_and_its_sign_ins() {
        use super::super::account::{AccountSources, ClientReach};
        let reach = |id: &str, delivered| ClientReach {
            client_id: id.into(),
            entries_delivered: delivered,
            messages_sent: 1,
            other_accesses: 0,
            first_at: 10,
            last_at: 20,
        };
        let a = AccountEvidence {
            user_id: "dr".into(),
            from: 0,
            to: 86_400 * 40,
            clients: vec![reach("alex", 0), reach("sam", 6)],
            affected_clients: vec!["alex".into(), "sam".into()],
            sign_ins: 3,
            sign_in_addresses: 2,
            failed_sign_ins: 20,
            secured_at: None,
            incomplete: false,
            sources: AccountSources {
                accesses: vec![4, 9],
                sign_ins: vec![1, 2],
                secured: None,
            },
        };
        let w = prefill(Kind::CredentialCompromise, &[], std::slice::from_ref(&a));
        assert!(
            w[0].text.contains("from 1970-01-01 to 1970-02-10"),
            "{}",
            w[0].text
        );
        assert!(
            w[0].text
                .contains("records of 2 clients: 6 entries handed to its devices, 2 messages sent"),
            "{}",
            w[0].text
        );
        assert_eq!(w[0].sources, [4, 9]);
        assert!(w[1]
            .text
            .contains("signed in 3 times from 2 addresses; 20 sign-ins failed"));
        assert_eq!(w[1].sources, [1, 2]);
        assert!(w[2].text.starts_with("Entries were handed"));
        assert!(w[3].text.contains("has not been secured"));
        let secured = AccountEvidence {
            secured_at: Some(86_400 * 39),
            sources: AccountSources {
                secured: Some(77),
                ..a.sources.clone()
            },
            ..a
        };
        let w = prefill(Kind::CredentialCompromise, &[], &[secured]);
        assert!(w[3].text.contains("secured on 1970-02-09"));
        assert_eq!(w[3].sources, [77]);
        for f in &w {
            assert!(!f.text.contains("sam") && !f.text.contains("alex"));
        }
    }

    #[test]
    fn a_live_session_withholds_the_safe_harbor_in_the_prefill() {
        let w = prefill(Kind::LostDevice, &[lost_phone(true)], &[]);
        assert!(w[2].text.contains("may have been unlocked"));
        assert!(!w[3].text.contains("safe harbor hold"));
    }

    #[test]
    fn without_evidence_the_prefill_says_what_is_not_known() {
        let w = prefill(Kind::Other, &[], &[]);
        assert!(w
            .iter()
            .all(|f| f.text.starts_with("Not known") && f.sources.is_empty()));
        let m = prefill(Kind::MisdirectedMessage, &[], &[]);
        assert!(m[1].text.starts_with("Another person"));
    }

    #[test]
    fn saved_words_replace_the_prefill_but_not_its_sources() {
        let w = prefill(Kind::LostDevice, &[lost_phone(false)], &[]);
        let saved = Statements {
            nature_extent: "edited".into(),
            recipient: "b".into(),
            acquired_viewed: "c".into(),
            mitigation: "d".into(),
        };
        let v = with_saved(w.clone(), Some(&saved));
        assert_eq!(v[0].text, "edited");
        assert_eq!(v[0].prefilled, w[0].prefilled);
        assert_eq!(v[0].sources, w[0].sources);
    }

    #[test]
    fn saves_need_four_statements_and_stop_at_the_sign_off() {
        let ok = Statements {
            nature_extent: "a".into(),
            recipient: "b".into(),
            acquired_viewed: "c".into(),
            mitigation: "d".into(),
        };
        assert_eq!(check(&ok, false), Ok(()));
        assert_eq!(check(&ok, true), Err(AssessmentError::SignedOff));
        let blank = Statements {
            recipient: "  ".into(),
            ..ok.clone()
        };
        assert!(matches!(
            check(&blank, false),
            Err(AssessmentError::Invalid(_))
        ));
        let long = Statements {
            mitigation: "x".repeat(MAX_STATEMENT + 1),
            ..ok
        };
        assert!(matches!(
            check(&long, false),
            Err(AssessmentError::Invalid(_))
        ));
    }

    #[test]
    fn only_a_decided_incident_is_signed_off_and_only_once() {
        assert_eq!(
            may_sign_off(Status::Assessing, None, false),
            Err(AssessmentError::NotDecided)
        );
        assert_eq!(
            may_sign_off(Status::Decided, Some(Decision::NotABreach), false),
            Ok(())
        );
        assert_eq!(
            may_sign_off(Status::Closed, None, false),
            Err(AssessmentError::NotDecided)
        );
        assert_eq!(
            may_sign_off(Status::Decided, Some(Decision::Breach), true),
            Err(AssessmentError::SignedOff)
        );
    }
}

//! The draft notice to individuals of 45 CFR 164.404(c): written in plain
//! language, with each of the five required elements filled from the
//! incident where its record knows them and left as a marked blank where
//! only the practice does. Pure.
//!
//! Invariants:
//! - A draft, never sent by anything in Alcove: the practice fills the
//!   blanks, decides, and sends it the way it reaches each person.
//! - No person in it: one text for every affected individual, opened with
//!   a blank for their name; no client, clinician or device name, no
//!   message content.
//! - Every element is present (the tests check each), and the blanks are
//!   listed so nothing is sent half-written.

use super::evidence::DeviceEvidence;
use super::status::Kind;
use serde::Serialize;
use utoipa::ToSchema;

/// A blank the practice fills before sending.
pub const BLANK_NAME: &str = "[name]";
/// Its contact details: 164.404(c)(1)(E) asks for a toll-free number, an
/// email address, a web site or a postal address.
pub const BLANK_CONTACT: &str = "[toll-free number, email address, web site or postal address]";
/// The date the breach happened, when the record cannot say.
pub const BLANK_BREACH_DATE: &str = "[date it happened]";
/// A description the reporter must write.
pub const BLANK_WHAT: &str = "[what happened, in a sentence or two]";

/// The draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Notice {
    /// A subject line (for a letter's heading or an email).
    pub subject: String,
    /// The text, with blanks in square brackets.
    pub body: String,
    /// The blanks left to fill, in order of appearance.
    pub blanks: Vec<String>,
}

/// What the draft is filled from.
#[derive(Debug, Clone)]
pub struct NoticeFacts<'a> {
    /// What happened.
    pub kind: Kind,
    /// Discovered, `YYYY-MM-DD`.
    pub discovered_on: String,
    /// The practice's name (it signs the notice).
    pub practice: &'a str,
    /// The devices' evidence (for a lost device).
    pub evidence: &'a [DeviceEvidence],
    /// `YYYY-MM-DD` of a device's loss or revocation, when known.
    pub happened_on: Option<String>,
}

/// Drafts the notice.
pub fn draft(f: &NoticeFacts<'_>) -> Notice {
    let happened = f
        .happened_on
        .clone()
        .unwrap_or_else(|| BLANK_BREACH_DATE.to_owned());
    let what = match f.kind {
        Kind::LostDevice => format!(
            "On {happened}, a phone or computer used to exchange secure messages with our \
             practice was lost or stolen. We learned of it on {}.",
            f.discovered_on
        ),
        Kind::MisdirectedMessage => format!(
            "On {happened}, a secure message meant for you was sent to another person by \
             mistake. We learned of it on {}.",
            f.discovered_on
        ),
        _ => format!(
            "{BLANK_WHAT} It happened on {happened}; we learned of it on {}.",
            f.discovered_on
        ),
    };
    let kinds = "The information involved may include the content of secure messages between \
         you and our practice — which can include health information you shared and details of \
         your appointments — and the fact that you are a client of our practice. It did not \
         include your Social Security number or payment details, which our messaging service \
         does not hold.";
    let revoked = f.evidence.iter().any(|e| e.revoked_at.is_some());
    let destroyed = f.evidence.iter().any(|e| e.unlock_share_destroyed);
    let mut doing = Vec::new();
    if revoked {
        doing.push(
            "We cut the device off from our messaging service as soon as we knew: it was \
             signed out and removed from every conversation, so it receives nothing more.",
        );
    }
    if destroyed {
        doing.push(
            "The messages stored on it are encrypted, and we destroyed our half of the key \
             needed to open them.",
        );
    }
    doing.push(
        "We are reviewing what happened with our privacy officer, using the access records \
         our messaging service keeps, and we are changing our practices to prevent it from \
         happening again.",
    );
    let steps = "You do not need to do anything about your secure messages: they continue \
         as before. Be wary of messages, calls or emails that claim to come from us and ask for \
         your password, passphrase or sign-in codes — we never ask for them. If you shared the \
         device or its passcode with anyone, or if you notice anything unusual, tell us.";
    let body = format!(
        "Dear {BLANK_NAME},\n\n\
         We are writing to tell you about an incident that may have involved some of your \
         health information, what we are doing about it, and what you can do.\n\n\
         What happened\n{what}\n\n\
         What information was involved\n{kinds}\n\n\
         What we are doing\n{}\n\n\
         What you can do\n{steps}\n\n\
         For more information\nIf you have questions, please contact us at {BLANK_CONTACT}.\n\n\
         {}\n",
        doing.join(" "),
        f.practice,
    );
    let blanks = [BLANK_NAME, BLANK_WHAT, BLANK_BREACH_DATE, BLANK_CONTACT]
        .into_iter()
        .filter(|b| body.contains(b))
        .map(str::to_owned)
        .collect();
    Notice {
        subject: format!("Notice of a privacy incident from {}", f.practice),
        body,
        blanks,
    }
}

#[cfg(test)]
mod tests {
    use super::super::evidence::{DeviceEvidence, EvidenceSources};
    use super::*;

    fn lost() -> DeviceEvidence {
        DeviceEvidence {
            device_id: "d".into(),
            owner_id: "dr-okafor".into(),
            revoked_at: Some(1),
            last_seen_at: None,
            unlock_share_destroyed: true,
            live_session_at_revocation: false,
            safe_harbor_facts: true,
            conversations: vec![],
            affected_clients: vec!["sam-client".into()],
            sources: EvidenceSources::default(),
        }
    }

    #[test]
    fn a_lost_device_notice_has_the_five_elements_of_164_404_c() {
        let ev = [lost()];
        let n = draft(&NoticeFacts {
            kind: Kind::LostDevice,
            discovered_on: "2026-12-03".into(),
            practice: "Maple Street Practice",
            evidence: &ev,
            happened_on: Some("2026-12-02".into()),
        });
        // (A) what happened, with the date of the breach and of discovery.
        assert!(n.body.contains("On 2026-12-02, a phone or computer"));
        assert!(n.body.contains("We learned of it on 2026-12-03."));
        // (B) the types of information.
        assert!(n.body.contains("What information was involved"));
        // (C) steps to take.
        assert!(n.body.contains("What you can do"));
        // (D) what the practice is doing: here, revoked and key destroyed.
        assert!(n.body.contains("cut the device off"));
        assert!(n.body.contains("destroyed our half of the key"));
        // (E) how to reach the practice: a blank it must fill.
        assert!(n.body.contains(BLANK_CONTACT));
        assert_eq!(n.blanks, [BLANK_NAME, BLANK_CONTACT]);
        assert!(n.body.ends_with("Maple Street Practice\n"));
        // Nobody named: no client, no clinician, no device.
        for id in ["sam-client", "dr-okafor"] {
            assert!(!n.body.contains(id));
        }
    }

    #[test]
    fn what_the_record_cannot_say_is_left_as_a_marked_blank() {
        let n = draft(&NoticeFacts {
            kind: Kind::Other,
            discovered_on: "2026-12-03".into(),
            practice: "P",
            evidence: &[],
            happened_on: None,
        });
        assert_eq!(
            n.blanks,
            [BLANK_NAME, BLANK_WHAT, BLANK_BREACH_DATE, BLANK_CONTACT]
        );
        assert!(!n.body.contains("cut the device off"));
        assert!(n.body.contains("reviewing what happened"));
    }
}

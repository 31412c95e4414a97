//! What an incident is and how it moves: kinds, statuses, decisions, and
//! which changes are allowed. Pure.
//!
//! open → assessing → decided → (notifying, for a breach) → closed. A
//! decision is one of: a breach; not a breach (a low probability of
//! compromise, documented over the four factors of 164.402(2)); or an
//! exception of 164.402(1)(i)–(iii). Reopening is a new incident: the
//! record of a closed one does not change.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The stored and answered code.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            /// From the stored code.
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

string_enum!(
    /// What happened.
    Kind {
        /// A lost or stolen device.
        LostDevice = "lost_device",
        /// A message sent to the wrong client.
        MisdirectedMessage = "misdirected_message",
        /// Someone reached records they should not have.
        UnauthorizedAccess = "unauthorized_access",
        /// A password or second factor may be known to someone else.
        CredentialCompromise = "credential_compromise",
        /// The audit trail does not verify.
        AuditTampering = "audit_tampering",
        /// Anything else.
        Other = "other",
    }
);

string_enum!(
    /// Where the incident stands.
    Status {
        /// Reported, not yet looked at.
        Open = "open",
        /// The privacy officer is assessing it.
        Assessing = "assessing",
        /// A decision is recorded.
        Decided = "decided",
        /// A breach whose notices are going out.
        Notifying = "notifying",
        /// Done.
        Closed = "closed",
    }
);

string_enum!(
    /// The breach decision (164.402).
    Decision {
        /// A breach: notify.
        Breach = "breach",
        /// Not a breach: a low probability of compromise, documented.
        NotABreach = "not_a_breach",
        /// An exception of 164.402(1)(i)–(iii).
        Exception = "exception",
    }
);

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The status cannot follow the current one.
    #[error("an incident that is {from} cannot become {to}")]
    NotAllowed {
        /// Current status.
        from: &'static str,
        /// Asked-for status.
        to: &'static str,
    },
    /// Deciding needs the decision and its reasoning.
    #[error("a decision needs its reasoning")]
    ReasoningRequired,
    /// Only a breach is notified.
    #[error("only a breach goes to notifying")]
    NotABreach,
}

/// Whether `from` may become `to` with `decision` (the incident's decision
/// after the change).
pub fn transition(
    from: Status,
    to: Status,
    decision: Option<Decision>,
    reasoning_given: bool,
) -> Result<(), TransitionError> {
    use Status::*;
    let allowed = matches!(
        (from, to),
        (Open, Assessing)
            | (Open, Decided)
            | (Assessing, Decided)
            | (Decided, Decided)
            | (Decided, Notifying)
            | (Decided, Closed)
            | (Notifying, Closed)
            | (Open, Closed)
            | (Assessing, Closed)
    );
    if !allowed {
        return Err(TransitionError::NotAllowed {
            from: from.code(),
            to: to.code(),
        });
    }
    if to == Decided && (decision.is_none() || !reasoning_given) {
        return Err(TransitionError::ReasoningRequired);
    }
    if (from == Open || from == Assessing) && to == Closed && !reasoning_given {
        // Closing without a decision is allowed (a report that was not an
        // incident), but only with the reason written down.
        return Err(TransitionError::ReasoningRequired);
    }
    if to == Notifying && decision != Some(Decision::Breach) {
        return Err(TransitionError::NotABreach);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn an_incident_runs_from_open_to_a_decision_and_closes() {
        assert_eq!(transition(Open, Assessing, None, false), Ok(()));
        assert_eq!(
            transition(Assessing, Decided, Some(Decision::Breach), true),
            Ok(())
        );
        assert_eq!(
            transition(Decided, Notifying, Some(Decision::Breach), false),
            Ok(())
        );
        assert_eq!(
            transition(Notifying, Closed, Some(Decision::Breach), false),
            Ok(())
        );
        assert_eq!(
            transition(Decided, Closed, Some(Decision::NotABreach), false),
            Ok(())
        );
    }

    #[test]
    fn a_decision_needs_its_reasoning_and_only_a_breach_is_notified() {
        assert_eq!(
            transition(Assessing, Decided, Some(Decision::NotABreach), false),
            Err(TransitionError::ReasoningRequired)
        );
        assert_eq!(
            transition(Assessing, Decided, None, true),
            Err(TransitionError::ReasoningRequired)
        );
        assert_eq!(
            transition(Decided, Notifying, Some(Decision::NotABreach), false),
            Err(TransitionError::NotABreach)
        );
        assert_eq!(
            transition(Open, Closed, None, false),
            Err(TransitionError::ReasoningRequired)
        );
        assert_eq!(transition(Open, Closed, None, true), Ok(()));
    }

    #[test]
    fn a_closed_incident_stays_closed() {
        for to in [Open, Assessing, Decided, Notifying] {
            assert!(
                transition(Closed, to, Some(Decision::Breach), true).is_err(),
                "{to:?}"
            );
        }
        assert!(transition(Assessing, Open, None, true).is_err());
    }

    #[test]
    fn codes_round_trip() {
        for k in [
            Kind::LostDevice,
            Kind::MisdirectedMessage,
            Kind::UnauthorizedAccess,
            Kind::CredentialCompromise,
            Kind::AuditTampering,
            Kind::Other,
        ] {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Status::from_code("nope"), None);
        assert_eq!(
            serde_json::to_string(&Decision::NotABreach).unwrap(),
            "\"not_a_breach\""
        );
    }
}

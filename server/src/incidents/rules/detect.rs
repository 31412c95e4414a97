//! Detectors: which audit events open an incident. Pure: one event in, at
//! most one opening out. The watcher (`jobs/watch.rs`) feeds it the
//! practice's audit log in order; an opening whose cause already has an
//! open incident is not opened again (a unique index on the cause), so 20
//! wrong passwords make one incident, not twenty.
//!
//! The thresholds are the ones that produced the event: a lockout is
//! written when an account reaches `auth.max_failures_per_account`
//! failures in the window (`auth/throttle.rs`).

use super::status::Kind;
use crate::audit::Action;

/// What the watcher knows of one audit event.
#[derive(Debug, Clone, Default)]
pub struct Seen<'a> {
    /// Action name.
    pub action: &'a str,
    /// Target user.
    pub target_user: Option<&'a str>,
    /// Target device.
    pub target_device: Option<&'a str>,
}

/// An incident to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// What happened.
    pub kind: Kind,
    /// Cause and subject: one open incident each.
    pub cause: String,
    /// The subject user, if any.
    pub user: Option<String>,
    /// The subject device, if any.
    pub device: Option<String>,
    /// The first timeline entry: what was detected (no names, no content).
    pub entry: &'static str,
}

/// The actions `detect` opens on (the watcher reads only these, the
/// counted detectors' and the webhooks' from the log; a unit test keeps
/// the list and the function together).
pub const OPENS_ON: [Action; 5] = [
    Action::AuthLockout,
    Action::DeviceReportedLost,
    Action::DeviceRevokedTokenUsed,
    Action::SessionEndedTokenUsed,
    Action::AuditVerificationFailed,
];

/// The incident an event opens, if any.
pub fn detect(e: &Seen<'_>) -> Option<Opening> {
    match Action::parse(e.action)? {
        // An account reached its failure limit: credential stuffing or a
        // guessed password (164.308(a)(6) security incident).
        Action::AuthLockout => {
            let user = e.target_user?;
            Some(Opening {
                kind: Kind::CredentialCompromise,
                cause: format!("failed_logins:{user}"),
                user: Some(user.to_owned()),
                device: None,
                entry: "detected: repeated failed sign-ins for one account",
            })
        }
        // A device reported lost (by its owner or an admin): what was on
        // it is the question the assessment answers.
        Action::DeviceReportedLost => {
            let device = e.target_device?;
            Some(Opening {
                kind: Kind::LostDevice,
                cause: format!("lost_device:{device}"),
                user: e.target_user.map(str::to_owned),
                device: Some(device.to_owned()),
                entry: "reported: a device was lost",
            })
        }
        // A revoked device's token was presented again: someone still has
        // the device (or its token) and tried to use it. The server refused
        // it; the assessment asks what the device held before.
        Action::DeviceRevokedTokenUsed => {
            let device = e.target_device?;
            Some(Opening {
                kind: Kind::UnauthorizedAccess,
                cause: format!("revoked_device_used:{device}"),
                user: e.target_user.map(str::to_owned),
                device: Some(device.to_owned()),
                entry: "detected: a revoked device tried to use its session again",
            })
        }
        // A signed-out session's token came back well after the logout that
        // cleared it from its browser: a copy of it exists elsewhere.
        Action::SessionEndedTokenUsed => {
            let device = e.target_device?;
            Some(Opening {
                kind: Kind::CredentialCompromise,
                cause: format!("ended_session_used:{device}"),
                user: e.target_user.map(str::to_owned),
                device: Some(device.to_owned()),
                entry: "detected: a signed-out session's token was used again",
            })
        }
        // The audit trail did not verify against its signed heads.
        Action::AuditVerificationFailed => Some(Opening {
            kind: Kind::AuditTampering,
            cause: "audit_verification".to_owned(),
            user: None,
            device: None,
            entry: "detected: the audit log did not verify",
        }),
        _ => None,
    }
}

/// The incident a run of refused requests by one account opens: `refused`
/// of them within the window, `threshold` being the setting
/// (`incidents.probe_refusals`). Someone trying, one after another, what
/// their role may not — another client's records, an admin's pages — is
/// probing, whether a person or a stolen session; one incident per
/// account while it is open.
pub fn probing(actor: &str, refused: i64, threshold: i64) -> Option<Opening> {
    (threshold > 0 && refused >= threshold).then(|| Opening {
        kind: Kind::UnauthorizedAccess,
        cause: format!("probing:{actor}"),
        user: Some(actor.to_owned()),
        device: None,
        entry: "detected: many refused requests from one account",
    })
}

/// The incident a run of audit exports and access reviews by one account
/// opens: `reads` of them within the window, `threshold` being the setting
/// (`incidents.bulk_reads`). Each is a copy of who saw which client taken
/// out of the practice (an export verifies offline; a review lists a
/// person's conversations); a few are an audit, many in an hour are an
/// account being emptied — an insider's or a stolen admin session's. One
/// incident per account while it is open.
pub fn bulk_reads(actor: &str, reads: i64, threshold: i64) -> Option<Opening> {
    (threshold > 0 && reads >= threshold).then(|| Opening {
        kind: Kind::UnauthorizedAccess,
        cause: format!("bulk_reads:{actor}"),
        user: Some(actor.to_owned()),
        device: None,
        entry: "detected: many audit exports or access reviews by one account",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_opens_on_exactly_the_actions_it_lists() {
        for a in Action::ALL {
            let seen = Seen {
                action: a.as_str(),
                target_user: Some("u1"),
                target_device: Some("d1"),
            };
            assert_eq!(
                detect(&seen).is_some(),
                OPENS_ON.contains(a),
                "{a}: the watcher reads only OPENS_ON"
            );
        }
    }

    #[test]
    fn exports_and_reviews_open_a_bulk_read_incident_at_the_threshold_only() {
        assert_eq!(bulk_reads("u1", 9, 10), None);
        let o = bulk_reads("u1", 10, 10).unwrap();
        assert_eq!(o.kind, Kind::UnauthorizedAccess);
        assert_eq!(o.cause, "bulk_reads:u1");
        assert_ne!(
            o.cause,
            probing("u1", 10, 10).unwrap().cause,
            "its own cause: a probing incident does not hide it"
        );
        assert_eq!(bulk_reads("u1", 1000, 0), None, "0 turns it off");
    }

    #[test]
    fn refusals_open_a_probing_incident_at_the_threshold_only() {
        assert_eq!(probing("u1", 19, 20), None);
        let o = probing("u1", 20, 20).unwrap();
        assert_eq!(o.kind, Kind::UnauthorizedAccess);
        assert_eq!(o.cause, "probing:u1");
        assert_eq!(
            probing("u1", 45, 20).unwrap().cause,
            o.cause,
            "one cause per account"
        );
        assert_eq!(probing("u1", 1000, 0), None, "0 turns it off");
    }

    #[test]
    fn a_lockout_opens_one_credential_incident_per_account() {
        let a = detect(&Seen {
            action: "auth.lockout",
            target_user: Some("u1"),
            ..Default::default()
        })
        .unwrap();
        let b = detect(&Seen {
            action: "auth.lockout",
            target_user: Some("u1"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.kind, Kind::CredentialCompromise);
        assert_eq!(
            a.cause, b.cause,
            "one cause: the second is the same incident"
        );
        let other = detect(&Seen {
            action: "auth.lockout",
            target_user: Some("u2"),
            ..Default::default()
        })
        .unwrap();
        assert_ne!(a.cause, other.cause);
    }

    #[test]
    fn a_device_reported_lost_opens_a_lost_device_incident() {
        let o = detect(&Seen {
            action: "device.reported_lost",
            target_user: Some("u"),
            target_device: Some("d"),
        })
        .unwrap();
        assert_eq!(o.kind, Kind::LostDevice);
        assert_eq!(o.device.as_deref(), Some("d"));
        assert_eq!(o.user.as_deref(), Some("u"));
    }

    #[test]
    fn a_revoked_devices_token_used_again_opens_an_unauthorized_access_incident() {
        let o = detect(&Seen {
            action: "device.revoked_token_used",
            target_user: Some("u"),
            target_device: Some("d"),
        })
        .unwrap();
        assert_eq!(o.kind, Kind::UnauthorizedAccess);
        assert_eq!(o.device.as_deref(), Some("d"));
        assert_ne!(
            o.cause,
            detect(&Seen {
                action: "device.reported_lost",
                target_user: Some("u"),
                target_device: Some("d"),
            })
            .unwrap()
            .cause,
            "its own incident beside the lost-device one"
        );
    }

    #[test]
    fn a_signed_out_sessions_token_used_again_opens_a_credential_incident_per_device() {
        let seen = |device| Seen {
            action: "session.ended_token_used",
            target_user: Some("u"),
            target_device: Some(device),
        };
        let o = detect(&seen("d")).unwrap();
        assert_eq!(o.kind, Kind::CredentialCompromise);
        assert_eq!(o.device.as_deref(), Some("d"));
        assert_eq!(o.user.as_deref(), Some("u"));
        assert_eq!(detect(&seen("d")).unwrap().cause, o.cause);
        assert_ne!(detect(&seen("e")).unwrap().cause, o.cause);
        assert_eq!(
            detect(&Seen {
                action: "session.ended_token_used",
                target_user: Some("u"),
                target_device: None,
            }),
            None,
            "no subject, nothing to open"
        );
    }

    #[test]
    fn ordinary_events_open_nothing() {
        for action in [
            "auth.login",
            "device.revoked",
            "message.delivered",
            "incident.opened",
        ] {
            assert_eq!(
                detect(&Seen {
                    action,
                    target_user: Some("u"),
                    target_device: Some("d")
                }),
                None,
                "{action}"
            );
        }
        assert_eq!(
            detect(&Seen {
                action: "auth.lockout",
                ..Default::default()
            }),
            None,
            "no subject"
        );
    }
}

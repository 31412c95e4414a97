//! Audit actions: every kind of event the log records, with the stable
//! dotted name stored in `audit_events.action` and hashed into each leaf.
//!
//! Invariants:
//! - A name, once in a log, is in that log's hashes for ever: never rename
//!   or reuse one; add a new action instead. `names_are_stable` below lists
//!   every name, so a rename fails a test rather than a verification.
//! - The server never writes an action that is not here ([`Event`] takes an
//!   [`Action`], not text). Reading is the other way round: an entry of a
//!   log is whatever text was stored (the verifier and the export keep
//!   unknown names as they are), so [`Action::parse`] is an `Option`.
//! - The list is published in the OpenAPI document as `AuditAction`; the
//!   browser's audit page takes its suggestions from there.
//!
//! [`Event`]: super::Event

macro_rules! actions {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $name:literal, )+) => {
        /// What an audit event records (its stable name is [`Action::as_str`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum Action {
            $( $(#[doc = $doc])+ #[serde(rename = $name)] $variant, )+
        }

        impl Action {
            /// Every action, in the order of this file.
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            /// The stable name written to the log.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)+
                }
            }

            /// What the action means, in a sentence for the person
            /// reading the log (its doc comment here).
            pub fn describe(self) -> &'static str {
                match self {
                    $(Action::$variant => concat!($($doc),+).trim(),)+
                }
            }
        }
    };
}

actions! {
    /// A request for an id that is nobody's or not the caller's (404), with
    /// its route and never the id.
    AccessNotFound = "access.not_found",
    /// A request the policy refused (role or permission), with its route.
    AccessRefused = "access.refused",
    /// An admin viewed who had access to a person's records.
    AccessReviewViewed = "access_review.viewed",
    /// An appointment was cancelled by staff.
    AppointmentCancelled = "appointment.cancelled",
    /// A client cancelled an appointment by replying to a reminder.
    AppointmentCancelledByClient = "appointment.cancelled_by_client",
    /// A client confirmed an appointment.
    AppointmentConfirmed = "appointment.confirmed",
    /// An appointment was created.
    AppointmentCreated = "appointment.created",
    /// An appointment was moved.
    AppointmentRescheduled = "appointment.rescheduled",
    /// A client was assigned to a staff member.
    AssignmentCreated = "assignment.created",
    /// The audit log (or a filtered part) was exported.
    AuditExported = "audit.exported",
    /// The log's signed summary (its tree head) was viewed.
    AuditHeadViewed = "audit.head_viewed",
    /// An inclusion or consistency proof was viewed.
    AuditProofViewed = "audit.proof_viewed",
    /// Verification of the log, or a witness, disagreed.
    AuditVerificationFailed = "audit.verification_failed",
    /// The audit log was queried.
    AuditViewed = "audit.viewed",
    /// Sign-in attempts to an account were refused by the throttle.
    AuthLockout = "auth.lockout",
    /// A sign-in with a password, successful or not.
    AuthLogin = "auth.login",
    /// A sign-out.
    AuthLogout = "auth.logout",
    /// A sign-in code (authenticator or recovery code) was checked, successful or not.
    AuthMfa = "auth.mfa",
    /// An authenticator app was set up for sign-in.
    AuthMfaEnrolled = "auth.mfa_enrolled",
    /// A person changed their password (their other sessions were signed
    /// out), or gave a wrong current password trying to.
    AuthPasswordChanged = "auth.password_changed",
    /// A person set a new password through a reset link (every session of
    /// theirs was signed out).
    AuthPasswordReset = "auth.password_reset",
    /// A person replaced their recovery codes (the earlier ones stopped working).
    AuthRecoveryCodesRenewed = "auth.recovery_codes_renewed",
    /// An admin made a sign-in reset link for a person.
    AuthResetLinkIssued = "auth.reset_link_issued",
    /// A device changed a conversation's members or keys (an MLS commit).
    ConversationCommit = "conversation.commit",
    /// A conversation was created.
    ConversationCreated = "conversation.created",
    /// A conversation's encryption was set up.
    ConversationGroupStarted = "conversation.group_started",
    /// A person reported one of their devices lost.
    DeviceReportedLost = "device.reported_lost",
    /// A person renamed one of their devices.
    DeviceRenamed = "device.renamed",
    /// A device was revoked.
    DeviceRevoked = "device.revoked",
    /// A revoked device's token was presented.
    DeviceRevokedTokenUsed = "device.revoked_token_used",
    /// A person's first sealed history archive of a conversation was stored.
    HistoryArchiveCreated = "history_archive.created",
    /// A person turned their history archive off (every blob deleted).
    HistoryArchiveDeleted = "history_archive.deleted",
    /// A person turned their history archive on under a new key.
    HistoryArchiveEnabled = "history_archive.enabled",
    /// A person's sealed history archive of a conversation was read.
    HistoryArchiveFetched = "history_archive.fetched",
    /// An incident's four-factor risk assessment was saved.
    IncidentAssessed = "incident.assessed",
    /// A breach-notification deadline is near.
    IncidentDeadlineApproaching = "incident.deadline_approaching",
    /// An incident was decided (breach, not a breach, exception).
    IncidentDecided = "incident.decided",
    /// An incident was opened, by a person or a detector.
    IncidentOpened = "incident.opened",
    /// An incident's report (record, assessment, evidence and its audit
    /// entries with proofs) was exported.
    IncidentReportExported = "incident.report_exported",
    /// The privacy officer signed off an incident's decision and its
    /// assessment, with a fresh second factor.
    IncidentSignedOff = "incident.signed_off",
    /// An incident changed (status, discovery time, timeline).
    IncidentUpdated = "incident.updated",
    /// An invitation was created.
    InviteCreated = "invite.created",
    /// An invitation was redeemed.
    InviteRedeemed = "invite.redeemed",
    /// An invitation was revoked.
    InviteRevoked = "invite.revoked",
    /// The list of invitations was viewed.
    InvitesListed = "invites.listed",
    /// A device was picked to be added to a conversation (its KeyPackage claimed).
    KeyPackagesClaimed = "key_packages.claimed",
    /// A device published the keys others use to add it to conversations.
    KeyPackagesUploaded = "key_packages.uploaded",
    /// Messages were accepted into a conversation.
    MessageAccepted = "message.accepted",
    /// Messages were delivered to a device.
    MessageDelivered = "message.delivered",
    /// A nudge could not be sent.
    NudgeFailed = "nudge.failed",
    /// A notice without any health information was sent (email or text).
    NudgeSent = "nudge.sent",
    /// A nudge was withheld (preferences, quiet hours, limits).
    NudgeWithheld = "nudge.withheld",
    /// The practice's nudge settings changed.
    NudgeSettingsChanged = "nudge_settings.changed",
    /// The practice was created.
    PracticeCreated = "practice.created",
    /// An admin renamed the practice.
    PracticeRenamed = "practice.renamed",
    /// A device's browser subscribed to Web Push notices.
    PushSubscribed = "push.subscribed",
    /// A device's Web Push subscription was removed (by the person, or the
    /// push service said it is gone).
    PushUnsubscribed = "push.unsubscribed",
    /// A reminder was dropped (its appointment is gone).
    ReminderDropped = "reminder.dropped",
    /// A reminder could not be sent.
    ReminderFailed = "reminder.failed",
    /// A reminder's sending will be retried.
    ReminderRetry = "reminder.retry",
    /// A reminder was sent.
    ReminderSent = "reminder.sent",
    /// A reminder was withdrawn before it was sent.
    ReminderWithdrawn = "reminder.withdrawn",
    /// A reminder was withheld (its template no longer passes, preferences).
    ReminderWithheld = "reminder.withheld",
    /// A client opted out of reminders.
    ReminderPreferencesOptedOut = "reminder_preferences.opted_out",
    /// Staff recorded a client's communication preferences.
    ReminderPreferencesRecorded = "reminder_preferences.recorded",
    /// A client changed their communication preferences.
    ReminderPreferencesUpdated = "reminder_preferences.updated",
    /// A reminder template was saved.
    ReminderTemplateSaved = "reminder_template.saved",
    /// A session ended for inactivity or age.
    SessionExpired = "session.expired",
    /// A session's token was presented again well after its owner signed
    /// out (someone copied it).
    SessionEndedTokenUsed = "session.ended_token_used",
    /// A device fetched the key part that opens its stored messages.
    UnlockShareFetched = "unlock_share.fetched",
    /// A user was deactivated.
    UserDeactivated = "user.deactivated",
    /// A person's state of residence was recorded or cleared (not the
    /// state itself).
    UserResidenceRecorded = "user.residence_recorded",
    /// The list of users was viewed.
    UsersListed = "users.listed",
    /// Another user's record was viewed.
    UsersViewed = "users.viewed",
    /// A webhook endpoint was created.
    WebhookEndpointCreated = "webhook.endpoint_created",
    /// A webhook endpoint was turned off: by an admin, or by the server
    /// after three days of failed attempts (`reason` says which).
    WebhookEndpointDisabled = "webhook.endpoint_disabled",
    /// A webhook endpoint that was off was turned back on by an admin.
    WebhookEndpointEnabled = "webhook.endpoint_enabled",
    /// A webhook delivery was sent again by hand.
    WebhookRedelivered = "webhook.redelivered",
    /// A webhook endpoint's signing secret was replaced (the previous one
    /// signs beside it for a day).
    WebhookSecretRotated = "webhook.secret_rotated",
    /// A test delivery was sent to a webhook endpoint by hand.
    WebhookTestSent = "webhook.test_sent",
}

impl Action {
    /// The action a stored name stands for; `None` for a name this server
    /// never writes (a log may still hold one: it is kept as text).
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == name)
    }
}

// Written by hand rather than derived: the document must list the stable
// names, which the derive (given renames through a macro) did not.
impl utoipa::PartialSchema for Action {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "What an audit event records, by its stable dotted name. A log may \
                 also hold names this server no longer writes.",
            ))
            .enum_values(Some(Action::ALL.iter().map(|a| a.as_str())))
            // One sentence per name, in the same order, for readers of the
            // log (the browser's audit page shows them beside the names).
            .extensions(Some(
                utoipa::openapi::extensions::ExtensionsBuilder::new()
                    .add(
                        "x-enum-descriptions",
                        Action::ALL.iter().map(|a| a.describe()).collect::<Vec<_>>(),
                    )
                    .build(),
            ))
            .into()
    }
}

impl utoipa::ToSchema for Action {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("AuditAction")
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name ever written. Append here when adding an action; a
    /// change to a line here is a change to what old logs mean.
    const STABLE: &[&str] = &[
        "access.not_found",
        "access.refused",
        "access_review.viewed",
        "appointment.cancelled",
        "appointment.cancelled_by_client",
        "appointment.confirmed",
        "appointment.created",
        "appointment.rescheduled",
        "assignment.created",
        "audit.exported",
        "audit.head_viewed",
        "audit.proof_viewed",
        "audit.verification_failed",
        "audit.viewed",
        "auth.lockout",
        "auth.login",
        "auth.logout",
        "auth.mfa",
        "auth.mfa_enrolled",
        "auth.password_changed",
        "auth.password_reset",
        "auth.recovery_codes_renewed",
        "auth.reset_link_issued",
        "conversation.commit",
        "conversation.created",
        "conversation.group_started",
        "device.reported_lost",
        "device.renamed",
        "device.revoked",
        "device.revoked_token_used",
        "history_archive.created",
        "history_archive.deleted",
        "history_archive.enabled",
        "history_archive.fetched",
        "incident.assessed",
        "incident.deadline_approaching",
        "incident.decided",
        "incident.opened",
        "incident.report_exported",
        "incident.signed_off",
        "incident.updated",
        "invite.created",
        "invite.redeemed",
        "invite.revoked",
        "invites.listed",
        "key_packages.claimed",
        "key_packages.uploaded",
        "message.accepted",
        "message.delivered",
        "nudge.failed",
        "nudge.sent",
        "nudge.withheld",
        "nudge_settings.changed",
        "practice.created",
        "practice.renamed",
        "push.subscribed",
        "push.unsubscribed",
        "reminder.dropped",
        "reminder.failed",
        "reminder.retry",
        "reminder.sent",
        "reminder.withdrawn",
        "reminder.withheld",
        "reminder_preferences.opted_out",
        "reminder_preferences.recorded",
        "reminder_preferences.updated",
        "reminder_template.saved",
        "session.expired",
        "session.ended_token_used",
        "unlock_share.fetched",
        "user.deactivated",
        "user.residence_recorded",
        "users.listed",
        "users.viewed",
        "webhook.endpoint_created",
        "webhook.endpoint_disabled",
        "webhook.endpoint_enabled",
        "webhook.redelivered",
        "webhook.secret_rotated",
        "webhook.test_sent",
    ];

    #[test]
    fn names_are_stable() {
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, STABLE);
    }

    #[test]
    fn every_name_is_distinct_dotted_lower_case_and_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            let name = a.as_str();
            assert!(seen.insert(name), "{name} twice");
            let (resource, verb) = name.split_once('.').unwrap();
            assert!(
                !resource.is_empty() && !verb.is_empty() && !verb.contains('.'),
                "{name}"
            );
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                "{name}"
            );
            assert_eq!(Action::parse(name), Some(*a));
            assert_eq!(serde_json::to_value(a).unwrap(), serde_json::json!(name));
        }
        assert_eq!(Action::parse("message.deleted"), None);
    }

    #[test]
    fn every_action_says_what_it_means_in_one_sentence() {
        for a in Action::ALL {
            let text = a.describe();
            assert!(text.len() > 10 && text.ends_with('.'), "{a}: {text:?}");
            assert!(
                text.starts_with(|c: char| c.is_ascii_uppercase()),
                "{a}: {text:?}"
            );
        }
        assert_eq!(Action::AuthLogout.describe(), "A sign-out.");
    }
}

//! Who may call what: one table of roles × permissions, and every API
//! operation's permission in one list.
//!
//! Invariants:
//! - every operation of the router has exactly one entry in [`ROUTES`]
//!   (tested against the OpenAPI document, which lists every operation);
//!   a request whose route has none is refused (fail closed);
//! - the permission is checked by `api::authorize` before anything of the
//!   request but its headers is read: a refused role gets 403 `forbidden`
//!   whatever its body, query or ids, and the refusal is audited;
//! - what depends on data, not on the role alone — a clinician acts only
//!   for their assigned clients, a person revokes only their own devices,
//!   a clinician invites only clients — stays with the capability's
//!   service, which answers 403 or 404 as its own documentation says;
//! - whose records each role reaches there ([`Scope`]: the practice, one's
//!   assigned clients, oneself) is decided here once, as a function of the
//!   role; the capability applies it to its rows. A service does not test
//!   a role inline: what the route's permission already guarantees is not
//!   checked again, and what varies by role goes through [`scope`].
//!
//! Pure: no I/O, unit-tested here; the route table is also tested role by
//! role against the running server (`tests/tests/policy.rs`).

use crate::audit::Action;
use crate::storage::Role;

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Their own account, devices, conversations, appointments and
    /// preferences: every signed-in person.
    SignedIn,
    /// Start a conversation: the care relation (clinicians and associates
    /// with their clients); admins run the practice but do not converse.
    Converse,
    /// Invite people (a clinician only clients: a data rule).
    InvitePeople,
    /// See the practice's people, assign clients, deactivate, review an
    /// account's access.
    ManagePeople,
    /// Every device of the practice, pending revocations, lost devices.
    ManageDevices,
    /// Read, export and prove the audit log.
    ReadAudit,
    /// Appointments, reminders and nudges for their clients; report an
    /// incident.
    CareForClients,
    /// The practice's reminder templates and nudge timing.
    ConfigureReminders,
    /// Answer an appointment reminder (confirm, cancel).
    AnswerReminders,
    /// Read incidents and decide them.
    ManageIncidents,
    /// Webhook endpoints and their deliveries.
    ManageWebhooks,
    /// The practice's own settings (its name).
    ManagePractice,
}

impl Permission {
    /// Every permission, for the table's tests and documentation.
    pub const ALL: [Permission; 12] = [
        Permission::SignedIn,
        Permission::Converse,
        Permission::InvitePeople,
        Permission::ManagePeople,
        Permission::ManageDevices,
        Permission::ReadAudit,
        Permission::CareForClients,
        Permission::ConfigureReminders,
        Permission::AnswerReminders,
        Permission::ManageIncidents,
        Permission::ManageWebhooks,
        Permission::ManagePractice,
    ];

    /// Its name in audit details and the API document.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SignedIn => "signed_in",
            Permission::Converse => "converse",
            Permission::InvitePeople => "invite_people",
            Permission::ManagePeople => "manage_people",
            Permission::ManageDevices => "manage_devices",
            Permission::ReadAudit => "read_audit",
            Permission::CareForClients => "care_for_clients",
            Permission::ConfigureReminders => "configure_reminders",
            Permission::AnswerReminders => "answer_reminders",
            Permission::ManageIncidents => "manage_incidents",
            Permission::ManageWebhooks => "manage_webhooks",
            Permission::ManagePractice => "manage_practice",
        }
    }
}

/// The table: whether a role holds a permission. Exhaustive over both, so
/// a new role or permission does not compile until it is decided here.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission as P;
    use Role as R;
    match permission {
        P::SignedIn => true,
        P::Converse => matches!(role, R::Clinician | R::Associate | R::Client),
        P::InvitePeople => matches!(role, R::Admin | R::Clinician),
        P::CareForClients => matches!(role, R::Admin | R::Clinician | R::Associate),
        P::AnswerReminders => matches!(role, R::Client),
        P::ManagePeople
        | P::ManageDevices
        | P::ReadAudit
        | P::ConfigureReminders
        | P::ManageIncidents
        | P::ManageWebhooks
        | P::ManagePractice => matches!(role, R::Admin),
    }
}

/// Whose records a role's reads and changes reach, where an operation's
/// permission admits several roles and the data each sees differs: admins
/// the practice's, clinicians and associates their assigned clients' (and
/// what they share with them: their own appointments, conversations,
/// invitations), clients their own. The capability applies it to the rows
/// (a filter, or 404 for what is out of scope); this is the one place the
/// rule is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every person of the practice.
    Practice,
    /// The caller's assigned clients, and what the caller shares with them.
    OwnClients,
    /// The caller only.
    Own,
}

/// The [`Scope`] of a role. Exhaustive, like [`allows`]: a new role does
/// not compile until its scope is decided here.
pub fn scope(role: Role) -> Scope {
    match role {
        Role::Admin => Scope::Practice,
        Role::Clinician | Role::Associate => Scope::OwnClients,
        Role::Client => Scope::Own,
    }
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No session: sign-in, invitations (their token), the API document,
    /// the SMS gateway's callback (its signature).
    Public,
    /// A session whose role holds the permission.
    Session(Permission),
}

/// One operation: method, path template under `/api/v1`, what it needs,
/// and the audit action a refusal is recorded as.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template as routed (`/invites/{id}`), under `/api/v1`.
    pub path: &'static str,
    /// What it needs.
    pub access: Access,
    /// The audit action of a refusal.
    pub refused_as: Action,
}

const REFUSED: Action = Action::AccessRefused;

const fn public(method: &'static str, path: &'static str) -> Route {
    Route {
        method,
        path,
        access: Access::Public,
        refused_as: REFUSED,
    }
}

const fn needs(method: &'static str, path: &'static str, permission: Permission) -> Route {
    Route {
        method,
        path,
        access: Access::Session(permission),
        refused_as: REFUSED,
    }
}

/// The audit log's own reads record a refusal under their action, as they
/// record a success.
const fn audit(method: &'static str, path: &'static str, action: Action) -> Route {
    Route {
        method,
        path,
        access: Access::Session(Permission::ReadAudit),
        refused_as: action,
    }
}

use Permission::*;

/// Every operation of the API.
pub const ROUTES: &[Route] = &[
    public("POST", "/auth/login"),
    public("POST", "/auth/mfa/enroll"),
    public("POST", "/invites/inspect"),
    public("POST", "/invites/accept"),
    public("POST", "/invites/reset"),
    public("GET", "/openapi.json"),
    public("POST", "/reminders/sms/inbound"),
    needs("POST", "/auth/logout", SignedIn),
    needs("GET", "/me", SignedIn),
    needs("GET", "/me/devices", SignedIn),
    needs("PATCH", "/me/devices/{id}", SignedIn),
    needs("PATCH", "/practice", ManagePractice),
    needs("POST", "/me/password", SignedIn),
    needs("POST", "/me/authenticator", SignedIn),
    needs("POST", "/me/authenticator/confirm", SignedIn),
    needs("GET", "/me/recovery-codes", SignedIn),
    needs("POST", "/me/recovery-codes", SignedIn),
    needs("GET", "/me/unlock-share", SignedIn),
    // Oneself, or anyone for an admin: a data rule in the handler.
    needs("GET", "/users/{id}", SignedIn),
    needs("GET", "/key-packages", SignedIn),
    needs("POST", "/key-packages", SignedIn),
    needs("GET", "/contacts", SignedIn),
    needs("POST", "/conversations", Converse),
    // Admins list none; a conversation's own routes answer 404 to anyone
    // not in it (data rule).
    needs("GET", "/conversations", SignedIn),
    needs("GET", "/conversations/{id}", SignedIn),
    needs("POST", "/conversations/{id}/key-packages/claim", SignedIn),
    needs("GET", "/conversations/{id}/group-info", SignedIn),
    needs("POST", "/conversations/{id}/group-info", SignedIn),
    needs("POST", "/conversations/{id}/commits", SignedIn),
    needs("GET", "/conversations/{id}/messages", SignedIn),
    needs("POST", "/conversations/{id}/messages", SignedIn),
    needs("POST", "/conversations/{id}/ack", SignedIn),
    needs("GET", "/welcomes", SignedIn),
    needs("POST", "/welcomes/{id}/ack", SignedIn),
    needs("GET", "/ws", SignedIn),
    // One's own device, or any for an admin (data rule).
    needs("POST", "/devices/{id}/revoke", SignedIn),
    // Each sees their own (data rule).
    needs("GET", "/appointments", SignedIn),
    // A client their own; staff their assigned clients (data rule).
    needs("GET", "/reminders/preferences/{client_id}", SignedIn),
    needs("PUT", "/reminders/preferences/{client_id}", SignedIn),
    needs("POST", "/invites", InvitePeople),
    needs("GET", "/invites", InvitePeople),
    needs("DELETE", "/invites/{id}", InvitePeople),
    needs("GET", "/users", ManagePeople),
    needs("PUT", "/users/{id}/residence", ManagePeople),
    needs("POST", "/users/{id}/reset-link", ManagePeople),
    needs("POST", "/assignments", ManagePeople),
    needs("POST", "/users/{id}/deactivate", ManagePeople),
    needs("GET", "/users/{id}/access-review", ManagePeople),
    needs("GET", "/devices", ManageDevices),
    needs("GET", "/revocations/pending", ManageDevices),
    needs("GET", "/lost-devices", ManageDevices),
    audit("GET", "/audit/events", Action::AuditViewed),
    audit("GET", "/audit/export", Action::AuditExported),
    audit("GET", "/audit/head", Action::AuditHeadViewed),
    audit("GET", "/audit/proof/inclusion", Action::AuditProofViewed),
    audit("GET", "/audit/proof/inclusions", Action::AuditProofViewed),
    audit("GET", "/audit/proof/consistency", Action::AuditProofViewed),
    needs("POST", "/appointments", CareForClients),
    needs("PUT", "/appointments/{id}", CareForClients),
    needs("POST", "/appointments/{id}/cancel", CareForClients),
    needs("GET", "/reminders", CareForClients),
    needs("GET", "/reminders/nudges", CareForClients),
    needs("GET", "/reminders/nudges/settings", CareForClients),
    needs(
        "GET",
        "/reminders/templates/{kind}/{language}",
        CareForClients,
    ),
    needs(
        "POST",
        "/reminders/templates/{kind}/{language}/lint",
        CareForClients,
    ),
    needs("POST", "/incidents", CareForClients),
    needs(
        "PUT",
        "/reminders/templates/{kind}/{language}",
        ConfigureReminders,
    ),
    needs("PUT", "/reminders/nudges/settings", ConfigureReminders),
    needs("POST", "/occurrences/{id}/answer", AnswerReminders),
    needs("GET", "/incidents", ManageIncidents),
    needs("GET", "/incidents/{id}", ManageIncidents),
    needs("PATCH", "/incidents/{id}", ManageIncidents),
    needs("PUT", "/incidents/{id}/assessment", ManageIncidents),
    needs("POST", "/incidents/{id}/sign-off", ManageIncidents),
    needs("GET", "/incidents/{id}/notice", ManageIncidents),
    needs("GET", "/incidents/{id}/report", ManageIncidents),
    needs("GET", "/push/key", SignedIn),
    needs("PUT", "/push/subscription", SignedIn),
    needs("DELETE", "/push/subscription", SignedIn),
    needs("GET", "/history-archive", SignedIn),
    needs("PUT", "/history-archive", SignedIn),
    needs("DELETE", "/history-archive", SignedIn),
    needs("GET", "/history-archive/{id}", SignedIn),
    needs("PUT", "/history-archive/{id}", SignedIn),
    needs("GET", "/webhooks", ManageWebhooks),
    needs("POST", "/webhooks", ManageWebhooks),
    needs("POST", "/webhooks/{id}/disable", ManageWebhooks),
    needs("POST", "/webhooks/{id}/enable", ManageWebhooks),
    needs("POST", "/webhooks/{id}/test", ManageWebhooks),
    needs("POST", "/webhooks/{id}/rotate-secret", ManageWebhooks),
    needs("GET", "/webhooks/{id}/deliveries", ManageWebhooks),
    needs(
        "POST",
        "/webhooks/deliveries/{id}/redeliver",
        ManageWebhooks,
    ),
];

/// The entry of an operation (`path` as routed under `/api/v1`).
pub fn route(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table as a picture: a change to who may do what shows here.
    #[test]
    fn the_roles_hold_these_permissions() {
        let roles = [Role::Admin, Role::Clinician, Role::Associate, Role::Client];
        let table: Vec<String> = Permission::ALL
            .iter()
            .map(|&p| {
                let holders: Vec<&str> = roles
                    .iter()
                    .filter(|&&r| allows(r, p))
                    .map(|r| r.as_str())
                    .collect();
                format!("{}: {}", p.as_str(), holders.join(" "))
            })
            .collect();
        assert_eq!(
            table,
            [
                "signed_in: admin clinician associate client",
                "converse: clinician associate client",
                "invite_people: admin clinician",
                "manage_people: admin",
                "manage_devices: admin",
                "read_audit: admin",
                "care_for_clients: admin clinician associate",
                "configure_reminders: admin",
                "answer_reminders: client",
                "manage_incidents: admin",
                "manage_webhooks: admin",
                "manage_practice: admin",
            ]
        );
    }

    #[test]
    fn no_client_holds_a_staff_permission_and_no_staff_answers_for_a_client() {
        for p in Permission::ALL {
            let staff = [Role::Admin, Role::Clinician, Role::Associate];
            if matches!(p, Permission::SignedIn | Permission::Converse) {
                continue;
            }
            if p == Permission::AnswerReminders {
                assert!(staff.iter().all(|&r| !allows(r, p)), "{p:?}");
            } else {
                assert!(!allows(Role::Client, p), "{p:?}");
            }
        }
    }

    #[test]
    fn admins_see_the_practice_staff_their_clients_clients_themselves() {
        let scopes: Vec<(Role, Scope)> =
            [Role::Admin, Role::Clinician, Role::Associate, Role::Client]
                .into_iter()
                .map(|r| (r, scope(r)))
                .collect();
        assert_eq!(
            scopes,
            [
                (Role::Admin, Scope::Practice),
                (Role::Clinician, Scope::OwnClients),
                (Role::Associate, Scope::OwnClients),
                (Role::Client, Scope::Own),
            ]
        );
        // Caring for clients is exactly the roles whose scope is wider than
        // themselves; answering as a client exactly the one that is not.
        for (role, s) in scopes {
            assert_eq!(
                allows(role, Permission::CareForClients),
                s != Scope::Own,
                "{role:?}"
            );
            assert_eq!(
                allows(role, Permission::AnswerReminders),
                s == Scope::Own,
                "{role:?}"
            );
        }
    }

    #[test]
    fn each_operation_is_listed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
        assert_eq!(
            route("get", "/audit/export").map(|r| r.refused_as),
            Some(Action::AuditExported)
        );
        assert!(route("GET", "/nowhere").is_none());
    }
}

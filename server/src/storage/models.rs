//! Rows as the rest of the server sees them.

use crate::clock::UnixTime;
use crate::ids::{DeviceId, PracticeId, SessionId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A user's single role in their practice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Practice administrator or privacy officer.
    Admin,
    /// Licensed clinician.
    Clinician,
    /// Associate or trainee under a supervisor.
    Associate,
    /// A client (patient).
    Client,
}

impl Role {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Associate => "associate",
            Role::Client => "client",
        }
    }

    /// Staff must use a password and TOTP; clients a passphrase, TOTP optional.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Client)
    }
}

/// A stored role that is not one of ours: the row is refused (a read
/// error), never read as some default role.
#[derive(Debug)]
pub struct UnknownRole;

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown role in the database")
    }
}

impl std::error::Error for UnknownRole {}

impl TryFrom<String> for Role {
    type Error = UnknownRole;
    fn try_from(s: String) -> Result<Self, UnknownRole> {
        s.parse().map_err(|()| UnknownRole)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "admin" => Ok(Role::Admin),
            "clinician" => Ok(Role::Clinician),
            "associate" => Ok(Role::Associate),
            "client" => Ok(Role::Client),
            _ => Err(()),
        }
    }
}

/// A tenant.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Practice {
    /// Identifier.
    pub id: PracticeId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: UnixTime,
}

/// A person. `password_hash` and `totp_secret` never leave the server.
#[derive(Clone, sqlx::FromRow)]
pub struct User {
    /// Identifier.
    pub id: UserId,
    /// Tenant.
    pub practice_id: PracticeId,
    /// Login name, normalised to lower case.
    pub login: String,
    /// Name shown to others in the practice.
    pub display_name: String,
    /// Role (a row with any other stored value fails to load).
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// TOTP secret once enrolment is confirmed.
    pub totp_secret: Option<Vec<u8>>,
    /// Last accepted TOTP time step (replay protection).
    pub totp_last_step: Option<i64>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Set when an admin deactivates the user.
    pub deactivated_at: Option<UnixTime>,
    /// State of residence (a USPS code) where the practice recorded it.
    pub state_of_residence: Option<String>,
}

impl User {
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("practice_id", &self.practice_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A device of a user.
#[derive(Clone, Debug, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Device {
    /// Identifier.
    pub id: DeviceId,
    /// Owner.
    pub user_id: UserId,
    /// Name the user gave it.
    pub name: String,
    /// Coarse user agent ("Chrome on Android").
    pub user_agent: String,
    /// First login.
    pub created_at: UnixTime,
    /// Last authenticated request (updated at most once a minute).
    pub last_seen_at: UnixTime,
    /// When it was revoked; a revoked device's tokens all fail.
    pub revoked_at: Option<UnixTime>,
    /// Signed in as a shared or public computer: signed out by the server
    /// once it has no live session.
    pub shared: bool,
}

/// A session joined with its user and device, as the authenticator needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionRecord {
    /// Session identifier.
    pub id: SessionId,
    /// Tenant.
    pub practice_id: PracticeId,
    /// User.
    pub user_id: UserId,
    /// Device.
    pub device_id: DeviceId,
    /// Last request.
    pub last_seen_at: UnixTime,
    /// Absolute end.
    pub expires_at: UnixTime,
    /// Idle timeout in force for this session.
    pub idle_timeout_secs: i64,
    /// Set once ended (logout, timeout, revocation).
    pub ended_at: Option<UnixTime>,
    /// Why it ended (`logout`, `idle`, `lifetime`, `password_changed`, …).
    pub end_reason: Option<String>,
    /// The user's role (a row with any other stored value fails to load:
    /// the session is refused, never taken for some default role).
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// The user's deactivation time.
    pub user_deactivated_at: Option<UnixTime>,
    /// The device's revocation time.
    pub device_revoked_at: Option<UnixTime>,
    /// The device is a shared computer's (revoked routinely once its
    /// session is over).
    pub device_shared: bool,
    /// The device's last-seen time.
    pub device_last_seen_at: UnixTime,
}

/// A new session to store; the token is stored only as its hash.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Identifier.
    pub id: SessionId,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Idle timeout for this session.
    pub idle_timeout_secs: i64,
    /// Absolute end.
    pub expires_at: UnixTime,
}

/// Where the device for a new session comes from.
#[derive(Clone, Debug)]
pub enum DeviceChoice {
    /// Register a new device.
    New {
        /// Its identifier.
        id: DeviceId,
        /// User-chosen name.
        name: String,
        /// Coarse user agent.
        user_agent: String,
        /// A shared or public computer (see `Device::shared`).
        shared: bool,
    },
    /// Log in again on a device this user already has.
    Existing(DeviceId),
}

/// A user to create when an invite is redeemed.
#[derive(Clone)]
pub struct NewUser {
    /// Identifier.
    pub id: UserId,
    /// Normalised login.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_role_decodes_exactly_or_not_at_all() {
        for role in [Role::Admin, Role::Clinician, Role::Associate, Role::Client] {
            assert_eq!(Role::try_from(role.as_str().to_string()).ok(), Some(role));
        }
        for bad in ["", "Admin", "superadmin", "client "] {
            assert!(Role::try_from(bad.to_string()).is_err(), "{bad:?}");
        }
    }
}

/// A column that holds sealed secrets (`sealing.rs`), and the column whose
/// value each sealed value is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `users.totp_secret`, bound to `users.id`.
    UserTotp,
    /// `mfa_enrollments.secret`, bound to `mfa_enrollments.user_id`.
    EnrollmentTotp,
    /// `device_unlock_shares.share`, bound to `device_unlock_shares.device_id`.
    UnlockShare,
    /// `webhook_endpoints.secret`, bound to `webhook_endpoints.id`.
    WebhookSecret,
}

impl SealedColumn {
    /// Every sealed column.
    pub const ALL: [SealedColumn; 4] = [
        SealedColumn::UserTotp,
        SealedColumn::EnrollmentTotp,
        SealedColumn::UnlockShare,
        SealedColumn::WebhookSecret,
    ];

    /// (table, bound id column, value column): fixed names, never input.
    pub fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            SealedColumn::UserTotp => ("users", "id", "totp_secret"),
            SealedColumn::EnrollmentTotp => ("mfa_enrollments", "user_id", "secret"),
            SealedColumn::UnlockShare => ("device_unlock_shares", "device_id", "share"),
            SealedColumn::WebhookSecret => ("webhook_endpoints", "id", "secret"),
        }
    }
}

//! Storage: one `Store` trait, one implementation per backend.
//!
//! `SqliteStore` (the embedded default: one file, WAL, `synchronous=FULL` so an
//! acknowledged write survives power loss) and `PgStore` (several nodes) are
//! picked at run time from the database URL. Each backend has its own
//! migrations under `migrations/<backend>/`, applied at start.
//!
//! The SQL is shared: both backends accept `$n` placeholders, and the schemas
//! differ only in column types. The method bodies are written once in
//! `sql.rs` and instantiated per backend by a macro, so a fix to a query can
//! never land in one backend and miss the other; what genuinely differs
//! (connection set-up, pools, migrations, error codes) lives in `sqlite.rs`
//! and `postgres.rs`.
//!
//! Invariants every implementation keeps:
//! - Every method that changes state is one transaction, and the audit event
//!   it is given is appended inside that transaction.
//! - Every query of tenant data is filtered by `practice_id`; a row of
//!   another practice is reported as absent, never as forbidden.
//! - Tokens, codes and keys arrive already hashed; nothing here sees a secret
//!   in the clear except the TOTP secret, which the server must hold to
//!   verify codes.

#[macro_use]
mod sql;
pub mod audit_store;
pub mod error;
pub mod models;
mod postgres;
mod sqlite;

pub use crate::invites::store::{Invite, NewInvite};
pub use error::{StoreError, StoreResult};
pub use models::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::audit;
use crate::auth::error::SessionError;
use crate::clock::UnixTime;
use crate::ids::{DeviceId, PracticeId, SessionId, UserId};
use async_trait::async_trait;
use std::sync::Arc;

/// Everything the server persists.
#[async_trait]
pub trait Store:
    crate::delivery::store::DeliveryStore
    + crate::invites::store::InviteStore
    + crate::people::store::PeopleStore
    + crate::account::store::AccountStore
    + crate::practice::store::PracticeStore
    + crate::revocation::store::RevocationStore
    + crate::reminders::store::ReminderStore
    + crate::incidents::store::IncidentStore
    + crate::push::store::PushStore
    + crate::archive::store::ArchiveStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// Cheap liveness check of the database.
    async fn ping(&self) -> StoreResult<()>;

    /// Flushes and closes connections.
    async fn close(&self);

    /// The audit log's reads and signed heads, on this store's connections
    /// (on SQLite its one writer).
    fn audit_store(&self) -> std::sync::Arc<dyn crate::audit::store::AuditStore>;

    // --- secrets at rest (`sealing.rs`) -----------------------------------

    /// Rows of one sealed column still holding a value of the plain length
    /// (written before sealing existed): (row id, value).
    async fn plain_secrets(
        &self,
        column: SealedColumn,
        plain_len: usize,
    ) -> StoreResult<Vec<(String, Vec<u8>)>>;

    /// Whether a one-time start-up step has run on this database.
    async fn step_done(&self, name: &str) -> StoreResult<bool>;

    /// Records a one-time start-up step as done.
    async fn record_step(&self, name: &str, now: crate::clock::UnixTime) -> StoreResult<()>;

    /// Replaces one row's plain value by its sealed form, if the row still
    /// holds that plain value (a concurrent write wins).
    async fn reseal_secret(
        &self,
        column: SealedColumn,
        id: &str,
        plain: &[u8],
        sealed: &[u8],
    ) -> StoreResult<()>;

    // --- practices -------------------------------------------------------

    /// Number of practices.
    async fn practice_count(&self) -> StoreResult<i64>;

    /// The practice, when the deployment hosts exactly one (a sign-in may
    /// then leave it unnamed).
    async fn sole_practice(&self) -> StoreResult<Option<PracticeId>>;

    /// Creates a practice and the invite for its first admin.
    async fn create_practice(
        &self,
        practice: &Practice,
        admin_invite: &NewInvite,
    ) -> StoreResult<()>;

    /// A practice by id.
    async fn practice(&self, id: PracticeId) -> StoreResult<Practice>;

    // --- users -----------------------------------------------------------

    /// A user by practice and normalised login (logins are unique per
    /// practice, so that a login used in another practice is
    /// indistinguishable from a never-used one).
    async fn user_by_login(&self, practice: PracticeId, login: &str) -> StoreResult<User>;

    /// A user of this practice.
    async fn user(&self, practice: PracticeId, id: UserId) -> StoreResult<User>;

    /// Users of a practice.
    async fn list_users(&self, practice: PracticeId) -> StoreResult<Vec<User>>;

    // --- MFA -------------------------------------------------------------

    /// Starts (or restarts) TOTP enrolment with a fresh secret.
    async fn start_mfa_enrollment(
        &self,
        user: &User,
        token_hash: &[u8],
        secret: &[u8],
        expires_at: UnixTime,
    ) -> StoreResult<()>;

    /// The pending enrolment behind a token: its user and secret.
    async fn mfa_enrollment(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> StoreResult<(User, Vec<u8>)>;

    /// Confirms enrolment: sets the secret, replaces recovery codes, drops
    /// pending enrolments, records the accepted step, and opens a session.
    #[allow(clippy::too_many_arguments)]
    async fn complete_mfa_enrollment(
        &self,
        user: &User,
        secret: &[u8],
        step: i64,
        recovery_code_hashes: &[Vec<u8>],
        device: &DeviceChoice,
        session: &NewSession,
        now: UnixTime,
        meta: &audit::RequestMeta,
    ) -> Result<DeviceId, SessionError>;

    /// Records a TOTP step as used; false when it (or a later one) already was.
    async fn consume_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool>;

    /// Marks one recovery code used; false when unknown or already used.
    async fn consume_recovery_code(
        &self,
        user: UserId,
        code_hash: &[u8],
        now: UnixTime,
    ) -> StoreResult<bool>;

    // --- throttling --------------------------------------------------------

    /// Reserves a login attempt: one row per key, tagged `attempt`,
    /// committed before it returns (older rows of those keys are pruned).
    async fn reserve_auth_attempt(
        &self,
        key_hashes: &[Vec<u8>],
        attempt: &str,
        now: UnixTime,
        forget_before: UnixTime,
    ) -> StoreResult<()>;

    /// Drops a reserved attempt's rows (it succeeded, or was refused before
    /// any check ran).
    async fn drop_auth_attempt(&self, attempt: &str) -> StoreResult<()>;

    /// Failures (and reserved attempts) recorded for a key since a time.
    async fn count_auth_failures(&self, key_hash: &[u8], since: UnixTime) -> StoreResult<i64>;

    /// Appends `event` unless an event of the same action about the same
    /// subject (its target user and target device) was appended since
    /// `since`; true when it was written. Atomic: of any number of
    /// concurrent callers for one subject, one writes it (they take turns
    /// on the subject's row). For what an outsider can repeat at will — a
    /// lockout, a revoked device's token — without a write per request: a
    /// read on the reader pool answers most repeats.
    async fn append_audit_once(
        &self,
        event: &audit::Event,
        since: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// Forgets failures for a key (after a successful login).
    async fn clear_auth_failures(&self, key_hash: &[u8]) -> StoreResult<()>;

    // --- devices and sessions ---------------------------------------------

    /// Opens a session on a new or existing device of the user.
    async fn create_session(
        &self,
        user: &User,
        device: &DeviceChoice,
        session: &NewSession,
        now: UnixTime,
        event: audit::Event,
    ) -> Result<DeviceId, SessionError>;

    /// The live-or-not session behind a token hash.
    async fn session_by_token(&self, token_hash: &[u8]) -> StoreResult<SessionRecord>;

    /// A session by id (an open socket re-checks the session it opened with).
    async fn session_by_id(&self, session: SessionId) -> StoreResult<SessionRecord>;

    /// Refreshes last-seen of the session and its device.
    async fn touch_session(
        &self,
        session: SessionId,
        device: DeviceId,
        now: UnixTime,
    ) -> StoreResult<()>;

    /// Ends a session (logout, idle timeout, lifetime end).
    async fn end_session(
        &self,
        session: SessionId,
        reason: &'static str,
        now: UnixTime,
        event: audit::Event,
    ) -> StoreResult<()>;

    /// A user's devices, newest first.
    async fn list_devices(&self, practice: PracticeId, user: UserId) -> StoreResult<Vec<Device>>;

    // --- audit -----------------------------------------------------------

    /// Appends an event on its own (for events with no other write).
    async fn append_audit(&self, event: audit::Event, now: UnixTime) -> StoreResult<()> {
        self.append_audits(std::slice::from_ref(&event), now).await
    }

    /// Appends events, in order, in one transaction.
    async fn append_audits(&self, events: &[audit::Event], now: UnixTime) -> StoreResult<()>;

    /// The most recent events of a practice, newest first (tests, admin).
    async fn recent_audit(&self, practice: PracticeId, limit: i64) -> StoreResult<Vec<AuditRow>>;
}

/// A stored audit event.
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    /// Dense per-practice sequence number.
    pub seq: i64,
    /// Time.
    pub at: UnixTime,
    /// Acting user.
    pub actor_user_id: Option<String>,
    /// Acting device.
    pub actor_device_id: Option<String>,
    /// Action name.
    pub action: String,
    /// Target user.
    pub target_user_id: Option<String>,
    /// Target device.
    pub target_device_id: Option<String>,
    /// Outcome.
    pub outcome: String,
}

/// Opens the store a database URL (or data directory) selects, and migrates it.
pub async fn open(settings: &crate::config::Settings) -> anyhow::Result<Arc<dyn Store>> {
    use secrecy::ExposeSecret;
    let store: Arc<dyn Store> = match settings.database() {
        crate::config::DatabaseKind::Sqlite(path) => Arc::new(SqliteStore::open(&path).await?),
        crate::config::DatabaseKind::Postgres => {
            let url = settings
                .database_url
                .as_ref()
                .map(|u| u.expose_secret().to_string())
                .unwrap_or_default();
            Arc::new(PgStore::connect(&url).await?)
        }
    };
    store.migrate().await?;
    Ok(store)
}

//! What storage can answer besides a result. It sits below every layer
//! (the capabilities' store traits and errors name it), so it depends on
//! nothing else in the crate.
//!
//! The older capabilities' refusals (invites, delivery, revocation) are
//! still variants here; newer capabilities keep theirs in their own error
//! type and use only the infrastructure failures.

/// What can go wrong in storage, typed so handlers can answer precisely.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in this practice.
    #[error("not found")]
    NotFound,
    /// The invite was already used or revoked.
    #[error("invite already used or revoked")]
    InviteUsed,
    /// The invite has expired.
    #[error("invite expired")]
    InviteExpired,
    /// The login name is taken.
    #[error("login already taken")]
    LoginTaken,
    /// The device was revoked.
    #[error("device revoked")]
    DeviceRevoked,
    /// The device's MLS signature key differs from the one it registered.
    #[error("signature key differs from the registered one")]
    KeyMismatch,
    /// The device is not a member of the conversation (or not at that leaf).
    #[error("not a member of the conversation")]
    NotMember,
    /// The commit adds a device that may not be in the conversation.
    #[error("device not allowed in the conversation")]
    NotAllowed,
    /// A revoked device is still in the group: commit its removal first.
    #[error("a revoked device awaits removal")]
    RemovalPending,
    /// The other person of the conversation was deactivated: nobody would
    /// ever read what is sent into it.
    #[error("the other person of the conversation is no longer with the practice")]
    ConversationClosed,
    /// Deactivating this admin would leave the practice without an active
    /// admin (nobody could revoke a lost device or deactivate anyone).
    #[error("the practice's last active admin")]
    LastAdmin,
    /// The storage writer is not available (a failed batch, shutdown).
    #[error("storage unavailable")]
    Unavailable,
    /// The epoch has moved on; catch up and retry.
    #[error("stale epoch; current is {current}")]
    StaleEpoch {
        /// The conversation's current epoch.
        current: i64,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;

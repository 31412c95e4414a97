//! What storage can answer besides a result. It sits below every layer
//! (the capabilities' store traits and errors name it), so it depends on
//! nothing else in the crate.
//!
//! Every capability keeps its refusals in its own error type
//! (`delivery::error`, `auth::error`, …) and uses only the infrastructure
//! failures here, and not-found.

/// What can go wrong in storage, typed so handlers can answer precisely.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in this practice.
    #[error("not found")]
    NotFound,
    /// The storage writer is not available (a failed batch, shutdown).
    #[error("storage unavailable")]
    Unavailable,
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;

//! The PostgreSQL backend, for several stateless nodes sharing one database.
//!
//! Default `synchronous_commit=on`: a commit is durable when it returns.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};
use std::str::FromStr;
use std::time::Duration;

/// Store on a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: Pool<Postgres>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl PgStore {
    /// Connects to the database at `url`. The URL is never logged.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| anyhow::anyhow!("the PostgreSQL database URL could not be parsed"))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    fn writer(&self) -> &Pool<Postgres> {
        &self.pool
    }

    fn reader(&self) -> &Pool<Postgres> {
        &self.pool
    }

    async fn run_migrations(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    fn audit_pools(&self) -> std::sync::Arc<dyn crate::audit::store::AuditStore> {
        std::sync::Arc::new(super::audit_store::PgAuditStore::on_pools(
            self.reader().clone(),
            self.writer().clone(),
        ))
    }

    async fn close_pools(&self) {
        self.pool.close().await;
    }
}

impl_store!(PgStore, Postgres, "postgres");
impl_delivery_store!(PgStore, Postgres);
impl_invite_store!(PgStore, Postgres);
impl_people_store!(PgStore, Postgres);
impl_revocation_store!(PgStore, Postgres);
impl_account_store!(PgStore, Postgres);
impl_practice_store!(PgStore, Postgres);
impl_reminder_store!(PgStore, Postgres, "FOR UPDATE OF reminders SKIP LOCKED");
impl_incident_store!(PgStore, Postgres, "FOR UPDATE OF d SKIP LOCKED");
impl_push_store!(PgStore, Postgres, "FOR UPDATE OF s SKIP LOCKED");
impl_archive_store!(PgStore);

//! The embedded SQLite backend: one file in the data directory.
//!
//! Durability: WAL with `synchronous=FULL`, so a transaction is on stable
//! storage when `COMMIT` returns and an acknowledged write survives both a
//! process crash and a power loss (with `NORMAL`, WAL may lose the last
//! transactions on power loss).
//!
//! Concurrency: one writer connection (SQLite allows one writer at a time;
//! queueing in the pool is cheaper and fairer than `SQLITE_BUSY` retries)
//! and a small pool of readers that see committed snapshots.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};
use std::path::Path;
use std::time::Duration;

/// Store on an SQLite file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: Pool<Sqlite>,
    reader: Pool<Sqlite>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if needed) the database file and its folder.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            crate::private_files::create_dir(dir)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Statement journals (multi-row statements inside a transaction)
            // stay in memory instead of spilling to a temporary file.
            .pragma("temp_store", "memory")
            // Deleted content is overwritten, not left in free pages: a
            // revoked device's unlock share, once its row is deleted, does
            // not survive in the database file (the WAL keeps it until the
            // next checkpoint, backups as long as they are kept:
            // docs/incidents.md).
            .pragma("secure_delete", "on")
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(false))
            .await?;
        // SQLite creates its -wal and -shm files with the database file's
        // permissions, which are the umask's until now.
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            crate::private_files::restrict(Path::new(&name))?;
        }
        Ok(Self { writer, reader })
    }

    fn writer(&self) -> &Pool<Sqlite> {
        &self.writer
    }

    fn reader(&self) -> &Pool<Sqlite> {
        &self.reader
    }

    async fn run_migrations(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    fn audit_pools(&self) -> std::sync::Arc<dyn crate::audit::store::AuditStore> {
        std::sync::Arc::new(super::audit_store::SqliteAuditStore::on_pools(
            self.reader().clone(),
            self.writer().clone(),
        ))
    }

    async fn close_pools(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

impl_store!(SqliteStore, Sqlite, "sqlite");
impl_delivery_store!(SqliteStore, Sqlite);
impl_invite_store!(SqliteStore, Sqlite);
impl_people_store!(SqliteStore, Sqlite);
impl_revocation_store!(SqliteStore, Sqlite);
impl_account_store!(SqliteStore, Sqlite);
impl_practice_store!(SqliteStore, Sqlite);
impl_reminder_store!(SqliteStore, Sqlite, "");
impl_incident_store!(SqliteStore, Sqlite, "");
impl_push_store!(SqliteStore, Sqlite, "");
impl_archive_store!(SqliteStore);

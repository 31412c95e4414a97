//! Storage for the tamper-evident audit log: the SQL of `audit::store`'s
//! [`AuditStore`] (reading entries and leaf hashes, filtered queries, and
//! the signed tree heads the server issued) for both backends.
//!
//! Appending stays in `sql.rs` (`append_event`, inside each action's
//! transaction). Everything here reads, except `store_signed_head` and the
//! one-off `backfill_leaf_hashes` for rows written before migration 0003.
//!
//! Like `sql.rs`, the SQL is written once and instantiated for SQLite and
//! PostgreSQL by `impl_audit_store!`. The server's audit store runs on the
//! main store's pools (`Store::audit_store`): on SQLite every write goes
//! through the one writer connection. `open` gives pools of its own, for
//! the command line.
//!
//! Invariant: no method updates or deletes an audit entry (the backfill only
//! fills a NULL leaf hash with the hash of the row's own content).

use super::{StoreError, StoreResult};
use crate::audit::signing::SignedTreeHead;
use crate::audit::store::{AuditFilter, AuditStore, StoredEntry, SUBJECT_BLOCK};
use async_trait::async_trait;
use std::sync::Arc;

/// Blocks of a subject read at once by a filtered query.
const BLOCKS_PER_READ: i64 = 64;

/// Columns of `Entry` + `leaf_hash`.
macro_rules! audit_entry_cols {
    () => {
        "practice_id, seq, at, actor_user_id, actor_device_id, action, target_user_id, \
         target_device_id, target_conversation_id, outcome, request_id, ip, detail, leaf_hash"
    };
}

/// WHERE clause of `audit_query` ($1 practice, $2..$8 filters, $9..$10 the
/// half-open range of seq to scan: a plain range, so both backends walk the
/// primary key between its bounds instead of reading from one end).
macro_rules! audit_filter_where {
    () => {
        " WHERE practice_id = $1
            AND ($2 IS NULL OR actor_user_id = $2)
            AND ($3 IS NULL OR actor_device_id = $3 OR target_device_id = $3)
            AND ($4 IS NULL OR target_user_id = $4)
            AND ($5 IS NULL OR action = $5)
            AND ($6 IS NULL OR outcome = $6)
            AND ($7 IS NULL OR at >= $7)
            AND ($8 IS NULL OR at < $8)
            AND seq >= $9 AND seq < $10 "
    };
}

macro_rules! impl_audit_store {
    ($store:ident, $db:ty) => {
        /// The audit store on this backend.
        #[derive(Clone, Debug)]
        pub struct $store {
            /// Reads (on SQLite, the main store's reader pool).
            reader: sqlx::Pool<$db>,
            /// Writes: on SQLite the server's one writer connection, shared
            /// with the main store, so that a head being recorded queues
            /// behind a batch of messages instead of failing it with
            /// "database is locked".
            writer: sqlx::Pool<$db>,
            /// Whether `close` closes the pools (false when they are the
            /// main store's, which closes them itself).
            owned: bool,
        }

        impl $store {
            /// On the main store's pools (the server's own use).
            pub fn on_pools(reader: sqlx::Pool<$db>, writer: sqlx::Pool<$db>) -> Self {
                Self { reader, writer, owned: false }
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn audit_practices(&self) -> StoreResult<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT practice_id FROM audit_heads ORDER BY practice_id")
                    .fetch_all(&self.reader)
                    .await?)
            }

            async fn audit_counter(&self, practice: &str) -> StoreResult<i64> {
                let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_heads WHERE practice_id = $1")
                    .bind(practice)
                    .fetch_optional(&self.reader)
                    .await?;
                Ok(seq.unwrap_or(0))
            }

            async fn audit_rows(&self, practice: &str, after_seq: i64, limit: i64) -> StoreResult<Vec<StoredEntry>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", audit_entry_cols!(), " FROM audit_events
                     WHERE practice_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
                ))
                .bind(practice)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.reader)
                .await?)
            }

            async fn audit_leaves(&self, practice: &str, upto: i64) -> StoreResult<Vec<(i64, Option<Vec<u8>>)>> {
                Ok(sqlx::query_as(
                    "SELECT seq, leaf_hash FROM audit_events WHERE practice_id = $1 AND seq <= $2 ORDER BY seq",
                )
                .bind(practice)
                .bind(upto)
                .fetch_all(&self.reader)
                .await?)
            }

            async fn audit_query(
                &self,
                practice: &str,
                f: &AuditFilter,
                ascending: bool,
                limit: i64,
            ) -> StoreResult<Vec<StoredEntry>> {
                let lo = f.after_seq.map_or(i64::MIN, |s| s.saturating_add(1));
                let hi = f.before_seq.unwrap_or(i64::MAX);
                // Any of the subject filters narrows the scan to the blocks
                // where that subject appears; the others still filter rows.
                let Some(subject) = f.client.as_deref().or(f.user.as_deref()).or(f.device.as_deref()) else {
                    return self.scan(practice, f, (lo, hi), ascending, limit).await;
                };
                let (first, last) = (lo.div_euclid(SUBJECT_BLOCK), hi.saturating_sub(1).div_euclid(SUBJECT_BLOCK));
                let blocks_sql = if ascending {
                    "SELECT block FROM audit_subjects WHERE practice_id = $1 AND subject_id = $2
                     AND block >= $3 AND block <= $4 ORDER BY block ASC LIMIT $5"
                } else {
                    "SELECT block FROM audit_subjects WHERE practice_id = $1 AND subject_id = $2
                     AND block >= $3 AND block <= $4 ORDER BY block DESC LIMIT $5"
                };
                let mut found = Vec::new();
                let (mut first, mut last) = (first, last);
                loop {
                    let blocks: Vec<i64> = sqlx::query_scalar(blocks_sql)
                        .bind(practice)
                        .bind(subject)
                        .bind(first)
                        .bind(last)
                        .bind(BLOCKS_PER_READ)
                        .fetch_all(&self.reader)
                        .await?;
                    for &block in &blocks {
                        let start = block.saturating_mul(SUBJECT_BLOCK);
                        let range = (lo.max(start), hi.min(start.saturating_add(SUBJECT_BLOCK)));
                        let want = limit - found.len() as i64;
                        found.extend(self.scan(practice, f, range, ascending, want).await?);
                        if found.len() as i64 >= limit {
                            return Ok(found);
                        }
                    }
                    match (blocks.last(), blocks.len() as i64 == BLOCKS_PER_READ) {
                        (Some(&b), true) if ascending => first = b + 1,
                        (Some(&b), true) => last = b - 1,
                        _ => return Ok(found),
                    }
                }
            }

            async fn store_signed_head(&self, head: &SignedTreeHead) -> StoreResult<()> {
                let root = head.root().ok_or(StoreError::NotFound)?;
                let sig = data_encoding::BASE64.decode(head.signature.as_bytes()).map_err(|_| StoreError::NotFound)?;
                sqlx::query(
                    "INSERT INTO audit_signed_heads (practice_id, tree_size, root_hash, signed_at, key_id, signature)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (practice_id, tree_size) DO NOTHING",
                )
                .bind(&head.practice_id)
                .bind(head.tree_size as i64)
                .bind(&root[..])
                .bind(head.timestamp)
                .bind(&head.key_id)
                .bind(sig)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn signed_heads(&self, practice: &str) -> StoreResult<Vec<SignedTreeHead>> {
                let rows: Vec<(String, i64, Vec<u8>, i64, String, Vec<u8>)> = sqlx::query_as(
                    "SELECT practice_id, tree_size, root_hash, signed_at, key_id, signature
                     FROM audit_signed_heads WHERE practice_id = $1 ORDER BY tree_size",
                )
                .bind(practice)
                .fetch_all(&self.reader)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(practice_id, size, root, at, key_id, sig)| SignedTreeHead {
                        version: 1,
                        practice_id,
                        tree_size: size as u64,
                        root_hash: crate::audit::canonical::hex(&root),
                        timestamp: at,
                        key_id,
                        signature: data_encoding::BASE64.encode(&sig),
                    })
                    .collect())
            }

            async fn backfill_leaf_hashes(&self) -> StoreResult<u64> {
                let rows: Vec<StoredEntry> = sqlx::query_as(concat!(
                    "SELECT ", audit_entry_cols!(), " FROM audit_events WHERE leaf_hash IS NULL ORDER BY practice_id, seq"
                ))
                .fetch_all(&self.reader)
                .await?;
                let mut n = 0;
                for row in rows {
                    let leaf = row.entry.leaf_hash();
                    n += sqlx::query(
                        "UPDATE audit_events SET leaf_hash = $1
                         WHERE practice_id = $2 AND seq = $3 AND leaf_hash IS NULL",
                    )
                    .bind(&leaf[..])
                    .bind(&row.entry.practice_id)
                    .bind(row.entry.seq)
                    .execute(&self.writer)
                    .await?
                    .rows_affected();
                }
                Ok(n)
            }

            async fn close(&self) {
                if self.owned {
                    self.reader.close().await;
                    self.writer.close().await;
                }
            }
        }

        impl $store {
            /// Filtered entries with seq in `[range.0, range.1)`, in order.
            async fn scan(
                &self,
                practice: &str,
                f: &AuditFilter,
                range: (i64, i64),
                ascending: bool,
                limit: i64,
            ) -> StoreResult<Vec<StoredEntry>> {
                let sql = if ascending {
                    concat!("SELECT ", audit_entry_cols!(), " FROM audit_events", audit_filter_where!(), "ORDER BY seq ASC LIMIT $11")
                } else {
                    concat!("SELECT ", audit_entry_cols!(), " FROM audit_events", audit_filter_where!(), "ORDER BY seq DESC LIMIT $11")
                };
                Ok(sqlx::query_as(sql)
                    .bind(practice)
                    .bind(f.user.as_deref())
                    .bind(f.device.as_deref())
                    .bind(f.client.as_deref())
                    .bind(f.action.as_deref())
                    .bind(f.outcome.as_deref())
                    .bind(f.from)
                    .bind(f.to)
                    .bind(range.0)
                    .bind(range.1)
                    .bind(limit)
                    .fetch_all(&self.reader)
                    .await?)
            }
        }
    };
}

impl_audit_store!(SqliteAuditStore, sqlx::Sqlite);
impl_audit_store!(PgAuditStore, sqlx::Postgres);

/// Opens pools of its own on the database `settings` select, for the
/// command line (`alcove audit verify`) and tests that read the log beside
/// a server; the running server uses `Store::audit_store` (its own writer).
/// Migrations are the main store's job (`storage::open`), so the schema
/// must already exist.
pub async fn open(settings: &crate::config::Settings) -> anyhow::Result<Arc<dyn AuditStore>> {
    use secrecy::ExposeSecret;
    use std::str::FromStr;
    Ok(match settings.database() {
        crate::config::DatabaseKind::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(std::time::Duration::from_secs(10));
            let writer = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let reader = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await?;
            Arc::new(SqliteAuditStore {
                reader,
                writer,
                owned: true,
            })
        }
        crate::config::DatabaseKind::Postgres => {
            let url = settings
                .database_url
                .as_ref()
                .map(|u| u.expose_secret().to_string())
                .unwrap_or_default();
            let options = sqlx::postgres::PgConnectOptions::from_str(&url)
                .map_err(|_| anyhow::anyhow!("the PostgreSQL database URL could not be parsed"))?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(std::time::Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Arc::new(PgAuditStore {
                reader: pool.clone(),
                writer: pool,
                owned: true,
            })
        }
    })
}

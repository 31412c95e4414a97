//! The SQL behind `ArchiveStore`, once for both backends (the technique of
//! `storage/sql.rs`).

macro_rules! impl_archive_store {
    ($store:ty) => {
        const _: () = {
            use $crate::archive::store::*;
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{PracticeId, UserId};
            use $crate::storage::{StoreError, StoreResult};

            #[async_trait::async_trait]
            impl ArchiveStore for $store {
                async fn set_archive_key(
                    &self,
                    user: UserId,
                    key_id: &str,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<KeyCheck> {
                    let mut tx = self.writer().begin().await?;
                    let inserted = sqlx::query(
                        "INSERT INTO history_archive_keys (user_id, key_id, set_at) VALUES ($1, $2, $3)
                         ON CONFLICT (user_id) DO NOTHING",
                    )
                    .bind(user)
                    .bind(key_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 1 {
                        append_event(&mut tx, &event, now).await?;
                        tx.commit().await?;
                        return Ok(KeyCheck::Done);
                    }
                    let current: Option<String> =
                        sqlx::query_scalar("SELECT key_id FROM history_archive_keys WHERE user_id = $1")
                            .bind(user)
                            .fetch_optional(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    Ok(if current.as_deref() == Some(key_id) {
                        KeyCheck::Done
                    } else {
                        KeyCheck::Mismatch
                    })
                }

                async fn archive_key(&self, user: UserId) -> StoreResult<Option<String>> {
                    Ok(sqlx::query_scalar("SELECT key_id FROM history_archive_keys WHERE user_id = $1")
                        .bind(user)
                        .fetch_optional(self.reader())
                        .await?)
                }

                async fn put_archive(
                    &self,
                    practice: PracticeId,
                    user: UserId,
                    conversation: &str,
                    key_id: &str,
                    archive: &[u8],
                    created: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<KeyCheck> {
                    let mut tx = self.writer().begin().await?;
                    // Under the person's current key only. A no-op write
                    // takes the key's row first (SQLite has no FOR UPDATE),
                    // so a concurrent "turn off" either comes first, and
                    // this is refused, or waits and deletes what this wrote.
                    sqlx::query("UPDATE history_archive_keys SET key_id = key_id WHERE user_id = $1")
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                    let current: Option<String> = sqlx::query_scalar(
                        "SELECT key_id FROM history_archive_keys WHERE user_id = $1",
                    )
                    .bind(user)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if current.as_deref() != Some(key_id) {
                        return Ok(KeyCheck::Mismatch);
                    }
                    let party: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM conversations WHERE id = $1 AND practice_id = $2
                           AND (client_user_id = $3 OR staff_user_id = $3)",
                    )
                    .bind(conversation)
                    .bind(practice)
                    .bind(user)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if party.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    // The insert decides new or replaced: of two first
                    // stores at once, one inserts and the other (waiting
                    // on the key) replaces, so "created" is written once.
                    let inserted = sqlx::query(
                        "INSERT INTO history_archives (user_id, conversation_id, practice_id, archive, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $5)
                         ON CONFLICT (user_id, conversation_id) DO NOTHING",
                    )
                    .bind(user)
                    .bind(conversation)
                    .bind(practice)
                    .bind(archive)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let new = inserted.rows_affected() == 1;
                    if !new {
                        sqlx::query(
                            "UPDATE history_archives SET archive = $3, updated_at = $4
                              WHERE user_id = $1 AND conversation_id = $2",
                        )
                        .bind(user)
                        .bind(conversation)
                        .bind(archive)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    if new {
                        append_event(&mut tx, &created, now).await?;
                    }
                    tx.commit().await?;
                    Ok(KeyCheck::Done)
                }

                async fn fetch_archive(
                    &self,
                    user: UserId,
                    conversation: &str,
                    fetched: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<(Vec<u8>, UnixTime)> {
                    let mut tx = self.writer().begin().await?;
                    let row: Option<(Vec<u8>, UnixTime)> = sqlx::query_as(
                        "SELECT archive, updated_at FROM history_archives
                          WHERE user_id = $1 AND conversation_id = $2",
                    )
                    .bind(user)
                    .bind(conversation)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(row) = row else {
                        return Err(StoreError::NotFound);
                    };
                    append_event(&mut tx, &fetched, now).await?;
                    tx.commit().await?;
                    Ok(row)
                }

                async fn list_archives(&self, user: UserId) -> StoreResult<Vec<ArchiveSummary>> {
                    Ok(sqlx::query_as(
                        "SELECT conversation_id, CAST(LENGTH(archive) AS BIGINT) AS size, updated_at
                           FROM history_archives WHERE user_id = $1 ORDER BY conversation_id",
                    )
                    .bind(user)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn delete_archives(
                    &self,
                    user: UserId,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<u64> {
                    let mut tx = self.writer().begin().await?;
                    // The key's row first: a store in flight either
                    // finished (its blob is deleted here) or is refused.
                    let key = sqlx::query("DELETE FROM history_archive_keys WHERE user_id = $1")
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                    let done = sqlx::query("DELETE FROM history_archives WHERE user_id = $1")
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                    let n = done.rows_affected();
                    if n > 0 || key.rows_affected() > 0 {
                        append_event(&mut tx, &event, now).await?;
                    }
                    tx.commit().await?;
                    Ok(n)
                }
            }
        };
    };
}

//! The SQL behind `AccountStore`, once for both backends.

macro_rules! impl_account_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::account::store::*;
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{DeviceId, PracticeId, SessionId, UserId};
            use $crate::storage::StoreResult;

            #[async_trait::async_trait]
            impl AccountStore for $store {
                async fn change_password(
                    &self,
                    user: UserId,
                    expected_hash: &str,
                    new_hash: &str,
                    keep: SessionId,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<PasswordChange> {
                    let mut tx = self.writer().begin().await?;
                    let changed = sqlx::query(
                        "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
                    )
                    .bind(new_hash)
                    .bind(user)
                    .bind(expected_hash)
                    .execute(&mut *tx)
                    .await?;
                    if changed.rows_affected() == 0 {
                        return Ok(PasswordChange::Stale);
                    }
                    let ended: Vec<(SessionId, DeviceId)> = sqlx::query_as(
                        "UPDATE sessions SET ended_at = $1, end_reason = 'password_changed'
                         WHERE user_id = $2 AND id <> $3 AND ended_at IS NULL
                         RETURNING id, device_id",
                    )
                    .bind(now)
                    .bind(user)
                    .bind(keep)
                    .fetch_all(&mut *tx)
                    .await?;
                    // Signed out elsewhere as after a compromise: those
                    // devices are told of nothing more until their person
                    // turns notices on again (the kept session's device
                    // keeps its own).
                    sqlx::query(
                        "DELETE FROM push_subscriptions WHERE user_id = $1
                           AND device_id NOT IN (SELECT device_id FROM sessions WHERE id = $2)",
                    )
                    .bind(user)
                    .bind(keep)
                    .execute(&mut *tx)
                    .await?;
                    let event = event.detail(serde_json::json!({"sessions_ended": ended.len()}));
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(PasswordChange::Changed(ended))
                }

                async fn renew_recovery_codes(
                    &self,
                    practice: PracticeId,
                    user: UserId,
                    code_hashes: &[Vec<u8>],
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    replace_recovery_codes(&mut tx, practice, user, code_hashes).await?;
                    let event = event.detail(serde_json::json!({"codes": code_hashes.len()}));
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn confirm_authenticator(
                    &self,
                    new: &NewAuthenticator<'_>,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<bool> {
                    let NewAuthenticator { practice, user, secret, step, code_hashes } = *new;
                    let mut tx = self.writer().begin().await?;
                    if !adopt_authenticator(&mut tx, practice, user, secret, step, code_hashes).await? {
                        return Ok(false);
                    }
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn rename_device(
                    &self,
                    practice: PracticeId,
                    user: UserId,
                    device: DeviceId,
                    name: &str,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE devices SET name = $1
                         WHERE id = $2 AND user_id = $3 AND practice_id = $4 AND revoked_at IS NULL",
                    )
                    .bind(name)
                    .bind(device)
                    .bind(user)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    commit_one(tx, done.rows_affected(), &event, now).await
                }

                async fn recovery_codes_left(&self, user: UserId) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar(
                        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                    )
                    .bind(user)
                    .fetch_one(self.reader())
                    .await?)
                }
            }
        };
    };
}

//! The SQL behind `PushStore`, once for both backends (the technique of
//! `storage/sql.rs`). The bodies read facts and write rows; whether to
//! push is `rules::decide`'s.

macro_rules! impl_push_store {
    ($store:ty, $db:ty, $skip_locked:literal) => {
        const _: () = {
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{DeviceId, PracticeId, UserId};
            use $crate::push::rules::Subscription;
            use $crate::push::store::*;
            use $crate::storage::{StoreError, StoreResult};

            #[async_trait::async_trait]
            impl PushStore for $store {
                async fn put_push_subscription(
                    &self,
                    practice: PracticeId,
                    user: UserId,
                    device: DeviceId,
                    s: &Subscription,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let mine: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM devices WHERE id = $1 AND user_id = $2 AND practice_id = $3
                           AND revoked_at IS NULL",
                    )
                    .bind(device)
                    .bind(user)
                    .bind(practice)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if mine.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    // A browser that subscribes again (a new key, a new
                    // endpoint) replaces what it had; what it was told
                    // starts again from now.
                    sqlx::query(
                        "INSERT INTO push_subscriptions (device_id, practice_id, user_id, endpoint, p256dh, auth,
                             created_at, failures)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 0)
                         ON CONFLICT (device_id) DO UPDATE SET endpoint = excluded.endpoint,
                             p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at,
                             told_at = NULL, not_before = NULL, failures = 0",
                    )
                    .bind(device)
                    .bind(practice)
                    .bind(user)
                    .bind(&s.endpoint)
                    .bind(&s.p256dh)
                    .bind(&s.auth)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn delete_push_subscription(
                    &self,
                    device: DeviceId,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query("DELETE FROM push_subscriptions WHERE device_id = $1")
                        .bind(device)
                        .execute(&mut *tx)
                        .await?;
                    let had = done.rows_affected() == 1;
                    if had {
                        append_event(&mut tx, &event, now).await?;
                    }
                    tx.commit().await?;
                    Ok(had)
                }

                async fn claim_pushes(
                    &self,
                    now: UnixTime,
                    lease_until: UnixTime,
                    limit: i64,
                ) -> StoreResult<Vec<PushCandidate>> {
                    let mut tx = self.writer().begin().await?;
                    // News: an application message in a conversation the
                    // device is still a member of (it receives from
                    // `joined_seq` on), from someone else,
                    // past what it acknowledged and accepted since it was
                    // last told (`>=`: one accepted in the second of the
                    // last look is not missed; at worst it is told twice).
                    let ids: Vec<DeviceId> = sqlx::query_scalar(concat!(
                        "SELECT s.device_id FROM push_subscriptions s
                         WHERE (s.not_before IS NULL OR s.not_before <= $1)
                           AND (s.lease_until IS NULL OR s.lease_until <= $1)
                           AND EXISTS (
                             SELECT 1 FROM conversation_members m
                             JOIN messages g ON g.conversation_id = m.conversation_id
                             JOIN devices d ON d.id = g.sender_device_id
                             LEFT JOIN delivery_cursors c
                               ON c.device_id = m.device_id AND c.conversation_id = m.conversation_id
                             WHERE m.device_id = s.device_id AND m.removed_seq IS NULL
                               AND g.kind = 'application' AND d.user_id <> s.user_id
                               AND g.seq > COALESCE(c.acked_seq, m.joined_seq - 1)
                               AND g.created_at >= COALESCE(s.told_at, s.created_at))
                         ORDER BY s.device_id LIMIT $2 ",
                        $skip_locked
                    ))
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut out = Vec::with_capacity(ids.len());
                    for id in ids {
                        sqlx::query("UPDATE push_subscriptions SET lease_until = $1 WHERE device_id = $2")
                            .bind(lease_until)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        let c: PushCandidate = sqlx::query_as(
                            "SELECT s.device_id, s.practice_id, s.user_id, s.endpoint, s.p256dh, s.auth,
                                    s.pushed_at, s.failures, COALESCE(p.opted_out, FALSE) AS opted_out,
                                    p.quiet_start, p.quiet_end,
                                    COALESCE(p.time_zone, (SELECT a.time_zone FROM appointments a
                                        WHERE a.practice_id = s.practice_id AND a.client_id = s.user_id
                                        ORDER BY a.updated_at DESC LIMIT 1)) AS time_zone
                             FROM push_subscriptions s
                             LEFT JOIN reminder_preferences p ON p.client_id = s.user_id
                             WHERE s.device_id = $1",
                        )
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                        out.push(c);
                    }
                    tx.commit().await?;
                    Ok(out)
                }

                async fn finish_pushes(&self, outcomes: &[PushOutcome], now: UnixTime) -> StoreResult<()> {
                    if outcomes.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.writer().begin().await?;
                    for o in outcomes {
                        match o {
                            PushOutcome::Told { device_id, pushed, at } => {
                                sqlx::query(
                                    "UPDATE push_subscriptions SET told_at = $1,
                                         pushed_at = CASE WHEN $2 THEN $1 ELSE pushed_at END,
                                         failures = 0, not_before = NULL, lease_until = NULL
                                     WHERE device_id = $3",
                                )
                                .bind(*at)
                                .bind(*pushed)
                                .bind(*device_id)
                                .execute(&mut *tx)
                                .await?;
                            }
                            PushOutcome::Later { device_id, at } => {
                                sqlx::query(
                                    "UPDATE push_subscriptions SET not_before = $1, lease_until = NULL WHERE device_id = $2",
                                )
                                .bind(*at)
                                .bind(*device_id)
                                .execute(&mut *tx)
                                .await?;
                            }
                            PushOutcome::Failed { device_id, retry_at } => {
                                sqlx::query(
                                    "UPDATE push_subscriptions SET failures = failures + 1, not_before = $1,
                                         lease_until = NULL
                                     WHERE device_id = $2",
                                )
                                .bind(*retry_at)
                                .bind(*device_id)
                                .execute(&mut *tx)
                                .await?;
                            }
                            PushOutcome::Gone { device_id, endpoint, event } => {
                                let done = sqlx::query(
                                    "DELETE FROM push_subscriptions WHERE device_id = $1 AND endpoint = $2",
                                )
                                    .bind(*device_id)
                                    .bind(endpoint)
                                    .execute(&mut *tx)
                                    .await?;
                                if done.rows_affected() == 1 {
                                    append_event(&mut tx, event.as_ref(), now).await?;
                                }
                            }
                        }
                    }
                    tx.commit().await?;
                    Ok(())
                }
            }
        };
    };
}

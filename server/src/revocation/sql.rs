//! The SQL behind `RevocationStore`, once for both backends.

macro_rules! impl_revocation_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{DeviceId, PracticeId, UserId};
            use $crate::revocation::error::RevocationError;
            use $crate::revocation::store::*;
            use $crate::storage::{StoreError, StoreResult};

            type Conn = <$db as sqlx::Database>::Connection;

            const DEVICE_COLS: &str = "d.id, d.user_id, u.display_name AS user_name, u.role, d.name, d.user_agent,
                 d.created_at, d.last_seen_at, d.revoked_at, d.revoked_reason";

            /// Revokes one device inside the caller's transaction; returns
            /// the conversations it is still a leaf of, or None if it was
            /// already revoked.
            async fn revoke_one(
                conn: &mut Conn,
                practice: PracticeId,
                device: DeviceId,
                reason: &str,
                now: UnixTime,
            ) -> StoreResult<Option<Vec<String>>> {
                let done = sqlx::query(
                    "UPDATE devices SET revoked_at = $1, revoked_reason = $2
                     WHERE id = $3 AND practice_id = $4 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(reason)
                .bind(device)
                .bind(practice)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                sqlx::query("UPDATE sessions SET ended_at = $1, end_reason = 'device_revoked' WHERE device_id = $2 AND ended_at IS NULL")
                    .bind(now)
                    .bind(device)
                    .execute(&mut *conn)
                    .await?;
                for sql in [
                    "DELETE FROM key_packages WHERE device_id = $1",
                    "DELETE FROM device_unlock_shares WHERE device_id = $1",
                    "DELETE FROM welcomes WHERE device_id = $1 AND acked_at IS NULL",
                    // A revoked device is told of nothing more.
                    "DELETE FROM push_subscriptions WHERE device_id = $1",
                ] {
                    sqlx::query(sql).bind(device).execute(&mut *conn).await?;
                }
                // Take the row of every conversation the device is in, as a
                // message batch does when it numbers its entries: a batch
                // that already holds one commits first (its messages predate
                // the revocation), and one that comes later waits and then
                // leaves the device out of the sockets its entries are
                // carried to. (A no-op write: SQLite has no FOR UPDATE.)
                sqlx::query(
                    "UPDATE conversations SET last_seq = last_seq WHERE id IN
                     (SELECT conversation_id FROM conversation_members WHERE device_id = $1 AND removed_at IS NULL)",
                )
                .bind(device)
                .execute(&mut *conn)
                .await?;
                Ok(Some(
                    sqlx::query_scalar(
                        "SELECT conversation_id FROM conversation_members WHERE device_id = $1 AND removed_at IS NULL",
                    )
                    .bind(device)
                    .fetch_all(&mut *conn)
                    .await?,
                ))
            }

            #[async_trait::async_trait]
            impl RevocationStore for $store {
                async fn unlock_share(
                    &self,
                    practice: PracticeId,
                    device: DeviceId,
                    fresh: &[u8],
                    now: UnixTime,
                    event: audit::Event,
                ) -> Result<Vec<u8>, RevocationError> {
                    let mut tx = self.writer().begin().await?;
                    sqlx::query(
                        "INSERT INTO device_unlock_shares (device_id, practice_id, share, created_at)
                         SELECT id, practice_id, $1, $2 FROM devices
                         WHERE id = $3 AND practice_id = $4 AND revoked_at IS NULL
                         ON CONFLICT (device_id) DO NOTHING",
                    )
                    .bind(fresh)
                    .bind(now)
                    .bind(device)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    let share: Option<Vec<u8>> = sqlx::query_scalar(
                        "SELECT share FROM device_unlock_shares WHERE device_id = $1 AND practice_id = $2",
                    )
                    .bind(device)
                    .bind(practice)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(share) = share else { return Err(RevocationError::DeviceRevoked) };
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(share)
                }

                async fn lapsed_shared_devices(
                    &self,
                    now: UnixTime,
                    limit: i64,
                ) -> StoreResult<Vec<(PracticeId, DeviceId)>> {
                    Ok(sqlx::query_as(
                        "SELECT d.practice_id, d.id FROM devices d
                         WHERE d.shared = TRUE AND d.revoked_at IS NULL
                           AND NOT EXISTS (
                               SELECT 1 FROM sessions s
                               WHERE s.device_id = d.id AND s.ended_at IS NULL
                                 AND s.expires_at > $1 AND s.last_seen_at + s.idle_timeout_secs > $1)
                         ORDER BY d.created_at, d.id
                         LIMIT $2",
                    )
                    .bind(now)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn device_owner(&self, practice: PracticeId, device: DeviceId) -> StoreResult<InventoryDevice> {
                    sqlx::query_as(&format!(
                        "SELECT {DEVICE_COLS} FROM devices d JOIN users u ON u.id = d.user_id
                         WHERE d.id = $1 AND d.practice_id = $2"
                    ))
                    .bind(device)
                    .bind(practice)
                    .fetch_optional(self.reader())
                    .await?
                    .ok_or(StoreError::NotFound)
                }

                async fn revoke_devices(
                    &self,
                    practice: PracticeId,
                    devices: &[DeviceId],
                    how: HowRevoked<'_>,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<Revoked> {
                    let HowRevoked { reason, lost_by, sockets_open } = how;
                    let mut tx = self.writer().begin().await?;
                    let mut out = Revoked::default();
                    for device in devices {
                        let owner: Option<(UserId, i64)> = sqlx::query_as(
                            "SELECT user_id, last_seen_at FROM devices WHERE id = $1 AND practice_id = $2",
                        )
                        .bind(*device)
                        .bind(practice)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let Some((owner, last_seen)) = owner else { return Err(StoreError::NotFound) };
                        let Some(conversations) = revoke_one(&mut tx, practice, *device, reason, now).await? else {
                            continue;
                        };
                        if let Some(reporter) = lost_by {
                            sqlx::query(
                                "INSERT INTO lost_device_reports (id, practice_id, device_id, user_id, reported_by,
                                     reported_at, last_seen_at, conversations)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                            )
                            .bind(uuid::Uuid::new_v4().to_string())
                            .bind(practice)
                            .bind(*device)
                            .bind(owner)
                            .bind(reporter)
                            .bind(now)
                            .bind(last_seen)
                            .bind(serde_json::to_string(&conversations).unwrap_or_else(|_| "[]".into()))
                            .execute(&mut *tx)
                            .await?;
                        }
                        let mut ev = event.clone();
                        ev.target_device = Some(*device);
                        ev.target_user = Some(owner);
                        // Whether a socket of it was open as it was cut off:
                        // a device stolen unlocked had plaintext on screen
                        // (the incident evidence's safe-harbor facts).
                        ev.detail = Some(serde_json::json!({
                            "reason": reason,
                            "conversations": conversations.len(),
                            "socket_open": sockets_open.contains(device),
                        }));
                        append_event(&mut tx, &ev, now).await?;
                        out.devices.push(*device);
                        out.conversations.extend(conversations);
                    }
                    tx.commit().await?;
                    out.conversations.sort();
                    out.conversations.dedup();
                    Ok(out)
                }

                async fn deactivate_user(
                    &self,
                    practice: PracticeId,
                    user: UserId,
                    now: UnixTime,
                    event: audit::Event,
                ) -> Result<Revoked, RevocationError> {
                    let mut tx = self.writer().begin().await?;
                    // Take turns on the practice's row (a no-op write, as
                    // SQLite has no FOR UPDATE): two admins deactivating each
                    // other at once are then decided one after the other, and
                    // the second sees that it would leave nobody to run the
                    // practice (on PostgreSQL each would otherwise still see
                    // the other active).
                    sqlx::query("UPDATE practices SET name = name WHERE id = $1")
                        .bind(practice)
                        .execute(&mut *tx)
                        .await?;
                    let role: Option<String> = sqlx::query_scalar(
                        "SELECT role FROM users WHERE id = $1 AND practice_id = $2 AND deactivated_at IS NULL",
                    )
                    .bind(user)
                    .bind(practice)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if role.as_deref() == Some("admin") {
                        let others: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM users
                             WHERE practice_id = $1 AND role = 'admin' AND deactivated_at IS NULL AND id <> $2",
                        )
                        .bind(practice)
                        .bind(user)
                        .fetch_one(&mut *tx)
                        .await?;
                        if others == 0 {
                            return Err(RevocationError::LastAdmin);
                        }
                    }
                    let done = sqlx::query(
                        "UPDATE users SET deactivated_at = $1 WHERE id = $2 AND practice_id = $3 AND deactivated_at IS NULL",
                    )
                    .bind(now)
                    .bind(user)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound.into());
                    }
                    let devices: Vec<DeviceId> =
                        sqlx::query_scalar("SELECT id FROM devices WHERE user_id = $1 AND revoked_at IS NULL")
                            .bind(user)
                            .fetch_all(&mut *tx)
                            .await?;
                    let mut out = Revoked::default();
                    for device in devices {
                        if let Some(conversations) = revoke_one(&mut tx, practice, device, "deactivated", now).await? {
                            out.devices.push(device);
                            out.conversations.extend(conversations);
                        }
                    }
                    let invites = sqlx::query(
                        "UPDATE invites SET revoked_at = $1 WHERE created_by = $2 AND used_at IS NULL AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let assignments = sqlx::query(
                        "UPDATE assignments SET ended_at = $1
                         WHERE (staff_user_id = $2 OR client_user_id = $2) AND ended_at IS NULL",
                    )
                    .bind(now)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let mut ev = event;
                    ev.target_user = Some(user);
                    ev.detail = Some(serde_json::json!({
                        "devices_revoked": out.devices, "invites_cancelled": invites,
                        "assignments_ended": assignments, "conversations": out.conversations.len(),
                    }));
                    append_event(&mut tx, &ev, now).await?;
                    tx.commit().await?;
                    out.conversations.sort();
                    out.conversations.dedup();
                    Ok(out)
                }

                async fn pending_removals(
                    &self,
                    practice: Option<PracticeId>,
                    conversation: Option<&str>,
                ) -> StoreResult<Vec<PendingRemoval>> {
                    Ok(sqlx::query_as(
                        "SELECT cm.conversation_id, cm.device_id, cm.leaf_index, c.epoch,
                                EXISTS (SELECT 1 FROM removal_proposals rp
                                        WHERE rp.conversation_id = cm.conversation_id
                                          AND rp.leaf_index = cm.leaf_index AND rp.epoch = c.epoch) AS proposed
                         FROM conversation_members cm
                         JOIN devices d ON d.id = cm.device_id
                         JOIN conversations c ON c.id = cm.conversation_id
                         WHERE cm.removed_at IS NULL AND d.revoked_at IS NOT NULL
                           AND ($1 IS NULL OR c.practice_id = $1) AND ($2 IS NULL OR c.id = $2)
                         ORDER BY cm.conversation_id, cm.leaf_index",
                    )
                    .bind(practice)
                    .bind(conversation)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn append_removal_proposal(
                    &self,
                    removal: &PendingRemoval,
                    data: &[u8],
                    now: UnixTime,
                ) -> StoreResult<Option<i64>> {
                    let mut tx = self.writer().begin().await?;
                    let issued = sqlx::query(
                        "INSERT INTO removal_proposals (conversation_id, device_id, leaf_index, epoch, seq, created_at)
                         VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(&removal.conversation_id)
                    .bind(removal.device_id)
                    .bind(removal.leaf_index)
                    .bind(removal.epoch)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if issued.rows_affected() == 0 {
                        return Ok(None);
                    }
                    let seq: Option<i64> = sqlx::query_scalar(
                        "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 AND epoch = $2 RETURNING last_seq",
                    )
                    .bind(&removal.conversation_id)
                    .bind(removal.epoch)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(seq) = seq else { return Ok(None) };
                    sqlx::query(
                        "INSERT INTO messages (conversation_id, seq, kind, epoch, sender_device_id, data, created_at)
                         VALUES ($1, $2, 'proposal', $3, NULL, $4, $5)",
                    )
                    .bind(&removal.conversation_id)
                    .bind(seq)
                    .bind(removal.epoch)
                    .bind(data)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE removal_proposals SET seq = $1 WHERE conversation_id = $2 AND leaf_index = $3 AND epoch = $4",
                    )
                    .bind(seq)
                    .bind(&removal.conversation_id)
                    .bind(removal.leaf_index)
                    .bind(removal.epoch)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Some(seq))
                }

                async fn practice_devices(&self, practice: PracticeId) -> StoreResult<Vec<InventoryDevice>> {
                    Ok(sqlx::query_as(&format!(
                        "SELECT {DEVICE_COLS} FROM devices d JOIN users u ON u.id = d.user_id
                         WHERE d.practice_id = $1 ORDER BY u.display_name, d.created_at, d.id LIMIT 10000"
                    ))
                    .bind(practice)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn lost_device_reports(&self, practice: PracticeId) -> StoreResult<Vec<LostDeviceReport>> {
                    Ok(sqlx::query_as(
                        "SELECT id, device_id, user_id, reported_by, reported_at, last_seen_at, conversations
                         FROM lost_device_reports WHERE practice_id = $1 ORDER BY reported_at DESC, id LIMIT 1000",
                    )
                    .bind(practice)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn access_review(&self, practice: PracticeId, user: UserId) -> StoreResult<Vec<AccessReviewRow>> {
                    Ok(sqlx::query_as(
                        "SELECT c.id AS conversation_id, c.client_user_id, cu.display_name AS client_name,
                                (SELECT MAX(dc.acked_at) FROM delivery_cursors dc JOIN devices d ON d.id = dc.device_id
                                  WHERE dc.conversation_id = c.id AND d.user_id = $2) AS last_access_at,
                                (SELECT MAX(dc.acked_seq) FROM delivery_cursors dc JOIN devices d ON d.id = dc.device_id
                                  WHERE dc.conversation_id = c.id AND d.user_id = $2) AS last_seq_accessed
                         FROM conversations c JOIN users cu ON cu.id = c.client_user_id
                         WHERE c.practice_id = $1 AND (c.staff_user_id = $2 OR c.client_user_id = $2)
                         ORDER BY cu.display_name, c.id",
                    )
                    .bind(practice)
                    .bind(user)
                    .fetch_all(self.reader())
                    .await?)
                }
            }
        };
    };
}

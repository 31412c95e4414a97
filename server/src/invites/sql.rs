//! The SQL behind `InviteStore`, once for both backends. Redeeming an
//! invite creates the user it names in the same transaction (the
//! conditional UPDATE on the invite is the single-use guarantee), so this
//! SQL writes `users` and `assignments` rows too; `insert_invite`, shared
//! with the creation of a practice (its first admin's link), stays with the
//! storage helpers.

/// Columns of `invites`, in `Invite`'s order.
macro_rules! invite_cols {
    () => {
        "id, practice_id, role, created_by, created_at, expires_at, used_at, used_by, revoked_at, label, for_user"
    };
}

macro_rules! impl_invite_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{DeviceId, InviteId, PracticeId, SessionId, UserId};
            use $crate::invites::error::InviteError;
            use $crate::invites::store::*;
            use $crate::storage::{NewInvite, NewUser, StoreError, StoreResult, User};

            #[async_trait::async_trait]
            impl InviteStore for $store {
                async fn create_invite(&self, invite: &NewInvite, event: audit::Event) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    insert_invite(&mut tx, invite).await?;
                    append_event(&mut tx, &event, invite.created_at).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn invite_by_token(&self, token_hash: &[u8]) -> StoreResult<Invite> {
                    sqlx::query_as(concat!("SELECT ", invite_cols!(), " FROM invites WHERE token_hash = $1"))
                        .bind(token_hash)
                        .fetch_optional(self.reader())
                        .await?
                        .ok_or(StoreError::NotFound)
                }

                async fn list_invites(&self, practice: PracticeId, created_by: Option<UserId>) -> StoreResult<Vec<Invite>> {
                    Ok(sqlx::query_as(concat!(
                        "SELECT ", invite_cols!(), " FROM invites
                         WHERE practice_id = $1 AND ($2 IS NULL OR created_by = $2) AND for_user IS NULL
                         ORDER BY created_at DESC, id LIMIT 500"
                    ))
                    .bind(practice)
                    .bind(created_by)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn revoke_invite(
                    &self,
                    practice: PracticeId,
                    id: InviteId,
                    created_by: Option<UserId>,
                    now: UnixTime,
                    event: audit::Event,
                ) -> Result<(), InviteError> {
                    let mut tx = self.writer().begin().await?;
                    let state: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
                        "SELECT used_at, revoked_at FROM invites
                         WHERE id = $1 AND practice_id = $2 AND ($3 IS NULL OR created_by = $3)",
                    )
                    .bind(id)
                    .bind(practice)
                    .bind(created_by)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match state {
                        None => return Err(StoreError::NotFound.into()),
                        Some((Some(_), _)) | Some((_, Some(_))) => {
                            return Err(InviteError::Used)
                        }
                        Some((None, None)) => {}
                    }
                    sqlx::query("UPDATE invites SET revoked_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn redeem_invite(
                    &self,
                    token_hash: &[u8],
                    user: &NewUser,
                    now: UnixTime,
                    meta: &audit::RequestMeta,
                ) -> Result<User, InviteError> {
                    let mut tx = self.writer().begin().await?;
                    // The conditional UPDATE is the single-use guarantee: of two
                    // concurrent redemptions exactly one matches the row.
                    let claimed: Option<(InviteId, PracticeId, String)> = sqlx::query_as(
                        "UPDATE invites SET used_at = $1
                         WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1
                           AND for_user IS NULL
                         RETURNING id, practice_id, role",
                    )
                    .bind(now)
                    .bind(token_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((invite_id, practice_id, role)) = claimed else {
                        let state: Option<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                            "SELECT expires_at, used_at, revoked_at FROM invites WHERE token_hash = $1",
                        )
                        .bind(token_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                        return Err($crate::invites::rules::refusal(state));
                    };
                    let inserted = sqlx::query(
                        "INSERT INTO users (id, practice_id, login, display_name, role, password_hash, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(user.id)
                    .bind(practice_id)
                    .bind($crate::storage::sql::scoped_login(practice_id, &user.login))
                    .bind(&user.display_name)
                    .bind(&role)
                    .bind(&user.password_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await;
                    match inserted {
                        Err(e) if is_unique_violation(&e) => return Err(InviteError::LoginTaken),
                        other => {
                            other?;
                        }
                    }
                    sqlx::query("UPDATE invites SET used_by = $1 WHERE id = $2")
                        .bind(user.id)
                        .bind(invite_id)
                        .execute(&mut *tx)
                        .await?;
                    // A client invited by their clinician or associate is
                    // assigned to them, so the two can start a conversation.
                    sqlx::query(
                        "INSERT INTO assignments (practice_id, staff_user_id, client_user_id, created_by, created_at)
                         SELECT i.practice_id, i.created_by, $1, i.created_by, $2 FROM invites i
                         JOIN users s ON s.id = i.created_by
                         WHERE i.id = $3 AND i.role = 'client' AND s.role IN ('clinician', 'associate')",
                    )
                    .bind(user.id)
                    .bind(now)
                    .bind(invite_id)
                    .execute(&mut *tx)
                    .await?;
                    let event = audit::Event::new(practice_id, $crate::audit::Action::InviteRedeemed, meta)
                        .actor(user.id, None)
                        .target_user(user.id)
                        .detail(serde_json::json!({"invite_id": invite_id, "role": role}));
                    append_event(&mut tx, &event, now).await?;
                    let created: User = sqlx::query_as(concat!("SELECT ", user_cols!(), " FROM users u WHERE u.id = $1"))
                        .bind(user.id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn create_reset_link(&self, invite: &NewInvite, event: audit::Event) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    sqlx::query(
                        "UPDATE invites SET revoked_at = $1
                         WHERE for_user = $2 AND used_at IS NULL AND revoked_at IS NULL",
                    )
                    .bind(invite.created_at)
                    .bind(invite.for_user)
                    .execute(&mut *tx)
                    .await?;
                    insert_invite(&mut tx, invite).await?;
                    append_event(&mut tx, &event, invite.created_at).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn redeem_reset(
                    &self,
                    token_hash: &[u8],
                    user: UserId,
                    new_hash: &str,
                    now: UnixTime,
                    event: audit::Event,
                ) -> Result<Reset, InviteError> {
                    let mut tx = self.writer().begin().await?;
                    // The conditional UPDATE is the single-use guarantee, as
                    // for an invitation.
                    let claimed: Option<InviteId> = sqlx::query_scalar(
                        "UPDATE invites SET used_at = $1, used_by = $3
                         WHERE token_hash = $2 AND for_user = $3
                           AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1
                         RETURNING id",
                    )
                    .bind(now)
                    .bind(token_hash)
                    .bind(user)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(invite_id) = claimed else {
                        let state: Option<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
                            "SELECT expires_at, used_at, revoked_at FROM invites WHERE token_hash = $1 AND for_user = $2",
                        )
                        .bind(token_hash)
                        .bind(user)
                        .fetch_optional(&mut *tx)
                        .await?;
                        return Err($crate::invites::rules::refusal(state));
                    };
                    let changed = sqlx::query(
                        "UPDATE users SET password_hash = $1, reset_at = $3 WHERE id = $2 AND deactivated_at IS NULL",
                    )
                    .bind(new_hash)
                    .bind(user)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if changed.rows_affected() != 1 {
                        // Deactivated meanwhile: nothing is written.
                        return Err(StoreError::NotFound.into());
                    }
                    let ended: Vec<(SessionId, DeviceId)> = sqlx::query_as(
                        "UPDATE sessions SET ended_at = $1, end_reason = 'password_changed'
                         WHERE user_id = $2 AND ended_at IS NULL
                         RETURNING id, device_id",
                    )
                    .bind(now)
                    .bind(user)
                    .fetch_all(&mut *tx)
                    .await?;
                    // A reset signs the account out everywhere: no device of
                    // it is told of anything more until its person turns
                    // notices on again.
                    sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1")
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                    let event = event.detail(serde_json::json!({
                        "invite_id": invite_id,
                        "sessions_ended": ended.len(),
                    }));
                    append_event(&mut tx, &event, now).await?;
                    let user: User = sqlx::query_as(concat!("SELECT ", user_cols!(), " FROM users u WHERE u.id = $1"))
                        .bind(user)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Reset { user, ended })
                }
            }
        };
    };
}

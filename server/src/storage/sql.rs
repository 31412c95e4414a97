//! The SQL behind `Store`, written once and instantiated for each backend by
//! `impl_store!` (see the module doc of `storage` for why).
//!
//! Backends provide `writer()` (the pool for transactions that write) and
//! `reader()`; for SQLite the writer is a single connection, so write
//! transactions never contend for the file lock, and for PostgreSQL both are
//! the same pool.

/// Columns of `users`, in `User`'s order.
macro_rules! user_cols {
    () => {
        "u.id, u.practice_id, substr(u.login, 38) AS login, u.display_name, u.role, u.password_hash, \
         u.totp_secret, u.totp_last_step, u.created_at, u.deactivated_at, u.state_of_residence"
    };
}

/// The stored key of a login: unique per practice (migration 0011), the
/// name after the practice id and a `/` (`user_cols!` strips it again).
pub(crate) fn scoped_login(practice: crate::ids::PracticeId, login: &str) -> String {
    format!("{practice}/{login}")
}

macro_rules! impl_store {
    ($store:ty, $db:ty, $backend:literal) => {
        use $crate::audit;
        use $crate::auth::error::SessionError;
        use $crate::clock::UnixTime;
        use $crate::ids::{DeviceId, PracticeId, SessionId, UserId};
        use $crate::storage::{
            AuditRow, Device, DeviceChoice, NewInvite, NewSession, Practice,
            SessionRecord, Store, StoreError, StoreResult, User,
        };

        type Conn = <$db as sqlx::Database>::Connection;
        type Db = $db;

        fn is_unique_violation(e: &sqlx::Error) -> bool {
            e.as_database_error().is_some_and(|d| d.is_unique_violation())
        }

        /// Ends a change that had to touch exactly one row: its audit event,
        /// then the commit; `NotFound`, with nothing written, when the
        /// change matched no row (the transaction rolls back on drop).
        async fn commit_one(
            mut tx: sqlx::Transaction<'_, Db>,
            rows_affected: u64,
            event: &audit::Event,
            now: UnixTime,
        ) -> StoreResult<()> {
            if rows_affected != 1 {
                return Err(StoreError::NotFound);
            }
            append_events(&mut tx, std::slice::from_ref(event), now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Inside the caller's transaction, makes `user`'s pending TOTP
        /// enrolment of `secret` (as sealed) their authenticator: the
        /// pending row goes, the secret replaces any earlier one with
        /// `step` recorded as used, and `code_hashes` replace every
        /// recovery code, used or not. `false`, with nothing changed, when
        /// no such enrolment is pending (confirmed or restarted meanwhile).
        /// Sign-up and the account page both confirm through it.
        async fn adopt_authenticator(
            conn: &mut Conn,
            practice: PracticeId,
            user: UserId,
            secret: &[u8],
            step: i64,
            code_hashes: &[Vec<u8>],
        ) -> StoreResult<bool> {
            let pending = sqlx::query("DELETE FROM mfa_enrollments WHERE user_id = $1 AND secret = $2")
                .bind(user)
                .bind(secret)
                .execute(&mut *conn)
                .await?;
            if pending.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("UPDATE users SET totp_secret = $1, totp_last_step = $2 WHERE id = $3")
                .bind(secret)
                .bind(step)
                .bind(user)
                .execute(&mut *conn)
                .await?;
            replace_recovery_codes(conn, practice, user, code_hashes).await?;
            Ok(true)
        }

        /// Every recovery code of `user`, used or not, replaced by these,
        /// inside the caller's transaction.
        async fn replace_recovery_codes(
            conn: &mut Conn,
            practice: PracticeId,
            user: UserId,
            code_hashes: &[Vec<u8>],
        ) -> StoreResult<()> {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(user)
                .execute(&mut *conn)
                .await?;
            for hash in code_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, practice_id, code_hash) VALUES ($1, $2, $3)")
                    .bind(user)
                    .bind(practice)
                    .bind(hash)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        }

        /// Appends one audit event inside the caller's transaction, taking
        /// the next dense sequence number of its practice under the row lock
        /// of `audit_heads` (one event of `append_events`).
        async fn append_event(conn: &mut Conn, ev: &audit::Event, now: UnixTime) -> StoreResult<()> {
            append_events(conn, std::slice::from_ref(ev), now).await
        }

        /// Appends several audit events inside the caller's transaction:
        /// one `audit_heads` update per practice in the batch (taking a
        /// block of dense sequence numbers under its row lock) and one
        /// multi-row insert, instead of two statements per event. Events
        /// get consecutive numbers in slice order within their practice.
        async fn append_events(conn: &mut Conn, events: &[audit::Event], now: UnixTime) -> StoreResult<()> {
            // Benchmark-only build (`--features bench-no-audit`) that measures
            // what the audit log costs. Never enable it in a deployment.
            if cfg!(feature = "bench-no-audit") || events.is_empty() {
                return Ok(());
            }
            // Practices in order of first appearance, with their counts.
            let mut blocks: Vec<(PracticeId, i64)> = Vec::new();
            for ev in events {
                match blocks.iter_mut().find(|(p, _)| *p == ev.practice_id) {
                    Some((_, n)) => *n += 1,
                    None => blocks.push((ev.practice_id, 1)),
                }
            }
            let mut next: Vec<(PracticeId, i64)> = Vec::with_capacity(blocks.len());
            for (practice, n) in blocks {
                let last: i64 = sqlx::query_scalar(
                    "INSERT INTO audit_heads (practice_id, seq) VALUES ($1, $2)
                     ON CONFLICT (practice_id) DO UPDATE SET seq = audit_heads.seq + $2
                     RETURNING seq",
                )
                .bind(practice)
                .bind(n)
                .fetch_one(&mut *conn)
                .await?;
                next.push((practice, last - n + 1));
            }
            let mut rows = Vec::with_capacity(events.len());
            for ev in events {
                let Some(slot) = next.iter_mut().find(|(p, _)| *p == ev.practice_id) else {
                    return Err(StoreError::Unavailable);
                };
                let seq = slot.1;
                slot.1 += 1;
                // The Merkle leaf hash of exactly the row written below.
                let leaf_hash = audit::canonical::event_leaf_hash(ev, seq, now);
                rows.push((ev, seq, leaf_hash.to_vec(), ev.detail.as_ref().map(|d| d.to_string())));
            }
            // 14 parameters a row; stay well under SQLite's 32,766.
            for chunk in rows.chunks(1000) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO audit_events (practice_id, seq, at, actor_user_id, actor_device_id,
                         action, target_user_id, target_device_id, target_conversation_id, outcome,
                         request_id, ip, detail, leaf_hash) ",
                );
                q.push_values(chunk, |mut b, (ev, seq, leaf_hash, detail)| {
                    b.push_bind(ev.practice_id)
                        .push_bind(*seq)
                        .push_bind(now)
                        .push_bind(ev.actor_user)
                        .push_bind(ev.actor_device)
                        .push_bind(ev.action.as_str())
                        .push_bind(ev.target_user)
                        .push_bind(ev.target_device)
                        .push_bind(ev.target_conversation.as_deref())
                        .push_bind(ev.outcome.as_str())
                        .push_bind(ev.request_id.as_deref())
                        .push_bind(ev.ip.as_deref())
                        .push_bind(detail.as_deref())
                        .push_bind(&leaf_hash[..]);
                });
                q.build().execute(&mut *conn).await?;
            }
            // Where each user and device named by the batch appears
            // (`audit_subjects`): a row only the first time a subject shows
            // up in a block, so most batches write no page here.
            let mut subjects = std::collections::BTreeSet::new();
            for (ev, seq, _, _) in &rows {
                let block = seq.div_euclid($crate::audit::store::SUBJECT_BLOCK);
                let users = [ev.actor_user, ev.target_user].into_iter().flatten().map(|u| u.to_string());
                let devices = [ev.actor_device, ev.target_device].into_iter().flatten().map(|d| d.to_string());
                for subject in users.chain(devices) {
                    subjects.insert((ev.practice_id, subject, block));
                }
            }
            let subjects: Vec<_> = subjects.into_iter().collect();
            for chunk in subjects.chunks(1000) {
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO audit_subjects (practice_id, subject_id, block) ",
                );
                q.push_values(chunk, |mut b, (practice, subject, block)| {
                    b.push_bind(*practice).push_bind(subject.as_str()).push_bind(*block);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        async fn insert_invite(conn: &mut Conn, inv: &NewInvite) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO invites (id, practice_id, role, token_hash, created_by, created_at, expires_at, label, for_user)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(inv.id)
            .bind(inv.practice_id)
            .bind(inv.role.as_str())
            .bind(&inv.token_hash)
            .bind(inv.created_by)
            .bind(inv.created_at)
            .bind(inv.expires_at)
            .bind(inv.label.as_deref())
            .bind(inv.for_user)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Registers or checks the device, then stores the session.
        async fn insert_session(
            conn: &mut Conn,
            user: &User,
            device: &DeviceChoice,
            session: &NewSession,
            now: UnixTime,
        ) -> Result<DeviceId, SessionError> {
            let device_id = match device {
                DeviceChoice::New { id, name, user_agent, shared } => {
                    sqlx::query(
                        "INSERT INTO devices (id, practice_id, user_id, name, user_agent, created_at, last_seen_at, shared)
                         VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
                    )
                    .bind(*id)
                    .bind(user.practice_id)
                    .bind(user.id)
                    .bind(name)
                    .bind(user_agent)
                    .bind(now)
                    .bind(*shared)
                    .execute(&mut *conn)
                    .await?;
                    *id
                }
                DeviceChoice::Existing(id) => {
                    let revoked: Option<Option<i64>> = sqlx::query_scalar(
                        "SELECT revoked_at FROM devices WHERE id = $1 AND user_id = $2 AND practice_id = $3",
                    )
                    .bind(*id)
                    .bind(user.id)
                    .bind(user.practice_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    match revoked {
                        None => return Err(StoreError::NotFound.into()),
                        Some(Some(_)) => return Err(SessionError::DeviceRevoked),
                        Some(None) => *id,
                    }
                }
            };
            sqlx::query(
                "INSERT INTO sessions (id, practice_id, user_id, device_id, token_hash, created_at,
                     last_seen_at, expires_at, idle_timeout_secs)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
            )
            .bind(session.id)
            .bind(user.practice_id)
            .bind(user.id)
            .bind(device_id)
            .bind(&session.token_hash)
            .bind(now)
            .bind(session.expires_at)
            .bind(session.idle_timeout_secs)
            .execute(&mut *conn)
            .await?;
            sqlx::query("UPDATE devices SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(device_id)
                .execute(&mut *conn)
                .await?;
            Ok(device_id)
        }

        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn migrate(&self) -> StoreResult<()> {
                self.run_migrations().await
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            fn audit_store(&self) -> std::sync::Arc<dyn $crate::audit::store::AuditStore> {
                self.audit_pools()
            }

            async fn close(&self) {
                self.close_pools().await
            }

            async fn plain_secrets(
                &self,
                column: $crate::storage::SealedColumn,
                plain_len: usize,
            ) -> StoreResult<Vec<(String, Vec<u8>)>> {
                let (table, id, value) = column.sql();
                let len = i64::try_from(plain_len).unwrap_or(i64::MAX);
                Ok(sqlx::query_as(&format!(
                    "SELECT {id}, {value} FROM {table} WHERE {value} IS NOT NULL AND length({value}) = $1"
                ))
                .bind(len)
                .fetch_all(self.reader())
                .await?)
            }

            async fn step_done(&self, name: &str) -> StoreResult<bool> {
                let found: Option<String> =
                    sqlx::query_scalar("SELECT name FROM one_time_steps WHERE name = $1")
                        .bind(name)
                        .fetch_optional(self.writer())
                        .await?;
                Ok(found.is_some())
            }

            async fn record_step(&self, name: &str, now: $crate::clock::UnixTime) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO one_time_steps (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn reseal_secret(
                &self,
                column: $crate::storage::SealedColumn,
                id: &str,
                plain: &[u8],
                sealed: &[u8],
            ) -> StoreResult<()> {
                let (table, id_col, value) = column.sql();
                sqlx::query(&format!(
                    "UPDATE {table} SET {value} = $1 WHERE {id_col} = $2 AND {value} = $3"
                ))
                .bind(sealed)
                .bind(id)
                .bind(plain)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn practice_count(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM practices")
                    .fetch_one(self.reader())
                    .await?)
            }

            async fn sole_practice(&self) -> StoreResult<Option<PracticeId>> {
                let ids: Vec<PracticeId> = sqlx::query_scalar("SELECT id FROM practices LIMIT 2")
                    .fetch_all(self.reader())
                    .await?;
                Ok(match ids.as_slice() {
                    [only] => Some(*only),
                    _ => None,
                })
            }

            async fn create_practice(&self, practice: &Practice, admin_invite: &NewInvite) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("INSERT INTO practices (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(practice.id)
                    .bind(&practice.name)
                    .bind(practice.created_at)
                    .execute(&mut *tx)
                    .await?;
                insert_invite(&mut tx, admin_invite).await?;
                let meta = audit::RequestMeta::default();
                append_event(&mut tx, &audit::Event::new(practice.id, $crate::audit::Action::PracticeCreated, &meta), practice.created_at).await?;
                let invited = audit::Event::new(practice.id, $crate::audit::Action::InviteCreated, &meta)
                    .detail(serde_json::json!({"invite_id": admin_invite.id, "role": admin_invite.role}));
                append_event(&mut tx, &invited, practice.created_at).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn practice(&self, id: PracticeId) -> StoreResult<Practice> {
                sqlx::query_as("SELECT id, name, created_at FROM practices WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?
                    .ok_or(StoreError::NotFound)
            }

            async fn user_by_login(&self, practice: PracticeId, login: &str) -> StoreResult<User> {
                sqlx::query_as(concat!("SELECT ", user_cols!(), " FROM users u WHERE u.login = $1"))
                    .bind($crate::storage::sql::scoped_login(practice, login))
                    .fetch_optional(self.reader())
                    .await?
                    .ok_or(StoreError::NotFound)
            }

            async fn user(&self, practice: PracticeId, id: UserId) -> StoreResult<User> {
                sqlx::query_as(concat!(
                    "SELECT ", user_cols!(), " FROM users u WHERE u.id = $1 AND u.practice_id = $2"
                ))
                .bind(id)
                .bind(practice)
                .fetch_optional(self.reader())
                .await?
                .ok_or(StoreError::NotFound)
            }

            async fn list_users(&self, practice: PracticeId) -> StoreResult<Vec<User>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT ", user_cols!(), " FROM users u WHERE u.practice_id = $1
                     ORDER BY u.display_name, u.id LIMIT 5000"
                ))
                .bind(practice)
                .fetch_all(self.reader())
                .await?)
            }

            async fn start_mfa_enrollment(
                &self,
                user: &User,
                token_hash: &[u8],
                secret: &[u8],
                expires_at: UnixTime,
            ) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM mfa_enrollments WHERE user_id = $1")
                    .bind(user.id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO mfa_enrollments (token_hash, practice_id, user_id, secret, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(token_hash)
                .bind(user.practice_id)
                .bind(user.id)
                .bind(secret)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn mfa_enrollment(&self, token_hash: &[u8], now: UnixTime) -> StoreResult<(User, Vec<u8>)> {
                let secret: Option<(UserId, Vec<u8>)> = sqlx::query_as(
                    "SELECT user_id, secret FROM mfa_enrollments WHERE token_hash = $1 AND expires_at > $2",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(self.reader())
                .await?;
                let (user_id, secret) = secret.ok_or(StoreError::NotFound)?;
                let user: User = sqlx::query_as(concat!("SELECT ", user_cols!(), " FROM users u WHERE u.id = $1"))
                    .bind(user_id)
                    .fetch_one(self.reader())
                    .await?;
                Ok((user, secret))
            }

            async fn complete_mfa_enrollment(
                &self,
                user: &User,
                secret: &[u8],
                step: i64,
                recovery_code_hashes: &[Vec<u8>],
                device: &DeviceChoice,
                session: &NewSession,
                now: UnixTime,
                meta: &audit::RequestMeta,
            ) -> Result<DeviceId, SessionError> {
                let mut tx = self.writer().begin().await?;
                if !adopt_authenticator(&mut tx, user.practice_id, user.id, secret, step, recovery_code_hashes).await? {
                    // Another request completed or restarted enrolment first.
                    return Err(StoreError::NotFound.into());
                }
                let device_id = insert_session(&mut tx, user, device, session, now).await?;
                let enrolled = audit::Event::new(user.practice_id, $crate::audit::Action::AuthMfaEnrolled, meta)
                    .actor(user.id, Some(device_id))
                    .target_user(user.id);
                append_event(&mut tx, &enrolled, now).await?;
                let login = audit::Event::new(user.practice_id, $crate::audit::Action::AuthLogin, meta)
                    .actor(user.id, Some(device_id))
                    .target_device(device_id)
                    .detail(serde_json::json!({"session_id": session.id, "method": "password+totp"}));
                append_event(&mut tx, &login, now).await?;
                tx.commit().await?;
                Ok(device_id)
            }

            async fn consume_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE users SET totp_last_step = $1
                     WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
                )
                .bind(step)
                .bind(user)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn consume_recovery_code(&self, user: UserId, code_hash: &[u8], now: UnixTime) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $1
                     WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
                )
                .bind(now)
                .bind(user)
                .bind(code_hash)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reserve_auth_attempt(
                &self,
                key_hashes: &[Vec<u8>],
                attempt: &str,
                now: UnixTime,
                forget_before: UnixTime,
            ) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                for key in key_hashes {
                    sqlx::query("DELETE FROM auth_failures WHERE key_hash = $1 AND at <= $2")
                        .bind(key)
                        .bind(forget_before)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("INSERT INTO auth_failures (key_hash, at, attempt) VALUES ($1, $2, $3)")
                        .bind(key)
                        .bind(now)
                        .bind(attempt)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn drop_auth_attempt(&self, attempt: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM auth_failures WHERE attempt = $1")
                    .bind(attempt)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn count_auth_failures(&self, key_hash: &[u8], since: UnixTime) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM auth_failures WHERE key_hash = $1 AND at > $2")
                    .bind(key_hash)
                    .bind(since)
                    .fetch_one(self.reader())
                    .await?)
            }

            async fn append_audit_once(
                &self,
                event: &audit::Event,
                since: UnixTime,
                now: UnixTime,
            ) -> StoreResult<bool> {
                const SEEN: &str = "SELECT seq FROM audit_events WHERE practice_id = $1 AND action = $2
                       AND target_user_id IS NOT DISTINCT FROM $3
                       AND target_device_id IS NOT DISTINCT FROM $4 AND at > $5 LIMIT 1";
                // Most repeats end here, without taking the writer.
                let seen: Option<i64> = sqlx::query_scalar(SEEN)
                    .bind(event.practice_id)
                    .bind(event.action.as_str())
                    .bind(event.target_user)
                    .bind(event.target_device)
                    .bind(since)
                    .fetch_optional(self.reader())
                    .await?;
                if seen.is_some() {
                    return Ok(false);
                }
                let mut tx = self.writer().begin().await?;
                // A no-op write on the subject's row: concurrent callers take
                // turns here (PostgreSQL's row lock; on SQLite the one
                // writer), so the look below sees the one written before.
                if let Some(device) = event.target_device {
                    sqlx::query("UPDATE devices SET name = name WHERE id = $1")
                        .bind(device)
                        .execute(&mut *tx)
                        .await?;
                } else if let Some(user) = event.target_user {
                    sqlx::query("UPDATE users SET login = login WHERE id = $1")
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                } else {
                    sqlx::query("UPDATE practices SET name = name WHERE id = $1")
                        .bind(event.practice_id)
                        .execute(&mut *tx)
                        .await?;
                }
                let seen: Option<i64> = sqlx::query_scalar(SEEN)
                    .bind(event.practice_id)
                    .bind(event.action.as_str())
                    .bind(event.target_user)
                    .bind(event.target_device)
                    .bind(since)
                    .fetch_optional(&mut *tx)
                    .await?;
                if seen.is_some() {
                    return Ok(false);
                }
                append_events(&mut tx, std::slice::from_ref(event), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn clear_auth_failures(&self, key_hash: &[u8]) -> StoreResult<()> {
                sqlx::query("DELETE FROM auth_failures WHERE key_hash = $1")
                    .bind(key_hash)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn create_session(
                &self,
                user: &User,
                device: &DeviceChoice,
                session: &NewSession,
                now: UnixTime,
                event: audit::Event,
            ) -> Result<DeviceId, SessionError> {
                let mut tx = self.writer().begin().await?;
                let device_id = insert_session(&mut tx, user, device, session, now).await?;
                let mut event = event;
                event.actor_device = Some(device_id);
                event.target_device = Some(device_id);
                append_event(&mut tx, &event, now).await?;
                tx.commit().await?;
                Ok(device_id)
            }

            async fn session_by_token(&self, token_hash: &[u8]) -> StoreResult<SessionRecord> {
                sqlx::query_as(
                    "SELECT s.id, s.practice_id, s.user_id, s.device_id, s.last_seen_at, s.expires_at,
                            s.idle_timeout_secs, s.ended_at, s.end_reason, u.role, u.deactivated_at AS user_deactivated_at,
                            d.revoked_at AS device_revoked_at, d.shared AS device_shared,
                            d.last_seen_at AS device_last_seen_at
                     FROM sessions s
                     JOIN users u ON u.id = s.user_id AND u.practice_id = s.practice_id
                     JOIN devices d ON d.id = s.device_id AND d.practice_id = s.practice_id
                     WHERE s.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(self.reader())
                .await?
                .ok_or(StoreError::NotFound)
            }

            async fn session_by_id(&self, session: SessionId) -> StoreResult<SessionRecord> {
                sqlx::query_as(
                    "SELECT s.id, s.practice_id, s.user_id, s.device_id, s.last_seen_at, s.expires_at,
                            s.idle_timeout_secs, s.ended_at, s.end_reason, u.role, u.deactivated_at AS user_deactivated_at,
                            d.revoked_at AS device_revoked_at, d.shared AS device_shared,
                            d.last_seen_at AS device_last_seen_at
                     FROM sessions s
                     JOIN users u ON u.id = s.user_id AND u.practice_id = s.practice_id
                     JOIN devices d ON d.id = s.device_id AND d.practice_id = s.practice_id
                     WHERE s.id = $1",
                )
                .bind(session)
                .fetch_optional(self.reader())
                .await?
                .ok_or(StoreError::NotFound)
            }

            async fn touch_session(&self, session: SessionId, device: DeviceId, now: UnixTime) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL")
                    .bind(now)
                    .bind(session)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE devices SET last_seen_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(device)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn end_session(
                &self,
                session: SessionId,
                reason: &'static str,
                now: UnixTime,
                event: audit::Event,
            ) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                let ended = sqlx::query(
                    "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
                )
                .bind(now)
                .bind(reason)
                .bind(session)
                .execute(&mut *tx)
                .await?;
                // Record only the transition: a second request racing the
                // same timeout must not log the end twice.
                if ended.rows_affected() == 1 {
                    append_event(&mut tx, &event, now).await?;
                    // Signing out ends the device's push notices; an idle
                    // or aged-out session keeps them (that is when a
                    // notice is needed).
                    if reason == "logout" {
                        sqlx::query(
                            "DELETE FROM push_subscriptions
                             WHERE device_id = (SELECT device_id FROM sessions WHERE id = $1)",
                        )
                        .bind(session)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_devices(&self, practice: PracticeId, user: UserId) -> StoreResult<Vec<Device>> {
                Ok(sqlx::query_as(
                    "SELECT id, user_id, name, user_agent, created_at, last_seen_at, revoked_at, shared
                     FROM devices WHERE practice_id = $1 AND user_id = $2
                     ORDER BY created_at DESC, id",
                )
                .bind(practice)
                .bind(user)
                .fetch_all(self.reader())
                .await?)
            }

            async fn append_audits(&self, events: &[audit::Event], now: UnixTime) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                append_events(&mut tx, events, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn recent_audit(&self, practice: PracticeId, limit: i64) -> StoreResult<Vec<AuditRow>> {
                Ok(sqlx::query_as(
                    "SELECT seq, at, actor_user_id, actor_device_id, action, target_user_id,
                            target_device_id, outcome
                     FROM audit_events WHERE practice_id = $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(practice)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

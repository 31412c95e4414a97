//! The SQL behind `ReminderStore`, once for both backends (the technique of
//! `storage/sql.rs`). The bodies read facts and write rows; what to write
//! is decided by `rules::plan`.

macro_rules! impl_reminder_store {
    ($store:ty, $db:ty, $skip_locked:literal) => {
        const _: () = {
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{AppointmentId, DeviceId, NudgeId, OccurrenceId, PracticeId, ReminderId, UserId};
            use $crate::reminders::rules::{self, plan};
            use $crate::reminders::store::*;
            use $crate::storage::{StoreError, StoreResult};

            type Conn = <$db as sqlx::Database>::Connection;

            const OCCURRENCE_COLS: &str = "o.id, o.appointment_id, o.client_id, a.clinician_id, o.starts_at,
                 a.duration_minutes, a.time_zone, a.modality, o.status, a.rrule";

            /// Brings a client's pending reminders in line with their
            /// committed occurrences and preferences, inside the caller's
            /// transaction.
            async fn replan(
                conn: &mut Conn,
                practice: PracticeId,
                client: UserId,
                now: UnixTime,
                reason: &str,
            ) -> StoreResult<()> {
                // Re-plans of one client take turns on their row (a no-op
                // write, as SQLite has no FOR UPDATE): on PostgreSQL a
                // preference change and a new appointment committing side
                // by side would otherwise each plan with the other's
                // change unseen.
                sqlx::query("UPDATE users SET display_name = display_name WHERE id = $1 AND practice_id = $2")
                    .bind(client)
                    .bind(practice)
                    .execute(&mut *conn)
                    .await?;
                let prefs: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT leads_minutes, quiet_start, quiet_end FROM reminder_preferences
                     WHERE client_id = $1 AND practice_id = $2",
                )
                .bind(client)
                .bind(practice)
                .fetch_optional(&mut *conn)
                .await?;
                let (leads, quiet) = match &prefs {
                    Some((leads, qs, qe)) => (
                        plan::parse_leads(leads),
                        plan::parse_quiet(qs.as_deref(), qe.as_deref()),
                    ),
                    None => (plan::DEFAULT_LEADS_MINUTES.to_vec(), None),
                };
                let rows: Vec<(OccurrenceId, i64, String)> = sqlx::query_as(
                    "SELECT o.id, o.starts_at, a.time_zone FROM appointment_occurrences o
                     JOIN appointments a ON a.id = o.appointment_id
                     WHERE o.client_id = $1 AND o.practice_id = $2 AND o.starts_at > $3
                       AND o.status IN ('scheduled', 'confirmed')",
                )
                .bind(client)
                .bind(practice)
                .bind(now)
                .fetch_all(&mut *conn)
                .await?;
                let upcoming: Vec<plan::Upcoming<OccurrenceId>> = rows
                    .into_iter()
                    .filter_map(|(id, starts_at, tz)| {
                        Some(plan::Upcoming {
                            id,
                            starts_at,
                            tz: rules::schedule::zone(&tz).ok()?,
                        })
                    })
                    .collect();
                let pending: Vec<(ReminderId, OccurrenceId, i64, i64)> = sqlx::query_as(
                    "SELECT id, occurrence_id, lead_minutes, due_at FROM reminders
                     WHERE client_id = $1 AND practice_id = $2 AND status = 'pending'",
                )
                .bind(client)
                .bind(practice)
                .fetch_all(&mut *conn)
                .await?;
                let pending: Vec<plan::Pending<OccurrenceId, ReminderId>> = pending
                    .into_iter()
                    .map(|(row, occurrence, lead, due_at)| plan::Pending {
                        row,
                        occurrence,
                        lead_minutes: u32::try_from(lead).unwrap_or(0),
                        due_at,
                    })
                    .collect();
                let changes = plan::replan(&upcoming, &pending, &leads, quiet, now);
                for row in changes.withdraw {
                    sqlx::query(
                        "UPDATE reminders SET status = 'withdrawn', reason = $1, updated_at = $2
                         WHERE id = $3 AND status = 'pending'",
                    )
                    .bind(reason)
                    .bind(now)
                    .bind(row)
                    .execute(&mut *conn)
                    .await?;
                }
                for w in changes.create {
                    sqlx::query(
                        "INSERT INTO reminders (id, practice_id, occurrence_id, client_id, lead_minutes, due_at, status, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)",
                    )
                    .bind(ReminderId::new())
                    .bind(practice)
                    .bind(w.occurrence)
                    .bind(client)
                    .bind(i64::from(w.lead_minutes))
                    .bind(w.due_at)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            async fn insert_occurrences(
                conn: &mut Conn,
                practice: PracticeId,
                appointment: AppointmentId,
                client: UserId,
                starts: &[UnixTime],
                now: UnixTime,
            ) -> StoreResult<Vec<OccurrenceId>> {
                let mut ids = Vec::with_capacity(starts.len());
                for &starts_at in starts {
                    let id = OccurrenceId::new();
                    sqlx::query(
                        "INSERT INTO appointment_occurrences (id, appointment_id, practice_id, client_id, starts_at, status, updated_at)
                         VALUES ($1, $2, $3, $4, $5, 'scheduled', $6)",
                    )
                    .bind(id)
                    .bind(appointment)
                    .bind(practice)
                    .bind(client)
                    .bind(starts_at)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    ids.push(id);
                }
                Ok(ids)
            }

            async fn series(conn: &mut Conn, practice: PracticeId, id: AppointmentId) -> StoreResult<Appointment> {
                sqlx::query_as(
                    "SELECT id, practice_id, client_id, clinician_id, time_zone, start_local, duration_minutes,
                            rrule, modality, created_by, created_at, updated_at
                     FROM appointments WHERE id = $1 AND practice_id = $2",
                )
                .bind(id)
                .bind(practice)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or(StoreError::NotFound)
            }

            #[async_trait::async_trait]
            impl ReminderStore for $store {
                async fn create_appointment(
                    &self,
                    a: &NewAppointment,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<Vec<OccurrenceId>> {
                    let mut tx = self.writer().begin().await?;
                    sqlx::query(
                        "INSERT INTO appointments (id, practice_id, client_id, clinician_id, time_zone, start_local,
                            duration_minutes, rrule, modality, created_by, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                    )
                    .bind(a.id)
                    .bind(a.practice_id)
                    .bind(a.client_id)
                    .bind(a.clinician_id)
                    .bind(&a.timing.time_zone)
                    .bind(&a.timing.start_local)
                    .bind(a.timing.duration_minutes)
                    .bind(&a.timing.rrule)
                    .bind(a.timing.modality)
                    .bind(a.created_by)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let ids = insert_occurrences(&mut tx, a.practice_id, a.id, a.client_id, &a.timing.occurrences, now).await?;
                    replan(&mut tx, a.practice_id, a.client_id, now, "rescheduled").await?;
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(ids)
                }

                async fn appointment(&self, practice: PracticeId, id: AppointmentId) -> StoreResult<Appointment> {
                    let mut conn = self.reader().acquire().await?;
                    series(&mut conn, practice, id).await
                }

                async fn reschedule_appointment(
                    &self,
                    practice: PracticeId,
                    id: AppointmentId,
                    t: &Timing,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<Vec<OccurrenceId>> {
                    let mut tx = self.writer().begin().await?;
                    let a = series(&mut tx, practice, id).await?;
                    // The series' future times as they stand, to keep a
                    // cancelled week cancelled (`rules::schedule::moved_times`).
                    let before: Vec<(UnixTime, String)> = sqlx::query_as(
                        "SELECT starts_at, status FROM appointment_occurrences
                         WHERE appointment_id = $1 AND practice_id = $2 AND starts_at > $3
                           AND status <> 'rescheduled'
                         ORDER BY starts_at",
                    )
                    .bind(id)
                    .bind(practice)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                    let before: Vec<(UnixTime, bool)> =
                        before.into_iter().map(|(at, status)| (at, status == "cancelled")).collect();
                    sqlx::query(
                        "UPDATE appointments SET time_zone = $1, start_local = $2, duration_minutes = $3, rrule = $4,
                            modality = $5, updated_at = $6 WHERE id = $7 AND practice_id = $8",
                    )
                    .bind(&t.time_zone)
                    .bind(&t.start_local)
                    .bind(t.duration_minutes)
                    .bind(&t.rrule)
                    .bind(t.modality)
                    .bind(now)
                    .bind(id)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE appointment_occurrences SET status = 'rescheduled', updated_at = $1
                         WHERE appointment_id = $2 AND practice_id = $3 AND starts_at > $1
                           AND status IN ('scheduled', 'confirmed', 'no_reply')",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    let future = rules::schedule::moved_times(&before, &t.occurrences, now);
                    let ids = insert_occurrences(&mut tx, practice, id, a.client_id, &future, now).await?;
                    replan(&mut tx, practice, a.client_id, now, "rescheduled").await?;
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(ids)
                }

                async fn cancel_appointment(
                    &self,
                    practice: PracticeId,
                    id: AppointmentId,
                    occurrence: Option<OccurrenceId>,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let a = series(&mut tx, practice, id).await?;
                    let done = sqlx::query(
                        "UPDATE appointment_occurrences SET status = 'cancelled', updated_at = $1
                         WHERE appointment_id = $2 AND practice_id = $3 AND starts_at > $1
                           AND status IN ('scheduled', 'confirmed', 'no_reply')
                           AND ($4 IS NULL OR id = $4)",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(practice)
                    .bind(occurrence)
                    .execute(&mut *tx)
                    .await?;
                    if occurrence.is_some() && done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    replan(&mut tx, practice, a.client_id, now, "cancelled").await?;
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn set_occurrence_status(
                    &self,
                    practice: PracticeId,
                    occurrence: OccurrenceId,
                    client: Option<UserId>,
                    status: &'static str,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<Occurrence> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE appointment_occurrences SET status = $1, updated_at = $2
                         WHERE id = $3 AND practice_id = $4 AND starts_at > $2
                           AND status IN ('scheduled', 'confirmed', 'no_reply')
                           AND ($5 IS NULL OR client_id = $5)",
                    )
                    .bind(status)
                    .bind(now)
                    .bind(occurrence)
                    .bind(practice)
                    .bind(client)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    let occ: Occurrence = sqlx::query_as(&format!(
                        "SELECT {OCCURRENCE_COLS} FROM appointment_occurrences o
                         JOIN appointments a ON a.id = o.appointment_id WHERE o.id = $1"
                    ))
                    .bind(occurrence)
                    .fetch_one(&mut *tx)
                    .await?;
                    replan(&mut tx, practice, occ.client_id, now, status).await?;
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(occ)
                }

                async fn occurrences(
                    &self,
                    practice: PracticeId,
                    client: Option<UserId>,
                    clinician: Option<UserId>,
                    from: UnixTime,
                ) -> StoreResult<Vec<Occurrence>> {
                    Ok(sqlx::query_as(&format!(
                        "SELECT {OCCURRENCE_COLS} FROM appointment_occurrences o
                         JOIN appointments a ON a.id = o.appointment_id
                         WHERE o.practice_id = $1 AND o.starts_at >= $2
                           AND ($3 IS NULL OR o.client_id = $3)
                           AND ($4 IS NULL OR a.clinician_id = $4)
                           AND o.status <> 'rescheduled'
                         ORDER BY o.starts_at LIMIT 500"
                    ))
                    .bind(practice)
                    .bind(from)
                    .bind(client)
                    .bind(clinician)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn reminder_preferences(
                    &self,
                    practice: PracticeId,
                    client: UserId,
                ) -> StoreResult<Option<PreferencesRow>> {
                    Ok(sqlx::query_as(
                        "SELECT client_id, practice_id, email_enabled, sms_enabled, email_ct, phone_ct, phone_index, quiet_start,
                                quiet_end, time_zone, sender, leads_minutes, language, opted_out, updated_by, updated_at
                         FROM reminder_preferences WHERE client_id = $1 AND practice_id = $2",
                    )
                    .bind(client)
                    .bind(practice)
                    .fetch_optional(self.reader())
                    .await?)
                }

                async fn put_reminder_preferences(
                    &self,
                    p: &PreferencesRow,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    // The client must be a client of this practice.
                    let ok: Option<String> = sqlx::query_scalar(
                        "SELECT id FROM users WHERE id = $1 AND practice_id = $2 AND role = 'client'",
                    )
                    .bind(p.client_id)
                    .bind(p.practice_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if ok.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query(
                        "INSERT INTO reminder_preferences (client_id, practice_id, email_enabled, sms_enabled, email_ct,
                            phone_ct, quiet_start, quiet_end, sender, leads_minutes, language, opted_out, updated_by, updated_at,
                            phone_index, time_zone)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                         ON CONFLICT (client_id) DO UPDATE SET email_enabled = excluded.email_enabled,
                            sms_enabled = excluded.sms_enabled, email_ct = excluded.email_ct, phone_ct = excluded.phone_ct,
                            phone_index = excluded.phone_index,
                            quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, time_zone = excluded.time_zone,
                            sender = excluded.sender, leads_minutes = excluded.leads_minutes, language = excluded.language,
                            opted_out = excluded.opted_out, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    )
                    .bind(p.client_id)
                    .bind(p.practice_id)
                    .bind(p.email_enabled)
                    .bind(p.sms_enabled)
                    .bind(&p.email_ct)
                    .bind(&p.phone_ct)
                    .bind(&p.quiet_start)
                    .bind(&p.quiet_end)
                    .bind(&p.sender)
                    .bind(&p.leads_minutes)
                    .bind(&p.language)
                    .bind(p.opted_out)
                    .bind(p.updated_by)
                    .bind(now)
                    .bind(&p.phone_index)
                    .bind(&p.time_zone)
                    .execute(&mut *tx)
                    .await?;
                    replan(&mut tx, p.practice_id, p.client_id, now, "preferences_changed").await?;
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn reminder_template(
                    &self,
                    practice: PracticeId,
                    kind: &'static str,
                    language: &'static str,
                ) -> StoreResult<Option<TemplateRow>> {
                    Ok(sqlx::query_as(
                        "SELECT version, sms, email_subject, email_body, created_by, created_at FROM reminder_templates
                         WHERE practice_id = $1 AND kind = $2 AND language = $3 ORDER BY version DESC LIMIT 1",
                    )
                    .bind(practice)
                    .bind(kind)
                    .bind(language)
                    .fetch_optional(self.reader())
                    .await?)
                }

                async fn put_reminder_template(
                    &self,
                    practice: PracticeId,
                    kind: &'static str,
                    language: &'static str,
                    texts: &rules::defaults::Texts,
                    by: UserId,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<i64> {
                    let mut tx = self.writer().begin().await?;
                    // Saves of one practice's templates take turns on its
                    // row (a no-op write: SQLite has no FOR UPDATE, and its
                    // one writer serialises anyway), so the next version
                    // number read below is not read twice.
                    sqlx::query("UPDATE practices SET name = name WHERE id = $1")
                        .bind(practice)
                        .execute(&mut *tx)
                        .await?;
                    let version: i64 = sqlx::query_scalar(
                        "SELECT COALESCE(MAX(version), 0) + 1 FROM reminder_templates
                         WHERE practice_id = $1 AND kind = $2 AND language = $3",
                    )
                    .bind(practice)
                    .bind(kind)
                    .bind(language)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO reminder_templates (practice_id, kind, language, version, sms, email_subject,
                            email_body, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(practice)
                    .bind(kind)
                    .bind(language)
                    .bind(version)
                    .bind(&texts.sms)
                    .bind(&texts.email_subject)
                    .bind(&texts.email_body)
                    .bind(by)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let mut event = event;
                    event.detail = Some(serde_json::json!({ "kind": kind, "language": language, "version": version }));
                    append_event(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(version)
                }

                async fn clients_by_phone(&self, index: &[u8]) -> StoreResult<Vec<(PracticeId, UserId)>> {
                    Ok(sqlx::query_as(
                        "SELECT practice_id, client_id FROM reminder_preferences WHERE phone_index = $1",
                    )
                    .bind(index)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn appointment_watchers(
                    &self,
                    practice: PracticeId,
                    client: UserId,
                    clinician: UserId,
                ) -> StoreResult<Vec<crate::ids::DeviceId>> {
                    Ok(sqlx::query_scalar(
                        "SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id
                         WHERE d.practice_id = $1 AND d.revoked_at IS NULL
                           AND u.deactivated_at IS NULL
                           AND (u.id = $2 OR u.id = $3 OR u.role = 'admin')",
                    )
                    .bind(practice)
                    .bind(client)
                    .bind(clinician)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn next_occurrence(
                    &self,
                    practice: PracticeId,
                    client: UserId,
                    now: UnixTime,
                ) -> StoreResult<Option<OccurrenceId>> {
                    Ok(sqlx::query_scalar(
                        "SELECT id FROM appointment_occurrences
                         WHERE practice_id = $1 AND client_id = $2 AND starts_at > $3
                           AND status IN ('scheduled', 'confirmed', 'no_reply')
                         ORDER BY starts_at LIMIT 1",
                    )
                    .bind(practice)
                    .bind(client)
                    .bind(now)
                    .fetch_optional(self.reader())
                    .await?)
                }

                async fn claim_due_reminders(
                    &self,
                    now: UnixTime,
                    lease_until: UnixTime,
                    limit: i64,
                ) -> StoreResult<Vec<DueReminder>> {
                    // One statement claims the batch; the round's token reads
                    // back exactly its rows (the writer is held for two
                    // statements, not two per reminder).
                    let claim = uuid::Uuid::new_v4().to_string();
                    let mut tx = self.writer().begin().await?;
                    sqlx::query(concat!(
                        "UPDATE reminders SET lease_until = $1, attempts = attempts + 1, updated_at = $2, claim = $3
                         WHERE id IN (
                             SELECT id FROM reminders
                             WHERE status = 'pending' AND due_at <= $2 AND (lease_until IS NULL OR lease_until <= $2)
                             ORDER BY due_at LIMIT $4 ",
                        $skip_locked,
                        ")"
                    ))
                    .bind(lease_until)
                    .bind(now)
                    .bind(&claim)
                    .bind(limit)
                    .execute(&mut *tx)
                    .await?;
                    let due: Vec<DueReminder> = sqlx::query_as(
                        "SELECT r.id, r.practice_id, r.client_id, r.occurrence_id, r.due_at, r.attempts, o.starts_at,
                                o.status AS occurrence_status, a.time_zone, a.clinician_id,
                                u.display_name AS clinician_name,
                                p.name AS practice_name, r.channel AS sent_channels, r.provider_id AS sent_ids,
                                r.claim
                         FROM reminders r
                         JOIN appointment_occurrences o ON o.id = r.occurrence_id
                         JOIN appointments a ON a.id = o.appointment_id
                         JOIN users u ON u.id = a.clinician_id
                         JOIN practices p ON p.id = r.practice_id
                         WHERE r.claim = $1
                         ORDER BY r.due_at",
                    )
                    .bind(&claim)
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(due)
                }

                async fn claimed_preferences(&self, claim: &str) -> StoreResult<Vec<PreferencesRow>> {
                    Ok(sqlx::query_as(
                        "SELECT p.client_id, p.practice_id, p.email_enabled, p.sms_enabled, p.email_ct, p.phone_ct,
                                p.phone_index, p.quiet_start, p.quiet_end, p.time_zone, p.sender, p.leads_minutes,
                                p.language, p.opted_out, p.updated_by, p.updated_at
                         FROM reminder_preferences p
                         WHERE EXISTS (SELECT 1 FROM reminders r
                                       WHERE r.claim = $1 AND r.client_id = p.client_id
                                         AND r.practice_id = p.practice_id)",
                    )
                    .bind(claim)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn finish_reminders(
                    &self,
                    finished: &[(Finish, audit::Event)],
                    now: UnixTime,
                ) -> StoreResult<()> {
                    if finished.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.writer().begin().await?;
                    let mut events = Vec::with_capacity(finished.len());
                    for (f, event) in finished {
                        let done = sqlx::query(
                            "UPDATE reminders SET status = $1, channel = COALESCE($2, channel),
                                provider_id = COALESCE($3, provider_id), reason = $4,
                                sent_at = CASE WHEN $1 = 'sent' THEN $5 ELSE sent_at END,
                                lease_until = $6, updated_at = $5
                             WHERE id = $7 AND practice_id = $8 AND (status = 'pending' OR $1 = 'sent')",
                        )
                        .bind(f.status)
                        .bind(&f.channel)
                        .bind(&f.provider_id)
                        .bind(&f.reason)
                        .bind(now)
                        .bind(f.retry_at)
                        .bind(f.id)
                        .bind(f.practice_id)
                        .execute(&mut *tx)
                        .await?;
                        // A retry is not an event; an end is, once.
                        if done.rows_affected() == 1 && f.status != "pending" {
                            events.push(event.clone());
                        }
                    }
                    append_events(&mut tx, &events, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn claim_nudges(
                    &self,
                    now: UnixTime,
                    lease_until: UnixTime,
                    limit: i64,
                ) -> StoreResult<Vec<NudgeCandidate>> {
                    let mut tx = self.writer().begin().await?;
                    // The plain bound on awaiting_client_since keeps the
                    // index in use; the practice's delay is applied after.
                    let candidates: Vec<(String, PracticeId)> = sqlx::query_as(
                        "SELECT c.id, c.practice_id FROM conversations c
                         JOIN practices p ON p.id = c.practice_id
                         LEFT JOIN nudge_state n ON n.conversation_id = c.id
                         WHERE c.awaiting_client_since <= $1
                           AND p.nudge_after_minutes > 0
                           AND c.awaiting_client_since <= $1 - 60 * p.nudge_after_minutes
                           AND (n.not_before IS NULL OR n.not_before <= $1)
                           AND (n.lease_until IS NULL OR n.lease_until <= $1)
                         ORDER BY c.awaiting_client_since LIMIT $2",
                    )
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut out = Vec::with_capacity(candidates.len());
                    for (conversation, practice) in candidates {
                        // Only one node's upsert passes the lease condition.
                        let won: Option<String> = sqlx::query_scalar(
                            "INSERT INTO nudge_state (conversation_id, practice_id, lease_until) VALUES ($1, $2, $3)
                             ON CONFLICT (conversation_id) DO UPDATE SET lease_until = excluded.lease_until
                             WHERE nudge_state.lease_until IS NULL OR nudge_state.lease_until <= $4
                             RETURNING conversation_id",
                        )
                        .bind(&conversation)
                        .bind(practice)
                        .bind(lease_until)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if won.is_none() {
                            continue;
                        }
                        let row: (UserId, String, String, i64, i64, i64, i64, Option<i64>, bool) = sqlx::query_as(
                            "SELECT c.client_user_id, su.display_name, p.name, c.last_seq, p.nudge_after_minutes,
                                    p.nudge_cooldown_minutes, n.attempts, n.last_sent_at, cu.deactivated_at IS NULL
                             FROM conversations c
                             JOIN practices p ON p.id = c.practice_id
                             JOIN users su ON su.id = c.staff_user_id
                             JOIN users cu ON cu.id = c.client_user_id
                             JOIN nudge_state n ON n.conversation_id = c.id
                             WHERE c.id = $1",
                        )
                        .bind(&conversation)
                        .fetch_one(&mut *tx)
                        .await?;
                        let (client, clinician_name, practice_name, last_seq, after, cooldown, attempts, last_sent, active) = row;
                        // Read by a device the client still has: a message
                        // only a since-revoked device took has not reached
                        // them.
                        let acked: i64 = sqlx::query_scalar(
                            "SELECT COALESCE(MAX(dc.acked_seq), 0) FROM delivery_cursors dc
                             JOIN devices d ON d.id = dc.device_id
                             WHERE dc.conversation_id = $1 AND d.user_id = $2 AND d.revoked_at IS NULL",
                        )
                        .bind(&conversation)
                        .bind(client)
                        .fetch_one(&mut *tx)
                        .await?;
                        let unread: Option<(i64, i64)> = sqlx::query_as(
                            "SELECT m.seq, m.created_at FROM messages m
                             WHERE m.conversation_id = $1 AND m.seq > $2 AND m.kind = 'application'
                               AND (m.sender_device_id IS NULL
                                    OR m.sender_device_id NOT IN (SELECT id FROM devices WHERE user_id = $3))
                             ORDER BY m.seq LIMIT 1",
                        )
                        .bind(&conversation)
                        .bind(acked)
                        .bind(client)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let client_devices: Vec<DeviceId> = sqlx::query_scalar(
                            "SELECT id FROM devices WHERE user_id = $1 AND revoked_at IS NULL",
                        )
                        .bind(client)
                        .fetch_all(&mut *tx)
                        .await?;
                        let appointment_zone: Option<String> = sqlx::query_scalar(
                            "SELECT time_zone FROM appointments WHERE practice_id = $1 AND client_id = $2
                             ORDER BY updated_at DESC LIMIT 1",
                        )
                        .bind(practice)
                        .bind(client)
                        .fetch_optional(&mut *tx)
                        .await?;
                        out.push(NudgeCandidate {
                            conversation_id: conversation,
                            practice_id: practice,
                            client_id: client,
                            clinician_name,
                            practice_name,
                            last_seq,
                            after_minutes: after,
                            cooldown_minutes: cooldown,
                            attempts,
                            last_sent_at: last_sent,
                            unread,
                            client_devices,
                            client_active: active,
                            appointment_zone,
                        });
                    }
                    tx.commit().await?;
                    Ok(out)
                }

                async fn finish_nudges(&self, finished: &[NudgeFinish], now: UnixTime) -> StoreResult<()> {
                    if finished.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.writer().begin().await?;
                    let mut events = Vec::new();
                    for f in finished {
                        sqlx::query(
                            "UPDATE conversations SET awaiting_client_seq = $1, awaiting_client_since = $2
                             WHERE id = $3 AND last_seq = $4",
                        )
                        .bind(f.awaiting.map(|a| a.0))
                        .bind(f.awaiting.map(|a| a.1))
                        .bind(&f.conversation_id)
                        .bind(f.last_seq)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query(
                            "UPDATE nudge_state SET lease_until = NULL, not_before = $1, attempts = $2,
                                last_sent_at = COALESCE($3, last_sent_at)
                             WHERE conversation_id = $4",
                        )
                        .bind(f.not_before)
                        .bind(f.attempts)
                        .bind(f.sent_at)
                        .bind(&f.conversation_id)
                        .execute(&mut *tx)
                        .await?;
                        if let Some(r) = &f.record {
                            sqlx::query(
                                "INSERT INTO nudges (id, practice_id, conversation_id, client_id, status, channel,
                                    provider_id, reason, created_at)
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                            )
                            .bind(NudgeId::new())
                            .bind(f.practice_id)
                            .bind(&f.conversation_id)
                            .bind(f.client_id)
                            .bind(r.status)
                            .bind(&r.channel)
                            .bind(&r.provider_id)
                            .bind(&r.reason)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                        if let Some(event) = &f.event {
                            events.push(event.clone());
                        }
                    }
                    append_events(&mut tx, &events, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn nudge_settings(&self, practice: PracticeId) -> StoreResult<(i64, i64)> {
                    sqlx::query_as("SELECT nudge_after_minutes, nudge_cooldown_minutes FROM practices WHERE id = $1")
                        .bind(practice)
                        .fetch_optional(self.reader())
                        .await?
                        .ok_or(StoreError::NotFound)
                }

                async fn put_nudge_settings(
                    &self,
                    practice: PracticeId,
                    after_minutes: i64,
                    cooldown_minutes: i64,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE practices SET nudge_after_minutes = $1, nudge_cooldown_minutes = $2 WHERE id = $3",
                    )
                    .bind(after_minutes)
                    .bind(cooldown_minutes)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    commit_one(tx, done.rows_affected(), &event, now).await
                }

                async fn list_nudges(
                    &self,
                    practice: PracticeId,
                    staff: Option<UserId>,
                    limit: i64,
                ) -> StoreResult<Vec<NudgeView>> {
                    Ok(sqlx::query_as(
                        "SELECT n.id, n.conversation_id, n.client_id, n.status, n.channel, n.reason, n.created_at
                         FROM nudges n JOIN conversations c ON c.id = n.conversation_id
                         WHERE n.practice_id = $1 AND ($2 IS NULL OR c.staff_user_id = $2)
                         ORDER BY n.created_at DESC, n.id LIMIT $3",
                    )
                    .bind(practice)
                    .bind(staff)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn list_reminders(
                    &self,
                    practice: PracticeId,
                    clinician: Option<UserId>,
                    limit: i64,
                ) -> StoreResult<Vec<ReminderView>> {
                    Ok(sqlx::query_as(
                        "SELECT r.id, r.occurrence_id, r.client_id, a.clinician_id, o.starts_at, a.time_zone, r.lead_minutes, r.due_at,
                                r.status, r.attempts, r.channel, r.reason, r.sent_at
                         FROM reminders r
                         JOIN appointment_occurrences o ON o.id = r.occurrence_id
                         JOIN appointments a ON a.id = o.appointment_id
                         WHERE r.practice_id = $1 AND ($2 IS NULL OR a.clinician_id = $2)
                         ORDER BY r.due_at DESC LIMIT $3",
                    )
                    .bind(practice)
                    .bind(clinician)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?)
                }
            }
        };
    };
}

//! The SQL behind `IncidentStore`, once for both backends (the technique
//! of `storage/sql.rs`). The bodies read facts and write rows; what to
//! write is decided by `rules` and the service.

macro_rules! impl_incident_store {
    ($store:ty, $db:ty, $skip_locked:literal) => {
        const _: () = {
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{IncidentId, PracticeId, UserId, WebhookEndpointId};
            use $crate::incidents::store::*;
            use $crate::storage::{StoreError, StoreResult};

            type Conn = <$db as sqlx::Database>::Connection;

            const INCIDENT_COLS: &str = "id, practice_id, kind, status, decision, discovered_at, reported_by, cause,
                 affected_count, max_state_residents, delayed_until, created_at, updated_at, exception, account_since";

            /// Appends a timeline entry (the next seq of the incident).
            async fn timeline(
                conn: &mut Conn,
                incident: IncidentId,
                at: UnixTime,
                actor: Option<$crate::ids::UserId>,
                entry: &str,
                note: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO incident_timeline (incident_id, seq, at, actor_user_id, entry, note)
                     VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM incident_timeline WHERE incident_id = $1),
                             $2, $3, $4, $5)",
                )
                .bind(incident)
                .bind(at)
                .bind(actor)
                .bind(entry)
                .bind(note)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Inserts an incident unless its cause is already open; whether
            /// it was inserted.
            async fn insert_incident(conn: &mut Conn, n: &NewIncident, now: UnixTime) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO incidents (id, practice_id, kind, status, discovered_at, reported_by, cause,
                        created_at, updated_at)
                     VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $7)
                     ON CONFLICT DO NOTHING",
                )
                .bind(n.id)
                .bind(n.practice_id)
                .bind(n.kind)
                .bind(n.discovered_at)
                .bind(n.reported_by)
                .bind(&n.cause)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                for s in &n.subjects {
                    sqlx::query("INSERT INTO incident_subjects (incident_id, user_id, device_id) VALUES ($1, $2, $3)")
                        .bind(n.id)
                        .bind(s.user_id)
                        .bind(s.device_id)
                        .execute(&mut *conn)
                        .await?;
                }
                timeline(conn, n.id, now, n.reported_by, &n.entry, n.note.as_deref()).await?;
                Ok(true)
            }

            #[async_trait::async_trait]
            impl IncidentStore for $store {
                async fn open_incident(&self, new: &NewIncident, event: audit::Event, now: UnixTime) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await?;
                    if !insert_incident(&mut tx, new, now).await? {
                        return Ok(false);
                    }
                    append_events(&mut tx, std::slice::from_ref(&event), now).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn incident(
                    &self,
                    practice: PracticeId,
                    id: IncidentId,
                ) -> StoreResult<(IncidentRow, Vec<Subject>, Vec<TimelineEntry>)> {
                    let row: IncidentRow = sqlx::query_as(&format!(
                        "SELECT {INCIDENT_COLS} FROM incidents WHERE id = $1 AND practice_id = $2"
                    ))
                    .bind(id)
                    .bind(practice)
                    .fetch_optional(self.reader())
                    .await?
                    .ok_or(StoreError::NotFound)?;
                    let subjects = sqlx::query_as("SELECT user_id, device_id FROM incident_subjects WHERE incident_id = $1")
                        .bind(id)
                        .fetch_all(self.reader())
                        .await?;
                    let entries = sqlx::query_as(
                        "SELECT seq, at, actor_user_id, entry, note FROM incident_timeline WHERE incident_id = $1 ORDER BY seq",
                    )
                    .bind(id)
                    .fetch_all(self.reader())
                    .await?;
                    Ok((row, subjects, entries))
                }

                async fn actions_by(
                    &self,
                    practice: PracticeId,
                    actor: &str,
                    actions: &[&'static str],
                    since: UnixTime,
                    until_seq: i64,
                ) -> StoreResult<i64> {
                    // Placeholders only: the names are the detectors'
                    // constants, bound like any value.
                    let list = (0..actions.len())
                        .map(|i| format!("${}", i + 5))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = format!(
                        "SELECT COUNT(*) FROM audit_events
                         WHERE practice_id = $1 AND actor_user_id = $2
                           AND at > $3 AND seq <= $4 AND action IN ({list})"
                    );
                    let mut q = sqlx::query_scalar(&sql)
                        .bind(practice)
                        .bind(actor)
                        .bind(since)
                        .bind(until_seq);
                    for a in actions {
                        q = q.bind(*a);
                    }
                    Ok(q.fetch_one(self.reader()).await?)
                }

                async fn incident_event_seqs(
                    &self,
                    practice: PracticeId,
                    incident: IncidentId,
                ) -> StoreResult<Vec<i64>> {
                    // The id is a UUID, so a match inside the JSON detail
                    // is exact; the action prefix keeps it to incidents'.
                    Ok(sqlx::query_scalar(
                        "SELECT seq FROM audit_events
                         WHERE practice_id = $1 AND action LIKE 'incident.%' AND detail LIKE $2
                         ORDER BY seq LIMIT 10000",
                    )
                    .bind(practice)
                    .bind(format!("%\"incident_id\":\"{incident}\"%"))
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn report_export_seq(
                    &self,
                    practice: PracticeId,
                    record_sha256: &str,
                ) -> StoreResult<Option<i64>> {
                    // The digest is hex: a match inside the JSON detail is
                    // exact.
                    Ok(sqlx::query_scalar(
                        "SELECT MAX(seq) FROM audit_events
                         WHERE practice_id = $1 AND action = 'incident.report_exported' AND detail LIKE $2",
                    )
                    .bind(practice)
                    .bind(format!("%\"record_sha256\":\"{record_sha256}\"%"))
                    .fetch_one(self.reader())
                    .await?)
                }

                async fn assessment(
                    &self,
                    practice: PracticeId,
                    incident: IncidentId,
                ) -> StoreResult<Option<AssessmentRow>> {
                    Ok(sqlx::query_as(
                        "SELECT statements, version, updated_by, updated_at, signed_off_by, signed_off_at
                         FROM incident_assessments WHERE incident_id = $1 AND practice_id = $2",
                    )
                    .bind(incident)
                    .bind(practice)
                    .fetch_optional(self.reader())
                    .await?)
                }

                async fn write_assessment(
                    &self,
                    practice: PracticeId,
                    incident: IncidentId,
                    w: &AssessmentWrite,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await?;
                    // A sign-off signs a decision: the incident must still
                    // have one (it is read in this transaction; a decision
                    // cannot be changed once signed, see the service).
                    if w.sign_off {
                        let decided: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM incidents WHERE id = $1 AND practice_id = $2
                               AND status IN ('decided', 'notifying', 'closed') AND decision IS NOT NULL",
                        )
                        .bind(incident)
                        .bind(practice)
                        .fetch_one(&mut *tx)
                        .await?;
                        if decided == 0 {
                            return Ok(false);
                        }
                    }
                    let signed_by = w.sign_off.then_some(w.actor);
                    let signed_at = w.sign_off.then_some(now);
                    let done = if w.expected_version == 0 {
                        sqlx::query(
                            "INSERT INTO incident_assessments
                               (incident_id, practice_id, statements, version, updated_by, updated_at, signed_off_by, signed_off_at)
                             SELECT $1, $2, $3, 1, $4, $5, $6, $7 WHERE EXISTS
                               (SELECT 1 FROM incidents WHERE id = $1 AND practice_id = $2)
                             ON CONFLICT (incident_id) DO NOTHING",
                        )
                        .bind(incident)
                        .bind(practice)
                        .bind(&w.statements)
                        .bind(w.actor)
                        .bind(now)
                        .bind(signed_by)
                        .bind(signed_at)
                        .execute(&mut *tx)
                        .await?
                    } else {
                        sqlx::query(
                            "UPDATE incident_assessments SET statements = $1, version = version + 1,
                                 updated_by = $2, updated_at = $3,
                                 signed_off_by = $4, signed_off_at = $5
                             WHERE incident_id = $6 AND practice_id = $7 AND version = $8
                               AND signed_off_at IS NULL",
                        )
                        .bind(&w.statements)
                        .bind(w.actor)
                        .bind(now)
                        .bind(signed_by)
                        .bind(signed_at)
                        .bind(incident)
                        .bind(practice)
                        .bind(w.expected_version)
                        .execute(&mut *tx)
                        .await?
                    };
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    timeline(&mut tx, incident, now, Some(w.actor), &w.entry, None).await?;
                    append_events(&mut tx, std::slice::from_ref(&event), now).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn list_incidents(&self, practice: PracticeId, limit: i64) -> StoreResult<Vec<IncidentRow>> {
                    Ok(sqlx::query_as(&format!(
                        "SELECT {INCIDENT_COLS} FROM incidents WHERE practice_id = $1 ORDER BY created_at DESC, id LIMIT $2"
                    ))
                    .bind(practice)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn change_incident(
                    &self,
                    practice: PracticeId,
                    id: IncidentId,
                    c: &IncidentChange,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE incidents SET status = $1, decision = $2, discovered_at = $3, affected_count = $4,
                            max_state_residents = $5, delayed_until = $6, updated_at = $7, exception = $11,
                            account_since = $12
                         WHERE id = $8 AND practice_id = $9 AND status = $10",
                    )
                    .bind(&c.status)
                    .bind(&c.decision)
                    .bind(c.discovered_at)
                    .bind(c.affected_count)
                    .bind(c.max_state_residents)
                    .bind(c.delayed_until)
                    .bind(now)
                    .bind(id)
                    .bind(practice)
                    .bind(&c.expected_status)
                    .bind(&c.exception)
                    .bind(c.account_since)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    timeline(&mut tx, id, now, Some(c.actor), &c.entry, c.note.as_deref()).await?;
                    append_events(&mut tx, std::slice::from_ref(&event), now).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn claim_watch(
                    &self,
                    now: UnixTime,
                    lease_until: UnixTime,
                    limit: i64,
                ) -> StoreResult<Vec<(PracticeId, i64)>> {
                    let mut tx = self.writer().begin().await?;
                    let behind: Vec<(PracticeId, i64)> = sqlx::query_as(
                        "SELECT h.practice_id, COALESCE(w.seq, 0) FROM audit_heads h
                         LEFT JOIN incident_watch w ON w.practice_id = h.practice_id
                         WHERE h.seq > COALESCE(w.seq, 0) AND (w.lease_until IS NULL OR w.lease_until <= $1)
                         ORDER BY h.practice_id LIMIT $2",
                    )
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut out = Vec::with_capacity(behind.len());
                    for (practice, seq) in behind {
                        // Only one node's upsert passes the lease condition.
                        let won: Option<i64> = sqlx::query_scalar(
                            "INSERT INTO incident_watch (practice_id, seq, lease_until) VALUES ($1, 0, $2)
                             ON CONFLICT (practice_id) DO UPDATE SET lease_until = excluded.lease_until
                             WHERE incident_watch.lease_until IS NULL OR incident_watch.lease_until <= $3
                             RETURNING seq",
                        )
                        .bind(practice)
                        .bind(lease_until)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some(current) = won {
                            out.push((practice, current.max(seq)));
                        }
                    }
                    tx.commit().await?;
                    Ok(out)
                }

                async fn watched_events(
                    &self,
                    practice: PracticeId,
                    after: i64,
                    span: i64,
                    actions: &[&'static str],
                ) -> StoreResult<(Vec<WatchedEvent>, i64, bool)> {
                    let head: i64 = sqlx::query_scalar("SELECT seq FROM audit_heads WHERE practice_id = $1")
                        .bind(practice)
                        .fetch_optional(self.reader())
                        .await?
                        .unwrap_or(0);
                    let upto = head.min(after.saturating_add(span)).max(after);
                    // Placeholders only: the names are the rules' constants,
                    // bound like any value.
                    let list = (0..actions.len())
                        .map(|i| format!("${}", i + 4))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = format!(
                        "SELECT seq, at, action, actor_user_id, target_user_id, target_device_id, detail FROM audit_events
                         WHERE practice_id = $1 AND seq > $2 AND seq <= $3 AND action IN ({list}) ORDER BY seq"
                    );
                    let mut q = sqlx::query_as(&sql).bind(practice).bind(after).bind(upto);
                    for a in actions {
                        q = q.bind(*a);
                    }
                    let events = if actions.is_empty() { Vec::new() } else { q.fetch_all(self.reader()).await? };
                    Ok((events, upto, head > upto))
                }

                async fn finish_watch(&self, round: &WatchRound, now: UnixTime) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let mut events = Vec::new();
                    for (opening, event) in &round.openings {
                        if insert_incident(&mut tx, opening, now).await? {
                            events.push(event.clone());
                        }
                    }
                    append_events(&mut tx, &events, now).await?;
                    if !round.announcements.is_empty() {
                        let endpoints: Vec<(WebhookEndpointId, String)> = sqlx::query_as(
                            "SELECT id, event_types FROM webhook_endpoints WHERE practice_id = $1 AND enabled",
                        )
                        .bind(round.practice_id)
                        .fetch_all(&mut *tx)
                        .await?;
                        for a in &round.announcements {
                            for (endpoint, types) in &endpoints {
                                if !types.split(',').any(|t| t == a.event_type) {
                                    continue;
                                }
                                sqlx::query(
                                    "INSERT INTO webhook_deliveries (id, practice_id, endpoint_id, event_type, payload,
                                        status, next_attempt_at, created_at)
                                     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
                                )
                                .bind(format!("msg_{}", uuid::Uuid::new_v4().simple()))
                                .bind(round.practice_id)
                                .bind(endpoint)
                                .bind(a.event_type)
                                .bind(&a.payload)
                                .bind(now)
                                .execute(&mut *tx)
                                .await?;
                            }
                        }
                    }
                    sqlx::query("UPDATE incident_watch SET seq = $1, lease_until = NULL WHERE practice_id = $2")
                        .bind(round.seq)
                        .bind(round.practice_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn create_endpoint(
                    &self,
                    e: &NewEndpoint,
                    max: i64,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await?;
                    // Adds of one practice take turns on its row (a no-op
                    // write; SQLite's one writer already serialises them),
                    // so the count below cannot be passed by concurrent adds.
                    sqlx::query("UPDATE practices SET name = name WHERE id = $1")
                        .bind(e.practice_id)
                        .execute(&mut *tx)
                        .await?;
                    let enabled: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM webhook_endpoints WHERE practice_id = $1 AND enabled",
                    )
                    .bind(e.practice_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if enabled >= max {
                        return Ok(false);
                    }
                    sqlx::query(
                        "INSERT INTO webhook_endpoints (id, practice_id, url, event_types, secret, enabled, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(e.id)
                    .bind(e.practice_id)
                    .bind(&e.url)
                    .bind(&e.event_types)
                    .bind(&e.secret)
                    .bind(true)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    append_events(&mut tx, std::slice::from_ref(&event), now).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn list_endpoints(&self, practice: PracticeId) -> StoreResult<Vec<EndpointView>> {
                    Ok(sqlx::query_as(
                        "SELECT id, url, event_types, enabled, failing_since, disabled_at, disabled_reason, created_at,
                                previous_secret_until
                         FROM webhook_endpoints WHERE practice_id = $1 ORDER BY created_at, id",
                    )
                    .bind(practice)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn disable_endpoint(
                    &self,
                    practice: PracticeId,
                    id: WebhookEndpointId,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE webhook_endpoints SET enabled = $1, disabled_at = COALESCE(disabled_at, $2),
                            disabled_reason = COALESCE(disabled_reason, 'by_admin')
                         WHERE id = $3 AND practice_id = $4",
                    )
                    .bind(false)
                    .bind(now)
                    .bind(id)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    commit_one(tx, done.rows_affected(), &event, now).await
                }

                async fn enable_endpoint(
                    &self,
                    practice: PracticeId,
                    id: WebhookEndpointId,
                    max: i64,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await?;
                    // The same turn-taking as `create_endpoint`: the count
                    // below cannot be passed by concurrent adds or enables.
                    sqlx::query("UPDATE practices SET name = name WHERE id = $1")
                        .bind(practice)
                        .execute(&mut *tx)
                        .await?;
                    let found: Option<(bool, Option<UnixTime>)> = sqlx::query_as(
                        "SELECT enabled, failing_since FROM webhook_endpoints WHERE id = $1 AND practice_id = $2",
                    )
                    .bind(id)
                    .bind(practice)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let failing_since = match found {
                        None => return Err(StoreError::NotFound),
                        Some((true, _)) => return Ok(true),
                        Some((false, since)) => since,
                    };
                    let on: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM webhook_endpoints WHERE practice_id = $1 AND enabled",
                    )
                    .bind(practice)
                    .fetch_one(&mut *tx)
                    .await?;
                    if on >= max {
                        return Ok(false);
                    }
                    sqlx::query(
                        "UPDATE webhook_endpoints SET enabled = $1, failing_since = NULL, disabled_at = NULL,
                            disabled_reason = NULL
                         WHERE id = $2",
                    )
                    .bind(true)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    // The admin has just fixed the receiver: what waits
                    // goes now, not after the backoff it had reached, and
                    // what ran out of attempts while the endpoint failed
                    // throughout (the outage that turned it off) goes
                    // again, under its id.
                    sqlx::query(
                        "UPDATE webhook_deliveries SET next_attempt_at = $1, status = 'pending'
                         WHERE endpoint_id = $2
                           AND (status = 'pending' OR (status = 'failed' AND created_at >= $3))",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(failing_since.map_or(i64::MAX, |since| since - $crate::incidents::rules::webhook::OUTAGE_SLACK_SECS))
                    .execute(&mut *tx)
                    .await?;
                    append_events(&mut tx, std::slice::from_ref(&event), now).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn rotate_endpoint_secret(
                    &self,
                    practice: PracticeId,
                    id: WebhookEndpointId,
                    secret: &[u8],
                    previous_until: UnixTime,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    // One statement: the previous secret is the one this
                    // update replaces, whatever rotated before it.
                    let done = sqlx::query(
                        "UPDATE webhook_endpoints
                         SET previous_secret = secret, previous_secret_until = $1, secret = $2
                         WHERE id = $3 AND practice_id = $4",
                    )
                    .bind(previous_until)
                    .bind(secret)
                    .bind(id)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    commit_one(tx, done.rows_affected(), &event, now).await
                }

                async fn claim_deliveries(
                    &self,
                    now: UnixTime,
                    lease_until: UnixTime,
                    limit: i64,
                ) -> StoreResult<Vec<ClaimedDelivery>> {
                    let mut tx = self.writer().begin().await?;
                    let ids: Vec<String> = sqlx::query_scalar(concat!(
                        "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND e.enabled
                           AND (d.lease_until IS NULL OR d.lease_until <= $1)
                         ORDER BY d.next_attempt_at, d.id LIMIT $2 ",
                        $skip_locked
                    ))
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut out = Vec::with_capacity(ids.len());
                    for id in ids {
                        sqlx::query("UPDATE webhook_deliveries SET lease_until = $1 WHERE id = $2")
                            .bind(lease_until)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                        let claimed: ClaimedDelivery = sqlx::query_as(
                            "SELECT d.id, d.practice_id, d.endpoint_id, e.url, e.secret, e.previous_secret,
                                    e.previous_secret_until, d.payload, d.attempts, e.failing_since,
                                    d.created_at
                             FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1",
                        )
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await?;
                        out.push(claimed);
                    }
                    tx.commit().await?;
                    Ok(out)
                }

                async fn finish_deliveries(&self, outcomes: &[AttemptOutcome], now: UnixTime) -> StoreResult<()> {
                    if outcomes.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.writer().begin().await?;
                    let mut events = Vec::new();
                    for o in outcomes {
                        let status = if o.delivered {
                            "delivered"
                        } else if o.next_attempt_at.is_some() {
                            "pending"
                        } else {
                            "failed"
                        };
                        sqlx::query(
                            "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = COALESCE($3, next_attempt_at),
                                lease_until = NULL, last_status = $4, last_error = $5,
                                delivered_at = CASE WHEN $6 THEN $7 ELSE delivered_at END
                             WHERE id = $8",
                        )
                        .bind(status)
                        .bind(o.attempts)
                        .bind(o.next_attempt_at)
                        .bind(o.status_code)
                        .bind(&o.error)
                        .bind(o.delivered)
                        .bind(now)
                        .bind(&o.id)
                        .execute(&mut *tx)
                        .await?;
                        if o.delivered {
                            sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
                                .bind(o.endpoint_id)
                                .execute(&mut *tx)
                                .await?;
                        } else {
                            sqlx::query("UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $1) WHERE id = $2")
                                .bind(now)
                                .bind(o.endpoint_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                        if let Some(event) = &o.disable {
                            let done = sqlx::query(
                                "UPDATE webhook_endpoints SET enabled = $1, disabled_at = $2, disabled_reason = 'failing'
                                 WHERE id = $3 AND enabled",
                            )
                                .bind(false)
                                .bind(now)
                                .bind(o.endpoint_id)
                                .execute(&mut *tx)
                                .await?;
                            if done.rows_affected() == 1 {
                                events.push(event.clone());
                            }
                        }
                    }
                    append_events(&mut tx, &events, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_deliveries(
                    &self,
                    practice: PracticeId,
                    endpoint: WebhookEndpointId,
                    limit: i64,
                ) -> StoreResult<Vec<DeliveryView>> {
                    Ok(sqlx::query_as(
                        "SELECT id, endpoint_id, event_type, status, attempts, next_attempt_at, last_status, last_error,
                                created_at, delivered_at
                         FROM webhook_deliveries WHERE practice_id = $1 AND endpoint_id = $2
                         ORDER BY created_at DESC, id LIMIT $3",
                    )
                    .bind(practice)
                    .bind(endpoint)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn device_facts(
                    &self,
                    practice: PracticeId,
                    device: $crate::ids::DeviceId,
                ) -> StoreResult<$crate::incidents::rules::evidence::DeviceFacts> {
                    use $crate::incidents::rules::evidence::{Delivered, DeviceFacts};
                    let (owner, role, revoked_at): (String, String, Option<i64>) = sqlx::query_as(
                        "SELECT d.user_id, u.role, d.revoked_at FROM devices d JOIN users u ON u.id = d.user_id
                         WHERE d.id = $1 AND d.practice_id = $2",
                    )
                    .bind(device)
                    .bind(practice)
                    .fetch_optional(self.reader())
                    .await?
                    .ok_or(StoreError::NotFound)?;
                    let shares: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM device_unlock_shares WHERE device_id = $1")
                        .bind(device)
                        .fetch_one(self.reader())
                        .await?;
                    // A session not ended, expired or idle before the
                    // revocation; for a device not revoked, one not ended.
                    let live: i64 = match revoked_at {
                        Some(at) => sqlx::query_scalar(
                            "SELECT COUNT(*) FROM sessions WHERE device_id = $1 AND created_at <= $2
                               AND (ended_at IS NULL OR ended_at >= $2) AND expires_at > $2
                               AND last_seen_at + idle_timeout_secs > $2",
                        )
                        .bind(device)
                        .bind(at)
                        .fetch_one(self.reader())
                        .await?,
                        None => sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE device_id = $1 AND ended_at IS NULL")
                            .bind(device)
                            .fetch_one(self.reader())
                            .await?,
                    };
                    let last_seen: Option<i64> = sqlx::query_scalar(
                        "SELECT last_seen_at FROM lost_device_reports WHERE device_id = $1 ORDER BY reported_at DESC LIMIT 1",
                    )
                    .bind(device)
                    .fetch_optional(self.reader())
                    .await?;
                    let rows: Vec<(Option<String>, Option<String>, Option<String>, i64, i64)> = sqlx::query_as(
                        "SELECT a.target_conversation_id, c.client_user_id, a.detail, a.at, a.seq FROM audit_events a
                         LEFT JOIN conversations c ON c.id = a.target_conversation_id
                         WHERE a.practice_id = $1 AND a.actor_device_id = $2 AND a.action = 'message.delivered'
                         ORDER BY a.seq LIMIT 100000",
                    )
                    .bind(practice)
                    .bind(device)
                    .fetch_all(self.reader())
                    .await?;
                    let delivered = rows
                        .into_iter()
                        .filter_map(|(conv, client, detail, at, seq)| {
                            let detail: serde_json::Value = serde_json::from_str(detail.as_deref()?).ok()?;
                            Some(Delivered {
                                conversation_id: conv?,
                                client_id: client,
                                from_seq: detail.get("from_seq")?.as_i64()?,
                                to_seq: detail.get("to_seq")?.as_i64()?,
                                at,
                                audit_seq: seq,
                            })
                        })
                        .collect();
                    // The entries the rest rests on: the first report of
                    // its loss, its revocation, its token used again.
                    let about: Vec<(String, i64, Option<String>)> = sqlx::query_as(
                        "SELECT action, seq, detail FROM audit_events
                         WHERE practice_id = $1 AND target_device_id = $2
                           AND action IN ('device.reported_lost', 'device.revoked', 'device.revoked_token_used')
                         ORDER BY seq LIMIT 10000",
                    )
                    .bind(practice)
                    .bind(device)
                    .fetch_all(self.reader())
                    .await?;
                    let first = |name: &str| about.iter().find(|(a, _, _)| a == name).map(|(_, s, _)| *s);
                    // The revocation records whether a socket was open.
                    let socket_open = about
                        .iter()
                        .find(|(a, _, _)| a == "device.revoked" || a == "device.reported_lost")
                        .and_then(|(_, _, d)| serde_json::from_str::<serde_json::Value>(d.as_deref()?).ok())
                        .and_then(|d| d.get("socket_open")?.as_bool());
                    // Its removal from each group it was in: the commit that
                    // removed its leaf, and the epoch that commit created.
                    let removals: Vec<(String, Option<i64>, Option<i64>, Option<i64>)> = sqlx::query_as(
                        "SELECT cm.conversation_id, cm.removed_at, cm.removed_seq, m.epoch + 1
                         FROM conversation_members cm
                         LEFT JOIN messages m ON m.conversation_id = cm.conversation_id AND m.seq = cm.removed_seq
                         WHERE cm.device_id = $1
                         ORDER BY cm.conversation_id LIMIT 10000",
                    )
                    .bind(device)
                    .fetch_all(self.reader())
                    .await?;
                    Ok(DeviceFacts {
                        device_id: device.to_string(),
                        owner_id: owner,
                        owner_is_client: role == "client",
                        revoked_at,
                        share_held: shares > 0,
                        live_session_at_revocation: live > 0,
                        last_seen_at: last_seen,
                        delivered,
                        report_seq: first("device.reported_lost"),
                        // A loss report revokes in the same event.
                        revocation_seq: first("device.revoked").or(first("device.reported_lost")),
                        token_use_seqs: about
                            .iter()
                            .filter(|(a, _, _)| a == "device.revoked_token_used")
                            .map(|(_, s, _)| *s)
                            .collect(),
                        socket_open_at_revocation: socket_open,
                        removals: removals
                            .into_iter()
                            .map(|(conversation_id, removed_at, commit_seq, epoch)| {
                                $crate::incidents::rules::evidence::Removal {
                                    conversation_id,
                                    removed_at,
                                    commit_seq,
                                    epoch: epoch.filter(|_| removed_at.is_some()),
                                }
                            })
                            .collect(),
                    })
                }

                async fn queue_test_delivery(
                    &self,
                    practice: PracticeId,
                    endpoint: WebhookEndpointId,
                    payload: &str,
                    every: i64,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<Option<String>> {
                    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
                    let mut tx = self.writer().begin().await?;
                    // Presses of one endpoint's test take turns on its row
                    // (a no-op write), so the last test's time below is
                    // the one a concurrent press would have written.
                    let here = sqlx::query(
                        "UPDATE webhook_endpoints SET url = url WHERE id = $1 AND practice_id = $2 AND enabled",
                    )
                    .bind(endpoint)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    if here.rows_affected() != 1 {
                        return Err(StoreError::NotFound);
                    }
                    let last: Option<i64> = sqlx::query_scalar(
                        "SELECT MAX(created_at) FROM webhook_deliveries WHERE endpoint_id = $1 AND event_type = $2",
                    )
                    .bind(endpoint)
                    .bind($crate::incidents::rules::webhook::TEST_EVENT)
                    .fetch_one(&mut *tx)
                    .await?;
                    if last.is_some_and(|at| now - at < every) {
                        return Ok(None);
                    }
                    let done = sqlx::query(
                        "INSERT INTO webhook_deliveries (id, practice_id, endpoint_id, event_type, payload,
                            status, next_attempt_at, created_at)
                         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
                    )
                    .bind(&id)
                    .bind(practice)
                    .bind(endpoint)
                    .bind($crate::incidents::rules::webhook::TEST_EVENT)
                    .bind(payload)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    commit_one(tx, done.rows_affected(), &event, now).await?;
                    Ok(Some(id))
                }

                async fn account_facts(
                    &self,
                    practice: PracticeId,
                    user: UserId,
                    window: (UnixTime, UnixTime),
                    discovered_at: UnixTime,
                ) -> StoreResult<$crate::incidents::rules::account::AccountFacts> {
                    use $crate::incidents::rules::account::{AccountEvent, AccountFacts, DELIVERED};
                    const MAX_ROWS: usize = 100_000;
                    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1 AND practice_id = $2")
                        .bind(user)
                        .bind(practice)
                        .fetch_optional(self.reader())
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    // What the account did, and what was done to it (failed
                    // sign-ins name it as their target); the client an
                    // entry names is its conversation's, or the client it
                    // acted on.
                    #[allow(clippy::type_complexity)]
                    let rows: Vec<(String, Option<String>, String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, i64, i64)> =
                        sqlx::query_as(
                            "SELECT a.action, a.actor_user_id, a.outcome, c.client_user_id, a.target_user_id, tu.role,
                                    a.detail, a.ip, a.at, a.seq
                             FROM audit_events a
                             LEFT JOIN conversations c ON c.id = a.target_conversation_id
                             LEFT JOIN users tu ON tu.id = a.target_user_id
                             WHERE a.practice_id = $1 AND (a.actor_user_id = $2 OR a.target_user_id = $2)
                               AND a.at >= $3 AND a.at <= $4
                             ORDER BY a.seq LIMIT $5",
                        )
                        .bind(practice)
                        .bind(user.to_string())
                        .bind(window.0)
                        .bind(window.1)
                        .bind(i64::try_from(MAX_ROWS + 1).unwrap_or(i64::MAX))
                        .fetch_all(self.reader())
                        .await?;
                    let truncated = rows.len() > MAX_ROWS;
                    let me = user.to_string();
                    let events = rows
                        .into_iter()
                        .take(MAX_ROWS)
                        .map(|(action, actor, outcome, conv_client, target, target_role, detail, ip, at, seq)| {
                            let entries = if action == DELIVERED {
                                detail
                                    .as_deref()
                                    .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
                                    .and_then(|d| Some(d.get("to_seq")?.as_i64()? - d.get("from_seq")?.as_i64()? + 1))
                                    .unwrap_or(0)
                            } else {
                                0
                            };
                            let client_id = conv_client.or_else(|| target.filter(|_| target_role.as_deref() == Some("client")));
                            AccountEvent {
                                action,
                                by_account: actor.as_deref() == Some(me.as_str()),
                                succeeded: outcome == "success",
                                client_id,
                                entries,
                                address: ip,
                                at,
                                seq,
                            }
                        })
                        .collect();
                    Ok(AccountFacts {
                        user_id: me,
                        is_client: role == "client",
                        from: window.0,
                        to: window.1,
                        discovered_at,
                        events,
                        truncated,
                    })
                }

                async fn notice_candidates(&self, limit: i64) -> StoreResult<Vec<(IncidentRow, Option<i64>)>> {
                    let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
                        "SELECT {INCIDENT_COLS} FROM incidents
                         WHERE status <> 'closed' AND (decision IS NULL OR decision = 'breach')
                         ORDER BY discovered_at, id LIMIT $1"
                    ))
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?;
                    let notices: std::collections::HashMap<IncidentId, Option<i64>> = sqlx::query_as(
                        "SELECT id, deadline_notice FROM incidents
                         WHERE status <> 'closed' AND (decision IS NULL OR decision = 'breach')
                         ORDER BY discovered_at, id LIMIT $1",
                    )
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .into_iter()
                    .collect();
                    Ok(rows
                        .into_iter()
                        .map(|r| {
                            let last = notices.get(&r.id).copied().flatten();
                            (r, last)
                        })
                        .collect())
                }

                async fn record_deadline_notice(
                    &self,
                    incident: IncidentId,
                    last: Option<i64>,
                    threshold: i64,
                    event: audit::Event,
                    now: UnixTime,
                ) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE incidents SET deadline_notice = $1
                         WHERE id = $2 AND (deadline_notice = $3 OR (deadline_notice IS NULL AND $3 IS NULL))",
                    )
                    .bind(threshold)
                    .bind(incident)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    append_events(&mut tx, std::slice::from_ref(&event), now).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn redeliver(&self, practice: PracticeId, id: &str, event: audit::Event, now: UnixTime) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    let done = sqlx::query(
                        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, lease_until = NULL
                         WHERE id = $2 AND practice_id = $3",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(practice)
                    .execute(&mut *tx)
                    .await?;
                    commit_one(tx, done.rows_affected(), &event, now).await
                }
            }
        };
    };
}

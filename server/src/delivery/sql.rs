//! The SQL behind `DeliveryStore`, written once and instantiated per backend
//! (see `sql.rs` for the technique and `delivery.rs` for the invariants).

macro_rules! impl_delivery_store {
    ($store:ty, $db:ty) => {
        // A const block gives these helpers their own scope inside the
        // backend module, next to `impl_store!`'s.
        const _: () = {
            use $crate::audit;
            use $crate::clock::UnixTime;
            use $crate::ids::{DeviceId, PracticeId, UserId};
            use $crate::delivery::error::{DeliveryError, DeliveryResult};
            use $crate::delivery::store::*;
            use $crate::storage::{StoreError, StoreResult};

            type Conn = <$db as sqlx::Database>::Connection;
            type Db = $db;

            async fn audit(conn: &mut Conn, event: &audit::Event, now: UnixTime) -> StoreResult<()> {
                append_event(conn, event, now).await
            }

            /// Appends a batch of application messages inside the caller's
            /// transaction with a fixed number of statements, whatever the
            /// batch size: one read deciding every message, one sequence
            /// update for all its conversations, one multi-row insert, the
            /// audit block, and one read of the devices to wake. Refusals (not a
            /// member, removal pending, stale epoch) and duplicates are
            /// decided before anything is written; each message's answer is
            /// what it would have been in a batch of its own, in arrival
            /// order.
            async fn append_batch(
                tx: &mut Conn,
                batch: &[(NewMessage, audit::Event)],
                now: UnixTime,
            ) -> StoreResult<Vec<DeliveryResult<Appended>>> {
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                // 1. Everything the decisions need: one row per message,
                //    from a VALUES list joined by correlated subqueries (4
                //    parameters a row). Not one UNION ALL arm per message:
                //    SQLite then compiles a program as long as the batch and
                //    holds a cursor per arm open, and linking each new cursor
                //    walks all open ones (quadratic in the batch size).
                let mut q = sqlx::QueryBuilder::<Db>::new("WITH b (i, c, d, k) AS (");
                q.push_values(batch.iter().enumerate(), |mut row, (i, (m, _))| {
                    row.push_bind(i as i64)
                        .push_bind(&m.conversation_id)
                        .push_bind(m.sender_device)
                        .push_bind(&m.client_msg_id);
                });
                q.push(
                    ") SELECT b.i,
                       (SELECT leaf_index FROM conversation_members
                         WHERE conversation_id = b.c AND device_id = b.d AND removed_at IS NULL),
                       (SELECT COUNT(*) FROM conversation_members cm JOIN devices dv ON dv.id = cm.device_id
                         WHERE cm.conversation_id = b.c AND cm.removed_at IS NULL AND dv.revoked_at IS NOT NULL),
                       (SELECT seq FROM messages
                         WHERE conversation_id = b.c AND sender_device_id = b.d AND client_msg_id = b.k),
                       (SELECT epoch FROM conversations WHERE id = b.c),
                       (SELECT COUNT(*) FROM conversations cv JOIN users u
                          ON u.id IN (cv.client_user_id, cv.staff_user_id)
                         WHERE cv.id = b.c AND u.deactivated_at IS NOT NULL)
                     FROM b",
                );
                let rows: Vec<(i64, Option<i64>, i64, Option<i64>, Option<i64>, i64)> =
                    q.build_query_as().fetch_all(&mut *tx).await?;
                let mut facts = vec![None; batch.len()];
                for (i, leaf, revoked, existing, epoch, closed) in rows {
                    if let Some(slot) = usize::try_from(i).ok().and_then(|i| facts.get_mut(i)) {
                        *slot = Some((leaf, revoked, existing, epoch, closed));
                    }
                }

                // 2. Decide. `Slot::Accepted` messages get a sequence number
                //    below; a retry of one accepted earlier in this batch is
                //    a duplicate of it.
                enum Slot {
                    Done(DeliveryResult<Appended>),
                    Accepted,
                    DuplicateOf(usize),
                }
                let mut slots = Vec::with_capacity(batch.len());
                let mut first_of: Vec<(&str, DeviceId, &[u8], usize)> = Vec::new();
                for (i, (m, _)) in batch.iter().enumerate() {
                    let Some((leaf, revoked, existing, epoch, closed)) = facts[i] else {
                        return Err(StoreError::Unavailable);
                    };
                    let slot = if leaf.is_none() {
                        Slot::Done(Err(DeliveryError::NotMember))
                    } else if closed > 0 && existing.is_none() {
                        // The other person was deactivated (the sender's own
                        // account would not have got this far): nobody would
                        // read it. A retry of what was accepted before still
                        // answers as a duplicate, below.
                        Slot::Done(Err(DeliveryError::ConversationClosed))
                    } else if revoked > 0 {
                        // Nothing new may be encrypted to a revoked device's
                        // keys: until a member commits its removal, sends wait.
                        Slot::Done(Err(DeliveryError::RemovalPending))
                    } else if let Some(seq) = existing {
                        Slot::Done(Ok(Appended { seq, duplicate: true, wake: Vec::new() }))
                    } else if let Some(&(_, _, _, j)) = first_of.iter().find(|(c, d, id, _)| {
                        *c == m.conversation_id && *d == m.sender_device && *id == &m.client_msg_id[..]
                    }) {
                        Slot::DuplicateOf(j)
                    } else if epoch != Some(m.epoch) {
                        match epoch {
                            Some(current) => Slot::Done(Err(DeliveryError::StaleEpoch { current })),
                            None => Slot::Done(Err(StoreError::NotFound.into())),
                        }
                    } else {
                        first_of.push((&m.conversation_id, m.sender_device, &m.client_msg_id, i));
                        Slot::Accepted
                    };
                    slots.push(slot);
                }

                // 3. Sequence numbers: one block per conversation, in
                //    arrival order, all moved by one statement. The epoch
                //    condition guards against a commit that won the epoch
                //    since step 1 (possible on PostgreSQL, where commits use
                //    other connections): a conversation missing from the
                //    answer gets `StaleEpoch` for all its messages.
                struct Block<'a> {
                    id: &'a str,
                    epoch: i64,
                    count: i64,
                    /// Next sequence number, or the epoch that won.
                    next: Result<i64, i64>,
                }
                let mut blocks: Vec<Block<'_>> = Vec::new();
                for (i, slot) in slots.iter().enumerate() {
                    if matches!(slot, Slot::Accepted) {
                        let m = &batch[i].0;
                        match blocks.iter_mut().find(|b| b.id == m.conversation_id) {
                            Some(b) => b.count += 1,
                            None => blocks.push(Block { id: &m.conversation_id, epoch: m.epoch, count: 1, next: Err(m.epoch) }),
                        }
                    }
                }
                if !blocks.is_empty() {
                    // The same statement leaves the nudge job its hint
                    // (the first entry since it last looked; old values on
                    // the right of SET): no extra row write per send.
                    let mut q = sqlx::QueryBuilder::<Db>::new(
                        "UPDATE conversations SET awaiting_client_seq = COALESCE(awaiting_client_seq, last_seq + 1),
                         awaiting_client_since = COALESCE(awaiting_client_since, ",
                    );
                    q.push_bind(now).push("), last_seq = last_seq + CASE id");
                    for b in &blocks {
                        q.push(" WHEN ").push_bind(b.id).push(" THEN ").push_bind(b.count);
                    }
                    q.push(" ELSE 0 END WHERE ");
                    for (k, b) in blocks.iter().enumerate() {
                        if k > 0 {
                            q.push(" OR ");
                        }
                        q.push("(id = ").push_bind(b.id).push(" AND epoch = ").push_bind(b.epoch).push(")");
                    }
                    q.push(" RETURNING id, last_seq");
                    let moved: Vec<(String, i64)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    for (id, last) in moved {
                        if let Some(b) = blocks.iter_mut().find(|b| b.id == id) {
                            b.next = Ok(last - b.count + 1);
                        }
                    }
                    for b in blocks.iter_mut().filter(|b| b.next.is_err()) {
                        let current: i64 = sqlx::query_scalar("SELECT epoch FROM conversations WHERE id = $1")
                            .bind(b.id)
                            .fetch_one(&mut *tx)
                            .await?;
                        b.next = Err(current);
                    }
                }
                let mut seqs = vec![0i64; batch.len()];
                for (i, slot) in slots.iter_mut().enumerate() {
                    if !matches!(slot, Slot::Accepted) {
                        continue;
                    }
                    let Some(b) = blocks.iter_mut().find(|b| b.id == batch[i].0.conversation_id) else {
                        return Err(StoreError::Unavailable);
                    };
                    match &mut b.next {
                        Ok(seq) => {
                            seqs[i] = *seq;
                            *seq += 1;
                        }
                        Err(current) => *slot = Slot::Done(Err(DeliveryError::StaleEpoch { current: *current })),
                    }
                }
                let accepted: Vec<usize> = (0..batch.len())
                    .filter(|&i| matches!(slots[i], Slot::Accepted))
                    .collect();

                if !accepted.is_empty() {
                    // 4. The rows (8 parameters each).
                    let mut q = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO messages (conversation_id, seq, kind, epoch, sender_device_id, client_msg_id, data, created_at) ",
                    );
                    q.push_values(&accepted, |mut b, &i| {
                        let m = &batch[i].0;
                        b.push_bind(&m.conversation_id)
                            .push_bind(seqs[i])
                            .push_bind("application")
                            .push_bind(m.epoch)
                            .push_bind(m.sender_device)
                            .push_bind(&m.client_msg_id)
                            .push_bind(&m.data)
                            .push_bind(now);
                    });
                    q.build().execute(&mut *tx).await?;

                    // 5. Their audit records.
                    let events: Vec<audit::Event> = accepted
                        .iter()
                        .map(|&i| {
                            let mut event = batch[i].1.clone();
                            event.detail = Some(serde_json::json!({"seq": seqs[i], "size": batch[i].0.data.len()}));
                            event
                        })
                        .collect();
                    append_events(&mut *tx, &events, now).await?;
                }

                // 6. Who to wake, per conversation: the entries are carried
                //    to these devices' sockets, so a revoked device (still a
                //    leaf until a member commits its removal) is left out,
                //    as the log read leaves it out.
                let mut devices: Vec<(String, DeviceId)> = Vec::new();
                if !accepted.is_empty() {
                    let mut q = sqlx::QueryBuilder::<Db>::new(
                        "SELECT cm.conversation_id, cm.device_id FROM conversation_members cm
                         JOIN devices dv ON dv.id = cm.device_id AND dv.revoked_at IS NULL
                         WHERE cm.removed_at IS NULL AND cm.conversation_id IN (",
                    );
                    let mut list = q.separated(", ");
                    for b in blocks.iter().filter(|b| b.next.is_ok()) {
                        list.push_bind(b.id);
                    }
                    q.push(")");
                    devices = q.build_query_as().fetch_all(&mut *tx).await?;
                }

                let mut out: Vec<DeliveryResult<Appended>> = Vec::with_capacity(batch.len());
                for (i, slot) in slots.into_iter().enumerate() {
                    let result = match slot {
                        Slot::Done(result) => result,
                        Slot::Accepted => {
                            let m = &batch[i].0;
                            let wake = devices
                                .iter()
                                .filter(|(c, d)| *c == m.conversation_id && *d != m.sender_device)
                                .map(|(_, d)| *d)
                                .collect();
                            Ok(Appended { seq: seqs[i], duplicate: false, wake })
                        }
                        Slot::DuplicateOf(j) => Ok(Appended { seq: seqs[j], duplicate: true, wake: Vec::new() }),
                    };
                    out.push(result);
                }
                Ok(out)
            }

            /// Moves a batch of cursors forward inside the caller's
            /// transaction with a fixed number of statements. Requests for
            /// the same device and conversation are merged (the furthest
            /// wins; each gets the resulting cursor), and one access record
            /// covers the whole range moved. A cursor never moves back;
            /// refusals are decided before anything is written.
            async fn ack_batch(
                conn: &mut Conn,
                batch: &[(Conversation, DeviceId, i64)],
                now: UnixTime,
            ) -> StoreResult<Vec<DeliveryResult<i64>>> {
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                // Merge per (conversation, device): index of the first
                // request and the furthest seq asked for.
                let mut keys: Vec<(usize, i64)> = Vec::new();
                let mut key_of = Vec::with_capacity(batch.len());
                for (i, (conversation, device, seq)) in batch.iter().enumerate() {
                    let found = keys.iter().position(|&(j, _)| {
                        batch[j].0.id == conversation.id && batch[j].1 == *device
                    });
                    match found {
                        Some(k) => {
                            keys[k].1 = keys[k].1.max(*seq);
                            key_of.push(k);
                        }
                        None => {
                            key_of.push(keys.len());
                            keys.push((i, *seq));
                        }
                    }
                }
                // One row per key, as in `append_batch` (VALUES, not UNION ALL).
                let mut q = sqlx::QueryBuilder::<Db>::new("WITH b (k, c, d) AS (");
                q.push_values(keys.iter().enumerate(), |mut row, (k, &(i, _))| {
                    let (conversation, device, _) = &batch[i];
                    row.push_bind(k as i64).push_bind(&conversation.id).push_bind(*device);
                });
                q.push(
                    ") SELECT b.k,
                       (SELECT joined_seq FROM conversation_members WHERE conversation_id = b.c AND device_id = b.d),
                       (SELECT acked_seq FROM delivery_cursors WHERE device_id = b.d AND conversation_id = b.c),
                       (SELECT last_seq FROM conversations WHERE id = b.c)
                     FROM b",
                );
                let rows: Vec<(i64, Option<i64>, Option<i64>, Option<i64>)> =
                    q.build_query_as().fetch_all(&mut *conn).await?;
                let mut answers: Vec<Option<DeliveryResult<i64>>> = (0..keys.len()).map(|_| None).collect();
                let mut moves: Vec<(usize, i64)> = Vec::new(); // (key, to)
                for (k, joined, acked, last) in rows {
                    let Some(k) = usize::try_from(k).ok().filter(|&k| k < keys.len()) else {
                        return Err(StoreError::Unavailable);
                    };
                    let (Some(joined), Some(last)) = (joined, last) else {
                        answers[k] = Some(Err(DeliveryError::NotMember));
                        continue;
                    };
                    let before = acked.unwrap_or(joined - 1);
                    let target = keys[k].1.min(last);
                    if target <= before {
                        answers[k] = Some(Ok(before));
                    } else {
                        answers[k] = Some(Ok(target));
                        moves.push((k, target));
                    }
                }
                if !moves.is_empty() {
                    let mut q = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO delivery_cursors (device_id, conversation_id, acked_seq, acked_at) ",
                    );
                    q.push_values(&moves, |mut b, &(k, target)| {
                        let (conversation, device, _) = &batch[keys[k].0];
                        b.push_bind(*device)
                            .push_bind(&conversation.id)
                            .push_bind(target)
                            .push_bind(now);
                    });
                    q.push(
                        " ON CONFLICT (device_id, conversation_id) DO UPDATE SET acked_seq = excluded.acked_seq, acked_at = excluded.acked_at",
                    );
                    q.build().execute(&mut *conn).await?;
                }
                let mut out = Vec::with_capacity(batch.len());
                for k in key_of {
                    out.push(match &answers[k] {
                        Some(Ok(v)) => Ok(*v),
                        Some(Err(DeliveryError::NotMember)) => Err(DeliveryError::NotMember),
                        _ => Err(StoreError::Unavailable.into()),
                    });
                }
                Ok(out)
            }

            /// The access records of a batch of deliveries: ranges of the
            /// same device and conversation that touch or overlap are merged
            /// (a socket sending a run of entries over several wake-ups in one
            /// batch leaves one record), then one audit block for all.
            async fn delivery_batch(
                conn: &mut Conn,
                batch: &[Delivery],
                now: UnixTime,
            ) -> StoreResult<Vec<DeliveryResult<()>>> {
                let mut merged: Vec<(usize, i64, i64)> = Vec::new(); // (first request, from, to)
                for (i, d) in batch.iter().enumerate() {
                    if d.to_seq < d.from_seq {
                        continue;
                    }
                    let same = merged.iter_mut().rev().find(|(j, from, to)| {
                        let o = &batch[*j];
                        o.conversation.id == d.conversation.id
                            && o.device == d.device
                            && o.via == d.via
                            && d.from_seq <= to.saturating_add(1)
                            && d.to_seq >= from.saturating_sub(1)
                    });
                    match same {
                        Some((_, from, to)) => {
                            *from = (*from).min(d.from_seq);
                            *to = (*to).max(d.to_seq);
                        }
                        None => merged.push((i, d.from_seq, d.to_seq)),
                    }
                }
                let events: Vec<audit::Event> = merged
                    .iter()
                    .map(|&(i, from, to)| {
                        let d = &batch[i];
                        let mut event = d.event.clone();
                        event.target_user = Some(d.conversation.client_user_id);
                        event.target_device = Some(d.device);
                        event.target_conversation = Some(d.conversation.id.clone());
                        event.detail = Some(serde_json::json!({"from_seq": from, "to_seq": to, "via": d.via}));
                        event
                    })
                    .collect();
                append_events(&mut *conn, &events, now).await?;
                Ok(batch.iter().map(|_| Ok(())).collect())
            }

            #[async_trait::async_trait]
            impl DeliveryStore for $store {
                async fn store_key_packages(
                    &self,
                    practice: PracticeId,
                    device: DeviceId,
                    signature_key: &[u8],
                    packages: &[NewKeyPackage],
                    now: UnixTime,
                    event: audit::Event,
                ) -> DeliveryResult<i64> {
                    let mut tx = self.writer().begin().await?;
                    let bound: Option<Vec<u8>> =
                        sqlx::query_scalar("SELECT signature_key FROM device_keys WHERE device_id = $1")
                            .bind(device)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match bound {
                        Some(key) if key != signature_key => return Err(DeliveryError::KeyMismatch),
                        Some(_) => {}
                        None => {
                            sqlx::query(
                                "INSERT INTO device_keys (device_id, practice_id, signature_key, created_at)
                                 VALUES ($1, $2, $3, $4)",
                            )
                            .bind(device)
                            .bind(practice)
                            .bind(signature_key)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    for kp in packages {
                        if kp.last_resort {
                            // One last-resort package per device: the newest.
                            sqlx::query("DELETE FROM key_packages WHERE device_id = $1 AND last_resort = TRUE")
                                .bind(device)
                                .execute(&mut *tx)
                                .await?;
                        }
                        sqlx::query(
                            "INSERT INTO key_packages (kp_ref, practice_id, device_id, data, last_resort, not_after, uploaded_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7)
                             ON CONFLICT (kp_ref) DO NOTHING",
                        )
                        .bind(&kp.kp_ref)
                        .bind(practice)
                        .bind(device)
                        .bind(&kp.data)
                        .bind(kp.last_resort)
                        .bind(kp.not_after)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    audit(&mut tx, &event, now).await?;
                    let count: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM key_packages
                         WHERE device_id = $1 AND claimed_at IS NULL AND last_resort = FALSE AND not_after > $2",
                    )
                    .bind(device)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(count)
                }

                async fn key_package_count(&self, device: DeviceId, now: UnixTime) -> StoreResult<i64> {
                    Ok(sqlx::query_scalar(
                        "SELECT COUNT(*) FROM key_packages
                         WHERE device_id = $1 AND claimed_at IS NULL AND last_resort = FALSE AND not_after > $2",
                    )
                    .bind(device)
                    .bind(now)
                    .fetch_one(self.reader())
                    .await?)
                }

                async fn assign(
                    &self,
                    practice: PracticeId,
                    staff: UserId,
                    client: UserId,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<()> {
                    let mut tx = self.writer().begin().await?;
                    sqlx::query(
                        "INSERT INTO assignments (practice_id, staff_user_id, client_user_id, created_by, created_at)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (staff_user_id, client_user_id) DO UPDATE SET ended_at = NULL",
                    )
                    .bind(practice)
                    .bind(staff)
                    .bind(client)
                    .bind(event.actor_user)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    audit(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn is_assigned(&self, practice: PracticeId, staff: UserId, client: UserId) -> StoreResult<bool> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM assignments
                         WHERE practice_id = $1 AND staff_user_id = $2 AND client_user_id = $3 AND ended_at IS NULL",
                    )
                    .bind(practice)
                    .bind(staff)
                    .bind(client)
                    .fetch_one(self.reader())
                    .await?;
                    Ok(n > 0)
                }

                async fn contacts(&self, practice: PracticeId, user: UserId) -> StoreResult<Vec<Contact>> {
                    Ok(sqlx::query_as(
                        "SELECT u.id AS user_id, u.display_name, u.role FROM assignments a
                         JOIN users u ON u.id = CASE WHEN a.staff_user_id = $2 THEN a.client_user_id ELSE a.staff_user_id END
                         WHERE a.practice_id = $1 AND (a.staff_user_id = $2 OR a.client_user_id = $2)
                           AND a.ended_at IS NULL AND u.deactivated_at IS NULL
                         ORDER BY u.display_name, u.id",
                    )
                    .bind(practice)
                    .bind(user)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn create_conversation(
                    &self,
                    practice: PracticeId,
                    id: &str,
                    client: UserId,
                    staff: UserId,
                    creator: (UserId, DeviceId),
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<(Conversation, bool)> {
                    let mut tx = self.writer().begin().await?;
                    let existing: Option<Conversation> = sqlx::query_as(
                        "SELECT id, practice_id, client_user_id, staff_user_id, epoch, last_seq, created_at
                         FROM conversations WHERE practice_id = $1 AND client_user_id = $2 AND staff_user_id = $3",
                    )
                    .bind(practice)
                    .bind(client)
                    .bind(staff)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(existing) = existing {
                        return Ok((existing, false));
                    }
                    sqlx::query(
                        "INSERT INTO conversations (id, practice_id, client_user_id, staff_user_id, created_by_device,
                             created_at, epoch, last_seq)
                         VALUES ($1, $2, $3, $4, $5, $6, 0, 0)",
                    )
                    .bind(id)
                    .bind(practice)
                    .bind(client)
                    .bind(staff)
                    .bind(creator.1)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO conversation_members (conversation_id, device_id, user_id, leaf_index, joined_seq)
                         VALUES ($1, $2, $3, 0, 1)",
                    )
                    .bind(id)
                    .bind(creator.1)
                    .bind(creator.0)
                    .execute(&mut *tx)
                    .await?;
                    audit(&mut tx, &event, now).await?;
                    let created: Conversation = sqlx::query_as(
                        "SELECT id, practice_id, client_user_id, staff_user_id, epoch, last_seq, created_at
                         FROM conversations WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok((created, true))
                }

                async fn conversation(&self, practice: PracticeId, id: &str) -> StoreResult<Conversation> {
                    sqlx::query_as(
                        "SELECT id, practice_id, client_user_id, staff_user_id, epoch, last_seq, created_at
                         FROM conversations WHERE id = $1 AND practice_id = $2",
                    )
                    .bind(id)
                    .bind(practice)
                    .fetch_optional(self.reader())
                    .await?
                    .ok_or(StoreError::NotFound)
                }

                async fn conversations_of(
                    &self,
                    practice: PracticeId,
                    user: UserId,
                    device: DeviceId,
                ) -> StoreResult<Vec<ConversationSummary>> {
                    Ok(sqlx::query_as(
                        "SELECT c.id, c.client_user_id, cu.display_name AS client_name,
                                c.staff_user_id, su.display_name AS staff_name, c.epoch, c.last_seq,
                                (SELECT COUNT(*) FROM messages m
                                  WHERE m.conversation_id = c.id AND m.kind = 'application'
                                    AND m.seq > COALESCE(dc.acked_seq, 0)
                                    AND (m.sender_device_id IS NULL OR m.sender_device_id NOT IN
                                         (SELECT d.id FROM devices d WHERE d.user_id = $2))) AS unread,
                                (cm.device_id IS NOT NULL) AS joined,
                                (cu.deactivated_at IS NOT NULL OR su.deactivated_at IS NOT NULL) AS closed
                         FROM conversations c
                         JOIN users cu ON cu.id = c.client_user_id
                         JOIN users su ON su.id = c.staff_user_id
                         LEFT JOIN conversation_members cm
                           ON cm.conversation_id = c.id AND cm.device_id = $3 AND cm.removed_at IS NULL
                         LEFT JOIN delivery_cursors dc ON dc.conversation_id = c.id AND dc.device_id = $3
                         WHERE c.practice_id = $1 AND (c.client_user_id = $2 OR c.staff_user_id = $2)
                         ORDER BY c.last_seq DESC, c.id",
                    )
                    .bind(practice)
                    .bind(user)
                    .bind(device)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn members(&self, conversation: &str) -> StoreResult<Vec<Member>> {
                    Ok(sqlx::query_as(
                        "SELECT m.device_id, m.user_id, m.leaf_index,
                                (NOT d.shared AND (u.reset_at IS NULL OR d.created_at < u.reset_at)) AS handover
                           FROM conversation_members m
                           JOIN devices d ON d.id = m.device_id
                           JOIN users u ON u.id = m.user_id
                         WHERE m.conversation_id = $1 AND m.removed_at IS NULL ORDER BY m.leaf_index",
                    )
                    .bind(conversation)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn claim_key_packages(
                    &self,
                    conversation: &Conversation,
                    claimer: DeviceId,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<(Vec<ClaimedKeyPackage>, Vec<DeviceId>)> {
                    let mut tx = self.writer().begin().await?;
                    // Claims of one conversation run one at a time (a no-op
                    // write takes its row; SQLite has no FOR UPDATE), so two
                    // concurrent claims cannot both find no outstanding
                    // package and hand out two.
                    sqlx::query("UPDATE conversations SET last_seq = last_seq WHERE id = $1")
                        .bind(&conversation.id)
                        .execute(&mut *tx)
                        .await?;
                    let targets: Vec<(DeviceId, UserId)> = sqlx::query_as(
                        "SELECT d.id, d.user_id FROM devices d
                         WHERE d.practice_id = $1 AND d.user_id IN ($2, $3) AND d.revoked_at IS NULL AND d.id <> $4
                           AND NOT EXISTS (SELECT 1 FROM conversation_members cm
                                           WHERE cm.conversation_id = $5 AND cm.device_id = d.id AND cm.removed_at IS NULL)
                         ORDER BY d.created_at, d.id",
                    )
                    .bind(conversation.practice_id)
                    .bind(conversation.client_user_id)
                    .bind(conversation.staff_user_id)
                    .bind(claimer)
                    .bind(&conversation.id)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut claimed = Vec::new();
                    let mut missing = Vec::new();
                    for (device, user) in targets {
                        // A package already handed out for this device and
                        // conversation, and not yet used by a commit, is
                        // handed out again: repeated claims cannot drain a
                        // device's stock (at most one regular package per
                        // device and conversation is ever outstanding).
                        let mut got: Option<Vec<u8>> = sqlx::query_scalar(
                            "SELECT data FROM key_packages
                             WHERE device_id = $1 AND conversation_id = $2 AND claimed_at IS NOT NULL
                               AND used_at IS NULL AND last_resort = FALSE AND not_after > $3
                             ORDER BY claimed_at, kp_ref LIMIT 1",
                        )
                        .bind(device)
                        .bind(&conversation.id)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                        // Regular packages first, each handed out once; the
                        // conditional UPDATE makes a concurrent claimer skip it.
                        for _ in 0..4 {
                            if got.is_some() {
                                break;
                            }
                            let candidate: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
                                "SELECT kp_ref, data FROM key_packages
                                 WHERE device_id = $1 AND claimed_at IS NULL AND last_resort = FALSE AND not_after > $2
                                 ORDER BY uploaded_at, kp_ref LIMIT 1",
                            )
                            .bind(device)
                            .bind(now)
                            .fetch_optional(&mut *tx)
                            .await?;
                            let Some((kp_ref, data)) = candidate else { break };
                            let done = sqlx::query(
                                "UPDATE key_packages SET claimed_at = $1, claimed_by = $2, conversation_id = $3
                                 WHERE kp_ref = $4 AND claimed_at IS NULL",
                            )
                            .bind(now)
                            .bind(claimer)
                            .bind(&conversation.id)
                            .bind(&kp_ref)
                            .execute(&mut *tx)
                            .await?;
                            if done.rows_affected() == 1 {
                                got = Some(data);
                                break;
                            }
                        }
                        if got.is_none() {
                            let last: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
                                "SELECT kp_ref, data FROM key_packages
                                 WHERE device_id = $1 AND last_resort = TRUE AND not_after > $2",
                            )
                            .bind(device)
                            .bind(now)
                            .fetch_optional(&mut *tx)
                            .await?;
                            if let Some((kp_ref, data)) = last {
                                sqlx::query(
                                    "UPDATE key_packages SET claimed_by = $1, conversation_id = $2 WHERE kp_ref = $3",
                                )
                                .bind(claimer)
                                .bind(&conversation.id)
                                .bind(&kp_ref)
                                .execute(&mut *tx)
                                .await?;
                                got = Some(data);
                            }
                        }
                        match got {
                            Some(key_package) => claimed.push(ClaimedKeyPackage { device_id: device, user_id: user, key_package }),
                            None => missing.push(device),
                        }
                    }
                    // Clients ask before sending whether a new device appeared;
                    // only a claim that hands out (or lacks) a package is an
                    // event worth recording.
                    if !claimed.is_empty() || !missing.is_empty() {
                        let mut event = event;
                        event.detail = Some(serde_json::json!({
                            "claimed": claimed.iter().map(|c| c.device_id).collect::<Vec<_>>(),
                            "missing": missing,
                        }));
                        audit(&mut tx, &event, now).await?;
                    }
                    tx.commit().await?;
                    Ok((claimed, missing))
                }

                async fn group_state(&self, conversation: &str) -> StoreResult<Option<GroupState>> {
                    Ok(sqlx::query_as(
                        "SELECT epoch, state, group_info FROM conversation_groups WHERE conversation_id = $1",
                    )
                    .bind(conversation)
                    .fetch_optional(self.reader())
                    .await?)
                }

                async fn init_group_state(
                    &self,
                    conversation: &str,
                    state: &GroupState,
                    now: UnixTime,
                    event: audit::Event,
                ) -> StoreResult<bool> {
                    let mut tx = self.writer().begin().await?;
                    // Only at the epoch the server orders: a state for an
                    // older epoch would let history be rewritten.
                    let inserted = sqlx::query(
                        "INSERT INTO conversation_groups (conversation_id, epoch, state, group_info, updated_at)
                         SELECT id, epoch, $2, $3, $4 FROM conversations WHERE id = $1 AND epoch = $5
                         ON CONFLICT (conversation_id) DO NOTHING",
                    )
                    .bind(conversation)
                    .bind(&state.state)
                    .bind(&state.group_info)
                    .bind(now)
                    .bind(state.epoch)
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        return Ok(false);
                    }
                    audit(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn server_proposals(&self, conversation: &str, epoch: i64) -> StoreResult<Vec<Vec<u8>>> {
                    Ok(sqlx::query_scalar(
                        "SELECT data FROM messages WHERE conversation_id = $1 AND kind = 'proposal' AND epoch = $2 ORDER BY seq",
                    )
                    .bind(conversation)
                    .bind(epoch)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn membership_facts(
                    &self,
                    devices: &[DeviceId],
                    key_packages: &[Vec<u8>],
                ) -> StoreResult<MembershipFacts> {
                    let mut facts = MembershipFacts::default();
                    for device in devices {
                        let fact: Option<$crate::delivery::rules::DeviceFact> = sqlx::query_as(
                            "SELECT d.id AS device_id, d.user_id, d.practice_id, (d.revoked_at IS NOT NULL) AS revoked,
                                    dk.signature_key
                             FROM devices d LEFT JOIN device_keys dk ON dk.device_id = d.id WHERE d.id = $1",
                        )
                        .bind(*device)
                        .fetch_optional(self.reader())
                        .await?;
                        facts.devices.extend(fact);
                    }
                    for kp_ref in key_packages {
                        let fact: Option<$crate::delivery::rules::KeyPackageFact> = sqlx::query_as(
                            "SELECT kp_ref, device_id, conversation_id FROM key_packages WHERE kp_ref = $1",
                        )
                        .bind(kp_ref)
                        .fetch_optional(self.reader())
                        .await?;
                        facts.key_packages.extend(fact);
                    }
                    Ok(facts)
                }

                async fn accept_commit(&self, commit: &NewCommit, now: UnixTime, event: audit::Event) -> DeliveryResult<Appended> {
                    let mut tx = self.writer().begin().await?;
                    // First commit of an epoch wins; any later one finds the
                    // epoch moved on. The row lock also orders this commit
                    // with a concurrent revocation of its conversation.
                    let advanced: Option<i64> = sqlx::query_scalar(
                        "UPDATE conversations SET epoch = epoch + 1, last_seq = last_seq + 1
                         WHERE id = $1 AND epoch = $2 RETURNING last_seq",
                    )
                    .bind(&commit.conversation_id)
                    .bind(commit.epoch)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(seq) = advanced else {
                        let current: i64 = sqlx::query_scalar("SELECT epoch FROM conversations WHERE id = $1")
                            .bind(&commit.conversation_id)
                            .fetch_one(&mut *tx)
                            .await?;
                        return Err(DeliveryError::StaleEpoch { current });
                    };
                    let state_moved = sqlx::query(
                        "UPDATE conversation_groups SET epoch = epoch + 1, state = $1, group_info = $2, updated_at = $3
                         WHERE conversation_id = $4 AND epoch = $5",
                    )
                    .bind(&commit.state)
                    .bind(&commit.group_info)
                    .bind(now)
                    .bind(&commit.conversation_id)
                    .bind(commit.epoch)
                    .execute(&mut *tx)
                    .await?;
                    if state_moved.rows_affected() != 1 {
                        return Err(DeliveryError::StaleEpoch { current: commit.epoch + 1 });
                    }
                    if commit.forbid_revoked {
                        for (device, _, _) in &commit.members_after {
                            let revoked: bool = sqlx::query_scalar(
                                "SELECT revoked_at IS NOT NULL FROM devices WHERE id = $1",
                            )
                            .bind(*device)
                            .fetch_one(&mut *tx)
                            .await?;
                            if revoked {
                                return Err(DeliveryError::RemovalPending);
                            }
                        }
                    }
                    sqlx::query(
                        "INSERT INTO messages (conversation_id, seq, kind, epoch, sender_device_id, data, created_at)
                         VALUES ($1, $2, 'commit', $3, $4, $5, $6)",
                    )
                    .bind(&commit.conversation_id)
                    .bind(seq)
                    .bind(commit.epoch)
                    .bind(commit.sender_device)
                    .bind(&commit.data)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    // Wake everyone who was a member before the commit
                    // (including removed devices, which learn of it) and the
                    // devices that joined.
                    let before: Vec<(DeviceId, i64)> = sqlx::query_as(
                        "SELECT device_id, leaf_index FROM conversation_members
                         WHERE conversation_id = $1 AND removed_at IS NULL",
                    )
                    .bind(&commit.conversation_id)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut wake: Vec<DeviceId> = before.iter().map(|(d, _)| *d).collect();
                    let mut removed = Vec::new();
                    for (device, leaf) in &before {
                        if !commit.members_after.iter().any(|(d, _, l)| d == device && l == leaf) {
                            sqlx::query(
                                "UPDATE conversation_members SET removed_at = $1, removed_seq = $2
                                 WHERE conversation_id = $3 AND device_id = $4",
                            )
                            .bind(now)
                            .bind(seq)
                            .bind(&commit.conversation_id)
                            .bind(*device)
                            .execute(&mut *tx)
                            .await?;
                            removed.push(*device);
                        }
                    }
                    let mut added = Vec::new();
                    for (device, user, leaf) in &commit.members_after {
                        if before.iter().any(|(d, l)| d == device && l == leaf) {
                            continue;
                        }
                        // A device that (re)joins reads the log from the
                        // entry after the commit that added it.
                        sqlx::query(
                            "INSERT INTO conversation_members (conversation_id, device_id, user_id, leaf_index, joined_seq)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (conversation_id, device_id)
                             DO UPDATE SET leaf_index = $4, joined_seq = $5, removed_at = NULL, removed_seq = NULL",
                        )
                        .bind(&commit.conversation_id)
                        .bind(*device)
                        .bind(*user)
                        .bind(*leaf)
                        .bind(seq + 1)
                        .execute(&mut *tx)
                        .await?;
                        added.push(*device);
                        wake.push(*device);
                    }
                    for kp_ref in &commit.used_key_packages {
                        sqlx::query("UPDATE key_packages SET used_at = $1 WHERE kp_ref = $2 AND last_resort = FALSE")
                            .bind(now)
                            .bind(kp_ref)
                            .execute(&mut *tx)
                            .await?;
                    }
                    if let Some(welcome) = &commit.welcome {
                        for device in &commit.welcome_to {
                            sqlx::query(
                                "INSERT INTO welcomes (id, practice_id, conversation_id, device_id, commit_seq, data, created_at)
                                 SELECT $1, practice_id, id, $2, $3, $4, $5 FROM conversations WHERE id = $6",
                            )
                            .bind(uuid::Uuid::new_v4().to_string())
                            .bind(*device)
                            .bind(seq)
                            .bind(welcome)
                            .bind(now)
                            .bind(&commit.conversation_id)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    wake.sort();
                    wake.dedup();
                    wake.retain(|d| *d != commit.sender_device);
                    let mut event = event;
                    event.detail = Some(serde_json::json!({
                        "seq": seq, "epoch": commit.epoch,
                        "added": added, "removed": removed,
                    }));
                    audit(&mut tx, &event, now).await?;
                    tx.commit().await?;
                    Ok(Appended { seq, duplicate: false, wake })
                }

                async fn append_messages(
                    &self,
                    batch: &[(NewMessage, audit::Event)],
                    now: UnixTime,
                ) -> StoreResult<Vec<DeliveryResult<Appended>>> {
                    // A database failure aborts the whole batch (nothing of
                    // it is committed); a refusal is that message's answer
                    // alone.
                    let mut tx = self.writer().begin().await?;
                    let results = append_batch(&mut tx, batch, now).await?;
                    tx.commit().await?;
                    Ok(results)
                }

                async fn fetch_log(
                    &self,
                    conversation: &str,
                    device: DeviceId,
                    after_seq: i64,
                    limit: i64,
                ) -> StoreResult<Vec<LogEntry>> {
                    Ok(sqlx::query_as(
                        "SELECT m.seq, m.kind, m.epoch, m.sender_device_id, m.data FROM messages m
                         JOIN conversation_members cm ON cm.conversation_id = m.conversation_id AND cm.device_id = $2
                         JOIN devices dv ON dv.id = cm.device_id AND dv.revoked_at IS NULL
                         WHERE m.conversation_id = $1 AND m.seq > $3 AND m.seq >= cm.joined_seq
                           AND (cm.removed_seq IS NULL OR m.seq <= cm.removed_seq)
                           AND (m.sender_device_id IS NULL OR m.sender_device_id <> $2)
                         ORDER BY m.seq LIMIT $4",
                    )
                    .bind(conversation)
                    .bind(device)
                    .bind(after_seq)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn ack_many(
                    &self,
                    batch: &[(Conversation, DeviceId, i64)],
                    now: UnixTime,
                ) -> StoreResult<Vec<DeliveryResult<i64>>> {
                    let mut tx = self.writer().begin().await?;
                    let results = ack_batch(&mut tx, batch, now).await?;
                    tx.commit().await?;
                    Ok(results)
                }

                async fn record_deliveries(
                    &self,
                    batch: &[Delivery],
                    now: UnixTime,
                ) -> StoreResult<Vec<DeliveryResult<()>>> {
                    let mut tx = self.writer().begin().await?;
                    let results = delivery_batch(&mut tx, batch, now).await?;
                    tx.commit().await?;
                    Ok(results)
                }

                async fn device_cursors(&self, device: DeviceId) -> StoreResult<Vec<(String, i64)>> {
                    Ok(sqlx::query_as(
                        "SELECT cm.conversation_id, COALESCE(dc.acked_seq, cm.joined_seq - 1) FROM conversation_members cm
                         LEFT JOIN delivery_cursors dc ON dc.device_id = cm.device_id AND dc.conversation_id = cm.conversation_id
                         WHERE cm.device_id = $1 AND (cm.removed_seq IS NULL OR COALESCE(dc.acked_seq, 0) < cm.removed_seq)",
                    )
                    .bind(device)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn pending_welcomes(&self, device: DeviceId) -> StoreResult<Vec<PendingWelcome>> {
                    Ok(sqlx::query_as(
                        "SELECT id, conversation_id, data FROM welcomes
                         WHERE device_id = $1 AND acked_at IS NULL ORDER BY created_at, id",
                    )
                    .bind(device)
                    .fetch_all(self.reader())
                    .await?)
                }

                async fn ack_welcome(&self, device: DeviceId, id: &str, now: UnixTime) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE welcomes SET acked_at = $1 WHERE id = $2 AND device_id = $3")
                        .bind(now)
                        .bind(id)
                        .bind(device)
                        .execute(self.writer())
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    Ok(())
                }
            }
        };
    };
}

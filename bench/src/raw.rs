//! The raw storage ceiling: the server's own batch writes, called directly
//! on a fresh database with the server's settings — `Store::append_messages`
//! (the deciding read, sequence update, message rows, audit rows and member
//! read that a group-committed batch of sends runs), `Store::record_deliveries`
//! (the receivers' access records, written before anything is sent) and
//! `Store::ack_many` (their cursor moves), one transaction each, exactly as
//! the server's three batchers write them — but without HTTP,
//! sockets, MLS checks, wake-ups or waiting for senders. Run with one
//! message per transaction (a server under light load) and with full
//! batches (what group commit can approach). The server's throughput
//! divided by the batched figure is the share of the storage ceiling the
//! server reaches.

use alcove_server::audit::{Event, RequestMeta};
use alcove_server::config::Settings;
use alcove_server::delivery::store::{Conversation, Delivery, NewMessage};
use alcove_server::ids::{DeviceId, PracticeId, UserId};
use alcove_server::storage::Store;
use anyhow::{anyhow, Result};
use std::time::{Duration, Instant};

/// One measurement.
#[derive(Debug, Clone)]
pub struct RawResult {
    /// Messages per transaction.
    pub batch: usize,
    /// Messages written (and acknowledged).
    pub messages: usize,
    /// Seconds.
    pub secs: f64,
}

impl RawResult {
    /// Messages per second.
    pub fn per_sec(&self) -> f64 {
        self.messages as f64 / self.secs
    }
}

/// A staff device sending to a client device in one conversation.
struct Pair {
    conversation: Conversation,
    staff: UserId,
    staff_device: DeviceId,
    client: UserId,
    client_device: DeviceId,
}

const NOW: i64 = 1_700_000_000;

/// The rows a practice with `pairs` two-device conversations needs.
fn seed_sql(
    practice: PracticeId,
    pairs: &[(UserId, DeviceId, UserId, DeviceId, String)],
) -> Vec<String> {
    let mut sql = vec![format!(
        "INSERT INTO practices (id, name, created_at) VALUES ('{practice}', 'raw', {NOW})"
    )];
    for (i, (staff, staff_device, client, client_device, conv)) in pairs.iter().enumerate() {
        for (user, device, role) in [
            (staff, staff_device, "clinician"),
            (client, client_device, "client"),
        ] {
            sql.push(format!(
                "INSERT INTO users (id, practice_id, login, display_name, role, password_hash, created_at)
                 VALUES ('{user}', '{practice}', '{role}{i}@raw', '{role}{i}', '{role}', 'x', {NOW})"
            ));
            sql.push(format!(
                "INSERT INTO devices (id, practice_id, user_id, name, user_agent, created_at, last_seen_at)
                 VALUES ('{device}', '{practice}', '{user}', 'd', 'ua', {NOW}, {NOW})"
            ));
        }
        sql.push(format!(
            "INSERT INTO conversations (id, practice_id, client_user_id, staff_user_id, created_by_device,
                 created_at, epoch, last_seq)
             VALUES ('{conv}', '{practice}', '{client}', '{staff}', '{staff_device}', {NOW}, 1, 0)"
        ));
        for (leaf, (user, device)) in [(staff, staff_device), (client, client_device)]
            .into_iter()
            .enumerate()
        {
            sql.push(format!(
                "INSERT INTO conversation_members (conversation_id, device_id, user_id, leaf_index, joined_seq)
                 VALUES ('{conv}', '{device}', '{user}', {leaf}, 1)"
            ));
        }
    }
    sql
}

/// Writes `batch` messages per transaction, then their delivery records
/// and their acknowledgements in one more each, until `max` messages or
/// `limit`.
async fn run(
    store: &dyn Store,
    practice: PracticeId,
    pairs: &[Pair],
    batch: usize,
    max: usize,
    limit: Duration,
    data: &[u8],
) -> Result<RawResult> {
    let meta = RequestMeta::default();
    let start = Instant::now();
    let mut written = 0usize;
    while written < max && start.elapsed() < limit {
        let chosen: Vec<&Pair> = (0..batch)
            .map(|j| &pairs[(written + j) % pairs.len()])
            .collect();
        let sends: Vec<(NewMessage, Event)> = chosen
            .iter()
            .map(|p| {
                let mut event = Event::new(
                    practice,
                    alcove_server::audit::Action::MessageAccepted,
                    &meta,
                )
                .actor(p.staff, Some(p.staff_device))
                .target_user(p.client);
                event.target_conversation = Some(p.conversation.id.clone());
                let message = NewMessage {
                    conversation_id: p.conversation.id.clone(),
                    sender_device: p.staff_device,
                    epoch: 1,
                    client_msg_id: uuid::Uuid::new_v4().into_bytes().to_vec(),
                    data: data.to_vec(),
                };
                (message, event)
            })
            .collect();
        let appended = store.append_messages(&sends, NOW).await?;
        let mut acks = Vec::with_capacity(batch);
        let mut deliveries = Vec::with_capacity(batch);
        for (p, result) in chosen.iter().zip(appended) {
            let seq = result.map_err(|e| anyhow!("raw send refused: {e}"))?.seq;
            let event = Event::new(
                practice,
                alcove_server::audit::Action::MessageDelivered,
                &meta,
            )
            .actor(p.client, Some(p.client_device));
            deliveries.push(Delivery {
                conversation: p.conversation.clone(),
                device: p.client_device,
                from_seq: seq,
                to_seq: seq,
                via: "socket",
                event,
            });
            acks.push((p.conversation.clone(), p.client_device, seq));
        }
        // What the server writes per delivered message: its access record
        // (before it is sent), then the receiver's cursor.
        for result in store.record_deliveries(&deliveries, NOW).await? {
            result.map_err(|e| anyhow!("raw delivery record refused: {e}"))?;
        }
        for result in store.ack_many(&acks, NOW).await? {
            result.map_err(|e| anyhow!("raw ack refused: {e}"))?;
        }
        written += batch;
    }
    Ok(RawResult {
        batch,
        messages: written,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// Opens a fresh store for `settings`, seeds it through `exec` (raw SQL on
/// a connection of its own) and runs.
async fn seeded_run<F, Fut>(
    settings: &Settings,
    exec: F,
    pairs: usize,
    batch: usize,
    max: usize,
    limit: Duration,
    data: &[u8],
) -> Result<RawResult>
where
    F: FnOnce(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let store = alcove_server::storage::open(settings).await?;
    let practice = PracticeId::new();
    let ids: Vec<_> = (0..pairs.max(1))
        .map(|_| {
            let conv = uuid::Uuid::new_v4().to_string();
            (
                UserId::new(),
                DeviceId::new(),
                UserId::new(),
                DeviceId::new(),
                conv,
            )
        })
        .collect();
    exec(seed_sql(practice, &ids)).await?;
    let mut seeded = Vec::with_capacity(ids.len());
    for (staff, staff_device, client, client_device, conv) in ids {
        seeded.push(Pair {
            conversation: store.conversation(practice, &conv).await?,
            staff,
            staff_device,
            client,
            client_device,
        });
    }
    let result = run(&*store, practice, &seeded, batch, max, limit, data).await;
    store.close().await;
    result
}

/// Runs the SQLite ceiling in a fresh data directory under `dir` (the
/// server's own pools and settings: WAL, `synchronous=FULL`).
pub async fn sqlite(
    dir: &std::path::Path,
    pairs: usize,
    batch: usize,
    max: usize,
    limit: Duration,
    data: &[u8],
) -> Result<RawResult> {
    let data_dir = dir.join(format!("raw-{batch}"));
    let mut settings = Settings::defaults();
    settings.data_dir = data_dir;
    let path = match settings.database() {
        alcove_server::config::DatabaseKind::Sqlite(path) => path,
        alcove_server::config::DatabaseKind::Postgres => return Err(anyhow!("expected SQLite")),
    };
    let exec = |sql: Vec<String>| async move {
        use sqlx::Connection;
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
        for s in sql {
            sqlx::query(&s).execute(&mut c).await?;
        }
        c.close().await?;
        Ok(())
    };
    seeded_run(&settings, exec, pairs, batch, max, limit, data).await
}

/// Runs the PostgreSQL ceiling in a fresh database.
pub async fn postgres(
    admin_url: &str,
    pairs: usize,
    batch: usize,
    max: usize,
    limit: Duration,
    data: &[u8],
) -> Result<RawResult> {
    let db = crate::server::PgDb::create(admin_url, &format!("raw{batch}")).await?;
    let mut settings = Settings::defaults();
    settings.database_url = Some(db.url.clone().into());
    let url = db.url.clone();
    let exec = |sql: Vec<String>| async move {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await?;
        for s in sql {
            sqlx::query(&s).execute(&mut c).await?;
        }
        c.close().await?;
        Ok(())
    };
    let r = seeded_run(&settings, exec, pairs, batch, max, limit, data).await;
    db.drop_db().await;
    r
}

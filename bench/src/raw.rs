//! The raw storage ceiling: the statements the server runs per message
//! (membership check, idempotency check, sequence bump, message row, audit
//! head bump, audit row, member list), straight into a fresh database with
//! the real migrations and the server's settings, without HTTP or the
//! server. Run once with one transaction per message (what the server
//! does) and once batched (`batch` messages per transaction: the ceiling a
//! group commit could approach).

use anyhow::Result;
use std::time::{Duration, Instant};

/// One measurement.
#[derive(Debug, Clone)]
pub struct RawResult {
    /// Messages per transaction.
    pub batch: usize,
    /// Messages written.
    pub messages: usize,
    /// Seconds.
    pub secs: f64,
    /// Set for the group-commit prototype.
    pub group: Option<GroupStats>,
}

/// What the group-commit prototype saw.
#[derive(Debug, Clone)]
pub struct GroupStats {
    /// Transactions committed.
    pub commits: usize,
    /// Submit-to-durable latency per message, ms: p50, p95, p99, max.
    pub commit_ms: [f64; 4],
}

impl RawResult {
    /// Messages per second.
    pub fn per_sec(&self) -> f64 {
        self.messages as f64 / self.secs
    }
}

/// Fixed ids for the seeded rows.
struct Seed {
    practice: String,
    convs: Vec<(String, String, String, String)>, // conv, staff user, staff device, client user
}

fn seed(pairs: usize) -> Seed {
    let id = || uuid::Uuid::new_v4().to_string();
    Seed {
        practice: id(),
        convs: (0..pairs).map(|_| (id(), id(), id(), id())).collect(),
    }
}

macro_rules! raw_backend {
    ($name:ident, $pool:ty, $db:ty, $migrations:literal) => {
        mod $name {
            use super::*;

            /// The server's statements for one message, in `tx`.
            async fn one(tx: &mut sqlx::Transaction<'static, $db>, s: &Seed, k: usize, data: &[u8], now: i64) -> Result<()> {
                let (conv, staff, staff_dev, client) = &s.convs[k % s.convs.len()];
                let msg_id = uuid::Uuid::new_v4().into_bytes().to_vec();
                let _: Option<i64> = sqlx::query_scalar(
                    "SELECT leaf_index FROM conversation_members
                     WHERE conversation_id = $1 AND device_id = $2 AND removed_at IS NULL")
                    .bind(conv).bind(staff_dev).fetch_optional(&mut **tx).await?;
                let _: Option<i64> = sqlx::query_scalar(
                    "SELECT seq FROM messages WHERE conversation_id = $1 AND sender_device_id = $2 AND client_msg_id = $3")
                    .bind(conv).bind(staff_dev).bind(&msg_id).fetch_optional(&mut **tx).await?;
                let seq: i64 = sqlx::query_scalar(
                    "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 AND epoch = $2 RETURNING last_seq")
                    .bind(conv).bind(1i64).fetch_one(&mut **tx).await?;
                sqlx::query(
                    "INSERT INTO messages (conversation_id, seq, kind, epoch, sender_device_id, client_msg_id, data, created_at)
                     VALUES ($1, $2, 'application', $3, $4, $5, $6, $7)")
                    .bind(conv).bind(seq).bind(1i64).bind(staff_dev).bind(&msg_id).bind(data).bind(now)
                    .execute(&mut **tx).await?;
                let aseq: i64 = sqlx::query_scalar(
                    "INSERT INTO audit_heads (practice_id, seq) VALUES ($1, 1)
                     ON CONFLICT (practice_id) DO UPDATE SET seq = audit_heads.seq + 1 RETURNING seq")
                    .bind(&s.practice).fetch_one(&mut **tx).await?;
                sqlx::query(
                    "INSERT INTO audit_events (practice_id, seq, at, actor_user_id, actor_device_id,
                         action, target_user_id, target_device_id, target_conversation_id, outcome,
                         request_id, ip, detail, leaf_hash)
                     VALUES ($1, $2, $3, $4, $5, 'message.accepted', $6, NULL, $7, 'success', $8, '127.0.0.1', $9, $10)")
                    .bind(&s.practice).bind(aseq).bind(now).bind(staff).bind(staff_dev).bind(client).bind(conv)
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(format!("{{\"seq\":{seq},\"size\":{}}}", data.len()))
                    .bind(&uuid::Uuid::new_v4().as_bytes().repeat(2)[..])
                    .execute(&mut **tx).await?;
                let _: Vec<String> = sqlx::query_scalar(
                    "SELECT device_id FROM conversation_members WHERE conversation_id = $1 AND removed_at IS NULL")
                    .bind(conv).fetch_all(&mut **tx).await?;
                Ok(())
            }

            async fn seeded(pool: &$pool, pairs: usize, now: i64) -> Result<Seed> {
                static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!($migrations);
                MIGRATOR.run(pool).await?;
                let s = seed(pairs);
                sqlx::query("INSERT INTO practices (id, name, created_at) VALUES ($1, 'raw', $2)")
                    .bind(&s.practice).bind(now).execute(pool).await?;
                for (i, (conv, staff, staff_dev, client)) in s.convs.iter().enumerate() {
                    for (user, role) in [(staff, "clinician"), (client, "client")] {
                        sqlx::query("INSERT INTO users (id, practice_id, login, display_name, role, password_hash, created_at)
                                     VALUES ($1, $2, $3, $3, $4, 'x', $5)")
                            .bind(user).bind(&s.practice).bind(format!("{role}{i}@raw")).bind(role).bind(now)
                            .execute(pool).await?;
                    }
                    sqlx::query("INSERT INTO devices (id, practice_id, user_id, name, user_agent, created_at, last_seen_at)
                                 VALUES ($1, $2, $3, 'd', 'ua', $4, $4)")
                        .bind(staff_dev).bind(&s.practice).bind(staff).bind(now).execute(pool).await?;
                    sqlx::query("INSERT INTO conversations (id, practice_id, client_user_id, staff_user_id, created_by_device,
                                 created_at, epoch, last_seq) VALUES ($1, $2, $3, $4, $5, $6, 1, 1)")
                        .bind(conv).bind(&s.practice).bind(client).bind(staff).bind(staff_dev).bind(now)
                        .execute(pool).await?;
                    sqlx::query("INSERT INTO conversation_members (conversation_id, device_id, user_id, leaf_index, joined_seq)
                                 VALUES ($1, $2, $3, 0, 1)")
                        .bind(conv).bind(staff_dev).bind(staff).execute(pool).await?;
                }
                Ok(s)
            }

            /// Fixed batches of `batch` messages per transaction.
            pub async fn run(pool: &$pool, pairs: usize, batch: usize, max_messages: usize, limit: Duration, data: &[u8]) -> Result<RawResult> {
                let now = 1_700_000_000i64;
                let s = seeded(pool, pairs, now).await?;
                let start = Instant::now();
                let mut written = 0usize;
                while written < max_messages && start.elapsed() < limit {
                    let mut tx = pool.begin().await?;
                    for _ in 0..batch {
                        one(&mut tx, &s, written, data, now).await?;
                        written += 1;
                    }
                    tx.commit().await?;
                }
                Ok(RawResult { batch, messages: written, secs: start.elapsed().as_secs_f64(), group: None })
            }

            /// Group commit prototype: `pairs` concurrent senders, one
            /// message in flight each (as in the throughput phase), submit
            /// to one writer task that takes everything queued (up to
            /// `max_batch`), runs it in one transaction, commits once, and
            /// only then answers each sender.
            pub async fn group(pool: &$pool, pairs: usize, max_batch: usize, limit: Duration, data: &[u8]) -> Result<RawResult> {
                let now = 1_700_000_000i64;
                let s = std::sync::Arc::new(seeded(pool, pairs, now).await?);
                let (tx_q, mut rx_q) = tokio::sync::mpsc::channel::<(usize, tokio::sync::oneshot::Sender<()>)>(pairs * 2);
                let start = Instant::now();
                let mut senders = Vec::new();
                for p in 0..pairs {
                    let q = tx_q.clone();
                    senders.push(tokio::spawn(async move {
                        let mut lat = Vec::new();
                        while start.elapsed() < limit {
                            let (done, wait) = tokio::sync::oneshot::channel();
                            let t = Instant::now();
                            if q.send((p, done)).await.is_err() || wait.await.is_err() {
                                break;
                            }
                            lat.push(t.elapsed().as_nanos() as u64);
                        }
                        lat
                    }));
                }
                drop(tx_q);
                let (mut written, mut commits) = (0usize, 0usize);
                while let Some(first) = rx_q.recv().await {
                    let mut batch = vec![first];
                    while batch.len() < max_batch {
                        match rx_q.try_recv() {
                            Ok(x) => batch.push(x),
                            Err(_) => break,
                        }
                    }
                    let mut tx = pool.begin().await?;
                    for (p, _) in &batch {
                        one(&mut tx, &s, *p, data, now).await?;
                    }
                    tx.commit().await?;
                    commits += 1;
                    written += batch.len();
                    for (_, done) in batch {
                        let _ = done.send(());
                    }
                }
                let secs = start.elapsed().as_secs_f64();
                let mut lat = Vec::new();
                for t in senders {
                    lat.extend(t.await.unwrap_or_default());
                }
                let stats = GroupStats { commits, commit_ms: crate::load::percentiles(lat) };
                Ok(RawResult { batch: max_batch, messages: written, secs, group: Some(stats) })
            }
        }
    };
}

raw_backend!(
    raw_sqlite,
    sqlx::SqlitePool,
    sqlx::Sqlite,
    "../migrations/sqlite"
);
raw_backend!(
    raw_pg,
    sqlx::PgPool,
    sqlx::Postgres,
    "../migrations/postgres"
);

/// Runs the SQLite ceiling in a fresh file under `dir` (WAL,
/// `synchronous=FULL`, foreign keys on: the server's settings).
pub async fn sqlite(
    dir: &std::path::Path,
    pairs: usize,
    batch: usize,
    group: bool,
    max: usize,
    limit: Duration,
    data: &[u8],
) -> Result<RawResult> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let path = dir.join(format!("raw-{batch}-{group}.db"));
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let r = if group {
        raw_sqlite::group(&pool, pairs, batch, limit, data).await
    } else {
        raw_sqlite::run(&pool, pairs, batch, max, limit, data).await
    };
    pool.close().await;
    r
}

/// Runs the PostgreSQL ceiling in a fresh database (one connection).
pub async fn postgres(
    admin_url: &str,
    pairs: usize,
    batch: usize,
    group: bool,
    max: usize,
    limit: Duration,
    data: &[u8],
) -> Result<RawResult> {
    let db = crate::server::PgDb::create(
        admin_url,
        &format!("raw{batch}{}", if group { "g" } else { "" }),
    )
    .await?;
    let r = async {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&db.url)
            .await?;
        let r = if group {
            raw_pg::group(&pool, pairs, batch, limit, data).await
        } else {
            raw_pg::run(&pool, pairs, batch, max, limit, data).await
        };
        pool.close().await;
        r
    }
    .await;
    db.drop_db().await;
    r
}

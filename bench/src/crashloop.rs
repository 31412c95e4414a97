//! Crash loop: the server is killed with SIGKILL under send load at a
//! random moment, restarted on the same data directory (and database), and
//! checked, cycle after cycle:
//!
//! * every message the server acknowledged (HTTP 200, socket `sent`) is in
//!   the conversation's log exactly once, and each sender's messages are in
//!   the order they were sent (the receiving device pages
//!   `GET …/messages?after=N` and decrypts every new entry with real MLS);
//! * an unacknowledged message (in flight at the kill) is present at most
//!   once, and the client resends it after the restart with the same
//!   `client_msg_id` and ciphertext, as a real client does: the server must
//!   store it once (`duplicate: true` when it already had it);
//! * the audit log verifies with `alcove audit verify`, run by an
//!   investigator on the killed server's data (every `--audit-every` cycles
//!   and at the end);
//! * the server starts again after every kill.
//!
//! Each pair's clinician sends over HTTP (`POST …/messages`) and its client
//! over the delivery socket (`send` frames), one message at a time each, so
//! the batcher always has several messages of several conversations in one
//! transaction when the kill comes.

use crate::server::{self, PgDb, Spawned};
use crate::setup::{self, Api, Pair, Peer};
use alcove_crypto::{Content, Envelope, Processed};
use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What the campaign is told.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Kill/restart cycles.
    pub cycles: usize,
    /// Clinician/client pairs (two senders each).
    pub pairs: usize,
    /// The kill comes uniformly between these many ms after the load starts.
    pub kill_ms: (u64, u64),
    /// `alcove audit verify` every this many cycles (and after the last).
    pub audit_every: usize,
    /// Re-read every log from the start every this many cycles (and at the end).
    pub full_check_every: usize,
    /// Random seed (0: from the clock); printed for reproduction.
    pub seed: u64,
    /// Plaintext length of each message.
    pub text_len: usize,
    /// Server log filter.
    pub log_filter: String,
    /// Stop after this long even if cycles remain (reported).
    pub budget: Duration,
}

/// How a sender sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Over {
    Http,
    Socket,
}

/// One message of one sender.
struct Msg {
    cmid: [u8; 16],
    cmid_b64: String,
    data_b64: String,
    text: String,
    /// The server answered 200 / `sent` at least once.
    acked: bool,
    /// Times sent.
    attempts: u32,
}

/// One direction of a conversation: a sender's messages and what the
/// receiving device has seen of them.
struct Dir {
    name: String,
    over: Over,
    msgs: Vec<Msg>,
    by_data: HashMap<String, usize>,
    /// Sent without an answer (at most one: one message at a time), resent
    /// first after the restart.
    pending: VecDeque<usize>,
    /// Times each message was seen in the log (incremental reads).
    present: Vec<u32>,
    /// Highest message index seen in the log.
    last_seen: Option<usize>,
    /// The receiving device's read cursor (seq).
    cursor: i64,
    /// Acknowledged messages ever found missing.
    lost: BTreeSet<usize>,
}

impl Dir {
    fn new(name: String, over: Over) -> Self {
        Self {
            name,
            over,
            msgs: Vec::new(),
            by_data: HashMap::new(),
            pending: VecDeque::new(),
            present: Vec::new(),
            last_seen: None,
            cursor: 0,
            lost: BTreeSet::new(),
        }
    }
}

/// A conversation: clinician → client over HTTP (`a`), client → clinician
/// over the socket (`b`).
struct Lane {
    conv: String,
    clinician: Peer,
    client: Peer,
    a: Dir,
    b: Dir,
}

/// Counters over the campaign.
#[derive(Default, Debug, Clone)]
pub struct Totals {
    /// Cycles completed (kill, restart, checks).
    pub cycles: usize,
    /// Messages encrypted and sent at least once.
    pub messages: usize,
    /// Send attempts (first sends and resends).
    pub attempts: usize,
    /// Messages the server acknowledged.
    pub acked: usize,
    /// Of which over HTTP / over the socket.
    pub acked_http: usize,
    /// Acknowledged over the socket.
    pub acked_socket: usize,
    /// Resends of unacknowledged messages after a restart.
    pub resends: usize,
    /// Resends answered `duplicate: true` (the first send had been stored).
    pub resend_duplicates: usize,
    /// Unacknowledged at a kill but found stored after the restart.
    pub stored_unacked: usize,
    /// Unacknowledged at a kill and not stored.
    pub unstored_unacked: usize,
    /// Acknowledged but missing from the log.
    pub lost: usize,
    /// Entries seen more than once.
    pub duplicates: usize,
    /// A sender's messages out of send order.
    pub order_violations: usize,
    /// Application entries matching nothing sent.
    pub unknown_entries: usize,
    /// Entries decrypted by the receiving devices and matched.
    pub decrypted: usize,
    /// Decryption failures or mismatches.
    pub decrypt_failures: usize,
    /// A resend answered `duplicate: false` for a message already in the log.
    pub dedup_misses: usize,
    /// `alcove audit verify` runs passed / failed.
    pub audit_ok: usize,
    /// Audit verification failures.
    pub audit_failed: usize,
    /// Full re-reads of every log from the start.
    pub full_checks: usize,
    /// Full re-reads that disagreed with the incremental reads.
    pub full_check_failures: usize,
    /// Non-200 answers while the server was up (refused sends).
    pub refused: usize,
    /// 503 `unavailable` answers (sends and acknowledgements; retried).
    pub unavailable: usize,
    /// A sample 503.
    pub unavailable_sample: Option<String>,
    /// A sample of problems.
    pub problems: Vec<String>,
}

impl Totals {
    fn problem(&mut self, p: String) {
        eprintln!("crashloop: PROBLEM: {p}");
        if self.problems.len() < 20 {
            self.problems.push(p);
        }
    }

    /// Everything that must be zero.
    pub fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        let zero = [
            ("acknowledged messages lost", self.lost),
            ("duplicate log entries", self.duplicates),
            ("messages out of send order", self.order_violations),
            ("unknown log entries", self.unknown_entries),
            ("decryption failures", self.decrypt_failures),
            ("resends stored twice", self.dedup_misses),
            ("audit verifications failed", self.audit_failed),
            ("full re-reads that disagreed", self.full_check_failures),
        ];
        for (what, n) in zero {
            if n > 0 {
                f.push(format!("crashloop: {n} {what}"));
            }
        }
        f.extend(self.problems.iter().map(|p| format!("crashloop: {p}")));
        f
    }
}

/// Timings of the campaign, ms per cycle.
#[derive(Default, Debug, Clone)]
pub struct Timings {
    /// Whole cycle.
    pub cycle_ms: Vec<f64>,
    /// Load before the kill.
    pub load_ms: Vec<f64>,
    /// Kill → listening again.
    pub restart_ms: Vec<f64>,
    /// `alcove audit verify`.
    pub audit_ms: Vec<f64>,
    /// Reading and decrypting the new log entries.
    pub check_ms: Vec<f64>,
}

/// The outcome of a campaign.
pub struct Outcome {
    /// Counters.
    pub totals: Totals,
    /// Timings.
    pub timings: Timings,
    /// The seed used.
    pub seed: u64,
    /// Wall time.
    pub secs: f64,
    /// Stopped by the budget before all cycles ran.
    pub out_of_time: bool,
}

/// xorshift64*: enough for kill moments, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next() % (hi - lo + 1)
    }
}

/// The server under test: one data directory (and database) across restarts.
struct Subject {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pg: Option<PgDb>,
    log_filter: String,
    proc: Option<Spawned>,
}

/// Signed tree heads are published (and witnessed to a file) every second,
/// so kills also land during publication.
const SERVER_ENV: &[(&str, &str)] = &[("ALCOVE_AUDIT__PUBLISH_INTERVAL_SECS", "1")];

impl Subject {
    fn db_url(&self) -> Option<&str> {
        self.pg.as_ref().map(|p| p.url.as_str())
    }

    async fn start(&mut self, first: bool) -> Result<&Spawned> {
        let spawned = server::spawn(
            &self.bin,
            self.dir.path(),
            self.db_url(),
            &self.log_filter,
            SERVER_ENV,
            first,
        )
        .await?;
        Ok(self.proc.insert(spawned))
    }

    fn addr(&self) -> Result<SocketAddr> {
        self.proc
            .as_ref()
            .map(|p| p.addr)
            .ok_or_else(|| anyhow!("the server is not running"))
    }

    /// SIGKILL (tokio's `Child::kill`), then reap.
    async fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.child.kill().await;
        }
    }

    /// `alcove audit verify` over the data directory (and database), as an
    /// investigator runs it. Ok(()) when it exits 0.
    fn audit_verify(&self) -> Result<std::result::Result<(), String>> {
        let mut cmd = std::process::Command::new(&self.bin);
        cmd.args(["audit", "verify", "--data-dir"])
            .arg(self.dir.path())
            .env("ALCOVE_LOG__FILTER", "warn")
            .env_remove("ALCOVE_DATABASE_URL")
            .env_remove("ALCOVE_CONFIG")
            .current_dir(self.dir.path());
        if let Some(url) = self.db_url() {
            cmd.env("ALCOVE_DATABASE_URL", url);
        }
        let out = cmd.output().context("run alcove audit verify")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.contains("audit log verified") {
            Ok(Ok(()))
        } else {
            Ok(Err(format!(
                "alcove audit verify exited {:?}:\n{}\n{}",
                out.status.code(),
                stdout,
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    async fn finish(mut self, keep: bool) -> Option<PathBuf> {
        self.kill9().await;
        if let Some(pg) = self.pg.take() {
            if keep {
                // The name only: the URL may carry credentials.
                eprintln!("crashloop: keeping PostgreSQL database {}", pg.name());
            } else {
                pg.drop_db().await;
            }
        }
        if keep {
            let path = self.dir.keep();
            eprintln!("crashloop: keeping data directory {}", path.display());
            Some(path)
        } else {
            None
        }
    }
}

/// What one send got back.
enum Answer {
    Acked {
        duplicate: bool,
    },
    /// 503 / `unavailable`: not stored, retry (a real client does).
    Unavailable(String),
    Refused(String),
    Failed,
}

async fn send_http(api: &Api, conv: &str, token: &str, m: &Msg) -> Answer {
    let body = json!({"client_msg_id": m.cmid_b64, "data": m.data_b64});
    match api
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            Some(token),
            &body,
        )
        .await
    {
        Ok((200, v)) => Answer::Acked {
            duplicate: v["duplicate"].as_bool().unwrap_or(false),
        },
        Ok((503, v)) => Answer::Unavailable(format!("HTTP 503: {v}")),
        Ok((s, v)) => Answer::Refused(format!("HTTP {s}: {v}")),
        Err(_) => Answer::Failed,
    }
}

async fn send_socket(ws: &mut Ws, conv: &str, m: &Msg) -> Answer {
    let frame = json!({"type": "send", "conversation_id": conv,
        "client_msg_id": m.cmid_b64, "data": m.data_b64})
    .to_string();
    if ws.send(Message::Text(frame.into())).await.is_err() {
        return Answer::Failed;
    }
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                    continue;
                };
                if v["client_msg_id"].as_str() != Some(m.cmid_b64.as_str()) {
                    continue; // entries of the conversation, read from the log later
                }
                match v["type"].as_str() {
                    Some("sent") => {
                        return Answer::Acked {
                            duplicate: v["duplicate"].as_bool().unwrap_or(false),
                        }
                    }
                    Some("send_failed") if v["error"] == "unavailable" => {
                        return Answer::Unavailable(format!("send_failed {v}"))
                    }
                    Some("send_failed") => return Answer::Refused(format!("send_failed {v}")),
                    _ => continue,
                }
            }
            Some(Ok(Message::Close(_))) => return Answer::Failed,
            Some(Ok(_)) => {}
            Some(Err(_)) => return Answer::Failed,
            None => return Answer::Failed,
        }
    }
}

fn new_msg(peer: &mut Peer, conv: &str, dir: &Dir, text_len: usize) -> Result<Msg> {
    let cmid: [u8; 16] = uuid::Uuid::new_v4().into_bytes();
    let head = format!("{} #{} ", dir.name, dir.msgs.len());
    let text = format!("{head}{}", "x".repeat(text_len.saturating_sub(head.len())));
    let envelope = Envelope {
        client_message_id: cmid,
        sent_at_ms: 1,
        content: Content::Text(text.clone()),
    };
    let pt = envelope.encode().map_err(|e| anyhow!("encode: {e}"))?;
    let ct = peer
        .device
        .encrypt(conv.as_bytes(), &pt)
        .map_err(|e| anyhow!("encrypt: {e}"))?;
    Ok(Msg {
        cmid,
        cmid_b64: setup::b64(&cmid),
        data_b64: setup::b64(&ct),
        text,
        acked: false,
        attempts: 0,
    })
}

/// Sends one message at a time (the unacknowledged one first) until the
/// server goes away, `stop` is set, or — with `drain_only` — nothing is
/// left unacknowledged.
#[allow(clippy::too_many_arguments)]
async fn sender(
    api: &Api,
    addr: SocketAddr,
    conv: &str,
    peer: &mut Peer,
    dir: &mut Dir,
    stop: &AtomicBool,
    drain_only: bool,
    text_len: usize,
) -> Result<Totals> {
    let mut t = Totals::default();
    let mut ws = match dir.over {
        Over::Socket => match crate::load::connect(addr, &peer.token).await {
            Ok(ws) => Some(ws),
            Err(_) => return Ok(t), // killed before the socket opened
        },
        Over::Http => None,
    };
    loop {
        if stop.load(Ordering::Relaxed) || (drain_only && dir.pending.is_empty()) {
            break;
        }
        let i = match dir.pending.front() {
            Some(&i) => i,
            None => {
                let m = new_msg(peer, conv, dir, text_len)?;
                let i = dir.msgs.len();
                dir.by_data.insert(m.data_b64.clone(), i);
                dir.msgs.push(m);
                dir.present.push(0);
                dir.pending.push_back(i);
                t.messages += 1;
                i
            }
        };
        let resend = dir.msgs[i].attempts > 0;
        dir.msgs[i].attempts += 1;
        t.attempts += 1;
        if resend {
            t.resends += 1;
        }
        let answer = match &mut ws {
            Some(ws) => send_socket(ws, conv, &dir.msgs[i]).await,
            None => send_http(api, conv, &peer.token, &dir.msgs[i]).await,
        };
        match answer {
            Answer::Acked { duplicate } => {
                dir.pending.pop_front();
                let m = &mut dir.msgs[i];
                if !m.acked {
                    m.acked = true;
                    t.acked += 1;
                    match dir.over {
                        Over::Http => t.acked_http += 1,
                        Over::Socket => t.acked_socket += 1,
                    }
                }
                if resend && duplicate {
                    t.resend_duplicates += 1;
                }
                if resend && !duplicate && dir.present[i] > 0 {
                    t.dedup_misses += 1;
                    t.problem(format!(
                        "{}: message {i} was already in the log but its resend was stored again (duplicate: false)",
                        dir.name
                    ));
                }
            }
            Answer::Unavailable(e) => {
                t.unavailable += 1;
                if t.unavailable_sample.is_none() {
                    t.unavailable_sample = Some(format!("{}: {e}", dir.name));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Answer::Refused(e) => {
                // The server is up but said no: a real client would retry
                // later; so do we, after the next restart.
                t.refused += 1;
                if !stop.load(Ordering::Relaxed) {
                    t.problem(format!("{}: message {i} refused: {e}", dir.name));
                }
                break;
            }
            Answer::Failed => break, // the server is gone
        }
    }
    if let Some(mut ws) = ws {
        let _ = tokio::time::timeout(Duration::from_millis(200), ws.close(None)).await;
    }
    Ok(t)
}

/// Reads the receiving device's new log entries of one direction (pages
/// of 500 after its cursor), decrypting each on that device, and checks
/// them; then acknowledges them as the client would.
async fn check_dir(
    api: &Api,
    conv: &str,
    reader: &mut Peer,
    dir: &mut Dir,
    t: &mut Totals,
) -> Result<()> {
    loop {
        let (status, page) = api
            .get(
                &format!(
                    "/api/v1/conversations/{conv}/messages?after={}&limit=500",
                    dir.cursor
                ),
                Some(&reader.token),
            )
            .await?;
        if status != 200 {
            bail!(
                "{}: fetch after {}: HTTP {status}: {page}",
                dir.name,
                dir.cursor
            );
        }
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            break;
        }
        for e in &entries {
            let seq = e["seq"].as_i64().unwrap_or(0);
            if seq <= dir.cursor {
                t.order_violations += 1;
                t.problem(format!(
                    "{}: seq {seq} after cursor {}",
                    dir.name, dir.cursor
                ));
            }
            dir.cursor = dir.cursor.max(seq);
            if e["kind"].as_str() != Some("application") {
                continue; // the Add commit
            }
            let data = e["data"].as_str().unwrap_or_default();
            let Some(&i) = dir.by_data.get(data) else {
                t.unknown_entries += 1;
                t.problem(format!(
                    "{}: entry seq {seq} matches nothing sent",
                    dir.name
                ));
                continue;
            };
            dir.present[i] += 1;
            if dir.present[i] > 1 {
                t.duplicates += 1;
                t.problem(format!(
                    "{}: message {i} is in the log {} times (seq {seq})",
                    dir.name, dir.present[i]
                ));
                continue;
            }
            if dir.last_seen.is_some_and(|l| i <= l) {
                t.order_violations += 1;
                t.problem(format!(
                    "{}: message {i} (seq {seq}) after message {:?}",
                    dir.name, dir.last_seen
                ));
            }
            dir.last_seen = Some(dir.last_seen.map_or(i, |l| l.max(i)));
            let bytes = data_encoding::BASE64.decode(data.as_bytes())?;
            let m = &dir.msgs[i];
            match reader.device.process(&bytes) {
                Ok(Processed::Application { plaintext, .. }) => {
                    match Envelope::decode(&plaintext) {
                        Ok(env)
                            if env.client_message_id == m.cmid
                                && matches!(&env.content, Content::Text(x) if *x == m.text) =>
                        {
                            t.decrypted += 1
                        }
                        other => {
                            t.decrypt_failures += 1;
                            t.problem(format!("{}: message {i} decrypted to {other:?}", dir.name));
                        }
                    }
                }
                other => {
                    t.decrypt_failures += 1;
                    t.problem(format!("{}: message {i}: {other:?}", dir.name));
                }
            }
        }
    }
    // Every acknowledged message must be there by now.
    for (i, m) in dir.msgs.iter().enumerate() {
        if m.acked && dir.present[i] == 0 && dir.lost.insert(i) {
            t.lost += 1;
            t.problem(format!(
                "{}: acknowledged message {i} ({}) is not in the log",
                dir.name, m.cmid_b64
            ));
        }
    }
    // Acknowledge what was read, retrying 503s as the client does.
    let mut tries = 0;
    while dir.cursor > 0 && tries <= 50 {
        let (status, body) = api
            .post(
                &format!("/api/v1/conversations/{conv}/ack"),
                Some(&reader.token),
                &json!({"seq": dir.cursor}),
            )
            .await?;
        match status {
            200 => break,
            503 if tries < 50 => {
                tries += 1;
                t.unavailable += 1;
                if t.unavailable_sample.is_none() {
                    t.unavailable_sample = Some(format!("{}: ack: HTTP 503: {body}", dir.name));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => bail!("{}: ack {}: HTTP {status}: {body}", dir.name, dir.cursor),
        }
    }
    Ok(())
}

/// Re-reads a direction's whole log from the start (ciphertexts only: the
/// keys are gone once decrypted) and checks it against the incremental
/// reads: every acknowledged message exactly once, in send order.
async fn full_check(
    api: &Api,
    conv: &str,
    reader: &Peer,
    dir: &Dir,
    t: &mut Totals,
) -> Result<bool> {
    let mut counts = vec![0u32; dir.msgs.len()];
    let (mut after, mut last): (i64, Option<usize>) = (0, None);
    let mut ok = true;
    loop {
        let (status, page) = api
            .get(
                &format!("/api/v1/conversations/{conv}/messages?after={after}&limit=500"),
                Some(&reader.token),
            )
            .await?;
        if status != 200 {
            bail!("{}: full read after {after}: HTTP {status}", dir.name);
        }
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            break;
        }
        for e in &entries {
            after = e["seq"].as_i64().unwrap_or(after);
            if e["kind"].as_str() != Some("application") {
                continue;
            }
            match dir.by_data.get(e["data"].as_str().unwrap_or_default()) {
                Some(&i) => {
                    counts[i] += 1;
                    if last.is_some_and(|l| i <= l) {
                        ok = false;
                    }
                    last = Some(i);
                }
                None => ok = false,
            }
        }
    }
    for (i, m) in dir.msgs.iter().enumerate() {
        if counts[i] > 1 || (m.acked && counts[i] != 1) || counts[i] != dir.present[i] {
            ok = false;
        }
    }
    if !ok {
        t.full_check_failures += 1;
        t.problem(format!(
            "{}: the full re-read disagrees with the incremental reads",
            dir.name
        ));
    }
    t.full_checks += 1;
    Ok(ok)
}

fn add(into: &mut Totals, t: Totals) {
    into.messages += t.messages;
    into.attempts += t.attempts;
    into.acked += t.acked;
    into.acked_http += t.acked_http;
    into.acked_socket += t.acked_socket;
    into.resends += t.resends;
    into.resend_duplicates += t.resend_duplicates;
    into.dedup_misses += t.dedup_misses;
    into.refused += t.refused;
    into.unavailable += t.unavailable;
    if into.unavailable_sample.is_none() {
        into.unavailable_sample = t.unavailable_sample;
    }
    // Printed already where they were found.
    into.problems.extend(t.problems);
    into.problems.truncate(20);
}

async fn check_all(api: &Api, lanes: &mut [Lane], t: &mut Totals, full: bool) -> Result<()> {
    for lane in lanes.iter_mut() {
        let Lane {
            conv,
            clinician,
            client,
            a,
            b,
        } = lane;
        check_dir(api, conv, client, a, t).await?;
        check_dir(api, conv, clinician, b, t).await?;
        // What was in flight at the kill: stored or not?
        for dir in [&*a, &*b] {
            for &i in &dir.pending {
                if dir.msgs[i].attempts > 0 {
                    if dir.present[i] > 0 {
                        t.stored_unacked += 1;
                    } else {
                        t.unstored_unacked += 1;
                    }
                }
            }
        }
        if full {
            full_check(api, conv, client, a, t).await?;
            full_check(api, conv, clinician, b, t).await?;
        }
    }
    Ok(())
}

/// Runs the load on every lane until the kill (or, with `drain_only`,
/// until every unacknowledged message is acknowledged).
async fn load(
    api: &Api,
    addr: SocketAddr,
    lanes: &mut [Lane],
    stop: &AtomicBool,
    drain_only: bool,
    text_len: usize,
) -> Result<Totals> {
    let mut futs = Vec::new();
    for lane in lanes.iter_mut() {
        let Lane {
            conv,
            clinician,
            client,
            a,
            b,
        } = lane;
        let conv: &str = conv;
        futs.push(sender(
            api, addr, conv, clinician, a, stop, drain_only, text_len,
        ));
        futs.push(sender(
            api, addr, conv, client, b, stop, drain_only, text_len,
        ));
    }
    let mut total = Totals::default();
    for r in futures_util::future::join_all(futs).await {
        add(&mut total, r?);
    }
    Ok(total)
}

/// The whole campaign.
pub async fn run(bin: &Path, postgres: Option<&str>, opts: &Opts) -> Result<Outcome> {
    let started = Instant::now();
    let seed = if opts.seed != 0 {
        opts.seed
    } else {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1
    };
    eprintln!("crashloop: seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::Builder::new()
        .prefix("alcove-crashloop-")
        .tempdir()?;
    let pg = match postgres {
        Some(url) => Some(PgDb::create(url, "crash").await?),
        None => None,
    };
    let mut subject = Subject {
        bin: bin.to_path_buf(),
        dir,
        pg,
        log_filter: opts.log_filter.clone(),
        proc: None,
    };
    let result = campaign(&mut subject, opts, &mut rng, started).await;
    // Kept for a look when anything failed (or ALCOVE_CRASHLOOP_KEEP is set).
    let keep = std::env::var_os("ALCOVE_CRASHLOOP_KEEP").is_some()
        || match &result {
            Ok(o) => !o.totals.failures().is_empty(),
            Err(_) => true,
        };
    subject.finish(keep).await;
    let mut o = result?;
    o.seed = seed;
    Ok(o)
}

async fn campaign(
    subject: &mut Subject,
    opts: &Opts,
    rng: &mut Rng,
    started: Instant,
) -> Result<Outcome> {
    let link = subject
        .start(true)
        .await?
        .setup_link
        .clone()
        .ok_or_else(|| anyhow!("no setup link"))?;
    let api = Api::new(&format!("http://{}", subject.addr()?))?;
    let admin = setup::admin(&api, &link).await?;
    let pairs: Vec<Pair> = setup::pairs(&api, &admin, opts.pairs.max(1), 4)
        .await
        .context("set up pairs")?;
    let mut lanes: Vec<Lane> = pairs
        .into_iter()
        .enumerate()
        .map(|(k, p)| Lane {
            conv: p.conv,
            clinician: p.clinician,
            client: p.client,
            a: Dir::new(format!("pair {k} clinician→client (HTTP)"), Over::Http),
            b: Dir::new(format!("pair {k} client→clinician (socket)"), Over::Socket),
        })
        .collect();
    let mut totals = Totals::default();
    let mut timings = Timings::default();
    let mut out_of_time = false;
    let every = |n: usize, k: usize| n > 0 && (k + 1) % n == 0;
    for cycle in 0..opts.cycles {
        if started.elapsed() > opts.budget {
            out_of_time = true;
            break;
        }
        let t_cycle = Instant::now();
        let addr = subject.addr()?;
        let api = Api::new(&format!("http://{addr}"))?;
        let stop = AtomicBool::new(false);
        let delay = Duration::from_millis(rng.between(opts.kill_ms.0, opts.kill_ms.1));
        let t_load = Instant::now();
        let killer = async {
            tokio::time::sleep(delay).await;
            subject.kill9().await;
            stop.store(true, Ordering::Relaxed);
        };
        let (sent, ()) = tokio::join!(
            load(&api, addr, &mut lanes, &stop, false, opts.text_len),
            killer
        );
        add(&mut totals, sent?);
        timings.load_ms.push(t_load.elapsed().as_secs_f64() * 1e3);
        if every(opts.audit_every, cycle) || cycle + 1 == opts.cycles {
            let t = Instant::now();
            match subject.audit_verify()? {
                Ok(()) => totals.audit_ok += 1,
                Err(e) => {
                    totals.audit_failed += 1;
                    totals.problem(format!("cycle {cycle}: {e}"));
                }
            }
            timings.audit_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let t_start = Instant::now();
        if let Err(e) = subject.start(false).await {
            totals.problem(format!(
                "cycle {cycle}: the server did not start after the kill: {e:#}"
            ));
            return Err(e.context(format!("restart after kill {cycle}")));
        }
        timings
            .restart_ms
            .push(t_start.elapsed().as_secs_f64() * 1e3);
        let api = Api::new(&format!("http://{}", subject.addr()?))?;
        let t_check = Instant::now();
        let full = every(opts.full_check_every, cycle);
        check_all(&api, &mut lanes, &mut totals, full).await?;
        timings.check_ms.push(t_check.elapsed().as_secs_f64() * 1e3);
        totals.cycles += 1;
        timings.cycle_ms.push(t_cycle.elapsed().as_secs_f64() * 1e3);
        if (cycle + 1) % 10 == 0 || cycle + 1 == opts.cycles {
            eprintln!(
                "crashloop: cycle {}/{}: {} acknowledged, {} lost, {} duplicates, audit {} ok / {} failed, {:.1} s",
                cycle + 1,
                opts.cycles,
                totals.acked,
                totals.lost,
                totals.duplicates,
                totals.audit_ok,
                totals.audit_failed,
                started.elapsed().as_secs_f64()
            );
        }
    }
    // The end: the clients resend whatever is still unacknowledged, with
    // no kill; then everything must be there exactly once and verify.
    let addr = subject.addr()?;
    let api = Api::new(&format!("http://{addr}"))?;
    let stop = AtomicBool::new(false);
    let drained = tokio::time::timeout(
        Duration::from_secs(60),
        load(&api, addr, &mut lanes, &stop, true, opts.text_len),
    )
    .await
    .map_err(|_| anyhow!("the final resends did not finish within 60 s"))??;
    add(&mut totals, drained);
    check_all(&api, &mut lanes, &mut totals, true).await?;
    for lane in &lanes {
        for dir in [&lane.a, &lane.b] {
            if !dir.pending.is_empty() {
                totals.problem(format!(
                    "{}: {} messages still unacknowledged at the end",
                    dir.name,
                    dir.pending.len()
                ));
            }
            let not_once = dir.present.iter().filter(|&&c| c != 1).count();
            if not_once > 0 {
                totals.problem(format!(
                    "{}: {not_once} messages not in the log exactly once at the end",
                    dir.name
                ));
            }
        }
    }
    if totals.decrypted != totals.messages {
        totals.problem(format!(
            "{} messages sent, {} decrypted from the log",
            totals.messages, totals.decrypted
        ));
    }
    subject.kill9().await;
    match subject.audit_verify()? {
        Ok(()) => totals.audit_ok += 1,
        Err(e) => {
            totals.audit_failed += 1;
            totals.problem(format!("final: {e}"));
        }
    }
    Ok(Outcome {
        totals,
        timings,
        seed: 0,
        secs: started.elapsed().as_secs_f64(),
        out_of_time,
    })
}

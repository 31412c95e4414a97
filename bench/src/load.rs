//! Throughput and latency phases: clinician devices send pre-encrypted
//! messages over HTTP (an answer of 200 means durably stored) or as `send`
//! frames on their own delivery socket (a `sent` answer means the same);
//! client devices receive them over the delivery WebSocket and acknowledge
//! by sequence, as the browser does.

use crate::setup::{Api, Prepared};
use anyhow::{anyhow, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Receivers acknowledge after `ack_every` entries (`--ack-every`: 64 by
/// default; 1 is the browser's pattern, one `ack` frame per entry
/// processed), or after a short pause.
const ACK_PAUSE: Duration = Duration::from_millis(20);

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Small client buffers (tungstenite's default read buffer is 128 KiB).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// The delivery socket of a device (bearer auth).
pub async fn connect(addr: SocketAddr, token: &str) -> Result<Ws> {
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/api/v1/ws"),
    )?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let (ws, _) =
        tokio_tungstenite::connect_async_with_config(req, Some(ws_config()), true).await?;
    Ok(ws)
}

/// Timing of one pair's messages in one phase.
pub struct Track {
    /// Messages, in generation order.
    pub msgs: Arc<Vec<Prepared>>,
    /// Nanoseconds since the phase epoch when the send was due (0: never).
    pub send_ns: Vec<AtomicU64>,
    /// When the HTTP answer arrived (0: none or not 200).
    pub ack_ns: Vec<AtomicU64>,
    /// When the receiver got it over the socket (0: not received).
    pub recv_ns: Vec<AtomicU64>,
    index: HashMap<String, usize>,
    /// Ciphertexts as received, in order (only when kept for decryption).
    pub received: Mutex<Vec<String>>,
    keep: bool,
    /// Entries received that were not ours or were repeats.
    pub duplicates: AtomicUsize,
    /// Non-200 answers and transport errors.
    pub errors: AtomicUsize,
    /// A sample error.
    pub last_error: Mutex<Option<String>>,
}

impl Track {
    /// Tracks `msgs`; `keep` stores received ciphertexts for decryption.
    pub fn new(msgs: Arc<Vec<Prepared>>, keep: bool) -> Self {
        let n = msgs.len();
        let zeros = || (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        let index = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| (m.data_b64.clone(), i))
            .collect();
        Self {
            msgs,
            send_ns: zeros(),
            ack_ns: zeros(),
            recv_ns: zeros(),
            index,
            received: Mutex::new(Vec::new()),
            keep,
            duplicates: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
            last_error: Mutex::new(None),
        }
    }

    fn acked(&self) -> usize {
        self.ack_ns
            .iter()
            .filter(|a| a.load(Ordering::Relaxed) != 0)
            .count()
    }

    fn delivered_of_acked(&self) -> usize {
        self.ack_ns
            .iter()
            .zip(&self.recv_ns)
            .filter(|(a, r)| a.load(Ordering::Relaxed) != 0 && r.load(Ordering::Relaxed) != 0)
            .count()
    }

    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.last_error.lock() {
            *l = Some(e);
        }
    }
}

fn ns_since(epoch: Instant) -> u64 {
    (epoch.elapsed().as_nanos() as u64).max(1)
}

/// Reads one device's socket until `stop`, recording arrivals.
async fn receive(
    mut ws: Ws,
    conv: String,
    track: Arc<Track>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    ack_every: usize,
) -> Result<()> {
    let mut max_seq = 0i64;
    let mut unacked = 0usize;
    loop {
        let next = tokio::time::timeout(ACK_PAUSE, ws.next()).await;
        match next {
            Ok(Some(Ok(Message::Text(t)))) => {
                let now = ns_since(epoch);
                let frame: Value = serde_json::from_str(t.as_str())?;
                if frame["type"] != "entry" {
                    continue;
                }
                if frame["conversation_id"].as_str() != Some(conv.as_str()) {
                    continue;
                }
                let seq = frame["seq"].as_i64().unwrap_or(0);
                max_seq = max_seq.max(seq);
                unacked += 1;
                let data = frame["data"].as_str().unwrap_or_default();
                match track.index.get(data) {
                    Some(&i) if track.recv_ns[i].load(Ordering::Relaxed) == 0 => {
                        track.recv_ns[i].store(now, Ordering::Relaxed);
                        if track.keep {
                            if let Ok(mut r) = track.received.lock() {
                                r.push(data.to_string());
                            }
                        }
                    }
                    Some(_) => {
                        track.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {} // the Add commit, or an earlier phase's entry
                }
                if unacked >= ack_every {
                    ack(&mut ws, &conv, max_seq).await?;
                    unacked = 0;
                }
            }
            Ok(Some(Ok(Message::Close(c)))) => {
                return Err(anyhow!("socket closed by the server: {c:?}"))
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(anyhow!("socket: {e}")),
            Ok(None) => return Err(anyhow!("socket ended")),
            Err(_) => {
                if unacked > 0 {
                    ack(&mut ws, &conv, max_seq).await?;
                    unacked = 0;
                }
                if stop.load(Ordering::Relaxed) {
                    let _ = ws.close(None).await;
                    return Ok(());
                }
            }
        }
    }
}

async fn ack(ws: &mut Ws, conv: &str, seq: i64) -> Result<()> {
    let frame = serde_json::json!({"type": "ack", "conversation_id": conv, "seq": seq}).to_string();
    ws.send(Message::Text(frame.into())).await?;
    Ok(())
}

/// One pair's endpoints for a phase.
pub struct Lane {
    /// Conversation.
    pub conv: String,
    /// Sender's bearer token.
    pub sender_token: String,
    /// Receiver's bearer token.
    pub receiver_token: String,
    /// What is sent, and when things happened.
    pub track: Arc<Track>,
}

async fn post(api: &Api, lane_conv: &str, token: &str, body: String) -> Result<u16> {
    let resp = api
        .http
        .post(format!(
            "{}/api/v1/conversations/{lane_conv}/messages",
            api.base
        ))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let _ = resp.bytes().await?;
    Ok(status)
}

async fn send_one(
    api: Api,
    conv: Arc<str>,
    token: Arc<str>,
    track: Arc<Track>,
    i: usize,
    epoch: Instant,
) {
    let body = track.msgs[i].body.clone();
    match post(&api, &conv, &token, body).await {
        Ok(200) => track.ack_ns[i].store(ns_since(epoch), Ordering::Relaxed),
        Ok(s) => track.error(format!("HTTP {s}")),
        Err(e) => track.error(format!("{e:#}")),
    }
}

/// How senders send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// `POST /api/v1/conversations/{id}/messages`, one request per message.
    Http,
    /// `send` frames on the sender's delivery socket.
    Ws,
}

/// A sender's delivery socket used for `send` frames: one task writes the
/// frames and reads the answers, resolving each waiting send by its client
/// message id.
#[derive(Clone)]
struct WsSender {
    frames: tokio::sync::mpsc::UnboundedSender<String>,
    pending: Pending,
}

/// Sends awaiting their answer, by client message id.
type Pending = Arc<Mutex<HashMap<String, tokio::sync::oneshot::Sender<Result<(), String>>>>>;

async fn ws_sender(
    addr: SocketAddr,
    token: &str,
) -> Result<(WsSender, tokio::task::JoinHandle<()>)> {
    let ws = connect(addr, token).await?;
    let (mut sink, mut stream) = ws.split();
    let (frames, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
    let answers = pending.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(f) => {
                        if sink.send(Message::Text(f.into())).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        let _ = sink.send(Message::Close(None)).await;
                        break;
                    }
                },
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                        let answer = match v["type"].as_str() {
                            Some("sent") => Ok(()),
                            Some("send_failed") => Err(format!("send_failed {}", v["error"])),
                            _ => continue, // entries of the conversation, not ours to count
                        };
                        let id = v["client_msg_id"].as_str().unwrap_or_default();
                        let waiting = answers.lock().ok().and_then(|mut p| p.remove(id));
                        if let Some(reply) = waiting {
                            let _ = reply.send(answer);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
    });
    Ok((WsSender { frames, pending }, task))
}

async fn send_one_ws(sender: WsSender, track: Arc<Track>, i: usize, epoch: Instant) {
    let p = &track.msgs[i];
    let (reply, answer) = tokio::sync::oneshot::channel();
    if let Ok(mut pending) = sender.pending.lock() {
        pending.insert(p.client_msg_id_b64.clone(), reply);
    }
    if sender.frames.send(p.send_frame.clone()).is_err() {
        track.error("socket closed".into());
        return;
    }
    match answer.await {
        Ok(Ok(())) => track.ack_ns[i].store(ns_since(epoch), Ordering::Relaxed),
        Ok(Err(e)) => track.error(e),
        Err(_) => track.error("socket closed before the answer".into()),
    }
}

/// How one lane's sender reaches the server.
#[derive(Clone)]
enum LaneSender {
    Http {
        api: Api,
        conv: Arc<str>,
        token: Arc<str>,
    },
    Ws(WsSender),
}

impl LaneSender {
    async fn send(&self, track: Arc<Track>, i: usize, epoch: Instant) {
        match self {
            Self::Http { api, conv, token } => {
                send_one(api.clone(), conv.clone(), token.clone(), track, i, epoch).await
            }
            Self::Ws(ws) => send_one_ws(ws.clone(), track, i, epoch).await,
        }
    }
}

/// Which load is offered.
#[derive(Clone, Copy, Debug)]
pub enum Offer {
    /// Each pair sends as fast as answers come back, `inflight` requests
    /// at a time, until its messages run out or `limit` passes.
    ClosedLoop { inflight: usize, limit: Duration },
    /// A fixed total rate (messages per second), spread round-robin over
    /// the pairs, each send on its own task (no coordinated omission:
    /// latency counts from when the send was due).
    FixedRate { rate: f64 },
}

/// Results of a phase.
#[derive(Debug, Default)]
pub struct PhaseResult {
    /// Sends attempted.
    pub attempted: usize,
    /// Answered 200 (durably stored).
    pub acked: usize,
    /// Errors (non-200 or transport).
    pub errors: usize,
    /// A sample error.
    pub sample_error: Option<String>,
    /// From the first due send to the last 200.
    pub send_secs: f64,
    /// Acknowledged messages per second.
    pub acked_per_sec: f64,
    /// Acknowledged but never received over the socket.
    pub lost: usize,
    /// Repeats received (at-least-once redelivery).
    pub duplicates: usize,
    /// Send-to-receive latency, ms: p50, p95, p99, max.
    pub e2e_ms: [f64; 4],
    /// Send-to-200 latency, ms: p50, p95, p99, max.
    pub http_ms: [f64; 4],
    /// Receiver errors.
    pub receiver_errors: Vec<String>,
    /// Messages sent per pair (for the decrypt check).
    pub per_lane_sent: Vec<usize>,
}

/// Percentiles p50, p95, p99, max of nanosecond samples, in ms.
pub fn percentiles(mut v: Vec<u64>) -> [f64; 4] {
    if v.is_empty() {
        return [f64::NAN; 4];
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1] as f64 / 1e6;
    [
        at(0.50),
        at(0.95),
        at(0.99),
        *v.last().unwrap_or(&0) as f64 / 1e6,
    ]
}

/// Runs one phase: connects every receiver, offers the load, waits up to
/// `drain` for deliveries, stops the receivers.
pub async fn run_phase(
    addr: SocketAddr,
    api: &Api,
    lanes: &[Lane],
    offer: Offer,
    transport: Transport,
    drain: Duration,
    ack_every: usize,
) -> Result<PhaseResult> {
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders: Vec<LaneSender> = Vec::with_capacity(lanes.len());
    let mut sender_tasks = Vec::new();
    for lane in lanes {
        if transport == Transport::Ws {
            let (sender, task) = ws_sender(addr, &lane.sender_token).await?;
            senders.push(LaneSender::Ws(sender));
            sender_tasks.push(task);
        } else {
            senders.push(LaneSender::Http {
                api: api.clone(),
                conv: lane.conv.as_str().into(),
                token: lane.sender_token.as_str().into(),
            });
        }
    }
    let mut receivers = Vec::new();
    for lane in lanes {
        let ws = connect(addr, &lane.receiver_token).await?;
        receivers.push(tokio::spawn(receive(
            ws,
            lane.conv.clone(),
            lane.track.clone(),
            epoch,
            stop.clone(),
            ack_every.max(1),
        )));
    }
    // Let the sockets settle (initial catch-up of the Add commit).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let epoch_offset = ns_since(epoch);
    let start = Instant::now();
    match offer {
        Offer::ClosedLoop { inflight, limit } => {
            let deadline = start + limit;
            let mut tasks = Vec::new();
            for (lane, sender) in lanes.iter().zip(&senders) {
                let next = Arc::new(AtomicUsize::new(0));
                for _ in 0..inflight.max(1) {
                    let (sender, track, next) = (sender.clone(), lane.track.clone(), next.clone());
                    tasks.push(tokio::spawn(async move {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= track.msgs.len() || Instant::now() >= deadline {
                                break;
                            }
                            track.send_ns[i].store(ns_since(epoch), Ordering::Relaxed);
                            sender.send(track.clone(), i, epoch).await;
                        }
                    }));
                }
            }
            for t in tasks {
                let _ = t.await;
            }
        }
        Offer::FixedRate { rate } => {
            let total: usize = lanes.iter().map(|l| l.track.msgs.len()).sum();
            let mut tasks = Vec::with_capacity(total);
            for k in 0..total {
                let (lane, i) = (k % lanes.len(), k / lanes.len());
                if i >= lanes[lane].track.msgs.len() {
                    continue;
                }
                let due = start + Duration::from_secs_f64(k as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let due_ns = epoch_offset + (k as f64 / rate * 1e9) as u64;
                lanes[lane].track.send_ns[i].store(due_ns, Ordering::Relaxed);
                let (sender, track) = (senders[lane].clone(), lanes[lane].track.clone());
                tasks.push(tokio::spawn(
                    async move { sender.send(track, i, epoch).await },
                ));
            }
            for t in tasks {
                let _ = t.await;
            }
        }
    }
    // Wait for deliveries of everything acknowledged.
    let drain_until = Instant::now() + drain;
    loop {
        let acked: usize = lanes.iter().map(|l| l.track.acked()).sum();
        let delivered: usize = lanes.iter().map(|l| l.track.delivered_of_acked()).sum();
        if delivered >= acked || Instant::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    drop(senders);
    for t in sender_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let mut receiver_errors = Vec::new();
    for r in receivers {
        match tokio::time::timeout(Duration::from_secs(5), r).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => receiver_errors.push(format!("{e:#}")),
            Ok(Err(e)) => receiver_errors.push(format!("receiver task: {e}")),
            Err(_) => receiver_errors.push("receiver did not stop".into()),
        }
    }

    let mut r = PhaseResult {
        receiver_errors,
        ..Default::default()
    };
    let (mut e2e, mut http) = (Vec::new(), Vec::new());
    let (mut first_due, mut last_ack) = (u64::MAX, 0u64);
    for lane in lanes {
        let t = &lane.track;
        let mut sent = 0;
        for i in 0..t.msgs.len() {
            let s = t.send_ns[i].load(Ordering::Relaxed);
            if s == 0 {
                continue;
            }
            sent += 1;
            first_due = first_due.min(s);
            let a = t.ack_ns[i].load(Ordering::Relaxed);
            let rcv = t.recv_ns[i].load(Ordering::Relaxed);
            if a != 0 {
                r.acked += 1;
                last_ack = last_ack.max(a);
                http.push(a.saturating_sub(s));
                if rcv == 0 {
                    r.lost += 1;
                }
            }
            if rcv != 0 {
                e2e.push(rcv.saturating_sub(s));
            }
        }
        r.attempted += sent;
        r.per_lane_sent.push(sent);
        r.errors += t.errors.load(Ordering::Relaxed);
        r.duplicates += t.duplicates.load(Ordering::Relaxed);
        if r.sample_error.is_none() {
            r.sample_error = t.last_error.lock().ok().and_then(|l| l.clone());
        }
    }
    r.send_secs = if last_ack > first_due {
        (last_ack - first_due) as f64 / 1e9
    } else {
        0.0
    };
    r.acked_per_sec = if r.send_secs > 0.0 {
        r.acked as f64 / r.send_secs
    } else {
        0.0
    };
    r.e2e_ms = percentiles(e2e);
    r.http_ms = percentiles(http);
    Ok(r)
}

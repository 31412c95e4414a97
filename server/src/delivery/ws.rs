//! `GET /api/v1/ws`: real-time delivery to one device.
//!
//! Protocol (JSON text frames; MLS bytes in standard base64):
//! - server → device: `{"type":"entry","conversation_id","seq","kind","epoch","sender_device_id","data"}`,
//!   `{"type":"welcome","id","conversation_id","data"}`, `{"type":"error","error","message"}`,
//!   `{"type":"key_packages_low"}` and `{"type":"appointments_changed"}` (read the
//!   appointments again: one the user may see was scheduled, moved, cancelled or answered;
//!   the frame carries nothing, so nothing leaks to a socket the API would refuse).
//! - device → server: `{"type":"ack","conversation_id","seq"}` (everything up to `seq` is
//!   processed), `{"type":"ack_welcome","id"}`, and
//!   `{"type":"send","conversation_id","client_msg_id","data"}`: the same application message
//!   as `POST /api/v1/conversations/{id}/messages`, checked and stored exactly alike, without an
//!   HTTP request (and its session lookup) per message. Answered, once durable, by
//!   `{"type":"sent","conversation_id","client_msg_id","seq","epoch","duplicate"}` or
//!   `{"type":"send_failed","conversation_id","client_msg_id","error","message",…}` (the
//!   HTTP error body's fields, e.g. `current_epoch`). At most `MAX_SENDS_IN_FLIGHT` per
//!   socket await their answer; answers may come in any order (match on `client_msg_id`).
//!
//! Delivery is at-least-once and in order per conversation: on connect the
//! server resumes from the device's acknowledged cursor; devices dedupe by
//! seq. Memory per connection is bounded: at most `WINDOW` entries are sent
//! ahead of the device's acknowledgements, entries are read from the
//! database a page at a time, and a device that does not read what is sent
//! within `SEND_TIMEOUT` is disconnected with close code 4008
//! `slow_consumer` rather than buffered for. Close codes: 4001 `revoked`,
//! 4000 `session_expired`, 4002 `timeout` (no pong), 1009 too large.

// This module reads bytes from outside (the network or a file someone
// handed us): no index or slice that could panic on what it is given.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::wake::{CarriedEntry, Mailbox};
use crate::audit::Action;
use crate::auth::session::{Authed, Transport};
use crate::delivery::store::{Conversation, LogEntry, PendingWelcome};
use crate::error::AppError;
use crate::ids::DeviceId;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Largest frame or message accepted from a device.
pub const MAX_FRAME: usize = 256 * 1024;
/// Entries sent ahead of acknowledgements, per conversation.
pub const WINDOW: i64 = 256;
/// Entries read from the database at once.
const PAGE: i64 = 64;
/// A send that cannot complete in this time marks the reader too slow.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Sends per socket waiting for durability at once; one more is refused
/// with `too_many_in_flight` (memory per connection stays bounded).
pub const MAX_SENDS_IN_FLIGHT: usize = 64;
/// Ping interval, and the silence after which the peer is considered gone.
const PING_EVERY: Duration = Duration::from_secs(25);
const PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// Upgrades an authenticated request to the delivery socket.
pub async fn upgrade(
    State(state): State<AppState>,
    authed: Authed,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    // Browsers always send Origin on WebSocket handshakes; a cookie-
    // authenticated socket without an allowed Origin is a cross-site attempt.
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (origin, authed.transport) {
        (Some(o), _) if !state.settings.origins().iter().any(|a| a == o) => {
            return Err(AppError::forbidden("socket from a foreign origin").with_code("bad_origin"))
        }
        (None, Transport::Cookie) => {
            return Err(
                AppError::forbidden("socket without an Origin header").with_code("bad_origin")
            )
        }
        _ => {}
    }
    // The upgrade request itself was checked and is the session's last
    // known activity; taken now, not when the socket task starts later.
    let now = state.now();
    // Registered before the upgrade, so that a device over its limit gets
    // an HTTP answer (and one token cannot open a thousand sockets).
    let Some(mailbox) = state.delivery.wakeups.subscribe(
        authed.device_id,
        state.settings.limits.max_sockets_per_device,
    ) else {
        return Err(AppError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_sockets",
            "this device has too many open connections; close one (another tab?) and retry",
        ));
    };
    // A logout that committed after this request's session was checked but
    // before the mailbox above existed woke nobody: read the session once
    // more now that any later end will reach this socket.
    let record = state.store.session_by_id(authed.session_id).await?;
    if record.ended_at.is_some() {
        return Err(AppError::unauthorized(
            "session_ended",
            "this session has ended; sign in again",
        ));
    }
    Ok(ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let device = authed.device_id;
            let mut conn = Connection {
                state,
                authed,
                socket,
                mailbox,
                convs: HashMap::new(),
                welcomes_sent: HashSet::new(),
                sends: None,
                session_seen: now,
                touched: now,
            };
            let reason = conn.run().await;
            conn.save_acks().await;
            tracing::debug!(device = %device, reason = reason.1, "socket closed");
            let _ = conn
                .socket
                .send(Message::Close(Some(CloseFrame {
                    code: reason.0,
                    reason: Utf8Bytes::from_static(reason.1),
                })))
                .await;
        }))
}

/// Where a conversation stands on this socket. `sent` is the position in
/// the log the socket has passed (entries sent, and the device's own
/// entries, which it skips); `last_frame` the last entry actually sent;
/// `acked` what the device has processed, as far as the window is
/// concerned; `committed` the highest sequence number known to be
/// committed (from wake-ups), which a log read that reaches the end passes.
struct ConvState {
    conversation: Conversation,
    sent: i64,
    last_frame: i64,
    acked: i64,
    committed: i64,
    /// An acknowledgement not yet handed to the cursor writer (its queue
    /// was full); handed over with the next one, or when the socket ends.
    unsaved_ack: Option<i64>,
    /// Sending stopped at a full window: the next acknowledgement reads the
    /// log on. Otherwise an acknowledgement reads nothing — entries keep
    /// coming with their wake-ups — so a device that acknowledges every
    /// entry (the browser) costs no log read per entry.
    held: bool,
}

impl ConvState {
    /// Moves past entries that were not for this device (its own).
    fn pass(&mut self, seq: i64) {
        if seq <= self.sent {
            return;
        }
        // With no frame awaiting an acknowledgement, skipped entries need
        // none either (they must not use up the window).
        if self.acked >= self.last_frame {
            self.acked = seq;
        }
        self.sent = seq;
    }
}

struct Connection {
    state: AppState,
    authed: Authed,
    socket: WebSocket,
    mailbox: Arc<Mailbox>,
    convs: HashMap<String, ConvState>,
    welcomes_sent: HashSet<String>,
    /// The channel answers to sends come back on, created at the first
    /// send so the many sockets that only receive (or sit idle) do not
    /// carry it. Each send reserves a slot before it starts, so its
    /// capacity is also the bound on sends awaiting durability.
    sends: Option<Sends>,
    /// The session's last activity as last read (an HTTP request of the
    /// same session moves it; receiving does not).
    session_seen: i64,
    /// When this socket last recorded activity (a `send`) on the session.
    touched: i64,
}

struct Sends {
    answers_tx: mpsc::Sender<String>,
    answers: mpsc::Receiver<String>,
}

/// The next answer to a send, or never when nothing was sent.
async fn next_answer(sends: &mut Option<Sends>) -> Option<String> {
    match sends {
        Some(s) => s.answers.recv().await,
        None => std::future::pending().await,
    }
}

type Close = (u16, &'static str);

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Ack {
        conversation_id: String,
        seq: i64,
    },
    AckWelcome {
        id: String,
    },
    Send {
        conversation_id: String,
        client_msg_id: String,
        data: String,
    },
}

/// Parses one text frame from a device; `None` for an unknown or malformed
/// frame (answered with `bad_frame`).
fn parse_frame(text: &str) -> Option<ClientFrame> {
    serde_json::from_str(text).ok()
}

/// Decodes a `send` frame's base64 fields (`client_msg_id`, `data`).
fn decode_send(client_msg_id: &str, data: &str) -> Result<(Vec<u8>, Vec<u8>), AppError> {
    match (
        data_encoding::BASE64.decode(client_msg_id.as_bytes()),
        data_encoding::BASE64.decode(data.as_bytes()),
    ) {
        (Ok(id), Ok(data)) => Ok((id, data)),
        _ => Err(AppError::bad_request(
            "invalid_base64",
            "client_msg_id and data must be base64",
        )),
    }
}

/// Fuzzing entry point (`fuzz/fuzz_targets/ws_frame.rs`), not an API: what
/// the socket does with a device's text frame before it touches any state —
/// the frame parsed as `on_frame` parses it, a `send`'s fields decoded as
/// `on_send` decodes them, and the refusal frame rendered. Returns the frame
/// type, or `None` for a frame answered with `bad_frame`.
#[doc(hidden)]
pub fn fuzz_client_frame(text: &str) -> Option<&'static str> {
    match parse_frame(text)? {
        ClientFrame::Ack { .. } => Some("ack"),
        ClientFrame::AckWelcome { .. } => Some("ack_welcome"),
        ClientFrame::Send {
            conversation_id,
            client_msg_id,
            data,
        } => {
            if let Err(e) = decode_send(&client_msg_id, &data) {
                let _ = send_failed(&conversation_id, &client_msg_id, &e);
            }
            Some("send")
        }
    }
}

impl Connection {
    fn device(&self) -> DeviceId {
        self.authed.device_id
    }

    /// When the session must be looked at again: its absolute end, or its
    /// idle deadline from the last activity this socket knows of.
    fn session_deadline(&self) -> i64 {
        self.authed.expires_at.min(
            self.session_seen
                .saturating_add(self.authed.idle_timeout_secs),
        )
    }

    /// Reads the session again; ends (and audits) it if it timed out, and
    /// closes the socket if it is over for any reason. An HTTP request of
    /// the same session in the meantime moved its last activity on.
    async fn recheck_session(&mut self) -> Result<(), Close> {
        let record = match self.state.store.session_by_id(self.authed.session_id).await {
            Ok(r) => r,
            Err(_) => return Err((1011, "internal")),
        };
        let meta = self.authed.meta.clone();
        match crate::auth::session::check_session(&self.state, &record, &meta).await {
            Ok(()) => {
                self.session_seen = record.last_seen_at;
                Ok(())
            }
            Err(e) if e.code == "device_revoked" => Err((4001, "revoked")),
            Err(e) if e.code == "session_expired" => Err((4000, "session_expired")),
            Err(_) => Err((4000, "session_ended")),
        }
    }

    /// Every `send` frame re-checks the session: ended (logout, on this
    /// node at once through the mailbox), past its deadline (then read
    /// again), or — at most every `TOUCH_INTERVAL_SECS` — read and touched,
    /// since a person sending is activity that keeps the session alive.
    async fn check_session_for_send(&mut self) -> Result<(), Close> {
        if self.mailbox.revoked() {
            return Err((4001, "revoked"));
        }
        if self.mailbox.session_ended(self.authed.session_id) {
            return Err((4000, "session_ended"));
        }
        let now = self.state.now();
        if now >= self.session_deadline()
            || now - self.touched >= crate::auth::session::TOUCH_INTERVAL_SECS
        {
            self.recheck_session().await?;
            self.state
                .store
                .touch_session(self.authed.session_id, self.device(), now)
                .await
                .map_err(|_| (1011, "internal"))?;
            self.session_seen = now;
            self.touched = now;
        }
        Ok(())
    }

    async fn run(&mut self) -> Close {
        if let Err(close) = self.load_conversations().await {
            return close;
        }
        let mut dirty: HashSet<String> = self.convs.keys().cloned().collect();
        let mut welcome = true;
        let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
        let mut last_heard = Instant::now();
        loop {
            if self.mailbox.revoked() {
                return (4001, "revoked");
            }
            if self.mailbox.session_ended(self.authed.session_id) {
                return (4000, "session_ended");
            }
            // Past the session's deadline nothing more is delivered before
            // the session is read again (it may have been active over HTTP).
            if self.state.now() >= self.session_deadline() {
                if let Err(close) = self.recheck_session().await {
                    return close;
                }
            }
            let until_deadline = self.session_deadline() - self.state.now();
            let session_timer = tokio::time::sleep(Duration::from_secs(
                u64::try_from(until_deadline.max(0)).unwrap_or(0) + 1,
            ));
            if welcome {
                welcome = false;
                if let Err(close) = self.send_welcomes().await {
                    return close;
                }
            }
            for id in std::mem::take(&mut dirty) {
                match self.pump(&id).await {
                    Ok(more) if more => {
                        dirty.insert(id);
                    }
                    Ok(_) => {}
                    Err(close) => return close,
                }
            }
            // With a full page pending, keep pumping without waiting, but
            // still let incoming frames through first.
            let busy = !dirty.is_empty();
            tokio::select! {
                biased;
                frame = self.socket.recv() => {
                    last_heard = Instant::now();
                    match frame {
                        Some(Ok(Message::Text(text))) => match self.on_frame(text.as_str()).await {
                            Ok(Some(id)) => { dirty.insert(id); }
                            Ok(None) => {}
                            Err(close) => return close,
                        },
                        Some(Ok(Message::Binary(_))) => {
                            if self.send_error("bad_frame", "send JSON text frames").await.is_err() {
                                return (1003, "bad_frame");
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return (1000, "bye"),
                        Some(Err(_)) => return (1009, "bad_frame"),
                    }
                }
                Some(answer) = next_answer(&mut self.sends) => {
                    if let Err(close) = self.send(Message::Text(answer.into())).await {
                        return close;
                    }
                }
                _ = self.mailbox.notified() => {
                    if self.mailbox.session_ended(self.authed.session_id) {
                        return (4000, "session_ended");
                    }
                    if self.state.now() >= self.session_deadline() {
                        if let Err(close) = self.recheck_session().await {
                            return close;
                        }
                    }
                    welcome |= self.mailbox.take_welcome();
                    if self.mailbox.take_key_packages_low() {
                        let frame = serde_json::json!({"type": "key_packages_low"}).to_string();
                        if let Err(close) = self.send(Message::Text(frame.into())).await {
                            return close;
                        }
                    }
                    if self.mailbox.take_appointments() {
                        let frame = serde_json::json!({"type": "appointments_changed"}).to_string();
                        if let Err(close) = self.send(Message::Text(frame.into())).await {
                            return close;
                        }
                    }
                    for (id, pending) in self.mailbox.take_conversations() {
                        if !self.convs.contains_key(&id) {
                            if let Err(close) = self.load_conversations().await {
                                return close;
                            }
                        }
                        let Some(state) = self.convs.get_mut(&id) else {
                            continue;
                        };
                        state.committed = state.committed.max(pending.last_seq);
                        // Carried entries are sent straight away unless the
                        // log must be read anyway (then the read covers them).
                        let complete = !pending.read_log
                            && !dirty.contains(&id)
                            && match self.send_carried(&id, &pending.entries).await {
                                Ok(complete) => complete,
                                Err(close) => return close,
                            };
                        if !complete {
                            dirty.insert(id);
                        }
                    }
                }
                _ = session_timer => {
                    if let Err(close) = self.recheck_session().await {
                        return close;
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > PEER_TIMEOUT {
                        return (4002, "timeout");
                    }
                    if let Err(close) = self.recheck_session().await {
                        return close;
                    }
                    if self.send(Message::Ping(Default::default())).await.is_err() {
                        return (4008, "slow_consumer");
                    }
                }
                _ = std::future::ready(()), if busy => {}
            }
        }
    }

    async fn load_conversations(&mut self) -> Result<(), Close> {
        let cursors = self
            .state
            .store
            .device_cursors(self.device())
            .await
            .map_err(|_| (1011, "internal"))?;
        for (id, acked) in cursors {
            if self.convs.contains_key(&id) {
                continue;
            }
            let conversation = self
                .state
                .store
                .conversation(self.authed.practice_id, &id)
                .await
                .map_err(|_| (1011, "internal"))?;
            self.convs.insert(
                id,
                ConvState {
                    conversation,
                    sent: acked,
                    last_frame: acked,
                    acked,
                    committed: acked,
                    unsaved_ack: None,
                    held: false,
                },
            );
        }
        Ok(())
    }

    /// Sends the next page of one conversation; true if more may be waiting.
    async fn pump(&mut self, id: &str) -> Result<bool, Close> {
        let Some(state) = self.convs.get(id) else {
            return Ok(false);
        };
        let room = WINDOW - (state.sent - state.acked);
        if room <= 0 {
            if let Some(state) = self.convs.get_mut(id) {
                state.held = true;
            }
            return Ok(false);
        }
        let committed = state.committed;
        let entries = self
            .state
            .store
            .fetch_log(id, self.device(), state.sent, room.min(PAGE))
            .await
            .map_err(|_| (1011, "internal"))?;
        let full = entries.len() as i64 == room.min(PAGE);
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            self.record(id, first.seq, last.seq).await?;
        }
        for entry in &entries {
            self.send(Message::Text(entry_frame(id, entry).into()))
                .await?;
            if let Some(state) = self.convs.get_mut(id) {
                state.sent = entry.seq;
                state.last_frame = entry.seq;
            }
        }
        if !full {
            // The read reached the end of the log, which includes every
            // entry committed before it started: whatever it did not
            // return up to there was not for this device.
            if let Some(state) = self.convs.get_mut(id) {
                state.pass(committed);
            }
        }
        Ok(full)
    }

    /// Sends entries carried by wake-ups without reading the log, as long
    /// as each directly follows what was sent; false when the log must be
    /// read (a gap: an entry that was not carried, or one out of order; or
    /// a full window).
    async fn send_carried(
        &mut self,
        id: &str,
        entries: &[Arc<CarriedEntry>],
    ) -> Result<bool, Close> {
        if self.mailbox.revoked() {
            return Err((4001, "revoked"));
        }
        let me = self.device();
        let Some(state) = self.convs.get_mut(id) else {
            return Ok(true);
        };
        // Decide first what goes out, record it, then send it.
        let mut frames: Vec<&Arc<CarriedEntry>> = Vec::new();
        let mut complete = true;
        for entry in entries {
            if entry.seq <= state.sent {
                continue;
            }
            if entry.seq != state.sent + 1 {
                complete = false;
                break;
            }
            if entry.sender == me {
                // Not delivered to its sender, as in the log read.
                state.pass(entry.seq);
                continue;
            }
            if state.sent - state.acked >= WINDOW {
                complete = false;
                break;
            }
            state.sent = entry.seq;
            state.last_frame = entry.seq;
            frames.push(entry);
        }
        if let (Some(first), Some(last)) = (frames.first(), frames.last()) {
            let (from, to) = (first.seq, last.seq);
            self.record(id, from, to).await?;
            // A revocation that landed while the record was being written
            // stops the entries here, as it would between two of them.
            if self.mailbox.revoked() {
                return Err((4001, "revoked"));
            }
        }
        for entry in frames {
            self.send(Message::Text(entry.frame.clone())).await?;
        }
        Ok(complete)
    }

    /// Records, durably and before they leave, that entries `from..=to` of
    /// a conversation go to this device: the access record does not depend
    /// on the device acknowledging anything.
    async fn record(&mut self, id: &str, from: i64, to: i64) -> Result<(), Close> {
        let Some(state) = self.convs.get(id) else {
            return Ok(());
        };
        self.state
            .delivery
            .deliveries
            .submit(crate::delivery::store::Delivery {
                conversation: state.conversation.clone(),
                device: self.device(),
                from_seq: from,
                to_seq: to,
                via: "socket",
                event: self.authed.event(Action::MessageDelivered),
            })
            .await
            .map_err(|_| (1011, "internal"))
    }

    /// Hands acknowledgements the cursor writer had no room for over at
    /// the end, waiting a little (a cursor that is not saved only means
    /// entries are sent again on reconnect, where devices skip them).
    async fn save_acks(&mut self) {
        let device = self.device();
        for state in self.convs.values_mut() {
            if let Some(seq) = state.unsaved_ack.take() {
                let write =
                    self.state
                        .delivery
                        .acks
                        .submit((state.conversation.clone(), device, seq));
                let _ = tokio::time::timeout(Duration::from_secs(2), write).await;
            }
        }
    }

    async fn send_welcomes(&mut self) -> Result<(), Close> {
        let welcomes = self
            .state
            .store
            .pending_welcomes(self.device())
            .await
            .map_err(|_| (1011, "internal"))?;
        for w in welcomes {
            if self.welcomes_sent.insert(w.id.clone()) {
                self.send(Message::Text(welcome_frame(&w).into())).await?;
            }
        }
        Ok(())
    }

    /// Handles a device frame; returns a conversation to pump again.
    async fn on_frame(&mut self, text: &str) -> Result<Option<String>, Close> {
        let frame = match parse_frame(text) {
            Some(f) => f,
            None => {
                self.send_error("bad_frame", "unknown or malformed frame")
                    .await?;
                return Ok(None);
            }
        };
        let now = self.state.now();
        match frame {
            ClientFrame::Ack {
                conversation_id,
                seq,
            } => {
                let device = self.device();
                let Some(state) = self.convs.get_mut(&conversation_id) else {
                    self.send_error("not_member", "this device is not in that conversation")
                        .await?;
                    return Ok(None);
                };
                // The window moves at once; the cursor is written behind,
                // never holding up what this socket sends. A device cannot
                // acknowledge past what it was sent, nor move back.
                let seq = seq.min(state.sent);
                if seq <= state.acked {
                    return Ok(None);
                }
                state.acked = if seq >= state.last_frame {
                    // Once every frame is acknowledged, the device's own
                    // entries passed since need no acknowledgement either.
                    state.sent
                } else {
                    seq
                };
                let cursor = state.acked;
                state.unsaved_ack = if self.state.delivery.acks.enqueue((
                    state.conversation.clone(),
                    device,
                    cursor,
                )) {
                    None
                } else {
                    Some(cursor)
                };
                // Only a window that held entries back needs the log read
                // on; the read sets `held` again if it is still full.
                let held = std::mem::take(&mut state.held);
                Ok(held.then_some(conversation_id))
            }
            ClientFrame::Send {
                conversation_id,
                client_msg_id,
                data,
            } => {
                self.on_send(conversation_id, client_msg_id, data).await?;
                Ok(None)
            }
            ClientFrame::AckWelcome { id } => {
                if self
                    .state
                    .store
                    .ack_welcome(self.device(), &id, now)
                    .await
                    .is_err()
                {
                    self.send_error("not_found", "no such welcome for this device")
                        .await?;
                }
                Ok(None)
            }
        }
    }

    /// Starts storing a message; its answer comes back through `answers`
    /// so the socket keeps delivering while the batch is made durable.
    async fn on_send(
        &mut self,
        conversation_id: String,
        client_msg_id: String,
        data: String,
    ) -> Result<(), Close> {
        self.check_session_for_send().await?;
        let Some(state) = self.convs.get(&conversation_id) else {
            let e = AppError::not_found("conversation");
            return self.refuse_send(&conversation_id, &client_msg_id, &e).await;
        };
        let (id_bytes, data) = match decode_send(&client_msg_id, &data) {
            Ok(decoded) => decoded,
            Err(e) => return self.refuse_send(&conversation_id, &client_msg_id, &e).await,
        };
        let sends = self.sends.get_or_insert_with(|| {
            let (answers_tx, answers) = mpsc::channel(MAX_SENDS_IN_FLIGHT);
            Sends {
                answers_tx,
                answers,
            }
        });
        let Ok(slot) = sends.answers_tx.clone().try_reserve_owned() else {
            let e = AppError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_in_flight",
                "too many sends awaiting an answer on this socket",
            );
            return self.refuse_send(&conversation_id, &client_msg_id, &e).await;
        };
        let conversation = state.conversation.clone();
        let app = self.state.clone();
        let authed = self.authed.clone();
        tokio::spawn(async move {
            let result =
                super::accept::accept_message(&app, &authed, &conversation, id_bytes, data).await;
            let frame = match result {
                Ok(s) => serde_json::json!({
                    "type": "sent",
                    "conversation_id": conversation.id,
                    "client_msg_id": client_msg_id,
                    "seq": s.seq,
                    "epoch": s.epoch,
                    "duplicate": s.duplicate,
                })
                .to_string(),
                Err(e) => {
                    e.log_cause();
                    send_failed(&conversation.id, &client_msg_id, &e)
                }
            };
            // If the socket is gone the answer is dropped; the message is
            // stored regardless.
            slot.send(frame);
        });
        Ok(())
    }

    async fn refuse_send(
        &mut self,
        conversation_id: &str,
        client_msg_id: &str,
        e: &AppError,
    ) -> Result<(), Close> {
        let frame = send_failed(conversation_id, client_msg_id, e);
        self.send(Message::Text(frame.into())).await
    }

    async fn send_error(&mut self, code: &str, message: &str) -> Result<(), Close> {
        let frame =
            serde_json::json!({"type": "error", "error": code, "message": message}).to_string();
        self.send(Message::Text(frame.into())).await
    }

    async fn send(&mut self, message: Message) -> Result<(), Close> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err((1001, "gone")),
            Err(_) => Err((4008, "slow_consumer")),
        }
    }
}

/// The answer to a `send` frame that was refused: the HTTP error body's
/// fields (code, message, extras such as `current_epoch`).
fn send_failed(conversation_id: &str, client_msg_id: &str, e: &AppError) -> String {
    let mut frame = serde_json::Map::new();
    frame.insert("type".into(), "send_failed".into());
    frame.insert("conversation_id".into(), conversation_id.into());
    frame.insert("client_msg_id".into(), client_msg_id.into());
    frame.insert("error".into(), e.code.into());
    frame.insert("message".into(), e.message.to_string().into());
    if let Some(extra) = &e.extra {
        for (k, v) in extra {
            frame.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    serde_json::Value::Object(frame).to_string()
}

/// The JSON frame for a log entry.
pub fn entry_frame(conversation_id: &str, entry: &LogEntry) -> String {
    serde_json::json!({
        "type": "entry",
        "conversation_id": conversation_id,
        "seq": entry.seq,
        "kind": entry.kind,
        "epoch": entry.epoch,
        "sender_device_id": entry.sender_device_id,
        "data": data_encoding::BASE64.encode(&entry.data),
    })
    .to_string()
}

fn welcome_frame(w: &PendingWelcome) -> String {
    serde_json::json!({
        "type": "welcome",
        "id": w.id,
        "conversation_id": w.conversation_id,
        "data": data_encoding::BASE64.encode(&w.data),
    })
    .to_string()
}

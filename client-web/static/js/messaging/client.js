// The messaging API of this browser device, the one module pages import:
// starting and stopping the engine, the read views pages render
// (conversations, contacts, status), and the actions they take (send,
// retry, mark read, start or join a conversation). Pages read it through
// getters and `subscribe()`; they never touch keys.
//
// The engine behind it, one concern a module:
//   state.js      the one live state, events, one operation at a time
//   engine.js     MLS group state: processing entries, encrypting, commits
//   join.js       joining by Welcome or by external commit
//   transport.js  the socket and HTTP catch-up; acknowledgements
//   outbox.js     sending, Retry, receipts, "waiting" messages sent again
//   handover.js   earlier messages handed to a new device of the conversation
//   archive.js    the history archive: sealed under the person's key, restored with it
//   history.js    the decrypted history and sealing it with the MLS state
//   store.js      the sealed record in IndexedDB
//
// Lifecycle (see docs/web-client.md "Messaging"):
//   start(me)  after sign-in: unlock share (memory only) → open or create the
//              sealed device in IndexedDB → KeyPackages when low → Welcomes →
//              catch up every conversation over HTTP → join the others by
//              external commit → WebSocket.
//   stop(why)  on lock/logout: close the socket, free the wasm device, zero
//              the secrets, drop decrypted history from memory; on "revoked"
//              also delete the IndexedDB database.
// Every state change is followed by a fresh sealed snapshot that overwrites
// the previous one, *before* the server is told (ack) that it was processed.

import { api } from "../api.js";
import { loadWasm } from "./wasm.js";
import { loadRecord, wipeAll } from "./store.js";
import { b64, unb64, randomId } from "./bytes.js";
import { conv, unsealHistory } from "./history.js";
import { hexToUuid } from "./appointment.js";
import { current, setCurrent, subscribe, emit, Locked, live, exclusive, persist } from "./state.js";
import { gid, hasGroup, hasState, refreshLists, topUpKeyPackages, ensureGroupInfo, uploadGroupInfo, addMissingDevices, sendEnvelope } from "./engine.js";
import { joinStatus, joinPendingWelcomes, joinAll, joinByItself } from "./join.js";
import { connect, onFrame, syncHttp } from "./transport.js";

// The byte helpers are part of this module's API (pages use them).
export { b64, unb64 };
// So are sending and subscribing, which live with the engine.
export { subscribe };
export { MAX_TEXT_CHARS, textLength, sendText, sendAppointmentMessage, retry } from "./outbox.js";
// The history archive (account page, and a new device's restore).
export { archiveKeyIs, newArchiveKey, confirmArchive, turnArchiveOff, storedArchives, restoreArchive } from "./archive.js";

let revokedHandler = () => {};

/** Called when the server says this device was revoked (socket close 4001). */
export function setRevokedHandler(fn) {
  revokedHandler = fn;
}

// ---- public read API ----------------------------------------------------

/** {state: "off"|"starting"|"ready"|"error", error, online}. */
export function status() {
  const s = current();
  if (!s) return { state: "off", online: false };
  return { state: s.state, error: s.error, online: !!(s.ws && s.ws.readyState === WebSocket.OPEN) };
}

/** Resolves when the engine has finished starting (or failed). */
export function ready() {
  const s = current();
  return s ? s.started : Promise.resolve();
}

/** Conversations for the list: server summaries joined with local history. */
export function conversations() {
  const s = current();
  if (!s) return [];
  return s.summaries.map((sum) => {
    const c = s.history.convs[sum.id];
    const mine = s.me.user_id;
    const other = mine === sum.client_user_id ? sum.staff_name : sum.client_name;
    const otherId = mine === sum.client_user_id ? sum.staff_user_id : sum.client_user_id;
    const joined = !!(c && c.joined);
    const texts = c ? c.messages : [];
    const last = texts[texts.length - 1];
    const unread = c ? texts.filter((m) => !m.mine && m.seq > c.readSeq).length : sum.unread;
    const join = joined ? null : joinStatus(s, sum.id);
    // The other person was deactivated: readable, but nothing more is sent.
    const closed = !!sum.closed;
    // The newest text, decrypted on this device, for the list's preview.
    const preview = last ? { text: last.text, mine: !!last.mine } : null;
    // Who the client is: only the practice's side announces appointments,
    // only the client answers them (pages check the sender against it).
    return { id: sum.id, other, otherId, clientId: sum.client_user_id, joined, join, unread, closed, preview, lastAt: last ? last.sentAt : null };
  });
}

/** One conversation: {id, other, joined, join, awaitingHistory, messages} (`join`: see joinStatus). */
export function conversation(id) {
  const s = current();
  if (!s) return null;
  const item = conversations().find((c) => c.id === id);
  if (!item) return null;
  const c = s.history.convs[id];
  // A handed-over message says whose copy it is (handover.js): this
  // person's other device, or the other person's.
  const copy = (x) => (x.copyOf === "backup" ? "backup" : x.copyOf === s.me.user_id ? "own" : "other");
  const messages = c ? c.messages.map((x) => (x.copyOf ? { ...x, copy: copy(x) } : x)) : [];
  // Joined, and no device has handed this one the earlier messages yet.
  const awaitingHistory = !!(c && c.joined && c.awaitingHistory);
  // Other devices will not hand this one earlier messages (docs/history.md).
  const handoverBarred = !!(c && c.handoverBarred);
  return { ...item, awaitingHistory, handoverBarred, messages };
}

/** Reloads the conversation and contact lists from the server. */
export async function refresh() {
  const s = current();
  if (!s) return;
  await s.started;
  if (current() !== s || s.state !== "ready") return;
  await exclusive(s, async () => {
    await refreshLists(s);
    await joinAll(s);
  });
  emit({ type: "conversations" });
}

/**
 * Joins conversation `id` by itself now if this device is not in it yet
 * (the conversation page calls it when opened). Resolves to true if the
 * device is a member afterwards.
 */
export async function joinConversation(id) {
  const s = current();
  if (!s) return false;
  await s.started;
  if (current() !== s || s.state !== "ready") return false;
  const joined = await exclusive(s, async () => {
    if (!s.summaries.some((x) => x.id === id)) await refreshLists(s);
    return joinByItself(s, id, { again: true });
  });
  emit({ type: "conversations", conversationId: id });
  return joined;
}

/** People this user may start a conversation with. */
export function contacts() {
  const s = current();
  return s ? s.contacts.slice() : [];
}

/** Marks everything shown in conversation `id` as read (local, sealed). */
export function markRead(id) {
  const s = current();
  if (!s) return;
  const c = s.history.convs[id];
  if (!c) return;
  const top = c.messages.reduce((m, x) => Math.max(m, x.seq || 0), 0);
  if (top > c.readSeq) {
    // The other person's texts seen just now get a read receipt (inside
    // the encrypted conversation, like every envelope): their "Delivered"
    // becomes "Read". Not into a closed conversation: nobody is there.
    // (At most the newest 1024: the receipt format's limit.)
    const seen = c.messages.filter((m) => !m.mine && m.seq && m.seq > c.readSeq && m.seq <= top).map((m) => m.id).slice(-1024);
    const sum = s.summaries.find((x) => x.id === id);
    const send = seen.length > 0 && c.joined && !(sum && sum.closed);
    c.readSeq = top;
    exclusive(s, async () => {
      await persist(s);
      if (send) await sendEnvelope(s, id, randomId(), { type: "receipt", kind: "read", message_ids: seen });
    }).catch((e) => console.warn("read receipt not sent", e && e.code));
    emit({ type: "read", conversationId: id });
  }
}

// ---- lifecycle ----------------------------------------------------------

/** Starts messaging for the signed-in device (does not block the page). */
export function start(me) {
  stop("switch");
  const s = {
    me,
    deviceId: me.device_id,
    state: "starting",
    error: null,
    closed: false,
    queue: Promise.resolve(),
    history: { v: 1, convs: {} },
    summaries: [],
    contacts: [],
    ws: null,
    joins: {},
    backoff: 1000,
    reconnectTimer: null,
  };
  setCurrent(s);
  s.started = boot(s).then(
    () => {
      if (current() !== s) return;
      s.state = "ready";
      emit({ type: "status" });
    },
    (e) => {
      if (e instanceof Locked || current() !== s) return;
      console.error("messaging could not start", e);
      s.state = "error";
      // unsupported_version: state saved by an older format of this app
      // (snapshot v1) cannot be read by this one; the way out is the same.
      s.error = e && (e.code === "unseal_failed" || e.code === "unsupported_version")
        ? "The secure storage of this browser could not be opened. Sign out and sign in again, or use another browser."
        : (e && e.message) || "Secure messaging could not start.";
      emit({ type: "status" });
    },
  );
  emit({ type: "status" });
  return s.started;
}

/** Stops messaging: socket closed, keys and plaintext dropped from memory. */
export function stop(reason) {
  const s = current();
  setCurrent(null);
  if (s) {
    s.closed = true;
    clearTimeout(s.reconnectTimer);
    for (const t of Object.values(s.handoverTimers || {})) clearTimeout(t);
    for (const t of Object.values(s.archiveTimers || {})) clearTimeout(t);
    if (s.ws) {
      try {
        s.ws.close(1000, "locked");
      } catch (_) {
        /* already closed */
      }
      s.ws = null;
    }
    if (s.device) {
      try {
        s.device.free();
      } catch (_) {
        /* in use by an aborted operation */
      }
      s.device = null;
    }
    if (s.secret) s.secret.fill(0);
    if (s.share) s.share.fill(0);
    s.secret = s.share = null;
    s.history = { v: 1, convs: {} };
    s.summaries = [];
  }
  const wiped = reason === "revoked" ? wipeAll() : Promise.resolve();
  emit({ type: "status" });
  return wiped;
}

async function boot(s) {
  s.w = await loadWasm();
  live(s);
  const share = await api("GET", "/me/unlock-share");
  live(s);
  s.share = unb64(share.unlock_share);
  const record = await loadRecord(s.deviceId);
  live(s);
  if (record) {
    s.secret = new Uint8Array(record.deviceSecret);
    s.device = s.w.AlcoveDevice.unseal(new Uint8Array(record.state), s.deviceId, s.secret, s.share);
    if (record.history) {
      s.history = unsealHistory(s, new Uint8Array(record.history));
    }
  } else {
    s.secret = crypto.getRandomValues(new Uint8Array(32));
    s.device = new s.w.AlcoveDevice(s.me.practice_id, s.me.user_id, s.deviceId);
    await persist(s);
  }
  emit({ type: "status" });
  await exclusive(s, async () => {
    // KeyPackages first: they register this device's signature key, which
    // the server checks an external join against.
    await topUpKeyPackages(s);
    await refreshLists(s);
    await joinPendingWelcomes(s);
    for (const sum of s.summaries) {
      if (!conv(s, sum.id).joined) continue;
      await ensureGroupInfo(s, sum.id);
      await syncHttp(s, sum.id);
    }
    // Conversations this device is not in yet: it joins them by itself, so
    // it can write at once even when nobody else is online.
    await joinAll(s);
  });
  emit({ type: "conversations" });
  connect(s, {
    frame: (frame) =>
      exclusive(s, () => onFrame(s, frame)).catch((e) => {
        if (!(e instanceof Locked)) console.warn("frame not processed", e);
      }),
    status: () => emit({ type: "status" }),
    revoked: () => revokedHandler(),
  });
  // Devices of the other side that appeared while this one was away.
  for (const sum of s.summaries) {
    if (s.history.convs[sum.id] && s.history.convs[sum.id].joined) {
      exclusive(s, () => addMissingDevices(s, sum.id)).catch((e) => console.warn("adding devices", e));
    }
  }
}

/** The open conversation with `userId`, if there is one (its id). */
export function conversationWith(userId) {
  const found = conversations().find((c) => c.otherId === userId && !c.closed);
  return found ? found.id : null;
}

/**
 * What this device has read about each appointment series, end to end:
 * series id (UUID) → the newest `reminder` content about it.
 */
export function appointmentDetails() {
  const s = current();
  const out = new Map();
  if (!s) return out;
  const newest = new Map();
  for (const [id, c] of Object.entries(s.history.convs)) {
    const sum = s.summaries.find((x) => x.id === id);
    for (const msg of c.messages) {
      if (msg.kind !== "reminder" || !msg.content) continue;
      // Only the practice's side announces appointments (see saidBy).
      if (!sum || msg.from === sum.client_user_id) continue;
      const key = hexToUuid(msg.content.reminder_id);
      const before = newest.get(key);
      if (!before || msg.sentAt >= before) {
        newest.set(key, msg.sentAt);
        out.set(key, msg.content);
      }
    }
  }
  return out;
}

/** Starts (or opens) the conversation with `userId`; returns its id. */
export async function startConversation(userId) {
  const s = current();
  if (!s) throw new Locked();
  await s.started;
  return exclusive(s, async () => {
    const info = await api("POST", "/conversations", { with_user_id: userId });
    live(s);
    const isMember = info.members.some((m) => m.device_id === s.deviceId);
    const c = conv(s, info.id);
    if (isMember && !hasState(s, info.id) && info.epoch === 0) {
      s.device.createGroup(gid(info.id), unb64(info.external_sender));
    }
    if (isMember && hasGroup(s, info.id) && !c.joining) c.joined = true;
    await persist(s);
    await refreshLists(s);
    if (c.joined) {
      // The epoch-0 GroupInfo: from it the server checks every later commit,
      // and other devices join by themselves.
      if (info.has_group_info) c.groupInfoUploaded = true;
      else await uploadGroupInfo(s, info.id);
      await syncHttp(s, info.id);
      await addMissingDevices(s, info.id).catch((e) => console.warn("adding devices", e));
    } else {
      // A conversation another device started: join it by itself.
      await joinByItself(s, info.id, { again: true });
    }
    emit({ type: "conversations", conversationId: info.id });
    return info.id;
  });
}


/** For tests and diagnostics: counts only, never content. */
export function debugCounts() {
  const s = current();
  if (!s) return null;
  const convs = Object.entries(s.history.convs).map(([id, c]) => ({ id, processed: c.processed, messages: c.messages.length }));
  return { state: s.state, convs };
}
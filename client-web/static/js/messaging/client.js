// The messaging engine of this browser device: MLS state (through the wasm
// module only), sealed local storage, the delivery socket, and the
// conversations' decrypted history. Pages read it through `snapshot()`-style
// getters and `subscribe()`; they never touch keys.
//
// Lifecycle (see docs/web-client.md "Messaging"):
//   start(me)  after sign-in: unlock share (memory only) → open or create the
//              sealed device in IndexedDB → KeyPackages when low → Welcomes →
//              catch up every conversation over HTTP → WebSocket.
//   stop(why)  on lock/logout: close the socket, free the wasm device, zero
//              the secrets, drop decrypted history from memory; on "revoked"
//              also delete the IndexedDB database.
// Every state change is followed by a fresh sealed snapshot that overwrites
// the previous one, *before* the server is told (ack) that it was processed.

import { api } from "../api.js";
import { loadWasm } from "./wasm.js";
import { loadRecord, saveRecord, wipeAll } from "./store.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEY_PACKAGE_BATCH = 20;

// ---- small byte helpers -------------------------------------------------

export function b64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function unb64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i += 1) out[i] = s.charCodeAt(i);
  return out;
}

const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const fromHex = (hex) => Uint8Array.from(hex.match(/../g).map((x) => parseInt(x, 16)));
const randomId = () => toHex(crypto.getRandomValues(new Uint8Array(16)));

// ---- engine state -------------------------------------------------------

/** The live state while signed in, or null. */
let S = null;
const listeners = new Set();
let revokedHandler = () => {};

/** `fn(event)` on every change ({type, conversationId?}). Returns an unsubscribe function. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(event) {
  for (const fn of listeners) {
    try {
      fn(event);
    } catch (e) {
      console.error(e);
    }
  }
}

/** Called when the server says this device was revoked (socket close 4001). */
export function setRevokedHandler(fn) {
  revokedHandler = fn;
}

class Locked extends Error {
  constructor() {
    super("The session ended.");
    this.code = "locked";
  }
}

function live(s) {
  if (s.closed || S !== s) throw new Locked();
}

/** Runs `fn` after every earlier device operation (one at a time). */
function exclusive(s, fn) {
  const run = s.queue.then(() => {
    live(s);
    return fn();
  });
  s.queue = run.catch(() => {});
  return run;
}

function conv(s, id) {
  let c = s.history.convs[id];
  if (!c) {
    c = { processed: 0, readSeq: 0, joined: false, messages: [] };
    s.history.convs[id] = c;
  }
  return c;
}

const gid = (id) => enc.encode(id);

async function persist(s) {
  live(s);
  const state = s.device.seal(s.secret, s.share);
  const history = s.w.sealBytes(enc.encode(JSON.stringify(s.history)), `${s.deviceId}/history`, s.secret, s.share);
  await saveRecord(s.deviceId, { deviceSecret: s.secret, state, history, savedAt: Date.now() });
}

// ---- public read API ----------------------------------------------------

/** {state: "off"|"starting"|"ready"|"error", error, online}. */
export function status() {
  if (!S) return { state: "off", online: false };
  return { state: S.state, error: S.error, online: !!(S.ws && S.ws.readyState === WebSocket.OPEN) };
}

/** Resolves when the engine has finished starting (or failed). */
export function ready() {
  return S ? S.started : Promise.resolve();
}

/** Conversations for the list: server summaries joined with local history. */
export function conversations() {
  if (!S) return [];
  return S.summaries.map((sum) => {
    const c = S.history.convs[sum.id];
    const mine = S.me.user_id;
    const other = mine === sum.client_user_id ? sum.staff_name : sum.client_name;
    const otherId = mine === sum.client_user_id ? sum.staff_user_id : sum.client_user_id;
    const joined = !!(c && c.joined);
    const texts = c ? c.messages : [];
    const last = texts[texts.length - 1];
    const unread = c ? texts.filter((m) => !m.mine && m.seq > c.readSeq).length : sum.unread;
    return { id: sum.id, other, otherId, joined, unread, lastAt: last ? last.sentAt : null };
  });
}

/** One conversation: {id, other, joined, messages}. */
export function conversation(id) {
  if (!S) return null;
  const item = conversations().find((c) => c.id === id);
  if (!item) return null;
  const c = S.history.convs[id];
  return { ...item, messages: c ? c.messages.slice() : [] };
}

/** Reloads the conversation and contact lists from the server. */
export async function refresh() {
  const s = S;
  if (!s) return;
  await s.started;
  if (S !== s || s.state !== "ready") return;
  await exclusive(s, () => refreshLists(s));
  emit({ type: "conversations" });
}

/** People this user may start a conversation with. */
export function contacts() {
  return S ? S.contacts.slice() : [];
}

/** Marks everything shown in conversation `id` as read (local, sealed). */
export function markRead(id) {
  const s = S;
  if (!s) return;
  const c = s.history.convs[id];
  if (!c) return;
  const top = c.messages.reduce((m, x) => Math.max(m, x.seq || 0), 0);
  if (top > c.readSeq) {
    c.readSeq = top;
    exclusive(s, () => persist(s)).catch(() => {});
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
    backoff: 1000,
    reconnectTimer: null,
  };
  S = s;
  s.started = boot(s).then(
    () => {
      if (S !== s) return;
      s.state = "ready";
      emit({ type: "status" });
    },
    (e) => {
      if (e instanceof Locked || S !== s) return;
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
  const s = S;
  S = null;
  if (s) {
    s.closed = true;
    clearTimeout(s.reconnectTimer);
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
      s.history = JSON.parse(dec.decode(s.w.unsealBytes(new Uint8Array(record.history), `${s.deviceId}/history`, s.secret, s.share)));
    }
  } else {
    s.secret = crypto.getRandomValues(new Uint8Array(32));
    s.device = new s.w.AlcoveDevice(s.me.practice_id, s.me.user_id, s.deviceId);
    await persist(s);
  }
  emit({ type: "status" });
  await exclusive(s, async () => {
    await topUpKeyPackages(s);
    await refreshLists(s);
    await joinPendingWelcomes(s);
    for (const sum of s.summaries) {
      if (conv(s, sum.id).joined) await syncHttp(s, sum.id);
    }
  });
  emit({ type: "conversations" });
  connect(s);
  // Devices of the other side that appeared while this one was away.
  for (const sum of s.summaries) {
    if (s.history.convs[sum.id] && s.history.convs[sum.id].joined) {
      exclusive(s, () => addMissingDevices(s, sum.id)).catch((e) => console.warn("adding devices", e));
    }
  }
}

async function topUpKeyPackages(s) {
  const stock = await api("GET", "/key-packages");
  live(s);
  if (!stock.low) return;
  const now = Math.floor(Date.now() / 1000);
  const kps = s.device.keyPackages(KEY_PACKAGE_BATCH, now);
  const last = s.device.lastResortKeyPackage(now);
  await persist(s); // the private keys first, then the public halves
  await api("POST", "/key-packages", { key_packages: kps.map(b64), last_resort: b64(last) });
}

async function refreshLists(s) {
  const [summaries, people] = await Promise.all([api("GET", "/conversations"), api("GET", "/contacts")]);
  live(s);
  s.summaries = summaries;
  s.contacts = people;
  for (const sum of summaries) if (sum.joined) conv(s, sum.id).joined = conv(s, sum.id).joined || hasGroup(s, sum.id);
}

function hasGroup(s, id) {
  try {
    s.device.epoch(gid(id));
    return true;
  } catch (_) {
    return false;
  }
}

async function joinPendingWelcomes(s) {
  const welcomes = await api("GET", "/welcomes");
  for (const w of welcomes) await joinWelcome(s, w);
}

async function joinWelcome(s, w) {
  live(s);
  const c = conv(s, w.conversation_id);
  if (!hasGroup(s, w.conversation_id)) {
    try {
      const joined = s.device.joinFromWelcome(unb64(w.data));
      if (dec.decode(joined.groupId) !== w.conversation_id) throw new Error("welcome for another group");
    } catch (e) {
      console.warn("welcome could not be joined", e);
    }
  }
  c.joined = hasGroup(s, w.conversation_id);
  await persist(s);
  await api("POST", `/welcomes/${encodeURIComponent(w.id)}/ack`, {});
  if (!s.summaries.some((x) => x.id === w.conversation_id)) await refreshLists(s);
  emit({ type: "conversations", conversationId: w.conversation_id });
}

// ---- processing the log ---------------------------------------------------

/**
 * Processes one log entry (idempotent by seq). Returns true if it changed
 * anything. Errors other than a gap are logged and the entry is skipped:
 * a duplicate application message fails to decrypt by design.
 */
function processEntry(s, id, entry) {
  const c = conv(s, id);
  if (entry.seq <= c.processed) return false;
  let r;
  try {
    r = s.device.process(unb64(entry.data));
  } catch (e) {
    if (e && e.code === "wrong_epoch") throw e;
    console.warn(`entry ${entry.seq} skipped`, e && e.code);
    c.processed = entry.seq;
    return true;
  }
  c.processed = entry.seq;
  switch (r.kind) {
    case "application":
      onApplication(s, id, c, entry.seq, r);
      break;
    case "proposal_stored":
      if (r.fromServer) c.removals = r.removes.map((m) => m.leafIndex);
      break;
    case "commit_merged":
    case "own_commit_merged":
      c.removals = null;
      if (r.selfRemoved) c.joined = false;
      break;
    default:
      break;
  }
  return true;
}

function onApplication(s, id, c, seq, r) {
  let env;
  try {
    env = JSON.parse(s.w.envelopeDecode(r.plaintext));
  } catch (e) {
    console.warn("undecodable envelope", e && e.code);
    return;
  }
  const fromMe = r.sender.userId === s.me.user_id;
  const content = env.content || {};
  if (content.type === "text") {
    if (c.messages.some((m) => m.id === env.client_message_id)) return;
    c.messages.push({
      id: env.client_message_id,
      seq,
      from: r.sender.userId,
      mine: fromMe,
      text: content.text,
      sentAt: env.sent_at_ms,
      status: fromMe ? "sent" : null,
    });
    if (!fromMe) {
      (c.receipts = c.receipts || []).push(env.client_message_id);
      s.notify = true;
    }
  } else if (content.type === "receipt" && !fromMe) {
    const ids = new Set(content.message_ids);
    for (const m of c.messages) {
      if (m.mine && ids.has(m.id) && (m.status === "sent" || m.status === "sending")) m.status = content.kind === "read" ? "read" : "delivered";
      if (m.mine && ids.has(m.id) && m.status === "delivered" && content.kind === "read") m.status = "read";
    }
  }
}

/** After processing: commit server Remove proposals, send receipts. */
async function followUp(s, id) {
  const c = conv(s, id);
  if (c.removals && c.removals.length) await commitRemovals(s, id);
  if (c.receipts && c.receipts.length) {
    const ids = c.receipts.splice(0);
    await persist(s);
    try {
      await sendEnvelope(s, id, randomId(), { type: "receipt", kind: "delivered", message_ids: ids });
    } catch (e) {
      console.warn("receipt not sent", e && e.code);
    }
  }
}

/** Fetches, processes and acknowledges everything after the local cursor. */
async function syncHttp(s, id) {
  for (let guard = 0; guard < 1000; guard += 1) {
    const c = conv(s, id);
    const page = await api("GET", `/conversations/${id}/messages?after=${c.processed}&limit=100`);
    live(s);
    if (!page.entries.length) break;
    for (const entry of page.entries) {
      try {
        processEntry(s, id, entry);
      } catch (e) {
        // A gap over HTTP cannot be filled: skip rather than loop.
        console.warn(`entry ${entry.seq} skipped`, e && e.code);
        c.processed = entry.seq;
      }
    }
    await persist(s);
    await api("POST", `/conversations/${id}/ack`, { seq: conv(s, id).processed });
  }
  emit({ type: "messages", conversationId: id });
  await followUp(s, id);
}

async function onFrame(s, frame) {
  if (frame.type === "welcome") {
    await joinWelcome(s, frame);
    await syncHttp(s, frame.conversation_id);
    await addMissingDevices(s, frame.conversation_id).catch((e) => console.warn("adding devices", e));
    return;
  }
  if (frame.type === "error") {
    console.warn("socket error frame", frame.error);
    return;
  }
  if (frame.type !== "entry") return;
  const id = frame.conversation_id;
  if (!conv(s, id).joined) return;
  let changed;
  try {
    changed = processEntry(s, id, frame);
  } catch (e) {
    await syncHttp(s, id); // a gap: catch up from the cursor
    return;
  }
  if (changed) await persist(s);
  if (s.ws && s.ws.readyState === WebSocket.OPEN) {
    s.ws.send(JSON.stringify({ type: "ack", conversation_id: id, seq: conv(s, id).processed }));
  }
  if (!changed) return;
  if (!s.summaries.some((x) => x.id === id)) await refreshLists(s);
  emit({ type: "messages", conversationId: id });
  if (s.notify) {
    s.notify = false;
    notifyNewMessage();
  }
  await followUp(s, id);
}

function notifyNewMessage() {
  // The text never carries PHI: no name, no content.
  try {
    if (typeof Notification !== "undefined" && Notification.permission === "granted" && document.hidden) {
      new Notification("New secure message");
    }
  } catch (_) {
    /* notifications unavailable */
  }
}

// ---- commits --------------------------------------------------------------

async function postCommit(s, id, out, body) {
  try {
    await api("POST", `/conversations/${id}/commits`, { commit: b64(out.commit), ...body });
  } catch (e) {
    live(s);
    s.device.discardPendingCommit(gid(id));
    await persist(s);
    if (e.status === 409) {
      await syncHttp(s, id);
      return false;
    }
    throw e;
  }
  live(s);
  s.device.mergePendingCommit(gid(id));
  conv(s, id).removals = null;
  await persist(s);
  return true;
}

async function commitRemovals(s, id) {
  const c = conv(s, id);
  const leaves = c.removals || [];
  const out = s.device.commitPendingProposals(gid(id));
  if (!out) {
    c.removals = null;
    return;
  }
  await postCommit(s, id, out, { removed_leaves: leaves });
  emit({ type: "members", conversationId: id });
}

/** Claims KeyPackages of devices not yet in the group and adds them. */
async function addMissingDevices(s, id) {
  live(s);
  if (!conv(s, id).joined) return;
  const claimed = await api("POST", `/conversations/${id}/key-packages/claim`, {});
  live(s);
  if (!claimed.key_packages.length) return;
  const taken = new Set(Array.from(s.device.members(gid(id)), (m) => m.leafIndex));
  let next = 0;
  const added = claimed.key_packages.map((k) => {
    while (taken.has(next)) next += 1;
    taken.add(next);
    return { device_id: k.device_id, leaf_index: next };
  });
  const out = s.device.addDevices(gid(id), claimed.key_packages.map((k) => unb64(k.key_package)));
  await persist(s);
  await postCommit(s, id, out, { welcome: out.welcome ? b64(out.welcome) : null, added });
  emit({ type: "members", conversationId: id });
}

// ---- sending --------------------------------------------------------------

/** Encrypts and posts one envelope, handling stale epochs and pending removals. */
async function sendEnvelope(s, id, messageId, content, sentAt = Date.now()) {
  for (let attempt = 0; ; attempt += 1) {
    live(s);
    const c = conv(s, id);
    if (c.removals && c.removals.length) await commitRemovals(s, id);
    const plain = s.w.envelopeEncode(JSON.stringify({ client_message_id: messageId, sent_at_ms: sentAt, content }));
    const data = s.device.encrypt(gid(id), plain);
    await persist(s);
    try {
      return await api("POST", `/conversations/${id}/messages`, { client_msg_id: b64(fromHex(messageId)), data: b64(data) });
    } catch (e) {
      if (attempt < 4 && e.status === 409 && (e.code === "stale_epoch" || e.code === "removal_pending")) {
        await syncHttp(s, id);
        if (e.code === "removal_pending") await commitRemovals(s, id);
        continue;
      }
      throw e;
    }
  }
}

/** Sends a text; the message appears at once as "sending". */
export async function sendText(id, text) {
  const s = S;
  if (!s) throw new Locked();
  const c = conv(s, id);
  const msg = { id: randomId(), seq: null, from: s.me.user_id, mine: true, text, sentAt: Date.now(), status: "sending" };
  c.messages.push(msg);
  emit({ type: "messages", conversationId: id });
  return deliver(s, id, msg);
}

/** Sends a failed message again (same id: the server deduplicates). */
export function retry(id, messageId) {
  const s = S;
  if (!s) return Promise.reject(new Locked());
  const msg = conv(s, id).messages.find((m) => m.id === messageId);
  if (!msg || msg.status !== "failed") return Promise.resolve();
  msg.status = "sending";
  emit({ type: "messages", conversationId: id });
  return deliver(s, id, msg);
}

async function deliver(s, id, msg) {
  try {
    await exclusive(s, async () => {
      await addMissingDevices(s, id).catch((e) => {
        if (e instanceof Locked) throw e;
        console.warn("adding devices", e);
      });
      const answer = await sendEnvelope(s, id, msg.id, { type: "text", text: msg.text }, msg.sentAt);
      msg.seq = answer.seq;
      if (msg.status === "sending") msg.status = "sent";
      msg.error = null;
      const c = conv(s, id);
      c.readSeq = Math.max(c.readSeq, answer.seq);
      await persist(s);
    });
  } catch (e) {
    if (e instanceof Locked) throw e;
    msg.status = "failed";
    msg.error = (e && e.message) || "Not sent.";
    if (S === s) await exclusive(s, () => persist(s)).catch(() => {});
  }
  emit({ type: "messages", conversationId: id });
  return msg;
}

/** Starts (or opens) the conversation with `userId`; returns its id. */
export async function startConversation(userId) {
  const s = S;
  if (!s) throw new Locked();
  await s.started;
  return exclusive(s, async () => {
    const info = await api("POST", "/conversations", { with_user_id: userId });
    live(s);
    const isMember = info.members.some((m) => m.device_id === s.deviceId);
    if (isMember && !hasGroup(s, info.id) && info.epoch === 0) {
      s.device.createGroup(gid(info.id), unb64(info.external_sender));
    }
    conv(s, info.id).joined = hasGroup(s, info.id);
    await persist(s);
    await refreshLists(s);
    if (conv(s, info.id).joined) {
      await syncHttp(s, info.id);
      await addMissingDevices(s, info.id).catch((e) => console.warn("adding devices", e));
    }
    emit({ type: "conversations", conversationId: info.id });
    return info.id;
  });
}

// ---- socket ---------------------------------------------------------------

function connect(s) {
  if (s.closed) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (e) {
    scheduleReconnect(s);
    return;
  }
  s.ws = ws;
  ws.onopen = () => {
    s.backoff = 1000;
    emit({ type: "status" });
  };
  ws.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    exclusive(s, () => onFrame(s, frame)).catch((e) => {
      if (!(e instanceof Locked)) console.warn("frame not processed", e);
    });
  };
  ws.onclose = (event) => {
    if (s.ws === ws) s.ws = null;
    if (s.closed) return;
    emit({ type: "status" });
    if (event.code === 4001) {
      revokedHandler();
      return;
    }
    if (event.code === 4000) {
      // Session over: any API call now reports it and locks the page.
      api("GET", "/me").catch(() => {});
      return;
    }
    scheduleReconnect(s);
  };
}

function scheduleReconnect(s) {
  clearTimeout(s.reconnectTimer);
  s.reconnectTimer = setTimeout(() => {
    if (s.closed) return;
    // A rejected upgrade gives no reason: ask the API (401 device_revoked locks the page).
    api("GET", "/me")
      .then(() => connect(s))
      .catch(() => scheduleReconnect(s));
  }, s.backoff);
  s.backoff = Math.min(s.backoff * 2, 30_000);
}

/** For tests and diagnostics: counts only, never content. */
export function debugCounts() {
  if (!S) return null;
  const convs = Object.entries(S.history.convs).map(([id, c]) => ({ id, processed: c.processed, messages: c.messages.length }));
  return { state: S.state, convs };
}

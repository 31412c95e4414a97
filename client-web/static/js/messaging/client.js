// The messaging engine of this browser device: MLS state (through the wasm
// module only), sealed local storage, the delivery socket (transport.js),
// and the conversations' decrypted history (history.js). Pages read it through `snapshot()`-style
// getters and `subscribe()`; they never touch keys.
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
import { b64, unb64, enc, dec, fromHex, randomId } from "./bytes.js";
import { conv, seal, unsealHistory, recordApplication } from "./history.js";
import { connect } from "./transport.js";
import { summary, hexToUuid } from "./appointment.js";

// The byte helpers are part of this module's API (pages use them).
export { b64, unb64 };

const KEY_PACKAGE_BATCH = 20;


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


const gid = (id) => enc.encode(id);


async function persist(s) {
  live(s);
  await seal(s);
}

// ---- public read API ----------------------------------------------------

/**
 * Why this device is not (yet) in a conversation, or null: {state:
 * "joining"} while it joins by itself, or {state: "waiting", reason} with
 * reason "group_info_missing" (the device that started the conversation has
 * not set up its encryption on the server yet), "welcome" (the server counts
 * this device in; its Welcome is on the way), "refused" (the server did not
 * let it join by itself: it waits to be added by a device already in the
 * conversation), "offline" (it tries again), or "busy" (other devices kept
 * changing the group; it tries again).
 */
function joinStatus(s, id) {
  const c = s.history.convs[id];
  if (c && c.joined) return null;
  return s.joins[id] || { state: "waiting", reason: "welcome" };
}

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
    const join = joined ? null : joinStatus(S, sum.id);
    // The other person was deactivated: readable, but nothing more is sent.
    const closed = !!sum.closed;
    // The newest text, decrypted on this device, for the list's preview.
    const preview = last ? { text: last.text, mine: !!last.mine } : null;
    // Who the client is: only the practice's side announces appointments,
    // only the client answers them (pages check the sender against it).
    return { id: sum.id, other, otherId, clientId: sum.client_user_id, joined, join, unread, closed, preview, lastAt: last ? last.sentAt : null };
  });
}

/** One conversation: {id, other, joined, join, messages} (`join`: see joinStatus). */
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
  const s = S;
  if (!s) return false;
  await s.started;
  if (S !== s || s.state !== "ready") return false;
  const joined = await exclusive(s, async () => {
    if (!s.summaries.some((x) => x.id === id)) await refreshLists(s);
    return joinByItself(s, id, { again: true });
  });
  emit({ type: "conversations", conversationId: id });
  return joined;
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
    // The other person's texts seen just now get a read receipt (inside
    // the encrypted conversation, like every envelope): their "Delivered"
    // becomes "Read". Not into a closed conversation: nobody is there.
    const seen = c.messages.filter((m) => !m.mine && m.seq && m.seq > c.readSeq && m.seq <= top).map((m) => m.id);
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
  for (const sum of summaries) {
    if (!sum.joined) continue;
    const c = conv(s, sum.id);
    // An external join whose answer was lost (reload, crash) is settled by
    // settleJoin, not here: the server may count this device in by a Welcome.
    if (!c.joining) c.joined = c.joined || hasGroup(s, sum.id);
  }
}

/** True if this device holds an active MLS group for conversation `id`. */
function hasGroup(s, id) {
  try {
    return s.device.isActive(gid(id));
  } catch (_) {
    return false;
  }
}

/** True if this device holds any state (active or not) for conversation `id`. */
function hasState(s, id) {
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
  return welcomes.map((w) => w.conversation_id);
}

async function joinWelcome(s, w) {
  live(s);
  const c = conv(s, w.conversation_id);
  if (!c.joined && hasState(s, w.conversation_id)) {
    // A local state the server never confirmed (an external join whose
    // answer was lost): the server added this device by this Welcome, so
    // that join lost the race.
    s.device.forgetGroup(gid(w.conversation_id));
    c.joining = false;
  }
  if (!hasGroup(s, w.conversation_id)) {
    try {
      const joined = s.device.joinFromWelcome(unb64(w.data));
      if (dec.decode(joined.groupId) !== w.conversation_id) throw new Error("welcome for another group");
    } catch (e) {
      console.warn("welcome could not be joined", e);
    }
  }
  c.joined = hasGroup(s, w.conversation_id);
  if (c.joined) delete s.joins[w.conversation_id];
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
      recordApplication(s, id, c, entry.seq, r);
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


/** After processing: commit server Remove proposals, send receipts. */
async function followUp(s, id) {
  const c = conv(s, id);
  if (c.removals && c.removals.length) {
    try {
      await commitRemovals(s, id);
    } catch (e) {
      if (e instanceof Locked) throw e;
      console.warn("removal not committed", e && e.code); // the next send tries again
    }
  }
  if (c.receipts && c.receipts.length) {
    const ids = c.receipts.splice(0);
    await persist(s);
    try {
      await sendEnvelope(s, id, randomId(), { type: "receipt", kind: "delivered", message_ids: ids });
    } catch (e) {
      console.warn("receipt not sent", e && e.code);
    }
  }
  await resendWaiting(s, id);
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
  if (frame.type === "key_packages_low") {
    // A claim took one of this device's KeyPackages and few are left.
    await topUpKeyPackages(s).catch((e) => console.warn("key packages", e && e.code));
    return;
  }
  if (frame.type === "appointments_changed") {
    // An appointment this person may see was scheduled, moved, cancelled
    // or answered: pages that show appointments read them again.
    emit({ type: "appointments" });
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

/** The commit request: the commit, the GroupInfo of the epoch it creates, and the Welcome if it adds. */
function commitBody(out) {
  return {
    commit: b64(out.commit),
    welcome: out.welcome ? b64(out.welcome) : null,
    group_info: out.groupInfo ? b64(out.groupInfo) : null,
  };
}

/**
 * Posts this device's pending commit. Accepted → merged. `409` (another
 * commit won the epoch, a removal is pending, …) → discarded, catch up
 * (which commits a pending server Remove). `409 group_state_missing` (the
 * group's first GroupInfo never reached the server) → uploaded, then the
 * same commit again. Other refusals → discarded and thrown.
 */
async function postCommit(s, id, out) {
  for (let uploaded = false; ; uploaded = true) {
    try {
      await api("POST", `/conversations/${id}/commits`, commitBody(out));
      break;
    } catch (e) {
      live(s);
      if (!uploaded && e.status === 409 && e.code === "group_state_missing" && (await uploadGroupInfo(s, id))) continue;
      s.device.discardPendingCommit(gid(id));
      await persist(s);
      if (e.status === 409) {
        await syncHttp(s, id);
        return false;
      }
      throw e;
    }
  }
  live(s);
  s.device.mergePendingCommit(gid(id));
  conv(s, id).removals = null;
  await persist(s);
  return true;
}

/**
 * Uploads the GroupInfo of the group's current epoch, which the server
 * starts its view of the group from (the creator does it at epoch 0).
 * `409 group_state_exists` counts as done. Returns false if this device
 * cannot (it has no group, or the server is past its epoch).
 */
async function uploadGroupInfo(s, id) {
  live(s);
  const c = conv(s, id);
  if (!c.joined || !hasGroup(s, id)) return false;
  const epoch = s.device.epoch(gid(id));
  const sum = s.summaries.find((x) => x.id === id);
  if (epoch !== 0 && !(sum && sum.epoch === epoch)) return false;
  const info = s.device.groupInfo(gid(id));
  try {
    await api("POST", `/conversations/${id}/group-info`, { group_info: b64(info) });
  } catch (e) {
    if (!(e.status === 409 && e.code === "group_state_exists")) throw e;
  }
  live(s);
  c.groupInfoUploaded = true;
  await persist(s);
  return true;
}

/** A group still at epoch 0 whose GroupInfo upload this device has not seen succeed (e.g. it was offline). */
async function ensureGroupInfo(s, id) {
  const c = conv(s, id);
  if (c.groupInfoUploaded || !hasGroup(s, id) || s.device.epoch(gid(id)) !== 0) return;
  try {
    await uploadGroupInfo(s, id);
  } catch (e) {
    if (e instanceof Locked) throw e;
    console.warn("group info not uploaded", e && e.code); // retried by the first commit (group_state_missing)
  }
}

async function commitRemovals(s, id) {
  const c = conv(s, id);
  const out = s.device.commitPendingProposals(gid(id));
  if (!out) {
    c.removals = null;
    return;
  }
  await postCommit(s, id, out);
  emit({ type: "members", conversationId: id });
}

/** Claims KeyPackages of devices not yet in the group and adds them. */
async function addMissingDevices(s, id) {
  live(s);
  if (!conv(s, id).joined) return;
  const claimed = await api("POST", `/conversations/${id}/key-packages/claim`, {});
  live(s);
  if (!claimed.key_packages.length) return;
  // The server reads who is added (and at which leaf) from the commit itself.
  const out = s.device.addDevices(gid(id), claimed.key_packages.map((k) => unb64(k.key_package)));
  await persist(s);
  await postCommit(s, id, out);
  emit({ type: "members", conversationId: id });
  await resendWaiting(s, id);
}

// ---- joining by external commit -------------------------------------------

const JOIN_ATTEMPTS = 4;

function setJoin(s, id, state, reason) {
  const before = s.joins[id];
  if (before && before.state === state && before.reason === reason) return;
  s.joins[id] = reason ? { state, reason } : { state };
  emit({ type: "conversations", conversationId: id });
}

/** Every listed conversation this device is not in: join it by itself. */
async function joinAll(s) {
  for (const sum of s.summaries.slice()) {
    const c = s.history.convs[sum.id];
    if (c && c.joined) continue;
    try {
      await joinByItself(s, sum.id);
    } catch (e) {
      if (e instanceof Locked) throw e;
      console.warn("external join", e && e.code);
    }
  }
}

/**
 * A local state of a conversation this device is not counted in: an
 * external join whose answer it never saw (reload, crash, lost connection;
 * the state was sealed before the commit was posted), or a group it was
 * removed from. A pending Welcome means the join lost the race (joinWelcome
 * replaces it); otherwise the server's list says whether it was accepted.
 * Anything unconfirmed is forgotten. Returns true if this device is a member.
 */
async function settleJoin(s, id) {
  const c = conv(s, id);
  if (c.joining) {
    await joinPendingWelcomes(s);
    if (c.joined) return true;
    await refreshLists(s); // the server's word, fresh
  }
  const sum = s.summaries.find((x) => x.id === id);
  if (c.joining && sum && sum.joined && hasGroup(s, id)) {
    c.joined = true; // accepted (its log starts after the commit)
  } else if (hasState(s, id)) {
    s.device.forgetGroup(gid(id)); // refused, or a state nobody confirmed (e.g. removed)
  }
  c.joining = false;
  await persist(s);
  return c.joined;
}

/**
 * Joins conversation `id` by external commit, needing nobody else online:
 * GET its GroupInfo → joinByExternalCommit (openmls merges it at once) →
 * seal → POST the commit with the new epoch's GroupInfo. `409 stale_epoch`
 * (another commit won the epoch, perhaps the one adding this device by
 * Welcome): forget, take pending Welcomes, and try again with a fresh
 * GroupInfo. Other refusals: forget and wait for a Welcome (joinStatus says
 * which). Automatic attempts skip a conversation the server refused this
 * session; `again` (the conversation was opened) tries anyway. Returns true
 * if this device is a member afterwards.
 */
async function joinByItself(s, id, { again = false } = {}) {
  live(s);
  const c = conv(s, id);
  if (c.joined) return true;
  if ((c.joining || hasState(s, id)) && (await settleJoin(s, id))) {
    delete s.joins[id];
    emit({ type: "conversations", conversationId: id });
    await syncHttp(s, id);
    return true;
  }
  let sum = s.summaries.find((x) => x.id === id);
  if (!sum) return false;
  const before = s.joins[id];
  if (before && before.reason === "refused" && !again) return false;
  for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt += 1) {
    if (sum.joined) {
      // The server counts this device in: its Welcome is pending.
      setJoin(s, id, "waiting", "welcome");
      return false;
    }
    setJoin(s, id, "joining");
    let info;
    try {
      info = await api("GET", `/conversations/${id}/group-info`);
    } catch (e) {
      live(s);
      if (e.status === 404 && e.code === "group_info_missing") setJoin(s, id, "waiting", "group_info_missing");
      else setJoin(s, id, "waiting", e.status === 0 ? "offline" : "refused");
      return false;
    }
    live(s);
    let out;
    try {
      out = s.device.joinByExternalCommit(unb64(info.group_info));
    } catch (e) {
      console.warn("external join not possible", e && e.code);
      setJoin(s, id, "waiting", "refused");
      return false;
    }
    c.joining = true;
    await persist(s);
    let answer = null;
    let refusal = null;
    try {
      answer = await api("POST", `/conversations/${id}/commits`, commitBody(out));
    } catch (e) {
      refusal = e;
    }
    live(s);
    if (answer) {
      c.joining = false;
      c.joined = true;
      // This device's log starts after its own commit.
      c.processed = answer.seq;
      c.removals = null;
      sum.joined = true;
      await persist(s);
      delete s.joins[id];
      emit({ type: "conversations", conversationId: id });
      await syncHttp(s, id);
      return true;
    }
    if (refusal.status === 0) {
      // No answer: the commit may have been accepted. The sealed state is
      // kept (c.joining); the next attempt asks the server's list first.
      setJoin(s, id, "waiting", "offline");
      return false;
    }
    s.device.forgetGroup(gid(id));
    c.joining = false;
    await persist(s);
    if (refusal.status === 409 && refusal.code === "stale_epoch") {
      // Another commit won the epoch: if it added this device, its Welcome is waiting.
      for (const other of new Set(await joinPendingWelcomes(s))) {
        if (conv(s, other).joined) await syncHttp(s, other);
      }
      if (conv(s, id).joined) {
        delete s.joins[id];
        return true;
      }
      await refreshLists(s);
      sum = s.summaries.find((x) => x.id === id);
      if (!sum) return false;
      continue;
    }
    console.warn("external join refused", refusal.code);
    setJoin(s, id, "waiting", "refused");
    return false;
  }
  setJoin(s, id, "waiting", "busy");
  return false;
}

// ---- sending --------------------------------------------------------------

/**
 * Encrypts and posts one envelope, handling stale epochs and pending
 * removals. `transportId` is the server's deduplication key (the envelope's
 * id unless the same message is sent again into a later epoch).
 */
async function sendEnvelope(s, id, messageId, content, sentAt = Date.now(), transportId = messageId) {
  for (let attempt = 0; ; attempt += 1) {
    live(s);
    const c = conv(s, id);
    if (c.removals && c.removals.length) await commitRemovals(s, id);
    const plain = s.w.envelopeEncode(JSON.stringify({ client_message_id: messageId, sent_at_ms: sentAt, content }));
    const data = s.device.encrypt(gid(id), plain);
    await persist(s);
    try {
      return await api("POST", `/conversations/${id}/messages`, { client_msg_id: b64(fromHex(transportId)), data: b64(data) });
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

/** The longest text a message may carry, in characters (code points): well
 * inside the server's request limit once encrypted, whatever the script. */
export const MAX_TEXT_CHARS = 4000;

/** A text's length as the limit counts it. */
export const textLength = (text) => [...text].length;

/** Sends a text; the message appears at once as "sending". A text over the
 * limit is refused here, before anything is sent — never cut. */
export async function sendText(id, text) {
  const s = S;
  if (!s) throw new Locked();
  const length = textLength(text);
  if (length > MAX_TEXT_CHARS) {
    throw new Error(`This message is ${length.toLocaleString()} characters; the limit is ${MAX_TEXT_CHARS.toLocaleString()}. Split it into shorter messages.`);
  }
  const c = conv(s, id);
  const msg = { id: randomId(), seq: null, from: s.me.user_id, mine: true, text, sentAt: Date.now(), status: "sending" };
  c.messages.push(msg);
  emit({ type: "messages", conversationId: id });
  return deliver(s, id, msg);
}

/**
 * Sends an appointment (`reminder`) or an answer to one
 * (`reminder_response`) into conversation `id`, end to end, like a text:
 * it appears at once and says when it was delivered and read. See
 * appointment.js for the contents.
 */
export async function sendAppointmentMessage(id, content) {
  const s = S;
  if (!s) throw new Locked();
  if (content.type !== "reminder" && content.type !== "reminder_response") throw new Error("not an appointment message");
  const c = conv(s, id);
  const msg = { id: randomId(), seq: null, from: s.me.user_id, mine: true, kind: content.type, content, text: summary(content), sentAt: Date.now(), status: "sending" };
  c.messages.push(msg);
  emit({ type: "messages", conversationId: id });
  const sent = await deliver(s, id, msg);
  if (sent.status === "failed") throw new Error(sent.error || "Not sent.");
  return sent;
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
  const out = new Map();
  if (!S) return out;
  const newest = new Map();
  for (const [id, c] of Object.entries(S.history.convs)) {
    const sum = S.summaries.find((x) => x.id === id);
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
      const content = msg.content || { type: "text", text: msg.text };
      const answer = await sendEnvelope(s, id, msg.id, content, msg.sentAt);
      msg.seq = answer.seq;
      // Encrypted for the members of this epoch only: if none of them is
      // the other person's, nobody can read it yet — say so, and send it
      // again once a device of theirs joins (resendWaiting).
      const reached = reachesOther(s, id);
      if (msg.status === "sending") msg.status = reached ? "sent" : "waiting";
      if (!reached) msg.waited = true;
      msg.error = null;
      const c = conv(s, id);
      c.readSeq = Math.max(c.readSeq, answer.seq);
      await persist(s);
    });
  } catch (e) {
    if (e instanceof Locked) throw e;
    msg.status = "failed";
    msg.error = (e && e.message) || "Not sent.";
    // Refused for what it is (too large, malformed) or where it was sent
    // (a closed conversation): sending it again cannot succeed, so no Retry
    // is offered. `permanent` says which.
    const closed = !!(e && e.code === "conversation_closed");
    msg.permanent = closed ? "closed" : e && (e.status === 400 || e.status === 413 || e.status === 422) ? "refused" : null;
    // Learn (and show) that the conversation closed.
    if (closed) {
      refreshLists(s)
        .then(() => emit({ type: "conversations", conversationId: id }))
        .catch(() => {});
    }
    if (S === s) await exclusive(s, () => persist(s)).catch(() => {});
  }
  emit({ type: "messages", conversationId: id });
  return msg;
}

/**
 * True if a device of the other person is a member of this device's
 * current epoch of conversation `id` (so what is encrypted now reaches
 * them). Read from the MLS tree itself, not from the server's word.
 */
function reachesOther(s, id) {
  const sum = s.summaries.find((x) => x.id === id);
  if (!sum || !hasGroup(s, id)) return true; // nothing to say: not claimed as waiting
  const other = s.me.user_id === sum.client_user_id ? sum.staff_user_id : sum.client_user_id;
  try {
    return s.device.members(gid(id)).some((m) => m.userId === other);
  } catch (_) {
    return true;
  }
}

/**
 * This device's messages that no device of the other person could read
 * when they were sent ("waiting"): once one has joined, each is encrypted
 * again in the current epoch and posted under a new transport id (the
 * server keeps both; every reader shows the envelope once, by its id, at
 * its original time). The new id is sealed before it is posted, so a lost
 * answer is retried as a duplicate, not a third copy. Not re-entered from
 * the sends it makes.
 */
async function resendWaiting(s, id) {
  const c = conv(s, id);
  if (s.resending || !c.joined) return;
  const waiting = c.messages.filter((m) => m.mine && m.status === "waiting");
  if (!waiting.length || !reachesOther(s, id)) return;
  s.resending = true;
  try {
    for (const msg of waiting) {
      if (!msg.resendId) {
        msg.resendId = randomId();
        await persist(s);
      }
      const content = msg.content || { type: "text", text: msg.text };
      const answer = await sendEnvelope(s, id, msg.id, content, msg.sentAt, msg.resendId);
      msg.seq = answer.seq;
      c.readSeq = Math.max(c.readSeq, answer.seq);
      if (reachesOther(s, id)) msg.status = "sent";
      else msg.resendId = null; // left again meanwhile: wait for the next device
      await persist(s);
    }
  } catch (e) {
    if (e instanceof Locked) throw e;
    console.warn("waiting message not sent again", e && e.code); // the next follow-up tries again
  } finally {
    s.resending = false;
  }
  emit({ type: "messages", conversationId: id });
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
  if (!S) return null;
  const convs = Object.entries(S.history.convs).map(([id, c]) => ({ id, processed: c.processed, messages: c.messages.length }));
  return { state: S.state, convs };
}

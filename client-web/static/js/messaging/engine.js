// The MLS engine of this device: the group state held by the wasm module,
// and every operation that changes it or reads it — processing a log entry
// (decrypt, merge a commit, store a server proposal), encrypting an
// envelope, committing (adds, removals), the group's GroupInfo on the
// server, KeyPackages, and what the server's lists say about membership.
// Joining (Welcome or external commit) is in join.js; moving entries to
// and from the server in transport.js; what is sent and retried in
// outbox.js.
//
// Invariants:
//   - Only this module and join.js call `s.device` methods that change the
//     group; they run inside `exclusive` (state.js), one at a time.
//   - A pending commit is sealed before it is posted; accepted → merged,
//     refused → discarded, then sealed again. No commit is merged that the
//     server did not accept, so this device never runs ahead of the log.
//   - `processEntry` is idempotent by seq (`c.processed`); only a gap
//     (`wrong_epoch`) escapes it, and the caller catches up over HTTP.
//   - Encrypting advances the group's secrets: it is sealed before the
//     ciphertext is posted.

import { api, failure } from "../api.js";
import { b64, unb64, enc, fromHex } from "./bytes.js";
import { conv, recordApplication } from "./history.js";
import { emit, live, persist, Locked } from "./state.js";
import { syncHttp } from "./transport.js";
import { resendWaiting } from "./outbox.js";

const KEY_PACKAGE_BATCH = 20;

/** The MLS group id of conversation `id`: the UTF-8 bytes of its id. */
export const gid = (id) => enc.encode(id);

/** Uploads a fresh batch of KeyPackages (and a last-resort one) when the server says few are left. */
export async function topUpKeyPackages(s) {
  const stock = await api("GET", "/key-packages");
  live(s);
  if (!stock.low) return;
  const now = Math.floor(Date.now() / 1000);
  const kps = s.device.keyPackages(KEY_PACKAGE_BATCH, now);
  const last = s.device.lastResortKeyPackage(now);
  await persist(s); // the private keys first, then the public halves
  await api("POST", "/key-packages", { key_packages: kps.map(b64), last_resort: b64(last) });
}

/**
 * Reads the conversation and contact lists; a conversation the server
 * counts this device in is joined here if the device holds its group.
 */
export async function refreshLists(s) {
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
export function hasGroup(s, id) {
  try {
    return s.device.isActive(gid(id));
  } catch (_) {
    return false;
  }
}

/** True if this device holds any state (active or not) for conversation `id`. */
export function hasState(s, id) {
  try {
    s.device.epoch(gid(id));
    return true;
  } catch (_) {
    return false;
  }
}

// ---- processing the log ---------------------------------------------------

/**
 * Processes one log entry (idempotent by seq). Returns true if it changed
 * anything. Errors other than a gap are logged and the entry is skipped:
 * a duplicate application message fails to decrypt by design.
 */
export function processEntry(s, id, entry) {
  const c = conv(s, id);
  if (entry.seq <= c.processed) return false;
  let r;
  try {
    r = s.device.process(unb64(entry.data));
  } catch (e) {
    if (failure(e).code === "wrong_epoch") throw e;
    console.warn(`entry ${entry.seq} skipped`, failure(e).code);
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

// ---- commits --------------------------------------------------------------

/** The commit request: the commit, the GroupInfo of the epoch it creates, and the Welcome if it adds. */
export function commitBody(out) {
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
      const { status, code } = failure(e);
      if (!uploaded && status === 409 && code === "group_state_missing" && (await uploadGroupInfo(s, id))) continue;
      s.device.discardPendingCommit(gid(id));
      await persist(s);
      if (status === 409) {
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
export async function uploadGroupInfo(s, id) {
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
    const { status, code } = failure(e);
    if (!(status === 409 && code === "group_state_exists")) throw e;
  }
  live(s);
  c.groupInfoUploaded = true;
  await persist(s);
  return true;
}

/** A group still at epoch 0 whose GroupInfo upload this device has not seen succeed (e.g. it was offline). */
export async function ensureGroupInfo(s, id) {
  const c = conv(s, id);
  if (c.groupInfoUploaded || !hasGroup(s, id) || s.device.epoch(gid(id)) !== 0) return;
  try {
    await uploadGroupInfo(s, id);
  } catch (e) {
    if (e instanceof Locked) throw e;
    console.warn("group info not uploaded", failure(e).code); // retried by the first commit (group_state_missing)
  }
}

export async function commitRemovals(s, id) {
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
export async function addMissingDevices(s, id) {
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

// ---- encrypting -----------------------------------------------------------

/**
 * Encrypts and posts one envelope, handling stale epochs and pending
 * removals. `transportId` is the server's deduplication key (the envelope's
 * id unless the same message is sent again into a later epoch).
 */
export async function sendEnvelope(s, id, messageId, content, sentAt = Date.now(), transportId = messageId) {
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
      const { status, code } = failure(e);
      if (attempt < 4 && status === 409 && (code === "stale_epoch" || code === "removal_pending")) {
        await syncHttp(s, id);
        if (code === "removal_pending") await commitRemovals(s, id);
        continue;
      }
      throw e;
    }
  }
}
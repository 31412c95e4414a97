// How this device gets into a conversation: by the Welcome another member
// sent (joinWelcome), or by itself through an external commit from the
// GroupInfo the server keeps (joinByItself), needing nobody else online.
// `s.joins[id]` says why a conversation is not joined yet (joinStatus);
// pages show it.
//
// Invariants:
//   - `c.joined` is true only once the server counts this device in: a
//     Welcome it took, or an external commit the server accepted.
//   - An external commit is merged locally and sealed (`c.joining`) before
//     it is posted; whatever the answer, the next look settles that state
//     (settleJoin): kept if the server accepted it, forgotten otherwise. A
//     Welcome that arrives for a group with an unconfirmed local state wins.

import { api, failure } from "../api.js";
import { unb64, dec } from "./bytes.js";
import { conv } from "./history.js";
import { emit, live, persist, Locked } from "./state.js";
import { gid, hasGroup, hasState, refreshLists, commitBody } from "./engine.js";
import { syncHttp } from "./transport.js";
import { learnHandover } from "./handover.js";

/** After joining: whether other devices will hand this one its history (a failure leaves it waiting). */
async function afterJoin(s, id) {
  try {
    await learnHandover(s, id);
  } catch (e) {
    if (e instanceof Locked) throw e;
    console.warn("handover eligibility not read", failure(e).code);
  }
}

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
export function joinStatus(s, id) {
  const c = s.history.convs[id];
  if (c && c.joined) return null;
  return s.joins[id] || { state: "waiting", reason: "welcome" };
}

// ---- Welcomes ---------------------------------------------------------------

/** Takes every Welcome waiting for this device; returns their conversations' ids. */
export async function joinPendingWelcomes(s) {
  const welcomes = await api("GET", "/welcomes");
  for (const w of welcomes) await joinWelcome(s, w);
  return welcomes.map((w) => w.conversation_id);
}

/** Joins by Welcome `w` (from the list or a socket frame), seals, then acknowledges it. */
export async function joinWelcome(s, w) {
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
  const was = c.joined;
  c.joined = hasGroup(s, w.conversation_id);
  if (c.joined) delete s.joins[w.conversation_id];
  // MLS brings no earlier messages: they come as a handover (handover.js).
  if (c.joined && !was) {
    c.awaitingHistory = true;
    c.joinedSeq = null; // the Welcome's epoch starts after the adding commit: any handover is later
  }
  await persist(s);
  if (c.joined && !was) await afterJoin(s, w.conversation_id);
  await api("POST", `/welcomes/${encodeURIComponent(w.id)}/ack`, {});
  if (!s.summaries.some((x) => x.id === w.conversation_id)) await refreshLists(s);
  emit({ type: "conversations", conversationId: w.conversation_id });
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
export async function joinAll(s) {
  for (const sum of s.summaries.slice()) {
    const c = s.history.convs[sum.id];
    if (c && c.joined) continue;
    try {
      await joinByItself(s, sum.id);
    } catch (e) {
      if (e instanceof Locked) throw e;
      console.warn("external join", failure(e).code);
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
export async function joinByItself(s, id, { again = false } = {}) {
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
      const { status, code } = failure(e);
      if (status === 404 && code === "group_info_missing") setJoin(s, id, "waiting", "group_info_missing");
      else setJoin(s, id, "waiting", status === 0 ? "offline" : "refused");
      return false;
    }
    live(s);
    let out;
    try {
      out = s.device.joinByExternalCommit(unb64(info.group_info));
    } catch (e) {
      console.warn("external join not possible", failure(e).code);
      setJoin(s, id, "waiting", "refused");
      return false;
    }
    c.joining = true;
    await persist(s);
    let answer = null;
    /** @type {import("../api.js").Failure | null} */
    let refusal = null;
    try {
      answer = await api("POST", `/conversations/${id}/commits`, commitBody(out));
    } catch (e) {
      refusal = failure(e);
    }
    live(s);
    if (answer) {
      c.joining = false;
      c.joined = true;
      c.awaitingHistory = true; // earlier messages come as a handover (handover.js)
      c.joinedSeq = answer.seq; // what came before is history; what comes after, its own
      // This device's log starts after its own commit.
      c.processed = answer.seq;
      c.removals = null;
      sum.joined = true;
      await persist(s);
      await afterJoin(s, id);
      delete s.joins[id];
      emit({ type: "conversations", conversationId: id });
      await syncHttp(s, id);
      return true;
    }
    // Neither an answer nor a refusal: the server answers a commit with its seq.
    if (!refusal) throw new Error("the commit was not answered");
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
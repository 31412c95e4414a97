// What this device sends into a conversation and what it keeps trying to
// send: texts and appointment messages (shown at once as "sending", then
// "sent", "waiting" or "failed"), Retry of a failed one, the receipts and
// removal commits owed after processing (followUp), and the "waiting"
// messages sent again once a device of the other person can read them.
//
// Invariants:
//   - A message's id is fixed when it is written; the server deduplicates
//     by the transport id, so Retry after a lost answer never doubles it.
//   - "waiting" is read from the MLS tree of the epoch it was encrypted in
//     (reachesOther), never from the server's word: it means no device of
//     the other person could decrypt it.
//   - A resend's new transport id is sealed before it is posted, so a lost
//     answer is retried as a duplicate, not a third copy.
//   - A refusal that cannot change (too large, closed conversation) is
//     marked `permanent`: no Retry is offered.

import { failure } from "../api.js";
import { randomId } from "./bytes.js";
import { conv } from "./history.js";
import { summary } from "./appointment.js";
import { current, emit, exclusive, persist, Locked } from "./state.js";
import { gid, hasGroup, refreshLists, sendEnvelope, commitRemovals, addMissingDevices } from "./engine.js";
import { noticeJoiners, sendHandovers } from "./handover.js";
import { archiveSoon } from "./archive.js";

// ---- after processing ------------------------------------------------------

/** The most message ids one receipt carries (the envelope format's limit). */
const MAX_RECEIPT_IDS = 1024;

/** History owed to a new device of the conversation (handover.js); a failure waits for the next follow-up. */
async function handOver(s, id) {
  noticeJoiners(s, id);
  try {
    await sendHandovers(s, id);
  } catch (e) {
    if (e instanceof Locked) throw e;
    console.warn("history not handed over", failure(e).code);
  }
}

/** After processing: commit server Remove proposals, send receipts, hand history to new devices, send waiting messages again. */
export async function followUp(s, id) {
  const c = conv(s, id);
  if (c.removals && c.removals.length) {
    try {
      await commitRemovals(s, id);
    } catch (e) {
      if (e instanceof Locked) throw e;
      console.warn("removal not committed", failure(e).code); // the next send tries again
    }
  }
  if (c.receipts && c.receipts.length) {
    const ids = c.receipts.splice(0);
    await persist(s);
    try {
      for (let i = 0; i < ids.length; i += MAX_RECEIPT_IDS) {
        await sendEnvelope(s, id, randomId(), { type: "receipt", kind: "delivered", message_ids: ids.slice(i, i + MAX_RECEIPT_IDS) });
      }
    } catch (e) {
      console.warn("receipt not sent", failure(e).code);
    }
  }
  await handOver(s, id);
  await resendWaiting(s, id);
  archiveSoon(s, id);
}

// ---- sending ---------------------------------------------------------------

/** The longest text a message may carry, in characters (code points): well
 * inside the server's request limit once encrypted, whatever the script. */
export const MAX_TEXT_CHARS = 4000;

/** A text's length as the limit counts it. */
export const textLength = (text) => [...text].length;

/** Sends a text; the message appears at once as "sending". A text over the
 * limit is refused here, before anything is sent — never cut. */
export async function sendText(id, text) {
  const s = current();
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
  const s = current();
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

/** Sends a failed message again (same id: the server deduplicates). */
export function retry(id, messageId) {
  const s = current();
  if (!s) return Promise.reject(new Locked());
  const msg = conv(s, id).messages.find((m) => m.id === messageId);
  if (!msg || msg.status !== "failed") return Promise.resolve();
  msg.status = "sending";
  emit({ type: "messages", conversationId: id });
  return deliver(s, id, msg);
}

/** Encrypts and posts `msg` (one device operation), then sets its status; a failure is recorded on it, not thrown. */
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
      // The devices this send added first (addMissingDevices) get their history.
      await handOver(s, id);
      archiveSoon(s, id);
    });
  } catch (e) {
    if (e instanceof Locked) throw e;
    msg.status = "failed";
    const { status, code, message } = failure(e);
    msg.error = message || "Not sent.";
    // Refused for what it is (too large, malformed) or where it was sent
    // (a closed conversation): sending it again cannot succeed, so no Retry
    // is offered. `permanent` says which.
    const closed = code === "conversation_closed";
    msg.permanent = closed ? "closed" : status === 400 || status === 413 || status === 422 ? "refused" : null;
    // Learn (and show) that the conversation closed.
    if (closed) {
      refreshLists(s)
        .then(() => emit({ type: "conversations", conversationId: id }))
        .catch(() => {});
    }
    if (current() === s) await exclusive(s, () => persist(s)).catch(() => {});
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
export async function resendWaiting(s, id) {
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
    console.warn("waiting message not sent again", failure(e).code); // the next follow-up tries again
  } finally {
    s.resending = false;
  }
  emit({ type: "messages", conversationId: id });
}
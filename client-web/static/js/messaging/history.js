// The decrypted history of this device's conversations: one record per
// conversation (how far the log was processed, what was read, the texts and
// their receipts), kept in memory while signed in and sealed into IndexedDB
// after every change, under the same keys as the MLS state (`seal`).
// The engine (client.js) decides what to process; this module only records
// it. The caller makes sure the session is still live before persisting.

import { failure } from "../api.js";
import { enc, dec } from "./bytes.js";
import { saveRecord } from "./store.js";
import { summary } from "./appointment.js";

/** What a history handover carries: the messages people wrote. */
export const HANDED_KINDS = new Set(["text", "reminder", "reminder_response"]);
const KINDS = HANDED_KINDS;

/** The two people of conversation `id` by the server's summary (none if unknown). */
export function people(s, id) {
  const sum = s.summaries.find((x) => x.id === id);
  return sum ? [sum.client_user_id, sum.staff_user_id] : [];
}

/** The record of conversation `id`, created empty on first use. */
export function conv(s, id) {
  let c = s.history.convs[id];
  if (!c) {
    c = { processed: 0, readSeq: 0, joined: false, messages: [] };
    s.history.convs[id] = c;
  }
  return c;
}

/** Seals the MLS state and the history and overwrites the stored record. */
export async function seal(s) {
  const state = s.device.seal(s.secret, s.share);
  const history = s.w.sealBytes(enc.encode(JSON.stringify(s.history)), `${s.deviceId}/history`, s.secret, s.share);
  await saveRecord(s.deviceId, { deviceSecret: s.secret, state, history, savedAt: Date.now() });
}

/** Opens a stored history record (sealed by `seal`). */
export function unsealHistory(s, bytes) {
  return JSON.parse(dec.decode(s.w.unsealBytes(bytes, `${s.deviceId}/history`, s.secret, s.share)));
}

/**
 * Records a decrypted application message of conversation `id` at `seq`:
 * a text, an appointment or an answer to one (once per message id; the other person's get a delivery receipt
 * queued and set `s.notify`), or a receipt that moves one's own texts to
 * "delivered" or "read".
 */
export function recordApplication(s, id, c, seq, r) {
  let env;
  try {
    env = JSON.parse(s.w.envelopeDecode(r.plaintext));
  } catch (e) {
    console.warn("undecodable envelope", failure(e).code);
    return;
  }
  const fromMe = r.sender.userId === s.me.user_id;
  const content = env.content || {};
  if (content.type === "text" || content.type === "reminder" || content.type === "reminder_response") {
    if (c.messages.some((m) => m.id === env.client_message_id)) return;
    const text = content.type === "text";
    c.messages.push({
      id: env.client_message_id,
      seq,
      from: r.sender.userId,
      mine: fromMe,
      // An appointment or an answer keeps its content (rendered as a card
      // or a line) and a one-line summary for where only text fits.
      kind: text ? "text" : content.type,
      content: text ? undefined : content,
      text: text ? content.text : summary(content),
      sentAt: env.sent_at_ms,
      status: fromMe ? "sent" : null,
    });
    if (!fromMe) {
      (c.receipts = c.receipts || []).push(env.client_message_id);
      s.notify = true;
    }
  } else if (content.type === "history") {
    recordHandover(s, id, c, seq, r.sender, content);
  } else if (content.type === "receipt" && !fromMe) {
    const ids = new Set(content.message_ids);
    for (const m of c.messages) {
      if (!m.mine || !ids.has(m.id)) continue;
      if (m.status === "sent" || m.status === "sending" || m.status === "waiting") m.status = content.kind === "read" ? "read" : "delivered";
      if (m.status === "delivered" && content.kind === "read") m.status = "read";
      // When it reached them (the receipt's time): the page shows it for
      // a message that waited for their device.
      if (!m.deliveredAt) m.deliveredAt = env.sent_at_ms;
    }
  }
}

/**
 * A decrypted `history` envelope at log position `seq`, sent by member
 * `sender`: for another device, noted (that device was served); for this
 * one, its records join the history (mergeRecords), as that member's copy.
 */
function recordHandover(s, id, c, seq, sender, content) {
  if (content.for_device !== s.deviceId) {
    c.handed = c.handed || {};
    c.handed[content.for_device] = true;
    if (c.handovers) delete c.handovers[content.for_device];
    return;
  }
  // Taken only while this device waits for its history, and then from one
  // member device (its chunks): a member cannot slip records into a device
  // that has its own, nor two members mix theirs.
  if (c.historyFrom ? c.historyFrom !== sender.deviceId : !c.awaitingHistory) return;
  c.historyFrom = sender.deviceId;
  c.awaitingHistory = false;
  // Joined by Welcome: the first handover bounds the later chunks.
  if (!c.joinedSeq) c.joinedSeq = seq;
  // Only records from before this device joined (and before the handover):
  // a lying member cannot place one among what this device received itself.
  const before = Math.min(seq, c.joinedSeq || seq);
  mergeRecords(s, id, c, content.records || [], { before, copyOf: sender.userId });
}

/**
 * Earlier messages (handover.js `records` form) join conversation `id`'s
 * history once each, by id, marked as `copyOf`'s copy (a user id, or
 * "backup" for the history archive). A record is dropped unless its writer
 * is one of the two people, its type is a text, appointment or answer,
 * and its log position is before `before`. The other person's messages
 * that no device of theirs was known to have received get a delivery
 * receipt queued (a message that waited for this device); what the person
 * had read stays read. Returns how many records were new.
 */
export function mergeRecords(s, id, c, records, { before = Number.MAX_SAFE_INTEGER, copyOf }) {
  const two = people(s, id);
  const valid = records.filter((rec) => {
    const ct = (rec.envelope || {}).content || {};
    return two.includes(rec.sender_user_id) && rec.seq > 0 && rec.seq < before && KINDS.has(ct.type);
  });
  let added = 0;
  for (const rec of valid) {
    const env = rec.envelope;
    const ct = env.content;
    const mine = rec.sender_user_id === s.me.user_id;
    if (c.messages.some((m) => m.id === env.client_message_id)) continue;
    const text = ct.type === "text";
    c.messages.push({
      id: env.client_message_id,
      seq: rec.seq,
      from: rec.sender_user_id,
      mine,
      kind: text ? "text" : ct.type,
      content: text ? undefined : ct,
      text: text ? ct.text : summary(ct),
      sentAt: env.sent_at_ms,
      status: mine ? rec.status || "sent" : null,
      // Whose copy this is: the page says so (a record's writer is the
      // copy's word, not the writer's own signature).
      copyOf,
    });
    added += 1;
    if (!mine && rec.status !== "delivered" && rec.status !== "read") (c.receipts = c.receipts || []).push(env.client_message_id);
  }
  // What the person had read already stays read: up to the first record of
  // the other person's they had not.
  let watermark = 0;
  for (const rec of valid) {
    if (rec.sender_user_id === s.me.user_id) continue;
    if (rec.status !== "read") break;
    watermark = rec.seq;
  }
  c.readSeq = Math.max(c.readSeq, watermark);
  // Oldest first, by log position; unsent messages (no position) last.
  const at = (m) => (m.seq ? m.seq : Number.MAX_SAFE_INTEGER);
  c.messages.sort((a, b) => at(a) - at(b));
  return added;
}

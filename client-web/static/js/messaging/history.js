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

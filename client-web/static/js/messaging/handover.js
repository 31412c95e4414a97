// Earlier messages handed to a person's new device, end to end
// (docs/history.md, step 1). MLS gives a device that joins no earlier
// messages; the devices already in the conversation hold them, decrypted,
// in their sealed history. When a new device of one of the conversation's
// two people appears in the group, one member device sends it that history
// as `history` envelopes (protocol type 6) inside the group's current
// epoch: the server sees ciphertext it cannot open, as for any message.
//
// Who hands over (noticeJoiners): among the devices that were members
// before, the newcomer's own person's devices if any are left, else the
// other person's; of those, the one with the lowest leaf index sends at
// once and every other waits FALLBACK_MS, then sends only if it has seen
// no handover for that device in the log meanwhile (every member decrypts
// every handover and notes whom it served). Two handovers cost bytes, not
// correctness: the newcomer takes each message once, by its id.
//
// Invariants:
//   - Only a device the server marks `handover` in the member list gets
//     history: not a shared computer, not one signed in since a reset link
//     (whoever held the link, the staff member who issued it included, must
//     not get the person's history from it).
//   - Only the two people of the conversation (the server's summary) get
//     history; a device of anyone else (a covering clinician) gets none —
//     that is a care-team handover with its own consent and audit.
//   - A record (taken by history.js recordHandover) is the handing device's copy: its original id, time and
//     content, who wrote it, and the state the handing device knew (for
//     the writer's side: sent/delivered/read; for the reader's: read or
//     not). The newcomer marks every record as a copy and says whose, and
//     drops records whose writer is not one of the two people or whose log
//     position is not before the handover's own.
//   - Nothing here runs outside `exclusive`; what is scheduled survives a
//     reload (sealed with the history) and is sent after it.

import { api, failure } from "../api.js";
import { enc, randomId } from "./bytes.js";
import { conv, people, HANDED_KINDS as KINDS } from "./history.js";
import { exclusive, live, persist, Locked } from "./state.js";
import { gid, hasGroup, sendEnvelope } from "./engine.js";

/** How long a device that is not the first choice waits before it hands over itself. */
export const FALLBACK_MS = 60_000;
/** The most records one envelope carries (the format's limit). */
const MAX_RECORDS = 1024;
/** Bytes of records per envelope, counted as JSON (always longer than the
 * binary form), well inside the 64 KiB envelope limit. */
const CHUNK_BYTES = 56 * 1024;


/**
 * Compares the group's members with those seen last and schedules a
 * handover for each new device of the conversation's two people: now if
 * this device is the first choice, after FALLBACK_MS otherwise. The first
 * look (this device just joined, or state from before this module) only
 * records the members.
 */
export function noticeJoiners(s, id) {
  const c = conv(s, id);
  if (!c.joined || !hasGroup(s, id)) return;
  let members;
  try {
    members = s.device.members(gid(id));
  } catch (_) {
    return;
  }
  const before = c.members;
  c.members = members.map((m) => m.deviceId);
  if (!before) return;
  // A device that left (removed, or its state lost) is served again if it
  // comes back as a new member.
  for (const gone of before) if (!c.members.includes(gone) && c.handed) delete c.handed[gone];
  const fresh = members.filter((m) => !before.includes(m.deviceId) && m.deviceId !== s.deviceId);
  if (!fresh.length) return;
  const sum = s.summaries.find((x) => x.id === id);
  // A closed conversation (the other person left) takes no new devices' history.
  const two = sum && !sum.closed ? people(s, id) : [];
  const freshIds = new Set(fresh.map((m) => m.deviceId));
  // Devices that joined in the same commit hold nothing to hand over.
  const holders = members.filter((m) => !freshIds.has(m.deviceId));
  for (const joiner of fresh) {
    if (!two.includes(joiner.userId)) continue;
    if (c.handed && c.handed[joiner.deviceId]) continue;
    const own = holders.filter((m) => m.userId === joiner.userId);
    const pool = own.length ? own : holders;
    const first = pool.reduce((a, b) => (b.leafIndex < a.leafIndex ? b : a), pool[0]);
    const due = first && first.deviceId === s.deviceId ? Date.now() : Date.now() + FALLBACK_MS;
    c.handovers = c.handovers || {};
    c.handovers[joiner.deviceId] = due;
  }
}

/** The state a record carries, as this device knows it (see the header). */
function stateOf(c, m) {
  if (m.mine) return m.status === "delivered" || m.status === "read" ? m.status : "sent";
  return m.seq <= c.readSeq ? "read" : "delivered";
}

/** This device's copy of the conversation as records, oldest first (the
 * history envelope's records, and the history archive's content). */
export function records(c) {
  return c.messages
    .filter((m) => m.seq && KINDS.has(m.kind || "text") && m.status !== "failed" && m.status !== "sending")
    .map((m) => ({
      seq: m.seq,
      sender_user_id: m.from,
      status: stateOf(c, m),
      envelope: { client_message_id: m.id, sent_at_ms: m.sentAt, content: m.content || { type: "text", text: m.text } },
    }));
}

/** Splits records into envelopes under the size and count limits (at least one, maybe empty). */
function chunks(list) {
  /** @type {any[][]} */
  const out = [[]];
  let size = 0;
  for (const r of list) {
    const n = enc.encode(JSON.stringify(r)).length;
    const cur = out[out.length - 1];
    if (cur.length && (size + n > CHUNK_BYTES || cur.length >= MAX_RECORDS)) {
      out.push([r]);
      size = n;
    } else {
      cur.push(r);
      size += n;
    }
  }
  return out;
}

/**
 * Sends every handover that is due to a device still in the group, then
 * arms a timer for the next one. Run inside `exclusive` (followUp).
 */
export async function sendHandovers(s, id) {
  const c = conv(s, id);
  // Not re-entered from its own sends (a stale epoch catches up, which
  // follows up, which would hand the same history over again); and a
  // device still waiting for its own history has none to give: it keeps
  // its schedule, and the others' fallback serves the newcomer meanwhile.
  if (s.handingOver || c.awaitingHistory || !c.handovers || !c.joined || !hasGroup(s, id)) return;
  s.handingOver = true;
  try {
    await handOverDue(s, id, c);
  } finally {
    s.handingOver = false;
  }
  arm(s, id);
}

/**
 * Whether the server lets member devices hand `device` earlier messages
 * (not a shared computer, not signed in since a reset link): its word on
 * the member list, read once per round.
 */
async function eligible(s, id) {
  const info = await api("GET", `/conversations/${id}`);
  live(s);
  return new Set(info.members.filter((m) => m.handover).map((m) => m.device_id));
}

/**
 * After this device joined conversation `id`: if the server says no member
 * may hand it earlier messages (a shared computer, a sign-in since a reset
 * link), it stops waiting for them and the page says where they can come
 * from instead.
 */
export async function learnHandover(s, id) {
  const allowed = await eligible(s, id);
  const c = conv(s, id);
  if (allowed.has(s.deviceId)) return;
  c.awaitingHistory = false;
  c.handoverBarred = true;
  await persist(s);
}

async function handOverDue(s, id, c) {
  let allowed = null;
  let inGroup;
  try {
    inGroup = new Set(s.device.members(gid(id)).map((m) => m.deviceId));
  } catch (_) {
    return;
  }
  const now = Date.now();
  for (const [device, due] of Object.entries(c.handovers)) {
    if (!inGroup.has(device) || (c.handed && c.handed[device])) {
      delete c.handovers[device];
      continue;
    }
    if (due > now) continue;
    allowed = allowed || (await eligible(s, id));
    if (!allowed.has(device)) {
      // A shared computer, or signed in since a reset link: no history.
      delete c.handovers[device];
      await persist(s);
      continue;
    }
    for (const part of chunks(records(c))) {
      await sendEnvelope(s, id, randomId(), { type: "history", for_device: device, records: part });
    }
    delete c.handovers[device];
    c.handed = c.handed || {};
    c.handed[device] = true;
    await persist(s);
  }
}

/** A timer for the earliest handover still waiting (one per conversation). */
function arm(s, id) {
  const c = conv(s, id);
  s.handoverTimers = s.handoverTimers || {};
  clearTimeout(s.handoverTimers[id]);
  const dues = Object.values(c.handovers || {});
  if (!dues.length) return;
  const wait = Math.max(0, Math.min(...dues) - Date.now());
  s.handoverTimers[id] = setTimeout(() => {
    exclusive(s, () => sendHandovers(s, id)).catch((e) => {
      if (!(e instanceof Locked)) console.warn("history not handed over", failure(e).code);
    });
  }, wait + 50);
}

// The history archive (docs/history.md, step 2): this person's history of
// each conversation, sealed on the device under their history key and kept
// on the server, so that a new device can restore it with the person's
// history recovery key when no device of the conversation is left to hand
// it over (handover.js). The server stores blobs it cannot open.
//
// Invariants:
//   - The history key exists on the person's devices only: made here,
//     shown once as the recovery key, kept in the sealed history record
//     (`s.history.archiveKey`; crypto-shredded with it at revocation), and
//     typed in by the person on a new device. It never reaches the server.
//   - A blob is sealed for (this person, this conversation): the server
//     cannot swap one for another (crypto/src/archive.rs).
//   - Uploads follow changes (a few seconds after the last one) and are
//     skipped when nothing changed since the last upload; a failed upload
//     is tried again at the next change.
//   - The server keeps the person's current key by its public id and
//     takes blobs under it only: a device whose key is no longer current
//     (the backup was turned off, or made again) is told 409
//     `archive_key_changed` and forgets its key, so keys never mix and
//     turning off is not undone by another device.
//   - Restored messages are marked as copies from the backup, like a
//     handover's.

import { api, failure } from "../api.js";
import { b64, unb64, enc, dec } from "./bytes.js";
import { conv, mergeRecords } from "./history.js";
import { records } from "./handover.js";
import { current, emit, exclusive, live, persist, Locked } from "./state.js";

/** Wait after the last change before sealing and uploading. */
const SETTLE_MS = 2000;

/** This device's history key, or null. */
function key(s) {
  return s.history.archiveKey ? unb64(s.history.archiveKey) : null;
}

/** Uploads conversation `id`'s archive soon (after changes settle), if the archive is on. */
export function archiveSoon(s, id) {
  if (!s.history.archiveKey) return;
  s.archiveTimers = s.archiveTimers || {};
  clearTimeout(s.archiveTimers[id]);
  s.archiveTimers[id] = setTimeout(() => {
    upload(s, id).catch((e) => {
      if (!(e instanceof Locked)) console.warn("history archive not stored", failure(e).code);
    });
  }, SETTLE_MS);
}

/** Seals and stores conversation `id`'s records, unless they are what was stored last. */
async function upload(s, id) {
  live(s);
  const k = key(s);
  const c = conv(s, id);
  // A device still waiting for its history would overwrite the whole
  // archive with the part it has.
  if (!k || !c.joined || c.awaitingHistory) return;
  const list = records(c);
  const plain = enc.encode(JSON.stringify({ v: 1, records: list }));
  // What was stored last, by size and newest position: unchanged → nothing to do.
  const mark = `${list.length}:${list.length ? list[list.length - 1].seq : 0}:${list.map((r) => r.status).join("")}`;
  if (c.archivedMark === mark) return;
  const sealed = s.w.archiveSeal(plain, s.me.user_id, id, k);
  try {
    await api("PUT", `/history-archive/${id}`, { archive: b64(sealed), key_id: s.w.historyKeyId(k) });
  } catch (e) {
    live(s);
    if (failure(e).code !== "archive_key_changed") throw e;
    // Turned off, or made again under another key elsewhere: this
    // device's key is no longer used.
    await forgetKey(s);
    return;
  }
  live(s);
  // The key may have been forgotten meanwhile (turned off here).
  if (!s.history.archiveKey) return;
  c.archivedMark = mark;
  await exclusive(s, () => persist(s));
}

/** Drops this device's history key and its pending uploads. */
async function forgetKey(s) {
  await exclusive(s, async () => {
    delete s.history.archiveKey;
    for (const t of Object.values(s.archiveTimers || {})) clearTimeout(t);
    await persist(s);
  });
  emit({ type: "archive" });
}

/** Whether this device's key is the person's current one (`keyId` from the server's list). */
export function archiveKeyIs(keyId) {
  const s = current();
  const k = s && key(s);
  return !!(k && keyId && s.w.historyKeyId(k) === keyId);
}

/** Every joined conversation's archive, now (after turning it on or restoring). */
async function uploadAll(s) {
  for (const id of Object.keys(s.history.convs)) {
    if (conv(s, id).joined) await upload(s, id);
  }
}

/**
 * Makes a history key for turning the archive on; returns its recovery
 * text to show. Nothing is kept until `confirmArchive` (the person saved it).
 */
export function newArchiveKey() {
  const s = current();
  if (!s) throw new Locked();
  const k = s.w.historyKeyNew();
  return { key: b64(k), text: s.w.historyKeyText(k) };
}

/** Keeps `key` (from newArchiveKey) on this device and stores every conversation's archive. */
export async function confirmArchive(keyB64) {
  const s = current();
  if (!s) throw new Locked();
  try {
    await api("PUT", "/history-archive", { key_id: s.w.historyKeyId(unb64(keyB64)) });
  } catch (e) {
    if (failure(e).code === "archive_exists") throw new Error("A history backup under another key exists. Restore it with its key, or delete it first.");
    throw e;
  }
  live(s);
  await exclusive(s, async () => {
    s.history.archiveKey = keyB64;
    for (const c of Object.values(s.history.convs)) delete c.archivedMark;
    await persist(s);
  });
  await uploadAll(s);
  emit({ type: "archive" });
}

/** Turns the archive off: the server's blobs deleted, the key forgotten on this device. */
export async function turnArchiveOff() {
  const s = current();
  if (!s) throw new Locked();
  // The key first, so no upload starts after the delete.
  await forgetKey(s);
  await api("DELETE", "/history-archive");
  emit({ type: "archive" });
}

/** The server's word on this person's backup: {key_id (null: off), archives: [{conversation_id, size, updated_at}]}. */
export async function storedArchives() {
  return api("GET", "/history-archive");
}

/**
 * Restores earlier messages from the archive with the person's history
 * recovery key: each conversation's blob is fetched, opened on this
 * device, and its messages join the history as copies from the backup.
 * The key is kept, so this device keeps the archive up to date from now
 * on. Throws with a plain message for a mistyped key or one that opens
 * nothing. Returns how many messages were restored.
 */
export async function restoreArchive(text) {
  const s = current();
  if (!s) throw new Locked();
  let k;
  try {
    k = s.w.historyKeyParse(text);
  } catch (e) {
    throw new Error("That is not a history recovery key: check it for a typo. It has 55 letters and digits in groups of five.");
  }
  const stored = await storedArchives();
  live(s);
  if (!stored.key_id) throw new Error("There is no history backup to restore: it was turned off.");
  if (s.w.historyKeyId(k) !== stored.key_id) {
    throw new Error("This is not the key of your current history backup. Was it made for another account, or replaced when the backup was made again?");
  }
  const opened = [];
  for (const a of stored.archives) {
    const got = await api("GET", `/history-archive/${a.conversation_id}`);
    live(s);
    let plain;
    try {
      plain = s.w.archiveOpen(unb64(got.archive), s.me.user_id, a.conversation_id, k);
    } catch (e) {
      // A damaged blob costs its conversation, not the others.
      console.warn("an archive did not open", failure(e).code);
      continue;
    }
    opened.push({ id: a.conversation_id, records: JSON.parse(dec.decode(plain)).records || [] });
  }
  let restored = 0;
  await exclusive(s, async () => {
    for (const o of opened) {
      const c = conv(s, o.id);
      restored += mergeRecords(s, o.id, c, o.records, { copyOf: "backup" });
      c.awaitingHistory = false;
      emit({ type: "messages", conversationId: o.id });
    }
    s.history.archiveKey = b64(k);
    await persist(s);
  });
  emit({ type: "archive" });
  return restored;
}

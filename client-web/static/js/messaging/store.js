// Local storage of this device's sealed state in IndexedDB.
//
// One database ("alcove"), one object store ("devices"), one record per
// device id: {deviceSecret, state, history, savedAt}.
//   - deviceSecret: 32 random bytes made on this browser. It is one half of
//     the key; the other half is the unlock share the server releases only to
//     a live session of this device (and destroys when the device is
//     revoked), so a copy of this database alone opens nothing, and nothing
//     at all once the device is revoked (crypto-shredding).
//   - state: the MLS device snapshot sealed by the wasm module (`seal`).
//   - history: the decrypted message history, sealed with `sealBytes` under
//     the label "<device id>/history".
// Each save overwrites the record (one put, atomic), so old epochs' secrets
// do not accumulate.
//
// A shared or public computer keeps nothing: while signed in as one, load
// finds nothing and save writes nothing (the state lives in the page's
// memory and goes with it).

import { isShared } from "../session.js";

const DB = "alcove";
const STORE = "devices";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error("local storage is blocked by another tab"));
  });
}

async function tx(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const store = t.objectStore(STORE);
      let result;
      const req = fn(store);
      if (req) req.onsuccess = () => (result = req.result);
      t.oncomplete = () => resolve(result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error("aborted"));
    });
  } finally {
    db.close();
  }
}

/** The stored record of `deviceId`, or undefined. */
export function loadRecord(deviceId) {
  if (isShared()) return Promise.resolve(undefined);
  return tx("readonly", (s) => s.get(deviceId));
}

/** Stores (overwrites) the record of `deviceId`. */
export function saveRecord(deviceId, record) {
  if (isShared()) return Promise.resolve(undefined);
  return tx("readwrite", (s) => s.put(record, deviceId));
}

/** Deletes the whole database (revoked device: nothing may remain). */
export function wipeAll() {
  return new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(DB);
    req.onsuccess = () => resolve(true);
    req.onerror = () => resolve(false);
    // Another tab holds it open: it closes on its own "versionchange".
    req.onblocked = () => {};
  });
}

// Moving the log between the server and this device: the delivery socket
// (GET /api/v1/ws: opening, reconnecting with backoff, frames in, acks out)
// and catching up over HTTP (syncHttp: pages of entries after the local
// cursor). What an entry means is the engine's business (processEntry in
// engine.js); what is sent afterwards is the outbox's (followUp).
//
// Invariants:
//   - An entry is acknowledged (socket "ack" or POST …/ack) only after the
//     state it produced was sealed: the server may then drop it for this
//     device, and a crash before the seal gets it again.
//   - A gap on the socket (an entry for an epoch this device has not
//     reached) is never skipped: the conversation is caught up over HTTP
//     from the cursor instead. Over HTTP a gap cannot be filled, so the
//     entry is skipped rather than looped on.
//   - The socket code knows nothing of MLS: `connect` hands parsed frames
//     to `on.frame`, which the engine runs one at a time (`exclusive`).

import { api, failure } from "../api.js";
import { conv } from "./history.js";
import { emit, live, persist } from "./state.js";
import { processEntry, refreshLists, topUpKeyPackages, addMissingDevices } from "./engine.js";
import { joinWelcome } from "./join.js";
import { followUp } from "./outbox.js";

/** @typedef {{ frame: (frame: any) => void, status: () => void, revoked: () => void }} SocketHandlers */

/**
 * Opens the delivery socket for the engine state `s` and keeps it open:
 * reconnects with backoff (1 s doubling to 30 s), asking the API first
 * (a rejected upgrade gives no reason; a 401 there locks the page).
 * `on.frame(frame)` gets each parsed frame; `on.status()` is called when
 * the socket opens or closes; `on.revoked()` when the server closes it
 * because this device was revoked (4001). A session that ended (4000) is
 * reported by the next API call, so nothing reconnects.
 * @param {any} s
 * @param {SocketHandlers} on
 */
export function connect(s, on) {
  if (s.closed) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (e) {
    scheduleReconnect(s, on);
    return;
  }
  s.ws = ws;
  ws.onopen = () => {
    s.backoff = 1000;
    on.status();
  };
  ws.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    on.frame(frame);
  };
  ws.onclose = (event) => {
    if (s.ws === ws) s.ws = null;
    if (s.closed) return;
    on.status();
    if (event.code === 4001) {
      on.revoked();
      return;
    }
    if (event.code === 4000) {
      // Session over: any API call now reports it and locks the page.
      api("GET", "/me").catch(() => {});
      return;
    }
    scheduleReconnect(s, on);
  };
}

/**
 * @param {any} s
 * @param {SocketHandlers} on
 */
function scheduleReconnect(s, on) {
  clearTimeout(s.reconnectTimer);
  s.reconnectTimer = setTimeout(() => {
    if (s.closed) return;
    // A rejected upgrade gives no reason: ask the API (401 device_revoked locks the page).
    api("GET", "/me")
      .then(() => connect(s, on))
      .catch(() => scheduleReconnect(s, on));
  }, s.backoff);
  s.backoff = Math.min(s.backoff * 2, 30_000);
}

// ---- entries over HTTP and the socket ------------------------------------

/** Fetches, processes and acknowledges everything after the local cursor. */
export async function syncHttp(s, id) {
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
        console.warn(`entry ${entry.seq} skipped`, failure(e).code);
        c.processed = entry.seq;
      }
    }
    await persist(s);
    await api("POST", `/conversations/${id}/ack`, { seq: conv(s, id).processed });
  }
  emit({ type: "messages", conversationId: id });
  await followUp(s, id);
}

/** Handles one socket frame (run one at a time by the caller): a log entry, a Welcome, or a notice. */
export async function onFrame(s, frame) {
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

/** A system notification while the page is hidden (if the person allowed them). */
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

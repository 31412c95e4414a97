// The delivery socket (GET /api/v1/ws): opening, reconnecting, and handing
// frames to the engine. It knows nothing of MLS or history; the engine
// decides what a frame means and sends its acknowledgements on `s.ws`.

import { api } from "../api.js";

/**
 * Opens the delivery socket for the engine state `s` and keeps it open:
 * reconnects with backoff (1 s doubling to 30 s), asking the API first
 * (a rejected upgrade gives no reason; a 401 there locks the page).
 * `on.frame(frame)` gets each parsed frame; `on.status()` is called when
 * the socket opens or closes; `on.revoked()` when the server closes it
 * because this device was revoked (4001). A session that ended (4000) is
 * reported by the next API call, so nothing reconnects.
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

function scheduleReconnect(s, on) {
  clearTimeout(s.reconnectTimer);
  s.reconnectTimer = setTimeout(() => {
    if (s.closed) return;
    // A rejected upgrade gives no reason: ask the API (401 device_revoked locks the page).
    api("GET", "/me")
      .then(() => connect(s, on))
      .catch(() => scheduleReconnect(s));
  }, s.backoff);
  s.backoff = Math.min(s.backoff * 2, 30_000);
}

// Notices when Alcove is closed (Web Push): this device's browser
// subscribes through its push service, and the server tells it only that
// a new secure message waits — the service worker (/sw.js) shows "New
// secure message" and nothing more. The subscription belongs to this
// device: it survives being signed out for inactivity (that is when a
// notice is needed) and ends when the person signs out or the device is
// revoked (the server drops it then; the browser's copy is dropped here).
// Never offered on a shared computer, which keeps nothing.

import { api, failure } from "./api.js";
import { h } from "./dom.js";
import * as session from "./session.js";

/** Whether this browser can show notices while Alcove is closed. */
export function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/**
 * Registers the service worker (the installable app's shell, and push
 * notices). Harmless to repeat; a failure leaves the app as it was.
 */
export function registerWorker() {
  if (!("serviceWorker" in navigator)) return Promise.resolve(null);
  return navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => null);
}

/** base64url → the bytes `applicationServerKey` takes. */
function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (b64url.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

async function currentSubscription() {
  const reg = await navigator.serviceWorker.getRegistration("/");
  return reg ? reg.pushManager.getSubscription() : null;
}

/** Subscribes this device: permission, the push service, then the server. */
async function turnOn() {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error("Notices are blocked for this site in the browser's settings.");
  const reg = (await registerWorker()) || (await navigator.serviceWorker.ready);
  const { public_key } = await api("GET", "/push/key");
  let sub;
  try {
    sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(public_key) });
  } catch (_) {
    throw new Error("This browser could not reach its notification service. Try again later.");
  }
  try {
    await api("PUT", "/push/subscription", sub.toJSON());
  } catch (e) {
    // The server did not take it: the browser must not keep one that
    // nothing will ever push to (the card would say "On").
    await sub.unsubscribe().catch(() => false);
    throw e;
  }
}

/** Ends this device's notices, here and on the server. */
async function turnOff() {
  const sub = await currentSubscription();
  if (sub) await sub.unsubscribe().catch(() => false);
  await api("DELETE", "/push/subscription");
}

/**
 * Drops the browser's copy of the subscription when the person signs out
 * or the device is revoked (the server has already dropped its own); an
 * idle sign-out keeps it.
 */
export function dropOnSignOut() {
  session.onLock((reason) => {
    if (reason !== "logout" && reason !== "revoked") return;
    if (!pushSupported()) return;
    currentSubscription()
      .then((sub) => sub && sub.unsubscribe())
      .catch(() => {});
  });
}

/** The account page's card: notices on this device, on or off. */
export function notifyCard(ctx) {
  const me = session.me();
  const card = h("section", { class: "card", id: "notices", "aria-labelledby": "notices-h" });
  const state = h("p", { id: "notices-state", role: "status" });
  const button = h("button", { type: "button", class: "secondary" });
  const draw = async () => {
    button.hidden = false;
    if (me && me.shared_computer) {
      state.textContent = "Not on a shared computer: it keeps nothing once you close it.";
      button.hidden = true;
    } else if (!pushSupported()) {
      state.textContent = "This browser cannot show notices while Alcove is closed.";
      button.hidden = true;
    } else if (Notification.permission === "denied") {
      state.textContent = "Notices are blocked for this site. Allow them in the browser's site settings, then come back here.";
      button.hidden = true;
    } else if (await currentSubscription()) {
      state.textContent = "On: this device shows “New secure message” when one arrives while Alcove is closed.";
      button.textContent = "Turn off notices on this device";
    } else {
      state.textContent = "Off: you see new messages only while Alcove is open.";
      button.textContent = "Turn on notices on this device";
    }
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const on = Boolean(await currentSubscription());
      await (on ? turnOff() : turnOn());
      ctx.announce(on ? "Notices turned off on this device." : "Notices turned on for this device.");
      await draw();
    } catch (e) {
      state.textContent = failure(e).message || "That did not work. Please try again.";
    } finally {
      button.disabled = false;
    }
  });
  card.append(
    h("h2", { id: "notices-h" }, "Notices on this device"),
    h("p", {}, "A notice says only “New secure message” — never who wrote or what. Your messages stay in Alcove, encrypted."),
    state,
    button,
  );
  draw();
  return card;
}

// The signed-in session as this page knows it, the automatic lock, and the
// hooks the messaging layer (wasm keys, WebSocket) attaches to.
//
// Nothing here is persisted except the device id and the practice id
// (localStorage), which are not secrets: the first lets the next sign-in
// reuse this device's record, the second names the practice signed in to
// (logins are unique per practice, and a server hosting several practices
// asks which one).

import { api, setCsrf, setSessionLostHandler } from "./api.js";

const DEVICE_KEY = "alcove.device_id";
const PRACTICE_KEY = "alcove.practice_id";
const ACTIVITY_EVENTS = ["pointerdown", "pointermove", "keydown", "wheel", "touchstart", "scroll", "focusin"];

/** @type {null | {me: object}} */
let current = null;
let lastActivity = Date.now();
let idleTimer = null;
let idleCheck = null;
let idleTimeoutMs = 0;
let notice = null;
const signInHooks = new Set();
const lockHooks = new Set();
/** @type {(reason: string) => void} */
let afterEnd = () => {};

/** The signed-in user (the `/api/v1/me` answer) or null. */
export function me() {
  return current ? current.me : null;
}

/** The device id this browser remembers, or null. */
export function rememberedDevice() {
  try {
    return localStorage.getItem(DEVICE_KEY);
  } catch (_) {
    return null;
  }
}

/** Remembers (or with null forgets) this browser's device id. */
export function rememberDevice(id) {
  try {
    if (id) localStorage.setItem(DEVICE_KEY, id);
    else localStorage.removeItem(DEVICE_KEY);
  } catch (_) {
    /* storage disabled: every sign-in names a new device */
  }
}

/** The practice this browser last signed in to (or was linked to), or null. */
export function rememberedPractice() {
  try {
    return localStorage.getItem(PRACTICE_KEY);
  } catch (_) {
    return null;
  }
}

/** Remembers the practice to name at the next sign-in. */
export function rememberPractice(id) {
  try {
    if (id) localStorage.setItem(PRACTICE_KEY, id);
  } catch (_) {
    /* storage disabled: a server hosting several practices will ask */
  }
}

/**
 * Messaging hook: `fn(me)` runs after every sign-in (and after a reload that
 * finds the session alive); it may be async. Use it to fetch the unlock
 * share, open the sealed state and the WebSocket.
 */
export function onSignIn(fn) {
  signInHooks.add(fn);
  return () => signInHooks.delete(fn);
}

/**
 * Messaging hook: `fn(reason)` runs when the session ends for any reason
 * ("logout", "idle", "expired", "switch", or "revoked": then also wipe
 * everything stored locally). It must drop keys and decrypted content
 * from memory and close sockets. Runs synchronously before the page changes.
 */
export function onLock(fn) {
  lockHooks.add(fn);
  return () => lockHooks.delete(fn);
}

/** Called (by the app) after the session has ended, to show the login page. */
export function setAfterEnd(fn) {
  afterEnd = fn;
}

/** A one-time notice for the login page ("signed out after inactivity"). */
export function takeNotice() {
  const n = notice;
  notice = null;
  return n;
}

/**
 * Loads `/api/v1/me` with the cookie this browser holds. Returns true when
 * a session is alive (and starts the idle lock), false otherwise.
 */
export async function resume() {
  try {
    const data = await api("GET", "/me", undefined, { auth: false });
    await start(data);
    return true;
  } catch (e) {
    if (e && e.code === "device_revoked") revoked();
    return false;
  }
}

/** After a successful sign-in answer: remember the device, load /me. */
export async function signedIn(answer) {
  setCsrf(answer.csrf_token);
  rememberDevice(answer.device_id);
  rememberPractice(answer.practice_id);
  const data = await api("GET", "/me");
  await start(data);
}

async function start(data) {
  if (current) {
    // Another account signed in over this one (e.g. an invite accepted in a
    // signed-in tab): drop the previous account's in-memory state first.
    for (const hook of lockHooks) {
      try {
        hook("switch");
      } catch (e) {
        console.error("lock hook failed", e);
      }
    }
  }
  current = { me: data };
  setCsrf(data.csrf_token);
  startIdleLock(data.idle_timeout_secs);
  for (const hook of signInHooks) {
    try {
      await hook(data);
    } catch (e) {
      console.error("sign-in hook failed", e);
    }
  }
}

/** Signs out on the server, then wipes this page's state. */
export async function logout() {
  try {
    await api("POST", "/auth/logout", undefined, { auth: false });
  } catch (_) {
    /* already ended on the server, or unreachable: sign out here anyway */
  }
  end("logout", "You have signed out.");
}

/**
 * Ends the session in this page: runs the lock hooks, forgets the user and
 * the CSRF token, stops the idle timer and returns to the login page.
 */
export function end(reason, message) {
  if (!current) return;
  current = null;
  stopIdleLock();
  for (const hook of lockHooks) {
    try {
      hook(reason);
    } catch (e) {
      console.error("lock hook failed", e);
    }
  }
  setCsrf(null);
  notice = message || null;
  afterEnd(reason);
}

/** What a revoked device says, in plain words. */
export const REVOKED_NOTICE =
  "This device has been signed out of Alcove from another device or by your practice. Everything Alcove kept in this browser has been erased. You can sign in again as a new device.";

/**
 * The server says this device is revoked: run the lock hooks with
 * "revoked" (the messaging layer wipes IndexedDB), forget the device id and
 * show the login page with a plain notice. Works with or without a live
 * session in this page (a revoked device that comes back after a reload).
 */
export function revoked() {
  rememberDevice(null);
  if (current) {
    end("revoked", REVOKED_NOTICE);
    return;
  }
  for (const hook of lockHooks) {
    try {
      hook("revoked");
    } catch (e) {
      console.error("lock hook failed", e);
    }
  }
  // No session in this page (boot after a reload): the login page that
  // boot renders next shows the notice.
  notice = REVOKED_NOTICE;
}

// A request found the session gone (expired on the server, device revoked).
setSessionLostHandler((error) => {
  if (error.code === "device_revoked") revoked();
  // The server ends an idle session on its own clock, in whole seconds, and
  // closes its socket then: it can get there a moment before this page's
  // timer. When this page was idle that long too, it is the same idle lock
  // and says so in the same words.
  else if (error.code === "session_expired" && idleTimer && Date.now() - lastActivity >= idleTimeoutMs - 1500) lockForIdle(idleTimeoutMs);
  else end("expired", error.message);
});

function markActivity() {
  lastActivity = Date.now();
}

function startIdleLock(timeoutSecs) {
  stopIdleLock();
  const timeoutMs = Math.max(1, Number(timeoutSecs) || 900) * 1000;
  idleTimeoutMs = timeoutMs;
  lastActivity = Date.now();
  for (const ev of ACTIVITY_EVENTS) window.addEventListener(ev, markActivity, { passive: true, capture: true });
  const check = () => {
    if (Date.now() - lastActivity >= timeoutMs) lockForIdle(timeoutMs);
  };
  // Check often enough to lock within about a second of the deadline.
  idleTimer = setInterval(check, Math.min(1000, timeoutMs / 4));
  idleCheck = check;
  document.addEventListener("visibilitychange", check);
}

function stopIdleLock() {
  if (!idleTimer) return;
  clearInterval(idleTimer);
  document.removeEventListener("visibilitychange", idleCheck);
  for (const ev of ACTIVITY_EVENTS) window.removeEventListener(ev, markActivity, { capture: true });
  idleTimer = null;
  idleCheck = null;
}

function lockForIdle(timeoutMs) {
  const minutes = Math.round(timeoutMs / 60000);
  const span = minutes >= 1 ? `${minutes} minute${minutes === 1 ? "" : "s"}` : `${Math.round(timeoutMs / 1000)} seconds`;
  const message = `For your privacy, Alcove signed you out after ${span} without activity.`;
  // End the server session too (best effort; it also expires on its own).
  api("POST", "/auth/logout", undefined, { auth: false }).catch(() => {});
  end("idle", message);
}

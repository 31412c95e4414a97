// The signed-in session as this page knows it, the automatic lock, and the
// hooks the messaging layer (wasm keys, WebSocket) attaches to.
//
// Nothing here is persisted except the device id and the practice id
// (localStorage), which are not secrets: the first lets the next sign-in
// reuse this device's record, the second names the practice signed in to
// (logins are unique per practice, and a server hosting several practices
// asks which one).
//
// A "shared or public computer" sign-in keeps nothing at all, not even
// those: the device's state lives in this page's memory only (store.js
// saves nothing), closing or reloading the tab signs out (a keepalive
// logout on `pagehide`; a page that finds a shared session it did not
// start ends it, unless another tab of this browser holds it), and the
// server revokes the device once its session is over (docs/account.md).

import { api, failure, setCsrf, setSessionLostHandler } from "./api.js";

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

/** True while signed in as a shared or public computer: keep nothing. */
export function isShared() {
  return !!(current && current.me.shared_computer);
}

/** What a page that found a shared session it did not start says. */
const SHARED_NOTICE =
  "You were signed out: on a shared computer, closing or reloading the tab signs you out, and nothing is kept in this browser.";

/** Set by a shared session's page as it goes (reload): the next page of
 * this tab says why it is signed out. A word, not a secret; gone with the tab. */
const SHARED_ENDED_KEY = "alcove.shared_ended";

/** What a second tab of a shared session says: the session (and its keys)
 * lives in the tab that signed in; this one leaves it alone. */
const SHARED_ELSEWHERE_NOTICE =
  "Alcove is open in another tab of this browser. On a shared computer it works in one tab only: go back to that tab, or close it to sign out.";

/** The tabs of this browser that hold a shared session answer on this
 * channel (same origin only; nothing but a yes travels on it). */
const SHARED_CHANNEL = "alcove.shared-session";
/** How long a new tab waits for a holder's answer (same-process message). */
const HOLDER_WAIT_MS = 400;
/** @type {BroadcastChannel | null} */
let holderChannel = null;
/** This tab's holding page, by a random id kept in the tab's own
 * sessionStorage: a page of the same tab (a reload) recognises its
 * predecessor's answer, which may still come while that page unloads. */
const HOLDER_KEY = "alcove.shared_holder";

/** This page holds the shared session: answer the tabs that ask. */
function holdSharedSession() {
  if (holderChannel || typeof BroadcastChannel === "undefined") return;
  const id = crypto.randomUUID();
  try {
    sessionStorage.setItem(HOLDER_KEY, id);
  } catch (_) {
    /* storage disabled: a reload is then told apart by its navigation type */
  }
  holderChannel = new BroadcastChannel(SHARED_CHANNEL);
  holderChannel.onmessage = (e) => {
    if (e.data === "holder?" && isShared()) holderChannel?.postMessage({ held: id });
  };
}

function releaseSharedSession() {
  if (!holderChannel) return;
  holderChannel.close();
  holderChannel = null;
}

/** This tab's previous page ended its shared session as it went (the
 * marker `logoutOnHide` leaves, in this tab's own sessionStorage). */
function endedHere() {
  try {
    return !!sessionStorage.getItem(SHARED_ENDED_KEY);
  } catch (_) {
    return false;
  }
}

/** This page is a reload of this tab: whatever held the session here is
 * gone, even if the old page is still unloading (and could answer). */
function reloaded() {
  try {
    const nav = performance.getEntriesByType("navigation")[0];
    return !!nav && /** @type {PerformanceNavigationTiming} */ (nav).type === "reload";
  } catch (_) {
    return false;
  }
}

/** Whether another tab of this browser holds the shared session. */
function sharedSessionHeldElsewhere() {
  if (typeof BroadcastChannel === "undefined") return Promise.resolve(false);
  return new Promise((resolve) => {
    const ch = new BroadcastChannel(SHARED_CHANNEL);
    const done = (held) => {
      clearTimeout(timer);
      ch.close();
      resolve(held);
    };
    let mine = null;
    try {
      mine = sessionStorage.getItem(HOLDER_KEY);
    } catch (_) {
      /* storage disabled */
    }
    const timer = setTimeout(() => done(false), HOLDER_WAIT_MS);
    ch.onmessage = (e) => {
      // This tab's own previous page is not "another tab".
      if (e.data && e.data.held && e.data.held !== mine) done(true);
    };
    ch.postMessage("holder?");
  });
}

/** Best effort, as the tab goes away: end a shared computer's session. */
function logoutOnHide() {
  if (!isShared()) return;
  // Stop answering first: a reload's new page asks while this one unloads,
  // and must not be told the session is held (it is being ended).
  releaseSharedSession();
  try {
    sessionStorage.setItem(SHARED_ENDED_KEY, "1");
  } catch (_) {
    /* storage disabled: the login page just has no notice */
  }
  try {
    fetch("/api/v1/auth/logout", {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": current ? current.me.csrf_token : "" },
    }).catch(() => {});
  } catch (_) {
    /* the server signs the device out when the session lapses */
  }
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
  let n = notice;
  notice = null;
  try {
    if (sessionStorage.getItem(SHARED_ENDED_KEY)) {
      sessionStorage.removeItem(SHARED_ENDED_KEY);
      // This tab ended its own shared session as it went: that, not the
      // routine revocation of the shared device which the page may have
      // met first (when the keepalive logout won the race), is the reason.
      n = SHARED_NOTICE;
    }
  } catch (_) {
    /* storage disabled */
  }
  return n;
}

/**
 * Loads `/api/v1/me` with the cookie this browser holds. Returns true when
 * a session is alive (and starts the idle lock), false otherwise.
 */
export async function resume() {
  try {
    const data = await api("GET", "/me", undefined, { auth: false });
    if (data.shared_computer) {
      // A shared computer's session this page did not start. Another tab
      // signed in with it (a link opened in a new tab): leave it to that
      // tab, whose memory holds the keys. Nobody holds it (a reload, a
      // closed tab): its keys were in the page that is gone. End it.
      if (!endedHere() && !reloaded() && (await sharedSessionHeldElsewhere())) {
        notice = SHARED_ELSEWHERE_NOTICE;
        return false;
      }
      setCsrf(data.csrf_token);
      await api("POST", "/auth/logout", undefined, { auth: false }).catch(() => {});
      setCsrf(null);
      notice = SHARED_NOTICE;
      return false;
    }
    await start(data);
    return true;
  } catch (e) {
    if (failure(e).code === "device_revoked") revoked();
    return false;
  }
}

/** After a successful sign-in answer: remember the device, load /me. */
export async function signedIn(answer) {
  setCsrf(answer.csrf_token);
  const data = await api("GET", "/me");
  if (!data.shared_computer) {
    rememberDevice(answer.device_id);
    rememberPractice(answer.practice_id);
  }
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
  if (data.shared_computer) {
    window.addEventListener("pagehide", logoutOnHide);
    holdSharedSession();
  } else {
    releaseSharedSession();
  }
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
  window.removeEventListener("pagehide", logoutOnHide);
  releaseSharedSession();
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

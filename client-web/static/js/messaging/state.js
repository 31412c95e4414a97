// The engine's one live state and its rules of use, shared by every
// messaging module (client.js, engine.js, join.js, transport.js, outbox.js).
//
// Invariants:
//   - At most one state `s` is live (`current()`); `stop` replaces it with
//     null and marks it closed. Every step that awaited something checks
//     `live(s)` before touching the device again, so an operation started
//     before a lock or a sign-out never writes into the next session.
//   - Device operations run one at a time (`exclusive`): the MLS state is a
//     single mutable object, and two interleaved commits or decryptions
//     would fork it.
//   - Every change is sealed (`persist`) before the server hears of it
//     (an ack, a commit, a message): a crash then replays, never loses.

import { seal } from "./history.js";

/** The live state while signed in, or null. */
let S = null;
const listeners = new Set();

/** The live engine state, or null when signed out or locked. */
export function current() {
  return S;
}

/** Makes `s` the live state (null: none). Only client.js start/stop call it. */
export function setCurrent(s) {
  S = s;
}

/** `fn(event)` on every change ({type, conversationId?}). Returns an unsubscribe function. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Tells every subscriber; one failing listener does not stop the others. */
export function emit(event) {
  for (const fn of listeners) {
    try {
      fn(event);
    } catch (e) {
      console.error(e);
    }
  }
}

/** Thrown into any operation whose session ended meanwhile. */
export class Locked extends Error {
  constructor() {
    super("The session ended.");
    this.code = "locked";
  }
}

/** Throws Locked unless `s` is still the live, open state. */
export function live(s) {
  if (s.closed || S !== s) throw new Locked();
}

/** Runs `fn` after every earlier device operation (one at a time). */
export function exclusive(s, fn) {
  const run = s.queue.then(() => {
    live(s);
    return fn();
  });
  s.queue = run.catch(() => {});
  return run;
}

/** Seals the MLS state and the history, if the session is still live. */
export async function persist(s) {
  live(s);
  await seal(s);
}

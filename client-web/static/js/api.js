// The JSON API client. Cookie sessions: the session cookie is HttpOnly (page
// scripts never see it); the CSRF token from the login answer or /me is
// held in memory and sent on every state-changing request.

/** An API failure with the server's machine code and its plain sentence. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0: no answer)
   * @param {string} code
   * @param {string} message
   * @param {number | null} [retryAfter]
   */
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    /** Seconds the server asked to wait (Retry-After), if it said. */
    this.retryAfter = retryAfter;
  }
}

/** @typedef {{ status?: number, code?: string, message?: string }} Failure */

/**
 * What a caught value says about itself, for `catch (e)` (whose type is
 * unknown): everything this client throws is an Error — ApiError (status,
 * code), the wasm module's errors (a JS Error with a `code`), plain Errors
 * — and this reads the fields they may carry. Anything else (a thrown
 * string, null) reads as carrying none of them.
 * @param {unknown} e
 * @returns {Failure}
 */
export function failure(e) {
  return e !== null && typeof e === "object" ? /** @type {Failure} */ (e) : {};
}

let csrfToken = null;
let onSessionLost = null;

/** Sets (or clears with null) the CSRF token of the current session. */
export function setCsrf(token) {
  csrfToken = token;
}

/** Called with the ApiError when an authenticated request finds the session gone. */
export function setSessionLostHandler(fn) {
  onSessionLost = fn;
}

const SESSION_GONE = new Set(["unauthenticated", "session_expired", "session_ended", "device_revoked", "account_deactivated"]);

/**
 * Calls `/api/v1${path}`. Returns the parsed JSON (null for 204). Throws
 * ApiError. Options: {auth: false} for requests that do not need a session
 * (login, invites), so a 401 there is an answer, not a lost session.
 */
export async function api(method, path, body, { auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      redirect: "error",
    });
  } catch (_) {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const code = (data && data.error) || "http_error";
    const message = (data && data.message && sentence(data.message)) || fallbackMessage(response.status);
    const retry = Number(response.headers.get("Retry-After"));
    const error = new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null);
    if (auth && response.status === 401 && SESSION_GONE.has(code) && onSessionLost) onSessionLost(error);
    throw error;
  }
  return data;
}

/**
 * Runs `call` again when the server answers 503 `busy` (every password
 * check waits for a bounded hashing slot; a sign-in rush at 9 am can fill
 * them): after the Retry-After it gave (at most 10 s), up to three times,
 * telling the person through `onWait(seconds)`. Nothing was checked or
 * counted on a busy answer, so trying again is safe.
 */
/**
 * @template T
 * @param {() => Promise<T>} call
 * @param {(seconds: number) => void} [onWait]
 * @returns {Promise<T>}
 */
export async function retryWhenBusy(call, onWait = () => {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 503 || e.code !== "busy" || attempt >= 3) throw e;
      const seconds = Math.min(e.retryAfter || 1, 10);
      onWait(seconds);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    }
  }
}

/** The server's messages are lower-case phrases; show them as sentences. */
function sentence(text) {
  const t = String(text).trim();
  if (!t) return t;
  const capital = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

function fallbackMessage(status) {
  if (status === 429) return "Too many attempts. Please wait a few minutes and try again.";
  if (status >= 500) return "The server had a problem. Please try again in a moment.";
  return "The request could not be completed. Please try again.";
}

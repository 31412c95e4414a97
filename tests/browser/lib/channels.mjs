// What the reminder stories need around the real server: a real SMTP server
// process on loopback (tests/smtp/sink.py on aiosmtpd, as the Rust tests
// use), a real HTTP server standing in for the SMS gateway (a third party we
// cannot reach) in Twilio's shape, inbound replies signed by Twilio's own
// RequestValidator (an implementation we did not write), and the server's
// clock, moved through the file its `testing.clock_file` setting names.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./server.mjs";

let venvPython = null;

/** The test venv's Python (aiosmtpd, twilio), installed when missing (the
 * setup script is run once per process). */
function python() {
  if (venvPython) return venvPython;
  const setup = spawnSync("bash", [path.join(repoRoot, "scripts/setup.d/30-test-python.sh")], { stdio: "inherit" });
  if (setup.status !== 0) throw new Error("installing the test venv failed");
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(repoRoot, process.env.CARGO_TARGET_DIR) : path.join(repoRoot, "target");
  venvPython = path.join(target, "test-python/bin/python");
  return venvPython;
}

/** Polls `read` until `done(value)` or the deadline; returns the value. */
export async function until(read, done, what, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The SMTP sink: `port`, `messages()` (each as text), `stop()`. */
export async function startSmtpSink() {
  const dir = mkdtempSync(path.join(tmpdir(), "alcove-smtp-"));
  const child = spawn(python(), [path.join(repoRoot, "tests/smtp/sink.py"), dir], { stdio: ["pipe", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (l) => resolve(Number(l.trim())));
    child.once("exit", (code) => reject(new Error(`the SMTP sink exited (${code})`)));
  });
  return {
    port,
    messages() {
      return readdirSync(dir)
        .filter((n) => n.endsWith(".eml"))
        .sort()
        .map((n) => readFileSync(path.join(dir, n), "utf8"));
    },
    stop() {
      return new Promise((done) => {
        child.once("exit", () => {
          rmSync(dir, { recursive: true, force: true });
          done();
        });
        child.stdin.end();
        child.kill("SIGTERM");
      });
    },
  };
}

export const SMS_ACCOUNT = "AC0browser";
export const SMS_TOKEN = "browser-gateway-token";
export const SMS_FROM = "+15555550000";

/** The gateway: `base`, `posted()` (each form as an object), `stop()`. */
export async function startGateway() {
  const posted = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const match = req.method === "POST" && req.url.match(/^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/);
      if (!match) {
        res.writeHead(404).end();
        return;
      }
      const form = Object.fromEntries(new URLSearchParams(body));
      posted.push({ account: decodeURIComponent(match[1]), authorization: req.headers.authorization || "", form });
      res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ sid: `SM${String(posted.length).padStart(32, "0")}`, status: "queued" }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    posted: () => posted.slice(),
    stop: () => new Promise((r) => server.close(r)),
  };
}

/** The environment that points the server at the sink and the gateway. */
export function channelEnv(smtp, gateway) {
  return {
    ALCOVE_REMINDERS__DISPATCH_INTERVAL_MS: "50",
    ALCOVE_REMINDERS__EMAIL__HOST: "127.0.0.1",
    ALCOVE_REMINDERS__EMAIL__PORT: String(smtp.port),
    ALCOVE_REMINDERS__EMAIL__TLS: "none",
    ALCOVE_REMINDERS__EMAIL__FROM: "reminders@practice.example",
    ALCOVE_REMINDERS__SMS__BASE_URL: gateway.base,
    ALCOVE_REMINDERS__SMS__ACCOUNT_SID: SMS_ACCOUNT,
    ALCOVE_REMINDERS__SMS__AUTH_TOKEN: SMS_TOKEN,
    ALCOVE_REMINDERS__SMS__FROM: SMS_FROM,
  };
}

/**
 * The server's clock: the system's plus the seconds in a file the server
 * reads (at most every 50 ms). `env` names it; `moveTo(unixSecs)` makes the
 * server's now that instant (and lets real time run on from there); `now()`
 * is the server's now.
 */
export function serverClock() {
  const dir = mkdtempSync(path.join(tmpdir(), "alcove-clock-"));
  const file = path.join(dir, "offset");
  writeFileSync(file, "0");
  let offset = 0;
  return {
    env: { ALCOVE_TESTING__CLOCK_FILE: file },
    moveTo(unixSecs) {
      offset = Math.ceil(unixSecs - Date.now() / 1000);
      writeFileSync(file, String(offset));
    },
    now: () => Date.now() / 1000 + offset,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `X-Twilio-Signature` for a form POST to `url`, by Twilio's library. */
export function twilioSignature(url, params) {
  const out = spawnSync(
    python(),
    ["-c", "import json, sys\nfrom twilio.request_validator import RequestValidator\nprint(RequestValidator(sys.argv[1]).compute_signature(sys.argv[2], json.loads(sys.argv[3])))", SMS_TOKEN, url, JSON.stringify(params)],
    { encoding: "utf8" },
  );
  if (out.status !== 0) throw new Error(out.stderr);
  return out.stdout.trim();
}

/** Sends an inbound SMS reply as the gateway would; returns the response. */
export async function replyBySms(serverUrl, from, text, { sign = true } = {}) {
  const url = `${serverUrl}/api/v1/reminders/sms/inbound`;
  const params = { AccountSid: SMS_ACCOUNT, From: from, To: SMS_FROM, Body: text, MessageSid: `SM${Date.now()}` };
  const headers = { "content-type": "application/x-www-form-urlencoded" };
  headers["x-twilio-signature"] = sign ? twilioSignature(url, params) : "bm90IGEgc2lnbmF0dXJl";
  return fetch(url, { method: "POST", headers, body: new URLSearchParams(params).toString() });
}

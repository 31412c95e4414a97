// Notices when Alcove is closed, in Debian's Chromium against the real
// server: the client turns on notices for their phone on the account page
// (the browser's push service is a third party we cannot reach from here,
// so `PushManager` hands the page a subscription whose endpoint is a push
// service of our own on loopback, with keys made by Node's crypto); with
// the tab closed, the clinician's message makes the server POST one
// encrypted push there; a push delivered to the service worker through
// the DevTools protocol (`ServiceWorker.deliverPushMessage`) shows "New
// secure message" and nothing personal; the app is installable
// (`Page.getInstallabilityErrors`); signing out drops the subscription.
// Accessible (axe).
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import crypto from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { story } from "../lib/story.mjs";
import { axeScan, screenshot, reopen, PHONE } from "../lib/browser.mjs";
import { heading, registerPractice, logout, login } from "../lib/flows.mjs";
import { until } from "../lib/channels.mjs";

const ADMIN = { name: "Avery Admin", login: "avery@example.test", password: "granite-willow-parcel-58", device: "Office laptop" };
const CLINICIAN = { name: "Robin Okafor", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };

async function check(page, name) {
  const violations = await axeScan(page);
  assert.deepEqual(violations, [], `axe found serious/critical problems on ${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

/** A push service on loopback: records each POST (headers, body size). */
async function startPushService() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(201).end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return { endpoint: `http://127.0.0.1:${port}/push/sam-phone`, received, stop: () => new Promise((r) => server.close(r)) };
}

const b64url = (buf) => Buffer.from(buf).toString("base64url");

describe("notices when Alcove is closed", () => {
  let push;
  const { server, person } = story(async () => {
    push = await startPushService();
    return {
      env: {
        // Our push service is on loopback and plain http.
        ALCOVE_PUSH__ALLOW_PRIVATE: "true",
        ALCOVE_PUSH__ALLOW_HTTP: "true",
        ALCOVE_PUSH__INTERVAL_MS: "50",
      },
    };
  });
  after(async () => {
    if (push) await push.stop();
  });
  let admin, clinician, client;

  it("admin, clinician and client register", async () => {
    ({ admin, clinician, client } = await registerPractice(person, server.setupLink, { admin: ADMIN, clinician: CLINICIAN, client: CLIENT }));
  });

  it("the client turns on notices for their phone; with the tab closed a message makes one push", async () => {
    const page = client.page;
    // The browser's own push service stands in as ours (keys from Node).
    const ecdh = crypto.createECDH("prime256v1");
    ecdh.generateKeys();
    const keys = { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(crypto.randomBytes(16)) };
    await client.context.grantPermissions(["notifications"], { origin: server.url });
    await client.context.addInitScript(
      ({ endpoint, keys }) => {
        const fake = {
          endpoint,
          expirationTime: null,
          toJSON: () => ({ endpoint, expirationTime: null, keys }),
          unsubscribe: async () => {
            localStorage.removeItem("test-push");
            return true;
          },
        };
        PushManager.prototype.subscribe = async function (options) {
          const key = new Uint8Array(options.applicationServerKey);
          localStorage.setItem("test-push", JSON.stringify({ userVisibleOnly: options.userVisibleOnly, keyLength: key.length }));
          return fake;
        };
        PushManager.prototype.getSubscription = async function () {
          return localStorage.getItem("test-push") ? fake : null;
        };
      },
      { endpoint: push.endpoint, keys },
    );
    await page.reload();
    await page.goto(`${server.url}/account`);
    await heading(page, "Your account");
    const card = page.locator("#notices");
    await card.getByText("Off: you see new messages only while Alcove is open.").waitFor();
    await card.getByRole("button", { name: "Turn on notices on this device" }).click();
    await page.getByText("Notices turned on for this device.").waitFor();
    await card.getByText(/^On: this device shows/).waitFor();
    const asked = JSON.parse(await page.evaluate(() => localStorage.getItem("test-push")));
    assert.deepEqual(asked, { userVisibleOnly: true, keyLength: 65 }, "subscribed with the server's key, visible notices only");
    await check(page, "notices-account-on");

    // The client closes Alcove; the clinician writes.
    await page.goto("about:blank");
    const c = clinician.page;
    await c.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(c, "Conversations");
    await c.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await c.getByRole("button", { name: "Start conversation" }).click();
    await heading(c, `Conversation with ${CLIENT.name}`);
    const box = c.getByLabel("Message", { exact: true });
    await box.fill("Sam, your Thursday session moves to 4pm.");
    await box.press("Enter");
    const got = await until(() => push.received.slice(), (r) => r.length >= 1, "a push to the client's phone");
    const p = got[0];
    assert.equal(p.path, "/push/sam-phone");
    assert.equal(p.headers["content-encoding"], "aes128gcm");
    assert.match(p.headers.authorization, /^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]{87}$/);
    // Encrypted: the words are not in it (the Rust story decrypts it).
    assert.ok(!p.body.includes(Buffer.from("Thursday")), "nothing readable in the push");
  });

  it("a push shows “New secure message” and nothing personal", async () => {
    const page = await reopen(client);
    await page.goto(`${server.url}/account`);
    await heading(page, "Your account");
    const cdp = await client.context.newCDPSession(page);
    const registrations = [];
    cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
    await cdp.send("ServiceWorker.enable");
    const reg = await until(() => registrations.slice(), (r) => r.some((x) => x.scopeURL === `${server.url}/` && !x.isDeleted), "the service worker's registration");
    await page.evaluate(() => navigator.serviceWorker.ready);
    const id = reg.find((x) => x.scopeURL === `${server.url}/`).registrationId;
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: server.url, registrationId: id, data: '{"type":"message"}' });
    const shown = await until(
      () => page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag }))),
      (n) => n.length >= 1,
      "the notification",
    );
    assert.deepEqual(shown, [{ title: "New secure message", body: "Open Alcove to read it.", tag: "alcove-message" }]);

  });

  it("the app is installable: a phone's own browser profile, signed in", async () => {
    // Installing needs a profile on disk (an incognito context never
    // offers it), as on the client's own phone.
    const profile = mkdtempSync(path.join(tmpdir(), "alcove-install-profile-"));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
      ...PHONE,
      locale: "en-US",
      timezoneId: "UTC",
    });
    try {
      context.setDefaultTimeout(15_000);
      const page = context.pages()[0] || (await context.newPage());
      await page.goto(`${server.url}/login`);
      await login(page, CLIENT, { deviceName: "Installed app" });
      await page.evaluate(() => navigator.serviceWorker.ready);
      const cdp = await context.newCDPSession(page);
      const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
      assert.deepEqual(installabilityErrors, [], JSON.stringify(installabilityErrors));
      const manifest = await page.evaluate(() => fetch("/manifest.webmanifest").then((r) => r.json()));
      assert.equal(manifest.display, "standalone");
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it("signing out ends the phone's notices in the browser; the log holds no endpoint", async () => {
    const page = client.page;
    await logout(page);
    await until(() => page.evaluate(() => localStorage.getItem("test-push")), (v) => v === null, "the browser's subscription dropped");
    // That the server pushes nothing more after a sign-out is told, with
    // sentinels and the database's rows, in tests/tests/push.rs.
    // Admin's audit log: the subscription and the sign-out, nothing of the endpoint.
    const events = await admin.page.evaluate(() => fetch("/api/v1/audit/events?action=push.subscribed").then((r) => r.json()));
    assert.equal(events.events.length, 1);
    assert.ok(!JSON.stringify(events).includes("127.0.0.1"), "no endpoint in the log");
  });
});

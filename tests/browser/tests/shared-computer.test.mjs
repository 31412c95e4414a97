// "This is a shared or public computer" at sign-in, in Debian's Chromium
// with a persistent profile (launchPersistentContext) that is closed and
// opened again, as a family or library computer would be: the conversation
// works while the tab is open (the device's state in the page's memory
// only), a reload signs out (the server signs that device out for good),
// and after the browser is closed nothing of the session is left in the
// profile: no cookie, no IndexedDB, no device or practice id.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { story } from "../lib/story.mjs";
import { axeScan, screenshot, PHONE, LAPTOP } from "../lib/browser.mjs";
import { heading, registerStaff, registerClient, createInvite } from "../lib/flows.mjs";
import { authenticator } from "../lib/totp.mjs";

const ADMIN = { name: "Ada Admin", login: "ada@example.test", password: "copper-kettle-meadow-19", device: "Office laptop" };
const CLINICIAN = { name: "Robin Clinician", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };
const ASSOCIATE = { name: "Alex Associate", login: "alex@example.test", password: "lantern-harbor-quartz-42" };

const profile = mkdtempSync(path.join(tmpdir(), "alcove-shared-profile-"));

/** The family computer: one Chromium profile on disk, opened and closed. */
async function openFamilyComputer() {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    ...LAPTOP,
    locale: "en-US",
    timezoneId: "UTC",
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  return { context, page, problems };
}

/** What this profile keeps of Alcove, as a page of the origin sees it. */
async function leftBehind(page) {
  return page.evaluate(async () => ({
    databases: (await indexedDB.databases()).map((d) => d.name),
    local: Object.keys(localStorage).filter((k) => k.startsWith("alcove")),
    session: Object.keys(sessionStorage).filter((k) => k.startsWith("alcove")),
    me: (await fetch("/api/v1/me")).status,
  }));
}

async function signInShared(page, url, deviceName) {
  await page.goto(`${url}/login`);
  await heading(page, "Sign in");
  await page.getByLabel("Login", { exact: true }).fill(CLIENT.login);
  await page.getByLabel("Password or passphrase").fill(CLIENT.password);
  await page.getByLabel("This is a shared or public computer").check();
  await page.getByLabel("Name this device").fill(deviceName);
  await page.getByRole("button", { name: "Sign in" }).click();
  await heading(page, "Conversations");
}

/** Waits until the client's own phone lists `name` as a signed-out shared computer. */
async function signedOutOnPhone(phone, name) {
  await phone.page.waitForFunction(
    async (n) => {
      const devices = await fetch("/api/v1/me/devices").then((r) => r.json());
      const d = devices.find((x) => x.name === n);
      return !!(d && d.shared && d.revoked_at);
    },
    name,
    { timeout: 10_000, polling: 100 },
  );
}

describe("a shared or public computer keeps nothing", () => {
  const { server, person } = story();
  let admin, clinician, phone;
  after(() => rmSync(profile, { recursive: true, force: true }));

  it("a clinician and a client are in a conversation", async () => {
    admin = await person(LAPTOP);
    await registerStaff(admin.page, server.setupLink, ADMIN);
    clinician = await person(LAPTOP);
    await registerStaff(clinician.page, await createInvite(admin.page, "clinician"), CLINICIAN);
    const link = await createInvite(clinician.page, "client");
    phone = await person(PHONE);
    await registerClient(phone.page, link, CLIENT);
    const page = clinician.page;
    await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(page, "Conversations");
    await page.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await page.getByRole("button", { name: "Start conversation" }).click();
    await heading(page, `Conversation with ${CLIENT.name}`);
  });

  it("signed in as a shared computer, the conversation works and nothing is stored", async () => {
    const family = await openFamilyComputer();
    try {
      await sharedSession(family);
    } finally {
      await family.context.close();
    }
  });

  async function sharedSession(family) {
    const page = family.page;
    await signInShared(page, server.url, "Library computer");
    const cookies = await family.context.cookies();
    assert.equal(cookies.length, 1);
    assert.equal(cookies[0].expires, -1, "a browser-session cookie: no expiry is stored with it");
    assert.equal(cookies[0].httpOnly, true);
    const violations = await axeScan(page);
    assert.deepEqual(violations, []);

    // The conversation, live, on a device that lives in the page's memory.
    await page.locator("#conversations").getByRole("link", { name: new RegExp(CLINICIAN.name) }).click();
    await heading(page, `Conversation with ${CLINICIAN.name}`);
    await page.locator("form.composer button[type=submit]:enabled").waitFor({ timeout: 20_000 });
    // Nobody hands a shared computer the earlier messages; the page says so.
    await page.locator("#history-barred").waitFor();
    assert.equal(await page.locator("#messages > li").count(), 0);
    const box = clinician.page.getByLabel("Message", { exact: true });
    await box.fill("Are you at the library today?");
    await box.press("Enter");
    await page.locator("#messages > li", { hasText: "Are you at the library today?" }).waitFor({ timeout: 20_000 });
    await screenshot(page, "shared-computer-conversation");
    const kept = await leftBehind(page);
    // sessionStorage (this tab's, gone with it) holds only a random id by
    // which a reload of this tab knows its own previous page.
    assert.deepEqual({ ...kept, me: undefined }, { databases: [], local: [], session: ["alcove.shared_holder"], me: undefined }, JSON.stringify(kept));
    assert.equal(kept.me, 200);

    // A reload signs out: the keys were in the page that is gone, and the
    // server signs that device out for good. The new page's first question
    // is held until the old page's keepalive logout has revoked the device
    // (the order that race usually takes): the page must still say why.
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await page.route("**/api/v1/me", async (route) => {
      await held;
      await route.continue();
    });
    await page.reload();
    await signedOutOnPhone(phone, "Library computer");
    release();
    await heading(page, "Sign in");
    await page.unroute("**/api/v1/me");
    await page.getByText(/on a shared computer, closing or reloading the tab signs you out/).waitFor();
    assert.equal((await leftBehind(page)).me, 401);
    assert.deepEqual(family.problems, []);
  }

  it("a link opened in a second tab leaves the session to the first tab, which goes on working", async () => {
    const family = await openFamilyComputer();
    try {
      const page = family.page;
      await signInShared(page, server.url, "Library computer, two tabs");
      await page.locator("#conversations").getByRole("link", { name: new RegExp(CLINICIAN.name) }).click();
      await heading(page, `Conversation with ${CLINICIAN.name}`);
      await page.locator("form.composer button[type=submit]:enabled").waitFor({ timeout: 20_000 });

      // The second tab finds a shared session held by the first: it says
      // so and leaves it alone (ending it would sign the first tab out).
      const second = await family.context.newPage();
      await second.goto(`${server.url}/account`);
      await heading(second, "Sign in");
      await second.getByText(/open in another tab of this browser/).waitFor();
      assert.equal(await page.evaluate(async () => (await fetch("/api/v1/me")).status), 200, "the first tab's session is alive");
      const box = clinician.page.getByLabel("Message", { exact: true });
      await box.fill("Still there after the second tab?");
      await box.press("Enter");
      await page.locator("#messages > li", { hasText: "Still there after the second tab?" }).waitFor({ timeout: 20_000 });
      await second.close();

      // Closing the tab that holds it still signs out.
      await page.close();
      await signedOutOnPhone(phone, "Library computer, two tabs");
      assert.deepEqual(family.problems, []);
    } finally {
      await family.context.close();
    }
  });

  it("the tab and the browser closed without signing out: signed out, and nothing is kept", async () => {
    const family = await openFamilyComputer();
    await signInShared(family.page, server.url, "Library computer again");
    // The tab is closed; its last act is a keepalive logout, and the
    // server signs the device out (without it, the session's lapse would).
    await family.page.close();
    await signedOutOnPhone(phone, "Library computer again");
    await family.context.close();

    await reopenedKeepsNothing();
  });

  it("an associate's first sign-in, on the shared front desk, sets up the authenticator and keeps nothing either", async () => {
    // The associate chose a password from the invitation but stopped at
    // the authenticator step; they finish it at the front desk.
    const link = await createInvite(admin.page, "associate");
    const own = await person(LAPTOP);
    await own.page.goto(link);
    await heading(own.page, "Welcome to Alcove");
    await own.page.getByLabel("Your name", { exact: true }).fill(ASSOCIATE.name);
    await own.page.getByLabel("Login", { exact: true }).fill(ASSOCIATE.login);
    await own.page.getByLabel("Choose a password").fill(ASSOCIATE.password);
    await own.page.getByLabel("Repeat the password").fill(ASSOCIATE.password);
    await own.page.getByRole("button", { name: "Continue" }).click();
    await heading(own.page, "Set up two-step sign-in");
    await own.page.close();

    const family = await openFamilyComputer();
    try {
      const page = family.page;
      await page.goto(`${server.url}/login`);
      await heading(page, "Sign in");
      await page.getByLabel("Login", { exact: true }).fill(ASSOCIATE.login);
      await page.getByLabel("Password or passphrase").fill(ASSOCIATE.password);
      await page.getByLabel("This is a shared or public computer").check();
      await page.getByLabel("Name this device").fill("Front desk");
      await page.getByRole("button", { name: "Sign in" }).click();
      await heading(page, "Set up two-step sign-in");
      const secret = (await page.locator("#totp-secret").textContent()).replace(/\s+/g, "");
      await page.getByLabel("Code from your authenticator app").fill(await authenticator(secret).next());
      await page.getByRole("button", { name: "Confirm and sign in" }).click();
      await heading(page, "Save your recovery codes");
      await page.getByLabel("I saved my recovery codes somewhere safe").check();
      await page.getByRole("button", { name: "Continue to Alcove" }).click();
      await heading(page, "Conversations");
      // Signed in as a shared computer, as the sign-in page was told.
      const me = await page.evaluate(() => fetch("/api/v1/me").then((r) => r.json()));
      assert.equal(me.shared_computer, true);
      const cookies = await family.context.cookies();
      assert.ok(cookies.length > 0 && cookies.every((c) => c.expires === -1), `browser-session cookies only: ${JSON.stringify(cookies.map((c) => c.expires))}`);
      await page.close();
    } finally {
      await family.context.close();
    }
    await reopenedKeepsNothing();
  });

  /** The family computer opened again after it was closed: nothing left. */
  async function reopenedKeepsNothing() {
    const family = await openFamilyComputer();
    try {
      await nothingLeft(family);
    } finally {
      await family.context.close();
    }
  }

  async function nothingLeft(family) {
    const page = family.page;
    await page.goto(`${server.url}/`);
    await heading(page, "Sign in");
    assert.deepEqual(await family.context.cookies(), [], "no session cookie survived");
    const kept = await leftBehind(page);
    assert.deepEqual(kept, { databases: [], local: [], session: [], me: 401 });
    // The name field is asked again: no device id was remembered.
    await page.getByLabel("Name this device").waitFor();
    assert.deepEqual(family.problems, []);
  }
});

// Account flows of the web client in Debian's Chromium against the real
// server: setup link → admin with TOTP → clinician invited by the admin →
// client invited by the clinician; devices; invitations; logout and login
// (TOTP and recovery code); keyboard-only sign-in; axe scans; auto-lock.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { story } from "../lib/story.mjs";
import { axeScan, screenshot, PHONE, LAPTOP } from "../lib/browser.mjs";
import {
  heading,
  assertFocusOnHeading,
  registerStaff,
  registerClient,
  createInvite,
  logout,
  login,
  tokenOf,
} from "../lib/flows.mjs";

const ADMIN = { name: "Dana Admin", login: "dana@example.test", password: "quiet-harbor-lantern-41", device: "Front desk laptop" };
const CLINICIAN = { name: "Robin Clinician", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's phone" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };

/** Runs axe on the current page and saves a screenshot. */
async function check(page, name) {
  const violations = await axeScan(page);
  assert.deepEqual(violations, [], `axe found serious/critical problems on ${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

describe("web client account flows", () => {
  const { server, person } = story();
  let admin, clinician, client;
  let adminTotp, adminRecovery, clinicianTotp;

  it("serves the shell with the strict CSP and no third-party origins", async () => {
    const r = await fetch(`${server.url}/login`);
    assert.equal(r.status, 200);
    const csp = r.headers.get("content-security-policy");
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    const html = await r.text();
    assert.ok(!/https?:\/\//.test(html.replace(/http:\/\/www\.w3\.org[^"]*/g, "")), "no absolute URLs in the shell");
    assert.ok(!/style=|<script>/.test(html), "no inline scripts or styles");
  });

  it("admin opens the setup link, sets a password, enrols TOTP and saves recovery codes", async () => {
    admin = await person(LAPTOP);
    ({ totp: adminTotp, recoveryCodes: adminRecovery } = await registerStaff(admin.page, server.setupLink, ADMIN, (step) =>
      check(admin.page, `admin-${step}`),
    ));
    await assertFocusOnHeading(admin.page, "Conversations");
    assert.equal(await admin.page.title(), "Conversations · Alcove");
    await admin.page.getByRole("navigation").getByRole("link", { name: "Administration" }).waitFor();
    await check(admin.page, "admin-home");
  });

  it("a used setup link is refused in plain words", async () => {
    const other = await person(LAPTOP);
    await other.page.goto(server.setupLink);
    await heading(other.page, "Accept invitation");
    await other.page.getByRole("alert").getByText(/already used/).waitFor();
    await other.context.close();
  });

  it("admin invites a clinician, who registers with TOTP on a phone", async () => {
    const link = await createInvite(admin.page, "clinician");
    await check(admin.page, "admin-invitations");
    clinician = await person(PHONE);
    ({ totp: clinicianTotp } = await registerStaff(clinician.page, link, CLINICIAN, (step) => check(clinician.page, `clinician-${step}`)));
    // Clinicians get no Administration page.
    assert.equal(await clinician.page.getByRole("link", { name: "Administration" }).count(), 0);
    await check(clinician.page, "clinician-home-phone");
  });

  it("clinician invites a client, who sets a passphrase and names the device", async () => {
    const link = await createInvite(clinician.page, "client");
    // Clinicians may invite clients only.
    const options = await clinician.page.getByLabel("Role of the person you invite").locator("option").allTextContents();
    assert.deepEqual(options, ["Client"]);
    client = await person(PHONE);
    await registerClient(client.page, link, CLIENT, (step) => check(client.page, `client-${step}`));
    assert.equal(await client.page.getByRole("link", { name: "Invitations" }).count(), 0);
    assert.ok(!(await client.page.title()).includes(CLIENT.name), "no names in the title");
    assert.ok(!client.page.url().includes(tokenOf(link)));
    await check(client.page, "client-home-phone");
  });

  it("devices page lists this device with last seen", async () => {
    await client.page.getByRole("navigation").getByRole("link", { name: "Devices" }).click();
    await heading(client.page, "Devices");
    await assertFocusOnHeading(client.page, "Devices");
    const items = client.page.locator("#devices > li");
    assert.equal(await items.count(), 1);
    await items.first().getByText("This device").waitFor();
    await items.first().getByText(CLIENT.device).waitFor();
    await check(client.page, "client-devices-phone");
  });

  it("clinician logs out and logs in again with TOTP, reusing the device", async () => {
    await clinician.page.getByRole("navigation").getByRole("link", { name: "Devices" }).click();
    await heading(clinician.page, "Devices");
    await logout(clinician.page);
    await check(clinician.page, "login-phone");
    // After logout the API refuses the old session.
    const me = await clinician.page.evaluate(() => fetch("/api/v1/me").then((r) => r.status));
    assert.equal(me, 401);
    await login(clinician.page, CLINICIAN, { totp: clinicianTotp });
    await clinician.page.getByRole("navigation").getByRole("link", { name: "Devices" }).click();
    await heading(clinician.page, "Devices");
    assert.equal(await clinician.page.locator("#devices > li").count(), 1, "the remembered device was reused");
    await check(clinician.page, "clinician-devices-phone");
  });

  it("a wrong TOTP code is refused in plain words", async () => {
    await logout(clinician.page);
    await clinician.page.getByLabel("Login", { exact: true }).fill(CLINICIAN.login);
    await clinician.page.getByLabel("Password or passphrase").fill(CLINICIAN.password);
    await clinician.page.getByRole("button", { name: "Sign in" }).click();
    const code = clinician.page.getByLabel("Code from your authenticator app");
    await code.waitFor();
    await code.fill("000000");
    await clinician.page.getByRole("button", { name: "Sign in" }).click();
    await clinician.page.getByRole("alert").getByText("That code is not valid; try the current one.").waitFor();
    await code.fill(await clinicianTotp.next());
    await clinician.page.getByRole("button", { name: "Sign in" }).click();
    await heading(clinician.page, "Conversations");
  });

  it("admin logs out and signs in with a recovery code", async () => {
    await logout(admin.page);
    await login(admin.page, ADMIN, { recoveryCode: adminRecovery[0] });
  });

  it("admin revokes a pending invitation, and its link stops working", async () => {
    const link = await createInvite(admin.page, "client");
    const pending = admin.page.locator('#invite-list > li[data-status="pending"]');
    // The list shows the new invitation once it has refreshed.
    await pending.first().waitFor();
    const before = await pending.count();
    await pending.first().getByRole("button", { name: "Revoke" }).click();
    await admin.page.getByText("Invitation revoked.").waitFor();
    // Announced once the list shows it.
    assert.equal(await pending.count(), before - 1);
    await admin.page.locator('#invite-list > li[data-status="revoked"]').first().waitFor();
    const stranger = await person(PHONE);
    await stranger.page.goto(link);
    await heading(stranger.page, "Accept invitation");
    await stranger.page.getByRole("alert").waitFor();
    await stranger.context.close();
  });

  it("a client signs in on a new browser with the keyboard alone", async () => {
    const laptop = await person(LAPTOP);
    const page = laptop.page;
    await page.goto(`${server.url}/`);
    await heading(page, "Sign in");
    await assertFocusOnHeading(page, "Sign in");
    await check(page, "login-laptop");
    await page.keyboard.press("Tab");
    await page.keyboard.type(CLIENT.login);
    await page.keyboard.press("Tab");
    await page.keyboard.type(CLIENT.password);
    await page.keyboard.press("Tab");
    await page.keyboard.type("Home laptop");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await heading(page, "Conversations");
    await assertFocusOnHeading(page, "Conversations");
    // Navigate to Devices with the keyboard: focus the nav link and press Enter.
    await page.getByRole("link", { name: "Devices" }).focus();
    await page.keyboard.press("Enter");
    await heading(page, "Devices");
    assert.equal(await page.locator("#devices > li").count(), 2);
    await page.locator('#devices > li[data-current="true"]').getByText("Home laptop").waitFor();
    await check(page, "client-devices-laptop");
    await logout(page);
  });
});

describe("automatic lock after inactivity", () => {
  // Clients' idle timeout is 3 s on this server; the page reads it from /me.
  const { server, person } = story({ env: { ALCOVE_AUTH__CLIENT_IDLE_TIMEOUT_SECS: "3" } });

  it("an idle client page locks itself and ends the session", async () => {
    const admin = await person(LAPTOP);
    await registerStaff(admin.page, server.setupLink, ADMIN);
    const link = await createInvite(admin.page, "client");
    const client = await person(PHONE);
    await registerClient(client.page, link, CLIENT);
    // No activity from here on: the page must return to the login screen by
    // itself, within a deadline.
    await client.page
      .getByText("For your privacy, Alcove signed you out after 3 seconds without activity.")
      .waitFor({ timeout: 15_000 });
    await heading(client.page, "Sign in");
    assert.equal(await client.page.getByRole("navigation").count(), 0, "navigation is gone");
    await screenshot(client.page, "auto-lock-phone");
    const me = await client.page.evaluate(() => fetch("/api/v1/me").then((r) => r.status));
    assert.equal(me, 401, "the server session is over too");
  });
});

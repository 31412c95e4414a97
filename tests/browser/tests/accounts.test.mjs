// Account flows of the web client in Debian's Chromium against the real
// server: setup link → admin with TOTP → clinician invited by the admin →
// client invited by the clinician; devices; invitations; logout and login
// (TOTP and recovery code); keyboard-only sign-in; the account page (new
// recovery codes; a changed passphrase signing out the other browser);
// axe scans; auto-lock.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { story } from "../lib/story.mjs";
import { authenticator } from "../lib/totp.mjs";
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
  let adminTotp, adminRecovery, clinicianTotp, clientTotp;

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

  it("the admin's first run: the practice is named, staff are invited, the audit key is kept", async () => {
    const page = admin.page;
    await page.getByRole("navigation").getByRole("link", { name: "Administration" }).click();
    await heading(page, "Administration");
    const guide = page.locator("#first-run");
    // The clinician's invitation counts; the name and the key are to do.
    await guide.locator("#step-staff").getByText("Done").waitFor();
    await guide.locator("#step-name").getByText("To do").waitFor();
    await guide.locator("#step-audit-key").getByText("To do").waitFor();
    await check(page, "admin-first-run");
    await page.getByLabel("Practice name").fill("Maple Street Practice");
    await page.getByRole("button", { name: "Save the name" }).click();
    await page.locator("#practice").getByText("Maple Street Practice").waitFor();
    await guide.locator("#step-name").getByText("Done").waitFor();
    const key = (await page.locator("#audit-public-key").textContent()).trim();
    const head = await page.evaluate(() => fetch("/api/v1/audit/head").then((r) => r.json()));
    assert.equal(key, head.public_key, "the key shown is the log's");
    await page.getByLabel("I kept a copy of this key outside Alcove").check();
    await guide.locator("summary").getByText("Getting started: done").waitFor();
    // Everyone's pages carry the new name.
    await clinician.page.reload();
    await clinician.page.locator("#practice").getByText("Maple Street Practice").waitFor();
  });

  it("clinician invites a client, who sets a passphrase and names the device", async () => {
    const link = await createInvite(clinician.page, "client", "Sam C.");
    await clinician.page.locator("#new-invite-heading").getByText("New invitation for Sam C. (client)").waitFor();
    // Clinicians may invite clients only.
    const options = await clinician.page.getByLabel("Role of the person you invite").locator("option").allTextContents();
    assert.deepEqual(options, ["Client"]);
    client = await person(PHONE);
    await registerClient(client.page, link, CLIENT, (step) => check(client.page, `client-${step}`));
    assert.equal(await client.page.getByRole("link", { name: "Invitations" }).count(), 0);
    assert.ok(!(await client.page.title()).includes(CLIENT.name), "no names in the title");
    assert.ok(!client.page.url().includes(tokenOf(link)));
    await check(client.page, "client-home-phone");
    // The clinician's list says whom it was for, and who accepted it.
    await clinician.page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await clinician.page.getByRole("navigation").getByRole("link", { name: "Invitations" }).click();
    const item = clinician.page.locator("#invite-list > li", { hasText: "For Sam C." });
    await item.getByText(`Accepted by ${CLIENT.name}`).waitFor();
    await check(clinician.page, "clinician-invitations-accepted");
  });

  it("devices page lists this device with last seen", async () => {
    await client.page.getByRole("navigation").getByRole("link", { name: "Devices" }).click();
    await heading(client.page, "Devices");
    await assertFocusOnHeading(client.page, "Devices");
    const items = client.page.locator("#devices > li");
    assert.equal(await items.count(), 1);
    await items.first().getByText("This device").waitFor();
    await items.first().getByText(CLIENT.device).waitFor();
    // Renamed in place.
    await items.first().getByRole("button", { name: `Rename “${CLIENT.device}”` }).click();
    await client.page.getByLabel("New name for this device").fill("Sam's phone");
    await client.page.getByRole("button", { name: "Save" }).click();
    await items.first().getByRole("heading", { name: /Sam's phone/ }).waitFor();
    CLIENT.device = "Sam's phone";
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

  it("the admin's account page counts the recovery codes left and makes new ones; the old ones stop working", async () => {
    const page = admin.page;
    await page.getByRole("navigation").getByRole("link", { name: "Account" }).click();
    await heading(page, "Your account");
    // One was used to sign in above.
    await page.locator("#codes-left").getByText("You have 9 unused recovery codes.").waitFor();
    await page.getByLabel("Code from your authenticator app").fill(await adminTotp.next());
    await page.getByRole("button", { name: "Make new recovery codes" }).click();
    await page.locator("#recovery-codes li").first().waitFor();
    const fresh = (await page.locator("#recovery-codes li").allTextContents()).map((t) => t.trim());
    assert.equal(fresh.length, 10);
    assert.ok(fresh.every((c) => !adminRecovery.includes(c)), "all new");
    await page.locator("#codes-left").getByText("You have 10 unused recovery codes.").waitFor();
    await check(page, "account-new-recovery-codes");

    // An old code that was never used no longer signs in; a new one does.
    await logout(page);
    await page.getByLabel("Login", { exact: true }).fill(ADMIN.login);
    await page.getByLabel("Password or passphrase").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Use a recovery code instead" }).click();
    await page.getByLabel("Recovery code").fill(adminRecovery[1]);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").getByText("That code is not valid; try the current one.").waitFor();
    await page.goto(`${server.url}/login`);
    await login(page, ADMIN, { recoveryCode: fresh[0] });
  });

  it("a client changes the passphrase on the phone; the browser left signed in elsewhere is signed out at once", async () => {
    const elsewhere = await person(LAPTOP);
    await elsewhere.page.goto(`${server.url}/login`);
    await login(elsewhere.page, CLIENT, { deviceName: "Library computer" });

    const page = client.page;
    await page.getByRole("navigation").getByRole("link", { name: "Account" }).click();
    await heading(page, "Your account");
    // A client has no authenticator app, so no recovery codes to make.
    await page.getByText("Recovery codes come with an authenticator app, which this account does not use.").waitFor();
    const NEW = "lanterns over the quiet river";
    await page.getByLabel("Current passphrase", { exact: true }).fill(CLIENT.password);
    await page.getByLabel("New passphrase", { exact: true }).fill(NEW);
    await page.getByLabel("Repeat the new passphrase").fill("lanterns over the quiet rive");
    await page.getByRole("button", { name: "Change passphrase" }).click();
    await page.getByRole("alert").getByText("The two new passphrases are not the same.").waitFor();
    await page.getByLabel("Repeat the new passphrase").fill(NEW);
    await page.getByRole("button", { name: "Change passphrase" }).click();
    await page.getByText(/^Your passphrase was changed\. (One other session was|\d+ other sessions were) signed out\.$/).waitFor();
    assert.equal(await page.getByLabel("Current passphrase", { exact: true }).inputValue(), "", "nothing typed is left in the form");
    await check(page, "account-passphrase-changed");

    // The library computer's page locks itself (its socket was closed),
    // and says why.
    await heading(elsewhere.page, "Sign in");
    await elsewhere.page.getByText(/password was changed on another device/).waitFor();
    const me = await elsewhere.page.evaluate(() => fetch("/api/v1/me").then((r) => r.status));
    assert.equal(me, 401);
    await elsewhere.page.getByLabel("Login", { exact: true }).fill(CLIENT.login);
    await elsewhere.page.getByLabel("Password or passphrase").fill(CLIENT.password);
    await elsewhere.page.getByRole("button", { name: "Sign in" }).click();
    await elsewhere.page.getByRole("alert").getByText(/not correct/).waitFor();
    CLIENT.password = NEW;
    await elsewhere.page.goto(`${server.url}/login`);
    await login(elsewhere.page, CLIENT);
    // The phone stayed signed in.
    await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(page, "Conversations");
  });

  it("a client turns on two-step sign-in from the account page; the next sign-in asks for the code", async () => {
    const page = client.page;
    await page.getByRole("navigation").getByRole("link", { name: "Account" }).click();
    await heading(page, "Your account");
    await page.getByLabel("Current passphrase, to confirm it is you").fill(CLIENT.password);
    await page.getByRole("button", { name: "Turn on two-step sign-in" }).click();
    const secret = (await page.locator("#new-totp-secret").textContent()).replace(/\s+/g, "");
    const totp = authenticator(secret);
    await page.getByLabel("Code from your authenticator app").fill("000000");
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByRole("alert").getByText("That code is not valid; try the current one.").waitFor();
    await page.getByLabel("Code from your authenticator app").fill(await totp.next());
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.getByText("Two-step sign-in is on with this app.").waitFor();
    assert.equal(await page.locator("#authenticator-recovery-codes li").count(), 10);
    await page.locator("#codes-left").getByText("You have 10 unused recovery codes.").waitFor();
    await check(page, "account-two-step-on");
    await logout(page);
    await login(page, CLIENT, { totp });
    clientTotp = totp;
  });

  it("a client who forgot the passphrase is back in with a reset link the admin made; the phone signed in before is signed out", async () => {
    const page = admin.page;
    await page.getByRole("navigation").getByRole("link", { name: "Administration" }).click();
    await heading(page, "Administration");
    const card = page.locator("#admin-users li", { hasText: CLIENT.name });
    await card.getByRole("button", { name: "Make a sign-in reset link" }).click();
    await card.getByRole("button", { name: "Yes, make the link" }).click();
    const link = (await card.locator(".reset-link code").textContent()).trim();
    assert.match(link, /\/invite#/);

    // On a borrowed phone: a new passphrase, and the authenticator's code
    // (the link alone, which the admin saw, is not enough).
    const borrowed = await person(PHONE);
    await borrowed.page.goto(link);
    await heading(borrowed.page, "Choose a new passphrase");
    await check(borrowed.page, "reset-link");
    const NEW = "amber fields under a slow moon";
    await borrowed.page.getByLabel("New passphrase", { exact: true }).fill(NEW);
    await borrowed.page.getByLabel("Repeat the new passphrase").fill(NEW);
    await borrowed.page.getByLabel("Code from your authenticator app").fill("000000");
    await borrowed.page.getByLabel("Device name").fill("Borrowed phone");
    await borrowed.page.getByRole("button", { name: "Set the new passphrase" }).click();
    await borrowed.page.getByRole("alert").getByText("That code is not valid; try the current one.").waitFor();
    await borrowed.page.getByLabel("Code from your authenticator app").fill(await clientTotp.next());
    await borrowed.page.getByRole("button", { name: "Set the new passphrase" }).click();
    await heading(borrowed.page, "Conversations");
    CLIENT.password = NEW;

    // The phone signed in before is signed out at once, and says why.
    await heading(client.page, "Sign in");
    await client.page.getByText(/password was changed on another device/).waitFor();
    // The link works once.
    const again = await person(PHONE);
    await again.page.goto(link);
    await again.page.getByRole("alert").getByText(/already used/i).waitFor();
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

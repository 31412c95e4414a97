// What a person does in the web client, as reusable steps.
import assert from "node:assert/strict";
import { LAPTOP, PHONE } from "./browser.mjs";
import { authenticator } from "./totp.mjs";

/** Waits for the page's main heading. */
export async function heading(page, name) {
  try {
    await page.getByRole("heading", { level: 1, name, exact: true }).waitFor();
  } catch (e) {
    // Say what the page shows instead, to make a failure readable.
    const shown = await page
      .locator("main")
      .innerText({ timeout: 1000 })
      .catch(() => "(no main)");
    e.message += `\nwaiting for "${name}" at ${page.url()}; the page shows:\n${shown.slice(0, 1500)}`;
    throw e;
  }
}

/** Asserts that keyboard focus sits on the main heading (focus management). */
export async function assertFocusOnHeading(page, name) {
  await page.waitForFunction(
    (expected) => document.activeElement && document.activeElement.tagName === "H1" && document.activeElement.textContent === expected,
    name,
  );
}

/** Asserts the URL and title carry no secret: no fragment, no token. */
export function assertNoSecretInUrl(page, secret) {
  const url = new URL(page.url());
  assert.equal(url.hash, "", `the address bar still has a fragment: ${url.hash}`);
  if (secret) assert.ok(!page.url().includes(secret), "the token is still in the URL");
}

export const tokenOf = (link) => link.slice(link.indexOf("#") + 1);

async function fillIdentity(page, who, secretWord) {
  await page.getByLabel("Your name", { exact: true }).fill(who.name);
  await page.getByLabel("Login", { exact: true }).fill(who.login);
  await page.getByLabel(`Choose a ${secretWord}`).fill(who.password);
  await page.getByLabel(`Repeat the ${secretWord}`).fill(who.password);
  await page.getByRole("button", { name: "Continue" }).click();
}

/**
 * Staff registration through an invite link: password, TOTP enrolment
 * (codes computed from the displayed secret), recovery codes. `at(step)` is
 * called on each page (for scans and screenshots). Returns {totp, recoveryCodes}.
 */
export async function registerStaff(page, link, who, at = async () => {}) {
  await page.goto(link);
  await heading(page, "Welcome to Alcove");
  assertNoSecretInUrl(page, tokenOf(link));
  assert.ok(!(await page.title()).includes(tokenOf(link)));
  await at("invite");
  await fillIdentity(page, who, "password");

  await heading(page, "Set up two-step sign-in");
  await assertFocusOnHeading(page, "Set up two-step sign-in");
  assert.equal(await page.locator("svg.qr path").count(), 1, "QR code is drawn");
  const secret = (await page.locator("#totp-secret").textContent()).replace(/\s+/g, "");
  assert.match(secret, /^[A-Z2-7]{16,}$/);
  const totp = authenticator(secret);
  await at("enrol");
  await page.getByLabel("Name this device").fill(who.device);
  await page.getByLabel("Code from your authenticator app").fill(await totp.next());
  await page.getByRole("button", { name: "Confirm and sign in" }).click();

  await heading(page, "Save your recovery codes");
  const recoveryCodes = (await page.locator("#recovery-codes li").allTextContents()).map((c) => c.trim());
  assert.equal(recoveryCodes.length, 10);
  const cont = page.getByRole("button", { name: "Continue to Alcove" });
  assert.equal(await cont.isDisabled(), true, "continue waits for the 'I saved them' step");
  await at("recovery-codes");
  await page.getByLabel("I saved my recovery codes somewhere safe").check();
  await cont.click();
  await heading(page, "Conversations");
  return { totp, recoveryCodes };
}

/** Client registration: passphrase, then a device name. */
export async function registerClient(page, link, who, at = async () => {}) {
  await page.goto(link);
  await heading(page, "Welcome to Alcove");
  assertNoSecretInUrl(page, tokenOf(link));
  await at("invite-client");
  await fillIdentity(page, who, "passphrase");
  await heading(page, "Name this device");
  await assertFocusOnHeading(page, "Name this device");
  await at("device-name");
  await page.getByLabel("Device name").fill(who.device);
  await page.getByRole("button", { name: "Finish" }).click();
  await heading(page, "Conversations");
}

/** Creates an invitation on the Invitations page; returns its link. */
export async function createInvite(page, role, label) {
  await page.getByRole("navigation").getByRole("link", { name: "Invitations" }).click();
  await heading(page, "Invitations");
  const select = page.getByLabel("Role of the person you invite");
  await select.selectOption(role);
  if (label) await page.getByLabel("Who is it for? (optional)").fill(label);
  await page.getByRole("button", { name: "Create invitation link" }).click();
  const input = page.getByLabel("Invitation link");
  await input.waitFor();
  const link = await input.inputValue();
  assert.match(link, /\/invite#[A-Za-z0-9_-]{20,}$/);
  assert.equal(new URL(link).pathname, "/invite");
  return link;
}

export async function logout(page) {
  await page.getByRole("button", { name: "Log out" }).click();
  await heading(page, "Sign in");
  await page.getByText("You have signed out.").waitFor();
}

/**
 * Signs in. `second` is "totp" (uses `totp.next()`), a recovery code string,
 * or absent for clients.
 */
export async function login(page, who, { totp, recoveryCode, deviceName } = {}) {
  await heading(page, "Sign in");
  await page.getByLabel("Login", { exact: true }).fill(who.login);
  await page.getByLabel("Password or passphrase").fill(who.password);
  if (deviceName) await page.getByLabel("Name this device").fill(deviceName);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (totp || recoveryCode) {
    const codeField = page.getByLabel("Code from your authenticator app");
    await codeField.waitFor();
    if (recoveryCode) {
      await page.getByRole("button", { name: "Use a recovery code instead" }).click();
      await page.getByLabel("Recovery code").fill(recoveryCode);
    } else {
      await codeField.fill(await totp.next());
    }
    await page.getByRole("button", { name: "Sign in" }).click();
  }
  await heading(page, "Conversations");
}

/**
 * The practice most stories start from: the admin registers from the setup
 * link on a laptop, invites a clinician (laptop), who invites their client
 * (`clientDevice`, a phone by default). Returns the three people.
 */
export async function registerPractice(person, setupLink, { admin: a, clinician: c, client: k }, clientDevice = PHONE) {
  const admin = await person(LAPTOP);
  await registerStaff(admin.page, setupLink, a);
  const clinicianLink = await createInvite(admin.page, "clinician");
  const clinician = await person(LAPTOP);
  await registerStaff(clinician.page, clinicianLink, c);
  const clientLink = await createInvite(clinician.page, "client");
  const client = await person(clientDevice);
  await registerClient(client.page, clientLink, k);
  return { admin, clinician, client };
}

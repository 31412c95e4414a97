// History on a new device, and a message that waited reaching the client
// through a device other than the one that sent it (docs/history.md):
// the clinician works on a phone and a laptop; the laptop joins and gets
// the earlier messages from the phone; the client's only phone is revoked;
// the laptop writes while no device of the client is left ("waiting") and
// is closed; the client signs in on a new phone while only the clinician's
// phone is open — the phone hands over every earlier message, the waiting
// one included, and the laptop, back, sees it delivered. Then the history
// backup: a client keeps a history recovery key; their phone is lost while
// the clinician is away; a new phone restores the earlier messages with
// the key (a typo caught first), marked as copies from the backup.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { story } from "../lib/story.mjs";
import { reopen, PHONE, LAPTOP } from "../lib/browser.mjs";
import { check, openConversation, message, send, texts } from "../lib/conversation.mjs";
import { heading, registerStaff, registerClient, createInvite, login } from "../lib/flows.mjs";

const ADMIN = { name: "Hana Admin", login: "hana@example.test", password: "lantern-harbour-pebble-41", device: "Front desk" };
const CLINICIAN = { name: "Ravi Clinician", login: "ravi@example.test", password: "cedar-meadow-lantern-28", device: "Ravi's phone" };
const CLIENT = { name: "Mia Client", login: "mia@example.test", password: "quiet river under the hill", device: "Mia's phone" };

const FIRST = "Hello Mia, this is Ravi from my phone.";
const REPLY = "Hi Ravi, thanks for reaching out.";
const MOVED = "Your Thursday appointment moved to 4 pm.";

/**
 * The admin registers, invites the clinician (on `clinicianDevice`), who
 * invites the client (a phone) and writes `first`; the client answers
 * `reply`. Returns the three people and the clinician's authenticator.
 */
async function practiceInConversation(server, person, clinicianDevice, first, reply) {
  const admin = await person(LAPTOP);
  await registerStaff(admin.page, server.setupLink, ADMIN);
  const clinicianLink = await createInvite(admin.page, "clinician");
  const clinician = await person(clinicianDevice);
  const device = clinicianDevice === PHONE ? CLINICIAN.device : "Ravi's laptop";
  const { totp } = await registerStaff(clinician.page, clinicianLink, { ...CLINICIAN, device });
  const clientLink = await createInvite(clinician.page, "client");
  const client = await person(PHONE);
  await registerClient(client.page, clientLink, CLIENT);

  const p = clinician.page;
  await p.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
  await heading(p, "Conversations");
  await p.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
  await p.getByRole("button", { name: "Start conversation" }).click();
  await heading(p, `Conversation with ${CLIENT.name}`);
  await send(p, first);
  await openConversation(client.page, CLINICIAN.name);
  await message(client.page, first).waitFor({ timeout: 20_000 });
  await send(client.page, reply);
  await message(p, reply).waitFor({ timeout: 20_000 });
  return { admin, clinician, client, totp };
}

/** The admin revokes the client's phone from the Administration page. */
async function revokeClientPhone(a) {
  await a.getByRole("navigation").getByRole("link", { name: "Administration" }).click();
  await heading(a, "Administration");
  const device = a.locator("#admin-devices > li", { hasText: CLIENT.device });
  await device.getByRole("button", { name: "Revoke device" }).click();
  await device.getByRole("button", { name: "Yes, revoke it" }).click();
  await device.locator(".badge.revoked").waitFor();
}

describe("history on a new device", () => {
  const { server, person } = story();
  let admin, phone, laptop, client;
  let totp;

  it("a clinician on a phone and a client hold a conversation", async () => {
    ({ admin, clinician: phone, client, totp } = await practiceInConversation(server, person, PHONE, FIRST, REPLY));
  });

  it("the clinician's laptop joins and gets the earlier messages from the phone, marked as copies", async () => {
    laptop = await person(LAPTOP);
    const page = laptop.page;
    await page.goto(`${server.url}/login`);
    await login(page, CLINICIAN, { totp, deviceName: "Ravi's laptop" });
    await openConversation(page, CLIENT.name);
    await message(page, REPLY).waitFor({ timeout: 20_000 });
    assert.deepEqual(await texts(page), [FIRST, REPLY], "in order");
    assert.equal(await message(page, FIRST).locator(".sender").textContent(), "You");
    assert.equal(await message(page, REPLY).locator(".sender").textContent(), CLIENT.name);
    for (const text of [FIRST, REPLY]) {
      assert.equal(await message(page, text).locator(".copy").textContent(), "copy from your other device");
    }
    await page.locator("#history-status").waitFor({ state: "hidden" });
    await check(page, "history-handed-over");
  });

  it("the client's only phone is revoked; the laptop's message waits for a device of theirs", async () => {
    await revokeClientPhone(admin.page);
    await heading(client.page, "Sign in");

    await send(laptop.page, MOVED);
    await message(laptop.page, MOVED).locator(".state-waiting").waitFor({ timeout: 20_000 });
    // The phone, the clinician's other device, holds it too.
    await message(phone.page, MOVED).waitFor({ timeout: 20_000 });
    // The laptop that sent it is closed: it cannot send it again itself.
    await laptop.page.close();
  });

  it("a new phone of the client gets everything from the clinician's phone, the waiting message included", async () => {
    const fresh = await person(PHONE);
    const page = fresh.page;
    await page.goto(`${server.url}/login`);
    await login(page, CLIENT, { deviceName: "Mia's new phone" });
    await openConversation(page, CLINICIAN.name);
    await message(page, MOVED).waitFor({ timeout: 20_000 });
    assert.deepEqual(await texts(page), [FIRST, REPLY, MOVED], "in order, each once");
    assert.equal(await message(page, REPLY).locator(".sender").textContent(), "You");
    for (const text of [FIRST, REPLY, MOVED]) {
      assert.equal(await message(page, text).locator(".copy").textContent(), `copy from ${CLINICIAN.name}'s device`);
    }
    await page.locator("#history-status").waitFor({ state: "hidden" });
    await check(page, "history-from-the-other-side");
    // And the conversation goes on from the new phone.
    await send(page, "Thursday at 4 works.");
    await message(phone.page, "Thursday at 4 works.").waitFor({ timeout: 20_000 });
  });

  it("the laptop, back, sees that the message it sent reached the client", async () => {
    const page = await reopen(laptop);
    await page.goto(`${server.url}/`);
    await page.getByRole("heading", { level: 1, name: /^(Conversations|Sign in)$/ }).waitFor();
    if ((await page.getByRole("heading", { level: 1 }).textContent()) === "Sign in") {
      await login(page, CLINICIAN, { totp });
    }
    await openConversation(page, CLIENT.name);
    const moved = message(page, MOVED);
    await moved.locator(".state-delivered, .state-read").waitFor({ timeout: 20_000 });
    assert.equal(await moved.count(), 1);
    await message(page, "Thursday at 4 works.").waitFor({ timeout: 20_000 });
  });
});

describe("history backup: restoring with the history recovery key when nobody is online", () => {
  const { server, person } = story();
  let admin, clinician, client;
  let recoveryKey;
  const BEFORE = "Before the backup: see you Monday.";
  const REPLIED = "Monday works for me.";

  it("a client turns on history backup and keeps the key", async () => {
    ({ admin, clinician, client } = await practiceInConversation(server, person, LAPTOP, BEFORE, REPLIED));

    const c = client.page;
    await c.getByRole("navigation").getByRole("link", { name: "Account" }).click();
    await heading(c, "Your account");
    const card = c.locator("#history-backup");
    await card.getByText("History backup is off.").waitFor();
    await card.getByRole("button", { name: "Turn on history backup" }).click();
    recoveryKey = (await card.locator("#history-key").textContent()).trim();
    assert.match(recoveryKey, /^([A-Z2-7]{5}-){10}[A-Z2-7]{5}$/);
    const turnOn = card.getByRole("button", { name: "Turn on", exact: true });
    assert.equal(await turnOn.isDisabled(), true, "waits for 'I saved it'");
    await check(c, "history-backup-key");
    await card.getByLabel("I saved my history recovery key somewhere safe").check();
    await turnOn.click();
    await card.getByText("History backup is on.").waitFor();
    // The device stored the conversation's sealed history.
    await c.waitForFunction(async () => {
      const r = await fetch("/api/v1/history-archive", { credentials: "same-origin" });
      return r.ok && (await r.json()).archives.length === 1;
    }, null, { timeout: 20_000 });
    // Nothing readable reached the server, and the key is not in its files.
    const stored = readdirSync(server.dataDir, { withFileTypes: true })
      .filter((f) => f.isFile())
      .map((f) => readFileSync(path.join(server.dataDir, f.name), "latin1"))
      .join("");
    for (const text of [BEFORE, REPLIED, recoveryKey, recoveryKey.replaceAll("-", "")]) assert.ok(!stored.includes(text), "nothing readable stored");
  });

  it("the phone is lost and the clinician is away: a new phone restores the earlier messages with the key", async () => {
    await clinician.page.close();
    await revokeClientPhone(admin.page);

    const fresh = await person(PHONE);
    const page = fresh.page;
    await page.goto(`${server.url}/login`);
    await login(page, CLIENT, { deviceName: "Mia's new phone" });
    await openConversation(page, CLINICIAN.name);
    // Nobody is online to hand the history over: the page says so, and where else it can come from.
    const notice = page.locator("#history-status");
    await notice.waitFor();
    assert.deepEqual(await texts(page), []);
    await notice.getByRole("link", { name: "Restore them from your history backup" }).click();
    await heading(page, "Your account");
    const card = page.locator("#history-backup");
    await card.getByText(/You have a history backup of 1 conversation/).waitFor();
    await check(page, "history-backup-restore");
    // A typo is caught before anything is fetched.
    const typo = recoveryKey.slice(0, 6) + (recoveryKey[6] === "A" ? "B" : "A") + recoveryKey.slice(7);
    await card.getByLabel("History recovery key").fill(typo);
    await card.getByRole("button", { name: "Restore earlier messages" }).click();
    await card.getByText(/not a history recovery key/).waitFor();
    // The key as a person types it: lower case, spaces.
    await card.getByLabel("History recovery key").fill(recoveryKey.toLowerCase().replaceAll("-", " "));
    await card.getByRole("button", { name: "Restore earlier messages" }).click();
    await card.getByText("History backup is on.").waitFor();

    await openConversation(page, CLINICIAN.name);
    await message(page, REPLIED).waitFor({ timeout: 20_000 });
    assert.deepEqual(await texts(page), [BEFORE, REPLIED]);
    for (const text of [BEFORE, REPLIED]) {
      assert.equal(await message(page, text).locator(".copy").textContent(), "copy from your history backup");
    }
    assert.equal(await message(page, REPLIED).locator(".sender").textContent(), "You");
    await page.locator("#history-status").waitFor({ state: "hidden" });
    await check(page, "history-restored");
  });
});

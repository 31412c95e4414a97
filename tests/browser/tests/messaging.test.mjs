// End-to-end encrypted messaging in Debian's Chromium against the real
// server, every MLS operation in the wasm module inside each page:
// a clinician (laptop) and a client (phone) go from invite links to a
// two-way conversation with live delivery both ways, sending states up to
// "Delivered", a reload that keeps history (from the sealed local state),
// the client's second device joining by itself (external commit) while the
// clinician is offline, getting the earlier messages handed over by the
// phone (end to end, marked as copies), and writing first, the clinician reading it on
// return, that device receiving both sides, and revocation: the
// second device reported lost from the first, its page wiping IndexedDB
// when it comes back, and the conversation going on without it; and a
// message sent while the client has no device left, which waits (and says
// so) until the client signs in again, then arrives — with the earlier
// messages handed over by the clinician's laptop, no device of the client
// being left to do it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { story } from "../lib/story.mjs";
import { reopen, PHONE, LAPTOP } from "../lib/browser.mjs";
import { check, openConversation, message, send, texts } from "../lib/conversation.mjs";
import { heading, registerStaff, registerClient, createInvite, login } from "../lib/flows.mjs";

const ADMIN = { name: "Ada Admin", login: "ada@example.test", password: "copper-kettle-meadow-19", device: "Office laptop" };
const CLINICIAN = { name: "Robin Clinician", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };

/** What the conversation holds before the client's second device joins. */
const EARLIER = [
  "Hello Sam, this is Robin. How are you today?",
  "Hi Robin, doing better this week.",
  "Good to hear. See you Thursday.",
  "Sent while offline.",
];

/** Waits for the message's sending state, or a later one ("sent" < "delivered" < "read"). */
async function waitState(page, text, state) {
  // A later state counts: a message read at once is never shown as delivered.
  const later = { sent: ".state-sent, .state-delivered, .state-read", delivered: ".state-delivered, .state-read" };
  const sel = later[state] || `.state-${state}`;
  await page.locator("#messages > li", { hasText: text }).locator(sel).waitFor({ timeout: 20_000 });
}

async function idbNames(page) {
  return page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
}

describe("end-to-end encrypted messaging in the browser", () => {
  const { server, person } = story();
  let admin, clinician, client, client2;
  let clinicianTotp;

  it("serves the wasm module as application/wasm", async () => {
    const r = await fetch(`${server.url}/wasm/alcove_wasm_bg.wasm`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "application/wasm");
    const js = await fetch(`${server.url}/wasm/alcove_wasm.js`);
    assert.equal(js.status, 200);
  });

  it("admin, clinician and client register from invite links", async () => {
    admin = await person(LAPTOP);
    await registerStaff(admin.page, server.setupLink, ADMIN);
    const clinicianLink = await createInvite(admin.page, "clinician");
    clinician = await person(LAPTOP);
    ({ totp: clinicianTotp } = await registerStaff(clinician.page, clinicianLink, CLINICIAN));
    const clientLink = await createInvite(clinician.page, "client");
    client = await person(PHONE);
    await registerClient(client.page, clientLink, CLIENT);
    await client.page.getByText("Connected securely.").waitFor();
  });

  it("clinician starts a conversation and sends the first message; the client gets it live", async () => {
    const page = clinician.page;
    await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(page, "Conversations");
    await page.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await check(page, "clinician-conversations");
    await page.getByRole("button", { name: "Start conversation" }).click();
    await heading(page, `Conversation with ${CLIENT.name}`);
    assert.equal(await page.title(), "Conversation · Alcove", "no name in the title");
    assert.ok(!page.url().includes("Sam"), "no name in the URL");
    await send(page, "Hello Sam, this is Robin. How are you today?");
    await waitState(page, "Hello Sam", "sent");

    // The client's list shows it unread, live (no reload).
    const c = client.page;
    await c.locator("#conversations").getByText("1 unread").waitFor({ timeout: 20_000 });
    await check(c, "client-conversations-phone");
    await openConversation(c, CLINICIAN.name);
    await message(c, "Hello Sam, this is Robin.").waitFor();
    // The client's device sent a delivery receipt.
    await waitState(page, "Hello Sam", "delivered");
    await check(page, "clinician-conversation");
  });

  it("client replies; the clinician sees it live; both ways again", async () => {
    await send(client.page, "Hi Robin, doing better this week.");
    await waitState(client.page, "doing better", "delivered");
    await message(clinician.page, "doing better this week").waitFor();
    await send(clinician.page, "Good to hear. See you Thursday.");
    await message(client.page, "See you Thursday").waitFor();
    await check(client.page, "client-conversation-phone");
  });

  it("a send that fails shows 'Not sent' and goes through with Retry", async () => {
    const page = clinician.page;
    await clinician.context.setOffline(true);
    await send(page, "Sent while offline.");
    await waitState(page, "Sent while offline.", "failed");
    await check(page, "clinician-send-failed");
    await clinician.context.setOffline(false);
    await message(page, "Sent while offline.").getByRole("button", { name: "Retry sending" }).click();
    await waitState(page, "Sent while offline.", "sent");
    await message(client.page, "Sent while offline.").waitFor();
    // Offline requests log network errors in the console; nothing else may.
    const offline = /ERR_INTERNET_DISCONNECTED|WebSocket connection/;
    clinician.problems.splice(0, clinician.problems.length, ...clinician.problems.filter((p) => !offline.test(p)));
  });

  it("a reload keeps the history (sealed in IndexedDB, opened with the unlock share)", async () => {
    const c = client.page;
    await c.reload();
    await heading(c, `Conversation with ${CLINICIAN.name}`);
    await message(c, "See you Thursday").waitFor();
    assert.deepEqual(await texts(c), EARLIER);
    // Nothing readable is stored: the database holds sealed blobs only.
    const plain = await c.evaluate(
      () =>
        new Promise((resolve) => {
          const req = indexedDB.open("alcove");
          req.onsuccess = () => {
            const t = req.result.transaction("devices").objectStore("devices").getAll();
            t.onsuccess = () => {
              const dec = new TextDecoder("latin1");
              resolve(t.result.map((r) => dec.decode(r.history) + dec.decode(r.state)).join(""));
              req.result.close();
            };
          };
        }),
    );
    assert.ok(plain.length > 100);
    assert.ok(!plain.includes("Thursday") && !plain.includes("Robin"), "no plaintext in IndexedDB");
  });

  it("the client's second device joins by itself while the clinician is offline, and writes first", async (t) => {
    // The clinician's laptop is closed: no device of the clinician could add
    // the new one (and the phone adds devices only before its own sends).
    await clinician.page.close();
    client2 = await person(LAPTOP);
    const page = client2.page;
    await page.goto(`${server.url}/login`);
    await login(page, CLIENT, { deviceName: "Home laptop" });
    const signedIn = Date.now();
    await openConversation(page, CLINICIAN.name);
    // GroupInfo from the server → external commit → accepted: Send enabled.
    await page.locator("form.composer button[type=submit]:enabled").waitFor({ timeout: 10_000 });
    const joinMs = Date.now() - signedIn;
    t.diagnostic(`signed in → Send enabled in ${joinMs} ms`);
    assert.equal(await page.locator("#join-status").isHidden(), true, "no waiting notice once joined");
    // MLS gives a joining device no earlier messages; the phone (the same
    // person's device, open) hands its copy over inside the conversation,
    // end to end, and the laptop marks each message as a copy.
    await message(page, "Sent while offline.").waitFor({ timeout: 20_000 });
    assert.deepEqual(await texts(page), EARLIER, "the earlier messages, in order");
    for (const text of EARLIER) {
      assert.equal(await message(page, text).locator(".copy").textContent(), "copy from your other device");
    }
    assert.equal(await message(page, "doing better").locator(".sender").textContent(), "You");
    await waitState(page, "doing better", "delivered"); // the phone's state of its own message came along
    await page.locator("#history-status").waitFor({ state: "hidden" });
    // What the phone had read stays read.
    await page.getByRole("link", { name: "← All conversations" }).click();
    await heading(page, "Conversations");
    assert.equal(await page.locator("#conversations").getByText(/unread/).count(), 0, "nothing old counted unread");
    await openConversation(page, CLINICIAN.name);
    // The server stored the handover as ciphertext it cannot open: none of
    // the texts is in its files.
    const stored = readdirSync(server.dataDir, { withFileTypes: true })
      .filter((f) => f.isFile())
      .map((f) => readFileSync(path.join(server.dataDir, f.name), "latin1"))
      .join("");
    for (const text of EARLIER) assert.ok(!stored.includes(text), "no plaintext on the server");
    await send(page, "Written on my laptop before anyone else was online.");
    await waitState(page, "before anyone else was online", "sent");
    // The phone (same person, online) shows it as its own side, live.
    const onPhone = message(client.page, "before anyone else was online");
    await onPhone.waitFor();
    assert.equal(await onPhone.locator(".sender").textContent(), "You");
    await check(page, "client-second-device-joined");
  });

  it("the clinician comes back and reads the message the new device wrote", async () => {
    const page = await reopen(clinician);
    await page.goto(`${server.url}/`);
    await page.getByRole("heading", { level: 1, name: /^(Conversations|Sign in)$/ }).waitFor();
    if ((await page.getByRole("heading", { level: 1 }).textContent()) === "Sign in") {
      await login(page, CLINICIAN, { totp: clinicianTotp });
    }
    await openConversation(page, CLIENT.name);
    // Decrypted here: the new device's external commit, then its message.
    const m = message(page, "before anyone else was online");
    await m.waitFor({ timeout: 20_000 });
    assert.equal(await m.locator(".sender").textContent(), CLIENT.name);
    assert.deepEqual((await texts(page)).slice(0, 4), [
      "Hello Sam, this is Robin. How are you today?",
      "Hi Robin, doing better this week.",
      "Good to hear. See you Thursday.",
      "Sent while offline.",
    ], "the clinician's history survived closing the tab");
    // The clinician's receipt reaches the new device.
    await waitState(client2.page, "before anyone else was online", "delivered");
  });

  it("the client's second device receives both sides", async () => {
    // (Its socket is up: the receipt above reached it live.)
    await send(clinician.page, "Message for all your devices.");
    await waitState(clinician.page, "all your devices", "sent");
    await message(client2.page, "Message for all your devices.").waitFor({ timeout: 20_000 });
    await message(client.page, "Message for all your devices.").waitFor();
    // The first device replies; the second sees it as its own side.
    await send(client.page, "Got it on both.");
    await message(client2.page, "Got it on both.").waitFor();
    await message(clinician.page, "Got it on both.").waitFor();
    const own = message(client2.page, "Got it on both.");
    assert.equal(await own.locator(".sender").textContent(), "You");
    await check(client2.page, "client-second-device");
  });

  it("'I lost this device' from the first device; the lost device wipes itself when it comes back", async () => {
    assert.ok((await idbNames(client2.page)).includes("alcove"), "the second device has local state");
    // The lost laptop is closed (offline) when it is reported.
    const lostContext = client2.context;
    await client2.page.close();

    const c = client.page;
    await c.getByRole("navigation").getByRole("link", { name: "Devices" }).click();
    await heading(c, "Devices");
    const laptop = c.locator("#devices > li", { hasText: "Home laptop" });
    await laptop.getByRole("button", { name: "I lost this device" }).click();
    await laptop.getByText(/Report “Home laptop” as lost\?/).waitFor();
    // What cannot be undone looks it: the confirming button is red, not
    // the accent green of an ordinary "continue".
    const yes = laptop.getByRole("button", { name: "Yes, I lost it" });
    assert.equal(await yes.evaluate((el) => getComputedStyle(el).backgroundColor), "rgb(163, 42, 42)");
    await check(c, "client-devices-confirm-lost");
    await laptop.getByRole("button", { name: "Yes, I lost it" }).click();
    await laptop.locator(".badge.revoked").waitFor();

    // It comes back: the server says device_revoked; the page wipes IndexedDB
    // and says so in plain words.
    const back = await lostContext.newPage();
    const problems = [];
    back.on("pageerror", (err) => problems.push(err.message));
    await back.goto(`${server.url}/`);
    await heading(back, "Sign in");
    await back.getByText(/has been signed out of Alcove/).waitFor();
    await back.getByText(/Everything Alcove kept in this browser has been erased/).waitFor();
    await back.waitForFunction(async () => (await indexedDB.databases()).length === 0, null, { timeout: 10_000 });
    assert.equal(await back.evaluate(() => localStorage.getItem("alcove.device_id")), null);
    await check(back, "lost-device-wiped");
    assert.deepEqual(problems, []);

    // The conversation goes on without it: the next send commits the
    // server's Remove proposal first.
    await send(clinician.page, "After the lost laptop.");
    await waitState(clinician.page, "After the lost laptop.", "delivered");
    await openConversation(c, CLINICIAN.name);
    await message(c, "After the lost laptop.").waitFor();
  });

  it("admin page lists the practice's devices and people", async () => {
    const page = admin.page;
    await page.getByRole("navigation").getByRole("link", { name: "Administration" }).click();
    await heading(page, "Administration");
    await page.locator("#admin-devices > li", { hasText: "Home laptop" }).getByText("Lost").waitFor();
    await page.locator("#admin-users > li", { hasText: CLIENT.name }).getByRole("button", { name: "Deactivate user" }).waitFor();
    await check(page, "admin-devices");
  });

  it("an admin revokes a device whose page is open: the socket closes and the page wipes itself at once", async () => {
    const c = client.page;
    assert.ok((await idbNames(c)).includes("alcove"));
    const page = admin.page;
    const phone = page.locator("#admin-devices > li", { hasText: CLIENT.device });
    await phone.getByRole("button", { name: "Revoke device" }).click();
    await phone.getByRole("button", { name: "Yes, revoke it" }).click();
    await phone.locator(".badge.revoked").waitFor();
    // No reload, no click: the socket's 4001 "revoked" close does it.
    await heading(c, "Sign in");
    await c.getByText(/Everything Alcove kept in this browser has been erased/).waitFor();
    await c.waitForFunction(async () => (await indexedDB.databases()).length === 0, null, { timeout: 10_000 });
  });

  it("a message sent while the client has no device says it waits, and arrives when the client signs in again", async () => {
    // The phone is revoked and the laptop reported lost: no device of the
    // client is left in the conversation. "Sent" would mislead the clinician.
    const text = "Your Thursday appointment moved to 4 pm.";
    await send(clinician.page, text);
    const mine = message(clinician.page, text);
    await mine.locator(".state-waiting").waitFor({ timeout: 20_000 });
    assert.equal((await mine.locator(".state").textContent()).trim(), `Waiting for ${CLIENT.name}'s device`);
    await check(clinician.page, "clinician-message-waiting");

    // The client signs in on a new phone. It joins by itself; the
    // clinician's open page sees the join and encrypts the message again
    // for the new epoch.
    const phone = await person(PHONE);
    await phone.page.goto(`${server.url}/login`);
    await login(phone.page, CLIENT, { deviceName: "New phone" });
    await openConversation(phone.page, CLINICIAN.name);
    await message(phone.page, text).waitFor({ timeout: 20_000 });
    assert.equal(await message(phone.page, text).count(), 1, "shown once");
    assert.equal(await message(phone.page, text).locator(".sender").textContent(), CLINICIAN.name);

    // No device of the client was left to hand the earlier messages over:
    // the clinician's open laptop did, marked as its copy — the client's
    // own words included.
    const earlier = message(phone.page, "Hi Robin, doing better this week.");
    await earlier.waitFor({ timeout: 20_000 });
    assert.equal(await earlier.locator(".sender").textContent(), "You");
    assert.equal(await earlier.locator(".copy").textContent(), `copy from ${CLINICIAN.name}'s device`);
    assert.deepEqual((await texts(phone.page)).slice(0, 4), EARLIER, "in the conversation's order");
    await phone.page.locator("#history-status").waitFor({ state: "hidden" });

    // The clinician sees that it arrived, and when.
    await waitState(clinician.page, text, "delivered");
    assert.match(await mine.locator(".state").textContent(), /^(Delivered|Read) · arrived /);
    assert.equal(await message(clinician.page, text).count(), 1, "the clinician's copy is not doubled");
  });
});

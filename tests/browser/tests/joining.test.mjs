// A device joining a conversation by itself (external commit), against the
// real server, with the refusals a client must survive injected at the
// network layer (Playwright routes; the socket is untouched):
// - a `409 stale_epoch` on the join (another commit won the epoch): the
//   device forgets its optimistic state, fetches the GroupInfo again and
//   joins on the next attempt;
// - `404 group_info_missing`, then `403 join_not_allowed`: the device says
//   in plain words what it waits for, keeps Send disabled, and is added by
//   the clinician's next send (Welcome) as the fallback.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { story } from "../lib/story.mjs";
import { PHONE, LAPTOP } from "../lib/browser.mjs";
import { heading, registerStaff, registerClient, createInvite, login } from "../lib/flows.mjs";

const ADMIN = { name: "Ada Admin", login: "ada@example.test", password: "copper-kettle-meadow-19", device: "Office laptop" };
const CLINICIAN = { name: "Robin Clinician", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };

const COMMITS = "**/api/v1/conversations/*/commits";
const GROUP_INFO = "**/api/v1/conversations/*/group-info";

const message = (page, text) => page.locator("#messages > li", { hasText: text });
const sendButton = (page) => page.locator("form.composer button[type=submit]");
const sendEnabled = (page) => page.locator("form.composer button[type=submit]:enabled");
const joinNotice = (page, text) => page.locator("#join-status", { hasText: text });

async function openConversation(page, otherName) {
  await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
  await heading(page, "Conversations");
  await page.locator("#conversations").getByRole("link", { name: new RegExp(otherName) }).click();
  await heading(page, `Conversation with ${otherName}`);
}

async function send(page, text) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
  await message(page, text).waitFor();
}

async function waitSent(page, text) {
  await message(page, text).locator(".state-sent, .state-delivered, .state-read").waitFor({ timeout: 20_000 });
}

const refusal = (status, error, extra = {}) => ({
  status,
  contentType: "application/json",
  body: JSON.stringify({ error, message: `injected ${error}`, ...extra }),
});

describe("joining a conversation by external commit", () => {
  const { server, person } = story();
  let clinician, client;

  it("a clinician and a client hold a conversation", async () => {
    const admin = await person(LAPTOP);
    await registerStaff(admin.page, server.setupLink, ADMIN);
    const clinicianLink = await createInvite(admin.page, "clinician");
    clinician = await person(LAPTOP);
    await registerStaff(clinician.page, clinicianLink, CLINICIAN);
    const clientLink = await createInvite(clinician.page, "client");
    client = await person(PHONE);
    await registerClient(client.page, clientLink, CLIENT);
    await client.page.getByText("Connected securely.").waitFor();

    const page = clinician.page;
    await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(page, "Conversations");
    await page.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await page.getByRole("button", { name: "Start conversation" }).click();
    await heading(page, `Conversation with ${CLIENT.name}`);
    await send(page, "Hello Sam.");
    await waitSent(page, "Hello Sam.");
    await openConversation(client.page, CLINICIAN.name);
    await message(client.page, "Hello Sam.").waitFor({ timeout: 20_000 });
  });

  it("a join that loses the epoch (409 stale_epoch) is retried with a fresh GroupInfo", async () => {
    const laptop = await person(LAPTOP);
    const posted = [];
    await laptop.context.route(COMMITS, (route) => {
      posted.push(JSON.parse(route.request().postData()));
      if (posted.length === 1) return route.fulfill(refusal(409, "stale_epoch", { current_epoch: 1 }));
      return route.continue();
    });
    const page = laptop.page;
    await page.goto(`${server.url}/login`);
    await login(page, CLIENT, { deviceName: "Home laptop" });
    await openConversation(page, CLINICIAN.name);
    await sendEnabled(page).waitFor({ timeout: 10_000 });
    assert.equal(posted.length, 2, "the refused join, then the accepted one");
    for (const body of posted) {
      assert.ok(body.commit && body.group_info, "an external commit carries its GroupInfo");
      assert.ok(!("added" in body) && !("removed_leaves" in body), "no declared membership");
      assert.ok(!body.welcome, "no Welcome");
    }
    assert.notEqual(posted[0].commit, posted[1].commit, "the second attempt is a new commit");
    await laptop.context.unroute(COMMITS);
    await send(page, "From the laptop, after a lost race.");
    await waitSent(page, "after a lost race");
    await message(clinician.page, "after a lost race").waitFor({ timeout: 20_000 });
  });

  it("a device the server does not let in says what it waits for, and is added by Welcome", async () => {
    const tablet = await person(LAPTOP);
    await tablet.context.route(GROUP_INFO, (route) => route.fulfill(refusal(404, "group_info_missing")));
    const page = tablet.page;
    await page.goto(`${server.url}/login`);
    await login(page, CLIENT, { deviceName: "Tablet" });
    await openConversation(page, CLINICIAN.name);
    const notice = page.locator("#join-status");
    await joinNotice(page, /not set up yet/).waitFor();
    assert.equal(await sendButton(page).isDisabled(), true);

    // The GroupInfo is there, but the server refuses the join.
    await tablet.context.unroute(GROUP_INFO);
    await tablet.context.route(COMMITS, (route) => route.fulfill(refusal(403, "join_not_allowed")));
    await openConversation(page, CLINICIAN.name);
    await joinNotice(page, /did not let this device join the conversation by itself/).waitFor();
    assert.equal(await sendButton(page).isDisabled(), true);
    await tablet.context.unroute(COMMITS);

    // The clinician's next send adds it (claim → add → Welcome).
    await send(clinician.page, "For every one of your devices.");
    await message(page, "For every one of your devices.").waitFor({ timeout: 20_000 });
    await sendEnabled(page).waitFor();
    assert.equal(await notice.isHidden(), true);
    await send(page, "The tablet is in.");
    await message(clinician.page, "The tablet is in.").waitFor({ timeout: 20_000 });
    // The injected 403s are logged by Chromium as failed loads; nothing else may be.
    tablet.problems.splice(0, tablet.problems.length, ...tablet.problems.filter((p) => !/status of 403/.test(p)));
  });
});

// The conversation view people expect, in Chromium on a phone: it opens at
// the newest message (and the sender sees "Read") and stays there as
// messages arrive; scrolled up to
// read, the page does not move under the reader — a "New messages" marker
// appears instead; the tab's title counts unread messages (a number only);
// and a long text is never cut: a counter says how close it is to the
// limit, and over it nothing is sent and the text stays whole in the box.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { story } from "../lib/story.mjs";
import { message, send } from "../lib/conversation.mjs";
import { axeScan, PHONE, LAPTOP } from "../lib/browser.mjs";
import { heading, registerStaff, registerClient, createInvite } from "../lib/flows.mjs";

const ADMIN = { name: "Ada Admin", login: "ada@example.test", password: "copper-kettle-meadow-19", device: "Office laptop" };
const CLINICIAN = { name: "Robin Clinician", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };

/** Whether the element is wholly inside the viewport and nothing covers
 * its middle (the sticky composer, say). */
async function inView(locator) {
  return locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) return false;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !!hit && el.contains(hit);
  });
}

describe("a conversation view people expect", () => {
  const { server, person } = story();
  let admin, clinician, client;

  it("the tab shows Alcove's icon", async () => {
    const r = await fetch(`${server.url}/favicon.svg`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("content-type"), "image/svg+xml");
    assert.match(await r.text(), /^<svg /);
  });

  it("a clinician writes 25 messages; the client's tab title counts them, a number only", async () => {
    admin = await person(LAPTOP);
    await registerStaff(admin.page, server.setupLink, ADMIN);
    clinician = await person(LAPTOP);
    await registerStaff(clinician.page, await createInvite(admin.page, "clinician"), CLINICIAN);
    client = await person(PHONE);
    const link = await createInvite(clinician.page, "client");
    // A reload while registering keeps the invitation (this tab only),
    // though the address bar no longer shows it.
    await client.page.goto(link);
    await heading(client.page, "Welcome to Alcove");
    await client.page.reload();
    await heading(client.page, "Welcome to Alcove");
    assert.equal(new URL(client.page.url()).hash, "", "the token stays out of the address bar");
    await registerClient(client.page, link, CLIENT);
    assert.equal(await client.page.evaluate(() => sessionStorage.getItem("alcove.invite")), null, "forgotten once redeemed");
    await client.page.getByText("Connected securely.").waitFor();

    const page = clinician.page;
    await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(page, "Conversations");
    await page.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await page.getByRole("button", { name: "Start conversation" }).click();
    await heading(page, `Conversation with ${CLIENT.name}`);
    for (let i = 1; i <= 25; i++) await send(page, `Note ${i} of 25: a line long enough to take some room on a phone.`);
    // The sender's own view follows its newest message.
    assert.ok(await inView(message(page, "Note 25 of 25")), "the sender sees their newest message");

    const c = client.page;
    await c.waitForFunction(() => document.title === "(25) Conversations · Alcove", null, { timeout: 20_000 });
    assert.ok(!(await c.title()).includes("Robin"), "no name in the title");
    // The list previews the newest text, decrypted on the phone.
    await c.locator("#conversations .preview").getByText("Note 25 of 25: a line long enough to take some room on a phone.").waitFor();
  });

  it("the client opens the conversation at the newest message, and reading clears the count", async () => {
    const c = client.page;
    await c.locator("#conversations").getByRole("link", { name: new RegExp(CLINICIAN.name) }).click();
    await heading(c, `Conversation with ${CLINICIAN.name}`);
    await message(c, "Note 25 of 25").waitFor();
    await c.waitForFunction(() => {
      const items = document.querySelectorAll("#messages > li");
      const el = items[items.length - 1];
      if (!el) return false;
      const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return r.top >= 0 && r.bottom <= window.innerHeight && !!hit && el.contains(hit);
    });
    assert.ok(!(await inView(message(c, "Note 1 of 25"))), "the oldest is above, out of view");
    await c.waitForFunction(() => document.title === "Conversation · Alcove");
    // Seen on the phone: the clinician's messages turn from Delivered to Read.
    await message(clinician.page, "Note 25 of 25").locator(".state-read").waitFor({ timeout: 20_000 });
    await message(clinician.page, "Note 1 of 25").locator(".state-read").waitFor();
  });

  it("a message arriving at the bottom stays in view; scrolled up, a marker appears instead", async () => {
    const c = client.page;
    await send(clinician.page, "Arriving while you are at the bottom.");
    await message(c, "Arriving while you are at the bottom.").waitFor();
    await c.waitForFunction(() => {
      const items = document.querySelectorAll("#messages > li");
      const r = items[items.length - 1].getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight;
    });
    assert.equal(await c.locator("#new-messages").isHidden(), true);

    // The client scrolls up to reread an older message.
    await c.evaluate(() => window.scrollTo({ top: 0 }));
    await c.waitForFunction(() => window.scrollY === 0);
    await send(clinician.page, "Arriving while you read further up.");
    await message(c, "Arriving while you read further up.").waitFor();
    const marker = c.getByRole("button", { name: "New messages ↓" });
    await marker.waitFor();
    assert.equal(await c.evaluate(() => window.scrollY), 0, "the page did not move under the reader");
    assert.ok(!(await inView(message(c, "Arriving while you read further up."))));
    const violations = await axeScan(c);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
    await marker.click();
    await c.waitForFunction(() => {
      const items = document.querySelectorAll("#messages > li");
      const r = items[items.length - 1].getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight;
    });
    assert.equal(await c.locator("#new-messages").isHidden(), true);
  });

  it("a long text is never cut: counted near the limit, refused over it, sent whole under it", async () => {
    const c = client.page;
    const box = c.getByLabel("Message", { exact: true });
    const counter = c.locator(".composer .counter");
    const sendButton = c.locator("form.composer button[type=submit]");

    // Pasted at once, 100 characters over the limit.
    const tooLong = "x".repeat(4100);
    await box.fill(tooLong);
    await counter.getByText("Too long by 100 characters").waitFor();
    assert.equal((await box.inputValue()).length, 4100, "nothing was cut");
    assert.equal(await sendButton.isDisabled(), true);
    const before = await c.locator("#messages > li").count();
    await box.press("Enter");
    await c.getByRole("alert").getByText("Too long by 100 characters").waitFor();
    assert.equal(await c.locator("#messages > li").count(), before, "nothing was sent");
    assert.equal((await box.inputValue()).length, 4100, "still whole in the box");

    // Shortened under the limit: counted, sent, and received whole.
    const fits = `${"y".repeat(3989)} the end.`;
    await box.fill(fits);
    await counter.getByText("3,998 of 4,000 characters").waitFor();
    assert.equal(await sendButton.isEnabled(), true);
    await box.press("Enter");
    await c.locator("#messages > li .state-sent, #messages > li .state-delivered, #messages > li .state-read").last().waitFor();
    const received = message(clinician.page, "the end.");
    await received.waitFor({ timeout: 20_000 });
    const text = (await received.locator(".text").textContent()).trim();
    assert.equal(text.length, fits.length, "received whole");
    assert.equal(await counter.isHidden(), true, "the counter goes with the sent text");
  });

  it("after the clinician leaves the practice, the client reads the history but is told nothing more can be sent", async () => {
    const a = admin.page;
    await a.getByRole("navigation").getByRole("link", { name: "Administration" }).click();
    await heading(a, "Administration");
    const card = a.locator("li.card", { hasText: CLINICIAN.name });
    await card.getByRole("button", { name: "Deactivate user" }).click();
    await card.getByRole("button", { name: "Yes, deactivate" }).click();
    await card.getByText("Deactivated").waitFor();

    const c = client.page;
    await c.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(c, "Conversations");
    await c.locator("#conversations").getByText("No longer with the practice").waitFor({ timeout: 20_000 });
    await c.locator("#conversations").getByRole("link", { name: new RegExp(CLINICIAN.name) }).click();
    await heading(c, `Conversation with ${CLINICIAN.name}`);
    await c.locator("#conversation-closed").getByText("is no longer with the practice").waitFor();
    await message(c, "Note 1 of 25").waitFor();
    assert.equal(await c.getByLabel("Message", { exact: true }).isDisabled(), true, "nothing can be written");
    assert.equal(await c.locator("form.composer button[type=submit]").isDisabled(), true);
    const violations = await axeScan(c);
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
  });
});

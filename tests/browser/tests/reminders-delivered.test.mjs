// Reminders going out, in Debian's Chromium against the real server whose
// clock the test moves (its `testing.clock_file`), with a real SMTP server
// process and a real HTTP server standing in for the SMS gateway: the client
// says how they may be reminded; the clinician schedules a weekly
// appointment; when "2 hours before" comes, one reminder arrives by email
// and by text, saying nothing of what it is for; the client confirms by
// replying C and by tapping in the app, and the clinician's page (never
// reloaded) shows both; a message left unread while the client is away
// brings one "You have a new secure message" text; once the client allows
// no way to reach them, the next reminder is withheld and the clinician sees
// why. This is the "done when", end to end.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { story } from "../lib/story.mjs";
import { axeScan, screenshot, reopen } from "../lib/browser.mjs";
import { heading, registerPractice } from "../lib/flows.mjs";
import { startSmtpSink, startGateway, channelEnv, serverClock, replyBySms, until, SMS_ACCOUNT, SMS_FROM } from "../lib/channels.mjs";

const ADMIN = { name: "Avery Admin", login: "avery@example.test", password: "granite-willow-parcel-58", device: "Office laptop" };
const CLINICIAN = { name: "Robin Okafor", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };
const EMAIL = "sam.private@mail.example";
const PHONE_NUMBER = "+15555550123";
const ZONE = "America/New_York";
const WEEK = 7 * 86_400;

/** Words a reminder must never carry off the encrypted channel. */
const NEVER = [CLIENT.name, "Sam", CLINICIAN.name, "Okafor", "Robin", "therap", "counsel", "session", "LCSW"];

function assertPhiFree(text, what) {
  for (const word of NEVER) assert.ok(!text.toLowerCase().includes(word.toLowerCase()), `${what} carries “${word}”: ${text}`);
}

/** The wall-clock date and time of `unixSecs` in `zone`, as inputs want them. */
function localParts(unixSecs, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(new Date(unixSecs * 1000))
      .map((p) => [p.type, p.value]),
  );
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

async function check(page, name) {
  const violations = await axeScan(page);
  assert.deepEqual(violations, [], `axe found serious/critical problems on ${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

/** The API as the signed-in page sees it. */
const apiGet = (page, path) => page.evaluate((p) => fetch(`/api/v1${p}`).then((r) => r.json()), path);

describe("reminders delivered", () => {
  const clock = serverClock();
  let smtp, gateway;
  const { server, person } = story(async () => {
    smtp = await startSmtpSink();
    gateway = await startGateway();
    const long = String(60 * 86_400);
    return {
      env: {
        ...channelEnv(smtp, gateway),
        ...clock.env,
        // The story moves the clock weeks ahead; the people stay signed in
        // across it (idle timeouts are another story's).
        ALCOVE_AUTH__STAFF_IDLE_TIMEOUT_SECS: long,
        ALCOVE_AUTH__CLIENT_IDLE_TIMEOUT_SECS: long,
        ALCOVE_AUTH__SESSION_LIFETIME_SECS: long,
      },
    };
  });
  after(async () => {
    if (smtp) await smtp.stop();
    if (gateway) await gateway.stop();
    clock.remove();
  });

  let admin, clinician, client;
  let reminders;

  it("admin, clinician and the clinician's client register", async () => {
    ({ admin, clinician, client } = await registerPractice(person, server.setupLink, { admin: ADMIN, clinician: CLINICIAN, client: CLIENT }));
  });

  it("the client allows email and text, two hours before", async () => {
    const page = client.page;
    await page.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(page, "Appointments and reminders");
    const form = page.locator("#preferences-form");
    await form.getByLabel("Remind me by email").check();
    await form.getByLabel("Email address").fill(EMAIL);
    await form.getByLabel("Remind me by text message").check();
    await form.getByLabel("Mobile number").fill(PHONE_NUMBER);
    for (const other of ["One week before", "Two days before", "One day before"]) await form.getByLabel(other).uncheck();
    await form.getByLabel("Two hours before").check();
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved. We will remind you only this way.").waitFor();
  });

  it("the clinician schedules a weekly appointment three hours from now", async () => {
    const page = clinician.page;
    await page.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(page, "Reminders");
    const startsAt = Math.ceil((Date.now() / 1000 + 3 * 3600) / 300) * 300;
    const at = localParts(startsAt, ZONE);
    const form = page.locator("#schedule-form");
    await form.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await form.getByLabel("Date", { exact: true }).fill(at.date);
    await form.getByLabel("Time", { exact: true }).fill(at.time);
    await form.getByLabel("Client's time zone").fill(ZONE);
    await form.getByLabel("Repeats").selectOption("1");
    await form.getByLabel("How many times in all").fill("3");
    await form.getByRole("button", { name: "Schedule" }).click();
    await page.getByText("Appointment scheduled, 3 times.").waitFor();
    // One reminder per time (two hours before each), waiting.
    await page.waitForFunction(() => document.querySelectorAll('#reminder-list > li[data-status="pending"]').length === 3);
    reminders = (await apiGet(page, "/reminders")).sort((a, b) => a.due_at - b.due_at);
    assert.deepEqual(
      reminders.map((r) => [r.lead_minutes, r.starts_at - startsAt]),
      [
        [120, 0],
        [120, WEEK],
        [120, 2 * WEEK],
      ],
    );
  });

  it("two hours before, one reminder arrives by email and by text, saying only when; the clinician sees it live", async () => {
    clock.moveTo(reminders[0].due_at + 1);
    const [mail] = await until(() => smtp.messages(), (m) => m.length >= 1, "the email reminder");
    const [sms] = await until(() => gateway.posted(), (p) => p.length >= 1, "the text reminder");
    assert.match(mail, new RegExp(`^To: .*${EMAIL.replace(/\./g, "\\.")}`, "mi"));
    assert.match(mail, /^Message-ID: <[^>]+\.email@/im);
    assertPhiFree(mail.replace(EMAIL, ""), "the email");
    assert.equal(sms.account, SMS_ACCOUNT);
    assert.equal(sms.form.To, PHONE_NUMBER);
    assert.equal(sms.form.From, SMS_FROM);
    assertPhiFree(sms.form.Body, "the text");
    // It says when, in the client's zone.
    const { time } = localParts(reminders[0].starts_at, ZONE);
    const [hh, mm] = time.split(":").map(Number);
    const twelve = `${((hh + 11) % 12) + 1}:${String(mm).padStart(2, "0")}`;
    assert.ok(sms.form.Body.includes(twelve), `the text names ${twelve}: ${sms.form.Body}`);
    // The clinician's page, open all along, shows it went, and how (never
    // to what address), without a reload.
    const page = clinician.page;
    const sent = page.locator('#reminder-list > li[data-status="sent"]');
    await sent.first().waitFor();
    assert.match(await sent.first().innerText(), /Sent · by (email and sms|sms and email)/);
    assert.ok(!(await page.locator("#reminder-list").innerText()).includes(PHONE_NUMBER));
    await check(page, "reminders-sent");
  });

  it("the client confirms by replying C; the clinician's page shows it live", async () => {
    const page = clinician.page;
    // A reply not signed by the gateway changes nothing.
    const forged = await replyBySms(server.url, PHONE_NUMBER, "C", { sign: false });
    assert.equal(forged.status, 403);
    assert.equal((await forged.json()).error, "bad_signature");
    const res = await replyBySms(server.url, PHONE_NUMBER, "c");
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<Message>[^<]+<\/Message>/);
    await page.waitForFunction(() => document.querySelectorAll('#appointment-list > li[data-status="confirmed"]').length === 1);
    assert.match(await page.locator("#appointment-list > li").first().getAttribute("data-status"), /confirmed/);
  });

  it("the client confirms the next one in the app; the clinician sees that too", async () => {
    const page = client.page;
    await page.reload();
    await heading(page, "Appointments and reminders");
    const list = page.locator("#appointment-list > li");
    await until(() => list.count(), (n) => n === 3, "the client's three appointments");
    assert.equal(await list.nth(0).getAttribute("data-status"), "confirmed");
    await list.nth(1).getByRole("button", { name: "Confirm" }).click();
    await page.getByText("Thank you — your appointment is confirmed.").waitFor();
    await clinician.page.waitForFunction(() => document.querySelectorAll('#appointment-list > li[data-status="confirmed"]').length === 2);
    await check(page, "appointments-client-confirmed");
  });

  it("a message left unread while the client is away brings one PHI-free text", async () => {
    // The client closes the app: no socket of theirs is open.
    await client.page.close();
    const page = clinician.page;
    await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(page, "Conversations");
    await page.locator("#conversations").getByRole("link", { name: new RegExp(CLIENT.name) }).click();
    await heading(page, `Conversation with ${CLIENT.name}`);
    const box = page.getByLabel("Message", { exact: true });
    await box.fill("Your forms are ready to look over before we meet.");
    await box.press("Enter");
    await page.locator("#messages > li", { hasText: "Your forms are ready" }).locator(".state-sent, .state-delivered, .state-waiting").first().waitFor();
    const before = gateway.posted().length;
    clock.moveTo(clock.now() + 16 * 60);
    const posted = await until(() => gateway.posted(), (p) => p.length > before, "the new-message text");
    const nudge = posted[before];
    assert.equal(nudge.form.To, PHONE_NUMBER);
    assert.match(nudge.form.Body, /new secure message/i);
    assertPhiFree(nudge.form.Body, "the new-message text");
    assert.ok(!nudge.form.Body.includes("forms"), "the text says nothing of the message");
    // By text only (the client's first allowed channel), and only once.
    assert.equal(smtp.messages().length, 1);
    // The client comes back and reads it.
    await reopen(client);
    await client.page.goto(`${server.url}/`);
    await heading(client.page, "Conversations");
    await client.page.locator("#conversations").getByRole("link", { name: new RegExp(CLINICIAN.name) }).click();
    await client.page.locator("#messages > li", { hasText: "Your forms are ready to look over before we meet." }).waitFor();
  });

  it("once the client allows no way to reach them, the next reminder is withheld and the clinician sees why", async () => {
    const page = client.page;
    await page.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(page, "Appointments and reminders");
    const form = page.locator("#preferences-form");
    await form.getByLabel("Remind me by email").uncheck();
    await form.getByLabel("Remind me by text message").uncheck();
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved. We will remind you only this way.").waitFor();
    const sentBefore = [gateway.posted().length, smtp.messages().length];
    // The third time (the second is confirmed) comes round.
    const staff = clinician.page;
    const third = (await apiGet(staff, "/reminders")).find((r) => r.occurrence_id === reminders[2].occurrence_id && r.status === "pending");
    assert.ok(third, "the third time's reminder is still waiting");
    clock.moveTo(third.due_at + 1);
    await until(
      () => apiGet(staff, "/reminders"),
      (rs) => rs.some((r) => r.id === third.id && r.status === "withheld"),
      "the withheld reminder",
    );
    await staff.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(staff, "Reminders");
    const withheld = staff.locator('#reminder-list > li[data-status="withheld"]');
    await withheld.first().waitFor();
    assert.match(await withheld.first().innerText(), /Withheld[\s\S]*Why: the client allows no way to reach them/);
    assert.deepEqual([gateway.posted().length, smtp.messages().length], sentBefore, "nothing went another way");
    await check(staff, "reminders-withheld");
  });
});

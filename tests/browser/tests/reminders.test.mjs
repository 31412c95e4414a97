// Reminders in Debian's Chromium against the real server: a clinician
// schedules a weekly appointment for their client and sees its reminders
// planned; the admin's wording editor refuses a word that discloses the
// kind of care, with the reason, and shows what a lock screen would show;
// the client, on a phone, says how they may be reminded and confirms an
// appointment; the clinician sees it confirmed. Accessible (axe) on each.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { story } from "../lib/story.mjs";
import { axeScan, screenshot } from "../lib/browser.mjs";
import { heading, registerPractice } from "../lib/flows.mjs";

const ADMIN = { name: "Avery Admin", login: "avery@example.test", password: "granite-willow-parcel-58", device: "Office laptop" };
const CLINICIAN = { name: "Robin Okafor", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };

async function check(page, name) {
  const violations = await axeScan(page);
  assert.deepEqual(violations, [], `axe found serious/critical problems on ${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

/** A date `days` from today, as a date input wants it. */
function isoDate(days) {
  const d = new Date(Date.now() + days * 86_400_000);
  return d.toISOString().slice(0, 10);
}

describe("reminders", () => {
  const { server, person } = story();
  let admin, clinician, client;

  it("admin, clinician and the clinician's client register", async () => {
    ({ admin, clinician, client } = await registerPractice(person, server.setupLink, { admin: ADMIN, clinician: CLINICIAN, client: CLIENT }));
  });

  it("the clinician schedules a weekly appointment and sees its reminders planned", async () => {
    const page = clinician.page;
    await page.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(page, "Reminders");
    const form = page.locator("#schedule-form");
    await form.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await form.getByLabel("Date", { exact: true }).fill(isoDate(10));
    await form.getByLabel("Time", { exact: true }).fill("15:00");
    await form.getByLabel("Client's time zone").fill("America/New_York");
    await form.getByLabel("Repeats").selectOption("1");
    await form.getByLabel("How many times in all").fill("3");
    await form.getByLabel("Where").selectOption("telehealth");
    await form.getByRole("button", { name: "Schedule" }).click();
    await page.getByText("Appointment scheduled, 3 times.").waitFor();
    // The announcement can come before the lists are drawn again: wait for
    // them (under load they lag).
    const appointments = page.locator('#appointment-list > li[data-status="scheduled"]');
    await page.waitForFunction(() => document.querySelectorAll('#appointment-list > li[data-status="scheduled"]').length === 3);
    assert.match(await appointments.first().innerText(), /3:00\s?PM/);
    // Two reminders each (48 h and 2 h before), waiting.
    await page.waitForFunction(() => document.querySelectorAll('#reminder-list > li[data-status="pending"]').length === 6);
    // The clinician reads the wording but does not change it.
    assert.equal(await page.getByRole("button", { name: "Save wording" }).count(), 0);
    await check(page, "reminders-clinician");
  });

  it("the admin's wording editor refuses a word that discloses care, with the reason", async () => {
    const page = admin.page;
    await page.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(page, "Reminders");
    // An admin can schedule for any client, naming the clinician.
    const schedule = page.locator("#schedule-form");
    assert.deepEqual(await schedule.getByLabel("Client", { exact: true }).locator("option").allTextContents(), [CLIENT.name]);
    assert.deepEqual(await schedule.getByLabel("Clinician", { exact: true }).locator("option").allTextContents(), [CLINICIAN.name]);
    // Reminder times read in the client's zone, as the appointments do.
    assert.match(await page.locator('#reminder-list > li[data-status="pending"]').first().innerText(), /3:00\s?PM/);
    await page.getByText("This wording passes").waitFor();
    const sms = page.getByLabel("Text message", { exact: true });
    await sms.fill("{sender}: your therapy session is {weekday} at {time}.");
    const refusal = page.locator("#template-findings [role=alert]");
    await refusal.waitFor();
    const text = await refusal.innerText();
    assert.match(text, /“therapy” discloses the kind of care/);
    assert.match(text, /“session” discloses the kind of care/);
    await page.getByRole("button", { name: "Save wording" }).click();
    await page.locator("#template-form .form-error", { hasText: "the template was refused" }).waitFor();
    await sms.fill("{sender}: see you {weekday} at {time}. Reply {confirm} to confirm or {cancel} to cancel.");
    await page.getByText("This wording passes").waitFor();
    assert.match(await page.locator("#sms-lockscreen").innerText(), /^Appointment reminder: see you Wednesday at 12:00 PM/);
    await page.getByRole("button", { name: "Save wording" }).click();
    await page.getByText("Your practice's wording, version 1.").waitFor();
    await check(page, "reminders-admin-wording");
  });

  it("the client says how to be reminded and confirms an appointment, on a phone", async () => {
    const page = client.page;
    await page.goto(`${server.url}/reminders`);
    await heading(page, "Appointments and reminders");
    const form = page.locator("#preferences-form");
    await form.getByLabel("Remind me by email").check();
    await form.getByLabel("Email address").fill("sam.private@example.org");
    await form.getByLabel("No reminders from").fill("21:00");
    await form.getByLabel("until").fill("08:00");
    await form.getByLabel("Two hours before").uncheck();
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved. We will remind you only this way.").waitFor();
    const first = page.locator("#appointment-list > li").first();
    await first.getByRole("button", { name: /^Confirm/ }).click();
    await page.getByText("Thank you — your appointment is confirmed.").waitFor();
    await page.locator('#appointment-list > li[data-status="confirmed"]').waitFor();
    await check(page, "reminders-client-phone");
  });

  it("the clinician sees the appointment confirmed and the plan changed", async () => {
    const page = clinician.page;
    await page.reload();
    await heading(page, "Reminders");
    assert.equal(await page.locator('#appointment-list > li[data-status="confirmed"]').count(), 1);
    // One lead now (48 h), three appointments: three waiting, three withdrawn.
    assert.equal(await page.locator('#reminder-list > li[data-status="pending"]').count(), 3);
    assert.match(await page.locator('#reminder-list > li[data-status="withdrawn"]').first().innerText(), /client's preferences changed/);
  });

  it("the clinician moves the weekly series an hour later, from its next time on", async () => {
    const page = clinician.page;
    // Only the series' next time offers to move it (a later one would take
    // the earlier ones along).
    const open = page.locator('#appointment-list > li:is([data-status="scheduled"], [data-status="confirmed"])');
    assert.equal(await open.count(), 3);
    assert.equal(await page.locator("#appointment-list").getByRole("button", { name: /^Move:/ }).count(), 1);
    const next = open.first();
    await next.getByRole("button", { name: /^Move:/ }).click();
    await next.getByText("Moves this time and the 2 after it, keeping every week from the new date.").waitFor();
    await next.getByLabel("New date").fill(isoDate(11));
    await next.getByLabel("New time").fill("16:00");
    await next.getByRole("button", { name: "Move these appointments" }).click();
    await page.getByText("3 appointments moved; their reminders are re-planned.").waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#appointment-list > li[data-status="scheduled"]').length === 3);
    const moved = await page.locator('#appointment-list > li[data-status="scheduled"]').allInnerTexts();
    for (const text of moved) assert.match(text, /4:00\s?PM/);
    // A week apart still, from the new date.
    const days = moved.map((t) => new Date(t.match(/\w+ \d+, \d{4}/)[0]).getTime() / 86_400_000);
    assert.deepEqual([days[1] - days[0], days[2] - days[1]], [7, 7]);
    // Their reminders follow (one lead, 48 h): three waiting again.
    await page.waitForFunction(() => document.querySelectorAll('#reminder-list > li[data-status="pending"]').length === 3);
    assert.match(await page.locator('#reminder-list > li[data-status="pending"]').first().innerText(), /4:00\s?PM/);
    await check(page, "reminders-series-moved");
  });

  it("a week cancelled in the middle stays cancelled when the series moves again", async () => {
    const page = clinician.page;
    const scheduled = page.locator('#appointment-list > li[data-status="scheduled"]');
    await scheduled.nth(1).getByRole("button", { name: /^Cancel/ }).click();
    await page.getByText("Appointment cancelled; its reminders are withdrawn.").waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#appointment-list > li[data-status="cancelled"]').length === 1);
    const next = scheduled.first();
    await next.getByRole("button", { name: /^Move:/ }).click();
    await next.getByText("Moves this time and the 2 after it, keeping every week from the new date. The cancelled one stays cancelled.").waitFor();
    await next.getByLabel("New time").fill("17:00");
    await next.getByRole("button", { name: "Move these appointments" }).click();
    await page.getByText("2 appointments moved; their reminders are re-planned.").waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('#appointment-list > li[data-status="scheduled"]')].filter((li) => /5:00\s?PM/.test(li.innerText)).length === 2);
    const items = await page.locator("#appointment-list > li").evaluateAll((lis) => lis.map((li) => li.dataset.status));
    assert.deepEqual(items, ["scheduled", "cancelled", "scheduled"], "the middle week is still the cancelled one");
    assert.match(await page.locator('#appointment-list > li[data-status="cancelled"]').innerText(), /4:00\s?PM/);
    // It says why it still shows the old time.
    await page.locator('#appointment-list > li[data-status="cancelled"]').getByText("Cancelled before the series moved: it keeps its old time, and stays cancelled.").waitFor();
    assert.equal(await page.locator("#appointment-list").getByText(/Cancelled before the series moved/).count(), 1);
  });

  it("the clinician filters the lists: cancelled appointments, reminders not sent, one client", async () => {
    const page = clinician.page;
    const filters = page.locator("#reminder-filters");
    await filters.getByLabel("Appointments").selectOption("cancelled");
    await page.waitForFunction(() => document.querySelectorAll("#appointment-list > li").length === 1);
    assert.equal(await page.locator('#appointment-list > li[data-status="cancelled"]').count(), 1);
    assert.match(await page.locator("#reminder-filter-count").innerText(), /Showing 1 of 3 appointments/);
    // Moving a series still counts every time, whatever is shown.
    await filters.getByLabel("Appointments").selectOption("booked");
    await page.waitForFunction(() => document.querySelectorAll('#appointment-list > li[data-status="scheduled"]').length === 2);
    assert.equal(await page.locator('#appointment-list > li[data-status="cancelled"]').count(), 0);
    await filters.getByLabel("Reminders").selectOption("not_sent");
    await page.locator("#reminder-list").getByText("No reminders match.").waitFor();
    await filters.getByLabel("Client").selectOption({ label: CLIENT.name });
    await filters.getByLabel("Appointments").selectOption("");
    await filters.getByLabel("Reminders").selectOption("");
    await page.waitForFunction(() => document.querySelectorAll("#appointment-list > li").length === 3);
    await check(page, "reminders-filtered");
  });
});

// Appointments inside the conversation, in Debian's Chromium against the
// real server: the clinician schedules from the reminders page with a
// video link and a note for the client's eyes only; the client's phone
// shows them in the conversation (decrypted there: the server never had
// them) and on the appointments page; the client confirms in the
// conversation and the clinician's reminders page, left open, turns to
// "Confirmed" by itself; the conversation says so on both sides; the client
// asks to move it with a few words that reach the clinician end to end; a
// cancellation says so in the conversation. Accessible (axe) on each view.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { story } from "../lib/story.mjs";
import { axeScan, screenshot } from "../lib/browser.mjs";
import { heading, registerPractice } from "../lib/flows.mjs";

const ADMIN = { name: "Avery Admin", login: "avery@example.test", password: "granite-willow-parcel-58", device: "Office laptop" };
const CLINICIAN = { name: "Robin Okafor", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };
const LINK = "https://video.example/r/7f3a-robin";
const NOTE = "Same link as last week; door code is not needed.";

async function check(page, name) {
  const violations = await axeScan(page);
  assert.deepEqual(violations, [], `axe found serious/critical problems on ${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

/** A date `days` from today, as a date input wants it. */
function isoDate(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

async function openConversation(page, otherName) {
  await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
  await heading(page, "Conversations");
  await page.locator("#conversations").getByRole("link", { name: new RegExp(otherName) }).click();
  await heading(page, `Conversation with ${otherName}`);
}

describe("appointments in the conversation", () => {
  const { server, person } = story();
  let admin, clinician, client;

  it("admin, clinician and the clinician's client register", async () => {
    ({ admin, clinician, client } = await registerPractice(person, server.setupLink, { admin: ADMIN, clinician: CLINICIAN, client: CLIENT }));
    await client.page.getByText("Connected securely.").waitFor();
  });

  it("the clinician schedules with a video link and a note only the client can read", async () => {
    const page = clinician.page;
    await page.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(page, "Reminders");
    const form = page.locator("#schedule-form");
    await form.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await form.getByLabel("Date", { exact: true }).fill(isoDate(9));
    await form.getByLabel("Time", { exact: true }).fill("15:00");
    await form.getByLabel("Client's time zone").fill("America/New_York");
    await form.getByLabel("Where").selectOption("telehealth");
    // A link that is not https is refused before anything is sent.
    await form.getByLabel("Video link (optional)").fill("javascript:alert(1)");
    await form.getByRole("button", { name: "Schedule" }).click();
    await form.locator(".form-error", { hasText: "must start with https://" }).waitFor();
    await form.getByLabel("Video link (optional)").fill(LINK);
    await form.getByLabel("Note for the client (optional)").fill(NOTE);
    await form.getByRole("button", { name: "Schedule" }).click();
    await page.getByText("Appointment scheduled. The client has it in your conversation.").waitFor({ timeout: 30_000 });
    await page.waitForFunction(() => document.querySelectorAll('#appointment-list > li[data-status="scheduled"]').length === 1);
    await check(page, "appointments-clinician-scheduled");
  });

  it("the client's phone shows the appointment and its details in the conversation", async () => {
    const page = client.page;
    await openConversation(page, CLINICIAN.name);
    const card = page.locator("#messages > li.reminder .appointment-card");
    await card.waitFor({ timeout: 20_000 });
    const text = await card.innerText();
    assert.match(text, /3:00\s?PM/);
    assert.match(text, /50 minutes · by video/);
    assert.match(text, /Same link as last week/);
    assert.equal(await card.getByRole("link", { name: LINK }).getAttribute("href"), LINK);
    await check(page, "appointments-client-card-phone");
  });

  it("the client confirms in the conversation; the clinician's open page says so by itself", async () => {
    const page = client.page;
    const card = page.locator("#messages > li.reminder .appointment-card");
    await card.getByRole("button", { name: /^Confirm/ }).click();
    await page.getByText("Thank you — your appointment is confirmed.").waitFor();
    // The conversation says it, on both sides.
    await page.locator("#messages > li.reminder-response", { hasText: "You confirmed the appointment" }).waitFor();
    await card.getByText("You confirmed this appointment.").waitFor();
    assert.equal(await card.getByRole("button", { name: /^Confirm/ }).count(), 0);
    // The clinician never reloaded: the status arrives over the socket.
    const staff = clinician.page;
    await staff.locator('#appointment-list > li[data-status="confirmed"]').waitFor({ timeout: 20_000 });
    await openConversation(staff, CLIENT.name);
    // The reminders page's notice stayed there: moving on cleared it.
    assert.equal((await staff.locator("#status").textContent()) || "", "");
    await staff.locator("#messages > li.reminder-response", { hasText: `${CLIENT.name} confirmed the appointment` }).waitFor({ timeout: 20_000 });
    // The clinician's own card offers no answer buttons.
    assert.equal(await staff.locator("#messages > li.reminder button").count(), 0);
    await check(staff, "appointments-clinician-conversation");
  });

  it("the client's appointments page shows the details read on the device", async () => {
    const page = client.page;
    await page.getByRole("navigation").getByRole("link", { name: /Appointments|Reminders/ }).click();
    await heading(page, "Appointments and reminders");
    const item = page.locator('#appointment-list > li[data-status="confirmed"]');
    await item.waitFor();
    await item.getByText(NOTE).waitFor();
    assert.equal(await item.getByRole("link", { name: LINK }).count(), 1);
    await check(page, "appointments-client-page-phone");
  });

  it("the client asks to move it, in words only the clinician reads", async () => {
    const page = client.page;
    await openConversation(page, CLINICIAN.name);
    const card = page.locator("#messages > li.reminder .appointment-card");
    await card.getByRole("button", { name: "Ask to move it" }).click();
    await card.getByLabel("What would suit you better?").fill("Could we do Thursday morning instead?");
    await card.getByRole("button", { name: "Send request" }).click();
    await page.getByText("Your request to move the appointment was sent.").waitFor();
    const staff = clinician.page;
    const line = staff.locator("#messages > li.reminder-response", { hasText: "asked to move the appointment" });
    await line.waitFor({ timeout: 20_000 });
    assert.match(await line.innerText(), /Could we do Thursday morning instead\?/);
  });

  it("a lying client's 'cancelled' card is not believed by the clinician's page", async () => {
    // The client's own device encrypts an appointment message, as only the
    // practice's side may: any member can write any content type.
    await client.page.evaluate(async () => {
      const m = await import("/js/messaging/client.js");
      const a = await import("/js/messaging/appointment.js");
      const conv = m.conversations()[0];
      const [occ] = await (await fetch("/api/v1/appointments")).json();
      await m.sendAppointmentMessage(
        conv.id,
        a.reminderContent({ appointmentId: occ.appointment_id, startsAtSecs: occ.starts_at, minutes: 50, change: "cancelled" }),
      );
    });
    const staff = clinician.page;
    await staff.getByText("An appointment message that did not come from the practice. It is not shown.").waitFor({ timeout: 20_000 });
    assert.equal(await staff.locator("#messages .appointment-card.cancelled").count(), 0);
  });

  it("the clinician moves it; the client's conversation shows the new time with the same details", async () => {
    const staff = clinician.page;
    await staff.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(staff, "Reminders");
    const item = staff.locator("#appointment-list > li").first();
    await item.getByRole("button", { name: /^Move/ }).click();
    await item.getByLabel("New date").fill(isoDate(11));
    await item.getByLabel("New time").fill("10:30");
    await item.getByRole("button", { name: "Move appointment" }).click();
    await staff.getByText("Appointment moved; its reminders are re-planned.").waitFor({ timeout: 20_000 });
    await staff.waitForFunction(() => /10:30\s?AM/.test(document.querySelector("#appointment-list > li")?.textContent || ""));
    const page = client.page;
    const moved = page.locator("#messages > li.reminder .appointment-card.rescheduled");
    await moved.waitFor({ timeout: 20_000 });
    const text = await moved.innerText();
    assert.match(text, /Appointment moved:.*10:30\s?AM/s);
    assert.match(text, /Same link as last week/);
    // The earlier card defers to it; the new one can be answered.
    assert.ok((await page.getByText("A newer message about this appointment is below.").count()) >= 1);
    await moved.getByRole("button", { name: /^Confirm/ }).waitFor();
    await check(page, "appointments-client-moved-phone");
  });

  it("the clinician cancels; the conversation says so", async () => {
    const staff = clinician.page;
    await staff.getByRole("navigation").getByRole("link", { name: "Reminders" }).click();
    await heading(staff, "Reminders");
    await staff.locator("#appointment-list > li").first().getByRole("button", { name: /^Cancel/ }).click();
    await staff.getByText("Appointment cancelled; its reminders are withdrawn.").waitFor({ timeout: 20_000 });
    const page = client.page;
    await page.locator("#messages > li.reminder .appointment-card.cancelled").waitFor({ timeout: 20_000 });
    // The earlier cards no longer offer answers.
    await page.waitForFunction(() => document.querySelectorAll("#messages > li.reminder button").length === 0);
    assert.equal(await page.getByText("A newer message about this appointment is below.").count(), 2);
    await check(page, "appointments-client-cancelled-phone");
  });
});

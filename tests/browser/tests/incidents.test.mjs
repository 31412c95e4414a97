// Incidents in Debian's Chromium against the real server: a clinician
// reports a message sent to the wrong client from its conversation and from
// the Incidents page; a
// client reports their phone lost and an incident opens by itself; the
// privacy officer (the admin) sees both with their deadlines, opens the
// lost phone's incident and its evidence, decides it with the reasoning,
// decides a misdirected message an exception of 164.402(1) only once every
// fact of its clause is affirmed,
// and adds a webhook whose secret is shown once, sends it a test and reads
// its delivery log; a clinician reports a sign-in they do not recognize
// and the officer sees which records the account reached, and searches them
// from a later date; a webhook failing for three days (the server's clock
// moved through its clock file) is turned off, the officer is told on every
// page and turns it back on. Accessible (axe), at a laptop's and a phone's
// width.
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { story } from "../lib/story.mjs";
import { axeScan, screenshot, LAPTOP, PHONE } from "../lib/browser.mjs";
import { heading, registerStaff, registerClient, createInvite, login } from "../lib/flows.mjs";
import { serverClock, until } from "../lib/channels.mjs";

const ADMIN = { name: "Avery Admin", login: "avery@example.test", password: "granite-willow-parcel-58", device: "Office laptop" };
const CLINICIAN = { name: "Robin Okafor", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };

async function check(page, name) {
  const violations = await axeScan(page);
  assert.deepEqual(violations, [], `axe found serious/critical problems on ${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

describe("incidents", () => {
  const clock = serverClock();
  const long = String(30 * 86_400);
  const { server, person } = story({
    env: {
      ...clock.env,
      // The last story moves the clock days ahead; staff stay signed in.
      ALCOVE_AUTH__STAFF_IDLE_TIMEOUT_SECS: long,
      ALCOVE_AUTH__CLIENT_IDLE_TIMEOUT_SECS: long,
      ALCOVE_AUTH__SESSION_LIFETIME_SECS: long,
    },
  });
  after(() => clock.remove());
  let admin, clinician, client, adminTotp;

  it("admin, clinician and client register", async () => {
    admin = await person(LAPTOP);
    ({ totp: adminTotp } = await registerStaff(admin.page, server.setupLink, ADMIN));
    clinician = await person(PHONE);
    await registerStaff(clinician.page, await createInvite(admin.page, "clinician"), CLINICIAN);
    client = await person(PHONE);
    await registerClient(client.page, await createInvite(clinician.page, "client"), CLIENT);
  });

  it("a clinician reports a misdirected message from the conversation and from the Incidents page, on a phone", async () => {
    const page = clinician.page;
    // From where it happens: the conversation it went to.
    await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await heading(page, "Conversations");
    await page.getByLabel("Client", { exact: true }).selectOption({ label: CLIENT.name });
    await page.getByRole("button", { name: "Start conversation" }).click();
    await heading(page, `Conversation with ${CLIENT.name}`);
    await page.getByRole("button", { name: "A message here went to the wrong person" }).click();
    await page.getByRole("button", { name: "Yes, report it" }).click();
    await page.getByText("Reported. The privacy officer will look at it.").waitFor();
    await check(page, "incidents-report-from-conversation-phone");

    await page.goto(`${server.url}/incidents`);
    await heading(page, "Incidents");
    const form = page.locator("#report-form");
    await form.getByLabel("What happened").selectOption("misdirected_message");
    await form.getByLabel(/What you know/).fill("I sent Tuesday's note to the wrong client.");
    await form.getByRole("button", { name: "Report" }).click();
    await page.getByText("Reported. The privacy officer will look at it.").waitFor();
    // Staff report; they do not see the practice's incidents.
    assert.equal(await page.locator("#incident-list").count(), 0);
    await check(page, "incidents-clinician-phone");
  });

  it("a client reports their phone lost; the privacy officer decides the incident it opened", async () => {
    // From their laptop, the client reports the phone lost.
    const laptop = await person(LAPTOP);
    // A sign-in rush: the first answer is 503 busy with Retry-After; the
    // page waits as asked and tries again by itself.
    let loginRequests = 0;
    await laptop.page.route("**/api/v1/auth/login", async (route) => {
      loginRequests += 1;
      if (loginRequests === 1) {
        await route.fulfill({
          status: 503,
          headers: { "Content-Type": "application/json", "Retry-After": "1" },
          body: JSON.stringify({ error: "busy", message: "the server is busy; try again shortly" }),
        });
        return;
      }
      await route.continue();
    });
    await laptop.page.goto(`${server.url}/login`);
    await login(laptop.page, CLIENT, { deviceName: "Sam's laptop" });
    assert.equal(loginRequests, 2, "tried again once, after the busy answer");
    await laptop.page.unroute("**/api/v1/auth/login");
    await laptop.page.goto(`${server.url}/devices`);
    await heading(laptop.page, "Devices");
    const phoneCard = laptop.page.locator("li.device", { hasText: CLIENT.device });
    await phoneCard.getByRole("button", { name: "I lost this device" }).click();
    await laptop.page.getByRole("button", { name: "Yes, I lost it" }).click();
    await laptop.page.getByText(`“${CLIENT.device}” was reported lost and signed out.`).waitFor();

    const page = admin.page;
    // The admin records where the client lives (for the media count).
    await page.getByRole("navigation").getByRole("link", { name: "Administration" }).click();
    await heading(page, "Administration");
    await page.getByLabel(`State of residence of ${CLIENT.name}`).selectOption({ label: "Oregon" });
    await page.locator("#admin-users li", { hasText: CLIENT.name }).getByRole("button", { name: "Save state" }).click();
    await page.getByText(`Saved where ${CLIENT.name} lives.`).waitFor();
    assert.equal(await page.getByLabel(`State of residence of ${CLIENT.name}`).inputValue(), "OR", "read back from the server");
    await page.getByRole("navigation").getByRole("link", { name: "Incidents" }).click();
    await heading(page, "Incidents");
    // The detector runs in the background: reload until it is listed.
    const deadline = Date.now() + 20_000;
    while ((await page.locator('#incident-list > li[data-status="open"]').count()) < 3) {
      assert.ok(Date.now() < deadline, "the lost phone's incident did not open");
      await new Promise((r) => setTimeout(r, 250));
      await page.reload();
      await heading(page, "Incidents");
    }
    const lost = page.locator("#incident-list > li", { hasText: "A device was lost or stolen" });
    assert.match(await lost.innerText(), /Detected .* Notify individuals by \d{4}-\d{2}-\d{2} \(60 days left\)/);
    await lost.getByRole("link", { name: "Open this incident" }).click();
    const detail = page.locator("#incident-detail");
    await detail.getByRole("heading", { name: "A device was lost or stolen" }).waitFor();
    assert.match(await detail.innerText(), /1 person\(s\) affected/);
    assert.match(await detail.locator("#incident-residence").innerText(), /Where they live: OR 1\./);
    assert.match(await detail.innerText(), /reported: a device was lost/);
    // The four-factor worksheet, prefilled from the records.
    const sheet = page.locator("#worksheet");
    assert.match(await sheet.innerText(), /\(iv\) The extent to which the risk has been mitigated/);
    const mitigation = sheet.getByLabel("(iv) The extent to which the risk has been mitigated", { exact: true });
    assert.match(await mitigation.inputValue(), /unlock share\) was destroyed/);
    // Its sources, checked in the page against the signed audit log.
    await sheet.getByRole("button", { name: /Check them: the audit entries of factor \(iv\)/ }).click();
    await sheet.getByText(/Verified: the entry is in the signed audit log of \d+ entries\./).waitFor();
    await sheet.getByLabel("(ii) The unauthorized person who used the PHI or to whom it was disclosed", { exact: true }).fill("Unknown: the phone was lost on a bus.");
    await sheet.getByRole("button", { name: "Save assessment" }).click();
    await page.getByText("Assessment saved.").waitFor();
    await page.locator("#incident-timeline", { hasText: "assessment saved" }).waitFor();
    // Not signed before a decision.
    assert.equal(await page.locator("#sign-off-form").getByRole("button", { name: "Sign off" }).isDisabled(), true);
    await check(page, "incidents-admin-detail");

    const form = page.locator("#decision-form");
    await form.getByLabel("Status").selectOption("decided");
    await form.getByLabel("Decision").selectOption("not_a_breach");
    await form.getByRole("button", { name: "Save" }).click();
    await form.locator(".form-error", { hasText: "reasoning" }).waitFor();
    await form.getByLabel(/Reasoning or note/).fill("The phone had locked itself; its stored messages cannot be opened.");
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("Incident saved.").waitFor();
    await page.locator("#incident-timeline", { hasText: "decided: not a breach" }).waitFor();
    // Not a breach: no notice to draft.
    await page.locator("#notice", { hasText: "appears here once the incident is decided to be a breach" }).waitFor();

    // Signed off with a fresh code: a wrong one is refused, the right one
    // makes the assessment final.
    const sign = page.locator("#sign-off-form");
    await sign.getByLabel("Code from your authenticator app").fill("000000");
    await sign.getByRole("button", { name: "Sign off" }).click();
    await sign.locator(".form-error", { hasText: "not valid" }).waitFor();
    await sign.getByLabel("Code from your authenticator app").fill(await adminTotp.next());
    await sign.getByRole("button", { name: "Sign off" }).click();
    await page.getByText("Signed off.").waitFor();
    await page.locator("#signed-off", { hasText: `Signed off by ${ADMIN.name}` }).waitFor();
    assert.match(await page.locator("#worksheet").innerText(), /Unknown: the phone was lost on a bus\./);
    assert.equal(await page.locator("#worksheet textarea").count(), 0, "nothing left to edit");
    await page.locator("#incident-timeline", { hasText: "signed off: not a breach" }).waitFor();
    // The report downloads as one file, with the audit entries behind it.
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#report-link").click()]);
    const report = JSON.parse(await (await import("node:fs/promises")).readFile(await download.path(), "utf8"));
    assert.equal(report.alcove_incident_report, 1);
    assert.ok(report.record.assessment.signed_off_at, "the signed-off record");
    assert.match(report.audit_export, /"incident.signed_off"/);
    await check(page, "incidents-admin-signed-off");
    // Printed, the page keeps the incident only, with the audit entries
    // behind it proven under one signed head (the Print button fills them
    // in, then prints; the print dialog itself is not driven).
    await page.evaluate(() => {
      window.print = () => {
        window.__printed = true;
      };
    });
    assert.equal(await page.locator("#print-proofs").isVisible(), false, "not on screen");
    await page.locator("#print-incident").click();
    await page.waitForFunction(() => window.__printed === true);
    await page.emulateMedia({ media: "print" });
    assert.equal(await page.locator("#nav").isVisible(), false);
    assert.equal(await page.locator("#webhook-form").isVisible(), false);
    assert.equal(await page.locator("#incident-detail").isVisible(), true);
    assert.equal(await page.locator("#worksheet").isVisible(), true);
    const proofs = page.locator("#print-proofs");
    assert.equal(await proofs.isVisible(), true);
    const appendix = await proofs.innerText();
    assert.match(appendix, /(\d+) of \1 entries verified in this browser against the signed head below/);
    assert.match(appendix, /device\.reported_lost/);
    assert.doesNotMatch(appendix, /NOT verified/);
    await screenshot(page, "incidents-admin-printed");
    await page.emulateMedia({ media: "screen" });
    await page.evaluate(() => document.body.classList.remove("printing-incident"));
  });

  it("the privacy officer adds a webhook and sees its secret once", async () => {
    const page = admin.page;
    const form = page.locator("#webhook-form");
    await form.getByLabel("Address (https://…)").fill("http://hooks.example.org/alcove");
    await form.getByRole("button", { name: "Add webhook" }).click();
    await form.locator(".form-error", { hasText: "https://" }).waitFor();
    await form.getByLabel("Address (https://…)").fill("https://hooks.example.org/alcove");
    await form.getByRole("button", { name: "Add webhook" }).click();
    await page.locator("#webhook-secret", { hasText: /whsec_/ }).waitFor();
    await page.reload();
    await heading(page, "Incidents");
    assert.match(await page.locator("#webhook-list").innerText(), /hooks\.example\.org/);
    assert.doesNotMatch(await page.content(), /whsec_/);
    await check(page, "incidents-admin-webhooks");

    // A new signing secret: shown once, the previous one signing for a day.
    const hook = page.locator("#webhook-list li", { hasText: "hooks.example.org" });
    const before = await page.locator("#webhook-secret").innerText();
    await hook.getByRole("button", { name: "New signing secret" }).click();
    await hook.getByRole("button", { name: "Yes, make a new secret" }).click();
    await hook.locator(".webhook-new-secret", { hasText: /whsec_/ }).waitFor();
    assert.match(await hook.locator(".webhook-new-secret").innerText(), /The previous one signs too until/);
    assert.notEqual(await hook.locator(".webhook-new-secret").innerText(), before);
    await page.reload();
    await heading(page, "Incidents");
    assert.match(await page.locator("#webhook-list").innerText(), /The previous secret also signs until/);
    assert.doesNotMatch(await page.content(), /whsec_/);

    // A test delivery, then its line in the endpoint's delivery log (this
    // receiver does not exist: it waits for its retry, and can be sent
    // again by hand).
    const listed = page.locator("#webhook-list li", { hasText: "hooks.example.org" });
    await listed.getByRole("button", { name: "Send a test" }).click();
    await listed.getByText(/A test \(msg_[0-9a-f]+\) is on its way/).waitFor();
    await listed.locator("summary", { hasText: "Recent deliveries" }).click();
    const line = listed.locator(".deliveries li", { hasText: "webhook.test" });
    await line.waitFor();
    await line.getByRole("button", { name: /Send again: webhook\.test/ }).click();
    await page.getByText("Sent again.").waitFor();
    await check(page, "incidents-admin-webhook-deliveries");
  });

  it("the privacy officer decides a misdirected message an exception only with every fact of its clause", async () => {
    const page = admin.page;
    const misdirected = page.locator("#incident-list > li", { hasText: "A message went to the wrong person" }).first();
    await misdirected.getByRole("link", { name: "Open this incident" }).click();
    // The page showed the lost phone's incident before: wait for this one.
    await page.locator("#incident-detail").getByRole("heading", { name: "A message went to the wrong person" }).waitFor();
    const form = page.locator("#decision-form");
    // The exception's facts show only for the decision "exception".
    assert.equal(await page.locator("#exception-fieldset").isVisible(), false);
    await form.getByLabel("Status").selectOption("decided");
    await form.getByLabel("Decision").selectOption("exception");
    const fieldset = page.locator("#exception-fieldset");
    await fieldset.getByLabel("Which exception").selectOption("unable_to_retain");
    await fieldset.getByLabel(/Why the person could not reasonably have retained it/).fill("The message was withdrawn before it was opened.");
    await form.getByLabel(/Reasoning or note/).fill("Recalled within a minute, unread.");
    // Its one fact not affirmed: refused, and the refusal names it.
    await form.getByRole("button", { name: "Save" }).click();
    await form.locator(".form-error", { hasText: "164.402(1)(iii) also requires" }).waitFor();
    await fieldset.getByLabel(/could not reasonably have retained it\.$/).check();
    await check(page, "incidents-admin-exception-form");
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("Incident saved.").waitFor();
    await page.locator("#incident-timeline", { hasText: "decided: exception (164.402(1)(iii))" }).waitFor();
    const recorded = page.locator("#exception-recorded");
    assert.match(await recorded.innerText(), /Exception 164\.402\(1\)\(iii\)/);
    assert.match(await recorded.innerText(), /withdrawn before it was opened/);
  });

  it("a clinician reports a sign-in they do not recognize from their account page, and the officer sees what the account reached", async () => {
    const page = clinician.page;
    await page.goto(`${server.url}/account`);
    await heading(page, "Your account");
    const card = page.locator("#suspicious-sign-in");
    await card.getByRole("button", { name: "Report a suspicious sign-in" }).click();
    await card.getByRole("button", { name: "Yes, report it" }).click();
    await page.getByText("Reported. The privacy officer will look at it.").waitFor();
    await check(page, "incidents-clinician-suspicious-sign-in-phone");

    const officer = admin.page;
    await officer.goto(`${server.url}/incidents`);
    await heading(officer, "Incidents");
    const item = officer.locator("#incident-list > li", { hasText: "A password or sign-in code may be known to someone else" });
    await item.getByRole("link", { name: "Open this incident" }).click();
    const detail = officer.locator("#incident-detail");
    await detail.getByRole("heading", { name: "A password or sign-in code may be known to someone else" }).waitFor();
    const reached = detail.locator(".account-evidence");
    assert.match(await reached.innerText(), /From .* to .*: the records of \d+ client\(s\)/);
    assert.match(await reached.innerText(), /Signed in \d+ time\(s\) from 1 address\(es\)/);
    assert.match(await reached.innerText(), /Not secured since the incident was discovered/);
    const nature = officer.locator("#worksheet").getByLabel("(i) The nature and extent of the PHI involved", { exact: true });
    assert.match(await nature.inputValue(), /In the window searched \(from \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}\) the account reached the records of/);
    assert.doesNotMatch(await detail.innerText(), new RegExp(CLINICIAN.login));

    // The officer judges it could only have been misused from today on:
    // the search starts there.
    const from = (await reached.innerText()).match(/From (.*) to /)[1];
    const since = reached.getByLabel(/Search from/);
    const today = await officer.evaluate(() => {
      const t = new Date();
      return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, "0")}-${String(t.getDate()).padStart(2, "0")}`;
    });
    await since.fill(today);
    await reached.getByLabel("Why from this date").fill("The laptop was with them until this morning.");
    await reached.getByRole("button", { name: "Search again" }).click();
    await officer.getByText("Searched again from the new date.").waitFor();
    const again = officer.locator("#incident-detail .account-evidence");
    await until(() => again.innerText(), (t) => !t.includes(`From ${from} to`), "the evidence searched from today");
    assert.equal(await again.getByLabel(/Search from/).inputValue(), today);
    assert.match(await officer.locator("#incident-timeline").innerText(), /account evidence searched from \d{4}-\d{2}-\d{2} 00:00 UTC\s+The laptop was with them until this morning\./);
  });

  it("the privacy officer is reminded of a notice deadline on every page", async () => {
    const page = admin.page;
    // An incident found fifty days ago: ten days are left to notify.
    const fiftyDaysAgo = Math.floor(Date.now() / 1000) - 50 * 86400;
    await page.evaluate(async (at) => {
      const { api } = await import("/js/api.js");
      await api("POST", "/incidents", { kind: "other", discovered_at: at, note: "Found in last month's records." });
    }, fiftyDaysAgo);
    await page.goto(`${server.url}/account`);
    await heading(page, "Your account");
    const link = page.getByRole("navigation").getByRole("link", { name: /^Incidents/ });
    await link.locator(".badge.deadline", { hasText: /notice due in (9|10) days/ }).waitFor();
    await check(page, "incidents-deadline-in-nav");

    // Decided not a breach, it no longer owes a notice.
    await link.click();
    await heading(page, "Incidents");
    const item = page.locator("#incident-list > li", { hasText: "Something else" });
    await item.getByRole("link", { name: "Open this incident" }).click();
    await page.locator("#incident-detail").getByRole("heading", { name: "Something else" }).waitFor();
    const form = page.locator("#decision-form");
    await form.getByLabel("Status").selectOption("decided");
    await form.getByLabel("Decision").selectOption("not_a_breach");
    await form.getByLabel(/Reasoning or note/).fill("A paper record, never in Alcove.");
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByText("Incident saved.").waitFor();
    await page.getByRole("navigation").getByRole("link", { name: "Incidents", exact: true }).waitFor();

    // The privacy officer's incident page at a phone's width: nothing
    // wider than the screen, nothing axe finds.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await page.locator("#incident-detail").getByRole("heading", { name: "Something else" }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "no sideways scrolling");
    await check(page, "incidents-admin-detail-phone");
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it("a webhook failing for three days is turned off, the officer is told on every page and turns it back on", async () => {
    const page = admin.page;
    // hooks.example.org never answers; three days pass.
    clock.moveTo(clock.now() + 3 * 86_400 + 3_600);
    const hooks = () => page.evaluate(() => fetch("/api/v1/webhooks").then((r) => r.json()));
    await until(hooks, (list) => list.some((e) => !e.enabled), "the failing webhook turned off");

    await page.goto(`${server.url}/account`);
    await heading(page, "Your account");
    const link = page.getByRole("navigation").getByRole("link", { name: /^Incidents/ });
    await link.locator(".badge", { hasText: "webhook off" }).waitFor();
    await link.click();
    await heading(page, "Incidents");
    const alert = page.locator("#webhooks-off");
    assert.match(await alert.innerText(), /hooks\.example\.org\/alcove failed for three days and was turned off/);
    assert.match(await alert.innerText(), /Events since then have not been sent to it/);
    const hook = page.locator("#webhook-list li", { hasText: "hooks.example.org" });
    assert.match(await hook.locator(".webhook-state").innerText(), /Off since .*: turned off after failing for three days/);
    await check(page, "incidents-webhook-turned-off");

    await hook.getByRole("button", { name: "Turn back on" }).click();
    await hook.getByRole("button", { name: "Yes, turn it on" }).click();
    await page.getByText("Webhook turned back on.").waitFor();
    await page.locator("#webhook-list li", { hasText: "hooks.example.org" }).locator(".webhook-state", { hasText: /^Active|^Failing since/ }).waitFor();
    assert.equal(await page.locator("#webhooks-off").count(), 0);
    await page.getByRole("navigation").getByRole("link", { name: "Incidents", exact: true }).waitFor();
  });
});

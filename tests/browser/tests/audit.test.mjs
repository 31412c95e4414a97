// The audit page for admins in Debian's Chromium against the real server:
// an admin filters the log, pages through it, exports it as JSONL and CSV
// (Blob URL downloads under the strict CSP), checks an entry's inclusion
// proof in the page and sees the verification status; a clinician has no
// audit page and the API refuses them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { story } from "../lib/story.mjs";
import { axeScan, screenshot, LAPTOP, PHONE } from "../lib/browser.mjs";
import { heading, assertFocusOnHeading, registerStaff, registerClient, createInvite } from "../lib/flows.mjs";

const ADMIN = { name: "Avery Admin", login: "avery@example.test", password: "granite-willow-parcel-58", device: "Office laptop" };
const CLINICIAN = { name: "Robin Clinician", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" };
const CLIENT = { name: "Sam Client", login: "sam@example.test", password: "river stones and paper kites", device: "My phone" };

async function check(page, name) {
  const violations = await axeScan(page);
  assert.deepEqual(violations, [], `axe found serious/critical problems on ${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

const rows = (page) => page.locator("#audit-entries > tr");

/** Clicks `button` and waits until the list was redrawn from a newer request. */
async function reload(page, button) {
  const g = Number((await page.locator("#audit-entries").getAttribute("data-generation")) || 0);
  await page.getByRole("button", { name: button }).click();
  await page.waitForFunction(
    (before) =>
      Number(document.getElementById("audit-entries").dataset.generation || 0) > before &&
      !document.querySelector(".table-wrap[aria-busy]"),
    g,
  );
}

async function columnTexts(page, label) {
  // The Action column says what happened in words and then the exact name:
  // the name is what these checks compare.
  const cells = label === "Action" ? `td[data-label="Action"] code.action` : `td[data-label="${label}"]`;
  return (await page.locator(`#audit-entries > tr > ${cells}`).allTextContents()).map((t) => t.trim());
}

describe("audit page", () => {
  const { server, person } = story();
  let admin, clinician;

  it("admin, clinician and client register", async () => {
    admin = await person(LAPTOP);
    await registerStaff(admin.page, server.setupLink, ADMIN);
    const clinicianLink = await createInvite(admin.page, "clinician");
    clinician = await person(LAPTOP);
    await registerStaff(clinician.page, clinicianLink, CLINICIAN);
    const clientLink = await createInvite(admin.page, "client");
    const client = await person(PHONE);
    await registerClient(client.page, clientLink, CLIENT);
  });

  it("a clinician has no audit page, and the API refuses them in plain words", async () => {
    const page = clinician.page;
    assert.equal(await page.getByRole("link", { name: "Audit log" }).count(), 0, "no Audit log link");
    await page.goto(`${server.url}/audit`);
    await heading(page, "Conversations");
    // With the clinician's session cookie (from outside the page, so the
    // wanted refusal is not a console error of the page).
    const r = await clinician.context.request.get(`${server.url}/api/v1/audit/events`);
    const answer = { status: r.status(), body: await r.json() };
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error, "forbidden");
    assert.ok(answer.body.message && answer.body.message.length > 5, "a sentence says why");
  });

  it("admin opens the audit page and sees the log verified", async () => {
    const page = admin.page;
    await page.getByRole("navigation").getByRole("link", { name: "Audit log" }).click();
    await heading(page, "Audit log");
    await assertFocusOnHeading(page, "Audit log");
    assert.equal(await page.title(), "Audit log · Alcove");
    await page.locator("#audit-verify-result", { hasText: /^Verified: entry \d+ is included in the signed log of \d+ entries\.$/ }).waitFor();
    assert.match(await page.locator("#audit-key-id").textContent(), /^[0-9a-f]{16}$/);
    const size = await page.locator("#audit-tree-size").textContent();
    await page.locator("#audit-verify-result", { hasText: `signed log of ${size} entries.` }).waitFor();
    assert.ok((await rows(page).count()) > 0, "entries are listed");
    // The action field suggests what the server records, from its OpenAPI
    // document (AuditAction), reminders' and incidents' actions included.
    const suggested = await page.locator("datalist option").evaluateAll((os) => os.map((o) => o.value));
    for (const a of ["auth.login", "access.refused", "reminder.sent", "incident.opened"]) {
      assert.ok(suggested.includes(a), `${a} is suggested: ${suggested}`);
    }
    // Each listed entry says in words what happened, beside its exact name.
    const said = await page.locator(`#audit-entries > tr > td[data-label="Action"] .action-said`).allTextContents();
    assert.equal(said.length, await rows(page).count(), "every entry has its sentence");
    assert.ok(said.includes("The audit log was queried."), said.join(" | "));
    await check(page, "admin-audit");
  });

  it("admin filters by person and outcome: the clinician's refused attempt", async () => {
    const page = admin.page;
    await page.getByLabel("Who acted").selectOption({ label: `${CLINICIAN.name} (clinician)` });
    await page.getByLabel("Outcome").selectOption("failure");
    await reload(page, "Show entries");
    await page.locator("#audit-summary", { hasText: /^Showing 1 entry/ }).waitFor();
    assert.deepEqual(await columnTexts(page, "Action"), ["audit.viewed"]);
    assert.deepEqual(await columnTexts(page, "Outcome"), ["Failure"]);
    assert.match((await columnTexts(page, "Who"))[0], new RegExp(`^${CLINICIAN.name} on ${CLINICIAN.device}`));
    // Filters stay in the page, never in the address bar.
    const url = new URL(page.url());
    assert.equal(url.pathname, "/audit");
    assert.equal(url.search, "");
    assert.equal(url.hash, "");
    assert.equal(await page.title(), "Audit log · Alcove");

    // Whose records: the client, acted on by the admin's invitation.
    await reload(page, "Clear filters");
    await page.getByLabel("Whose records (client)").selectOption({ label: CLIENT.name });
    await page.getByLabel("Action").fill("auth.login");
    await reload(page, "Show entries");
    await page.locator("#audit-summary", { hasText: /No entries match|Showing \d+/ }).waitFor();

    // Today's time range includes everything so far; tomorrow's nothing.
    await reload(page, "Clear filters");
    await page.locator("#audit-summary", { hasText: /Showing/ }).waitFor();
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel("From").fill(today);
    await page.getByLabel("Until").fill(today);
    await reload(page, "Show entries");
    await page.locator("#audit-summary", { hasText: /^Showing \d+ entr/ }).waitFor();
    await page.getByLabel("From").fill(tomorrow);
    await page.getByLabel("Until").fill(tomorrow);
    await reload(page, "Show entries");
    await page.locator("#audit-summary", { hasText: "No entries match these filters." }).waitFor();
    assert.equal(await rows(page).count(), 0);
    // An impossible range is refused in plain words.
    await page.getByLabel("From").fill(tomorrow);
    await page.getByLabel("Until").fill(today);
    await page.getByRole("button", { name: "Show entries" }).click();
    await page.getByRole("alert").getByText("The first day must come before the last day.").waitFor();
    await reload(page, "Clear filters");
    await page.locator("#audit-summary", { hasText: /Showing/ }).waitFor();
  });

  it("admin pages through more entries than one page holds", async () => {
    const page = admin.page;
    // 60 views of the signed head: 60 audit.head_viewed entries (plus the page's own).
    await page.evaluate(async () => {
      for (let i = 0; i < 60; i += 1) {
        const r = await fetch("/api/v1/audit/head");
        if (!r.ok) throw new Error(`head ${r.status}`);
      }
    });
    await page.getByLabel("Action").fill("audit.head_viewed");
    await reload(page, "Show entries");
    await page.locator("#audit-summary", { hasText: /^Showing 50 entries, newest first\.$/ }).waitFor();
    const firstPage = await columnTexts(page, "Entry");
    const more = page.getByRole("button", { name: "Show older entries" });
    await reload(page, "Show older entries");
    await page.locator("#audit-summary", { hasText: /\(all of them\)/ }).waitFor();
    const all = (await columnTexts(page, "Entry")).map(Number);
    assert.ok(all.length >= 61, `at least 61 head views, got ${all.length}`);
    assert.deepEqual(all.slice(0, 50), firstPage.map(Number));
    const sorted = [...all].sort((a, b) => b - a);
    assert.deepEqual(all, sorted, "newest first, no entry twice");
    assert.equal(new Set(all).size, all.length);
    assert.equal(await more.isHidden(), true, "no more pages");
    assert.ok((await columnTexts(page, "Action")).every((a) => a === "audit.head_viewed"));
  });

  it("admin checks one listed entry's inclusion proof in the page", async () => {
    const page = admin.page;
    const seq = (await columnTexts(page, "Entry"))[3];
    const row = page.locator(`#audit-entries > tr[data-seq="${seq}"]`);
    await row.getByRole("button", { name: `Check entry ${seq}` }).click();
    await row.locator(".proof-result.ok", { hasText: "In the signed log" }).waitFor();
  });

  it("the page's own proof check agrees with the golden vectors, and refuses a changed entry or path", async () => {
    // docs/vectors/audit.json is written from the specification by
    // docs/vectors/audit.py; the Rust verifier is held to the same file
    // (server/tests/audit_vectors.rs).
    const vectors = JSON.parse(readFileSync(new URL("../../../docs/vectors/audit.json", import.meta.url), "utf8"));
    const results = await admin.page.evaluate(async (v) => {
      const { canonicalBytes, checkInclusion } = await import("/js/pages/audit.js");
      const hex = (chunks) =>
        chunks.map((c) => Array.from(c, (b) => b.toString(16).padStart(2, "0")).join("")).join("");
      const entries = v.entries.map((c) => ({ name: c.name, same: hex(canonicalBytes(c.entry)) === c.canonical_hex }));
      const proofs = [];
      for (const c of v.inclusion) {
        const p = {
          entry: c.entry,
          leaf_hash: c.leaf_hash,
          leaf_index: c.leaf_index,
          proof: c.proof,
          head: { tree_size: c.tree_size, root_hash: c.root_hash },
        };
        const ok = (await checkInclusion(p)).ok;
        const changedEntry = (await checkInclusion({ ...p, entry: { ...c.entry, action: "message.deleted" } })).ok;
        const changedPath =
          c.proof.length === 0
            ? false
            : (await checkInclusion({ ...p, proof: [c.proof[0].replace(/^./, (d) => (d === "0" ? "1" : "0")), ...c.proof.slice(1)] })).ok;
        proofs.push({ at: `${c.leaf_index} of ${c.tree_size}`, ok, changedEntry, changedPath });
      }
      return { entries, proofs };
    }, vectors);
    assert.equal(results.entries.length, vectors.entries.length);
    for (const e of results.entries) assert.ok(e.same, `canonical bytes of: ${e.name}`);
    assert.equal(results.proofs.length, vectors.inclusion.length);
    for (const p of results.proofs) {
      assert.deepEqual(p, { at: p.at, ok: true, changedEntry: false, changedPath: false }, `proof of ${p.at}`);
    }
  });

  it("admin exports the filtered log as JSONL and CSV", async () => {
    const page = admin.page;
    const listed = await rows(page).count();
    const [jsonl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download JSONL" }).click()]);
    assert.match(jsonl.suggestedFilename(), /^alcove-audit-\d+\.jsonl$/);
    const lines = readFileSync(await jsonl.path(), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines[0].alcove_audit_export, 1);
    assert.equal(lines[0].manifest.filter, "action=audit.head_viewed");
    assert.ok(lines.length - 1 >= listed, "every listed entry is exported");
    assert.ok(lines.slice(1).every((e) => e.action === "audit.head_viewed" && Array.isArray(e.proof)));
    await page.getByText("The JSONL export was downloaded.").waitFor();

    const [csv] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV" }).click()]);
    assert.match(csv.suggestedFilename(), /^alcove-audit-\d+\.csv$/);
    const text = readFileSync(await csv.path(), "utf8");
    assert.ok(text.startsWith('"alcove-audit-export-v1",'), text.slice(0, 80));
    assert.ok(text.split("\n")[1].startsWith('"seq","at","practice_id"'), text.split("\n")[1]);
    // Two exports, both recorded in the log.
    await page.getByLabel("Action").fill("audit.exported");
    await reload(page, "Show entries");
    await page.locator("#audit-summary", { hasText: /^Showing 2 entries/ }).waitFor();
  });

  it("the audit page works at phone width with the keyboard", async () => {
    const page = admin.page;
    await page.setViewportSize(PHONE.viewport);
    await reload(page, "Clear filters");
    await page.locator("#audit-summary", { hasText: /Showing/ }).waitFor();
    // Keyboard only: focus the Outcome filter, choose Failure, submit with Enter.
    await page.getByLabel("Outcome").focus();
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    await page.getByLabel("Action").focus();
    const g = Number(await page.locator("#audit-entries").getAttribute("data-generation"));
    await page.keyboard.press("Enter");
    await page.waitForFunction((before) => Number(document.getElementById("audit-entries").dataset.generation) > before && !document.querySelector(".table-wrap[aria-busy]"), g);
    await page.locator("#audit-summary", { hasText: /^Showing \d+ entr/ }).waitFor();
    assert.ok((await columnTexts(page, "Outcome")).every((o) => o === "Failure"));
    // No horizontal scrolling of the page at phone width.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px`);
    await check(page, "admin-audit-phone");
    await page.setViewportSize(LAPTOP.viewport);
  });
});

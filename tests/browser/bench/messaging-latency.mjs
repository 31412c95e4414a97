// Browser client measurements (issue 5 item 7), not part of the test suite:
//   1. time from navigation to an interactive conversation list (a signed-in
//      clinician with 3 conversations; list drawn and messaging connected),
//   2. the wasm module's gzip size (gzip -9),
//   3. time from pressing Enter in one browser to the message being rendered
//      in the other (median, p95 and max of N sequential messages),
//   4. opening a conversation of OPEN_SIZE messages until its newest message
//      is in the viewport: warm (an in-app link, the page already up) and
//      the first open after a page load (issue 17 item 7).
//
// Run (from the repository root, after client-web/build-wasm.sh and
// cargo build -p alcove-server):
//   node tests/browser/bench/messaging-latency.mjs [messages=100] [loads=10] [open_size=1000]
// Uses the same server and browser helpers as the tests.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { loadavg, cpus } from "node:os";
import path from "node:path";
import { startServer, repoRoot } from "../lib/server.mjs";
import { launchBrowser, newPerson, LAPTOP, PHONE } from "../lib/browser.mjs";
import { heading, registerStaff, registerClient, createInvite } from "../lib/flows.mjs";

const MESSAGES = Number(process.argv[2] || 100);
const LOADS = Number(process.argv[3] || 10);
const OPEN_SIZE = Number(process.argv[4] || 1000);
const CLIENTS = 3;

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const summary = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, median: pct(s, 50), p95: pct(s, 95), max: s[s.length - 1], min: s[0] };
};
const ms = (x) => `${x.toFixed(1)} ms`;

async function main() {
  const load = () => loadavg().map((x) => x.toFixed(2)).join(", ");
  console.log(`load average before: ${load()} (${cpus().length} cores)`);

  // 2. wasm gzip size.
  const wasm = readFileSync(path.join(repoRoot, "client-web/wasm/pkg/alcove_wasm_bg.wasm"));
  const gz = gzipSync(wasm, { level: 9 }).length;

  const server = await startServer();
  const browser = await launchBrowser();
  try {
    const admin = await newPerson(browser, LAPTOP);
    await registerStaff(admin.page, server.setupLink, { name: "Ada Admin", login: "ada@example.test", password: "copper-kettle-meadow-19", device: "Office laptop" });
    const clinLink = await createInvite(admin.page, "clinician");
    const clin = await newPerson(browser, LAPTOP);
    await registerStaff(clin.page, clinLink, { name: "Robin Clinician", login: "robin@example.test", password: "maple-orchard-window-73", device: "Robin's laptop" });

    const clients = [];
    for (let i = 0; i < CLIENTS; i += 1) {
      const link = await createInvite(clin.page, "client");
      const c = await newPerson(browser, PHONE);
      const who = { name: `Client ${i + 1}`, login: `client${i + 1}@example.test`, password: "river stones and paper kites", device: "My phone" };
      await registerClient(c.page, link, who);
      await c.page.getByText("Connected securely.").waitFor({ timeout: 30_000 });
      clients.push({ ...c, who });
    }
    // The clinician starts a conversation with each client.
    for (const c of clients) {
      await clin.page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
      await heading(clin.page, "Conversations");
      await clin.page.getByLabel("Client", { exact: true }).selectOption({ label: c.who.name });
      await clin.page.getByRole("button", { name: "Start conversation" }).click();
      await heading(clin.page, `Conversation with ${c.who.name}`);
      const box = clin.page.getByLabel("Message", { exact: true });
      await box.fill(`Hello ${c.who.name}`);
      await box.press("Enter");
      await clin.page.locator("#messages > li .state-sent, #messages > li .state-delivered, #messages > li .state-read").first().waitFor({ timeout: 30_000 });
    }

    // 1. Navigation → interactive conversation list (fresh page load, session
    // cookie and sealed IndexedDB state present: a returning user).
    const shown = [];
    const interactive = [];
    for (let i = 0; i < LOADS; i += 1) {
      await clin.page.goto(`${server.url}/`);
      const t = await clin.page.waitForFunction(
        (n) => {
          const links = document.querySelectorAll("#conversations a.conversation-link");
          if (links.length < n) return false;
          window.__shownAt ??= performance.now();
          const ok = document.querySelector("#messaging-status .connection")?.textContent === "Connected securely.";
          return ok ? { shown: window.__shownAt, ready: performance.now() } : false;
        },
        CLIENTS,
        { polling: "raf", timeout: 30_000 },
      );
      const v = await t.jsonValue();
      shown.push(v.shown);
      interactive.push(v.ready);
    }

    // 3. Send → rendered on the other side.
    const c = clients[0];
    await clin.page.locator("#conversations").getByRole("link", { name: new RegExp(c.who.name) }).click();
    await heading(clin.page, `Conversation with ${c.who.name}`);
    await c.page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
    await c.page.locator("#conversations").getByRole("link", { name: /Robin Clinician/ }).click();
    await heading(c.page, "Conversation with Robin Clinician");
    await c.page.evaluate(() => {
      window.__seen = {};
      const scan = () => {
        const now = performance.timeOrigin + performance.now();
        for (const el of document.querySelectorAll("#messages .text")) {
          const t = el.textContent.trim();
          if (t.startsWith("bench ") && !(t in window.__seen)) window.__seen[t] = now;
        }
      };
      new MutationObserver(scan).observe(document.body, { childList: true, subtree: true, characterData: true });
    });
    const latencies = [];
    const box = clin.page.getByLabel("Message", { exact: true });
    for (let i = 0; i < MESSAGES + 3; i += 1) {
      const text = `bench ${i} ${"x".repeat(40)}`;
      await box.fill(text);
      const t0 = await clin.page.evaluate(() => {
        const ta = document.querySelector(".composer textarea");
        const t = performance.timeOrigin + performance.now();
        ta.form.requestSubmit();
        return t;
      });
      const h = await c.page.waitForFunction((t) => window.__seen[t], text, { timeout: 30_000 });
      const t1 = await h.jsonValue();
      if (i >= 3) latencies.push(t1 - t0); // first 3: warm-up
    }

    // 4. A conversation of OPEN_SIZE messages: fill it up (sent one after
    // another, each rendered on the phone before the next), then open it.
    const sent = MESSAGES + 3 + 1;
    let last = "";
    for (let i = sent; i < OPEN_SIZE; i += 1) {
      last = `bench ${i} ${"y".repeat(40)}`;
      await box.fill(last);
      await clin.page.evaluate(() => document.querySelector(".composer textarea").form.requestSubmit());
      await c.page.waitForFunction((t) => window.__seen[t], last, { timeout: 30_000 });
    }
    const count = await c.page.locator("#messages > li").count();
    /** Click the conversation link in the list; ms until the newest message is in the viewport. */
    const openTimed = (expect) =>
      c.page.evaluate(
        (lastText) =>
          new Promise((resolve, reject) => {
            const link = [...document.querySelectorAll("#conversations a.conversation-link")].find((a) => /Robin Clinician/.test(a.textContent));
            if (!link) return reject(new Error("no conversation link"));
            const t0 = performance.now();
            link.click();
            const check = () => {
              const texts = document.querySelectorAll("#messages .text");
              const el = texts[texts.length - 1];
              if (el && el.textContent.trim() === lastText) {
                const r = el.getBoundingClientRect();
                if (r.bottom > 0 && r.top < window.innerHeight) return resolve(performance.now() - t0);
              }
              if (performance.now() - t0 > 30_000) return reject(new Error("newest message never visible"));
              requestAnimationFrame(check);
            };
            check();
          }),
        expect,
      );
    const toList = async () => {
      await c.page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
      await c.page.locator("#conversations a.conversation-link").first().waitFor();
    };
    const warmOpens = [];
    const loadOpens = [];
    for (let i = 0; i < LOADS; i += 1) {
      await toList();
      warmOpens.push(await openTimed(last));
    }
    for (let i = 0; i < LOADS; i += 1) {
      await c.page.goto(`${server.url}/`);
      await c.page.getByText("Connected securely.").waitFor({ timeout: 30_000 });
      await c.page.locator("#conversations a.conversation-link").first().waitFor();
      loadOpens.push(await openTimed(last));
    }

    const nav = summary(interactive);
    const list = summary(shown);
    const lat = summary(latencies);
    console.log(`\nwasm module: ${wasm.length} bytes, gzip -9: ${gz} bytes (${(gz / 1024).toFixed(0)} KiB)`);
    console.log(`navigation → list drawn (${list.n} loads): median ${ms(list.median)}, max ${ms(list.max)}`);
    console.log(`navigation → interactive list, messaging connected (${nav.n} loads): median ${ms(nav.median)}, p95 ${ms(nav.p95)}, max ${ms(nav.max)}`);
    console.log(`send → rendered on the other side (${lat.n} messages): median ${ms(lat.median)}, p95 ${ms(lat.p95)}, max ${ms(lat.max)}, min ${ms(lat.min)}`);
    const warm = summary(warmOpens);
    const cold = summary(loadOpens);
    console.log(`open a conversation of ${count} messages → newest visible, warm (${warm.n} opens): median ${ms(warm.median)}, p95 ${ms(warm.p95)}, max ${ms(warm.max)}`);
    console.log(`  first open after a page load (${cold.n}): median ${ms(cold.median)}, p95 ${ms(cold.p95)}, max ${ms(cold.max)}`);
    console.log(`load average after: ${load()}`);
  } finally {
    await browser.close();
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});

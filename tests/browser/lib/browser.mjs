// Debian's Chromium driven by playwright-core, axe-core scans, screenshots.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { repoRoot } from "./server.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const artifactsDir = path.join(repoRoot, "test-artifacts", "browser");

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, hasTouch: true, isMobile: true };
export const LAPTOP = { viewport: { width: 1280, height: 800 } };

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  // playwright-core launches with a fresh temporary user-data directory.
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/**
 * A new isolated context (its own cookies and localStorage: "another
 * person's browser"). Collects page errors and CSP violations in `problems`.
 */
export async function newPerson(browser, device = LAPTOP) {
  const context = await browser.newContext({ ...device, locale: "en-US", timezoneId: "UTC" });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  watch(page, problems);
  return { context, page, problems };
}

function watch(page, problems) {
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    const text = msg.text();
    if (msg.type() === "error" && !/Failed to load resource: the server responded with a status of (401|404|409|410|422|503)/.test(text)) {
      problems.push(`console error: ${text}`);
    }
    if (/Content Security Policy/i.test(text)) problems.push(`CSP: ${text}`);
  });
}

/**
 * The person comes back to the same browser after closing the tab: a new
 * page in their context (same cookies and IndexedDB), watched like the
 * first one, replaces `person.page`.
 */
export async function reopen(person) {
  const page = await person.context.newPage();
  watch(page, person.problems);
  person.page = page;
  return page;
}

/** Runs axe-core on the page; returns serious and critical violations. */
export async function axeScan(page) {
  // Evaluated through the DevTools protocol, so the page's CSP (which
  // forbids inline scripts) does not get in the way and is not relaxed.
  const loaded = await page.evaluate(() => typeof window.axe !== "undefined");
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
    }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Saves a full-page screenshot as test-artifacts/browser/<name>.png. */
export async function screenshot(page, name) {
  mkdirSync(artifactsDir, { recursive: true });
  await page.screenshot({ path: path.join(artifactsDir, `${name}.png`), fullPage: true });
}

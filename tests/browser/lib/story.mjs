// One story's server and browser: started before its steps, closed after
// them even when a step fails (Chromium first, so that a failed check never
// leaves it or the server running and node waiting), and the people in it,
// each page watched: the story fails if any had a page error or a CSP
// violation.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./server.mjs";
import { launchBrowser, newPerson } from "./browser.mjs";

/**
 * Call inside `describe`. `options` go to `startServer` (e.g. `env`); a
 * function giving them is called first (to start what the server needs).
 * Returns `server` (its `url` and `setupLink`, once started) and
 * `person(device)`, a new browser profile in the story.
 */
export function story(options = {}) {
  let server = null;
  let browser = null;
  const people = [];

  before(async () => {
    server = await startServer(typeof options === "function" ? await options() : options);
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    for (const p of people) assert.deepEqual(p.problems, [], "no page errors or CSP violations");
  });

  return {
    server: {
      get url() {
        return server.url;
      },
      get setupLink() {
        return server.setupLink;
      },
      /** The server's data directory (its SQLite files), to check what it stores. */
      get dataDir() {
        return server.dataDir;
      },
    },
    async person(device) {
      const p = await newPerson(browser, device);
      people.push(p);
      return p;
    },
  };
}

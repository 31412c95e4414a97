// Steps in a conversation that many stories take: open one from the list,
// send a text, find a message, read the texts shown, and check a page
// (axe, then a screenshot).
import assert from "node:assert/strict";
import { axeScan, screenshot } from "./browser.mjs";
import { heading } from "./flows.mjs";

/** axe finds nothing serious on the page; a screenshot is kept as `name`. */
export async function check(page, name) {
  const violations = await axeScan(page);
  assert.deepEqual(violations, [], `axe found serious/critical problems on ${name}: ${JSON.stringify(violations, null, 2)}`);
  await screenshot(page, name);
}

/** From any page: the conversation with `otherName`, through the list. */
export async function openConversation(page, otherName) {
  await page.getByRole("navigation").getByRole("link", { name: "Conversations" }).click();
  await heading(page, "Conversations");
  await page.locator("#conversations").getByRole("link", { name: new RegExp(otherName) }).click();
  await heading(page, `Conversation with ${otherName}`);
}

/** The message item that shows `text`. */
export const message = (page, text) => page.locator("#messages > li", { hasText: text });

/** Types `text` and presses Enter; resolves when it is shown. */
export async function send(page, text) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
  await message(page, text).waitFor();
}

/** The texts shown, in order. */
export async function texts(page) {
  return (await page.locator("#messages > li .text").allTextContents()).map((t) => t.trim());
}

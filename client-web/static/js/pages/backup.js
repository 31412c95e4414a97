// The account page's "History backup" card (docs/history.md, step 2):
// turn the history archive on (a history recovery key shown once, kept by
// the person), restore earlier messages on a new device with that key, or
// turn it off. The key never leaves the person's devices; the server keeps
// sealed blobs it cannot open.

import { h, field, errorBox, onSubmit } from "../dom.js";
import * as m from "../messaging/client.js";
import { confirmAction } from "./revoke.js";

/** The card; redrawn in place when its state changes. */
export function historyBackupCard(ctx) {
  const slot = h("div", { class: "card", id: "history-backup", "aria-labelledby": "history-backup-heading" });
  const draw = async () => {
    await m.ready();
    let stored;
    try {
      stored = await m.storedArchives();
    } catch (_) {
      // Not "off": turning on then could replace a backup it did not see.
      slot.replaceChildren(heading(), h("p", { class: "form-error", role: "alert" }, "The state of your history backup could not be read. Reload the page to try again."));
      return;
    }
    const view = m.archiveKeyIs(stored.key_id) ? onView(ctx, draw) : stored.key_id ? restoreView(ctx, draw, stored.archives) : offView(ctx, draw);
    slot.replaceChildren(...view);
  };
  slot.replaceChildren(h("h2", { id: "history-backup-heading" }, "History backup"), h("p", { class: "muted" }, "Opening your encrypted messages…"));
  draw().catch(() => {});
  return slot;
}

const heading = () => h("h2", { id: "history-backup-heading" }, "History backup");
const what = () =>
  h(
    "p",
    { class: "muted" },
    "Keeps a copy of your conversations on Alcove's server, sealed under a history recovery key that only you hold — Alcove cannot open it. If you lose every device and nobody in the conversation is online, a new device brings your earlier messages back with that key.",
  );

function onView(ctx, draw) {
  return [
    heading(),
    h("p", { id: "history-backup-state" }, "History backup is on. This device keeps it up to date."),
    what(),
    confirmAction({
      label: "Turn off history backup",
      question: "Turn off history backup? The copy on Alcove's server is deleted, and your history recovery key will open nothing. Your messages on your devices stay.",
      confirm: "Yes, delete the backup",
      work: () => m.turnArchiveOff(),
      done: () => {
        ctx.announce("History backup is off; the copy on the server was deleted.");
        draw();
      },
    }),
  ];
}

function offView(ctx, draw) {
  const errors = errorBox();
  const start = h("button", { type: "button", class: "secondary" }, "Turn on history backup");
  const reveal = h("div", { id: "history-key-step" });
  start.addEventListener("click", () => {
    errors.clear();
    let made;
    try {
      made = m.newArchiveKey();
    } catch (e) {
      errors.show("Secure messaging is not ready on this device yet. Try again in a moment.");
      return;
    }
    start.hidden = true;
    const saved = h("input", { type: "checkbox", id: "history-key-saved" });
    const done = h("button", { type: "submit", class: "primary", disabled: true }, "Turn on");
    saved.addEventListener("change", () => (done.disabled = !saved.checked));
    const form = h(
      "form",
      {},
      h("p", { class: "notice", role: "status" }, "Your history recovery key. Write it down or save it somewhere safe now: it is shown only this once, and without it the backup cannot be opened — not even by Alcove."),
      h("p", {}, h("code", { id: "history-key", class: "history-key" }, made.text)),
      errors.box,
      h("p", {}, saved, " ", h("label", { for: "history-key-saved" }, "I saved my history recovery key somewhere safe")),
      done,
    );
    onSubmit(form, errors, async () => {
      await m.confirmArchive(made.key);
      ctx.announce("History backup is on.");
      await draw();
    });
    reveal.replaceChildren(form);
  });
  return [heading(), h("p", { id: "history-backup-state" }, "History backup is off."), what(), errors.box, start, reveal];
}

function restoreView(ctx, draw, stored) {
  const errors = errorBox();
  const key = field({ label: "History recovery key", name: "history_key", autocomplete: "off", hint: "55 letters and digits, in groups of five." });
  const form = h(
    "form",
    { id: "history-restore" },
    heading(),
    h("p", { id: "history-backup-state" }, `You have a history backup of ${stored.length} ${stored.length === 1 ? "conversation" : "conversations"}. Enter your history recovery key to bring the earlier messages to this device.`),
    errors.box,
    key.wrap,
    h("button", { type: "submit", class: "primary" }, "Restore earlier messages"),
  );
  // Lost the key: the backup is of no use; start again (deleting it).
  const startOver = confirmAction({
    label: "I lost the key: delete this backup",
    question: "Delete your history backup? Without its key nobody can open it. You can then turn on a new one with a new key.",
    confirm: "Yes, delete the backup",
    work: () => m.turnArchiveOff(),
    done: () => {
      ctx.announce("The history backup was deleted.");
      draw();
    },
  });
  onSubmit(form, errors, async () => {
    const n = await m.restoreArchive(key.input.value);
    key.input.value = "";
    ctx.announce(`${n} earlier ${n === 1 ? "message was" : "messages were"} restored to this device.`);
    await draw();
  });
  return [form, startOver];
}

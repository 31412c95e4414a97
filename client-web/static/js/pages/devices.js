// This user's devices, with last seen and which one is this browser; the
// user's other devices can be signed out or reported lost from here.

import { api } from "../api.js";
import { h, field, errorBox, onSubmit, formatTime, timeEl } from "../dom.js";
import { confirmAction, revokeDevice } from "./revoke.js";

export async function devicesPage(ctx) {
  const list = h("ul", { class: "cards", id: "devices" });
  async function load() {
    const devices = await api("GET", "/me/devices");
    list.replaceChildren(...devices.map(item));
  }
  function item(d) {
    const badges = [];
    if (d.current) badges.push(h("span", { class: "badge current" }, "This device"));
    if (d.revoked_at) badges.push(h("span", { class: "badge revoked" }, "Signed out"));
    const after = (message) => () => {
      ctx.announce(message);
      load().catch(() => {});
    };
    const actions =
      !d.current && !d.revoked_at
        ? h(
            "div",
            { class: "actions device-actions" },
            confirmAction({
              label: "Sign out this device",
              question: `Sign out “${d.name}”? It stops receiving messages at once and what it stored can no longer be opened. You can sign in on it again later.`,
              confirm: "Yes, sign it out",
              work: () => revokeDevice(d.id, "signed_out"),
              done: after(`“${d.name}” was signed out.`),
            }),
            confirmAction({
              label: "I lost this device",
              question: `Report “${d.name}” as lost? It is signed out at once, removed from every conversation, and everything Alcove stored on it becomes unreadable. Your practice is told so it can follow up.`,
              confirm: "Yes, I lost it",
              work: () => revokeDevice(d.id, "lost"),
              done: after(`“${d.name}” was reported lost and signed out.`),
            }),
          )
        : null;
    const rename = d.revoked_at ? null : renameControl(d);
    return h(
      "li",
      { class: "card device", "data-current": d.current ? "true" : null },
      h("h2", {}, d.name, " ", badges),
      rename,
      h(
        "dl",
        {},
        h("dt", {}, "Browser"),
        h("dd", {}, d.user_agent || "Unknown"),
        h("dt", {}, "Last seen"),
        h("dd", {}, d.current ? "Now" : timeEl(d.last_seen_at)),
        h("dt", {}, "First used"),
        h("dd", {}, formatTime(d.created_at)),
        d.revoked_at ? [h("dt", {}, "Signed out"), h("dd", {}, formatTime(d.revoked_at))] : null,
      ),
      actions,
    );
  }
  /** "Rename" opens a one-field form in place; saved, the list reloads. */
  function renameControl(d) {
    const slot = h("div", { class: "rename" });
    const open = h("button", { type: "button", class: "link-button", "aria-label": `Rename “${d.name}”` }, "Rename");
    open.addEventListener("click", () => {
      const errors = errorBox();
      const name = field({ label: "New name for this device", name: "device_name", maxlength: 64, value: d.name, hint: "For example “Work laptop”. Avoid your full name." });
      const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
      cancel.addEventListener("click", () => slot.replaceChildren(open));
      const form = h("form", {}, errors.box, name.wrap, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save"), cancel));
      onSubmit(form, errors, async () => {
        await api("PATCH", `/me/devices/${encodeURIComponent(d.id)}`, { name: name.input.value });
        await load();
        ctx.announce("The device was renamed.");
      });
      slot.replaceChildren(form);
      name.input.focus();
    });
    slot.append(open);
    return slot;
  }

  await load();
  return h(
    "section",
    {},
    h("h1", {}, "Devices"),
    h(
      "p",
      { class: "lead" },
      "Every browser or phone you have signed in with. If you do not recognise one, or lost it, sign it out here: it is cut off at once and what it stored can no longer be read.",
    ),
    list,
  );
}

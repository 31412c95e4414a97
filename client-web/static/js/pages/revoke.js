// A revoke button with an inline confirmation (keyboard and screen-reader
// friendly; no window.confirm). Used by the devices and admin pages.

import { api, failure } from "../api.js";
import { h, errorBox } from "../dom.js";

/**
 * Returns an element with `label` as a button; pressing it shows `question`
 * with "confirm" and "Cancel". On confirm, `work()` runs; errors show inline.
 */
export function confirmAction({ label, question, confirm, danger = true, work, done }) {
  const errors = errorBox();
  const open = h("button", { type: "button", class: danger ? "secondary danger" : "secondary" }, label);
  // The button that does it looks like what it does: red when it cannot be
  // undone, so it is not mistaken for an ordinary "continue".
  const yes = h("button", { type: "button", class: danger ? "primary destructive" : "primary" }, confirm);
  const no = h("button", { type: "button", class: "secondary" }, "Cancel");
  const questionEl = h("p", { class: "confirm-question" }, question);
  const panel = h("div", { class: "confirm", role: "group", "aria-label": label, hidden: true }, questionEl, errors.box, h("div", { class: "actions" }, yes, no));
  open.addEventListener("click", () => {
    panel.hidden = false;
    open.hidden = true;
    questionEl.setAttribute("tabindex", "-1");
    questionEl.focus();
  });
  no.addEventListener("click", () => {
    panel.hidden = true;
    open.hidden = false;
    errors.clear();
    open.focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    errors.clear();
    try {
      const result = await work();
      if (done) done(result);
    } catch (e) {
      errors.show(failure(e).message || "That did not work. Please try again.");
      yes.disabled = no.disabled = false;
    }
  });
  return h("div", { class: "confirm-wrap" }, open, panel);
}

/** POST /devices/{id}/revoke with reason "signed_out" or "lost". */
export function revokeDevice(id, reason) {
  return api("POST", `/devices/${encodeURIComponent(id)}/revoke`, { reason });
}

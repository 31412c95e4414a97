// The placeholder for reminders (conversations: conversations.js;
// administration: admin.js).

import { h } from "../dom.js";

export function remindersPage(ctx) {
  const staff = ctx.me.role !== "client";
  return h(
    "section",
    {},
    h("h1", {}, "Reminders"),
    h(
      "div",
      { class: "card empty" },
      h(
        "p",
        {},
        staff
          ? "Appointment reminders are coming soon. They will use short, neutral wording that never mentions therapy or a diagnosis."
          : "Appointment reminders are coming soon. You will be able to confirm or cancel an appointment here.",
      ),
    ),
  );
}

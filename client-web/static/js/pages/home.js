// Conversations (placeholder until the messaging layer replaces this route),
// and the placeholders for reminders and administration.

import { h } from "../dom.js";

/**
 * The home page. The messaging layer replaces this route (see
 * docs/web-client.md): it renders the conversation list into the element
 * with id "conversations".
 */
export function conversationsPage(ctx) {
  const staff = ctx.me.role !== "client";
  return h(
    "section",
    {},
    h("h1", {}, "Conversations"),
    h(
      "div",
      { id: "conversations", class: "card empty" },
      h("p", {}, "No conversations yet."),
      h(
        "p",
        { class: "muted" },
        staff
          ? "Encrypted messaging is being set up for this practice. Your conversations with clients will appear here."
          : "Encrypted messaging is being set up. Messages from your clinician will appear here.",
      ),
    ),
    staff && ["admin", "clinician"].includes(ctx.me.role)
      ? h("p", {}, h("a", { href: "/invites", "data-link": true }, "Invite someone to Alcove"))
      : null,
  );
}

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

export function adminPage() {
  return h(
    "section",
    {},
    h("h1", {}, "Administration"),
    h(
      "div",
      { class: "card empty" },
      h("p", {}, "Practice administration (staff, roles, assignments, device inventory and access review) is coming soon."),
      h("p", {}, "Meanwhile you can ", h("a", { href: "/invites", "data-link": true }, "invite staff and clients"), "."),
    ),
  );
}

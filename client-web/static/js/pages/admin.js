// Minimal administration: a first-run checklist (name the practice, invite
// the staff, keep a copy of the audit log's key), every device of the
// practice with revoke, and users with deactivate (a departed associate).
// The full console comes later.

import * as session from "../session.js";
import { api } from "../api.js";
import { h, field, errorBox, onSubmit, formatTime, timeEl, roleName, selectField } from "../dom.js";
import { confirmAction, revokeDevice } from "./revoke.js";
import { suspiciousSignIn } from "./incidents.js";

/** The name a practice has until its admin names it (the server's default). */
/** Which audit key this browser's admin said they kept a copy of (a public key: not a secret). */
const KEPT_KEY = "alcove.audit_key_kept";

/**
 * The first run, as a checklist that stays until every step is done:
 * name the practice, invite the staff, keep a copy of the audit log's
 * public key outside this server (what anyone checking the log later
 * compares with). Each step says whether it is done.
 */
function firstRun(ctx, { users, head, invites }, onChange) {
  const me = session.me();
  const named = me.practice_named;
  const staff = users.some((u) => u.id !== me.user_id && u.role !== "client") || invites.some((i) => i.role !== "client" && i.status === "pending");
  let kept = false;
  try {
    kept = localStorage.getItem(KEPT_KEY) === head.public_key;
  } catch (_) {
    /* storage disabled: the step shows as not done */
  }
  const mark = (done) => h("span", { class: `badge ${done ? "current" : "todo"}` }, done ? "Done" : "To do");

  const errors = errorBox();
  const name = field({ label: "Practice name", name: "practice_name", maxlength: 100, value: me.practice_name, hint: "Shown at the top of every page. Reminders never use a name with words like “counseling” or “therapy” in it." });
  const nameForm = h("form", { id: "practice-name-form" }, errors.box, name.wrap, h("button", { type: "submit", class: "secondary" }, "Save the name"));
  onSubmit(nameForm, errors, async () => {
    const answer = await api("PATCH", "/practice", { name: name.input.value });
    me.practice_name = answer.name;
    me.practice_named = answer.named;
    const header = document.getElementById("practice");
    if (header) header.textContent = answer.name;
    ctx.announce("The practice's name was saved.");
    onChange();
  });

  const copy = h("button", { type: "button", class: "secondary" }, "Copy the key");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(head.public_key);
      ctx.announce("Key copied.");
    } catch (_) {
      ctx.announce("Select the key and copy it yourself.");
    }
  });
  const keptBox = h("input", { type: "checkbox", id: "audit-key-kept", checked: kept });
  keptBox.addEventListener("change", () => {
    try {
      if (keptBox.checked) localStorage.setItem(KEPT_KEY, head.public_key);
      else localStorage.removeItem(KEPT_KEY);
    } catch (_) {
      /* storage disabled */
    }
    onChange();
  });

  const steps = h(
    "ol",
    { class: "first-run-steps" },
    h("li", { id: "step-name" }, h("h3", {}, "Name your practice ", mark(named)), nameForm),
    h(
      "li",
      { id: "step-staff" },
      h("h3", {}, "Invite your staff ", mark(staff)),
      h("p", {}, "Clinicians and associates each get their own link; clinicians then invite their clients. ", h("a", { href: "/invites", "data-link": true }, "Create invitations")),
    ),
    h(
      "li",
      { id: "step-audit-key" },
      h("h3", {}, "Keep a copy of the audit log's key ", mark(kept)),
      h("p", {}, "Every entry of the audit log is signed with this key. Keep a copy outside Alcove (print it, or file it with the practice's records), so that whoever checks the log later — you, an auditor, an investigator — can be sure it is the practice's log."),
      h("p", {}, h("code", { class: "hash", id: "audit-public-key" }, head.public_key)),
      h("div", { class: "actions" }, copy),
      h("div", { class: "check" }, keptBox, h("label", { for: "audit-key-kept" }, "I kept a copy of this key outside Alcove")),
    ),
  );
  const all = named && staff && kept;
  return h(
    "details",
    { class: "card first-run", id: "first-run", open: !all },
    h("summary", {}, all ? "Getting started: done" : "Getting started"),
    steps,
  );
}

/** States, DC and territories by USPS code (the server accepts exactly these). */
const STATES = [
  ["AL", "Alabama"], ["AK", "Alaska"], ["AS", "American Samoa"], ["AZ", "Arizona"], ["AR", "Arkansas"],
  ["CA", "California"], ["CO", "Colorado"], ["CT", "Connecticut"], ["DE", "Delaware"], ["DC", "District of Columbia"],
  ["FL", "Florida"], ["GA", "Georgia"], ["GU", "Guam"], ["HI", "Hawaii"], ["ID", "Idaho"], ["IL", "Illinois"],
  ["IN", "Indiana"], ["IA", "Iowa"], ["KS", "Kansas"], ["KY", "Kentucky"], ["LA", "Louisiana"], ["ME", "Maine"],
  ["MD", "Maryland"], ["MA", "Massachusetts"], ["MI", "Michigan"], ["MN", "Minnesota"], ["MS", "Mississippi"],
  ["MO", "Missouri"], ["MT", "Montana"], ["NE", "Nebraska"], ["NV", "Nevada"], ["NH", "New Hampshire"],
  ["NJ", "New Jersey"], ["NM", "New Mexico"], ["NY", "New York"], ["NC", "North Carolina"], ["ND", "North Dakota"],
  ["MP", "Northern Mariana Islands"], ["OH", "Ohio"], ["OK", "Oklahoma"], ["OR", "Oregon"], ["PA", "Pennsylvania"],
  ["PR", "Puerto Rico"], ["RI", "Rhode Island"], ["SC", "South Carolina"], ["SD", "South Dakota"], ["TN", "Tennessee"],
  ["TX", "Texas"], ["VI", "U.S. Virgin Islands"], ["UT", "Utah"], ["VT", "Vermont"], ["VA", "Virginia"],
  ["WA", "Washington"], ["WV", "West Virginia"], ["WI", "Wisconsin"], ["WY", "Wyoming"],
];

/** A client's state of residence, kept for breach notices (media counts per state). */
function residenceForm(ctx, u, done) {
  const state = selectField({
    label: `State of residence of ${u.display_name}`,
    name: "state_of_residence",
    options: [["", "Not recorded"], ...STATES],
    value: u.state_of_residence || "",
  });
  const errors = errorBox();
  const form = h(
    "form",
    { class: "residence" },
    state.wrap,
    h("p", { class: "hint" }, "Only for breach notices: a breach affecting more than 500 residents of one state must also be announced in its media."),
    errors.box,
    h("button", { type: "submit" }, "Save state"),
  );
  onSubmit(form, errors, async () => {
    await api("PUT", `/users/${encodeURIComponent(u.id)}/residence`, { state: state.select.value || null });
    done(`Saved where ${u.display_name} lives.`)();
  });
  return form;
}

/**
 * A sign-in reset link for a person who cannot sign in (a forgotten
 * passphrase): shown once here, for the admin to hand over in person or by
 * phone. It gives the admin nothing of the person's messages.
 */
function resetLinkAction(u) {
  const shown = h("div", { class: "reset-link", role: "status" });
  const action = confirmAction({
    label: "Make a sign-in reset link",
    question: `Make a link with which ${u.display_name} chooses a new ${u.role === "client" ? "passphrase" : "password"}? It works once, for a day, and signs out every device of theirs when used. Give it to them yourself, in person or by phone.`,
    confirm: "Yes, make the link",
    danger: false,
    work: () => api("POST", `/users/${encodeURIComponent(u.id)}/reset-link`, {}),
    done: (made) => {
      shown.replaceChildren(
        h("p", {}, `Reset link for ${u.display_name} (shown once; works until ${formatTime(made.expires_at)}):`),
        h("code", { class: "link" }, made.link),
      );
    },
  });
  return h("div", {}, action, shown);
}

export async function adminPage(ctx) {
  const deviceList = h("ul", { class: "cards", id: "admin-devices", "aria-labelledby": "admin-devices-h" });
  const userList = h("ul", { class: "cards", id: "admin-users", "aria-labelledby": "admin-users-h" });
  const guide = h("div", { id: "first-run-slot" });
  // Read once per visit: both reads are audited, and the lists below
  // reload after every revocation.
  const [head, invites] = await Promise.all([api("GET", "/audit/head"), api("GET", "/invites")]);
  let users = [];
  const showGuide = () => guide.replaceChildren(firstRun(ctx, { users, head, invites }, showGuide));

  async function load() {
    const [devices, people] = await Promise.all([api("GET", "/devices"), api("GET", "/users")]);
    users = people;
    deviceList.replaceChildren(...devices.map(deviceItem));
    userList.replaceChildren(...users.map(userItem));
    showGuide();
  }
  const reload = (message) => () => {
    ctx.announce(message);
    load().catch(() => {});
  };

  function deviceItem(d) {
    const revoked = !!d.revoked_at;
    return h(
      "li",
      { class: "card device" },
      h("h3", {}, d.name, " ", revoked ? h("span", { class: "badge revoked" }, d.revoked_reason === "lost" ? "Lost" : "Revoked") : null),
      h(
        "dl",
        {},
        h("dt", {}, "Person"),
        h("dd", {}, `${d.user_name} (${roleName(d.role)})`),
        h("dt", {}, "Last seen"),
        h("dd", {}, timeEl(d.last_seen_at)),
        revoked ? [h("dt", {}, "Revoked"), h("dd", {}, formatTime(d.revoked_at))] : null,
      ),
      !revoked && d.id !== ctx.me.device_id
        ? confirmAction({
            label: "Revoke device",
            question: `Revoke “${d.name}” of ${d.user_name}? It is signed out at once and removed from every conversation.`,
            confirm: "Yes, revoke it",
            work: () => revokeDevice(d.id, "signed_out"),
            done: reload(`“${d.name}” was revoked.`),
          })
        : null,
    );
  }

  function userItem(u) {
    const gone = !!u.deactivated_at;
    return h(
      "li",
      { class: "card device" },
      h("h3", {}, u.display_name, " ", gone ? h("span", { class: "badge revoked" }, "Deactivated") : null),
      h("p", { class: "muted" }, `${roleName(u.role)} · ${u.login}`),
      u.role === "client" ? residenceForm(ctx, u, reload) : null,
      !gone && u.id !== ctx.me.user_id ? resetLinkAction(u) : null,
      !gone ? suspiciousSignIn(ctx, u.id, `${u.display_name}'s account`) : null,
      !gone && u.id !== ctx.me.user_id
        ? confirmAction({
            label: "Deactivate user",
            question: `Deactivate ${u.display_name}? Every device is revoked, their invitations are cancelled, their assignments end and they are removed from every conversation.`,
            confirm: "Yes, deactivate",
            work: () => api("POST", `/users/${encodeURIComponent(u.id)}/deactivate`),
            done: reload(`${u.display_name} was deactivated.`),
          })
        : null,
    );
  }

  await load();
  return h(
    "section",
    {},
    h("h1", {}, "Administration"),
    guide,
    h("p", {}, "You can also ", h("a", { href: "/invites", "data-link": true }, "invite staff and clients"), "."),
    h(
      "p",
      {},
      "Your practice's sign-in link (people who sign in on a new browser need it when this server hosts several practices): ",
      h("code", { id: "practice-sign-in-link" }, `${location.origin}/login#practice=${session.me().practice_id}`),
    ),
    h("h2", { id: "admin-devices-h" }, "Devices"),
    deviceList,
    h("h2", { id: "admin-users-h" }, "People"),
    userList,
  );
}

// Invitations: admins invite anyone, clinicians invite clients. A new
// invite's link is shown once; the list shows status and allows revoking.

import { api, failure } from "../api.js";
import { h, field, selectField, errorBox, onSubmit, formatTime, roleName, withArticle } from "../dom.js";

const STATUS_WORDS = { pending: "Waiting", used: "Accepted", revoked: "Revoked", expired: "Expired" };

export async function invitesPage(ctx) {
  const admin = ctx.me.role === "admin";
  const errors = errorBox();
  const roles = admin
    ? [["client", "Client"], ["clinician", "Clinician"], ["associate", "Associate or trainee"], ["admin", "Practice admin"]]
    : [["client", "Client"]];
  const role = selectField({ label: "Role of the person you invite", name: "role", options: roles, value: "client" });
  const label = field({
    label: "Who is it for? (optional)",
    name: "label",
    required: false,
    maxlength: 60,
    hint: "So you can tell your invitations apart, for example “Sam R.”. Only your practice sees it; it is not in the link.",
  });
  const created = h("div", { id: "new-invite", class: "created", hidden: true });
  const list = h("ul", { class: "cards", id: "invite-list" });
  const form = h("form", { class: "card" }, errors.box, role.wrap, label.wrap, h("button", { type: "submit", class: "primary" }, "Create invitation link"));

  onSubmit(form, errors, async () => {
    const body = { role: role.select.value };
    if (label.input.value.trim()) body.label = label.input.value.trim();
    const invite = await api("POST", "/invites", body);
    label.input.value = "";
    // The list first, so that what is announced is what the page shows.
    await refresh();
    showCreated(ctx, created, invite);
  });

  async function refresh() {
    const invites = await api("GET", "/invites");
    invites.sort((a, b) => b.created_at - a.created_at);
    list.replaceChildren(
      ...(invites.length ? invites.map((i) => inviteItem(ctx, i, refresh)) : [h("li", { class: "muted" }, "No invitations yet.")]),
    );
  }
  await refresh();

  return h(
    "section",
    {},
    h("h1", {}, "Invitations"),
    h(
      "p",
      { class: "lead" },
      admin ? "Invite staff and clients. " : "Invite a client. ",
      "Each link works once and expires after a week. The link itself reveals nothing about your practice.",
    ),
    form,
    created,
    h("h2", {}, "Sent invitations"),
    list,
  );
}

function showCreated(ctx, container, invite) {
  const linkId = "new-invite-link";
  const input = h("input", { id: linkId, type: "text", readonly: true, class: "link", "aria-describedby": "new-invite-hint" });
  input.value = invite.link;
  const copy = h("button", { type: "button", class: "secondary" }, "Copy link");
  copy.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(invite.link);
      ctx.announce("Invitation link copied.");
    } catch (_) {
      ctx.announce("Select the link and copy it yourself.");
    }
  });
  container.replaceChildren(
    h("h2", { tabindex: "-1", id: "new-invite-heading" }, invite.label ? `New invitation for ${invite.label} (${roleName(invite.role).toLowerCase()})` : `New invitation for ${withArticle(roleName(invite.role))}`),
    h("div", { class: "field" }, h("label", { for: linkId }, "Invitation link"), input),
    h(
      "p",
      { class: "hint", id: "new-invite-hint" },
      `Send this link to the person privately (not in a group message). It works once and expires ${formatTime(invite.expires_at)}. It is shown only now.`,
    ),
    h("div", { class: "actions" }, copy),
  );
  container.hidden = false;
  container.querySelector("h2").focus();
  ctx.announce("Invitation link created.");
}

function inviteItem(ctx, invite, refresh) {
  const actions = [];
  if (invite.status === "pending") {
    const revoke = h("button", { type: "button", class: "secondary danger", "aria-label": invite.label ? `Revoke the invitation for ${invite.label}` : `Revoke the ${roleName(invite.role)} invitation created ${formatTime(invite.created_at)}` }, "Revoke");
    revoke.addEventListener("click", async () => {
      revoke.disabled = true;
      try {
        await api("DELETE", `/invites/${encodeURIComponent(invite.id)}`);
        await refresh();
        ctx.announce("Invitation revoked.");
        const heading = document.querySelector("#invite-list")?.previousElementSibling;
        if (heading instanceof HTMLElement) {
          heading.setAttribute("tabindex", "-1");
          heading.focus();
        }
      } catch (e) {
        revoke.disabled = false;
        ctx.announce(failure(e).message);
      }
    });
    actions.push(revoke);
  }
  return h(
    "li",
    { class: "card invite", "data-status": invite.status },
    h(
      "p",
      {},
      invite.label ? [h("strong", { class: "invite-for" }, `For ${invite.label}`), ` · ${roleName(invite.role)}`] : h("strong", {}, roleName(invite.role)),
      " ",
      h("span", { class: `badge ${invite.status}` }, STATUS_WORDS[invite.status] || invite.status),
    ),
    invite.used_by_name ? h("p", { class: "accepted-by" }, `Accepted by ${invite.used_by_name}`) : null,
    h(
      "p",
      { class: "muted" },
      `Created ${formatTime(invite.created_at)}`,
      invite.status === "pending" ? ` · expires ${formatTime(invite.expires_at)}` : "",
    ),
    actions.length ? h("div", { class: "actions" }, actions) : null,
  );
}

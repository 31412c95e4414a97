// Minimal administration: every device of the practice with revoke, and
// users with deactivate (a departed associate). The full console comes later.

import * as session from "../session.js";
import { api } from "../api.js";
import { h, formatTime, timeEl, roleName } from "../dom.js";
import { confirmAction, revokeDevice } from "./revoke.js";

export async function adminPage(ctx) {
  const deviceList = h("ul", { class: "cards", id: "admin-devices", "aria-labelledby": "admin-devices-h" });
  const userList = h("ul", { class: "cards", id: "admin-users", "aria-labelledby": "admin-users-h" });

  async function load() {
    const [devices, users] = await Promise.all([api("GET", "/devices"), api("GET", "/users")]);
    deviceList.replaceChildren(...devices.map(deviceItem));
    userList.replaceChildren(...users.map(userItem));
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

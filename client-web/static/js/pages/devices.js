// This user's devices, with last seen and which one is this browser.

import { api } from "../api.js";
import { h, formatTime, timeEl } from "../dom.js";

export async function devicesPage() {
  const devices = await api("GET", "/me/devices");
  const items = devices.map((d) => {
    const badges = [];
    if (d.current) badges.push(h("span", { class: "badge current" }, "This device"));
    if (d.revoked_at) badges.push(h("span", { class: "badge revoked" }, "Signed out"));
    return h(
      "li",
      { class: "card device", "data-current": d.current ? "true" : null },
      h("h2", {}, d.name, " ", badges),
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
    );
  });
  return h(
    "section",
    {},
    h("h1", {}, "Devices"),
    h("p", { class: "lead" }, "Every browser or phone you have signed in with. If you do not recognise one, or lost it, ask your practice admin to sign it out."),
    h("ul", { class: "cards", id: "devices" }, items),
  );
}

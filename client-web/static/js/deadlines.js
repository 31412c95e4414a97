// In-app reminder of approaching breach-notice deadlines (45 CFR 164.404):
// for the practice's admins, the Incidents link in the navigation says how
// many days are left on the nearest deadline of an incident that may still
// owe notices (not closed, not decided as no breach or an exception), from
// 14 days before it on. A count and days only: nothing about the incident.
//
// Read at most once a minute (the list is the admin's own, not audited);
// the link is updated in place when the answer comes.

import { api } from "./api.js";

const SOON_DAYS = 14;
const READ_EVERY_MS = 60_000;
let last = { at: 0, due: null };

/** The nearest deadline's days left among incidents that may owe notices. */
export function nearestDue(incidents) {
  const owing = incidents.filter((i) => i.status !== "closed" && i.decision !== "not_a_breach" && i.decision !== "exception");
  const days = owing.map((i) => i.deadlines.days_left).filter((d) => d <= SOON_DAYS);
  return days.length ? { days: Math.min(...days), count: days.length } : null;
}

function label(due) {
  if (!due) return "";
  const when = due.days < 0 ? `overdue by ${-due.days} day${due.days === -1 ? "" : "s"}` : due.days === 0 ? "due today" : `due in ${due.days} day${due.days === 1 ? "" : "s"}`;
  return due.count > 1 ? `${due.count} notices, first ${when}` : `notice ${when}`;
}

/** Marks `link` (the Incidents nav link) when a notice deadline is near. */
export function markDeadlines(link) {
  const apply = (due) => {
    let badge = link.querySelector(".badge");
    if (!due) {
      if (badge) badge.remove();
      return;
    }
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "badge deadline";
      link.append(" ", badge);
    }
    badge.textContent = label(due);
  };
  apply(last.due);
  if (Date.now() - last.at < READ_EVERY_MS) return;
  last = { ...last, at: Date.now() };
  api("GET", "/incidents")
    .then((list) => {
      last = { at: Date.now(), due: nearestDue(list) };
      if (link.isConnected) apply(last.due);
    })
    .catch(() => {});
}

/** Forgets what was read (a sign-out, or a decision just made). */
export function forgetDeadlines() {
  last = { at: 0, due: null };
}

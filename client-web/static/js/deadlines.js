// In-app reminder of approaching breach-notice deadlines (45 CFR 164.404):
// for the practice's admins, the Incidents link in the navigation says how
// many days are left on the nearest deadline of an incident that may still
// owe notices (not closed, not decided as no breach or an exception), from
// 14 days before it on. A count and days only: nothing about the incident.
//
// It also says "webhook off" while a webhook endpoint stands turned off by
// the server after three days of failed deliveries: the practice's own
// systems are no longer told of incidents, and the admins must know.
//
// Read at most once a minute (the lists are the admin's own, not audited);
// the link is updated in place when the answers come.

import { api } from "./api.js";

const SOON_DAYS = 14;
const READ_EVERY_MS = 60_000;
/** @type {{ at: number, due: { days: number, count: number } | null, hooksOff: number }} */
let last = { at: 0, due: null, hooksOff: 0 };

/** The nearest deadline's days left among incidents that may owe notices. */
export function nearestDue(incidents) {
  const owing = incidents.filter((i) => i.status !== "closed" && i.decision !== "not_a_breach" && i.decision !== "exception");
  const days = owing.map((i) => i.deadlines.days_left).filter((d) => d <= SOON_DAYS);
  return days.length ? { days: Math.min(...days), count: days.length } : null;
}

/** How many endpoints the server turned off for failing. */
export function hooksTurnedOff(endpoints) {
  return endpoints.filter((e) => !e.enabled && e.disabled_reason === "failing").length;
}

function notice(due) {
  if (!due) return "";
  const when = due.days < 0 ? `overdue by ${-due.days} day${due.days === -1 ? "" : "s"}` : due.days === 0 ? "due today" : `due in ${due.days} day${due.days === 1 ? "" : "s"}`;
  return due.count > 1 ? `${due.count} notices, first ${when}` : `notice ${when}`;
}

function label(due, hooksOff) {
  const off = hooksOff > 1 ? `${hooksOff} webhooks off` : hooksOff === 1 ? "webhook off" : "";
  return [notice(due), off].filter(Boolean).join(" · ");
}

/**
 * Marks `link` (the Incidents nav link) when a notice deadline is near or
 * a webhook was turned off for failing.
 */
export function markDeadlines(link) {
  const apply = (due, hooksOff) => {
    let badge = link.querySelector(".badge");
    if (!due && !hooksOff) {
      if (badge) badge.remove();
      return;
    }
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "badge deadline";
      link.append(" ", badge);
    }
    badge.textContent = label(due, hooksOff);
  };
  apply(last.due, last.hooksOff);
  if (Date.now() - last.at < READ_EVERY_MS) return;
  last = { ...last, at: Date.now() };
  Promise.all([api("GET", "/incidents"), api("GET", "/webhooks")])
    .then(([list, endpoints]) => {
      last = { at: Date.now(), due: nearestDue(list), hooksOff: hooksTurnedOff(endpoints) };
      if (link.isConnected) apply(last.due, last.hooksOff);
    })
    .catch(() => {});
}

/** Forgets what was read (a sign-out, a decision just made, a webhook turned on). */
export function forgetDeadlines() {
  last = { at: 0, due: null, hooksOff: 0 };
}

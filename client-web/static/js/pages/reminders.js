// Reminders: staff schedule appointments and see what was sent, withheld or
// failed (with the reason); admins edit the wording, linted as they type;
// clients see their appointments, confirm or cancel, and say how (and
// whether) they may be reminded. Nothing personal goes in a URL.

import { api, failure } from "../api.js";
import { h, field, selectField, errorBox, onSubmit, formatTime, uid } from "../dom.js";
import * as m from "../messaging/client.js";
import { reminderContent } from "../messaging/appointment.js";
import { detailsBlock, answerOccurrence } from "./appointments.js";

const STATUS_WORDS = {
  scheduled: "Scheduled",
  confirmed: "Confirmed",
  cancelled: "Cancelled",
  rescheduled: "Moved",
  no_reply: "No reply",
};

const REMINDER_WORDS = {
  pending: "Waiting to be sent",
  sent: "Sent",
  failed: "Failed",
  withheld: "Withheld",
  withdrawn: "Withdrawn",
  dropped: "Not sent (too late)",
};

const REASON_WORDS = {
  no_allowed_channel: "the client allows no way to reach them (or gave no address)",
  opted_out: "the client asked not to get reminders",
  channel_not_configured: "the practice has not set up the channel the client allows",
  quiet_hours: "it fell in the client's quiet hours",
  late: "the server was down past the time it was due",
  after_the_appointment: "the appointment had already begun",
  rescheduled: "the appointment moved",
  cancelled: "the appointment was cancelled",
  preferences_changed: "the client's preferences changed",
  confirmed: "replanned after the client confirmed",
  occurrence_not_scheduled: "the appointment is no longer happening",
};

function reasonText(reason) {
  if (!reason) return "";
  if (REASON_WORDS[reason]) return REASON_WORDS[reason];
  if (reason.startsWith("refused_by_linter: ")) return `the wording was refused: ${reason.slice(19)}`;
  return reason;
}

function zoneGuess() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "America/New_York";
  } catch (_) {
    return "America/New_York";
  }
}

/** A date and time in an IANA zone, as the client will read it. */
function inZone(unixSecs, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short", timeZone: zone }).format(new Date(unixSecs * 1000));
  } catch (_) {
    return formatTime(unixSecs);
  }
}

export async function remindersPage(ctx) {
  return ctx.me.role === "client" ? clientPage(ctx) : staffPage(ctx);
}

/**
 * Reads the lists again whenever the server says an appointment this
 * person may see changed (a client's answer, a new time), while the page
 * is shown; bursts are read once.
 */
function live(ctx, refresh, { messages = false } = {}) {
  let pending = null;
  const off = m.subscribe((event) => {
    if (!ctx.isCurrent()) {
      off();
      return;
    }
    const relevant = event.type === "appointments" || (messages && event.type === "messages");
    if (!relevant || pending) return;
    pending = refresh()
      .catch((e) => console.warn("appointments not read again", e && e.code))
      .finally(() => {
        pending = null;
      });
  });
}

/**
 * Says an appointment change in the conversation with the client, end to
 * end: the time, and the place, video link and note (which go nowhere
 * else). Opens the conversation if there is none yet. Returns an error
 * message, or null when it was sent.
 */
async function tellClient(clientId, content, { open = true } = {}) {
  try {
    const conv = open ? await m.startConversation(clientId) : m.conversationWith(clientId);
    if (!conv) return null;
    await m.sendAppointmentMessage(conv, content);
    return null;
  } catch (e) {
    return failure(e).message || "it could not be sent";
  }
}

// --- staff -----------------------------------------------------------------

async function staffPage(ctx) {
  const admin = ctx.me.role === "admin";
  const [contacts, users] = await Promise.all([api("GET", "/contacts"), admin ? api("GET", "/users") : Promise.resolve([])]);
  // An admin schedules for any active client of the practice (with the
  // clinician who looks after them); staff for the clients assigned to them.
  const clients = admin
    ? users.filter((u) => u.role === "client" && !u.deactivated_at).map((u) => ({ user_id: u.id, display_name: u.display_name }))
    : contacts.filter((c) => c.role === "client");
  const names = new Map(contacts.map((c) => [c.user_id, c.display_name]));
  for (const u of users) names.set(u.id, u.display_name);
  const upcoming = h("ul", { class: "cards", id: "appointment-list" });
  const sent = h("ul", { class: "cards", id: "reminder-list" });
  const shown = h("p", { class: "muted", id: "reminder-filter-count", role: "status" });
  // Filters over what was read (a practice's upcoming weeks, its recent
  // reminders): by client, by clinician (admins), by state. Nothing leaves
  // the page, so nothing of a filter is in a URL.
  const byClient = selectField({
    label: "Client",
    name: "filter_client",
    options: [["", "All clients"], ...clients.map((c) => [c.user_id, c.display_name])],
  });
  const staffList = admin ? users.filter((u) => u.role === "clinician" || u.role === "associate") : [];
  const byClinician = selectField({
    label: "Clinician",
    name: "filter_clinician",
    options: [["", "All clinicians"], ...staffList.map((u) => [u.id, u.display_name])],
  });
  const byBooking = selectField({
    label: "Appointments",
    name: "filter_appointments",
    options: [
      ["", "All"],
      ["booked", "Booked (scheduled or confirmed)"],
      ["cancelled", "Cancelled"],
    ],
  });
  const bySending = selectField({
    label: "Reminders",
    name: "filter_reminders",
    options: [
      ["", "All"],
      ["pending", "Waiting to go"],
      ["sent", "Sent"],
      ["not_sent", "Not sent (withheld or failed)"],
    ],
  });
  const filters = h(
    "form",
    { class: "card filter-grid", id: "reminder-filters", "aria-label": "Filter appointments and reminders" },
    byClient.wrap,
    admin ? byClinician.wrap : null,
    byBooking.wrap,
    bySending.wrap,
  );
  /** @type {{occurrences: any[], reminders: any[]}} */
  let last = { occurrences: [], reminders: [] };
  /** @param {{client_id: string, clinician_id: string}} x */
  const whose = (x) =>
    (!byClient.select.value || x.client_id === byClient.select.value) &&
    (!byClinician.select.value || x.clinician_id === byClinician.select.value);
  /** @type {Record<string, (status: string) => boolean>} */
  const booking = {
    "": () => true,
    booked: (st) => st === "scheduled" || st === "confirmed",
    cancelled: (st) => st === "cancelled",
  };
  /** @type {Record<string, (status: string) => boolean>} */
  const sending = {
    "": () => true,
    pending: (st) => st === "pending",
    sent: (st) => st === "sent",
    not_sent: (st) => st === "withheld" || st === "failed",
  };

  async function refresh() {
    const [occurrences, reminders] = await Promise.all([api("GET", "/appointments"), api("GET", "/reminders")]);
    last = { occurrences, reminders };
    draw();
  }

  function draw() {
    const occurrences = last.occurrences.filter((o) => whose(o) && booking[byBooking.select.value](o.status));
    const reminders = last.reminders.filter((r) => whose(r) && sending[bySending.select.value](r.status));
    const filtered = [byClient, byClinician, byBooking, bySending].some((f) => f.select.value);
    shown.textContent = filtered ? `Showing ${occurrences.length} of ${last.occurrences.length} appointments and ${reminders.length} of ${last.reminders.length} reminders.` : "";
    // A one-time appointment is moved by itself; a series from its next
    // time on, by its rule (the server moves every later time with it, so
    // only the next one offers it: moving a later one would take the
    // earlier ones along unasked).
    // The times counted run from the next open one on, a cancelled week
    // after it included: the server pairs the new times with these in
    // order and keeps that week cancelled. Counted over every time read,
    // whatever the filters show.
    const later = new Map();
    for (const o of last.occurrences) {
      const rest = later.get(o.appointment_id) || [];
      const open = o.status === "scheduled" || o.status === "confirmed";
      if (open || rest.length) later.set(o.appointment_id, [...rest, o]);
    }
    upcoming.replaceChildren(
      ...(occurrences.length
        ? occurrences.map((o) => {
            const rest = later.get(o.appointment_id) || [];
            const skipped = rest.filter((x) => x.status === "cancelled").length;
            const move = rest[0] === o ? { count: rest.length, skipped } : null;
            return occurrenceItem(ctx, o, names, refresh, { staff: true, move, note: keptAtOldTime(o, last.occurrences) });
          })
        : [h("li", { class: "muted" }, filtered ? "No appointments match." : "No upcoming appointments.")]),
    );
    sent.replaceChildren(
      ...(reminders.length
        ? reminders.slice(0, 100).map((r) => reminderItem(r, names))
        : [h("li", { class: "muted" }, filtered ? "No reminders match." : "No reminders yet.")]),
    );
  }
  for (const f of [byClient, byClinician, byBooking, bySending]) f.select.addEventListener("change", draw);

  const schedule = scheduleForm(ctx, clients, admin ? users.filter((u) => u.role === "clinician" || u.role === "associate") : null, refresh);
  await refresh();
  live(ctx, refresh);
  return h(
    "section",
    {},
    h("h1", {}, "Reminders"),
    h(
      "p",
      { class: "lead" },
      "Reminders say only that there is an appointment and when — never what it is for or with whom — and go only the way each client allows.",
    ),
    clients.length ? schedule : h("p", { class: "card empty" }, "Invite a client first; then you can schedule their appointments here."),
    h("h2", {}, "Upcoming appointments"),
    filters,
    shown,
    upcoming,
    h("h2", {}, "Reminders"),
    sent,
    await templateEditor(ctx, admin),
    await nudgeSection(ctx, admin, names),
  );
}

const NUDGE_WORDS = { sent: "New-message text sent", withheld: "New-message text withheld", failed: "New-message text failed" };

// "You have a new secure message": the practice's timing (admins change
// it) and what went out — when, by which channel, or why not; never the
// text or the address.
async function nudgeSection(ctx, admin, names) {
  const [timing, nudges] = await Promise.all([api("GET", "/reminders/nudges/settings"), api("GET", "/reminders/nudges")]);
  const errors = errorBox();
  const after = field({
    label: "Minutes a message stays unread before the text (0: never)",
    name: "after_minutes",
    type: "number",
    inputmode: "numeric",
    value: String(timing.after_minutes),
  });
  const cooldown = field({
    label: "At most one text per conversation every … minutes",
    name: "cooldown_minutes",
    type: "number",
    inputmode: "numeric",
    value: String(timing.cooldown_minutes),
  });
  for (const f of [after, cooldown]) f.input.readOnly = !admin;
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "nudges-h" },
    h(
      "p",
      {},
      "When a client has not read a message and none of their devices is connected, they get one text or email saying only “You have a new secure message”, the way and at the hours they allow.",
    ),
    errors.box,
    after.wrap,
    cooldown.wrap,
    admin ? h("button", { type: "submit", class: "primary" }, "Save timing") : h("p", { class: "muted" }, "Only a practice admin changes the timing."),
  );
  onSubmit(form, errors, async () => {
    await api("PUT", "/reminders/nudges/settings", {
      after_minutes: Number(after.input.value),
      cooldown_minutes: Number(cooldown.input.value),
    });
    ctx.announce("Timing saved.");
  });
  const list = h(
    "ul",
    { class: "cards", id: "nudge-list", "aria-labelledby": "nudges-h" },
    ...(nudges.length
      ? nudges.slice(0, 50).map((n) =>
          h(
            "li",
            { class: "card reminder", "data-status": n.status },
            h("p", {}, h("strong", {}, NUDGE_WORDS[n.status] || n.status), n.channel ? ` · by ${n.channel}` : ""),
            h("p", { class: "muted" }, `${names.get(n.client_id) || "Client"} · ${formatTime(n.created_at)}`),
            n.reason ? h("p", { class: "reason" }, `Why: ${reasonText(n.reason)}.`) : null,
          ),
        )
      : [h("li", { class: "muted" }, "No new-message texts yet.")]),
  );
  return h("div", {}, h("h2", { id: "nudges-h" }, "New-message texts"), form, list);
}

function scheduleForm(ctx, clients, clinicians, refresh) {
  const errors = errorBox();
  const client = selectField({ label: "Client", name: "client", options: clients.map((c) => [c.user_id, c.display_name]) });
  const clinician = clinicians ? selectField({ label: "Clinician", name: "clinician", options: clinicians.map((c) => [c.id, c.display_name]) }) : null;
  const date = field({ label: "Date", name: "date", type: "date" });
  const time = field({ label: "Time", name: "time", type: "time", value: "15:00" });
  const zone = field({ label: "Client's time zone", name: "zone", value: zoneGuess(), hint: "As in America/New_York: reminders are written in the client's time." });
  const duration = field({ label: "Length in minutes", name: "duration", type: "number", value: "50", inputmode: "numeric" });
  duration.input.min = "5";
  duration.input.max = "480";
  const repeat = selectField({
    label: "Repeats",
    name: "repeat",
    options: [["0", "Does not repeat"], ["1", "Every week"], ["2", "Every two weeks"]],
    value: "0",
  });
  const count = field({ label: "How many times in all", name: "count", type: "number", value: "6", inputmode: "numeric", required: false });
  count.input.min = "2";
  count.input.max = "52";
  count.wrap.hidden = true;
  repeat.select.addEventListener("change", () => {
    count.wrap.hidden = repeat.select.value === "0";
  });
  const modality = selectField({ label: "Where", name: "modality", options: [["in_person", "In person"], ["telehealth", "Video (telehealth)"]] });
  // The particulars go to the client in your conversation, end to end —
  // never to the server's records or into a reminder text.
  const place = field({ label: "Address or room (optional)", name: "place", required: false, maxlength: 300 });
  const link = field({ label: "Video link (optional)", name: "link", type: "url", required: false, maxlength: 500, placeholder: "https://" });
  const note = field({ label: "Note for the client (optional)", name: "note", required: false, maxlength: 500 });
  const form = h(
    "form",
    { class: "card", id: "schedule-form", "aria-labelledby": "schedule-heading" },
    h("h2", { id: "schedule-heading" }, "Schedule an appointment"),
    errors.box,
    client.wrap,
    clinician ? clinician.wrap : null,
    date.wrap,
    time.wrap,
    zone.wrap,
    duration.wrap,
    repeat.wrap,
    count.wrap,
    modality.wrap,
    h(
      "fieldset",
      { class: "private-details" },
      h("legend", {}, "For the client's eyes only"),
      h("p", { class: "hint" }, "Sent to the client in your conversation, end to end encrypted — never in a reminder text or email, never readable by the server."),
      place.wrap,
      link.wrap,
      note.wrap,
    ),
    h("button", { type: "submit", class: "primary" }, "Schedule"),
  );
  onSubmit(form, errors, async () => {
    const every = Number(repeat.select.value);
    const body = {
      client_id: client.select.value,
      time_zone: zone.input.value.trim(),
      start_local: `${date.input.value}T${time.input.value}`,
      duration_minutes: Number(duration.input.value),
      modality: modality.select.value,
    };
    if (clinician) body.clinician_id = clinician.select.value;
    if (every) body.recurrence = { every_weeks: every, count: Number(count.input.value) };
    const videoLink = link.input.value.trim();
    if (videoLink && !/^https:\/\//i.test(videoLink)) throw new Error("The video link must start with https://.");
    const created = await api("POST", "/appointments", body);
    const n = created.occurrences.length;
    const first = (await api("GET", "/appointments")).find((o) => o.id === created.occurrences[0]);
    let unsent = null;
    if (first) {
      const content = reminderContent({
        appointmentId: created.id,
        startsAtSecs: first.starts_at,
        minutes: first.duration_minutes,
        zone: first.time_zone,
        modality: first.modality,
        location: place.input.value.trim(),
        link: videoLink,
        note: note.input.value.trim(),
        change: "scheduled",
      });
      unsent = await tellClient(body.client_id, content);
    }
    const done = n > 1 ? `Appointment scheduled, ${n} times.` : "Appointment scheduled.";
    ctx.announce(unsent ? `${done} It could not be sent to the client's conversation: ${unsent}` : `${done} The client has it in your conversation.`);
    for (const f of [place, link, note]) f.input.value = "";
    await refresh();
  });
  return form;
}

/** Wall-clock date and time of `unixSecs` in `zone`: ["YYYY-MM-DD", "HH:MM"]. */
function localParts(unixSecs, zone) {
  try {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
        .formatToParts(new Date(unixSecs * 1000))
        .map((p) => [p.type, p.value]),
    );
    return [`${parts.year}-${parts.month}-${parts.day}`, `${parts.hour}:${parts.minute}`];
  } catch (_) {
    return ["", ""];
  }
}

/** Weeks between the times of a series, from its RFC 5545 rule. */
function everyWeeks(rrule) {
  const m = /(?:^|;)INTERVAL=(\d+)(?:;|$)/.exec(rrule || "");
  return rrule ? (m ? Number(m[1]) : 1) : 0;
}

/**
 * Moving an appointment: a new date and time (in the client's zone). A
 * series moves from its next time on, the `count` times left keeping their
 * rule. The server withdraws and re-plans the reminders, and the
 * conversation tells the client, with the details it had.
 */
function moveForm(ctx, o, { count, skipped }, refresh) {
  const errors = errorBox();
  const [day, hour] = localParts(o.starts_at, o.time_zone);
  const every = everyWeeks(o.rrule);
  const date = field({ label: "New date", name: "move-date", type: "date", value: day });
  const time = field({ label: "New time", name: "move-time", type: "time", value: hour });
  const series =
    every && count > 1
      ? h(
          "p",
          { class: "hint" },
          `Moves this time and the ${count - 1} after it, keeping ${every === 1 ? "every week" : "every two weeks"} from the new date.` +
            (skipped ? ` ${skipped === 1 ? "The cancelled one stays" : `The ${skipped} cancelled ones stay`} cancelled.` : ""),
        )
      : null;
  const form = h(
    "form",
    { class: "move-form", hidden: true },
    errors.box,
    series,
    date.wrap,
    time.wrap,
    h("button", { type: "submit", class: "primary" }, series ? "Move these appointments" : "Move appointment"),
  );
  onSubmit(form, errors, async () => {
    const body = {
      time_zone: o.time_zone,
      start_local: `${date.input.value}T${time.input.value}`,
      duration_minutes: o.duration_minutes,
      modality: o.modality,
    };
    if (series) body.recurrence = { every_weeks: every, count };
    const result = await api("PUT", `/appointments/${encodeURIComponent(o.appointment_id)}`, body);
    // The first new time (not a cancelled week before or among them).
    const first = result.occurrences[0];
    const moved = first && (await api("GET", "/appointments")).find((x) => x.id === first);
    let unsent = null;
    if (moved) {
      const before = m.appointmentDetails().get(o.appointment_id);
      const d = (before && before.details) || {};
      const content = reminderContent({
        appointmentId: o.appointment_id,
        startsAtSecs: moved.starts_at,
        minutes: moved.duration_minutes,
        zone: moved.time_zone,
        modality: moved.modality,
        location: before ? before.location : "",
        link: d.link || "",
        note: d.note || "",
        change: "rescheduled",
      });
      unsent = await tellClient(o.client_id, content, { open: false });
    }
    const what = series ? `${count - skipped} appointments moved; their reminders are re-planned.` : "Appointment moved; its reminders are re-planned.";
    ctx.announce(unsent ? `${what} The conversation could not be told: ${unsent}` : what);
    await refresh();
  });
  return form;
}

/** The time of day of `unixSecs` in `zone` ("3:00 PM"). */
function timeOfDay(unixSecs, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, { timeStyle: "short", timeZone: zone }).format(new Date(unixSecs * 1000));
  } catch (_) {
    return "";
  }
}

/**
 * A cancelled week of a series that moved afterwards keeps its old time
 * (the record of what was cancelled) while the weeks around it show the
 * new one: say so, or it reads as a mistake.
 */
function keptAtOldTime(o, all) {
  if (o.status !== "cancelled") return null;
  const next = all.find((x) => x.appointment_id === o.appointment_id && x.starts_at > o.starts_at && x.status !== "cancelled");
  if (!next || timeOfDay(next.starts_at, next.time_zone) === timeOfDay(o.starts_at, o.time_zone)) return null;
  return "Cancelled before the series moved: it keeps its old time, and stays cancelled.";
}

/**
 * One occurrence in a list, with the actions its viewer may take.
 * @param {any} ctx
 * @param {any} o the occurrence
 * @param {Map<string, string>} names user id → name
 * @param {() => Promise<void>} refresh
 * @param {{ staff: boolean, move?: { count: number, skipped: number } | null, note?: string | null }} options
 *   `move`: this is the next occurrence of its series, which offers moving
 *   it and the later ones (how many, how many of them cancelled); `note`:
 *   a line of explanation under it
 */
function occurrenceItem(ctx, o, names, refresh, { staff, move: moving = null, note = null }) {
  const when = inZone(o.starts_at, o.time_zone);
  const actions = [];
  const open = o.status === "scheduled" || o.status === "confirmed";
  const button = (label, cls, work) => {
    const b = h("button", { type: "button", class: cls, "aria-label": `${label}: ${when}` }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await work();
        await refresh();
      } catch (e) {
        b.disabled = false;
        ctx.announce(failure(e).message);
      }
    });
    return b;
  };
  const move = open && staff && moving ? moveForm(ctx, o, moving, refresh) : null;
  if (move) {
    const b = h("button", { type: "button", class: "secondary", "aria-label": `Move: ${when}` }, "Move");
    b.addEventListener("click", () => {
      move.hidden = !move.hidden;
      if (!move.hidden) move.querySelector("input")?.focus();
    });
    actions.push(b);
  }
  if (open && staff) {
    actions.push(
      button("Cancel", "secondary danger", async () => {
        await api("POST", `/appointments/${encodeURIComponent(o.appointment_id)}/cancel`, { occurrence_id: o.id });
        // The conversation says so too (if there is one): the client
        // should not learn it from a missing reminder.
        const content = reminderContent({
          appointmentId: o.appointment_id,
          startsAtSecs: o.starts_at,
          minutes: o.duration_minutes,
          zone: o.time_zone,
          modality: o.modality,
          change: "cancelled",
        });
        const unsent = await tellClient(o.client_id, content, { open: false });
        ctx.announce(unsent ? `Appointment cancelled; its reminders are withdrawn. The conversation could not be told: ${unsent}` : "Appointment cancelled; its reminders are withdrawn.");
      }),
    );
  }
  if (open && !staff) {
    if (o.status !== "confirmed") {
      actions.push(
        button("Confirm", "primary", async () => {
          await answerOccurrence(o, "confirm");
          ctx.announce("Thank you — your appointment is confirmed.");
        }),
      );
    }
    actions.push(
      button("I can't come", "secondary danger", async () => {
        await answerOccurrence(o, "cancel");
        ctx.announce("Your appointment is cancelled. Your practice can see this.");
      }),
    );
  }
  // The details this device read in the conversation (end to end).
  const details = !staff && ctx.details ? ctx.details.get(o.appointment_id) : null;
  return h(
    "li",
    { class: "card appointment", "data-status": o.status },
    h("p", {}, h("strong", {}, when), " ", h("span", { class: `badge ${o.status}` }, STATUS_WORDS[o.status] || o.status)),
    h(
      "p",
      { class: "muted" },
      staff ? `${names.get(o.client_id) || "Client"} · ` : "",
      `${o.duration_minutes} minutes · ${o.modality === "telehealth" ? "video" : "in person"}`,
    ),
    note ? h("p", { class: "muted" }, note) : null,
    details && details.details && details.details.change !== "cancelled" ? detailsBlock(details) : null,
    actions.length ? h("div", { class: "actions" }, actions) : null,
    move,
  );
}

function reminderItem(r, names) {
  const reason = reasonText(r.reason);
  return h(
    "li",
    { class: "card reminder", "data-status": r.status },
    h(
      "p",
      {},
      h("strong", {}, REMINDER_WORDS[r.status] || r.status),
      // Waiting with a channel: it went that way; another is tried again.
      r.channel ? (r.status === "pending" ? ` · sent by ${r.channel.replace(",", " and ")} so far` : ` · by ${r.channel.replace(",", " and ")}`) : "",
    ),
    h(
      "p",
      { class: "muted" },
      `${names.get(r.client_id) || "Client"} · for ${inZone(r.starts_at, r.time_zone)} · `,
      r.sent_at ? `sent ${inZone(r.sent_at, r.time_zone)}` : `due ${inZone(r.due_at, r.time_zone)}`,
    ),
    reason ? h("p", { class: "reason" }, `Why: ${reason}.`) : null,
  );
}

async function templateEditor(ctx, admin) {
  const errors = errorBox();
  const kind = selectField({ label: "Message", name: "kind", options: [["reminder", "Appointment reminder"], ["nudge", "New-message notice"]] });
  const language = selectField({ label: "Language", name: "language", options: [["en", "English"], ["es", "Spanish"]] });
  const area = (label, name, rows) => {
    const id = uid(name);
    const input = h("textarea", { id, name, rows, spellcheck: "true", readonly: !admin });
    return { wrap: h("div", { class: "field" }, h("label", { for: id }, label), input), input };
  };
  const sms = area("Text message", "sms", 3);
  const subject = area("Email subject", "subject", 1);
  const body = area("Email body", "body", 6);
  const findings = h("div", { id: "template-findings", "aria-live": "polite" });
  const preview = h("div", { id: "template-preview", class: "preview" });
  const version = h("p", { class: "muted" });
  const texts = () => ({ sms: sms.input.value, email_subject: subject.input.value, email_body: body.input.value });

  function show(view) {
    findings.replaceChildren(
      view.findings.length
        ? h(
            "div",
            { class: "form-error", role: "alert" },
            h("p", {}, "This wording cannot be sent:"),
            h("ul", {}, view.findings.map((f) => h("li", {}, `${partName(f.part)}: ${f.reason}`))),
          )
        : h("p", { class: "ok" }, "This wording passes: it says only that there is an appointment and when."),
    );
    const cost = view.preview.sms_cost;
    preview.replaceChildren(
      h("h3", {}, "What the client sees"),
      h("p", { class: "muted" }, "On a lock screen (text message):"),
      h("p", { class: "lockscreen", id: "sms-lockscreen" }, view.preview.sms_lock_screen),
      h("p", { class: "muted" }, `${cost.segments} text message${cost.segments === 1 ? "" : "s"} (${cost.units} ${cost.encoding === "gsm7" ? "characters" : "UCS-2 units — an accent or emoji outside the basic set shortens each message"})`),
      h("p", { class: "muted" }, "On a lock screen (email):"),
      h("p", { class: "lockscreen" }, view.preview.email_lock_screen),
    );
  }

  let timer = null;
  let seq = 0;
  async function lint() {
    const mine = ++seq;
    try {
      const view = await api("POST", `/reminders/templates/${kind.select.value}/${language.select.value}/lint`, texts());
      if (mine === seq) show(view);
    } catch (e) {
      if (mine === seq) errors.show(failure(e).message);
    }
  }
  for (const a of [sms, subject, body]) {
    a.input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(lint, 250);
    });
  }
  async function load() {
    const view = await api("GET", `/reminders/templates/${kind.select.value}/${language.select.value}`);
    sms.input.value = view.texts.sms;
    subject.input.value = view.texts.email_subject;
    body.input.value = view.texts.email_body;
    version.textContent = view.version ? `Your practice's wording, version ${view.version}.` : "Alcove's standard wording.";
    show(view);
  }
  kind.select.addEventListener("change", load);
  language.select.addEventListener("change", load);
  const form = h(
    "form",
    { class: "card", id: "template-form", "aria-labelledby": "template-heading" },
    h("h2", { id: "template-heading" }, "Reminder wording"),
    h(
      "p",
      { class: "hint" },
      "Fields in braces are filled in for each client: {weekday} {date} {time} {sender} {confirm} {cancel} {link}. Nothing else can be merged, and words that reveal the kind of care are refused.",
    ),
    errors.box,
    kind.wrap,
    language.wrap,
    sms.wrap,
    subject.wrap,
    body.wrap,
    version,
    findings,
    preview,
    admin ? h("button", { type: "submit", class: "primary" }, "Save wording") : h("p", { class: "muted" }, "Only a practice admin changes the wording."),
  );
  onSubmit(form, errors, async () => {
    const saved = await api("PUT", `/reminders/templates/${kind.select.value}/${language.select.value}`, texts());
    version.textContent = `Your practice's wording, version ${saved.version}.`;
    show(saved);
    ctx.announce("Wording saved.");
  });
  await load();
  return form;
}

function partName(part) {
  return { sms: "Text message", email_subject: "Email subject", email_body: "Email body" }[part] || part;
}

// --- client ----------------------------------------------------------------

async function clientPage(ctx) {
  const list = h("ul", { class: "cards", id: "appointment-list" });
  async function refresh() {
    const occurrences = await api("GET", "/appointments");
    await m.ready();
    const view = { ...ctx, details: m.appointmentDetails() };
    const mine = occurrences.filter((o) => o.status !== "rescheduled");
    list.replaceChildren(
      ...(mine.length ? mine.map((o) => occurrenceItem(view, o, new Map(), refresh, { staff: false })) : [h("li", { class: "muted" }, "No upcoming appointments.")]),
    );
  }
  await refresh();
  // New details arrive as messages (end to end), the status as a notice.
  live(ctx, refresh, { messages: true });
  return h(
    "section",
    {},
    h("h1", {}, "Appointments and reminders"),
    h("p", { class: "lead" }, "Your upcoming appointments. Confirm, or tell your practice you can't come."),
    list,
    await preferencesForm(ctx),
  );
}

async function preferencesForm(ctx) {
  const prefs = await api("GET", `/reminders/preferences/${encodeURIComponent(ctx.me.user_id)}`);
  const errors = errorBox();
  const check = (label, name, checked) => {
    const id = uid(name);
    const input = h("input", { id, name, type: "checkbox" });
    input.checked = !!checked;
    return { wrap: h("div", { class: "field check" }, input, h("label", { for: id }, label)), input };
  };
  const byEmail = check("Remind me by email", "by-email", prefs.email_enabled);
  const email = field({
    label: "Email address",
    name: "email",
    type: "email",
    autocomplete: "email",
    required: false,
    hint: prefs.email_hint ? `On file: ${prefs.email_hint}. Leave empty to keep it.` : "Used only for reminders.",
  });
  const bySms = check("Remind me by text message", "by-sms", prefs.sms_enabled);
  const phone = field({
    label: "Mobile number",
    name: "phone",
    type: "tel",
    autocomplete: "tel",
    required: false,
    placeholder: "+15555550100",
    hint: prefs.phone_hint ? `On file: ${prefs.phone_hint}. Leave empty to keep it.` : "With the country code, e.g. +1 for the US.",
  });
  const quietStart = field({ label: "No reminders from", name: "quiet-start", type: "time", required: false, value: prefs.quiet_start || "" });
  const quietEnd = field({ label: "until", name: "quiet-end", type: "time", required: false, value: prefs.quiet_end || "" });
  const leads = [
    [10080, "One week before"],
    [2880, "Two days before"],
    [1440, "One day before"],
    [120, "Two hours before"],
  ].map(([m, label]) => ({ m, ...check(label, `lead-${m}`, prefs.leads_minutes.includes(m)) }));
  const sender = selectField({
    label: "Reminders come from",
    name: "sender",
    options: [
      ["neutral", "“Appointment reminder” (nothing more)"],
      ["practice", "My practice's name"],
      ["clinician", "My clinician's name"],
    ],
    value: prefs.sender,
  });
  const language = selectField({ label: "Language", name: "language", options: [["en", "English"], ["es", "Español"]], value: prefs.language });
  const optOut = check("No reminders at all", "opt-out", prefs.opted_out);
  const recorded = prefs.updated_by && prefs.updated_by !== ctx.me.user_id ? h("p", { class: "notice" }, "Your practice recorded these for you (for example, when you asked by phone). You can change them.") : null;
  const form = h(
    "form",
    { class: "card", id: "preferences-form", "aria-labelledby": "prefs-heading" },
    h("h2", { id: "prefs-heading" }, "How we remind you"),
    h("p", { class: "hint" }, "Reminders never say what the appointment is for. You decide how — and whether — we reach you."),
    recorded,
    errors.box,
    byEmail.wrap,
    email.wrap,
    bySms.wrap,
    phone.wrap,
    h("fieldset", {}, h("legend", {}, "Quiet hours (your time)"), quietStart.wrap, quietEnd.wrap),
    h("fieldset", {}, h("legend", {}, "When"), leads.map((l) => l.wrap)),
    sender.wrap,
    language.wrap,
    optOut.wrap,
    h("button", { type: "submit", class: "primary" }, "Save"),
  );
  onSubmit(form, errors, async () => {
    const body = {
      email_enabled: byEmail.input.checked,
      sms_enabled: bySms.input.checked,
      sender: sender.select.value,
      leads_minutes: leads.filter((l) => l.input.checked).map((l) => l.m),
      language: language.select.value,
      opted_out: optOut.input.checked,
    };
    if (email.input.value.trim()) body.email = email.input.value.trim();
    if (phone.input.value.trim()) body.phone = phone.input.value.replace(/[\s().-]/g, "");
    if (quietStart.input.value || quietEnd.input.value) {
      body.quiet_start = quietStart.input.value;
      body.quiet_end = quietEnd.input.value;
    }
    const saved = await api("PUT", `/reminders/preferences/${encodeURIComponent(ctx.me.user_id)}`, body);
    email.input.value = "";
    phone.input.value = "";
    ctx.announce(saved.opted_out ? "Saved. You will get no reminders." : "Saved. We will remind you only this way.");
  });
  return form;
}

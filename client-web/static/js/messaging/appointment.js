// Appointments inside the encrypted conversation: the envelope's `reminder`
// (a time and the details only the two sides may read — the place, the
// video link, a note) and `reminder_response` (confirm, can't come, please
// move it). The server's scheduling records hold times and statuses only;
// these join them by id: `reminder_id` is the appointment series' id and
// `occurrence_id` the occurrence's, as hex (the envelope's 16-byte ids).
// Pure: no DOM, no state.

/** "0f1e…" (32 hex digits) from a UUID, and back. */
export const uuidToHex = (uuid) => uuid.replace(/-/g, "").toLowerCase();
export const hexToUuid = (hex) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;

/** A date and time in an IANA zone (the client's), or the reader's own. */
export function whenText(ms, zone = "") {
  /** @type {Intl.DateTimeFormatOptions} */
  const opts = { dateStyle: "full", timeStyle: "short" };
  try {
    return new Intl.DateTimeFormat(undefined, zone ? { ...opts, timeZone: zone } : opts).format(new Date(ms));
  } catch (_) {
    return new Intl.DateTimeFormat(undefined, opts).format(new Date(ms));
  }
}

const CHANGE_WORDS = { scheduled: "Appointment", rescheduled: "Appointment moved", cancelled: "Appointment cancelled" };
const ANSWER_WORDS = { confirm: "Confirmed", cancel: "Can't come", reschedule_request: "Asked to move" };

/**
 * The one line that stands for an appointment message where there is no
 * room for more (the conversation list's preview, the tab's log).
 */
export function summary(content) {
  if (content.type === "reminder") {
    const d = content.details;
    const words = CHANGE_WORDS[(d && d.change) || "scheduled"] || "Appointment";
    return `${words}: ${whenText(content.starts_at_ms, d && d.time_zone)}`;
  }
  if (content.type === "reminder_response") {
    // No time here: the zone it reads in is the appointment message's.
    return `${ANSWER_WORDS[content.response] || "Answered"} (appointment)`;
  }
  return "";
}

/**
 * Only an https address becomes a link: anything else a sender wrote
 * (`javascript:`, `data:`, a typo) is shown as text, never followed.
 */
export function safeLink(text) {
  try {
    const url = new URL(text);
    return url.protocol === "https:" ? url.href : null;
  } catch (_) {
    return null;
  }
}

/**
 * The reminder content a clinician's device sends for an occurrence.
 * @param {{appointmentId: string, startsAtSecs: number, minutes: number, zone?: string, modality?: string,
 *   location?: string, link?: string, note?: string, change: "scheduled"|"rescheduled"|"cancelled"}} a
 */
export function reminderContent({ appointmentId, startsAtSecs, minutes, zone, modality, location, link, note, change }) {
  return {
    type: "reminder",
    reminder_id: uuidToHex(appointmentId),
    starts_at_ms: startsAtSecs * 1000,
    duration_minutes: minutes,
    template_id: "appointment-v2",
    location: location || "",
    requires_response: change !== "cancelled",
    details: { change, time_zone: zone || "", modality: modality || "", link: link || "", note: note || "" },
  };
}

/** The response content a client's device sends. */
export function responseContent({ appointmentId, occurrenceId, startsAtSecs, response, note }) {
  return {
    type: "reminder_response",
    reminder_id: uuidToHex(appointmentId),
    response,
    note: note || "",
    occurrence: { occurrence_id: uuidToHex(occurrenceId), starts_at_ms: startsAtSecs * 1000 },
  };
}

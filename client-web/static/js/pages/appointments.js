// Appointments where people talk: the card an appointment message shows in
// a conversation (its time, and the details only the two sides can read —
// the place, the video link, a note), the line an answer shows, and the
// client's answer itself. Shared by the conversation view and the
// reminders page.
//
// A confirmation or a cancellation is the server's record first (it
// withdraws or keeps the reminders, and the clinician's page hears of it
// at once); the conversation then says it end to end, so it reads in
// context. A request to move an appointment says, in the conversation
// only, what would suit better: that is for the clinician to read, not for
// the server.

import { api, failure } from "../api.js";
import { h, uid, errorBox } from "../dom.js";
import * as m from "../messaging/client.js";
import { whenText, safeLink, hexToUuid, responseContent } from "../messaging/appointment.js";

const CHANGE_HEADINGS = { scheduled: "Appointment", rescheduled: "Appointment moved", cancelled: "Appointment cancelled" };

/** The place, video link and note of a `reminder` content (or nothing). */
export function detailsBlock(content) {
  const d = content.details || {};
  const rows = [];
  if (content.location) rows.push(h("p", { class: "detail" }, h("span", { class: "label" }, "Where: "), content.location));
  if (d.link) {
    const href = safeLink(d.link);
    rows.push(
      h(
        "p",
        { class: "detail" },
        h("span", { class: "label" }, "Video link: "),
        href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, d.link) : d.link,
      ),
    );
  }
  if (d.note) rows.push(h("p", { class: "detail note" }, h("span", { class: "label" }, "Note: "), d.note));
  return rows.length ? h("div", { class: "appointment-details" }, rows) : null;
}

/**
 * The client answers occurrence `o` (from GET /appointments): `confirm` and
 * `cancel` are recorded by the server, then said in the conversation;
 * `reschedule_request` is said in the conversation only, with `note`.
 * Returns whether the conversation got the answer (a confirmation stands
 * even when it did not: the server has it).
 */
export async function answerOccurrence(o, response, note = "", conversationId = null) {
  if (response !== "reschedule_request") {
    await api("POST", `/occurrences/${encodeURIComponent(o.id)}/answer`, { answer: response });
  }
  const conv = conversationId || m.conversationWith(o.clinician_id);
  if (!conv) {
    if (response === "reschedule_request") throw new Error("There is no conversation with your clinician to ask in. Please call your practice.");
    return false;
  }
  const content = responseContent({ appointmentId: o.appointment_id, occurrenceId: o.id, startsAtSecs: o.starts_at, response, note });
  try {
    await m.sendAppointmentMessage(conv, content);
    return true;
  } catch (e) {
    if (response === "reschedule_request") throw e;
    return false;
  }
}

/** The occurrence of series `appointmentId` a card answers: the one at `startsAtMs`, else the next one open. */
async function openOccurrence(appointmentId, startsAtMs) {
  const list = await api("GET", "/appointments");
  const open = list.filter((o) => o.appointment_id === appointmentId && (o.status === "scheduled" || o.status === "confirmed" || o.status === "no_reply"));
  return open.find((o) => o.starts_at * 1000 === startsAtMs) || open[0] || null;
}

/**
 * Whether `msg` came from the side that may say it: appointments from the
 * practice's side, answers from the client. Anyone in a conversation can
 * encrypt any content type; a client's device that "cancels" an
 * appointment, or a staff device that "confirms" for the client, is not
 * believed (the server's record is what counts either way).
 */
export function saidBy(cur, msg) {
  return msg.kind === "reminder" ? msg.from !== cur.clientId : msg.from === cur.clientId;
}

/** What became of the appointment a card shows, from the conversation itself. */
function cardState(cur, msg) {
  const rid = msg.content.reminder_id;
  const later = cur.messages.filter((x) => x !== msg && x.sentAt >= msg.sentAt && x.content && x.content.reminder_id === rid && saidBy(cur, x));
  const superseded = later.some((x) => x.kind === "reminder");
  const answers = later.filter((x) => x.kind === "reminder_response");
  const last = answers[answers.length - 1];
  return { superseded, answer: last ? last.content.response : null };
}

/** A key that changes when the card must be drawn again. */
export function cardKey(cur, msg) {
  const st = cardState(cur, msg);
  return `${msg.status || ""}|${st.superseded}|${st.answer || ""}`;
}

const ANSWERED = {
  confirm: "You confirmed this appointment.",
  cancel: "You said you can't come.",
  reschedule_request: "You asked to move this appointment.",
};

/**
 * The body of an appointment message in conversation `cur`: its time and
 * details; for the client, Confirm / I can't come / Ask to move while it
 * is ahead and not yet answered.
 */
export function appointmentCard(ctx, cur, msg) {
  if (!saidBy(cur, msg)) return h("p", { class: "muted" }, "An appointment message that did not come from the practice. It is not shown.");
  const content = msg.content;
  const d = content.details || {};
  const change = d.change || "scheduled";
  const when = whenText(content.starts_at_ms, d.time_zone);
  const how = d.modality === "telehealth" ? "by video" : d.modality === "in_person" ? "in person" : "";
  const card = h(
    "div",
    { class: `appointment-card ${change}` },
    h("p", { class: "appointment-when" }, h("strong", {}, `${CHANGE_HEADINGS[change] || "Appointment"}: `), when),
    change !== "cancelled" ? h("p", { class: "muted" }, [`${content.duration_minutes} minutes`, how].filter(Boolean).join(" · ")) : null,
    change !== "cancelled" ? detailsBlock(content) : null,
  );
  const st = cardState(cur, msg);
  if (st.superseded) {
    card.append(h("p", { class: "muted small" }, "A newer message about this appointment is below."));
    return card;
  }
  const client = ctx.me.role === "client";
  const ahead = content.starts_at_ms > Date.now();
  if (!client || msg.mine || change === "cancelled" || !ahead) return card;
  if (st.answer) card.append(h("p", { class: "answered" }, ANSWERED[st.answer] || "You answered."));
  if (st.answer === "cancel") return card;
  const errors = errorBox();
  const actions = h("div", { class: "actions" });
  const button = (label, cls, work) => {
    const b = h("button", { type: "button", class: cls, "aria-label": `${label}: ${when}` }, label);
    b.addEventListener("click", async () => {
      errors.clear();
      actions.querySelectorAll("button").forEach((x) => (x.disabled = true));
      try {
        await work();
      } catch (e) {
        errors.show(failure(e).message || "That did not work. Please try again.");
      } finally {
        actions.querySelectorAll("button").forEach((x) => (x.disabled = false));
      }
    });
    return b;
  };
  const occurrence = async () => {
    const o = await openOccurrence(hexToUuid(content.reminder_id), content.starts_at_ms);
    if (!o) throw new Error("This appointment can no longer be answered here. Your practice can help.");
    return o;
  };
  if (st.answer !== "confirm") {
    actions.append(
      button("Confirm", "primary", async () => {
        await answerOccurrence(await occurrence(), "confirm", "", cur.id);
        ctx.announce("Thank you — your appointment is confirmed.");
      }),
    );
  }
  actions.append(
    button("I can't come", "secondary danger", async () => {
      await answerOccurrence(await occurrence(), "cancel", "", cur.id);
      ctx.announce("Your appointment is cancelled. Your practice can see this.");
    }),
  );
  // Asking to move it: a few words for the clinician, end to end.
  const noteId = uid("move-note");
  const note = h("textarea", { id: noteId, rows: 2, maxlength: 500 });
  const ask = h("form", { class: "move-request", hidden: true }, h("label", { for: noteId }, "What would suit you better?"), note, h("button", { type: "submit", class: "primary" }, "Send request"));
  ask.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    try {
      await answerOccurrence(await occurrence(), "reschedule_request", note.value.trim(), cur.id);
      ask.hidden = true;
      ctx.announce("Your request to move the appointment was sent.");
    } catch (e) {
      errors.show(failure(e).message || "Not sent. Please try again.");
    }
  });
  const move = h("button", { type: "button", class: "secondary" }, "Ask to move it");
  move.addEventListener("click", () => {
    ask.hidden = false;
    note.focus();
  });
  actions.append(move);
  card.append(errors.box, actions, ask);
  return card;
}

const LINES = {
  confirm: (who) => `${who} confirmed the appointment`,
  cancel: (who) => `${who} can't come to the appointment`,
  reschedule_request: (who) => `${who} asked to move the appointment`,
};

/** The line an answer shows in the conversation. */
export function answerLine(cur, msg) {
  if (!saidBy(cur, msg)) return h("p", { class: "muted" }, "An answer that did not come from the client. It is not shown.");
  const content = msg.content;
  const who = msg.mine ? "You" : cur.other;
  const line = (LINES[content.response] || ((w) => `${w} answered`))(who);
  const o = content.occurrence;
  // In the client's zone, as the appointment itself reads: the zone is in
  // the appointment message this answers.
  const about = cur.messages.filter((x) => x.kind === "reminder" && x.content && x.content.reminder_id === content.reminder_id && saidBy(cur, x));
  const latest = about[about.length - 1];
  const zone = latest && latest.content.details ? latest.content.details.time_zone : "";
  return h(
    "div",
    { class: `appointment-answer answer-${content.response}` },
    h("p", {}, h("strong", {}, line), o ? ` on ${whenText(o.starts_at_ms, zone)}.` : "."),
    content.note ? h("p", { class: "note" }, `“${content.note}”`) : null,
  );
}

// Incidents: any staff member reports a problem (reporting decides
// nothing); the practice's admins — its privacy officers — see every
// incident with its notice deadlines, read its timeline and the evidence
// the server's records give for a lost device, decide it with their
// reasoning, and set up the webhooks that tell the practice's own systems.

import { api, failure } from "../api.js";
import { h, field, selectField, errorBox, onSubmit, formatTime, uid } from "../dom.js";
import { checkInclusion } from "./audit.js";
import { confirmAction } from "./revoke.js";
import { forgetDeadlines } from "../deadlines.js";

const KINDS = [
  ["misdirected_message", "A message went to the wrong person"],
  ["lost_device", "A device was lost or stolen"],
  ["unauthorized_access", "Someone saw records they should not have"],
  ["credential_compromise", "A password or sign-in code may be known to someone else"],
  ["audit_tampering", "The audit log looks altered"],
  ["other", "Something else"],
];
const KIND_WORDS = Object.fromEntries(KINDS);
const STATUS_WORDS = { open: "Open", assessing: "Being assessed", decided: "Decided", notifying: "Notifying", closed: "Closed" };
const DECISION_WORDS = { breach: "a breach", not_a_breach: "not a breach (low probability of compromise)", exception: "an exception (164.402(1))" };
const EVENT_TYPES = [
  "incident.deadline_approaching",
  "incident.opened",
  "incident.updated",
  "incident.decided",
  "device.revoked",
  "user.deactivated",
  "audit.verification_failed",
];

export async function incidentsPage(ctx) {
  const admin = ctx.me.role === "admin";
  const parts = [h("h1", {}, "Incidents"), reportForm(ctx)];
  if (admin) {
    const selected = decodeURIComponent(location.hash.slice(1));
    parts.push(await incidentList(ctx, selected));
    parts.push(await webhookSection(ctx));
  } else {
    parts.push(h("p", { class: "muted" }, "Your practice's privacy officer looks at every report and decides what has to happen."));
  }
  return h("section", {}, ...parts);
}

/**
 * "Suspicious sign-in" from where it shows: reports a credential incident
 * naming the account, whose page then lists the clients the account
 * reached. Reporting decides nothing; the privacy officer assesses it.
 */
export function suspiciousSignIn(ctx, userId, whose) {
  return confirmAction({
    label: "Report a suspicious sign-in",
    question: `Report that ${whose} may be used by someone else? The privacy officer gets an incident listing what the account reached.`,
    confirm: "Yes, report it",
    danger: false,
    work: () => api("POST", "/incidents", { kind: "credential_compromise", user_id: userId }),
    done: () => ctx.announce("Reported. The privacy officer will look at it."),
  });
}

function reportForm(ctx) {
  const errors = errorBox();
  const kind = selectField({ label: "What happened", name: "kind", options: KINDS });
  const note = h("textarea", { id: "report-note", name: "note", rows: 3, maxlength: 4000 });
  const form = h(
    "form",
    { class: "card", id: "report-form", "aria-labelledby": "report-h" },
    h("h2", { id: "report-h" }, "Report a problem"),
    h("p", {}, "Report anything that may have let someone see what they should not. You do not have to decide whether it matters: that is the privacy officer's job."),
    errors.box,
    kind.wrap,
    h("div", { class: "field" }, h("label", { for: "report-note" }, "What you know (optional; stays in the practice's record)"), note),
    h("button", { type: "submit", class: "primary" }, "Report"),
  );
  onSubmit(form, errors, async () => {
    const body = { kind: kind.select.value };
    if (note.value.trim()) body.note = note.value.trim();
    const made = await api("POST", "/incidents", body);
    note.value = "";
    ctx.announce("Reported. The privacy officer will look at it.");
    if (ctx.me.role === "admin") ctx.navigate(`/incidents#${made.id}`);
  });
  return form;
}

function deadlineText(d) {
  const left = d.days_left >= 0 ? `${d.days_left} days left` : `${-d.days_left} days overdue`;
  return `Notify individuals by ${d.individuals} (${left})`;
}

async function incidentList(ctx, selected) {
  const list = await api("GET", "/incidents");
  const items = list.map((i) =>
    h(
      "li",
      { class: "card incident", "data-status": i.status },
      h("p", {}, h("strong", {}, KIND_WORDS[i.kind] || i.kind), ` · ${STATUS_WORDS[i.status] || i.status}`, i.decision ? ` · ${DECISION_WORDS[i.decision]}` : ""),
      h("p", { class: "muted" }, `${i.detected ? "Detected" : "Reported"} ${formatTime(i.created_at)} · ${deadlineText(i.deadlines)}`),
      h("a", { href: `/incidents#${i.id}`, "data-link": true }, "Open this incident"),
    ),
  );
  const parts = [
    h("h2", { id: "incidents-h" }, "All incidents"),
    h("ul", { class: "cards", id: "incident-list", "aria-labelledby": "incidents-h" }, ...(items.length ? items : [h("li", { class: "muted" }, "No incidents.")])),
  ];
  if (selected && list.some((i) => i.id === selected)) parts.unshift(await incidentDetail(ctx, selected));
  return h("div", {}, ...parts);
}

/** A Unix time as the local `YYYY-MM-DD` a date input shows. */
function localDate(unix) {
  const t = new Date(unix * 1000);
  return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, "0")}-${String(t.getDate()).padStart(2, "0")}`;
}

/**
 * Since when the account may have been misused: the officer's judgement
 * sets where the search of the audit log starts (it runs to now).
 */
function accountWindowForm(ctx, i, from) {
  const errors = errorBox();
  const since = field({ label: "Search from (the earliest it may have been misused)", name: "account_since", type: "date", value: localDate(from) });
  since.input.max = localDate(i.discovered_at);
  // It decides who is counted as affected: the timeline keeps the reason.
  const reason = field({ label: "Why from this date", name: "account_since_reason", maxlength: 4000 });
  const form = h("form", { class: "account-window" }, errors.box, since.wrap, reason.wrap, h("button", { type: "submit", class: "secondary" }, "Search again"));
  onSubmit(form, errors, async () => {
    const [y, m, day] = since.input.value.split("-").map(Number);
    const start = new Date(y, m - 1, day).getTime() / 1000;
    if (!Number.isFinite(start)) throw new Error("Choose a date.");
    await api("PATCH", `/incidents/${encodeURIComponent(i.id)}`, {
      expected_status: i.status,
      account_since: Math.min(start, i.discovered_at),
      note: reason.input.value.trim(),
    });
    ctx.announce("Searched again from the new date.");
    ctx.navigate(`/incidents#${i.id}`, { replace: true });
  });
  return form;
}

async function incidentDetail(ctx, id) {
  const d = await api("GET", `/incidents/${encodeURIComponent(id)}`);
  const i = d.incident;
  const timeline = h(
    "ol",
    { class: "timeline", id: "incident-timeline" },
    ...d.timeline.map((e) => h("li", {}, `${formatTime(e.at)} — ${e.entry}`, e.note ? h("p", { class: "note" }, e.note) : null)),
  );
  const evidence = d.evidence.map((ev) =>
    h(
      "div",
      { class: "card evidence" },
      h("h3", {}, "What the lost device held"),
      h("p", {}, `${ev.conversations.length} conversation(s); ${ev.affected_clients.length} person(s) affected.`),
      h(
        "ul",
        {},
        h("li", {}, ev.unlock_share_destroyed ? "Its stored messages can no longer be opened (unlock key destroyed)." : "Its unlock key is not destroyed yet."),
        h("li", {}, ev.live_session_at_revocation ? "It was signed in and recently used when it was cut off: someone holding it may have seen messages on screen." : "It had locked itself before it was cut off."),
        ev.socket_open_at_revocation ? h("li", {}, "It was connected (open to the server) when it was cut off.") : null,
        (ev.removals || []).length
          ? h(
              "li",
              {},
              `Removed from ${ev.removals.filter((r) => r.removed_at).length} of ${ev.removals.length} conversation(s) by a commit`,
              ev.removals.some((r) => r.removed_at) ? ` (from epoch ${ev.removals.filter((r) => r.epoch).map((r) => r.epoch).join(", ")} on it holds no key)` : "",
              ev.removals.some((r) => !r.removed_at) ? "; the rest wait for a member's device to commit the removal." : ".",
            )
          : null,
        h("li", {}, ev.safe_harbor_facts ? "The facts for the encryption safe harbor hold." : "The facts for the encryption safe harbor do not hold."),
      ),
    ),
  );
  // An account named without a device (a password that may be known to
  // someone else): whose records it reached in the window searched.
  const accounts = (d.accounts || []).map((a) =>
    h(
      "div",
      { class: "card evidence account-evidence" },
      h("h3", {}, "What the account reached"),
      h("p", {}, `From ${formatTime(a.from)} to ${formatTime(a.to)}: the records of ${a.clients.length} client(s); ${a.affected_clients.length} person(s) affected${a.incomplete ? " (at least: the log held more than one read takes)" : ""}.`),
      h(
        "ul",
        {},
        h("li", {}, `Signed in ${a.sign_ins} time(s) from ${a.sign_in_addresses} address(es); ${a.failed_sign_ins} failed sign-in(s).`),
        h("li", {}, `${a.clients.reduce((n, c) => n + c.entries_delivered, 0)} message entries handed to its devices; ${a.clients.reduce((n, c) => n + c.messages_sent, 0)} sent.`),
        h("li", {}, a.secured_at ? `Secured on ${formatTime(a.secured_at)} (password replaced or account deactivated).` : "Not secured since the incident was discovered: make a sign-in reset link for it, or deactivate it."),
      ),
      i.status === "closed" ? null : accountWindowForm(ctx, i, a.from),
    ),
  );
  // Where the affected people live, as recorded on the Administration page:
  // the media rule counts residents per state (more than 500 of one).
  const r = d.residence;
  const residence =
    (d.evidence.length || (d.accounts || []).length) && r
      ? h(
          "p",
          { id: "incident-residence" },
          "Where they live: ",
          r.by_state.length ? r.by_state.map((c) => `${c.state} ${c.count}`).join(", ") : "no state recorded",
          r.not_recorded && r.by_state.length ? `; not recorded for ${r.not_recorded}` : "",
          ". ",
          r.largest > 500 ? "More than 500 residents of one state: that state's media must be told too." : "",
        )
      : null;
  const errors = errorBox();
  const status = selectField({
    label: "Status",
    name: "status",
    value: i.status,
    options: Object.entries(STATUS_WORDS),
  });
  const decision = selectField({
    label: "Decision",
    name: "decision",
    value: i.decision || "",
    options: [["", "Not decided"], ...Object.entries(DECISION_WORDS).map(([k, v]) => [k, `It is ${v}`])],
  });
  // Until the officer sets them, the counts start from the evidence: the
  // people affected and the most residents of one recorded state.
  const affectedKnown = new Set([...d.evidence, ...(d.accounts || [])].flatMap((e) => e.affected_clients)).size;
  const affected = field({ label: "People affected", name: "affected_count", type: "number", inputmode: "numeric", value: String(i.affected_count || affectedKnown) });
  const largest = field({
    label: "Most residents of one state",
    name: "max_state_residents",
    type: "number",
    inputmode: "numeric",
    value: String(i.max_state_residents || (r ? r.largest : 0)),
    hint: "More than 500 residents of one state: that state's media must be told too (164.406).",
  });
  const exceptionPart = exceptionFieldset(d.exception_choices, i.exception);
  const showException = () => (exceptionPart.wrap.hidden = decision.select.value !== "exception");
  decision.select.addEventListener("change", showException);
  showException();
  const note = h("textarea", { id: "decision-note", name: "note", rows: 4, maxlength: 4000 });
  const form = h(
    "form",
    { class: "card", id: "decision-form", "aria-labelledby": "decision-h" },
    h("h3", { id: "decision-h" }, "Assess and decide"),
    errors.box,
    status.wrap,
    decision.wrap,
    exceptionPart.wrap,
    affected.wrap,
    largest.wrap,
    h("div", { class: "field" }, h("label", { for: "decision-note" }, "Reasoning or note (required to decide or close)"), note),
    h("button", { type: "submit", class: "primary" }, "Save"),
  );
  onSubmit(form, errors, async () => {
    const body = {
      expected_status: i.status,
      status: status.select.value,
      affected_count: Number(affected.input.value),
      max_state_residents: Number(largest.input.value),
    };
    if (decision.select.value === "exception") {
      // An exception is sent whole with its decision, even when only its
      // facts changed: the server checks every fact its clause requires.
      body.decision = "exception";
      body.exception = exceptionPart.value();
    } else if (decision.select.value && decision.select.value !== i.decision) body.decision = decision.select.value;
    if (note.value.trim()) body.note = note.value.trim();
    await api("PATCH", `/incidents/${encodeURIComponent(id)}`, body);
    forgetDeadlines();
    ctx.announce("Incident saved.");
    ctx.navigate(`/incidents#${id}`, { replace: true });
  });
  return h(
    "article",
    { class: "card", id: "incident-detail", "aria-labelledby": "incident-detail-h" },
    h("h2", { id: "incident-detail-h" }, KIND_WORDS[i.kind] || i.kind),
    h("p", {}, `${STATUS_WORDS[i.status]}${i.decision ? ` · ${DECISION_WORDS[i.decision]}` : ""} · discovered ${formatTime(i.discovered_at)}`),
    i.exception ? exceptionSummary(d.exception_choices, i.exception) : null,
    h(
      "p",
      {},
      deadlineText(i.deadlines),
      `; HHS by ${i.deadlines.hhs}`,
      i.deadlines.media ? `; media by ${i.deadlines.media}` : "",
      ".",
    ),
    ...evidence,
    ...accounts,
    residence,
    await worksheet(ctx, id, d),
    await noticeSection(id, i),
    h(
      "p",
      { class: "report-download" },
      // A plain download: the session cookie goes with it, nothing in the URL but the id.
      h("a", { href: `/api/v1/incidents/${encodeURIComponent(id)}/report`, download: `alcove-incident-${id}.json`, id: "report-link" }, "Download the incident report (JSON)"),
      " — the record, the assessment, the evidence and the audit entries behind them, which verify offline (",
      h("code", {}, "alcove audit verify --export"),
      "). ",
      printButton(d),
    ),
    h("h3", {}, "Timeline"),
    timeline,
    form,
    h("section", { id: "print-proofs", class: "print-only", "aria-labelledby": "print-proofs-h" }),
  );
}

/**
 * The three exceptions of 164.402(1), as the server lists them: one clause,
 * each of its facts affirmed (a box each), and the particulars it asks for.
 */
function exceptionFieldset(choices, recorded) {
  const clause = selectField({
    label: "Which exception",
    name: "exception_clause",
    value: recorded ? recorded.clause : choices[0].clause,
    options: choices.map((c) => [c.clause, `${c.citation}: ${c.title}`]),
  });
  const boxes = h("div", { class: "exception-facts" });
  const particularsId = uid("exception-particulars");
  const particularsLabel = h("label", { for: particularsId });
  const particulars = h("textarea", { id: particularsId, name: "exception_particulars", rows: 3, maxlength: 4000 });
  if (recorded) particulars.value = recorded.particulars;
  let checks = [];
  const draw = () => {
    const c = choices.find((x) => x.clause === clause.select.value) || choices[0];
    checks = c.facts.map((f) => {
      const id = uid(`fact-${f.fact}`);
      const box = h("input", { type: "checkbox", id, name: "exception_fact", value: f.fact });
      box.checked = !!recorded && recorded.clause === c.clause && recorded.affirmed.includes(f.fact);
      return { fact: f.fact, box, row: h("div", { class: "check" }, box, h("label", { for: id }, f.statement)) };
    });
    boxes.replaceChildren(h("p", { class: "muted small" }, "Affirm each fact it rests on; without all of them it is not an exception."), ...checks.map((x) => x.row));
    particularsLabel.textContent = c.particulars;
  };
  clause.select.addEventListener("change", draw);
  draw();
  const wrap = h(
    "fieldset",
    { class: "exception", id: "exception-fieldset" },
    h("legend", {}, "The exception (45 CFR 164.402(1))"),
    clause.wrap,
    boxes,
    h("div", { class: "field" }, particularsLabel, particulars),
  );
  return {
    wrap,
    value: () => ({
      clause: clause.select.value,
      affirmed: checks.filter((x) => x.box.checked).map((x) => x.fact),
      particulars: particulars.value.trim(),
    }),
  };
}

/** The recorded exception in words: its clause, the facts affirmed, the particulars. */
function exceptionSummary(choices, e) {
  const c = choices.find((x) => x.clause === e.clause);
  if (!c) return null;
  return h(
    "div",
    { class: "notice", id: "exception-recorded" },
    h("p", {}, h("strong", {}, `Exception ${c.citation}: `), c.title, "."),
    h("ul", {}, ...c.facts.filter((f) => e.affirmed.includes(f.fact)).map((f) => h("li", {}, f.statement))),
    h("p", {}, e.particulars),
  );
}

/**
 * The four-factor risk assessment (164.402(2)): each factor prefilled from
 * the server's records, with the audit entries it rests on (each checked
 * here against the signed log), edited and saved; then the decision and
 * the assessment signed off with the current code of the signer's
 * authenticator app, after which neither changes.
 */
async function worksheet(ctx, id, d) {
  const a = d.assessment;
  const i = d.incident;
  const users = await api("GET", "/users").catch(() => []);
  const nameOf = (uidValue) => (users.find((u) => u.id === uidValue) || {}).display_name || "an admin";
  const signed = !!a.signed_off_at;
  const heading = h("h3", { id: "worksheet-h" }, "Risk assessment (45 CFR 164.402(2))");
  const intro = h(
    "p",
    { class: "muted" },
    "Each factor starts from what Alcove's records show. Correct and complete it in your own words; the entries it rests on can be checked against the signed audit log.",
  );
  const areas = [];
  const factorParts = a.factors.map((f) => {
    const fieldId = uid(`factor-${f.factor}`);
    const result = h("p", { class: "muted small", role: "status" });
    const sources = f.sources.length
      ? h(
          "p",
          { class: "muted small sources" },
          `Based on audit entries ${f.sources.map((x) => `#${x}`).join(", ")}. `,
          verifyButton(f, result),
        )
      : h("p", { class: "muted small" }, "Not from Alcove's records: from what you know.");
    if (signed) {
      return h("div", { class: "factor" }, h("h4", {}, f.title), h("p", { class: "statement" }, f.text), sources, result);
    }
    const area = h("textarea", { id: fieldId, name: f.factor, rows: 4, maxlength: 8000 });
    area.value = f.text;
    areas.push({ factor: f.factor, area, loaded: f.text });
    return h("div", { class: "field factor" }, h("label", { for: fieldId }, f.title), area, sources, result);
  });
  if (signed) {
    return h(
      "section",
      { class: "card worksheet", id: "worksheet", "aria-labelledby": "worksheet-h" },
      heading,
      ...factorParts,
      h("p", { class: "notice", id: "signed-off" }, `Signed off by ${nameOf(a.signed_off_by)} on ${formatTime(a.signed_off_at)} with a second factor. It no longer changes.`),
    );
  }
  const errors = errorBox();
  const save = h(
    "form",
    { id: "worksheet-form" },
    errors.box,
    ...factorParts,
    h("button", { type: "submit", class: "secondary" }, "Save assessment"),
  );
  onSubmit(save, errors, async () => {
    const statements = Object.fromEntries(areas.map((x) => [x.factor, x.area.value]));
    await api("PUT", `/incidents/${encodeURIComponent(id)}/assessment`, { expected_version: a.version, statements });
    ctx.announce("Assessment saved.");
    ctx.navigate(`/incidents#${id}`, { replace: true });
  });
  // The sign-off: only of a decision, only of what was saved.
  const decided = !!i.decision && ["decided", "notifying", "closed"].includes(i.status);
  const signErrors = errorBox();
  const code = field({ label: "Code from your authenticator app", name: "totp_code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6 });
  const sign = h(
    "form",
    { id: "sign-off-form", class: "sign-off" },
    h("h4", {}, "Sign off"),
    h("p", {}, decided ? `You sign the decision — ${DECISION_WORDS[i.decision]} — and this assessment as saved. Neither can change afterwards.` : "Record the decision first (below): the sign-off signs the decision and this assessment."),
    signErrors.box,
    code.wrap,
    h("button", { type: "submit", class: "primary", disabled: !decided }, "Sign off"),
  );
  onSubmit(sign, signErrors, async () => {
    if (areas.some((x) => x.area.value !== x.loaded)) throw new Error("Save the assessment first: the sign-off signs what is saved.");
    await api("POST", `/incidents/${encodeURIComponent(id)}/sign-off`, { expected_version: a.version, totp_code: code.input.value.trim() });
    ctx.announce("Signed off.");
    ctx.navigate(`/incidents#${id}`, { replace: true });
  });
  return h("section", { class: "card worksheet", id: "worksheet", "aria-labelledby": "worksheet-h" }, heading, intro, save, sign);
}

/**
 * The draft notice to individuals (164.404(c)) once the decision is a
 * breach: filled from the incident, with the blanks only the practice can
 * fill marked. Alcove never sends it: it is copied into the practice's own
 * letter or email.
 */
async function noticeSection(id, i) {
  const heading = h("h3", { id: "notice-h" }, "Notice to individuals (45 CFR 164.404(c))");
  if (i.decision !== "breach") {
    return h(
      "section",
      { class: "card notice-draft", id: "notice", "aria-labelledby": "notice-h" },
      heading,
      h("p", { class: "muted" }, "A draft notice appears here once the incident is decided to be a breach."),
    );
  }
  const areaId = uid("notice-body");
  const area = h("textarea", { id: areaId, rows: 16, readonly: true });
  const blanks = h("p", { class: "notice", id: "notice-blanks" });
  // The same draft in either language Alcove ships (one letter each, for
  // the people who read Spanish); its blanks stay the same.
  const language = selectField({ label: "Language of the notice", name: "notice_language", value: "en", options: [["en", "English"], ["es", "Español"]] });
  const load = async () => {
    const n = await api("GET", `/incidents/${encodeURIComponent(id)}/notice?language=${language.select.value}`);
    area.value = `${n.subject}\n\n${n.body}`;
    area.lang = language.select.value;
    blanks.textContent = n.blanks.length ? `Fill in before sending: ${n.blanks.join(", ")}.` : "";
    blanks.hidden = !n.blanks.length;
  };
  language.select.addEventListener("change", () => load().catch((e) => (blanks.textContent = e.message)));
  await load();
  const copied = h("p", { class: "muted small", role: "status" });
  const copy = h("button", { type: "button", class: "secondary" }, "Copy the draft");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(area.value);
      copied.textContent = "Copied. Fill in the blanks before you send it.";
    } catch (_) {
      area.select();
      copied.textContent = "Select the text and copy it.";
    }
  });
  return h(
    "section",
    { class: "card notice-draft", id: "notice", "aria-labelledby": "notice-h" },
    heading,
    h("p", {}, `Send it to each affected person without unreasonable delay, and by ${i.deadlines.individuals} at the latest. Alcove does not send it.`),
    language.wrap,
    blanks,
    h("div", { class: "field" }, h("label", { for: areaId }, "Draft notice"), area),
    copy,
    copied,
  );
}

/**
 * Prints the incident as the page shows it (the print style keeps only the
 * incident), with an appendix the JSON report also carries: the audit
 * entries its assessment rests on, each with its leaf hash and checked
 * here against one signed head, whose size, root, key and signature are
 * printed — so the paper can be checked against an audit export later.
 */
function printButton(d) {
  const b = h("button", { type: "button", class: "secondary", id: "print-incident" }, "Print this incident");
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      await fillProofs(d);
    } catch (e) {
      document.getElementById("print-proofs")?.replaceChildren(h("p", {}, `The audit entries could not be proven: ${failure(e).message || e}.`));
    } finally {
      b.disabled = false;
    }
    document.body.classList.add("printing-incident");
    window.addEventListener("afterprint", () => document.body.classList.remove("printing-incident"), { once: true });
    window.print();
  });
  return b;
}

/** Fills the print appendix with the sources' proofs under one signed head. */
async function fillProofs(d) {
  const out = document.getElementById("print-proofs");
  if (!out) throw new Error("the print appendix is missing");
  const all = [...new Set(d.assessment.factors.flatMap((f) => f.sources))].sort((a, b) => a - b);
  // One request proves at most 500 entries; say so rather than imply all.
  const seqs = all.slice(0, 500);
  const heading = h("h3", { id: "print-proofs-h" }, "Audit entries behind this record");
  if (!seqs.length) {
    out.replaceChildren(heading, h("p", {}, "The assessment rests on no audit entries."));
    return;
  }
  const batch = await api("GET", `/audit/proof/inclusions?seqs=${seqs.join(",")}`);
  const rows = [];
  let verified = 0;
  for (const p of batch.proofs) {
    const r = await checkInclusion({ ...p, head: batch.head });
    if (r.ok) verified += 1;
    rows.push(
      h(
        "tr",
        {},
        h("td", {}, `#${p.entry.seq}`),
        h("td", {}, p.entry.action),
        h("td", {}, formatTime(p.entry.at)),
        h("td", {}, h("code", { class: "hash" }, p.leaf_hash)),
        h("td", {}, r.ok ? "verified" : `NOT verified: ${r.message}`),
      ),
    );
  }
  const head = batch.head;
  out.replaceChildren(
    heading,
    h(
      "p",
      {},
      `${verified} of ${batch.proofs.length} entries verified in this browser against the signed head below (RFC 9162 inclusion proofs: each leads to its root). `,
      all.length > seqs.length ? `The assessment rests on ${all.length} entries; these are the first ${seqs.length}, the report file carries all. ` : "",
      "The head's signature is checked offline, with the entries, in an audit export: alcove audit verify.",
    ),
    h(
      "dl",
      { class: "signed-head" },
      h("dt", {}, "Log size"),
      h("dd", {}, String(head.tree_size)),
      h("dt", {}, "Signed"),
      h("dd", {}, formatTime(head.timestamp)),
      h("dt", {}, "Root hash"),
      h("dd", {}, h("code", { class: "hash" }, head.root_hash)),
      h("dt", {}, "Key id"),
      h("dd", {}, h("code", { class: "hash" }, head.key_id)),
      h("dt", {}, "Signature"),
      h("dd", {}, h("code", { class: "hash" }, head.signature)),
    ),
    h(
      "table",
      { class: "proofs" },
      h("thead", {}, h("tr", {}, h("th", {}, "Entry"), h("th", {}, "Action"), h("th", {}, "Time"), h("th", {}, "Leaf hash"), h("th", {}, "Proof"))),
      h("tbody", {}, ...rows),
    ),
  );
}

/** Checks each audit entry a factor rests on against the signed log, here. */
function verifyButton(f, result) {
  const b = h("button", { type: "button", class: "link-button" }, "Check them");
  b.setAttribute("aria-label", `Check them: the audit entries of factor ${f.title}`);
  b.addEventListener("click", async () => {
    b.disabled = true;
    result.textContent = "Checking…";
    try {
      let size = 0;
      // One request per 500 entries, each proof checked here against the
      // one signed head it came with.
      for (let at = 0; at < f.sources.length; at += 500) {
        const seqs = f.sources.slice(at, at + 500);
        const batch = await api("GET", `/audit/proof/inclusions?seqs=${seqs.join(",")}`);
        for (const p of batch.proofs) {
          const r = await checkInclusion({ ...p, head: batch.head });
          if (!r.ok) {
            result.textContent = `Entry #${p.entry.seq} did not verify: ${r.message}.`;
            return;
          }
          size = r.size;
        }
      }
      result.textContent = `Verified: ${f.sources.length === 1 ? "the entry is" : `all ${f.sources.length} entries are`} in the signed audit log of ${size} entries.`;
    } catch (e) {
      result.textContent = failure(e).message || "The entries could not be checked.";
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** Sends a test delivery (no data at all) to check the receiving system. */
function testButton(ctx, e) {
  const out = h("p", { class: "muted small", role: "status" });
  const b = h("button", { type: "button", class: "secondary" }, "Send a test");
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      const q = await api("POST", `/webhooks/${encodeURIComponent(e.id)}/test`, {});
      out.textContent = `A test (${q.delivery_id}) is on its way. Its result shows under "Recent deliveries".`;
      ctx.announce("Test delivery sent.");
    } catch (err) {
      out.textContent = failure(err).message || "The test could not be sent.";
    } finally {
      b.disabled = false;
    }
  });
  return h("div", { class: "webhook-test" }, b, out);
}

const DELIVERY_WORDS = { pending: "Waiting to be sent", delivered: "Delivered", failed: "Failed" };

/**
 * An endpoint's delivery log, newest first (status, attempts, the last
 * answer's code — never a body), opened on demand; a failed or waiting
 * delivery can be sent again under its own webhook-id.
 */
function deliveryLog(ctx, e) {
  const list = h("ul", { class: "deliveries" });
  const details = h("details", { class: "webhook-deliveries" }, h("summary", {}, "Recent deliveries"), list);
  const load = async () => {
    const rows = await api("GET", `/webhooks/${encodeURIComponent(e.id)}/deliveries`);
    list.replaceChildren(
      ...(rows.length
        ? rows.slice(0, 50).map((d) => {
            const again = h("button", { type: "button", class: "link-button" }, "Send again");
            again.setAttribute("aria-label", `Send again: ${d.event_type} of ${formatTime(d.created_at)}`);
            again.addEventListener("click", async () => {
              again.disabled = true;
              try {
                await api("POST", `/webhooks/deliveries/${encodeURIComponent(d.id)}/redeliver`, {});
                ctx.announce("Sent again.");
                await load();
              } catch (err) {
                again.disabled = false;
                ctx.announce(failure(err).message || "It could not be sent again.");
              }
            });
            const code = d.last_status ? ` · answered ${d.last_status}` : d.last_error ? " · no answer" : "";
            return h(
              "li",
              { "data-status": d.status },
              `${formatTime(d.created_at)} · ${d.event_type} · ${DELIVERY_WORDS[d.status] || d.status} · ${d.attempts} attempt(s)${code} `,
              d.status === "delivered" ? null : again,
            );
          })
        : [h("li", { class: "muted" }, "Nothing sent yet.")]),
    );
  };
  details.addEventListener("toggle", () => {
    if (details.open) load().catch((err) => list.replaceChildren(h("li", {}, failure(err).message || "Could not load.")));
  });
  return details;
}

/** An endpoint's state in words: on, failing since when, or off since when and why. */
function endpointState(e) {
  if (e.enabled) return e.failing_since ? `Failing since ${formatTime(e.failing_since)}` : "Active";
  const since = e.disabled_at ? ` since ${formatTime(e.disabled_at)}` : "";
  return e.disabled_reason === "failing" ? `Off${since}: turned off after failing for three days` : `Off${since}`;
}

/**
 * Turn an endpoint off, or back on: deliveries still waiting then go out
 * again under their ids (events of the time it was off were not queued).
 */
function onOff(ctx, e) {
  const hook = encodeURIComponent(e.id);
  const redraw = (words) => {
    forgetDeadlines();
    ctx.announce(words);
    ctx.navigate(`/incidents${location.hash}`, { replace: true });
  };
  return e.enabled
    ? confirmAction({
        label: "Turn off",
        question: "Turn this webhook off? Nothing more is sent to it until it is turned back on, and events of the time between are not kept for it.",
        confirm: "Yes, turn it off",
        work: () => api("POST", `/webhooks/${hook}/disable`, {}),
        done: () => redraw("Webhook turned off."),
      })
    : confirmAction({
        label: "Turn back on",
        question: "Turn this webhook back on? Deliveries still waiting go out at once; check the receiving system works first (send a test after).",
        confirm: "Yes, turn it on",
        danger: false,
        work: () => api("POST", `/webhooks/${hook}/enable`, {}),
        done: () => redraw("Webhook turned back on."),
      });
}

/**
 * The admins are told, at the top of the webhooks, of each endpoint the
 * server turned off for failing: the practice's own systems no longer
 * hear of incidents until someone acts.
 */
function turnedOffAlert(endpoints) {
  const off = endpoints.filter((e) => !e.enabled && e.disabled_reason === "failing");
  if (!off.length) return null;
  return h(
    "div",
    { class: "form-error webhooks-off", role: "alert", id: "webhooks-off" },
    h("p", {}, off.length === 1 ? "A webhook was turned off." : `${off.length} webhooks were turned off.`),
    h(
      "ul",
      {},
      ...off.map((e) => h("li", {}, h("code", {}, e.url), ` failed for three days and was turned off ${e.disabled_at ? `on ${formatTime(e.disabled_at)}` : ""}.`)),
    ),
    h("p", {}, "Events since then have not been sent to it. Fix the receiving system, then turn it back on below."),
  );
}

async function webhookSection(ctx) {
  const endpoints = await api("GET", "/webhooks");
  const errors = errorBox();
  const url = field({ label: "Address (https://…)", name: "url", type: "url", autocomplete: "off" });
  const boxes = EVENT_TYPES.map((t) => {
    const id = `hook-${t.replace(".", "-")}`;
    return { t, input: h("input", { type: "checkbox", id, name: "event_types", value: t, checked: true }), id };
  });
  const secretOut = h("p", { id: "webhook-secret", role: "status" });
  const form = h(
    "form",
    { class: "card", id: "webhook-form", "aria-labelledby": "webhook-form-h" },
    h("h3", { id: "webhook-form-h" }, "Add a webhook"),
    h("p", { class: "muted" }, "Deliveries are signed (Standard Webhooks) and carry only ids, statuses, deadlines and counts — never names or messages."),
    errors.box,
    url.wrap,
    h("fieldset", {}, h("legend", {}, "Events"), ...boxes.map((b) => h("div", { class: "check" }, b.input, h("label", { for: b.id }, b.t)))),
    h("button", { type: "submit", class: "primary" }, "Add webhook"),
    secretOut,
  );
  onSubmit(form, errors, async () => {
    const made = await api("POST", "/webhooks", {
      url: url.input.value.trim(),
      event_types: boxes.filter((b) => b.input.checked).map((b) => b.t),
    });
    secretOut.textContent = `Signing secret (shown once): ${made.secret}`;
    ctx.announce("Webhook added. Copy its signing secret now.");
  });
  return h(
    "div",
    {},
    h("h2", { id: "webhooks-h" }, "Webhooks"),
    turnedOffAlert(endpoints),
    h(
      "ul",
      { class: "cards", id: "webhook-list", "aria-labelledby": "webhooks-h" },
      ...(endpoints.length
        ? endpoints.map((e) => {
            // A new signing secret, shown once here; the previous one signs
            // beside it for a day, so the receiver can switch without a gap.
            const shown = h("p", { class: "webhook-new-secret", role: "status" });
            const overlap = e.previous_secret_until && e.previous_secret_until * 1000 > Date.now()
              ? h("p", { class: "muted" }, `The previous secret also signs until ${formatTime(e.previous_secret_until)}.`)
              : null;
            return h(
              "li",
              { class: "card webhook" },
              h("p", {}, h("code", {}, e.url)),
              h("p", { class: "muted webhook-state" }, `${endpointState(e)} · ${e.event_types.replaceAll(",", ", ")}`),
              overlap,
              onOff(ctx, e),
              confirmAction({
                label: "New signing secret",
                question: "Make a new signing secret? The current one keeps signing beside it for a day: give the new one to the receiving system before then.",
                confirm: "Yes, make a new secret",
                danger: false,
                work: () => api("POST", `/webhooks/${encodeURIComponent(e.id)}/rotate-secret`, {}),
                done: (made) => {
                  shown.textContent = `New signing secret (shown once): ${made.secret}. The previous one signs too until ${formatTime(made.previous_valid_until)}.`;
                  ctx.announce("New signing secret made. Copy it now.");
                },
              }),
              shown,
              e.enabled ? testButton(ctx, e) : null,
              deliveryLog(ctx, e),
            );
          })
        : [h("li", { class: "muted" }, "No webhooks.")]),
    ),
    form,
  );
}

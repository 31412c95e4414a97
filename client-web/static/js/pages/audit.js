// The audit log for admins (the privacy officer): filters, a paged list
// (newest first, cursor paging), export as JSONL or CSV (the server signs
// the export so it verifies on its own with `alcove audit verify`), and the
// verification status: the signed tree head, plus an inclusion proof of a
// listed entry checked here in the page (RFC 9162 §2.1.3.2, SHA-256 from the
// browser's Web Crypto; the entry's leaf hash is recomputed from its fields).
//
// Privacy: the filters live in this page's memory only, never in the address
// bar or the title. Filter ids go to the API in the query string of fetch
// requests, never into a URL the person sees or shares.

import { api, ApiError, failure } from "../api.js";
import { h, uid, formatTime, selectField, errorBox, roleName } from "../dom.js";

const PAGE_SIZE = 50;

/**
 * The actions the server records, offered as suggestions (any exact action
 * is accepted: a log may hold older names). They come from the server's
 * OpenAPI document (`AuditAction`, the same list the server writes from),
 * never from a copy here; without it the field simply offers none.
 */
/** @type {Promise<Map<string, string>> | null} */
let knownOnce = null;

/** The known actions, read from the document once per page load (it does not change while the server runs). */
function knownActions() {
  if (!knownOnce) {
    knownOnce = readKnownActions().then((known) => {
      if (known.size === 0) knownOnce = null; // not read: try again next time
      return known;
    });
  }
  return knownOnce;
}

async function readKnownActions() {
  try {
    const doc = await api("GET", "/openapi.json", undefined, { auth: false });
    const schema = doc?.components?.schemas?.AuditAction;
    const names = Array.isArray(schema?.enum) ? schema.enum : [];
    const said = Array.isArray(schema?.["x-enum-descriptions"]) ? schema["x-enum-descriptions"] : [];
    /** @type {Map<string, string>} name → the sentence that says what it means */
    const known = new Map();
    names.forEach((n, i) => {
      if (typeof n === "string") known.set(n, typeof said[i] === "string" ? said[i] : "");
    });
    return known;
  } catch {
    return new Map();
  }
}

export async function auditPage(ctx) {
  let users = [];
  let devices = [];
  /** @type {Map<string, string>} */
  let actions = new Map();
  try {
    [users, devices, actions] = await Promise.all([api("GET", "/users"), api("GET", "/devices"), knownActions()]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return forbidden();
    throw e;
  }
  const userName = new Map(users.map((u) => [u.id, u.display_name]));
  const deviceName = new Map(devices.map((d) => [d.id, d.name]));

  // ---- filters (page state only) ----
  const byName = (a, b) => a[1].localeCompare(b[1]);
  const userOptions = [["", "Anyone"], ...users.map((u) => [u.id, `${u.display_name} (${roleName(u.role)})`]).sort(byName)];
  const clientOptions = [["", "Any client"], ...users.filter((u) => u.role === "client").map((u) => [u.id, u.display_name]).sort(byName)];
  const deviceOptions = [["", "Any device"], ...devices.map((d) => [d.id, `${d.name} — ${d.user_name}`]).sort(byName)];
  const fUser = selectField({ label: "Who acted", name: "user", options: userOptions });
  const fClient = selectField({ label: "Whose records (client)", name: "client", options: clientOptions });
  const fDevice = selectField({ label: "Device", name: "device", options: deviceOptions });
  const fOutcome = selectField({
    label: "Outcome",
    name: "outcome",
    options: [
      ["", "Any outcome"],
      ["success", "Success"],
      ["failure", "Failure (refused or failed)"],
    ],
  });
  const actionId = uid("action");
  const actionList = uid("actions");
  const fAction = h("input", { id: actionId, name: "action", type: "text", list: actionList, autocomplete: "off", spellcheck: "false", "aria-describedby": `${actionId}-hint`, maxlength: 100 });
  const actionWrap = h(
    "div",
    { class: "field" },
    h("label", { for: actionId }, "Action"),
    h("p", { class: "hint", id: `${actionId}-hint` }, "Exact name, for example auth.login. Leave empty for every action."),
    fAction,
    h("datalist", { id: actionList }, [...actions].map(([a, said]) => h("option", { value: a, label: said || a }))),
  );
  const dateField = (label, name, hint) => {
    const id = uid(name);
    const input = h("input", { id, name, type: "date", "aria-describedby": `${id}-hint` });
    return { wrap: h("div", { class: "field" }, h("label", { for: id }, label), h("p", { class: "hint", id: `${id}-hint` }, hint), input), input };
  };
  const fFrom = dateField("From", "from", "First day included.");
  const fTo = dateField("Until", "to", "Last day included.");

  const filterErrors = errorBox();
  const filterForm = h(
    "form",
    { class: "card audit-filters", "aria-labelledby": "audit-filters-h", novalidate: true },
    h("h2", { id: "audit-filters-h" }, "Filters"),
    h("div", { class: "filter-grid" }, fUser.wrap, fClient.wrap, fDevice.wrap, actionWrap, fOutcome.wrap, fFrom.wrap, fTo.wrap),
    filterErrors.box,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Show entries"),
      h("button", { type: "reset", class: "secondary" }, "Clear filters"),
    ),
  );

  /** The current filters as API query parameters (local days → Unix seconds). */
  function filters() {
    const p = new URLSearchParams();
    if (fUser.select.value) p.set("user", fUser.select.value);
    if (fClient.select.value) p.set("client", fClient.select.value);
    if (fDevice.select.value) p.set("device", fDevice.select.value);
    const action = fAction.value.trim();
    if (action) p.set("action", action);
    if (fOutcome.select.value) p.set("outcome", fOutcome.select.value);
    const day = (value, plus) => {
      const [y, m, d] = value.split("-").map(Number);
      return Math.floor(new Date(y, m - 1, d + plus).getTime() / 1000);
    };
    if (fFrom.input.value) p.set("from", String(day(fFrom.input.value, 0)));
    if (fTo.input.value) p.set("to", String(day(fTo.input.value, 1)));
    if (p.has("from") && p.has("to") && Number(p.get("from")) >= Number(p.get("to"))) {
      throw new Error("The first day must come before the last day.");
    }
    return p;
  }

  // ---- the list ----
  const summary = h("p", { id: "audit-summary", class: "muted" });
  const tbody = h("tbody", { id: "audit-entries" });
  const table = h(
    "table",
    { class: "audit-table", "aria-describedby": "audit-summary" },
    h("caption", { class: "visually-hidden" }, "Audit entries, newest first"),
    h(
      "thead",
      {},
      h("tr", {}, ["Entry", "Time", "Action", "Outcome", "Who", "Acted on", "Details"].map((c) => h("th", { scope: "col" }, c))),
    ),
    tbody,
  );
  const listErrors = errorBox();
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show older entries");
  let cursor = null;
  let shown = 0;
  let query = new URLSearchParams();
  let newest = null;
  // Every load gets a number; an answer that is no longer the latest is
  // dropped (e.g. "Clear filters" then "Show entries" at once).
  let generation = 0;
  const region = h("div", { class: "table-wrap", role: "region", "aria-labelledby": "audit-list-h", tabindex: "0" }, table);

  const who = (userId, deviceId) => {
    const parts = [];
    if (userId) parts.push(userName.get(userId) || `person ${short(userId)}`);
    if (deviceId) parts.push(`on ${deviceName.get(deviceId) || `device ${short(deviceId)}`}`);
    return parts.length ? parts.join(" ") : "The server";
  };

  function row(e) {
    const target = [];
    if (e.target_user_id) target.push(userName.get(e.target_user_id) || `person ${short(e.target_user_id)}`);
    if (e.target_device_id) target.push(`device ${deviceName.get(e.target_device_id) || short(e.target_device_id)}`);
    if (e.target_conversation_id) target.push(`conversation ${short(e.target_conversation_id)}`);
    const check = h("button", { type: "button", class: "link-button", "aria-label": `Check entry ${e.seq}` }, "Check");
    const result = h("span", { class: "proof-result" });
    check.addEventListener("click", async () => {
      check.disabled = true;
      result.textContent = "Checking…";
      const r = await proveEntry(e.seq);
      result.textContent = r.ok ? "In the signed log" : r.message;
      result.className = `proof-result ${r.ok ? "ok" : "bad"}`;
      check.disabled = false;
    });
    const cell = (label, ...content) => h("td", { "data-label": label }, h("div", { class: "cell" }, ...content));
    return h(
      "tr",
      { "data-seq": e.seq },
      cell("Entry", String(e.seq)),
      cell("Time", h("time", { datetime: new Date(e.at * 1000).toISOString() }, formatTime(e.at))),
      // What happened in words (the server's sentence for the action),
      // and the exact name, which the filter takes.
      cell(
        "Action",
        actions.get(e.action) ? h("span", { class: "action-said" }, actions.get(e.action)) : null,
        h("code", { class: "action" }, e.action),
      ),
      cell("Outcome", h("span", { class: `badge ${e.outcome === "failure" ? "revoked" : "current"}` }, e.outcome === "failure" ? "Failure" : "Success")),
      cell("Who", who(e.actor_user_id, e.actor_device_id), e.ip ? h("span", { class: "muted small" }, ` from ${e.ip}`) : null),
      cell("Acted on", target.length ? target.join(", ") : "—"),
      cell("Details", h("span", { class: "detail" }, detailText(e.detail)), " ", check, " ", result),
    );
  }

  async function loadPage(reset) {
    listErrors.clear();
    const p = new URLSearchParams(query);
    p.set("limit", String(PAGE_SIZE));
    if (!reset && cursor !== null) p.set("cursor", String(cursor));
    const mine = ++generation;
    more.disabled = true;
    region.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `/audit/events?${p}`);
      if (mine !== generation) return;
      if (reset) {
        tbody.replaceChildren();
        shown = 0;
        newest = page.events.length ? page.events[0].seq : null;
      }
      tbody.append(...page.events.map(row));
      shown += page.events.length;
      cursor = page.next_cursor ?? null;
      more.hidden = cursor === null;
      table.hidden = shown === 0;
      summary.textContent =
        shown === 0 ? "No entries match these filters." : `Showing ${shown} ${shown === 1 ? "entry" : "entries"}, newest first${cursor === null ? " (all of them)" : ""}.`;
      tbody.dataset.generation = String(mine);
    } catch (e) {
      if (mine === generation) listErrors.show(failure(e).message);
    } finally {
      if (mine === generation) {
        more.disabled = false;
        region.removeAttribute("aria-busy");
      }
    }
  }

  more.addEventListener("click", () => {
    const before = shown;
    loadPage(false).then(() => {
      // Keyboard users continue from the first newly shown entry.
      const first = tbody.children[before];
      if (first) {
        first.setAttribute("tabindex", "-1");
        first.focus();
      }
    });
  });

  filterForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    filterErrors.clear();
    try {
      query = filters();
    } catch (e) {
      filterErrors.show(failure(e).message);
      return;
    }
    cursor = null;
    await loadPage(true);
    ctx.announce(summary.textContent);
  });
  filterForm.addEventListener("reset", () => {
    filterErrors.clear();
    query = new URLSearchParams();
    cursor = null;
    // After the form has reset its fields.
    setTimeout(() => loadPage(true), 0);
  });

  // ---- export ----
  const exportErrors = errorBox();
  const exportButton = (format, label) => {
    const b = h("button", { type: "button", class: "secondary" }, label);
    b.addEventListener("click", async () => {
      exportErrors.clear();
      b.disabled = true;
      try {
        let p;
        try {
          p = filters();
        } catch (e) {
          exportErrors.show(failure(e).message);
          return;
        }
        p.set("format", format);
        await download(`/api/v1/audit/export?${p}`, `alcove-audit.${format}`);
        ctx.announce(`The ${format.toUpperCase()} export was downloaded.`);
      } catch (e) {
        exportErrors.show(failure(e).message);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const exportCard = h(
    "section",
    { class: "card", "aria-labelledby": "audit-export-h" },
    h("h2", { id: "audit-export-h" }, "Export"),
    h(
      "p",
      {},
      "Downloads every entry that matches the filters above, with the signed tree head and a proof for each entry. Check it on a trusted computer with ",
      h("code", {}, "alcove audit verify --export FILE --public-key KEY"),
      ".",
    ),
    exportErrors.box,
    h("div", { class: "actions" }, exportButton("jsonl", "Download JSONL"), exportButton("csv", "Download CSV")),
  );

  // ---- verification status ----
  const status = h("div", { id: "audit-verification", "aria-live": "polite" }, h("p", {}, "Checking the log…"));
  const statusCard = h(
    "section",
    { class: "card", "aria-labelledby": "audit-verify-h" },
    h("h2", { id: "audit-verify-h" }, "Verification"),
    status,
  );

  /**
   * Fetches an inclusion proof of entry `seq` and checks it here.
   * @returns {Promise<Inclusion>}
   */
  async function proveEntry(seq) {
    try {
      const proof = await api("GET", `/audit/proof/inclusion?seq=${encodeURIComponent(seq)}`);
      return await checkInclusion(proof);
    } catch (e) {
      return { ok: false, message: failure(e).message || "The proof could not be checked." };
    }
  }

  async function verify() {
    try {
      const view = await api("GET", "/audit/head");
      let head = view.head;
      let check = null;
      if (newest !== null) {
        const r = await proveEntry(newest);
        if (r.ok) head = r.head;
        check = r.ok
          ? h("p", { class: "notice verify-ok", id: "audit-verify-result" }, `Verified: entry ${newest} is included in the signed log of ${r.size} entries.`)
          : h("p", { class: "form-error", role: "alert", id: "audit-verify-result" }, `Not verified: entry ${newest}: ${r.message}`);
      }
      const items = [
        h("dt", {}, "Entries in the log"),
        h("dd", { id: "audit-tree-size" }, String(head.tree_size)),
        h("dt", {}, "Signed at"),
        h("dd", {}, formatTime(head.timestamp)),
        h("dt", {}, "Key id"),
        h("dd", {}, h("code", { id: "audit-key-id", class: "hash" }, head.key_id)),
        h("dt", {}, "Public key"),
        h("dd", {}, h("code", { class: "hash" }, view.public_key)),
      ];
      status.replaceChildren(
        check || h("p", { id: "audit-verify-result" }, "The log is signed. No entry is listed to check."),
        h("dl", { class: "head-facts" }, items),
        h(
          "p",
          { class: "hint" },
          "Compare the key id with the key your practice pinned outside this server. A complete check of the whole log or of an export needs ",
          h("code", {}, "alcove audit verify"),
          ".",
        ),
      );
    } catch (e) {
      status.replaceChildren(h("p", { class: "form-error", role: "alert" }, failure(e).message || "The log could not be checked."));
    }
  }

  await loadPage(true);
  // Not awaited: the page shows at once; the status fills in.
  verify();

  return h(
    "section",
    { class: "audit" },
    h("h1", {}, "Audit log"),
    h("p", {}, "Every sign-in, change and access in this practice, including views of this log. Entries cannot be edited or deleted."),
    statusCard,
    filterForm,
    h("h2", { id: "audit-list-h" }, "Entries"),
    summary,
    listErrors.box,
    region,
    h("div", { class: "actions" }, more),
    exportCard,
  );

  function forbidden() {
    return h(
      "section",
      {},
      h("h1", {}, "Audit log"),
      h("p", { class: "form-error", role: "alert" }, "Only practice admins can see the audit log."),
    );
  }
}

/** First 8 characters of an id, for display when no name is known. */
function short(id) {
  return String(id).slice(0, 8);
}

/** The detail JSON as short "key: value" text (identifiers and counts only). */
function detailText(detail) {
  if (!detail) return "";
  try {
    const obj = JSON.parse(detail);
    if (obj && typeof obj === "object" && !Array.isArray(obj)) {
      return Object.entries(obj)
        .filter(([, v]) => v !== null && v !== "")
        .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`)
        .join(", ");
    }
  } catch (_) {
    /* shown as stored */
  }
  return String(detail);
}

/** Downloads `url` (same origin, session cookie) as a file via a Blob URL. */
async function download(url, fallbackName) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "error" });
  } catch (_) {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  if (!response.ok) {
    let message = "The export could not be made. Please try again.";
    try {
      const data = await response.json();
      if (data && data.message) {
        const t = String(data.message).trim();
        message = t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".");
      }
    } catch (_) {
      /* keep the plain sentence */
    }
    throw new ApiError(response.status, "export_failed", message);
  }
  const blob = await response.blob();
  const disposition = response.headers.get("content-disposition") || "";
  const match = disposition.match(/filename="([^"]+)"/);
  const name = match ? match[1] : fallbackName;
  const href = URL.createObjectURL(blob);
  const a = h("a", { href, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

// ---- RFC 9162 inclusion proof, checked in the page ----

const enc = new TextEncoder();

function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    buf.set(p, o);
    o += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
}

/**
 * The canonical bytes of an entry (docs/audit.md, version 1), as chunks.
 * Exported for the golden-vector test (docs/vectors/audit.json).
 */
export function canonicalBytes(e) {
  const chunks = [];
  const head = new Uint8Array(17);
  const view = new DataView(head.buffer);
  head[0] = 1;
  view.setBigUint64(1, BigInt(e.seq));
  view.setBigInt64(9, BigInt(e.at));
  chunks.push(head);
  const fields = [
    e.practice_id,
    e.actor_user_id,
    e.actor_device_id,
    e.action,
    e.target_user_id,
    e.target_device_id,
    e.target_conversation_id,
    e.outcome,
    e.request_id,
    e.ip,
    e.detail,
  ];
  for (const f of fields) {
    if (f === null || f === undefined) {
      chunks.push(new Uint8Array([0]));
    } else {
      const text = enc.encode(f);
      const len = new Uint8Array(5);
      len[0] = 1;
      new DataView(len.buffer).setUint32(1, text.length);
      chunks.push(len, text);
    }
  }
  return chunks;
}

/** @typedef {{ ok: true, size: number, head: any } | { ok: false, message: string }} Inclusion */

/**
 * Checks an inclusion proof answer: the entry hashes to its leaf hash, and
 * the audit path leads from that leaf to the signed head's root. Exported
 * for the golden-vector test.
 * @returns {Promise<Inclusion>}
 */
export async function checkInclusion(p) {
  const leaf = await sha256(new Uint8Array([0]), ...canonicalBytes(p.entry));
  if (toHex(leaf) !== p.leaf_hash) return { ok: false, message: "the entry does not match its leaf hash" };
  const size = Number(p.head.tree_size);
  let fn = Number(p.leaf_index);
  let sn = size - 1;
  if (fn > sn) return { ok: false, message: "the entry is outside the signed log" };
  let r = leaf;
  const one = new Uint8Array([1]);
  for (const hex of p.proof) {
    const node = fromHex(hex);
    if (sn === 0) return { ok: false, message: "the proof is too long" };
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(one, node, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(one, r, node);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0 || toHex(r) !== p.head.root_hash) return { ok: false, message: "the proof does not lead to the signed root" };
  return { ok: true, size, head: p.head };
}

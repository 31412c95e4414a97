// Small DOM helpers. Everything is built with DOM APIs (no innerHTML with
// data, no inline styles), so the page works under the strict CSP.

/** Creates an element: h("p", {class: "hint"}, "text", childNode, …). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

let seq = 0;
/** A unique element id. */
export function uid(prefix = "f") {
  seq += 1;
  return `${prefix}-${seq}`;
}

/**
 * A labelled form field. Returns {wrap, input}. Options: label, name, type,
 * autocomplete, hint, required (default true), minlength, maxlength,
 * inputmode, value, placeholder, spellcheck, autocapitalize.
 */
export function field(opts) {
  const id = uid(opts.name || "field");
  const hintId = opts.hint ? `${id}-hint` : null;
  const input = h("input", {
    id,
    name: opts.name,
    type: opts.type || "text",
    autocomplete: opts.autocomplete || "off",
    required: opts.required !== false,
    minlength: opts.minlength,
    maxlength: opts.maxlength,
    inputmode: opts.inputmode,
    pattern: opts.pattern,
    placeholder: opts.placeholder,
    spellcheck: opts.spellcheck,
    autocapitalize: opts.autocapitalize,
    "aria-describedby": hintId,
  });
  if (opts.value !== undefined) input.value = opts.value;
  const wrap = h(
    "div",
    { class: "field" },
    h("label", { for: id }, opts.label),
    hintId ? h("p", { class: "hint", id: hintId }, opts.hint) : null,
    input,
  );
  return { wrap, input };
}

/**
 * A <select> with a label. options: [[value, text], …].
 * @param {{label: string, name: string, options: string[][], value?: string}} field
 */
export function selectField({ label, name, options, value }) {
  const id = uid(name);
  const select = h("select", { id, name }, options.map(([v, t]) => h("option", { value: v }, t)));
  if (value !== undefined) select.value = value;
  return { wrap: h("div", { class: "field" }, h("label", { for: id }, label), select), select };
}

/** A form-level error area (announced by screen readers when filled). */
export function errorBox() {
  const box = h("div", { class: "form-error", role: "alert", hidden: true });
  return {
    box,
    show(message) {
      box.textContent = message;
      box.hidden = false;
    },
    clear() {
      box.textContent = "";
      box.hidden = true;
    },
  };
}

/**
 * Runs `work` as the form's submit action: disables the submit button, marks
 * the form busy, shows an ApiError's message in `errors`.
 */
export function onSubmit(form, errors, work) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    errors.clear();
    const buttons = form.querySelectorAll("button");
    form.setAttribute("aria-busy", "true");
    buttons.forEach((b) => (b.disabled = true));
    try {
      await work();
    } catch (e) {
      errors.show(e instanceof Error && e.message ? e.message : "Something went wrong. Please try again.");
    } finally {
      form.removeAttribute("aria-busy");
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** Unix seconds as a readable local date and time. */
export function formatTime(unixSecs) {
  return dateFmt.format(new Date(unixSecs * 1000));
}

/** Unix seconds relative to now ("5 minutes ago", "in 7 days"). */
export function relativeTime(unixSecs) {
  const diff = unixSecs - Date.now() / 1000;
  const abs = Math.abs(diff);
  /** @type {[number, Intl.RelativeTimeFormatUnit]} */
  const [value, unit] =
    abs < 60 ? [diff, "second"] : abs < 3600 ? [diff / 60, "minute"] : abs < 86400 ? [diff / 3600, "hour"] : [diff / 86400, "day"];
  if (unit === "second" && abs < 45) return "just now";
  return relFmt.format(Math.round(value), unit);
}

/** A <time> element showing the relative time, with the exact time as title. */
export function timeEl(unixSecs) {
  return h("time", { datetime: new Date(unixSecs * 1000).toISOString(), title: formatTime(unixSecs) }, relativeTime(unixSecs));
}

/** Role names in words. */
export function roleName(role) {
  return { admin: "practice admin", clinician: "clinician", associate: "associate", client: "client" }[role] || role;
}

/** "a clinician" / "an admin". */
export function withArticle(word) {
  return /^[aeiou]/i.test(word) ? `an ${word}` : `a ${word}`;
}

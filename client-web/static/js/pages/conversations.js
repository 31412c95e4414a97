// Conversation list and conversation view. All message content comes from
// the messaging engine (decrypted in this browser, kept sealed locally);
// the URL carries only the conversation's opaque id, in the fragment (never
// sent to the server, never a name). Page titles name the page only.

import { api } from "../api.js";
import { h, errorBox, onSubmit, selectField, uid } from "../dom.js";
import * as m from "../messaging/client.js";
import { confirmAction } from "./revoke.js";
import { appointmentCard, answerLine, cardKey } from "./appointments.js";

const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const STATUS_TEXT = { sending: "Sending…", sent: "Sent", delivered: "Delivered", read: "Read", failed: "Not sent" };
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

/** A message's state in words. One that waited for the other person's
 * device says so, and when it reached them. */
function stateText(c, msg) {
  if (msg.status === "waiting") return `Waiting for ${c.other}'s device`;
  const text = STATUS_TEXT[msg.status] || msg.status;
  if (msg.waited && msg.deliveredAt && (msg.status === "delivered" || msg.status === "read")) {
    return `${text} · arrived ${clock.format(new Date(msg.deliveredAt))}`;
  }
  return text;
}

/** Re-renders `update` on engine events while the page is current. */
function follow(ctx, update) {
  const off = m.subscribe((event) => {
    if (!ctx.isCurrent()) {
      off();
      return;
    }
    update(event);
  });
}

function engineNotice() {
  const st = m.status();
  if (st.state === "error") return h("p", { class: "form-error", role: "alert" }, st.error);
  if (st.state === "starting" || st.state === "off") return h("p", { class: "muted" }, "Opening your encrypted messages…");
  return h("p", { class: "muted connection" }, st.online ? "Connected securely." : "Reconnecting…");
}

/* ------------------------------------------------------------ the list */

/** A text's first line, at most 80 characters (whole code points). */
function previewText(text) {
  const line = text.split("\n", 1)[0];
  const chars = [...line];
  return chars.length > 80 ? `${chars.slice(0, 79).join("")}…` : line;
}

export function conversationsPage(ctx) {
  const staff = ctx.me.role !== "client";
  const noticeSlot = h("div", { id: "messaging-status" }, engineNotice());
  const list = h("ul", { class: "cards conversations", id: "conversations", "aria-label": "Your conversations" });
  const startSlot = h("div", {});
  /** conversation id → {key, li}: the items drawn, and what they showed. */
  const rows = new Map();

  function renderList() {
    const items = m.conversations();
    noticeSlot.replaceChildren(engineNotice());
    if (!items.length) {
      list.replaceChildren(
        h(
          "li",
          { class: "card empty" },
          h("p", {}, "No conversations yet."),
          h("p", { class: "muted" }, staff ? "Start one with a client below." : "Start one with your clinician below, or wait for their first message."),
        ),
      );
    } else {
      // Keyed: an item is drawn again only when what it shows changed, so
      // the burst of events after sign-in (joins, handed-over history) never
      // swaps a link out from under a click.
      const next = items.map((c) => {
        const key = JSON.stringify([c.other, c.unread, c.closed, c.joined, c.join && c.join.state, c.preview, c.lastAt]);
        let row = rows.get(c.id);
        if (!row || row.key !== key) {
          row = { key, li: listItem(c) };
          rows.set(c.id, row);
        }
        return row.li;
      });
      if (next.length !== list.children.length || next.some((li, i) => list.children[i] !== li)) list.replaceChildren(...next);
    }
    renderStart();
  }

  /** One conversation in the list. */
  function listItem(c) {
    return h(
      "li",
      { class: "card conversation-item" },
      h(
        "a",
        { href: `/conversation#${c.id}`, "data-link": true, class: "conversation-link" },
        h("span", { class: "who" }, c.other),
        c.unread ? h("span", { class: "badge pending unread" }, `${c.unread} unread`) : null,
        c.closed ? h("span", { class: "badge closed" }, "No longer with the practice") : null,
        !c.joined
          ? h("span", { class: "muted small" }, c.join && c.join.state === "joining" ? " Setting up encryption on this device…" : " Waiting for encryption to be set up")
          : null,
      ),
      c.preview ? h("p", { class: "preview" }, c.preview.mine ? "You: " : "", previewText(c.preview.text)) : null,
      c.lastAt ? h("p", { class: "muted small" }, "Last message ", timeFmt.format(new Date(c.lastAt))) : null,
    );
  }

  function renderStart() {
    if (m.status().state !== "ready") {
      startSlot.replaceChildren();
      return;
    }
    const have = new Set(m.conversations().map((c) => c.otherId));
    const candidates = m.contacts().filter((p) => !have.has(p.user_id));
    if (!candidates.length) {
      startSlot.replaceChildren();
      return;
    }
    if (startSlot.querySelector("form")) return; // keep the user's selection
    const errors = errorBox();
    const who = selectField({
      label: staff ? "Client" : "Clinician",
      name: "with_user_id",
      options: candidates.map((p) => [p.user_id, p.display_name]),
    });
    const form = h(
      "form",
      { class: "card", "aria-labelledby": "start-heading" },
      h("h2", { id: "start-heading" }, "Start a conversation"),
      errors.box,
      who.wrap,
      h("button", { type: "submit", class: "primary" }, "Start conversation"),
    );
    onSubmit(form, errors, async () => {
      const id = await m.startConversation(who.select.value);
      ctx.navigate(`/conversation#${id}`);
    });
    startSlot.replaceChildren(form);
  }

  renderList();
  m.refresh().catch(() => {});
  follow(ctx, (event) => {
    if (event.type === "status" || event.type === "conversations" || event.type === "messages" || event.type === "read") {
      if (event.type === "conversations") startSlot.replaceChildren();
      renderList();
    }
  });

  return h(
    "section",
    {},
    h("h1", {}, "Conversations"),
    noticeSlot,
    list,
    startSlot,
    notificationsControl(),
    staff && ["admin", "clinician"].includes(ctx.me.role)
      ? h("p", {}, h("a", { href: "/invites", "data-link": true }, "Invite someone to Alcove"))
      : null,
  );
}

function notificationsControl() {
  if (typeof Notification === "undefined" || Notification.permission !== "default") return null;
  const button = h("button", { type: "button", class: "secondary" }, "Notify me of new messages");
  const wrap = h(
    "div",
    { class: "notifications" },
    h("p", { class: "muted small" }, "Notifications say only “New secure message”: never a name or any content."),
    button,
  );
  button.addEventListener("click", async () => {
    try {
      await Notification.requestPermission();
    } finally {
      wrap.hidden = true;
    }
  });
  return wrap;
}

/* ------------------------------------------------------------ the view */

/** What this device waits for before it can read and write here, in plain words. */
function joinText(c) {
  const j = c.join || { state: "waiting", reason: "welcome" };
  if (j.state === "joining") return "Setting up encryption on this device…";
  switch (j.reason) {
    case "group_info_missing":
      return `The encryption of this conversation is not set up yet: the device that started it has to be online once. This device joins by itself as soon as it is.`;
    case "offline":
      return "This device could not reach the server to join the conversation. It tries again when you open it.";
    case "busy":
      return "The conversation was changing while this device joined. It tries again when you open it.";
    case "refused":
      return `The server did not let this device join the conversation by itself. It is added automatically the next time another device in the conversation is online.`;
    default:
      return "This device is waiting to be added to the conversation. It happens automatically when another device in it is online.";
  }
}

function messageItem(ctx, c, msg, onRetry) {
  const kind = msg.kind && msg.kind !== "text" ? ` ${msg.kind.replace("_", "-")}` : "";
  const li = h("li", { class: `message ${msg.mine ? "mine" : "theirs"}${kind}`, "data-id": msg.id });
  fillMessage(ctx, li, c, msg, onRetry);
  return li;
}

/** What, when it changes, makes a message's item be drawn again. */
function itemKey(c, msg) {
  return msg.kind === "reminder" ? cardKey(c, msg) : msg.status || "";
}

function fillMessage(ctx, li, c, msg, onRetry) {
  const meta = h(
    "p",
    { class: "meta" },
    h("span", { class: "sender" }, msg.mine ? "You" : c.other),
    " · ",
    h("time", { datetime: new Date(msg.sentAt).toISOString() }, timeFmt.format(new Date(msg.sentAt))),
  );
  // Handed to this device by another (docs/history.md): whose copy it is,
  // so a dispute can tell a copy from what this device received itself.
  if (msg.copy) {
    const whose = msg.copy === "backup" ? "copy from your history backup" : msg.copy === "own" ? "copy from your other device" : `copy from ${c.other}'s device`;
    meta.append(" · ", h("span", { class: "copy" }, whose));
  }
  const body =
    msg.kind === "reminder"
      ? appointmentCard(ctx, c, msg)
      : msg.kind === "reminder_response"
        ? answerLine(c, msg)
        : h("p", { class: "text" }, msg.text);
  const parts = [meta, body];
  if (msg.mine && msg.status) {
    const state = h("p", { class: `state state-${msg.status}` }, stateText(c, msg));
    parts.push(state);
    if (msg.status === "waiting") {
      parts.push(h("p", { class: "muted small" }, `${c.other} has no device signed in to Alcove right now, so nobody can read this yet. It is delivered, still end to end, when they sign in again.`));
    }
    if (msg.status === "failed") {
      if (msg.error) state.append(": ", msg.error);
      if (msg.permanent === "refused") {
        parts.push(h("p", { class: "muted small" }, "This message cannot be sent as it is. Copy it and send it again in shorter parts."));
      } else if (!msg.permanent) {
        const b = h("button", { type: "button", class: "secondary retry" }, "Retry sending");
        b.addEventListener("click", () => onRetry(msg.id));
        parts.push(b);
      }
    }
  }
  li.dataset.status = msg.status || "";
  li.dataset.key = itemKey(c, msg);
  li.replaceChildren(...parts);
}

export async function conversationPage(ctx) {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!/^[0-9a-f-]{36}$/.test(id)) {
    ctx.navigate("/", { replace: true });
    return null;
  }
  await m.ready();
  const c = m.conversation(id);
  if (!c) {
    return h(
      "section",
      {},
      h("h1", {}, "Conversation"),
      h("p", { class: "form-error", role: "alert" }, "This conversation is not available on this device."),
      h("p", {}, h("a", { href: "/", "data-link": true }, "Back to conversations")),
    );
  }
  const list = h("ol", { class: "messages", id: "messages", "aria-label": "Messages" });
  const items = new Map();
  const waiting = h("p", { class: "notice", id: "join-status", hidden: c.joined }, c.joined ? "" : joinText(c));
  // Joined, but the earlier messages have not been handed to this device yet.
  const historyNotice = h(
    "p",
    { class: "notice", id: "history-status", role: "status", hidden: !c.awaitingHistory },
    `Earlier messages of this conversation, if there are any, appear here when another device of yours, or ${c.other}'s, is online. `,
    h("a", { href: "/account#history-backup", "data-link": true }, "Restore them from your history backup"),
    " if you turned it on.",
  );
  // A shared computer, or a sign-in since a reset link: nobody hands this
  // device earlier messages; only the person's backup can.
  const barredNotice = h(
    "p",
    { class: "notice", id: "history-barred", role: "status", hidden: !c.handoverBarred || c.messages.some((x) => x.copy === "backup") },
    "Earlier messages are not passed to this device by your other devices or the practice's: it was signed in as a shared computer, or with a reset link. ",
    h("a", { href: "/account#history-backup", "data-link": true }, "Restore them from your history backup"),
    " if you turned it on.",
  );
  // The other person left the practice: what was said stays readable here,
  // but nothing more can be sent — nobody would read it.
  const closedNotice = h(
    "p",
    { class: "notice", id: "conversation-closed", role: "status", hidden: !c.closed },
    `${c.other} is no longer with the practice. You can still read this conversation, but new messages cannot be sent. Contact the practice to be put in touch with someone else.`,
  );
  const onRetry = (msgId) => m.retry(id, msgId).catch(() => {});
  // Whether this device can write here (joined, conversation open): set by
  // renderMessages, read on every keystroke by updateCounter.
  let writable = false;

  // The view opens at the newest message and stays there as messages
  // arrive — unless the person scrolled up to read, when a "new messages"
  // marker appears instead of moving the page under them.
  const nearBottom = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80;
  const toNewest = () => window.scrollTo({ top: document.documentElement.scrollHeight });
  const marker = h("button", { type: "button", class: "new-messages", id: "new-messages", hidden: true }, "New messages ↓");
  marker.addEventListener("click", () => {
    marker.hidden = true;
    toNewest();
  });
  window.addEventListener("scroll", function onScroll() {
    if (!ctx.isCurrent()) {
      window.removeEventListener("scroll", onScroll);
      return;
    }
    if (!marker.hidden && nearBottom()) marker.hidden = true;
  }, { passive: true });

  function renderMessages() {
    const cur = m.conversation(id);
    if (!cur) return;
    waiting.hidden = cur.joined || cur.closed;
    if (!cur.joined && waiting.textContent !== joinText(cur)) waiting.textContent = joinText(cur);
    closedNotice.hidden = !cur.closed;
    historyNotice.hidden = !cur.awaitingHistory || cur.closed;
    barredNotice.hidden = !cur.handoverBarred || cur.messages.some((x) => x.copy === "backup");
    writable = cur.joined && !cur.closed;
    input.disabled = !writable;
    updateCounter();
    const wasAtBottom = nearBottom();
    let arrived = false;
    let mineAdded = false;
    for (const msg of cur.messages) {
      let li = items.get(msg.id);
      if (!li) {
        li = messageItem(ctx, cur, msg, onRetry);
        items.set(msg.id, li);
        list.append(li);
        arrived = true;
        if (msg.mine) mineAdded = true;
      } else if (li.dataset.key !== itemKey(cur, msg)) {
        fillMessage(ctx, li, cur, msg, onRetry);
      }
    }
    // Earlier messages handed over arrive after newer ones: keep the list
    // in the conversation's order.
    const order = cur.messages.map((x) => items.get(x.id));
    if (order.some((li, i) => list.children[i] !== li)) list.append(...order);
    empty.hidden = cur.messages.length > 0;
    if (arrived && list.isConnected) {
      if (wasAtBottom || mineAdded) {
        toNewest();
        marker.hidden = true;
      } else {
        marker.hidden = false;
      }
    }
    if (document.visibilityState !== "hidden") m.markRead(id);
  }

  const errors = errorBox();
  const inputId = uid("message");
  // No maxlength: it would cut a pasted text silently. The counter says
  // how close the text is to the limit, and over it Send is refused.
  const input = h("textarea", { id: inputId, name: "message", rows: 2, required: true, autocomplete: "off" });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const counter = h("p", { class: "hint counter", id: `${inputId}-count`, "aria-live": "polite", hidden: true });
  const form = h(
    "form",
    { class: "composer" },
    errors.box,
    marker,
    h("label", { for: inputId }, "Message"),
    h("p", { class: "hint", id: `${inputId}-hint` }, "Enter sends; Shift+Enter starts a new line."),
    input,
    send,
    counter,
  );
  input.setAttribute("aria-describedby", `${inputId}-hint ${inputId}-count`);
  function updateCounter() {
    const length = m.textLength(input.value);
    const over = length - m.MAX_TEXT_CHARS;
    // Shown from 90 % of the limit; over it, it says by how much.
    counter.hidden = length < m.MAX_TEXT_CHARS * 0.9;
    counter.classList.toggle("over", over > 0);
    counter.textContent =
      over > 0
        ? `Too long by ${over.toLocaleString()} characters (the limit is ${m.MAX_TEXT_CHARS.toLocaleString()}): shorten it or send it in parts.`
        : `${length.toLocaleString()} of ${m.MAX_TEXT_CHARS.toLocaleString()} characters`;
    send.disabled = !writable || over > 0;
  }
  input.addEventListener("input", updateCounter);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errors.clear();
    const text = input.value.trim();
    if (!text) return;
    if (m.textLength(text) > m.MAX_TEXT_CHARS) {
      // Kept in the box, whole: nothing is cut and nothing is sent.
      updateCounter();
      errors.show(counter.textContent);
      return;
    }
    input.value = "";
    updateCounter();
    m.sendText(id, text).catch((e) => errors.show(e.message));
    input.focus();
  });
  const empty = h("p", { class: "muted", id: "no-messages" }, "No messages yet. Messages are end-to-end encrypted: only the people in this conversation can read them.");

  renderMessages();
  // Once the page is in the document (after this function returns and the
  // router shows it), open at the newest message.
  requestAnimationFrame(() => {
    if (ctx.isCurrent()) toNewest();
  });
  // Not in the conversation yet: join it by itself (external commit).
  if (!c.joined) m.joinConversation(id).catch(() => {});
  follow(ctx, (event) => {
    if (!event.conversationId || event.conversationId === id || event.type === "status") renderMessages();
  });
  document.addEventListener("visibilitychange", function onVisible() {
    if (!ctx.isCurrent()) {
      document.removeEventListener("visibilitychange", onVisible);
      return;
    }
    if (document.visibilityState === "visible") m.markRead(id);
  });

  return h(
    "section",
    { class: "conversation" },
    h("p", {}, h("a", { href: "/", "data-link": true }, "← All conversations")),
    h("h1", {}, `Conversation with ${c.other}`),
    closedNotice,
    waiting,
    historyNotice,
    barredNotice,
    empty,
    // A log region: new messages are announced politely to screen readers.
    h("div", { role: "log", "aria-label": "Messages", class: "log" }, list),
    form,
    ctx.me.role !== "client" ? reportWrongPerson(ctx, c) : null,
  );
}

// One action from where it happens: staff report a message that went to
// the wrong person (an incident, concerning this conversation's client);
// the privacy officer decides what it means.
function reportWrongPerson(ctx, c) {
  return h(
    "div",
    { class: "report-problem" },
    confirmAction({
      label: "A message here went to the wrong person",
      question: `Report it to your practice's privacy officer? They will look at what ${c.other} may have received. Reporting decides nothing by itself.`,
      confirm: "Yes, report it",
      danger: false,
      work: () => api("POST", "/incidents", { kind: "misdirected_message", user_id: c.otherId }),
      done: () => ctx.announce("Reported. The privacy officer will look at it."),
    }),
  );
}

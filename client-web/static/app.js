// Alcove web client: the shell, a small router over plain paths, and the
// session lifecycle. Pages live in /js/pages/*.js.
//
// Privacy rules kept here: no secret or personal data in a URL or in the page
// title (titles name the page only); the invite token is read from the URL
// fragment and removed from the address bar at once (see pages/auth.js).

import { markDeadlines, forgetDeadlines } from "./js/deadlines.js";
import { h } from "./js/dom.js";
import * as session from "./js/session.js";
import { loginPage, invitePage } from "./js/pages/auth.js";
import { remindersPage } from "./js/pages/reminders.js";
import { conversationsPage, conversationPage } from "./js/pages/conversations.js";
import { adminPage } from "./js/pages/admin.js";
import { auditPage } from "./js/pages/audit.js";
import * as messaging from "./js/messaging/client.js";
import { devicesPage } from "./js/pages/devices.js";
import { accountPage } from "./js/pages/account.js";
import { invitesPage } from "./js/pages/invites.js";
import { incidentsPage } from "./js/pages/incidents.js";
import { registerWorker, dropOnSignOut } from "./js/notify.js";

/**
 * Routes: path → {title, render(ctx), auth, roles?, nav?}. The messaging
 * layer replaces "/" (conversations) and may add routes with `addRoute`.
 */
const routes = new Map();

/** Adds or replaces a route (hook for the messaging layer). */
export function addRoute(path, route) {
  routes.set(path, route);
}

addRoute("/login", { title: "Sign in", render: loginPage, auth: false });
addRoute("/invite", { title: "Accept invitation", render: invitePage, auth: false });
addRoute("/", { title: "Conversations", render: conversationsPage, auth: true, nav: "Conversations" });
addRoute("/conversation", { title: "Conversation", render: conversationPage, auth: true });
addRoute("/reminders", { title: "Reminders", render: remindersPage, auth: true, nav: "Reminders" });
addRoute("/invites", { title: "Invitations", render: invitesPage, auth: true, nav: "Invitations", roles: ["admin", "clinician"] });
addRoute("/devices", { title: "Devices", render: devicesPage, auth: true, nav: "Devices" });
addRoute("/account", { title: "Your account", render: accountPage, auth: true, nav: "Account" });
addRoute("/admin", { title: "Administration", render: adminPage, auth: true, nav: "Administration", roles: ["admin"] });
addRoute("/audit", { title: "Audit log", render: auditPage, auth: true, nav: "Audit log", roles: ["admin"] });
addRoute("/incidents", { title: "Incidents", render: incidentsPage, auth: true, nav: "Incidents", roles: ["admin", "clinician", "associate"] });

// The page's fixed regions: index.html always has them.
const main = /** @type {HTMLElement} */ (document.getElementById("main"));
const nav = /** @type {HTMLElement} */ (document.getElementById("nav"));
const statusRegion = /** @type {HTMLElement} */ (document.getElementById("status"));
const practice = /** @type {HTMLElement} */ (document.getElementById("practice"));
let renderSeq = 0;

/** Announces a short status message to everyone (screen readers included). */
let statusTimer = null;
export function announce(message) {
  statusRegion.textContent = "";
  clearTimeout(statusTimer);
  if (!message) return;
  // Set after a frame so a repeated message is announced again.
  requestAnimationFrame(() => {
    statusRegion.textContent = message;
  });
  statusTimer = setTimeout(() => {
    statusRegion.textContent = "";
  }, 8000);
}

/** Goes to `path` (a plain path, never carrying secrets). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

function allowed(route, me) {
  return !route.roles || (me && route.roles.includes(me.role));
}

/** Titles the tab: the page's name and, when there are any, how many
 * messages are unread — a count only, never a name or any content. */
let pageTitle = "";
function setTitle() {
  const unread = messaging.conversations().reduce((n, c) => n + (c.unread || 0), 0);
  const base = pageTitle ? `${pageTitle} · Alcove` : "Alcove";
  const title = unread ? `(${unread}) ${base}` : base;
  if (document.title !== title) document.title = title;
}
messaging.subscribe(setTitle);

/** Replaces the main content with `node`, titles the page, moves focus. */
function show(node, title, { focus = true } = {}) {
  pageTitle = title || "";
  setTitle();
  main.replaceChildren(node);
  if (focus) {
    const heading = main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: false });
    } else {
      main.focus();
    }
  }
}

function renderNav(me, path) {
  if (!me) {
    nav.hidden = true;
    nav.replaceChildren();
    practice.textContent = "";
    return;
  }
  practice.textContent = me.practice_name;
  const items = [];
  for (const [p, route] of routes) {
    if (!route.nav || !allowed(route, me)) continue;
    const link = h("a", { href: p, "data-link": true, "aria-current": p === path ? "page" : null }, route.nav);
    // The privacy officer is reminded of a notice deadline on every page.
    if (p === "/incidents" && me.role === "admin") markDeadlines(link);
    items.push(h("li", {}, link));
  }
  const logout = h("button", { type: "button", class: "link-button", id: "logout" }, "Log out");
  logout.addEventListener("click", async () => {
    logout.disabled = true;
    await session.logout();
  });
  nav.replaceChildren(
    h("p", { class: "whoami" }, "Signed in as ", h("strong", {}, me.display_name)),
    h("ul", {}, items),
    logout,
  );
  nav.hidden = false;
}

async function render() {
  const seq = ++renderSeq;
  const path = location.pathname;
  const route = routes.get(path);
  const me = session.me();
  if (!route) {
    navigate(me ? "/" : "/login", { replace: true });
    return;
  }
  if (route.auth && !me) {
    navigate("/login", { replace: true });
    return;
  }
  if (path === "/login" && me) {
    navigate("/", { replace: true });
    return;
  }
  if (!allowed(route, me)) {
    navigate("/", { replace: true });
    return;
  }
  renderNav(route.auth ? me : null, path);
  document.body.dataset.page = path === "/" ? "conversations" : path.slice(1);
  const ctx = {
    me,
    navigate,
    announce,
    // Multi-step pages swap their content with this (focus moves to its h1).
    show: (node, title) => {
      if (seq === renderSeq) show(node, title || route.title);
    },
    isCurrent: () => seq === renderSeq,
  };
  let node;
  try {
    node = await route.render(ctx);
  } catch (e) {
    console.error(e);
    node = h("section", {}, h("h1", {}, route.title), h("p", { class: "form-error", role: "alert" }, /** @type {Error} */ (e).message || "This page could not be loaded."));
  }
  if (seq !== renderSeq || !node) return;
  show(node, route.title);
}

// Internal links navigate without reloading the page.
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-link]") : null;
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  // A notice belongs to the page it was said on: the person moving on by
  // themselves (a link, Back) clears it. A page that announces and then
  // moves on itself ("Signed in", "Reported") keeps it.
  announce("");
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", () => {
  announce("");
  render();
});

// Messaging: start after every sign-in (without blocking the page), stop on
// every lock; a revoked device wipes its local data (see session.revoked).
session.onSignIn((me) => {
  messaging.start(me);
  // The installable app's service worker (the shell offline, push
  // notices); not on a shared computer, which keeps nothing.
  if (!me.shared_computer) registerWorker();
});
session.onLock((reason) => {
  messaging.stop(reason);
  forgetDeadlines();
});
messaging.setRevokedHandler(() => session.revoked());
// Notices when Alcove is closed: the browser's copy of this device's push
// subscription goes with a sign-out or a revocation (not an idle lock).
dropOnSignOut();

session.setAfterEnd(() => {
  navigate("/login", { replace: true });
});

async function boot() {
  // The invite page must read its fragment before anything else runs; it
  // needs no session.
  if (location.pathname !== "/invite") await session.resume();
  render();
}

boot();

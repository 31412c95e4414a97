// @ts-nocheck — a service worker's global scope, not a page's.
// The service worker: what runs while no Alcove tab is open.
//
// - A push (Web Push, RFC 8030) says only {"type":"message"}: the
//   notification says "New secure message" and nothing else — no name, no
//   words, no count — because a lock screen is read by whoever holds the
//   phone. Opening it focuses an Alcove tab (or opens one) on the
//   conversations list; the messages themselves are decrypted there, on
//   the device, as always.
// - Navigations fall back to the cached page shell when the network is
//   down, so the installed app opens and says it is offline instead of the
//   browser's error page. Nothing else is cached: messages, keys and API
//   answers never enter the Cache Storage.

const SHELL = "alcove-shell-v1";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.add("/")).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  if (event.request.mode !== "navigate") return;
  event.respondWith(fetch(event.request).catch(() => caches.match("/")));
});

self.addEventListener("push", (event) => {
  let kind = "message";
  try {
    kind = event.data ? event.data.json().type : "message";
  } catch (_) {
    kind = "message";
  }
  if (kind !== "message") return;
  event.waitUntil(
    self.registration.showNotification("New secure message", {
      body: "Open Alcove to read it.",
      tag: "alcove-message",
      renotify: false,
      icon: "/icons/icon-192.png",
      badge: "/icons/icon-192.png",
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((tabs) => {
      const tab = tabs.find((t) => new URL(t.url).origin === self.location.origin);
      if (tab) {
        tab.navigate("/conversations").catch(() => {});
        return tab.focus();
      }
      return self.clients.openWindow("/conversations");
    }),
  );
});

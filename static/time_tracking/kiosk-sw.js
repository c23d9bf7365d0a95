// The kiosk's service worker: it keeps the app shell (the page, its script
// and stylesheet) so the kiosk opens with no network. The page is fetched
// network first, so a new deploy is picked up as soon as the tablet is
// online; assets have content-versioned URLs and are served from the cache.
// The API is never cached: the page queues punches itself.
"use strict";

const VERSION = new URL(self.location).searchParams.get("v") || "dev";
const CACHE = `kiosk-${VERSION}`;
const SHELL = "/kiosk";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      const page = await fetch(SHELL, { cache: "no-store", credentials: "omit" });
      const html = await page.clone().text();
      const assets = [...html.matchAll(/(?:href|src)="(\/(?:static|kiosk)\/[^"]+)"/g)].map((m) => m[1]);
      await cache.put(SHELL, page);
      await cache.addAll(assets);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith("kiosk-") && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (event.request.mode === "navigate" && url.pathname === SHELL) {
    event.respondWith(
      (async () => {
        try {
          const fresh = await fetch(event.request);
          if (fresh.ok) (await caches.open(CACHE)).put(SHELL, fresh.clone());
          return fresh;
        } catch {
          return (await caches.match(SHELL)) || Response.error();
        }
      })(),
    );
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(
      (async () => (await caches.match(event.request)) || fetch(event.request))(),
    );
  }
});

/* Service worker des pages de diagnostic en marchant (portée /diagnostic/).
 *
 * Pages et données : réseau d'abord, copie en cache en secours (hors connexion ou
 * serveur en erreur). Fichiers statiques : cache d'abord, rafraîchi en arrière-plan. Les écritures (POST…) et
 * l'API ne passent jamais par le cache : la file IndexedDB de la page s'en charge.
 */
"use strict";

var CACHE = "qpv-diagnostic-v1";
var SHELL = [
  "/static/vendor/leaflet/leaflet.css",
  "/static/vendor/leaflet/leaflet.js",
  "/static/css/diagnostic.css",
  "/static/js/diagnostic-offline.js",
  "/diagnostic/"
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) {
      return Promise.all(SHELL.map(function (url) {
        return cache.add(new Request(url, { credentials: "same-origin" })).catch(function () { return null; });
      }));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) {
        return k.indexOf("qpv-diagnostic-") === 0 && k !== CACHE;
      }).map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function networkFirst(request) {
  return fetch(request).then(function (response) {
    if (response.ok && !response.redirected) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
      return response;
    }
    if (response.status >= 500) { throw new Error("serveur " + response.status); }
    return response;
  }).catch(function (err) {
    return caches.match(request, { ignoreVary: true }).then(function (hit) {
      if (hit) { return hit; }
      throw err;
    });
  });
}

function refresh(request) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  });
}

// Cache first, refreshed in the background: a new version is used from the next visit.
function cacheFirst(event) {
  var request = event.request;
  return caches.match(request).then(function (hit) {
    if (hit) {
      event.waitUntil(refresh(request).catch(function () { return null; }));
      return hit;
    }
    return refresh(request);
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(cacheFirst(event));
  } else if (url.pathname.indexOf("/diagnostic/") === 0 && url.pathname !== "/diagnostic/sw.js") {
    event.respondWith(networkFirst(request));
  }
});

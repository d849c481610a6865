/* Service worker des pages de diagnostic en marchant (portée /diagnostic/).
 *
 * Deux caches : l'enveloppe statique (Leaflet, CSS, scripts ; cache d'abord, rafraîchie en
 * arrière-plan) et les pages (réseau d'abord, copie en secours hors connexion ou serveur en
 * erreur). Les pages d'un compte ne sont jamais servies à une autre session : le cache des
 * pages est vidé à la déconnexion (message « deconnexion » d'une page, page de connexion
 * affichée sans session, redirection du serveur vers /connexion, réponse 401) ; hors
 * connexion, une page absente du cache est remplacée par un avis en français, sans
 * formulaire ni jeton. Les écritures (POST…) et l'API ne passent jamais par le cache : la
 * file IndexedDB de la page s'en charge. GET /diagnostic/ping (l'indicateur « En ligne »)
 * va toujours au serveur.
 *
 * Un troisième cache garde les tuiles du fond de plan de la zone du parcours (rangées par
 * la page, diagnostic-terrain.js) : servies cache d'abord, vidées à la déconnexion comme
 * les pages.
 */
"use strict";

var SHELL_CACHE = "qpv-diagnostic-shell-v2";
var PAGES_CACHE = "qpv-diagnostic-pages-v2";
var FOND_CACHE = "qpv-diagnostic-fond-v1";
var SHELL = [
  "/static/vendor/leaflet/leaflet.css",
  "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/protomaps-leaflet/protomaps-leaflet.js",
  "/static/css/base.css",
  "/static/css/diagnostic.css",
  "/static/js/entete.js",
  "/static/js/fond.js",
  "/static/js/diagnostic-offline.js",
  "/static/js/diagnostic-terrain.js"
];
// a basemap tile: …/{z}/{x}/{y} with an optional extension (/fond/15/16600/11900.mvt)
var TILE_PATH = /\/\d{1,2}\/\d+\/\d+(\.[a-z0-9]+)?$/;
var OFFLINE_PAGE = '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
  + '<meta name="viewport" content="width=device-width, initial-scale=1">'
  + '<title>Hors connexion — Observatoire GUSP</title>'
  + '<link rel="stylesheet" href="/static/css/diagnostic.css"></head>'
  + '<body class="dg-hors-connexion"><main id="contenu"><section class="dg-section">'
  + '<h1>Page indisponible hors connexion</h1>'
  + '<p id="dg-avis">Cette page n\'est pas gardée sur l\'appareil pour la session en cours '
  + '(déconnexion, ou page jamais ouverte). Reconnectez-vous quand le réseau revient : '
  + 'les constats déjà saisis restent sur l\'appareil et seront envoyés au nom de leur auteur.</p>'
  + '</section></main></body></html>';

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE).then(function (cache) {
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
        return k.indexOf("qpv-diagnostic-") === 0 && k !== SHELL_CACHE && k !== PAGES_CACHE && k !== FOND_CACHE;
      }).map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); })
  );
});

// Logout (or a session found closed): no cached page may outlive it.
function forgetPages() {
  return Promise.all([caches.delete(PAGES_CACHE), caches.delete(FOND_CACHE)]);
}

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type !== "deconnexion") { return; }
  var done = forgetPages().then(function () {
    if (event.ports && event.ports[0]) { event.ports[0].postMessage({ ok: true }); }
  });
  event.waitUntil(done);
});

function offlineNotice() {
  return new Response(OFFLINE_PAGE, {
    status: 503,
    headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
               "Content-Security-Policy": "default-src 'self'; script-src 'none'; frame-ancestors 'none'" }
  });
}

function isLoginRedirect(response) {
  return response.redirected && new URL(response.url).pathname === "/connexion";
}

function networkFirst(event) {
  var request = event.request;
  return fetch(request).then(function (response) {
    if (response.ok && !response.redirected) {
      var copy = response.clone();
      event.waitUntil(caches.open(PAGES_CACHE).then(function (cache) { return cache.put(request, copy); }));
      return response;
    }
    if (response.status === 401 || isLoginRedirect(response)) {
      // the server says there is no session: what was cached belonged to a closed one
      event.waitUntil(forgetPages());
      return response;
    }
    if (response.status >= 500) { throw new Error("serveur " + response.status); }
    return response;
  }).catch(function () {
    return caches.open(PAGES_CACHE).then(function (cache) {
      return cache.match(request, { ignoreVary: true });
    }).then(function (hit) {
      return hit || offlineNotice();
    });
  });
}

function refresh(request) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(SHELL_CACHE).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  });
}

// Cache first, refreshed in the background: a new version is used from the next visit.
function cacheFirst(event) {
  var request = event.request;
  return caches.open(SHELL_CACHE).then(function (cache) { return cache.match(request); }).then(function (hit) {
    if (hit) {
      event.waitUntil(refresh(request).catch(function () { return null; }));
      return hit;
    }
    return refresh(request);
  });
}

// Tiles of the walk's area: from the cache when the page kept them there, else from the network
// (not kept: the cache holds the walk's area only, counted and capped by the page).
function tileFirst(event) {
  var request = event.request;
  return caches.open(FOND_CACHE).then(function (cache) {
    return cache.match(request, { ignoreVary: true });
  }).then(function (hit) {
    return hit || fetch(request);
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) { return; }
  if (url.pathname === "/diagnostic/ping") { return; } // the online check always asks the server
  if (TILE_PATH.test(url.pathname) && url.pathname.indexOf("/diagnostic/") !== 0) {
    event.respondWith(tileFirst(event));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(cacheFirst(event));
  } else if (url.pathname.indexOf("/diagnostic/") === 0 && url.pathname !== "/diagnostic/sw.js") {
    event.respondWith(networkFirst(event));
  }
});

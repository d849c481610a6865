/* Page d'un diagnostic en marchant : carte du parcours, saisie des constats hors connexion.
 *
 * Les constats sont d'abord enregistrés dans IndexedDB (base « qpv-diagnostic », magasin
 * « constats ») avec un identifiant client (crypto.randomUUID), leur position et leurs
 * photos (Blob). Ils sont envoyés à POST /api/observations (multipart, jeton CSRF de
 * GET /api/session) dès que le réseau revient ; le serveur répond 201 (nouveau) ou 200
 * (déjà reçu) : une synchronisation répétée ne duplique ni ne perd rien. Un échec est
 * retenté avec un délai croissant.
 *
 * Chaque constat est lié au compte qui l'a saisi (champ « login ») : il n'est envoyé que si
 * la session du serveur (GET /api/session) est celle de ce compte ; sinon il attend sa
 * reconnexion (« N constats saisis par X attendent sa reconnexion »). Une session fermée
 * (401, session anonyme) vide le cache des pages du service worker, qui ne garde que
 * l'enveloppe statique. La connexion est vérifiée par une requête au serveur (délai
 * CHECK_TIMEOUT), jamais par navigator.onLine : GET /diagnostic/ping (204, jamais mis en
 * cache) toutes les PING_EVERY ms et à chaque événement online/offline/visibilitychange ;
 * l'indicateur dit « En ligne » ou « Hors ligne — dernier contact avec le serveur à HH:MM »
 * et la file se synchronise dès que le serveur répond de nouveau.
 */
(function () {
  "use strict";

  var DB_NAME = "qpv-diagnostic";
  var STORE = "constats";
  var SHELL_CACHE = "qpv-diagnostic-shell-v2";
  var PAGES_CACHE = "qpv-diagnostic-pages-v2";
  var FOND_CACHE = "qpv-diagnostic-fond-v1";
  var CHECK_TIMEOUT = 5000;
  var PING_EVERY = 20000;
  var config = JSON.parse(document.getElementById("dg-config").textContent);
  var walk = config.walk;
  var pageLogin = config.user || null; // the account this page was rendered for
  var sessionLogin = pageLogin; // the account of the server's session, when last reached
  var reachable = null; // null: not checked yet
  var CONTACT_KEY = "qpv-diagnostic-contact";
  var lastContact = readContact(); // Date of the last answer of the server (kept across reloads)

  function readContact() {
    try {
      var v = window.localStorage && localStorage.getItem(CONTACT_KEY);
      var d = v ? new Date(v) : null;
      return d && !isNaN(d.getTime()) ? d : null;
    } catch (e) { return null; }
  }

  function contact() {
    lastContact = new Date();
    try { if (window.localStorage) { localStorage.setItem(CONTACT_KEY, lastContact.toISOString()); } }
    catch (e) { /* private mode: the time is kept for this page only */ }
  }
  var position = null; // {lon, lat}
  var positionMarker = null;
  var syncing = null;
  var retryTimer = null;
  var retryDelay = 2000;
  var MAX_DELAY = 60000;
  var lastError = "";

  // ------------------------------------------------------------------ IndexedDB
  function openDb() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = function () {
        var store = req.result.createObjectStore(STORE, { keyPath: "uid" });
        store.createIndex("walk_id", "walk_id");
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function tx(mode, fn) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, mode);
        var result = fn(t.objectStore(STORE));
        t.oncomplete = function () { db.close(); resolve(result && "result" in result ? result.result : result); };
        t.onerror = function () { db.close(); reject(t.error); };
        t.onabort = function () { db.close(); reject(t.error); };
      });
    });
  }

  function allQueued() {
    return tx("readonly", function (s) { return s.getAll(); });
  }

  function put(item) {
    return tx("readwrite", function (s) { s.put(item); });
  }

  function remove(uid) {
    return tx("readwrite", function (s) { s.delete(uid); });
  }

  function newUid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }

  // ------------------------------------------------------------------ affichage
  function plural(n, one, many) { return n + " " + (n > 1 ? many : one); }

  function showQueue() {
    return allQueued().then(function (all) {
      var el = document.getElementById("dg-file");
      if (!el) { return all; }
      var items = all.filter(function (i) { return ownerOf(i) === sessionLogin; });
      var others = all.filter(function (i) { return ownerOf(i) !== sessionLogin && i.state !== "rejeté"; });
      var rejected = items.filter(function (i) { return i.state === "rejeté"; });
      var waiting = items.length - rejected.length;
      var text;
      if (!items.length) {
        text = others.length ? "Aucun constat de ce compte en attente." : "Tous les constats sont synchronisés.";
      } else {
        text = plural(waiting, "constat en attente de synchronisation", "constats en attente de synchronisation");
        if (rejected.length) {
          text += " ; " + plural(rejected.length, "constat refusé", "constats refusés") + " par le serveur : "
            + (rejected[0].error || "");
        } else if (lastError) {
          text += " (" + lastError + ")";
        }
      }
      el.textContent = text;
      el.className = "dg-file" + (items.length ? "" : " vide");
      el.dataset.attente = String(waiting);
      showOthers(others);
      drawPending(items);
      return all;
    });
  }

  function ownerOf(item) {
    return item.login || null; // a constat queued before logins were recorded has no owner
  }

  // « N constats saisis par X attendent sa reconnexion », one line per other account.
  function showOthers(others) {
    var el = document.getElementById("dg-autres");
    if (!el) { return; }
    var byLogin = {};
    others.forEach(function (i) {
      var who = ownerOf(i) || "un compte inconnu";
      byLogin[who] = (byLogin[who] || 0) + 1;
    });
    var lines = Object.keys(byLogin).sort().map(function (who) {
      var n = byLogin[who];
      return plural(n, "constat saisi", "constats saisis") + " par " + who
        + (n > 1 ? " attendent" : " attend") + " sa reconnexion sur cet appareil.";
    });
    el.textContent = lines.join(" ");
    el.hidden = !lines.length;
    el.dataset.attente = String(others.length);
  }

  function clock(d) {
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function showNetwork() {
    var el = document.getElementById("dg-reseau");
    if (!el) { return; }
    var online = reachable !== false;
    el.textContent = reachable === null ? "Vérification de la connexion au serveur…"
      : online ? "En ligne"
      : "Hors ligne — " + (lastContact ? "dernier contact avec le serveur à " + clock(lastContact)
        + (lastContact.toDateString() === new Date().toDateString() ? ""
          : " le " + lastContact.toLocaleDateString("fr-FR"))
        : "aucun contact avec le serveur enregistré sur cet appareil")
        + ". Les constats sont gardés sur l'appareil.";
    el.className = "dg-reseau" + (online ? "" : " hors-ligne");
    el.dataset.reseau = reachable === null ? "inconnu" : online ? "en-ligne" : "hors-ligne";
  }

  function message(text, isError) {
    var el = document.getElementById("dg-message");
    if (el) { el.textContent = text; el.className = "dg-message" + (isError ? " erreur" : ""); }
  }

  // ------------------------------------------------------------------ connexion et session
  // Drop the cached pages (the service worker keeps only the static shell): a closed
  // session's pages, form and token are never served again from this device.
  function forgetPages() {
    var jobs = [];
    if (window.caches) {
      [PAGES_CACHE, FOND_CACHE].forEach(function (name) {
        jobs.push(caches.delete(name).catch(function () { return false; }));
      });
    }
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "deconnexion" });
    }
    return Promise.all(jobs);
  }

  // Ask the server who is logged in (timeout CHECK_TIMEOUT): {user, csrf_token…}, or null
  // when the server cannot be reached or is in error. navigator.onLine is never trusted.
  function checkServer() {
    var ctrl = window.AbortController ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, CHECK_TIMEOUT) : null;
    return fetch(config.urls.session, { credentials: "same-origin", cache: "no-store",
                                        headers: { "Accept": "application/json" }, signal: ctrl && ctrl.signal })
      .then(function (r) {
        if (!r.ok) { throw new Error("serveur indisponible (" + r.status + ")"); }
        return r.json();
      })
      .then(function (s) {
        reachable = true;
        contact();
        sessionLogin = s.user || null;
        if (!s.user) { forgetPages(); }
        return s;
      }, function () {
        reachable = false;
        return null;
      })
      .then(function (s) {
        if (timer) { clearTimeout(timer); }
        showNetwork();
        showSession();
        return s;
      });
  }

  // Is the server there? A small no-store request (never answered by the service worker).
  var pinging = null;
  function ping() {
    if (pinging) { return pinging; }
    var was = reachable;
    var ctrl = window.AbortController ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, CHECK_TIMEOUT) : null;
    pinging = fetch(config.urls.ping, { credentials: "same-origin", cache: "no-store",
                                        signal: ctrl && ctrl.signal })
      .then(function (r) { return r.status === 204; }, function () { return false; })
      .then(function (ok) {
        if (timer) { clearTimeout(timer); }
        reachable = ok;
        if (ok) { contact(); }
        pinging = null;
        showNetwork();
        if (ok && was === false) { retryDelay = 2000; sync(); } // back: send the queue now
        return ok;
      });
    return pinging;
  }

  function showSession() {
    var el = document.getElementById("dg-session");
    if (!el) { return; }
    var text = "";
    if (reachable && !sessionLogin) {
      text = "Session fermée : reconnectez-vous pour envoyer les constats.";
    } else if (reachable && sessionLogin !== pageLogin) {
      text = "Cette page a été ouverte par " + (pageLogin || "un visiteur") + " ; la session est celle de "
        + sessionLogin + " : rechargez la page.";
    }
    el.textContent = text;
    el.hidden = !text;
    var form = document.getElementById("dg-form");
    if (form && reachable && sessionLogin !== pageLogin) {
      // never record under the identity of the page while another session is open
      Array.prototype.forEach.call(form.elements, function (f) { f.disabled = true; });
    }
  }

  function send(item, token) {
    var form = new FormData();
    form.append("uid", item.uid);
    form.append("walk_id", item.walk_id);
    form.append("theme", item.theme);
    form.append("description", item.description || "");
    form.append("lon", String(item.lon));
    form.append("lat", String(item.lat));
    form.append("observed_at", item.observed_at);
    (item.photos || []).forEach(function (p, i) {
      form.append("photos", p.blob, p.name || ("photo-" + (i + 1)));
    });
    return fetch(config.urls.observations, {
      method: "POST", body: form, credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Accept": "application/json" }
    });
  }

  function scheduleRetry() {
    if (retryTimer) { return; }
    var delay = retryDelay + Math.floor(Math.random() * 500);
    retryDelay = Math.min(MAX_DELAY, retryDelay * 2);
    retryTimer = setTimeout(function () { retryTimer = null; sync(); }, delay);
  }

  function sync() {
    if (syncing) { return syncing; }
    syncing = allQueued().then(function (items) {
      var queued = items.filter(function (i) { return i.state !== "rejeté"; });
      if (!queued.length) { return { sent: 0 }; }
      return checkServer().then(function (s) {
        if (!s) { throw new Error("serveur injoignable"); }
        if (!s.user) { var e = new Error("connexion requise"); e.auth = true; throw e; }
        // only the constats typed under this session's account: the others wait for theirs
        var pending = queued.filter(function (i) { return ownerOf(i) === s.user; });
        var token = s.csrf_token;
        var sent = 0;
        var chain = Promise.resolve();
        pending.forEach(function (item) {
          chain = chain.then(function () {
            return send(item, token).then(function (r) {
              if (r.status === 201 || r.status === 200) {
                sent += 1;
                return remove(item.uid);
              }
              return r.json().catch(function () { return {}; }).then(function (body) {
                var text = (body && body.erreur) || ("erreur " + r.status);
                if (r.status >= 400 && r.status < 500 && [401, 403, 408, 429].indexOf(r.status) < 0) {
                  item.state = "rejeté";
                  item.error = text;
                  return put(item);
                }
                var e = new Error(text);
                e.auth = r.status === 401 || r.status === 403;
                if (r.status === 401) { sessionLogin = null; forgetPages(); }
                throw e;
              });
            });
          });
        });
        return chain.then(function () { return { sent: sent, waiting: queued.length - pending.length }; });
      });
    }).then(function (res) {
      lastError = "";
      retryDelay = 2000;
      return res;
    }, function (err) {
      lastError = err && err.auth ? "connexion requise : reconnectez-vous" : "nouvel essai automatique";
      scheduleRetry();
      return { error: String(err && err.message || err) };
    }).then(function (res) {
      syncing = null;
      return showQueue().then(function () { return res; });
    });
    return syncing;
  }

  // ------------------------------------------------------------------ saisie
  function setPosition(lon, lat, label) {
    position = { lon: lon, lat: lat };
    var el = document.getElementById("dg-position");
    if (el) { el.textContent = "Position : " + (label || (lat.toFixed(5) + ", " + lon.toFixed(5))); }
    if (map && window.L) {
      if (positionMarker) { positionMarker.setLatLng([lat, lon]); }
      else {
        positionMarker = L.circleMarker([lat, lon], { radius: 9, color: "#000091", fillColor: "#6a6af4",
          fillOpacity: 0.8 }).addTo(map);
      }
    }
  }

  function stopPoint(rank) {
    var f = config.route.features.filter(function (x) {
      return x.properties.kind === "arret" && String(x.properties.order) === String(rank);
    })[0];
    return f ? f.geometry.coordinates : null;
  }

  function readPhotos(input) {
    var files = Array.prototype.slice.call(input.files || [], 0, config.maxPhotos || 5);
    return files.map(function (f) { return { name: f.name, type: f.type, blob: f }; });
  }

  function onSubmit(ev) {
    ev.preventDefault();
    if (!position) { message("Choisissez le lieu : touchez la carte, une étape ou « Utiliser ma position ».", true); return; }
    var photosInput = document.getElementById("dg-photos");
    var item = {
      uid: newUid(), walk_id: walk.uid, theme: document.getElementById("dg-theme").value,
      description: document.getElementById("dg-description").value.trim(),
      lon: Math.round(position.lon * 1e7) / 1e7, lat: Math.round(position.lat * 1e7) / 1e7,
      observed_at: new Date(Date.now() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19),
      photos: readPhotos(photosInput), state: "en attente", created: Date.now(),
      login: pageLogin // bound to its author: sent only under this account's session
    };
    put(item).then(function () {
      message("Constat enregistré sur l'appareil" + (item.photos.length ? " avec " + plural(item.photos.length, "photo", "photos") : "") + ".");
      document.getElementById("dg-description").value = "";
      photosInput.value = "";
      return showQueue();
    }).then(function () {
      retryDelay = 2000;
      return sync(); // checks the server first: no network, no attempt
    }).catch(function (err) {
      message("Impossible d'enregistrer le constat sur l'appareil : " + err, true);
    });
  }

  // ------------------------------------------------------------------ carte
  var map = null;
  var pendingLayer = null;

  function drawPending(items) {
    if (!map || !window.L) { return; }
    if (!pendingLayer) { pendingLayer = L.layerGroup().addTo(map); }
    pendingLayer.clearLayers();
    items.forEach(function (i) {
      L.circleMarker([i.lat, i.lon], { radius: 7, color: "#b34000", fillColor: "#fcc63a", fillOpacity: 0.9 })
        .bindPopup("En attente : « " + escapeHtml(i.theme) + " » " + escapeHtml(i.description || ""))
        .addTo(pendingLayer);
    });
  }

  function drawMap() {
    var el = document.getElementById("dg-carte");
    var track = config.route.features[0];
    var stops = config.route.features.filter(function (f) { return f.properties.kind === "arret"; });
    var links = config.route.features.filter(function (f) { return f.properties.kind === "liaison"; });
    var unserved = track.properties.non_desservis || [];
    if (!window.L) { drawSvg(el, track, stops); return; }
    map = L.map(el, { preferCanvas: false, zoomControl: true });
    var bm = config.basemap || {};
    if (window.QPVFond) {
      QPVFond.addTo(map, bm, { onUnreachable: function () {
        var el = document.getElementById("dg-fond");
        if (el) { el.textContent = "Fond de plan injoignable : le tracé reste affiché sans les rues."; }
      } });
    }
    var line = L.geoJSON(track, { style: { color: "#d1495b", weight: 5, opacity: 0.85 } });
    // a view first (vector layers need it) framing the route and every stop, served or not
    var bounds = line.getBounds();
    unserved.forEach(function (u) { bounds.extend([u.lat, u.lon]); });
    map.fitBounds(bounds.pad(0.1));
    line.addTo(map);
    unserved.forEach(function (u) {
      L.marker([u.lat, u.lon], { icon: L.divIcon({ className: "dg-non-desservi", html: "×", iconSize: [22, 22] }),
        title: "Arrêt non desservi" }).bindPopup("<b>" + escapeHtml(u.label || u.id || "Arrêt") + "</b><br>"
        + escapeHtml(u.statut || "non desservi")).addTo(map);
    });
    links.forEach(function (f) {
      var c = f.geometry.coordinates;
      L.circleMarker([c[1], c[0]], { radius: 5, color: "#6c4f00", fillColor: "#ffd166", fillOpacity: 1 })
        .bindPopup(escapeHtml(f.properties.statut || "liaison hors voie : à vérifier sur place")).addTo(map);
    });
    config.suivi.forEach(function (o) {
      L.circleMarker([o.lat, o.lon], { radius: 6, color: "#8a1c1c", fillColor: "#f4a261", fillOpacity: 0.9 })
        .bindPopup("Suivi : « " + escapeHtml(o.theme) + " » du " + escapeHtml(o.observed_at) + " ("
          + escapeHtml(o.status) + ")").addTo(map);
    });
    stops.forEach(function (f) {
      var c = f.geometry.coordinates;
      L.marker([c[1], c[0]], { icon: L.divIcon({ className: "dg-numero", html: String(f.properties.order),
        iconSize: [22, 22] }) }).bindPopup("<b>" + escapeHtml(f.properties.label) + "</b><br>"
        + escapeHtml(f.properties.reason || "")).addTo(map);
    });
    var coords = track.geometry.coordinates;
    L.circleMarker([coords[0][1], coords[0][0]], { radius: 8, color: "#00798c", fillOpacity: 1 })
      .bindTooltip("Départ").addTo(map);
    map.on("click", function (e) { setPosition(e.latlng.lng, e.latlng.lat); });
  }

  function drawSvg(el, track, stops) {
    // Secours sans Leaflet : le tracé en SVG (projection équirectangulaire locale).
    var pts = track.geometry.coordinates;
    var xs = pts.map(function (p) { return p[0]; }), ys = pts.map(function (p) { return p[1]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    var k = Math.cos((y0 + y1) / 2 * Math.PI / 180);
    var w = Math.max((x1 - x0) * k, 1e-6), h = Math.max(y1 - y0, 1e-6);
    function px(p) { return [((p[0] - x0) * k / w * 960 + 20).toFixed(1), ((y1 - p[1]) / h * 960 + 20).toFixed(1)]; }
    var svg = '<svg class="dg-secours" viewBox="0 0 1000 1000" role="img" aria-label="Tracé du parcours">'
      + '<polyline fill="none" stroke="#d1495b" stroke-width="6" points="'
      + pts.map(function (p) { return px(p).join(","); }).join(" ") + '"/>';
    stops.forEach(function (f) {
      var q = px(f.geometry.coordinates);
      svg += '<circle cx="' + q[0] + '" cy="' + q[1] + '" r="14" fill="#fff" stroke="#d1495b" stroke-width="3"/>'
        + '<text x="' + q[0] + '" y="' + q[1] + '" font-size="14" text-anchor="middle" dy="5">'
        + escapeHtml(f.properties.order) + '</text>';
    });
    el.innerHTML = svg + "</svg>";
  }

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // ------------------------------------------------------------------ hors connexion
  function registerWorker() {
    if (!("serviceWorker" in navigator)) { return Promise.resolve(null); }
    return navigator.serviceWorker.register(config.urls.sw, { scope: config.urls.scope })
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function () {
        // La page et ses données (intégrées) restent disponibles hors connexion.
        // Only while the server confirms this page's session: never store a page for a closed one.
        if (!window.caches || !reachable || !pageLogin || sessionLogin !== pageLogin) { return null; }
        function keep(name, urls) {
          return caches.open(name).then(function (c) {
            return Promise.all(urls.map(function (u) {
              return c.add(new Request(u, { credentials: "same-origin" })).catch(function () { return null; });
            }));
          });
        }
        return Promise.all([keep(PAGES_CACHE, [config.urls.page]), keep(SHELL_CACHE, config.urls.shell)])
          .then(function () { return true; });
      })
      .then(function (kept) {
        document.documentElement.dataset.horsLigne = "pret";
        // the basemap of the walk's area is kept too (diagnostic-terrain.js), under the same conditions
        if (kept) { document.dispatchEvent(new CustomEvent("dg-pret")); }
      })
      .catch(function (err) { console.warn("service worker :", err); });
  }

  function init() {
    drawMap();
    showNetwork();
    // the browser's events only trigger a check of the server, they decide nothing
    window.addEventListener("online", function () { ping(); });
    window.addEventListener("offline", function () { ping(); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") { ping(); }
    });
    setInterval(ping, PING_EVERY);
    var form = document.getElementById("dg-form");
    if (form) {
      form.addEventListener("submit", onSubmit);
      document.getElementById("dg-etape").addEventListener("change", function (e) {
        var c = stopPoint(e.target.value);
        if (c) { setPosition(c[0], c[1], "étape " + e.target.value); }
      });
      document.getElementById("dg-gps").addEventListener("click", function () {
        if (!navigator.geolocation) { message("Géolocalisation indisponible : touchez la carte.", true); return; }
        navigator.geolocation.getCurrentPosition(function (p) {
          setPosition(p.coords.longitude, p.coords.latitude, "GPS ± " + Math.round(p.coords.accuracy) + " m");
        }, function () { message("Position refusée ou introuvable : touchez la carte.", true); },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
      });
      document.getElementById("dg-synchroniser").addEventListener("click", function () {
        retryDelay = 2000; sync();
      });
    }
    checkServer().then(function () {
      return showQueue();
    }).then(function () {
      registerWorker();
      return sync();
    });
  }

  window.diagnosticOffline = {
    sync: sync, queue: allQueued, showQueue: showQueue, setPosition: setPosition, checkServer: checkServer,
    forgetPages: forgetPages, ping: ping, FOND_CACHE: FOND_CACHE,
    map: function () { return map; },
    reachable: function () { return reachable; },
    ready: function () { return document.documentElement.dataset.horsLigne === "pret"; }
  };
  init();
})();

/* Page d'un diagnostic en marchant, sur le terrain : ma position sur le parcours et le fond
 * de plan de la zone gardé sur l'appareil.
 *
 * « Suivre ma position » (navigator.geolocation.watchPosition) dessine la position et sa
 * précision, dit le prochain arrêt et la distance pour l'atteindre le long du parcours
 * (ou à vol d'oiseau, dit comme tel, quand on est loin du tracé), l'arrêt le plus proche,
 * et met en évidence le prochain arrêt dans la liste.
 *
 * Quand la page a été gardée pour la session (événement « dg-pret » de
 * diagnostic-offline.js), les tuiles du fond de plan qui couvrent le parcours (+ une marge)
 * aux zooms config.tiles.minZoom à maxZoom sont rangées dans le cache « fond » du service
 * worker, dans la limite de config.tiles.max tuiles (dit quand la limite est atteinte).
 * Seul un fond servi par l'application elle-même peut être gardé.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("dg-config").textContent);
  var stops = config.stops || [];
  var track = (config.route.features[0] || { geometry: { coordinates: [] } }).geometry.coordinates;
  var ON_ROUTE_M = 40; // farther from the track than this (or the accuracy): straight-line distances
  var HERE_M = 25; // at a stop
  var watchId = null;
  var marker = null;
  var circle = null;
  var progress = 0; // the farthest point reached along the route, metres
  var reached = -1; // index of the last stop the user stood at

  function offline() { return window.diagnosticOffline || {}; }
  function getMap() { return offline().map ? offline().map() : null; }
  function byId(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ geometry (local metres)
  var lat0 = track.length ? track[0][1] : 0;
  var lon0 = track.length ? track[0][0] : 0;
  var KX = 111320 * Math.cos(lat0 * Math.PI / 180);
  var KY = 110540;
  function xy(lon, lat) { return [(lon - lon0) * KX, (lat - lat0) * KY]; }
  var pts = track.map(function (c) { return xy(c[0], c[1]); });
  var cum = [0];
  for (var i = 1; i < pts.length; i += 1) {
    cum.push(cum[i - 1] + Math.hypot(pts[i][0] - pts[i - 1][0], pts[i][1] - pts[i - 1][1]));
  }

  // Nearest point of the track to p (from segment `from` on): {d, along, seg}.
  function project(p, from) {
    var best = { d: Infinity, along: 0, seg: 0 };
    for (var k = from || 0; k < pts.length - 1; k += 1) {
      var a = pts[k], b = pts[k + 1];
      var dx = b[0] - a[0], dy = b[1] - a[1];
      var len2 = dx * dx + dy * dy;
      var t = len2 > 0 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
      var d = Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
      if (d < best.d) { best = { d: d, along: cum[k] + t * Math.sqrt(len2), seg: k }; }
    }
    return best;
  }

  // Each stop's place along the route, in visiting order (never going back).
  var seg = 0;
  var stopAlong = stops.map(function (s) {
    var p = project(xy(s.lon, s.lat), seg);
    seg = p.seg;
    return p.along;
  });

  function metres(m) {
    return m < 1000 ? Math.round(m / 5) * 5 + " m" : (m / 1000).toFixed(1).replace(".", ",") + " km";
  }

  function stopName(s) {
    return "arrêt " + s.order + " — " + (s.address || s.label);
  }

  // ------------------------------------------------------------------ position
  function say(text, isError) {
    var el = byId("dg-ou");
    if (el) { el.textContent = text; el.className = "dg-ou" + (isError ? " erreur" : ""); }
  }

  function highlight(next, near) {
    Array.prototype.forEach.call(document.querySelectorAll("#dg-etapes > li"), function (li) {
      var rank = Number(li.dataset.rang);
      li.classList.toggle("dg-prochain", next !== null && rank === next.order);
      li.classList.toggle("dg-ici", near !== null && rank === near.order);
      if (next !== null && rank === next.order) { li.setAttribute("aria-current", "step"); }
      else { li.removeAttribute("aria-current"); }
    });
  }

  function where(lon, lat, accuracy) {
    var p = xy(lon, lat);
    var onTrack = project(p, 0);
    var near = null;
    var nearD = Infinity;
    stops.forEach(function (s) {
      var q = xy(s.lon, s.lat);
      var d = Math.hypot(p[0] - q[0], p[1] - q[1]);
      if (d < nearD) { nearD = d; near = s; }
    });
    var onRoute = onTrack.d <= Math.max(ON_ROUTE_M, accuracy || 0);
    if (onRoute) { progress = Math.max(progress, onTrack.along); }
    if (near && nearD <= HERE_M) { reached = Math.max(reached, stops.indexOf(near)); }
    // the next stop: after the last one reached, and not behind the farthest point walked
    var nextIndex = -1;
    for (var k = reached + 1; k < stops.length; k += 1) {
      if (stopAlong[k] + 5 >= progress) { nextIndex = k; break; }
    }
    var next = nextIndex >= 0 ? stops[nextIndex] : null;
    var parts = [];
    if (next) {
      var q = xy(next.lon, next.lat);
      var straight = Math.hypot(p[0] - q[0], p[1] - q[1]);
      parts.push(onRoute
        ? "Prochain : " + stopName(next) + ", à " + metres(Math.max(0, stopAlong[nextIndex] - onTrack.along))
          + " le long du parcours."
        : "Prochain : " + stopName(next) + ", à " + metres(straight) + " à vol d'oiseau (vous êtes à "
          + metres(onTrack.d) + " du parcours).");
    } else {
      parts.push(stops.length ? "Tous les arrêts sont derrière vous." : "Ce parcours n'a pas d'arrêt.");
    }
    if (near) {
      parts.push(nearD <= HERE_M ? "Vous êtes à l'" + stopName(near) + "."
        : "Arrêt le plus proche : " + near.order + " (" + metres(nearD) + ").");
    }
    parts.push("Précision ± " + Math.round(accuracy || 0) + " m.");
    say(parts.join(" "));
    highlight(next, near && nearD <= HERE_M ? near : null);
    var el = byId("dg-ou");
    if (el) {
      el.dataset.prochain = next ? String(next.order) : "";
      el.dataset.proche = near ? String(near.order) : "";
      el.dataset.surParcours = onRoute ? "oui" : "non";
    }
    return { next: next, near: near, onRoute: onRoute };
  }

  function draw(lon, lat, accuracy) {
    var map = getMap();
    if (!map || !window.L) { return; }
    if (!marker) {
      if (!map.getPane("dg-moi")) {
        // above the numbered stops: the position is never hidden under a stop's label
        map.createPane("dg-moi").style.zIndex = 650;
      }
      var renderer = L.svg({ pane: "dg-moi" });
      circle = L.circle([lat, lon], { radius: accuracy || 0, color: "#000091", weight: 1, fillColor: "#6a6af4",
        fillOpacity: 0.15, interactive: false, className: "dg-precision", pane: "dg-moi",
        renderer: renderer }).addTo(map);
      marker = L.circleMarker([lat, lon], { radius: 8, color: "#fff", weight: 3, fillColor: "#000091",
        fillOpacity: 1, className: "dg-moi", pane: "dg-moi", renderer: renderer })
        .bindTooltip("Vous êtes ici").addTo(map);
    } else {
      marker.setLatLng([lat, lon]);
      circle.setLatLng([lat, lon]).setRadius(accuracy || 0);
    }
    if (!map.getBounds().contains([lat, lon])) { map.panTo([lat, lon]); }
  }

  function onPosition(pos) {
    var c = pos.coords;
    draw(c.longitude, c.latitude, c.accuracy);
    where(c.longitude, c.latitude, c.accuracy);
  }

  function onError(err) {
    if (err && err.code === 1) {
      say("Position refusée : autorisez la localisation de ce site dans le navigateur pour suivre le parcours.",
        true);
      stopFollowing(true);
    } else if (err && err.code === 2) {
      say("Position indisponible (pas de signal de localisation) : réessayez à découvert.", true);
    } else {
      say("Position introuvable pour l'instant : nouvel essai en cours…", true);
    }
  }

  function setButton(on) {
    var b = byId("dg-suivre");
    if (!b) { return; }
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.textContent = on ? "Arrêter le suivi de ma position" : "Suivre ma position";
  }

  function startFollowing() {
    if (!navigator.geolocation) {
      say("Géolocalisation indisponible sur cet appareil : repérez-vous avec les numéros des arrêts.", true);
      return;
    }
    say("Recherche de votre position…");
    watchId = navigator.geolocation.watchPosition(onPosition, onError,
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 5000 });
    setButton(true);
  }

  function stopFollowing(keepMessage) {
    if (watchId !== null && navigator.geolocation) { navigator.geolocation.clearWatch(watchId); }
    watchId = null;
    setButton(false);
    var map = getMap();
    if (map && marker) { map.removeLayer(marker); map.removeLayer(circle); }
    marker = null;
    circle = null;
    highlight(null, null);
    if (!keepMessage) { say("Position non suivie."); }
  }

  // ------------------------------------------------------------------ basemap tiles of the area
  function sameOriginTemplate(url) {
    if (!url || /\{(?![zxy]\})/.test(url)) { return null; } // {s}, {r}…: an outside tile server
    if (url.indexOf("/") === 0 && url.indexOf("//") !== 0) { return url; }
    return url.indexOf(location.origin + "/") === 0 ? url.slice(location.origin.length) : null;
  }

  function tileX(lon, z) { return Math.floor((lon + 180) / 360 * Math.pow(2, z)); }
  function tileY(lat, z) {
    var r = lat * Math.PI / 180;
    return Math.floor((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2 * Math.pow(2, z));
  }

  // The tiles covering the route and its stops (+ margin), zoom by zoom, within the cap.
  function tilesOfArea(template, t) {
    var lons = track.map(function (c) { return c[0]; }).concat(stops.map(function (s) { return s.lon; }));
    var lats = track.map(function (c) { return c[1]; }).concat(stops.map(function (s) { return s.lat; }));
    var dLat = (t.marginM || 0) / KY, dLon = (t.marginM || 0) / KX;
    var w = Math.min.apply(null, lons) - dLon, e = Math.max.apply(null, lons) + dLon;
    var s = Math.min.apply(null, lats) - dLat, n = Math.max.apply(null, lats) + dLat;
    var urls = [], zooms = [], capped = false, wanted = 0;
    for (var z = t.minZoom; z <= t.maxZoom; z += 1) {
      var x0 = tileX(w, z), x1 = tileX(e, z), y0 = tileY(n, z), y1 = tileY(s, z);
      var count = (x1 - x0 + 1) * (y1 - y0 + 1);
      wanted += count;
      if (capped || urls.length + count > t.max) { capped = true; continue; }
      for (var x = x0; x <= x1; x += 1) {
        for (var y = y0; y <= y1; y += 1) {
          urls.push(template.replace("{z}", z).replace("{x}", x).replace("{y}", y));
        }
      }
      zooms.push(z);
    }
    return { urls: urls, zooms: zooms, capped: capped, wanted: wanted };
  }

  function keepTiles() {
    var el = byId("dg-fond");
    var bm = config.basemap || {};
    var t = config.tiles || {};
    var template = sameOriginTemplate(bm.url);
    if (!bm.url) { if (el) { el.textContent = "Pas de fond de plan configuré : le tracé est dessiné seul."; } return; }
    if (!template || !window.caches || !track.length) {
      if (el) { el.textContent = "Fond de plan en ligne : il n'est pas gardé sur l'appareil (hors connexion, "
        + "le tracé s'affiche sans les rues)."; }
      return;
    }
    // never beyond the zooms the basemap has data for (a vector basemap overzooms its last level)
    var top = Math.min(t.maxZoom, bm.maxDataZoom || bm.maxZoom || t.maxZoom);
    var area = tilesOfArea(template, { minZoom: Math.min(t.minZoom, top), maxZoom: top, max: t.max,
      marginM: t.marginM });
    var failed = 0;
    caches.open(offline().FOND_CACHE || "qpv-diagnostic-fond-v1").then(function (cache) {
      var queue = area.urls.slice();
      function worker() {
        var url = queue.shift();
        if (!url) { return Promise.resolve(); }
        return cache.match(url).then(function (hit) {
          return hit || cache.add(new Request(url, { credentials: "same-origin" }));
        }).catch(function () { failed += 1; }).then(worker);
      }
      return Promise.all([worker(), worker(), worker(), worker()]);
    }).then(function () {
      var kept = area.urls.length - failed;
      var zooms = area.zooms.length ? "zooms " + area.zooms[0] + " à " + area.zooms[area.zooms.length - 1]
        : "aucun zoom";
      var text = "Fond de plan de la zone gardé sur l'appareil : " + kept + " tuiles (" + zooms + ").";
      if (area.capped) {
        text += " Limité à " + t.max + " tuiles sur les " + area.wanted + " de la zone : les zooms "
          + (area.zooms.length ? area.zooms[area.zooms.length - 1] + 1 : t.minZoom) + " à " + top
          + " ne seront pas disponibles hors connexion.";
      }
      if (failed) { text += " " + failed + " tuiles n'ont pas pu être gardées."; }
      if (el) { el.textContent = text; }
      document.documentElement.dataset.fond = "pret";
      window.diagnosticTerrain.tiles = { kept: kept, failed: failed, capped: area.capped, wanted: area.wanted,
        zooms: area.zooms, urls: area.urls };
    });
  }

  // ------------------------------------------------------------------ start
  var button = byId("dg-suivre");
  if (button) {
    button.addEventListener("click", function () {
      if (watchId === null) { startFollowing(); } else { stopFollowing(false); }
    });
  }
  document.addEventListener("dg-pret", keepTiles);
  // opened without the server: say what the device holds (the tiles kept on a previous visit)
  if (window.caches && byId("dg-fond")) {
    caches.open(offline().FOND_CACHE || "qpv-diagnostic-fond-v1").then(function (c) { return c.keys(); })
      .then(function (keys) {
        var el = byId("dg-fond");
        if (keys.length && !el.textContent) {
          el.textContent = keys.length + " tuiles du fond de plan de la zone du parcours sont gardées sur "
            + "l'appareil ; au-delà, la carte reste grise sans connexion.";
        }
      }).catch(function () { return null; });
  }
  window.diagnosticTerrain = { where: where, tilesOfArea: tilesOfArea, tiles: null,
    following: function () { return watchId !== null; } };
}());

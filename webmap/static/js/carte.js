/*
 * Carte des techniciens : couches visibles, filtres synchronisés, liste de la vue,
 * export, saisie des constats. Vanilla JS (ES2019), Leaflet et ses extensions servis
 * localement (webmap/static/vendor, copiés par `npm run build`).
 *
 * Toutes les données viennent de l'API JSON de l'application :
 *   /api/session, /api/layers, /api/layers/<couche>/features|stats|export.*,
 *   /api/layers/<couche>/features/<uid> (la fiche complète d'un point, lue à l'ouverture),
 *   /api/observations, /api/points_noirs/<uid>/evenements, /api/bacs/<uid>/releves.
 *
 * Pour les tests et la mesure des performances, la page publie :
 *   - document.body.dataset.etat : "chargement" pendant les requêtes, "pret" ensuite ;
 *   - performance.mark("qpv-premier-rendu") au premier dessin d'une couche, "qpv-couche-<nom>"
 *     au premier dessin de chaque couche, "qpv-deplacement" / "qpv-maj-fin" autour de chaque
 *     mise à jour après un déplacement ;
 *   - window.qpvCarte (carte, état, recharger).
 */
(function () {
  "use strict";

  const CFG = JSON.parse(document.getElementById("carte-config").textContent);
  const Q = {};
  window.qpvCarte = Q;
  const DEBOUNCE_MS = 150;
  const LIST_MAX = 200;
  const FEATURE_LIMIT = 5000;
  // Couches d'au plus SMALL_LAYER enregistrements : chargées entières une fois par jeu de
  // filtres, puis seulement recadrées côté navigateur ; les autres sont demandées par emprise.
  const SMALL_LAYER = 3000;
  const EDIT_ROLES = ["technicien", "administrateur"];
  const COLORS = {
    perimetres: "#1f78b4", observations: "#d7301f", points_noirs: "#6a3d9a",
    bacs: "#238b45", videoprotection: "#08306b", travaux_npnru: "#e6550d",
    diagnostics: "#e7298a", analyses: "#636363", adresses: "#969696",
    voies: "#a6a6a6", eclairage: "#d4a017", batiments: "#bdbdbd",
  };
  const FALLBACK_COLORS = ["#1b9e77", "#7570b3", "#66a61e", "#a6761d", "#e41a1c"];
  // Classes, couleurs et « comment lire » de la couche des analyses (webmap/analysis_style.py).
  const ASTYLE = CFG.analyses || { confidence: [], classes: {}, ramps: {}, units: {}, unknown: "#969696" };
  const MONTHS_FR = ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août",
    "sept.", "oct.", "nov.", "déc."];

  const state = {
    session: { user: null, role: null, organisation: null,
      csrf_token: (document.querySelector('meta[name="csrf-token"]') || {}).content || null },
    layers: [], byName: {}, months: [],
    filters: { start: "", end: "", theme: "", status: "", source: "", quartier: "", simulated: "", suivi: "" },
    heat: false, holders: {}, data: {}, cache: {}, generation: 0,
    controller: null, started: false, contextOn: CFG.basemap.url === null, placing: false,
    firstPaint: false, perimeters: null, analysisShown: "points chauds",
  };

  // --------------------------------------------------------------------- utilities
  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the CSP (no inline style attribute)
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach((c) => {
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    });
    return node;
  }

  function debounce(fn, ms) {
    let timer = null;
    return function (...args) {
      clearTimeout(timer);
      timer = setTimeout(() => fn.apply(this, args), ms);
    };
  }

  function formatNumber(n) {
    return Number(n).toLocaleString("fr-FR");
  }

  function formatValue(value, type) {
    if (value === null || value === undefined || value === "") return "";
    if (type === "bool") return value === true || value === "true" || value === 1 ? "oui" : "non";
    if (type === "datetime" || type === "date") {
      const d = new Date(value);
      if (Number.isNaN(d.getTime())) return String(value);
      // a datetime at exactly midnight, without offset, is a date without its time (Dans Ma Rue
      // publishes days): « 00:00 » would claim an hour nobody recorded
      const dayOnly = type === "date" || (typeof value === "string" && /T00:00(:00(\.0+)?)?$/.test(value));
      return dayOnly ? d.toLocaleDateString("fr-FR")
        : d.toLocaleString("fr-FR", { dateStyle: "short", timeStyle: "short" });
    }
    if (type === "float") return Number(value).toLocaleString("fr-FR", { maximumFractionDigits: 2 });
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function monthKey(d) {
    return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}`;
  }

  function monthLabel(key) {
    const [y, m] = key.split("-");
    return `${MONTHS_FR[Number(m) - 1]} ${y}`;
  }

  function addMonths(key, n) {
    const [y, m] = key.split("-").map(Number);
    return monthKey(new Date(Date.UTC(y, m - 1 + n, 1)));
  }

  function newUid() {
    // crypto.randomUUID n'existe qu'en contexte sécurisé (HTTPS) : repli sur getRandomValues.
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function isSimulated(props) {
    const v = props.simulated;
    return v === true || v === 1 || v === "true";
  }

  function photoList(props) {
    let p = props.photos;
    if (!p) return [];
    if (typeof p === "string") {
      try { p = JSON.parse(p); } catch (e) { p = [p]; }
    }
    if (!Array.isArray(p)) p = [p];
    return p.map((x) => (typeof x === "string" ? x : (x && (x.url || x.name || x.path)) || ""))
      .map(photoUrl)
      .filter(Boolean);
  }

  /** Adresse d'une photo : /photos/<nom> de ce serveur, ou un hôte de MEDIA_HOSTS ; sinon rien
   * (une adresse extérieure ne doit jamais être chargée par le navigateur des lecteurs). */
  function photoUrl(x) {
    if (/^[0-9a-f]{32}\.(jpg|png|webp)$/.test(x)) return CFG.urls.photos + x;
    let url;
    try { url = new URL(x); } catch (e) { return ""; }
    const hosts = CFG.mediaHosts || [];
    return (url.protocol === "https:" || url.protocol === "http:") && hosts.includes(url.hostname.toLowerCase())
      ? url.href : "";
  }

  let bannerTimer = null;

  /** Message au-dessus de la carte ; les informations s'effacent d'elles-mêmes. */
  function showBanner(text, kind) {
    const b = $("#bandeau");
    clearTimeout(bannerTimer);
    if (!text) { b.hidden = true; return; }
    b.textContent = text;
    b.className = `bandeau ${kind || "info"}`;
    b.hidden = false;
    if (kind === "info" || kind === "succes") bannerTimer = setTimeout(() => { b.hidden = true; }, 8000);
  }

  // --------------------------------------------------------------------------- API
  async function api(path, opts) {
    const o = Object.assign({ method: "GET" }, opts || {});
    const headers = Object.assign({ Accept: "application/json" }, o.headers || {});
    if (o.method !== "GET" && state.session.csrf_token) headers["X-CSRFToken"] = state.session.csrf_token;
    if (o.json !== undefined) {
      headers["Content-Type"] = "application/json";
      o.body = JSON.stringify(o.json);
    }
    const resp = await fetch(path, {
      method: o.method, headers, body: o.body, signal: o.signal, credentials: "same-origin",
    });
    const type = resp.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await resp.json() : null;
    if (!resp.ok) {
      const err = new Error((body && (body.erreur || body.error)) || `Erreur ${resp.status} du serveur.`);
      err.champ = body && body.champ;
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  // ------------------------------------------------------------------------- carte
  // leaflet.heat 0.2 redessine en différé sans vérifier qu'il est encore sur la carte :
  // une couche de chaleur retirée entre-temps lèverait une erreur. On garde ces deux appels.
  const heatRedrawLater = L.HeatLayer.prototype.redraw;
  const heatRedrawNow = L.HeatLayer.prototype._redraw;
  L.HeatLayer.prototype.redraw = function () { return this._map ? heatRedrawLater.call(this) : this; };
  L.HeatLayer.prototype._redraw = function () {
    if (!this._map) { this._frame = null; return this; }
    return heatRedrawNow.call(this);
  };

  // a narrow screen shows drawers (carte-tiroirs.js): set before the map measures its size
  document.body.classList.toggle("carte-etroite",
    window.matchMedia("(max-width: 899.98px)").matches && location.hash !== "#liste");
  const map = L.map("carte", { preferCanvas: true, zoomControl: false, minZoom: 3,
    maxZoom: CFG.basemap.maxZoom || 19 });
  L.control.zoom({ zoomInTitle: "Zoom avant", zoomOutTitle: "Zoom arrière" }).addTo(map);
  map.attributionControl.setPrefix(false);
  map.createPane("contexte").style.zIndex = 250;
  map.createPane("perimetres").style.zIndex = 300;
  const canvas = L.canvas({ padding: 0.3 });
  let tileLayer = null;

  // fond de plan : fond.js (QPVFond), commun aux pages qui ont une carte
  function setupBasemap() {
    const bm = CFG.basemap;
    if (!bm.url) {
      showBanner("Sans fond de plan : contexte dessiné à partir des voies et bâtiments du territoire "
        + `(à partir du zoom ${CFG.contextMinZoom}).`, "info");
      return;
    }
    tileLayer = window.QPVFond.addTo(map, bm, {
      onUnreachable: (replacement) => {
        if (replacement) {
          showBanner(`Fond de plan « ${bm.label} » injoignable : « ${replacement.label} » affiché à la place.`, "alerte");
          return;
        }
        if (state.contextOn) return;
        state.contextOn = true;
        showBanner(`Fond de plan « ${bm.label} » injoignable : contexte dessiné à partir des voies `
          + `et bâtiments du territoire (à partir du zoom ${CFG.contextMinZoom}).`, "alerte");
        refresh();
      },
    });
  }

  const context = {
    voies: L.geoJSON(null, { pane: "contexte", interactive: false, renderer: L.canvas({ pane: "contexte" }),
      style: { color: "#9e9e9e", weight: 2, opacity: 0.9 } }).addTo(map),
    batiments: L.geoJSON(null, { pane: "contexte", interactive: false, renderer: L.canvas({ pane: "contexte" }),
      style: { color: "#8c8c8c", weight: 0.5, fillColor: "#d9d9d9", fillOpacity: 0.8 } }).addTo(map),
  };

  const layerControl = L.control.layers(null, null, { collapsed: false, position: "topright" }).addTo(map);
  const legend = L.control({ position: "bottomleft" });
  legend.onAdd = () => el("div", { class: "legende", id: "legende" });
  legend.addTo(map);
  // the layer control's toggle (shown when collapsed) speaks French
  const layersToggle = layerControl.getContainer().querySelector(".leaflet-control-layers-toggle");
  if (layersToggle) { layersToggle.title = "Couches"; layersToggle.setAttribute("aria-label", "Couches"); }
  // An open record comes first: on a wide screen the layer control collapses and the legend
  // hides; on a narrow one (drawers, carte-tiroirs.js) the open drawer closes.
  map.on("popupopen", (ev) => {
    document.body.classList.add("fiche-ouverte");
    fitPopup(ev.popup);
    if (Q.drawers && Q.drawers.narrow()) { Q.drawers.close(); return; }
    layerControl.collapse();
    $("#legende").hidden = true;
  });
  map.on("popupclose", () => {
    document.body.classList.remove("fiche-ouverte");
    layerControl.expand();
    $("#legende").hidden = false;
  });

  /**
   * Margins kept around a popup (px): the buttons over the bottom of the map (« Ajouter un
   * constat », « Me localiser ») on any screen, and a banner shown over its top (« Sans fond
   * de plan… ») would cover it.
   */
  function popupPadding() {
    const bottom = 76;
    const banner = $("#bandeau");
    let top = 12;
    if (banner && !banner.hidden) {
      const below = banner.getBoundingClientRect().bottom - map.getContainer().getBoundingClientRect().top;
      if (below > 0) top = Math.ceil(below) + 8;
    }
    return { topLeft: [12, top], bottomRight: [12, bottom] };
  }

  /**
   * Keep a popup inside the map: its content scrolls past the height the map leaves it (also
   * when it grows after opening, e.g. a history loaded later) and Leaflet pans the map so
   * that the whole popup shows, clear of the buttons over the bottom of the map on a phone.
   */
  function fitPopup(popup) {
    const content = popup.getElement() && popup.getElement().querySelector(".leaflet-popup-content");
    if (!content) return;
    const close = popup.getElement().querySelector(".leaflet-popup-close-button");
    if (close) { close.setAttribute("aria-label", "Fermer la fiche"); close.title = "Fermer la fiche"; }
    const pad = popupPadding();
    popup.options.autoPanPaddingTopLeft = pad.topLeft;
    popup.options.autoPanPaddingBottomRight = pad.bottomRight;
    // 26 px of content margins and 24 px of tip and gap below the popup
    const room = map.getSize().y - pad.topLeft[1] - pad.bottomRight[1] - 50;
    content.style.maxHeight = `${Math.max(120, room)}px`;
    content.style.overflowY = "auto";
    popup.update();
    if (!window.ResizeObserver || popup.qpvObserved) return;
    popup.qpvObserved = true;
    let height = content.offsetHeight;
    new ResizeObserver(() => {
      if (!map.hasLayer(popup) || content.offsetHeight === height) return;
      height = content.offsetHeight;
      popup.update();
    }).observe(content);
  }

  function colorClass(color) {
    return `couleur-${String(color).replace(/[^0-9a-f]/gi, "")}`;
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function colorOf(name, i) {
    return COLORS[name] || FALLBACK_COLORS[i % FALLBACK_COLORS.length];
  }

  function fieldAccepts(info, name, value) {
    const f = info.fields.find((x) => x.name === name);
    return Boolean(f) && (!f.choices || f.choices.includes(value));
  }

  function isTimed(info) {
    return Boolean(info.time_field || info.time_min);
  }

  function isPointLayer(info) {
    return info.geometry === "Point";
  }

  /**
   * Les paramètres de filtre qui s'appliquent à la couche (et la vue si demandé) : un filtre
   * ne vaut que pour les couches qui ont ce champ et cette valeur ; les périmètres, qui
   * servent de contexte, ne suivent que le filtre de quartier.
   */
  function layerParams(info, withView) {
    const f = state.filters;
    const p = new URLSearchParams();
    if (info.name === "perimetres") {
      if (f.quartier) p.set("quartier", f.quartier);
      if (withView) setView(p);
      return p;
    }
    if (isTimed(info) && info.events !== false) { // the period: layers of dated events only
      if (f.start) p.set("start", f.start);
      if (f.end) p.set("end", f.end);
    }
    [["theme", "theme"], ["status", "status"], ["source", "source"]].forEach(([key, field]) => {
      if (f[key] && fieldAccepts(info, field, f[key])) p.set(key, f[key]);
    });
    if (f.quartier) p.set("quartier", f.quartier);
    if (f.simulated) p.set("simulated", f.simulated);
    if (f.suivi && Q.suiviParam && Q.suiviParam(info)) p.set("suivi", Q.suiviParam(info)); // carte-filtres.js
    if (withView) setView(p);
    return p;
  }

  /** Ajoute l'emprise (WGS84), le zoom et la limite de la vue courante. */
  function setView(p) {
    const b = map.getBounds();
    p.set("bbox", [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => x.toFixed(6)).join(","));
    p.set("zoom", String(map.getZoom()));
    p.set("limit", String(FEATURE_LIMIT));
  }

  function makeHolder(info, i) {
    const color = colorOf(info.name, i);
    const holder = L.layerGroup();
    holder.qpvName = info.name;
    holder.qpvColor = color;
    if (isPointLayer(info)) {
      holder.cluster = L.markerClusterGroup({
        chunkedLoading: true, maxClusterRadius: 45, disableClusteringAtZoom: 18,
        showCoverageOnHover: false, spiderfyOnMaxZoom: true,
        iconCreateFunction: (c) => clusterIcon(c.getChildCount(), color, shapeOf(info.name)),
      });
      holder.serverClusters = L.layerGroup();
      holder.heat = L.heatLayer([], { radius: 22, blur: 18, maxZoom: 17, minOpacity: 0.3 });
    } else {
      holder.shapes = L.geoJSON(null, {
        pane: info.name === "perimetres" ? "perimetres" : "overlayPane",
        renderer: info.name === "perimetres" ? L.canvas({ pane: "perimetres" }) : canvas,
        style: (feat) => shapeStyle(info, color, feat),
        // the analyses layer draws one kind of analysis at a time (their bins overlap)
        filter: (feat) => info.name !== "analyses" || (feat.properties || {}).analysis === holder.shownKind,
        pointToLayer: (feat, latlng) => L.circleMarker(latlng, { renderer: canvas, radius: 6 }),
        onEachFeature: (feat, layer) => bindRecord(info, feat, layer),
      });
      holder.addLayer(holder.shapes);
    }
    return holder;
  }

  // ------------------------------------------------------------- analyses (classes)
  /** Clé de la classe d'un résultat (même règle que webmap.analysis_style.analysis_class). */
  function analysisClassKey(props) {
    const a = props.analysis;
    if (a === "points chauds") {
      const side = { "point chaud": "chaud", "point froid": "froid" }[props.category];
      if (!side) return props.category === "non significatif" ? "non-significatif" : "inconnu";
      const p = props.p_value === null || props.p_value === undefined || props.p_value === "" ? NaN : Number(props.p_value);
      const levels = ASTYLE.confidence || [];
      const hit = Number.isFinite(p) ? levels.find((c) => p <= c.p) : null;
      const level = hit ? hit.level : (levels.length ? levels[levels.length - 1].level : 90);
      return `${side}-${level}`;
    }
    if (a === "points chauds émergents") {
      return (ASTYLE.classes[a] || []).some((c) => c.key === props.category) ? props.category : "inconnu";
    }
    return null;
  }

  function analysisClass(props) {
    const key = analysisClassKey(props);
    return key ? (ASTYLE.classes[props.analysis] || []).find((c) => c.key === key) || null : null;
  }

  /** Couleur de remplissage d'un résultat : sa classe, ou sa place sur la rampe de son analyse. */
  function analysisColor(props, holder) {
    const cls = analysisClass(props);
    if (cls) return cls.color;
    const ramp = ASTYLE.ramps[props.analysis];
    const range = holder && holder.valueRange ? holder.valueRange[props.analysis] : null;
    const v = Number(props.value);
    if (!ramp || !range || !Number.isFinite(v)) return ASTYLE.unknown;
    const t = range.max > range.min ? (v - range.min) / (range.max - range.min) : 1;
    return ramp[Math.min(ramp.length - 1, Math.floor(t * ramp.length))];
  }

  /** Les analyses présentes, dans l'ordre de la légende (Gi*, émergents, puis les autres). */
  function analysisKinds(feats) {
    const order = [...Object.keys(ASTYLE.classes), ...Object.keys(ASTYLE.ramps)];
    const kinds = [...new Set(feats.map((f) => (f.properties || {}).analysis).filter(Boolean))];
    return kinds.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  }

  function analysisRanges(feats) {
    const ranges = {};
    feats.forEach((f) => {
      const p = f.properties || {};
      const v = Number(p.value);
      if (!ASTYLE.ramps[p.analysis] || !Number.isFinite(v)) return;
      const r = ranges[p.analysis] || (ranges[p.analysis] = { min: v, max: v });
      r.min = Math.min(r.min, v);
      r.max = Math.max(r.max, v);
    });
    return ranges;
  }

  function shapeStyle(info, color, feat) {
    const sim = isSimulated(feat.properties || {});
    if (info.name === "analyses") {
      return { color: sim ? "#555555" : "#ffffff", weight: sim ? 1.2 : 0.6, fillOpacity: 0.6,
        fillColor: analysisColor(feat.properties || {}, state.holders.analyses), dashArray: sim ? "4 3" : null };
    }
    if (info.name === "perimetres") {
      return { color, weight: 2.5, fill: true, fillOpacity: 0.06, dashArray: sim ? "6 4" : null };
    }
    return { color, weight: 2, fillColor: color, fillOpacity: 0.25, dashArray: sim ? "5 4" : null };
  }

  function clusterIcon(count, color, shape) {
    const size = count < 10 ? 30 : count < 100 ? 36 : count < 1000 ? 44 : 52;
    return L.divIcon({
      html: el("span", { style: `background:${color}`, text: count >= 10000 ? Math.round(count / 1000) + "k" : String(count) }),
      className: `grappe grappe-${shape || "rond"}`, iconSize: [size, size],
    });
  }

  // A shape per point layer besides its colour (RGAA: colour never carries the meaning alone);
  // the legend and the layer control show the same shapes. Unit vertices, drawn at the radius.
  const SHAPES = { points_noirs: "triangle", bacs: "carre", videoprotection: "losange", eclairage: "triangle-bas" };
  const SHAPE_POINTS = {
    triangle: [[0, -1.25], [1.15, 0.85], [-1.15, 0.85]],
    "triangle-bas": [[0, 1.25], [1.15, -0.85], [-1.15, -0.85]],
    carre: [[-0.9, -0.9], [0.9, -0.9], [0.9, 0.9], [-0.9, 0.9]],
    losange: [[0, -1.3], [1.15, 0], [0, 1.3], [-1.15, 0]],
  };

  function shapeOf(name) {
    return SHAPES[name] || "rond";
  }

  /** A circle marker drawn as its layer's shape on the canvas (same hit area as the circle). */
  const ShapeMarker = L.CircleMarker.extend({
    _updatePath() {
      const renderer = this._renderer;
      const points = SHAPE_POINTS[this.options.shape];
      if (!points || !renderer._ctx) { L.CircleMarker.prototype._updatePath.call(this); return; }
      if (!renderer._drawing || this._empty()) return;
      const ctx = renderer._ctx;
      const p = this._point;
      const r = Math.max(Math.round(this._radius), 1);
      ctx.beginPath();
      points.forEach(([x, y], i) => (i ? ctx.lineTo(p.x + x * r, p.y + y * r) : ctx.moveTo(p.x + x * r, p.y + y * r)));
      ctx.closePath();
      renderer._fillStroke(ctx, this);
    },
  });

  function pointMarker(info, holder, feat) {
    const [lon, lat] = feat.geometry.coordinates;
    const sim = isSimulated(feat.properties);
    const marker = new ShapeMarker([lat, lon], {
      renderer: canvas, radius: 6, color: sim ? holder.qpvColor : "#ffffff", weight: sim ? 2 : 1.5,
      fillColor: holder.qpvColor, fillOpacity: sim ? 0.35 : 0.9, dashArray: sim ? "2 2" : null,
      shape: shapeOf(info.name),
    });
    bindRecord(info, feat, marker);
    return marker;
  }

  function serverClusterMarker(holder, feat) {
    const [lon, lat] = feat.geometry.coordinates;
    const n = Number(feat.properties.count || 0);
    const m = L.marker([lat, lon], { icon: clusterIcon(n, holder.qpvColor, shapeOf(holder.qpvName)), keyboard: false,
      title: `${formatNumber(n)} enregistrements : cliquer pour zoomer` });
    const bb = feat.properties.bbox;
    m.on("click", () => {
      if (Array.isArray(bb) && (bb[0] !== bb[2] || bb[1] !== bb[3])) {
        map.fitBounds([[bb[1], bb[0]], [bb[3], bb[2]]], { padding: [30, 30], maxZoom: map.getMaxZoom() });
      } else {
        map.setView([lat, lon], Math.min(map.getZoom() + 2, map.getMaxZoom()));
      }
    });
    return m;
  }

  /**
   * Réponse compacte (couches de points) : les enregistrements viennent en lignes
   * [lon, lat, valeurs des champs de `fields`] ; ils deviennent des objets GeoJSON qui ne
   * portent que ce que la carte dessine (qpvCompact : la fiche lit l'enregistrement entier).
   */
  function expandCompact(gj) {
    if (!gj || gj.format !== "compact") return gj;
    const names = gj.fields || [];
    const rows = (gj.records || []).map((r) => {
      const properties = {};
      names.forEach((n, i) => { properties[n] = r[i + 2]; });
      const geometry = r[0] === null || r[1] === null ? null : { type: "Point", coordinates: [r[0], r[1]] };
      return { type: "Feature", id: properties.uid, geometry, properties, qpvCompact: true };
    });
    const feats = (gj.features || []).map((f) => (f.properties && f.properties.cluster ? f
      : Object.assign(f, { qpvCompact: true })));
    return Object.assign({}, gj, { features: feats.concat(rows), records: undefined });
  }

  /** Dessine la réponse d'une couche dans son groupe. */
  function render(info, answer) {
    const gj = expandCompact(answer);
    const holder = state.holders[info.name];
    const feats = (gj && gj.features) || [];
    const clustered = Boolean(gj && gj.clustered) || feats.some((f) => f.properties && f.properties.cluster);
    const records = feats.filter((f) => !(f.properties && f.properties.cluster));
    const count = feats.reduce((n, f) => n + (f.properties && f.properties.cluster ? Number(f.properties.count || 0) : 1), 0);
    const total = gj && Number.isFinite(gj.numberMatched) ? gj.numberMatched : count;
    state.data[info.name] = { records, clustered, count: total, truncated: Boolean(gj && gj.truncated) };
    if (isPointLayer(info)) {
      [holder.cluster, holder.serverClusters, holder.heat].forEach((l) => holder.removeLayer(l));
      holder.cluster.clearLayers();
      holder.serverClusters.clearLayers();
      holder.heat.setLatLngs([]);
      if (state.heat) {
        const weights = feats.map((f) => (f.properties && f.properties.cluster ? Number(f.properties.count || 1) : 1));
        const max = Math.max(1, ...weights);
        holder.heat.setOptions({ max: 1 });
        holder.heat.setLatLngs(feats.map((f, i) => [f.geometry.coordinates[1], f.geometry.coordinates[0],
          Math.max(0.15, Math.sqrt(weights[i] / max))]));
        holder.addLayer(holder.heat);
      } else {
        holder.cluster.addLayers(records.map((f) => pointMarker(info, holder, f)));
        feats.filter((f) => f.properties && f.properties.cluster)
          .forEach((f) => holder.serverClusters.addLayer(serverClusterMarker(holder, f)));
        holder.addLayer(holder.cluster);
        holder.addLayer(holder.serverClusters);
      }
    } else {
      holder.shapes.clearLayers();
      if (info.name === "analyses") {
        holder.valueRange = analysisRanges(records);
        holder.lastGj = gj;
        const kinds = analysisKinds(records);
        holder.shownKind = kinds.includes(state.analysisShown) ? state.analysisShown : kinds[0];
      }
      holder.shapes.addData(feats.filter((f) => f.geometry));
    }
    if (!holder.qpvDrawn && feats.length) {
      holder.qpvDrawn = true;
      requestAnimationFrame(() => performance.mark(`qpv-couche-${info.name}`));
    }
    if (!state.firstPaint && feats.length) {
      state.firstPaint = true;
      requestAnimationFrame(() => performance.mark("qpv-premier-rendu"));
    }
  }

  function isSmall(info) {
    return !info.reference && Number(info.count) <= SMALL_LAYER;
  }

  function featureInView(f, bounds) {
    if (!f.geometry) return false;
    if (f.geometry.type === "Point") {
      const [x, y] = f.geometry.coordinates;
      return bounds.contains([y, x]);
    }
    if (!f.qpvBounds) f.qpvBounds = L.geoJSON(f).getBounds();
    return f.qpvBounds.isValid() && bounds.intersects(f.qpvBounds);
  }

  /** Ce que la vue courante montre d'une couche : enregistrements, effectif, regroupement. */
  function viewData(info) {
    const d = state.data[info.name];
    if (!d || !d.whole) return d;
    const bounds = map.getBounds();
    const records = d.records.filter((f) => featureInView(f, bounds));
    return Object.assign({}, d, { records, count: records.length });
  }

  /** Après une écriture : les couches chargées entières seront redemandées. */
  function invalidate() {
    state.cache = {};
  }

  function activeLayers() {
    return state.layers.filter((info) => map.hasLayer(state.holders[info.name]));
  }

  /** Recharge les couches actives pour la vue et les filtres courants. */
  async function refresh() {
    if (!state.layers.length) return;
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const generation = ++state.generation;
    document.body.dataset.etat = "chargement";
    const zoom = map.getZoom();
    const url = (info, params) => {
      // point layers: compact records (clustered by the server past the limit in the view)
      if (isPointLayer(info)) params.set("format", "compact");
      return `${CFG.urls.api}/layers/${encodeURIComponent(info.name)}/features?${params}`;
    };
    const jobs = activeLayers().map(async (info) => {
      if ((info.reference && zoom < CFG.contextMinZoom) || Number(info.count) === 0
          || (Q.suiviExcludes && Q.suiviExcludes(info))) { // a follow-up filter this layer has not
        delete state.cache[info.name];
        render(info, { features: [] });
        state.data[info.name].tooFar = Boolean(info.reference) && Number(info.count) > 0;
        return;
      }
      if (isSmall(info)) {
        const params = layerParams(info, false);
        params.set("limit", String(FEATURE_LIMIT));
        const key = `${params}|${state.heat}|${isPointLayer(info)}`;
        if (state.cache[info.name] === key) return; // déjà dessinée avec ces filtres
        const gj = await api(url(info, params), { signal: controller.signal });
        if (generation !== state.generation) return;
        render(info, gj);
        state.data[info.name].whole = true;
        state.cache[info.name] = key;
        return;
      }
      const gj = await api(url(info, layerParams(info, true)), { signal: controller.signal });
      if (generation === state.generation) render(info, gj);
    });
    jobs.push(loadContext(controller.signal, generation));
    const results = await Promise.allSettled(jobs);
    if (generation !== state.generation) return;
    const failed = results.filter((r) => r.status === "rejected" && r.reason.name !== "AbortError");
    failed.forEach((r) => console.error(r.reason));
    if (failed.length) showBanner(`Chargement incomplet : ${failed[0].reason.message || failed[0].reason}`, "erreur");
    renderList();
    renderLegend();
    updateExports();
    // Marqué après le dessin de l'image suivante : c'est ce que voit la personne.
    requestAnimationFrame(() => {
      if (generation !== state.generation) return;
      performance.mark("qpv-maj-fin");
      document.body.dataset.etat = "pret";
    });
  }

  async function loadContext(signal, generation) {
    const want = state.contextOn && map.getZoom() >= CFG.contextMinZoom;
    await Promise.all(["voies", "batiments"].map(async (name) => {
      if (!want || !state.byName[name]) {
        context[name].clearLayers();
        return;
      }
      const p = new URLSearchParams();
      setView(p);
      const gj = await api(`${CFG.urls.api}/layers/${name}/features?${p}`, { signal });
      if (generation !== state.generation) return;
      context[name].clearLayers();
      context[name].addData((gj.features || []).filter((f) => f.geometry && !(f.properties || {}).cluster));
    }));
  }

  const refreshSoon = debounce(refresh, DEBOUNCE_MS);

  map.on("moveend", () => {
    if (!state.started) return;
    performance.mark("qpv-deplacement");
    document.body.dataset.etat = "chargement";
    refreshSoon();
  });
  map.on("overlayadd overlayremove", () => { if (state.started) refresh(); });

  // ----------------------------------------------------------------------- popups
  function bindRecord(info, feat, layer) {
    layer.feature = feat;
    layer.qpvLayer = info.name;
    // En mode saisie, un clic sur un objet place le constat au lieu d'ouvrir sa fiche.
    layer.on("click", (ev) => {
      if (state.placing) Q.placeAt(ev.latlng);
      else openFiche(info, feat, layer.getLatLng ? layer.getLatLng() : ev.latlng);
    });
  }

  /**
   * Ouvre la fiche d'un enregistrement dans une popup autonome : elle reste ouverte (avec
   * ses formulaires) quand les couches sont redessinées après un déplacement.
   */
  function openFiche(info, feat, latlng) {
    // a phone: the popup (content + 46 px of frame) fits the map's width with its pan margins
    const size = map.getSize();
    const pad = popupPadding();
    const popup = L.popup({ maxWidth: Math.min(360, size.x - 80), minWidth: Math.min(260, size.x - 80),
      autoPanPaddingTopLeft: pad.topLeft, autoPanPaddingBottomRight: pad.bottomRight })
      .setLatLng(latlng)
      .setContent(feat.qpvCompact ? loadingContent(info) : popupContent(info, feat)).openOn(map);
    if (feat.qpvCompact) loadRecord(info, feat, popup);
  }

  /** La fiche en attendant l'enregistrement complet (un point de la carte n'en porte que l'essentiel). */
  function loadingContent(info) {
    return el("div", { class: "fiche-chargement", role: "status" }, [
      el("h3", { text: info.label }), el("p", { text: "Chargement…" })]);
  }

  /** Lit l'enregistrement complet d'un point et l'affiche dans sa popup, si elle l'attend encore. */
  async function loadRecord(info, feat, popup) {
    const waiting = popup.getContent();
    const uid = (feat.properties || {}).uid || "";
    try {
      const full = await api(`${CFG.urls.api}/layers/${encodeURIComponent(info.name)}/features/${encodeURIComponent(uid)}`);
      if (popup.getContent() !== waiting) return; // replaced meanwhile
      popup.setContent(popupContent(info, full));
    } catch (e) {
      if (popup.getContent() !== waiting) return;
      waiting.replaceChildren(el("h3", { text: info.label }),
        el("p", { class: "erreur", text: `Fiche indisponible : ${e.message}` }));
      if (popup.isOpen()) popup.update();
    }
  }

  function popupContent(info, feat) {
    const props = feat.properties || {};
    if (info.name === "analyses") return analysisPopup(info, props);
    const box = el("div", { class: "fiche", "data-uid": props.uid || "" });
    box.append(el("h3", { text: info.label }));
    if (isSimulated(props)) box.append(el("p", { class: "badge-simule", text: "donnée simulée" }));
    const dl = el("dl");
    info.fields.forEach((f) => {
      if (["photos", "uid", "simulated", "created_at", "updated_at", "duplicate_of"].includes(f.name)) return;
      const text = formatValue(props[f.name], f.type);
      if (text) dl.append(el("dt", { text: f.label || f.name }), el("dd", { text }));
    });
    box.append(dl);
    const photos = photoList(props);
    if (photos.length) {
      box.append(el("div", { class: "photos" }, photos.map((src, i) => el("a", { href: src, target: "_blank", rel: "noopener" },
        [el("img", { src, alt: `Photo ${i + 1} du constat`, loading: "lazy" })]))));
    }
    if (props.uid) box.append(el("p", { class: "uid", text: `Identifiant : ${props.uid}` }));
    const walk = walkLink(info, props, "Ouvrir la page du diagnostic");
    if (walk) box.append(el("p", { class: "lien-parcours" }, [walk]));
    if (info.name === "observations" && props.uid) box.append(Q.historyBlock(info, props, feat));
    if (props.uid && Q.suiviBlock) box.append(Q.suiviBlock(info, props) || ""); // carte-suivi.js
    if (canEdit() && props.uid && info.name === "points_noirs") box.append(Q.childForm("evenements", props.uid,
      `${CFG.urls.api}/points_noirs/${encodeURIComponent(props.uid)}/evenements`, "Enregistrer un dépôt constaté"));
    if (canEdit() && props.uid && info.name === "bacs") box.append(Q.childForm("releves", props.uid,
      `${CFG.urls.api}/bacs/${encodeURIComponent(props.uid)}/releves`, "Enregistrer un relevé de remplissage"));
    return box;
  }

  /** Lien vers la page d'un diagnostic en marchant (/diagnostic/<uid>), ou null. */
  function walkLink(info, props, text) {
    if (info.name !== "diagnostics" || !props.uid || !CFG.urls.diagnostic) return null;
    return el("a", { href: `${CFG.urls.diagnostic}${encodeURIComponent(props.uid)}`, class: "lien-diagnostic", text });
  }

  function walkRowLink(info, p) {
    const link = walkLink(info, p, "page du diagnostic");
    if (!link) return null;
    link.addEventListener("click", (ev) => ev.stopPropagation()); // suivre le lien, pas ouvrir la fiche
    link.addEventListener("keydown", (ev) => ev.stopPropagation());
    return el("span", { class: "lien-ligne" }, [" — ", link]);
  }

  // --------------------------------------------------------- analyses (fiche)
  /** « 2023-09-01… » → « 01/09/2023 » (la date telle que stockée, sans fuseau). */
  function frDate(value) {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(value || ""));
    return m ? `${m[3]}/${m[2]}/${m[1]}` : "";
  }

  function frNumber(value, digits) {
    const v = Number(value);
    return value === null || value === undefined || value === "" || !Number.isFinite(v) ? "n.d."
      : v.toLocaleString("fr-FR", { maximumFractionDigits: digits });
  }

  function frP(value) {
    const v = Number(value);
    if (value === null || value === undefined || value === "" || !Number.isFinite(v)) return "n.d.";
    return v < 0.001 ? "< 0,001" : v.toLocaleString("fr-FR", { maximumFractionDigits: 3 });
  }

  function analysisParams(props) {
    const raw = props.params;
    if (raw && typeof raw === "object") return raw;
    try {
      const parsed = JSON.parse(raw || "{}");
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch (e) {
      return {};
    }
  }

  function quartierName(code) {
    const feats = (state.perimeters && state.perimeters.features) || [];
    const hit = feats.find((f) => f.properties && f.properties.code === code);
    const name = hit && hit.properties.name;
    return name ? `${name} (${code})` : String(code || "n.d.");
  }

  /** Les paramètres du calcul, en mots. */
  function paramsInWords(params) {
    const words = [];
    if (params.theme) words.push(`thème « ${params.theme} »`);
    if (Number.isFinite(Number(params.bin_size)) && params.bin_size !== null) words.push(`mailles hexagonales de ${frNumber(params.bin_size, 0)} m`);
    if (Number.isFinite(Number(params.marge_m)) && params.marge_m !== null) words.push(`marge de ${frNumber(params.marge_m, 0)} m autour du quartier`);
    if (Number.isFinite(Number(params.alpha)) && params.alpha !== null) words.push(`seuil de ${frNumber(Number(params.alpha) * 100, 1)} %`);
    if (params.fdr === true) words.push("p corrigée des tests multiples (FDR)");
    if (params.fdr === false) words.push("p brute");
    if (Number.isFinite(Number(params.evenements)) && params.evenements !== null) words.push(`${frNumber(params.evenements, 0)} événements analysés`);
    return words.join(", ");
  }

  /** D'où viennent les données du résultat : réelles, simulées ou en partie simulées. */
  function analysisData(props, params) {
    const share = Number(params.part_simulee);
    if (!isSimulated(props)) return { text: "données réelles", simulated: false };
    if (Number.isFinite(share) && share > 0 && share < 1) {
      return { text: `données en partie simulées (${frNumber(share * 100, 0)} % des événements)`, simulated: true };
    }
    return { text: "données simulées", simulated: true };
  }

  function analysisPopup(info, props) {
    const params = analysisParams(props);
    const cls = analysisClass(props);
    const box = el("div", { class: "fiche fiche-analyse" });
    const title = props.analysis ? props.analysis[0].toUpperCase() + props.analysis.slice(1) : info.label;
    box.append(el("h3", { text: props.analysis === "points chauds" ? `${title} (Gi*)` : title }));
    const data = analysisData(props, params);
    box.append(el("p", { class: data.simulated ? "badge-simule" : "badge-reel", text: data.text }));
    const [one, many] = ASTYLE.units[props.source_layer] || ["événement", "événements"];
    const unit = Math.abs(Number(props.value)) <= 1 ? one : many;
    const classed = Boolean(ASTYLE.classes[props.analysis]);
    const emerging = props.analysis === "points chauds émergents";
    const hasValue = props.value !== null && props.value !== undefined && props.value !== "";
    const rows = [
      ["Quartier", quartierName(props.quartier)],
      ["Période", props.period_start ? `du ${frDate(props.period_start)} au ${frDate(props.period_end)}` : "n.d."],
    ];
    if (cls || props.category) rows.push(["Classe", cls ? cls.label : props.category]);
    if (classed) {
      rows.push([emerging ? "Événements de la maille sur la période" : "Événements dans la maille",
        hasValue ? `${frNumber(props.value, 2)} ${unit}` : "n.d."]);
    } else {
      rows.push(["Valeur", hasValue ? frNumber(props.value, 2) : "n.d."]);
    }
    // z and p: always for the classed analyses (n.d. when missing), else only when stored
    const hasZ = props.z_score !== null && props.z_score !== undefined && props.z_score !== "";
    const hasP = props.p_value !== null && props.p_value !== undefined && props.p_value !== "";
    if (classed || hasZ) rows.push([emerging ? "Tendance (score z de Mann-Kendall)" : "Score z", frNumber(props.z_score, 2)]);
    if (classed || hasP) rows.push([params.p_value === "ajustée FDR" ? "p (corrigée FDR)" : "p", frP(props.p_value)]);
    rows.push(["Calculé le", frDate(props.run_at) || "n.d."]);
    const words = paramsInWords(params);
    if (words) rows.push(["Paramètres", words]);
    box.append(el("dl", {}, rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])));
    if (cls) box.append(el("p", { class: "comment-lire", text: cls.reading }));
    return box;
  }

  // ------------------------------------------------------------- saisie d'un constat
  function canEdit() {
    return EDIT_ROLES.includes(state.session.role);
  }

  // saisie, fiches des constats : carte-saisie.js ; filtres : carte-filtres.js

  // ------------------------------------------------------------ liste et légende
  const SYSTEM_TIMES = ["created_at", "updated_at"];

  /** Le champ de temps de la couche (donné par l'API, sinon sa première date métier). */
  function timeField(info) {
    if (info.time_field) return info.time_field;
    if (!info.time_min) return null;
    const f = info.fields.find((x) => (x.type === "datetime" || x.type === "date") && !SYSTEM_TIMES.includes(x.name));
    return f ? f.name : null;
  }

  function recordTime(info, props) {
    const name = timeField(info);
    return name ? props[name] : null;
  }

  function recordTitle(props) {
    return props.theme || props.name || props.kind || props.code || props.flux || props.uid || "";
  }

  function renderList() {
    const box = $("#liste-contenu");
    box.replaceChildren();
    let total = 0;
    activeLayers().filter((info) => info.name !== "perimetres").forEach((info) => {
      const d = viewData(info);
      if (!d) return;
      total += d.count;
      const section = el("section", { class: "liste-couche", "data-couche": info.name });
      section.append(el("h3", {}, [el("span", { class: "pastille", style: `background:${colorOf(info.name, 0)}` }),
        info.label, el("span", { class: "compte", "data-compte": info.name, text: formatNumber(d.count) })]));
      section.append(el("div", { class: "synthese", "data-couche": info.name }));
      if (d.truncated) {
        section.append(el("p", { class: "aide", text: `Affichage limité à ${formatNumber(d.records.length)} enregistrements : zoomez ou filtrez.` }));
      }
      if (d.tooFar) {
        section.append(el("p", { class: "aide", text: `Visible à partir du zoom ${CFG.contextMinZoom}.` }));
      } else if (d.clustered) {
        section.append(el("p", { class: "aide", text: "Enregistrements regroupés à ce niveau de zoom : zoomez pour les lister." }));
      }
      if (d.records.length) {
        const rows = d.records.slice().sort((a, b) => String(recordTime(info, b.properties) || "")
          .localeCompare(String(recordTime(info, a.properties) || ""))).slice(0, LIST_MAX);
        const table = el("table", { class: "liste-table" }, [el("thead", {}, [el("tr", {}, [
          el("th", { text: "Date" }), el("th", { text: "Objet" }), el("th", { text: "Statut" }), el("th", { text: "Adresse" })])])]);
        const tbody = el("tbody");
        rows.forEach((f) => {
          const p = f.properties;
          const tr = el("tr", { tabindex: "0", "data-uid": p.uid || "", class: isSimulated(p) ? "simule" : "" }, [
            el("td", { text: formatValue(recordTime(info, p), "date") }),
            el("td", {}, [recordTitle(p), isSimulated(p) ? el("span", { class: "badge-simule", text: "donnée simulée" }) : null,
              walkRowLink(info, p)]),
            el("td", { text: p.status || p.phase || "" }),
            el("td", { text: p.address || p.quartier || "" }),
          ]);
          const open = () => openRecord(info.name, p.uid);
          tr.addEventListener("click", open);
          tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
          tbody.append(tr);
        });
        table.append(tbody);
        section.append(table);
        if (d.records.length > LIST_MAX) {
          section.append(el("p", { class: "aide", text: `${formatNumber(LIST_MAX)} premiers sur ${formatNumber(d.records.length)} : zoomez ou filtrez.` }));
        }
      }
      box.append(section);
    });
    $("#liste-total").textContent = `${formatNumber(total)} enregistrement${total > 1 ? "s" : ""} dans la vue`;
    $("#liste-total").dataset.total = String(total);
    if (document.body.classList.contains("liste-pleine")) renderStats();
  }

  const STAT_GROUPS = [["by_status", "Par statut"], ["by_theme", "Par thème"], ["by_source", "Par origine"],
    ["by_simulated", "Réelles / simulées"]];

  /** Liste plein écran : effectifs de la vue par statut, thème, origine (API stats). */
  async function renderStats() {
    const generation = state.generation;
    await Promise.all(activeLayers().filter((info) => !info.reference && info.name !== "perimetres")
      .map(async (info) => {
        const box = document.querySelector(`.synthese[data-couche="${info.name}"]`);
        const d = viewData(info);
        if (!box || !d || !d.count) return;
        const p = layerParams(info, true);
        p.delete("zoom");
        p.delete("limit");
        try {
          const st = await api(`${CFG.urls.api}/layers/${encodeURIComponent(info.name)}/stats?${p}`);
          if (generation !== state.generation) return;
          box.replaceChildren(...STAT_GROUPS.filter(([key]) => st[key] && Object.keys(st[key]).length)
            .map(([key, label]) => el("p", {}, [el("strong", { text: `${label} : ` }),
              Object.entries(st[key]).sort((a, b) => b[1] - a[1]).map(([k, n]) => {
                const name = key === "by_simulated" ? (k === "true" ? "simulées" : "réelles") : k;
                return `${name} ${formatNumber(n)}`;
              }).join(" · ")])));
          // a sample's counts are partial: said above the counts, never left implicit
          if (st.echantillon) box.prepend(el("p", { class: "echantillon", text: st.echantillon }));
        } catch (e) {
          box.replaceChildren(el("p", { class: "erreur", text: e.message }));
        }
      }));
  }

  /** Centre la carte sur un enregistrement de la liste et ouvre sa fiche. */
  function openRecord(layerName, uid) {
    if (location.hash === "#liste") location.hash = "#carte";
    const holder = state.holders[layerName];
    let found = null;
    holder.eachLayer(function visit(l) {
      if (found) return;
      if (l.feature && l.feature.properties && l.feature.properties.uid === uid) found = l;
      else if (typeof l.eachLayer === "function" && l !== holder.heat) l.eachLayer(visit);
    });
    if (!found) return;
    const info = state.byName[layerName];
    if (holder.cluster && holder.cluster.hasLayer(found)) {
      holder.cluster.zoomToShowLayer(found, () => openFiche(info, found.feature, found.getLatLng()));
    } else if (found.getBounds) {
      map.fitBounds(found.getBounds(), { maxZoom: 18 });
      openFiche(info, found.feature, found.getBounds().getCenter());
    } else {
      openFiche(info, found.feature, found.getLatLng());
    }
  }

  function renderLegend() {
    const box = $("#legende");
    if (!box) return;
    box.replaceChildren(el("h4", { text: "Légende" }));
    activeLayers().forEach((info) => {
      const d = viewData(info);
      box.append(el("div", { class: "legende-ligne" }, [
        el("span", { class: `pastille ${isPointLayer(info) ? `forme-${shapeOf(info.name)}` : "carre"}`, style: `background:${colorOf(info.name, 0)}` }),
        info.label, d ? el("span", { class: "compte", text: ` (${formatNumber(d.count)})` }) : null]));
    });
    if (state.byName.analyses && map.hasLayer(state.holders.analyses)) box.append(analysisLegend(viewData(state.byName.analyses)));
    box.append(el("div", { class: "legende-ligne" }, [el("span", { class: "pastille rond simule" }), "donnée simulée (contour pointillé)"]));
    box.append(el("div", { class: "legende-ligne" }, [el("span", { class: "pastille grappe-mini" }), "regroupement (nombre d'enregistrements)"]));
    if (state.heat) box.append(el("div", { class: "legende-ligne" }, [el("span", { class: "degrade" }), "densité (carte de chaleur)"]));
  }

  /** Légende des résultats d'analyse visibles : classes Gi*, motifs émergents présents, rampes. */
  function analysisLegend(d) {
    const holder = state.holders.analyses;
    const all = (d && d.records) || [];
    const block = el("div", { class: "legende-analyses", id: "legende-analyses" });
    const available = analysisKinds(all);
    if (available.length > 1) {
      const select = el("select", { id: "analyse-choix", "aria-label": "Analyse affichée" },
        available.map((k) => el("option", { value: k, text: k[0].toUpperCase() + k.slice(1) })));
      select.value = holder.shownKind;
      select.addEventListener("change", () => {
        state.analysisShown = select.value;
        const whole = Boolean(state.data.analyses && state.data.analyses.whole);
        render(state.byName.analyses, holder.lastGj);
        state.data.analyses.whole = whole;
        renderLegend();
      });
      block.append(el("label", { class: "legende-ligne" }, ["Analyse affichée : ", select]));
    }
    const records = all.filter((f) => (f.properties || {}).analysis === holder.shownKind);
    const kinds = new Set(records.map((f) => (f.properties || {}).analysis));
    const present = new Set(records.map((f) => analysisClassKey(f.properties || {})));
    if (!records.length) block.append(el("div", { class: "legende-ligne", text: "Aucun résultat d'analyse dans la vue." }));
    Object.entries(ASTYLE.classes).forEach(([analysis, classes]) => {
      if (!kinds.has(analysis)) return;
      block.append(el("h5", { text: analysis === "points chauds" ? "Points chauds (Gi*)" : "Points chauds émergents" }));
      // every Gi* class (the scale reads as a whole); only the emerging patterns present
      block.append(el("div", { class: "legende-classes" }, classes
        .filter((c) => analysis === "points chauds" || present.has(c.key))
        .map((c) => el("div", { class: "legende-ligne", "data-classe": c.key, title: c.reading },
          [el("span", { class: "pastille carre", style: `background:${c.color}` }), c.label]))));
    });
    Object.entries(ASTYLE.ramps).forEach(([analysis, ramp]) => {
      if (!kinds.has(analysis)) return;
      block.append(el("div", { class: "legende-ligne" }, [
        ...ramp.map((c) => el("span", { class: "pastille carre rampe", style: `background:${c}` })),
        ` ${analysis} : valeur faible → forte`]));
    });
    if (kinds.has("points chauds")) {
      const hot = (ASTYLE.classes["points chauds"] || [])[0];
      if (hot) block.append(el("p", { class: "comment-lire", text: `Comment lire : ${hot.reading}` }));
    }
    return block;
  }

  function updateExports() {
    const ul = $("#export-liens");
    ul.replaceChildren();
    const withView = $("#export-vue").checked;
    activeLayers().filter((info) => !info.reference && !(Q.suiviExcludes && Q.suiviExcludes(info))).forEach((info) => {
      const p = layerParams(info, withView);
      p.delete("zoom");
      p.delete("limit");
      const q = p.toString() ? `?${p}` : "";
      const base = `${CFG.urls.api}/layers/${encodeURIComponent(info.name)}/export`;
      ul.append(el("li", {}, [info.label, " : ",
        el("a", { href: `${base}.geojson${q}`, download: `${info.name}.geojson`, "data-format": "geojson", "data-couche": info.name, text: "GeoJSON" }), " · ",
        el("a", { href: `${base}.csv${q}`, download: `${info.name}.csv`, "data-format": "csv", "data-couche": info.name, text: "CSV" })]));
    });
  }

  function applyHash() {
    const full = location.hash === "#liste";
    document.body.classList.toggle("liste-pleine", full);
    if (!full) setTimeout(() => map.invalidateSize(), 0);
    else if (state.started) renderStats();
  }
  window.addEventListener("hashchange", applyHash);

  // ------------------------------------------------------------------- session
  function renderSession() {
    // qui est connecté, « Se connecter » et « Se déconnecter » : en-tête commun (base.html)
    $("#edition").hidden = !canEdit();
  }

  // ------------------------------------------------------------------ démarrage
  async function start() {
    document.body.dataset.etat = "chargement";
    applyHash();
    setupBasemap();
    try {
      const [session, layers] = await Promise.all([
        api(`${CFG.urls.api}/session`).catch(() => state.session), api(`${CFG.urls.api}/layers`)]);
      state.session = Object.assign(state.session, session || {});
      state.layers = (Array.isArray(layers) ? layers : layers.layers || []).filter((l) => l.geometry);
    } catch (e) {
      showBanner(`Impossible de lire les couches : ${e.message}`, "erreur");
      document.body.dataset.etat = "erreur";
      return;
    }
    renderSession();
    state.layers.forEach((info, i) => {
      state.byName[info.name] = info;
      const holder = makeHolder(info, i);
      state.holders[info.name] = holder;
      if (info.name === "voies" || info.name === "batiments") return; // contexte, pas une couche à afficher
      // the layer control writes its labels as HTML: a colour class (no inline style, CSP) and escaped text
      const form = isPointLayer(info) ? `forme-${shapeOf(info.name)}` : "carre";
      const label = `<span class="pastille ${form} ${colorClass(colorOf(info.name, i))}"></span>${escapeHtml(info.label)}`
        + (info.confidential ? ' <span class="badge-confidentiel" title="Couche confidentielle">confidentiel</span>' : "");
      layerControl.addOverlay(holder, label);
      // the analyses layer is off by default (ASTYLE.hiddenByDefault): a person turns it on
      if (!info.reference && !(info.name === "analyses" && ASTYLE.hiddenByDefault)) holder.addTo(map);
    });
    Q.buildFilterChoices();
    Q.buildMonths();
    Q.bindFilters();
    if (Q.applyPermalink) Q.applyPermalink(); // carte-recherche.js: filters of the URL
    // Emprise initiale : les périmètres, dessinés en premier.
    let fitted = false;
    if (state.byName.perimetres) {
      try {
        const params = layerParams(state.byName.perimetres, false);
        params.set("limit", String(FEATURE_LIMIT));
        const gj = await api(`${CFG.urls.api}/layers/perimetres/features?${params}`);
        state.perimeters = gj;
        (gj.features || []).forEach((f) => {
          const p = f.properties || {};
          if (p.code) $("#f-quartier").append(el("option", { value: p.code, text: `${p.name || p.code} (${p.code})` }));
        });
        const bounds = L.geoJSON(gj).getBounds();
        if (bounds.isValid()) {
          render(state.byName.perimetres, gj);
          state.data.perimetres.whole = true;
          state.cache.perimetres = `${params}|${state.heat}`;
          map.fitBounds(bounds, { padding: [10, 10] });
          fitted = true;
        }
      } catch (e) {
        showBanner(`Périmètres indisponibles : ${e.message}`, "erreur");
      }
    }
    if (Q.permalinkView && Q.permalinkView()) fitted = true; // carte-recherche.js: view of the URL
    if (!fitted && !window.QPVFond.fitView(map, CFG.basemap)) map.setView([46.6, 2.4], 6);
    state.started = true;
    refresh();
  }

  // The page's shared object: the tests read it, and the page's other scripts (carte-saisie.js,
  // carte-filtres.js…) take their helpers from it and add theirs before the page starts.
  Object.assign(Q, {
    CFG, state, map, context, layerControl, legend, $, el, api, debounce, escapeHtml, colorOf,
    formatNumber, formatValue, frDate, frNumber, monthKey, monthLabel, addMonths, newUid, isSimulated,
    showBanner, invalidate, refresh, refreshSoon, canEdit, layerParams, updateExports, openRecord,
    openFiche, popupContent, renderList, renderLegend, fitPopup, viewData: (name) => viewData(state.byName[name]),
  });
  // started once every script of the page has run (they are loaded at the end of the body)
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}());

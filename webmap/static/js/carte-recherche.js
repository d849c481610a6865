/*
 * Carte des techniciens — recherche d'adresse (liste de suggestions au clavier, motif ARIA
 * « combobox ») et lien permanent : l'adresse de la page garde la vue et les filtres.
 * Fonctions communes et état : window.qpvCarte (carte.js, chargé avant ce fichier).
 */
(function (Q) {
  "use strict";

  const { CFG, state, map, $, el, api, debounce, showBanner } = Q;
  const MIN_CHARS = 2;
  const ZOOM_ADDRESS = 18;
  const MARKER_MS = 20000;

  // ------------------------------------------------------------- recherche d'adresse
  const form = $("#recherche");
  const input = $("#recherche-adresse");
  const list = $("#recherche-liste");
  const status = $("#recherche-etat");
  let results = [];
  let active = -1;
  let controller = null;
  let marker = null;
  let markerTimer = null;

  function say(text) {
    status.textContent = text;
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function optionText(r) {
    return r.type === "voie" ? `${r.label} (toute la voie)` : r.label;
  }

  function renderOptions() {
    list.replaceChildren(...results.map((r, i) => el("li", {
      id: `recherche-option-${i}`, role: "option", "aria-selected": i === active ? "true" : "false",
      class: r.type === "voie" ? "voie-seule" : null, text: optionText(r),
      // mousedown, not click: the field keeps the focus until the choice is made
      onmousedown: (ev) => { ev.preventDefault(); choose(i); },
    })));
    list.hidden = results.length === 0;
    input.setAttribute("aria-expanded", results.length ? "true" : "false");
  }

  function move(delta) {
    if (!results.length) return;
    active = (active + delta + results.length) % results.length;
    Array.from(list.children).forEach((li, i) => li.setAttribute("aria-selected", i === active ? "true" : "false"));
    const li = list.children[active];
    input.setAttribute("aria-activedescendant", li.id);
    li.scrollIntoView({ block: "nearest" });
  }

  async function suggest(submitted) {
    const q = input.value.trim();
    if (controller) controller.abort();
    if (q.length < MIN_CHARS) {
      results = [];
      close();
      if (submitted) say(`Saisissez au moins ${MIN_CHARS} caractères d'une adresse.`);
      return;
    }
    controller = new AbortController();
    let body;
    try {
      body = await api(`${CFG.urls.api}/adresses?q=${encodeURIComponent(q)}`, { signal: controller.signal });
    } catch (e) {
      if (e.name === "AbortError") return;
      results = [];
      close();
      say(e.status === 404 ? "Recherche d'adresse indisponible pour ce compte." : `Recherche impossible : ${e.message}`);
      return;
    }
    if (input.value.trim() !== q) return; // the user typed on
    results = body.resultats || [];
    active = -1;
    renderOptions();
    if (!results.length) {
      say(body.message || `Aucune adresse trouvée pour « ${q} » dans le territoire.`);
    } else if (submitted && results.length === 1) {
      choose(0);
    } else {
      const n = results.length;
      say(`${n} ${n > 1 ? "adresses trouvées" : "adresse trouvée"} : flèches haut et bas pour choisir, Entrée pour centrer la carte.`);
    }
  }

  /** Centre la carte sur la suggestion ``i`` (zoom 18), y pose un repère temporaire et l'annonce. */
  function choose(i) {
    const r = results[i];
    if (!r) return;
    close();
    input.value = r.label;
    if (marker) marker.remove();
    clearTimeout(markerTimer);
    marker = L.circleMarker([r.lat, r.lon], { radius: 14, color: "#000091", weight: 3, fill: false,
      interactive: false, className: "repere-adresse" }).addTo(map);
    markerTimer = setTimeout(() => { if (marker) { marker.remove(); marker = null; } }, MARKER_MS);
    writing = true;
    map.setView([r.lat, r.lon], ZOOM_ADDRESS);
    say(r.type === "voie" ? `Carte centrée sur ${r.label}, au milieu de la voie (zoom ${ZOOM_ADDRESS}).`
      : `Carte centrée sur ${r.label} (zoom ${ZOOM_ADDRESS}).`);
  }

  const suggestSoon = debounce(() => suggest(false), 250);
  input.addEventListener("input", suggestSoon);
  input.addEventListener("focus", () => { $("#recherche-aide").hidden = false; });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") { ev.preventDefault(); if (list.hidden && results.length) renderOptions(); move(1); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); move(-1); }
    else if (ev.key === "Escape") { if (!list.hidden) { ev.preventDefault(); close(); } }
    else if (ev.key === "Enter" && active >= 0) { ev.preventDefault(); choose(active); }
  });
  input.addEventListener("blur", () => { setTimeout(close, 150); });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (active >= 0) choose(active);
    else suggest(true);
  });

  // ------------------------------------------------------------------- lien permanent
  /** Paramètres de l'adresse : vue, période, filtres, carte de chaleur, couches affichées. */
  const SELECTS = [["theme", "#f-theme", "theme"], ["statut", "#f-statut", "status"], ["origine", "#f-source", "source"],
    ["donnees", "#f-simule", "simulated"]];
  const DATE = /^\d{4}-\d{2}-\d{2}$/;
  let defaultLayers = "";
  let writing = false;

  function shownLayers() {
    return state.layers.filter((info) => !info.reference && state.holders[info.name]
      && map.hasLayer(state.holders[info.name])).map((info) => info.name).join(",");
  }

  function currentParams() {
    const p = new URLSearchParams();
    const c = map.getCenter();
    p.set("centre", `${c.lat.toFixed(5)},${c.lng.toFixed(5)}`);
    p.set("zoom", String(map.getZoom()));
    const f = state.filters;
    if (!f.start && !f.end) p.set("periode", "toute");
    else {
      if (f.start) p.set("debut", f.start);
      if (f.end) p.set("fin", f.end);
    }
    SELECTS.forEach(([key, , name]) => { if (f[name]) p.set(key, f[name]); });
    if (f.quartier) p.set("quartier", f.quartier);
    if (f.suivi) p.set("suivi", f.suivi);
    if (state.heat) p.set("chaleur", "1");
    const layers = shownLayers();
    if (layers !== defaultLayers) p.set("couches", layers || "aucune");
    return p;
  }

  function permalink() {
    return `${location.origin}${location.pathname}?${currentParams()}${location.hash}`;
  }

  function writeUrl() {
    if (!state.started || !writing) return;
    history.replaceState(history.state, "", permalink());
  }

  const writeSoon = debounce(writeUrl, 400);

  function monthsBetween(start, end) {
    const [y1, m1] = start.split("-").map(Number);
    const [y2, m2] = end.split("-").map(Number);
    return (y2 - y1) * 12 + (m2 - m1);
  }

  function applyPeriod(p, ignored) {
    if (p.get("periode") === "toute") {
      state.filters.start = "";
      state.filters.end = "";
    } else if (p.has("debut") || p.has("fin")) {
      const start = p.get("debut") || "";
      const end = p.get("fin") || "";
      if ((start && !DATE.test(start)) || (end && !DATE.test(end)) || (start && end && start >= end)) {
        ignored.push("période");
        return;
      }
      state.filters.start = start;
      state.filters.end = end;
      if (end) {
        const last = Q.addMonths(end.slice(0, 7), -1);
        if (state.months.includes(last)) $("#f-curseur").value = String(state.months.indexOf(last));
        const n = start ? monthsBetween(start, end) : 0;
        if (["1", "3", "6", "12"].includes(String(n))) $("#f-fenetre").value = String(n);
      }
    }
    Q.showPeriod();
  }

  function applySelects(p, ignored) {
    SELECTS.forEach(([key, sel, name]) => {
      const v = p.get(key);
      if (!v) return;
      const select = $(sel);
      if (Array.from(select.options).some((o) => o.value === v)) {
        select.value = v;
        state.filters[name] = v;
      } else ignored.push(`${key} « ${v} »`);
    });
  }

  function applySuivi(p, ignored) {
    const v = p.get("suivi");
    if (!v) return;
    if ($("#f-suivi").hidden) {
      ignored.push("filtres de suivi (réservés aux comptes connectés)");
      return;
    }
    const known = ["mon-organisation", "assignes", "en-retard"];
    state.filters.suivi = v.split(",").filter((x) => known.includes(x)).join(",");
    Q.suiviToBoxes();
  }

  function applyLayers(p) {
    const wanted = p.get("couches");
    if (!wanted) return;
    const names = wanted.split(",");
    state.layers.forEach((info) => {
      const holder = state.holders[info.name];
      if (info.reference || !holder || info.name === "voies" || info.name === "batiments") return;
      if (names.includes(info.name)) holder.addTo(map);
      else map.removeLayer(holder);
    });
  }

  /** Filtres de l'adresse de la page, avant le premier chargement (appelé par carte.js). */
  function applyPermalink() {
    defaultLayers = shownLayers();
    const p = new URLSearchParams(location.search);
    // opened from a link: the URL follows the map from now on (else from the first gesture)
    writing = ["centre", "periode", "debut", "fin", "couches"].some((k) => p.has(k));
    const ignored = [];
    applyPeriod(p, ignored);
    applySelects(p, ignored);
    applySuivi(p, ignored);
    const q = p.get("quartier");
    if (q) state.filters.quartier = q;
    if (p.get("chaleur") === "1") {
      state.heat = true;
      $("#f-chaleur").checked = true;
    }
    applyLayers(p);
    if (ignored.length) showBanner(`Lien : ${ignored.join(", ")} ignoré${ignored.length > 1 ? "s" : ""}.`, "alerte");
  }

  /** Vue de l'adresse de la page, une fois les périmètres chargés (appelé par carte.js). */
  function permalinkView() {
    const p = new URLSearchParams(location.search);
    const q = state.filters.quartier;
    if (q) {
      const select = $("#f-quartier");
      if (Array.from(select.options).some((o) => o.value === q)) select.value = q;
      else {
        state.filters.quartier = "";
        showBanner(`Lien : quartier « ${q} » inconnu, ignoré.`, "alerte");
      }
    }
    const m = /^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$/.exec(p.get("centre") || "");
    const zoom = Number(p.get("zoom"));
    if (!m || !Number.isInteger(zoom) || zoom < 0 || zoom > 22) return false;
    const lat = Number(m[1]);
    const lng = Number(m[2]);
    if (Math.abs(lat) > 90 || Math.abs(lng) > 180) return false;
    map.setView([lat, lng], zoom);
    return true;
  }

  // The URL is rewritten once the person has moved the map or changed a filter (not at load).
  const byHand = () => { writing = true; writeSoon(); };
  map.on("moveend overlayadd overlayremove", writeSoon);
  ["pointerdown", "wheel", "keydown"].forEach((type) => $("#carte").addEventListener(type, () => { writing = true; }));
  $("#filtres").addEventListener("change", byHand);
  $("#filtres").addEventListener("input", byHand);
  $("#f-reinitialiser").addEventListener("click", byHand);

  // ------------------------------------------------------------------------ partage
  const linkField = $("#lien-vue");
  const shareStatus = $("#partage-etat");

  function showLinkField(url) {
    linkField.value = url;
    linkField.hidden = false;
    $("#lien-vue-etiquette").hidden = false;
  }

  $("#copier-lien").addEventListener("click", async () => {
    writing = true;
    writeUrl();
    const url = permalink();
    showLinkField(url);
    try {
      if (!navigator.clipboard || !window.isSecureContext) throw new Error("presse-papiers indisponible");
      await navigator.clipboard.writeText(url);
      shareStatus.textContent = "Lien copié : collez-le pour rouvrir cette carte avec la même vue et les mêmes filtres.";
    } catch (e) {
      linkField.focus();
      linkField.select();
      shareStatus.textContent = "Copie automatique impossible : le lien est sélectionné dans le champ ci-dessus, "
        + "copiez-le (Ctrl+C, ou appui long sur téléphone).";
    }
  });

  Object.assign(Q, {
    applyPermalink, permalinkView, permalink,
    recherche: { choose, marker: () => marker, results: () => results },
  });
}(window.qpvCarte));

/*
 * Carte des techniciens — filtres : listes de choix, curseur du temps, période, quartier, réinitialisation.
 * Fonctions communes et état : window.qpvCarte (carte.js, chargé avant ce fichier).
 */
(function (Q) {
  "use strict";

  const { CFG, state, map, $, el, api, formatNumber, formatValue, monthKey, monthLabel, addMonths,
    newUid, showBanner, invalidate, refresh, refreshSoon, canEdit, updateExports } = Q;

  // ---------------------------------------------------------------------- filtres
  function buildFilterChoices() {
    const fill = (select, values) => values.forEach((v) => select.append(el("option", { value: v, text: v })));
    const union = (name) => Array.from(new Set(state.layers.flatMap((info) => {
      const f = info.fields.find((x) => x.name === name);
      return (f && f.choices) || [];
    })));
    fill($("#f-theme"), union("theme"));
    fill($("#f-source"), union("source"));
    const statut = $("#f-statut");
    const seen = new Set();
    state.layers.forEach((info) => {
      const f = info.fields.find((x) => x.name === "status");
      if (!f || !f.choices || info.reference) return;
      const values = f.choices.filter((c) => !seen.has(c));
      if (!values.length) return;
      values.forEach((c) => seen.add(c));
      statut.append(el("optgroup", { label: info.label }, values.map((c) => el("option", { value: c, text: c }))));
    });
  }

  /**
   * Étendue du curseur : les dates des événements (constats, actions, diagnostics, dépôts des
   * points noirs), pas les dates de référence (mise en service d'une caméra, repérage d'un site).
   */
  function eventSpans() {
    const spans = [];
    state.layers.forEach((info) => {
      if (info.reference || !info.event_min || !info.event_max) return;
      const what = info.events ? info.label : `${info.label} (événements)`;
      spans.push({ lo: monthKey(new Date(info.event_min)), hi: monthKey(new Date(info.event_max)), what });
    });
    if (spans.length) return spans;
    // a server without event spans: the dated layers that are not references
    state.layers.forEach((info) => {
      if (info.reference || !info.time_min || !info.time_max) return;
      spans.push({ lo: monthKey(new Date(info.time_min)), hi: monthKey(new Date(info.time_max)), what: info.label });
    });
    return spans;
  }

  /**
   * La période par défaut : les 12 derniers mois des données, sans borne de fin (un constat
   * saisi aujourd'hui apparaît même si les données s'arrêtent avant) ; curseur au bout.
   */
  function defaultPeriod() {
    const months = state.months;
    if (!months.length) { state.filters.start = ""; state.filters.end = ""; return; }
    const last = months[months.length - 1];
    const first = addMonths(last, -11) < months[0] ? months[0] : addMonths(last, -11);
    state.filters.start = `${first}-01`;
    state.filters.end = "";
    $("#f-fenetre").value = "12";
    $("#f-curseur").value = $("#f-curseur").max;
  }

  function buildMonths() {
    let lo = null;
    let hi = null;
    // records dated outside the plausible window (a typo 2099) do not stretch the slider
    const outside = state.layers.reduce((n, info) => n + (info.reference ? 0 : info.outside_window || 0), 0);
    const note = $("#f-hors-periode");
    note.hidden = outside === 0;
    note.textContent = outside === 1
      ? "1 enregistrement daté hors de la période plausible n'apparaît pas sur le curseur."
      : `${outside} enregistrements datés hors de la période plausible n'apparaissent pas sur le curseur.`;
    const spans = eventSpans();
    spans.forEach(({ lo: a, hi: b }) => {
      if (!lo || a < lo) lo = a;
      if (!hi || b > hi) hi = b;
    });
    const months = [];
    if (lo && hi) for (let k = lo; k <= hi && months.length < 1200; k = addMonths(k, 1)) months.push(k);
    state.months = months;
    const slider = $("#f-curseur");
    slider.max = String(Math.max(0, months.length - 1));
    slider.value = slider.max;
    slider.disabled = months.length === 0;
    if (months.length) {
      $("#f-debut").min = $("#f-fin").min = months[0];
      $("#f-debut").max = $("#f-fin").max = months[months.length - 1];
    }
    $("#f-etendue").textContent = months.length
      ? `Curseur de ${monthLabel(months[0])} à ${monthLabel(months[months.length - 1])}, d'après les dates `
        + `de : ${spans.map((s) => s.what).join(" ; ")}. Par défaut : les 12 derniers mois des données, `
        + "et tout ce qui est plus récent."
      : "Aucune donnée datée : pas de curseur du temps.";
    defaultPeriod();
    showPeriod();
  }

  function showPeriod() {
    const f = state.filters;
    const whole = !f.start && !f.end;
    $("#f-toute-periode").checked = whole;
    const first = f.start ? monthLabel(f.start.slice(0, 7)) : "début";
    const last = f.end ? monthLabel(addMonths(f.end.slice(0, 7), -1)) : "fin";
    $("#f-mois").textContent = whole ? "toute la période"
      : (!f.end ? `depuis ${first}` : (first === last ? first : `${first} – ${last}`));
    $("#f-debut").value = f.start ? f.start.slice(0, 7) : "";
    $("#f-fin").value = f.end ? addMonths(f.end.slice(0, 7), -1) : "";
    $("#f-curseur").classList.toggle("inactif", whole);
  }

  function periodFromSlider() {
    const i = Number($("#f-curseur").value);
    const key = state.months[i];
    if (!key) return;
    const win = Number($("#f-fenetre").value);
    state.filters.start = win === 0 ? "" : `${addMonths(key, 1 - win)}-01`;
    if (win === 0) state.filters.start = `${state.months[0]}-01`;
    state.filters.end = `${addMonths(key, 1)}-01`;
    showPeriod();
  }

  // ------------------------------------------------------------- filtres de suivi
  /** Filtre de suivi → champ que la couche doit avoir (et couches qui ont un délai à tenir). */
  const SUIVI = [["#f-mon-organisation", "mon-organisation", "organisation"], ["#f-assignes", "assignes", "assigned_to"],
    ["#f-en-retard", "en-retard", "deadline"]];
  const LATE_LAYERS = ["observations", "actions"];

  function suiviSupports(info, value) {
    const entry = SUIVI.find(([, v]) => v === value);
    if (!entry || !info.fields.some((f) => f.name === entry[2])) return false;
    return value !== "en-retard" || LATE_LAYERS.includes(info.name);
  }

  /** Le paramètre « suivi » d'une couche, "" sans filtre de suivi, null si la couche ne l'a pas. */
  function suiviParam(info) {
    const chosen = state.filters.suivi ? state.filters.suivi.split(",") : [];
    if (!chosen.length) return "";
    return chosen.every((v) => suiviSupports(info, v)) ? chosen.join(",") : null;
  }

  /** Sous un filtre de suivi, les couches qui ne l'ont pas sont vidées (les périmètres restent). */
  function suiviExcludes(info) {
    return info.name !== "perimetres" && suiviParam(info) === null;
  }

  function setupSuivi() {
    const s = state.session;
    const shown = Boolean(s.user && s.organisation);
    $("#f-suivi").hidden = !shown;
    if (shown) $("#f-organisation").textContent = s.organisation;
  }

  function suiviFromBoxes() {
    state.filters.suivi = SUIVI.filter(([sel]) => $(sel).checked).map(([, v]) => v).join(",");
  }

  function suiviToBoxes() {
    const chosen = (state.filters.suivi || "").split(",");
    SUIVI.forEach(([sel, v]) => { $(sel).checked = chosen.includes(v); });
  }

  function bindFilters() {
    setupSuivi();
    SUIVI.forEach(([sel]) => $(sel).addEventListener("change", () => { suiviFromBoxes(); refresh(); }));
    const changed = () => { refresh(); };
    $("#f-curseur").addEventListener("input", () => { periodFromSlider(); refreshSoon(); });
    // Sur toute la période, saisir le curseur sans le déplacer choisit aussi son mois.
    const pick = () => { if ($("#f-toute-periode").checked) { periodFromSlider(); refreshSoon(); } };
    $("#f-curseur").addEventListener("pointerup", pick);
    $("#f-curseur").addEventListener("keyup", (ev) => { if (ev.key === "End" || ev.key === "Enter") pick(); });
    $("#f-fenetre").addEventListener("change", () => { periodFromSlider(); changed(); });
    $("#f-toute-periode").addEventListener("change", (ev) => {
      if (ev.target.checked) { state.filters.start = ""; state.filters.end = ""; showPeriod(); } else periodFromSlider();
      changed();
    });
    const fromInputs = () => {
      const a = $("#f-debut").value;
      const b = $("#f-fin").value;
      state.filters.start = a ? `${a}-01` : "";
      state.filters.end = b ? `${addMonths(b, 1)}-01` : "";
      if (b && state.months.includes(b)) $("#f-curseur").value = String(state.months.indexOf(b));
      showPeriod();
      changed();
    };
    $("#f-debut").addEventListener("change", fromInputs);
    $("#f-fin").addEventListener("change", fromInputs);
    [["#f-theme", "theme"], ["#f-statut", "status"], ["#f-source", "source"], ["#f-simule", "simulated"]]
      .forEach(([sel, key]) => $(sel).addEventListener("change", (ev) => { state.filters[key] = ev.target.value; changed(); }));
    $("#f-quartier").addEventListener("change", (ev) => {
      state.filters.quartier = ev.target.value;
      const target = state.perimeters && state.perimeters.features.find((f) => f.properties.code === ev.target.value);
      if (target) map.fitBounds(L.geoJSON(target).getBounds(), { padding: [20, 20] });
      else changed();
      if (target) changed();
    });
    $("#f-chaleur").addEventListener("change", (ev) => { state.heat = ev.target.checked; changed(); });
    $("#f-reinitialiser").addEventListener("click", () => {
      Object.keys(state.filters).forEach((k) => { state.filters[k] = ""; });
      ["#f-theme", "#f-statut", "#f-source", "#f-quartier", "#f-simule"].forEach((s) => { $(s).value = ""; });
      suiviToBoxes();
      defaultPeriod();
      showPeriod();
      changed();
    });
    $("#export-vue").addEventListener("change", updateExports);
  }

  Object.assign(Q, { buildFilterChoices, buildMonths, bindFilters, showPeriod, periodFromSlider, defaultPeriod,
    suiviParam, suiviExcludes, suiviToBoxes });
}(window.qpvCarte));

/* Planificateur de diagnostics en marchant (/diagnostics/nouveau).
 *
 * Le formulaire et la carte (Leaflet) : quartier, date, départ (recherche d'adresse par
 * /api/lookup ou clic sur la carte), durée, vitesse, temps par arrêt, groupes, mode, étapes
 * obligatoires (constats ouverts, points noirs, sites NPNRU de /api/diagnostics/candidats).
 * « Calculer » demande l'aperçu (/api/diagnostics/apercu) ou, pour un grand quartier, un
 * travail « parcours » (/api/jobs) dont la page suit l'avancement ; « Enregistrer » envoie la
 * même demande à /api/diagnostics et affiche les liens (feuille PDF, GPX, page de terrain).
 * État exposé pour les tests : window.qpvPlanificateur, document.body.dataset.etat.
 */
(function () {
  "use strict";
  var CFG = JSON.parse(document.getElementById("pl-config").textContent);
  var CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var COLORS = ["#d1495b", "#1b7f3b", "#6a3d9a", "#b35806", "#0868ac", "#555555"];
  var KIND_COLORS = { constat: "#e66101", point_noir: "#5e3c99", npnru: "#0571b0", bac: "#1a9641",
    rue: "#9e9e9e", obligatoire: "#000091" };
  var KIND_LABELS = { constat: "Constat ouvert", point_noir: "Point noir", npnru: "Site NPNRU",
    bac: "Bac souvent plein", rue: "Rue non observée", obligatoire: "Arrêt demandé" };
  var LISTS = [["constat", "Constats ouverts"], ["point_noir", "Points noirs"], ["npnru", "Sites NPNRU"]];
  var POLL_MS = 500;
  var EXPIRED = "Session expirée : reconnectez-vous (le formulaire sera à refaire).";
  /** Champs de l'API → libellé et champ du formulaire (les erreurs du serveur nomment le champ de l'API). */
  var FIELDS = { quartier: ["Quartier", "pl-quartier"], date: ["Date et heure du départ", "pl-date"],
    start: ["Point de départ", "pl-adresse"], duration_min: ["Durée", "pl-duree"],
    speed_kmh: ["Vitesse", "pl-vitesse"], dwell_min: ["Temps par arrêt", "pl-arret"],
    groups: ["Groupes", "pl-groupes"], mode: ["Mode", null], mandatory: ["Étapes obligatoires", null],
    excluded: ["Arrêts retirés", null], name: ["Nom du diagnostic", "pl-nom"] };

  var state = { quartier: "", info: null, byId: {}, mandatory: [], excluded: [], start: null, calcul: "direct",
    preview: null, lastBody: null, savedBody: null, busy: false, job: null };
  var map = null;
  var layers = {};

  function $(id) { return document.getElementById(id); }
  function setEtat(value) { document.body.dataset.etat = value; }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (k === "class") { node.className = attrs[k]; }
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function fr(value, digits) {
    return Number(value).toLocaleString("fr-FR", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function plural(n, one, many) { return n + " " + (n > 1 ? many : one); }

  function message(text, isError) {
    var box = $("pl-message");
    box.textContent = text || "";
    box.classList.toggle("erreur", Boolean(isError));
    if (text === EXPIRED) {  // a link to log in again, back to this page
      box.appendChild(document.createTextNode(" "));
      box.appendChild(el("a", { href: CFG.urls.connexion, text: "Se reconnecter" }));
    }
  }

  /** Appel JSON : {ok, status, data} ; une session expirée le dit. */
  function api(url, options) {
    var opts = options || {};
    var headers = { "Accept": "application/json" };
    if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; headers["X-CSRFToken"] = CSRF; }
    return fetch(url, { method: opts.method || "GET", headers: headers, credentials: "same-origin",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (data) {
          return { ok: resp.ok, status: resp.status, data: data };
        });
      }, function () {
        return { ok: false, status: 0, data: { erreur: "Serveur injoignable : vérifiez la connexion puis réessayez." } };
      });
  }

  /** Message d'erreur en français, avec le libellé du formulaire ; le champ fautif est signalé. */
  function apiError(res) {
    if (res.status === 401) { return EXPIRED; }
    var text = (res.data && res.data.erreur) || ("Erreur " + res.status + ".");
    Object.keys(FIELDS).forEach(function (key) {
      var mark = "« " + key;
      if (text.indexOf(mark + " »") < 0 && text.indexOf(mark + "[") < 0) { return; }
      text = text.split(mark).join("« " + FIELDS[key][0]);
      if (FIELDS[key][1]) {  // le champ fautif est relié au message qui l'explique
        $(FIELDS[key][1]).setAttribute("aria-invalid", "true");
        $(FIELDS[key][1]).setAttribute("aria-describedby", "pl-message");
      }
    });
    return text;
  }

  function clearInvalid() {
    Array.prototype.forEach.call(document.querySelectorAll("[aria-invalid]"), function (n) {
      n.removeAttribute("aria-invalid");
      if (n.getAttribute("aria-describedby") === "pl-message") { n.removeAttribute("aria-describedby"); }
    });
  }

  // ---------------------------------------------------------------- carte
  function initMap() {
    if (!window.L) { $("pl-carte").textContent = "Carte indisponible (Leaflet non chargé)."; return; }
    map = L.map("pl-carte", { zoomControl: true });
    var bm = CFG.basemap || {};
    if (window.QPVFond) { window.QPVFond.addTo(map, bm); }
    map.setView([46.6, 2.5], 5);
    // the map follows the size of its box (phone layout, sticky column, header menu)
    if (window.ResizeObserver) { new ResizeObserver(function () { map.invalidateSize(); }).observe($("pl-carte")); }
    layers.contexte = L.layerGroup().addTo(map);
    layers.candidats = L.layerGroup().addTo(map);
    layers.parcours = L.layerGroup().addTo(map);
    layers.depart = L.layerGroup().addTo(map);
    legend();
    map.on("click", function (ev) {
      setStart({ lon: round(ev.latlng.lng), lat: round(ev.latlng.lat) },
        "point choisi sur la carte (" + fr(ev.latlng.lat, 5) + ", " + fr(ev.latlng.lng, 5) + ")");
    });
  }

  /** Légende repliable des points de la carte (couleurs par classes CSS : pas de style en ligne). */
  function legend() {
    var control = L.control({ position: "bottomleft" });
    control.onAdd = function () {
      var items = ["constat", "point_noir", "npnru", "bac", "rue"].map(function (k) {
        return el("li", {}, [el("span", { class: "pl-pastille pl-k-" + k }), KIND_LABELS[k]]);
      });
      items.push(el("li", {}, [el("span", { class: "pl-pastille pl-k-obligatoire" }), "Étape obligatoire"]));
      items.push(el("li", {}, [el("span", { class: "pl-symbole pl-depart-icone", text: "D" }), "Départ"]));
      items.push(el("li", {}, [el("span", { class: "pl-symbole pl-numero", text: "1" }), "Arrêt du parcours"]));
      items.push(el("li", {}, [el("span", { class: "pl-symbole dg-non-desservi", text: "×" }), "Non desservi"]));
      var box = el("details", { class: "pl-legende", id: "pl-legende" }, [el("summary", { text: "Légende" }),
        el("ul", {}, items)]);
      if (window.matchMedia && window.matchMedia("(min-width: 64rem)").matches) { box.open = true; }
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    control.addTo(map);
  }

  function round(v) { return Math.round(v * 1e6) / 1e6; }

  function setStart(point, label) {
    state.start = { lon: point.lon, lat: point.lat, label: label };
    $("pl-depart").textContent = "Départ : " + label;
    if (map) {
      layers.depart.clearLayers();
      L.marker([point.lat, point.lon], { title: "Départ", icon: L.divIcon({ className: "pl-depart-icone",
        html: "D", iconSize: [20, 20] }) }).addTo(layers.depart);
    }
    changed();
  }

  function drawContext(info) {
    if (!map) { return; }
    layers.contexte.clearLayers();
    if (info.voies) { L.geoJSON(info.voies, { style: { color: "#8c8c8c", weight: 1.5, opacity: 0.8 },
      interactive: false }).addTo(layers.contexte); }
    if (info.perimetre) {
      var outline = L.geoJSON(info.perimetre, { style: { color: "#000091", weight: 2, fill: true, fillOpacity: 0.04 },
        interactive: false }).addTo(layers.contexte);
      map.fitBounds(outline.getBounds().pad(0.05), { animate: false });
    }
  }

  function candidatePopup(c) {
    var isMandatory = state.mandatory.indexOf(c.id) >= 0;
    var isExcluded = state.excluded.indexOf(c.id) >= 0;
    var box = el("div", { class: "pl-popup" }, [
      el("p", {}, [el("b", { text: c.label })]),
      el("p", { class: "dg-petit", text: (KIND_LABELS[c.kind] || c.kind) + (c.address ? " · " + c.address : "") }),
      el("p", { class: "dg-petit", text: c.motif + (c.simulated ? " (donnée simulée)" : "") }),
    ]);
    var toggle = el("button", { type: "button", text: isMandatory ? "Ne plus l'imposer" : "Étape obligatoire" });
    toggle.addEventListener("click", function () { toggleMandatory(c.id); map.closePopup(); });
    box.appendChild(toggle);
    if (!isMandatory) {
      var drop = el("button", { type: "button", text: isExcluded ? "Remettre parmi les candidats" : "Exclure du parcours" });
      drop.addEventListener("click", function () { toggleExcluded(c.id); map.closePopup(); });
      box.appendChild(drop);
    }
    return box;
  }

  function drawCandidates() {
    if (!map) { return; }
    layers.candidats.clearLayers();
    (state.info ? state.info.candidats : []).forEach(function (c) {
      var must = state.mandatory.indexOf(c.id) >= 0;
      var out = state.excluded.indexOf(c.id) >= 0;
      var marker = L.circleMarker([c.lat, c.lon], { radius: must ? 8 : (c.kind === "rue" ? 3 : 5),
        color: must ? "#000091" : KIND_COLORS[c.kind] || "#666", weight: must ? 3 : 1,
        fillColor: KIND_COLORS[c.kind] || "#666", fillOpacity: out ? 0.1 : 0.7, bubblingMouseEvents: false });
      marker.bindPopup(function () { return candidatePopup(c); });
      marker.addTo(layers.candidats);
    });
  }

  // ---------------------------------------------------------------- quartier et candidats
  function loadQuartier(code) {
    state.quartier = code;
    state.info = null; state.byId = {}; state.mandatory = []; state.excluded = []; state.start = null;
    state.preview = null; state.lastBody = null;
    $("pl-depart").textContent = "Ou touchez la carte à l'endroit du rendez-vous.";
    $("pl-resultat").hidden = true;
    clear($("pl-listes"));
    if (map) { layers.candidats.clearLayers(); layers.parcours.clearLayers(); layers.depart.clearLayers(); }
    renderChosen();
    if (!code) { $("pl-reseau").textContent = ""; setEtat("pret"); return; }
    $("pl-reseau").textContent = "Chargement du quartier…";
    setEtat("chargement");
    api(CFG.urls.candidats + "?quartier=" + encodeURIComponent(code)).then(function (res) {
      if (state.quartier !== code) { return; }
      if (!res.ok) { $("pl-reseau").textContent = apiError(res); setEtat("pret"); return; }
      var info = res.data;
      state.info = info;
      state.calcul = info.calcul;
      info.candidats.forEach(function (c) { state.byId[c.id] = c; });
      drawContext(info);
      drawCandidates();
      renderLists();
      if (info.calcul === "impossible") {
        $("pl-reseau").textContent = info.message;
        $("pl-calculer").disabled = true;
      } else {
        $("pl-calculer").disabled = false;
        $("pl-reseau").textContent = plural(info.candidats.length, "arrêt candidat", "arrêts candidats") + " · "
          + plural(info.reseau.voies, "tronçon de voie", "tronçons de voies") + " · "
          + (info.calcul === "travail" ? "grand quartier : calcul en arrière-plan, avec son avancement"
            : "calcul immédiat");
      }
      setEtat("pret");
    });
  }

  function renderLists() {
    var box = $("pl-listes");
    clear(box);
    LISTS.forEach(function (pair) {
      var items = state.info.candidats.filter(function (c) { return c.kind === pair[0]; });
      var list = el("ul", { class: "pl-candidats" });
      items.forEach(function (c) {
        var id = "pl-oblig-" + c.id.replace(/[^A-Za-z0-9_-]/g, "_");
        var box2 = el("input", { type: "checkbox", id: id, "data-id": c.id });
        box2.checked = state.mandatory.indexOf(c.id) >= 0;
        box2.addEventListener("change", function () { toggleMandatory(c.id, box2.checked); });
        list.appendChild(el("li", {}, [
          el("label", { class: "pl-choix", for: id }, [box2, el("span", { text: c.label })]),
          el("div", { class: "dg-petit", text: (c.address ? c.address + " · " : "") + c.motif
            + (c.simulated ? " · donnée simulée" : "") }),
        ]));
      });
      var title = pair[1] + " (" + items.length + ")";
      box.appendChild(el("details", { "data-kind": pair[0] }, [el("summary", { text: title }),
        items.length ? list : el("p", { class: "dg-petit", text: "Aucun dans ce quartier." })]));
    });
  }

  function renderChosen() {
    var names = state.mandatory.map(function (id) { return (state.byId[id] || { label: id }).label; });
    $("pl-choisies").textContent = names.length ? "Imposées : " + names.join(" ; ") : "Aucune étape imposée.";
  }

  function toggleMandatory(id, on) {
    var idx = state.mandatory.indexOf(id);
    var want = on === undefined ? idx < 0 : on;
    if (want && idx < 0) {
      if (state.mandatory.length >= CFG.maxMandatory) {
        message("Au plus " + CFG.maxMandatory + " étapes obligatoires.", true);
        syncBoxes();
        return;
      }
      state.mandatory.push(id);
      state.excluded = state.excluded.filter(function (x) { return x !== id; });
    } else if (!want && idx >= 0) {
      state.mandatory.splice(idx, 1);
    }
    syncBoxes();
    renderChosen();
    drawCandidates();
    changed();
  }

  function toggleExcluded(id) {
    var idx = state.excluded.indexOf(id);
    if (idx >= 0) { state.excluded.splice(idx, 1); } else {
      state.excluded.push(id);
      state.mandatory = state.mandatory.filter(function (x) { return x !== id; });
    }
    syncBoxes();
    renderChosen();
    drawCandidates();
    changed();
  }

  function syncBoxes() {
    Array.prototype.forEach.call(document.querySelectorAll("#pl-listes input[type=checkbox]"), function (b) {
      b.checked = state.mandatory.indexOf(b.getAttribute("data-id")) >= 0;
    });
  }

  // ---------------------------------------------------------------- adresse de départ
  function searchAddress() {
    var text = $("pl-adresse").value.trim();
    if (!text) { message("Saisissez une adresse, ou touchez la carte.", true); return; }
    var url = CFG.urls.lookup + "?adresse=" + encodeURIComponent(text);
    var communes = state.info && state.info.communes;
    if (communes && communes.indexOf(",") < 0) { url += "&commune=" + encodeURIComponent(communes); }
    message("Recherche de l'adresse…");
    api(url).then(function (res) {
      if (!res.ok) { message(apiError(res), true); return; }
      var d = res.data;
      if (d.lon === null || d.lon === undefined) {
        message("Adresse introuvable : « " + text + " ». Précisez-la, ou touchez la carte.", true);
        return;
      }
      message("");
      setStart({ lon: d.lon, lat: d.lat }, (d.adresse_trouvee || text) + (d.approchee ? " (position approchée)" : ""));
      if (map) { map.setView([d.lat, d.lon], Math.max(map.getZoom(), 16)); }
    });
  }

  // ---------------------------------------------------------------- demande
  function number(id) {
    var text = $(id).value.trim().replace(",", ".");
    return text === "" ? null : Number(text);
  }

  function checkedMode() {
    var r = document.querySelector("input[name=mode]:checked");
    return r ? r.value : "priorites";
  }

  function requestBody() {
    var body = { quartier: state.quartier, date: $("pl-date").value || null,
      start: state.start ? { lon: state.start.lon, lat: state.start.lat } : null,
      duration_min: number("pl-duree"), speed_kmh: number("pl-vitesse"), dwell_min: number("pl-arret"),
      groups: number("pl-groupes"), mode: checkedMode(),
      mandatory: state.mandatory.slice(), excluded: state.excluded.slice() };
    Object.keys(body).forEach(function (k) { if (body[k] === null && k !== "start") { delete body[k]; } });
    return body;
  }

  /** Le formulaire a changé : l'aperçu affiché n'est plus celui qu'on enregistrerait. */
  function changed() {
    // walking every street is one walk: one group
    var every = checkedMode() === "toutes-les-rues";
    if (every) { $("pl-groupes").value = "1"; }
    $("pl-groupes").disabled = every;
    var stale = Boolean(state.preview) && JSON.stringify(requestBody()) !== state.lastBody;
    $("pl-perime").hidden = !stale;
    $("pl-calculer").textContent = state.preview ? "Recalculer" : "Calculer";
    $("pl-enregistrer").disabled = !state.preview || stale || state.busy || state.savedBody === state.lastBody;
  }

  function progress(percent, step) {
    $("pl-avancement").hidden = false;
    var bar = $("pl-barre");
    if (percent === null) { bar.removeAttribute("value"); } else { bar.value = percent; }
    $("pl-etape").textContent = (percent === null ? "" : percent + " % — ") + step;
  }

  function calculate(ev) {
    if (ev) { ev.preventDefault(); }
    if (state.busy) { return; }
    if (!state.quartier) { message("Choisissez d'abord un quartier.", true); return; }
    if (!state.start) { message("Choisissez le point de départ : une adresse, ou un clic sur la carte.", true); return; }
    var body = requestBody();
    state.busy = true;
    $("pl-calculer").disabled = true;
    message("");
    clearInvalid();
    setEtat("calcul");
    var done = function (res) {
      state.busy = false;
      $("pl-calculer").disabled = false;
      if (!res.ok) { message(apiError(res), true); $("pl-avancement").hidden = true; setEtat("erreur"); changed(); return; }
      $("pl-avancement").hidden = true;
      state.preview = res.data;
      state.lastBody = JSON.stringify(body);
      renderPreview(res.data);
      changed();
      // on a phone the map comes after the form: bring the route into view; on a wide screen
      // the map stays in view and the timetable comes up in the left column
      var wide = window.matchMedia && window.matchMedia("(min-width: 64rem)").matches;
      $(wide ? "pl-resultat" : "pl-carte").scrollIntoView({ block: "start" });
      setEtat("resultat");
    };
    if (state.calcul === "travail") {
      progress(0, "Travail en file d'attente");
      runJob(body).then(done);
    } else {
      progress(null, "Calcul du parcours…");
      api(CFG.urls.apercu, { method: "POST", body: body }).then(done);
    }
  }

  /** Calcul en arrière-plan : crée le travail « parcours » et suit son avancement. */
  function runJob(body) {
    return api(CFG.urls.jobs, { method: "POST", body: { kind: "parcours", params: body } }).then(function (res) {
      if (!res.ok) { return res; }
      state.job = res.data.id;
      return new Promise(function (resolve) {
        var url = res.data.links.self;
        function poll() {
          api(url).then(function (r) {
            if (!r.ok) { resolve(r); return; }
            var job = r.data;
            progress(job.progress || 0, job.step || job.state);
            if (job.state === "terminé") { api(job.links.files[0].href).then(resolve); }
            else if (job.state === "échec") { resolve({ ok: false, status: 400, data: { erreur: job.error } }); }
            else { window.setTimeout(poll, POLL_MS); }
          });
        }
        poll();
      });
    });
  }

  // ---------------------------------------------------------------- aperçu
  function stopItem(t) {
    var drop = el("button", { type: "button", "data-id": t.id, class: "pl-retirer", text: "Retirer",
      "aria-label": "Retirer l'arrêt " + t.order + " : " + t.label });
    drop.addEventListener("click", function () { toggleExcluded(t.id); drop.disabled = true; drop.textContent = "Retiré"; });
    return el("li", { "data-id": t.id }, [
      el("span", { class: "pl-rang", text: String(t.order) }),
      el("div", { class: "pl-lib" }, [
        el("b", { text: t.arrival + " " + t.label }),
        el("div", { class: "dg-petit", text: (t.address && t.address !== t.label ? t.address + " · " : "")
          + t.motif + " · départ " + t.departure }),
      ]),
      drop,
    ]);
  }

  function renderGroup(g, multi, everyStreet) {
    var color = COLORS[(g.group - 1) % COLORS.length];
    var km = fr(g.length_m / 1000, 1);
    var title = (multi ? "Groupe " + g.group + " : " : "")
      + (everyStreet ? "toutes les rues" : plural(g.timetable.length, "arrêt", "arrêts")) + " · "
      + km + " km · " + fr(g.duration_min, 0) + " min sur " + fr(g.budget_min, 0) + " prévues · retour vers " + g.end;
    var list = el("ol", { class: "pl-etapes", "data-group": String(g.group) });
    g.timetable.forEach(function (t) { list.appendChild(stopItem(t)); });
    var box = el("div", { class: "pl-groupe" }, [el("h3", { text: title })]);
    var over = Math.round(g.duration_min - g.budget_min);
    if (over > 0) {
      box.appendChild(el("p", { class: "pl-depasse", role: "note", text: "Attention : ce parcours dépasse de "
        + over + " min le temps prévu" + (everyStreet ? " : allongez la durée, ou passez en mode « Priorités »."
        : ".") }));
    }
    if (g.timetable.length) { box.appendChild(list); }
    if (g.connectors) { box.appendChild(el("p", { class: "dg-petit", text: g.connectors })); }
    if (!map) { return box; }
    g.geojson.features.forEach(function (f) {
      var p = f.properties;
      if (p.kind === "parcours") {
        L.geoJSON(f, { style: { color: color, weight: 5, opacity: 0.85 }, interactive: false }).addTo(layers.parcours);
      } else if (p.kind === "arret") {
        var c = f.geometry.coordinates;
        L.marker([c[1], c[0]], { title: p.order + ". " + p.label, icon: L.divIcon({ className: "pl-numero pl-g" + g.group,
          html: String(p.order), iconSize: [22, 22] }) }).bindPopup(el("div", { class: "pl-popup" }, [
          el("p", {}, [el("b", { text: p.order + ". " + p.label })]),
          el("p", { class: "dg-petit", text: (g.timetable[p.order - 1] || {}).motif || "" })])).addTo(layers.parcours);
      }
    });
    return box;
  }

  function renderUnserved(groups) {
    var box = $("pl-non-desservis");
    clear(box);
    var items = [];
    groups.forEach(function (g) {
      var track = g.geojson.features[0] || { properties: {} };
      (track.properties.non_desservis || []).forEach(function (u) { items.push(u); });
    });
    if (!items.length) { return; }
    var list = el("ul", { class: "pl-liste", id: "pl-non-desservis-liste" });
    items.forEach(function (u) {
      list.appendChild(el("li", {}, [el("span", {}, [el("b", { text: u.label || u.id }), " — ", u.statut || "non desservi"])]));
      if (map && u.lat !== undefined) {
        L.marker([u.lat, u.lon], { title: "Non desservi : " + (u.label || u.id), icon: L.divIcon({
          className: "dg-non-desservi", html: "×", iconSize: [22, 22] }) }).addTo(layers.parcours);
      }
    });
    box.appendChild(el("h3", { text: "Arrêts non desservis (" + items.length + ")" }));
    box.appendChild(el("p", { class: "dg-petit", text: "Trop loin des voies connues ou sur une voie non reliée : "
      + "hors parcours et hors horaire (croix grises sur la carte)." }));
    box.appendChild(list);
  }

  function renderLeftOut(rows) {
    var list = $("pl-cote-liste");
    clear(list);
    $("pl-cote-titre").textContent = "Arrêts laissés de côté (" + rows.length + ")";
    $("pl-cote").hidden = !rows.length;
    rows.slice(0, 150).forEach(function (c) {
      var back = c.why === "retiré par le planificateur";
      var btn = el("button", { type: "button", "data-id": c.id, text: back ? "Remettre" : "Ajouter",
        "aria-label": (back ? "Remettre " : "Ajouter comme étape obligatoire ") + c.label });
      btn.addEventListener("click", function () {
        if (back) { toggleExcluded(c.id); } else { toggleMandatory(c.id, true); }
        btn.disabled = true;
        btn.textContent = back ? "Remis" : "Ajouté";
      });
      list.appendChild(el("li", { "data-id": c.id }, [el("span", {}, [el("b", { text: c.label }),
        el("span", { class: "dg-petit", text: " — " + c.why + " · " + c.motif })]), btn]));
    });
    if (rows.length > 150) { list.appendChild(el("li", { class: "dg-petit", text: "… et " + (rows.length - 150) + " autres." })); }
  }

  function renderPreview(data) {
    $("pl-resultat").hidden = false;
    if (map) { layers.parcours.clearLayers(); }
    var box = $("pl-groupes-resultat");
    clear(box);
    var head = "Départ " + data.date.replace("T", " à ").replace(/^(\d{4})-(\d{2})-(\d{2})/, "$3/$2/$1")
      + " — " + data.start.label;
    box.appendChild(el("p", { class: "dg-petit", text: head }));
    if (data.coverage !== undefined && data.coverage !== null) {
      box.appendChild(el("p", { text: "Rues du quartier parcourues : " + fr(data.coverage * 100, 0) + " %" }));
    }
    data.groups.forEach(function (g) {
      box.appendChild(renderGroup(g, data.groups.length > 1, data.mode === "toutes-les-rues"));
    });
    renderUnserved(data.groups);
    renderLeftOut(data.left_out || []);
    clear($("pl-liens"));
    $("pl-enregistre").textContent = "";
    if (map && layers.parcours.getLayers().length) {
      var bounds = L.featureGroup(layers.parcours.getLayers()).getBounds();
      if (bounds.isValid()) { map.fitBounds(bounds.pad(0.1), { animate: false }); }
    }
  }

  // ---------------------------------------------------------------- enregistrement
  function save() {
    if (!state.preview || state.busy) { return; }
    var body = JSON.parse(state.lastBody);
    var name = $("pl-nom").value.trim();
    if (name) { body.name = name; }
    state.busy = true;
    changed();
    $("pl-enregistre").textContent = "Enregistrement…";
    setEtat("enregistrement");
    api(CFG.urls.enregistrer, { method: "POST", body: body }).then(function (res) {
      state.busy = false;
      if (!res.ok) {
        $("pl-enregistre").textContent = "";
        message(apiError(res), true);
        changed();
        setEtat("erreur");
        return;
      }
      state.savedBody = state.lastBody;
      changed();
      $("pl-enregistre").textContent = res.data.walks.length > 1
        ? "Diagnostic enregistré : " + res.data.walks.length + " parcours, un par groupe."
        : "Diagnostic enregistré.";
      var links = $("pl-liens");
      clear(links);
      res.data.walks.forEach(function (w) {
        links.appendChild(el("li", { "data-uid": w.uid }, [
          el("b", { text: (res.data.walks.length > 1 ? "Groupe " + w.group + " — " : "") + w.name + " : " }), " ",
          el("a", { href: w.links.sheet_pdf, class: "pl-lien-feuille", text: "Feuille de route (PDF)" }),
          el("a", { href: w.links.gpx, class: "pl-lien-gpx", text: "GPX" }),
          el("a", { href: w.links.page, class: "pl-lien-page", text: "Page de terrain" }),
        ]));
      });
      links.scrollIntoView({ block: "nearest" });
      setEtat("enregistre");
    });
  }

  // ---------------------------------------------------------------- démarrage
  initMap();
  $("pl-quartier").addEventListener("change", function () { loadQuartier(this.value); });
  $("pl-chercher").addEventListener("click", searchAddress);
  $("pl-adresse").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); searchAddress(); }
  });
  $("pl-form").addEventListener("submit", calculate);
  $("pl-form").addEventListener("input", changed);
  $("pl-form").addEventListener("change", changed);
  $("pl-enregistrer").addEventListener("click", save);
  window.qpvPlanificateur = { state: state, map: function () { return map; }, setStart: setStart };
  if ($("pl-quartier").value) { loadQuartier($("pl-quartier").value); } else { setEtat("pret"); }
  changed();
})();

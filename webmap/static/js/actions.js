/* Plan d'actions (/actions) : carte des actions et des constats qu'elles traitent, modification
 * d'une ligne (PATCH /api/actions/<uid>) et « Nouvelle action » (POST /api/actions).
 *
 * Les données viennent du JSON de la page (#ac-config) ; les textes saisis par les usagers
 * sont insérés avec textContent, jamais comme HTML. Après un enregistrement la page est
 * rechargée (avec les mêmes filtres) et le message est conservé le temps du rechargement.
 */
(function () {
  "use strict";

  var CFG = JSON.parse(document.getElementById("ac-config").textContent);
  var CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var MEMO = "qpv-actions-message";
  var message = document.getElementById("ac-message");
  var map = null;
  var placement = null; // {lon, lat} de la nouvelle action
  var placementMarker = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function dire(zone, texte, erreur) {
    if (!zone) { return; }
    zone.textContent = texte;
    zone.classList.toggle("erreur", !!erreur);
  }

  // l'erreur nommant un champ est reliée à ce champ (aria-invalid, aria-describedby) et le focus y va
  function signaler(form, zone, champ) {
    Array.prototype.forEach.call(form.querySelectorAll('[aria-invalid="true"]'), function (c) {
      c.removeAttribute("aria-invalid");
      c.removeAttribute("aria-describedby");
    });
    var cible = champ && form.elements[champ];
    if (!cible || !cible.setAttribute) { return; }
    cible.setAttribute("aria-invalid", "true");
    cible.setAttribute("aria-describedby", zone.id);
    cible.focus();
  }

  function requete(url, methode, corps) {
    return fetch(url, {
      method: methode, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": CSRF },
      body: JSON.stringify(corps)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { ok: r.ok, statut: r.status, j: j }; });
    });
  }

  function refus(res) {
    var champ = res.j && res.j.champ ? " (champ « " + res.j.champ + " »)" : "";
    var texte = (res.j && (res.j.erreur || res.j.error || res.j.message)) || ("erreur " + res.statut);
    return "Refusé : " + texte + champ;
  }

  function recharger(texte) {
    try { window.sessionStorage.setItem(MEMO, texte); } catch (e) { /* pas de stockage : tant pis */ }
    window.location.reload();
  }

  // ------------------------------------------------------------------ carte
  function popupAction(a) {
    var box = el("div", "ac-popup");
    var titre = el("p");
    titre.appendChild(el("b", null, a.reference || "sans référence"));
    titre.appendChild(document.createTextNode(" " + a.title));
    if (a.simulated) { titre.appendChild(el("span", "ac-simule", "simulé")); }
    box.appendChild(titre);
    box.appendChild(el("p", null, "État : " + a.etat + " · délai : " + a.delai));
    if (a.pilote) { box.appendChild(el("p", null, "Pilote : " + a.pilote)); }
    box.appendChild(el("p", null, a.constats.length + " constat(s) traité(s)"));
    var lien = el("a", null, "Voir la ligne du tableau");
    lien.href = "#ac-ligne-" + a.uid;
    box.appendChild(lien);
    return box;
  }

  function popupConstat(c, refs) {
    var box = el("div", "ac-popup");
    var titre = el("p");
    titre.appendChild(el("b", null, c.theme || "Constat"));
    if (c.simulated) { titre.appendChild(el("span", "ac-simule", "simulé")); }
    box.appendChild(titre);
    if (c.description) { box.appendChild(el("p", null, c.description)); }
    box.appendChild(el("p", null, (c.observed_at || "date inconnue") + " · " + (c.status || "")));
    box.appendChild(el("p", null, "Action : " + (refs.join(", ") || "—")));
    return box;
  }

  function dessinerCarte() {
    var div = document.getElementById("ac-carte");
    if (!div || typeof L === "undefined") { return; }
    map = L.map(div, { zoomControl: true });
    map.setView([46.6, 2.4], 5); // une vue avant d'ajouter les couches (Leaflet en a besoin pour les dessiner)
    var bm = CFG.basemap || {};
    if (window.QPVFond) { window.QPVFond.addTo(map, bm); }
    var bornes = L.latLngBounds([]);
    var parUid = {};
    CFG.actions.forEach(function (a) {
      parUid[a.uid] = a;
      if (!a.geometry) { return; }
      var couleur = a.late ? "#ce0500" : "#000091";
      var couche = L.geoJSON(a.geometry, {
        style: function () { return { color: couleur, weight: 2, fillOpacity: 0.15 }; },
        pointToLayer: function (f, ll) {
          return L.circleMarker(ll, { radius: 9, color: couleur, weight: 3,
                                      fillColor: a.late ? "#f95c5e" : "#6a6af4", fillOpacity: 0.9 });
        }
      }).bindPopup(popupAction(a)).addTo(map);
      bornes.extend(couche.getBounds());
    });
    CFG.constats.forEach(function (c) {
      var ll = L.latLng(c.lonlat[1], c.lonlat[0]);
      var refs = [];
      c.actions.forEach(function (uid) {
        var a = parUid[uid];
        if (!a) { return; }
        refs.push(a.reference || a.title);
        if (a.anchor) {
          L.polyline([ll, L.latLng(a.anchor[1], a.anchor[0])],
                     { color: "#8d3a00", weight: 1.5, dashArray: "4 4", interactive: false }).addTo(map);
        }
      });
      L.circleMarker(ll, { radius: 6, color: "#8d3a00", weight: 2, fillColor: "#fcc63a", fillOpacity: 0.95 })
        .bindPopup(popupConstat(c, refs)).addTo(map);
      bornes.extend(ll);
    });
    if (bornes.isValid()) { map.fitBounds(bornes.pad(0.15), { maxZoom: 17 }); }
    var nouvelle = document.getElementById("ac-nouvelle");
    if (nouvelle) { map.on("click", function (ev) { placer(ev.latlng); }); }
  }

  // ------------------------------------------------------------------ modification d'une ligne
  function initial(form) {
    var valeurs = {};
    Array.prototype.forEach.call(form.elements, function (c) { if (c.name) { valeurs[c.name] = c.value; } });
    return valeurs;
  }

  function basculer(uid, ouvrir) {
    var ligne = document.getElementById("ac-edition-" + uid);
    var bouton = document.querySelector('.ac-modifier[data-uid="' + uid + '"]');
    if (!ligne) { return; }
    ligne.hidden = !ouvrir;
    if (bouton) { bouton.setAttribute("aria-expanded", ouvrir ? "true" : "false"); }
    if (ouvrir) { var premier = ligne.querySelector("select, input"); if (premier) { premier.focus(); } }
  }

  function initEdition() {
    document.querySelectorAll(".ac-modifier").forEach(function (b) {
      b.addEventListener("click", function () { basculer(b.dataset.uid, b.getAttribute("aria-expanded") !== "true"); });
    });
    document.querySelectorAll(".ac-annuler").forEach(function (b) {
      b.addEventListener("click", function () { basculer(b.dataset.uid, false); });
    });
    document.querySelectorAll(".ac-form-edition").forEach(function (form) {
      var avant = initial(form);
      var zone = form.querySelector(".ac-message-ligne");
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var corps = {};
        Array.prototype.forEach.call(form.elements, function (c) {
          if (!c.name || c.name === "commentaire") { return; }
          if (c.value !== avant[c.name]) { corps[c.name] = c.value.trim() === "" ? null : c.value.trim(); }
        });
        var note = form.elements.commentaire.value.trim();
        signaler(form, zone, null);
        if (!Object.keys(corps).length) { dire(zone, "Aucune modification à enregistrer.", true); return; }
        if (note) { corps.commentaire = note; }
        var bouton = form.querySelector('button[type="submit"]');
        bouton.disabled = true;
        dire(zone, "Enregistrement…", false);
        requete(CFG.urls.actions + "/" + encodeURIComponent(form.dataset.uid), "PATCH", corps).then(function (res) {
          bouton.disabled = false;
          if (!res.ok) { dire(zone, refus(res), true); signaler(form, zone, res.j && res.j.champ); return; }
          var ref = form.closest("tr").previousElementSibling.dataset.reference || "";
          recharger("Action " + ref + " enregistrée.");
        }).catch(function () {
          bouton.disabled = false;
          dire(zone, "Le serveur ne répond pas.", true);
        });
      });
    });
  }

  // ------------------------------------------------------------------ nouvelle action
  function placer(latlng) {
    placement = { lon: Math.round(latlng.lng * 1e7) / 1e7, lat: Math.round(latlng.lat * 1e7) / 1e7 };
    if (placementMarker) { placementMarker.setLatLng(latlng); }
    else { placementMarker = L.marker(latlng, { title: "Emplacement de la nouvelle action" }).addTo(map); }
    document.getElementById("ac-n-position").textContent =
      "Emplacement : " + placement.lat.toFixed(5).replace(".", ",") + " N, " + placement.lon.toFixed(5).replace(".", ",") + " E.";
    document.getElementById("ac-n-effacer-position").hidden = false;
  }

  function initNouvelle() {
    var form = document.getElementById("ac-nouvelle");
    if (!form) { return; }
    var zone = document.getElementById("ac-n-message");
    var centre = document.getElementById("ac-n-centre");
    if (!map) { centre.hidden = true; }
    centre.addEventListener("click", function () { if (map) { placer(map.getCenter()); } });
    document.getElementById("ac-n-effacer-position").addEventListener("click", function (ev) {
      placement = null;
      if (placementMarker) { map.removeLayer(placementMarker); placementMarker = null; }
      document.getElementById("ac-n-position").textContent = "Emplacement : aucun.";
      ev.target.hidden = true;
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var corps = {};
      Array.prototype.forEach.call(form.elements, function (c) {
        if (c.name && c.value.trim() !== "" && c.name !== "orientation") { corps[c.name] = c.value.trim(); }
      });
      var choix = form.elements.orientation.value.split("|");
      if (choix.length === 3) {
        corps.convention = choix[0];
        corps.orientation = choix[1];
        if (choix[2]) { corps.objectif = choix[2]; }
      }
      signaler(form, zone, null);
      if (!corps.title) { dire(zone, "Indiquez l'intitulé de l'action.", true); signaler(form, zone, "title"); return; }
      if (!corps.quartier) {
        dire(zone, "Choisissez le quartier de l'action.", true);
        signaler(form, zone, "quartier");
        return;
      }
      if (placement) { corps.lon = placement.lon; corps.lat = placement.lat; }
      var bouton = document.getElementById("ac-n-creer");
      bouton.disabled = true;
      dire(zone, "Enregistrement…", false);
      requete(CFG.urls.actions, "POST", corps).then(function (res) {
        bouton.disabled = false;
        if (!res.ok) { dire(zone, refus(res), true); signaler(form, zone, res.j && res.j.champ); return; }
        var p = (res.j && res.j.properties) || res.j || {};
        recharger("Action " + (p.reference || "") + " créée.");
      }).catch(function () {
        bouton.disabled = false;
        dire(zone, "Le serveur ne répond pas.", true);
      });
    });
  }

  try {
    var memo = window.sessionStorage.getItem(MEMO);
    if (memo) { window.sessionStorage.removeItem(MEMO); dire(message, memo, false); }
  } catch (e) { /* pas de stockage */ }
  // écran large : les filtres restent dépliés ; sur un téléphone ils ne le sont que s'ils sont actifs
  var plus = document.getElementById("ac-filtres-plus");
  if (plus && window.matchMedia("(min-width: 60rem)").matches) { plus.open = true; }
  dessinerCarte();
  if (CFG.canEdit) { initEdition(); initNouvelle(); }
}());

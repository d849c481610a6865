/* Cartes interactives d'un rapport HTML (Leaflet servi localement, à côté du rapport).
   Chaque carte lit ses données dans un <script type="application/json"> ; tant que ce script
   n'a pas tourné (ou sans Leaflet), l'image statique reste affichée. Pas de fond de tuiles :
   le rapport doit s'ouvrir hors ligne. */
(function () {
  "use strict";
  if (typeof L === "undefined") return;

  function nombre(v, decimales) {
    if (v === null || v === undefined || !isFinite(v)) return "n.d.";
    return Number(v).toLocaleString("fr-FR", { maximumFractionDigits: decimales, minimumFractionDigits: decimales });
  }

  function ligne(parent, libelle, valeur) {
    var p = document.createElement("div");
    var b = document.createElement("b");
    b.textContent = libelle + " : ";
    p.appendChild(b);
    p.appendChild(document.createTextNode(valeur));
    parent.appendChild(p);
  }

  function bulle(props, titreClasse) {
    var div = document.createElement("div");
    div.className = "bulle-maille";
    ligne(div, "Événements", nombre(props.n, 0));
    ligne(div, titreClasse === "Tendance" ? "z de la tendance (Mann–Kendall)" : "z de Gi*", nombre(props.z, 2));
    ligne(div, titreClasse, props.classe);
    if (props.hors_couverture) ligne(div, "Couverture", "hors de la zone couverte par la source");
    return div;
  }

  function legende(data) {
    var ctl = L.control({ position: "bottomright" });
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "legende-carte");
      var t = document.createElement("b");
      t.textContent = data.titre_classe;
      div.appendChild(t);
      data.legende.forEach(function (e) {
        var l = document.createElement("div");
        var c = document.createElement("span");
        c.className = "pastille";
        c.style.backgroundColor = e.couleur;
        l.appendChild(c);
        l.appendChild(document.createTextNode(e.label));
        div.appendChild(l);
      });
      return div;
    };
    return ctl;
  }

  function choixQuartier(map, data) {
    if (data.quartiers.length < 2) return;
    var ctl = L.control({ position: "topright" });
    ctl.onAdd = function () {
      var sel = L.DomUtil.create("select", "choix-quartier");
      sel.setAttribute("aria-label", "Aller au quartier");
      var tous = document.createElement("option");
      tous.value = "";
      tous.textContent = "Tous les quartiers";
      sel.appendChild(tous);
      data.quartiers.forEach(function (q, i) {
        var o = document.createElement("option");
        o.value = String(i);
        o.textContent = q.nom + " (" + q.code + ")";
        sel.appendChild(o);
      });
      L.DomEvent.disableClickPropagation(sel);
      sel.addEventListener("change", function () {
        var q = data.quartiers[Number(sel.value)];
        if (sel.value === "" || !q) map.fitBounds(map._toutes);
        else map.fitBounds([[q.bbox[1], q.bbox[0]], [q.bbox[3], q.bbox[2]]], { padding: [20, 20] });
      });
      return sel;
    };
    ctl.addTo(map);
  }

  function carte(boite) {
    var data = JSON.parse(document.getElementById(boite.dataset.source).textContent);
    boite.hidden = false;
    var statique = document.getElementById(boite.dataset.statique);
    if (statique) statique.classList.add("remplacee");
    var map = L.map(boite, { attributionControl: false, zoomSnap: 0.25 });
    L.control.scale({ imperial: false, metric: true }).addTo(map);
    var fond = L.canvas({ padding: 0.2 });
    var contexte = data.contexte || {};
    if (contexte.lignes) {
      L.geoJSON(contexte.lignes, { renderer: fond, interactive: false,
                                   style: { color: "#9e9e9e", weight: 1, opacity: 0.9 } }).addTo(map);
    }
    (contexte.points || []).forEach(function (p) {
      L.circleMarker(p, { renderer: fond, radius: 1, stroke: false, fillColor: "#a8a8a8", fillOpacity: 0.9,
                          interactive: false }).addTo(map);
    });
    var cellules = L.geoJSON(data.cellules, {
      style: function (f) {
        return { color: "#9e9e9e", weight: 0.6, fillColor: f.properties.couleur,
                 fillOpacity: f.properties.niveau === 0 ? 0.25 : 0.8,
                 dashArray: f.properties.hors_couverture ? "3 3" : null };
      },
      onEachFeature: function (f, couche) { couche.bindPopup(bulle(f.properties, data.titre_classe)); }
    }).addTo(map);
    var contours = L.geoJSON(data.contours, { style: { color: "#1d3557", weight: 2, fill: false },
                                              interactive: false }).addTo(map);
    var rendu = L.canvas({ padding: 0.2 });
    data.points.forEach(function (p) {
      L.circleMarker(p, { renderer: rendu, radius: 2, stroke: false, fillColor: "#222",
                          fillOpacity: 0.7, interactive: false }).addTo(map);
    });
    var bornes = cellules.getBounds();
    if (contours.getBounds().isValid()) bornes = bornes.isValid() ? bornes.extend(contours.getBounds()) : contours.getBounds();
    map._toutes = bornes;
    if (bornes.isValid()) map.fitBounds(bornes);
    else map.setView([46.6, 2.4], 5);
    legende(data).addTo(map);
    choixQuartier(map, data);
    boite.dataset.pret = "1";
  }

  document.querySelectorAll(".carte-interactive").forEach(carte);
})();

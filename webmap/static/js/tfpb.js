/* Carte de la page TFPB (/tfpb) : actions TFPB du bailleur avec leur zone de proximité
 * (calculée par le serveur en Lambert-93) et constats des quartiers, proches ou non.
 * Données : <script type="application/json" id="tfpb-donnees">.
 * État exposé pour les tests : document.body.dataset.carte = "prete", window.qpvTfpb.
 */
(function () {
  "use strict";
  var node = document.getElementById("tfpb-donnees");
  var el = document.getElementById("tfpb-carte");
  if (!node || !el || !window.L) { return; }
  var data = JSON.parse(node.textContent);

  function escapeHtml(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function simule(p) { return p.simule ? " <em>(simulé)</em>" : ""; }

  var map = L.map(el, { zoomControl: true });
  var bm = data.basemap || {};
  if (bm.url) {
    if (window.QPVFond) { window.QPVFond.addTo(map, bm); }
  }
  var zones = L.geoJSON(data.zones, {
    style: { color: "#000091", weight: 1.5, dashArray: "4 3", fillColor: "#6a6af4", fillOpacity: 0.2,
      className: "tf-zone" }
  });
  var actions = L.geoJSON(data.actions, {
    style: { color: "#000091", weight: 2, fillOpacity: 0.4, className: "tf-action" },
    pointToLayer: function (f, latlng) {
      return L.circleMarker(latlng, { radius: 7, color: "#fff", weight: 2, fillColor: "#000091", fillOpacity: 1,
        className: "tf-action" });
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      layer.bindPopup("<b>" + escapeHtml(p.libelle) + "</b><br>Axe " + escapeHtml(p.tfpb_axe || "non renseigné")
        + " · " + escapeHtml(p.etat) + simule(p));
    }
  });
  var constats = L.geoJSON(data.constats, {
    pointToLayer: function (f, latlng) {
      var p = f.properties;
      return L.circleMarker(latlng, { radius: 5, weight: p.patrimoine ? 3 : 1,
        color: p.patrimoine ? "#161616" : "#ffffff",
        fillColor: p.proche ? "#18753c" : "#ce0500", fillOpacity: 0.9,
        className: p.proche ? "tf-constat tf-proche" : "tf-constat tf-loin" });
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      var dist = Math.round(data.distance);
      layer.bindPopup(escapeHtml(p.theme) + "<br>" + (p.proche ? "À moins de " + dist + " m d'une action"
        : "Aucune action à moins de " + dist + " m") + (p.patrimoine ? "<br>Sur le patrimoine du bailleur" : "")
        + simule(p));
    }
  });
  var bounds = zones.getBounds();
  if (constats.getLayers().length) { bounds = bounds.isValid() ? bounds.extend(constats.getBounds()) : constats.getBounds(); }
  if (bounds.isValid()) { map.fitBounds(bounds.pad(0.05)); } else { map.setView([46.6, 2.4], 5); }
  zones.addTo(map);
  constats.addTo(map);
  actions.addTo(map);
  window.qpvTfpb = { map: map, actions: actions.getLayers().length, constats: constats.getLayers().length,
    zones: zones.getLayers().length };
  document.body.dataset.carte = "prete";
})();

/*
 * Fond de plan des cartes de l'application (carte des techniciens, diagnostics, préparation
 * des parcours, plan d'actions, TFPB) : un seul endroit décide comment le fond réglé par
 * BASEMAP (webmap/views.py basemap_config) est dessiné.
 *
 *   QPVFond.addTo(map, basemap, { onUnreachable }) -> la couche ajoutée (ou null)
 *
 * basemap : { name, label, url, attribution, maxZoom } ; onUnreachable est appelé une fois
 * quand les premières tuiles échouent toutes (fond injoignable, réseau coupé).
 */
(function () {
  "use strict";

  function addTo(map, basemap, options) {
    const bm = basemap || {};
    const opts = options || {};
    if (!bm.url) return null;
    let loaded = 0;
    let failed = 0;
    let told = false;
    const layer = L.tileLayer(bm.url, { attribution: bm.attribution || "", maxZoom: bm.maxZoom || 19,
      crossOrigin: true });
    layer.on("tileload", () => { loaded += 1; });
    layer.on("tileerror", () => {
      failed += 1;
      if (!told && loaded === 0 && failed >= 3 && typeof opts.onUnreachable === "function") {
        told = true;
        opts.onUnreachable();
      }
    });
    layer.addTo(map);
    return layer;
  }

  window.QPVFond = { addTo };
}());

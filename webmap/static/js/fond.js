/*
 * Fond de plan des cartes de l'application (carte des techniciens, diagnostics, préparation
 * des parcours, plan d'actions, TFPB) : un seul endroit décide comment le fond réglé par
 * BASEMAP (webmap/basemap.py basemap_settings) est dessiné.
 *
 *   QPVFond.addTo(map, basemap, { onUnreachable }) -> la couche ajoutée (ou null)
 *   QPVFond.fitView(map, basemap) -> true quand la vue a été placée sur le fond du territoire
 *
 * basemap : { name, label, kind, url, attribution, maxZoom, maxDataZoom, bounds, center, fallback }.
 *   kind « vecteur » : tuiles vectorielles (/fond/{z}/{x}/{y}.mvt) dessinées par protomaps-leaflet
 *   avec nos propres règles (voies par classe, noms des voies à partir du zoom 15, bâtiments,
 *   adresses, contours des QPV) ; kind « raster » : L.tileLayer.
 * onUnreachable(remplacement) est appelé une fois quand les premières tuiles en ligne échouent
 * toutes (réseau coupé) ; remplacement = le fond du territoire mis à la place, ou null.
 * performance.mark("qpv-fond-premier-rendu") marque la première tuile du fond dessinée.
 */
(function () {
  "use strict";

  const stats = { drawn: 0, failed: 0, requested: 0 };
  const layers = [];  // the basemap layers added, newest last (read by the browser tests)
  const PAPER = "#f5f3ee";
  const STREET = "#ffffff";        // rues et chemins
  const STREET_MAJOR = "#f9dc8c";  // avenues, boulevards, quais, routes

  // largeur des voies (pixels) selon la classe et le zoom
  function streetWidth(z, f) {
    const c = f && f.props ? f.props.classe : "rue";
    const base = c === "principale" ? 2.0 : c === "chemin" ? 0.6 : 1.0;
    const grow = Math.max(0, z - 12);
    return base * (1 + grow * (c === "principale" ? 0.9 : 0.7));
  }

  function vectorRules(P) {
    const paint = [
      { dataLayer: "perimetres", symbolizer: new P.PolygonSymbolizer({ fill: "#ece6f3", opacity: 0.5 }) },
      { dataLayer: "batiments", minzoom: 13,
        symbolizer: new P.PolygonSymbolizer({ fill: "#dedad2", stroke: "#cbc5b9", width: 0.5 }) },
      { dataLayer: "voies", symbolizer: new P.LineSymbolizer({ color: "#b9ae98", lineCap: "round",
        width: (z, f) => streetWidth(z, f) + (z >= 14 ? 1.5 : 0.8) }) },
      { dataLayer: "voies", symbolizer: new P.LineSymbolizer({ lineCap: "round", width: streetWidth,
        color: (z, f) => (f.props.classe === "principale" ? STREET_MAJOR : STREET) }) },
      { dataLayer: "adresses", minzoom: 15, symbolizer: new P.CircleSymbolizer({ radius: 1.8, fill: "#a89f8e" }) },
      { dataLayer: "perimetres", symbolizer: new P.LineSymbolizer({ color: "#8c74b0", width: 1.2, opacity: 0.8 }) },
    ];
    const labels = [
      { dataLayer: "voies", minzoom: 15, symbolizer: new P.LineLabelSymbolizer({ labelProps: ["nom"],
        fill: "#3f3f3f", stroke: "#ffffff", width: 3, font: "500 12px sans-serif" }) },
      { dataLayer: "adresses", minzoom: 17, symbolizer: new P.CenteredTextSymbolizer({ labelProps: ["numero"],
        fill: "#5f5a50", stroke: "#ffffff", width: 2, font: "10px sans-serif" }) },
    ];
    return { paint, labels };
  }

  function firstDrawn() {
    stats.drawn += 1;
    if (stats.drawn === 1 && window.performance && performance.mark) performance.mark("qpv-fond-premier-rendu");
  }

  function vectorLayer(bm) {
    const P = window.protomapsL;
    if (!P) return null;
    const rules = vectorRules(P);
    const layer = P.leafletLayer({
      url: bm.url, paintRules: rules.paint, labelRules: rules.labels, attribution: bm.attribution || "",
      maxDataZoom: bm.maxDataZoom || 18, levelDiff: 0, backgroundColor: PAPER, maxZoom: bm.maxZoom || 20,
      tileDelay: 0,
    });
    layer.on("tileloadstart", () => { stats.requested += 1; });
    layer.on("tileload", firstDrawn);
    return layer;
  }

  function rasterLayer(bm) {
    const opts = { attribution: bm.attribution || "", maxZoom: bm.maxZoom || 19, crossOrigin: true };
    if (bm.maxDataZoom) opts.maxNativeZoom = bm.maxDataZoom;
    const layer = L.tileLayer(bm.url, opts);
    layer.on("tileloadstart", () => { stats.requested += 1; });
    layer.on("tileload", firstDrawn);
    return layer;
  }

  function addTo(map, basemap, options) {
    const bm = basemap || {};
    const opts = options || {};
    if (!bm.url) return null;
    const vector = bm.kind === "vecteur";
    const layer = vector ? vectorLayer(bm) : rasterLayer(bm);
    if (!layer) return null;
    if (!vector) {
      let loaded = 0;
      let told = false;
      layer.on("tileload", () => { loaded += 1; });
      layer.on("tileerror", () => {
        stats.failed += 1;
        if (told || loaded > 0 || stats.failed < 3) return;
        told = true;
        // fond en ligne injoignable : le fond du territoire (servi par l'application) le remplace
        let replacement = null;
        if (bm.fallback && bm.fallback.url) {
          map.removeLayer(layer);
          replacement = addTo(map, bm.fallback, {});
          if (replacement) replacement.bringToBack();
        }
        if (typeof opts.onUnreachable === "function") opts.onUnreachable(replacement ? bm.fallback : null);
      });
    }
    layer.addTo(map);
    if (layer.bringToBack) layer.bringToBack();
    layers.push(layer);
    return layer;
  }

  // sans périmètre à cadrer : la vue du fond du territoire plutôt que la France entière
  function fitView(map, basemap) {
    const bm = basemap || {};
    const c = bm.center || (bm.fallback && bm.fallback.center);
    if (!c) return false;
    map.setView([c[1], c[0]], Math.max(c[2] || 13, 12));
    return true;
  }

  window.QPVFond = { addTo, fitView, stats, layers };
}());

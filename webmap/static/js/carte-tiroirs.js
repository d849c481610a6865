/*
 * Carte des techniciens sur un écran étroit (téléphone, tablette) : les filtres, les couches,
 * la légende et la liste passent dans des tiroirs ouverts par les boutons sous la carte ; et
 * « Me localiser » (géolocalisation du navigateur) sur tous les écrans.
 *
 * Sur un écran large (900 px et plus), les filtres et la liste restent des panneaux de part et
 * d'autre de la carte, le contrôle des couches et la légende restent sur la carte.
 *
 * Publie dans window.qpvCarte (carte.js, chargé avant ce fichier) :
 *   - drawers : { narrow(), open(id), close(), toggle(id), current() } ;
 *   - locate(), here (le point et le cercle de précision) et lastPosition ({ lat, lng, accuracy, at }) après une localisation réussie ;
 *     l'événement « qpv:position » (document, detail = lastPosition) à chaque position.
 */
(function (Q) {
  "use strict";

  const { map, layerControl, legend, $, showBanner, formatNumber } = Q;
  const NARROW = window.matchMedia("(max-width: 899.98px)");
  const bar = $("#barre-tiroirs");
  const buttons = Array.from(bar.querySelectorAll("button[data-tiroir]"));
  const drawerIds = buttons.map((b) => b.dataset.tiroir);
  let openId = null;
  let narrowMode = null;

  function drawer(id) {
    return document.getElementById(id);
  }

  function buttonOf(id) {
    return buttons.find((b) => b.dataset.tiroir === id);
  }

  /** True when the page shows drawers (a narrow screen, not the list in full page). */
  function narrow() {
    return Boolean(narrowMode);
  }

  /** First control of the drawer's body (after its title bar), else its « Fermer » button. */
  function firstFocusable(box) {
    const sel = "input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea, button:not([disabled]), a[href], [tabindex='0']";
    const inBody = Array.from(box.querySelectorAll(sel))
      .find((n) => !n.closest(".tiroir-entete") && n.getClientRects().length);
    return inBody || box.querySelector(".tiroir-fermer");
  }

  function open(id) {
    if (!narrow() || !drawerIds.includes(id)) return;
    if (openId && openId !== id) close({ restoreFocus: false });
    const box = drawer(id);
    box.hidden = false;
    box.classList.add("ouvert");
    buttonOf(id).setAttribute("aria-expanded", "true");
    openId = id;
    document.body.classList.add("tiroir-ouvert");
    const target = firstFocusable(box);
    if (target) target.focus({ preventScroll: true });
  }

  /** Closes the open drawer; the focus goes back to its button unless told otherwise. */
  function close(opts) {
    if (!openId) return;
    const id = openId;
    const box = drawer(id);
    const hadFocus = box.contains(document.activeElement);
    openId = null;
    box.classList.remove("ouvert");
    if (narrow()) box.hidden = true;
    buttonOf(id).setAttribute("aria-expanded", "false");
    document.body.classList.remove("tiroir-ouvert");
    const restore = opts && opts.restoreFocus !== undefined ? opts.restoreFocus : hadFocus;
    if (restore) buttonOf(id).focus({ preventScroll: true });
  }

  function toggle(id) {
    if (openId === id) close({ restoreFocus: true });
    else open(id);
  }

  /** Moves a Leaflet control's box into a drawer (narrow) or back to its corner of the map. */
  function placeControl(control, corner, body, toDrawer) {
    const box = control.getContainer();
    if (!box) return;
    if (toDrawer) {
      if (box.parentNode !== body) body.append(box);
    } else {
      const home = map.getContainer().querySelector(corner);
      if (home && box.parentNode !== home) home.append(box);
    }
  }

  /** Applies the screen's mode: drawers (narrow) or side panels and map controls (wide). */
  function applyMode() {
    const isNarrow = NARROW.matches && !document.body.classList.contains("liste-pleine");
    if (isNarrow === narrowMode) return;
    narrowMode = isNarrow;
    close({ restoreFocus: false });
    document.body.classList.toggle("carte-etroite", isNarrow);
    placeControl(layerControl, ".leaflet-top.leaflet-right", $("#couches-corps"), isNarrow);
    placeControl(legend, ".leaflet-bottom.leaflet-left", $("#legende-corps"), isNarrow);
    if (isNarrow) {
      layerControl.expand();
      $("#legende").hidden = false;
    }
    drawerIds.forEach((id) => {
      const box = drawer(id);
      // a drawer is a (non-modal) dialog; on a wide screen, the side panels are landmarks again
      if (isNarrow) {
        box.setAttribute("role", "dialog");
        box.setAttribute("aria-modal", "false");
      } else {
        // the side panels are landmarks; the couches and légende sections are hidden there
        box.setAttribute("role", "complementary");
        box.removeAttribute("aria-modal");
      }
      box.hidden = isNarrow || id === "tiroir-couches" || id === "tiroir-legende";
    });
    // the list in full page (#liste) stays a page of its own
    // (the map, hidden under the list in full page, is measured again when it comes back)
    if (document.body.classList.contains("liste-pleine")) drawer("liste").hidden = false;
    else setTimeout(() => map.invalidateSize(), 0);
  }

  buttons.forEach((b) => b.addEventListener("click", () => toggle(b.dataset.tiroir)));
  drawerIds.forEach((id) => {
    drawer(id).querySelectorAll(".tiroir-fermer").forEach((b) => b.addEventListener("click",
      () => close({ restoreFocus: true })));
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && openId) {
      close({ restoreFocus: true });
      ev.stopPropagation();
    }
  });
  // placing a constat: the map has to be seen
  $("#bouton-ajout").addEventListener("click", () => close({ restoreFocus: false }));
  if (NARROW.addEventListener) NARROW.addEventListener("change", applyMode);
  else NARROW.addListener(applyMode);
  window.addEventListener("hashchange", applyMode);
  applyMode();

  // ---------------------------------------------------------------- me localiser
  const locateButton = $("#bouton-localiser");
  const here = {
    accuracy: L.circle([0, 0], { radius: 1, interactive: false, color: "#000091", weight: 1,
      fillColor: "#000091", fillOpacity: 0.12 }),
    point: L.circleMarker([0, 0], { radius: 8, color: "#ffffff", weight: 3, fillColor: "#000091",
      fillOpacity: 1, interactive: false }),
  };
  let locating = false;

  const GEO_ERRORS = {
    1: "Localisation refusée : autorisez l'accès à votre position dans les réglages du navigateur.",
    2: "Position indisponible : le téléphone ne trouve pas sa position (GPS, réseau).",
    3: "Position non obtenue à temps : réessayez à découvert.",
  };

  function locationError(code) {
    return GEO_ERRORS[code] || "Position indisponible.";
  }

  function showPosition(pos) {
    const c = pos.coords;
    const latlng = L.latLng(c.latitude, c.longitude);
    const accuracy = Math.max(1, Number(c.accuracy) || 0);
    Q.lastPosition = { lat: c.latitude, lng: c.longitude, accuracy, at: new Date(pos.timestamp || Date.now()).toISOString() };
    here.accuracy.setLatLng(latlng).setRadius(accuracy).addTo(map);
    here.point.setLatLng(latlng).addTo(map);
    const bounds = here.accuracy.getBounds();
    const zoom = Math.min(18, Math.max(map.getBoundsZoom(bounds), 15));
    map.setView(latlng, zoom);
    // an imprecise position says so: it is no place to drop a constat blindly
    const rounded = formatNumber(Math.round(accuracy));
    showBanner(accuracy > 100 ? `Position approximative (à ${rounded} m près).`
      : `Vous êtes ici (à ${rounded} m près).`, accuracy > 100 ? "alerte" : "info");
    document.dispatchEvent(new CustomEvent("qpv:position", { detail: Q.lastPosition }));
  }

  /** Asks the browser for the position, centres the map on it and draws it. */
  function locate() {
    if (!("geolocation" in navigator)) {
      showBanner(window.isSecureContext === false
        ? "Localisation impossible : le navigateur ne la permet que sur une connexion sécurisée (HTTPS)."
        : "Localisation impossible : ce navigateur ne donne pas la position.", "erreur");
      return;
    }
    if (locating) return;
    locating = true;
    locateButton.setAttribute("aria-busy", "true");
    showBanner("Recherche de votre position…", "info");
    navigator.geolocation.getCurrentPosition((pos) => {
      locating = false;
      locateButton.removeAttribute("aria-busy");
      showPosition(pos);
    }, (err) => {
      locating = false;
      locateButton.removeAttribute("aria-busy");
      showBanner(locationError(err && err.code), "erreur");
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });
  }

  locateButton.addEventListener("click", () => { close({ restoreFocus: false }); locate(); });

  Q.drawers = { narrow, open, close, toggle, current: () => openId };
  Q.locate = locate;
  Q.here = here;
  Q.lastPosition = null;
}(window.qpvCarte));

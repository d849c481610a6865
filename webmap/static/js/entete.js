/* En-tête commun : sur un écran étroit, le bouton « Menu » ouvre et ferme la navigation
 * (motif « disclosure » : aria-expanded sur le bouton). À l'ouverture le focus va au premier
 * lien du menu ; Échap, un clic hors de l'en-tête ou le focus qui le quitte referment le menu
 * (Échap rend le focus au bouton). « Se connecter » reste visible, menu fermé.
 */
(function () {
  "use strict";
  var header = document.getElementById("entete");
  var button = document.getElementById("entete-menu");
  var nav = document.getElementById("entete-nav");
  if (!header || !button || !nav) { return; }
  header.classList.add("entete-js");

  function isOpen() { return button.getAttribute("aria-expanded") === "true"; }

  function setOpen(open, focusTarget) {
    if (open === isOpen()) { return; }
    button.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("entete-ouverte", open);
    // la carte (Leaflet) recalcule sa taille quand l'en-tête change de hauteur
    window.dispatchEvent(new Event("resize"));
    if (focusTarget) { focusTarget.focus(); }
  }

  button.addEventListener("click", function () {
    if (isOpen()) { setOpen(false); return; }
    setOpen(true, nav.querySelector("a[href], button"));
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && isOpen()) {
      setOpen(false, button);
    }
  });
  document.addEventListener("click", function (ev) {
    if (isOpen() && !header.contains(ev.target)) { setOpen(false); }
  });
  header.addEventListener("focusout", function (ev) {
    if (isOpen() && ev.relatedTarget && !header.contains(ev.relatedTarget)) { setOpen(false); }
  });
  // le bouton n'est affiché que sur un écran étroit : en passant à un écran large, le menu se referme
  var narrow = window.matchMedia("(max-width: 48rem)");
  var onChange = function () { if (!narrow.matches) { setOpen(false); } };
  if (narrow.addEventListener) { narrow.addEventListener("change", onChange); }
})();

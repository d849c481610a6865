/* En-tête commun : sur un écran étroit, le bouton « Menu » ouvre et ferme la navigation. */
(function () {
  "use strict";
  var header = document.getElementById("entete");
  var button = document.getElementById("entete-menu");
  if (!header || !button) { return; }
  header.classList.add("entete-js");
  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    header.classList.toggle("entete-ouverte", open);
    // la carte (Leaflet) recalcule sa taille quand l'en-tête change de hauteur
    window.dispatchEvent(new Event("resize"));
  }
  button.addEventListener("click", function () {
    setOpen(button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && header.classList.contains("entete-ouverte")) {
      setOpen(false);
      button.focus();
    }
  });
})();

/* Page de connexion : une session fermée ne laisse aucune page en cache sur l'appareil.
 *
 * Affichée sans session (après une déconnexion, une session expirée), la page vide le cache
 * des pages du service worker des diagnostics (seule l'enveloppe statique reste) ; le
 * bouton « Se déconnecter » le vide avant d'envoyer le formulaire. Les constats en attente
 * dans IndexedDB restent sur l'appareil, liés à leur auteur : ils ne partiront qu'avec sa
 * session.
 */
(function () {
  "use strict";

  var PAGES_CACHE = "qpv-diagnostic-pages-v2";

  function forgetPages() {
    var jobs = [];
    if (window.caches) { jobs.push(caches.delete(PAGES_CACHE).catch(function () { return false; })); }
    if (navigator.serviceWorker && navigator.serviceWorker.getRegistration) {
      jobs.push(navigator.serviceWorker.getRegistration("/diagnostic/").then(function (reg) {
        var worker = reg && (reg.active || reg.waiting || reg.installing);
        if (worker) { worker.postMessage({ type: "deconnexion" }); }
      }).catch(function () { return null; }));
    }
    return Promise.all(jobs);
  }

  var logout = document.getElementById("form-deconnexion");
  if (logout) {
    logout.addEventListener("submit", function (ev) {
      ev.preventDefault();
      forgetPages().then(function () { logout.submit(); }, function () { logout.submit(); });
    });
  } else {
    forgetPages().then(function () { document.documentElement.dataset.cachePages = "vide"; });
  }
  window.qpvConnexion = { forgetPages: forgetPages };
})();

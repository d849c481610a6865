/* Tableau de bord d'un quartier : bouton « Générer le rapport » (travail en arrière-plan via /api/jobs). */
(function () {
  "use strict";
  var page = JSON.parse(document.getElementById("quartier-page").textContent);
  var bouton = document.getElementById("bouton-rapport");
  var suivi = document.getElementById("rapport-suivi");
  var barre = document.getElementById("rapport-progression");
  var etape = document.getElementById("rapport-etape");
  var liens = document.getElementById("rapport-liens");
  var jeton = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var ATTENTE_MS = 500;

  function afficher(travail) {
    barre.value = travail.progress || 0;
    etape.textContent = (travail.progress || 0) + " % — " + (travail.step || travail.state);
    suivi.dataset.etat = travail.state;
  }

  function terminer(travail) {
    liens.textContent = "";
    (travail.links.files || []).forEach(function (f) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = f.href;
      a.textContent = "Télécharger " + (/\.pdf$/.test(f.name) ? "le PDF" : /\.html?$/.test(f.name) ? "la page HTML" : f.name)
        + " (" + f.name + ")";
      a.className = /\.pdf$/.test(f.name) ? "lien-rapport-pdf" : "lien-rapport";
      li.appendChild(a);
      liens.appendChild(li);
    });
    bouton.disabled = false;
  }

  function erreur(message) {
    etape.textContent = "Échec : " + message;
    suivi.dataset.etat = "échec";
    bouton.disabled = false;
  }

  function suivre(url) {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (!res.ok) { erreur(res.j.error || res.j.message || "travail introuvable"); return; }
        afficher(res.j);
        if (res.j.state === "terminé") { terminer(res.j); }
        else if (res.j.state === "échec") { erreur(res.j.error || "erreur inconnue"); }
        else { window.setTimeout(function () { suivre(url); }, ATTENTE_MS); }
      })
      .catch(function () { erreur("le serveur ne répond pas"); });
  }

  bouton.addEventListener("click", function () {
    bouton.disabled = true;
    liens.textContent = "";
    suivi.hidden = false;
    barre.value = 0;
    etape.textContent = "Envoi de la demande…";
    fetch(bouton.dataset.api || "/api/jobs", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": jeton },
      body: JSON.stringify({ kind: "rapport", params: { quartier: page.quartier, periode: page.periode } })
    })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (res) {
        if (!res.ok) { erreur(res.j.error || res.j.message || "demande refusée"); return; }
        afficher(res.j);
        suivre(res.j.links.self);
      })
      .catch(function () { erreur("le serveur ne répond pas"); });
  });
})();

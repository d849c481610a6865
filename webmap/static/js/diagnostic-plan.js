/* Page d'un diagnostic : « Construire le plan d'actions » à partir de ses constats.
 *
 * Les constats cochés deviennent une nouvelle action (intitulé, orientation / objectif de la
 * convention, origine, type de réponse, pilote, partenaires, délai) ou sont rattachés à une
 * action existante du quartier, par POST /api/diagnostics/<uid>/actions
 * ({"propositions": [...]}, jeton CSRF de la page). La page est ensuite rechargée : chaque
 * constat affiche la référence de son action. Demande le réseau (pas de file hors connexion).
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("dg-config").textContent);
  var plan = config.plan;
  var nouvelle = document.getElementById("dg-plan-nouvelle");
  if (!plan || !nouvelle) { return; }
  var rattacher = document.getElementById("dg-plan-rattacher");
  var message = document.getElementById("dg-plan-message");
  var selection = document.getElementById("dg-plan-selection");
  var CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var MEMO = "qpv-plan-message";

  function cochés() {
    return Array.prototype.map.call(
      document.querySelectorAll('#dg-plan-constats input[name="constat"]:checked'),
      function (c) { return c.value; });
  }

  function dire(texte, erreur) {
    message.textContent = texte;
    message.className = "dg-message" + (erreur ? " erreur" : "");
  }

  function majSelection() {
    var n = cochés().length;
    selection.textContent = n === 0 ? "Aucun constat coché." : n + " constat(s) coché(s).";
  }

  function valeur(form, nom) {
    var champ = form.elements[nom];
    return champ ? String(champ.value || "").trim() : "";
  }

  function envoyer(proposition, bouton) {
    bouton.disabled = true;
    dire("Enregistrement…", false);
    fetch(plan.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": CSRF },
      body: JSON.stringify({ propositions: [proposition] })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { ok: r.ok, statut: r.status, j: j }; });
    }).then(function (res) {
      bouton.disabled = false;
      if (!res.ok) {
        var champ = res.j.champ ? " (champ « " + res.j.champ + " »)" : "";
        dire("Refusé : " + (res.j.erreur || res.j.error || ("erreur " + res.statut)) + champ, true);
        return;
      }
      var n = proposition.constats.length;
      try {
        window.sessionStorage.setItem(MEMO, proposition.action
          ? n + " constat(s) rattaché(s) à l'action."
          : "Action créée pour " + n + " constat(s).");
      } catch (e) { /* stockage indisponible : le rechargement suffit */ }
      window.location.reload();
    }).catch(function () {
      bouton.disabled = false;
      dire("Le serveur ne répond pas : réessayez une fois la connexion revenue.", true);
    });
  }

  document.getElementById("dg-plan-constats").addEventListener("change", majSelection);

  nouvelle.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var constats = cochés();
    if (!constats.length) { dire("Cochez au moins un constat.", true); return; }
    var titre = valeur(nouvelle, "title");
    if (!titre) { dire("Indiquez l'intitulé de l'action.", true); return; }
    var proposition = { constats: constats, title: titre };
    var choix = valeur(nouvelle, "orientation").split("|");
    if (choix.length === 3) {
      proposition.convention = choix[0];
      proposition.orientation = choix[1];
      if (choix[2]) { proposition.objectif = choix[2]; }
    }
    ["origine", "response_type", "pilote", "partenaires", "deadline"].forEach(function (nom) {
      var v = valeur(nouvelle, nom);
      if (v) { proposition[nom] = v; }
    });
    envoyer(proposition, document.getElementById("dg-pa-creer"));
  });

  if (rattacher && rattacher.elements.action) {
    rattacher.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var constats = cochés();
      if (!constats.length) { dire("Cochez au moins un constat.", true); return; }
      envoyer({ action: valeur(rattacher, "action"), constats: constats },
              document.getElementById("dg-pa-rattacher"));
    });
  }

  try {
    var memo = window.sessionStorage.getItem(MEMO);
    if (memo) {
      window.sessionStorage.removeItem(MEMO);
      dire(memo, false);
      message.scrollIntoView({ block: "center" });
    }
  } catch (e) { /* stockage indisponible */ }
  majSelection();
}());

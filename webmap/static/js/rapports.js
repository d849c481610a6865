/* Page « Rapports » : lance un rapport (API des travaux), suit son avancement, rafraîchit l'historique. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("donnees-rapports").textContent);
  var form = document.getElementById("form-rapport");
  var errorBox = document.getElementById("erreur-rapport");
  var list = document.getElementById("travaux");
  var empty = document.getElementById("travaux-vide");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var POLL_MS = 1000;
  var FAILED_SHOWN_MS = 24 * 3600 * 1000;
  var jobs = {};  // id -> dernier état connu
  var HIDDEN_KEY = "qpv-rapports-masques";

  function hiddenIds() {
    try { return JSON.parse(window.localStorage.getItem(HIDDEN_KEY) || "[]"); } catch (e) { return []; }
  }

  function hide(id) {
    var ids = hiddenIds().filter(function (x) { return x !== id; });
    ids.push(id);
    try { window.localStorage.setItem(HIDDEN_KEY, JSON.stringify(ids.slice(-50))); } catch (e) { /* privé */ }
    delete jobs[id];
    render();
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function describe(job) {
    var p = job.params || {};
    var where = p.quartier ? "Quartier " + p.quartier
      : "Tout le territoire" + (p.commune ? " — " + p.commune : "");
    return where + ", " + String(p.periode || "").replace(":", " → ");
  }

  function render() {
    list.textContent = "";
    var ids = Object.keys(jobs).sort(function (a, b) {
      return jobs[a].created < jobs[b].created ? 1 : -1;
    });
    ids.forEach(function (id) {
      var job = jobs[id];
      var item = el("li", "travail travail-" + (job.state === "échec" ? "echec"
        : job.state === "terminé" ? "termine" : "actif"));
      item.dataset.travail = id;
      item.dataset.etat = job.state;
      item.appendChild(el("p", "travail-titre", describe(job)));
      if (job.state === "échec" || job.state === "terminé") {
        item.appendChild(job.state === "échec"
          ? el("p", "travail-erreur", "Échec : " + (job.error || "erreur inconnue"))
          : el("p", "travail-etape", "Terminé : le rapport est dans l'historique."));
        var close = el("button", "travail-masquer", "Masquer");
        close.type = "button";
        close.setAttribute("aria-label", "Masquer ce travail : " + describe(job));
        close.addEventListener("click", function () { hide(id); });
        item.appendChild(close);
      } else {
        var bar = el("progress", "travail-barre");
        bar.max = 100;
        bar.value = job.progress || 0;
        bar.setAttribute("aria-label", "Avancement du rapport");
        item.appendChild(bar);
        item.appendChild(el("p", "travail-etape", (job.progress || 0) + " % — " + (job.step || job.state)));
      }
      list.appendChild(item);
    });
    empty.hidden = ids.length > 0;
  }

  function refreshHistory() {
    return fetch(window.location.pathname, {credentials: "same-origin"}).then(function (res) {
      return res.ok ? res.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("historique");
      var current = document.getElementById("historique");
      if (fresh && current) { current.replaceWith(document.importNode(fresh, true)); }
    });
  }

  function poll(id) {
    fetch(data.job.replace("ID", encodeURIComponent(id)), {credentials: "same-origin"})
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (job) {
        if (!job) { delete jobs[id]; render(); return; }
        jobs[id] = job;
        render();
        if (job.state === "en attente" || job.state === "en cours") {
          window.setTimeout(function () { poll(id); }, POLL_MS);
        } else if (job.state === "terminé") {
          refreshHistory();
        }
      })
      .catch(function () { window.setTimeout(function () { poll(id); }, POLL_MS * 5); });
  }

  function loadJobs() {
    fetch(data.jobs + "?tous=0", {credentials: "same-origin"})
      .then(function (res) { return res.ok ? res.json() : {jobs: []}; })
      .then(function (body) {
        var now = Date.now(), hidden = hiddenIds();
        (body.jobs || []).forEach(function (job) {
          if (job.kind !== "rapport" || hidden.indexOf(job.id) >= 0) { return; }
          var active = job.state === "en attente" || job.state === "en cours";
          var recentFailure = job.state === "échec" && job.finished
            && now - Date.parse(job.finished) < FAILED_SHOWN_MS;
          if (active || recentFailure) {
            jobs[job.id] = job;
            if (active) { poll(job.id); }
          }
        });
        render();
        list.dataset.charge = "oui";  // la liste reflète le serveur
      });
  }

  function scope() {
    var territory = form.querySelector("input[name=etendue]:checked").value === "territoire";
    document.getElementById("champ-quartier").hidden = territory;
    document.getElementById("champ-commune").hidden = !territory;
    return territory;
  }

  function showError(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  form.addEventListener("change", scope);
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    showError("");
    var territory = scope();
    var start = form.elements.debut.value, end = form.elements.fin.value;
    if (!/^\d{4}-\d{2}$/.test(start) || !/^\d{4}-\d{2}$/.test(end)) {
      showError("Période : indiquez le premier et le dernier mois (AAAA-MM).");
      return;
    }
    if (start > end) {
      showError("Période : le premier mois doit précéder le dernier.");
      return;
    }
    var params = {periode: start + ":" + end, couche: form.elements.couche.value,
      theme: form.elements.theme.value.trim(), pdf: form.elements.pdf.checked};
    if (territory) {
      params.territoire = true;
      if (form.elements.commune.value) { params.commune = form.elements.commune.value; }
    } else {
      params.quartier = form.elements.quartier.value;
      // hot spot statistics of a quartier report (issue 16)
      if (form.elements.inference) { params.inference = form.elements.inference.value; }
      if (form.elements.moran_local) { params.moran_local = form.elements.moran_local.checked; }
    }
    var button = document.getElementById("lancer-rapport");
    button.disabled = true;
    fetch(data.jobs, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({kind: "rapport", params: params})})
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (body) {
          if (res.status !== 202) {
            showError(body.erreur || ("Le rapport n'a pas pu être lancé (erreur " + res.status + ")."));
            return;
          }
          jobs[body.id] = body;
          render();
          poll(body.id);
        });
      })
      .catch(function () { showError("Serveur injoignable : réessayez dans un instant."); })
      .then(function () { button.disabled = false; });
  });

  document.addEventListener("submit", function (ev) {
    if (ev.target.classList && ev.target.classList.contains("form-suppression")
        && !window.confirm("Supprimer définitivement ce rapport ?")) {
      ev.preventDefault();
    }
  });

  scope();
  loadJobs();
})();

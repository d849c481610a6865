/* Page des imports (/admin/imports) : téléversement, correspondance, aperçu, travail d'import,
 * rapport de rejets et journal. Données de la page dans <script id="imports-data">. */
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("imports-data").textContent);
  var state = { fichier: null, nom: null, couche: null, form: null, correspondance: null, poll: null };

  function $(id) { return document.getElementById(id); }

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function option(value, label, selected) {
    var o = el("option", label, { value: value });
    if (selected) o.selected = true;
    return o;
  }

  function showError(message) {
    var box = $("imp-erreur");
    box.textContent = message || "";
    box.hidden = !message;
    if (message) box.scrollIntoView({ block: "center" });
  }

  function busy(button, on, label) {
    button.disabled = on;
    if (on) { button.dataset.libelle = button.textContent; button.textContent = label; }
    else if (button.dataset.libelle) button.textContent = button.dataset.libelle;
  }

  // JSON request; rejects with the French message of the server
  function call(method, url, body) {
    var options = { method: method, credentials: "same-origin",
                    headers: { "Accept": "application/json", "X-CSRFToken": data.csrf } };
    if (body instanceof FormData) options.body = body;
    else if (body !== undefined) {
      options.body = JSON.stringify(body);
      options.headers["Content-Type"] = "application/json";
    }
    return fetch(url, options).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (json) {
        if (!resp.ok) {
          var msg = json.erreur || ("Erreur " + resp.status + " du serveur.");
          if (resp.status === 413) msg = "Fichier trop lourd pour le serveur.";
          throw new Error(msg);
        }
        return json;
      });
    }, function () { throw new Error("Serveur injoignable : vérifiez la connexion et réessayez."); });
  }

  function number(n) { return Number(n || 0).toLocaleString("fr-FR"); }

  function frenchDate(text) {
    if (!text) return "";
    var m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?/.exec(String(text));
    if (!m) return String(text);
    return m[3] + "/" + m[2] + "/" + m[1] + (m[4] ? " " + m[4] + ":" + m[5] : "");
  }

  // ------------------------------------------------------------------ 1. file
  $("form-fichier").addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var input = $("imp-fichier");
    if (!input.files.length) { showError("Choisissez un fichier à importer."); return; }
    var body = new FormData();
    body.append("fichier", input.files[0]);
    var button = $("btn-televerser");
    busy(button, true, "Téléversement…");
    ["etape-correspondance", "etape-apercu", "etape-travail"].forEach(function (id) { $(id).hidden = true; });
    call("POST", "/admin/imports/fichiers", body).then(function (json) {
      state.fichier = json.fichier;
      state.nom = json.nom;
      state.couche = $("imp-couche").value;
      return loadForm("proposée");
    }).catch(function (err) { showError(err.message); })
      .then(function () { busy(button, false); });
  });

  function loadForm(base) {
    var url = "/admin/imports/correspondance?fichier=" + encodeURIComponent(state.fichier) +
      "&couche=" + encodeURIComponent(state.couche) + "&base=" + encodeURIComponent(base);
    return call("GET", url).then(function (form) {
      state.form = form;
      renderForm(form);
    });
  }

  // ------------------------------------------------------------------ 2. mapping
  function columnSelect(id, selected, withRule, ruleLabel) {
    var select = el("select", null, { id: id });
    select.appendChild(option("", "— non renseigné —", !selected && !withRule));
    if (withRule) select.appendChild(option(data.regle, "Règle : " + ruleLabel, !selected));
    state.form.colonnes.forEach(function (c) { select.appendChild(option(c, c, c === selected)); });
    return select;
  }

  function decisionBlock(field, index, value) {
    var wrap = el("span", null, { "class": "imp-decision" });
    var id = "val-" + field.nom + "-" + index;
    wrap.appendChild(el("label", "« " + value + " » devient", { "for": id }));
    var select = el("select", null, { id: id, "data-champ": field.nom, "data-valeur": value });
    select.appendChild(option("", "— laisser (lignes rejetées) —", true));
    if (field.type === "date" || field.type === "datetime") {
      select.appendChild(option(data.date_inconnue, "date inconnue (laissée vide)"));
    }
    field.valeurs_permises.forEach(function (v) { select.appendChild(option(v, v)); });
    wrap.appendChild(select);
    return wrap;
  }

  function fieldRow(field) {
    var tr = el("tr");
    var name = el("td", null, { "data-libelle": "Champ" });
    name.appendChild(el("strong", field.libelle));
    name.appendChild(document.createTextNode(" (" + field.nom + ")"));
    if (field.obligatoire && field.defaut === null) name.appendChild(el("span", " obligatoire", { "class": "imp-obligatoire" }));
    if (field.defaut !== null && field.defaut !== undefined) {
      name.appendChild(el("span", "par défaut : " + field.defaut, { "class": "imp-aide" }));
    }
    if (field.valeurs_permises.length) {
      name.appendChild(el("span", "valeurs : " + field.valeurs_permises.join(", "), { "class": "imp-aide" }));
    }
    tr.appendChild(name);
    var col = el("td", null, { "data-libelle": "Colonne du fichier" });
    var keepRule = !field.colonne && Boolean(field.regle);
    var select = columnSelect("col-" + field.nom, field.colonne, keepRule, field.regle);
    select.setAttribute("aria-label", "Colonne du fichier pour " + field.libelle);
    select.dataset.champ = field.nom;
    col.appendChild(select);
    if (field.colonne && field.regle) col.appendChild(el("span", field.regle, { "class": "imp-aide" }));
    tr.appendChild(col);
    var todo = el("td", null, { "data-libelle": "Valeurs à décider" });
    field.a_decider.forEach(function (v, i) { todo.appendChild(decisionBlock(field, i, v)); });
    if (!field.a_decider.length) todo.textContent = "—";
    tr.appendChild(todo);
    return tr;
  }

  function fillGeometry(form) {
    var vector = form.vectoriel;
    $("imp-geometrie").hidden = vector;
    $("imp-geometrie-vecteur").hidden = !vector;
    if (vector) return;
    var g = form.geometrie || {};
    var shape = g.point_dict ? "point_dict" : (g.wkt ? "wkt" : "x");
    $("geo-forme").value = shape;
    var first = g.x || g.point_dict || g.wkt || "";
    [["geo-x", first], ["geo-y", g.y || ""]].forEach(function (pair) {
      var select = $(pair[0]);
      select.textContent = "";
      select.appendChild(option("", "— choisir —", true));
      form.colonnes.forEach(function (c) { select.appendChild(option(c, c, c === pair[1] && c !== "TODO")); });
    });
    $("geo-crs").value = g.crs && g.crs !== "TODO" ? g.crs : "EPSG:4326";
    geometryShape();
  }

  function geometryShape() {
    var shape = $("geo-forme").value;
    var pair = shape === "x";
    $("geo-x-libelle").textContent = pair ? "Colonne x (longitude)" : (shape === "wkt" ? "Colonne WKT" : "Colonne du point");
    $("geo-y").hidden = !pair;
    $("geo-y-libelle").hidden = !pair;
    $("geo-crs").hidden = shape === "point_dict";
    $("geo-crs-libelle").hidden = shape === "point_dict";
  }
  $("geo-forme").addEventListener("change", geometryShape);

  function renderForm(form) {
    $("imp-fichier-info").textContent = "Fichier « " + state.nom + " » : " + form.colonnes.length +
      " colonnes, vers la couche « " + form.libelle_couche + " »" +
      (form.format_reconnu ? " (format reconnu : " + form.format_reconnu + ")" : "") + ".";
    var base = $("imp-base");
    base.textContent = "";
    form.correspondances.forEach(function (name) {
      base.appendChild(option(name, name === "proposée" ? "proposée d'après les colonnes du fichier" : name,
                              name === form.base));
    });
    fillGeometry(form);
    var ident = $("imp-identifiant");
    ident.textContent = "";
    ident.appendChild(option("", "— aucun (ligne reconnue par son contenu) —", !form.identifiant));
    form.colonnes.forEach(function (c) { ident.appendChild(option(c, c, c === form.identifiant)); });
    var body = $("imp-champs").querySelector("tbody");
    body.textContent = "";
    form.champs.forEach(function (f) { body.appendChild(fieldRow(f)); });
    $("etape-correspondance").hidden = false;
    $("etape-apercu").hidden = true;
    $("etape-correspondance").scrollIntoView({ block: "start" });
  }

  // another layer for the file already uploaded: its own proposal
  $("imp-couche").addEventListener("change", function () {
    if (!state.fichier) return;
    showError("");
    state.couche = $("imp-couche").value;
    $("etape-travail").hidden = true;
    loadForm("proposée").catch(function (err) { showError(err.message); });
  });

  $("imp-base").addEventListener("change", function () {
    showError("");
    loadForm($("imp-base").value).catch(function (err) { showError(err.message); });
  });

  function choices() {
    var columns = {};
    var values = {};
    document.querySelectorAll("#imp-champs select[id^='col-']").forEach(function (s) {
      columns[s.dataset.champ] = s.value;
    });
    document.querySelectorAll("#imp-champs select[id^='val-']").forEach(function (s) {
      values[s.dataset.champ] = values[s.dataset.champ] || {};
      values[s.dataset.champ][s.dataset.valeur] = s.value;
    });
    var out = { base: $("imp-base").value, colonnes: columns, valeurs: values,
                identifiant: $("imp-identifiant").value };
    if (!state.form.vectoriel) {
      var shape = $("geo-forme").value;
      var g = {};
      if (shape === "x") { g.x = $("geo-x").value; g.y = $("geo-y").value; g.crs = $("geo-crs").value; }
      else { g[shape] = $("geo-x").value; if (shape === "wkt") g.crs = $("geo-crs").value; }
      out.geometrie = g;
    }
    return out;
  }

  // ------------------------------------------------------------------ 3. preview
  // French label of a field of the layer being imported (« geometry »: the location)
  function fieldLabel(name) {
    if (!name) return "—";
    if (name === "geometry") return "Emplacement";
    var found = ((state.form || {}).champs || []).filter(function (f) { return f.nom === name; })[0];
    return found ? found.libelle + " (" + name + ")" : name;
  }

  function layerLabel(name) {
    var found = data.couches.filter(function (c) { return c.nom === name; })[0];
    return found ? found.libelle : name;
  }

  function rejectRows(tbody, rejects) {
    tbody.textContent = "";
    rejects.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", r.ligne, { "data-libelle": "Ligne" }));
      tr.appendChild(el("td", fieldLabel(r.champ), { "data-libelle": "Champ" }));
      tr.appendChild(el("td", r.valeur || "—", { "data-libelle": "Valeur" }));
      tr.appendChild(el("td", r.motif, { "data-libelle": "Motif" }));
      tbody.appendChild(tr);
    });
  }

  function renderPreview(preview) {
    $("apercu-resume").textContent = number(preview.lues) + " lignes lues : " + number(preview.valides) +
      " seront enregistrées (ou sont déjà dans l'entrepôt), " + number(preview.rejetees) + " seront rejetées." +
      (preview.colonnes_inutilisees.length ? " Colonnes non utilisées : " + preview.colonnes_inutilisees.join(", ") + "." : "");
    var table = $("apercu-table");
    table.textContent = "";
    var head = el("tr");
    head.appendChild(el("th", "Ligne", { scope: "col" }));
    preview.champs.forEach(function (f) { head.appendChild(el("th", f.libelle, { scope: "col" })); });
    table.appendChild(el("thead")).appendChild(head);
    var body = table.appendChild(el("tbody"));
    preview.lignes.forEach(function (line) {
      var tr = el("tr", null, line.etat === "valide" ? {} : { "class": "imp-rejetee" });
      tr.appendChild(el("th", line.ligne, { scope: "row" }));
      if (line.etat === "valide") {
        preview.champs.forEach(function (f) {
          var v = line.valeurs[f.nom];
          var isDate = /_at$|^first_seen$|^deadline$/.test(f.nom);
          var cell = el("td", v === null || v === undefined ? "" : (isDate ? frenchDate(v) : v));
          if (isDate) cell.className = "imp-date";
          tr.appendChild(cell);
        });
      } else {
        var reasons = line.motifs.map(function (m) { return m.motif; }).join(" ; ");
        var td = el("td", null, { colspan: String(Math.max(preview.champs.length, 1)) });
        td.appendChild(el("span", "Rejetée : " + reasons, { "class": "imp-motif" }));
        tr.appendChild(td);
      }
      body.appendChild(tr);
    });
    $("apercu-rejets-bloc").hidden = !preview.rejets.length;
    rejectRows($("apercu-rejets").querySelector("tbody"), preview.rejets);
    $("etape-apercu").hidden = false;
    $("etape-apercu").scrollIntoView({ block: "start" });
  }

  $("btn-apercu").addEventListener("click", function () {
    showError("");
    var button = $("btn-apercu");
    busy(button, true, "Calcul de l'aperçu…");
    call("POST", "/admin/imports/apercu", { fichier: state.fichier, couche: state.couche, choix: choices() })
      .then(function (json) {
        state.correspondance = json.correspondance;
        renderPreview(json.apercu);
      }).catch(function (err) { $("etape-apercu").hidden = true; showError(err.message); })
      .then(function () { busy(button, false); });
  });

  // ------------------------------------------------------------------ 4. job
  function renderJob(job) {
    $("travail-barre").value = job.progress || 0;
    $("travail-etape").textContent = job.state === "terminé" ? "Import terminé." :
      (job.state === "échec" ? "Échec de l'import." : (job.progress || 0) + " % — " + (job.step || job.state));
    var resume = $("travail-resume");
    resume.className = "";
    if (job.state === "échec") {
      resume.className = "imp-resume-echec";
      resume.textContent = job.error || "Échec sans message.";
      return true;
    }
    if (job.state !== "terminé") return false;
    var r = job.result || {};
    resume.className = r.rien_importe ? "imp-resume-echec" : "imp-resume-ok";
    resume.textContent = number(r.lues) + " lignes lues : " + number(r.ajoutees) + " ajoutées, " +
      number(r.deja_presentes) + " déjà présentes, " + number(r.rejetees) + " rejetées." +
      (r.rien_importe ? " Aucune ligne importée : corrigez la correspondance ou le fichier." : "");
    var rejects = r.rejets || [];
    $("travail-rejets-bloc").hidden = !rejects.length;
    rejectRows($("travail-rejets").querySelector("tbody"), rejects);
    var csv = (job.links.files || []).filter(function (f) { return /\.csv$/.test(f.name); })[0];
    var link = $("lien-rejets-csv");
    link.hidden = !csv;
    if (csv) { link.href = csv.href; link.setAttribute("download", csv.name); }
    refreshLog();
    return true;
  }

  function follow(url) {
    call("GET", url).then(function (job) {
      if (!renderJob(job)) state.poll = window.setTimeout(function () { follow(url); }, 500);
      else busy($("btn-importer"), false);
    }).catch(function (err) {
      showError(err.message);
      busy($("btn-importer"), false);
    });
  }

  $("btn-importer").addEventListener("click", function () {
    showError("");
    var button = $("btn-importer");
    busy(button, true, "Import en cours…");
    $("travail-rejets-bloc").hidden = true;
    $("travail-resume").textContent = "";
    $("travail-barre").value = 0;
    $("etape-travail").hidden = false;
    var params = { fichier: state.fichier, couche: state.couche, correspondance: state.correspondance,
                   strict: $("imp-strict").checked };
    call("POST", "/api/jobs", { kind: "import", params: params }).then(function (job) {
      renderJob(job);
      $("etape-travail").scrollIntoView({ block: "start" });
      follow(job.links.self);
    }).catch(function (err) { showError(err.message); busy(button, false); });
  });

  $("btn-nouveau").addEventListener("click", function () {
    ["etape-correspondance", "etape-apercu", "etape-travail"].forEach(function (id) { $(id).hidden = true; });
    $("form-fichier").reset();
    state.fichier = null;
    $("etape-fichier").scrollIntoView({ block: "start" });
  });

  // ------------------------------------------------------------------ log
  function renderLog(entries) {
    var body = $("journal-table").querySelector("tbody");
    body.textContent = "";
    entries.forEach(function (e) {
      var tr = el("tr");
      [["Quand", frenchDate(e.finished_at)], ["Qui", e.actor || "n.d."], ["Fichier", e.file_name],
       ["Couche", layerLabel(e.layer)], ["Lues", number(e.n_read)], ["Ajoutées", number(e.n_inserted)],
       ["Déjà présentes", number(e.n_existing)], ["Rejetées", number(e.n_rejected)]].forEach(function (c) {
        tr.appendChild(el("td", c[1], { "data-libelle": c[0] }));
      });
      body.appendChild(tr);
    });
    $("journal-table").hidden = !entries.length;
    $("journal-vide").hidden = Boolean(entries.length);
  }

  function refreshLog() {
    call("GET", "/admin/imports/journal").then(function (json) { renderLog(json.imports); })
      .catch(function (err) { showError(err.message); });
  }

  renderLog(data.journal);
}());

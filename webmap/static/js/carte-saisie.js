/*
 * Carte des techniciens — saisie et fiche des constats : historique, changement de statut, formulaires
 * des tables filles (dépôts, relevés), placement et formulaire d'un nouveau constat.
 * Fonctions communes et état : window.qpvCarte (carte.js, chargé avant ce fichier).
 */
(function (Q) {
  "use strict";

  const { CFG, state, map, $, el, api, formatNumber, formatValue, monthKey, monthLabel, addMonths,
    newUid, showBanner, invalidate, refresh, refreshSoon, canEdit, updateExports } = Q;

  function historyBlock(info, props) {
    const block = el("div", { class: "historique" });
    const list = el("ol", { class: "historique-liste" }, [el("li", { text: "Chargement de l'historique…" })]);
    block.append(el("h4", { text: "Historique des statuts" }), list);
    const load = () => api(`${CFG.urls.api}/observations/${encodeURIComponent(props.uid)}/history`)
      .then((rows) => {
        const items = Array.isArray(rows) ? rows : (rows && (rows.historique || rows.history || rows.items)) || [];
        list.replaceChildren(...(items.length ? items.map((h) => el("li", {}, [
          el("strong", { text: h.status }), ` — ${formatValue(h.changed_at, "datetime")}`,
          h.changed_by ? ` par ${h.changed_by}` : "", h.comment ? el("em", { text: ` « ${h.comment} »` }) : null,
        ])) : [el("li", { text: "Aucun changement enregistré." })]));
      })
      .catch((e) => list.replaceChildren(el("li", { class: "erreur", text: e.message })));
    load();
    if (canEdit()) {
      const statusField = info.fields.find((f) => f.name === "status");
      const select = el("select", { name: "status", "aria-label": "Nouveau statut" },
        ((statusField && statusField.choices) || []).map((c) => el("option", { value: c, text: c })));
      select.value = props.status || "";
      const comment = el("input", { type: "text", name: "comment", placeholder: "Commentaire", "aria-label": "Commentaire" });
      const msg = el("p", { class: "message", role: "status" });
      const form = el("form", { class: "form-statut" }, [
        el("label", { text: "Statut " }, [select]), comment,
        el("button", { type: "submit", text: "Changer le statut" }), msg,
      ]);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        msg.textContent = "Enregistrement…";
        msg.className = "message";
        try {
          await api(`${CFG.urls.api}/observations/${encodeURIComponent(props.uid)}`,
            { method: "PATCH", json: { status: select.value, comment: comment.value } });
          props.status = select.value;
          invalidate();
          msg.textContent = "Statut enregistré.";
          comment.value = "";
          load();
          refresh();
        } catch (e) {
          showFormError(form, msg, e);
        }
      });
      block.append(form);
    }
    return block;
  }

  function showFormError(form, msg, err) {
    msg.textContent = err.message;
    msg.className = "message erreur";
    form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    if (err.champ) {
      const input = form.querySelector(`[name="${err.champ}"]`);
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    }
  }

  function localDateTimeValue(d) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function fieldInput(f) {
    if (f.choices) {
      return el("select", { name: f.name, required: f.required },
        [f.required ? null : el("option", { value: "", text: "—" })].concat(
          f.choices.map((c) => el("option", { value: c, text: c }))));
    }
    if (f.type === "datetime") {
      return el("input", { type: "datetime-local", name: f.name, required: f.required,
        value: f.required ? localDateTimeValue(new Date()) : null });
    }
    if (f.type === "date") return el("input", { type: "date", name: f.name, required: f.required });
    if (f.type === "float" || f.type === "int") {
      return el("input", { type: "number", name: f.name, required: f.required, step: f.type === "int" ? "1" : "any",
        min: f.minimum === null ? null : String(f.minimum), max: f.maximum === null ? null : String(f.maximum) });
    }
    return el("input", { type: "text", name: f.name, required: f.required });
  }

  function childForm(child, uid, url, title) {
    const fields = CFG.forms[child];
    const msg = el("p", { class: "message", role: "status" });
    const form = el("form", { class: `form-enfant form-${child}` }, [el("h4", { text: title })].concat(
      fields.map((f) => el("label", {}, [`${f.label}${f.required ? " *" : ""} `, fieldInput(f)])),
      [el("button", { type: "submit", text: "Enregistrer" }), msg]));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {};
      fields.forEach((f) => {
        const v = form.elements[f.name].value;
        if (v === "") return;
        if (f.type === "float" || f.type === "int") body[f.name] = Number(v);
        else if (f.type === "datetime") body[f.name] = v.length === 16 ? `${v}:00` : v; // heure locale
        else body[f.name] = v;
      });
      msg.textContent = "Enregistrement…";
      msg.className = "message";
      try {
        await api(url, { method: "POST", json: body });
        msg.textContent = "Enregistré.";
        form.reset();
      } catch (e) {
        showFormError(form, msg, e);
      }
    });
    return form;
  }

  function setPlacing(on) {
    state.placing = on;
    $("#carte").classList.toggle("mode-ajout", on);
    $("#aide-ajout").hidden = !on;
    $("#bouton-ajout").setAttribute("aria-pressed", on ? "true" : "false");
  }

  /** Vérifie les photos choisies : nombre, type et taille (le serveur vérifie aussi). */
  function checkPhotos(files) {
    const p = CFG.photos;
    if (files.length > p.max) return `Au plus ${p.max} photos par constat.`;
    for (const f of files) {
      if (!p.types.includes(f.type)) return `« ${f.name} » n'est pas une photo JPEG, PNG ou WebP.`;
      if (f.size > p.maxBytes) {
        return `« ${f.name} » dépasse la taille autorisée (${formatNumber(Math.round(p.maxBytes / 1048576))} Mo).`;
      }
    }
    return "";
  }

  function observationForm(latlng) {
    const info = state.byName.observations;
    const themeField = info && info.fields.find((f) => f.name === "theme");
    const theme = el("select", { name: "theme", required: true, id: "ajout-theme" },
      [el("option", { value: "", text: "— choisir un thème —" })].concat(
        ((themeField && themeField.choices) || []).map((c) => el("option", { value: c, text: c }))));
    const description = el("textarea", { name: "description", rows: "3", id: "ajout-description" });
    const photos = el("input", { type: "file", name: "photos", id: "ajout-photos", multiple: true,
      accept: CFG.photos.types.join(",") });
    const msg = el("p", { class: "message", role: "status", id: "ajout-message" });
    const form = el("form", { class: "form-ajout", id: "form-ajout" }, [
      el("h3", { text: "Nouveau constat" }),
      el("p", { class: "aide", text: `Position : ${latlng.lat.toFixed(5)}, ${latlng.lng.toFixed(5)}` }),
      el("label", { for: "ajout-theme", text: "Thème *" }), theme,
      el("label", { for: "ajout-description", text: "Description" }), description,
      el("label", { for: "ajout-photos", text: `Photos (${CFG.photos.max} au plus, JPEG, PNG ou WebP)` }), photos,
      el("button", { type: "submit", text: "Enregistrer le constat" }), msg,
    ]);
    photos.addEventListener("change", () => {
      const problem = checkPhotos(Array.from(photos.files));
      photos.setCustomValidity(problem);
      msg.textContent = problem;
      msg.className = problem ? "message erreur" : "message";
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const files = Array.from(photos.files);
      const problem = checkPhotos(files);
      if (problem) { showFormError(form, msg, Object.assign(new Error(problem), { champ: "photos" })); return; }
      if (!theme.value) { showFormError(form, msg, Object.assign(new Error("Choisissez un thème."), { champ: "theme" })); return; }
      const data = new FormData();
      data.append("uid", newUid());
      data.append("lon", latlng.lng.toFixed(7));
      data.append("lat", latlng.lat.toFixed(7));
      data.append("theme", theme.value);
      data.append("description", description.value);
      files.forEach((f) => data.append("photos", f, f.name));
      msg.textContent = "Envoi…";
      msg.className = "message";
      try {
        const res = await api(`${CFG.urls.api}/observations`, { method: "POST", body: data });
        map.closePopup();
        showBanner(`Constat enregistré (${res.uid}).`, "succes");
        state.lastCreated = res.uid;
        state.byName.observations.count = Number(state.byName.observations.count || 0) + 1;
        invalidate();
        refresh();
      } catch (e) {
        showFormError(form, msg, e);
      }
    });
    return form;
  }

  /** Ouvre le formulaire de saisie d'un constat à la position cliquée. */
  function placeAt(latlng) {
    setPlacing(false);
    L.popup({ maxWidth: 360, minWidth: 280, closeOnClick: false }).setLatLng(latlng)
      .setContent(observationForm(latlng)).openOn(map);
  }

  map.on("click", (ev) => { if (state.placing) placeAt(ev.latlng); });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && state.placing) setPlacing(false); });

  $("#bouton-ajout").addEventListener("click", () => setPlacing(!state.placing));

  Object.assign(Q, { historyBlock, childForm, showFormError, fieldInput, setPlacing, placeAt });
}(window.qpvCarte));

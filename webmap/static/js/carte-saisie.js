/*
 * Carte des techniciens — le constat entier : formulaire de saisie et de modification (panneau
 * #fiche-saisie : plein écran sur un téléphone, panneau latéral sur un ordinateur), adresse la plus
 * proche, historique des modifications en mots, doublons, changement de statut, formulaires des
 * tables filles (dépôts, relevés), placement. Après toute modification, la fiche ouverte et la liste
 * sont redessinées à partir du serveur.
 * Fonctions communes et état : window.qpvCarte (carte.js, chargé avant ce fichier).
 */
(function (Q) {
  "use strict";

  const { CFG, state, map, $, el, api, formatNumber, formatValue, newUid, showBanner, invalidate, refresh,
    canEdit } = Q;
  const OBS = "observations";
  const NEAR_DUPLICATE_M = 150;
  let choices = null; // listes du formulaire (/api/constats/choix), demandées une fois

  // ------------------------------------------------------------------ utilitaires
  function fieldOf(name) {
    const info = state.byName[OBS];
    return info && info.fields.find((f) => f.name === name);
  }

  function labelOf(name) {
    const special = { geometry: "Position", doublons: "Doublon fusionné" };
    if (special[name]) return special[name];
    const f = fieldOf(name);
    return (f && f.label) || name;
  }

  /** Un constat en mots : « propreté » — 12 rue des Pyrénées (jamais son identifiant). */
  function constatWords(props) {
    let text = `« ${props.theme || "constat"} »`;
    if (props.address) text += ` — ${props.address}`;
    return text;
  }

  function valueWords(name, value) {
    if (value === null || value === undefined || value === "") return "vide";
    if (name === "photos") {
      let list = value;
      if (typeof list === "string") { try { list = JSON.parse(list); } catch (e) { list = [list]; } }
      return Array.isArray(list) ? `${list.length} photo${list.length > 1 ? "s" : ""}` : "photos";
    }
    if (name === "duplicate_of" || name === "doublons") return "un autre constat";
    const f = fieldOf(name);
    const text = formatValue(value, f ? f.type : "str");
    return text.length > 80 ? `${text.slice(0, 77)}…` : text;
  }

  /** « Pilote : ville → bailleur », « Position : déplacée de 12 m ». */
  function changeWords(name, pair) {
    const [before, after] = Array.isArray(pair) ? pair : [null, pair];
    if (name === "geometry") {
      if (Array.isArray(before) && Array.isArray(after)) {
        const d = Math.hypot(after[0] - before[0], after[1] - before[1]);
        return `Position : déplacée de ${formatNumber(Math.round(d))} m`;
      }
      return "Position : modifiée";
    }
    if (name === "duplicate_of") return after ? "Fermé comme doublon" : "N'est plus un doublon";
    if (name === "doublons") return "Doublon fusionné dans ce constat";
    return `${labelOf(name)} : ${valueWords(name, before)} → ${valueWords(name, after)}`;
  }

  function latlngOf(feat) {
    const c = feat && feat.geometry && feat.geometry.coordinates;
    return c ? L.latLng(c[1], c[0]) : null;
  }

  async function fetchConstat(uid) {
    return api(`${CFG.urls.api}/observations/${encodeURIComponent(uid)}`);
  }

  /** Ouvre la fiche d'un autre constat (lien « doublon de »). */
  async function openConstat(uid) {
    try {
      const feat = await fetchConstat(uid);
      const at = latlngOf(feat);
      if (at && !map.getBounds().contains(at)) map.panTo(at);
      Q.openFiche(state.byName[OBS], feat, at || map.getCenter());
    } catch (e) {
      showBanner(e.message, "erreur");
    }
  }

  /** Après une écriture : relit le constat, redessine sa fiche ouverte, puis la carte et la liste. */
  async function afterChange(uid) {
    invalidate();
    try {
      const feat = await fetchConstat(uid);
      map.eachLayer((layer) => {
        if (!(layer instanceof L.Popup) || !layer.isOpen()) return;
        const box = layer.getContent();
        if (!(box instanceof Element) || box.dataset.uid !== uid) return;
        const at = latlngOf(feat);
        if (at) layer.setLatLng(at);
        layer.setContent(Q.popupContent(state.byName[OBS], feat));
        layer.update();
      });
    } catch (e) {
      console.error(e);
    }
    await refresh();
  }

  // ------------------------------------------------------------------ historique
  function historyItem(h) {
    const parts = [el("strong", { text: h.status }), ` — ${formatValue(h.changed_at, "datetime")}`,
      h.changed_by ? ` par ${h.changed_by}` : ""];
    if (h.comment) parts.push(el("em", { text: ` « ${h.comment} »` }));
    const changes = h.changes && typeof h.changes === "object" ? Object.entries(h.changes) : [];
    if (changes.length) {
      parts.push(el("ul", { class: "historique-changements" },
        changes.map(([name, pair]) => el("li", { text: changeWords(name, pair) }))));
    }
    return el("li", {}, parts);
  }

  function duplicateLinks(props) {
    const box = el("div", { class: "doublons" });
    if (props.duplicate_of) {
      box.append(el("p", {}, ["Doublon de : ", el("button", { type: "button", class: "lien-bouton lien-doublon",
        text: "ouvrir le constat gardé", onclick: () => openConstat(props.duplicate_of) })]));
    }
    const merged = el("p", { class: "doublons-fusionnes", hidden: true });
    box.append(merged);
    if (!fieldOf("duplicate_of")) return box; // a profile that hides the field: no query on it
    const p = new URLSearchParams({ duplicate_of: props.uid, limit: "20" });
    api(`${CFG.urls.api}/layers/${OBS}/features?${p}`).then((gj) => {
      const feats = (gj.features || []).filter((f) => f.properties && f.properties.uid);
      if (!feats.length) return;
      merged.replaceChildren("Doublons fusionnés : ", ...feats.flatMap((f, i) => [i ? ", " : "",
        el("button", { type: "button", class: "lien-bouton lien-doublon", text: constatWords(f.properties),
          onclick: () => openConstat(f.properties.uid) })]));
      merged.hidden = false;
    }).catch((e) => console.error(e));
    return box;
  }

  function historyBlock(info, props, feat) {
    const block = el("div", { class: "historique" });
    block.append(duplicateLinks(props));
    const list = el("ol", { class: "historique-liste" }, [el("li", { text: "Chargement de l'historique…" })]);
    block.append(el("h4", { text: "Historique" }), list);
    const load = () => api(`${CFG.urls.api}/observations/${encodeURIComponent(props.uid)}/history`)
      .then((rows) => {
        const items = Array.isArray(rows) ? rows : [];
        list.replaceChildren(...(items.length ? items.map(historyItem)
          : [el("li", { text: "Aucun changement enregistré." })]));
      })
      .catch((e) => list.replaceChildren(el("li", { class: "erreur", text: e.message })));
    load();
    if (canEdit()) block.append(statusForm(info, props), editActions(props, feat));
    return block;
  }

  function statusForm(info, props) {
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
        showBanner(`Statut du constat ${constatWords(props)} : ${select.value}.`, "succes");
        await afterChange(props.uid);
      } catch (e) {
        showFormError(form, msg, e);
      }
    });
    return form;
  }

  function editActions(props, feat) {
    const box = el("div", { class: "actions-constat" });
    box.append(el("button", { type: "button", class: "bouton-modifier", text: "Modifier le constat",
      onclick: () => openSheet({ mode: "edit", props }) }));
    if (!props.duplicate_of) box.append(duplicateForm(props, feat));
    return box;
  }

  /** Constats proches (données chargées de la vue), candidats « doublon de ». */
  function nearbyConstats(props, feat) {
    const data = state.data[OBS];
    const here = latlngOf(feat);
    const records = ((data && data.records) || []).filter((f) => f.properties && f.properties.uid
      && f.properties.uid !== props.uid && !f.properties.duplicate_of && !f.properties.cluster);
    const withDistance = records.map((f) => ({ f, d: here ? map.distance(here, latlngOf(f)) : 0 }));
    return withDistance.filter((x) => !here || x.d <= NEAR_DUPLICATE_M).sort((a, b) => a.d - b.d).slice(0, 30);
  }

  function duplicateForm(props, feat) {
    const id = `doublon-${props.uid}`;
    const select = el("select", { id, name: "de" });
    const msg = el("p", { class: "message", role: "status" });
    const form = el("form", { class: "form-doublon" }, [
      el("label", { for: id, text: "Ce constat est le doublon de" }), select,
      el("button", { type: "submit", text: "Fusionner dans ce constat" }), msg,
    ]);
    const fill = () => {
      const near = nearbyConstats(props, feat);
      select.replaceChildren(el("option", { value: "", text: near.length ? "— choisir un constat proche —"
        : `aucun constat à moins de ${NEAR_DUPLICATE_M} m dans la vue` }), ...near.map(({ f, d }) => el("option", {
        value: f.properties.uid,
        text: `${constatWords(f.properties)} (${formatValue(f.properties.observed_at, "date")}, ${Math.round(d)} m)`,
      })));
    };
    fill();
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!select.value) {
        showFormError(form, msg, Object.assign(new Error("Choisissez le constat gardé."), { champ: "de" }));
        return;
      }
      msg.textContent = "Fusion…";
      msg.className = "message";
      try {
        const res = await api(`${CFG.urls.api}/observations/${encodeURIComponent(props.uid)}/doublon`,
          { method: "POST", json: { de: select.value } });
        showBanner(res.message, "succes");
        await afterChange(props.uid);
      } catch (e) {
        showFormError(form, msg, e);
      }
    });
    return form;
  }

  function showFormError(form, msg, err) {
    msg.textContent = err.message;
    msg.className = "message erreur";
    form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    form.querySelectorAll(".erreur-champ").forEach((n) => { n.textContent = ""; n.hidden = true; });
    if (!err.champ) return;
    const input = form.querySelector(`[name="${CSS.escape(err.champ)}"]`);
    const near = form.querySelector(`[data-erreur-de="${CSS.escape(err.champ)}"]`);
    if (near) { near.textContent = err.message; near.hidden = false; }
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
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

  // ------------------------------------------------------- le formulaire (#fiche-saisie)
  async function loadChoices() {
    if (choices) return choices;
    try {
      choices = await api(`${CFG.urls.api}/constats/choix`);
    } catch (e) {
      console.error(e);
      choices = { pilotes: [], partenaires: [], organisations: [], domanialites: [], sous_themes: {} };
    }
    return choices;
  }

  /** Un champ étiqueté avec sa place d'erreur (le serveur nomme le champ fautif : « champ »). */
  function row(name, label, input, help) {
    const id = `saisie-${name}`;
    input.id = id;
    const err = el("p", { class: "erreur-champ erreur", id: `${id}-erreur`, "data-erreur-de": name, hidden: true });
    const describedBy = [help ? `${id}-aide` : null, `${id}-erreur`].filter(Boolean).join(" ");
    input.setAttribute("aria-describedby", describedBy);
    return el("div", { class: `champ champ-${name}` }, [el("label", { for: id, text: label }), input,
      help ? el("p", { class: "aide", id: `${id}-aide`, text: help }) : null, err]);
  }

  function options(values, current, empty) {
    const list = values.slice();
    if (current && !list.includes(current)) list.push(current);
    return [empty ? el("option", { value: "", text: empty }) : null].concat(
      list.map((c) => el("option", { value: c, text: c })));
  }

  function lastPosition() {
    const p = Q.lastPosition;
    if (!p) return null;
    const lat = p.lat !== undefined ? p.lat : p.latitude;
    const lng = p.lng !== undefined ? p.lng : (p.lon !== undefined ? p.lon : p.longitude);
    return Number.isFinite(lat) && Number.isFinite(lng) ? L.latLng(lat, lng) : null;
  }

  function today() {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }

  let opener = null; // l'élément à qui rendre le focus à la fermeture

  function closeSheet() {
    const sheet = $("#fiche-saisie");
    if (!sheet || sheet.hidden) return;
    sheet.hidden = true;
    document.body.classList.remove("saisie-ouverte");
    $("#fiche-saisie-corps").replaceChildren();
    if (opener && document.contains(opener)) opener.focus();
    else if ($("#bouton-ajout")) $("#bouton-ajout").focus();
    opener = null;
    setTimeout(() => map.invalidateSize(), 0);
  }

  /**
   * Ouvre le formulaire : { mode: "create", latlng } ou { mode: "edit", props }.
   * Même composant pour la saisie et la modification.
   */
  async function openSheet(opts) {
    const sheet = $("#fiche-saisie");
    const body = $("#fiche-saisie-corps");
    opener = document.activeElement;
    const edit = opts.mode === "edit";
    const props = edit ? opts.props : {};
    $("#fiche-saisie-titre").textContent = edit ? `Modifier le constat ${constatWords(props)}` : "Nouveau constat";
    body.replaceChildren(el("p", { class: "aide", text: "Chargement du formulaire…" }));
    sheet.hidden = false;
    document.body.classList.add("saisie-ouverte");
    $("#fiche-saisie-titre").focus();
    const lists = await loadChoices();
    body.replaceChildren(buildForm(edit, props, opts.latlng || null, lists));
    setTimeout(() => map.invalidateSize(), 0);
  }

  function buildForm(edit, props, startAt, lists) {
    let position = startAt;
    let addressTouched = Boolean(edit && props.address);
    const posText = el("p", { class: "position", id: "saisie-position-texte" });
    const showPosition = () => {
      posText.textContent = position ? `Position : ${position.lat.toFixed(5)}, ${position.lng.toFixed(5)}`
        : "Position : inchangée.";
    };
    showPosition();
    const address = el("input", { type: "text", name: "address", maxlength: "300", autocomplete: "off",
      value: props.address || "" });
    const addressHelp = row("address", "Adresse", address, edit ? "Modifiable." : "Recherche de l'adresse la plus proche…");
    const addressNote = addressHelp.querySelector(".aide");
    address.addEventListener("input", () => { addressTouched = true; });
    const fillAddress = async () => {
      if (!position || addressTouched) return;
      addressNote.textContent = "Recherche de l'adresse la plus proche…";
      try {
        const p = new URLSearchParams({ lon: position.lng.toFixed(7), lat: position.lat.toFixed(7) });
        const res = await api(`${CFG.urls.api}/adresses/proche?${p}`);
        if (addressTouched) return;
        address.value = res.adresse || "";
        addressNote.textContent = res.adresse ? `${res.message} Modifiable.` : `${res.message} Saisissez-la si besoin.`;
      } catch (e) {
        addressNote.textContent = `Adresse non trouvée (${e.message}). Saisissez-la si besoin.`;
      }
    };
    const setPosition = (latlng) => {
      position = latlng;
      showPosition();
      addressTouched = false;
      fillAddress();
    };
    const geoButton = el("button", { type: "button", class: "bouton-secondaire", text: "Utiliser ma position" });
    geoButton.addEventListener("click", () => {
      const known = lastPosition();
      if (known) { setPosition(known); return; }
      if (!navigator.geolocation) { posText.textContent = "Position indisponible sur cet appareil."; return; }
      posText.textContent = "Recherche de votre position…";
      navigator.geolocation.getCurrentPosition((p) => setPosition(L.latLng(p.coords.latitude, p.coords.longitude)),
        () => { showPosition(); posText.textContent += " (votre position n'a pas pu être lue)"; },
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
    });

    const themeField = fieldOf("theme");
    const theme = el("select", { name: "theme", required: true },
      options((themeField && themeField.choices) || [], props.theme, "— choisir un thème —"));
    theme.value = props.theme || "";
    const subList = el("datalist", { id: "saisie-sous-themes" });
    const subtheme = el("input", { type: "text", name: "subtheme", list: "saisie-sous-themes", maxlength: "200",
      autocomplete: "off", value: props.subtheme || "" });
    const fillSubthemes = () => subList.replaceChildren(...((lists.sous_themes || {})[theme.value] || [])
      .map((s) => el("option", { value: s })));
    theme.addEventListener("change", fillSubthemes);
    fillSubthemes();
    const description = el("textarea", { name: "description", rows: "3", maxlength: "5000" });
    description.value = props.description || "";
    const pilote = el("select", { name: "pilote" }, options(lists.pilotes || [], props.pilote, "— aucun —"));
    pilote.value = props.pilote || "";
    const partners = (props.partenaires || "").split(",").map((s) => s.trim()).filter(Boolean);
    const partnerNames = Array.from(new Set([...(lists.organisations || []), ...partners]));
    const partnerBoxes = partnerNames.map((name, i) => el("label", { class: "case", for: `saisie-partenaire-${i}` }, [
      el("input", { type: "checkbox", id: `saisie-partenaire-${i}`, value: name, checked: partners.includes(name) }),
      ` ${name}`]));
    const partnersSet = el("fieldset", { class: "champ champ-partenaires", id: "saisie-partenaires" }, [
      el("legend", { text: "Partenaires" }), el("div", { class: "cases" }, partnerBoxes),
      el("input", { type: "hidden", name: "partenaires" }),
      el("p", { class: "erreur-champ erreur", "data-erreur-de": "partenaires", hidden: true })]);
    const domField = fieldOf("domanialite");
    const domanialite = el("select", { name: "domanialite" },
      options((domField && domField.choices) || lists.domanialites || [], props.domanialite, "—"));
    domanialite.value = props.domanialite || "";
    const observedDay = props.observed_at ? String(props.observed_at).slice(0, 10) : today();
    const deadline = el("input", { type: "date", name: "deadline", min: observedDay,
      value: props.deadline ? String(props.deadline).slice(0, 10) : "" });
    const assigned = el("select", { name: "assigned_to" }, options(lists.organisations || [], props.assigned_to, "—"));
    assigned.value = props.assigned_to || "";

    const statusField = fieldOf("status");
    const status = el("select", { name: "status" }, options((statusField && statusField.choices) || [], props.status));
    status.value = props.status || "";
    const comment = el("input", { type: "text", name: "comment", maxlength: "2000", autocomplete: "off" });
    const photos = el("input", { type: "file", name: "photos", multiple: true, accept: CFG.photos.types.join(",") });

    const msg = el("p", { class: "message", role: "status", id: "saisie-message" });
    const form = el("form", { class: "form-saisie", id: "form-saisie", novalidate: true }, [
      el("div", { class: "champ champ-position" }, [posText, geoButton,
        edit ? null : el("p", { class: "aide", text: "Ou fermez ce panneau et touchez la carte à l'endroit du constat." }),
        el("p", { class: "erreur-champ erreur", "data-erreur-de": "lon", hidden: true }),
        el("p", { class: "erreur-champ erreur", "data-erreur-de": "lat", hidden: true })]),
      addressHelp,
      row("theme", "Thème *", theme),
      row("subtheme", "Sous-thème", subtheme, "Choisissez une suggestion ou saisissez-le."), subList,
      row("description", "Description", description),
      row("pilote", "Pilote", pilote),
      partnersSet,
      row("domanialite", "Domanialité", domanialite),
      row("deadline", "Délai (échéance)", deadline, `Pas avant le ${formatValue(observedDay, "date")}.`),
      row("assigned_to", "Attribué à", assigned),
      edit ? row("status", "Statut", status) : null,
      edit ? row("comment", "Commentaire (gardé dans l'historique)", comment) : null,
      edit ? null : row("photos", `Photos (${CFG.photos.max} au plus, JPEG, PNG ou WebP)`, photos),
      el("div", { class: "boutons" }, [
        el("button", { type: "submit", text: edit ? "Enregistrer les modifications" : "Enregistrer le constat" }),
        el("button", { type: "button", class: "bouton-secondaire", text: "Annuler", onclick: closeSheet }),
      ]),
      msg,
    ]);
    photos.addEventListener("change", () => {
      const problem = checkPhotos(Array.from(photos.files));
      photos.setCustomValidity(problem);
      msg.textContent = problem;
      msg.className = problem ? "message erreur" : "message";
    });
    const values = () => ({
      theme: theme.value, subtheme: subtheme.value.trim(), description: description.value.trim(),
      address: address.value.trim(), pilote: pilote.value, domanialite: domanialite.value,
      deadline: deadline.value, assigned_to: assigned.value,
      partenaires: partnerBoxes.map((b) => b.querySelector("input")).filter((c) => c.checked).map((c) => c.value).join(", "),
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const v = values();
      if (!v.theme) { showFormError(form, msg, Object.assign(new Error("Choisissez un thème."), { champ: "theme" })); return; }
      if (v.deadline && v.deadline < observedDay) {
        showFormError(form, msg, Object.assign(new Error("Le délai précède la date du constat."), { champ: "deadline" }));
        return;
      }
      msg.textContent = "Enregistrement…";
      msg.className = "message";
      try {
        if (edit) await saveEdit(props, v, { status: status.value, comment: comment.value.trim(), position });
        else await saveNew(v, position, Array.from(photos.files), form, msg);
      } catch (e) {
        showFormError(form, msg, e);
      }
    });
    if (!edit) fillAddress();
    return form;
  }

  async function saveNew(v, position, files, form, msg) {
    const problem = checkPhotos(files);
    if (problem) { showFormError(form, msg, Object.assign(new Error(problem), { champ: "photos" })); return; }
    if (!position) {
      showFormError(form, msg, Object.assign(new Error("Choisissez la position : touchez la carte ou utilisez votre position."), { champ: "lon" }));
      return;
    }
    const data = new FormData();
    data.append("uid", newUid());
    data.append("lon", position.lng.toFixed(7));
    data.append("lat", position.lat.toFixed(7));
    Object.entries(v).forEach(([k, value]) => { if (value) data.append(k, value); });
    files.forEach((f) => data.append("photos", f, f.name));
    const res = await api(`${CFG.urls.api}/observations`, { method: "POST", body: data });
    closeSheet();
    showBanner(`Constat « ${v.theme} » enregistré${v.address ? ` — ${v.address}` : ""}.`, "succes");
    state.lastCreated = res.uid;
    state.byName[OBS].count = Number(state.byName[OBS].count || 0) + 1;
    await afterChange(res.uid);
  }

  async function saveEdit(props, v, extra) {
    const body = {};
    const partnerSet = (text) => (text || "").split(",").map((s) => s.trim()).filter(Boolean).sort().join(",");
    Object.entries(v).forEach(([k, value]) => {
      const before = k === "deadline" && props[k] ? String(props[k]).slice(0, 10) : (props[k] || "");
      if (k === "partenaires" ? partnerSet(value) !== partnerSet(before) : value !== before) {
        body[k] = value === "" ? null : value;
      }
    });
    if (extra.status && extra.status !== props.status) body.status = extra.status;
    if (!Object.keys(body).length) {
      closeSheet();
      showBanner(`Aucune modification du constat ${constatWords(props)}.`, "info");
      return;
    }
    if (extra.comment) body.comment = extra.comment;
    if (extra.position) { body.lon = Number(extra.position.lng.toFixed(7)); body.lat = Number(extra.position.lat.toFixed(7)); }
    const feat = await api(`${CFG.urls.api}/observations/${encodeURIComponent(props.uid)}`, { method: "PATCH", json: body });
    closeSheet();
    showBanner(`Constat ${constatWords(feat.properties || props)} modifié.`, "succes");
    await afterChange(props.uid);
  }

  /** Ouvre le formulaire de saisie d'un constat à la position choisie. */
  function placeAt(latlng) {
    setPlacing(false);
    openSheet({ mode: "create", latlng });
  }

  map.on("click", (ev) => { if (state.placing) placeAt(ev.latlng); });
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape") return;
    if (state.placing) setPlacing(false);
    else if ($("#fiche-saisie") && !$("#fiche-saisie").hidden) closeSheet();
  });
  const fermer = $("#fiche-saisie-fermer");
  if (fermer) fermer.addEventListener("click", closeSheet);

  $("#bouton-ajout").addEventListener("click", () => setPlacing(!state.placing));

  Object.assign(Q, { historyBlock, childForm, showFormError, fieldInput, setPlacing, placeAt, openSheet, closeSheet,
    afterChange, openConstat });
}(window.qpvCarte));

/*
 * Carte des techniciens — suivi dans les fiches : frise des dépôts d'un point noir (volumes,
 * enlèvements, délais) et remplissage d'un bac (relevés et levées), en graphiques SVG construits
 * par le DOM (aucun attribut style : CSP) avec leur équivalent en texte.
 * Fonctions communes et état : window.qpvCarte (carte.js, chargé avant ce fichier).
 */
(function (Q) {
  "use strict";

  const { CFG, el, api, frDate } = Q;
  const SVG = "http://www.w3.org/2000/svg";
  const W = 300;
  const H = 110;
  const PAD = { left: 40, right: 6, top: 8, bottom: 20 };
  const LIST_MAX = 30;
  const DAY_MS = 86400000;
  let chartId = 0;

  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => { if (v !== null && v !== undefined) node.setAttribute(k, String(v)); });
    (children || []).forEach((c) => node.append(c));
    return node;
  }

  function num(value, digits) {
    return Number(value).toLocaleString("fr-FR", { maximumFractionDigits: digits });
  }

  function time(value) {
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : t;
  }

  function known(value) {
    return value !== null && value !== undefined && value !== "" && Number.isFinite(Number(value));
  }

  /** Cadre commun : axes, graduations (min/max du temps, 0 et max des valeurs), titre accessible. */
  function frame(id, label, t0, t1, vmax, unit) {
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": id, class: "graphe",
      focusable: "false" });
    const x = (t) => PAD.left + ((t - t0) / Math.max(t1 - t0, 1)) * (W - PAD.left - PAD.right);
    const y = (v) => H - PAD.bottom - (v / Math.max(vmax, 1e-9)) * (H - PAD.top - PAD.bottom);
    root.append(
      svg("title", {}, [label]),
      svg("line", { class: "grille", x1: PAD.left, x2: W - PAD.right, y1: y(vmax), y2: y(vmax) }),
      svg("line", { class: "axe", x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0) }),
      svg("line", { class: "axe", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: y(0) }),
      svg("text", { class: "etiquette", x: PAD.left - 3, y: y(vmax) + 3, "text-anchor": "end" }, [`${num(vmax, 1)}${unit}`]),
      svg("text", { class: "etiquette", x: PAD.left - 3, y: y(0) + 3, "text-anchor": "end" }, [`0${unit}`]),
      svg("text", { class: "etiquette", x: PAD.left, y: H - 5 }, [frDate(new Date(t0).toISOString())]),
      svg("text", { class: "etiquette", x: W - PAD.right, y: H - 5, "text-anchor": "end" }, [frDate(new Date(t1).toISOString())]),
    );
    return { root, x, y };
  }

  function section(title) {
    const box = el("section", { class: "suivi-fiche", "aria-live": "polite" }, [el("h4", { text: title })]);
    const wait = el("p", { class: "resume", text: "Chargement…" });
    box.append(wait);
    return { box, wait };
  }

  // ------------------------------------------------------------------ point noir
  function delayDays(ev) {
    const a = time(ev.observed_at);
    const b = time(ev.cleaned_at);
    return a !== null && b !== null && b >= a ? (b - a) / DAY_MS : null;
  }

  function eventLine(ev) {
    const parts = [frDate(ev.observed_at)];
    parts.push(known(ev.volume_m3) ? `${num(ev.volume_m3, 2)} m³` : "volume n.d.");
    if (ev.waste_type) parts.push(ev.waste_type);
    const delay = delayDays(ev);
    parts.push(ev.cleaned_at ? `enlevé le ${frDate(ev.cleaned_at)} (${num(delay, 1)} j)` : "enlèvement non renseigné");
    const li = el("li", {}, [parts.join(" — ")]);
    if (!known(ev.volume_m3)) li.classList.add("nd");
    if (ev.simulated) li.append(" ", el("span", { class: "simule-mention", text: "(simulé)" }));
    return li;
  }

  function eventsSummary(events) {
    const vols = events.filter((e) => known(e.volume_m3)).map((e) => Number(e.volume_m3));
    const unknown = events.length - vols.length;
    const delays = events.map(delayDays).filter((d) => d !== null);
    const simulated = events.filter((e) => e.simulated).length;
    const n = events.length;
    let text = `${n} dépôt${n > 1 ? "s" : ""} du ${frDate(events[0].observed_at)} au ${frDate(events[n - 1].observed_at)}`;
    text += vols.length ? ` ; volume total ${num(vols.reduce((a, b) => a + b, 0), 1)} m³` : " ; volume n.d.";
    if (vols.length && unknown) text += ` (${unknown} dépôt${unknown > 1 ? "s" : ""} de volume n.d., non compté${unknown > 1 ? "s" : ""})`;
    text += delays.length ? ` ; délai moyen d'enlèvement ${num(delays.reduce((a, b) => a + b, 0) / delays.length, 1)} j`
      : " ; délai d'enlèvement n.d.";
    if (simulated) text += simulated === n ? " ; données simulées." : ` ; ${simulated} dépôt${simulated > 1 ? "s" : ""} simulé${simulated > 1 ? "s" : ""}.`;
    else text += ".";
    return text;
  }

  /** Volumes au fil du temps : une barre par dépôt ; volume inconnu = un losange creux sur l'axe, jamais une barre à 0. */
  function eventsChart(events, id) {
    const times = events.map((e) => time(e.observed_at)).filter((t) => t !== null);
    const t0 = Math.min(...times);
    const t1 = Math.max(...times, t0 + DAY_MS);
    const vmax = Math.max(...events.filter((e) => known(e.volume_m3)).map((e) => Number(e.volume_m3)), 1);
    const { root, x, y } = frame(id, "Volumes des dépôts au fil du temps", t0, t1, vmax, " m³");
    events.forEach((e) => {
      const t = time(e.observed_at);
      if (t === null) return;
      const cx = x(t);
      if (known(e.volume_m3)) {
        const top = y(Number(e.volume_m3));
        root.append(svg("rect", { class: `barre${e.simulated ? " simule" : ""}`, x: cx - 1.5, y: top, width: 3,
          height: Math.max(y(0) - top, 0.5) }, [svg("title", {}, [`${frDate(e.observed_at)} : ${num(e.volume_m3, 2)} m³${e.simulated ? " (simulé)" : ""}`])]));
      } else {
        const b = y(0);
        root.append(svg("path", { class: "inconnu", d: `M${cx} ${b - 4}L${cx + 3} ${b}L${cx} ${b + 4}L${cx - 3} ${b}Z` },
          [svg("title", {}, [`${frDate(e.observed_at)} : volume n.d.`])]));
      }
    });
    return root;
  }

  function pointNoirBlock(props) {
    const { box, wait } = section("Dépôts constatés");
    api(`${CFG.urls.api}/points_noirs/${encodeURIComponent(props.uid)}/evenements`).then((rows) => {
      const events = (rows || []).filter((e) => time(e.observed_at) !== null);
      if (!events.length) { wait.textContent = "Aucun dépôt enregistré sur ce point noir."; return; }
      const id = `graphe-suivi-${++chartId}`;
      wait.id = id;
      wait.textContent = eventsSummary(events);
      box.append(eventsChart(events, id), el("p", { class: "legende-graphe",
        text: "Barres : volume de chaque dépôt (claires : simulés) ; losange orange : volume n.d." }));
      const newest = events.slice().reverse();
      // a scrolling list: focusable, so that a keyboard can scroll it
      const ol = el("ol", { "aria-label": "Dépôts, du plus récent au plus ancien", tabindex: "0" }, newest.slice(0, LIST_MAX).map(eventLine));
      box.append(ol);
      if (newest.length > LIST_MAX) box.append(el("p", { class: "resume", text: `… et ${newest.length - LIST_MAX} dépôts plus anciens (export CSV de la couche pour le détail).` }));
    }).catch((e) => { wait.textContent = `Dépôts indisponibles : ${e.message}`; });
    return box;
  }

  // ----------------------------------------------------------------------- bac
  /** Remplissage moyen au dernier relevé avant chaque levée (relevé de moins de 7 jours). */
  function meanBeforeCollection(readings, collections) {
    const values = [];
    let j = 0;
    let last = null;
    collections.forEach((c) => {
      const tc = time(c.collected_at);
      while (j < readings.length && time(readings[j].measured_at) <= tc) { last = readings[j]; j += 1; }
      if (last && tc - time(last.measured_at) <= 7 * DAY_MS && known(last.fill_pct)) values.push(Number(last.fill_pct));
    });
    return values.length ? { mean: values.reduce((a, b) => a + b, 0) / values.length, n: values.length } : null;
  }

  function binSummary(readings, collections) {
    const parts = [];
    if (readings.length) {
      const last = readings[readings.length - 1];
      parts.push(`Dernier relevé : ${known(last.fill_pct) ? `${num(last.fill_pct, 0)} %` : "n.d."} le ${frDate(last.measured_at)}`
        + `${last.simulated ? " (simulé)" : ""} ; ${readings.length} relevé${readings.length > 1 ? "s" : ""}`);
    } else parts.push("Aucun relevé de remplissage");
    if (collections.length) {
      const m = meanBeforeCollection(readings, collections);
      parts.push(`${collections.length} levée${collections.length > 1 ? "s" : ""}, la dernière le ${frDate(collections[collections.length - 1].collected_at)}`);
      parts.push(m ? `remplissage moyen avant levée : ${num(m.mean, 0)} % (sur ${m.n} levée${m.n > 1 ? "s" : ""} précédée${m.n > 1 ? "s" : ""} d'un relevé)`
        : "remplissage avant levée n.d. (pas de relevé dans les 7 jours précédents)");
    } else parts.push("aucune levée enregistrée");
    const sim = readings.filter((r) => r.simulated).length + collections.filter((c) => c.simulated).length;
    const total = readings.length + collections.length;
    return `${parts.join(" ; ")}${sim ? (sim === total ? " ; données simulées." : ` ; ${sim} ligne${sim > 1 ? "s" : ""} simulée${sim > 1 ? "s" : ""}.`) : "."}`;
  }

  /** Remplissage (%) des 90 derniers jours de relevés, levées en traits verticaux. */
  function binChart(readings, collections, id) {
    const end = Math.max(...readings.map((r) => time(r.measured_at)), ...collections.map((c) => time(c.collected_at)));
    const start = end - 90 * DAY_MS;
    const rs = readings.filter((r) => time(r.measured_at) >= start && known(r.fill_pct));
    const cs = collections.filter((c) => time(c.collected_at) >= start);
    const t0 = Math.min(...rs.map((r) => time(r.measured_at)), ...cs.map((c) => time(c.collected_at)), end);
    const { root, x, y } = frame(id, "Remplissage du bac (90 derniers jours) et levées", t0, Math.max(end, t0 + DAY_MS), 100, " %");
    cs.forEach((c) => root.append(svg("line", { class: "levee", x1: x(time(c.collected_at)), x2: x(time(c.collected_at)), y1: y(100), y2: y(0) },
      [svg("title", {}, [`Levée le ${frDate(c.collected_at)}${c.simulated ? " (simulée)" : ""}`])])));
    if (rs.length > 1) root.append(svg("polyline", { class: "courbe", points: rs.map((r) => `${x(time(r.measured_at)).toFixed(1)},${y(Number(r.fill_pct)).toFixed(1)}`).join(" ") }));
    rs.forEach((r) => root.append(svg("circle", { class: `point${r.simulated ? " simule" : ""}`, cx: x(time(r.measured_at)), cy: y(Number(r.fill_pct)), r: 1.8 },
      [svg("title", {}, [`${frDate(r.measured_at)} : ${num(r.fill_pct, 0)} %${r.simulated ? " (simulé)" : ""}`])])));
    return root;
  }

  function bacBlock(props) {
    const { box, wait } = section("Remplissage et levées");
    const base = `${CFG.urls.api}/bacs/${encodeURIComponent(props.uid)}`;
    Promise.all([api(`${base}/releves`), api(`${base}/levees`)]).then(([r, c]) => {
      const readings = (r || []).filter((x) => time(x.measured_at) !== null);
      const collections = (c || []).filter((x) => time(x.collected_at) !== null);
      if (!readings.length && !collections.length) { wait.textContent = "Aucun relevé ni levée enregistrés pour ce bac."; return; }
      const id = `graphe-suivi-${++chartId}`;
      wait.id = id;
      wait.textContent = binSummary(readings, collections);
      box.append(binChart(readings, collections, id), el("p", { class: "legende-graphe",
        text: "Courbe : remplissage (%) des 90 derniers jours (points creux : simulés) ; pointillés : levées." }));
    }).catch((e) => { wait.textContent = `Relevés indisponibles : ${e.message}`; });
    return box;
  }

  /** Bloc de suivi de la fiche (carte.js : popupContent), ou null pour les autres couches. */
  function suiviBlock(info, props) {
    if (info.name === "points_noirs") return pointNoirBlock(props);
    if (info.name === "bacs") return bacBlock(props);
    return null;
  }

  Object.assign(Q, { suiviBlock });
}(window.qpvCarte));

"""The plan d'actions page ``/actions``: the actions of a quartier and a period, table and map.

Readers see the plan (filters état, pilote, partenaire, orientation, « en retard »); the
techniciens edit it: each row opens a form sent to ``PATCH /api/actions/<uid>``, and
« Nouvelle action » posts to ``POST /api/actions`` (the JSON API of
:mod:`webmap.actions_api`, which applies the organisation rules). The page carries its
data as JSON (``static/js/actions.js`` draws the map: the actions, the constats they
answer and a line from each constat to its action); the table is rendered here, so it reads
without JavaScript. On a phone the table becomes cards (``static/css/actions.css``).

Late rows say « en retard depuis le … » (délai passed, état « à engager », « engagée » or
« reportée »); an action without délai says « sans délai », never late. Simulated rows say
« simulé » on each row, popup and card.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import pandas as pd
from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue

from layers.schema import ACTION_STATES
from layers.store.base import LayerStore
from webmap._action_forms import form_config
from webmap.access import allow, can_see, current_role, has_role
from webmap.store import get_store
from webmap.views import basemap_config

logger = logging.getLogger(__name__)
bp = Blueprint("actions_pages", __name__)

#: Filters of the page, as named in its URL (the same as ``GET /api/actions``).
#: Rows shown at most: beyond, the page says how many it leaves out (the exports hold them all).
MAX_ROWS = 300
FILTERS = ("quartier", "debut", "fin", "etat", "pilote", "partenaire", "orientation", "en_retard")
#: Export links (blueprint ``action_exports``): (endpoint, fmt, label).
DOWNLOADS = (("annexe1", "xlsx", "Annexe 1 (XLSX)"), ("annexe1", "ods", "Annexe 1 (ODS)"),
             ("annexe1", "pdf", "Annexe 1 (PDF)"), ("suivi", "xlsx", "Tableau de suivi (XLSX)"),
             ("suivi", "ods", "Tableau de suivi (ODS)"), ("suivi", "pdf", "Tableau de suivi (PDF)"))


@dataclass(frozen=True)
class PageFilters:
    """The filters read from the query string (validated)."""

    quartier: str | None = None
    debut: date | None = None
    fin: date | None = None
    etats: tuple[str, ...] = ()
    pilote: str | None = None
    partenaire: str | None = None
    orientation: str | None = None
    late_only: bool = False


def _text(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def _day(value: Any) -> str:
    stamp = pd.to_datetime(value, errors="coerce") if _text(value) else pd.NaT
    return "" if pd.isna(stamp) else stamp.strftime("%d/%m/%Y")


def _iso(value: Any) -> str:
    stamp = pd.to_datetime(value, errors="coerce") if _text(value) else pd.NaT
    return "" if pd.isna(stamp) else stamp.strftime("%Y-%m-%d")


def _date_arg(name: str, label: str) -> tuple[date | None, str | None]:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None, None
    try:
        return date.fromisoformat(raw[:10]), None
    except ValueError:
        return None, f"Paramètre « {name} » : date {label} invalide (attendu AAAA-MM-JJ) : « {raw[:40]} »."


def _read_filters() -> tuple[PageFilters, str | None]:
    """Read and check the filters of the query string; the second value is a French error."""
    debut, err1 = _date_arg("debut", "de début")
    fin, err2 = _date_arg("fin", "de fin")
    etats = tuple(e.strip() for v in request.args.getlist("etat") for e in v.split(",") if e.strip())
    unknown = [e for e in etats if e not in ACTION_STATES]
    error = err1 or err2
    if unknown:
        error = (f"Paramètre « etat » : état inconnu « {unknown[0][:40]} » "
                 f"(états : {', '.join(ACTION_STATES)}).")
    elif debut and fin and fin < debut:
        error = "Paramètre « fin » : la fin de la période précède son début."

    def arg(name: str) -> str | None:
        return (request.args.get(name) or "").strip()[:200] or None

    quartier = arg("quartier")
    filters = PageFilters(quartier=quartier.upper() if quartier else None, debut=debut, fin=fin, etats=etats,
                          pilote=arg("pilote"), partenaire=arg("partenaire"), orientation=arg("orientation"),
                          late_only=(request.args.get("en_retard") or "") in ("1", "oui", "on", "true"))
    return filters, error


def _quartiers(store: LayerStore) -> list[dict[str, str]]:
    frame = store.read("perimetres")
    rows = [{"code": str(r["code"]), "nom": str(r["name"]), "communes": _text(r.get("communes"))}
            for _, r in frame.iterrows()]
    return sorted(rows, key=lambda r: (r["communes"], r["nom"]))


def _read(store: LayerStore, filters: PageFilters, today: date) -> gpd.GeoDataFrame:
    from layers.actions import ActionQuery, read_actions

    query = ActionQuery(quartier=filters.quartier, start=filters.debut, end=filters.fin, etats=filters.etats,
                        pilote=filters.pilote, partenaire=filters.partenaire, orientation=filters.orientation,
                        late_only=filters.late_only)
    found = read_actions(store, query, today=today)
    if found.empty:
        return found
    # late first, then by délai (none last), then by reference: what a comité goes through
    order = pd.DataFrame({"late": ~found["late"].astype(bool), "deadline": pd.to_datetime(found["deadline"]),
                          "reference": found["reference"].astype(str)}, index=found.index)
    return found.loc[order.sort_values(["late", "deadline", "reference"], na_position="last").index]


def _history(store: LayerStore, uids: list[str]) -> dict[str, list[dict[str, str]]]:
    if not uids:
        return {}
    rows = store.read_children("actions", "historique", parent_uids=uids)
    out: dict[str, list[dict[str, str]]] = {}
    if len(rows):
        rows = rows.sort_values("changed_at")
    for _, h in rows.iterrows():
        changed: Any = h.get("changed_at")
        stamp = pd.to_datetime(changed, errors="coerce") if _text(changed) else pd.NaT
        out.setdefault(str(h["parent_uid"]), []).append({
            "status": _text(h.get("status")),
            "at": "" if pd.isna(stamp) else stamp.strftime("%d/%m/%Y %H:%M"),
            "by": _text(h.get("changed_by")), "comment": _text(h.get("comment"))})
    return out


def _wgs84(series: gpd.GeoSeries) -> gpd.GeoSeries:
    return series.to_crs("EPSG:4326") if len(series) else series


def _geometry(geom: Any) -> dict[str, Any] | None:
    from shapely.geometry import mapping

    if geom is None or getattr(geom, "is_empty", True):
        return None
    return dict(mapping(geom))


def _action_row(a: Any, geom: Any, anchor: Any, history: list[dict[str, str]]) -> dict[str, Any]:
    """One action as the page shows it (texts for the table, codes for the forms and the map)."""
    deadline, etat = _day(a.get("deadline")), _text(a.get("etat"))
    late = bool(a.get("late")) if _text(a.get("late")) else False
    if not deadline:
        delai = "sans délai"
    elif late:
        delai = f"en retard depuis le {deadline}"
    else:
        delai = deadline
    constats = a.get("constats")
    constats = [str(c) for c in constats] if isinstance(constats, list | tuple) else []
    row: dict[str, Any] = {name: _text(a.get(name)) for name in (
        "uid", "reference", "title", "quartier", "convention", "orientation", "objectif", "axe", "lieu",
        "address", "origine", "response_type", "description", "indicateurs", "pilote", "partenaires",
        "conflit", "delay_causes", "evaluation", "comment", "bailleur")}
    row.update({"etat": etat, "deadline": deadline, "deadline_iso": _iso(a.get("deadline")),
                "decided_at": _day(a.get("decided_at")), "delai": delai, "late": late,
                "simulated": _text(a.get("simulated")).lower() in ("true", "1"),
                "tfpb": _text(a.get("tfpb")).lower() in ("true", "1"),
                "constats": constats, "historique": history, "geometry": _geometry(geom),
                "anchor": None if anchor is None else [round(anchor.x, 7), round(anchor.y, 7)]})
    return row


def _labels(conventions: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Titles of the orientations and objectifs, by (convention, code) and ("", code)."""
    labels: dict[tuple[str, str], str] = {}
    for conv in conventions:
        for o in conv["orientations"]:
            pairs = [(o["code"], o["titre"])] + [(ob["code"], ob["titre"]) for ob in o["objectifs"]]
            for code, titre in pairs:
                labels[(conv["code"], code)] = titre
                labels.setdefault(("", code), titre)
    return labels


def _name_codes(rows: list[dict[str, Any]], conventions: list[dict[str, Any]]) -> None:
    """Add ``orientation_titre`` and ``objectif_titre`` (empty when the code is unknown)."""
    labels = _labels(conventions)
    for r in rows:
        for name in ("orientation", "objectif"):
            code = r[name]
            found = labels.get((r["convention"], code)) or labels.get(("", code), "")
            r[f"{name}_titre"] = found if code else ""


def _rows(store: LayerStore, frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    uids = [str(u) for u in frame["uid"]]
    history = _history(store, uids)
    geoms = _wgs84(frame.geometry) if len(frame) else frame.geometry
    anchors = [None if g is None or g.is_empty else g.representative_point() for g in frame.geometry]
    anchors_wgs = (gpd.GeoSeries(anchors, crs=frame.crs).to_crs("EPSG:4326")
                   if len(frame) else gpd.GeoSeries([], crs="EPSG:4326"))
    return [_action_row(a, geoms.iloc[i], anchors_wgs.iloc[i], history.get(str(a["uid"]), []))
            for i, (_, a) in enumerate(frame.iterrows())]


def _constats(store: LayerStore, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the constats the listed actions answer, in WGS84, with the references of their actions."""
    wanted = sorted({c for r in rows for c in r["constats"]})
    if not wanted or not can_see("observations"):
        return []
    frame = store.read("observations", uids=wanted)
    points = _wgs84(frame.geometry) if len(frame) else frame.geometry
    actions: dict[str, list[str]] = {}
    for r in rows:
        for c in r["constats"]:
            actions.setdefault(c, []).append(r["uid"])
    out = []
    for i, (_, o) in enumerate(frame.iterrows()):
        p = points.iloc[i]
        if p is None or p.is_empty:
            continue
        rep = p if p.geom_type == "Point" else p.representative_point()
        out.append({"uid": str(o["uid"]), "theme": _text(o.get("theme")),
                    "description": _text(o.get("description")), "status": _text(o.get("status")),
                    "observed_at": _day(o.get("observed_at")), "address": _text(o.get("address")),
                    "simulated": _text(o.get("simulated")).lower() in ("true", "1"),
                    "lonlat": [round(rep.x, 7), round(rep.y, 7)], "actions": actions.get(str(o["uid"]), [])})
    return out


def _downloads(filters: PageFilters) -> list[dict[str, str]]:
    """Links to the exports of the plan (blueprint ``action_exports``), with the page's filters."""
    query = {k: v for k, v in request.args.items() if k in FILTERS and v}
    etats = [v for v in request.args.getlist("etat") if v]
    if etats:
        query["etat"] = ",".join(etats)
    links = []
    for endpoint, fmt, label in DOWNLOADS:
        href = url_for(f"action_exports.{endpoint}", fmt=fmt)
        links.append({"href": href + ("?" + urlencode(query) if query else ""), "label": label})
    if filters.quartier:
        rest = {k: v for k, v in query.items() if k != "quartier"}
        href = url_for("action_exports.copil", code=filters.quartier)
        links.append({"href": href + ("?" + urlencode(rest) if rest else ""),
                      "label": "Dossier de COPIL (PDF)"})
    return links


@bp.get("/actions")
@allow("lecteur", layer="actions", login_page=True)
def actions_page() -> ResponseReturnValue:
    """Return the plan d'actions page: filters, table (editable by techniciens), map, new action."""
    store = get_store()
    filters, error = _read_filters()
    today = date.today()
    rows: list[dict[str, Any]] = []
    total = late = 0
    if error is None:
        found = _read(store, filters, today)
        total, late = len(found), int(found["late"].sum()) if len(found) else 0
        rows = _rows(store, found.iloc[:MAX_ROWS])
    constats = _constats(store, rows)
    forms = form_config(store)
    _name_codes(rows, forms["conventions"])
    quartiers = _quartiers(store)
    can_edit = has_role("technicien")
    config = {
        "actions": rows, "constats": constats, "canEdit": can_edit, "quartier": filters.quartier or "",
        "basemap": basemap_config(current_app.config.get("BASEMAP")),
        "urls": {"actions": "/api/actions"}, **forms,
    }
    status = 400 if error else 200
    return render_template(
        "actions/plan.html", rows=rows, config=config, filters=filters, error=error, quartiers=quartiers,
        forms=forms, can_edit=can_edit, role=current_role(), downloads=_downloads(filters),
        total=total, late=late, located=sum(1 for r in rows if r["geometry"]),
        n_constats=len(constats), today=today.strftime("%d/%m/%Y"),
    ), status

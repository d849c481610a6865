"""Printable documents of a diagnostic walk: the walk sheet and the compte-rendu.

The walk sheet carries a static map (drawn offline from the street graph), the ordered
stops with their address and what to check, an empty action-plan grid per stop laid out
as Annexe 1 of the GUSP conventions, and the constats still open near each stop. The
compte-rendu gives the walk's plan d'actions (Annexe 1 columns) and groups the constats of
a walk by pilote, partenaire and domanialité with their deadlines. HTML comes from the
templates ``documents/walk_sheet.html`` and ``documents/walk_report.html``; PDF needs the
optional extra ``reports`` (WeasyPrint, Matplotlib), imported only when used.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from geo.crs import to_territory_crs
from geo.walks.export import connectors_text, coverage_text, stop_label, unserved_text
from geo.walks.model import WalkRecord, WalkSheet
from geo.walks.network import edges_frame
from webmap.documents._env import environment
from webmap.documents.maps import image_uri, render_walk_map
from webmap.documents.pdf import html_to_pdf, write_document
from webmap.errors import DocumentError

if TYPE_CHECKING:
    from geo.walks.model import WalkRoute

logger = logging.getLogger(__name__)

__all__ = [
    "ACTION_PLAN_COLUMNS",
    "render_walk_report_html",
    "render_walk_report_pdf",
    "render_walk_sheet_html",
    "render_walk_sheet_pdf",
    "write_walk_sheet",
]

ACTION_PLAN_COLUMNS = (
    "Lieux / Adresses", "Constats", "Origines", "Réponses / Actions",
    "Indicateurs", "Pilotes", "Partenaires", "Délais",
)


# --------------------------------------------------------------------------- helpers


def _street_names(G: nx.MultiGraph, points: gpd.GeoSeries) -> list[str]:
    edges = edges_frame(G)
    named = edges[edges["name"].notna()]
    if named.empty or len(points) == 0:
        return [""] * len(points)
    idx = named.sindex.nearest(points.to_numpy(), return_all=False)[1]
    return [str(n) for n in named["name"].to_numpy()[idx]]


def _open_near(
    route: WalkRoute, open_obs: gpd.GeoDataFrame | None, match_m: float
) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = [[] for _ in range(len(route.stops))]
    if open_obs is None or open_obs.empty or route.stops.empty:
        return out
    obs = to_territory_crs(open_obs)
    if "status" in obs.columns:
        status = obs["status"].astype("object").fillna("").map(str)
        obs = obs[status.isin(["nouveau", "transmis", "en cours"]).to_numpy()]
    stops_geom = route.stops.geometry.to_numpy()
    pairs = obs.sindex.query(stops_geom, predicate="dwithin", distance=match_m)
    for stop_i, obs_i in zip(pairs[0], pairs[1], strict=True):
        row = obs.iloc[int(obs_i)]
        out[int(stop_i)].append({
            "theme": _cell(row.get("theme")),
            "description": _cell(row.get("description")),
            "observed_at": _day(row.get("observed_at")),
            "status": _cell(row.get("status")),
            "pilote": _cell(row.get("pilote")),
            "deadline": _day(row.get("deadline")),
            "distance": round(float(stops_geom[int(stop_i)].distance(row.geometry))),
        })
    return out


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    return str(value)


def _day(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    return "" if pd.isna(ts) else ts.strftime("%d/%m/%Y")


def _clock(minutes: float, start_time: str | None) -> str:
    if start_time:
        h, m = (int(v) for v in start_time.split(":"))
        total = h * 60 + m + round(minutes)
        return f"{(total // 60) % 24:02d}h{total % 60:02d}"
    return f"+{round(minutes)} min"


# --------------------------------------------------------------------------- walk sheet


def _check_start_time(start_time: str | None) -> None:
    if start_time is not None:
        parts = start_time.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 23 or int(parts[1]) > 59:
            raise DocumentError(f"Heure de départ invalide « {start_time} » (format HH:MM).")


def _sheet_stops(sheet: WalkSheet) -> list[dict[str, Any]]:
    """Return the stops as the sheet lists them: label, street, clock time, reason and open constats."""
    route, G = sheet.route, sheet.graph
    streets = _street_names(G, route.stops.geometry) if len(route.stops) else []
    opens = _open_near(route, sheet.open_observations, sheet.match_m)
    stops = []
    for i, (_, row) in enumerate(route.stops.iterrows()):
        address = _cell(row.get("address")) if "address" in row.index else ""
        described = "address_source" in row.index  # layers.walk_stops: the walk page's text
        stops.append({
            "order": int(row["order"]),
            "label": stop_label(row),
            # a described stop says where its address comes from, or that it is unknown
            "street": address if described else (address or streets[i]),
            "address_source": _cell(row.get("address_source")) if described else "",
            "checks": list(row.get("checks") or []) if "checks" in row.index else [],
            "clock": _clock(float(row["arrival_min"]), sheet.start_time),
            "reason": _cell(row.get("reason")) if "reason" in row.index else "",
            "priority": f"{float(row.get('priority', 0) or 0):g}" if "priority" in row.index else "",
            "open": opens[i],
        })
    return stops


def render_walk_sheet_html(sheet: WalkSheet, *, map_format: str = "png", grid_rows: int = 3) -> str:
    """Render the printable walk sheet as a standalone HTML page (map embedded).

    Parameters
    ----------
    sheet : WalkSheet
        The walk, its street graph, the header fields and the constats to follow up.
    map_format : {"png", "svg"}
        Format of the embedded map.
    grid_rows : int, default 3
        Empty rows of each action-plan grid.

    Returns
    -------
    str
        HTML document.

    Raises
    ------
    DocumentError
        On a malformed ``sheet.start_time``.
    MissingDependencyError
        When Matplotlib is missing.
    """
    _check_start_time(sheet.start_time)
    route = sheet.route
    image = render_walk_map(route, sheet.graph, area=sheet.area, fmt=map_format)
    stops = _sheet_stops(sheet)
    start_street = _street_names(sheet.graph, gpd.GeoSeries([route.start], crs="EPSG:2154"))[0]
    simulated = bool("simulated" in route.stops.columns and route.stops["simulated"].fillna(False).any())
    return environment().get_template("walk_sheet.html").render(
        title=sheet.title, quartier=sheet.quartier,
        walk_date=sheet.walk_date.strftime("%d/%m/%Y") if sheet.walk_date else "",
        start_label=sheet.start_label or start_street or "point de rendez-vous",
        duration=round(route.duration_min), dwell=round(route.duration_min - route.walk_min),
        budget=round(route.budget_min), length_km=f"{route.length_m / 1000:.2f}".replace(".", ","),
        speed=f"{route.speed_kmh:g}".replace(".", ","), stops=stops, simulated=simulated,
        unserved=[{"label": _cell(u.get("label")) or _cell(u.get("id")), "reason": _cell(u.get("reason")),
                   "status": unserved_text(u)} for u in route.unserved],
        coverage=coverage_text(route), connectors=connectors_text(route),
        map_uri=image_uri(image, map_format), columns=ACTION_PLAN_COLUMNS, rows=grid_rows,
        match_m=round(sheet.match_m),
    )


def render_walk_sheet_pdf(sheet: WalkSheet, *, map_format: str = "png", grid_rows: int = 3) -> bytes:
    """Render the walk sheet as PDF (options of :func:`render_walk_sheet_html`).

    Raises
    ------
    MissingDependencyError
        When WeasyPrint or Matplotlib is missing.
    """
    return html_to_pdf(render_walk_sheet_html(sheet, map_format=map_format, grid_rows=grid_rows))


def write_walk_sheet(sheet: WalkSheet, folder: str | Path, stem: str, *, pdf: bool = True) -> list[Path]:
    """Write ``<stem>.html`` and, with ``pdf``, ``<stem>.pdf`` of a walk sheet into ``folder``.

    Parameters
    ----------
    sheet : WalkSheet
        The walk sheet.
    folder : str or Path
        Destination, created when missing.
    stem : str
        File name without extension.
    pdf : bool, default True
        Also write the PDF (from the same HTML).

    Returns
    -------
    list of Path
        The HTML file, then the PDF.

    Raises
    ------
    MissingDependencyError
        When Matplotlib, or WeasyPrint for the PDF, is missing.
    """
    return write_document(render_walk_sheet_html(sheet), folder, stem, pdf=pdf)


# --------------------------------------------------------------------------- compte-rendu


def _report_rows(obs: pd.DataFrame, today: pd.Timestamp) -> list[dict[str, Any]]:
    rows = []
    for _, r in obs.iterrows():
        deadline = pd.to_datetime(r["deadline"], errors="coerce") if "deadline" in r.index else pd.NaT
        status = _cell(r.get("status"))
        rows.append({
            "deadline": _day(deadline), "deadline_ts": deadline,
            "late": bool(pd.notna(deadline) and deadline.tz_localize(None) < today
                         and status in {"nouveau", "transmis", "en cours", ""}),
            "theme": _cell(r.get("theme")), "description": _cell(r.get("description")),
            "address": _cell(r.get("address")), "pilote": _cell(r.get("pilote")),
            "partenaires": _cell(r.get("partenaires")), "domanialite": _cell(r.get("domanialite")),
            "status": status,
        })
    return rows


def _grouped(rows: list[dict[str, Any]], key: str, *, split: bool = False,
             empty: str = "non renseigné") -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        names = [p.strip() for p in r[key].replace(";", ",").split(",")] if split else [r[key]]
        for name in [n for n in names if n] or [empty]:
            groups.setdefault(name, []).append(r)
    far = pd.Timestamp.max
    return [
        {"name": name, "rows": sorted(items, key=lambda r: (far if pd.isna(r["deadline_ts"])
                                                             else r["deadline_ts"].tz_localize(None)))}
        for name, items in sorted(groups.items(), key=lambda kv: (kv[0] == empty, kv[0].lower()))
    ]


def render_walk_report_html(
    record: WalkRecord,
    observations: pd.DataFrame,
    *,
    G: nx.MultiGraph | None = None,
    today: date | datetime | None = None,
    plan: list[dict[str, Any]] | None = None,
) -> str:
    """Render the compte-rendu of a walk: its plan d'actions, constats by pilote, partenaire, domanialité.

    Parameters
    ----------
    record : WalkRecord
        Date, quartier, participants and route of the walk.
    observations : DataFrame or GeoDataFrame
        Constats of the walk (``theme``, ``description``, ``pilote``, ``partenaires``,
        ``domanialite``, ``deadline``, ``status``, ``address``); partenaires separated by
        commas are listed under each partenaire.
    G : networkx.MultiGraph, optional
        Street graph; with ``record.route`` it adds the map of the route.
    today : date, optional
        Date deadlines are compared with (late ones are flagged); the current date by default.
    plan : list of dict, optional
        The walk's plan d'actions, rows of :func:`layers.walk_actions.walk_action_plan`
        (Annexe 1 columns); none or empty: the document says « Aucune action ».

    Returns
    -------
    str
        HTML document.

    Raises
    ------
    DocumentError
        When ``observations`` is not a table.
    """
    if not isinstance(observations, pd.DataFrame):
        raise DocumentError("Les constats doivent être fournis sous forme de tableau (DataFrame).")
    ref = pd.Timestamp(today) if today is not None else pd.Timestamp.now()
    ref = ref.tz_localize(None) if ref.tzinfo is not None else ref
    rows = _report_rows(observations, ref.normalize())
    themes = pd.Series([r["theme"] or "non renseigné" for r in rows], dtype=object).value_counts()
    route = record.route
    route_text = ""
    map_uri = ""
    if route is not None:
        route_text = (f"{len(route.stops)} arrêts, {route.length_m / 1000:.2f} km, "
                      f"{route.duration_min:.0f} min").replace(".", ",")
        if G is not None:
            map_uri = image_uri(render_walk_map(route, G, fmt="png"), "png")
    sections = [
        {"title": "Par pilote", "groups": _grouped(rows, "pilote")},
        {"title": "Par partenaire", "groups": _grouped(rows, "partenaires", split=True)},
        {"title": "Par domanialité", "groups": _grouped(rows, "domanialite", empty="inconnue")},
    ]
    return environment().get_template("walk_report.html").render(
        title=record.title, quartier=record.quartier,
        walk_date=record.walk_date.strftime("%d/%m/%Y"), organisations=", ".join(record.organisations),
        habitants=int(record.habitants), route=route_text, notes=record.notes, map_uri=map_uri,
        total=len(rows), late=sum(r["late"] for r in rows), themes=list(themes.items()), sections=sections,
        plan=list(plan or ()),
    )


def render_walk_report_pdf(
    record: WalkRecord,
    observations: pd.DataFrame,
    *,
    G: nx.MultiGraph | None = None,
    today: date | datetime | None = None,
    plan: list[dict[str, Any]] | None = None,
) -> bytes:
    """Render the compte-rendu as PDF (arguments of :func:`render_walk_report_html`).

    Returns
    -------
    bytes
        The PDF document.

    Raises
    ------
    MissingDependencyError
        When WeasyPrint or Matplotlib is missing.
    """
    return html_to_pdf(render_walk_report_html(record, observations, G=G, today=today, plan=plan))

"""Printable documents of a diagnostic walk: the walk sheet and the compte-rendu.

The walk sheet carries a static map (drawn offline from the street graph), the ordered
stops with their address and what to check, an empty action-plan grid per stop laid out
as Annexe 1 of the GUSP conventions, and the constats still open near each stop. The
compte-rendu groups the constats of a walk by pilote, partenaire and domanialité with
their deadlines. HTML comes from Jinja2; PDF needs the optional extra ``reports``
(WeasyPrint, Matplotlib), imported only when used.
"""

from __future__ import annotations

import base64
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape
from shapely.geometry.base import BaseGeometry

from geo.crs import to_territory_crs
from geo.walks.export import stop_label
from geo.walks.network import edges_frame
from webmap.errors import DocumentError, MissingDependencyError

if TYPE_CHECKING:
    from geo.walks.model import WalkRoute

logger = logging.getLogger(__name__)

__all__ = [
    "ACTION_PLAN_COLUMNS",
    "DocumentError",
    "MissingDependencyError",
    "WalkRecord",
    "html_to_pdf",
    "render_walk_map",
    "render_walk_report_html",
    "render_walk_report_pdf",
    "render_walk_sheet_html",
    "render_walk_sheet_pdf",
]

ACTION_PLAN_COLUMNS = (
    "Lieux / Adresses", "Constats", "Origines", "Réponses / Actions",
    "Indicateurs", "Pilotes", "Partenaires", "Délais",
)
_INSTALL_HINT = "installer l'option « reports » : pip install 'qpv-observatoire[reports]'"


@dataclass(frozen=True)
class WalkRecord:
    """What happened on a diagnostic walk, for its compte-rendu.

    Attributes
    ----------
    walk_date : date
        Day of the walk.
    quartier : str
        Quartier walked (name or QPV code).
    organisations : sequence of str
        Organisations represented (ville, bailleurs, associations…).
    habitants : int
        Number of habitants who took part.
    route : WalkRoute, optional
        The route walked.
    title : str
        Title of the document.
    notes : str
        Free text added under the summary.
    """

    walk_date: date
    quartier: str
    organisations: Sequence[str] = ()
    habitants: int = 0
    route: WalkRoute | None = None
    title: str = "Diagnostic en marchant"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- map


def render_walk_map(
    route: WalkRoute,
    G: nx.MultiGraph,
    *,
    area: BaseGeometry | gpd.GeoDataFrame | None = None,
    fmt: str = "png",
    width_cm: float = 17.0,
    dpi: int = 150,
) -> bytes:
    """Draw the walk on the street graph (offline static map).

    Parameters
    ----------
    route : WalkRoute
        The walk; its stops are numbered in walking order.
    G : networkx.MultiGraph
        Street graph drawn as the background (EPSG:2154).
    area : geometry or GeoDataFrame, optional
        Quartier outline drawn under the streets.
    fmt : {"png", "svg"}
        Image format.
    width_cm : float, default 17
        Figure width.
    dpi : int, default 150
        Resolution of PNG output.

    Returns
    -------
    bytes
        The image.

    Raises
    ------
    MissingDependencyError
        When Matplotlib is not installed.
    DocumentError
        On an unknown format.
    """
    if fmt not in {"png", "svg"}:
        raise DocumentError(f"Format de carte inconnu « {fmt} » (png ou svg).")
    try:
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", extra="reports", purpose="dessiner la carte") from exc
    edges = edges_frame(G)
    track = np.asarray(route.track.coords)
    x0, y0, x1, y1 = edges.total_bounds
    if len(track):
        tx0, ty0 = track.min(axis=0)
        tx1, ty1 = track.max(axis=0)
        pad = max(tx1 - tx0, ty1 - ty0) * 0.08 + 80
        x0, y0, x1, y1 = max(x0, tx0 - pad), max(y0, ty0 - pad), min(x1, tx1 + pad), min(y1, ty1 + pad)
    aspect = (y1 - y0) / max(x1 - x0, 1.0)
    w_in = width_cm / 2.54
    fig = Figure(figsize=(w_in, min(max(w_in * aspect, 3.0), 9.0)))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    if area is not None:
        zone = to_territory_crs(area) if isinstance(area, gpd.GeoDataFrame) else gpd.GeoDataFrame(
            geometry=[area], crs="EPSG:2154")
        zone.boundary.plot(ax=ax, color="#7a4fa3", linewidth=1.2, linestyle="--")
    segs = [np.asarray(g.coords)[:, :2] for g in edges.geometry]
    ax.add_collection(LineCollection(segs, colors="#9a9a9a", linewidths=0.6))
    ax.plot(track[:, 0], track[:, 1], color="#d1495b", linewidth=2.4, alpha=0.85, solid_capstyle="round")
    ax.plot([route.start.x], [route.start.y], marker="s", color="#00798c", markersize=9)
    ax.annotate("Départ", (route.start.x, route.start.y), xytext=(6, 6), textcoords="offset points",
                fontsize=8, color="#00798c", weight="bold")
    for _, row in route.stops.iterrows():
        p = row[route.stops.geometry.name]
        ax.plot([p.x], [p.y], marker="o", markersize=13, color="white", markeredgecolor="#d1495b",
                markeredgewidth=1.8)
        ax.text(p.x, p.y, str(int(row["order"])), ha="center", va="center", fontsize=7, weight="bold")
    span = x1 - x0
    bar = next((b for b in (50, 100, 200, 250, 500, 1000, 2000, 5000) if b >= span / 6), 5000)
    bx, by = x0 + span * 0.04, y0 + (y1 - y0) * 0.04
    ax.plot([bx, bx + bar], [by, by], color="black", linewidth=3)
    ax.text(bx + bar / 2, by + (y1 - y0) * 0.015, f"{bar} m", ha="center", fontsize=7)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


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


def _env() -> Environment:
    return Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def _image_uri(data: bytes, fmt: str) -> str:
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------- walk sheet

_CSS = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: "page " counter(page) " / " counter(pages);
  font-size: 8pt; } }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 9.5pt; color: #222; }
h1 { font-size: 16pt; margin: 0 0 4pt 0; color: #00566a; } h2 { font-size: 12pt; color: #00566a;
  border-bottom: 1px solid #00798c; margin-top: 14pt; } h3 { font-size: 10.5pt; margin: 10pt 0 4pt 0; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; } th, td { border: 1px solid #888;
  padding: 3pt 4pt; vertical-align: top; text-align: left; } th { background: #e6f0f2; font-size: 8.5pt; }
.grid td { height: 34pt; } .grid th { width: 12.5%; } .meta td { border: none; padding: 1pt 6pt 1pt 0; }
.map { width: 100%; border: 1px solid #bbb; } .stop { page-break-inside: avoid; }
.note { color: #8a1c1c; font-weight: bold; } .small { font-size: 8pt; color: #555; }
.late { color: #b00020; font-weight: bold; }
"""

_SHEET = """<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ css|safe }}</style></head><body>
<h1>{{ title }}</h1>
<table class="meta">
<tr><td><b>Quartier</b></td><td>{{ quartier }}</td><td><b>Date</b></td>
<td>{{ walk_date or "……/……/……" }}</td></tr>
<tr><td><b>Départ</b></td><td>{{ start_label }}</td><td><b>Durée prévue</b></td>
<td>{{ duration }} min (dont {{ dwell }} min d'arrêts) pour {{ budget }} min disponibles</td></tr>
<tr><td><b>Distance</b></td><td>{{ length_km }} km à {{ speed }} km/h</td><td><b>Arrêts</b></td>
<td>{{ stops|length }}</td></tr></table>
{% if simulated %}<p class="note">Attention : priorités des arrêts simulées (données de démonstration).</p>
{% endif %}
<img class="map" src="{{ map_uri }}" alt="Carte du parcours">
<h2>Parcours</h2>
<table><tr><th>N°</th><th>Lieu / adresse</th><th>Heure</th><th>À vérifier</th><th>Priorité</th></tr>
{% for s in stops %}<tr><td>{{ s.order }}</td><td>{{ s.label }}{% if s.street and s.street != s.label %}
<br><span class="small">{{ s.street }}</span>{% endif %}</td><td>{{ s.clock }}</td><td>{{ s.reason }}</td>
<td>{{ s.priority }}</td></tr>{% endfor %}</table>
<h2>Plan d'actions par arrêt (Annexe 1)</h2>
{% for s in stops %}<div class="stop"><h3>Arrêt {{ s.order }} — {{ s.label }}</h3>
{% if s.open %}<p><b>Constats encore ouverts à moins de {{ match_m }} m :</b></p>
<table><tr><th>Constaté le</th><th>Thème</th><th>Description</th><th>Statut</th><th>Pilote</th>
<th>Délai</th></tr>
{% for o in s.open %}<tr><td>{{ o.observed_at }}</td><td>{{ o.theme }}</td><td>{{ o.description }}</td>
<td>{{ o.status }}</td><td>{{ o.pilote }}</td><td>{{ o.deadline }}</td></tr>{% endfor %}</table>{% endif %}
<table class="grid"><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for _ in range(rows) %}<tr><td>{% if loop.first %}{{ s.street or s.label }}{% endif %}</td>
{% for c in columns[1:] %}<td></td>{% endfor %}</tr>{% endfor %}</table></div>{% endfor %}
<p class="small">Document généré par la plateforme d'observation GUSP. Fond de carte : réseau des voies du
territoire.</p></body></html>"""


def render_walk_sheet_html(
    route: WalkRoute,
    G: nx.MultiGraph,
    *,
    quartier: str,
    title: str = "Diagnostic en marchant",
    walk_date: date | None = None,
    start_time: str | None = None,
    start_label: str = "",
    open_observations: gpd.GeoDataFrame | None = None,
    match_m: float = 50.0,
    area: BaseGeometry | gpd.GeoDataFrame | None = None,
    map_format: str = "png",
    grid_rows: int = 3,
) -> str:
    """Render the printable walk sheet as a standalone HTML page (map embedded).

    Parameters
    ----------
    route : WalkRoute
        The walk to print.
    G : networkx.MultiGraph
        Street graph for the map and the street names of the stops.
    quartier : str
        Quartier name shown in the header.
    title : str, default "Diagnostic en marchant"
    walk_date : date, optional
        Date of the walk (left blank to fill by hand when omitted).
    start_time : str, optional
        Departure time ``"HH:MM"``; arrival times are then clock times.
    start_label : str, optional
        Meeting point description; nearest street name when empty.
    open_observations : GeoDataFrame, optional
        Constats; the open ones within ``match_m`` of a stop are listed under it.
    match_m : float, default 50
        Matching distance, metres.
    area : geometry or GeoDataFrame, optional
        Quartier outline drawn on the map.
    map_format : {"png", "svg"}
    grid_rows : int, default 3
        Empty rows of each action-plan grid.

    Returns
    -------
    str
        HTML document.

    Raises
    ------
    DocumentError
        On a malformed ``start_time``.
    MissingDependencyError
        When Matplotlib is missing.
    """
    if start_time is not None:
        parts = start_time.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 23 or int(parts[1]) > 59:
            raise DocumentError(f"Heure de départ invalide « {start_time} » (format HH:MM).")
    image = render_walk_map(route, G, area=area, fmt=map_format)
    streets = _street_names(G, route.stops.geometry) if len(route.stops) else []
    start_street = _street_names(G, gpd.GeoSeries([route.start], crs="EPSG:2154"))[0]
    opens = _open_near(route, open_observations, match_m)
    stops = []
    for i, (_, row) in enumerate(route.stops.iterrows()):
        address = _cell(row.get("address")) if "address" in row.index else ""
        stops.append({
            "order": int(row["order"]),
            "label": stop_label(row),
            "street": address or streets[i],
            "clock": _clock(float(row["arrival_min"]), start_time),
            "reason": _cell(row.get("reason")) if "reason" in row.index else "",
            "priority": f"{float(row.get('priority', 0) or 0):g}" if "priority" in row.index else "",
            "open": opens[i],
        })
    simulated = bool("simulated" in route.stops.columns and route.stops["simulated"].fillna(False).any())
    return _env().from_string(_SHEET).render(
        title=title, css=_CSS, quartier=quartier,
        walk_date=walk_date.strftime("%d/%m/%Y") if walk_date else "",
        start_label=start_label or start_street or "point de rendez-vous",
        duration=round(route.duration_min), dwell=round(route.duration_min - route.walk_min),
        budget=round(route.budget_min), length_km=f"{route.length_m / 1000:.2f}".replace(".", ","),
        speed=f"{route.speed_kmh:g}".replace(".", ","), stops=stops, simulated=simulated,
        map_uri=_image_uri(image, map_format), columns=ACTION_PLAN_COLUMNS, rows=grid_rows,
        match_m=round(match_m),
    )


def html_to_pdf(html: str) -> bytes:
    """Convert an HTML document to PDF with WeasyPrint.

    Parameters
    ----------
    html : str
        Standalone document (images embedded as data URIs).

    Returns
    -------
    bytes
        The PDF document.

    Raises
    ------
    MissingDependencyError
        When WeasyPrint is not installed.
    """
    try:
        with warnings.catch_warnings():  # older system libraries: harmless notice at import
            warnings.filterwarnings("ignore", message=".*HarfBuzz", category=DeprecationWarning)
            from weasyprint import HTML
    except ImportError as exc:
        raise MissingDependencyError("WeasyPrint", extra="reports", purpose="produire le PDF") from exc
    pdf = HTML(string=html).write_pdf()
    if not pdf:
        raise DocumentError("WeasyPrint n'a produit aucun PDF.")
    return bytes(pdf)


def render_walk_sheet_pdf(route: WalkRoute, G: nx.MultiGraph, **options: Any) -> bytes:
    """Render the walk sheet as PDF.

    Parameters
    ----------
    route : WalkRoute
        The walk to print.
    G : networkx.MultiGraph
        Street graph.
    **options
        Keyword options of :func:`render_walk_sheet_html` (``quartier`` is required).

    Returns
    -------
    bytes
        The PDF document.

    Raises
    ------
    MissingDependencyError
        When WeasyPrint or Matplotlib is missing.
    """
    return html_to_pdf(render_walk_sheet_html(route, G, **options))


# --------------------------------------------------------------------------- compte-rendu

_REPORT = """<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ css|safe }}</style></head><body>
<h1>{{ title }} — compte-rendu</h1>
<table class="meta"><tr><td><b>Quartier</b></td><td>{{ quartier }}</td><td><b>Date</b></td>
<td>{{ walk_date }}</td></tr><tr><td><b>Participants</b></td>
<td colspan="3">{{ organisations or "—" }} ; {{ habitants }} habitant(s)</td></tr>
{% if route %}<tr><td><b>Parcours</b></td><td colspan="3">{{ route }}</td></tr>{% endif %}</table>
{% if notes %}<p>{{ notes }}</p>{% endif %}
{% if map_uri %}<img class="map" src="{{ map_uri }}" alt="Carte du parcours">{% endif %}
<h2>Synthèse</h2><p>{{ total }} constat(s) relevé(s){% if late %}, dont
<span class="late">{{ late }} en retard</span>{% endif %}.</p>
<table><tr><th>Thème</th><th>Constats</th></tr>{% for t, n in themes %}
<tr><td>{{ t }}</td><td>{{ n }}</td></tr>
{% endfor %}</table>
{% for section in sections %}<h2>{{ section.title }}</h2>{% for g in section.groups %}
<div class="stop"><h3>{{ g.name }} ({{ g.rows|length }})</h3>
<table><tr><th>Délai</th><th>Thème</th><th>Constat</th><th>Adresse</th><th>Pilote</th><th>Partenaires</th>
<th>Domanialité</th><th>Statut</th></tr>{% for r in g.rows %}<tr><td{% if r.late %} class="late"{% endif %}>
{{ r.deadline or "à fixer" }}</td><td>{{ r.theme }}</td><td>{{ r.description }}</td><td>{{ r.address }}</td>
<td>{{ r.pilote }}</td><td>{{ r.partenaires }}</td><td>{{ r.domanialite }}</td><td>{{ r.status }}</td></tr>
{% endfor %}</table></div>{% endfor %}{% endfor %}
</body></html>"""


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
) -> str:
    """Render the compte-rendu of a walk: constats grouped by pilote, partenaire and domanialité.

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
            map_uri = _image_uri(render_walk_map(route, G, fmt="png"), "png")
    sections = [
        {"title": "Par pilote", "groups": _grouped(rows, "pilote")},
        {"title": "Par partenaire", "groups": _grouped(rows, "partenaires", split=True)},
        {"title": "Par domanialité", "groups": _grouped(rows, "domanialite", empty="inconnue")},
    ]
    return _env().from_string(_REPORT).render(
        title=record.title, css=_CSS, quartier=record.quartier,
        walk_date=record.walk_date.strftime("%d/%m/%Y"), organisations=", ".join(record.organisations),
        habitants=int(record.habitants), route=route_text, notes=record.notes, map_uri=map_uri,
        total=len(rows), late=sum(r["late"] for r in rows), themes=list(themes.items()), sections=sections,
    )


def render_walk_report_pdf(record: WalkRecord, observations: pd.DataFrame, **options: Any) -> bytes:
    """Render the compte-rendu as PDF.

    Parameters
    ----------
    record : WalkRecord
        The walk.
    observations : DataFrame
        Its constats.
    **options
        Keyword options of :func:`render_walk_report_html`.

    Returns
    -------
    bytes
        The PDF document.

    Raises
    ------
    MissingDependencyError
        When WeasyPrint is missing.
    """
    return html_to_pdf(render_walk_report_html(record, observations, **options))

"""Diagnostic walks kept in the store: planning, loading and exports.

This module ties the pure computations of :mod:`geo.walks.network`, :mod:`geo.walks.priorities`,
:mod:`geo.walks.routing` and :mod:`geo.walks.export` to a :class:`~layers.store.base.LayerStore`:

* :func:`plan_walk` reads the quartier, its streets (``voies``) and the GUSP layers,
  computes the candidate stops and their priorities, solves the walk(s) and saves each
  one as a ``diagnostics`` record (status « prévu ») with its ``etapes`` child rows;
* :func:`record_walk`, :func:`walk_observations` and :func:`previous_open_constats` (the
  walk done, its constats and their follow-up) live in :mod:`layers.walk_records`;
* :func:`walk_geojson`, :func:`walk_gpx` and :func:`export_walk` export a stored walk;
  :func:`walk_sheet_data` and :func:`walk_report_data` return what its walk sheet and
  compte-rendu show, rendered by :mod:`webmap.documents`.

The planning parameters a record has no field for (speed, dwell, start point) are kept
in the store settings under ``diagnostic:<uid>``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS
from geo.errors import QPVError, UnusableNetworkError
from geo.walks.export import connectors_text, coverage_text, route_to_geojson, route_to_gpx
from geo.walks.model import WalkOptions, WalkRecord, WalkSheet
from geo.walks.network import clip_graph, distance_matrix, nearest_nodes
from geo.walks.quality import MIN_LARGEST_SHARE
from geo.walks.routing import WalkRoute, covering_route, walk_route, walk_routes
from layers._walk_candidates import (
    candidate_id,
    candidates_with_requests,
    unreachable_not_mandatory,
)
from layers._walk_inputs import (
    Place,
    candidate_stops,
    quartier_graph,
    quartier_perimeter,
    resolve_point,
    split_at_points,
)
from layers.errors import WalkError
from layers.store.base import LayerStore
from layers.walk_records import previous_open_constats, record_walk, walk_observations

logger = logging.getLogger(__name__)

__all__ = [
    "SolvedWalk",
    "WalkError",
    "WalkPlan",
    "WalkRequest",
    "candidate_id",
    "candidate_stops",
    "check_quartier_network",
    "export_walk",
    "list_walks",
    "load_walk",
    "parse_walk_date",
    "plan_walk",
    "previous_open_constats",
    "quartier_graph",
    "quartier_perimeter",
    "record_walk",
    "resolve_point",
    "solve_walk",
    "street_coverage",
    "walk_geojson",
    "walk_gpx",
    "walk_graph",
    "walk_observations",
    "walk_report_data",
    "walk_sheet_data",
]

#: Walk modes: visit the priority stops, or walk every street of the quartier.
WalkMode = Literal["priorites", "toutes-les-rues"]
MODES: tuple[WalkMode, ...] = get_args(WalkMode)
_META_PREFIX = "diagnostic:"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class WalkRequest:
    """What a planner asks for: a quartier, a meeting point, places to pass, groups, options.

    Attributes
    ----------
    quartier : str
        QPV code (« QP034005 »).
    start : str, (lon, lat) or Point
        Meeting point: ``"lon,lat"``, an address of the ``adresses`` layer or a Point in
        the store CRS.
    end : same as ``start``, optional
        End point; the walk loops back to the start when omitted.
    mandatory : tuple of places, default ()
        Places that must be visited: the id of a candidate stop (:func:`candidate_id`) or the
        uid of its record (open constat, point noir, NPNRU site), or a place in the same forms
        as ``start``. A place no street serves is listed « non desservi », never snapped.
    groups : int, default 1
        Number of groups: the stops are split between that many walks.
    mode : {"priorites", "toutes-les-rues"}
        Visit the priority stops, or walk every street of the quartier.
    name : str, optional
        Name of the walk (« Diagnostic <quartier> du <date> » by default).
    walk_date : datetime, date or ISO text, optional
        Planned date (now by default).
    options : WalkOptions
        Time budget, speed, dwell, search time (its ``mandatory`` labels are filled from
        ``mandatory``).
    organisation : str, optional
        The planner's organisation (:data:`layers.schema.ORGANISATIONS`), stored as the
        walk's author organisation: its technicians may mark it done (:mod:`layers.scope`).
    excluded : tuple of str, default ()
        Candidate stops the planner dropped (ids or record uids, as in ``mandatory``).

    Raises
    ------
    WalkError
        On an unknown mode.
    """

    quartier: str
    start: Place
    end: Place | None = None
    mandatory: tuple[Place, ...] = ()
    groups: int = 1
    mode: WalkMode = "priorites"
    name: str | None = None
    walk_date: datetime | date | str | None = None
    options: WalkOptions = field(default_factory=WalkOptions)
    organisation: str | None = None
    excluded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if self.mode not in MODES:
            raise WalkError(f"Mode de parcours inconnu « {self.mode} » ({' ou '.join(MODES)}).")
        object.__setattr__(self, "mandatory", tuple(self.mandatory))
        object.__setattr__(self, "excluded", tuple(self.excluded))


@dataclass(frozen=True)
class WalkPlan:
    """A diagnostic walk as stored.

    Attributes
    ----------
    uid : str
        Identifier of the ``diagnostics`` record.
    name : str
        Name of the walk.
    quartier : str
        QPV code.
    walk_date : datetime
        Planned date.
    status : str
        « prévu », « réalisé » or « compte-rendu diffusé ».
    route : WalkRoute
        Track and stops (EPSG:2154), with arrival times.
    start_label : str
        Meeting point as given (address or coordinates).
    group : int or None
        Group number of a walk split between several groups.
    record : dict
        The other fields of the record (organisations, habitants…).
    """

    uid: str
    name: str
    quartier: str
    walk_date: datetime
    status: str
    route: WalkRoute
    start_label: str = ""
    group: int | None = None
    record: Mapping[str, Any] | None = None

    @property
    def file_stem(self) -> str:
        """Name of the walk's files: ``diagnostic-<uid8>[-groupe-N]``."""
        return f"diagnostic-{self.uid[:8]}" + (f"-groupe-{self.group}" if self.group else "")


# --------------------------------------------------------------------------- planning


def plan_walk(
    store: LayerStore,
    request: WalkRequest,
    *,
    cache_dir: str | Path | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    actor: str | None = None,
) -> list[WalkPlan]:
    """Plan a diagnostic walk of a quartier and save it in the store.

    Parameters
    ----------
    store : LayerStore
        Store with the ``perimetres``, ``voies`` and GUSP layers; receives the walk.
    request : WalkRequest
        Quartier, meeting point, places to pass, groups, mode, name, date and options.
    cache_dir : str or Path, optional
        Street graph cache (the settings' ``cache_dir`` by default).
    now : datetime, optional
        Reference date of the priorities.
    progress : callable, optional
        Called with the name of each step (progress bars).
    actor : str, optional
        Who plans the walk.

    Returns
    -------
    list of WalkPlan
        One walk per group, saved with status « prévu ».

    Raises
    ------
    WalkError
        On an unknown quartier, a bad start, a quartier without streets.
    QPVError
        When the routing fails (mandatory stops beyond the budget…).
    """
    def step(label: str) -> None:
        if progress is not None:
            progress(label)

    solved = solve_walk(store, request, cache_dir=cache_dir, now=now, progress=step)
    code, when, routes, opts, meta = solved.code, solved.when, solved.routes, solved.options, solved.meta
    step("enregistrement")
    qname = solved.quartier_name
    base = request.name or f"Diagnostic {qname} du {when:%d/%m/%Y}"
    plans = []
    with store.transaction():
        for route in routes:
            plans.append(_save(store, route, code=code, name=base if len(routes) == 1
                               else f"{base} — groupe {route.group}", when=when, budget_min=opts.budget_min,
                               meta=meta, actor=actor))
        if request.organisation:
            for plan in plans:
                store.update("diagnostics", plan.uid, {"organisation": request.organisation}, actor=actor)
    return plans


@dataclass(frozen=True, eq=False)
class SolvedWalk:
    """The route(s) of a request, computed and not saved (:func:`solve_walk`).

    Attributes
    ----------
    code, quartier_name : str
        QPV code and name.
    zone : shapely geometry
        Quartier perimeter (store CRS).
    when : datetime
        Planned date and time of the walk.
    start_label : str
        Meeting point as resolved (address or coordinates).
    routes : list of WalkRoute
        One route per group.
    candidates : GeoDataFrame
        Every candidate stop, indexed by its id (``constat:<uid>``, ``point_noir:<uid>``,
        ``npnru:<uid>``, ``rue:<nom>``, ``lieu:<n>`` for a place given as coordinates or
        address), with ``mandatory`` and ``excluded`` flags; empty in « toutes-les-rues » mode.
    options : WalkOptions
        Options the routes were computed with (mandatory ids filled).
    meta : dict
        Planning parameters saved with the walk.
    """

    code: str
    quartier_name: str
    zone: BaseGeometry
    when: datetime
    start_label: str
    routes: list[WalkRoute]
    candidates: gpd.GeoDataFrame
    options: WalkOptions
    meta: dict[str, Any]


#: A mandatory place farther than this from every street is not visited but listed « non desservi »
#: (nearer, it is visited from the nearest street and its ``snap_m`` says how far).
MANDATORY_MAX_M = 100.0


def solve_walk(store: LayerStore, request: WalkRequest, *, cache_dir: str | Path | None = None,
               now: datetime | None = None, progress: Progress | None = None) -> SolvedWalk:
    """Compute the route(s) of a request without saving them (what :func:`plan_walk` saves).

    The same request on the same store gives the same routes: the search is seeded and
    ends after 400 perturbations without improvement (0.6 s for Mosson's 196 candidates),
    well within the default ``time_limit_s``.

    Raises
    ------
    WalkError
        On an unknown quartier, a bad start, an unknown mandatory or excluded id.
    QPVError
        When the routing fails (mandatory stops beyond the budget…).
    """
    def step(label: str) -> None:
        if progress is not None:
            progress(label)

    perimeter = quartier_perimeter(store, request.quartier)
    code = str(perimeter["code"].iloc[0])
    zone = perimeter.geometry.iloc[0]
    start_pt, start_label = resolve_point(store, request.start, near=zone)
    end_pt, end_label = (resolve_point(store, request.end, near=zone) if request.end is not None
                         else (None, ""))
    when = _walk_datetime(request.walk_date)
    step("graphe des voies")
    G = quartier_graph(store, code, cache_dir=cache_dir)
    check_quartier_network(G, code)
    opts = request.options
    meta: dict[str, Any] = {"speed_kmh": opts.speed_kmh, "dwell_min": opts.dwell_min,
                            "mode": request.mode, "k": request.groups,
                            "start": [start_pt.x, start_pt.y], "start_label": start_label,
                            "end": [end_pt.x, end_pt.y] if end_pt is not None else None,
                            "end_label": end_label}
    stops = gpd.GeoDataFrame({"mandatory": [], "excluded": []}, geometry=[], crs=TERRITORY_CRS)
    if request.mode == "toutes-les-rues":
        step("parcours de toutes les rues")
        route = covering_route(clip_graph(G, zone, margin_m=0.0), start=start_pt, speed_kmh=opts.speed_kmh)
        # the planner's time stays the budget: the sheet says when walking every street exceeds it
        routes = [replace(route, budget_min=float(opts.budget_min))]
        routes[0].meta.update(street_coverage(store, zone, routes[0].track))
        if routes[0].duration_min > opts.budget_min:
            logger.info("every street: %.0f min for %.0f min available", routes[0].duration_min,
                        opts.budget_min)
    else:
        step("priorités des arrêts")
        stops = candidates_with_requests(store, request.mandatory, request.excluded, zone=zone, code=code,
                                         now=now)
        ends = [start_pt] if end_pt is None else [start_pt, end_pt]
        G = split_at_points(G, [*ends, *stops.geometry])
        stops = unreachable_not_mandatory(G, stops, start=start_pt,
                                           limit=max(MANDATORY_MAX_M, opts.max_stop_distance_m))
        step("calcul du parcours")
        kept = stops[~stops["excluded"].to_numpy()]
        must = tuple(kept.index[kept["mandatory"].to_numpy()])
        opts = replace(opts, mandatory=must)
        routing = kept.drop(columns=["mandatory", "excluded"])
        routes = (walk_routes(G, routing, k=request.groups, start=start_pt, end=end_pt, options=opts)
                  if request.groups > 1
                  else [walk_route(G, routing, start=start_pt, end=end_pt, options=opts)])
    return SolvedWalk(code=code, quartier_name=str(perimeter["name"].iloc[0]), zone=zone, when=when,
                      start_label=start_label, routes=routes, candidates=stops, options=opts, meta=meta)


def parse_walk_date(value: datetime | date | str | None) -> datetime:
    """Return the planned date of a walk (now when ``value`` is None).

    Raises
    ------
    WalkError
        On an unreadable date (French message, field ``date``).
    """
    return _walk_datetime(value)


def _walk_datetime(value: datetime | date | str | None) -> datetime:
    if value is None:
        return datetime.now().replace(second=0, microsecond=0)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise WalkError(f"Date du diagnostic illisible « {value} » "
                        "(AAAA-MM-JJ ou AAAA-MM-JJTHH:MM).", field="date") from None
    if pd.isna(ts):
        raise WalkError("Date du diagnostic manquante.")
    return ts.tz_localize(None).to_pydatetime() if ts.tzinfo else ts.to_pydatetime()


def _save(store: LayerStore, route: WalkRoute, *, code: str, name: str, when: datetime, budget_min: float,
          meta: dict[str, Any], actor: str | None) -> WalkPlan:
    uid = uuid.uuid4().hex
    previous = store.read("diagnostics", where={"quartier": code}, end=when, order_by="-walk_date", limit=1)
    track = route.track if route.track.length > 0 else LineString([route.start, route.start])
    record = {
        "uid": uid, "name": name, "quartier": code, "walk_date": when.isoformat(), "status": "prévu",
        "budget_min": float(round(budget_min, 1)), "duration_min": float(round(route.duration_min, 1)),
        "length_m": float(round(route.length_m, 1)),
        "previous_walk": str(previous["uid"].iloc[0]) if len(previous) else None,
        "notes": _notes(route) or None,
    }
    store.write("diagnostics", gpd.GeoDataFrame([record], geometry=[track], crs=TERRITORY_CRS), actor=actor)
    stops = route.stops
    if len(stops):
        rows = pd.DataFrame({
            "parent_uid": uid,
            "rank": stops["order"].astype(int).to_numpy(),
            "name": [_text(v) for v in stops.get("label", pd.Series([""] * len(stops)))],
            "address": [_text(v) for v in stops.get("address", pd.Series([""] * len(stops)))],
            "x": stops.geometry.x.round(2).to_numpy(), "y": stops.geometry.y.round(2).to_numpy(),
            "to_check": [_text(v) for v in stops.get("reason", pd.Series([""] * len(stops)))],
            "priority": pd.to_numeric(stops["priority"]).round(3).to_numpy(),
            "mandatory": stops.get("kind", pd.Series([""] * len(stops))).eq("obligatoire").to_numpy(),
        })
        store.add_children("diagnostics", "etapes", rows, actor=actor)
    extra: dict[str, Any] = {**meta, "group": route.group, "solver": route.solver,
             "unserved": route.unserved,
             **{k: route.meta[k] for k in ("coverage_share", "quartier_street_m", "street_length_m",
                                           "max_stop_distance_m", "connectors", "connector_m")
                if k in route.meta},
             "kinds": [_text(v) for v in stops.get("kind", [])],
             "source_uids": [_text(v) for v in stops.get("source_uid", [])],
             "simulated": [bool(v) for v in stops.get("simulated", [])]}
    store.set_meta(_META_PREFIX + uid, json.dumps(extra, ensure_ascii=False))
    return load_walk(store, uid, route=route)


def _notes(route: WalkRoute) -> str:
    if route.solver == "chinese-postman":
        km = route.meta.get("street_length_m", 0) / 1000
        text = (f"Parcours de toutes les rues : {km:.1f} km de voies, "
                f"{route.meta.get('repeated_m', 0) / 1000:.1f} km parcourus deux fois.")
        if coverage_text(route):
            text += f" Il {coverage_text(route)}."
        return _with_connectors(text, route)
    if route.unserved:
        text = f"{len(route.unserved)} arrêt(s) non desservi(s) par le réseau des voies (hors parcours)."
        return _with_connectors(text, route)
    return _with_connectors("", route)


def _with_connectors(text: str, route: WalkRoute) -> str:
    """Append the pedestrian links the route uses (« 1 liaison hors voie cartographiée (10 m au total)… »)."""
    links = connectors_text(route)
    return f"{text} {links[0].upper()}{links[1:]}.".strip() if links else text


def street_coverage(store: LayerStore, zone: BaseGeometry, track: LineString, *,
                    tolerance_m: float = 3.0) -> dict[str, float]:
    """Share of the quartier's street length (``voies`` clipped to it) the track runs along.

    Parameters
    ----------
    store : LayerStore
    zone : shapely geometry
        Quartier perimeter (store CRS).
    track : LineString
        The walk.
    tolerance_m : float, default 3
        A street piece within this distance of the track counts as walked.

    Returns
    -------
    dict
        ``quartier_street_m`` (street length inside the quartier, metres) and
        ``coverage_share`` (0 to 1; ``nan`` without streets).
    """
    x0, y0, x1, y1 = zone.bounds
    streets = store.read("voies", bbox=(x0, y0, x1, y1))
    lines = shapely.intersection(streets.geometry.to_numpy(), zone) if len(streets) else np.array([])
    total = float(shapely.length(lines).sum()) if len(lines) else 0.0
    if total <= 0:
        return {"quartier_street_m": 0.0, "coverage_share": float("nan")}
    walked = shapely.intersection(lines, track.buffer(tolerance_m))
    return {"quartier_street_m": total, "coverage_share": float(shapely.length(walked).sum() / total)}


def check_quartier_network(G: nx.MultiGraph, code: str) -> None:
    """Refuse a walk on a quartier whose street network is too broken (figures in the message).

    Raises
    ------
    UnusableNetworkError
        When the connected part the walk uses holds less than ``MIN_LARGEST_SHARE`` of the
        quartier's street length.
    """
    figures = G.graph.get("quartier_quality")
    if not figures or figures.get("length_m", 0) <= 0:
        return
    share = float(figures["largest_share"])
    if share < MIN_LARGEST_SHARE:
        km = f"{figures['length_m'] / 1000:.1f}".replace(".", ",")
        raise UnusableNetworkError(
            f"Réseau des voies inutilisable pour le quartier {code} : ses {km} km de voies sont en "
            f"{figures['components']} morceaux non reliés, le plus grand n'en porte que {share * 100:.0f} % "
            f"(il en faut {MIN_LARGEST_SHARE * 100:.0f} %). Les arrêts seraient loin du tracé : "
            f"vérifier le réseau avec « qpv reseau verifier --quartier {code} » (lignes non découpées "
            "aux carrefours, écarts entre voies) puis réimporter les voies.")


def _text(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


# --------------------------------------------------------------------------- reading back


def _meta(store: LayerStore, uid: str) -> dict[str, Any]:
    text = store.get_meta(_META_PREFIX + uid)
    return dict(json.loads(text)) if text else {}


def list_walks(store: LayerStore, *, quartier: str | None = None) -> gpd.GeoDataFrame:
    """Return the stored walks, newest first (optionally of one quartier)."""
    where = {"quartier": quartier.upper()} if quartier else None
    return store.read("diagnostics", where=where, order_by="-walk_date")


def load_walk(store: LayerStore, uid: str, *, route: WalkRoute | None = None,
              cache_dir: str | Path | None = None) -> WalkPlan:
    """Read a stored walk back, with its stops and their arrival times.

    Parameters
    ----------
    store : LayerStore
    uid : str
        Identifier of the ``diagnostics`` record.
    route : WalkRoute, optional
        The route just computed (skips the rebuild).
    cache_dir : str or Path, optional
        Street graph cache, used to time the stops of a stored walk.

    Raises
    ------
    NotFoundError
        When there is no such walk.
    """
    row = store.get("diagnostics", uid).iloc[0]
    meta = _meta(store, uid)
    if route is None:
        route = _stored_route(store, row, meta, cache_dir=cache_dir)
    when = pd.Timestamp(row["walk_date"]).to_pydatetime()
    record = {k: row[k] for k in row.index if k != "geometry"}
    return WalkPlan(uid=uid, name=str(row["name"]), quartier=_text(row["quartier"]), walk_date=when,
                    status=_text(row["status"]) or "prévu", route=route,
                    start_label=str(meta.get("start_label", "")), group=meta.get("group"), record=record)


def _stored_route(store: LayerStore, row: pd.Series, meta: Mapping[str, Any], *,
                  cache_dir: str | Path | None) -> WalkRoute:
    track: LineString = row.geometry
    etapes = store.read_children("diagnostics", "etapes", parent_uids=[str(row["uid"])])
    etapes = etapes.sort_values("rank", kind="stable").reset_index(drop=True)
    speed = float(meta.get("speed_kmh", 3.0))
    dwell = float(meta.get("dwell_min", 5.0))
    start = Point(meta["start"]) if meta.get("start") else Point(track.coords[0])
    end = Point(meta["end"]) if meta.get("end") else start
    n = len(etapes)
    pts = [Point(x, y) for x, y in zip(etapes["x"], etapes["y"], strict=True)]
    kinds = list(meta.get("kinds", [])) + [""] * n
    sources = list(meta.get("source_uids", [])) + [""] * n
    simulated = list(meta.get("simulated", [])) + [False] * n
    stops = gpd.GeoDataFrame({
        "order": etapes["rank"].astype(int).to_numpy(), "label": etapes["name"].map(_text).to_numpy(),
        "address": etapes["address"].map(_text).to_numpy(),
        "reason": etapes["to_check"].map(_text).to_numpy(),
        "priority": pd.to_numeric(etapes["priority"]).fillna(0).to_numpy(), "kind": kinds[:n],
        "source_uid": sources[:n], "simulated": simulated[:n],
        "mandatory": etapes["mandatory"].fillna(False).astype(bool).to_numpy(),
    }, geometry=gpd.GeoSeries(pts, crs=TERRITORY_CRS))
    v = speed * 1000.0 / 60.0
    if n:
        legs = _leg_lengths(store, row, [start, *pts], cache_dir=cache_dir)
        arrival = np.cumsum(legs / v) + dwell * np.arange(n)
        stops["distance_m"] = np.cumsum(legs)
        stops["arrival_min"] = np.round(arrival, 1)
        stops["departure_min"] = np.round(arrival + dwell, 1)
    length = float(row["length_m"]) if pd.notna(row["length_m"]) else float(track.length)
    duration = float(row["duration_min"]) if pd.notna(row["duration_min"]) else length / v + dwell * n
    budget = float(row["budget_min"]) if pd.notna(row["budget_min"]) else duration
    kept = {k: meta[k] for k in ("unserved", "coverage_share", "quartier_street_m", "street_length_m",
                                 "max_stop_distance_m", "connectors", "connector_m") if k in meta}
    return WalkRoute(stops=stops, node_path=[], track=track, length_m=length, duration_min=duration,
                     prize=float(stops["priority"].sum()) if n else 0.0, budget_min=budget, speed_kmh=speed,
                     start=start, end=end, solver=str(meta.get("solver", "enregistré")),
                     group=meta.get("group"), meta=kept)


def _leg_lengths(store: LayerStore, row: pd.Series, points: list[Point], *,
                 cache_dir: str | Path | None) -> np.ndarray:
    """Return the walking length of each leg start → stop 1 → stop 2…, on the graph (track as fallback)."""
    try:
        G = split_at_points(quartier_graph(store, str(row["quartier"]), cache_dir=cache_dir), points)
        nodes, _ = nearest_nodes(G, [(p.x, p.y) for p in points])
        D = distance_matrix(G, nodes)
        legs = np.array([D[i, i + 1] for i in range(len(nodes) - 1)])
        if np.isfinite(legs).all():
            return legs
    except QPVError as exc:
        logger.warning("temps des étapes estimés sur le tracé : %s", exc)
    along = np.array([row.geometry.project(p) for p in points])
    return np.abs(np.diff(along))


def walk_graph(store: LayerStore, plan: WalkPlan, *, cache_dir: str | Path | None = None) -> nx.MultiGraph:
    """Street graph of the walk's quartier (for the maps of the documents)."""
    return quartier_graph(store, plan.quartier, cache_dir=cache_dir)


# --------------------------------------------------------------------------- recording


# --------------------------------------------------------------------------- exports


def walk_geojson(store: LayerStore, walk_uid: str, *, plan: WalkPlan | None = None) -> dict[str, Any]:
    """Return the walk as a GeoJSON FeatureCollection (WGS84): track then stops, with the walk's fields."""
    plan = plan or load_walk(store, walk_uid)
    data = route_to_geojson(plan.route)
    data["properties"] = {"uid": plan.uid, "name": plan.name, "quartier": plan.quartier,
                          "walk_date": plan.walk_date.isoformat(), "status": plan.status,
                          "start_label": plan.start_label}
    data["features"][0]["properties"].update({"uid": plan.uid, "name": plan.name})
    return data


def walk_gpx(store: LayerStore, walk_uid: str, *, plan: WalkPlan | None = None) -> str:
    """Return the walk as GPX 1.1 text (track + numbered waypoints)."""
    plan = plan or load_walk(store, walk_uid)
    return route_to_gpx(plan.route, name=plan.name)


def walk_sheet_data(store: LayerStore, walk_uid: str, *, plan: WalkPlan | None = None,
                    cache_dir: str | Path | None = None, radius_m: float = 50.0,
                    start_time: str | None = None) -> WalkSheet:
    """Return what the printable walk sheet shows, with the previous walks' constats still open.

    Parameters
    ----------
    store : LayerStore
    walk_uid : str
        The walk.
    plan : WalkPlan, optional
        The walk already loaded.
    cache_dir : str or Path, optional
        Street graph cache.
    radius_m : float, default 50
        Distance from a stop of the open constats listed under it.
    start_time : str, optional
        Departure time ``"HH:MM"`` (the time of the planned date by default).

    Returns
    -------
    WalkSheet
        Rendered by :func:`webmap.documents.render_walk_sheet_html` / ``_pdf``.
    """
    from layers.walk_stops import walk_stop_details

    plan = plan or load_walk(store, walk_uid, cache_dir=cache_dir)
    G = walk_graph(store, plan, cache_dir=cache_dir)
    follow = previous_open_constats(store, plan.uid, radius_m=radius_m)
    # the stops with their address and what to check: the same text as the walk page
    route = replace(plan.route, stops=walk_stop_details(store, plan.route))
    when = plan.walk_date
    perimeter = quartier_perimeter(store, plan.quartier)  # read once: name and map area
    return WalkSheet(
        route, G, quartier=f"{perimeter['name'].iloc[0]} ({plan.quartier})", title=plan.name,
        walk_date=when.date(), start_time=start_time or f"{when:%H:%M}", start_label=plan.start_label,
        open_observations=follow, match_m=radius_m, area=perimeter,
    )


def walk_report_data(
    store: LayerStore, walk_uid: str, *, plan: WalkPlan | None = None, cache_dir: str | Path | None = None
) -> tuple[WalkRecord, gpd.GeoDataFrame, nx.MultiGraph]:
    """Return what the compte-rendu of a walk shows: the walk, its constats and its street graph.

    Returns
    -------
    (WalkRecord, GeoDataFrame, networkx.MultiGraph)
        Arguments of :func:`webmap.documents.render_walk_report_html` / ``_pdf``
        (``record, observations, G=graph``).
    """
    plan = plan or load_walk(store, walk_uid, cache_dir=cache_dir)
    rec = plan.record or {}
    orgs = [o.strip() for o in _text(rec.get("organisations")).split(",") if o.strip()]
    habitants = rec.get("n_habitants")
    record = WalkRecord(walk_date=plan.walk_date.date(),
                        quartier=f"{_quartier_name(store, plan.quartier)} ({plan.quartier})",
                        organisations=orgs, habitants=int(habitants or 0) if pd.notna(habitants) else 0,
                        route=plan.route, title=plan.name, notes=_text(rec.get("notes")))
    obs = walk_observations(store, plan.uid)
    G = walk_graph(store, plan, cache_dir=cache_dir)
    return record, obs, G


def _quartier_name(store: LayerStore, code: str) -> str:
    try:
        return str(quartier_perimeter(store, code)["name"].iloc[0])
    except WalkError:
        return code


def export_walk(store: LayerStore, walk_uid: str, folder: str | Path, *,
                formats: Sequence[str] = ("geojson", "gpx"), plan: WalkPlan | None = None,
                cache_dir: str | Path | None = None) -> list[Path]:
    """Write the GeoJSON and GPX of a walk into ``folder``.

    The printable walk sheet is written by :func:`webmap.documents.write_walk_sheet`
    from :func:`walk_sheet_data`.

    Parameters
    ----------
    store : LayerStore
    walk_uid : str
        The walk.
    folder : str or Path
        Destination, created when missing.
    formats : sequence of {"geojson", "gpx"}
        Files to write.
    plan : WalkPlan, optional
        The walk already loaded.
    cache_dir : str or Path, optional
        Street graph cache.

    Returns
    -------
    list of Path
        The files written, named after the walk (:attr:`WalkPlan.file_stem`).

    Raises
    ------
    WalkError
        On an unknown format.
    """
    plan = plan or load_walk(store, walk_uid, cache_dir=cache_dir)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out / f"{plan.file_stem}.{fmt}"
        if fmt == "geojson":
            path.write_text(json.dumps(walk_geojson(store, walk_uid, plan=plan), ensure_ascii=False),
                            encoding="utf-8")
        elif fmt == "gpx":
            path.write_text(walk_gpx(store, walk_uid, plan=plan), encoding="utf-8")
        else:
            raise WalkError(f"Format d'export inconnu « {fmt} » (geojson, gpx).")
        written.append(path)
    return written

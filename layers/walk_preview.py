"""Preview of a diagnostic walk for the browser planner: routes, timetable, reasons, nothing saved.

:func:`walk_preview` computes what :func:`layers.walks.plan_walk` would save for the same
:class:`~layers.walks.WalkRequest` (both call :func:`layers.walks.solve_walk`) and returns it
as JSON-ready data in WGS84: per group the route GeoJSON with its numbered stops, the
timetable (clock times from the walk date), the reason each stop was chosen, the stops no
street serves (« non desservi ») and the pedestrian links used; for the whole walk the
candidate stops left out and why. :func:`walk_candidates` lists the candidate stops of a
quartier so the planner can add or drop one.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from pyproj import Transformer

from geo.crs import TERRITORY_CRS, WEB_CRS
from geo.walks.export import connectors_text, route_to_geojson, unserved_text
from geo.walks.model import WalkRoute
from layers._walk_candidates import candidates_with_requests
from layers._walk_inputs import candidate_stops, quartier_perimeter
from layers.store.base import LayerStore
from layers.walks import Progress, SolvedWalk, WalkRequest, candidate_id, solve_walk

logger = logging.getLogger(__name__)

__all__ = ["check_requested_stops", "stop_motive", "walk_candidates", "walk_preview"]

_DAYS = re.compile(r"depuis (\d+) jours")
_DUMPS = re.compile(r"(\d+) dépôt\(s\) sauvage\(s\) en (\d+) jours")
_MONTHS = re.compile(r"depuis (\d+) mois")
_SHARE = re.compile(r"lors de (\d+) %")
#: Why a candidate stop is not in the walk.
LEFT_BUDGET = "hors du temps disponible"
LEFT_EXCLUDED = "retiré par le planificateur"


def stop_motive(kind: str, reason: str, *, mandatory: bool = False) -> str:
    """Return the short French reason a stop is proposed (« constat ouvert depuis 84 jours »).

    Parameters
    ----------
    kind : str
        Kind of the candidate (``constat``, ``point_noir``, ``bac``, ``npnru``, ``rue``,
        ``obligatoire``).
    reason : str
        The priority model's full reason (:mod:`geo.walks.priorities`).
    mandatory : bool
        The planner made it a mandatory stop (« étape obligatoire » comes first).
    """
    text = _kind_motive(kind, reason)
    if mandatory and kind != "obligatoire":
        return f"étape obligatoire ; {text}"
    return text


def _kind_motive(kind: str, reason: str) -> str:
    if kind == "obligatoire":
        return "étape obligatoire"
    if kind == "constat":
        m = _DAYS.search(reason)
        return f"constat ouvert depuis {m.group(1)} jours" if m else "constat ouvert"
    if kind == "point_noir":
        m = _DUMPS.search(reason)
        if not m:
            return "point noir"
        n, months = int(m.group(1)), round(int(m.group(2)) / 30.4)
        if n == 0:
            return f"point noir actif (aucun dépôt en {months} mois)"
        return f"point noir récurrent ({n} dépôt{'s' if n > 1 else ''} en {months} mois)"
    if kind == "npnru":
        return "opération NPNRU livrée" if "livrée" in reason else "chantier NPNRU"
    if kind == "bac":
        m = _SHARE.search(reason)
        return f"bac souvent plein ({m.group(1)} % des relevés)" if m else "bac souvent plein"
    if kind == "rue":
        m = _MONTHS.search(reason)
        return f"rue non observée depuis {m.group(1)} mois" if m else "rue non observée"
    return reason


def _lonlat(frame: gpd.GeoDataFrame) -> list[tuple[float, float]]:
    if not len(frame):
        return []
    tr = Transformer.from_crs(TERRITORY_CRS, WEB_CRS, always_xy=True)
    lon, lat = tr.transform(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy())
    return [(round(float(a), 7), round(float(b), 7)) for a, b in zip(lon, lat, strict=True)]


def _candidate_rows(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    rows = []
    for (key, row), (lon, lat) in zip(frame.iterrows(), _lonlat(frame), strict=True):
        mandatory = bool(row.get("mandatory", False))
        rows.append({"id": str(key), "kind": str(row["kind"]), "label": str(row["label"]),
                     "address": _text(row.get("address")), "lon": lon, "lat": lat,
                     "priority": round(float(row["priority"]), 3), "reason": _text(row["reason"]),
                     "motif": stop_motive(str(row["kind"]), _text(row["reason"]), mandatory=mandatory),
                     "source_uid": _text(row.get("source_uid")),
                     "simulated": bool(row.get("simulated", False))})
    return rows


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def walk_candidates(store: LayerStore, quartier: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Return the candidate stops of a quartier as the planner offers them (« ajouter un arrêt »).

    Returns
    -------
    dict
        ``quartier`` (code), ``nom``, ``candidats``: one dict per stop, highest priority
        first — ``id`` (to give back in ``mandatory`` / ``excluded``), ``kind``, ``label``,
        ``address``, ``lon``/``lat`` (WGS84), ``priority``, ``reason`` (priority model),
        ``motif`` (short French reason), ``source_uid``, ``simulated``.

    Raises
    ------
    WalkError
        On an unknown quartier.
    """
    perimeter = quartier_perimeter(store, quartier)
    stops = candidate_stops(store, perimeter.geometry.iloc[0], now=now)
    stops = stops.set_axis([candidate_id(str(k), str(u)) for k, u in zip(stops["kind"], stops["source_uid"],
                                                                          strict=True)])
    return {"quartier": str(perimeter["code"].iloc[0]), "nom": str(perimeter["name"].iloc[0]),
            "candidats": _candidate_rows(stops)}


def check_requested_stops(store: LayerStore, request: WalkRequest, *, now: datetime | None = None) -> None:
    """Check the request's mandatory and excluded stops against the quartier's candidates, before any routing.

    Raises
    ------
    WalkError
        On an unknown candidate id, a stop both mandatory and excluded, or a mandatory place
        that cannot be found or lies far from the quartier (``field`` names the list).
    """
    if not request.mandatory and not request.excluded:
        return
    perimeter = quartier_perimeter(store, request.quartier)
    candidates_with_requests(store, request.mandatory, request.excluded, zone=perimeter.geometry.iloc[0],
                             code=str(perimeter["code"].iloc[0]), now=now)


def _clock(when: datetime, minutes: Any) -> str:
    return (when + timedelta(minutes=float(minutes))).strftime("%H:%M")


def _group(route: WalkRoute, solved: SolvedWalk) -> dict[str, Any]:
    """One group's route: GeoJSON, timetable with reasons, non desservis, links."""
    geojson = route_to_geojson(route)
    mandatory = set(solved.options.mandatory)
    timetable = []
    for (key, row), (lon, lat) in zip(route.stops.iterrows(), _lonlat(route.stops), strict=True):
        reason = _text(row.get("reason"))
        timetable.append({
            "order": int(row["order"]), "id": str(key), "kind": _text(row.get("kind")),
            "label": _text(row.get("label")), "address": _text(row.get("address")), "lon": lon, "lat": lat,
            "arrival": _clock(solved.when, row["arrival_min"]),
            "departure": _clock(solved.when, row["departure_min"]),
            "arrival_min": float(row["arrival_min"]), "distance_m": round(float(row["distance_m"]), 1),
            "snap_m": round(float(row["snap_m"]), 1), "mandatory": key in mandatory,
            "motif": stop_motive(_text(row.get("kind")), reason, mandatory=key in mandatory),
            "reason": reason,
        })
    for feature in geojson["features"]:  # each stop feature says its candidate id
        props = feature["properties"]
        if props.get("kind") == "arret":
            props["id"] = timetable[int(props["order"]) - 1]["id"]
            props.pop("node", None)
    unserved = [{"id": str(u.get("id", "")), "label": _text(u.get("label")), "kind": _text(u.get("kind")),
                 "statut": unserved_text(u), "reason": _text(u.get("reason")),
                 "distance_m": u.get("distance_m")} for u in route.unserved]
    duration = round(route.duration_min, 1)  # the end is read from the duration shown
    return {"group": route.group or 1, "geojson": geojson, "timetable": timetable,
            "duration_min": duration, "length_m": round(route.length_m, 1),
            "budget_min": route.budget_min, "end": _clock(solved.when, duration),
            "unserved": unserved, "connectors": connectors_text(route)}


def _left_out(solved: SolvedWalk) -> list[dict[str, Any]]:
    """Candidates in no route and not unserved, with why (excluded, or beyond the budget)."""
    frame = solved.candidates
    if not len(frame):
        return []
    taken = {str(k) for r in solved.routes for k in r.stops.index}
    taken |= {str(u.get("id")) for r in solved.routes for u in r.unserved}
    left = frame[[str(k) not in taken for k in frame.index]]
    rows = _candidate_rows(left)
    for row, excluded in zip(rows, left["excluded"].to_numpy(), strict=True):
        row["why"] = LEFT_EXCLUDED if excluded else LEFT_BUDGET
    return sorted(rows, key=lambda r: (r["why"] != LEFT_EXCLUDED, -r["priority"]))


def walk_preview(store: LayerStore, request: WalkRequest, *, cache_dir: str | Path | None = None,
                 now: datetime | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Compute a walk as :func:`layers.walks.plan_walk` would save it, without saving it.

    Parameters
    ----------
    store : LayerStore
        Store with the ``perimetres``, ``voies`` and GUSP layers (only read).
    request : WalkRequest
        The planner's request, with ``mandatory`` and ``excluded`` candidate ids.
    cache_dir : str or Path, optional
        Street graph cache.
    now : datetime, optional
        Reference date of the priorities.
    progress : callable, optional
        Called with the name of each step (« graphe des voies », « calcul du parcours »…).

    Returns
    -------
    dict
        ``quartier``, ``nom``, ``date`` (ISO), ``mode``, ``start`` (``label``, ``lon``, ``lat``),
        ``groups``: per group ``geojson`` (WGS84 track and numbered stops), ``timetable``
        (``order``, ``id``, ``label``, ``arrival``/``departure`` « HH:MM », ``motif``,
        ``reason``…), ``duration_min``, ``length_m``, ``budget_min``, ``end`` (clock time),
        ``unserved`` (« non desservi » with why), ``connectors`` (pedestrian links text);
        ``left_out``: candidates not visited with ``why`` (« hors du temps disponible »,
        « retiré par le planificateur »); ``n_candidates``; ``coverage`` for the every-street
        mode.

    Raises
    ------
    WalkError
        On an unknown quartier, bad start, unknown mandatory or excluded id.
    QPVError
        When the routing fails (mandatory stops beyond the budget…).
    """
    solved = solve_walk(store, request, cache_dir=cache_dir, now=now, progress=progress)
    x, y = solved.meta["start"]
    start = gpd.GeoDataFrame(geometry=gpd.points_from_xy([x], [y]), crs=TERRITORY_CRS)
    (lon, lat), = _lonlat(start)
    groups = [_group(route, solved) for route in solved.routes]
    out: dict[str, Any] = {
        "quartier": solved.code, "nom": solved.quartier_name,
        "date": solved.when.isoformat(timespec="minutes"),
        "mode": request.mode, "start": {"label": solved.start_label, "lon": lon, "lat": lat},
        "groups": groups, "left_out": _left_out(solved), "n_candidates": len(solved.candidates),
    }
    if request.mode == "toutes-les-rues":
        share = solved.routes[0].meta.get("coverage_share")
        out["coverage"] = None if share is None or pd.isna(share) else round(float(share), 4)
    logger.info("preview of %s: %d group(s), %d stop(s)", solved.code, len(groups),
                sum(len(g["timetable"]) for g in groups))
    return out

"""Candidate stops of a walk request: ids, the planner's mandatory places and exclusions.

Private helpers of :func:`layers.walks.solve_walk`: every candidate stop gets an id
``<kind>:<source uid>``; a mandatory place is a candidate id, the uid of its record, a
``"lon,lat"`` or an address; a mandatory place no street joined to the start serves is
listed « non desservi » by the router instead of being snapped to a far street.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS
from geo.walks.network import distance_to_streets, nearest_nodes
from layers._walk_inputs import Place, candidate_stops, resolve_point
from layers.errors import WalkError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

#: Kinds of candidate stops, prefix of their ids.
CANDIDATE_KINDS = ("constat", "point_noir", "bac", "npnru", "rue", "lieu")


def candidate_id(kind: str, source_uid: str) -> str:
    """Return the id of a candidate stop: ``<kind>:<source uid>`` (« constat:3f2a… », « rue:Rue X »)."""
    return f"{kind}:{source_uid}"


def candidates_with_requests(store: LayerStore, mandatory: Sequence[Place], excluded: Sequence[Place], *,
                             zone: BaseGeometry, code: str, now: datetime | None) -> gpd.GeoDataFrame:
    """Return the candidate stops indexed by id, with the planner's mandatory places and exclusions."""
    stops = candidate_stops(store, zone, now=now)
    ids = [candidate_id(str(k), str(u)) for k, u in zip(stops["kind"], stops["source_uid"], strict=True)]
    seen: dict[str, int] = {}
    for i, key in enumerate(ids):  # two stops of one source (never expected): keep both, apart
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            ids[i] = f"{key}#{seen[key]}"
    stops = stops.set_axis(ids)
    stops["mandatory"] = False
    stops["excluded"] = False
    by_uid = {str(u): key for key, u in zip(stops.index, stops["source_uid"], strict=True) if str(u)}
    top = float(stops["priority"].max()) if len(stops) else 1.0
    extras: list[dict[str, Any]] = []
    for i, m in enumerate(mandatory):
        found = _known_id(m, stops.index, by_uid)
        if found is not None:
            stops.loc[found, "mandatory"] = True
            stops.loc[found, "reason"] = f"Étape obligatoire. {stops.loc[found, 'reason']}"
            continue
        if isinstance(m, str) and m.split(":", 1)[0] in CANDIDATE_KINDS and ":" in m:
            raise WalkError(f"Étape obligatoire n° {i + 1} inconnue « {m} » : ce n'est pas un arrêt candidat "
                            f"du quartier {code}.", field="mandatory")
        try:
            pt, label = resolve_point(store, m, near=zone)
        except WalkError as exc:
            raise WalkError(f"Étape obligatoire n° {i + 1} : {exc}", field="mandatory") from None
        if pt.distance(zone) > 250:
            raise WalkError(f"L'arrêt demandé « {label} » est à {pt.distance(zone):.0f} m du quartier "
                            f"{code} : choisir un point dans le quartier ou à ses abords.", field="mandatory")
        extras.append({"kind": "obligatoire", "label": f"Arrêt demandé : {label}",
                       "reason": "Étape obligatoire (arrêt demandé).", "priority": top, "source_uid": "",
                       "address": label, "simulated": False, "mandatory": True, "excluded": False,
                       "geometry": pt, "id": f"lieu:{i + 1}"})
    if extras:
        extra = gpd.GeoDataFrame(extras, geometry="geometry", crs=TERRITORY_CRS).set_index("id")
        extra.index.name = None
        stops = pd.concat([stops, extra])
    for i, x in enumerate(excluded):
        dropped = _known_id(x, stops.index, by_uid)
        if dropped is None:
            raise WalkError(f"Arrêt à retirer n° {i + 1} inconnu « {x} » : ce n'est pas un arrêt candidat "
                            f"du quartier {code}.", field="excluded")
        if stops.loc[dropped, "mandatory"]:
            raise WalkError(f"L'arrêt « {x} » est à la fois obligatoire et retiré : choisir l'un ou l'autre.",
                            field="excluded")
        stops.loc[dropped, "excluded"] = True
    logger.info("%d candidate stops in %s (%d mandatory, %d excluded)", len(stops), code,
                int(stops["mandatory"].sum()), int(stops["excluded"].sum()))
    return stops


def _known_id(value: Place, ids: pd.Index, by_uid: Mapping[str, str]) -> str | None:
    """Return the candidate id ``value`` names (its id or the uid of its source record), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text in ids:
        return text
    return by_uid.get(text)


def unreachable_not_mandatory(G: nx.MultiGraph, stops: gpd.GeoDataFrame, *, start: Point,
                               limit: float) -> gpd.GeoDataFrame:
    """Drop the mandatory flag of the places no street joined to the start serves.

    The router then lists them « non desservi » with the distance to the nearest street (or
    « sur une voie non reliée »), instead of snapping them to a street far away.
    """
    must = stops.index[stops["mandatory"].to_numpy() & ~stops["excluded"].to_numpy()]
    if not len(must):
        return stops
    pts = stops.loc[must].geometry
    far = distance_to_streets(G, pts) > limit
    nodes, _ = nearest_nodes(G, [(p.x, p.y) for p in pts])
    (start_node,), _ = nearest_nodes(G, [(start.x, start.y)])
    joined = nx.node_connected_component(G, start_node)
    cut = np.array([n not in joined for n in nodes])
    lost = must[far | cut]
    if not len(lost):
        return stops
    logger.info("%d mandatory place(s) not served by the streets: listed as unserved", len(lost))
    out = stops.copy()
    out.loc[lost, "mandatory"] = False
    return out

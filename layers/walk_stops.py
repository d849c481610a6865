"""The stops of a stored walk with their address and what to check, read from the store.

The walk page (``/diagnostic/<uid>``) and the printable walk sheet show the same text:
both come from :func:`walk_stop_details`, which reads the records behind the stops
(constats and their history, points noirs and their dumping events, bacs and their fill
readings) and the address points around them, then hands them to
:func:`geo.walks.stopinfo.describe_stops`.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.stats.recurrence import ADDRESS_REACH_M
from geo.walks.model import WalkRoute
from geo.walks.stopinfo import StopSources, describe_stops
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = ["walk_stop_details"]


def _uids(stops: gpd.GeoDataFrame, kind: str) -> list[str]:
    if "kind" not in stops.columns or "source_uid" not in stops.columns:
        return []
    sub = stops[stops["kind"].astype(str) == kind]
    return sorted({str(v) for v in sub["source_uid"] if v is not None and str(v)})


def _records(store: LayerStore, layer: str, uids: list[str]) -> pd.DataFrame | None:
    if not uids:
        return None
    return store.read(layer, where={"uid": uids})


def _children(store: LayerStore, layer: str, child: str, uids: list[str]) -> pd.DataFrame | None:
    if not uids:
        return None
    return store.read_children(layer, child, parent_uids=uids)


def _histories(store: LayerStore, uids: list[str]) -> pd.DataFrame | None:
    frames = []
    for uid in uids:
        h = store.history("observations", uid)
        if len(h):
            frames.append(h.assign(parent_uid=uid) if "parent_uid" not in h.columns else h)
    return pd.concat(frames, ignore_index=True) if frames else None


def _addresses(store: LayerStore, stops: gpd.GeoDataFrame, reach_m: float) -> gpd.GeoDataFrame | None:
    if stops.empty:
        return None
    x0, y0, x1, y1 = stops.to_crs(store.crs).total_bounds
    return store.read("adresses", bbox=(x0 - reach_m, y0 - reach_m, x1 + reach_m, y1 + reach_m))


def walk_stop_details(store: LayerStore, route: WalkRoute, *, reach_m: float = ADDRESS_REACH_M,
                      now: Any = None) -> gpd.GeoDataFrame:
    """Return the walk's stops with ``address``, ``address_source``, ``address_m`` and ``checks``.

    Parameters
    ----------
    store : LayerStore
    route : WalkRoute
        The walk's route (``WalkPlan.route`` of :func:`layers.walks.load_walk`).
    reach_m : float, default 50
        Farthest address point that may name a stop without an address of its own.
    now : datetime-like, optional
        Reference date of the « dépassé » deadlines and the dumping window.

    Returns
    -------
    geopandas.GeoDataFrame
        :attr:`WalkRoute.stops` (EPSG:2154) with the columns of
        :func:`geo.walks.stopinfo.describe_stops`.
    """
    stops = route.stops
    constats, pns, bacs = (_uids(stops, k) for k in ("constat", "point_noir", "bac"))
    sources = StopSources(
        addresses=_addresses(store, stops, reach_m),
        observations=_records(store, "observations", constats),
        histories=_histories(store, constats),
        points_noirs=_records(store, "points_noirs", pns),
        point_noir_events=_children(store, "points_noirs", "evenements", pns),
        bacs=_records(store, "bacs", bacs),
        bac_readings=_children(store, "bacs", "releves", bacs),
    )
    return describe_stops(stops, sources, reach_m=reach_m, now=None if now is None else pd.Timestamp(now))

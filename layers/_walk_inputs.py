"""Inputs of the diagnostic walks read from the store: quartier, meeting point, street graph, stops.

Used by :mod:`layers.walks`; the street graph is cached on disk (the settings' ``cache_dir``).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.perimeters.streetnames import strip_accents
from geo.walks._graph_cache import cache_key, cached_graph
from geo.walks.build import graph_from_streets
from geo.walks.network import CACHE_VERSION, clip_graph, split_at_points
from geo.walks.priorities import PriorityInputs, PriorityOptions, stop_priorities
from geo.walks.quality import network_quality
from layers.errors import WalkError
from layers.settings import get_settings
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

#: A place as a planner gives it: ``"lon,lat"``, an address of the ``adresses`` layer, or a
#: Point in the store CRS.
Place = str | Sequence[float] | Point

__all__ = [
    "candidate_stops",
    "quartier_graph",
    "quartier_perimeter",
    "resolve_point",
    "split_at_points",
]

_LONLAT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[,; ]\s*(-?\d+(?:\.\d+)?)\s*$")


def _fold(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", strip_accents(str(text)).lower()).strip()


def quartier_perimeter(store: LayerStore, quartier: str) -> gpd.GeoDataFrame:
    """Return the perimeter of QPV ``quartier`` (one row, store CRS).

    Raises
    ------
    WalkError
        When no perimeter has this code.
    """
    found = store.read("perimetres", where={"code": str(quartier).strip().upper()})
    if found.empty:
        codes = store.read("perimetres")["code"].astype(str).tolist()
        raise WalkError(f"Quartier inconnu « {quartier} » (quartiers : {', '.join(sorted(codes)[:15])}…).")
    return found.iloc[[0]]


def resolve_point(store: LayerStore, text: str | Sequence[float] | Point, *,
                  near: BaseGeometry | None = None) -> tuple[Point, str]:
    """Turn a meeting point into a point of the store CRS and a readable label.

    Parameters
    ----------
    store : LayerStore
        Store whose ``adresses`` layer resolves address texts.
    text : str, (lon, lat) or Point
        ``"lon,lat"`` (WGS84 degrees), an address « 12 rue X » or a Point in the store CRS.
    near : shapely geometry, optional
        Area (store CRS) around which addresses are searched (2 km margin).

    Returns
    -------
    point : shapely.geometry.Point
    label : str

    Raises
    ------
    WalkError
        When the text is neither coordinates nor a known address.
    """
    if isinstance(text, Point):
        return text, f"{text.x:.0f}, {text.y:.0f}"
    if not isinstance(text, str):
        lon, lat = (float(v) for v in text)
        return _lonlat_point(store, lon, lat), f"{lon:.5f}, {lat:.5f}"
    m = _LONLAT.match(text)
    if m:
        lon, lat = float(m.group(1)), float(m.group(2))
        point = _lonlat_point(store, lon, lat)
        near_address = _nearest_address(store, point)
        return point, f"{lon:.5f}, {lat:.5f}" + (f" (près du {near_address})" if near_address else "")
    return _geocode(store, text, near=near)


def _lonlat_point(store: LayerStore, lon: float, lat: float) -> Point:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise WalkError(f"Coordonnées invalides « {lon}, {lat} » : donner « longitude,latitude » en degrés.")
    x, y = Transformer.from_crs("EPSG:4326", store.crs, always_xy=True).transform(lon, lat)
    return Point(x, y)


def _nearest_address(store: LayerStore, point: Point, *, within_m: float = 80.0) -> str:
    """Return the nearest address of the store (« 12 Rue X »), or "" when none is that close."""
    box = (point.x - within_m, point.y - within_m, point.x + within_m, point.y + within_m)
    found = store.read("adresses", bbox=box)
    if found.empty:
        return ""
    dist = found.geometry.distance(point).to_numpy()
    if dist.min() > within_m:
        return ""
    row = found.iloc[int(np.argmin(dist))]
    number = "" if pd.isna(row["number"]) else f"{int(row['number'])} "
    return f"{number}{row['street']}"


def _geocode(store: LayerStore, text: str, *, near: BaseGeometry | None) -> tuple[Point, str]:
    from geo.perimeters.addressmatch import parse_address

    parsed = parse_address(text)
    if not parsed.street:
        raise WalkError(f"Point de départ illisible « {text} » : donner une adresse ou « lon,lat ».")
    bbox = near.buffer(2000).bounds if near is not None else None
    addr = store.read("adresses", bbox=bbox) if bbox else store.read("adresses")
    if addr.empty:
        raise WalkError("Aucune adresse dans l'entrepôt : donner le départ en « lon,lat ».")
    keys = addr["street"].astype(str).map(_fold)
    wanted = _fold(parsed.street)
    same = keys == wanted
    if not same.any():
        close = difflib.get_close_matches(wanted, sorted(set(keys)), n=1, cutoff=0.8)
        if not close:
            raise WalkError(f"Adresse introuvable « {text} » près du quartier.")
        same = keys == close[0]
    rows = addr[same.to_numpy()]
    if parsed.number is not None:
        numbered = rows[pd.to_numeric(rows["number"], errors="coerce") == parsed.number]
        if not numbered.empty:
            rows = numbered
    if near is not None and len(rows) > 1:
        rows = rows.iloc[[int(np.argmin(rows.geometry.distance(near)))]]
    row = rows.iloc[0]
    number = "" if pd.isna(row["number"]) else f"{int(row['number'])} "
    return Point(row.geometry.x, row.geometry.y), f"{number}{row['street']}"


def quartier_graph(store: LayerStore, quartier: str, *, margin_m: float = 300.0,
                   cache_dir: str | Path | None = None) -> nx.MultiGraph:
    """Build (or read from the disk cache) the pedestrian graph of a quartier from ``voies``.

    Parameters
    ----------
    store : LayerStore
        Store holding the ``voies`` and ``perimetres`` layers.
    quartier : str
        QPV code.
    margin_m : float, default 300
        Margin kept around the quartier, metres.
    cache_dir : str or Path, optional
        Pickle cache folder (the settings' ``cache_dir`` by default), keyed by the streets read, the
        perimeter, the margin and the graph code version.

    Returns
    -------
    networkx.MultiGraph

    Raises
    ------
    WalkError
        When the quartier has no street in the store.
    """
    zone = quartier_perimeter(store, quartier).geometry.iloc[0]
    bbox = tuple(zone.buffer(margin_m + 500).bounds)
    streets = store.read("voies", bbox=bbox)
    if streets.empty:
        raise WalkError(f"Aucune voie dans l'entrepôt autour du quartier {quartier} : importer la couche "
                        "« voies » (filaire des voies).")
    key = cache_key([CACHE_VERSION, repr(float(margin_m)), ",".join(sorted(streets["uid"].astype(str))),
                     str(streets["updated_at"].max()), shapely.to_wkb(shapely.set_precision(zone, 0.01))])
    folder = Path(cache_dir) if cache_dir is not None else get_settings().cache_dir
    def build() -> nx.MultiGraph:
        full = graph_from_streets(streets)
        area = gpd.GeoDataFrame({"code": [quartier], "name": [quartier]}, geometry=[zone], crs=store.crs)
        figures = network_quality(full, areas=area).quartiers[0]
        G = clip_graph(full, zone, margin_m=margin_m)
        G.graph["quartier_quality"] = {"length_m": figures.length_m, "components": figures.components,
                                       "largest_share": figures.largest_share}
        return G

    return cached_graph(folder, "walkgraph", key, build)


def candidate_stops(store: LayerStore, zone: BaseGeometry, *, now: datetime | None = None,
                    margin_m: float = 50.0, unobserved_months: int = 6) -> gpd.GeoDataFrame:
    """Compute the candidate stops of a quartier from the store layers (see :mod:`geo.walks.priorities`).

    Parameters
    ----------
    store : LayerStore
    zone : shapely geometry
        Quartier perimeter (store CRS).
    now : datetime, optional
        Reference date of the ages and windows.
    margin_m : float, default 50
        Stops up to this distance outside the perimeter are kept.
    unobserved_months : int, default 6
        Streets without a constat for this long become stops.

    Returns
    -------
    geopandas.GeoDataFrame
        Stops with ``kind``, ``label``, ``reason``, ``priority``, ``source_uid``, ``address``.
    """
    area = zone.buffer(margin_m)
    bbox = area.bounds

    def inside(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if frame.empty:
            return frame
        return frame[frame.geometry.intersects(area).to_numpy()]

    obs = inside(store.read("observations", bbox=bbox))
    pn = inside(store.read("points_noirs", bbox=bbox))
    pn_events = store.read_children("points_noirs", "evenements", parent_uids=pn["uid"].tolist()) \
        if len(pn) else None
    bacs = inside(store.read("bacs", bbox=bbox))
    readings = store.read_children("bacs", "releves", parent_uids=bacs["uid"].tolist()) if len(bacs) else None
    npnru = inside(store.read("travaux_npnru", bbox=bbox))
    streets = store.read("voies", bbox=bbox)
    if len(streets):
        streets = streets[streets.geometry.intersects(zone).to_numpy()].copy()
        streets["geometry"] = streets.geometry.intersection(zone)
        streets = streets[~streets.geometry.is_empty]
    stops = stop_priorities(PriorityInputs(observations=obs, points_noirs=pn, point_noir_events=pn_events,
                                           bacs=bacs, bac_readings=readings, npnru=npnru, streets=streets),
                            now=now, options=PriorityOptions(unobserved_months=unobserved_months))
    if len(stops):
        simulated: dict[str, bool] = {}
        for frame in (obs, pn, bacs, npnru):
            if len(frame):
                simulated.update(zip(frame["uid"].astype(str), frame["simulated"].fillna(False).astype(bool),
                                     strict=True))
        stops["simulated"] = [simulated.get(str(u), False) for u in stops["source_uid"]]
        stops = stops[stops.geometry.intersects(area).to_numpy()].reset_index(drop=True)
    return stops

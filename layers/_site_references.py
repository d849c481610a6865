"""Points noirs and addresses that name and locate the recurrent sites of a report.

Private to :mod:`layers.analyses`: the quartier and territory reports read them around
their perimeters, one box per perimeter (a territory may span regions: one box over all of
them would read every address in between).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

import geopandas as gpd
import pandas as pd

from geo.stats.recurrence import ADDRESS_REACH_M
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


def _read_boxes(store: LayerStore, layer: str, boxes: Sequence[Box]) -> gpd.GeoDataFrame:
    """Features of ``layer`` in any of ``boxes``, each once (by uid)."""
    frames = [f for f in (store.read(layer, bbox=b) for b in boxes) if len(f)]
    if not frames:
        return gpd.GeoDataFrame()
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    return out.drop_duplicates("uid") if "uid" in out.columns else out


def _readable(readable: Collection[str] | None, layer: str) -> bool:
    return readable is None or layer in readable


def site_points_noirs(
    store: LayerStore, boxes: Sequence[Box], readable: Collection[str] | None = None
) -> gpd.GeoDataFrame | None:
    """Known points noirs in ``boxes``, indexed by uid (None when withheld from the reader or none)."""
    if not _readable(readable, "points_noirs"):
        return None
    sites = _read_boxes(store, "points_noirs", boxes)
    if sites.empty:
        return None
    return sites.set_index(sites["uid"].astype(str)) if "uid" in sites.columns else sites


def site_addresses(
    store: LayerStore, boxes: Sequence[Box], readable: Collection[str] | None = None
) -> gpd.GeoDataFrame | None:
    """Address points in ``boxes`` widened by :data:`ADDRESS_REACH_M` (None when withheld or none)."""
    if not _readable(readable, "adresses"):
        return None
    d = ADDRESS_REACH_M
    wide = [(b[0] - d, b[1] - d, b[2] + d, b[3] + d) for b in boxes]
    addresses = _read_boxes(store, "adresses", wide)
    return None if addresses.empty else addresses


def perimeter_boxes(perimeters: gpd.GeoDataFrame, margin: float) -> list[Box]:
    """One box per perimeter, widened by ``margin`` metres (perimeters in EPSG:2154)."""
    return [(b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin)
            for b in perimeters.geometry.bounds.itertuples(index=False, name=None)]

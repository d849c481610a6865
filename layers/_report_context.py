"""Besides its events, what the maps of a quartier report need.

The address points as background where the store has no streets nor buildings, and the
events of the cells reaching past the margin.
"""

from __future__ import annotations

import dataclasses
import logging

import geopandas as gpd
import pandas as pd

from geo.stats.report import MapLayers, Report
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

#: how far past the margin the events are read: the hexagons on the margin's edge reach beyond it
#: (by up to one cell), and their counts take every event in them
EDGE_REACH_M = 2000.0


def with_edge_events(events: gpd.GeoDataFrame, wide: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the report's events plus those of ``wide`` (the same layer read up to the margin's edge cells).

    The report reads its events around the quartier and margin; a cell on the margin's
    edge extends past it, and reading only that far would count its events partly (a
    cell of 12 events counted 3). The choice of layer and the flags (simulated,
    covered) stay those of ``events``; only the counts of the edge cells gain.
    """
    if wide.empty or events.empty:
        return events if wide.empty else wide
    if "uid" not in events.columns or "uid" not in wide.columns:
        return wide
    extra = wide[~wide["uid"].isin(set(events["uid"]))]
    return pd.concat([events, extra], ignore_index=True) if len(extra) else events


def add_address_context(report: Report, store: LayerStore, bbox: tuple[float, float, float, float]) -> None:
    """Give the report's maps the address points of ``bbox`` when they have no streets nor buildings.

    Paris has the BAN but no street layer in the store: its address points, drawn light,
    show the streets. The report is the one just built; its figures are replaced, not
    mutated (they are frozen).
    """
    maps = [i for i, fig in enumerate(report.figures) if isinstance(getattr(fig, "layers", None), MapLayers)]
    bare = [i for i in maps if _bare(report.figures[i].layers)]  # type: ignore[attr-defined]
    if not bare:
        return
    addresses = store.read("adresses", bbox=square_bbox(bbox))
    if addresses.empty:
        logger.info("no streets, buildings nor addresses around %s: maps without background", bbox)
        return
    shown = gpd.GeoDataFrame(geometry=addresses.geometry.to_numpy(), crs=addresses.crs)
    for i in bare:
        fig = report.figures[i]
        layers = dataclasses.replace(fig.layers, addresses=shown)  # type: ignore[attr-defined]
        report.figures[i] = dataclasses.replace(fig, layers=layers)  # type: ignore[call-arg]


def square_bbox(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Return the square of the same centre holding ``bbox``: the maps grow their window to their frame."""
    x0, y0, x1, y1 = bbox
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - half, cy - half, cx + half, cy + half)


def _bare(layers: MapLayers) -> bool:
    """Tell whether a map has neither streets nor buildings to situate it."""
    return all(frame is None or frame.empty for frame in (layers.streets, layers.buildings))

"""The diagnostic-walk route model shared by routing, exports and documents."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
from shapely.geometry import LineString, Point

__all__ = ["WalkRoute"]


@dataclass(frozen=True)
class WalkRoute:
    """A computed diagnostic walk.

    Attributes
    ----------
    stops : geopandas.GeoDataFrame
        Visited stops in walking order (EPSG:2154) with the input columns plus
        ``order`` (1-based), ``node``, ``snap_m``, ``distance_m`` (cumulated walk
        before the stop), ``arrival_min`` and ``departure_min``.
    node_path : list
        Every graph node walked through, start to end.
    track : shapely.geometry.LineString
        The walked line along the street edges, EPSG:2154.
    length_m : float
        Walked length, metres.
    duration_min : float
        Walking time plus dwell at the stops, minutes.
    prize : float
        Sum of the priorities of the visited stops.
    budget_min, speed_kmh : float
        Inputs the route was computed with.
    start, end : shapely.geometry.Point
        Start and end nodes of the route (EPSG:2154).
    solver : str
        Solver that produced the route.
    group : int or None
        Group number in a split walk.
    """

    stops: gpd.GeoDataFrame
    node_path: list[Hashable]
    track: LineString
    length_m: float
    duration_min: float
    prize: float
    budget_min: float
    speed_kmh: float
    start: Point
    end: Point
    solver: str
    group: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def walk_min(self) -> float:
        """Walking time without the dwell, minutes."""
        return self.length_m / (self.speed_kmh * 1000.0 / 60.0)

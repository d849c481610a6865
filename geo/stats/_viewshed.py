"""Private: camera view polygons by ray casting, blocked by building footprints."""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry


def view_polygon(
    x: float,
    y: float,
    *,
    range_m: float,
    azimuth: float | None = None,
    fov: float | None = None,
    obstacles: np.ndarray | None = None,
    tree: shapely.STRtree | None = None,
    n_rays: int = 180,
) -> BaseGeometry:
    """Polygon seen by a camera at (x, y), in the camera's CRS (metres).

    Parameters
    ----------
    x, y : float
        Camera position.
    range_m : float
        View distance.
    azimuth : float, optional
        Direction of the view, degrees clockwise from north; full circle when omitted.
    fov : float, optional
        Field of view in degrees (full circle when omitted or ≥ 360).
    obstacles : numpy.ndarray of polygons, optional
        Building footprints; the building the camera stands in (or against, within
        1 m) is ignored, since cameras are mounted on facades.
    tree : shapely.STRtree, optional
        Spatial index of ``obstacles``.
    n_rays : int
        Rays over a full circle (fewer for a narrow field of view, at least 8).

    Returns
    -------
    shapely geometry
        The visible area (a Polygon, possibly empty).
    """
    full = azimuth is None or fov is None or fov >= 360
    start, span = 0.0, 360.0
    if azimuth is not None and fov is not None and not full:
        start, span = float(azimuth) - float(fov) / 2.0, float(fov)
    rays_n = max(8, math.ceil(n_rays * span / 360.0))
    bearings = np.linspace(start, start + span, rays_n + (0 if full else 1), endpoint=not full)
    theta = np.deg2rad(90.0 - bearings)
    ex = x + range_m * np.cos(theta)
    ey = y + range_m * np.sin(theta)
    dist = np.full(len(theta), float(range_m))
    if obstacles is not None and tree is not None and len(obstacles):
        origin = shapely.Point(x, y)
        near = tree.query(origin.buffer(range_m))
        cand = obstacles[near]
        cand = cand[shapely.distance(cand, origin) > 1.0]
        if len(cand):
            walls = shapely.union_all(shapely.boundary(cand))
            coords = np.empty((len(theta), 2, 2))
            coords[:, 0, 0], coords[:, 0, 1] = x, y
            coords[:, 1, 0], coords[:, 1, 1] = ex, ey
            rays = cast("NDArray[np.object_]", shapely.linestrings(coords))
            hits = shapely.intersection(rays, walls)
            has = ~shapely.is_empty(hits)
            dist[has] = shapely.distance(origin, hits[has])
    px = x + dist * np.cos(theta)
    py = y + dist * np.sin(theta)
    ring = np.column_stack([px, py]) if full else np.vstack([[x, y], np.column_stack([px, py]), [x, y]])
    poly = shapely.Polygon(ring)
    return poly if poly.is_valid else shapely.make_valid(poly)

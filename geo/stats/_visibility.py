"""Private: exact camera view polygons (visibility polygons) among building footprints.

The view of a camera is its disc or sector minus the shadow of every building wall within
range. The shadow of a wall ``ab`` seen from the camera ``o`` is the region behind it: the
polygon ``a, b, b', m', a'`` where ``a'``, ``m'`` and ``b'`` lie on the rays through ``a``, the
middle direction and ``b`` at twice the range, so the whole region beyond the wall inside the
disc is covered. Subtracting the union of these shadows is exact at every building corner (the
shadow edges are the rays through the corners), unlike ray casting at fixed angles; only the
outer arc is approximated by a polygon (``arc_points`` per full circle).

The camera's own building — the footprints containing its position or within
``own_building_m`` of it, since cameras are mounted on façades — hides what lies behind it
but nothing in front of the façade: the camera is placed just outside the façade (at the
nearest point of the footprint's outline, ``FACADE_OFFSET_M`` out) and the own building then
casts its shadows like any other. The distance moved is returned so callers can report it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

FACADE_OFFSET_M = 0.05
"""Distance in front of the façade at which a camera mounted on it is placed (metres)."""


@dataclass(frozen=True)
class View:
    """A camera's view polygon and how it was obtained.

    Attributes
    ----------
    polygon : shapely geometry
        The visible area (Polygon or MultiPolygon, possibly empty).
    own_building : bool
        Whether a footprint contained or touched the camera (its own building).
    moved_m : float
        Distance the camera was moved to stand in front of its façade (0 when not).
    """

    polygon: BaseGeometry
    own_building: bool
    moved_m: float


def view_area(x: float, y: float, range_m: float, azimuth: float | None, fov: float | None,
              arc_points: int) -> BaseGeometry:
    """Disc (or sector) of radius ``range_m`` around (x, y), its arc as a polygon.

    Parameters
    ----------
    x, y : float
        Camera position (metres).
    range_m : float
        Radius.
    azimuth, fov : float, optional
        Direction (degrees clockwise from north) and field of view in degrees; a full disc
        when either is missing or ``fov`` ≥ 360.
    arc_points : int
        Arc points per full circle (at least 8 on any sector).

    Returns
    -------
    shapely.Polygon
        The disc or sector.
    """
    full = azimuth is None or fov is None or fov >= 360
    start, span = 0.0, 360.0
    if azimuth is not None and fov is not None and not full:
        start, span = float(azimuth) - float(fov) / 2.0, float(fov)
    n = max(8, math.ceil(arc_points * span / 360.0))
    bearings = np.linspace(start, start + span, n + (0 if full else 1), endpoint=not full)
    theta = np.deg2rad(90.0 - bearings)
    arc = np.column_stack([x + range_m * np.cos(theta), y + range_m * np.sin(theta)])
    ring = arc if full else np.vstack([[x, y], arc, [x, y]])
    return shapely.Polygon(ring)


def _in_front_of_facade(x: float, y: float, own: BaseGeometry) -> tuple[float, float]:
    """Point just outside ``own`` nearest to (x, y): the camera standing on its façade."""
    p = shapely.Point(x, y)
    q = shapely.get_coordinates(shapely.shortest_line(shapely.boundary(own), p))[0]
    # the part of a small disc around the façade point outside the building: its centroid
    # lies in front of the façade (on the outward normal, or the bisector at a corner)
    outside = shapely.difference(shapely.Point(q).buffer(3 * FACADE_OFFSET_M, quad_segs=16), own)
    if outside.is_empty:
        return float(q[0]), float(q[1])
    c = shapely.get_coordinates(outside.centroid)[0]
    if shapely.intersects_xy(own, c[0], c[1]):  # a narrow re-entrant corner: any outside point
        c = shapely.get_coordinates(outside.representative_point())[0]
    return float(c[0]), float(c[1])


def _shadows(x: float, y: float, walls: BaseGeometry, reach: float) -> BaseGeometry:
    """Union of the shadows of every segment of ``walls`` seen from (x, y)."""
    coords, part = shapely.get_coordinates(shapely.get_parts(walls), return_index=True)
    same = part[:-1] == part[1:]  # consecutive vertices of the same line: a segment
    a, b = coords[:-1][same] - (x, y), coords[1:][same] - (x, y)
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    keep = np.abs(cross) > 1e-9  # a wall seen edge-on casts no shadow of its own
    a, b = a[keep], b[keep]
    if not len(a):
        return shapely.Polygon()
    ua = a / np.hypot(a[:, 0], a[:, 1])[:, None]
    ub = b / np.hypot(b[:, 0], b[:, 1])[:, None]
    mid = ua + ub
    mid /= np.hypot(mid[:, 0], mid[:, 1])[:, None]
    rings = np.stack([a, b, ub * reach, mid * reach, ua * reach, a], axis=1) + np.array([x, y])
    return shapely.union_all(shapely.polygons(rings))


def visibility(
    x: float,
    y: float,
    area: BaseGeometry,
    *,
    range_m: float,
    obstacles: np.ndarray | None = None,
    tree: shapely.STRtree | None = None,
    own_building_m: float = 1.0,
) -> View:
    """Exact view of a camera at (x, y) over ``area`` (its disc or sector), among buildings.

    Parameters
    ----------
    x, y : float
        Camera position (metres, same CRS as ``obstacles``).
    area : shapely geometry
        The disc or sector of :func:`view_area`.
    range_m : float
        Its radius.
    obstacles : numpy.ndarray of polygons, optional
        Building footprints.
    tree : shapely.STRtree, optional
        Spatial index of ``obstacles``.
    own_building_m : float
        Footprints within this distance of the camera are its own building.

    Returns
    -------
    View
        The visible area, whether the camera has an own building, the distance moved.
    """
    if obstacles is None or tree is None or not len(obstacles):
        return View(area, own_building=False, moved_m=0.0)
    origin = shapely.Point(x, y)
    cand = obstacles[tree.query(origin.buffer(range_m + own_building_m))]
    if not len(cand):
        return View(area, own_building=False, moved_m=0.0)
    own_mask = shapely.distance(cand, origin) <= own_building_m
    cx, cy = x, y
    blocks = shapely.union_all(cand)  # merged: no wall inside another building
    if own_mask.any():
        # the footprints around the camera as one block: gaps narrower than own_building_m
        # between them (drawing slivers, not streets) closed, corners kept square
        half = own_building_m / 2.0
        own = shapely.buffer(
            shapely.buffer(shapely.union_all(cand[own_mask]), half, join_style="mitre"),
            -half, join_style="mitre",
        )
        blocks = shapely.union_all([blocks, own])
        if shapely.intersects_xy(own, x, y):  # inside or on the outline: to the façade
            cx, cy = _in_front_of_facade(x, y, own)
            # the disc or sector moves with the camera: anchored inside the building, a
            # sector along the wall would keep a wedge of the building's interior in view
            shift = np.array([cx - x, cy - y])
            area = shapely.transform(area, lambda c: c + shift)
    walls = shapely.intersection(shapely.boundary(blocks), area.buffer(1e-6))
    shadow = _shadows(cx, cy, walls, 2.0 * range_m + own_building_m)
    seen = shapely.difference(area, shadow)
    seen = seen if seen.is_valid else shapely.make_valid(seen)
    return View(seen, own_building=bool(own_mask.any()), moved_m=math.hypot(cx - x, cy - y))

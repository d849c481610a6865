"""Hexagonal and square bins in the territory CRS, with an automatic bin size.

Bins are the spatial units of the hotspot analyses (:mod:`geo.stats.hotspots`,
:mod:`geo.stats.emerging`). They are regular cells of EPSG:2154 whose *size* is the
distance between the centres of two adjacent cells (for a square, its side; for a
pointy-top hexagon, its width across flats).

Automatic size rule (:func:`auto_bin_size`)
-------------------------------------------
Let ``n`` be the number of points, ``A`` the area of the study zone (the convex hull
of the points when no zone is given) and ``d`` the mean nearest-neighbour distance
between *distinct* point locations. The cell area is chosen so that a cell holds
``points_per_bin`` points on average under complete spatial randomness, i.e.
``size = sqrt(points_per_bin * A / n)`` (for a hexagon, area = size² · √3/2), but the
size is never smaller than ``2 d`` (a cell must be wider than the typical spacing of
distinct locations, so that repeated reports at one address do not make a cell of
their own), and it is clipped to ``[min_size, max_size]`` and rounded to 5 m.
"""

from __future__ import annotations

import logging
import math
from typing import Literal, cast, get_args

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import AnalysisError

logger = logging.getLogger(__name__)

__all__ = [
    "BinShape",
    "assign_bins",
    "auto_bin_size",
    "check_grid",
    "count_in_bins",
    "make_bins",
    "point_coordinates",
]

BinShape = Literal["hex", "square"]
SQRT3 = math.sqrt(3.0)


def point_coordinates(points: gpd.GeoDataFrame) -> np.ndarray:
    """Return the (n, 2) coordinates of ``points`` in EPSG:2154.

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Point features in any declared CRS (non-point geometries are reduced to a
        representative point).

    Returns
    -------
    numpy.ndarray
        Float array of shape (n, 2); rows of empty geometries are NaN.

    Raises
    ------
    AnalysisError
        When ``points`` is not a GeoDataFrame.
    """
    if not isinstance(points, gpd.GeoDataFrame):
        raise AnalysisError("Les données doivent être une table géographique (GeoDataFrame).")
    proj = to_territory_crs(points)
    geoms = proj.geometry.to_numpy()
    out = np.full((len(geoms), 2), np.nan)
    if len(geoms) == 0:
        return out
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    is_point = shapely.get_type_id(geoms) == 0
    pts = geoms.copy()
    pts[~is_point] = None
    other = ok & ~is_point
    if other.any():
        pts[other] = shapely.point_on_surface(geoms[other])
    sel = ok
    out[sel, 0] = shapely.get_x(pts[sel])
    out[sel, 1] = shapely.get_y(pts[sel])
    return out


def _zone_geometry(area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None) -> BaseGeometry | None:
    """Union of a zone given as frame, series or geometry (a bare geometry is taken as EPSG:2154)."""
    if area is None:
        return None
    if isinstance(area, BaseGeometry):
        return area
    if isinstance(area, gpd.GeoSeries):
        area = gpd.GeoDataFrame(geometry=area)
    proj = to_territory_crs(area)
    return shapely.union_all(proj.geometry.to_numpy())


def auto_bin_size(
    points: gpd.GeoDataFrame,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
    points_per_bin: float = 3.0,
    shape: BinShape = "hex",
    min_size: float = 25.0,
    max_size: float = 1000.0,
) -> float:
    """Choose a bin size (metres) from the points' density and nearest-neighbour distances.

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        The events.
    area : GeoDataFrame, GeoSeries or shapely geometry, optional
        Study zone (bare geometries in EPSG:2154); the points' convex hull otherwise.
    points_per_bin : float
        Mean number of points per cell under spatial randomness (3 by default).
    shape : {"hex", "square"}
        Cell shape, which sets the area of a cell of a given size.
    min_size, max_size : float
        Bounds of the result, in metres.

    Returns
    -------
    float
        The cell size, in metres, rounded to 5 m (see the module docstring for the rule).

    Raises
    ------
    AnalysisError
        When there are fewer than 3 distinct locations or the parameters are not positive.
    """
    if points_per_bin <= 0 or min_size <= 0 or max_size < min_size:
        raise AnalysisError("Paramètres de taille de maille invalides.")
    xy = point_coordinates(points)
    xy = xy[np.isfinite(xy).all(axis=1)]
    distinct = np.unique(np.round(xy, 1), axis=0)
    if len(distinct) < 3:
        raise AnalysisError("Trop peu de points distincts (moins de 3) pour choisir une taille de maille.")
    zone = _zone_geometry(area)
    if zone is not None:
        surface = zone.area
    else:  # (n, 2) coordinates make a single MultiPoint
        surface = shapely.convex_hull(cast(shapely.MultiPoint, shapely.multipoints(distinct))).area
    nn_dist, _ = cKDTree(distinct).query(distinct, k=2)
    mean_nn = float(nn_dist[:, 1].mean())
    cell_factor = SQRT3 / 2.0 if shape == "hex" else 1.0
    density_size = math.sqrt(points_per_bin * max(surface, 1.0) / (len(xy) * cell_factor))
    size = max(density_size, 2.0 * mean_nn)
    size = float(np.clip(round(size / 5.0) * 5.0, min_size, max_size))
    logger.debug("auto bin size %.0f m (density %.1f m, mean NN %.1f m)", size, density_size, mean_nn)
    return size


def _cell_polygons(centres: np.ndarray, size: float, shape: BinShape) -> np.ndarray:
    """Polygons of cells centred on ``centres``."""
    if shape == "square":
        h = size / 2.0
        return shapely.box(centres[:, 0] - h, centres[:, 1] - h, centres[:, 0] + h, centres[:, 1] + h)
    radius = size / SQRT3  # circumradius of a pointy-top hexagon of width ``size``
    angles = np.deg2rad(np.arange(30, 390, 60))
    xs = centres[:, 0:1] + radius * np.cos(angles)[None, :]
    ys = centres[:, 1:2] + radius * np.sin(angles)[None, :]
    rings = np.stack([xs, ys], axis=-1)
    rings = np.concatenate([rings, rings[:, :1, :]], axis=1)
    # millimetre rounding makes neighbours share their vertices exactly (contiguity weights)
    return cast("NDArray[np.object_]", shapely.polygons(np.round(rings, 3)))


def _lattice(bounds: tuple[float, float, float, float], size: float, shape: BinShape) -> np.ndarray:
    """Cell centres covering ``bounds``, anchored on a multiple of ``size`` for stable grids."""
    x0, y0, x1, y1 = bounds
    if shape == "square":
        xs = np.arange(math.floor(x0 / size) * size, x1 + size, size) + size / 2
        ys = np.arange(math.floor(y0 / size) * size, y1 + size, size) + size / 2
        gx, gy = np.meshgrid(xs, ys)
        return np.column_stack([gx.ravel(), gy.ravel()])
    dy = size * SQRT3 / 2.0
    row0 = math.floor(y0 / dy) - 1
    rows = np.arange(row0, math.ceil(y1 / dy) + 2)
    hx = np.arange(math.floor(x0 / size) - 1, math.ceil(x1 / size) + 2) * size
    gx, gr = np.meshgrid(hx, rows)
    gx = gx + (gr % 2) * size / 2.0
    return np.column_stack([gx.ravel(), (gr * dy).ravel()])


def check_grid(shape: str, size: float | None, margin: float) -> None:
    """Check a grid's shape, cell size and margin.

    Raises
    ------
    AnalysisError
        On an unknown shape, a size that is not positive or a negative margin.
    """
    if shape not in get_args(BinShape):
        raise AnalysisError(f"Forme de maille inconnue « {shape} » (hex ou square).")
    if size is not None and size <= 0:
        raise AnalysisError("La taille de maille doit être positive.")
    if margin < 0:
        raise AnalysisError("La marge doit être positive ou nulle.")


def make_bins(
    points: gpd.GeoDataFrame | None = None,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
    size: float | None = None,
    shape: BinShape = "hex",
    margin: float = 0.0,
    points_per_bin: float = 3.0,
) -> gpd.GeoDataFrame:
    """Build the regular cells covering a zone (or the points' extent), in EPSG:2154.

    Parameters
    ----------
    points : geopandas.GeoDataFrame, optional
        Events; needed when ``area`` or ``size`` is not given.
    area : GeoDataFrame, GeoSeries or shapely geometry, optional
        Study zone (a quartier); the points' bounding box otherwise.
    size : float, optional
        Cell size in metres; :func:`auto_bin_size` when omitted.
    shape : {"hex", "square"}
        Hexagons (default) or squares.
    margin : float
        Buffer added around ``area`` (metres) so that hotspots on the edge of a
        quartier keep their neighbours.
    points_per_bin : float
        Passed to :func:`auto_bin_size`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``bin_id`` (int), ``x``, ``y`` (centre), ``geometry`` (the cell), in
        EPSG:2154; ``attrs["bin_size"]`` and ``attrs["bin_shape"]`` record the grid.

    Raises
    ------
    AnalysisError
        On a bad shape or size, or when neither points nor area are given.
    """
    check_grid(shape, size, margin)
    zone = _zone_geometry(area)
    if zone is not None and margin > 0:
        zone = zone.buffer(margin)
    if size is None:
        if points is None:
            raise AnalysisError("Donner des points ou une taille de maille.")
        size = auto_bin_size(points, area=zone, points_per_bin=points_per_bin, shape=shape)
    if zone is not None:
        bounds = zone.bounds
    elif points is not None:
        xy = point_coordinates(points)
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy) == 0:
            raise AnalysisError("Aucun point localisé pour construire les mailles.")
        bounds = (*xy.min(axis=0), *xy.max(axis=0))
    else:
        raise AnalysisError("Donner des points ou une zone d'étude.")
    centres = _lattice(bounds, size, shape)
    cells = _cell_polygons(centres, size, shape)
    window = zone if zone is not None else shapely.box(*bounds)
    # cells sharing only an edge or a vertex with the zone are not part of it
    keep = shapely.intersects(cells, window) & ~shapely.touches(cells, window)
    centres, cells = centres[keep], cells[keep]
    out = gpd.GeoDataFrame(
        {"bin_id": np.arange(len(cells)), "x": centres[:, 0], "y": centres[:, 1]},
        geometry=cells,
        crs=TERRITORY_CRS,
    )
    out.attrs["bin_size"] = float(size)
    out.attrs["bin_shape"] = shape
    return out


def assign_bins(bins: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> np.ndarray:
    """Return, for each point, the position (0…n-1) of the bin holding it, or -1.

    Parameters
    ----------
    bins : geopandas.GeoDataFrame
        Cells from :func:`make_bins`.
    points : geopandas.GeoDataFrame
        Events, in any CRS.

    Returns
    -------
    numpy.ndarray
        Integer positions into ``bins`` (not index labels).
    """
    xy = point_coordinates(points)
    pos = np.full(len(xy), -1, dtype=np.int64)
    if len(bins) == 0 or len(xy) == 0:
        return pos
    ok = np.isfinite(xy).all(axis=1)
    centres = np.column_stack([bins["x"].to_numpy(float), bins["y"].to_numpy(float)])
    _, nearest = cKDTree(centres).query(xy[ok], k=1)
    cand = nearest.astype(np.int64)
    # the nearest kept centre is the containing cell only if that cell was kept: check exactly
    inside = shapely.intersects_xy(bins.geometry.to_numpy()[cand], xy[ok, 0], xy[ok, 1])
    cand[~inside] = -1
    pos[ok] = cand
    return pos


def count_in_bins(
    bins: gpd.GeoDataFrame, points: gpd.GeoDataFrame, *, weight: str | None = None
) -> gpd.GeoDataFrame:
    """Count (or sum ``weight`` of) the points falling in each bin.

    Parameters
    ----------
    bins : geopandas.GeoDataFrame
        Cells from :func:`make_bins`.
    points : geopandas.GeoDataFrame
        Events.
    weight : str, optional
        Numeric column of ``points`` to sum instead of counting (missing values count 0).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``bins`` with a ``count`` column (float when ``weight`` is given).

    Raises
    ------
    AnalysisError
        When ``weight`` is not a column of ``points``.
    """
    if weight is not None and weight not in points.columns:
        raise AnalysisError(f"Colonne de pondération « {weight} » absente.")
    pos = assign_bins(bins, points)
    ok = pos >= 0
    w = None if weight is None else np.nan_to_num(points[weight].to_numpy(dtype=float))[ok]
    counts = np.bincount(pos[ok], weights=w, minlength=len(bins))
    out = bins.copy()
    out["count"] = counts if weight is not None else counts.astype(np.int64)
    return out

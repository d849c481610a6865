"""Hexagonal and square bins in the territory CRS, with an automatic bin size.

Bins are the spatial units of the hotspot analyses (:mod:`geo.stats.hotspots`,
:mod:`geo.stats.emerging`). They are regular cells of EPSG:2154 whose *size* is the
distance between the centres of two adjacent cells (for a square, its side; for a
pointy-top hexagon, its width across flats).

Automatic size rule (:func:`choose_bin_size`)
---------------------------------------------
Incident-based, as ArcGIS Optimized Hot Spot Analysis: the scale comes from the
distances between the *events* (every event counts, repeated reports at one place
included — not the distinct sites, which let a few repeated sites drive the size).

1. ``k = ceil(5 % of n)``, between 3 and 30 (``n`` events); ``d`` is the mean, over the
   events, of the distance to their ``k``-th nearest other event (beyond 200,000
   events, over a seeded sample of 20,000 of them, against all events).
2. The cell has the area of the disc of radius ``d``: under spatial randomness it holds
   ``k`` events on average; ``size = d · sqrt(2π/√3)`` for a hexagon, ``d · √π`` for a square.
3. Floor: while the study area (zone ∩ source coverage) holds fewer than
   :data:`MIN_NONEMPTY_CELLS` (30) non-empty cells, the size shrinks by 10 % steps,
   down to ``min_size`` (25 m). When even then fewer than 30 cells hold an event, the
   choice says so (:attr:`BinSizeChoice.supported` is False): the data cannot support
   a Gi* analysis.
4. The size is rounded to 5 m and clipped to ``[min_size, max_size]``.

The mean k-NN distance moves by about 1/n when one event is added, and the floor by at
most one 10 % step: the size is stable.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal, cast, get_args

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import AnalysisError

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_LATTICE_CELLS",
    "MIN_NONEMPTY_CELLS",
    "BinShape",
    "BinSizeChoice",
    "assign_bins",
    "auto_bin_size",
    "check_grid",
    "choose_bin_size",
    "count_in_bins",
    "lattice_keys",
    "make_bins",
    "point_coordinates",
    "points_extent",
]

BinShape = Literal["hex", "square"]
SQRT3 = math.sqrt(3.0)
#: Fewest non-empty cells a Gi* analysis needs (the floor of the automatic size rule).
MIN_NONEMPTY_CELLS = 30
#: Most cells of the bounding lattice of a grid whose size is automatic (the events' scale
#: over an extent spanning regions would exhaust the memory: 4,000,000 hexagons take about
#: 2 GB with their polygons). An explicit size is not checked.
MAX_LATTICE_CELLS = 4_000_000
#: Shrink factor of the floor loop of :func:`choose_bin_size`.
_SHRINK = 0.9
#: Beyond this many events, the k-NN distances are averaged over a seeded sample of
#: :data:`_KNN_QUERIES` events (against all events): standard error about 0.5 % of the mean.
_KNN_SAMPLE = 200_000
_KNN_QUERIES = 20_000


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
    same = points.crs is not None and points.crs.equals(TERRITORY_CRS)
    geoms = (points.geometry if same else to_territory_crs(points).geometry).to_numpy()
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


# --------------------------------------------------------------------------- lattice keys

_ROW = np.int64(1) << np.int64(32)
_COL0 = np.int64(1) << np.int64(31)


def _key(row: np.ndarray, col: np.ndarray) -> np.ndarray:
    return row.astype(np.int64) * _ROW + (col.astype(np.int64) + _COL0)


def lattice_keys(xy: np.ndarray, size: float, shape: BinShape) -> np.ndarray:
    """Key of the lattice cell holding each point (the grid of :func:`make_bins`), vectorised.

    Parameters
    ----------
    xy : numpy.ndarray
        (n, 2) finite coordinates in EPSG:2154.
    size : float
        Cell size in metres.
    shape : {"hex", "square"}
        Cell shape.

    Returns
    -------
    numpy.ndarray
        int64 keys; two points share a key exactly when they fall in the same cell.
    """
    x, y = xy[:, 0], xy[:, 1]
    if shape == "square":
        return _key(np.floor(y / size), np.floor(x / size))
    dy = size * SQRT3 / 2.0
    r0 = np.floor(y / dy)
    best_r = r0
    best_c = np.zeros_like(r0)
    best_d = np.full(len(x), np.inf)
    for r in (r0, r0 + 1):  # the nearest centre lies in one of the two rows around the point
        shift = np.mod(r, 2) * size / 2.0
        c = np.round((x - shift) / size)
        d = (x - (c * size + shift)) ** 2 + (y - r * dy) ** 2
        closer = d < best_d
        best_r = np.where(closer, r, best_r)
        best_c = np.where(closer, c, best_c)
        best_d = np.where(closer, d, best_d)
    return _key(best_r, best_c)


def _centre_keys(centres: np.ndarray, size: float, shape: BinShape) -> np.ndarray:
    """Keys of cells given by their centres (the inverse of :func:`_lattice`)."""
    if shape == "square":
        return _key(np.round(centres[:, 1] / size - 0.5), np.round(centres[:, 0] / size - 0.5))
    dy = size * SQRT3 / 2.0
    r = np.round(centres[:, 1] / dy)
    c = np.round((centres[:, 0] - np.mod(r, 2) * size / 2.0) / size)
    return _key(r, c)


# --------------------------------------------------------------------------- automatic size


@dataclass(frozen=True)
class BinSizeChoice:
    """The automatic bin size and what it rests on (for the method note of the reports).

    Attributes
    ----------
    size : float
        Cell size in metres.
    events : int
        Located events the rule used.
    k : int
        Neighbour rank of the incident distance.
    mean_knn : float
        Mean distance of the events to their k-th nearest event, metres.
    initial_size : float
        Size from the incident distance, before the floor.
    nonempty : int
        Cells of the study area holding at least one event, at ``size``.
    distinct : int
        Distinct event locations (to the decimetre).
    supported : bool
        At least :data:`MIN_NONEMPTY_CELLS` non-empty cells: the data can support Gi*.
    """

    size: float
    events: int
    k: int
    mean_knn: float
    initial_size: float
    nonempty: int
    distinct: int
    supported: bool


def _mean_knn(xy: np.ndarray, k: int) -> float:
    """Mean distance of the events to their k-th nearest other event (seeded sample when many)."""
    tree = cKDTree(xy)
    query = xy
    if len(xy) > _KNN_SAMPLE:
        query = xy[np.random.default_rng(0).choice(len(xy), _KNN_QUERIES, replace=False)]
    dist, _ = tree.query(query, k=k + 1, workers=-1)
    return float(dist[:, k].mean())


def _distinct(xy: np.ndarray) -> int:
    """Return the number of distinct locations, to the decimetre (integer keys: fast on 10⁶ events)."""
    if not len(xy):
        return 0
    cells = np.round(xy * 10.0).astype(np.int64)
    cells -= cells.min(axis=0)
    return _count_distinct(cells[:, 0] * (int(cells[:, 1].max()) + 1) + cells[:, 1])


def _count_distinct(keys: np.ndarray) -> int:
    """Return the number of distinct integers (a sort: faster than ``np.unique`` on 10⁶ keys)."""
    if not len(keys):
        return 0
    srt = np.sort(keys)
    return int(np.count_nonzero(srt[1:] != srt[:-1])) + 1


def _nonempty(xy: np.ndarray, size: float, shape: BinShape) -> int:
    return _count_distinct(lattice_keys(xy, size, shape))


def _round5(size: float, min_size: float, max_size: float) -> float:
    return float(np.clip(round(size / 5.0) * 5.0, min_size, max_size))


def choose_bin_size(
    points: gpd.GeoDataFrame,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
    mask: BaseGeometry | None = None,
    shape: BinShape = "hex",
    min_size: float = 25.0,
    max_size: float = 1000.0,
) -> BinSizeChoice:
    """Choose a bin size (metres) from the distances between the events (see the module docstring).

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        The events.
    area : GeoDataFrame, GeoSeries or shapely geometry, optional
        Study zone (bare geometries in EPSG:2154); the events' extent otherwise.
    mask : shapely geometry, optional
        Where the events' source can report (EPSG:2154): only the events inside count.
    shape : {"hex", "square"}
        Cell shape.
    min_size, max_size : float
        Bounds of the result, in metres.

    Returns
    -------
    BinSizeChoice
        The size and the figures it rests on.

    Raises
    ------
    AnalysisError
        When there are fewer than 3 distinct locations or the bounds are not positive.
    """
    if min_size <= 0 or max_size < min_size:
        raise AnalysisError("Paramètres de taille de maille invalides.")
    xy = point_coordinates(points)
    xy = xy[np.isfinite(xy).all(axis=1)]
    for window in (_zone_geometry(area), mask):
        if window is not None and len(xy):
            xy = xy[shapely.intersects_xy(window, xy[:, 0], xy[:, 1])]  # boundary included
    distinct = _distinct(xy)
    if distinct < 3:
        raise AnalysisError(f"Trop peu de lieux distincts ({distinct}, 3 au moins) pour choisir une "
                            "taille de maille.")
    k = int(min(30, max(3, math.ceil(0.05 * len(xy)))))
    k = min(k, len(xy) - 1)
    mean_knn = _mean_knn(xy, k)
    factor = math.sqrt(2.0 * math.pi / SQRT3) if shape == "hex" else math.sqrt(math.pi)
    size = _round5(mean_knn * factor, min_size, max_size)
    initial = size
    nonempty = _nonempty(xy, size, shape)
    raw = size
    while nonempty < MIN_NONEMPTY_CELLS and size > min_size:
        raw *= _SHRINK
        size = _round5(raw, min_size, max_size)
        nonempty = _nonempty(xy, size, shape)
    logger.debug("auto bin size %.0f m (k=%d, mean kNN %.1f m, %d non-empty cells)", size, k, mean_knn,
                 nonempty)
    return BinSizeChoice(size=size, events=len(xy), k=k, mean_knn=mean_knn, initial_size=initial,
                         nonempty=nonempty, distinct=distinct, supported=nonempty >= MIN_NONEMPTY_CELLS)


def points_extent(
    xy: np.ndarray, *, buffer: float, ratio: float = 0.05, simplify: float = 10.0
) -> BaseGeometry:
    """Concave hull of points, buffered: where a source's events (or addresses) lie.

    Parameters
    ----------
    xy : numpy.ndarray
        (n, 2) coordinates in EPSG:2154 (non-finite rows are ignored).
    buffer : float
        Buffer in metres (one cell for the fallback coverage of a source).
    ratio : float
        ``shapely.concave_hull`` ratio (0.05: close to the outline without following
        every street; 1 is the convex hull).
    simplify : float
        Tolerance in metres of the simplification of the result.

    Returns
    -------
    shapely geometry
        A polygon (or multipolygon) in EPSG:2154.

    Raises
    ------
    AnalysisError
        With fewer than 3 distinct points.
    """
    xy = np.asarray(xy, dtype=float)
    xy = np.unique(xy[np.isfinite(xy).all(axis=1)], axis=0)
    if len(xy) < 3:
        raise AnalysisError("Trop peu de points distincts (moins de 3) pour délimiter une zone.")
    hull = cast(BaseGeometry, shapely.concave_hull(shapely.multipoints(xy), ratio=ratio))
    return cast(BaseGeometry, hull.buffer(buffer).simplify(simplify))


def auto_bin_size(
    points: gpd.GeoDataFrame,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
    mask: BaseGeometry | None = None,
    shape: BinShape = "hex",
    min_size: float = 25.0,
    max_size: float = 1000.0,
) -> float:
    """Return the cell size of :func:`choose_bin_size`, in metres.

    Raises
    ------
    AnalysisError
        When there are fewer than 3 distinct locations or the bounds are not positive.
    """
    return choose_bin_size(points, area=area, mask=mask, shape=shape, min_size=min_size,
                           max_size=max_size).size


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
    mask: BaseGeometry | None = None,
) -> gpd.GeoDataFrame:
    """Build the regular cells covering a zone (or the points' extent), in EPSG:2154.

    Parameters
    ----------
    points : geopandas.GeoDataFrame, optional
        Events; needed when ``area`` or ``size`` is not given.
    area : GeoDataFrame, GeoSeries or shapely geometry, optional
        Study zone (a quartier); the points' bounding box otherwise.
    size : float, optional
        Cell size in metres; :func:`choose_bin_size` when omitted.
    shape : {"hex", "square"}
        Hexagons (default) or squares.
    margin : float
        Buffer added around ``area`` (metres) so that hotspots on the edge of a
        quartier keep their neighbours.
    mask : shapely geometry, optional
        Where the events' source can report (EPSG:2154). Cells whose centre lies outside
        it are left out — absent, not zeros — unless one of ``points`` falls in them.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``bin_id`` (int), ``x``, ``y`` (centre), ``geometry`` (the cell), in
        EPSG:2154; ``attrs["bin_size"]`` and ``attrs["bin_shape"]`` record the grid,
        ``attrs["bin_choice"]`` the :class:`BinSizeChoice` of an automatic size and
        ``attrs["masked_cells"]`` the number of cells left out by ``mask``.

    Raises
    ------
    AnalysisError
        On a bad shape or size, or when neither points nor area are given.
    """
    check_grid(shape, size, margin)
    zone = _zone_geometry(area)
    if zone is not None and margin > 0:
        zone = zone.buffer(margin)
    choice = None
    if size is None:
        if points is None:
            raise AnalysisError("Donner des points ou une taille de maille.")
        choice = choose_bin_size(points, area=zone, mask=mask, shape=shape)
        size = choice.size
    xy = None
    if points is not None:
        xy = point_coordinates(points)
        xy = xy[np.isfinite(xy).all(axis=1)]
    if zone is not None:
        bounds = zone.bounds
    elif xy is not None:
        if len(xy) == 0:
            raise AnalysisError("Aucun point localisé pour construire les mailles.")
        bounds = (*xy.min(axis=0), *xy.max(axis=0))
    else:
        raise AnalysisError("Donner des points ou une zone d'étude.")
    cell_area = size * size * (SQRT3 / 2.0 if shape == "hex" else 1.0)
    lattice = (bounds[2] - bounds[0] + 2 * size) * (bounds[3] - bounds[1] + 2 * size) / cell_area
    if choice is not None and lattice > MAX_LATTICE_CELLS:  # an explicit size is the caller's choice
        raise AnalysisError(f"Grille trop grande : environ {lattice:,.0f} mailles de {size:.0f} m sur "
                            f"l'étendue étudiée ({MAX_LATTICE_CELLS:,} au plus) ; restreindre la zone (un "
                            "quartier) ou augmenter la taille de maille.".replace(",", " "))
    centres = _lattice(bounds, size, shape)
    cells = _cell_polygons(centres, size, shape)
    window = zone if zone is not None else shapely.box(*bounds)
    # cells sharing only an edge or a vertex with the zone are not part of it
    keep = _interiors_meet(cells, centres, window)
    masked = 0
    if mask is not None:
        inside = shapely.contains_xy(mask, centres[:, 0], centres[:, 1])
        if xy is not None and len(xy):
            inside |= np.isin(_centre_keys(centres, size, shape), lattice_keys(xy, size, shape))
        masked = int((keep & ~inside).sum())
        keep &= inside
    centres, cells = centres[keep], cells[keep]
    out = gpd.GeoDataFrame(
        {"bin_id": np.arange(len(cells)), "x": centres[:, 0], "y": centres[:, 1]},
        geometry=cells,
        crs=TERRITORY_CRS,
    )
    out.attrs["bin_size"] = float(size)
    out.attrs["bin_shape"] = shape
    out.attrs["masked_cells"] = masked
    if choice is not None:
        out.attrs["bin_choice"] = choice
    return out


def _interiors_meet(cells: np.ndarray, centres: np.ndarray, window: BaseGeometry) -> np.ndarray:
    """Cells whose interior meets the window's (``intersects`` and not ``touches``), fast.

    A cell whose centre lies inside the window meets it; only the others (the boundary ring)
    need the exact test.
    """
    keep = shapely.contains_xy(window, centres[:, 0], centres[:, 1])
    ring = np.flatnonzero(~keep)
    if len(ring):
        cand = cells[ring]
        keep[ring] = shapely.intersects(window, cand) & ~shapely.touches(window, cand)
    return keep


def _lattice_positions(bins: gpd.GeoDataFrame, xy: np.ndarray) -> np.ndarray | None:
    """Positions of the points in a grid of :func:`make_bins` by lattice keys (None: not such a grid)."""
    size, shape = bins.attrs.get("bin_size"), bins.attrs.get("bin_shape")
    if not size or shape not in get_args(BinShape) or not {"x", "y"} <= set(bins.columns):
        return None
    centres = np.column_stack([bins["x"].to_numpy(float), bins["y"].to_numpy(float)])
    keys = _centre_keys(centres, float(size), shape)
    index = pd.Index(keys)
    if not index.is_unique:
        return None
    # the cells must sit on the lattice: their own centres give back their keys
    if not np.array_equal(lattice_keys(centres, float(size), shape), keys):
        return None
    return cast("NDArray[np.int64]", index.get_indexer(lattice_keys(xy, float(size), shape)).astype(np.int64))


def assign_bins(bins: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> np.ndarray:
    """Return, for each point, the position (0…n-1) of the bin holding it, or -1.

    Grids of :func:`make_bins` are matched by lattice arithmetic (no geometry test); other
    cells by their nearest centre, checked against the cell's geometry.

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
    fast = _lattice_positions(bins, xy[ok])
    if fast is not None:
        pos[ok] = fast
        return pos
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

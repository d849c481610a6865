"""Hotspots: Getis-Ord Gi* on bins or street segments, FDR correction, kernel density.

Gi* is computed with binary weights that include the bin itself (the "star"), and the
analytical z-score of Getis & Ord (1992) / Ord & Getis (1995), with the moments esda's
``G_Local(y, w, transform="B", star=True)`` uses: the same figures, but vectorised over
several value columns at once (one per time step in :mod:`geo.stats.emerging`).

Multiple testing: the p-values are corrected by the Benjamini–Hochberg false discovery
rate procedure by default (:func:`fdr_adjust`), as ArcGIS Pro does when asked.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse, stats
from scipy.signal import fftconvolve
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import AnalysisError
from geo.stats.binning import BinShape, check_grid, count_in_bins, make_bins, point_coordinates

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIDENCE_LEVELS",
    "GiOptions",
    "GridOptions",
    "KernelDensity",
    "confidence_classes",
    "confidence_level",
    "distance_weights",
    "fdr_adjust",
    "getis_ord",
    "gi_star",
    "hotspots",
    "hotspots_by_quartier",
    "kernel_density",
    "network_hotspots",
    "segment_weights",
    "summary",
]


@dataclass(frozen=True)
class GiOptions:
    """Settings of a Getis-Ord Gi* test, as they travel from the entry points to :func:`getis_ord`.

    Attributes
    ----------
    distance : float, optional
        Neighbourhood radius in metres (see :func:`distance_weights`); first ring of bins
        by default.
    fdr : bool
        Correct the p-values for the false discovery rate (on by default).
    alpha : float
        Significance level, in (0, 1).

    Raises
    ------
    AnalysisError
        When ``alpha`` is not in (0, 1) or ``distance`` is not positive.
    """

    distance: float | None = None
    fdr: bool = True
    alpha: float = 0.05

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if not 0 < self.alpha < 1:
            raise AnalysisError("Le seuil de significativité doit être compris entre 0 et 1.")
        if self.distance is not None and self.distance <= 0:
            raise AnalysisError("La distance de voisinage doit être positive.")


@dataclass(frozen=True)
class GridOptions:
    """The regular grid events are counted on (see :func:`geo.stats.binning.make_bins`).

    Attributes
    ----------
    size : float, optional
        Cell size in metres; the automatic rule of :func:`geo.stats.binning.auto_bin_size`
        when omitted.
    shape : {"hex", "square"}
        Hexagons (default) or squares.
    margin : float
        Buffer in metres added around the study zone, so that cells on its edge keep
        their neighbours.

    Raises
    ------
    AnalysisError
        On an unknown shape, a size that is not positive or a negative margin.
    """

    size: float | None = None
    shape: BinShape = "hex"
    margin: float = 0.0

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        check_grid(self.shape, self.size, self.margin)


def distance_weights(bins: gpd.GeoDataFrame, *, distance: float | None = None) -> sparse.csr_matrix:
    """Binary weights between bins whose centres lie within ``distance`` (self included).

    Parameters
    ----------
    bins : geopandas.GeoDataFrame
        Bins with ``x``/``y`` centre columns (:func:`geo.stats.binning.make_bins`), or any
        geometries (their centroids in EPSG:2154 are used).
    distance : float, optional
        Neighbourhood radius in metres. Default: 1.01 × the bin size, i.e. the first
        ring (6 neighbours for hexagons, 4 for squares).

    Returns
    -------
    scipy.sparse.csr_matrix
        n × n matrix of 0/1 with ones on the diagonal.

    Raises
    ------
    AnalysisError
        When no distance can be inferred.
    """
    if {"x", "y"} <= set(bins.columns):
        xy = np.column_stack([bins["x"].to_numpy(float), bins["y"].to_numpy(float)])
    else:
        cent = shapely.centroid(to_territory_crs(bins).geometry.to_numpy())
        xy = np.column_stack([shapely.get_x(cent), shapely.get_y(cent)])
    if distance is None:
        size = bins.attrs.get("bin_size")
        if not size:
            raise AnalysisError("Distance de voisinage non précisée et taille de maille inconnue.")
        distance = 1.01 * float(size)
    if distance <= 0:
        raise AnalysisError("La distance de voisinage doit être positive.")
    pairs = cKDTree(xy).query_pairs(distance, output_type="ndarray")
    n = len(xy)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(n)])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(n)])
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))


def gi_star(values: np.ndarray, weights: sparse.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Analytical Getis-Ord Gi* z-scores and two-sided p-values.

    Parameters
    ----------
    values : numpy.ndarray
        Shape (n,) or (n, T): one column per variable; the mean and variance of each
        column are those of the whole column (for a space-time cube flattened to
        (n·T,), pass the flattened vector and a space-time weight matrix).
    weights : scipy.sparse matrix
        n × n binary weights including the diagonal.

    Returns
    -------
    z : numpy.ndarray
        Gi* z-scores, same shape as ``values`` (0 where the column is constant).
    p : numpy.ndarray
        Two-sided normal p-values.

    Raises
    ------
    AnalysisError
        When shapes disagree or fewer than 3 units are given.
    """
    y = np.asarray(values, dtype=float)
    one_d = y.ndim == 1
    if one_d:
        y = y[:, None]
    n = y.shape[0]
    if weights.shape != (n, n):
        raise AnalysisError("La matrice de voisinage ne correspond pas au nombre d'unités.")
    if n < 3:
        raise AnalysisError("Il faut au moins 3 unités spatiales pour calculer Gi*.")
    w = sparse.csr_matrix(weights)
    card = np.asarray(w.sum(axis=1)).ravel()[:, None]
    lag = np.asarray(w @ y)
    mean = y.mean(axis=0, keepdims=True)
    std = y.std(axis=0, keepdims=True)  # population standard deviation, as in esda
    denom = std * np.sqrt(np.maximum(card * (n - card), 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean * card) / denom
    z = np.where(np.isfinite(z), z, 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    return (z[:, 0], p[:, 0]) if one_d else (z, p)


def fdr_adjust(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) along the first axis.

    A test is significant at false discovery rate ``alpha`` when its q-value is
    ``<= alpha``; this rejects exactly the hypotheses whose p-value is at most the
    Benjamini–Hochberg cut-off (esda's ``fdr`` returns that cut-off).

    Parameters
    ----------
    pvalues : numpy.ndarray
        Shape (n,) or (n, T); each column is corrected separately.

    Returns
    -------
    numpy.ndarray
        q-values, same shape, in [0, 1].
    """
    p = np.asarray(pvalues, dtype=float)
    one_d = p.ndim == 1
    if one_d:
        p = p[:, None]
    n = p.shape[0]
    if n == 0:
        return p[:, 0] if one_d else p
    order = np.argsort(p, axis=0, kind="stable")
    ranked = np.take_along_axis(p, order, axis=0) * n / np.arange(1, n + 1)[:, None]
    ranked = np.minimum.accumulate(ranked[::-1], axis=0)[::-1]
    q = np.empty_like(p)
    np.put_along_axis(q, order, np.minimum(ranked, 1.0), axis=0)
    return q[:, 0] if one_d else q


#: Confidence classes of Gi* as in ArcGIS: (largest p-value, confidence in %), strictest first.
CONFIDENCE_LEVELS: tuple[tuple[float, int], ...] = ((0.01, 99), (0.05, 95), (0.10, 90))


def confidence_level(p: float | None) -> int | None:
    """Confidence (99, 95 or 90 %) of a Gi* p-value, ``None`` above 0.10 or when unknown."""
    if p is None or not np.isfinite(p):
        return None
    return next((level for limit, level in CONFIDENCE_LEVELS if p <= limit), None)


def _classify(z: np.ndarray, p: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """ArcGIS-style confidence bins (-3…3) and French labels."""
    level = np.select([p <= limit for limit, _ in CONFIDENCE_LEVELS], [3, 2, 1], 0)
    sig = p <= alpha
    gi_bin = np.where(sig, np.sign(z).astype(int) * np.maximum(level, 1), 0)
    label = np.where(gi_bin > 0, "point chaud", np.where(gi_bin < 0, "point froid", "non significatif"))
    return gi_bin, label


def confidence_classes(z: np.ndarray, q: np.ndarray, *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """ArcGIS-style Gi* bins and French labels from z-scores and the p-values tested.

    A cell is significant when ``q <= alpha``; its bin is ±3 (q ≤ 0.01, 99 %), ±2 (≤ 0.05,
    95 %) or ±1 (≤ 0.10, 90 %), signed as its z-score; 0 otherwise.

    Returns
    -------
    gi_bin, label : numpy.ndarray
        Integers -3…3 and « point chaud » / « point froid » / « non significatif ».
    """
    return _classify(np.asarray(z, dtype=float), np.asarray(q, dtype=float), alpha)


def getis_ord(
    bins: gpd.GeoDataFrame,
    *,
    value: str = "count",
    distance: float | None = None,
    weights: sparse.spmatrix | None = None,
    fdr: bool = True,
    alpha: float = 0.05,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* of a column of ``bins``.

    Parameters
    ----------
    bins : geopandas.GeoDataFrame
        Spatial units with the column ``value``.
    value : str
        Column analysed (counts by default).
    distance : float, optional
        Neighbourhood radius (see :func:`distance_weights`).
    weights : scipy.sparse matrix, optional
        Ready-made binary weights with diagonal (overrides ``distance``).
    fdr : bool
        Correct the p-values for the false discovery rate (on by default).
    alpha : float
        Significance level.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``bins`` (same index) with ``gi_z``, ``gi_p`` (raw), ``gi_q`` (used for
        significance: FDR-adjusted, or raw when ``fdr`` is off), ``gi_bin`` (-3…3 as in
        ArcGIS: 99/95/90 % confidence) and ``hotspot`` (« point chaud », « point froid »,
        « non significatif »).

    Raises
    ------
    AnalysisError
        When ``value`` is missing or ``alpha`` is not in (0, 1).
    """
    if value not in bins.columns:
        raise AnalysisError(f"Colonne « {value} » absente des mailles.")
    if not 0 < alpha < 1:
        raise AnalysisError("Le seuil de significativité doit être compris entre 0 et 1.")
    w = weights if weights is not None else distance_weights(bins, distance=distance)
    z, p = gi_star(bins[value].to_numpy(dtype=float), w)
    q = fdr_adjust(p) if fdr else p
    gi_bin, label = _classify(z, q, alpha)
    out = bins.copy()
    out["gi_z"] = z
    out["gi_p"] = p
    out["gi_q"] = q
    out["gi_bin"] = gi_bin
    out["hotspot"] = pd.array(label, dtype=np.object_)
    out.attrs.update(bins.attrs)
    out.attrs.update({"fdr": fdr, "alpha": alpha, "neighbour_distance": distance})
    return out


def hotspots(
    points: gpd.GeoDataFrame,
    *,
    area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
    grid: GridOptions = GridOptions(),
    weight: str | None = None,
    gi: GiOptions = GiOptions(),
) -> gpd.GeoDataFrame:
    """Bin the points and run Gi* on the counts (territory-wide, or on one zone).

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Events in any CRS.
    area : zone, optional
        Study zone; the points' extent otherwise.
    grid : GridOptions
        Cell size, shape and margin; the size defaults to the automatic rule of
        :func:`geo.stats.binning.auto_bin_size`.
    weight : str, optional
        Column summed instead of counting (e.g. a volume).
    gi : GiOptions
        Neighbourhood distance, FDR correction and significance level of :func:`getis_ord`.

    Returns
    -------
    geopandas.GeoDataFrame
        Bins with ``count`` and the Gi* columns of :func:`getis_ord`.

    Raises
    ------
    AnalysisError
        When there are too few points or bins.
    """
    bins = make_bins(points, area=area, size=grid.size, shape=grid.shape, margin=grid.margin)
    counted = count_in_bins(bins, points, weight=weight)
    return getis_ord(counted, value="count", distance=gi.distance, fdr=gi.fdr, alpha=gi.alpha)


def hotspots_by_quartier(
    points: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame,
    *,
    code_field: str = "code",
    grid: GridOptions = GridOptions(margin=200.0),
    gi: GiOptions = GiOptions(),
) -> gpd.GeoDataFrame:
    """Gi* per quartier, each on its own grid covering the perimeter plus ``grid.margin``.

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Events.
    perimeters : geopandas.GeoDataFrame
        Quartier outlines with a ``code_field`` column.
    code_field : str
        Column naming the quartier.
    grid : GridOptions
        As in :func:`hotspots`; its ``margin`` is also the buffer in metres around each
        perimeter (200 m with the default grid; a grid given here brings its own margin,
        0 unless set), and with no ``size`` each quartier gets its own size.
    gi : GiOptions
        As in :func:`hotspots`.

    Returns
    -------
    geopandas.GeoDataFrame
        The bins of every quartier (the cells meeting the perimeter buffered by
        ``grid.margin``, counting every event that falls in them) with a ``quartier``
        column and ``in_quartier`` (the bin centre lies inside the perimeter, not in the
        margin).

    Raises
    ------
    AnalysisError
        When ``code_field`` is missing.
    """
    if code_field not in perimeters.columns:
        raise AnalysisError(f"Colonne « {code_field} » absente des périmètres.")
    per = to_territory_crs(perimeters)
    margin = grid.margin
    frames = []
    for code, geom in zip(per[code_field], per.geometry, strict=True):
        zone = geom.buffer(margin) if margin > 0 else geom
        pts = points.iloc[np.flatnonzero(_within(points, zone))]
        if len(pts) < 3:
            logger.info("quartier %s: %d points, no hotspot analysis", code, len(pts))
            continue
        # the size comes from the events near the quartier; the counts take every event falling
        # in the cells, so that edge cells are not undercounted
        bins = make_bins(pts, area=geom, size=grid.size, shape=grid.shape, margin=margin)
        res = getis_ord(count_in_bins(bins, points), distance=gi.distance, fdr=gi.fdr, alpha=gi.alpha)
        res.insert(0, "quartier", pd.array([str(code)] * len(res), dtype=object))
        res["in_quartier"] = shapely.contains_xy(geom, res["x"].to_numpy(), res["y"].to_numpy())
        frames.append(res)
    if not frames:
        raise AnalysisError("Aucun quartier ne contient assez de points pour l'analyse.")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=TERRITORY_CRS)


def _within(points: gpd.GeoDataFrame, zone: BaseGeometry) -> np.ndarray:
    """Mask of the points inside ``zone`` (EPSG:2154)."""
    xy = point_coordinates(points)
    ok = np.isfinite(xy).all(axis=1)
    mask = np.zeros(len(xy), dtype=bool)
    mask[ok] = shapely.contains_xy(zone, xy[ok, 0], xy[ok, 1])
    return mask


def _segment_endpoints(streets: gpd.GeoDataFrame, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Node ids of the start and end of every segment, snapping endpoints at ``tolerance``."""
    geoms = streets.geometry.to_numpy()
    lines = np.array([g if g.geom_type == "LineString" else shapely.line_merge(g) for g in geoms])
    first = shapely.get_point(shapely.get_geometry(lines, 0), 0)
    last = shapely.get_point(shapely.get_geometry(lines, 0), -1)
    ends = np.vstack([shapely.get_coordinates(first), shapely.get_coordinates(last)])
    keys = np.round(ends / tolerance).astype(np.int64)
    _, node = np.unique(keys, axis=0, return_inverse=True)
    node = node.ravel()
    return node[: len(geoms)], node[len(geoms) :]


def segment_weights(
    streets: gpd.GeoDataFrame, *, order: int = 1, tolerance: float = 1.0
) -> sparse.csr_matrix:
    """Binary weights between street segments that share an end node (self included).

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        Street centreline segments in EPSG:2154.
    order : int
        Neighbours up to ``order`` segments away (1: touching segments).
    tolerance : float
        Endpoints closer than this (metres) are the same node.

    Returns
    -------
    scipy.sparse.csr_matrix
        n × n 0/1 matrix with ones on the diagonal.
    """
    a, b = _segment_endpoints(streets, tolerance)
    n = len(a)
    n_nodes = int(max(a.max(initial=-1), b.max(initial=-1))) + 1
    inc = sparse.csr_matrix(
        (np.ones(2 * n), (np.r_[np.arange(n), np.arange(n)], np.r_[a, b])), shape=(n, n_nodes)
    )
    adj = (inc @ inc.T).astype(bool).astype(float)
    step = adj.copy()
    reach = adj.copy()
    for _ in range(max(order, 1) - 1):
        step = (step @ adj).astype(bool).astype(float)
        reach = (reach + step).astype(bool).astype(float)
    reach = sparse.csr_matrix(reach)
    reach.setdiag(1.0)
    return reach


def network_hotspots(
    points: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    *,
    max_snap: float = 30.0,
    order: int = 2,
    per_length: float = 100.0,
    fdr: bool = True,
    alpha: float = 0.05,
) -> gpd.GeoDataFrame:
    """Network-constrained Gi*: events snapped to street segments, density per ``per_length``.

    For layers that live on streets (dumping on pavements, lighting faults), hexagons
    mix both sides of a block; here the unit is the street segment and neighbours are
    the segments within ``order`` junctions.

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Events.
    streets : geopandas.GeoDataFrame
        Street centreline segments (LineStrings), any CRS.
    max_snap : float
        Events farther than this from every street are ignored (metres).
    order : int
        Neighbourhood order along the network.
    per_length : float
        The analysed value is the number of events per ``per_length`` metres.
    fdr, alpha : optional
        As in :func:`getis_ord`.

    Returns
    -------
    geopandas.GeoDataFrame
        The street segments (same index; segments with an empty geometry are left out)
        with ``count``, ``length_m``, ``density`` and the Gi* columns.

    Raises
    ------
    AnalysisError
        When there are fewer than 3 segments.
    """
    segs = to_territory_crs(streets)
    segs = segs[~(segs.geometry.is_empty | segs.geometry.isna())]
    if len(segs) < 3:
        raise AnalysisError("Il faut au moins 3 tronçons de voie.")
    xy = point_coordinates(points)
    xy = xy[np.isfinite(xy).all(axis=1)]
    pts = shapely.points(xy)
    tree = shapely.STRtree(segs.geometry.to_numpy())
    idx = tree.query_nearest(pts, max_distance=max_snap, all_matches=False)
    counts = np.bincount(idx[1], minlength=len(segs))
    out = segs.copy()
    out["count"] = counts
    out["length_m"] = segs.geometry.length.to_numpy()
    out["density"] = counts / np.maximum(out["length_m"].to_numpy(), 1.0) * per_length
    w = segment_weights(segs, order=order)
    res = getis_ord(out, value="density", weights=w, fdr=fdr, alpha=alpha)
    res.attrs.update({"unit": "tronçon", "order": order, "per_length": per_length})
    return res


@dataclass
class KernelDensity:
    """A kernel density raster for display, in EPSG:2154.

    Attributes
    ----------
    density : numpy.ndarray
        Events per km², shape (rows, cols), row 0 at the south.
    x0, y0 : float
        Lower-left corner of the raster.
    cell : float
        Cell size in metres.
    bandwidth : float
        Kernel radius in metres (quartic kernel).
    """

    density: np.ndarray
    x0: float
    y0: float
    cell: float
    bandwidth: float
    crs: str = TERRITORY_CRS

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) for ``matplotlib.pyplot.imshow(origin="lower")``."""
        rows, cols = self.density.shape
        return (self.x0, self.x0 + cols * self.cell, self.y0, self.y0 + rows * self.cell)

    def value_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Density of the cells holding the points (x, y); NaN outside the raster."""
        col = np.floor((np.asarray(x) - self.x0) / self.cell).astype(int)
        row = np.floor((np.asarray(y) - self.y0) / self.cell).astype(int)
        rows, cols = self.density.shape
        ok = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        out = np.full(len(col), np.nan)
        out[ok] = self.density[row[ok], col[ok]]
        return out


def kernel_density(
    points: gpd.GeoDataFrame,
    *,
    bandwidth: float | None = None,
    cell: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
) -> KernelDensity:
    """Quartic kernel density of the points on a raster (display only, no inference).

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Events.
    bandwidth : float, optional
        Kernel radius in metres; default Silverman's rule on the coordinates
        (0.9 · min(σ, IQR/1.34) · n^-1/5, averaged over x and y), at least 50 m.
    cell : float, optional
        Raster cell size; default ``bandwidth / 5``.
    bounds : tuple, optional
        (xmin, ymin, xmax, ymax) in EPSG:2154; the points' extent plus one bandwidth.

    Returns
    -------
    KernelDensity
        The surface (events per km²; it integrates to the number of events).

    Raises
    ------
    AnalysisError
        With no point or non-positive parameters.
    """
    xy = point_coordinates(points)
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) == 0:
        raise AnalysisError("Aucun point localisé pour la densité.")
    if bandwidth is None:
        n = len(xy)
        sig = [min(np.std(xy[:, i]), stats.iqr(xy[:, i]) / 1.34) for i in range(2)]
        bandwidth = max(50.0, 0.9 * float(np.mean(sig)) * n ** (-0.2))
    if bandwidth <= 0 or (cell is not None and cell <= 0):
        raise AnalysisError("Rayon et taille de cellule doivent être positifs.")
    cell = cell or bandwidth / 5.0
    if bounds is None:
        bounds = (*(xy.min(axis=0) - bandwidth), *(xy.max(axis=0) + bandwidth))
    x0, y0, x1, y1 = bounds
    cols = max(1, math.ceil((x1 - x0) / cell))
    rows = max(1, math.ceil((y1 - y0) / cell))
    if rows * cols > 25_000_000:
        raise AnalysisError("Grille de densité trop fine : augmenter la taille de cellule.")
    grid, _, _ = np.histogram2d(
        xy[:, 1], xy[:, 0], bins=[rows, cols], range=[[y0, y0 + rows * cell], [x0, x0 + cols * cell]]
    )
    r = math.ceil(bandwidth / cell)
    off = np.arange(-r, r + 1) * cell
    dx, dy = np.meshgrid(off, off)
    d2 = (dx**2 + dy**2) / bandwidth**2
    kern = np.where(d2 < 1, (1 - d2) ** 2, 0.0)
    kern /= kern.sum() * (cell / 1000.0) ** 2
    dens = np.clip(fftconvolve(grid, kern, mode="same"), 0.0, None)
    return KernelDensity(
        density=dens, x0=float(x0), y0=float(y0), cell=float(cell), bandwidth=float(bandwidth)
    )


def summary(result: gpd.GeoDataFrame) -> dict[str, Any]:
    """Return the number of hot and cold bins of a Gi* result (for reports and logs).

    Parameters
    ----------
    result : geopandas.GeoDataFrame
        Output of :func:`getis_ord` or :func:`hotspots`.

    Returns
    -------
    dict
        ``bins``, ``hot``, ``cold`` and ``bin_size``.
    """
    return {
        "bins": len(result),
        "hot": int((result["gi_bin"] > 0).sum()),
        "cold": int((result["gi_bin"] < 0).sum()),
        "bin_size": result.attrs.get("bin_size"),
    }

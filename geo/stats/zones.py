"""Counting features per zone (quartier, QPV) with a spatial join."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import to_territory_crs


def count_by_zone(
    features: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    *,
    zone_col: str = "code",
    by: str | None = None,
) -> pd.DataFrame:
    """Count the features that intersect each zone.

    Parameters
    ----------
    features : geopandas.GeoDataFrame
        Points, lines or polygons, any CRS.
    zones : geopandas.GeoDataFrame
        Zones with an identifying column ``zone_col``.
    zone_col : str
        Column naming the zones.
    by : str, optional
        A column of ``features`` to break the counts down by (theme, status...).

    Returns
    -------
    pandas.DataFrame
        One row per zone (and ``by`` value) with a ``count`` column; zones with no
        feature have a count of 0.
    """
    if zone_col not in zones:
        raise KeyError(zone_col)
    f = to_territory_crs(features)
    z = to_territory_crs(zones)[[zone_col, z_geom := zones.geometry.name]]
    cols = [f.geometry.name] + ([by] if by else [])
    joined = gpd.sjoin(f[cols], z.rename_geometry("geometry") if z_geom != "geometry" else z,
                       predicate="intersects", how="inner")
    keys = [zone_col] + ([by] if by else [])
    counts = joined.groupby(keys, observed=True).size().rename("count").reset_index()
    base = pd.DataFrame({zone_col: zones[zone_col].drop_duplicates().to_numpy()})
    if by:
        return pd.DataFrame(counts.sort_values(keys).reset_index(drop=True))
    out = base.merge(counts, on=zone_col, how="left").fillna({"count": 0})
    out["count"] = out["count"].astype("int64")
    return out


CELL_COLUMNS = ["count", "x", "y", "xmin", "ymin", "xmax", "ymax"]


def grid_cells(
    x: np.ndarray, y: np.ndarray, *, cell_m: float, bounds: np.ndarray | None = None
) -> pd.DataFrame:
    """Group points on a square grid of ``cell_m`` (map clusters).

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates of the representative points, in a projected CRS (metres).
    cell_m : float
        Side of a grid cell.
    bounds : numpy.ndarray, optional
        ``(n, 4)`` extents ``xmin, ymin, xmax, ymax`` of the features the points stand
        for (the points themselves by default).

    Returns
    -------
    pandas.DataFrame
        One row per occupied cell, in cell order: ``count``, mean ``x`` / ``y`` of the
        members and their extent ``xmin``, ``ymin``, ``xmax``, ``ymax``.

    Raises
    ------
    ValueError
        When ``cell_m`` is not positive.
    """
    if cell_m <= 0:
        raise ValueError("La taille de maille doit être positive.")
    pts = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    if len(pts) == 0:
        return pd.DataFrame(columns=CELL_COLUMNS)
    ext = np.column_stack([pts, pts]) if bounds is None else np.asarray(bounds, dtype=float)
    keys = np.floor(pts / cell_m).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    n = len(counts)
    lo = np.full((n, 2), np.inf)
    hi = np.full((n, 2), -np.inf)
    np.minimum.at(lo, inverse, ext[:, :2])
    np.maximum.at(hi, inverse, ext[:, 2:])
    return pd.DataFrame({
        "count": counts.astype(np.int64),
        "x": np.bincount(inverse, weights=pts[:, 0], minlength=n) / counts,
        "y": np.bincount(inverse, weights=pts[:, 1], minlength=n) / counts,
        "xmin": lo[:, 0], "ymin": lo[:, 1], "xmax": hi[:, 0], "ymax": hi[:, 1],
    }, columns=CELL_COLUMNS)

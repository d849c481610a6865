"""Counting features per zone (quartier, QPV) with a spatial join."""

from __future__ import annotations

import geopandas as gpd
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
        return counts.sort_values(keys).reset_index(drop=True)
    out = base.merge(counts, on=zone_col, how="left").fillna({"count": 0})
    out["count"] = out["count"].astype("int64")
    return out

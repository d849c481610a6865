"""Geometry hygiene: repair invalid polygons without losing them."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = ["polygonal_part", "repair_polygons"]


def polygonal_part(geom: BaseGeometry | None) -> BaseGeometry | None:
    """Keep the polygonal part of a geometry as a MultiPolygon (None when there is none)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type == "MultiPolygon":
        return geom
    if isinstance(geom, shapely.Polygon):
        return shapely.MultiPolygon([geom])
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in {"Polygon", "MultiPolygon"}]
    polys: list[shapely.Polygon] = []
    for part in parts:
        polys.extend(shapely.get_parts(part) if part.geom_type == "MultiPolygon" else [part])
    if not polys:
        return None
    return shapely.MultiPolygon(polys)


def repair_polygons(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Repair invalid (multi)polygons with ``make_valid`` and keep their polygonal part.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Features whose geometries may be invalid (self-intersections, bow-ties…).

    Returns
    -------
    repaired : geopandas.GeoDataFrame
        A new frame indexed like ``gdf``; polygonal inputs come out as MultiPolygons.
    was_invalid : numpy.ndarray
        Boolean mask of the rows that were repaired.
    """
    geoms = gdf.geometry.to_numpy()
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])
    invalid = polygonal & ~shapely.is_valid(geoms)
    fixed = geoms.copy()
    if invalid.any():
        fixed[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    out = gdf.copy()
    out[gdf.geometry.name] = [polygonal_part(g) if p else g for g, p in zip(fixed, polygonal, strict=True)]
    out = out.set_geometry(gdf.geometry.name, crs=gdf.crs)
    return out, invalid

"""Coordinate reference systems: resolve any input CRS, project to the territory CRS.

Distances and areas are computed in a projected CRS (EPSG:2154, RGF93 / Lambert-93,
in mainland France). WGS84 is only used at the web boundary.

Publishers ship odd CRS descriptions, such as the IGNF « RGF93 Lambert 93 » WKT of the
Montpellier open data. :func:`resolve_crs` recognises such a WKT as EPSG:2154 when it
describes the same projection, so that stored data always carries a clean EPSG code.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
from pyproj.exceptions import CRSError as _PyprojCRSError

from geo.errors import CRSError

logger = logging.getLogger(__name__)

TERRITORY_CRS = "EPSG:2154"
WEB_CRS = "EPSG:4326"

# Lambert-93 defining parameters, used to recognise homemade WKT descriptions of it.
_LAMBERT93 = {
    "lat_0": 46.5,
    "lon_0": 3.0,
    "lat_1": 49.0,
    "lat_2": 44.0,
    "x_0": 700000.0,
    "y_0": 6600000.0,
}


def _lambert93_like(crs: pyproj.CRS) -> bool:
    """Tell whether ``crs`` is a Lambert conformal conic with Lambert-93 parameters."""
    try:
        params = crs.to_dict()
    except Exception:  # pragma: no cover - exotic CRS without a PROJ string
        return False
    if params.get("proj") != "lcc":
        return False
    ellps = params.get("ellps") or params.get("datum")
    if ellps not in {"GRS80", "WGS84", None} and params.get("towgs84") is None:
        return False
    standard = {float(params.get("lat_1", np.nan)), float(params.get("lat_2", np.nan))}
    if standard != {44.0, 49.0}:
        return False
    return all(
        np.isclose(float(params.get(key, np.nan)), value)
        for key, value in _LAMBERT93.items()
        if key not in {"lat_1", "lat_2"}
    )


def resolve_crs(crs: Any) -> pyproj.CRS:
    """Turn any CRS description into a :class:`pyproj.CRS`, preferring EPSG codes.

    Parameters
    ----------
    crs : str, int, dict or pyproj.CRS
        ``"EPSG:2154"``, ``2154``, a WKT string (including IGNF WKT such as the
        « RGF93 Lambert 93 » of the Montpellier open data), a PROJ string, or a CRS.

    Returns
    -------
    pyproj.CRS
        The EPSG CRS when the description is equivalent to one, the parsed CRS
        otherwise.

    Raises
    ------
    CRSError
        When the description cannot be understood.
    """
    if crs is None or (isinstance(crs, str) and not crs.strip()):
        raise CRSError("Système de coordonnées manquant.")
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except _PyprojCRSError as exc:
        raise CRSError(f"Système de coordonnées inconnu : {str(crs)[:80]!r}.") from exc
    epsg = parsed.to_epsg(min_confidence=70)
    if epsg is not None:
        return pyproj.CRS.from_epsg(epsg)
    if _lambert93_like(parsed):
        logger.debug("CRS %r recognised as EPSG:2154", parsed.name)
        return pyproj.CRS.from_epsg(2154)
    return parsed


def to_territory_crs(
    gdf: gpd.GeoDataFrame, *, crs: Any = TERRITORY_CRS, assume: Any = None
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` projected to the territory CRS.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Input features, in any CRS.
    crs : optional
        Target CRS, EPSG:2154 by default.
    assume : optional
        CRS to assume when ``gdf`` declares none.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame, indexed like ``gdf``.

    Raises
    ------
    CRSError
        When ``gdf`` has no CRS and none is assumed.
    """
    target = resolve_crs(crs)
    source = gdf.crs if gdf.crs is not None else assume
    if source is None:
        raise CRSError("Les données n'ont pas de système de coordonnées déclaré.")
    source_crs = resolve_crs(source)
    out = gdf.set_crs(source_crs, allow_override=True)
    if source_crs.equals(target):
        return out.set_crs(target, allow_override=True)
    return out.to_crs(target)


def area_of_use_bounds(crs: Any = TERRITORY_CRS) -> tuple[float, float, float, float]:
    """Return the (west, south, east, north) longitude/latitude bounds where ``crs`` is valid."""
    area = resolve_crs(crs).area_of_use
    if area is None:
        return (-180.0, -90.0, 180.0, 90.0)
    return (area.west, area.south, area.east, area.north)

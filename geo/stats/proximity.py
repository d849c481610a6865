"""Proximity of constats to actions: the share of constats within a distance of an action.

Definitions
-----------
- A constat is **near** when at least one action lies within ``distance`` metres of it
  (distance ≤ ``distance``, measured in EPSG:2154 between the constat and the action's
  geometry: 0 inside a polygon action, the distance to its edge outside).
- The **share** of a theme is ``near / n`` over the constats of that theme that have a
  geometry. When there is nothing to measure (no located constat, or no located action)
  the share is unknown (NaN), never 0: callers show « n.d. ».
- Actions without geometry are ignored and counted (:attr:`Proximity.actions_unlocated`);
  so are constats without geometry (:attr:`Proximity.constats_unlocated`).

The pairs come from the spatial index (``sindex.query(..., predicate="dwithin")``): the
figures equal those of ``geopandas.sjoin_nearest(constats, actions, max_distance=distance)``
on the same rows (a constat is near exactly when the join finds it a nearest action).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import AnalysisError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_DISTANCE_M", "Proximity", "ProximityFigure", "constat_proximity"]

#: Default distance from a constat to an action, in metres (issue 15: « à moins de 100 m »).
DEFAULT_DISTANCE_M = 100.0
#: Theme given to constats whose theme is missing.
NO_THEME = "thème non renseigné"


@dataclass(frozen=True)
class ProximityFigure:
    """Counts of one group of constats.

    Attributes
    ----------
    n : int
        Located constats of the group.
    near : int
        Those within the distance of at least one action.
    share : float
        ``near / n`` in [0, 1]; NaN when unknown (no located constat or no located action).
    """

    n: int
    near: int
    share: float


@dataclass(frozen=True)
class Proximity:
    """Result of :func:`constat_proximity`.

    Attributes
    ----------
    total : ProximityFigure
        Every located constat.
    by_theme : pandas.DataFrame
        One row per theme (index ``theme``, sorted by decreasing ``n`` then name), columns
        ``n``, ``near``, ``share``.
    near : pandas.Series
        Boolean, indexed like the located constats: True when near an action.
    unserved_on_land : geopandas.GeoDataFrame
        The located constats flagged ``on_land`` with no action within the distance
        (empty when no mask was given), in EPSG:2154.
    distance_m : float
        The distance used.
    actions_located, actions_unlocated, constats_unlocated : int
        Actions used, actions ignored for lack of geometry, constats ignored likewise.
    """

    total: ProximityFigure
    by_theme: pd.DataFrame
    near: pd.Series
    unserved_on_land: gpd.GeoDataFrame
    distance_m: float
    actions_located: int
    actions_unlocated: int
    constats_unlocated: int


def _located(gdf: gpd.GeoDataFrame, what: str) -> tuple[gpd.GeoDataFrame, int]:
    """Rows of ``gdf`` with a non-empty geometry, in EPSG:2154, and the count of the others."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise AnalysisError(f"Les {what} doivent être une couche géographique (GeoDataFrame).")
    geom = gdf.geometry
    keep = geom.notna() & ~geom.is_empty if len(gdf) else pd.Series(False, index=gdf.index)
    out = gdf.loc[keep]
    if out.crs is None and len(out) == 0:
        out = out.set_crs(TERRITORY_CRS)
    out = to_territory_crs(out)
    return out, int((~keep).sum())


def _share(near: int, n: int, known: bool) -> float:
    return near / n if known and n > 0 else float("nan")


def constat_proximity(
    constats: gpd.GeoDataFrame,
    actions: gpd.GeoDataFrame,
    *,
    distance: float = DEFAULT_DISTANCE_M,
    theme_field: str = "theme",
    on_land: pd.Series | None = None,
) -> Proximity:
    """Share of constats within ``distance`` metres of at least one action, by theme and in total.

    Parameters
    ----------
    constats : geopandas.GeoDataFrame
        Constats (points), any CRS (projected to EPSG:2154), with a ``theme_field`` column.
    actions : geopandas.GeoDataFrame
        Actions (points or polygons); rows without geometry are ignored and counted.
    distance : float
        Distance in metres (100 by default), inclusive.
    theme_field : str
        Theme column of ``constats``; a missing value is grouped as « thème non renseigné ».
    on_land : pandas.Series, optional
        Boolean mask indexed like ``constats``: the constats on the bailleur's land
        (patrimoine / domanialité); those with no action near are returned in
        :attr:`Proximity.unserved_on_land`.

    Returns
    -------
    Proximity

    Raises
    ------
    AnalysisError
        On a negative or non-finite distance, a missing theme column, non-geographic inputs
        or a mask not aligned with the constats (French messages).
    """
    if not np.isfinite(distance) or distance < 0:
        raise AnalysisError(f"Distance invalide : {distance!r} (un nombre de mètres positif est attendu).")
    if theme_field not in constats.columns:
        raise AnalysisError(f"Les constats n'ont pas de colonne « {theme_field} » (thème).")
    if on_land is not None and not on_land.index.equals(constats.index):
        raise AnalysisError("Le masque « sur le patrimoine du bailleur » ne correspond pas aux constats.")
    pts, constats_unlocated = _located(constats, "constats")
    acts, actions_unlocated = _located(actions, "actions")
    near = pd.Series(False, index=pts.index, dtype=bool)
    if len(pts) and len(acts):
        pairs = acts.sindex.query(pts.geometry, predicate="dwithin", distance=float(distance))
        near.iloc[np.unique(pairs[0])] = True
    known = len(acts) > 0
    themes = pts[theme_field].astype("string").fillna(NO_THEME).str.strip().replace("", NO_THEME)
    grouped = pd.DataFrame({"theme": themes, "near": near}).groupby("theme", sort=False)["near"]
    by_theme = pd.DataFrame({"n": grouped.size(), "near": grouped.sum()}).astype("int64")
    by_theme["share"] = [_share(int(k), int(n), known)
                         for k, n in zip(by_theme["near"], by_theme["n"], strict=True)]
    by_theme = by_theme.reset_index().sort_values(["n", "theme"], ascending=[False, True]).set_index("theme")
    n, k = len(pts), int(near.sum())
    if on_land is not None:
        mask = on_land.reindex(pts.index).fillna(False).astype(bool)
        unserved = pts.loc[mask & ~near]
    else:
        unserved = pts.iloc[0:0]
    logger.debug("proximity: %d/%d constats within %s m of %d actions", k, n, distance, len(acts))
    return Proximity(
        total=ProximityFigure(n, k, _share(k, n, known)),
        by_theme=by_theme,
        near=near,
        unserved_on_land=unserved,
        distance_m=float(distance),
        actions_located=len(acts),
        actions_unlocated=actions_unlocated,
        constats_unlocated=constats_unlocated,
    )

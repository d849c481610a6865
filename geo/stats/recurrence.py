"""Points-noirs recurrence: dumping events grouped into sites, re-occurrence after cleaning.

Definitions
-----------
- **Site**: events within ``radius`` metres of a known point noir are attached to the
  nearest one; the other events are grouped by single linkage (two events closer than
  ``radius`` are on the same site; chains of close events make one site).
- **Re-occurrence after cleaning**: for each event cleaned at date *c*, the number of
  days from *c* to the next event at the same site. When no clean-up date is known
  (citizen reports such as Dans Ma Rue), every report is *assumed* to be followed by a
  clean-up on the day of the report, so the figure becomes the interval between two
  reports (flagged in :attr:`Recurrence.parameters`). Clean-ups with no later event
  before the end of the period are censored (no value).
- **Recurrence rate** of a site: events per 30 days over the period analysed; of a
  quartier: the share of its sites with at least two events, and the share of its
  events that are repeats (every event of a site but the first).
- **Persistent despite action**: a site with at least ``persist_after`` events after
  its first clean-up, the last one within ``recent_days`` of the end of the period.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geo.crs import TERRITORY_CRS
from geo.errors import AnalysisError
from geo.stats.binning import point_coordinates
from geo.stats.indicators import assign_quartier

logger = logging.getLogger(__name__)

__all__ = ["Recurrence", "RecurrenceOptions", "group_sites", "recurrence"]


@dataclass(frozen=True)
class RecurrenceOptions:
    """How events are read and grouped, and when a site persists (see the module docstring).

    Attributes
    ----------
    radius : float
        Repeat distance in metres (25 m by default).
    time_field : str
        Event date column.
    cleaned_field : str, optional
        Clean-up date column; when ``None`` or absent from the events, every event is
        assumed cleaned the same day.
    persist_after : int
        Events after the first clean-up that make a site persistent.
    recent_days : float
        The last of them must fall within this many days of the end of the period.

    Raises
    ------
    AnalysisError
        When ``radius`` is not positive, or ``persist_after`` or ``recent_days`` is negative.
    """

    radius: float = 25.0
    time_field: str = "observed_at"
    cleaned_field: str | None = "cleaned_at"
    persist_after: int = 2
    recent_days: float = 90.0

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if not self.radius > 0:
            raise AnalysisError("Le rayon de regroupement doit être positif.")
        if self.persist_after < 0 or self.recent_days < 0:
            raise AnalysisError("Les seuils de persistance doivent être positifs ou nuls.")


def group_sites(
    events: gpd.GeoDataFrame,
    *,
    radius: float = 25.0,
    sites: gpd.GeoDataFrame | None = None,
) -> pd.Series:
    """Site of each event: nearest known site within ``radius``, else greedy covering groups.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dumping events, any CRS.
    radius : float
        Repeat distance in metres.
    sites : geopandas.GeoDataFrame, optional
        Known points noirs; their index labels become the site ids.

    Returns
    -------
    pandas.Series
        Site id (str) per event, indexed like ``events``; ``None`` for unlocated events.

    Raises
    ------
    AnalysisError
        When ``radius`` is not positive.
    """
    if radius <= 0:
        raise AnalysisError("Le rayon de regroupement doit être positif.")
    xy = point_coordinates(events)
    ok = np.isfinite(xy).all(axis=1)
    labels = np.full(len(xy), None, dtype=object)
    free = ok.copy()
    if sites is not None and len(sites):
        sxy = point_coordinates(sites)
        sok = np.isfinite(sxy).all(axis=1)
        names = np.array([str(i) for i in sites.index], dtype=object)[sok]
        dist, near = cKDTree(sxy[sok]).query(xy[ok], k=1, distance_upper_bound=radius)
        hit = np.isfinite(dist)
        idx = np.flatnonzero(ok)
        labels[idx[hit]] = names[near[hit]]
        free[idx[hit]] = False
    idx = np.flatnonzero(free)
    if len(idx):
        comp = _greedy_cover(xy[idx], radius)
        labels[idx] = [f"site-{c:05d}" for c in comp]
    return pd.Series(labels, index=events.index, name="site", dtype=object)


def _greedy_cover(xy: np.ndarray, radius: float) -> np.ndarray:
    """Group events into sites by greedy covering.

    The event with most neighbours within ``radius`` founds a site and takes every
    unassigned event within ``radius`` of it; repeat. Sites are at most 2·radius wide
    (single linkage would chain a whole street of reports into one site).
    """
    neighbours = cKDTree(xy).query_ball_point(xy, r=radius)
    sizes = np.fromiter((len(nb) for nb in neighbours), dtype=np.int64, count=len(xy))
    label = np.full(len(xy), -1, dtype=np.int64)
    site = 0
    for i in np.argsort(-sizes, kind="stable"):
        if label[i] >= 0:
            continue
        nb = np.asarray(neighbours[i], dtype=np.int64)
        label[nb[label[nb] < 0]] = site
        site += 1
    return label


@dataclass
class Recurrence:
    """Result of :func:`recurrence`.

    Attributes
    ----------
    events : geopandas.GeoDataFrame
        The events (same index as the input) with ``site`` and ``quartier``.
    sites : geopandas.GeoDataFrame
        One row per site (point = mean of its events): ``n_events``, ``first``, ``last``,
        ``rate_per_30d``, ``n_cleanups``, ``median_days_to_reoccur``, ``persistent``,
        ``quartier``.
    reoccurrences : pandas.DataFrame
        One row per clean-up: ``site``, ``cleaned_at``, ``next_event``, ``days``.
    quartiers : pandas.DataFrame
        Per quartier: ``sites``, ``recurrent_sites``, ``recurrent_share``, ``events``,
        ``repeat_share``, ``median_days_to_reoccur``, ``persistent_sites``.
    parameters : dict
        Parameters and assumptions, for the method note.
    """

    events: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    reoccurrences: pd.DataFrame
    quartiers: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def persistent(self) -> gpd.GeoDataFrame:
        """Sites that persist despite action, most events first."""
        return self.sites[self.sites["persistent"]].sort_values("n_events", ascending=False)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """Naive datetimes of ``column``."""
    return pd.to_datetime(frame[column], errors="coerce", utc=True).dt.tz_localize(None)


def recurrence(
    events: gpd.GeoDataFrame,
    *,
    options: RecurrenceOptions = RecurrenceOptions(),
    sites: gpd.GeoDataFrame | None = None,
    perimeters: gpd.GeoDataFrame | None = None,
    code_field: str = "code",
    start: Any = None,
    end: Any = None,
) -> Recurrence:
    """Group dumping events into sites and measure their recurrence.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dumping events with a date (and, when known, a clean-up date).
    options : RecurrenceOptions
        Repeat distance, date columns and persistence thresholds.
    sites : geopandas.GeoDataFrame, optional
        Known points noirs to attach events to.
    perimeters : geopandas.GeoDataFrame, optional
        Quartiers for the per-quartier table.
    code_field : str
        Quartier code column of ``perimeters``.
    start, end : date-like, optional
        Period analysed (the events' range by default).

    Returns
    -------
    Recurrence
        Sites, re-occurrences and per-quartier table.

    Raises
    ------
    AnalysisError
        When the date column is missing or no event is dated.
    """
    radius, time_field, cleaned_field = options.radius, options.time_field, options.cleaned_field
    persist_after, recent_days = options.persist_after, options.recent_days
    if time_field not in events.columns:
        raise AnalysisError(f"Colonne de date « {time_field} » absente.")
    when = _dates(events, time_field)
    t0 = pd.Timestamp(start) if start is not None else when.min()
    t1 = pd.Timestamp(end) if end is not None else when.max()
    if pd.isna(t0) or pd.isna(t1):
        raise AnalysisError("Aucun événement daté.")
    in_period = when.between(t0, t1).to_numpy()
    ev = events.iloc[np.flatnonzero(in_period)].copy()
    ev["_when"] = when[in_period]
    assumed = cleaned_field is None or cleaned_field not in events.columns
    ev["_cleaned"] = ev["_when"] if assumed else _dates(ev, str(cleaned_field))
    ev["site"] = group_sites(ev, radius=radius, sites=sites)
    if perimeters is not None:
        ev["quartier"] = assign_quartier(ev, perimeters, code_field=code_field)
    else:
        ev["quartier"] = pd.Series(None, index=ev.index, dtype=object)
    located = ev[ev["site"].notna()].sort_values(["site", "_when"], kind="stable")

    reocc = _reoccurrences(located)

    xy = point_coordinates(located)
    located = located.assign(_x=xy[:, 0], _y=xy[:, 1])
    period_days = max((t1 - t0).total_seconds() / 86400.0, 1.0)
    g = located.groupby("site", sort=True)
    first_clean = g["_cleaned"].min()
    after = located["_when"].to_numpy() > first_clean.reindex(located["site"]).to_numpy()
    located["_after"] = after
    stats = pd.DataFrame(
        {
            "n_events": g.size(),
            "first": g["_when"].min(),
            "last": g["_when"].max(),
            "n_cleanups": g["_cleaned"].count(),
            "events_after_cleanup": located.groupby("site", sort=True)["_after"].sum().astype(int),
            "x": g["_x"].mean(),
            "y": g["_y"].mean(),
            "quartier": g["quartier"].first(),
        }
    )
    stats["rate_per_30d"] = stats["n_events"] / period_days * 30.0
    med = reocc.groupby("site")["days"].median() if len(reocc) else pd.Series(dtype=float)
    stats["median_days_to_reoccur"] = med.reindex(stats.index)
    stats["persistent"] = (stats["events_after_cleanup"] >= persist_after) & (
        (t1 - stats["last"]).dt.total_seconds() / 86400.0 <= recent_days
    )
    stats.index.name = "site"
    site_gdf = gpd.GeoDataFrame(
        stats.reset_index(), geometry=gpd.points_from_xy(stats["x"], stats["y"]), crs=TERRITORY_CRS
    )
    quart = _per_quartier(site_gdf, reocc)
    ev = ev.drop(columns=["_when", "_cleaned"])
    params = {
        "radius_m": radius,
        "period": (t0, t1),
        "cleaning_assumed": assumed,
        "persist_after": persist_after,
        "recent_days": recent_days,
        "known_sites": sites is not None,
    }
    return Recurrence(events=ev, sites=site_gdf, reoccurrences=reocc, quartiers=quart, parameters=params)


def _reoccurrences(located: pd.DataFrame) -> pd.DataFrame:
    """Days from each clean-up to the next event strictly after it at the same site.

    ``located`` is sorted by site then date; vectorised with one search on
    (site rank, seconds) keys.
    """
    sites = located["site"].to_numpy(dtype=object)
    rank = pd.factorize(sites, sort=False)[0].astype(np.int64)
    when = located["_when"].to_numpy(dtype="datetime64[s]").astype(np.int64)
    cleaned_all = located["_cleaned"].to_numpy(dtype="datetime64[s]")
    has = ~np.isnat(cleaned_all)
    origin = min(when.min(initial=0), cleaned_all[has].astype(np.int64).min(initial=0))
    span = np.int64(10**10)  # seconds per site block (> 300 years)
    keys = rank * span + (when - origin)
    cleaned = cleaned_all[has].astype(np.int64)
    ckeys = rank[has] * span + (cleaned - origin)
    pos = np.searchsorted(keys, ckeys, side="right")
    found = pos < len(keys)
    found[found] &= rank[np.minimum(pos[found], len(keys) - 1)] == rank[has][found]
    next_s = np.where(found, when[np.minimum(pos, len(keys) - 1)], 0)
    out = pd.DataFrame(
        {
            "site": sites[has],
            "cleaned_at": pd.to_datetime(cleaned, unit="s"),
            "next_event": pd.Series(pd.to_datetime(next_s, unit="s")).where(found),
        }
    )
    out["days"] = np.where(found, (next_s - cleaned) / 86400.0, np.nan)
    return out


def _per_quartier(sites: gpd.GeoDataFrame, reocc: pd.DataFrame) -> pd.DataFrame:
    """Recurrence table per quartier (sites outside every quartier: « hors quartier »)."""
    s = pd.DataFrame(sites.drop(columns="geometry"))
    s["quartier"] = s["quartier"].fillna("hors quartier").astype(object)
    days = reocc.merge(s[["site", "quartier"]], on="site", how="left")
    g = s.groupby("quartier", sort=True)
    out = pd.DataFrame(
        {
            "sites": g.size(),
            "recurrent_sites": g["n_events"].apply(lambda n: int((n >= 2).sum())),
            "events": g["n_events"].sum(),
            "persistent_sites": g["persistent"].sum().astype(int),
        }
    )
    out["recurrent_share"] = out["recurrent_sites"] / out["sites"]
    out["repeat_share"] = (out["events"] - out["sites"]) / out["events"]
    out["median_days_to_reoccur"] = days.groupby("quartier")["days"].median().reindex(out.index)
    return out.reset_index()

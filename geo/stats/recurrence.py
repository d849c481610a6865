"""Points-noirs recurrence: dumping events grouped into sites, re-occurrence after cleaning.

Definitions
-----------
- **Site**: events within ``radius`` metres of a known point noir are attached to the
  nearest one; the other events are grouped by single linkage (two events at most
  ``radius`` apart are on the same site; chains of close events make one site), computed
  exactly in near-linear time by :func:`single_linkage`. Single linkage chains: along a
  street where reports follow each other every 20 m, a whole street would become one
  « site ». A group wider than ``max_extent`` metres (150 m by default) is therefore cut
  by a square grid of that side, and each piece split again into its single-linkage
  groups (:func:`cap_extent`): a site stays a place one team can clean.
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
  Only a site with recorded clean-up dates can be « persistant malgré les enlèvements »;
  without them (assumed clean-ups) the same site is only « récurrent »
  (:attr:`Recurrence.sites` ``status``).
- **Names**: a site attached to a known point noir carries its ``name`` and ``address``
  and is shown by them (``label``); the other sites are « regroupement sans point noir ».
  :func:`locate_sites` gives every site a ``location``: its point noir's address, else
  the nearest address within 50 m, else none (« n.d. »), and says which
  (``location_source``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import AnalysisError
from geo.stats.binning import point_coordinates
from geo.stats.indicators import assign_quartier

logger = logging.getLogger(__name__)

#: Status of a site, in French (see the module docstring).
STATUS_PERSISTENT = "persistant malgré les enlèvements"
STATUS_RECURRENT = "récurrent"
STATUS_SINGLE = "ponctuel"
#: Label of a site attached to no known point noir.
UNNAMED_SITE = "regroupement sans point noir"
#: Where a site's location comes from (``location_source`` of :func:`locate_sites`).
LOCATED_BY_POINT_NOIR = "adresse du point noir"
LOCATED_BY_NEAREST_ADDRESS = "adresse la plus proche"
LOCATED_NOWHERE = "aucune adresse"
#: Largest distance (m) from a site to the address that locates it.
ADDRESS_REACH_M = 50.0
_EXTENT_ERROR = "L'étendue maximale d'un site doit être au moins égale au rayon de regroupement."

__all__ = [
    "Recurrence",
    "RecurrenceOptions",
    "address_text",
    "cap_extent",
    "group_sites",
    "locate_sites",
    "recurrence",
    "single_linkage",
]


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
    max_extent : float
        Widest site in metres: a single-linkage group wider than this is cut (see the
        module docstring); ``inf`` keeps pure single linkage.

    Raises
    ------
    AnalysisError
        When ``radius`` is not positive, ``max_extent`` is smaller than ``radius``, or
        ``persist_after`` or ``recent_days`` is negative.
    """

    radius: float = 25.0
    time_field: str = "observed_at"
    cleaned_field: str | None = "cleaned_at"
    persist_after: int = 2
    recent_days: float = 90.0
    max_extent: float = 150.0

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if not self.radius > 0:
            raise AnalysisError("Le rayon de regroupement doit être positif.")
        if not self.max_extent >= self.radius:
            raise AnalysisError(_EXTENT_ERROR)
        if self.persist_after < 0 or self.recent_days < 0:
            raise AnalysisError("Les seuils de persistance doivent être positifs ou nuls.")


def group_sites(
    events: gpd.GeoDataFrame,
    *,
    radius: float = 25.0,
    sites: gpd.GeoDataFrame | None = None,
    max_extent: float = 150.0,
) -> pd.Series:
    """Site of each event: nearest known site within ``radius``, else single-linkage groups.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dumping events, any CRS.
    radius : float
        Repeat distance in metres: two events at most ``radius`` apart are on the same
        site, and chains of such events make one site (single linkage).
    sites : geopandas.GeoDataFrame, optional
        Known points noirs; their index labels become the site ids.
    max_extent : float
        Widest group in metres (:func:`cap_extent`).

    Returns
    -------
    pandas.Series
        Site id (str) per event, indexed like ``events``; ``None`` for unlocated events.

    Raises
    ------
    AnalysisError
        When ``radius`` is not positive or ``max_extent`` smaller than ``radius``.
    """
    if radius <= 0:
        raise AnalysisError("Le rayon de regroupement doit être positif.")
    if not max_extent >= radius:
        raise AnalysisError(_EXTENT_ERROR)
    return pd.Series(_site_labels(point_coordinates(events), (radius, max_extent), sites),
                     index=events.index, name="site", dtype=object)


def _site_labels(xy: np.ndarray, sizes: tuple[float, float], sites: gpd.GeoDataFrame | None) -> np.ndarray:
    """Site id (object array) of each point of ``xy``; ``sizes`` is (radius, max_extent)."""
    radius, max_extent = sizes
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
        comp = cap_extent(xy[idx], single_linkage(xy[idx], radius), radius=radius, max_extent=max_extent)
        names = np.array([f"site-{c:05d}" for c in range(int(comp.max()) + 1)], dtype=object)
        labels[idx] = names[comp]
    return labels


_ADJACENT = ((1, -1), (1, 0), (1, 1), (0, 1))
_FAR = tuple((dx, dy) for dx in range(0, 4) for dy in range(-3, 4)
             if (dx > 0 or dy > 0) and max(abs(dx), abs(dy)) >= 2)


def single_linkage(xy: np.ndarray, radius: float) -> np.ndarray:
    """Single-linkage groups of points: connected components of the « at most radius » graph.

    Exact, in near-linear time and memory, without listing every pair of neighbours.
    Points are binned in square cells of side ``radius / (2·√2)``: two points in the same
    or in 8-adjacent cells are at most ``radius`` apart, so such cells are joined outright.
    Cells 2 or 3 steps apart are joined only when one of their points lies within
    ``radius`` of the other cell, tested with one nearest-neighbour query per point, and
    only for cells not already in the same group. Components of the cell graph
    (:func:`scipy.sparse.csgraph.connected_components`) are the groups.

    Parameters
    ----------
    xy : numpy.ndarray
        (n, 2) finite coordinates in metres.
    radius : float
        Linkage distance in metres (positive).

    Returns
    -------
    numpy.ndarray
        Group number (int64, 0 to k-1, in order of first appearance) per point.
    """
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    side = radius / (2.0 * np.sqrt(2.0))
    cell_xy = np.floor((xy - xy.min(axis=0)) / side).astype(np.int64) + 3
    width = np.int64(cell_xy[:, 1].max() + 7)
    cells, cell_of = np.unique(cell_xy[:, 0] * width + cell_xy[:, 1], return_inverse=True)
    m = len(cells)
    pairs = [_cell_pairs(cells, dx * width + dy) for dx, dy in _ADJACENT]
    comp = _components(m, pairs)
    cell_of = cell_of.ravel()
    by_cell = np.argsort(cell_of, kind="stable")
    counts = np.bincount(cell_of, minlength=m)
    members = (by_cell, np.cumsum(counts) - counts, counts)
    tree = cKDTree(np.column_stack([xy, cell_of * (4.0 * radius)]))
    for dx, dy in _FAR:
        a, b = _cell_pairs(cells, dx * width + dy)
        keep = comp[a] != comp[b]
        if keep.any():
            pairs.append(_linked(tree, xy, members, (a[keep], b[keep]), radius))
    if len(pairs) > len(_ADJACENT):
        comp = _components(m, pairs)
    label = comp[cell_of]
    _, first = np.unique(label, return_index=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(np.argsort(first))] = np.arange(len(first))
    out: np.ndarray = rank[label]
    return out


def cap_extent(xy: np.ndarray, groups: np.ndarray, *, radius: float, max_extent: float) -> np.ndarray:
    """Cut the groups wider than ``max_extent`` (single-linkage chains) into smaller sites.

    A group whose bounding box is wider or taller than ``max_extent`` is cut by a square
    grid of side ``max_extent`` anchored at its lower-left corner; each piece is then split
    into its own single-linkage groups at ``radius`` (a piece may hold two unconnected
    parts of the chain). Other groups are unchanged.

    Parameters
    ----------
    xy : numpy.ndarray
        (n, 2) finite coordinates in metres.
    groups : numpy.ndarray
        Group number per point (from :func:`single_linkage`).
    radius, max_extent : float
        Linkage distance and widest site, in metres.

    Returns
    -------
    numpy.ndarray
        Group number (int64, 0 to k-1, in order of first appearance) per point.
    """
    if len(xy) == 0 or not np.isfinite(max_extent):
        return groups
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1]})
    by = frame.groupby(groups, sort=True)
    low_g, high_g = by.min(), by.max()
    wide_g = (high_g - low_g).max(axis=1) > max_extent
    wide = wide_g.reindex(np.arange(groups.max() + 1), fill_value=False).to_numpy()[groups]
    if not wide.any():
        return groups
    low = low_g.reindex(groups[wide]).to_numpy()
    tile = np.floor((xy[wide] - low) / max_extent).astype(np.int64)
    span = np.int64(tile.max() + 1)
    piece = np.unique((groups[wide].astype(np.int64) * span + tile[:, 0]) * span + tile[:, 1],
                      return_inverse=True)[1].ravel()
    # pieces laid side by side, far enough apart never to link, then linked again
    local = xy[wide] - low - tile * max_extent
    local[:, 0] += piece * (max_extent + 4.0 * radius)
    sub = single_linkage(local, radius)
    key = groups.astype(np.int64, copy=True)
    key[wide] = groups.max() + 1 + sub
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    out: np.ndarray = rank[inverse.ravel()]
    return out


def _cell_pairs(cells: np.ndarray, shift: np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) of non-empty cells with ``cells[j] == cells[i] + shift``."""
    pos = np.searchsorted(cells, cells + shift)
    hit = pos < len(cells)
    hit[hit] = cells[pos[hit]] == cells[hit] + shift
    return np.flatnonzero(hit), pos[hit]


def _components(m: int, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Return the connected components of ``m`` cells joined by ``pairs``."""
    rows = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, dtype=np.int64)
    cols = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(m, m))
    labels: np.ndarray = connected_components(graph, directed=False)[1]
    return labels


def _linked(
    tree: cKDTree, xy: np.ndarray, members: tuple[np.ndarray, np.ndarray, np.ndarray],
    pairs: tuple[np.ndarray, np.ndarray], radius: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the cell pairs (a, b) with a point of ``a`` at most ``radius`` from one of ``b``.

    ``tree`` holds the points with their cell number × 4·radius as a third coordinate, so a
    query at the third coordinate of ``b`` bounded by ``radius`` only finds points of ``b``.
    ``members`` is (points sorted by cell, first position of each cell, points per cell);
    the points of the smaller cell of each pair are the ones queried.
    """
    by_cell, starts, counts = members
    swap = counts[pairs[0]] > counts[pairs[1]]
    a = np.where(swap, pairs[1], pairs[0])
    b = np.where(swap, pairs[0], pairs[1])
    size = counts[a]
    row = np.repeat(np.arange(len(a)), size)
    offset = np.arange(len(row)) - np.repeat(np.cumsum(size) - size, size)
    pts = by_cell[starts[a][row] + offset]
    query = np.column_stack([xy[pts], b[row] * (4.0 * radius)])
    dist, _ = tree.query(query, k=1, distance_upper_bound=radius * (1 + 1e-12))
    hit = np.zeros(len(a), dtype=bool)
    hit[row[np.isfinite(dist)]] = True
    return a[hit], b[hit]


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
        ``quartier``; ``name`` and ``address`` of its point noir (None for the other
        sites), ``label`` (what a reader sees: « name, address » or « regroupement sans
        point noir »), ``cleanups_known`` (clean-up dates recorded at the site, not
        assumed) and ``status`` (« persistant malgré les enlèvements » only where
        ``cleanups_known``, « récurrent » for any other site with 2 events or more,
        « ponctuel »).
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
        Period analysed (the events' range by default); it runs from ``start`` to the end
        of the day of ``end`` (an event at 23:59 on that day counts).

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
    stop = t1.normalize() + pd.Timedelta(days=1)  # until the end of the last day
    in_period = ((when >= t0) & (when < stop)).to_numpy()
    ev = events.iloc[np.flatnonzero(in_period)].copy()
    ev["_when"] = when[in_period]
    assumed = cleaned_field is None or cleaned_field not in events.columns
    ev["_cleaned"] = ev["_when"] if assumed else _dates(ev, str(cleaned_field))
    ev_xy = point_coordinates(ev)
    ev["site"] = _site_labels(ev_xy, (radius, options.max_extent), sites)
    ev["_x"], ev["_y"] = ev_xy[:, 0], ev_xy[:, 1]
    if perimeters is not None:
        ev["quartier"] = assign_quartier(ev, perimeters, code_field=code_field)
    else:
        ev["quartier"] = pd.Series(None, index=ev.index, dtype=object)
    located = ev[ev["site"].notna()].sort_values(["site", "_when"], kind="stable")

    reocc = _reoccurrences(located)

    period_days = max((stop - t0).total_seconds() / 86400.0, 1.0)
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
        (stop - stats["last"]).dt.total_seconds() / 86400.0 <= recent_days
    )
    stats["cleanups_known"] = (stats["n_cleanups"] > 0) & (not assumed)
    stats = stats.join(_site_names(stats.index, sites))
    stats["status"] = np.select(
        [stats["persistent"] & stats["cleanups_known"], stats["n_events"] >= 2],
        [STATUS_PERSISTENT, STATUS_RECURRENT], STATUS_SINGLE,
    ).astype(object)
    stats.index.name = "site"
    site_gdf = gpd.GeoDataFrame(
        stats.reset_index(), geometry=gpd.points_from_xy(stats["x"], stats["y"]), crs=TERRITORY_CRS
    )
    quart = _per_quartier(site_gdf, reocc)
    ev = ev.drop(columns=["_when", "_cleaned", "_x", "_y"])
    params = {
        "radius_m": radius,
        "max_extent_m": options.max_extent,
        "period": (t0, t1),
        "cleaning_assumed": assumed,
        "persist_after": persist_after,
        "recent_days": recent_days,
        "known_sites": sites is not None,
    }
    return Recurrence(events=ev, sites=site_gdf, reoccurrences=reocc, quartiers=quart, parameters=params)


def _text(value: Any) -> str | None:
    """``value`` as a stripped string, None when missing or blank."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _site_names(index: pd.Index, sites: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """``name``, ``address`` and ``label`` of each site id (from the known points noirs)."""
    out = pd.DataFrame({"name": None, "address": None}, index=index, dtype=object)
    if sites is not None and len(sites):
        known = pd.DataFrame(sites.drop(columns=sites.geometry.name), copy=True)
        known.index = [str(i) for i in sites.index]
        for column in ("name", "address"):
            if column in known.columns:
                out[column] = pd.Series([_text(v) for v in known[column].reindex(index)],
                                        index=index, dtype=object)
    ids = [str(i) for i in sites.index] if sites is not None else []
    out["label"] = pd.Series([
        _point_noir_label(name, address) if known else UNNAMED_SITE
        for name, address, known in zip(out["name"], out["address"], index.isin(ids), strict=True)
    ], index=index, dtype=object)
    return out


def _point_noir_label(name: Any, address: Any) -> str:
    """« name, address » of a point noir; the address once when the name already holds it."""
    name_text = _text(name) or "point noir sans nom"
    address_text = _text(address)
    if address_text is None:
        return f"{name_text}, adresse inconnue"
    if address_text.casefold() in name_text.casefold():
        return name_text
    return f"{name_text}, {address_text}"


def address_text(addresses: pd.DataFrame) -> pd.Series:
    """Readable address of each row: « number suffix street », or its ``label`` column.

    Parameters
    ----------
    addresses : pandas.DataFrame
        Address points with ``number``, ``suffix`` and ``street`` columns (the ``adresses``
        layer, BAN-like) or a ready ``label`` column.

    Returns
    -------
    pandas.Series
        Text per row (object), None where neither a street nor a label is known.
    """
    if "label" in addresses.columns and "street" not in addresses.columns:
        return pd.Series([_text(v) for v in addresses["label"]], index=addresses.index, dtype=object)
    empty = pd.Series(None, index=addresses.index, dtype=object)
    numbers = addresses["number"] if "number" in addresses.columns else empty
    suffixes = addresses["suffix"] if "suffix" in addresses.columns else empty
    streets = addresses["street"] if "street" in addresses.columns else empty
    out = []
    for number, suffix, street in zip(numbers, suffixes, streets, strict=True):
        street_text = _text(street)
        num = _text(number)
        num = num.removesuffix(".0") if num is not None else ""
        out.append(None if street_text is None else f"{num}{_text(suffix) or ''} {street_text}".strip())
    return pd.Series(out, index=addresses.index, dtype=object)


def locate_sites(
    sites: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame | None = None, *, reach_m: float = ADDRESS_REACH_M
) -> gpd.GeoDataFrame:
    """Give each site of a :class:`Recurrence` a readable location and say where it comes from.

    A site attached to a point noir with an address is located at that address
    (« adresse du point noir »). Any other site (« regroupement sans point noir », or a
    point noir with no address) is located at the nearest of ``addresses`` within
    ``reach_m`` of its centre (« adresse la plus proche », ``location_m`` metres away);
    beyond that, or without addresses, its location is unknown (None, « aucune adresse »)
    — never a far address.

    Parameters
    ----------
    sites : geopandas.GeoDataFrame
        :attr:`Recurrence.sites` (``address`` used when present).
    addresses : geopandas.GeoDataFrame, optional
        Address points, any CRS (:func:`address_text` reads them).
    reach_m : float
        Farthest address that may locate a site, metres.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``sites`` with ``location`` (text or None), ``location_source`` and
        ``location_m`` (distance to the nearest address, NaN otherwise).
    """
    out = sites.copy()
    own = (pd.Series([_text(v) for v in out["address"]], index=out.index, dtype=object)
           if "address" in out.columns else pd.Series(None, index=out.index, dtype=object))
    location = own.copy()
    source = pd.Series(np.where(own.notna(), LOCATED_BY_POINT_NOIR, LOCATED_NOWHERE), index=out.index,
                       dtype=object)
    distance = np.full(len(out), np.nan)
    todo = np.flatnonzero(own.isna().to_numpy())
    if addresses is not None and len(addresses) and len(todo):
        adr = to_territory_crs(addresses)
        text = address_text(adr).to_numpy(dtype=object)
        keep = pd.notna(text) & ~(adr.geometry.isna() | adr.geometry.is_empty).to_numpy()
        if keep.any():
            tree = shapely.STRtree(adr.geometry.to_numpy()[keep])
            (hit, idx), dist = tree.query_nearest(out.geometry.to_numpy()[todo], max_distance=reach_m,
                                                   return_distance=True, all_matches=False)
            rows = todo[hit]
            location.iloc[rows] = text[keep][idx]
            source.iloc[rows] = LOCATED_BY_NEAREST_ADDRESS
            distance[rows] = dist
    out["location"] = location
    out["location_source"] = source
    out["location_m"] = distance
    return out


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

"""Coverage: CCTV views over dumping, walking distance to bins, lighting, diagnostics.

- :func:`cctv_coverage`: each camera sees a disc of ``range_m`` (or a sector when its
  azimuth and field of view are known), cut by building footprints when given (exact
  visibility polygon, :mod:`geo.stats._visibility`: walls cast their shadows, the camera's
  own building hides only what is behind its façade). Building heights are not used: no
  layer gives them, so a footprint hides everything behind it. Reports the share of events
  seen, the share of hotspot area seen, the uncovered hotspots ranked by Gi* z-score and the
  parameters assumed (range when unknown, full disc when the direction is unknown).
- :func:`walking_coverage`: walking distance along the street centrelines (a networkx
  graph built here, :mod:`geo.stats._coverage_graph`) from each address to the nearest bin
  or drop-off point; shares within 100 / 200 / 300 m, crow-fly shares for comparison,
  and the gaps.
- :func:`lighting_density`: lighting supports per 100 m of street.
- :func:`diagnostic_coverage`: share of street length walked or observed in the last
  12 months.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import AnalysisError
from geo.stats._coverage_graph import build_street_graph, walking_distances
from geo.stats._visibility import view_area, visibility
from geo.stats.binning import point_coordinates

logger = logging.getLogger(__name__)

__all__ = [
    "CCTVCoverage",
    "DiagnosticCoverage",
    "WalkingCoverage",
    "camera_views",
    "cctv_coverage",
    "diagnostic_coverage",
    "lighting_density",
    "walking_coverage",
]

DEFAULT_CAMERA_RANGE_M = 50.0
#: A footprint containing a camera or within this distance (m) is the camera's own building.
OWN_BUILDING_M = 1.0


def _column_or_none(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    """Float values of ``column`` (NaN when absent)."""
    if column is None or column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def camera_views(
    cameras: gpd.GeoDataFrame,
    *,
    range_m: float = DEFAULT_CAMERA_RANGE_M,
    range_field: str | None = "range_m",
    azimuth_field: str | None = "azimuth_deg",
    fov_field: str | None = "fov_deg",
    buildings: gpd.GeoDataFrame | None = None,
    n_rays: int = 360,
    own_building_m: float = OWN_BUILDING_M,
) -> gpd.GeoDataFrame:
    """Polygon seen by each camera, in EPSG:2154.

    Parameters
    ----------
    cameras : geopandas.GeoDataFrame
        Camera points (``videoprotection`` layer), any CRS.
    range_m : float
        Range used when the camera has no ``range_field`` value (50 m by default: the
        distance at which a person dumping can reasonably be recognised).
    range_field, azimuth_field, fov_field : str, optional
        Per-camera range, direction (degrees clockwise from north) and field of view.
    buildings : geopandas.GeoDataFrame, optional
        Building footprints that block the views (at any height: heights are not used).
    n_rays : int
        Points per full circle on the outer arc of the view (the walls and building corners
        are exact; 360 points lose 0.005 % of a disc's area).
    own_building_m : float
        A footprint containing the camera or within this distance is its own building: it
        hides what is behind the façade, nothing in front of it.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed like ``cameras``, geometry = the view polygon, with ``range_used``,
        ``range_assumed`` (no range of its own: ``range_m`` used), ``sector`` (direction and
        field of view known, else a full disc), ``own_building`` and ``moved_m`` (distance
        the camera was moved out of its own building to stand in front of the façade).

    Raises
    ------
    AnalysisError
        When ``range_m`` is not positive.
    """
    if range_m <= 0:
        raise AnalysisError("La portée des caméras doit être positive.")
    xy = point_coordinates(cameras)
    rng = _column_or_none(cameras, range_field)
    assumed = ~(np.isfinite(rng) & (rng > 0))
    rng = np.where(assumed, range_m, rng)
    az = _column_or_none(cameras, azimuth_field)
    fov = _column_or_none(cameras, fov_field)
    obstacles = tree = None
    if buildings is not None and len(buildings):
        b = to_territory_crs(buildings).geometry.to_numpy()
        obstacles = b[~(shapely.is_missing(b) | shapely.is_empty(b))]
        tree = shapely.STRtree(obstacles)
    polys: list[Any] = []
    own = np.zeros(len(xy), dtype=bool)
    moved = np.full(len(xy), np.nan)
    for k, ((x, y), r, a, f) in enumerate(zip(xy, rng, az, fov, strict=True)):
        if not (np.isfinite(x) and np.isfinite(y)):
            polys.append(None)
            continue
        area = view_area(
            float(x), float(y), float(r),
            float(a) if np.isfinite(a) else None, float(f) if np.isfinite(f) else None, n_rays,
        )
        view = visibility(
            float(x), float(y), area, range_m=float(r), obstacles=obstacles, tree=tree,
            own_building_m=own_building_m,
        )
        polys.append(view.polygon)
        own[k], moved[k] = view.own_building, view.moved_m
    data = {
        "range_used": rng,
        "range_assumed": assumed,
        "sector": np.isfinite(az) & np.isfinite(fov) & (fov < 360),
        "own_building": own,
        "moved_m": moved,
    }
    return gpd.GeoDataFrame(data, geometry=polys, index=cameras.index, crs=TERRITORY_CRS)


@dataclass
class CCTVCoverage:
    """Result of :func:`cctv_coverage`.

    Attributes
    ----------
    views : geopandas.GeoDataFrame
        View polygon per camera.
    events : geopandas.GeoDataFrame
        The events (same index) with a boolean ``seen``.
    share_events_seen : float
        Share of located events inside at least one view.
    hotspots : geopandas.GeoDataFrame or None
        Hot bins with ``seen_share`` (share of their area seen).
    share_hotspot_area_seen : float or None
        Seen area of the hot bins over their total area.
    uncovered : geopandas.GeoDataFrame or None
        Hot bins seen on less than half their area, by decreasing Gi* z-score.
    parameters : dict
        Parameters used and assumed, for the report to state them: ``range_m`` (the range
        assumed when a camera has none), ``cameras``, ``cameras_range_assumed``,
        ``cameras_full_disc`` (no direction or field of view: a full disc assumed),
        ``buildings`` (footprints used), ``cameras_own_building``, ``cameras_moved``
        (moved out of their own building onto its façade) and ``moved_max_m`` (the
        largest move), ``own_building_m`` (a footprint this close is the camera's own
        building), ``building_heights`` (always
        False: heights are not used, a footprint hides everything behind it) and
        ``uncovered_below``.
    """

    views: gpd.GeoDataFrame
    events: gpd.GeoDataFrame
    share_events_seen: float
    hotspots: gpd.GeoDataFrame | None = None
    share_hotspot_area_seen: float | None = None
    uncovered: gpd.GeoDataFrame | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def _assumptions(
    views: gpd.GeoDataFrame, *, range_m: float, buildings: gpd.GeoDataFrame | None, uncovered_below: float
) -> dict[str, Any]:
    """List the parameters of a coverage and what was assumed for how many cameras."""
    located = views.geometry.notna().to_numpy()
    return {
        "range_m": range_m,
        "cameras": int(located.sum()),
        "cameras_range_assumed": int((views["range_assumed"].to_numpy() & located).sum()),
        "cameras_full_disc": int((~views["sector"].to_numpy() & located).sum()),
        "buildings": buildings is not None,
        "cameras_own_building": int(views["own_building"].sum()),
        "cameras_moved": int((views["moved_m"].fillna(0.0) > 0).sum()),
        "moved_max_m": float(views["moved_m"].max()) if located.any() else 0.0,
        "own_building_m": OWN_BUILDING_M,
        "building_heights": False,
        "uncovered_below": uncovered_below,
    }


def cctv_coverage(
    events: gpd.GeoDataFrame,
    cameras: gpd.GeoDataFrame,
    *,
    hotspots: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    range_m: float = DEFAULT_CAMERA_RANGE_M,
    uncovered_below: float = 0.5,
    n_rays: int = 360,
) -> CCTVCoverage:
    """CCTV coverage of dumping events and of dumping hotspots.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dumping events or points noirs, any CRS.
    cameras : geopandas.GeoDataFrame
        Cameras (``range_m``, ``azimuth_deg``, ``fov_deg`` used when present).
    hotspots : geopandas.GeoDataFrame, optional
        Result of :func:`geo.stats.hotspots.getis_ord` / :func:`geo.stats.hotspots.hotspots`; the
        hot bins (``gi_bin > 0``) are measured.
    buildings : geopandas.GeoDataFrame, optional
        Footprints blocking the views.
    range_m : float
        Default camera range in metres.
    uncovered_below : float
        A hot bin seen on less than this share of its area is « non couvert ».
    n_rays : int
        Points per full circle on the outer arc of the views.

    Returns
    -------
    CCTVCoverage
        Figures and tables.

    Raises
    ------
    AnalysisError
        When there is no camera or no located event.
    """
    if len(cameras) == 0:
        raise AnalysisError("Aucune caméra fournie.")
    views = camera_views(cameras, range_m=range_m, buildings=buildings, n_rays=n_rays)
    union = shapely.union_all(views.geometry.dropna().to_numpy())
    xy = point_coordinates(events)
    ok = np.isfinite(xy).all(axis=1)
    if not ok.any():
        raise AnalysisError("Aucun événement localisé.")
    seen = np.zeros(len(xy), dtype=bool)
    seen[ok] = shapely.contains_xy(union, xy[ok, 0], xy[ok, 1]) | shapely.intersects_xy(
        union, xy[ok, 0], xy[ok, 1]
    )
    ev = events.copy()
    ev["seen"] = seen
    result = CCTVCoverage(
        views=views,
        events=ev,
        share_events_seen=float(seen[ok].mean()),
        parameters=_assumptions(views, range_m=range_m, buildings=buildings, uncovered_below=uncovered_below),
    )
    if hotspots is not None and "gi_bin" in hotspots.columns:
        hot = to_territory_crs(hotspots[hotspots["gi_bin"] > 0])
        areas = hot.geometry.area.to_numpy()
        seen_area = shapely.area(shapely.intersection(hot.geometry.to_numpy(), union))
        hot = hot.assign(seen_share=np.divide(seen_area, areas, out=np.zeros_like(areas), where=areas > 0))
        result.hotspots = hot
        result.share_hotspot_area_seen = float(seen_area.sum() / areas.sum()) if areas.sum() > 0 else None
        result.uncovered = hot[hot["seen_share"] < uncovered_below].sort_values(
            ["gi_z", "count"] if "count" in hot.columns else ["gi_z"], ascending=False
        )
    return result


@dataclass
class WalkingCoverage:
    """Result of :func:`walking_coverage`.

    Attributes
    ----------
    addresses : geopandas.GeoDataFrame
        The addresses (same index) with ``walk_m`` (inf when unreachable) and ``crow_m``.
    shares : pandas.DataFrame
        Per threshold: ``walk_share`` and ``crow_share`` of the addresses within it.
    gaps : geopandas.GeoDataFrame
        Addresses beyond the largest threshold, farthest first.
    parameters : dict
        Parameters used.
    """

    addresses: gpd.GeoDataFrame
    shares: pd.DataFrame
    gaps: gpd.GeoDataFrame
    parameters: dict[str, Any] = field(default_factory=dict)


def walking_coverage(
    addresses: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    streets: gpd.GeoDataFrame,
    *,
    thresholds: tuple[float, ...] = (100.0, 200.0, 300.0),
    max_snap: float = 50.0,
    tolerance: float = 1.0,
) -> WalkingCoverage:
    """Walking-distance coverage of address points by bins / points d'apport volontaire.

    Parameters
    ----------
    addresses : geopandas.GeoDataFrame
        Address points, any CRS.
    facilities : geopandas.GeoDataFrame
        Bins or drop-off points.
    streets : geopandas.GeoDataFrame
        Street centrelines (LineStrings).
    thresholds : tuple of float
        Distances reported (metres).
    max_snap : float
        Points farther than this from every street are unreachable.
    tolerance : float
        Endpoint snapping tolerance of the street graph.

    Returns
    -------
    WalkingCoverage
        Distances, shares and gaps.

    Raises
    ------
    AnalysisError
        With no facility, no address or empty thresholds.
    """
    if not thresholds or min(thresholds) <= 0:
        raise AnalysisError("Donner des seuils de distance positifs.")
    fxy = point_coordinates(facilities)
    fxy = fxy[np.isfinite(fxy).all(axis=1)]
    axy = point_coordinates(addresses)
    if len(fxy) == 0 or len(axy) == 0:
        raise AnalysisError("Il faut au moins une adresse et un point de collecte localisés.")
    sg = build_street_graph(streets, tolerance=tolerance)
    walk = walking_distances(sg, fxy, axy, max_snap=max_snap)
    crow = np.full(len(axy), np.inf)
    ok = np.isfinite(axy).all(axis=1)
    crow[ok], _ = cKDTree(fxy).query(axy[ok], k=1)
    out = addresses.copy()
    out["walk_m"] = walk
    out["crow_m"] = crow
    located = ok
    shares = pd.DataFrame(
        {
            "threshold_m": list(thresholds),
            "walk_share": [float((walk[located] <= t).mean()) for t in thresholds],
            "crow_share": [float((crow[located] <= t).mean()) for t in thresholds],
        }
    )
    gaps = out[located & (walk > max(thresholds))].sort_values("walk_m", ascending=False)
    params = {
        "thresholds": thresholds,
        "max_snap": max_snap,
        "addresses": int(located.sum()),
        "facilities": len(fxy),
        "unreachable": int((located & ~np.isfinite(walk)).sum()),
        "graph_nodes": sg.graph.number_of_nodes(),
        "graph_edges": sg.graph.number_of_edges(),
    }
    return WalkingCoverage(addresses=out, shares=shares, gaps=gaps, parameters=params)


def lighting_density(
    streets: gpd.GeoDataFrame,
    supports: gpd.GeoDataFrame,
    *,
    max_distance: float = 25.0,
    per_length: float = 100.0,
) -> gpd.GeoDataFrame:
    """Lighting supports per ``per_length`` metres of each street segment.

    Each support is attached to its nearest segment within ``max_distance``.

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        Street segments.
    supports : geopandas.GeoDataFrame
        Lighting supports (points).
    max_distance : float
        Supports farther than this from every street are ignored.
    per_length : float
        Reference length (100 m).

    Returns
    -------
    geopandas.GeoDataFrame
        The segments (same index, EPSG:2154) with ``length_m``, ``supports`` and
        ``per_100m``; ``attrs["overall_per_100m"]`` holds the network-wide figure.
    """
    segs = to_territory_crs(streets)
    xy = point_coordinates(supports)
    xy = xy[np.isfinite(xy).all(axis=1)]
    geoms = segs.geometry.to_numpy()
    valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    tree = shapely.STRtree(geoms[valid])
    pairs = tree.query_nearest(shapely.points(xy), max_distance=max_distance, all_matches=False)
    counts_valid = np.bincount(pairs[1], minlength=int(valid.sum()))
    counts = np.zeros(len(segs), dtype=np.int64)
    counts[valid] = counts_valid
    out = segs.copy()
    out["length_m"] = shapely.length(geoms)
    out["supports"] = counts
    with np.errstate(divide="ignore", invalid="ignore"):
        out["per_100m"] = np.where(out["length_m"] > 0, counts / out["length_m"] * per_length, np.nan)
    total = float(out["length_m"].sum())
    out.attrs["overall_per_100m"] = float(counts.sum() / total * per_length) if total > 0 else float("nan")
    return out


@dataclass
class DiagnosticCoverage:
    """Share of street length walked or observed in the window.

    Attributes
    ----------
    share : float
        Covered length / total length.
    streets : geopandas.GeoDataFrame
        Segments with ``length_m`` and ``covered_m``.
    window : tuple
        (start, end) of the window.
    """

    share: float
    streets: gpd.GeoDataFrame
    window: tuple[pd.Timestamp, pd.Timestamp]


def diagnostic_coverage(
    streets: gpd.GeoDataFrame,
    walks: gpd.GeoDataFrame,
    *,
    time_field: str = "observed_at",
    end: Any = None,
    months: int = 12,
    buffer: float = 20.0,
) -> DiagnosticCoverage:
    """Share of street length walked (routes) or observed (points) in the last months.

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        Street segments.
    walks : geopandas.GeoDataFrame
        Diagnostic routes (lines) or observations (points) with a date.
    time_field : str
        Date column of ``walks``.
    end : date-like, optional
        End of the window (the latest date by default).
    months : int
        Length of the window.
    buffer : float
        A street is covered within this distance of a route or observation.

    Returns
    -------
    DiagnosticCoverage
        Share and per-segment covered length.

    Raises
    ------
    AnalysisError
        When ``time_field`` is missing.
    """
    if time_field not in walks.columns:
        raise AnalysisError(f"Colonne de date « {time_field} » absente.")
    when = pd.to_datetime(walks[time_field], errors="coerce", utc=True).dt.tz_localize(None)
    t1 = pd.Timestamp(end) if end is not None else when.max()
    t0 = t1 - pd.DateOffset(months=months)
    recent = to_territory_crs(walks)[when.between(t0, t1).to_numpy()]
    segs = to_territory_crs(streets)
    geoms = segs.geometry.to_numpy()
    length = shapely.length(geoms)
    covered = np.zeros(len(segs))
    if len(recent):
        zone = shapely.union_all(shapely.buffer(recent.geometry.to_numpy(), buffer))
        hit = shapely.intersects(geoms, zone)
        covered[hit] = shapely.length(shapely.intersection(geoms[hit], zone))
    out = segs.copy()
    out["length_m"] = length
    out["covered_m"] = covered
    total = float(np.nansum(length))
    share = float(covered.sum() / total) if total > 0 else 0.0
    return DiagnosticCoverage(share=share, streets=out, window=(t0, t1))

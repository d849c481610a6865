"""Emerging hot spot analysis: Gi* in a space-time cube, Mann–Kendall trends, pattern classes.

esda has no emerging hot spot analysis; this follows ArcGIS Pro's « How Emerging Hot
Spot Analysis works » and R sfdep's ``emerging_hotspot_analysis``:

1. The events are counted in a space-time cube: regular bins (:mod:`geo.stats.binning`) ×
   time steps (months by default). Bins with no event over the whole period are left
   out, as ArcGIS does.
2. Gi* is computed for every bin and step with space-time neighbours: the bins within
   the neighbourhood distance (the bin itself included) at the same step and at the
   ``k_time`` previous steps. The mean and variance are those of the whole cube.
   p-values are corrected for the false discovery rate in each time step (on by default).
3. A Mann–Kendall test on each bin's series of Gi* z-scores gives the trend of the
   clustering intensity.
4. Each bin gets a pattern. With ``T`` steps, "hot" meaning significant with z > 0 and
   "cold" significant with z < 0, and *90 %* meaning at least 90 % of the steps:

   - **new hot spot**: hot at the final step only, never hot before;
   - **consecutive hot spot**: a single uninterrupted run of at least two hot steps
     ending at the final step, never hot before the run, hot less than 90 % of steps;
   - **intensifying hot spot**: hot ≥ 90 % of steps including the final step, with a
     significant upward trend of the z-scores;
   - **persistent hot spot**: hot ≥ 90 % of steps including the final step, with no
     significant trend;
   - **diminishing hot spot**: hot ≥ 90 % of steps including the final step, with a
     significant downward trend;
   - **sporadic hot spot**: hot at the final step, an on-and-off history of hot steps
     (hot less than 90 % of steps, not new nor consecutive) and never cold;
   - **oscillating hot spot**: hot at the final step, hot less than 90 % of steps, and
     cold at some earlier step;
   - **historical hot spot**: not hot at the final step but hot ≥ 90 % of steps;
   - the same eight patterns for cold spots (swapping hot and cold, a downward trend
     meaning intensifying for a cold spot);
   - **no pattern**: none of the above.

   - **former cold spot become hot** (« ancien point froid devenu chaud »): the hot
     history is a single run ending at the final step (what would be *new* or
     *consecutive*), but the bin was a significant cold spot before that run — it is not
     « new »: it changed side. Likewise **former hot spot become cold**.

   Hot patterns are tested before cold ones, so a bin hot at the final step always
   gets a hot pattern.
5. A hot pattern needs events: a bin with fewer than ``min_events`` events over the
   period (3 by default) is hot only through its neighbours; its pattern is « too few
   events » (« trop peu d'événements pour qualifier »), not a hot spot.

Choices stated in the reports' method note: the Gi* moments (mean and variance) are
those of the whole cube, all steps together, as in ArcGIS — not per step (a quiet month
is then cold everywhere, a busy one hot); the time neighbourhood is the step and the
``k_time`` previous ones; the trend is a Mann–Kendall test on each bin's z-scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from math import nan
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse, stats
from shapely.geometry.base import BaseGeometry

from geo.errors import AnalysisError
from geo.stats.binning import assign_bins, make_bins
from geo.stats.hotspots import GridOptions, distance_weights, fdr_adjust

logger = logging.getLogger(__name__)

__all__ = [
    "PATTERNS_FR",
    "SWITCHED",
    "TOO_FEW",
    "EmergingHotspots",
    "MannKendall",
    "SpaceTimeCube",
    "classify_series",
    "emerging_hotspots",
    "mann_kendall",
    "space_time_cube",
    "space_time_gi",
    "space_time_weights",
]

_KINDS = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic",
          "oscillating", "historical")
#: the hot (cold) history is one final run after a significant cold (hot) step
SWITCHED = "switched"
#: a hot pattern on a bin with fewer than ``min_events`` events
TOO_FEW = "too few events"
_KINDS_FR = {
    "new": "nouveau point {s}",
    "consecutive": "point {s} consécutif",
    "intensifying": "point {s} en intensification",
    "persistent": "point {s} persistant",
    "diminishing": "point {s} en diminution",
    "sporadic": "point {s} sporadique",
    "oscillating": "point {s} oscillant",
    "historical": "point {s} historique",
}
PATTERNS_FR: dict[str, str] = {"no pattern": "aucune tendance"}
for _k in _KINDS:
    PATTERNS_FR[f"{_k} hot spot"] = _KINDS_FR[_k].format(s="chaud")
    PATTERNS_FR[f"{_k} cold spot"] = _KINDS_FR[_k].format(s="froid")
PATTERNS_FR[f"{SWITCHED} hot spot"] = "ancien point froid devenu chaud"
PATTERNS_FR[f"{SWITCHED} cold spot"] = "ancien point chaud devenu froid"
PATTERNS_FR[TOO_FEW] = "trop peu d'événements pour qualifier"


@dataclass
class MannKendall:
    """Mann–Kendall trend test results, one value per series.

    Attributes
    ----------
    s : numpy.ndarray
        The S statistic (sum of the signs of all later-minus-earlier differences).
    tau : numpy.ndarray
        Kendall's tau = S / (T(T-1)/2).
    z : numpy.ndarray
        Normal score with continuity correction and tie-corrected variance.
    p : numpy.ndarray
        Two-sided p-value.
    """

    s: np.ndarray
    tau: np.ndarray
    z: np.ndarray
    p: np.ndarray


def mann_kendall(series: np.ndarray) -> MannKendall:
    """Mann–Kendall test on each row of ``series`` (vectorised).

    Parameters
    ----------
    series : numpy.ndarray
        Shape (T,) or (n, T), in time order.

    Returns
    -------
    MannKendall
        Arrays of shape (n,) (or scalars in 0-d arrays for a single series).

    Raises
    ------
    AnalysisError
        With fewer than 3 time steps.
    """
    x = np.asarray(series, dtype=float)
    one = x.ndim == 1
    if one:
        x = x[None, :]
    n, t = x.shape
    if t < 3:
        raise AnalysisError("Le test de Mann–Kendall demande au moins 3 pas de temps.")
    s = np.zeros(n)
    for d in range(1, t):  # pairs (i, i + d), one lag at a time: no (n, T²/2) array
        s += np.sign(x[:, d:] - x[:, :-d]).sum(axis=1)
    # tie correction: sum over groups of equal values of g(g-1)(2g+5)
    srt = np.sort(x, axis=1)
    new_group = np.ones_like(srt, dtype=bool)
    new_group[:, 1:] = srt[:, 1:] != srt[:, :-1]
    gid = np.cumsum(new_group, axis=1) - 1 + (np.arange(n) * t)[:, None]
    sizes = np.bincount(gid.ravel(), minlength=n * t).reshape(n, t).astype(float)
    ties = (sizes * (sizes - 1) * (2 * sizes + 5)).sum(axis=1)
    var = (t * (t - 1) * (2 * t + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    z = np.where(np.isfinite(z), z, 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    tau = s / (t * (t - 1) / 2.0)
    if one:
        return MannKendall(s=s[0], tau=tau[0], z=z[0], p=p[0])
    return MannKendall(s=s, tau=tau, z=z, p=p)


def _hot_pattern(hot: np.ndarray, cold: np.ndarray, trend: int, threshold: float) -> str | None:
    """Pattern kind of a series for the "hot" side (``trend``: +1 up, -1 down, 0 none)."""
    t = len(hot)
    n_hot = int(hot.sum())
    if n_hot == 0:
        return None
    mostly = n_hot >= threshold * t
    if not hot[-1]:
        return "historical" if mostly else None
    run = t - int(np.flatnonzero(~hot).max()) - 1 if (~hot).any() else t
    if n_hot == 1 or (run == n_hot and not mostly):
        # one final run: new or consecutive, unless the bin was on the other side before
        if cold.any():
            return SWITCHED
        return "new" if n_hot == 1 else "consecutive"
    if mostly:
        return {1: "intensifying", -1: "diminishing"}.get(trend, "persistent")
    return "oscillating" if cold.any() else "sporadic"


def classify_series(
    hot: np.ndarray,
    cold: np.ndarray,
    *,
    trend_z: float = 0.0,
    trend_p: float = 1.0,
    trend_alpha: float = 0.05,
    threshold: float = 0.9,
) -> str:
    """Emerging hot spot pattern of one bin (see the module docstring for the rules).

    Parameters
    ----------
    hot, cold : numpy.ndarray of bool
        Significant hot / cold spot at each time step, in time order.
    trend_z, trend_p : float
        Mann–Kendall z-score and p-value of the bin's Gi* z-scores.
    trend_alpha : float
        Significance level of the trend.
    threshold : float
        Share of the steps that makes a spot "persistent" (0.9 in ArcGIS and sfdep).

    Returns
    -------
    str
        ``"new hot spot"``, …, ``"historical cold spot"`` or ``"no pattern"``
        (French labels in :data:`PATTERNS_FR`).

    Raises
    ------
    AnalysisError
        When the series lengths differ or a step is both hot and cold.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    if hot.shape != cold.shape or hot.ndim != 1 or len(hot) == 0:
        raise AnalysisError("Séries chaud / froid de longueurs différentes ou vides.")
    if (hot & cold).any():
        raise AnalysisError("Un pas de temps ne peut être à la fois chaud et froid.")
    trend = int(np.sign(trend_z)) if trend_p <= trend_alpha else 0
    kind = _hot_pattern(hot, cold, trend, threshold)
    if kind is not None:
        return f"{kind} hot spot"
    kind = _hot_pattern(cold, hot, -trend, threshold)
    if kind is not None:
        return f"{kind} cold spot"
    return "no pattern"


@dataclass
class SpaceTimeCube:
    """Event counts per bin and time step.

    Attributes
    ----------
    bins : geopandas.GeoDataFrame
        The bins kept (at least one event over the period), EPSG:2154.
    counts : numpy.ndarray
        Shape (n_bins, T).
    periods : pandas.PeriodIndex
        The time steps.
    """

    bins: gpd.GeoDataFrame
    counts: np.ndarray
    periods: pd.PeriodIndex
    dropped_events: int = 0


def _as_datetime(values: pd.Series) -> pd.Series:
    """Parse a date column (strings, dates or datetimes; time zones dropped)."""
    out = pd.to_datetime(values, errors="coerce", utc=True)
    return out.dt.tz_localize(None)


def space_time_cube(
    points: gpd.GeoDataFrame,
    *,
    time_field: str = "observed_at",
    freq: str = "M",
    area: gpd.GeoDataFrame | gpd.GeoSeries | BaseGeometry | None = None,
    grid: GridOptions | None = None,
    start: Any = None,
    end: Any = None,
    bins: gpd.GeoDataFrame | None = None,
) -> SpaceTimeCube:
    """Count the events per bin and time step.

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Events with a date column ``time_field``.
    time_field : str
        Date of each event.
    freq : str
        Pandas period frequency of the steps (``"M"`` months, ``"W"`` weeks…).
    area : zone, optional
        Study zone of the grid (:func:`geo.stats.binning.make_bins`); the events' extent
        otherwise. Ignored when ``bins`` is given.
    grid : geo.stats.hotspots.GridOptions, optional
        Cell size, shape and margin of the grid (automatic size, hexagons, no margin by
        default), ignored when ``bins`` is given.
    start, end : date-like, optional
        Period analysed (inclusive); the events' range otherwise.
    bins : geopandas.GeoDataFrame, optional
        Ready-made bins.

    Returns
    -------
    SpaceTimeCube
        Counts for the bins holding at least one event.

    Raises
    ------
    AnalysisError
        When ``time_field`` is missing or no dated event falls in the grid.
    """
    if time_field not in points.columns:
        raise AnalysisError(f"Colonne de date « {time_field} » absente.")
    when = _as_datetime(points[time_field])
    try:
        per = when.dt.to_period(freq)
    except ValueError as exc:
        raise AnalysisError(f"Pas de temps inconnu « {freq} ».") from exc
    first = pd.Period(start, freq=freq) if start is not None else per.min()
    last = pd.Period(end, freq=freq) if end is not None else per.max()
    if not isinstance(first, pd.Period) or not isinstance(last, pd.Period) or last < first:  # NaT: no events
        raise AnalysisError("Aucun événement daté dans la période.")
    periods = pd.period_range(first, last, freq=freq)
    step = np.full(len(points), -1, dtype=np.int64)
    ok = per.notna().to_numpy() & (per >= first).to_numpy() & (per <= last).to_numpy()
    step[ok] = pd.PeriodIndex(per[ok]).asi8 - first.ordinal
    if bins is not None:
        cells = bins
    else:
        grid = grid if grid is not None else GridOptions()
        cells = make_bins(points, area=area, size=grid.size, shape=grid.shape, margin=grid.margin)
    pos = assign_bins(cells, points)
    keep = ok & (pos >= 0)
    t = len(periods)
    counts = np.bincount(pos[keep] * t + step[keep], minlength=len(cells) * t).reshape(len(cells), t)
    present = counts.sum(axis=1) > 0
    if not present.any():
        raise AnalysisError("Aucun événement daté ne tombe dans les mailles.")
    kept = cells.iloc[np.flatnonzero(present)].copy()
    kept.attrs.update(cells.attrs)
    return SpaceTimeCube(
        bins=kept, counts=counts[present], periods=periods, dropped_events=int(len(points) - keep.sum())
    )


@dataclass
class EmergingHotspots:
    """Result of :func:`emerging_hotspots`.

    Attributes
    ----------
    bins : geopandas.GeoDataFrame
        One row per bin: ``total`` events, ``n_hot``/``n_cold`` steps, Mann–Kendall
        ``trend_tau``/``trend_z``/``trend_p``, ``pattern`` (English, as in ArcGIS) and
        ``pattern_fr``.
    z, q : numpy.ndarray
        Gi* z-scores and (FDR-adjusted) p-values, shape (n_bins, T).
    periods : pandas.PeriodIndex
        Time steps.
    parameters : dict
        Parameters used, for the method note of the reports.
    """

    bins: gpd.GeoDataFrame
    z: np.ndarray
    q: np.ndarray
    periods: pd.PeriodIndex
    parameters: dict[str, Any] = field(default_factory=dict)

    def pattern_counts(self) -> pd.Series:
        """Return the number of bins per pattern (French labels), every pattern listed."""
        counts = self.bins["pattern"].value_counts()
        return pd.Series({PATTERNS_FR[k]: int(counts.get(k, 0)) for k in PATTERNS_FR}, name="mailles")


def space_time_weights(spatial: sparse.spmatrix, steps: int, *, k_time: int = 1) -> sparse.csr_matrix:
    """Space-time weights for a cube flattened time-major (index = step · n + bin).

    Parameters
    ----------
    spatial : scipy.sparse matrix
        n × n binary spatial weights with diagonal.
    steps : int
        Number of time steps T.
    k_time : int
        Number of previous steps included in the neighbourhood.

    Returns
    -------
    scipy.sparse.csr_matrix
        (n·T) × (n·T) binary weights.
    """
    band = sparse.diags([np.ones(steps - d) for d in range(k_time + 1)], [-d for d in range(k_time + 1)],
                        shape=(steps, steps))
    return sparse.kron(band, sparse.csr_matrix(spatial), format="csr")


def space_time_gi(
    counts: np.ndarray, spatial: sparse.spmatrix, *, k_time: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Space-time Gi* z-scores and p-values of a cube, without building the space-time matrix.

    Equal to ``gi_star(counts.T.ravel(), space_time_weights(spatial, T, k_time=k_time))``
    reshaped to (n, T): the lag of a cell at step ``t`` is the spatial lag of the sum of
    steps ``t - k_time … t``, its number of neighbours the spatial one times the number of
    those steps, and the mean and variance are those of the whole cube.

    Parameters
    ----------
    counts : numpy.ndarray
        (n, T) counts.
    spatial : scipy.sparse matrix
        n × n binary spatial weights with diagonal.
    k_time : int
        Number of previous steps in the neighbourhood.

    Returns
    -------
    z, p : numpy.ndarray
        Shape (n, T).
    """
    y = np.asarray(counts, dtype=float)
    n, t = y.shape
    big_n = n * t
    if big_n < 3:
        raise AnalysisError("Il faut au moins 3 unités spatio-temporelles pour calculer Gi*.")
    window = np.cumsum(y, axis=1)
    window[:, k_time + 1:] -= window[:, : t - k_time - 1].copy()
    w = sparse.csr_matrix(spatial)
    lag = np.asarray(w @ window)
    steps = np.minimum(np.arange(t), k_time) + 1.0
    card = np.asarray(w.sum(axis=1)).ravel()[:, None] * steps[None, :]
    mean = y.mean()
    std = y.std()
    denom = std * np.sqrt(np.maximum(card * (big_n - card), 0.0) / (big_n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean * card) / denom
    z = np.where(np.isfinite(z), z, 0.0)
    return z, 2.0 * stats.norm.sf(np.abs(z))


def emerging_hotspots(
    cube: SpaceTimeCube,
    *,
    k_time: int = 1,
    distance: float | None = None,
    fdr: bool = True,
    alpha: float = 0.05,
    trend_alpha: float = 0.05,
    threshold: float = 0.9,
    min_events: int = 3,
) -> EmergingHotspots:
    """Emerging hot spot analysis of a space-time cube.

    Parameters
    ----------
    cube : SpaceTimeCube
        From :func:`space_time_cube`.
    k_time : int
        Neighbourhood time step: previous steps included in each Gi* (1 by default).
    distance : float, optional
        Spatial neighbourhood radius (metres); first ring of bins by default.
    fdr : bool
        False discovery rate correction in each time step (on by default).
    alpha : float
        Significance level of the hot / cold spots.
    trend_alpha : float
        Significance level of the Mann–Kendall trend.
    threshold : float
        Share of the steps for the persistent family of patterns.
    min_events : int
        Fewest events over the period for a bin to get a hot pattern (3 by default);
        below, its pattern is ``"too few events"``.

    Returns
    -------
    EmergingHotspots
        Patterns per bin and the z / q matrices.

    Raises
    ------
    AnalysisError
        With fewer than 3 time steps or 3 bins, or bad parameters.
    """
    n, t = cube.counts.shape
    if t < 3:
        raise AnalysisError("L'analyse des points chauds émergents demande au moins 3 pas de temps.")
    if k_time < 0 or k_time >= t:
        raise AnalysisError("Le voisinage temporel doit être compris entre 0 et le nombre de pas - 1.")
    if not (0 < alpha < 1 and 0 < trend_alpha < 1 and 0 < threshold <= 1):
        raise AnalysisError("Seuils invalides (entre 0 et 1).")
    if min_events < 0:
        raise AnalysisError("Le nombre minimal d'événements doit être positif ou nul.")
    ws = distance_weights(cube.bins, distance=distance)
    z, p = space_time_gi(cube.counts, ws, k_time=k_time)
    q = fdr_adjust(p) if fdr else p
    sig = q <= alpha
    hot = sig & (z > 0)
    cold = sig & (z < 0)
    mk = mann_kendall(z)
    patterns = ["no pattern"] * n  # never significant: no pattern, no call
    totals = cube.counts.sum(axis=1)
    for i in np.flatnonzero(hot.any(axis=1) | cold.any(axis=1)):
        pat = classify_series(hot[i], cold[i], trend_z=float(mk.z[i]), trend_p=float(mk.p[i]),
                              trend_alpha=trend_alpha, threshold=threshold)
        patterns[i] = TOO_FEW if pat.endswith("hot spot") and totals[i] < min_events else pat
    out = cube.bins.copy()
    out["total"] = cube.counts.sum(axis=1)
    out["n_hot"] = hot.sum(axis=1)
    out["n_cold"] = cold.sum(axis=1)
    out["trend_tau"] = mk.tau
    out["trend_z"] = mk.z
    out["trend_p"] = mk.p
    out["pattern"] = pd.array(patterns, dtype=np.object_)
    out["pattern_fr"] = pd.array([PATTERNS_FR[x] for x in patterns], dtype=np.object_)
    out.attrs.update(cube.bins.attrs)
    params = {
        "bin_size": cube.bins.attrs.get("bin_size"),
        "bin_shape": cube.bins.attrs.get("bin_shape"),
        "steps": t,
        "freq": cube.periods.freqstr,
        "k_time": k_time,
        "distance": distance if distance is not None else 1.01 * float(cube.bins.attrs.get("bin_size", nan)),
        "fdr": fdr,
        "alpha": alpha,
        "trend_alpha": trend_alpha,
        "threshold": threshold,
        "min_events": min_events,
        "moments": "global",
    }
    return EmergingHotspots(bins=out, z=z, q=q, periods=cube.periods, parameters=params)

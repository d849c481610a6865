"""Follow-up indicators named by the GUSP conventions' fiches actions, per quartier and month.

The conventions (Pays de Montbéliard 2025-2030, Lillers 2023…) ask for, in their
« Indicateurs de suivi »:

- « Volume de dépôts sauvages et d'encombrants recensés par mois » →
  :func:`dumping_indicators` (number of events and volume in m³);
- « Délai d'intervention après signalement », « Délai moyen de traitement » →
  :func:`treatment_delays` (reported → resolved, Kaplan–Meier median and 90th percentile
  with the cases still open censored at the extraction date, « clos non traité » apart;
  the median is reported rather than the mean, which a few forgotten records inflate);
- « Nombre de diagnostics réalisés par an » → :func:`diagnostics_per_year`;
- « Nombre de dysfonctionnements identifiés et traités » → :func:`dysfunctions`
  (identified, treated, and the treated share).

Every function takes GeoDataFrames, assigns each record to the quartier whose perimeter
contains it (:func:`assign_quartier`, a plain spatial join) and returns a new table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.stats import CensoredData, ecdf

from geo.crs import to_territory_crs
from geo.errors import AnalysisError

logger = logging.getLogger(__name__)

__all__ = [
    "CLOSED_UNTREATED",
    "FOLLOW_UP_STATUSES",
    "TREATED_STATUSES",
    "AtLeast",
    "DelaySummary",
    "assign_quartier",
    "diagnostics_per_year",
    "dumping_indicators",
    "dysfunctions",
    "extraction_date",
    "km_quantile",
    "summarize_delays",
    "tracks_treatment",
    "treatment_delays",
]

TREATED_STATUSES = ("traité",)
#: statuses of cases closed without treatment: counted apart, never in a délai
CLOSED_UNTREATED = ("clos non traité",)
#: statuses that show a source records what became of its constats
FOLLOW_UP_STATUSES = ("traité", "en cours", "clos non traité")
OUTSIDE = "hors quartier"


def tracks_treatment(
    observations: pd.DataFrame,
    *,
    status_field: str = "status",
    resolved_field: str = "resolved_at",
) -> bool:
    """Tell whether ``observations`` record their treatment.

    A source does when one of its constats has a follow-up status (:data:`FOLLOW_UP_STATUSES`)
    or a resolution date. An export such as Dans Ma Rue's holds every report as « transmis »
    without a resolution date: its treated share is unknown, not 0.

    Parameters
    ----------
    observations : pandas.DataFrame
        Constats, with a status and (optionally) a resolution date.
    status_field, resolved_field : str
        Column names.

    Returns
    -------
    bool
    """
    if observations.empty:
        return False
    followed = (status_field in observations.columns
                and bool(observations[status_field].isin(FOLLOW_UP_STATUSES).any()))
    resolved = resolved_field in observations.columns and bool(observations[resolved_field].notna().any())
    return followed or resolved


def assign_quartier(
    points: gpd.GeoDataFrame, perimeters: gpd.GeoDataFrame, *, code_field: str = "code"
) -> pd.Series:
    """Code of the quartier holding each point (spatial join, first perimeter on overlaps).

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Records, any CRS.
    perimeters : geopandas.GeoDataFrame
        Quartier outlines with ``code_field``.
    code_field : str
        Column of ``perimeters`` naming the quartier.

    Returns
    -------
    pandas.Series
        Indexed like ``points``; missing (``None``) for points outside every perimeter.

    Raises
    ------
    AnalysisError
        When ``code_field`` is missing.
    """
    if code_field not in perimeters.columns:
        raise AnalysisError(f"Colonne « {code_field} » absente des périmètres.")
    pts = to_territory_crs(points)[[points.geometry.name]].reset_index(drop=True)
    per = to_territory_crs(perimeters)[[code_field, perimeters.geometry.name]]
    joined = gpd.sjoin(pts, per, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    codes = joined[code_field].astype(object).where(joined[code_field].notna(), None)
    return pd.Series(codes.to_numpy(dtype=object), index=points.index, name="quartier", dtype=object)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """Naive datetimes parsed from ``column``."""
    if column not in frame.columns:
        raise AnalysisError(f"Colonne de date « {column} » absente.")
    return pd.to_datetime(frame[column], errors="coerce", utc=True).dt.tz_localize(None)


def _with_keys(
    records: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame | None,
    time_field: str,
    freq: str,
    code_field: str,
) -> pd.DataFrame:
    """Frame with ``quartier`` and ``period`` keys (records outside every quartier: « hors quartier »)."""
    if perimeters is not None:
        quartier = assign_quartier(records, perimeters, code_field=code_field).fillna(OUTSIDE)
    else:
        quartier = pd.Series(OUTSIDE, index=records.index, dtype=object)
    when = _dates(records, time_field)
    out = pd.DataFrame(
        {"quartier": quartier.astype(object), "when": when, "period": when.dt.to_period(freq)},
        index=records.index,
    )
    return out


def dumping_indicators(
    events: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame | None = None,
    *,
    time_field: str = "observed_at",
    volume_field: str | None = "volume_m3",
    freq: str = "M",
    code_field: str = "code",
) -> pd.DataFrame:
    """Return the number and volume of dumping events per quartier and month.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dumping events (``points_noirs`` / ``evenements``, or observations of theme
        « dépôts sauvages »).
    perimeters : geopandas.GeoDataFrame, optional
        Quartiers; all events form one « hors quartier » group otherwise.
    time_field : str
        Date of each event.
    volume_field : str, optional
        Volume in m³ (ignored when absent from ``events``).
    freq : str
        Pandas period frequency (months by default).
    code_field : str
        Quartier code column.

    Returns
    -------
    pandas.DataFrame
        Columns ``quartier``, ``period``, ``events``, ``volume_m3`` (sum of the known
        volumes, NaN when none is known) and ``volume_known`` (events with a volume).
    """
    keys = _with_keys(events, perimeters, time_field, freq, code_field)
    if volume_field and volume_field in events.columns:
        keys["volume"] = pd.to_numeric(events[volume_field], errors="coerce")
    else:
        keys["volume"] = np.nan
    keys = keys[keys["period"].notna()]
    grouped = keys.groupby(["quartier", "period"], sort=True)
    out = grouped.agg(events=("when", "size"), volume_known=("volume", "count"))
    out["volume_m3"] = grouped["volume"].sum(min_count=1)
    return out.reset_index()[["quartier", "period", "events", "volume_m3", "volume_known"]]


@dataclass(frozen=True)
class AtLeast:
    """A quantile the Kaplan–Meier curve never reaches: the delay exceeds ``days``.

    ``days`` is the longest follow-up (resolved or still open) of the cases: « > 45 j ».
    """

    days: float


@dataclass(frozen=True)
class DelaySummary:
    """Kaplan–Meier summary of the delays of a set of cases.

    Attributes
    ----------
    reported : int
        Cases reported (every case, « clos non traité » included).
    resolved : int
        Cases resolved (an end date not before their report).
    still_open : int
        Cases without a resolution at the extraction date (censored there).
    closed_untreated : int
        Cases closed without treatment (« clos non traité »): kept out of the delay.
    median_days, p90_days : float, AtLeast or None
        Median and 90th percentile of the delay; :class:`AtLeast` when the curve never
        reaches them (too many cases still open), None when no case counts.
    """

    reported: int
    resolved: int
    still_open: int
    closed_untreated: int
    median_days: float | AtLeast | None
    p90_days: float | AtLeast | None


def km_quantile(durations: np.ndarray, observed: np.ndarray, q: float) -> float | AtLeast | None:
    """Return the ``q`` quantile of a delay estimated by Kaplan–Meier with right-censoring.

    The estimate is :func:`scipy.stats.ecdf` on :class:`scipy.stats.CensoredData`; the quantile
    is the first delay where the estimated share of resolved cases reaches ``q`` (the survival
    function falls to ``1 - q`` or below), the usual definition of a Kaplan–Meier median.

    Parameters
    ----------
    durations : numpy.ndarray
        Days from report to resolution (``observed``) or to the extraction date (censored).
    observed : numpy.ndarray of bool
        True where the case is resolved.
    q : float
        Quantile in (0, 1).

    Returns
    -------
    float, AtLeast or None
        The delay in days; :class:`AtLeast` (the longest follow-up) when the curve never
        reaches ``q``; None when there is no case.
    """
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    if durations.size == 0:
        return None
    if not observed.any():
        return AtLeast(float(durations.max()))
    res = ecdf(CensoredData(uncensored=durations[observed], right=durations[~observed]))
    times, share = res.cdf.quantiles, res.cdf.probabilities
    reached = np.flatnonzero(share >= q - 1e-12)
    if reached.size == 0:
        return AtLeast(float(durations.max()))
    return float(times[reached[0]])


def summarize_delays(
    start: pd.Series,
    end: pd.Series,
    *,
    as_of: pd.Timestamp,
    closed_untreated: pd.Series | None = None,
) -> DelaySummary:
    """Kaplan–Meier median and 90th percentile of report → resolution delays.

    Open cases (no resolution date) count as unresolved at ``as_of`` (right-censored), so
    that a backlog lengthens the delay instead of vanishing from it; cases closed without
    treatment are counted apart and kept out of the delay. Resolutions dated before their
    report, and cases reported after ``as_of``, are left out.

    Parameters
    ----------
    start, end : pandas.Series
        Naive report and resolution datetimes (NaT: not resolved).
    as_of : pandas.Timestamp
        Extraction date: open cases are followed up to it.
    closed_untreated : pandas.Series of bool, optional
        True for the cases closed without treatment.

    Returns
    -------
    DelaySummary
    """
    closed = (np.zeros(len(start), dtype=bool) if closed_untreated is None
              else closed_untreated.fillna(False).to_numpy(dtype=bool))
    days = ((end - start).dt.total_seconds() / 86400.0).to_numpy(dtype=float)
    follow = ((as_of - start).dt.total_seconds() / 86400.0).to_numpy(dtype=float)
    known = start.notna().to_numpy() & ~closed
    resolved = known & np.isfinite(days) & (days >= 0)
    still_open = known & ~np.isfinite(days) & (follow >= 0)
    durations = np.concatenate([days[resolved], follow[still_open]])
    observed = np.concatenate([np.ones(int(resolved.sum()), dtype=bool),
                               np.zeros(int(still_open.sum()), dtype=bool)])
    return DelaySummary(
        reported=int(start.notna().sum()), resolved=int(resolved.sum()), still_open=int(still_open.sum()),
        closed_untreated=int((closed & start.notna().to_numpy()).sum()),
        median_days=km_quantile(durations, observed, 0.5), p90_days=km_quantile(durations, observed, 0.9),
    )


def _split(value: float | AtLeast | None) -> tuple[float, float]:
    """(estimate, lower bound) of a quantile, NaN where absent."""
    if isinstance(value, AtLeast):
        return np.nan, value.days
    return (np.nan if value is None else value), np.nan


def treatment_delays(
    records: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame | None = None,
    *,
    start_field: str = "observed_at",
    end_field: str = "resolved_at",
    freq: str = "M",
    code_field: str = "code",
    as_of: Any = None,
    status_field: str | None = "status",
) -> pd.DataFrame:
    """Délai de traitement (reported → resolved) per quartier and month of the report, by Kaplan–Meier.

    Open cases are censored at ``as_of`` (:func:`summarize_delays`); « clos non traité »
    cases are counted apart and kept out of the delay.

    Parameters
    ----------
    records : geopandas.GeoDataFrame
        Observations (``observed_at`` / ``resolved_at``) or dumping events
        (``observed_at`` / ``cleaned_at``).
    perimeters : geopandas.GeoDataFrame, optional
        Quartiers.
    start_field, end_field : str
        Report and resolution dates; resolutions before the report are ignored.
    freq, code_field : str
        As in :func:`dumping_indicators`.
    as_of : date-like, optional
        Extraction date; the latest report or resolution date of ``records`` by default.
    status_field : str, optional
        Status column marking « clos non traité » (ignored when absent).

    Returns
    -------
    pandas.DataFrame
        Columns ``quartier``, ``period``, ``reported``, ``resolved``, ``still_open``,
        ``closed_untreated``, ``median_days`` and ``p90_days`` (NaN when not reached or
        nothing counts), ``median_above`` and ``p90_above`` (the longest follow-up when the
        curve never reaches the quantile: « > X j »; NaN otherwise).
    """
    keys = _with_keys(records, perimeters, start_field, freq, code_field)
    keys["end"] = _dates(records, end_field)
    if status_field and status_field in records.columns:
        keys["closed"] = records[status_field].astype(object).isin(CLOSED_UNTREATED).to_numpy()
    else:
        keys["closed"] = False
    when = extraction_date(keys["when"], keys["end"]) if as_of is None else pd.Timestamp(as_of)
    keys = keys[keys["period"].notna()]
    rows = []
    for (quartier, period), group in keys.groupby(["quartier", "period"], sort=True):
        summary = summarize_delays(group["when"], group["end"], as_of=when, closed_untreated=group["closed"])
        median, median_above = _split(summary.median_days)
        p90, p90_above = _split(summary.p90_days)
        rows.append({"quartier": quartier, "period": period, "reported": summary.reported,
                     "resolved": summary.resolved, "still_open": summary.still_open,
                     "closed_untreated": summary.closed_untreated, "median_days": median,
                     "p90_days": p90, "median_above": median_above, "p90_above": p90_above})
    columns = ["quartier", "period", "reported", "resolved", "still_open", "closed_untreated",
               "median_days", "p90_days", "median_above", "p90_above"]
    return pd.DataFrame(rows, columns=columns)


def extraction_date(*dates: pd.Series) -> pd.Timestamp:
    """Latest date of ``dates``: the extraction date of records that do not state theirs."""
    latest = [d.max() for d in dates if len(d) and pd.notna(d.max())]
    return max(latest) if latest else pd.Timestamp.now().normalize()


def diagnostics_per_year(
    observations: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame | None = None,
    *,
    walk_field: str = "walk_id",
    time_field: str = "observed_at",
    source_field: str = "source",
    code_field: str = "code",
) -> pd.DataFrame:
    """Return the number of diagnostics en marchant per quartier and year.

    A diagnostic is a distinct ``walk_field`` value; records without one but whose
    ``source_field`` is « diagnostic en marchant » count one diagnostic per distinct day.

    Parameters
    ----------
    observations : geopandas.GeoDataFrame
        Observations.
    perimeters : geopandas.GeoDataFrame, optional
        Quartiers.
    walk_field, time_field, source_field, code_field : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        Columns ``quartier``, ``year``, ``diagnostics``, ``observations``.
    """
    keys = _with_keys(observations, perimeters, time_field, "Y", code_field)
    if walk_field in observations.columns:
        walk = observations[walk_field]
    else:
        walk = pd.Series(None, index=keys.index, dtype=object)
    walk = walk.astype(object).where(walk.notna(), None)
    if source_field in observations.columns:
        from_walk = observations[source_field].astype(object) == "diagnostic en marchant"
        day = keys["when"].dt.strftime("jour-%Y-%m-%d")
        walk = walk.where(walk.notna() | ~from_walk, day)
    keys["walk"] = walk
    keys["year"] = keys["when"].dt.year
    keys = keys[keys["year"].notna()]
    grouped = keys.groupby(["quartier", "year"], sort=True)
    out = pd.DataFrame({"diagnostics": grouped["walk"].nunique(), "observations": grouped.size()})
    out = out.reset_index()
    out["year"] = out["year"].astype(int)
    return out


def dysfunctions(
    observations: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame | None = None,
    *,
    status_field: str = "status",
    time_field: str = "observed_at",
    treated: tuple[str, ...] = TREATED_STATUSES,
    freq: str = "M",
    code_field: str = "code",
) -> pd.DataFrame:
    """Dysfonctionnements identified versus treated, per quartier and month of identification.

    Parameters
    ----------
    observations : geopandas.GeoDataFrame
        Observations with a status.
    perimeters : geopandas.GeoDataFrame, optional
        Quartiers.
    status_field, time_field : str
        Column names.
    treated : tuple of str
        Statuses counted as treated (« traité »; « clos non traité » is not).
    freq, code_field : str
        As in :func:`dumping_indicators`.

    Returns
    -------
    pandas.DataFrame
        Columns ``quartier``, ``period``, ``identified``, ``treated``, ``treated_rate``.

    Raises
    ------
    AnalysisError
        When ``status_field`` is missing.
    """
    if status_field not in observations.columns:
        raise AnalysisError(f"Colonne de statut « {status_field} » absente.")
    keys = _with_keys(observations, perimeters, time_field, freq, code_field)
    keys["treated"] = observations[status_field].astype(object).isin(treated).to_numpy()
    keys = keys[keys["period"].notna()]
    grouped = keys.groupby(["quartier", "period"], sort=True)["treated"]
    out = pd.DataFrame({"identified": grouped.size(), "treated": grouped.sum().astype(int)})
    out["treated_rate"] = out["treated"] / out["identified"]
    return out.reset_index()

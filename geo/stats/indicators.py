"""Follow-up indicators named by the GUSP conventions' fiches actions, per quartier and month.

The conventions (Pays de Montbéliard 2025-2030, Lillers 2023…) ask for, in their
« Indicateurs de suivi »:

- « Volume de dépôts sauvages et d'encombrants recensés par mois » →
  :func:`dumping_indicators` (number of events and volume in m³);
- « Délai d'intervention après signalement », « Délai moyen de traitement » →
  :func:`treatment_delays` (reported → resolved, median and 90th percentile; the median
  is reported rather than the mean, which a few forgotten records inflate);
- « Nombre de diagnostics réalisés par an » → :func:`diagnostics_per_year`;
- « Nombre de dysfonctionnements identifiés et traités » → :func:`dysfunctions`
  (identified, treated, and the treated share).

Every function takes GeoDataFrames, assigns each record to the quartier whose perimeter
contains it (:func:`assign_quartier`, a plain spatial join) and returns a new table.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import to_territory_crs
from geo.errors import AnalysisError

logger = logging.getLogger(__name__)

__all__ = [
    "FOLLOW_UP_STATUSES",
    "TREATED_STATUSES",
    "assign_quartier",
    "diagnostics_per_year",
    "dumping_indicators",
    "dysfunctions",
    "tracks_treatment",
    "treatment_delays",
]

TREATED_STATUSES = ("traité",)
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


def treatment_delays(
    records: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame | None = None,
    *,
    start_field: str = "observed_at",
    end_field: str = "resolved_at",
    freq: str = "M",
    code_field: str = "code",
) -> pd.DataFrame:
    """Délai de traitement (reported → resolved) per quartier and month of the report.

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

    Returns
    -------
    pandas.DataFrame
        Columns ``quartier``, ``period``, ``reported``, ``resolved``, ``median_days`` and
        ``p90_days`` (NaN when nothing was resolved).
    """
    keys = _with_keys(records, perimeters, start_field, freq, code_field)
    end = _dates(records, end_field)
    days = (end - keys["when"]).dt.total_seconds() / 86400.0
    keys["days"] = days.where(days >= 0)
    keys = keys[keys["period"].notna()]
    grouped = keys.groupby(["quartier", "period"], sort=True)["days"]
    out = pd.DataFrame(
        {
            "reported": grouped.size(),
            "resolved": grouped.count(),
            "median_days": grouped.median(),
            "p90_days": grouped.quantile(0.9),
        }
    )
    return out.reset_index()


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

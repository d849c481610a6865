"""Per-row data flags of report tables (« réelles », « simulées », « échantillon ») and N-1 coverage."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

logger = logging.getLogger(__name__)

REAL = "réelles"
SIMULATED = "simulées"
PARTLY_SIMULATED = "en partie simulées"
SAMPLE = "échantillon"
#: name of the flag column of every table whose rows count records
FLAG_COLUMN = "Données"


def data_flag(records: pd.DataFrame, samples: frozenset[str] | tuple[str, ...] = ()) -> str | None:
    """Return what the records behind a figure or a table row are.

    « simulées » when every record is simulated, « en partie simulées » when some are,
    « échantillon » when the real records come from a data set declared a sample, and
    « réelles » otherwise; None when there is no record (the caller says what covers the row).

    Parameters
    ----------
    records : pandas.DataFrame
        Records with ``simulated`` and ``source_dataset`` columns (either may be missing).
    samples : collection of str
        Data sets declared samples.

    Returns
    -------
    str or None
    """
    if records.empty:
        return None
    if "simulated" in records.columns:
        simulated = records["simulated"].astype("boolean").fillna(False).astype(bool)
        if simulated.all():
            return SIMULATED
        if simulated.any():
            return PARTLY_SIMULATED
    if (samples and "source_dataset" in records.columns
            and records["source_dataset"].astype(str).isin(list(samples)).any()):
        return SAMPLE
    return REAL


def row_flags(
    records: pd.DataFrame, keys: pd.Series, rows: pd.Index, *, samples: frozenset[str] | tuple[str, ...] = (),
    default: str | None = None,
) -> list[str | None]:
    """Flag of each table row: :func:`data_flag` of the records whose ``keys`` equals the row's key.

    Rows without records get ``default`` (the flag of the source covering the table).
    """
    out: list[str | None] = []
    for key in rows:
        flag = data_flag(records[(keys == key).to_numpy()], samples)
        out.append(flag if flag is not None else default)
    return out


def covered_since(
    records: pd.DataFrame, since: Mapping[str, pd.Timestamp], time_field: str
) -> pd.Timestamp | None:
    """First day from which every data set behind ``records`` holds data (None: unknown).

    ``since`` maps a data set to its first date (given by the store); without it, or for a
    data set it does not list, the earliest date among ``records`` stands in.
    """
    if records.empty:
        return None
    dates = pd.to_datetime(records[time_field], errors="coerce", utc=True).dt.tz_localize(None)
    fallback = dates.min()
    if "source_dataset" not in records.columns or not since:
        return None if pd.isna(fallback) else pd.Timestamp(fallback)
    starts = [pd.Timestamp(since[d]) if d in since else fallback
              for d in records["source_dataset"].dropna().astype(str).unique()]
    starts = [s for s in starts if pd.notna(s)]
    return max(starts) if starts else None


def previous_year(
    counts: pd.Series, months: pd.PeriodIndex, since: pd.Timestamp | None
) -> list[float | None]:
    """Value of the same month one year earlier; None where the data does not cover that month.

    Parameters
    ----------
    counts : pandas.Series
        Values indexed by monthly periods (months without records absent: 0 when covered).
    months : pandas.PeriodIndex
        The report's months.
    since : pandas.Timestamp, optional
        First covered day (a month is covered when it starts on or after it).
    """
    out: list[float | None] = []
    for month in months:
        prior = month - 12
        if since is None or prior.start_time < since.normalize():
            out.append(None)
        else:
            out.append(float(counts.get(prior, 0)))
    return out

"""The period of a report: events within it, whole days."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import AnalysisError


def filter_period(
    events: gpd.GeoDataFrame, time_field: str, start: Any, end: Any
) -> tuple[gpd.GeoDataFrame, Any, Any]:
    """Events within [start, end] (inclusive, whole days) and the period actually used."""
    if time_field not in events.columns:
        raise AnalysisError(f"Colonne de date « {time_field} » absente.")
    when = pd.to_datetime(events[time_field], errors="coerce", utc=True).dt.tz_localize(None)
    t0 = pd.Timestamp(start) if start is not None else when.min()
    t1 = pd.Timestamp(end) if end is not None else when.max()
    if pd.isna(t0) or pd.isna(t1):
        raise AnalysisError("Aucun événement daté.")
    end_excl = t1.normalize() + pd.Timedelta(days=1)
    keep = ((when >= t0) & (when < end_excl)).to_numpy()
    return events.iloc[np.flatnonzero(keep)], t0, t1

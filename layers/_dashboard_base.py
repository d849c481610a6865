"""Shared pieces of the quartier dashboards: the quartier as a zone, plain values, monthly series.

Private to :mod:`layers.dashboard` and :mod:`layers._dashboard_maps`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.french import grouped
from geo.stats.indicators import AtLeast, assign_quartier
from layers.analyses import analysis_events
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)


_Box = tuple[float, float, float, float]


def _pn_events(store: LayerStore, bbox: _Box | None) -> pd.DataFrame:
    sites = store.read("points_noirs", bbox=bbox)
    if sites.empty:
        return pd.DataFrame({"observed_at": []})
    return store.read_children("points_noirs", "evenements", parent_uids=list(sites["uid"]))


def _clean(value: Any) -> Any:
    """Plain Python value (None for NaN/NaT) of a pandas/numpy scalar; « > 45,0 » for an unreached delay."""
    if value is None:
        return None
    if isinstance(value, AtLeast):  # Kaplan-Meier quantile not reached: more than the longest follow-up
        return "> " + grouped(value.days, 1)
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date().isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    """Return ``frame`` as ``{"columns": [...], "rows": [[...], ...]}`` of plain values."""
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[_clean(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def _months(start: date, end: date) -> pd.PeriodIndex:
    return pd.period_range(pd.Timestamp(start).to_period("M"), pd.Timestamp(end).to_period("M"), freq="M")


def _rings(geom: Any) -> list[list[list[float]]]:
    """Exterior rings of a (multi)polygon, coordinates rounded to the decimetre."""
    parts = getattr(geom, "geoms", [geom])
    return [np.round(np.asarray(p.exterior.coords)[:, :2], 1).tolist() for p in parts if not p.is_empty]


@dataclass(frozen=True)
class _Zone:
    code: str
    row: gpd.GeoDataFrame
    geom: Any


def _in_zone(frame: gpd.GeoDataFrame, zone: _Zone) -> gpd.GeoDataFrame:
    if frame.empty:
        return frame
    inside = assign_quartier(frame, zone.row, code_field="code").notna().to_numpy()
    return frame[inside]


def _read_events(
    store: LayerStore, layer: str, theme: str | None, zone: _Zone, span: tuple[date, date]
) -> gpd.GeoDataFrame:
    events = analysis_events(
        store,
        layer,
        start=span[0],
        end=span[1],
        theme=theme if layer == "observations" else None,
        bbox=tuple(zone.geom.bounds),
    )
    return _in_zone(events, zone)


def _monthly(frame: pd.DataFrame, column: str, months: pd.PeriodIndex) -> list[Any]:
    """Values of ``column`` per month of ``months`` (frame indexed by ``period``); missing → None."""
    if frame.empty:
        return [None] * len(months)
    series = frame.set_index("period")[column].reindex(months)
    return [_clean(v) for v in series]


#: Margin (m) around a quartier in which the dates of a source are looked at.
_SOURCE_MARGIN_M = 500.0


def _source_months(store: LayerStore, layer: str, zone: _Zone) -> tuple[pd.Period, pd.Period] | None:
    """First and last month holding any record of ``layer`` (any theme) around the quartier.

    Months outside this span are unknown for its indicators (the source did not cover
    them), never 0. ``None`` when no record lies around the quartier.
    """
    bbox = tuple(zone.geom.buffer(_SOURCE_MARGIN_M).bounds)
    frame = store.read("observations", bbox=bbox) if layer == "observations" else _pn_events(store, bbox)
    when = pd.to_datetime(frame["observed_at"], errors="coerce").dropna() if len(frame) else None
    if when is None or when.empty:
        return None
    return when.min().to_period("M"), when.max().to_period("M")


@dataclass(frozen=True)
class _Spans:
    current: tuple[date, date]
    previous: tuple[date, date]

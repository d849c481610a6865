"""Integrity of the records written by users: plausible dates, positions, texts and values.

:class:`WriteRules` holds the bounds (the web app builds them from its settings, see
``webmap/app.py`` ``DEFAULTS``); the checks raise :class:`~layers.errors.RecordError`
naming the field, in French:

* a date (``observed_at``, a dumping event's or reading's date) lies in the plausible
  window ``[territory_start, now + future_tolerance]``. ``territory_start`` defaults to
  2014-01-01: the 2014 law (loi Lamy) created the priority districts of 2015 that the
  platform observes; older records can still be imported from files, not typed in;
* a new constat is inside the territory: the union of the store's perimeters widened by
  ``territory_margin_m`` (EPSG:2154 metres), computed once per store and perimeter count
  (:func:`territory`). A store without perimeters cannot tell: only the area of use of its
  CRS is checked then;
* free texts are bounded (:data:`MAX_LENGTHS`);
* a new constat starts at its source's initial status (« nouveau » unless configured),
  from an allowed source, with a known pilote (configured or already in the store) and
  an existing walk.

:func:`time_extent` clamps the time slider's range of the observed layers to the same
window (records outside it are still stored and listed, they just do not stretch it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import shapely
from shapely.geometry import Point

from layers.errors import RecordError
from layers.projection import CRS84, project
from layers.schema import LAYERS, OBSERVATION_SOURCES, ORGANISATIONS
from layers.store.base import LayerInfo, LayerStore

logger = logging.getLogger(__name__)

#: Start of the plausible window of dates (see the module docstring).
DEFAULT_TERRITORY_START = "2014-01-01"
#: How far in the future a date may be (clocks of phones drift).
DEFAULT_FUTURE_TOLERANCE_MIN = 10.0
#: Margin around the perimeters inside which a constat may be placed, in metres.
DEFAULT_TERRITORY_MARGIN_M = 500.0
#: Longest free texts, in characters.
MAX_LENGTHS: dict[str, int] = {
    "description": 5000, "comment": 2000, "address": 300, "subtheme": 200, "pilote": 200,
    "partenaires": 500, "participants": 500, "notes": 5000,
}
#: Sources a user may give a new constat (« import » is for files).
DEFAULT_SOURCES = tuple(s for s in OBSERVATION_SOURCES if s != "import")
#: Pilotes accepted besides those already in the store.
DEFAULT_PILOTES = ("Ville — propreté", "Ville — voirie", "Ville — espaces verts", "Ville — éclairage",
                   "Métropole — collecte", "Bailleur social", "Police municipale")
INITIAL_STATUS = "nouveau"
#: Layers whose time field is when something was observed (never in the future).
OBSERVED_LAYERS = ("observations", "points_noirs")
_METRIC_CRS = "EPSG:2154"


@dataclass(frozen=True)
class WriteRules:
    """Bounds of what users may write.

    Attributes
    ----------
    territory_start : str
        First plausible date (ISO).
    future_tolerance_min : float
        Minutes a date may lie in the future.
    territory_margin_m : float
        Metres around the perimeters where a constat may be placed.
    max_lengths : mapping
        Field → longest text.
    sources : tuple of str
        Sources a new constat may have.
    pilotes : tuple of str
        Pilotes accepted besides those already stored on a constat.
    initial_statuses : mapping
        Source → status a new constat of that source starts at (« nouveau » otherwise).
    """

    territory_start: str = DEFAULT_TERRITORY_START
    future_tolerance_min: float = DEFAULT_FUTURE_TOLERANCE_MIN
    territory_margin_m: float = DEFAULT_TERRITORY_MARGIN_M
    max_lengths: Mapping[str, int] = field(default_factory=lambda: dict(MAX_LENGTHS))
    sources: tuple[str, ...] = DEFAULT_SOURCES
    pilotes: tuple[str, ...] = DEFAULT_PILOTES
    initial_statuses: Mapping[str, str] = field(default_factory=dict)

    def window(self, now: datetime | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
        """Return the plausible window ``[start, now + tolerance]`` (naive local times)."""
        now = now or datetime.now()
        return (pd.Timestamp(self.territory_start),
                pd.Timestamp(now) + pd.Timedelta(minutes=self.future_tolerance_min))


def _local_naive(value: Any) -> pd.Timestamp | None:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if ts is pd.NaT:
        return None
    if ts.tzinfo is not None:
        ts = ts.tz_convert(datetime.now().astimezone().tzinfo).tz_localize(None)
    return ts


def check_date(value: Any, name: str, rules: WriteRules) -> None:
    """Raise RecordError on ``name`` when ``value`` lies outside the plausible window."""
    ts = _local_naive(value)
    if ts is None:
        return  # not a date: the schema validation names it
    start, end = rules.window()
    if ts > end:
        raise RecordError(f"Date « {name} » dans le futur ({ts:%d/%m/%Y %H:%M}) : au plus "
                          f"{rules.future_tolerance_min:g} minutes après l'heure du serveur.", field=name)
    if ts < start:
        raise RecordError(f"Date « {name} » ({ts:%d/%m/%Y}) antérieure au début du territoire "
                          f"({start:%d/%m/%Y}).", field=name)


def check_lengths(record: Mapping[str, Any], rules: WriteRules) -> None:
    """Raise RecordError on the first text longer than its bound."""
    for name, value in record.items():
        limit = rules.max_lengths.get(name)
        if limit is not None and isinstance(value, str) and len(value) > limit:
            raise RecordError(f"« {name} » trop long ({len(value)} caractères, {limit} au plus).", field=name)


@dataclass(frozen=True)
class TimeExtent:
    """The time span of a layer within the plausible window, and how many records lie outside it."""

    time_min: str | None
    time_max: str | None
    outside_window: int


def _iso(value: Any) -> str | None:
    ts = _local_naive(value)
    return None if ts is None else ts.isoformat()


def time_extent(store: LayerStore, info: LayerInfo, rules: WriteRules | None = None) -> TimeExtent:
    """Return the time span of layer ``info`` clamped to the plausible window.

    Records dated outside ``[territory_start, now + tolerance]`` (a typo 2099, a 1900
    placeholder) are still stored and listed; they only do not stretch the time slider.
    Only the layers of :data:`OBSERVED_LAYERS` are clamped: a planned walk or works
    operation is legitimately dated in the future, a camera installed before 2014.
    The store is queried again only when the stored span leaves the window.
    """
    tmin, tmax = _local_naive(info.time_min), _local_naive(info.time_max)
    if tmin is None or tmax is None or info.name not in OBSERVED_LAYERS:
        return TimeExtent(info.time_min, info.time_max, 0)
    start, end = (rules or WriteRules()).window()
    if start <= tmin and tmax <= end:
        return TimeExtent(info.time_min, info.time_max, 0)
    field_name = LAYERS[info.name].time_field or ""
    # the store's interval is half-open [start, end)
    stop = end + pd.Timedelta(seconds=1)
    inside = store.count(info.name, start=start, end=stop)
    if not inside:
        return TimeExtent(None, None, info.count)
    first = store.read(info.name, start=start, end=stop, order_by=field_name, limit=1)
    last = store.read(info.name, start=start, end=stop, order_by=f"-{field_name}", limit=1)
    return TimeExtent(_iso(first[field_name].iloc[0]), _iso(last[field_name].iloc[0]), info.count - inside)


# -- territory ---------------------------------------------------------------------------------------
_TERRITORIES: dict[tuple[str, float, int], Any] = {}
_LOCK = threading.Lock()


def _store_key(store: LayerStore) -> str:
    where = getattr(store, "path", None) or getattr(store, "url", None) or id(store)
    return f"{type(store).__name__}:{where}"


def territory(store: LayerStore, margin_m: float) -> Any:
    """Return the union of the store's perimeters widened by ``margin_m``, in EPSG:2154, prepared.

    None when the store has no perimeters. Cached per store, margin and perimeter count.
    """
    n = store.count("perimetres")
    if n == 0:
        return None
    key = (_store_key(store), float(margin_m), n)
    with _LOCK:
        cached = _TERRITORIES.get(key)
    if cached is not None:
        return cached
    perimeters = store.read("perimetres", crs=_METRIC_CRS)
    area = shapely.union_all(shapely.make_valid(perimeters.geometry.to_numpy())).buffer(float(margin_m))
    shapely.prepare(area)
    with _LOCK:
        for old in [k for k in _TERRITORIES if k[:2] == key[:2]]:
            del _TERRITORIES[old]
        _TERRITORIES[key] = area
    logger.info("territory of %s: %d perimeters + %.0f m", key[0], n, margin_m)
    return area


def check_in_territory(store: LayerStore, lon: float, lat: float, rules: WriteRules) -> None:
    """Raise RecordError on ``lon`` when (lon, lat) lies outside the territory."""
    area = territory(store, rules.territory_margin_m)
    if area is None:
        return
    x, y = project(CRS84, _METRIC_CRS, lon, lat)
    if not area.contains(Point(x, y)):
        raise RecordError(f"Position ({lon:.5f}, {lat:.5f}) hors du territoire : à plus de "
                          f"{rules.territory_margin_m:g} m de tout quartier de l'entrepôt.", field="lon")


# -- a new constat ----------------------------------------------------------------------------------
def check_new_observation(store: LayerStore, record: Mapping[str, Any], rules: WriteRules) -> None:
    """Check a new constat, already validated against its schema (coerced values).

    Raises
    ------
    RecordError
        On ``status``, ``source``, ``pilote``, ``observed_at`` or ``walk_id``.
    """
    source = str(record.get("source") or "")
    if source not in rules.sources:
        raise RecordError(f"Origine « {source} » non autorisée ({', '.join(rules.sources)}).", field="source")
    initial = rules.initial_statuses.get(source, INITIAL_STATUS)
    status = record.get("status")
    if status not in (None, "", initial):
        raise RecordError(f"Un nouveau constat commence au statut « {initial} » (reçu « {status} »).",
                          field="status")
    pilote = record.get("pilote")
    if pilote not in (None, "") and pilote not in rules.pilotes and pilote not in ORGANISATIONS \
            and not store.count(
            "observations", where={"pilote": str(pilote)}, at_most=1):
        raise RecordError(f"Pilote « {str(pilote)[:60]} » inconnu : {', '.join(rules.pilotes)}, une "
                          "organisation, ou un pilote déjà présent dans l'entrepôt.", field="pilote")
    check_date(record.get("observed_at"), "observed_at", rules)
    walk = record.get("walk_id")
    if walk not in (None, "") and store.read("diagnostics", uids=[str(walk)], limit=1).empty:
        raise RecordError(f"Diagnostic en marchant « {str(walk)[:64]} » inconnu.", field="walk_id")


def initial_status(record: Mapping[str, Any], rules: WriteRules) -> str:
    """Return the status a new constat of ``record``'s source starts at."""
    return rules.initial_statuses.get(str(record.get("source") or ""), INITIAL_STATUS)


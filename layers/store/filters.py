"""What a store query selects: its record filters and its paging, checked once.

The filters and paging of :meth:`~layers.store.base.LayerStore.read`,
:meth:`~layers.store.base.LayerStore.count` and :meth:`~layers.store.base.LayerStore.cluster`
are checked here for every backend.

Callers pass the filters as keywords (``bbox=…``, ``where=…``) or as a
:class:`RecordFilter`; the store checks them against the layer
(:meth:`RecordFilter.bind`) and hands its backend a :class:`BoundFilter`, which each
backend turns into SQL. A new filter is a field of :class:`RecordFilter` (and its key in
:class:`FilterKeywords`), its check in :meth:`RecordFilter.bind`, and its SQL in each
backend's clause builder.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypedDict

import geopandas as gpd
import pandas as pd
import shapely

from geo.crs import resolve_crs
from layers.errors import RecordError
from layers.schema import Field, LayerSchema

TimeLike = date | datetime | str | None
BBox = tuple[float, float, float, float]
Direction = Literal["ASC", "DESC"]


class FilterKeywords(TypedDict, total=False):
    """The fields of :class:`RecordFilter` as keywords of ``read`` / ``count`` / ``cluster``.

    Kept identical to them: a test checks it.
    """

    bbox: BBox | None
    bbox_crs: Any
    start: TimeLike
    end: TimeLike
    where: Mapping[str, Any] | None
    before: Mapping[str, TimeLike] | None
    uids: Sequence[str] | None


@dataclass(frozen=True)
class RecordFilter:
    """Which records a query selects; every filter given must match.

    Parameters
    ----------
    bbox : tuple of float, optional
        ``(xmin, ymin, xmax, ymax)``; records whose geometry intersects it.
    bbox_crs : optional
        CRS of ``bbox`` (store CRS by default).
    start, end : date, datetime or ISO string, optional
        Half-open interval ``[start, end)`` on the layer's time field.
    where : mapping, optional
        ``field -> value`` (equality) or ``field -> list`` (membership); ``None`` matches
        missing values.
    before : mapping, optional
        ``field -> date``: records whose date field is set and strictly before the date
        (« délai passé »); missing values never match.
    uids : sequence of str, optional
        Only these records.

    Notes
    -----
    Nothing is checked here: :meth:`bind` checks the filter against a layer.
    """

    bbox: BBox | None = None
    bbox_crs: Any = None
    start: TimeLike = None
    end: TimeLike = None
    where: Mapping[str, Any] | None = None
    before: Mapping[str, TimeLike] | None = None
    uids: Sequence[str] | None = None

    @classmethod
    def of(cls, base: RecordFilter | None = None, keywords: Mapping[str, Any] | None = None) -> RecordFilter:
        """Return the filter ``base`` (none by default) with the filters given as ``keywords``.

        Raises
        ------
        TypeError
            When a keyword is not a filter.
        """
        keywords = keywords or {}
        names = filter_names()
        unknown = [k for k in keywords if k not in names]
        if unknown:
            raise TypeError(f"Filtre inconnu : « {unknown[0]} » (filtres : {', '.join(names)}).")
        if base is None:
            return cls(**keywords)
        if not isinstance(base, RecordFilter):
            raise TypeError(f"RecordFilter attendu, pas {type(base).__name__}.")
        return dataclasses.replace(base, **keywords) if keywords else base

    def bind(self, schema: LayerSchema, crs: str) -> BoundFilter:
        """Check the filter against ``schema`` and put it in the store CRS ``crs``.

        Raises
        ------
        RecordError
            Naming the field at fault: a ``bbox`` on a layer without geometry or not four
            finite numbers in order (``bbox``), a date interval on an undated layer or a
            date that is not one (``datetime``), an unknown field in ``where``, a field of
            ``before`` that is not a date or a bound that is not a date (naming the field).
        """
        bbox = query_bbox(schema, self.bbox, self.bbox_crs, crs) if self.bbox is not None else None
        time_field: Field | None = None
        start: str | None = None
        end: str | None = None
        if self.start is not None or self.end is not None:
            time_field = query_time_field(schema)
            start, end = time_text(self.start), time_text(self.end)
            if time_field.type == "date":  # stored as « AAAA-MM-JJ »: compare at midnight
                start, end = _date_text(start), _date_text(end)
        where = tuple((query_field(schema, name), value) for name, value in (self.where or {}).items())
        before = tuple(_before_bound(schema, name, value) for name, value in (self.before or {}).items())
        return BoundFilter(schema, bbox=bbox, time_field=time_field, start=start, end=end,
                           where=where, before=before, uids=self.uids)


def _before_bound(schema: LayerSchema, name: str, value: TimeLike) -> tuple[Field, str]:
    """Return a ``before`` filter checked against ``schema``: a date field and its bound as text."""
    f = query_field(schema, name)
    if f.type not in ("date", "datetime"):
        raise RecordError(f"« {name} » n'est pas une date.", field=name)
    text = time_text(value, field=name)
    if text is None:
        raise RecordError(f"« {name} » : date manquante.", field=name)
    return f, (_date_text(text) or text) if f.type == "date" else text


def filter_names() -> tuple[str, ...]:
    """Return the filters :class:`RecordFilter` knows, in order."""
    return tuple(f.name for f in dataclasses.fields(RecordFilter))


@dataclass(frozen=True)
class BoundFilter:
    """A :class:`RecordFilter` checked against one layer: what a backend turns into SQL.

    Attributes
    ----------
    schema : LayerSchema
        The layer.
    bbox : tuple of float or None
        ``(xmin, ymin, xmax, ymax)`` in the store CRS, finite and in order.
    time_field : Field or None
        The layer's time field when ``start`` or ``end`` is given.
    start, end : str or None
        The interval bounds as ISO text (local, naive).
    where : tuple of (Field, value)
        The field filters, in the caller's order.
    before : tuple of (Field, str)
        Date fields and the ISO text (local, naive) their values must be strictly before.
    uids : sequence of str or None
        Only these records.
    """

    schema: LayerSchema
    bbox: BBox | None = None
    time_field: Field | None = None
    start: str | None = None
    end: str | None = None
    where: tuple[tuple[Field, Any], ...] = ()
    before: tuple[tuple[Field, str], ...] = ()
    uids: Sequence[str] | None = None

    @property
    def layer(self) -> str:
        """The layer name (its table)."""
        return self.schema.name

    @property
    def by_attributes(self) -> bool:
        """Whether anything but the bbox filters (dates, fields, uids)."""
        return (self.start is not None or self.end is not None or bool(self.where) or bool(self.before)
                or self.uids is not None)


@dataclass(frozen=True)
class Sort:
    """The order of a page: one field, ascending or descending (ties in insertion order)."""

    field: Field
    direction: Direction = "ASC"


@dataclass(frozen=True)
class Page:
    """Paging of :meth:`~layers.store.base.LayerStore.read`.

    Parameters
    ----------
    limit : int, optional
        At most this many records (all by default).
    offset : int
        Records skipped first.
    order_by : str, optional
        A field name, ``-field`` for descending order (default: the backend's order).
    """

    limit: int | None = None
    offset: int = 0
    order_by: str | None = None

    @property
    def bounded(self) -> bool:
        """Whether the page is limited or offset."""
        return self.limit is not None or bool(self.offset)

    def sort(self, schema: LayerSchema) -> Sort | None:
        """Return the order asked for, checked against ``schema`` (None: the backend's order).

        Raises
        ------
        RecordError
            When ``order_by`` names no field of the layer (field ``order_by``).
        """
        if not self.order_by:
            return None
        name = self.order_by.lstrip("-")
        try:
            f = schema.field(name)
        except KeyError:
            raise RecordError(f"Tri impossible sur « {name} ».", field="order_by") from None
        return Sort(f, "DESC" if self.order_by.startswith("-") else "ASC")


# -- checks of filter values (also used by the backends for children and changes) -----------

def _date_text(text: str | None) -> str | None:
    """Return an ISO datetime at midnight as its date alone (how date columns are stored)."""
    if text is not None and text.endswith("T00:00:00"):
        return text[:-len("T00:00:00")]
    return text


def time_text(value: TimeLike, *, field: str = "datetime") -> str | None:
    """Return a date, datetime or ISO string as the text stored in date columns (local, naive).

    Raises
    ------
    RecordError
        When ``value`` is not a date (naming ``field``).
    """
    if value is None:
        return None
    try:
        parsed: pd.Timestamp | None = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        parsed = None
    if parsed is None or pd.isna(parsed):
        raise RecordError(f"Date invalide : « {str(value)[:40]} » (attendu AAAA-MM-JJ[THH:MM:SS]).",
                          field=field)
    if parsed.tzinfo is not None:
        parsed = parsed.tz_convert("Europe/Paris").tz_localize(None)
    return parsed.isoformat()


def query_field(schema: LayerSchema, name: str) -> Field:
    """Return the field ``name`` of ``schema`` named in a filter or a change.

    Raises
    ------
    RecordError
        When the layer has no such field (naming it).
    """
    try:
        return schema.field(name)
    except KeyError:
        raise RecordError(f"Champ inconnu : « {name} ».", field=name) from None


def query_time_field(schema: LayerSchema) -> Field:
    """Return the time field a ``start`` / ``end`` filter applies to.

    Raises
    ------
    RecordError
        When the layer is not dated (field ``datetime``).
    """
    if schema.time_field is None:
        raise RecordError(f"La couche « {schema.name} » n'est pas datée.", field="datetime")
    return schema.field(schema.time_field)


def query_bbox(schema: LayerSchema, bbox: Any, bbox_crs: Any, crs: str) -> BBox:
    """Return a ``bbox`` filter as ``(xmin, ymin, xmax, ymax)`` in the store CRS ``crs``.

    Raises
    ------
    RecordError
        When the layer has no geometry, or ``bbox`` is not four finite numbers in order
        (field ``bbox``).
    """
    if schema.geometry is None:
        raise RecordError("Cette couche n'a pas de géométrie.", field="bbox")
    xmin, ymin, xmax, ymax = _bbox_floats(bbox)
    if bbox_crs is not None and not resolve_crs(bbox_crs).equals(resolve_crs(crs)):
        series = gpd.GeoSeries([shapely.box(xmin, ymin, xmax, ymax)], crs=resolve_crs(bbox_crs))
        xmin, ymin, xmax, ymax = (float(v) for v in series.to_crs(crs).total_bounds)
    return xmin, ymin, xmax, ymax


def _bbox_floats(bbox: Any) -> BBox:
    """``(xmin, ymin, xmax, ymax)`` as finite floats in order (RecordError on ``bbox``)."""
    try:
        xmin, ymin, xmax, ymax = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise RecordError("Emprise (bbox) invalide : quatre nombres attendus.", field="bbox") from None
    if not (xmin <= xmax and ymin <= ymax) or not all(map(math.isfinite, (xmin, ymin, xmax, ymax))):
        raise RecordError("Emprise (bbox) invalide.", field="bbox")
    return xmin, ymin, xmax, ymax

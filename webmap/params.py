"""Query parameters of the OGC API, the map API and Open311, parsed without a request.

Each parser takes the text (or the query mapping) and returns Python values; bad input
is an :class:`~webmap.errors.ApiError` 400 naming the parameter, in French.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from werkzeug.datastructures import MIMEAccept

from layers.schema import LayerSchema
from layers.validate import coerce_field
from webmap.errors import ApiError
from webmap.geojson import GEOJSON

#: The largest integer JSON clients read exactly (an ``offset`` is clamped to it).
MAX_INT = 2**53 - 1
#: The only CRS of the OGC API (``crs`` and ``bbox-crs``).
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: Values of the OGC ``f`` parameter.
FORMATS = ("json", "geojson", "html")

_BAD_BBOX = "Emprise invalide : quatre nombres séparés par des virgules attendus."
_BAD_DATE = "Date invalide « {} » (AAAA-MM-JJ ou ISO 8601 attendu)."
_ISO = re.compile(r"\d{4}(-\d\d(-\d\d([T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d(:?\d\d)?)?)?)?)?")
_CRS_MESSAGES = {
    "bbox-crs": "Seul le système CRS84 est pris en charge pour bbox-crs.",
    "crs": "Seul le système CRS84 est pris en charge.",
}


def _bad(message: str, field: str | None) -> NoReturn:
    raise ApiError(400, message, field)


def parse_bbox(text: str | None, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` (or 6 numbers with heights) in CRS84 degrees."""
    if text is None or text == "":
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        _bad(_BAD_BBOX, field)
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        _bad(_BAD_BBOX, field)
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        _bad("Emprise hors des limites longitude/latitude (CRS84).", field)
    if minx > maxx:
        _bad("Emprise invalide : minx > maxx (le passage de l'antiméridien n'est pas géré).", field)
    return minx, miny, maxx, maxy


def check_crs84(args: Mapping[str, str], name: str) -> None:
    """Refuse a ``crs`` or ``bbox-crs`` parameter other than CRS84."""
    if args.get(name) not in (None, CRS84_URI):
        _bad(_CRS_MESSAGES[name], name)


def _timestamp(text: str, field: str) -> pd.Timestamp:
    """Return an ISO 8601 date or datetime, else a 400 naming ``field``.

    Only ISO forms: pandas alone also reads ``-1`` or ``2024-01-01/2023-01-01`` as dates.
    """
    if not _ISO.fullmatch(text.strip()):
        _bad(_BAD_DATE.format(text[:40]), field)
    try:
        return pd.Timestamp(text.strip())
    except (ValueError, TypeError, OverflowError):
        _bad(_BAD_DATE.format(text[:40]), field)


def _local(ts: pd.Timestamp) -> pd.Timestamp:
    """Return ``ts`` as naive Paris local time (the store's dates), unchanged when already naive."""
    return ts.tz_convert("Europe/Paris").tz_localize(None) if ts.tzinfo is not None else ts


def _instant(text: str, field: str, *, end: bool) -> pd.Timestamp:
    """Parse one bound; a date-only end bound covers its whole day."""
    ts = _timestamp(text, field)
    if ts is pd.NaT:
        _bad(f"Date invalide « {text} ».", field)
    ts = _local(ts)
    if end:
        ts = ts + (timedelta(days=1) if len(text.strip()) <= 10 else timedelta(microseconds=1))
    return ts


def parse_datetime(text: str | None, field: str = "datetime") -> tuple[Any, Any]:
    """Parse an OGC ``datetime``: instant, closed interval ``a/b``, open ``../b`` or ``a/..``.

    Returns
    -------
    start, end : pandas.Timestamp or None
        Half-open bounds ``[start, end)`` for :meth:`LayerStore.read`.
    """
    if not text:
        return None, None
    if "/" not in text:
        return _instant(text, field, end=False), _instant(text, field, end=True)
    left, _, right = text.partition("/")
    start = None if left in ("", "..") else _instant(left, field, end=False)
    stop = None if right in ("", "..") else _instant(right, field, end=True)
    if start is None and stop is None and left != ".." and right != "..":
        _bad("Intervalle de dates vide.", field)
    if start is not None and stop is not None and start >= stop:
        _bad("Intervalle de dates inversé.", field)
    return start, stop


def parse_date(args: Mapping[str, str], name: str) -> pd.Timestamp | None:
    """Read parameter ``name`` as a date or datetime (ISO 8601), local and naive.

    Raises a 400 naming the parameter when it is not a date.
    """
    text = args.get(name)
    if not text:
        return None
    ts = _timestamp(text, name)
    if ts is pd.NaT:
        _bad(f"Date invalide « {text} ».", name)
    return _local(ts)


def parse_int(args: Mapping[str, str], name: str, default: int, *, minimum: int = 0,
              maximum: int | None = None) -> int:
    """Parse integer parameter ``name`` (clamped to ``maximum``, or to :data:`MAX_INT`).

    The clamp keeps a huge ``offset`` from overflowing the database's 64-bit integers.
    """
    text = args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        _bad(f"« {name} » doit être un nombre entier.", name)
    if value < minimum:
        _bad(f"« {name} » doit être supérieur ou égal à {minimum}.", name)
    return min(value, maximum if maximum is not None else MAX_INT)


def parse_list(args: Mapping[str, str], name: str) -> list[str]:
    """Return the non-empty items of a comma-separated parameter (none when it is absent)."""
    return [item for item in args.get(name, "").split(",") if item]


def field_filters(schema: LayerSchema, args: Mapping[str, str], reserved: frozenset[str]) -> dict[str, Any]:
    """Equality filters from the parameters named after the schema's fields.

    Values are coerced like records (``propreté`` matches « Propreté »; booleans
    ``true``/``false``); an unknown name or a bad value gives a 400 naming it.
    """
    where: dict[str, Any] = {}
    for name, text in args.items():
        if name in reserved:
            continue
        try:
            f = schema.field(name)
        except KeyError:
            _bad(f"Paramètre inconnu : « {name} ».", name)
        if f.type == "json" or name == "geometry":
            _bad(f"Filtre impossible sur « {name} ».", name)
        values, bad, reason = coerce_field(pd.Series([text]), f)
        if bool(bad.iloc[0]) or values.isna().iloc[0]:
            _bad(f"« {name} » : {reason or 'valeur invalide'}.", name)
        value = values.iloc[0]
        if isinstance(value, pd.Timestamp):
            value = value.isoformat()
        elif isinstance(value, np.generic):
            value = value.item()
        where[name] = value
    return where


def wants_html(args: Mapping[str, str], accept: MIMEAccept) -> bool:
    """``f=html`` or a browser's Accept header (``f`` wins; unknown ``f`` is a 400)."""
    f = args.get("f")
    if f is not None:
        if f not in FORMATS:
            _bad("Format inconnu (f=json ou f=html).", "f")
        return f == "html"
    best = accept.best_match([GEOJSON, "application/json", "text/html"])
    return best == "text/html" and accept["text/html"] > accept["application/json"]


def parse_coordinate(args: Mapping[str, str], name: str, low: float, high: float) -> float:
    """Read the decimal degrees ``args[name]`` (a comma accepted) within ``[low, high]``.

    Raises
    ------
    werkzeug.exceptions.HTTPException
        400 naming ``name`` when it is missing, not a number or out of bounds.
    """
    text = (args.get(name) or "").strip().replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        _bad(f"Paramètre « {name} » invalide : nombre décimal attendu (degrés WGS84).", name)
    if not math.isfinite(value) or not low <= value <= high:
        _bad(f"Paramètre « {name} » hors limites ({low:g} à {high:g}).", name)
    return value

"""Validation of records against their layer schema, row by row, vectorised.

:func:`validate_frame` coerces every field to its declared type, checks required
fields, allowed values, bounds, patterns and geometry types, repairs invalid
polygons, and returns the valid rows with a reject table that names the row, the
field and the reason (in French). Nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.geometry import repair_polygons
from layers._arrow_text import no_space, number_texts, plain_numbers, stripped, to_objects
from layers._field_rules import (
    AWARE,
    DATE_FORMATS,
    DIGIT_GROUP,
    FALSE,
    GEOMETRY_MISSING,
    GEOMETRY_TYPE_IDS,
    ISO_START,
    REQUIRED_REASON,
    SERIAL,
    SERIAL_EPOCH,
    TRUE,
    YEAR_MAX,
    YEAR_MIN,
    fold,
    geometry_type_reason,
    is_aware,
    is_iso,
    is_serial,
    message,
    number_text,
    rule_for,
)
from layers.errors import RecordError
from layers.schema import ChildSchema, Field, LayerSchema

logger = logging.getLogger(__name__)

REJECT_COLUMNS = ["row", "field", "value", "reason"]

__all__ = ["REJECT_COLUMNS", "ValidationResult", "coerce_field", "coerce_value", "fold",
           "parse_datetime", "parse_datetimes", "validate_frame", "validate_record"]


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_frame`.

    Attributes
    ----------
    valid : geopandas.GeoDataFrame or pandas.DataFrame
        The rows that passed, typed, indexed like the input.
    rejects : pandas.DataFrame
        One line per error of a rejected input row: ``row``, ``field``, ``value``, ``reason``.
    repaired : pandas.Index
        Index labels of rows whose polygon was repaired with ``make_valid``.
    """

    valid: pd.DataFrame
    rejects: pd.DataFrame
    repaired: pd.Index


def _is_missing(values: pd.Series) -> pd.Series:
    as_str = values.astype("string")
    return values.isna() | as_str.str.strip().fillna("").eq("")


def _coerce_str(values: pd.Series, f: Field) -> tuple[pd.Series, pd.Series, str]:
    rule = rule_for(f)
    if rule.pattern is not None:
        return _coerce_str_pattern(values, f)
    text = stripped(values)  # pyarrow: no intermediate Series, blank texts already null
    none_bad = pd.Series(False, index=values.index)
    if rule.canon is None:
        return (pd.Series(to_objects(text), index=values.index, dtype="object", name=values.name, copy=False),
                none_bad, rule.reason)
    # fold each distinct value once (a million records carry a handful of themes)
    encoded = text.dictionary_encode()
    choices = [rule.choice(v) for v in encoded.dictionary.to_pylist()]
    lookup = np.array([*choices, None], dtype=object)
    refused = np.array([c is None for c in choices] + [False], dtype=bool)
    codes = np.asarray(encoded.indices.fill_null(len(choices)).to_numpy(zero_copy_only=False))
    return (pd.Series(lookup[codes], index=values.index, dtype="object", name=values.name, copy=False),
            pd.Series(refused[codes], index=values.index), rule.reason)


def _coerce_str_pattern(values: pd.Series, f: Field) -> tuple[pd.Series, pd.Series, str]:
    rule = rule_for(f)
    assert rule.pattern is not None  # only called on fields with a pattern
    out = values.astype("string").str.strip()
    out = out.mask(out.eq(""))
    ok = out.str.fullmatch(rule.pattern.pattern).fillna(True).astype(bool)
    return out.astype("object").where(out.notna(), None), ~ok, rule.reason


def _coerce_number(values: pd.Series, f: Field) -> tuple[pd.Series, pd.Series, str]:
    rule = rule_for(f)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.zeros(len(values), dtype=bool)
    else:
        num, bad = _parse_numbers(values)
    present = ~np.isnan(num)
    if f.type == "int":
        with np.errstate(invalid="ignore"):
            bad |= present & np.isfinite(num) & (np.floor(num) != num)
    if f.minimum is not None:
        bad |= present & (num < f.minimum)
    if f.maximum is not None:
        bad |= present & (num > f.maximum)
    out = pd.Series(np.where(bad, np.nan, num), index=values.index, name=values.name)
    bad_rows = pd.Series(bad, index=values.index)
    if f.type == "int":
        return out.astype("Int64"), bad_rows, rule.reason
    return out, bad_rows, rule.reason


def _parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse number texts as people write them: the floats (NaN: none) and the unreadable ones."""
    text = number_texts(values)
    plain = plain_numbers(text)  # the usual column: plain numbers, read by Arrow
    if plain is not None:
        return plain, np.zeros(len(values), dtype=bool)
    series = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    if not no_space(text).all():  # the digit groups (« 1 234 ») need Python's regex
        series = series.str.replace(DIGIT_GROUP, "", regex=True)
    num = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    unreadable = series.notna() & series.ne("")
    return num, unreadable.to_numpy(dtype=bool, na_value=False) & np.isnan(num)


def _coerce_bool(values: pd.Series, f: Field) -> tuple[pd.Series, pd.Series, str]:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean"), pd.Series(False, index=values.index), ""
    text = values.astype("string").str.strip().str.lower().fillna("")
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(TRUE)] = True
    out[text.isin(FALSE) & text.ne("")] = False
    bad = text.ne("") & ~text.isin(TRUE | FALSE)
    return out, bad, rule_for(f).reason


def _ns(values: pd.Series) -> pd.Series:
    """Return the parsed dates as nanosecond datetimes; years outside 1900-2100 become NaT.

    pandas parses far dates (``2263-01-01``, ``0001-01-01``) at a coarser resolution that a
    nanosecond column cannot hold; such dates are invalid for us anyway.
    """
    values = pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values, errors="coerce")
    ok = values.notna() & values.dt.year.between(YEAR_MIN, YEAR_MAX)
    return values.where(ok).astype("datetime64[ns]")


def parse_datetimes(values: pd.Series, *, fmt: str | None = None) -> pd.Series:
    """Parse dates as publishers write them; unparsable values become NaT.

    Tried in turn: the declared ``fmt``, ISO 8601, French day-first forms
    (``31/12/2023``, ``31/12/23``…), and spreadsheet serial numbers (``42058`` is
    2015-02-23, as Excel stores dates). Time-zone aware values are converted to
    Europe/Paris local time and made naive.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("Europe/Paris").dt.tz_localize(None)
        return _ns(parsed)
    text = values.astype("string").str.strip()
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if fmt is not None:
        parsed[:] = _ns(pd.to_datetime(text, format=fmt, errors="coerce"))
    todo = parsed.isna() & text.notna() & text.ne("")
    if todo.any():
        sub = text[todo]
        aware = sub.str.contains(AWARE, regex=True).fillna(False)
        iso = sub.str.match(ISO_START).fillna(False)
        naive_iso = iso & ~aware
        if naive_iso.any():
            parsed[naive_iso[naive_iso].index] = _ns(pd.to_datetime(
                sub[naive_iso], format="ISO8601", errors="coerce"))
        if (iso & aware).any():
            local = pd.to_datetime(sub[iso & aware], format="ISO8601", errors="coerce", utc=True)
            parsed[local.index] = _ns(local.dt.tz_convert("Europe/Paris").dt.tz_localize(None))
    for form in DATE_FORMATS:
        todo = parsed.isna() & text.notna() & text.str.contains("/|-", regex=True).fillna(False)
        if not todo.any():
            break
        parsed[todo] = _ns(pd.to_datetime(text[todo], format=form, errors="coerce"))
    serial = parsed.isna() & text.str.fullmatch(SERIAL).fillna(False)
    if serial.any():
        days = pd.to_numeric(text[serial]).astype("int64")
        parsed[serial] = pd.Timestamp(SERIAL_EPOCH) + pd.to_timedelta(days, unit="D")
    return parsed


def _coerce_datetime(
    values: pd.Series, f: Field, fmt: str | None = None
) -> tuple[pd.Series, pd.Series, str]:
    parsed = parse_datetimes(values, fmt=fmt)
    # a datetime column has no blank text: its missing values are its NaT
    present = values.notna() if pd.api.types.is_datetime64_any_dtype(values) else ~_is_missing(values)
    bad = present & parsed.isna()
    bad |= parsed.notna() & ((parsed.dt.year < YEAR_MIN) | (parsed.dt.year > YEAR_MAX))
    # numpy formats ISO text much faster than strftime; the same "%Y-%m-%d[T%H:%M:%S]"
    text = np.datetime_as_string(parsed.to_numpy(dtype="datetime64[ns]"),
                                 unit="D" if f.type == "date" else "s")
    out = pd.Series(text, index=parsed.index, dtype="object").where(parsed.notna() & ~bad, None)
    return out, bad, rule_for(f).reason


def _json_value(v: Any) -> tuple[str | None, bool]:
    """Return a JSON value as stored text (None: missing) and whether it is invalid."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v == ""):
        return None, False
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False), False
    try:
        json.loads(str(v))
    except ValueError:
        return None, True
    return str(v), False


def _coerce_json(values: pd.Series, f: Field) -> tuple[pd.Series, pd.Series, str]:
    pairs = [_json_value(v) for v in values]
    return (pd.Series([p[0] for p in pairs], index=values.index, dtype="object"),
            pd.Series([p[1] for p in pairs], index=values.index, dtype=bool), rule_for(f).reason)


def coerce_field(
    values: pd.Series, f: Field, *, fmt: str | None = None
) -> tuple[pd.Series, pd.Series, str]:
    """Coerce a column to the type of ``f``.

    Returns
    -------
    values : pandas.Series
        Coerced values (None / NA where missing or bad).
    bad : pandas.Series
        Boolean mask of values present but invalid.
    reason : str
        French explanation for the bad values.
    """
    if f.type == "str":
        return _coerce_str(values, f)
    if f.type in ("int", "float"):
        return _coerce_number(values, f)
    if f.type == "bool":
        return _coerce_bool(values, f)
    if f.type in ("date", "datetime"):
        return _coerce_datetime(values, f, fmt)
    return _coerce_json(values, f)


def _check_geometry(
    gdf: gpd.GeoDataFrame, kind: str | None
) -> tuple[gpd.GeoDataFrame, pd.Series, pd.Series, pd.Index]:
    original = geoms = gdf.geometry.to_numpy()
    missing = pd.Series(shapely.is_missing(geoms) | shapely.is_empty(geoms), index=gdf.index)
    types = shapely.get_type_id(geoms)
    # single-part multis are accepted for point layers
    if kind == "Point":
        multi_single = (types == 4) & (shapely.get_num_geometries(geoms) == 1)
        if multi_single.any():
            geoms = geoms.copy()
            geoms[multi_single] = shapely.get_geometry(geoms[multi_single], 0)
            types = shapely.get_type_id(geoms)
    if kind == "LineString":
        multi = types == 5
        if multi.any():
            geoms = geoms.copy()
            geoms[multi] = shapely.line_merge(geoms[multi])
            types = shapely.get_type_id(geoms)
    allowed = GEOMETRY_TYPE_IDS.get(kind or "Geometry", frozenset())
    wrong = pd.Series(~np.isin(types, list(allowed)), index=gdf.index) & ~missing
    if geoms is original and kind not in ("MultiPolygon", "Geometry"):
        out = gdf  # nothing changed, nothing to repair: callers only read it
    else:
        out = gdf.copy()
        out[gdf.geometry.name] = geoms
        out = out.set_geometry(gdf.geometry.name, crs=gdf.crs)
    repaired = pd.Index([])
    if kind in ("MultiPolygon", "Geometry"):
        ok = ~(missing | wrong)
        fixed, was_invalid = repair_polygons(out[ok])
        out.loc[ok, out.geometry.name] = fixed.geometry
        repaired = fixed.index[was_invalid]
        lost = fixed.geometry.isna() | fixed.geometry.is_empty
        missing = missing | pd.Series(lost, index=fixed.index).reindex(gdf.index, fill_value=False)
    return out, missing, wrong, repaired


def validate_frame(
    frame: pd.DataFrame,
    schema: LayerSchema | ChildSchema,
    *,
    rows: pd.Series | None = None,
    formats: Mapping[str, str] | None = None,
    fill_defaults: bool = True,
    extra_required: Iterable[str] = (),
    check_geometry: bool = True,
) -> ValidationResult:
    """Validate ``frame`` against ``schema``.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Records with columns named after schema fields (unknown columns are kept aside
        and dropped); a geometry column for layer schemas with a geometry.
    schema : LayerSchema or ChildSchema
        What the rows must satisfy.
    rows : pandas.Series, optional
        Source row numbers for the reject report (the index is used otherwise).
    formats : mapping, optional
        ``field -> strftime format`` for date fields.
    fill_defaults : bool
        Fill missing values with field defaults.
    extra_required : iterable of str
        Fields to require in addition to the schema's required ones.
    check_geometry : bool
        Check the geometry (False: attributes only, for rows already rejected for it).

    Returns
    -------
    ValidationResult
        Its ``rejects`` hold every error of every rejected row (several lines per row
        when a row has several errors), in row order.
    """
    formats = formats or {}
    rows = rows if rows is not None else pd.Series(frame.index, index=frame.index)
    fields = schema.all_fields if isinstance(schema, LayerSchema) else schema.fields
    required = {f.name for f in fields if f.required} | set(extra_required)
    errors: list[pd.DataFrame] = []
    bad_rows = pd.Series(False, index=frame.index)

    def flag(mask: pd.Series, name: str, reason: str, raw: pd.Series | None) -> None:
        """Record one error for each row of ``mask`` (a row keeps every error it has)."""
        nonlocal bad_rows
        marked = mask.to_numpy(dtype=bool, na_value=False)
        if not marked.any():  # the usual case: no Series to build
            return
        mask = pd.Series(marked, index=mask.index)
        bad_rows = bad_rows | mask
        errors.append(pd.DataFrame({
            "row": rows[mask].to_numpy(), "field": name,
            "value": (raw[mask].astype("string").fillna("").str.slice(0, 80).to_numpy()
                      if raw is not None else ""),
            "reason": reason, "_order": np.flatnonzero(mask.to_numpy()),
        }))

    out: dict[str, pd.Series] = {}
    # the columns through pandas only (a GeoDataFrame's own __getitem__ checks each for geometry)
    columns = pd.DataFrame(frame, copy=False) if isinstance(frame, gpd.GeoDataFrame) else frame
    for f in fields:
        bad = pd.Series(False, index=frame.index)
        if f.name in frame.columns:
            raw = columns[f.name]
            values, bad, reason = coerce_field(raw, f, fmt=formats.get(f.name))
            flag(bad, f.name, message(f.name, reason), raw)
        else:
            raw = None
            values = pd.Series([None] * len(frame), index=frame.index, dtype="object")
        if fill_defaults and f.default is not None:
            missing = values.isna()
            if missing.any():
                values = values.astype("object").where(~missing, f.default)
                if f.type == "bool":
                    values = values.astype("boolean")
        if f.name in required:
            missing = values.isna()
            # a value present but invalid is reported once, as invalid
            flag(missing & ~bad, f.name, message(f.name, REQUIRED_REASON), raw)
        out[f.name] = values

    result = pd.DataFrame(out, index=frame.index)
    repaired = pd.Index([])
    if check_geometry and isinstance(schema, LayerSchema) and schema.geometry is not None:
        if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
            raise RecordError("Géométrie manquante.", field="geometry")
        checked, missing_geom, wrong, repaired = _check_geometry(
            frame[[frame.geometry.name]], schema.geometry
        )
        if not schema.geometry_optional:
            flag(missing_geom, "geometry", GEOMETRY_MISSING, None)
        if wrong.any():  # the text of the wrong geometries, written only when there are some
            flag(wrong, "geometry", geometry_type_reason(schema.geometry),
                 pd.Series(frame.geometry.geom_type, index=frame.index) + " "
                 + pd.Series(shapely.to_wkt(frame.geometry.to_numpy(), rounding_precision=6),
                             index=frame.index).fillna(""))
        result = gpd.GeoDataFrame(result, geometry=checked.geometry, crs=frame.crs)
        if "repaired" in result.columns:
            result.loc[result.index.isin(repaired), "repaired"] = True
    rejects = (pd.concat(errors, ignore_index=True).sort_values("_order", kind="stable")
               .drop(columns="_order").reset_index(drop=True)[REJECT_COLUMNS]
               if errors else pd.DataFrame(columns=REJECT_COLUMNS))
    return ValidationResult(valid=result[~bad_rows], rejects=rejects, repaired=repaired)


# -- the scalar entry point: one record, the same rules ---------------------------------------
_CONTAINERS = (list, tuple, dict, set, np.ndarray)


def _na(v: Any) -> bool:
    """Tell whether a scalar is missing (None, NaN, NA, NaT), as :meth:`pandas.Series.isna` would."""
    if v is None or isinstance(v, _CONTAINERS):
        return v is None
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _text(v: Any) -> str:
    """Return a present scalar as pandas' ``astype("string")`` writes it."""
    if isinstance(v, str):
        return v
    return str(pd.Timestamp(v)) if isinstance(v, np.datetime64) else str(v)


def _str_value(v: Any, f: Field) -> tuple[Any, bool]:
    rule = rule_for(f)
    text = None if _na(v) else _text(v).strip()
    if not text:
        return None, False
    if rule.canon is not None:
        choice = rule.choice(text)
        return choice, choice is None
    if rule.pattern is not None:
        return text, rule.pattern.fullmatch(text) is None
    return text, False


def _number_value(v: Any, f: Field) -> tuple[Any, bool]:
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        num, bad = float(v), False
    elif _na(v):
        return None, False
    else:
        text = number_text(_text(v))
        parsed = pd.to_numeric(text, errors="coerce") if text else np.nan
        num = float(parsed) if not _na(parsed) else float("nan")
        bad = bool(text) and np.isnan(num)
    if np.isnan(num):
        return None, bad
    if bad or rule_for(f).out_of_bounds(num):
        return None, True
    return (int(num) if f.type == "int" else num), False


def _bool_value(v: Any) -> tuple[Any, bool]:
    if isinstance(v, (bool, np.bool_)):
        return bool(v), False
    text = "" if _na(v) else _text(v).strip().lower()
    if text in TRUE:
        return True, False
    if text in FALSE:
        return (None if text == "" else False), False
    return None, True


def _window(ts: Any) -> pd.Timestamp | None:
    if ts is None or _na(ts):
        return None
    ts = pd.Timestamp(ts)
    return ts if YEAR_MIN <= ts.year <= YEAR_MAX else None


def parse_datetime(value: Any, *, fmt: str | None = None) -> pd.Timestamp | None:
    """Parse one date as :func:`parse_datetimes` parses a column (None: unparsable or missing)."""
    if isinstance(value, (datetime, np.datetime64)) and not _na(value):
        ts = pd.Timestamp(value)
        if ts.tz is not None:
            ts = ts.tz_convert("Europe/Paris").tz_localize(None)
        return _window(ts)
    if _na(value):
        return None
    text = _text(value).strip()
    parsed = _window(pd.to_datetime(text, format=fmt, errors="coerce")) if fmt is not None else None
    if parsed is None and text and is_iso(text):
        if is_aware(text):
            local = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
            if isinstance(local, pd.Timestamp) and not _na(local):
                parsed = _window(local.tz_convert("Europe/Paris").tz_localize(None))
        else:
            parsed = _window(pd.to_datetime(text, format="ISO8601", errors="coerce"))
    for form in DATE_FORMATS:
        if parsed is not None or ("/" not in text and "-" not in text):
            break
        parsed = _window(pd.to_datetime(text, format=form, errors="coerce"))
    if parsed is None and is_serial(text):
        parsed = pd.Timestamp(SERIAL_EPOCH) + pd.Timedelta(days=int(text))
    return parsed


def _datetime_value(v: Any, f: Field, fmt: str | None) -> tuple[Any, bool]:
    present = not _na(v) and (not isinstance(v, str) or v.strip() != "")
    parsed = parse_datetime(v, fmt=fmt) if present else None
    if parsed is None or not YEAR_MIN <= parsed.year <= YEAR_MAX:
        return None, present
    stamp = np.asarray(parsed.to_datetime64()).astype("datetime64[ns]")
    return str(np.datetime_as_string(stamp, unit="D" if f.type == "date" else "s")), False


def coerce_value(value: Any, f: Field, *, fmt: str | None = None) -> tuple[Any, bool, str]:
    """Coerce one value to the type of ``f``, as :func:`coerce_field` coerces a column.

    Returns
    -------
    value : object
        The coerced value (None where missing or bad): text, int, float, bool, ISO text
        for dates, JSON text.
    bad : bool
        Whether the value is present but invalid.
    reason : str
        French explanation when bad.
    """
    if f.type == "str":
        out, bad = _str_value(value, f)
    elif f.type in ("int", "float"):
        out, bad = _number_value(value, f)
    elif f.type == "bool":
        out, bad = _bool_value(value)
    elif f.type in ("date", "datetime"):
        out, bad = _datetime_value(value, f, fmt)
    else:
        out, bad = _json_value(value)
    return out, bad, rule_for(f).reason


def _geometry_value(geom: Any, schema: LayerSchema) -> tuple[Any, bool]:
    """Check one geometry as :func:`_check_geometry` does; return it (fixed) and whether repaired."""
    kind = schema.geometry
    if geom is not None and not isinstance(geom, shapely.Geometry):
        raise RecordError(geometry_type_reason(kind), field="geometry")
    if kind in ("MultiPolygon", "Geometry") and geom is not None and not shapely.is_empty(geom):
        frame = gpd.GeoDataFrame(geometry=[geom])
        checked, missing, wrong, repaired = _check_geometry(frame, kind)
        if bool(wrong.iloc[0]):
            raise RecordError(geometry_type_reason(kind), field="geometry")
        geom = checked.geometry.iloc[0]
        if bool(missing.iloc[0]) and not schema.geometry_optional:
            raise RecordError(GEOMETRY_MISSING, field="geometry")
        return geom, len(repaired) > 0
    if geom is None or shapely.is_empty(geom):
        if not schema.geometry_optional:
            raise RecordError(GEOMETRY_MISSING, field="geometry")
        return geom, False
    type_id = int(shapely.get_type_id(geom))
    if kind == "Point" and type_id == 4 and shapely.get_num_geometries(geom) == 1:
        geom = shapely.get_geometry(geom, 0)
        type_id = 0
    if kind == "LineString" and type_id == 5:
        geom = shapely.line_merge(geom)
        type_id = int(shapely.get_type_id(geom))
    if type_id not in GEOMETRY_TYPE_IDS.get(kind or "Geometry", frozenset()):
        raise RecordError(geometry_type_reason(kind), field="geometry")
    return geom, False


def validate_record(
    record: Mapping[str, Any], schema: LayerSchema | ChildSchema, *, partial: bool = False,
    fill_defaults: bool = True,
) -> dict[str, Any]:
    """Validate one record (from a form or a JSON body) and return it coerced.

    The scalar entry point of the rules of :func:`validate_frame` (the same coercions,
    the same French messages naming the field), for single writes.

    Parameters
    ----------
    record : mapping
        Field → value (and ``geometry`` for a layer with one, ``parent_uid`` for a child).
    schema : LayerSchema or ChildSchema
        What the record must satisfy.
    partial : bool
        Check and return only the fields ``record`` gives (a change of a stored record):
        the fields it does not give are neither required nor filled.
    fill_defaults : bool
        Fill missing values with field defaults.

    Returns
    -------
    dict
        Every field of the schema (only those given when ``partial``), coerced (None when
        missing; dates as ISO text), and ``geometry`` for a layer with one.

    Raises
    ------
    RecordError
        Naming the first bad field, in schema order (the geometry last).
    """
    fields = schema.all_fields if isinstance(schema, LayerSchema) else schema.fields
    unknown = sorted(set(record) - {f.name for f in fields} - {"geometry", "parent_uid"})
    if unknown:
        raise RecordError(f"Champ inconnu : « {unknown[0]} ».", field=unknown[0])
    out: dict[str, Any] = {}
    for f in fields:
        if partial and f.name not in record:
            continue
        value = None
        if f.name in record:
            value, bad, reason = coerce_value(record[f.name], f)
            if bad:
                raise RecordError(message(f.name, reason), field=f.name)
        if value is None and fill_defaults and f.default is not None:
            value = bool(f.default) if f.type == "bool" else f.default
        if value is None and f.required:
            raise RecordError(message(f.name, REQUIRED_REASON), field=f.name)
        out[f.name] = value
    if isinstance(schema, LayerSchema) and schema.geometry is not None and (
            not partial or "geometry" in record):
        out["geometry"], repaired = _geometry_value(record.get("geometry"), schema)
        if repaired and "repaired" in out:
            out["repaired"] = True
    return out

"""Validation of records against their layer schema, row by row, vectorised.

:func:`validate_frame` coerces every field to its declared type, checks required
fields, allowed values, bounds, patterns and geometry types, repairs invalid
polygons, and returns the valid rows with a reject table that names the row, the
field and the reason (in French). Nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.geometry import repair_polygons
from layers.errors import RecordError
from layers.schema import ChildSchema, Field, LayerSchema

logger = logging.getLogger(__name__)

REJECT_COLUMNS = ["row", "field", "value", "reason"]

_TRUE = {"1", "true", "vrai", "oui", "yes", "o", "y", "t", "x"}
_FALSE = {"0", "false", "faux", "non", "no", "n", "f", ""}
_GEOM_TYPE_IDS = {
    "Point": {0},
    "LineString": {1, 5},
    "MultiPolygon": {3, 6},
    "Geometry": {0, 1, 3, 4, 5, 6},
}


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents, for forgiving comparisons."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped.replace("’", "'")).strip().lower()


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
    out = values.astype("string").str.strip()
    out = out.mask(out.eq(""))
    bad = pd.Series(False, index=values.index)
    reason = ""
    if f.choices is not None:
        canon = {fold(c): c for c in f.choices}
        # fold each distinct value once (a million records carry a handful of themes)
        lookup = {v: canon.get(fold(v)) for v in out.dropna().unique() if isinstance(v, str)}
        mapped = out.astype("object").map(lookup)
        bad = out.notna() & pd.Series(mapped, index=out.index).isna()
        out = pd.Series(mapped, index=out.index, dtype="object")
        reason = f"valeur non autorisée (valeurs possibles : {', '.join(f.choices)})"
    elif f.pattern is not None:
        ok = out.str.fullmatch(f.pattern).fillna(True).astype(bool)
        bad = ~ok
        reason = f"format invalide (attendu : {f.pattern})"
    return out.astype("object").where(out.notna(), None), bad, reason


def _coerce_number(values: pd.Series, f: Field) -> tuple[pd.Series, pd.Series, str]:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = values.astype("float64")
        text_bad = pd.Series(False, index=values.index)
    else:
        text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
        text = text.str.replace(r"(?<=\d)[\s\u202f\u00a0](?=\d)", "", regex=True)
        num = pd.to_numeric(text, errors="coerce").astype("float64")
        text_bad = text.notna() & text.ne("") & num.isna()
    bad = text_bad.copy()
    reason = "nombre attendu"
    if f.type == "int":
        frac = num.notna() & (np.floor(num) != num)
        bad |= frac
        reason = "nombre entier attendu"
    if f.minimum is not None:
        bad |= num.notna() & (num < f.minimum)
    if f.maximum is not None:
        bad |= num.notna() & (num > f.maximum)
    if f.minimum is not None and f.maximum is not None:
        reason += f" entre {f.minimum:g} et {f.maximum:g}"
    elif f.minimum is not None:
        reason += f" supérieur ou égal à {f.minimum:g}"
    elif f.maximum is not None:
        reason += f" inférieur ou égal à {f.maximum:g}"
    num = num.mask(bad)
    if f.type == "int":
        return num.astype("Int64"), bad, reason
    return num, bad, reason


def _coerce_bool(values: pd.Series, f: Field) -> tuple[pd.Series, pd.Series, str]:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean"), pd.Series(False, index=values.index), ""
    text = values.astype("string").str.strip().str.lower().fillna("")
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE) & text.ne("")] = False
    bad = text.ne("") & ~text.isin(_TRUE | _FALSE)
    return out, bad, "oui/non attendu"


_DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%Y/%m/%d", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")


def _ns(values: pd.Series) -> pd.Series:
    """Return the parsed dates as nanosecond datetimes; years outside 1900-2100 become NaT.

    pandas parses far dates (``2263-01-01``, ``0001-01-01``) at a coarser resolution that a
    nanosecond column cannot hold; such dates are invalid for us anyway.
    """
    values = pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values, errors="coerce")
    ok = values.notna() & values.dt.year.between(1900, 2100)
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
        aware = sub.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False)
        iso = sub.str.match(r"^\d{4}-\d\d-\d\d").fillna(False)
        naive_iso = iso & ~aware
        if naive_iso.any():
            parsed[naive_iso[naive_iso].index] = _ns(pd.to_datetime(
                sub[naive_iso], format="ISO8601", errors="coerce"))
        if (iso & aware).any():
            local = pd.to_datetime(sub[iso & aware], format="ISO8601", errors="coerce", utc=True)
            parsed[local.index] = _ns(local.dt.tz_convert("Europe/Paris").dt.tz_localize(None))
    for form in _DATE_FORMATS:
        todo = parsed.isna() & text.notna() & text.str.contains("/|-", regex=True).fillna(False)
        if not todo.any():
            break
        parsed[todo] = _ns(pd.to_datetime(text[todo], format=form, errors="coerce"))
    serial = parsed.isna() & text.str.fullmatch(r"[1-6]\d{4}").fillna(False)
    if serial.any():
        days = pd.to_numeric(text[serial]).astype("int64")
        parsed[serial] = pd.Timestamp("1899-12-30") + pd.to_timedelta(days, unit="D")
    return parsed


def _coerce_datetime(
    values: pd.Series, f: Field, fmt: str | None = None
) -> tuple[pd.Series, pd.Series, str]:
    parsed = parse_datetimes(values, fmt=fmt)
    # a datetime column has no blank text: its missing values are its NaT
    present = values.notna() if pd.api.types.is_datetime64_any_dtype(values) else ~_is_missing(values)
    bad = present & parsed.isna()
    bad |= parsed.notna() & ((parsed.dt.year < 1900) | (parsed.dt.year > 2100))
    # numpy formats ISO text much faster than strftime; the same "%Y-%m-%d[T%H:%M:%S]"
    text = np.datetime_as_string(parsed.to_numpy(dtype="datetime64[ns]"),
                                 unit="D" if f.type == "date" else "s")
    out = pd.Series(text, index=parsed.index, dtype="object").where(parsed.notna() & ~bad, None)
    return out, bad, "date invalide (attendu AAAA-MM-JJ ou JJ/MM/AAAA)"


def _coerce_json(values: pd.Series, f: Field) -> tuple[pd.Series, pd.Series, str]:
    out: list[str | None] = []
    bad: list[bool] = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v == "":
            out.append(None)
            bad.append(False)
        elif isinstance(v, (list, dict)):
            out.append(json.dumps(v, ensure_ascii=False))
            bad.append(False)
        else:
            try:
                json.loads(str(v))
            except ValueError:
                out.append(None)
                bad.append(True)
            else:
                out.append(str(v))
                bad.append(False)
    return pd.Series(out, index=values.index, dtype="object"), pd.Series(bad, index=values.index), (
        "JSON invalide"
    )


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
    geoms = gdf.geometry.to_numpy()
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
    allowed = _GEOM_TYPE_IDS.get(kind or "Geometry", set())
    wrong = pd.Series(~np.isin(types, list(allowed)), index=gdf.index) & ~missing
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
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        bad_rows = bad_rows | mask
        errors.append(pd.DataFrame({
            "row": rows[mask].to_numpy(), "field": name,
            "value": (raw[mask].astype("string").fillna("").str.slice(0, 80).to_numpy()
                      if raw is not None else ""),
            "reason": reason, "_order": np.flatnonzero(mask.to_numpy()),
        }))

    out: dict[str, pd.Series] = {}
    for f in fields:
        bad = pd.Series(False, index=frame.index)
        if f.name in frame.columns:
            raw = frame[f.name]
            values, bad, reason = coerce_field(raw, f, fmt=formats.get(f.name))
            flag(bad, f.name, f"« {f.name} » : {reason}", raw)
        else:
            raw = None
            values = pd.Series([None] * len(frame), index=frame.index, dtype="object")
        missing = values.isna()
        if fill_defaults and f.default is not None and missing.any():
            values = values.astype("object").where(~missing, f.default)
            if f.type == "bool":
                values = values.astype("boolean")
            missing = values.isna()
        if f.name in required:
            # a value present but invalid is reported once, as invalid
            flag(missing & ~bad, f.name, f"« {f.name} » : champ obligatoire manquant", raw)
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
            flag(missing_geom, "geometry", "géométrie manquante ou vide", None)
        flag(wrong, "geometry", f"type de géométrie incorrect (attendu : {schema.geometry})",
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


def validate_record(
    record: Mapping[str, Any], schema: LayerSchema | ChildSchema
) -> dict[str, Any]:
    """Validate one record (from a form or a JSON body) and return it coerced.

    Raises
    ------
    RecordError
        Naming the first bad field.
    """
    fields = {f.name for f in (schema.all_fields if isinstance(schema, LayerSchema) else schema.fields)}
    unknown = sorted(set(record) - fields - {"geometry", "parent_uid"})
    if unknown:
        raise RecordError(f"Champ inconnu : « {unknown[0]} ».", field=unknown[0])
    frame = pd.DataFrame([{k: v for k, v in record.items() if k != "geometry"}])
    if isinstance(schema, LayerSchema) and schema.geometry is not None:
        geom = record.get("geometry")
        frame = gpd.GeoDataFrame(frame, geometry=[geom], crs=None)
    res = validate_frame(frame, schema)
    if not res.rejects.empty:
        first = res.rejects.iloc[0]
        raise RecordError(str(first["reason"]), field=str(first["field"]))
    row = res.valid.iloc[0].to_dict()
    return {str(k): (None if _scalar_missing(v) else v) for k, v in row.items()}


def _scalar_missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False

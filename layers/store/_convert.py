"""Value conversions between typed frames and what SQLite / GeoPackage columns hold."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from layers.schema import Field


def now_iso() -> str:
    """Return the current local time as stored (ISO 8601, seconds)."""
    return datetime.now().replace(microsecond=0).isoformat()


def child_uid(parent_uid: str, values: Mapping[str, Any]) -> str:
    """Deterministic uid of a child row: the same event recorded twice is the same row."""
    canon = json.dumps({"parent": parent_uid, **{k: str(v) for k, v in values.items()}},
                       sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(canon.encode()).hexdigest()[:20]


def child_uids(parents: Sequence[str], frame: pd.DataFrame, names: Sequence[str]) -> list[str]:
    """:func:`child_uid` of every row of ``frame`` (columns ``names``), computed in bulk.

    Gives exactly the uids of ``child_uid(parent, dict(zip(names, row)))`` for the rows of
    ``frame[names].itertuples()``; each column's distinct values are formatted once.
    """
    from json.encoder import encode_basestring

    keys = sorted([*names, "parent"])
    columns: dict[str, list[str]] = {"parent": [encode_basestring(p) for p in parents]}
    for name in names:
        series = frame[name]
        if series.dtype == object:  # 1 == True == 1.0 for factorize: format per (type, value)
            cache: dict[Any, str] = {}
            out = []
            for v in series:
                try:
                    key = (type(v), v)
                    text = cache.get(key)
                    if text is None:
                        text = cache[key] = encode_basestring(str(v))
                except TypeError:  # unhashable
                    text = encode_basestring(str(v))
                out.append(text)
            columns[name] = out
            continue
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        texts = [encode_basestring(str(u)) for u in uniques]
        missing = codes < 0
        if missing.any():
            first = int(missing.argmax())
            texts.append(encode_basestring(str(next(iter(series.iloc[[first]])))))
            codes = codes.copy()
            codes[missing] = len(texts) - 1
        columns[name] = [texts[c] for c in codes.tolist()]
    template = "{" + ", ".join(f"{encode_basestring(k)}: %s" for k in keys) + "}"
    return [hashlib.sha1((template % row).encode()).hexdigest()[:20]
            for row in zip(*(columns[k] for k in keys), strict=True)]


def aligned(values: Any, index: pd.Index) -> Any:
    """Align an optional Series to ``index`` (scalars and None pass through)."""
    if values is None:
        return None
    if isinstance(values, pd.Series):
        return values.reindex(index).to_numpy()
    return values


def sql_column(values: pd.Series, f: Field) -> list[Any]:
    """Convert a typed column to Python values SQLite stores (None for missing).

    Columns of the dtypes the importer and :func:`layers.validate.validate_frame` produce
    (nullable integers and booleans, floats, naive datetimes, texts) are converted with
    numpy in bulk; any other column value by value, with the same results.
    """
    fast = _sql_column_bulk(values, f)
    if fast is not None:
        return fast
    if f.type == "bool":
        return [None if pd.isna(v) else int(bool(v)) for v in values]
    if f.type == "int":
        return [None if pd.isna(v) else int(v) for v in values]
    if f.type == "float":
        return [None if pd.isna(v) else float(v) for v in values]
    if f.type in ("date", "datetime"):
        out: list[Any] = []
        for v in values:
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                out.append(None)
            elif isinstance(v, str):
                out.append(v)
            else:
                ts = pd.Timestamp(v)
                out.append(ts.strftime("%Y-%m-%d") if f.type == "date" else ts.isoformat())
        return out
    return [None if v is None or (not isinstance(v, (str, list, dict)) and pd.isna(v)) else str(v)
            for v in values]


def _with_nones(values: np.ndarray, missing: np.ndarray) -> list[Any]:
    """``values`` as Python objects, None where ``missing``."""
    out = values.astype(object)
    if missing.any():
        out[missing] = None
    return out.tolist()


def _sql_column_bulk(values: pd.Series, f: Field) -> list[Any] | None:
    """:func:`sql_column` of a column of a well-known dtype in bulk; None for any other column."""
    dtype = values.dtype
    missing = values.isna().to_numpy()
    whole = pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
    if f.type in ("bool", "int") and whole:
        numbers = values.to_numpy(dtype=np.int64, na_value=0)
        return _with_nones(numbers.astype(bool).astype(np.int64) if f.type == "bool" else numbers, missing)
    if f.type == "float" and pd.api.types.is_float_dtype(dtype):
        return _with_nones(values.to_numpy(dtype=np.float64), missing)
    if f.type in ("date", "datetime") and pd.api.types.is_datetime64_dtype(dtype):
        stamps = values.to_numpy(dtype="datetime64[ns]")
        if f.type == "datetime" and (stamps[~missing].astype(np.int64) % 1_000_000_000).any():
            return None  # fractions of a second: Timestamp.isoformat's own spelling
        text = np.datetime_as_string(stamps, unit="D" if f.type == "date" else "s")
        return _with_nones(text, missing)
    if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype):
        if f.type not in ("str", "json", "date", "datetime"):
            return None
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind not in ("string", "empty"):
            return None
        return _with_nones(values.to_numpy(dtype=object), missing)
    return None


def typed(values: pd.Series, f: Field) -> pd.Series:
    """Convert stored values to the frame dtype of a field."""
    if f.type == "bool":
        return values.astype("boolean")
    if f.type == "int":
        return pd.to_numeric(values, errors="coerce").astype("Int64")
    if f.type == "float":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if f.type in ("date", "datetime"):
        return pd.to_datetime(values, format="ISO8601", errors="coerce")
    return values.astype("object").where(values.notna(), None)


#: Dates and times as the stores write them (ISO 8601, at most microseconds, no offset).
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)?")


def typed_value(value: Any, f: Field) -> Any:
    """Convert one stored value as :func:`typed` converts a column (the frame row's value).

    Returns the Python value a one-row frame of :func:`typed` columns gives for the cell
    (``numpy`` bools, integers and floats, ``pandas.Timestamp``, ``NA`` / ``NaT`` / NaN
    for missing values), without building a frame: the values the stores write (ISO
    text dates, SQLite integers and floats) are converted directly, anything else goes
    through :func:`typed` itself. Texts and JSON are returned as read, as the stores'
    frames keep them.
    """
    kind = type(value)
    if f.type in ("str", "json"):
        return value
    if value is None:
        return _MISSING[f.type]
    if f.type == "bool" and kind in (int, bool) and value in (0, 1):
        return np.bool_(value)
    if f.type == "int" and kind is int and -(2**63) <= value < 2**63:
        return np.int64(value)
    if f.type == "float" and kind in (int, float):
        return np.float64(value)
    if f.type in ("date", "datetime") and kind is str and _ISO.fullmatch(value):
        with contextlib.suppress(ValueError):  # an impossible date: NaT through typed
            return pd.Timestamp(datetime.fromisoformat(value))
    return typed(pd.Series([value], dtype=object), f).iloc[0]


_MISSING: dict[str, Any] = {"bool": pd.NA, "int": pd.NA, "float": np.float64("nan"), "date": pd.NaT,
                            "datetime": pd.NaT}

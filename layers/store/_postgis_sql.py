"""Value conversions between typed frames and PostGIS columns, and the COPY bulk path."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely

from layers.errors import RecordError
from layers.schema import Field
from layers.store._convert import sql_column
from layers.store._postgis_conn import quote_ident
from layers.store._postgis_schema import PG_TYPES
from layers.store.filters import TimeLike, time_text

_TEMP = itertools.count()
_INT64 = (-(2**63), 2**63 - 1)


def pg_column(values: pd.Series, f: Field) -> list[Any]:
    """Python values bound for a typed column (None for missing), converted in bulk.

    Raises
    ------
    RecordError
        On text holding a NUL character (PostgreSQL refuses it) or an out-of-range integer.
    """
    if f.type in ("date", "datetime") and pd.api.types.is_datetime64_dtype(values.dtype):
        if getattr(values.dtype, "tz", None) is not None:
            values = values.dt.tz_convert("Europe/Paris").dt.tz_localize(None)
        unit = "datetime64[D]" if f.type == "date" else "datetime64[us]"
        return values.to_numpy(dtype=unit).astype(object).tolist()  # NaT -> None
    if f.type == "float" and pd.api.types.is_float_dtype(values.dtype):
        return [None if v != v else v for v in values.to_numpy(dtype=float).tolist()]
    if f.type == "bool":
        return [None if v is None or (not isinstance(v, str) and pd.isna(v)) else bool(v) for v in values]
    if f.type in ("str", "json") or (f.type in ("date", "datetime") and values.dtype == object):
        missing = pd.isna(values).to_numpy()
        if missing.all():
            return [None] * len(values)
        out = [None if m else v if type(v) is str else str(v)
               for v, m in zip(values.to_numpy(dtype=object).tolist(), missing.tolist(), strict=True)]
        if f.type in ("str", "json") and any("\x00" in v for v in out if v is not None):
            raise RecordError(f"« {f.name} » : caractère nul interdit.", field=f.name)
        return out
    converted = sql_column(values, f)
    if f.type == "int":
        for n in converted:
            if n is not None and not _INT64[0] <= n <= _INT64[1]:
                raise RecordError(f"« {f.name} » : nombre hors limites.", field=f.name)
    return converted


def filter_value(f: Field, value: Any) -> tuple[bool, Any]:
    """Convert a ``where`` value for a comparison with column ``f``.

    Returns
    -------
    ok : bool
        False when the value cannot equal any stored value (an unparsable date).
    value : object
        The bound parameter.

    Raises
    ------
    RecordError
        When a number is expected and ``value`` is not one.
    """
    if f.type == "bool":
        if isinstance(value, str):
            return True, value.strip().lower() in {"1", "true", "vrai", "oui"}
        return True, bool(value)
    if f.type in ("int", "float"):
        try:
            number: Any = float(value) if f.type == "float" else int(value)
        except (TypeError, ValueError, OverflowError):
            raise RecordError(f"« {f.name} » : nombre attendu.", field=f.name) from None
        if f.type == "int" and not _INT64[0] <= number <= _INT64[1]:
            return False, None
        return True, number
    if f.type in ("date", "datetime"):
        try:
            ts = pd.Timestamp(str(value))
        except (TypeError, ValueError, OverflowError):
            return False, None
        if pd.isna(ts):
            return False, None
        if ts.tzinfo is not None:
            ts = ts.tz_convert("Europe/Paris").tz_localize(None)
        return True, ts.date() if f.type == "date" else ts.to_pydatetime()
    return True, str(value)


def time_bound(f: Field | None, value: TimeLike) -> Any:
    """Return a ``start`` / ``end`` bound for a comparison with the time column ``f``.

    Date columns compare like the GeoPackage's text: a bound with a time of day after
    midnight falls after that day.
    """
    text = time_text(value)
    if text is None:
        raise RecordError("Date manquante.", field="datetime")
    ts = pd.Timestamp(text)
    if f is not None and f.type == "date":
        day: date = ts.date()
        return day if ts == pd.Timestamp(day) else day + timedelta(days=1)
    return ts.to_pydatetime()


def array_type(f: Field) -> str:
    """Return the SQL array type for ``= ANY(%s::type[])`` on column ``f``."""
    return PG_TYPES[f.type] + "[]"


def wkb_column(geoms: np.ndarray) -> list[bytes | None]:
    """2-D WKB of shapely geometries (None stays None)."""
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    return [None if g is None else w for g, w in zip(geoms, wkb, strict=True)]


def copy_new(
    cur: Any,
    table: str,
    fields: Sequence[Field],
    columns: list[list[Any]],
    *,
    geometry_srid: int | None = None,
    geoms: np.ndarray | None = None,
) -> list[str] | None:
    """Bulk insert by ``COPY`` straight into ``table``, skipping the uids already stored.

    The fast path of large writes: no temporary table, geometries as hex EWKB parsed by
    the column itself. Runs in a savepoint; when a concurrent writer commits one of the
    same uids meanwhile (unique violation), the savepoint is rolled back and None is
    returned: the caller then falls back to :func:`copy_insert`.

    Returns
    -------
    list of str or None
        The uids inserted, in order, or None when the fast path gave way.
    """
    import psycopg

    uid_col = [f.name for f in fields].index("uid")
    uids = columns[uid_col]
    cur.execute(f"SELECT uid FROM {table} WHERE uid = ANY(%s::text[])", (uids,))
    existing = {r[0] for r in cur.fetchall()}
    keep = [i for i, u in enumerate(uids) if u not in existing] if existing else range(len(uids))
    if not len(keep):
        return []
    names = [quote_ident(f.name) for f in fields]
    data = [columns[k] if not existing else [columns[k][i] for i in keep] for k in range(len(fields))]
    if geoms is not None:
        names.append("geom")
        sub = geoms if not existing else geoms[np.asarray(keep, dtype=np.int64)]
        ewkb = shapely.to_wkb(shapely.set_srid(sub, int(geometry_srid or 0)), hex=True,
                              output_dimension=2, include_srid=True)
        data.append([None if g is None else w for g, w in zip(sub, ewkb, strict=True)])
    try:
        with cur.connection.transaction(), cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in zip(*data, strict=True):
                copy.write_row(row)
    except psycopg.errors.UniqueViolation:
        return None
    return list(data[uid_col])


def copy_insert(
    cur: Any,
    table: str,
    fields: Sequence[Field],
    columns: list[list[Any]],
    *,
    geometry_srid: int | None = None,
    geoms: list[bytes | None] | None = None,
) -> list[str]:
    """Bulk insert rows through ``COPY`` into a temporary table; existing uids are skipped.

    Parameters
    ----------
    cur : psycopg.Cursor
        Cursor of an open transaction.
    table : str
        Schema-qualified, quoted target table.
    fields : sequence of Field
        The columns (``uid`` among them), in the order of ``columns``.
    columns : list of list
        Values per column (see :func:`pg_column`).
    geometry_srid : int, optional
        SRID of the target's ``geom`` column when ``geoms`` (WKB) are given.
    geoms : list of bytes, optional
        WKB geometries.

    Returns
    -------
    list of str
        The uids actually inserted (``ON CONFLICT (uid) DO NOTHING``: a concurrent writer
        of the same uid neither duplicates nor fails).
    """
    temp = quote_ident(f"_qpv_in_{next(_TEMP)}")
    names = [quote_ident(f.name) for f in fields]
    defs = ["ord bigint", *(f"{n} {PG_TYPES[f.type]}" for n, f in zip(names, fields, strict=True))]
    if geoms is not None:
        defs.append("wkb bytea")
    cur.execute(f"CREATE TEMP TABLE {temp} ({', '.join(defs)}) ON COMMIT DROP")
    copy_cols = ["ord", *names, *(["wkb"] if geoms is not None else [])]
    n = len(columns[0]) if columns else 0
    data = [range(n), *columns, *([geoms] if geoms is not None else [])]
    with cur.copy(f"COPY {temp} ({', '.join(copy_cols)}) FROM STDIN") as copy:
        for row in zip(*data, strict=True):
            copy.write_row(row)
    target_cols = ", ".join(names)
    select = target_cols
    if geoms is not None:
        target_cols += ", geom"
        select += f", ST_GeomFromWKB(wkb, {int(geometry_srid or 0)})"
    cur.execute(
        f"INSERT INTO {table} ({target_cols}) SELECT {select} FROM {temp} ORDER BY ord "
        "ON CONFLICT (uid) DO NOTHING RETURNING uid"
    )
    inserted = [r[0] for r in cur.fetchall()]
    cur.execute(f"DROP TABLE {temp}")
    return inserted

"""Record preparation shared by the store backends (what to write, before any SQL).

Both backends call these so that defaults, validation, automatic history entries and
resolution dates are the same whatever the storage.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.crs import resolve_crs
from layers.errors import RecordError
from layers.schema import ACTION_CLOSED_STATES, ChildSchema, Field, LayerSchema
from layers.store._convert import aligned, child_uids, now_iso
from layers.store.filters import query_field
from layers.validate import validate_frame, validate_record

CLOSED_STATUSES = ("traité", "clos non traité", *ACTION_CLOSED_STATES)


def child_table(schema: LayerSchema, child: ChildSchema) -> str:
    """Table name of a child table (the same on every backend)."""
    return f"{schema.name}_{child.name}"


def child_fields(child: ChildSchema) -> tuple[Field, ...]:
    """Return the stored columns of a child table, in order."""
    return (
        Field("uid"),
        Field("parent_uid"),
        *child.fields,
        Field("source_dataset"),
        Field("simulated", "bool"),
        Field("created_at", "datetime"),
    )


def copy_target(
    schema: LayerSchema, child: str | None, rows: pd.DataFrame, crs: str
) -> tuple[str, tuple[Field, ...], bool, pd.DataFrame]:
    """Return where :meth:`LayerStore.copy_rows` writes, and what.

    The table, its columns, whether it has a geometry, and the rows in the store CRS
    without repeated uids.
    """
    if child is None:
        table, fields, geometry = schema.name, schema.all_fields, schema.geometry is not None
    else:
        cschema = schema.child(child)
        table, fields, geometry = child_table(schema, cschema), child_fields(cschema), False
    if geometry and isinstance(rows, gpd.GeoDataFrame) and rows.crs is not None \
            and not resolve_crs(rows.crs).equals(resolve_crs(crs)):
        rows = rows.to_crs(crs)
    return table, fields, geometry, rows[~rows["uid"].duplicated()]


def prepare_records(
    schema: LayerSchema, records: gpd.GeoDataFrame, crs: str, *, validated: bool
) -> tuple[pd.DataFrame, pd.Series]:
    """Reproject, complete (uid, timestamps) and validate records to write.

    Parameters
    ----------
    schema : LayerSchema
        The layer.
    records : geopandas.GeoDataFrame
        The caller's records.
    crs : str
        Store CRS.
    validated : bool
        Skip validation (records straight from :func:`validate_frame`).

    Returns
    -------
    valid : pandas.DataFrame
        The valid records, including uids repeated within the batch.
    duplicated : pandas.Series
        Boolean mask (on ``valid``'s index) of the repeats of an earlier uid of the batch.

    Raises
    ------
    RecordError
        When a record does not satisfy the schema.
    """
    if schema.geometry is not None:
        if not isinstance(records, gpd.GeoDataFrame):
            raise RecordError("Géométrie manquante.", field="geometry")
        if records.crs is None:
            records = records.set_crs(crs)
        elif not resolve_crs(records.crs).equals(resolve_crs(crs)):
            records = records.to_crs(crs)
    records = records.copy()
    stamp = now_iso()
    if "uid" not in records:
        records["uid"] = None
    missing_uid = records["uid"].isna()
    if missing_uid.any():
        records.loc[missing_uid, "uid"] = [uuid.uuid4().hex for _ in range(int(missing_uid.sum()))]
    for name in ("created_at", "updated_at"):
        if name not in records:  # a datetime column: validation has nothing to parse
            records[name] = pd.Series(pd.Timestamp(stamp), index=records.index, dtype="datetime64[ns]")
        else:
            records[name] = records[name].fillna(stamp)
    valid = records if validated else _all_valid(records, schema, what="Enregistrement {row} refusé")
    return valid, valid["uid"].duplicated()


def _all_valid(frame: pd.DataFrame, schema: LayerSchema | ChildSchema, *, what: str) -> pd.DataFrame:
    """Return the rows of ``frame`` validated against ``schema``; RecordError on the first reject.

    ``what`` names the refused row in the message (``{row}`` is replaced by its index).
    """
    result = validate_frame(frame, schema)
    if not result.rejects.empty:
        first = result.rejects.iloc[0]
        raise RecordError(f"{what.format(row=first['row'])} : {first['reason']}",
                          field=str(first["field"]))
    return result.valid


def creation_history(schema: LayerSchema, new: pd.DataFrame, actor: str | None) -> pd.DataFrame:
    """Return the automatic « création » status entries of newly written records."""
    assert schema.status_field is not None
    return pd.DataFrame({
        "parent_uid": new["uid"].to_numpy(),
        "status": new[schema.status_field].to_numpy(),
        "changed_at": (new[schema.time_field] if schema.time_field else new["created_at"]).to_numpy(),
        "changed_by": actor or "création",
        "comment": "création",
    })


def check_changes(schema: LayerSchema, changes: Mapping[str, Any]) -> None:
    """Refuse changes of ``uid`` / ``created_at`` and of unknown fields (RecordError)."""
    forbidden = {"uid", "created_at"} & set(changes)
    if forbidden:
        name = sorted(forbidden)[0]
        raise RecordError(f"Le champ « {name} » ne peut pas être modifié.", field=name)
    for name in changes:
        if name != "geometry":
            query_field(schema, name)


@dataclass(frozen=True)
class Merged:
    """A change of one stored record, validated (see :func:`merge_changes`).

    Attributes
    ----------
    values : dict
        Column → new value of the columns to write (the changed fields, ``updated_at``,
        ``resolved_at`` when the status closes or reopens the record, ``geometry`` when
        moved), coerced as :func:`layers.validate.validate_record` returns them.
    diff : dict
        ``{field: [before, after]}`` of the fields of the change whose value really
        changed (JSON-ready values; the geometry as ``[x, y]`` in the store CRS).
    status : object
        The record's status after the change (None for a layer without status).
    before : object
        The geometry before the change (None when the change keeps it).
    """

    values: dict[str, Any]
    diff: dict[str, list[Any]]
    status: Any
    before: Any = None


def current_columns(schema: LayerSchema, changes: Mapping[str, Any]) -> list[str]:
    """Return the stored fields :func:`merge_changes` reads of the record changed by ``changes``."""
    names = [n for n in changes if n != "geometry"]
    for extra in (schema.status_field, "resolved_at"):
        if extra and extra in schema.field_names and extra not in names:
            names.append(extra)
    return names


def merge_changes(
    schema: LayerSchema, current: Mapping[str, Any], changes: Mapping[str, Any], crs: str
) -> Merged:
    """Validate ``changes`` of the stored record ``current``.

    ``current`` maps at least the fields of :func:`current_columns` (and ``geometry`` when
    the change moves the record) to their stored values, typed or as stored.

    Only the changed fields are validated, once, through the scalar entry point
    (:func:`layers.validate.validate_record`); the stored fields were validated when
    written. ``updated_at`` is set; ``resolved_at`` is set when the status becomes a closed
    one, cleared when a closed record is reopened. ``crs`` is the CRS of a new geometry.

    Raises
    ------
    RecordError
        When a changed field does not satisfy the schema.
    """
    names = set(schema.field_names)
    record = dict(changes)
    if "updated_at" in names:
        record["updated_at"] = now_iso()
    values = validate_record(record, schema, partial=True, fill_defaults=False)
    status_field = schema.status_field
    old_status = current.get(status_field) if status_field else None
    status = values.get(status_field, old_status) if status_field else None
    status_changed = bool(status_field and status_field in changes and status != old_status)
    if status_changed and "resolved_at" in names and "resolved_at" not in changes:
        closed = str(status).strip().lower() in CLOSED_STATUSES
        if closed and _missing(current.get("resolved_at")):
            values["resolved_at"] = values.get("updated_at") or now_iso()
        elif not closed:  # reopened: no longer resolved (closing again dates it anew)
            values["resolved_at"] = None
    before = current.get("geometry") if "geometry" in values else None
    return Merged(values, _diff(schema, current, values, changes), status, before)


def _plain(value: Any, kind: str) -> Any:
    """Return a JSON-ready, comparable form of a stored or validated value."""
    if value is None or (not isinstance(value, (list, dict)) and bool(pd.isna(value))):
        return None
    if kind == "date":
        return pd.Timestamp(value).date().isoformat()
    if kind == "datetime":
        return pd.Timestamp(value).isoformat()
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def _point(geom: Any) -> list[float] | None:
    if geom is None or geom.is_empty:
        return None
    c = geom.centroid
    return [round(float(c.x), 2), round(float(c.y), 2)]


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, (list, dict)) and bool(pd.isna(value)))


def _diff(schema: LayerSchema, current: Mapping[str, Any], values: Mapping[str, Any],
          changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Return ``{field: [before, after]}`` of the changed fields that really changed."""
    diff: dict[str, list[Any]] = {}
    for name in changes:
        if name == "geometry":
            before = current.get("geometry")
            after = values.get("geometry")
            same = (before is None and after is None) or (
                before is not None and after is not None and before.equals_exact(after, 0.01))
            if not same:
                diff[name] = [_point(before), _point(after)]
            continue
        kind = schema.field(name).type
        before, after = _plain(current.get(name), kind), _plain(values.get(name), kind)
        if before != after:
            diff[name] = [before, after]
    return diff


def history_row(
    schema: LayerSchema, uid: str, merged: Merged, *, actor: str | None, comment: str | None
) -> pd.DataFrame | None:
    """Return the history entry due after an update, or None when none is due.

    A status change always makes an entry. When the history table has a ``changes``
    column (the constats' « Historique »), any change does, the status repeated when it
    did not change, with ``changes`` = ``diff``.
    """
    if not schema.status_field or not schema.children:
        return None
    hist = schema.children[0]
    diff = merged.diff
    keeps_all = "changes" in {f.name for f in hist.fields}
    if schema.status_field not in diff and not (keeps_all and diff):
        return None
    row: dict[str, list[Any]] = {
        "parent_uid": [uid],
        "status": [merged.status],
        "changed_at": [merged.values.get("updated_at") or now_iso()],
        "changed_by": [actor],
        "comment": [comment],
    }
    if keeps_all:
        row["changes"] = [json.dumps(dict(diff), ensure_ascii=False)]
    return pd.DataFrame(row)


_FRAME_DTYPES = {"int": "Int64", "float": "float64", "bool": "boolean"}


def _one_child(cschema: ChildSchema, rows: pd.DataFrame) -> pd.DataFrame:
    """Validate a one-row child frame through :func:`validate_record`, typed as :func:`validate_frame` types.

    The same dtypes make the same deterministic uids (:func:`child_uids` formats values
    by dtype).
    """
    names = [f.name for f in cschema.fields]
    row = rows.iloc[0]
    try:
        one = validate_record({n: row[n] for n in names if n in rows.columns}, cschema)
    except RecordError as exc:
        raise RecordError(f"Ligne {rows.index[0]} refusée : {exc}", field=exc.field) from None
    valid = pd.DataFrame([one], index=rows.index[:1], columns=names, dtype=object)
    for f in cschema.fields:
        if f.type in _FRAME_DTYPES:
            valid[f.name] = valid[f.name].astype(pd.api.types.pandas_dtype(_FRAME_DTYPES[f.type]))
    return valid


def prepare_children(
    cschema: ChildSchema, rows: pd.DataFrame, *, source_dataset: Any, simulated: Any, unique: bool
) -> pd.DataFrame:
    """Validate child rows and give them their uid, source, flag and creation stamp.

    ``unique`` rows get a deterministic uid (the same event twice is one row); the others
    (status changes) a random one. Repeats within ``rows`` are dropped.

    Raises
    ------
    RecordError
        When a row does not satisfy the child schema.
    """
    if len(rows) == 1:  # one status change, one event: the scalar entry point
        valid = _one_child(cschema, rows)
    else:
        valid = _all_valid(rows, cschema, what="Ligne {row} refusée").copy()
    valid["parent_uid"] = rows.loc[valid.index, "parent_uid"].astype(str).to_numpy()
    names = [f.name for f in cschema.fields]
    if unique:
        valid["uid"] = child_uids(valid["parent_uid"].tolist(), valid, names)
    else:
        valid["uid"] = [uuid.uuid4().hex for _ in range(len(valid))]
    valid["source_dataset"] = aligned(source_dataset, valid.index)
    sim = aligned(simulated, valid.index)
    valid["simulated"] = [bool(v) if v is not None and not pd.isna(v) else False
                          for v in (sim if sim is not None else [None] * len(valid))]
    valid["created_at"] = now_iso()
    return valid[~valid["uid"].duplicated()]

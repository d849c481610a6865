"""GeoPackage backend of the LayerStore: the embedded default, one file per territory."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

from geo.crs import TERRITORY_CRS, resolve_crs
from layers.errors import NotFoundError, RecordError, StoreError
from layers.schema import LAYERS, ChildSchema, Field, LayerSchema
from layers.store import _gpkg
from layers.store import _gpkg_extent as _ext
from layers.store import _gpkg_rtree as _rtree
from layers.store import _gpkg_uid_index as _uidx
from layers.store._convert import child_uid, now_iso, sql_column, typed, typed_value
from layers.store._gpkg_schema import SchemaMixin, schema_fingerprint
from layers.store._records import (
    check_changes,
    copy_target,
    creation_history,
    current_columns,
    history_row,
    merge_changes,
    prepare_children,
    prepare_records,
)
from layers.store.base import LayerInfo, LayerStore, WriteResult, iter_chunks
from layers.store.filters import BoundFilter, Page, Sort, TimeLike, time_text

logger = logging.getLogger(__name__)

SCHEMA_FINGERPRINT = schema_fingerprint()
_BULK = 2000  # rows from which inserts bypass the per-row R-tree trigger
_RTREE_SLACK = 2.0  # metres: beyond float32 rounding of the R-tree
_CHUNK = 400  # bound on SQL parameters per statement (SQLite allows 32766; stay small)
_BULK_CACHE_KIB = 8_192  # SQLite page cache during an import (counted in its peak memory: kept small)


class GeoPackageStore(SchemaMixin, LayerStore):
    """LayerStore in a GeoPackage file, written through :mod:`sqlite3`.

    Parameters
    ----------
    path : str or Path
        The ``.gpkg`` file; created (with every layer table) when missing.
    crs : optional
        Store CRS for a new file (EPSG:2154 by default); an existing file keeps its own.
    create : bool
        Create the file when missing (``False`` raises StoreError instead).

    Notes
    -----
    The file follows OGC GeoPackage 1.3 with an R-tree per geometry column, so QGIS and
    GDAL read and edit it. Writes use ``BEGIN IMMEDIATE`` transactions in WAL mode;
    concurrent writers wait up to 60 s for the lock.
    """

    def __init__(self, path: str | Path, *, crs: Any = TERRITORY_CRS, create: bool = True) -> None:
        self.path = Path(path)
        exists = self.path.exists()
        if not exists and not create:
            raise StoreError(f"Entrepôt introuvable : {self.path}. Lancez « qpv initialiser ».")
        if not exists:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = sqlite3.connect(
                self.path, isolation_level=None, timeout=60, check_same_thread=False
            )
        except sqlite3.Error as exc:  # pragma: no cover - permissions, bad path
            raise StoreError(f"Impossible d'ouvrir l'entrepôt {self.path} : {exc}") from exc
        self._lock = threading.RLock()
        self._depth = 0
        self._deferred: dict[str, _ext.Bounds | None] | None = None
        # R-tree entries of an import into an empty tree, bulk-loaded once (see _flush_held)
        self._rtree_pending = _rtree.Pending()
        # unique uid indexes dropped while an import fills an empty layer (see _flush_held)
        self._uid_indexes = _uidx.DeferredUidIndexes()
        _gpkg.register_functions(self._con)
        self._con.execute("PRAGMA busy_timeout = 60000")
        if exists:
            app_id = self._con.execute("PRAGMA application_id").fetchone()[0]
            if app_id != _gpkg.GPKG_APPLICATION_ID:
                self._con.close()
                raise StoreError(f"{self.path} n'est pas un GeoPackage de la plateforme.")
            self.crs = self.get_meta("crs") or TERRITORY_CRS
        else:
            self.crs = resolve_crs(crs).to_string()
        self._srs_id = int(resolve_crs(self.crs).to_epsg() or 0)
        self._con.execute("PRAGMA journal_mode = WAL")
        # Checking every table takes a write lock: only do it when the declared schema
        # changed since this file was last brought up to date.
        if not exists or self.get_meta("schema_fingerprint") != SCHEMA_FINGERPRINT:
            self._ensure_schema(new=not exists)

    # -- life cycle -------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (checkpointing what it can of the WAL into the file)."""
        # PASSIVE: copy what it can without waiting for other connections (a TRUNCATE
        # checkpoint waits on writers: seconds per request under 16 concurrent clients)
        with contextlib.suppress(sqlite3.Error):
            self._con.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one atomic transaction (re-entrant)."""
        with self._lock:
            if self._depth == 0:
                self._con.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._con.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if self._depth == 0:
                    self._con.execute("COMMIT")

    @contextlib.contextmanager
    def bulk_transaction(self) -> Iterator[None]:
        """One transaction for the many writes of an import (see :meth:`LayerStore.bulk_transaction`).

        The layers' extents (``gpkg_contents``) are refreshed once, at the end, and SQLite
        gets a page cache of :data:`_BULK_CACHE_KIB` for the time of the writes.
        """
        with self._lock:
            outer = self._deferred is None
            if outer:
                self._deferred = {}
                self._rtree_pending.start()
                self._uid_indexes.start()
                cache = self._con.execute("PRAGMA cache_size").fetchone()[0]
                self._con.execute(f"PRAGMA cache_size = -{_BULK_CACHE_KIB}")
            try:
                with self.transaction():
                    yield
                    if outer:
                        self._flush_held()
                        for table, grow in sorted((self._deferred or {}).items()):
                            self._touch(table, grow, exact=True)
            finally:
                if outer:
                    self._deferred = None
                    self._rtree_pending.stop()  # nothing held unless the transaction was rolled back
                    self._uid_indexes.stop()
                    self._con.execute(f"PRAGMA cache_size = {int(cache)}")

    # -- meta -------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """Return a store setting."""
        row = self._con.execute("SELECT value FROM qpv_meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._con.execute("INSERT OR REPLACE INTO qpv_meta VALUES (?, ?)", (key, value))

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        with self.transaction():
            self._set_meta(key, value)

    # -- reading ----------------------------------------------------------------
    def _clauses(self, flt: BoundFilter) -> tuple[list[str], list[Any], Any]:
        """Return the SQL conditions and parameters of a filter, and its bbox as a shapely box."""
        clauses: list[str] = []
        params: list[Any] = []
        geom_box = None
        if flt.bbox is not None:
            xmin, ymin, xmax, ymax = flt.bbox
            geom_box = box(xmin, ymin, xmax, ymax)
            # The query is driven by the R-tree (joined as ``r``). It keeps 32-bit floats
            # rounded outwards (about 0.5 m at Lambert-93 magnitudes): candidates well
            # inside an inner box are in for sure, the few near the edges get an exact
            # envelope test on the geometry.
            m = _RTREE_SLACK
            clauses.append(
                "r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ? AND ("
                "(r.minx >= ? AND r.maxx <= ? AND r.miny >= ? AND r.maxy <= ?) OR ("
                "ST_MaxX(geom) >= ? AND ST_MinX(geom) <= ? AND ST_MaxY(geom) >= ? "
                "AND ST_MinY(geom) <= ?))"
            )
            params += [xmax, xmin, ymax, ymin, xmin + m, xmax - m, ymin + m, ymax - m,
                       xmin, xmax, ymin, ymax]
        if flt.time_field is not None:
            if flt.start is not None:
                clauses.append(f'"{flt.time_field.name}" >= ?')
                params.append(flt.start)
            if flt.end is not None:
                clauses.append(f'"{flt.time_field.name}" < ?')
                params.append(flt.end)
        for f, value in flt.where:
            values = list(value) if isinstance(value, (list, tuple, set)) else [value]
            non_null = [self._sql_value(f, v) for v in values if v is not None]
            parts = []
            if non_null:
                parts.append(f'"{f.name}" IN ({", ".join("?" * len(non_null))})')
                params += non_null
            if len(non_null) < len(values):
                parts.append(f'"{f.name}" IS NULL')
            clauses.append("(" + " OR ".join(parts) + ")" if parts else "0")
        for f, bound in flt.before:  # dates are ISO text: compared as text, NULL never before
            clauses.append(f'"{f.name}" < ?')
            params.append(bound)
        if flt.uids is not None:
            clauses.append(f"uid IN ({', '.join('?' * len(flt.uids))})" if flt.uids else "0")
            params += list(flt.uids)
        return clauses, params, geom_box

    @staticmethod
    def _sql_value(f: Field, value: Any) -> Any:
        if f.type == "bool":
            if isinstance(value, str):
                return int(value.strip().lower() in {"1", "true", "vrai", "oui"})
            return int(bool(value))
        if f.type in ("int", "float"):
            try:
                return float(value) if f.type == "float" else int(value)
            except (TypeError, ValueError):
                raise RecordError(f"« {f.name} » : nombre attendu.", field=f.name) from None
        return str(value)

    def _read(self, flt: BoundFilter, page: Page, *, crs: Any = None) -> gpd.GeoDataFrame:
        """Read records (see :meth:`LayerStore.read`)."""
        sql, params, geom_box = self._read_sql(flt, page)
        rows = self._con.execute(sql, params).fetchall()
        return self._read_frame(flt, rows, geom_box, crs)

    def _read_pages(self, flt: BoundFilter, size: int, *, crs: Any = None) -> Iterator[gpd.GeoDataFrame]:
        """Frames of :meth:`LayerStore.read_pages`: one statement, fetched ``size`` rows at a time.

        The statement reads one snapshot of the file (WAL): writes committed meanwhile by
        other connections are not seen, none is skipped or repeated.
        """
        sql, params, geom_box = self._read_sql(flt, Page())
        cur = self._con.execute(sql, params)
        try:
            first = True
            while True:
                rows = cur.fetchmany(size)
                if rows or first:
                    yield self._read_frame(flt, rows, geom_box, crs)
                if len(rows) < size:
                    return
                first = False
        finally:
            cur.close()

    def _read_sql(self, flt: BoundFilter, page: Page) -> tuple[str, list[Any], Any]:
        """Return the SELECT of :meth:`_read`, its parameters and the bbox as a shapely box."""
        self._flush_held()
        schema, layer = flt.schema, flt.layer
        clauses, params, geom_box = self._clauses(flt)
        cols = ", ".join(f'"{n}"' for n in schema.field_names)
        geom_col = ", geom" if schema.geometry is not None else ""
        sql = f'SELECT {cols}{geom_col} FROM {self._source(layer, geom_box)}'
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += self._order(page.sort(schema), spatial_page=geom_box is not None and page.bounded)
        if page.bounded:
            sql += " LIMIT ? OFFSET ?"
            params += [int(page.limit) if page.limit is not None else -1, int(page.offset)]
        return sql, params, geom_box

    def _read_frame(self, flt: BoundFilter, rows: list[tuple[Any, ...]], geom_box: Any,
                    crs: Any) -> gpd.GeoDataFrame:
        """Typed frame of the rows of :meth:`_read_sql` (exact bbox test, output CRS)."""
        schema = flt.schema
        frame = self._frame(schema, rows, schema.field_names)
        if geom_box is not None and schema.geometry != "Point" and len(frame):
            frame = frame[frame.intersects(geom_box)].reset_index(drop=True)
        if crs is not None:
            frame = frame.to_crs(resolve_crs(crs))
        return frame

    @staticmethod
    def _rtree_bbox_clause(layer: str) -> str:
        """Exact bbox test on the R-tree ``r`` alone; geometries read only near the edges."""
        return (
            "r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ? AND ("
            "(r.minx >= ? AND r.maxx <= ? AND r.miny >= ? AND r.maxy <= ?) OR EXISTS ("
            f'SELECT 1 FROM "{layer}" t WHERE t.fid = r.id AND ST_MaxX(t.geom) >= ? '
            "AND ST_MinX(t.geom) <= ? AND ST_MaxY(t.geom) >= ? AND ST_MinY(t.geom) <= ?))"
        )

    @staticmethod
    def _rtree_bbox_params(geom_box: Any) -> list[float]:
        xmin, ymin, xmax, ymax = geom_box.bounds
        m = _RTREE_SLACK
        return [xmax, xmin, ymax, ymin, xmin + m, xmax - m, ymin + m, ymax - m, xmin, xmax, ymin, ymax]

    @staticmethod
    def _source(layer: str, spatial: object) -> str:
        """FROM clause: the table, driven by its R-tree (alias ``r``) for spatial queries."""
        if spatial is None or spatial is False:
            return f'"{layer}"'
        return f'"rtree_{layer}_geom" r JOIN "{layer}" ON "{layer}".fid = r.id'

    @staticmethod
    def _order(sort: Sort | None, *, spatial_page: bool = False) -> str:
        if sort is None:
            # Insertion order, as on PostGIS: results never depend on the R-tree's shape (a
            # bulk-loaded tree lists the same rows in another order). A bounded spatial page
            # comes in R-tree order (stable while the store is unchanged), read until full.
            return "" if spatial_page else ' ORDER BY "fid"'
        return f' ORDER BY "{sort.field.name}" {sort.direction}, fid'

    def _frame(self, schema: LayerSchema, rows: list[tuple[Any, ...]], names: list[str]) -> gpd.GeoDataFrame:
        # object dtype: text stays Python str / None (no pandas string inference)
        frame = pd.DataFrame(rows, columns=[*names, "geom"] if schema.geometry else names, dtype=object)
        blobs = frame.pop("geom").tolist() if schema.geometry else None
        for f in schema.all_fields:
            if f.type != "str" and f.type != "json":  # text columns come out as objects already
                frame[f.name] = typed(frame[f.name], f)
        geoms = _gpkg.decode(blobs) if blobs is not None else [None] * len(frame)
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=self.crs)

    def _count(self, flt: BoundFilter, *, at_most: int | None = None) -> int:
        """Count records (see :meth:`LayerStore.count`)."""
        self._flush_held()
        layer = flt.layer
        clauses, params, geom_box = self._clauses(flt)
        if geom_box is not None and flt.schema.geometry != "Point":
            return len(self._read(flt, Page()))
        if geom_box is not None and not flt.by_attributes:
            # bbox alone: count on the R-tree, reading geometries only near the edges
            sql = f'SELECT 1 FROM "rtree_{layer}_geom" r WHERE ' + self._rtree_bbox_clause(layer)
            params = self._rtree_bbox_params(geom_box)
        else:
            sql = f"SELECT 1 FROM {self._source(layer, geom_box)}"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
        if at_most is not None:
            sql += " LIMIT ?"
            params = [*params, int(at_most)]
        return int(self._con.execute(f"SELECT COUNT(*) FROM ({sql})", params).fetchone()[0])

    def _cluster(self, flt: BoundFilter, *, cell_m: float) -> pd.DataFrame:
        """Grid clusters computed in SQL on the R-tree (see :meth:`LayerStore.cluster`)."""
        self._flush_held()
        layer = flt.layer
        if flt.schema.geometry is None or cell_m <= 0:
            return super()._cluster(flt, cell_m=cell_m)
        clauses, params, geom_box = self._clauses(flt)
        cx, cy = "(r.minx + r.maxx) * 0.5", "(r.miny + r.maxy) * 0.5"
        sql = (
            f"SELECT CAST({cx} / ? AS INTEGER) AS gx, CAST({cy} / ? AS INTEGER) AS gy, COUNT(*), "
            f"AVG({cx}), AVG({cy}), MIN(r.minx), MIN(r.miny), MAX(r.maxx), MAX(r.maxy) "
        )
        if not flt.by_attributes:
            # no attribute filter: aggregate the R-tree alone (the edges checked as in count)
            if geom_box is None:
                sql += f'FROM "rtree_{layer}_geom" r'
            else:
                sql += f'FROM "rtree_{layer}_geom" r WHERE ' + self._rtree_bbox_clause(layer)
                params = self._rtree_bbox_params(geom_box)
        else:
            if geom_box is None:  # the aggregate reads the envelopes from the R-tree
                clauses.append("r.id IS NOT NULL")
            sql += f"FROM {self._source(layer, True)}"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
        sql += " GROUP BY gx, gy"
        rows = self._con.execute(sql, [float(cell_m), float(cell_m), *params]).fetchall()
        return pd.DataFrame(
            [r[2:] for r in rows], columns=["count", "x", "y", "xmin", "ymin", "xmax", "ymax"]
        )

    def _points(self, flt: BoundFilter, *, fields: tuple[str, ...], limit: int | None) -> pd.DataFrame:
        """Narrow read of point records (see :meth:`LayerStore.points`): the fields and the point.

        The query of :meth:`_read` (same filters, same order), selecting only ``fields`` and
        the geometry, typed as :meth:`_frame` types them; other geometries read whole.
        """
        self._flush_held()
        schema, layer = flt.schema, flt.layer
        if schema.geometry != "Point":
            return super()._points(flt, fields=fields, limit=limit)
        clauses, params, geom_box = self._clauses(flt)
        cols = ", ".join(f'"{layer}"."{n}"' for n in fields)
        sql = f'SELECT {cols}{", " if cols else ""}"{layer}".geom FROM {self._source(layer, geom_box)}'
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += self._order(None, spatial_page=geom_box is not None and limit is not None)
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, int(limit)]
        rows = self._con.execute(sql, params).fetchall()
        frame = pd.DataFrame(rows, columns=[*fields, "geom"], dtype=object)
        for name in fields:
            f = schema.field(name)
            if f.type != "str" and f.type != "json":
                frame[name] = typed(frame[name], f)
        frame["x"], frame["y"] = _gpkg.point_xy(frame.pop("geom").tolist())
        return frame

    def layers(self) -> list[LayerInfo]:
        """Summarise every layer (extents as kept by the writes, recomputed only when stale)."""
        rows = {}
        for schema in LAYERS.values():
            t = schema.name
            count, simulated = self._con.execute(
                f'SELECT COUNT(*), COALESCE(SUM(simulated), 0) FROM "{t}"'
            ).fetchone()
            tmin = tmax = None
            if schema.time_field and count:
                tmin, tmax = self._con.execute(
                    f'SELECT MIN("{schema.time_field}"), MAX("{schema.time_field}") FROM "{t}"'
                ).fetchone()
            rows[t] = (int(count), int(simulated), tmin, tmax)
        extents = self._extents([s.name for s in LAYERS.values() if s.geometry and rows[s.name][0]])
        return [LayerInfo(s.name, s.label, rows[s.name][0], extents.get(s.name), rows[s.name][2],
                          rows[s.name][3], s.confidential, s.reference, rows[s.name][1])
                for s in LAYERS.values()]

    def _extents(self, tables: Sequence[str]) -> dict[str, _ext.Bounds | None]:
        """Return the extents of non-empty layers, recomputing (and storing) those marked stale."""
        self._flush_held()
        with self._lock:
            stored = _ext.stored_extents(self._con, tables)
            upgraded = self.get_meta(_ext.EXTENTS_META) is not None
            stale = _ext.stale_tables(self._con)
            todo = [t for t in tables if not upgraded or t in stale or stored[t] is None]
            if not todo:
                return stored
            try:
                with self.transaction():
                    for t in todo:
                        stored[t] = _ext.recompute(self._con, t)
                    if not upgraded:
                        self._set_meta(_ext.EXTENTS_META, "1")
            except sqlite3.OperationalError:  # a read-only file: computed, not kept
                for t in todo:
                    b = self._con.execute(f'SELECT MIN(minx), MIN(miny), MAX(maxx), MAX(maxy) '
                                          f'FROM "rtree_{t}_geom"').fetchone()
                    stored[t] = None if b[0] is None else tuple(float(v) for v in b)  # type: ignore[assignment]
            return stored

    def layer_revision(self, layers: Sequence[str]) -> str | None:
        """Return a marker that changes whenever records of ``layers`` change (see base)."""
        for name in layers:
            self.schema(name)
        return _ext.revision(self._con, list(layers))

    # -- writing ----------------------------------------------------------------
    def write(
        self,
        layer: str,
        records: gpd.GeoDataFrame,
        *,
        actor: str | None = None,
        validated: bool = False,
        history: pd.DataFrame | None = None,
    ) -> WriteResult:
        """Insert records; existing uids are skipped (see :meth:`LayerStore.write`)."""
        schema = self.schema(layer)
        valid, dup_in_batch = prepare_records(schema, records, self.crs, validated=validated)
        batch = valid[~dup_in_batch]
        with self.transaction():
            existing = self._existing_uids(layer, batch["uid"].tolist())
            new = batch[~batch["uid"].isin(existing)]
            if len(new):
                self._insert(schema.name, schema.all_fields, new,
                             geometry=schema.geometry is not None)
                if schema.status_field and history is not None:
                    known = history[history["parent_uid"].isin(new["uid"])]
                    self._add_children_unchecked(schema, schema.children[0], known,
                                                 source_dataset=None, simulated=None)
                    new_without = new[~new["uid"].isin(known["parent_uid"])]
                else:
                    new_without = new
                if schema.status_field and len(new_without):
                    self._add_children_unchecked(
                        schema, schema.children[0], creation_history(schema, new_without, actor),
                        source_dataset=None, simulated=new_without["simulated"].reset_index(drop=True))
                geoms = new.geometry.to_numpy() if schema.geometry is not None else None
                grow = _ext.total_bounds(geoms) if geoms is not None else None
                if self._deferred is not None:  # inside bulk_transaction: once at its end
                    self._deferred[schema.name] = _ext.union_bounds(self._deferred.get(schema.name), grow)
                else:
                    self._touch(schema.name, grow, exact=True)
        return WriteResult(
            inserted=new["uid"].tolist(),
            existing=[*(u for u in batch["uid"] if u in existing), *valid.loc[dup_in_batch, "uid"]],
        )

    def _existing_uids(self, table: str, uids: list[str]) -> set[str]:
        held = self._uid_indexes.existing(self._con, table, uids)
        if held is not None:  # an import fills this table, its uid index deferred
            return held
        if len(uids) > _CHUNK:  # one statement for a whole block: the uids as one JSON array
            q = f'SELECT uid FROM "{table}" WHERE uid IN (SELECT value FROM json_each(?))'
            return {r[0] for r in self._con.execute(q, (json.dumps(uids),))}
        found: set[str] = set()
        for sl in iter_chunks(len(uids), _CHUNK):
            part = uids[sl]
            q = f'SELECT uid FROM "{table}" WHERE uid IN ({", ".join("?" * len(part))})'
            found.update(r[0] for r in self._con.execute(q, part))
        return found

    def _insert(self, table: str, fields: Sequence[Field], frame: pd.DataFrame, *, geometry: bool) -> None:
        names = [f.name for f in fields]
        columns = [sql_column(frame[n] if n in frame else pd.Series([None] * len(frame)), f)
                   for n, f in zip(names, fields, strict=True)]
        placeholders = ", ".join("?" * (len(names) + int(geometry)))
        col_sql = ", ".join(f'"{n}"' for n in names) + (", geom" if geometry else "")
        insert = f'INSERT INTO "{table}" ({col_sql}) VALUES ({placeholders})'
        if not geometry:
            self._con.executemany(insert, zip(*columns, strict=True))
            return
        geoms = frame.geometry.to_numpy()
        columns.append(_gpkg.encode(geoms, self._srs_id))
        if len(frame) < _BULK:
            self._flush_held(table)  # the trigger writes into the tree: bulk-load what is held first
            self._con.executemany(insert, zip(*columns, strict=True))
            return
        # Bulk path: the R-tree insert trigger calls Python once per row and bound; inside
        # this transaction, drop it, insert, index the rows from vectorised bounds, and
        # put the trigger back (SQLite DDL is transactional).
        trigger = f"rtree_{table}_geom_insert"
        ddl = self._con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trigger,)
        ).fetchone()
        self._con.execute(f'DROP TRIGGER IF EXISTS "{trigger}"')
        first = self._con.execute(f'SELECT COALESCE(MAX(fid), 0) FROM "{table}"').fetchone()[0]
        if first == 0:  # an empty layer (fids start at 1): its uid index may wait for the end
            self._uid_indexes.defer(self._con, table)
        self._con.executemany(insert, zip(*columns, strict=True))
        self._uid_indexes.added(table, frame["uid"].astype(str).tolist())
        fids = np.fromiter((r[0] for r in self._con.execute(
            f'SELECT fid FROM "{table}" WHERE fid > ? ORDER BY fid', (first,))), dtype=np.int64)
        self._rtree_pending.index(self._con, table, fids, shapely.bounds(geoms))
        if ddl is not None:
            self._con.execute(ddl[0])

    def _flush_held(self, table: str | None = None) -> None:
        """Bulk-load what an import holds (R-tree entries, uid indexes) before anything reads."""
        self._rtree_pending.flush(self._con, table)
        try:
            self._uid_indexes.flush(self._con, table)
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"Identifiant (uid) en double dans la couche {table or ''} : "
                             "import annulé.") from exc

    def _touch(self, table: str, grow: _ext.Bounds | None = None, *, exact: bool = False) -> None:
        """Record a write to ``table`` (revision, ``last_change``), its extent grown by ``grow``.

        ``exact``: ``grow`` bounds every geometry written; otherwise (a caller that does not
        know what it wrote) the extent is marked stale, recomputed when next read.
        """
        _ext.touch(self._con, table, grow)
        if not exact:
            _ext.mark_stale(self._con, table)

    def update(
        self,
        layer: str,
        uid: str,
        changes: Mapping[str, Any],
        *,
        actor: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Change fields of a record, keeping its status history."""
        self._flush_held()
        schema = self.schema(layer)
        check_changes(schema, changes)
        with self.transaction():
            merged = merge_changes(schema, self._current(schema, uid, changes), changes, self.crs)
            names = [n for n in merged.values if n != "geometry"]
            values = [sql_column(pd.Series([merged.values[n]], dtype=object), schema.field(n))[0]
                      for n in names]
            sets = [f'"{n}" = ?' for n in names]
            grow = None
            if schema.geometry is not None and "geometry" in merged.values:
                geoms = np.array([merged.values["geometry"]], dtype=object)
                sets.append("geom = ?")
                values.append(_gpkg.encode(geoms, self._srs_id)[0])
                grow = _ext.total_bounds(geoms)
                old = merged.before
                if old is not None and not old.is_empty and _ext.on_edge(self._con, layer, old.bounds):
                    _ext.mark_stale(self._con, layer)  # moved from the edge: may shrink
            self._con.execute(f'UPDATE "{layer}" SET {", ".join(sets)} WHERE uid = ?', [*values, uid])
            hist = history_row(schema, uid, merged, actor=actor, comment=comment)
            if hist is not None:
                self._add_children_unchecked(schema, schema.children[0], hist,
                                             source_dataset=None, simulated=None, unique=False)
            self._touch(layer, grow, exact=True)

    def _current(self, schema: LayerSchema, uid: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Return the stored values :func:`merge_changes` reads of record ``uid`` (NotFoundError)."""
        names = current_columns(schema, changes)
        moved = schema.geometry is not None and "geometry" in changes
        cols = ", ".join([*(f'"{n}"' for n in names), *(["geom"] if moved else []), "1"])
        row = self._con.execute(f'SELECT {cols} FROM "{schema.name}" WHERE uid = ?', (uid,)).fetchone()
        if row is None:
            raise NotFoundError(f"Aucun enregistrement « {uid} » dans la couche « {schema.name} ».")
        current = dict(zip(names, row, strict=False))
        if moved:
            current["geometry"] = _gpkg.decode([row[len(names)]])[0]
        return current

    def get_record(self, layer: str, uid: str) -> dict[str, Any]:
        """Return record ``uid`` as the row of :meth:`get` gives it, read by one SELECT (NotFoundError)."""
        schema = self.schema(layer)
        cols = ", ".join([*(f'"{n}"' for n in schema.field_names), "geom" if schema.geometry else "NULL"])
        row = self._con.execute(f'SELECT {cols} FROM "{schema.name}" WHERE uid = ?', (uid,)).fetchone()
        if row is None:
            raise NotFoundError(f"Aucun enregistrement « {uid} » dans la couche « {layer} ».")
        record = {f.name: typed_value(v, f) for f, v in zip(schema.all_fields, row, strict=False)}
        record["geometry"] = _gpkg.decode([row[-1]])[0] if schema.geometry else None
        return record

    def delete(self, layer: str, uids: Sequence[str]) -> int:
        """Delete records and their child rows."""
        self._flush_held()
        schema = self.schema(layer)
        uids = list(uids)
        deleted = 0
        with self.transaction():
            for sl in iter_chunks(len(uids), _CHUNK):
                part = uids[sl]
                marks = ", ".join("?" * len(part))
                for child in schema.children:
                    self._con.execute(
                        f'DELETE FROM "{self._child_table(schema, child)}" WHERE parent_uid IN ({marks})',
                        part,
                    )
                cur = self._con.execute(f'DELETE FROM "{layer}" WHERE uid IN ({marks})', part)
                deleted += cur.rowcount
            if deleted:
                self._touch(layer, None, exact=schema.geometry is None)  # may shrink: stale
        return deleted

    def delete_children(self, layer: str, child: str, uids: Sequence[str]) -> int:
        """Delete child rows by their uid (see :meth:`LayerStore.delete_children`)."""
        schema = self.schema(layer)
        table = self._child_table(schema, schema.child(child))
        uids = [str(u) for u in uids]
        deleted = 0
        with self.transaction():
            for sl in iter_chunks(len(uids), _CHUNK):
                part = uids[sl]
                marks = ", ".join("?" * len(part))
                cur = self._con.execute(f'DELETE FROM "{table}" WHERE uid IN ({marks})', part)
                deleted += cur.rowcount
        return deleted

    def optimize(self, layers: Sequence[str] | None = None) -> list[str]:
        """Refresh SQLite's planner statistics and fold the WAL into the file.

        See :meth:`LayerStore.optimize`; records are already laid out by the R-tree queries.
        """
        self._flush_held()
        names = list(layers) if layers is not None else list(LAYERS)
        for name in names:
            self.schema(name)
        with self._lock:
            self._con.execute("ANALYZE")
            self._con.execute("PRAGMA optimize")
            stale = _ext.stale_tables(self._con) & set(names)
            if stale:
                with self.transaction():
                    for name in sorted(stale):
                        _ext.recompute(self._con, name)
            with contextlib.suppress(sqlite3.Error):
                self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return []

    # -- children -----------------------------------------------------------------
    def add_children(
        self, layer: str, child: str, rows: pd.DataFrame, *, actor: str | None = None
    ) -> WriteResult:
        """Insert dated child rows (see :meth:`LayerStore.add_children`)."""
        schema = self.schema(layer)
        cschema = schema.child(child)
        if "parent_uid" not in rows:
            raise RecordError("Colonne « parent_uid » manquante.", field="parent_uid")
        with self.transaction():
            parents = rows["parent_uid"].astype("string").tolist()
            known = self._existing_uids(layer, sorted({p for p in parents if p}))
            unknown = [p for p in parents if p not in known]
            if unknown:
                raise NotFoundError(f"Aucun enregistrement « {unknown[0]} » dans « {layer} ».")
            return self._add_children_unchecked(
                schema, cschema, rows, source_dataset=rows.get("source_dataset"),
                simulated=rows.get("simulated"),
            )

    def _add_children_unchecked(
        self, schema: LayerSchema, cschema: ChildSchema, rows: pd.DataFrame, *,
        source_dataset: Any, simulated: Any, unique: bool = True,
    ) -> WriteResult:
        valid = prepare_children(cschema, rows, source_dataset=source_dataset, simulated=simulated,
                                 unique=unique)
        table = self._child_table(schema, cschema)
        existing = self._existing_uids(table, valid["uid"].tolist())
        new = valid[~valid["uid"].isin(existing)]
        if len(new):
            self._insert(table, self._child_fields(cschema), new, geometry=False)
        return WriteResult(inserted=new["uid"].tolist(), existing=sorted(existing))

    def read_children(
        self,
        layer: str,
        child: str,
        *,
        parent_uids: Sequence[str] | None = None,
        start: TimeLike = None,
        end: TimeLike = None,
    ) -> pd.DataFrame:
        """Read child rows (see :meth:`LayerStore.read_children`)."""
        schema = self.schema(layer)
        cschema = schema.child(child)
        fields = self._child_fields(cschema)
        names = [f.name for f in fields]
        clauses: list[str] = []
        params: list[Any] = []
        if parent_uids is not None:
            clauses.append(f"parent_uid IN ({', '.join('?' * len(parent_uids))})" if parent_uids else "0")
            params += list(parent_uids)
        if start is not None:
            clauses.append(f'"{cschema.time_field}" >= ?')
            params.append(time_text(start))
        if end is not None:
            clauses.append(f'"{cschema.time_field}" < ?')
            params.append(time_text(end))
        columns = ", ".join(f'"{n}"' for n in names)
        sql = f'SELECT {columns} FROM "{self._child_table(schema, cschema)}"'
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f' ORDER BY parent_uid, "{cschema.time_field}", fid'
        rows = self._con.execute(sql, params).fetchall()
        frame = pd.DataFrame(rows, columns=names)
        for f in fields:
            frame[f.name] = typed(frame[f.name], f)
        return frame

    # -- copies -------------------------------------------------------------------------
    def copy_rows(self, layer: str, rows: pd.DataFrame, *, child: str | None = None) -> int:
        """Insert rows as read from another store (see :meth:`LayerStore.copy_rows`)."""
        self._flush_held()
        schema = self.schema(layer)
        table, fields, geometry, rows = copy_target(schema, child, rows, self.crs)
        with self.transaction():
            existing = self._existing_uids(table, rows["uid"].astype(str).tolist())
            new = rows[~rows["uid"].isin(existing)]
            if len(new):
                self._insert(table, fields, new, geometry=geometry)
                if geometry:
                    self._touch(table, _ext.total_bounds(new.geometry.to_numpy()), exact=True)
        return len(new)

    def meta(self) -> dict[str, str]:
        """Every store setting."""
        return dict(self._con.execute("SELECT key, value FROM qpv_meta ORDER BY key").fetchall())

    # -- import log -------------------------------------------------------------------
    def record_import(self, entry: Mapping[str, Any]) -> None:
        """Append an entry to the import log."""
        cols = [c for c in self._columns("qpv_imports") if c != "id" and c in entry]
        with self.transaction():
            self._con.execute(
                f'INSERT INTO qpv_imports ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
                [entry[c] for c in cols],
            )

    def imports(self) -> pd.DataFrame:
        """Return the import log."""
        cur = self._con.execute("SELECT * FROM qpv_imports ORDER BY id")
        return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


__all__ = ["GeoPackageStore", "child_uid", "now_iso"]

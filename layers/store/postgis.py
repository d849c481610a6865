"""PostGIS backend of the LayerStore: one schema of a PostgreSQL database per territory.

The observable behaviour is the GeoPackage backend's (same frames, dtypes, exceptions,
idempotence and histories); the storage is PostgreSQL's: real column types, a GiST index
per geometry, ``COPY`` for bulk writes, row locks for concurrent updates.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import TERRITORY_CRS, resolve_crs
from layers.errors import NotFoundError, RecordError, StoreError
from layers.schema import LAYERS, ChildSchema, Field, LayerSchema
from layers.store._convert import typed, typed_value
from layers.store._gpkg_schema import schema_fingerprint
from layers.store._postgis_conn import get_pool, lend, parse_url, quote_ident, require_psycopg
from layers.store._postgis_schema import (
    CHANGES_SEQUENCE,
    IMPORT_COLUMNS,
    LAYER_SEQUENCE_PREFIX,
    ensure_schema,
    schema_exists,
)
from layers.store._postgis_sql import (
    array_type,
    copy_insert,
    copy_new,
    filter_value,
    pg_column,
    time_bound,
    wkb_column,
)
from layers.store._records import (
    check_changes,
    child_fields,
    child_table,
    copy_target,
    creation_history,
    history_row,
    merge_changes,
    prepare_children,
    prepare_records,
)
from layers.store.base import LayerInfo, LayerStore, WriteResult
from layers.store.filters import BoundFilter, Page, RecordFilter, Sort, TimeLike

logger = logging.getLogger(__name__)

# metres: beyond the float32 rounding of GiST boxes in Lambert-93 (< 1 m at y = 7,200,000)
_POINT_SLACK = 2.0

SCHEMA_FINGERPRINT = schema_fingerprint()
_SMALL = 100  # rows up to which an INSERT ... VALUES beats COPY through a temporary table
_RETRIES = 3  # deadlocks between writers of the same uids in different orders


class PostGISStore(LayerStore):
    """LayerStore in a schema of a PostgreSQL / PostGIS database.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/base?schema=NAME`` (schema ``qpv`` by
        default).
    crs : optional
        Store CRS for a new store (EPSG:2154 by default); an existing one keeps its own.
    create : bool
        Create the schema and its tables when missing (``False`` raises StoreError).

    Raises
    ------
    StoreError
        When the database cannot be reached, has no PostGIS, or the store is missing
        and ``create`` is false.

    Notes
    -----
    The store holds one connection of the process-wide pool of its database from opening
    to :meth:`close`; opening is cheap (the web app opens a store per request).
    """

    def __init__(self, url: str, *, crs: Any = TERRITORY_CRS, create: bool = True) -> None:
        psycopg = require_psycopg()
        from psycopg_pool import PoolTimeout

        self.url = str(url)
        self._target = parse_url(self.url)
        self._ns = quote_ident(self._target.schema)
        self._lock = threading.RLock()
        self._depth = 0
        self._pool = get_pool(self._target.conninfo)
        self._pid = os.getpid()
        try:
            self._con = lend(self._pool.getconn(timeout=30.0))
        except (PoolTimeout, psycopg.Error) as exc:
            raise StoreError(
                f"Impossible de se connecter à la base {self._target.display} : {exc}"
            ) from exc
        self._closed = False
        try:
            with self._errors():
                self._open(crs, create)
        except BaseException:
            self.close()
            raise

    def _open(self, crs: Any, create: bool) -> None:
        with self._con.cursor() as cur:
            exists = schema_exists(cur, self._target.schema)
            if not exists and not create:
                raise StoreError(
                    f"Entrepôt introuvable : {self._target.display}. Lancez « qpv initialiser »."
                )
            meta: dict[str, str] = {}
            if exists:
                cur.execute(f"SELECT key, value FROM {self._ns}.qpv_meta "
                            "WHERE key IN ('crs', 'schema_fingerprint')")
                meta = {k: v for k, v in cur.fetchall()}
                self.crs = meta.get("crs") or TERRITORY_CRS
            else:
                self.crs = resolve_crs(crs).to_string()
            self._srid = int(resolve_crs(self.crs).to_epsg() or 0)
            if exists and meta.get("schema_fingerprint") == SCHEMA_FINGERPRINT:
                return
            cur.execute("SELECT to_regtype('geometry') IS NOT NULL")
            row = cur.fetchone()
            if not (row and row[0]):
                raise StoreError(
                    f"L'extension PostGIS n'est pas installée dans la base {self._target.display} "
                    "(CREATE EXTENSION postgis)."
                )
            with self._con.transaction():
                ensure_schema(cur, self._target.schema, self._srid, self.crs, new=not exists)
        logger.info("PostGIS store ready: %s", self._target.display)

    # -- life cycle -------------------------------------------------------------
    def close(self) -> None:
        """Give the connection back to the pool."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        if self._pool.closed or os.getpid() != self._pid:
            return  # opened before a fork, or at exit: the connection is not ours to return
        self._pool.putconn(self._con)

    def __del__(self) -> None:
        """Give the connection back when the store is dropped without close()."""
        # a store dropped without close() must not keep its pooled connection forever
        with contextlib.suppress(Exception):
            self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one atomic transaction (re-entrant: inner levels are savepoints).

        Like the GeoPackage's ``BEGIN IMMEDIATE``, an explicit transaction is serialised with
        every other write to the same store (an exclusive transaction-level advisory lock
        keyed by the schema), so a read-then-update inside it never loses an update. Single
        writes (:meth:`write`, :meth:`update`…) outside one only take that lock in shared
        mode: they run side by side, serialised per record by row locks.
        """
        with self._writing(exclusive=True):
            yield

    @contextlib.contextmanager
    def _writing(self, *, exclusive: bool = False) -> Iterator[None]:
        """Return the transaction of one write call (shared store lock) or of :meth:`transaction`."""
        with self._lock, self._errors(), self._con.transaction():
            if self._depth == 0:
                lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
                self._con.execute(f"SELECT {lock}(hashtextextended(%s, 0))",
                                  (f"qpv-store:{self._target.schema}",))
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn database errors into RecordError (bad values) or StoreError (French)."""
        psycopg = require_psycopg()
        try:
            yield
        except psycopg.errors.DataError as exc:
            raise RecordError(f"Valeur refusée par la base de données : {exc}") from exc
        except psycopg.Error as exc:
            raise StoreError(
                f"Erreur de la base de données ({self._target.display}) : {exc}"
            ) from exc

    def _table(self, name: str) -> str:
        return f"{self._ns}.{quote_ident(name)}"

    def _bump(self, cur: Any, layer: str) -> None:
        """Count a write to ``layer``: the store's revision and the layer's (when kept)."""
        # nextval is not transactional and never waits: concurrent writers do not queue here;
        # a store created before per-layer counters has none (NULL: nothing counted)
        cur.execute("SELECT nextval(%s::regclass), nextval(to_regclass(%s))",
                    (f"{self._ns}.{CHANGES_SEQUENCE}", self._layer_sequence(layer)))

    def _layer_sequence(self, layer: str) -> str:
        return f"{self._ns}.{quote_ident(LAYER_SEQUENCE_PREFIX + layer)}"

    def revision(self) -> str | None:
        """Return a marker that changes whenever records are written, updated or deleted."""
        with self._lock, self._errors(), self._con.cursor() as cur:
            cur.execute(f"SELECT last_value, is_called FROM {self._ns}.{CHANGES_SEQUENCE}")
            row = cur.fetchone()
        return f"{row[0]}:{row[1]}" if row else None

    def layer_revision(self, layers: Sequence[str]) -> str | None:
        """Return a marker that changes whenever records of ``layers`` change (see base).

        The per-layer counters; a store whose schema predates them answers the store's
        :meth:`revision` (any write), never a marker that could miss a change.
        """
        names = list(layers)
        for name in names:
            self.schema(name)
        with self._lock, self._errors(), self._con.cursor() as cur:
            cur.execute("SELECT count(*) FROM unnest(%s::text[]) AS s(name) WHERE to_regclass(name) IS NULL",
                        ([self._layer_sequence(n) for n in names],))
            row = cur.fetchone()
            missing = row is None or bool(row[0])
            if not missing:
                cur.execute(" UNION ALL ".join(
                    f"SELECT %s, last_value, is_called FROM {self._layer_sequence(n)}" for n in names), names)
                values = {r[0]: f"{r[1]}:{r[2]}" for r in cur.fetchall()}
        if missing:
            return self.revision()
        return ";".join(f"{n}={values[n]}" for n in names)

    # -- meta -------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """Return a store setting."""
        with self._lock, self._errors(), self._con.cursor() as cur:
            cur.execute(f"SELECT value FROM {self._ns}.qpv_meta WHERE key = %s", (key,))
            row = cur.fetchone()
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._errors(), self._writing(), self._con.cursor() as cur:
            cur.execute(
                f"INSERT INTO {self._ns}.qpv_meta VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (key, value),
            )

    # -- reading ----------------------------------------------------------------
    def _clauses(self, flt: BoundFilter, *, counting: bool = False) -> tuple[list[str], list[Any]]:
        """Return the SQL conditions and parameters of a filter."""
        clauses: list[str] = []
        params: list[Any] = []
        if flt.bbox is not None:
            xmin, ymin, xmax, ymax = flt.bbox
            # && on the GiST index, then the exact test (the index keeps float32 boxes)
            env = f"ST_MakeEnvelope(%s, %s, %s, %s, {self._srid})"
            outer = [float(xmin), float(ymin), float(xmax), float(ymax)]
            if (counting and flt.schema.geometry == "Point"
                    and min(xmax - xmin, ymax - ymin) > 4 * _POINT_SLACK):
                # A point whose (outward-rounded float32) box meets the box shrunk by a few
                # metres lies inside the box: the exact test only runs near the edges
                # (4x less CPU to count a wide viewport; reads keep the plain test, which
                # the planner costs better for their ORDER BY … LIMIT).
                inner = [float(xmin) + _POINT_SLACK, float(ymin) + _POINT_SLACK,
                         float(xmax) - _POINT_SLACK, float(ymax) - _POINT_SLACK]
                clauses.append(f"geom && {env} AND (geom && {env} OR ST_Intersects(geom, {env}))")
                params += [*outer, *inner, *outer]
            else:
                clauses.append(f"ST_Intersects(geom, {env})")
                params += outer
        if flt.time_field is not None:
            tf = flt.time_field
            if flt.start is not None:
                clauses.append(f"{quote_ident(tf.name)} >= %s")
                params.append(time_bound(tf, flt.start))
            if flt.end is not None:
                clauses.append(f"{quote_ident(tf.name)} < %s")
                params.append(time_bound(tf, flt.end))
        for f, value in flt.where:
            clauses.append(self._where_clause(f, value, params))
        for f, bound in flt.before:  # NULL is never before
            clauses.append(f"{quote_ident(f.name)} < %s")
            params.append(time_bound(f, bound))
        if flt.uids is not None:
            clauses.append("uid = ANY(%s::text[])")
            params.append([str(u) for u in flt.uids if "\x00" not in str(u)])
        return clauses, params

    @staticmethod
    def _where_clause(f: Field, value: Any, params: list[Any]) -> str:
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        converted = [filter_value(f, v) for v in values if v is not None]
        non_null = [v for ok, v in converted if ok]
        parts = []
        if non_null:
            parts.append(f"{quote_ident(f.name)} = ANY(%s::{array_type(f)})")
            params.append(non_null)
        if len(converted) < len(values):
            parts.append(f"{quote_ident(f.name)} IS NULL")
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"

    @staticmethod
    def _order(sort: Sort | None) -> str:
        if sort is None:
            return " ORDER BY fid"
        # the GeoPackage's order: bytewise text, NULL smallest
        collate = ' COLLATE "C"' if sort.field.type in ("str", "json") else ""
        nulls = "NULLS LAST" if sort.direction == "DESC" else "NULLS FIRST"
        return f" ORDER BY {quote_ident(sort.field.name)}{collate} {sort.direction} {nulls}, fid"

    def _read(self, flt: BoundFilter, page: Page, *, crs: Any = None) -> gpd.GeoDataFrame:
        """Read records (see :meth:`LayerStore.read`)."""
        schema = flt.schema
        clauses, params = self._clauses(flt)
        sql = self._select(schema, clauses) + self._order(page.sort(schema))
        if page.bounded:
            lim = int(page.limit) if page.limit is not None else -1
            sql += " LIMIT %s OFFSET %s"
            params += [lim if lim >= 0 else None, max(int(page.offset), 0)]
        frame = self._query_frame(schema, sql, params)
        if crs is not None:
            frame = frame.to_crs(resolve_crs(crs))
        return frame

    def _read_pages(self, flt: BoundFilter, size: int, *, crs: Any = None) -> Iterator[gpd.GeoDataFrame]:
        """Frames of :meth:`LayerStore.read_pages`: keyset pages on ``fid`` (the order of reads).

        Each page is its own statement (no transaction is held open between two frames):
        a record deleted meanwhile is not read, none is read twice.
        """
        schema = flt.schema
        clauses, params = self._clauses(flt)
        sql = self._select(schema, [*clauses, "fid > %s"], extra=", fid") + " ORDER BY fid LIMIT %s"
        last = 0
        while True:
            page = self._query_frame(schema, sql, [*params, last, size], extra="fid")
            fids = page.pop("fid")
            if len(page) or not last:
                yield page.to_crs(resolve_crs(crs)) if crs is not None else page
            if len(page) < size:
                return
            last = int(fids.iloc[-1])

    def _select(self, schema: LayerSchema, clauses: list[str], *, lock: bool = False, extra: str = "") -> str:
        cols = ", ".join(quote_ident(n) for n in schema.field_names)
        geom = ", ST_AsBinary(geom)" if schema.geometry is not None else ""
        sql = f"SELECT {cols}{geom}{extra} FROM {self._table(schema.name)}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return sql + (" FOR UPDATE" if lock else "")

    def _query_frame(
        self, schema: LayerSchema, sql: str, params: list[Any], *, extra: str | None = None
    ) -> gpd.GeoDataFrame:
        with self._lock, self._errors(), self._con.cursor(binary=True) as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        names = schema.field_names
        columns = [*names, "geom"] if schema.geometry else list(names)
        frame = pd.DataFrame(rows, columns=[*columns, extra] if extra else columns, dtype=object)
        tail = frame.pop(extra) if extra else None
        wkb = frame.pop("geom").tolist() if schema.geometry else None
        for f in schema.all_fields:
            if f.type in ("date", "datetime"):  # through ISO text, as the GeoPackage reads them
                frame[f.name] = typed(pd.Series(
                    [None if v is None else v.isoformat() for v in frame[f.name]],
                    index=frame.index, dtype=object), f)
            elif f.type != "str" and f.type != "json":
                frame[f.name] = typed(frame[f.name], f)
        geoms = (shapely.from_wkb(np.array([None if b is None else bytes(b) for b in wkb], dtype=object))
                 if wkb is not None else [None] * len(frame))
        out = gpd.GeoDataFrame(frame, geometry=geoms, crs=self.crs)
        if tail is not None and extra:
            out[extra] = tail.to_numpy()
        return out

    def get_record(self, layer: str, uid: str) -> dict[str, Any]:
        """Return record ``uid`` as the row of :meth:`get` gives it, read by one SELECT (NotFoundError)."""
        schema = self.schema(layer)
        row = None
        if "\x00" not in str(uid):  # never stored (PostgreSQL texts hold no NUL)
            with self._lock, self._errors(), self._con.cursor(binary=True) as cur:
                row = cur.execute(self._select(schema, ["uid = %s"]), [str(uid)]).fetchone()
        if row is None:
            raise NotFoundError(f"Aucun enregistrement « {uid} » dans la couche « {layer} ».")
        dated = ("date", "datetime")  # through ISO text, as _query_frame reads them
        record = {f.name: typed_value(v.isoformat() if f.type in dated and v is not None else v, f)
                  for f, v in zip(schema.all_fields, row, strict=False)}
        wkb = row[-1] if schema.geometry else None
        record["geometry"] = None if wkb is None else shapely.from_wkb(bytes(wkb))
        return record

    def _count(self, flt: BoundFilter, *, at_most: int | None = None) -> int:
        """Count records (see :meth:`LayerStore.count`)."""
        clauses, params = self._clauses(flt, counting=True)
        sql = f"SELECT 1 FROM {self._table(flt.layer)}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        if at_most is not None and int(at_most) >= 0:
            sql += " LIMIT %s"
            params.append(int(at_most))
        with self._lock, self._errors(), self._con.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM ({sql}) AS s", params)
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def _cluster(self, flt: BoundFilter, *, cell_m: float) -> pd.DataFrame:
        """Grid clusters computed by one SQL aggregate (see :meth:`LayerStore.cluster`)."""
        if flt.schema.geometry is None or cell_m <= 0:
            return super()._cluster(flt, cell_m=cell_m)
        clauses, params = self._clauses(flt, counting=True)
        clauses.append("geom IS NOT NULL AND NOT ST_IsEmpty(geom)")
        # envelope centres, like the generic version and the GeoPackage's R-tree
        inner = (
            "SELECT ST_XMin(geom) AS x0, ST_YMin(geom) AS y0, ST_XMax(geom) AS x1, "
            f"ST_YMax(geom) AS y1 FROM {self._table(flt.layer)} WHERE " + " AND ".join(clauses)
        )
        sql = (
            "SELECT floor((x0 + x1) * 0.5 / %s) AS gx, floor((y0 + y1) * 0.5 / %s) AS gy, "
            "count(*), avg((x0 + x1) * 0.5), avg((y0 + y1) * 0.5), min(x0), min(y0), max(x1), max(y1) "
            f"FROM ({inner}) AS s GROUP BY gx, gy ORDER BY gx, gy"
        )
        with self._lock, self._errors(), self._con.cursor() as cur:
            cur.execute(sql, [float(cell_m), float(cell_m), *params])
            rows = cur.fetchall()
        return pd.DataFrame(
            [r[2:] for r in rows], columns=["count", "x", "y", "xmin", "ymin", "xmax", "ymax"]
        )

    def layers(self) -> list[LayerInfo]:
        """Summarise every layer."""
        infos = []
        with self._lock, self._errors(), self._con.cursor() as cur:
            for schema in LAYERS.values():
                tf = quote_ident(schema.time_field) if schema.time_field else "NULL"
                ext = ("ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)" if schema.geometry
                       else "NULL, NULL, NULL, NULL")
                agg = ", ST_Extent(geom) AS e" if schema.geometry else ""
                cur.execute(
                    f"SELECT n, sim, {ext}, tmin, tmax FROM (SELECT count(*) AS n, "
                    f"count(*) FILTER (WHERE simulated) AS sim, min({tf}) AS tmin, "
                    f"max({tf}) AS tmax{agg} FROM {self._table(schema.name)}) AS s"
                )
                row = cur.fetchone()
                assert row is not None
                count, simulated, *b, tmin, tmax = row
                bbox = tuple(float(v) for v in b) if count and b[0] is not None else None
                infos.append(LayerInfo(
                    schema.name, schema.label, int(count), bbox,  # type: ignore[arg-type]
                    tmin.isoformat() if tmin is not None else None,
                    tmax.isoformat() if tmax is not None else None,
                    schema.confidential, schema.reference, int(simulated),
                ))
        return infos

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
        psycopg = require_psycopg()
        for attempt in range(_RETRIES):
            try:
                with self._errors(), self._writing(), self._con.cursor() as cur:
                    new = self._write_batch(cur, schema, batch, actor=actor, history=history)
                break
            except StoreError as exc:
                retry = isinstance(exc.__cause__, psycopg.errors.DeadlockDetected)
                if not retry or self._depth or attempt == _RETRIES - 1:
                    raise
                logger.info("deadlock between writers of %s, retrying", layer)
        done = set(new["uid"])
        return WriteResult(
            inserted=new["uid"].tolist(),
            existing=[*(u for u in batch["uid"] if u not in done), *valid.loc[dup_in_batch, "uid"]],
        )

    def _write_batch(
        self, cur: Any, schema: LayerSchema, batch: pd.DataFrame, *, actor: str | None,
        history: pd.DataFrame | None,
    ) -> pd.DataFrame:
        inserted = set(self._insert(cur, schema.name, schema.all_fields, batch,
                                    geometry=schema.geometry is not None)) if len(batch) else set()
        new = batch[batch["uid"].isin(inserted)]
        if schema.status_field and len(new):
            hist_schema = schema.children[0]
            if history is not None:
                known = history[history["parent_uid"].isin(new["uid"])]
                self._add_children_unchecked(cur, schema, hist_schema, known,
                                             source_dataset=None, simulated=None)
                new_without = new[~new["uid"].isin(known["parent_uid"])]
            else:
                new_without = new
            if len(new_without):
                self._add_children_unchecked(
                    cur, schema, hist_schema, creation_history(schema, new_without, actor),
                    source_dataset=None, simulated=new_without["simulated"].reset_index(drop=True),
                )
        if len(new):
            self._bump(cur, schema.name)
        return new

    def _insert(
        self, cur: Any, table: str, fields: Sequence[Field], frame: pd.DataFrame, *, geometry: bool
    ) -> list[str]:
        """Insert rows (uid conflicts skipped); return the uids inserted."""
        n = len(frame)
        columns = [pg_column(frame[f.name] if f.name in frame else pd.Series([None] * n, dtype=object), f)
                   for f in fields]
        if n > _SMALL:
            shapes = frame.geometry.to_numpy() if geometry else None
            done = copy_new(cur, self._table(table), fields, columns, geometry_srid=self._srid,
                            geoms=shapes)
            if done is not None:
                return done
            logger.info("concurrent writer of the same uids in %s: COPY through a temporary table", table)
            return copy_insert(cur, self._table(table), fields, columns, geometry_srid=self._srid,
                               geoms=wkb_column(shapes) if shapes is not None else None)
        geoms = wkb_column(frame.geometry.to_numpy()) if geometry else None
        names = ", ".join(quote_ident(f.name) for f in fields) + (", geom" if geometry else "")
        one = "(" + ", ".join(["%s"] * len(fields))
        one += f", ST_GeomFromWKB(%s::bytea, {self._srid}))" if geometry else ")"
        params: list[Any] = []
        for i in range(n):
            params += [col[i] for col in columns]
            if geoms is not None:
                params.append(geoms[i])
        cur.execute(
            f"INSERT INTO {self._table(table)} ({names}) VALUES {', '.join([one] * n)} "
            "ON CONFLICT (uid) DO NOTHING RETURNING uid", params,
        )
        return [r[0] for r in cur.fetchall()]

    def update(
        self,
        layer: str,
        uid: str,
        changes: Mapping[str, Any],
        *,
        actor: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Change fields of a record, keeping its status history (the row is locked)."""
        schema = self.schema(layer)
        check_changes(schema, changes)
        with self._errors(), self._writing(), self._con.cursor() as cur:
            clauses, params = self._clauses(RecordFilter(uids=[uid]).bind(schema, self.crs))
            current = self._query_frame(schema, self._select(schema, clauses, lock=True), params)
            if current.empty:
                raise NotFoundError(f"Aucun enregistrement « {uid} » dans la couche « {layer} ».")
            merged = merge_changes(schema, {**current.iloc[0].to_dict(), "geometry": current.geometry.iloc[0]
                                            if schema.geometry is not None else None}, changes, self.crs)
            names = [n for n in merged.values if n != "geometry"]
            values = [pg_column(pd.Series([merged.values[n]], dtype=object), schema.field(n))[0]
                      for n in names]
            sets = [f"{quote_ident(n)} = %s" for n in names]
            if schema.geometry is not None and "geometry" in merged.values:
                sets.append(f"geom = ST_GeomFromWKB(%s::bytea, {self._srid})")
                values.append(wkb_column(np.array([merged.values["geometry"]], dtype=object))[0])
            cur.execute(f"UPDATE {self._table(layer)} SET {', '.join(sets)} WHERE uid = %s", [*values, uid])
            hist = history_row(schema, uid, merged, actor=actor, comment=comment)
            if hist is not None:
                self._add_children_unchecked(cur, schema, schema.children[0], hist,
                                             source_dataset=None, simulated=None, unique=False)
            self._bump(cur, layer)

    def delete(self, layer: str, uids: Sequence[str]) -> int:
        """Delete records and their child rows."""
        schema = self.schema(layer)
        keys = [str(u) for u in uids if "\x00" not in str(u)]
        with self._errors(), self._writing(), self._con.cursor() as cur:
            for child in schema.children:
                cur.execute(f"DELETE FROM {self._table(child_table(schema, child))} "
                            "WHERE parent_uid = ANY(%s::text[])", (keys,))
            cur.execute(f"DELETE FROM {self._table(layer)} WHERE uid = ANY(%s::text[])", (keys,))
            deleted = int(cur.rowcount)
            if deleted:
                self._bump(cur, layer)
        return deleted

    def delete_children(self, layer: str, child: str, uids: Sequence[str]) -> int:
        """Delete child rows by their uid (see :meth:`LayerStore.delete_children`)."""
        schema = self.schema(layer)
        table = self._table(child_table(schema, schema.child(child)))
        keys = [str(u) for u in uids if "\x00" not in str(u)]
        with self._errors(), self._writing(), self._con.cursor() as cur:
            cur.execute(f"DELETE FROM {table} WHERE uid = ANY(%s::text[])", (keys,))
            deleted = int(cur.rowcount)
            if deleted:
                self._bump(cur, layer)
        return deleted

    def optimize(self, layers: Sequence[str] | None = None) -> list[str]:
        """Cluster each geometry table on its GiST index, then VACUUM ANALYZE.

        See :meth:`LayerStore.optimize`.

        A viewport then reads a few contiguous pages instead of one page per record: after
        a large import in arbitrary order, counting a wide Paris viewport of 1,000,000
        observations drops from ~7,000 heap pages read to ~800. ``CLUSTER`` locks the table
        while it rewrites it (about 10 s per million points): run it off-peak.
        """
        if self._depth:
            raise StoreError("L'optimisation ne peut pas se faire dans une transaction.")
        names = list(layers) if layers is not None else list(LAYERS)
        done: list[str] = []
        for name in names:
            schema = self.schema(name)
            tables = [name, *(child_table(schema, c) for c in schema.children)]
            with self._lock, self._errors(), self._con.cursor() as cur:
                if schema.geometry is not None and self.count(name, at_most=1):
                    cur.execute(f"CLUSTER {self._table(name)} USING {quote_ident(name + '_geom')}")
                    done.append(name)
                for table in tables:  # statistics, and the visibility map for index scans
                    cur.execute(f"VACUUM (ANALYZE) {self._table(table)}")
        logger.info("tables reorganised: %s", ", ".join(done) or "none")
        return done

    # -- children -----------------------------------------------------------------
    def add_children(
        self, layer: str, child: str, rows: pd.DataFrame, *, actor: str | None = None
    ) -> WriteResult:
        """Insert dated child rows (see :meth:`LayerStore.add_children`)."""
        schema = self.schema(layer)
        cschema = schema.child(child)
        if "parent_uid" not in rows:
            raise RecordError("Colonne « parent_uid » manquante.", field="parent_uid")
        with self._errors(), self._writing(), self._con.cursor() as cur:
            parents = rows["parent_uid"].astype("string").tolist()
            asked = sorted({p for p in parents if isinstance(p, str) and p and "\x00" not in p})
            cur.execute(f"SELECT uid FROM {self._table(layer)} WHERE uid = ANY(%s::text[])", (asked,))
            known = {r[0] for r in cur.fetchall()}
            unknown = [p for p in parents if p not in known]
            if unknown:
                raise NotFoundError(f"Aucun enregistrement « {unknown[0]} » dans « {layer} ».")
            result = self._add_children_unchecked(
                cur, schema, cschema, rows, source_dataset=rows.get("source_dataset"),
                simulated=rows.get("simulated"),
            )
            if result.inserted:
                self._bump(cur, layer)
            return result

    def _add_children_unchecked(
        self, cur: Any, schema: LayerSchema, cschema: ChildSchema, rows: pd.DataFrame, *,
        source_dataset: Any, simulated: Any, unique: bool = True,
    ) -> WriteResult:
        valid = prepare_children(cschema, rows, source_dataset=source_dataset, simulated=simulated,
                                 unique=unique)
        inserted = set(self._insert(cur, child_table(schema, cschema), child_fields(cschema), valid,
                                    geometry=False)) if len(valid) else set()
        uids = valid["uid"].tolist()
        return WriteResult(inserted=[u for u in uids if u in inserted],
                           existing=sorted(u for u in uids if u not in inserted))

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
        fields = child_fields(cschema)
        names = [f.name for f in fields]
        tf = next(f for f in fields if f.name == cschema.time_field)
        clauses: list[str] = []
        params: list[Any] = []
        if parent_uids is not None:
            clauses.append("parent_uid = ANY(%s::text[])")
            params.append([str(p) for p in parent_uids if "\x00" not in str(p)])
        if start is not None:
            clauses.append(f"{quote_ident(tf.name)} >= %s")
            params.append(time_bound(tf, start) if tf.type in ("date", "datetime") else start)
        if end is not None:
            clauses.append(f"{quote_ident(tf.name)} < %s")
            params.append(time_bound(tf, end) if tf.type in ("date", "datetime") else end)
        sql = f"SELECT {', '.join(quote_ident(n) for n in names)} FROM " \
              f"{self._table(child_table(schema, cschema))}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f' ORDER BY parent_uid COLLATE "C", {quote_ident(tf.name)}, fid'
        with self._lock, self._errors(), self._con.cursor(binary=True) as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        dated = [i for i, f in enumerate(fields) if f.type in ("date", "datetime")]
        if dated:
            rows = [tuple(v.isoformat() if i in dated and v is not None else v for i, v in enumerate(r))
                    for r in rows]
        frame = pd.DataFrame(rows, columns=names)
        for f in fields:
            frame[f.name] = typed(frame[f.name], f)
        return frame

    # -- copies -------------------------------------------------------------------------
    def pages(self, layer: str, *, size: int = 10_000) -> Iterator[gpd.GeoDataFrame]:
        """Every record of ``layer`` in insertion order, by keyset pages on ``fid``."""
        schema = self.schema(layer)
        last = 0
        while True:
            sql = self._select(schema, ["fid > %s"], extra=", fid") + " ORDER BY fid LIMIT %s"
            page = self._query_frame(schema, sql, [last, int(size)], extra="fid")
            if page.empty:
                return
            last = int(page.pop("fid").iloc[-1])
            yield page

    def copy_rows(self, layer: str, rows: pd.DataFrame, *, child: str | None = None) -> int:
        """Insert rows as read from another store (see :meth:`LayerStore.copy_rows`)."""
        schema = self.schema(layer)
        table, fields, geometry, rows = copy_target(schema, child, rows, self.crs)
        if rows.empty:
            return 0
        with self._errors(), self._writing(), self._con.cursor() as cur:
            inserted = self._insert(cur, table, fields, rows, geometry=geometry)
            if inserted:
                self._bump(cur, layer)
        return len(inserted)

    def meta(self) -> dict[str, str]:
        """Every store setting."""
        with self._lock, self._errors(), self._con.cursor() as cur:
            cur.execute(f"SELECT key, value FROM {self._ns}.qpv_meta ORDER BY key")
            return {k: v for k, v in cur.fetchall()}

    # -- import log -------------------------------------------------------------------
    def record_import(self, entry: Mapping[str, Any]) -> None:
        """Append an entry to the import log."""
        cols = [c for c, _ in IMPORT_COLUMNS if c in entry]
        values = [entry[c].item() if isinstance(entry[c], np.generic) else entry[c] for c in cols]
        with self._errors(), self._writing(), self._con.cursor() as cur:
            cur.execute(
                f"INSERT INTO {self._ns}.qpv_imports ({', '.join(quote_ident(c) for c in cols)}) "
                f"VALUES ({', '.join(['%s'] * len(cols))})", values,
            )

    def imports(self) -> pd.DataFrame:
        """Return the import log."""
        with self._lock, self._errors(), self._con.cursor() as cur:
            cur.execute(f"SELECT * FROM {self._ns}.qpv_imports ORDER BY id")
            rows = cur.fetchall()
            columns = [d.name for d in cur.description or []]
        return pd.DataFrame(rows, columns=columns)


def drop_store(url: str) -> None:
    """Drop the schema of a PostGIS store and everything in it (``qpv demo --vider``).

    Raises
    ------
    StoreError
        When the database cannot be reached.
    """
    psycopg = require_psycopg()
    target = parse_url(url)
    try:
        with get_pool(target.conninfo).connection(timeout=30.0) as con:
            con.execute(f"DROP SCHEMA IF EXISTS {quote_ident(target.schema)} CASCADE")
    except psycopg.Error as exc:
        raise StoreError(f"Impossible de supprimer l'entrepôt {target.display} : {exc}") from exc


__all__ = ["PostGISStore", "drop_store"]

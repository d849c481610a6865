"""GeoPackage schema upkeep: standard tables, one table (+ R-tree) per layer and child table."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from geo.crs import resolve_crs
from layers.schema import LAYERS, Field, LayerSchema
from layers.store import _gpkg
from layers.store._convert import now_iso
from layers.store._records import child_fields, child_table


class SchemaMixin:
    """Creates and evolves the tables of :class:`~layers.store.gpkg.GeoPackageStore`.

    New layers and new fields of :mod:`layers.schema` are added to existing files
    (nullable columns), so a store follows the code without a migration tool.
    """

    _con: sqlite3.Connection
    _srs_id: int
    crs: str

    if TYPE_CHECKING:  # provided by the store class

        def transaction(self) -> AbstractContextManager[None]: ...

        def _set_meta(self, key: str, value: str) -> None: ...

    def _ensure_schema(self, *, new: bool) -> None:
        con = self._con
        with self.transaction():
            if new:
                con.execute(f"PRAGMA application_id = {_gpkg.GPKG_APPLICATION_ID}")
                con.execute(f"PRAGMA user_version = {_gpkg.GPKG_USER_VERSION}")
            for stmt in _gpkg.BASE_DDL.split(";"):
                if stmt.strip():
                    con.execute(stmt)
            self._ensure_srs()
            for schema in LAYERS.values():
                self._ensure_layer(schema)
            if new:
                self._set_meta("crs", self.crs)
                self._set_meta("created_at", now_iso())
            self._set_meta("schema_fingerprint", schema_fingerprint())

    def _ensure_srs(self) -> None:
        rows = [
            ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, resolve_crs("EPSG:4326").to_wkt(), "WGS84"),
        ]
        target = resolve_crs(self.crs)
        rows.append((target.name, self._srs_id, "EPSG", self._srs_id, target.to_wkt(), target.name))
        self._con.executemany(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", rows
        )

    def _columns(self, table: str) -> list[str]:
        return [r[1] for r in self._con.execute(f'PRAGMA table_info("{table}")')]

    def _ensure_table(
        self, table: str, fields: Sequence[Field], *, geometry: str | None, extra: str = "",
        description: str = "",
    ) -> None:
        existing = self._columns(table)
        if not existing:
            cols = ['"fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL']
            if geometry is not None:
                cols.append(f'"geom" {_gpkg.GEOMETRY_TYPE_NAMES[geometry]}')
            cols += [f'"{f.name}" {_gpkg.SQL_TYPES[f.type]}' for f in fields]
            self._con.execute(f'CREATE TABLE "{table}" ({", ".join(cols)}{extra})')
            self._con.execute(f'CREATE UNIQUE INDEX "{table}_uid" ON "{table}"(uid)')
            data_type = "features" if geometry is not None else "attributes"
            self._con.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (table, data_type, table, description, self._srs_id if geometry else None),
            )
            if geometry is not None:
                self._con.execute(
                    "INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, ?, 0, 0)",
                    (table, _gpkg.GEOMETRY_TYPE_NAMES[geometry], self._srs_id),
                )
                self._con.execute(
                    f'CREATE VIRTUAL TABLE "rtree_{table}_geom" USING rtree(id, minx, maxx, miny, maxy)'
                )
                for stmt in _gpkg.RTREE_TRIGGERS.format(t=table).split("END;"):
                    if stmt.strip():
                        self._con.execute(stmt + "END;")
                self._con.execute(
                    "INSERT INTO gpkg_extensions VALUES (?, 'geom', 'gpkg_rtree_index', "
                    "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
                    (table,),
                )
            return
        for f in fields:  # schema evolution: add new fields as nullable columns
            if f.name not in existing:
                self._con.execute(
                    f'ALTER TABLE "{table}" ADD COLUMN "{f.name}" {_gpkg.SQL_TYPES[f.type]}'
                )

    def _ensure_layer(self, schema: LayerSchema) -> None:
        self._ensure_table(schema.name, schema.all_fields, geometry=schema.geometry,
                           description=schema.label)
        if schema.time_field:
            self._con.execute(
                f'CREATE INDEX IF NOT EXISTS "{schema.name}_time" '
                f'ON "{schema.name}"("{schema.time_field}")'
            )
        for child in schema.children:
            table = self._child_table(schema, child)
            self._ensure_table(table, self._child_fields(child), geometry=None,
                               description=child.label)
            self._con.execute(
                f'CREATE INDEX IF NOT EXISTS "{table}_parent" ON "{table}"(parent_uid, '
                f'"{child.time_field}")'
            )

    _child_table = staticmethod(child_table)
    _child_fields = staticmethod(child_fields)


def schema_fingerprint() -> str:
    """Short hash of every declared table and column: a store is up to date when it matches."""
    import hashlib

    return hashlib.sha1(repr(sorted(
        (s.name, s.geometry, [(f.name, f.type) for f in s.all_fields],
         [(c.name, [(f.name, f.type) for f in c.fields]) for c in s.children])
        for s in LAYERS.values())).encode()).hexdigest()[:16]

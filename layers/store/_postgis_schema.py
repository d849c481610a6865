"""PostGIS schema upkeep: one schema per store, one table per layer and child table.

Tables get real types (``geometry(…, srid)`` with a GiST index, ``timestamp``, ``date``,
``double precision``, ``bigint``, ``boolean``, ``text``), ``uid`` as primary key and a
``fid`` bigserial giving the insertion order. New layers and fields of
:mod:`layers.schema` are added to existing stores (nullable columns) when the declared
schema's fingerprint changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from layers.schema import LAYERS, Field, FieldType, GeometryKind
from layers.store._convert import now_iso
from layers.store._gpkg_schema import schema_fingerprint
from layers.store._postgis_conn import quote_ident
from layers.store._records import child_fields, child_table

PG_TYPES: dict[FieldType, str] = {
    "str": "text",
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "date": "date",
    "datetime": "timestamp",
    "json": "text",
}

# Only point layers get a typed column: the others accept several types (Polygon and
# MultiPolygon, LineString and MultiLineString) exactly as the GeoPackage backend does.
GEOMETRY_TYPMODS: dict[GeometryKind, str] = {"Point": "Point"}

IMPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("layer", "text NOT NULL"),
    ("file_name", "text"),
    ("sha256", "text"),
    ("mapping", "text"),
    ("started_at", "text"),
    ("finished_at", "text"),
    ("actor", "text"),
    ("n_read", "bigint"),
    ("n_inserted", "bigint"),
    ("n_existing", "bigint"),
    ("n_rejected", "bigint"),
    ("n_repaired", "bigint"),
    ("report", "text"),
)
CHANGES_SEQUENCE = "qpv_changes"
#: Prefix of the per-layer write counters (``qpv_changes__observations``…).
LAYER_SEQUENCE_PREFIX = "qpv_changes__"


def geometry_sql(kind: GeometryKind, srid: int) -> str:
    """Column type of a layer geometry."""
    return f"geometry({GEOMETRY_TYPMODS.get(kind, 'Geometry')}, {int(srid)})"


def ensure_schema(cur: Any, namespace: str, srid: int, crs: str, *, new: bool) -> None:
    """Create or upgrade every table of a store (inside the caller's transaction).

    Parameters
    ----------
    cur : psycopg.Cursor
        Cursor of an open transaction.
    namespace : str
        The PostgreSQL schema of the store.
    srid : int
        SRID of the geometry columns.
    crs : str
        Store CRS, kept in ``qpv_meta``.
    new : bool
        The schema was just created (records ``crs`` and ``created_at``).
    """
    ns = quote_ident(namespace)
    # concurrent first openings of one store: one creates, the others wait and see it done
    cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"qpv-schema:{namespace}",))
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {ns}")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {ns}.qpv_meta (key text PRIMARY KEY, value text)")
    cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in IMPORT_COLUMNS)
    cur.execute(f"CREATE TABLE IF NOT EXISTS {ns}.qpv_imports (id bigserial PRIMARY KEY, {cols})")
    cur.execute(f"CREATE SEQUENCE IF NOT EXISTS {ns}.{CHANGES_SEQUENCE}")
    for schema in LAYERS.values():
        cur.execute(f"CREATE SEQUENCE IF NOT EXISTS {ns}.{quote_ident(LAYER_SEQUENCE_PREFIX + schema.name)}")
    for schema in LAYERS.values():
        _ensure_table(cur, ns, schema.name, schema.all_fields, new=new,
                      geometry=geometry_sql(schema.geometry, srid) if schema.geometry else None)
        if schema.time_field:
            _index(cur, ns, schema.name, "time", f"({quote_ident(schema.time_field)})")
        for child in schema.children:
            table = child_table(schema, child)
            _ensure_table(cur, ns, table, child_fields(child), geometry=None, new=new)
            _index(cur, ns, table, "parent", f"(parent_uid, {quote_ident(child.time_field)}, fid)")
    meta = f"INSERT INTO {ns}.qpv_meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    if new:
        cur.execute(meta, ("crs", crs))
        cur.execute(meta, ("created_at", now_iso()))
    cur.execute(meta, ("schema_fingerprint", schema_fingerprint()))


def _index(cur: Any, ns: str, table: str, suffix: str, definition: str, method: str = "") -> None:
    name = quote_ident(f"{table}_{suffix}")
    using = f" USING {method}" if method else ""
    cur.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {ns}.{quote_ident(table)}{using} {definition}")


def _ensure_table(
    cur: Any, ns: str, table: str, fields: Sequence[Field], *, geometry: str | None, new: bool
) -> None:
    qt = f"{ns}.{quote_ident(table)}"
    cols = ["fid bigserial NOT NULL"]
    for f in fields:
        cols.append(f"{quote_ident(f.name)} {PG_TYPES[f.type]}" + (" PRIMARY KEY" if f.name == "uid" else ""))
    if geometry is not None:
        cols.append(f"geom {geometry}")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {qt} ({', '.join(cols)})")
    if not new:  # schema evolution: new fields become nullable columns
        for f in fields:
            cur.execute(f"ALTER TABLE {qt} ADD COLUMN IF NOT EXISTS {quote_ident(f.name)} {PG_TYPES[f.type]}")
        if geometry is not None:
            cur.execute(f"ALTER TABLE {qt} ADD COLUMN IF NOT EXISTS geom {geometry}")
    cur.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {quote_ident(table + '_fid')} ON {qt} (fid)")
    if geometry is not None:
        _index(cur, ns, table, "geom", "(geom)", method="GIST")


def schema_exists(cur: Any, namespace: str) -> bool:
    """Whether the store's schema and its meta table exist."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{quote_ident(namespace)}.qpv_meta",))
    row = cur.fetchone()
    return bool(row and row[0])

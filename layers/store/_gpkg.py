"""GeoPackage internals: the standard tables, R-tree triggers and the geometry blob codec.

We write the GeoPackage ourselves through :mod:`sqlite3` (OGC 12-128r18) so that an
import spanning several tables is one real transaction, updates and deletes are
possible, and the file stays readable by QGIS and GDAL (R-tree index included).
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Sequence

import numpy as np
import shapely

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
GPKG_USER_VERSION = 10300

_HEADER = struct.Struct("<2sBBi4d")  # magic, version, flags, srs_id, envelope xy
_HEADER_NOENV = struct.Struct("<2sBBi")
_ENVELOPE_SIZES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}

BASE_DDL = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
  scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE IF NOT EXISTS qpv_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS qpv_imports (
  id INTEGER PRIMARY KEY AUTOINCREMENT, layer TEXT NOT NULL, file_name TEXT,
  sha256 TEXT, mapping TEXT, started_at TEXT, finished_at TEXT, actor TEXT,
  n_read INTEGER, n_inserted INTEGER, n_existing INTEGER, n_rejected INTEGER,
  n_repaired INTEGER, report TEXT);
"""

RTREE_TRIGGERS = """
CREATE TRIGGER "rtree_{t}_geom_insert" AFTER INSERT ON "{t}"
WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom))
BEGIN INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (NEW.fid,
  ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
CREATE TRIGGER "rtree_{t}_geom_update1" AFTER UPDATE OF geom ON "{t}"
WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
BEGIN INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (NEW.fid,
  ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
CREATE TRIGGER "rtree_{t}_geom_update2" AFTER UPDATE OF geom ON "{t}"
WHEN OLD.fid = NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
BEGIN DELETE FROM "rtree_{t}_geom" WHERE id = OLD.fid; END;
CREATE TRIGGER "rtree_{t}_geom_update3" AFTER UPDATE ON "{t}"
WHEN OLD.fid != NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
BEGIN DELETE FROM "rtree_{t}_geom" WHERE id = OLD.fid;
  INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (NEW.fid,
  ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
CREATE TRIGGER "rtree_{t}_geom_update4" AFTER UPDATE ON "{t}"
WHEN OLD.fid != NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
BEGIN DELETE FROM "rtree_{t}_geom" WHERE id IN (OLD.fid, NEW.fid); END;
CREATE TRIGGER "rtree_{t}_geom_delete" AFTER DELETE ON "{t}" WHEN old.geom NOT NULL
BEGIN DELETE FROM "rtree_{t}_geom" WHERE id = OLD.fid; END;
"""

SQL_TYPES = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "DATETIME",
    "json": "TEXT",
}

GEOMETRY_TYPE_NAMES = {
    "Point": "POINT",
    "LineString": "LINESTRING",
    "MultiPolygon": "MULTIPOLYGON",
    "Geometry": "GEOMETRY",
}


def _envelope(blob: bytes) -> tuple[float, float, float, float] | None:
    flags = blob[3]
    env = (flags >> 1) & 0b111
    if flags & 0b10000:  # empty
        return None
    little = flags & 1
    if env:
        fmt = "<4d" if little else ">4d"
        minx, maxx, miny, maxy = struct.unpack_from(fmt, blob, 8)
        return minx, miny, maxx, maxy
    geom = shapely.from_wkb(blob[8 + _ENVELOPE_SIZES.get(env, 0):])
    if geom is None or geom.is_empty:
        return None
    b = geom.bounds
    return b[0], b[1], b[2], b[3]


def st_is_empty(blob: bytes | None) -> int | None:
    """SQLite function ST_IsEmpty used by the R-tree triggers."""
    if blob is None:
        return None
    return int(bool(blob[3] & 0b10000) or _envelope(blob) is None)


def _st_bound(i: int) -> Callable[[bytes | None], float | None]:
    def fn(blob: bytes | None) -> float | None:
        if blob is None:
            return None
        env = _envelope(blob)
        return None if env is None else env[i]

    return fn


def register_functions(con: sqlite3.Connection) -> None:
    """Register the ST_* functions the standard GeoPackage R-tree triggers call."""
    con.create_function("ST_IsEmpty", 1, st_is_empty, deterministic=True)
    con.create_function("ST_MinX", 1, _st_bound(0), deterministic=True)
    con.create_function("ST_MinY", 1, _st_bound(1), deterministic=True)
    con.create_function("ST_MaxX", 1, _st_bound(2), deterministic=True)
    con.create_function("ST_MaxY", 1, _st_bound(3), deterministic=True)


_HEADER_DTYPE = np.dtype([("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("srs_id", "<i4"),
                          ("envelope", "<f8", (4,))])


def encode(geoms: np.ndarray, srs_id: int) -> list[bytes | None]:
    """Encode shapely geometries as GeoPackage binary blobs (with an xy envelope).

    The headers are packed in one numpy buffer; only the concatenation with each WKB is
    done per geometry.
    """
    geoms = np.asarray(geoms, dtype=object)
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    missing = shapely.is_missing(geoms)
    empty = shapely.is_empty(geoms) & ~missing
    headers = np.zeros(len(geoms), dtype=_HEADER_DTYPE)
    headers["magic"] = b"GP"
    headers["flags"] = 0b00011
    headers["srs_id"] = srs_id
    headers["envelope"] = shapely.bounds(geoms)[:, [0, 2, 1, 3]]
    raw = headers.tobytes()
    size = _HEADER_DTYPE.itemsize
    out: list[bytes | None] = [raw[i * size:(i + 1) * size] + w if w is not None else None
                               for i, w in enumerate(wkb.tolist())]
    for i in np.flatnonzero(empty | missing).tolist():
        out[i] = None if missing[i] else _HEADER_NOENV.pack(b"GP", 0, 0b10001, srs_id) + wkb[i]
    return out


def decode(blobs: Sequence[bytes | None]) -> np.ndarray:
    """Decode GeoPackage binary blobs into shapely geometries (None stays None)."""
    wkb: list[bytes | None] = []
    for blob in blobs:
        if blob is None:
            wkb.append(None)
            continue
        env = (blob[3] >> 1) & 0b111
        wkb.append(bytes(blob[8 + _ENVELOPE_SIZES.get(env, 0):]))
    return shapely.from_wkb(np.array(wkb, dtype=object))


def point_xy(blobs: list[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of GeoPackage point blobs (NaN when missing or empty).

    Blobs of one length, little-endian 2D WKB points (the store's own writes) are read
    straight from the bytes; anything else goes through :func:`decode`.
    """
    n = len(blobs)
    size = len(blobs[0]) if n and blobs[0] is not None else -1
    if n and size > 8 and all(b is not None and len(b) == size for b in blobs):
        raw = np.frombuffer(b"".join(b for b in blobs if b is not None), dtype=np.uint8).reshape(n, size)
        envelopes = np.array([_ENVELOPE_SIZES.get(e, -999) for e in range(8)])
        start = 8 + envelopes[(raw[:, 3] >> 1) & 7]
        if bool((start == start[0]).all()) and start[0] >= 8 and size - start[0] == 21:
            wkb = raw[:, start[0]:]
            kind = wkb[:, 1:5].copy().view("<u4")[:, 0]
            if bool((wkb[:, 0] == 1).all() and (kind == 1).all()):
                xy = wkb[:, 5:21].copy().view("<f8")
                return xy[:, 0].copy(), xy[:, 1].copy()
    bounds = shapely.bounds(decode(blobs))
    return (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2

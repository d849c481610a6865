"""Layer extents and revisions of the GeoPackage, kept up to date write by write.

The extent of a layer lives where GeoPackage readers (QGIS, GDAL) look for it:
``gpkg_contents.min_x … max_y``. A write grows it with the bounds of the geometries it
wrote (a few comparisons, never a scan of the R-tree); a delete, or a geometry moved
away from the edge of the extent, cannot shrink it without a scan, so it only marks
the extent stale (``qpv_meta`` key ``extent_stale:<table>``): the exact extent is
recomputed from the R-tree when someone reads it (:func:`current_extents`, the store's
``layers()``), or by ``optimize()``. A stale extent still contains every geometry.

Every write also bumps the layer's revision (``qpv_meta`` key ``revision:<table>``)
in the same transaction, so that caches built from some layers only (the lookup index
reads the perimeters and the addresses) know when those layers changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
import shapely

Bounds = tuple[float, float, float, float]

STALE_PREFIX = "extent_stale:"
REVISION_PREFIX = "revision:"
#: Set once every extent of the file has been recomputed by this scheme (older files
#: kept extents that deletes never shrank).
EXTENTS_META = "extents_incremental"


def total_bounds(geoms: np.ndarray) -> Bounds | None:
    """Return the bounds of every non-empty geometry together (None when there is none)."""
    if not len(geoms):
        return None
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not keep.any():
        return None
    b = shapely.bounds(geoms[keep])
    return (float(np.min(b[:, 0])), float(np.min(b[:, 1])), float(np.max(b[:, 2])),
            float(np.max(b[:, 3])))


def union_bounds(a: Bounds | None, b: Bounds | None) -> Bounds | None:
    """Return the bounds covering both ``a`` and ``b`` (either may be None: nothing written)."""
    if a is None or b is None:
        return a if b is None else b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def touch(con: sqlite3.Connection, table: str, grow: Bounds | None = None) -> None:
    """Record a write to ``table``: its revision, ``last_change`` and its extent grown by ``grow``."""
    con.execute(
        "INSERT INTO qpv_meta VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET "
        "value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)", (REVISION_PREFIX + table,))
    if grow is None:
        con.execute("UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                    "WHERE table_name = ?", (table,))
        return
    con.execute(
        "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
        "min_x = MIN(COALESCE(min_x, :x0), :x0), min_y = MIN(COALESCE(min_y, :y0), :y0), "
        "max_x = MAX(COALESCE(max_x, :x1), :x1), max_y = MAX(COALESCE(max_y, :y1), :y1) "
        "WHERE table_name = :t",
        {"x0": grow[0], "y0": grow[1], "x1": grow[2], "y1": grow[3], "t": table})


def mark_stale(con: sqlite3.Connection, table: str) -> None:
    """Mark the extent of ``table`` as possibly larger than its geometries (after a delete)."""
    con.execute("INSERT OR REPLACE INTO qpv_meta VALUES (?, '1')", (STALE_PREFIX + table,))


def on_edge(con: sqlite3.Connection, table: str, bounds: Bounds | None) -> bool:
    """Tell whether ``bounds`` (of a geometry moved or removed) touch the stored extent of ``table``."""
    if bounds is None:
        return False
    row = con.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                      (table,)).fetchone()
    if row is None or row[0] is None:
        return True
    return bool(bounds[0] <= row[0] or bounds[1] <= row[1] or bounds[2] >= row[2] or bounds[3] >= row[3])


def stale_tables(con: sqlite3.Connection) -> set[str]:
    """Return the tables whose stored extent must be recomputed before being read."""
    rows = con.execute("SELECT key FROM qpv_meta WHERE key >= ? AND key < ?",
                       (STALE_PREFIX, STALE_PREFIX[:-1] + ";")).fetchall()
    return {r[0][len(STALE_PREFIX):] for r in rows}


def recompute(con: sqlite3.Connection, table: str) -> Bounds | None:
    """Recompute the extent of ``table`` from its R-tree (a scan), store it, clear its stale mark."""
    b = con.execute(
        f'SELECT MIN(minx), MIN(miny), MAX(maxx), MAX(maxy) FROM "rtree_{table}_geom"').fetchone()
    con.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
                (*b, table))
    con.execute("DELETE FROM qpv_meta WHERE key = ?", (STALE_PREFIX + table,))
    return None if b[0] is None else (float(b[0]), float(b[1]), float(b[2]), float(b[3]))


def stored_extents(con: sqlite3.Connection, tables: Sequence[str]) -> dict[str, Bounds | None]:
    """Return the extents stored in ``gpkg_contents`` (None when unknown or empty)."""
    marks = ", ".join("?" * len(tables))
    rows = con.execute(f"SELECT table_name, min_x, min_y, max_x, max_y FROM gpkg_contents "
                       f"WHERE table_name IN ({marks})", list(tables)).fetchall()
    out: dict[str, Bounds | None] = dict.fromkeys(tables)
    for name, *b in rows:
        out[name] = None if b[0] is None else (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    return out


def revision(con: sqlite3.Connection, tables: Sequence[str]) -> str:
    """Return a marker of the state of ``tables``: their write counters and ``last_change``.

    ``last_change`` also moves when another GeoPackage writer (QGIS, GDAL) edits a table.
    """
    marks = ", ".join("?" * len(tables))
    counters = dict(con.execute(f"SELECT key, value FROM qpv_meta WHERE key IN ({marks})",
                                [REVISION_PREFIX + t for t in tables]).fetchall())
    changes = dict(con.execute(f"SELECT table_name, last_change FROM gpkg_contents "
                               f"WHERE table_name IN ({marks})", list(tables)).fetchall())
    return ";".join(f"{t}={counters.get(REVISION_PREFIX + t, '0')}@{changes.get(t)}" for t in tables)

"""Bulk load of a GeoPackage R-tree: Sort-Tile-Recursive packing written into its shadow tables.

SQLite's R-tree module inserts one row at a time (choose a leaf, split, adjust the parents):
about 1 s for the 158,048 points of the Paris BAN. When the tree of a layer is still empty
(the first import of a layer), the whole tree is built here in numpy and its nodes written
straight into the shadow tables ``rtree_<t>_geom_node``, ``_rowid`` and ``_parent``, as GDAL
does, in the caller's transaction. Otherwise rows go through the virtual table as before.

Node format (SQLite ``ext/rtree/rtree.c``), all integers and floats big-endian: a 4-byte
header — 2-byte depth of the tree (meaningful in the root, node 1, only; leaves are depth 0)
and 2-byte cell count — then the cells: 8-byte rowid (a child node number in inner nodes)
and the 4 coordinates ``minx, maxx, miny, maxy`` as float32, the blob padded with zeros to
the node size (the length of the existing root blob). Coordinates are rounded the way the
module rounds them (``rtreeValueDown`` for minima, ``rtreeValueUp`` for maxima), so a
bulk-loaded tree holds exactly the boxes a row-by-row fill would.
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np

from layers.store._gpkg_hold import ImportHold

#: rtree.c's RNDTOWARDS / RNDAWAY: the factors it applies when the float32 cast went the wrong way.
_TOWARDS = 1.0 - 1.0 / 8388608.0
_AWAY = 1.0 + 1.0 / 8388608.0
_CELL = np.dtype([("id", ">i8"), ("c", ">f4", (4,))])  # 24 bytes: rowid + 2 dimensions
_HEADER = np.dtype([("depth", ">u2"), ("n", ">u2")])


#: Rows of the rowid / parent maps written per statement.
_MAP_ROWS = 16_384
#: Rows held for one bulk load of a tree (24 bytes each once packed); beyond, rows go one by one.
PENDING_MAX = 2_000_000


class Pending(ImportHold[list[tuple[np.ndarray, np.ndarray]]]):
    """R-tree entries of an import into empty trees, held until one bulk load per tree."""

    def index(self, con: sqlite3.Connection, table: str, ids: np.ndarray, bounds: np.ndarray) -> None:
        """Index rows: held while an import fills an empty tree, else written now (:func:`write`)."""
        parts = self._held.get(table)
        held = sum(len(f) for f, _ in parts) if parts is not None else 0
        if self.importing() and held + len(ids) <= PENDING_MAX and (
                parts is not None or empty_node_size(con, table) is not None):
            self._held.setdefault(table, []).append((ids, bounds))
            return
        self.flush(con, table)
        write(con, table, ids, bounds)

    def flush(self, con: sqlite3.Connection, table: str | None = None) -> None:
        """Bulk-load what is held (for every table, or ``table`` only)."""
        if not self._held or not self.importing():
            return
        for name in [table] if table is not None else sorted(self._held):
            parts = self._held.pop(name, None)
            if parts:
                write(con, name, np.concatenate([f for f, _ in parts]), np.concatenate([b for _, b in parts]))


def round_down(d: np.ndarray) -> np.ndarray:
    """float32 of ``d`` never above it (SQLite's ``rtreeValueDown``)."""
    f = d.astype(np.float32)
    bad = f.astype(np.float64) > d
    if bad.any():
        f[bad] = (d[bad] * np.where(d[bad] < 0, _AWAY, _TOWARDS)).astype(np.float32)
    return f


def round_up(d: np.ndarray) -> np.ndarray:
    """float32 of ``d`` never below it (SQLite's ``rtreeValueUp``)."""
    f = d.astype(np.float32)
    bad = f.astype(np.float64) < d
    if bad.any():
        f[bad] = (d[bad] * np.where(d[bad] < 0, _TOWARDS, _AWAY)).astype(np.float32)
    return f


def _names(table: str) -> tuple[str, str, str, str]:
    base = f"rtree_{table}_geom"
    return f'"{base}"', f'"{base}_node"', f'"{base}_rowid"', f'"{base}_parent"'


def empty_node_size(con: sqlite3.Connection, table: str) -> int | None:
    """Node size of the R-tree of ``table`` when it is empty (one blank root), else None."""
    _, node, rowid, _parent = _names(table)
    if con.execute(f"SELECT EXISTS (SELECT 1 FROM {rowid})").fetchone()[0]:
        return None
    rows = con.execute(f"SELECT nodeno, length(data), substr(data, 1, 4) FROM {node} LIMIT 2").fetchall()
    if len(rows) != 1 or rows[0][0] != 1 or bytes(rows[0][2]) != b"\0\0\0\0":
        return None
    size = int(rows[0][1])
    return size if size >= 4 + 2 * _CELL.itemsize else None


def write(con: sqlite3.Connection, table: str, ids: np.ndarray, bounds: np.ndarray) -> None:
    """Index ``ids`` with their ``bounds`` (n × 4: minx, miny, maxx, maxy) in ``table``'s R-tree.

    Bulk-loaded when the tree is empty, else inserted row by row through the virtual table
    (``INSERT OR REPLACE``, as the GeoPackage triggers do). Rows with NaN bounds (empty
    geometries) are left out, as the triggers leave them out.
    """
    keep = ~np.isnan(bounds).any(axis=1)
    ids, bounds = np.asarray(ids, dtype=np.int64)[keep], np.asarray(bounds, dtype=np.float64)[keep]
    if not len(ids):
        return
    size = empty_node_size(con, table)
    if size is None:
        vtab = _names(table)[0]
        con.executemany(f"INSERT OR REPLACE INTO {vtab} VALUES (?, ?, ?, ?, ?)",
                        zip(ids.tolist(), bounds[:, 0].tolist(), bounds[:, 2].tolist(),
                            bounds[:, 1].tolist(), bounds[:, 3].tolist(), strict=True))
        return
    boxes = np.column_stack([round_down(bounds[:, 0]), round_up(bounds[:, 2]),
                             round_down(bounds[:, 1]), round_up(bounds[:, 3])])
    _bulk_load(con, table, ids, boxes, size)


def _str_groups(boxes: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort-Tile-Recursive order of ``boxes`` and the sizes of its consecutive nodes (≤ cap).

    Nodes of one slice get near-equal sizes, so no node but a lone root is under-filled.
    """
    n = len(boxes)
    n_nodes = math.ceil(n / cap)
    n_slices = math.ceil(math.sqrt(n_nodes))
    cx = (boxes[:, 0].astype(np.float64) + boxes[:, 1]) / 2
    cy = (boxes[:, 2].astype(np.float64) + boxes[:, 3]) / 2
    by_x = np.argsort(cx, kind="stable")
    order: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    for part in np.array_split(by_x, n_slices):
        if not len(part):
            continue
        order.append(part[np.argsort(cy[part], kind="stable")])
        k = math.ceil(len(part) / cap)
        sizes.append(np.full(k, len(part) // k) + (np.arange(k) < len(part) % k))
    return np.concatenate(order), np.concatenate(sizes).astype(np.int64)


def _bulk_load(con: sqlite3.Connection, table: str, ids: np.ndarray, boxes: np.ndarray, size: int) -> None:
    cap = (size - 4) // _CELL.itemsize
    # per level k (0: leaves): its entries, their STR order and the sizes of its consecutive nodes
    entries: list[np.ndarray] = [boxes]
    orders: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    while True:
        order, sizes = _str_groups(entries[-1], cap)
        orders.append(order)
        counts.append(sizes)
        b = entries[-1][order]
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        if len(sizes) == 1:
            break
        entries.append(np.column_stack([
            np.minimum.reduceat(b[:, 0], first), np.maximum.reduceat(b[:, 1], first),
            np.minimum.reduceat(b[:, 2], first), np.maximum.reduceat(b[:, 3], first)]))
    _write_levels(con, table, ids, entries, orders, counts, size=size, cap=cap)


def _write_levels(con: sqlite3.Connection, table: str, ids: np.ndarray, entries: list[np.ndarray],
                  orders: list[np.ndarray], counts: list[np.ndarray], *, size: int, cap: int) -> None:
    """Give the nodes their numbers (root 1); write their blobs, the rowid and parent maps."""
    depth = len(counts) - 1
    numbers: list[np.ndarray] = [np.empty(0, np.int64)] * len(counts)
    numbers[depth] = np.array([1], dtype=np.int64)
    nxt = 2
    for k in range(depth - 1, -1, -1):
        numbers[k] = np.arange(nxt, nxt + len(counts[k]), dtype=np.int64)
        nxt += len(counts[k])
    _, node, rowid, parent = _names(table)
    for k in range(depth + 1):
        cell_ids = (ids if k == 0 else numbers[k - 1])[orders[k]]
        blobs = _blobs(cell_ids, entries[k][orders[k]], counts[k], depth=depth if k == depth else 0,
                       size=size, cap=cap)
        con.executemany(f"INSERT OR REPLACE INTO {node} (nodeno, data) VALUES (?, ?)",
                        zip(numbers[k].tolist(), blobs, strict=True))
        owner = np.repeat(numbers[k], counts[k])
        target = f"{rowid} (rowid, nodeno)" if k == 0 else f"{parent} (nodeno, parentnode)"
        for at in range(0, len(cell_ids), _MAP_ROWS):  # in slices: no list of every row at once
            con.executemany(f"INSERT INTO {target} VALUES (?, ?)",
                            zip(cell_ids[at:at + _MAP_ROWS].tolist(), owner[at:at + _MAP_ROWS].tolist(),
                                strict=True))


def _blobs(ids: np.ndarray, boxes: np.ndarray, counts: np.ndarray, *, depth: int, size: int,
           cap: int) -> list[bytes]:
    m = len(counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.repeat(np.arange(m) * cap - first, counts) + np.arange(len(ids))
    body = np.zeros(m * cap, dtype=_CELL)
    body["id"][slot] = ids
    body["c"][slot] = boxes
    head = np.zeros(m, dtype=_HEADER)
    head["depth"] = depth
    head["n"] = counts
    raw = np.zeros((m, size), dtype=np.uint8)
    raw[:, :4] = head.view(np.uint8).reshape(m, 4)
    raw[:, 4:4 + cap * _CELL.itemsize] = body.view(np.uint8).reshape(m, cap * _CELL.itemsize)
    return [r.tobytes() for r in raw]

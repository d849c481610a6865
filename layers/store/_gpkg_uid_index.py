"""Unique ``uid`` indexes of GeoPackage layers filled from empty by an import, built once at its end.

Keeping the unique index of a layer's ``uid`` column while 158,048 BAN rows go in costs
about as much as inserting the rows themselves (random 40-character keys land all over the
index's B-tree); building it once, from the finished table, takes a tenth of that. So when an
import's bulk insert finds a layer empty, the index is dropped inside the import's
transaction and created again before anything else reads the layer, or at the end of the
transaction — ``CREATE UNIQUE INDEX`` fails on a repeated uid, and the whole import rolls
back: the guarantee of the index is kept, only checked later.

Meanwhile, :meth:`DeferredUidIndexes.existing` answers "which of these uids are stored
already?" from the hashes of the uids this import wrote (Python's own string hash); a hash seen before is
confirmed in SQL (a scan, since the index is gone: only when a uid may really repeat).
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from layers.store._gpkg_hold import ImportHold


def _hashes(uids: list[str]) -> np.ndarray:
    return np.fromiter(map(hash, uids), dtype=np.int64, count=len(uids))


class DeferredUidIndexes(ImportHold[tuple[str, np.ndarray]]):
    """The uid indexes an import has dropped, and the hashes of the uids written since."""

    def defer(self, con: sqlite3.Connection, table: str) -> None:
        """Drop the uid index of ``table`` (empty: the caller knows) if an import is under way."""
        if not self.importing() or table in self._held:
            return
        name = f"{table}_uid"
        row = con.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ? AND tbl_name = ?",
                          (name, table)).fetchone()
        if row is None or row[0] is None:
            return
        con.execute(f'DROP INDEX "{name}"')
        self._held[table] = (row[0], np.empty(0, dtype=np.int64))

    def added(self, table: str, uids: list[str]) -> None:
        """Record uids written into ``table`` while its index is deferred."""
        held = self._held.get(table)
        if held is not None and uids:
            # one sorted array (8 bytes a uid): two sorted runs merge in linear time
            merged = np.sort(np.concatenate([held[1], np.sort(_hashes(uids))]), kind="stable")
            self._held[table] = (held[0], merged)

    def existing(self, con: sqlite3.Connection, table: str, uids: list[str]) -> set[str] | None:
        """Return the uids of ``uids`` already in ``table`` (None when its index is not deferred)."""
        held = self._held.get(table)
        if held is None:
            return None
        stored = held[1]
        if not uids or not len(stored):
            return set()
        wanted = _hashes(uids)
        at = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
        maybe = stored[at] == wanted
        if not maybe.any():
            return set()
        candidates = [u for u, m in zip(uids, maybe.tolist(), strict=True) if m]
        q = f'SELECT uid FROM "{table}" WHERE uid IN (SELECT value FROM json_each(?))'
        return {r[0] for r in con.execute(q, (json.dumps(candidates),))}

    def flush(self, con: sqlite3.Connection, table: str | None = None) -> None:
        """Create again the deferred indexes (of every table, or of ``table`` only)."""
        if not self._held or not self.importing():
            return
        for name in [table] if table is not None else sorted(self._held):
            held = self._held.pop(name, None)
            if held is not None:
                con.execute(held[0])

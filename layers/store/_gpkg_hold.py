"""What an import holds back, per table, until the end of its GeoPackage transaction (private).

The bulk-loaded R-tree entries (:mod:`layers.store._gpkg_rtree`) and the deferred uid
indexes (:mod:`layers.store._gpkg_uid_index`) share this life cycle: started by
``bulk_transaction``, flushed before anything reads the table or at the end, forgotten when
the transaction ends (flushed already, or rolled back with it).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class ImportHold(Generic[T]):
    """Per-table state held by the thread that imports.

    Only the importing thread (:meth:`start`) holds and flushes: other threads reading on the
    shared connection meanwhile have no business changing the import's transaction.
    """

    def __init__(self) -> None:
        self._held: dict[str, T] = {}
        self._thread: int | None = None

    def start(self) -> None:
        """Begin holding (the calling thread imports, in one transaction)."""
        self._thread = threading.get_ident()

    def stop(self) -> None:
        """Forget everything held (flushed already, or rolled back)."""
        self._thread = None
        self._held.clear()

    def importing(self) -> bool:
        """Whether the calling thread is the importing one."""
        return self._thread is not None and self._thread == threading.get_ident()

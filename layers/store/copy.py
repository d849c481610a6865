"""Copy a store into another (GeoPackage → PostGIS and back): records, children, log, settings.

The copy pages through each layer (no layer is ever whole in memory), keeps uids,
timestamps and status histories as they are, skips what the target already holds (a
second copy adds nothing) and runs in one target transaction: it lands whole or not at all.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pandas as pd

from layers.schema import LAYERS
from layers.store import open_store
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

PAGE_SIZE = 10_000  # records per page (and parent uids per child query)
IMPORTS_KEY = "journal des imports"
_OWN_META = frozenset({"crs", "created_at", "schema_fingerprint"})

Progress = Callable[[str, int], None]


@contextlib.contextmanager
def _opened(store: LayerStore | str | Path, *, create: bool) -> Iterator[LayerStore]:
    if isinstance(store, LayerStore):
        yield store
        return
    opened = open_store(store, create=create)
    try:
        yield opened
    finally:
        opened.close()


def copy_store(
    source: LayerStore | str | Path,
    target: LayerStore | str | Path,
    *,
    layers: Sequence[str] | None = None,
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
) -> dict[str, int]:
    """Copy every record, child row, import log entry and setting of ``source`` into ``target``.

    Parameters
    ----------
    source, target : LayerStore, str or Path
        Open stores or store URLs (the source must exist; the target is created).
    layers : sequence of str, optional
        Only these layers (all of them by default; the import log and settings are
        copied only for a full copy).
    progress : callable, optional
        Called as ``progress(layer, n)`` after each page of ``n`` source records.
    page_size : int
        Records per page.

    Returns
    -------
    dict of str to int
        Rows inserted per layer, per child table (``layer/child``) and in the import log
        (key :data:`IMPORTS_KEY`); zero everywhere for a second identical copy.

    Raises
    ------
    UnknownLayerError
        On an unknown layer name.
    StoreError
        When a store cannot be opened or written (the target is then left unchanged).
    """
    names = list(layers) if layers is not None else list(LAYERS)
    for name in names:
        LayerStore.schema(name)  # UnknownLayerError before any work
    counts: dict[str, int] = {}
    with _opened(source, create=False) as src, _opened(target, create=True) as dst, dst.transaction():
        for name in names:
            schema = src.schema(name)
            counts[name] = 0
            for child in schema.children:
                counts[f"{name}/{child.name}"] = 0
            for page in src.pages(name, size=page_size):
                counts[name] += dst.copy_rows(name, page)
                parents = page["uid"].tolist()
                for child in schema.children:
                    rows = src.read_children(name, child.name, parent_uids=parents)
                    if len(rows):
                        counts[f"{name}/{child.name}"] += dst.copy_rows(name, rows, child=child.name)
                if progress is not None:
                    progress(name, len(page))
            logger.info("copied %s: %d new records", name, counts[name])
        if layers is None:
            counts[IMPORTS_KEY] = _copy_imports(src, dst)
            for key, value in src.meta().items():
                if key not in _OWN_META:
                    dst.set_meta(key, value)
    return counts


def _copy_imports(src: LayerStore, dst: LayerStore) -> int:
    """Append the source's import log entries the target does not hold yet."""
    log = src.imports()
    if log.empty:
        return 0
    columns = [c for c in log.columns if c != "id"]
    have = dst.imports()

    def keys(frame: pd.DataFrame) -> list[tuple[str, ...]]:
        sub = frame.reindex(columns=columns)
        return [tuple("" if pd.isna(v) else str(v) for v in row)
                for row in sub.itertuples(index=False)]

    seen = set(keys(have)) if not have.empty else set()
    added = 0
    for key, (_, row) in zip(keys(log), log.iterrows(), strict=True):
        if key in seen:
            continue
        seen.add(key)
        dst.record_import({c: _plain(row[c]) for c in columns})
        added += 1
    return added


def _plain(value: object) -> object:
    """Return a log value as the stores bind it (numpy scalars as Python ones, missing as None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):  # type: ignore[call-overload]
        return None
    item = getattr(value, "item", None)
    return item() if callable(item) else value


__all__ = ["IMPORTS_KEY", "copy_store"]

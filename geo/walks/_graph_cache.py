"""Disk cache of street graphs, shared by every builder of a pedestrian graph.

A graph is pickled under a key made of its inputs (file digest or street uids, area,
margin, graph code version). Writers go through a uniquely named temporary file renamed
over the target, so concurrent writers of the same key never leave a half-written file;
an unreadable or foreign file is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import networkx as nx

logger = logging.getLogger(__name__)

__all__ = ["cache_key", "cached_graph"]


def cache_key(parts: Iterable[str | bytes]) -> str:
    """Return a short hexadecimal digest of ``parts`` (strings are UTF-8 encoded)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:24]


def _read(path: Path) -> nx.MultiGraph | None:
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            cached = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        logger.warning("unreadable street graph cache, rebuilding: %s", path)
        return None
    if not isinstance(cached, nx.MultiGraph):
        logger.warning("street graph cache holds no graph, rebuilding: %s", path)
        return None
    logger.debug("street graph read from cache %s", path)
    return cached


def _write(path: Path, graph: nx.MultiGraph) -> None:
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            pickle.dump(graph, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError:
        logger.warning("cannot write the street graph cache %s", path)
        tmp.unlink(missing_ok=True)


def cached_graph(
    folder: str | Path | None, name: str, key: str, build: Callable[[], nx.MultiGraph]
) -> nx.MultiGraph:
    """Return the graph cached as ``folder/name-key.pickle``, building and caching it when absent.

    Parameters
    ----------
    folder : str or Path or None
        Cache folder; ``None`` disables the cache (the graph is built every time).
    name : str
        File name prefix telling the kind of graph (``streets``, ``walkgraph``…).
    key : str
        Digest of the graph's inputs (see :func:`cache_key`).
    build : callable
        Builds the graph when the cache has none.

    Returns
    -------
    networkx.MultiGraph
    """
    if folder is None:
        return build()
    path = Path(folder) / f"{name}-{key}.pickle"
    cached = _read(path)
    if cached is not None:
        return cached
    graph = build()
    _write(path, graph)
    return graph

"""Open basemap tile files (PMTiles, MBTiles) once per process and keep them open.

:func:`open_tile_file` caches the opened file by its path and modification time: a rebuilt
file is reopened on the next request, an unchanged one is never parsed again.
"""

from __future__ import annotations

import threading
from pathlib import Path

from layers.basemap._mbtiles import MBTilesFile
from layers.basemap._pmtiles import PMTilesFile
from layers.errors import TileFileError

__all__ = ["TileFile", "open_tile_file", "tile_attribution"]

TileFile = PMTilesFile | MBTilesFile

_LOCK = threading.Lock()
_OPEN: dict[str, tuple[int, TileFile]] = {}


def open_tile_file(path: str | Path) -> TileFile:
    """Return the opened tile file at ``path`` (``.pmtiles`` or ``.mbtiles``), from the cache when unchanged.

    Raises
    ------
    TileFileError
        When the file is missing, of another kind, or unreadable.
    """
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as exc:
        raise TileFileError(f"Fichier de fond de plan introuvable : {p}") from exc
    key = str(p)
    cached = _OPEN.get(key)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    with _LOCK:
        cached = _OPEN.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        suffix = p.suffix.lower()
        opened: TileFile
        if suffix == ".pmtiles":
            opened = PMTilesFile(p)
        elif suffix == ".mbtiles":
            opened = MBTilesFile(p)
        else:
            raise TileFileError(f"Fond de plan « {p.name} » : extension .pmtiles ou .mbtiles attendue.")
        _OPEN[key] = (mtime, opened)  # the previous reader is left to the garbage collector
        return opened


def tile_attribution(tiles: TileFile) -> str:
    """Return the attribution text written in the file's metadata (empty when there is none)."""
    return str(tiles.metadata.get("attribution") or "").strip()

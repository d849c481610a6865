"""MBTiles files (SQLite, TMS rows): reading tiles and metadata for the web map's basemap."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from layers.errors import TileFileError

__all__ = ["MBTilesFile"]

_FORMATS = {"pbf": "pbf", "mvt": "pbf", "png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}


class MBTilesFile:
    """An MBTiles file opened read-only (one connection, guarded by a lock).

    Attributes
    ----------
    path : Path
    metadata : dict
        The ``metadata`` table (``json`` merged in for vector files).
    format : str
        ``pbf``, ``png``, ``jpg`` or ``webp``.
    compression : str or None
        ``gzip`` for vector tiles (the MBTiles specification stores them gzip-compressed).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise TileFileError(f"Fichier MBTiles introuvable : {self.path}")
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            rows = self._db.execute("SELECT name, value FROM metadata").fetchall()
        except sqlite3.DatabaseError as exc:
            raise TileFileError(f"« {self.path} » n'est pas un fichier MBTiles lisible : {exc}") from exc
        self._lock = threading.Lock()
        self.metadata: dict[str, Any] = {str(k): v for k, v in rows}
        fmt = str(self.metadata.get("format", "")).lower()
        self.format = _FORMATS.get(fmt, "")
        if not self.format:
            raise TileFileError(f"Format de tuiles « {fmt or 'absent'} » inconnu dans « {self.path} » "
                                "(attendu : pbf, png, jpg ou webp).")
        self.compression = "gzip" if self.format == "pbf" else None
        zooms = self._db.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        self.min_zoom = int(zooms[0] if zooms[0] is not None else self.metadata.get("minzoom", 0))
        self.max_zoom = int(zooms[1] if zooms[1] is not None else self.metadata.get("maxzoom", 0))

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """``(west, south, east, north)`` from the metadata, None when absent or malformed."""
        try:
            w, s, e, n = (float(v) for v in str(self.metadata["bounds"]).split(","))
        except (KeyError, ValueError):
            return None
        return w, s, e, n

    @property
    def center(self) -> tuple[float, float, int] | None:
        """``(lon, lat, zoom)`` from the metadata (the middle of the bounds when absent)."""
        try:
            parts = [float(v) for v in str(self.metadata["center"]).split(",")]
            return parts[0], parts[1], int(parts[2]) if len(parts) > 2 else self.min_zoom
        except (KeyError, ValueError, IndexError):
            b = self.bounds
            return None if b is None else ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, self.min_zoom)

    def get(self, z: int, x: int, y: int) -> bytes | None:
        """Return the stored bytes of tile ``z/x/y`` (XYZ; MBTiles rows are flipped), None when absent."""
        if z < 0 or z > 30 or not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, (1 << z) - 1 - y)).fetchone()
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        """Release the file."""
        self._db.close()

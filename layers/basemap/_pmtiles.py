"""PMTiles v3 files: writing (the ``pmtiles`` package's writer) and fast reading.

The reader loads the whole tile directory (root and leaves) into a dictionary once, when the
file is opened, and maps the file in memory: a tile read is then one dictionary look-up and
one slice, with no per-request parsing (:func:`pmtiles.reader.Reader.get` parses the header
and the directories on every call).
"""

from __future__ import annotations

import gzip
import json
import mmap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pmtiles.tile import (
    Compression,
    TileType,
    deserialize_directory,
    deserialize_header,
    zxy_to_tileid,
)
from pmtiles.writer import Writer

from layers.errors import TileFileError

__all__ = ["PMTilesFile", "write_pmtiles"]

_TILE_TYPES = {TileType.MVT: "pbf", TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp"}


def write_pmtiles(target: Path, tiles: Iterable[tuple[int, int, int, bytes]], *,
                  header: dict[str, Any], metadata: dict[str, Any]) -> int:
    """Write gzip-compressed vector ``tiles`` (``z, x, y, data``) to the PMTiles file ``target``.

    ``header`` gives the zooms, bounds and centre (``min_zoom``, ``max_zoom``, ``min_lon_e7``...);
    tiles are sorted by tile id before writing (a clustered archive). Returns the tile count.
    """
    ordered = sorted(((zxy_to_tileid(z, x, y), data) for z, x, y, data in tiles), key=lambda t: t[0])
    if not ordered:
        raise TileFileError("Aucune tuile à écrire : le fond de plan serait vide.")
    full = {"tile_compression": Compression.GZIP, "tile_type": TileType.MVT, **header}
    with target.open("wb") as fh:
        writer = Writer(fh)
        for tile_id, data in ordered:
            writer.write_tile(tile_id, data)
        writer.finalize(full, metadata)
    return len(ordered)


class PMTilesFile:
    """A PMTiles file opened for reading (memory-mapped, directory loaded once).

    Attributes
    ----------
    path : Path
    header : dict
        The decoded header (zooms, bounds, tile type and compression).
    metadata : dict
        The JSON metadata (attribution, vector layers...).
    format : str
        ``pbf``, ``png``, ``jpg`` or ``webp``.
    compression : str or None
        ``gzip`` when the tiles are stored gzip-compressed.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with self.path.open("rb") as fh:  # the map keeps its own handle on the file
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise TileFileError(f"Fichier PMTiles illisible « {self.path} » : {exc}") from exc
        try:
            self._open()
        except TileFileError:
            self._map.close()
            raise

    def _open(self) -> None:
        try:
            self.header: dict[str, Any] = dict(deserialize_header(self._map[0:127]))
        except (ValueError, KeyError, IndexError) as exc:
            raise TileFileError(f"Fichier PMTiles illisible « {self.path} » : {exc}") from exc
        except Exception as exc:  # the pmtiles package raises its own bare exceptions
            raise TileFileError(f"« {self.path} » n'est pas un fichier PMTiles v3.") from exc
        h = self.header
        raw = self._map[h["metadata_offset"]:h["metadata_offset"] + h["metadata_length"]]
        try:
            if h["internal_compression"] == Compression.GZIP:
                raw = gzip.decompress(raw)
            self.metadata: dict[str, Any] = json.loads(raw) if raw else {}
        except (OSError, EOFError, ValueError) as exc:
            raise TileFileError(f"Métadonnées PMTiles illisibles dans « {self.path} » : {exc}") from exc
        self.format = _TILE_TYPES.get(h["tile_type"], "")
        if not self.format:
            raise TileFileError(f"Type de tuiles inconnu dans « {self.path} » ({h['tile_type']}).")
        self.compression = "gzip" if h["tile_compression"] == Compression.GZIP else None
        self._entries: dict[int, tuple[int, int]] = {}
        self._load(h["root_offset"], h["root_length"], depth=0)

    def _load(self, offset: int, length: int, *, depth: int) -> None:
        h = self.header
        if h["internal_compression"] != Compression.GZIP:  # the pmtiles package reads gzip directories only
            raise TileFileError(f"Répertoire PMTiles non compressé en gzip dans « {self.path} ».")
        try:
            entries = deserialize_directory(self._map[offset:offset + length])
        except (OSError, EOFError, ValueError) as exc:
            raise TileFileError(f"Répertoire PMTiles illisible dans « {self.path} » : {exc}") from exc
        for entry in entries:
            if entry.run_length == 0:
                if depth > 3:
                    raise TileFileError(f"Répertoire PMTiles trop profond dans « {self.path} ».")
                self._load(h["leaf_directory_offset"] + entry.offset, entry.length, depth=depth + 1)
                continue
            where = (h["tile_data_offset"] + entry.offset, entry.length)
            for i in range(entry.run_length):
                self._entries[entry.tile_id + i] = where

    @property
    def min_zoom(self) -> int:
        """Smallest zoom with tiles."""
        return int(self.header["min_zoom"])

    @property
    def max_zoom(self) -> int:
        """Largest zoom with tiles."""
        return int(self.header["max_zoom"])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in WGS84 degrees."""
        h = self.header
        return (h["min_lon_e7"] / 1e7, h["min_lat_e7"] / 1e7, h["max_lon_e7"] / 1e7, h["max_lat_e7"] / 1e7)

    @property
    def center(self) -> tuple[float, float, int]:
        """``(lon, lat, zoom)`` of the file's centre."""
        h = self.header
        return h["center_lon_e7"] / 1e7, h["center_lat_e7"] / 1e7, int(h["center_zoom"])

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, z: int, x: int, y: int) -> bytes | None:
        """Return the stored bytes of tile ``z/x/y`` (still compressed), None when absent."""
        if z < 0 or z > 30 or not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        where = self._entries.get(zxy_to_tileid(z, x, y))
        if where is None:
            return None
        return self._map[where[0]:where[0] + where[1]]

    def close(self) -> None:
        """Release the file."""
        self._map.close()

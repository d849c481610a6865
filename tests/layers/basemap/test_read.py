"""Reading basemap tile files: MBTiles (vector and raster, TMS rows), bad files, the per-process cache."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from pmtiles.reader import MmapSource, all_tiles

from layers.basemap import open_tile_file
from layers.basemap._mbtiles import MBTilesFile
from layers.errors import TileFileError
from tests.layers.basemap.conftest import DemoBasemap
from tests.webmap._browser import png_bytes


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], metadata: dict[str, str]) -> Path:
    """An MBTiles file as the specification has it (TMS rows: y counted from the south)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
               "tile_data BLOB)")
    db.executemany("INSERT INTO metadata VALUES (?, ?)", list(metadata.items()))
    db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                   [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()])
    db.commit()
    db.close()
    return path


def png(width: int) -> bytes:
    """A real PNG tile (a gradient, zlib-compressed), ``width`` pixels wide."""
    return png_bytes(width, 256)


def test_vector_mbtiles_gives_the_same_tiles(demo_basemap: DemoBasemap, tmp_path: Path) -> None:
    with demo_basemap.path.open("rb") as fh:
        every = [(zxy, bytes(data)) for zxy, data in all_tiles(MmapSource(fh))]
    sample = {}
    for z in (12, 14, 16):
        sample.update([(zxy, data) for zxy, data in every if zxy[0] == z][:5])
    assert len(sample) == 15
    path = write_mbtiles(tmp_path / "extrait.mbtiles", sample, {
        "format": "pbf", "attribution": "© contributeurs OpenStreetMap", "bounds": "2.36,48.84,2.42,48.88",
        "center": "2.40,48.86,14", "minzoom": "12", "maxzoom": "16"})
    tiles = open_tile_file(path)
    assert isinstance(tiles, MBTilesFile)
    assert (tiles.format, tiles.compression, tiles.min_zoom, tiles.max_zoom) == ("pbf", "gzip", 12, 16)
    for (z, x, y), data in sample.items():
        assert tiles.get(z, x, y) == data
        assert tiles.get(z, x, (1 << z) - 1 - y) != data  # the rows really are flipped
    assert tiles.bounds == (2.36, 48.84, 2.42, 48.88) and tiles.center == (2.40, 48.86, 14)
    assert tiles.get(3, 100, 0) is None


def test_raster_mbtiles(tmp_path: Path) -> None:
    tiles = {(14, 8301, 5634): png(256), (14, 8302, 5634): png(255)}
    path = write_mbtiles(tmp_path / "plan.mbtiles", tiles,
                         {"format": "png", "attribution": "© IGN – Plan IGN v2"})
    read = open_tile_file(path)
    assert (read.format, read.compression) == ("png", None)
    assert read.get(14, 8301, 5634) == tiles[(14, 8301, 5634)]
    assert read.bounds is None  # no bounds in its metadata: none invented
    assert read.metadata["attribution"] == "© IGN – Plan IGN v2"


def test_unreadable_files_are_said(tmp_path: Path, demo_basemap: DemoBasemap) -> None:
    with pytest.raises(TileFileError, match="introuvable"):
        open_tile_file(tmp_path / "absent.pmtiles")
    (tmp_path / "faux.pmtiles").write_bytes(b"not a pmtiles file at all" * 20)
    with pytest.raises(TileFileError, match="PMTiles"):
        open_tile_file(tmp_path / "faux.pmtiles")
    truncated = tmp_path / "coupe.pmtiles"
    truncated.write_bytes(demo_basemap.path.read_bytes()[:400])
    with pytest.raises(TileFileError):
        open_tile_file(truncated)
    write_mbtiles(tmp_path / "tiff.mbtiles", {}, {"format": "tiff"})
    with pytest.raises(TileFileError, match="tiff"):
        open_tile_file(tmp_path / "tiff.mbtiles")
    (tmp_path / "plan.tif").write_bytes(b"II*")
    with pytest.raises(TileFileError, match=r"\.pmtiles ou \.mbtiles"):
        open_tile_file(tmp_path / "plan.tif")


def test_opened_once_and_reopened_when_rebuilt(demo_basemap: DemoBasemap, tmp_path: Path) -> None:
    copy = tmp_path / "territoire.pmtiles"
    copy.write_bytes(demo_basemap.path.read_bytes())
    first = open_tile_file(copy)
    assert open_tile_file(copy) is first
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = open_tile_file(copy)
    assert again is not first and len(again) == len(first)

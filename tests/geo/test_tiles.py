"""Tile maths against values computed independently: pyproj's Web Mercator and mercantile-style formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Transformer

from geo.tiles import ORIGIN, ground_pixel_m, lonlat_to_tile, tile_bounds, tile_ranges

TO_3857 = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)


def _corner(z: int, x: int, y: int) -> tuple[float, float]:
    """North-west corner of a tile in WGS84 (the OpenStreetMap wiki's slippy map formula)."""
    n = 2 ** z
    return x / n * 360.0 - 180.0, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))


@pytest.mark.parametrize(("z", "x", "y"), [(0, 0, 0), (10, 518, 352), (15, 16600, 11271), (18, 132858, 94151),
                                           (12, 2091, 1495)])
def test_tile_bounds_match_pyproj(z: int, x: int, y: int) -> None:
    xmin, ymin, xmax, ymax = tile_bounds(z, x, y)
    nw = TO_3857.transform(*_corner(z, x, y))
    se = TO_3857.transform(*_corner(z, x + 1, y + 1))
    assert xmin == pytest.approx(nw[0], abs=1e-3) and ymax == pytest.approx(nw[1], abs=1e-3)
    assert xmax == pytest.approx(se[0], abs=1e-3) and ymin == pytest.approx(se[1], abs=1e-3)


@pytest.mark.parametrize(("lon", "lat", "z"), [(2.3522, 48.8566, 10), (2.4060, 48.8590, 15),
                                               (3.8196, 43.6222, 18),
                                               (-0.5792, 44.8378, 12), (179.9, -85.0, 3)])
def test_lonlat_to_tile_holds_the_point(lon: float, lat: float, z: int) -> None:
    x, y = lonlat_to_tile(lon, lat, z)
    px, py = TO_3857.transform(lon, lat)
    xmin, ymin, xmax, ymax = tile_bounds(z, x, y)
    assert xmin <= px < xmax and ymin < py <= ymax


def test_known_tile_of_paris() -> None:
    # mercantile.tile(2.3522, 48.8566, 10) == Tile(x=518, y=352, z=10)
    assert lonlat_to_tile(2.3522, 48.8566, 10) == (518, 352)


def test_tile_ranges_cover_boxes_and_edges() -> None:
    b = tile_bounds(14, 8301, 5634)
    inside = [b[0] + 10, b[1] + 10, b[2] - 10, b[3] - 10]
    across = [b[0] - 10, b[1] - 10, b[2] + 10, b[3] + 10]
    outside_world = [-3 * ORIGIN, -3 * ORIGIN, 3 * ORIGIN, 3 * ORIGIN]
    r = tile_ranges(np.array([inside, across, outside_world]), 14)
    assert r[0].tolist() == [8301, 5634, 8301, 5634]
    assert r[1].tolist() == [8300, 5633, 8302, 5635]
    assert r[2].tolist() == [0, 0, 2 ** 14 - 1, 2 ** 14 - 1]


def test_ground_pixel() -> None:
    assert ground_pixel_m(0, 0.0) == pytest.approx(156543.03, abs=0.01)
    # at Paris' latitude a zoom-18 pixel is under 40 cm
    equator_px = 2 * math.pi * 6378137.0 / 256  # WGS84 equator / 256 px
    expected = equator_px / 2 ** 18 * math.cos(math.radians(48.86))
    assert ground_pixel_m(18, 48.86) == pytest.approx(expected, rel=1e-9)
    assert ground_pixel_m(18, 48.86) < 0.4

"""Web Mercator tile maths (EPSG:3857, XYZ scheme with y growing southwards).

Only arithmetic: tile bounds, the tiles covering an extent, the size of a screen pixel on the
ground. Drawing and encoding live elsewhere (:mod:`layers.basemap`).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ORIGIN", "ground_pixel_m", "lonlat_to_tile", "tile_bounds", "tile_ranges"]

#: Half the side of the Web Mercator square, metres (EPSG:3857).
ORIGIN = 20037508.342789244
#: Tiles are drawn this many screen pixels wide.
TILE_PX = 256


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Return ``(xmin, ymin, xmax, ymax)`` of tile ``z/x/y`` in EPSG:3857 metres."""
    size = 2 * ORIGIN / (1 << z)
    xmin = -ORIGIN + x * size
    ymax = ORIGIN - y * size
    return xmin, ymax - size, xmin + size, ymax


def lonlat_to_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Return the ``(x, y)`` of the tile of zoom ``z`` holding WGS84 point ``lon, lat``."""
    n = 1 << z
    lat_r = math.radians(max(min(lat, 85.0511287798), -85.0511287798))
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(lat_r)) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tile_ranges(bounds: np.ndarray, z: int) -> np.ndarray:
    """Return the tile index ranges ``x0, y0, x1, y1`` (inclusive) covering each box of ``bounds``.

    Parameters
    ----------
    bounds : numpy.ndarray
        ``(n, 4)`` boxes ``xmin, ymin, xmax, ymax`` in EPSG:3857.
    z : int
        Zoom level.

    Returns
    -------
    numpy.ndarray
        ``(n, 4)`` integers; a box on a tile edge belongs to both tiles.
    """
    n = 1 << z
    size = 2 * ORIGIN / n
    b = np.asarray(bounds, dtype=float).reshape(-1, 4)
    x0 = np.floor((b[:, 0] + ORIGIN) / size)
    x1 = np.floor((b[:, 2] + ORIGIN) / size)
    y0 = np.floor((ORIGIN - b[:, 3]) / size)
    y1 = np.floor((ORIGIN - b[:, 1]) / size)
    out: np.ndarray = np.clip(np.stack([x0, y0, x1, y1], axis=1), 0, n - 1).astype(np.int64)
    return out


def ground_pixel_m(z: int, lat: float) -> float:
    """Return the ground size (metres) of one screen pixel of a 256-px tile at zoom ``z`` and ``lat``."""
    return 2 * ORIGIN * math.cos(math.radians(lat)) / (TILE_PX * (1 << z))

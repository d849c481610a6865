"""Columnar building blocks of :func:`geo.perimeters.lookup.lookup_many` (private).

* :func:`factorize`: codes and distinct values of a text column without turning an Arrow
  column into Python objects (pandas' Arrow-backed ``str`` columns are hashed by Arrow).
* :class:`CellGrid` / :func:`cell_classes`: a grid over each neighbourhood of perimeters,
  built once per index and neighbourhood on first use. A cell farther than the distance
  limit (plus a safety margin) from every perimeter answers « outside, no distance » for all
  its points; a cell inside one perimeter and that far from every boundary answers « inside
  that one, no distance ». Only the points of the other cells (a band along the boundaries)
  go through the exact point-in-polygon and distance tests, so the answers are those of the
  exact tests everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import shapely

#: Safety margin (m) added to the distance limit when a cell is declared clear of every boundary.
MARGIN_M = 1.0
#: Cells per neighbourhood grid at most (the cell side grows beyond).
MAX_CELLS = 250_000
#: Smallest cell side (m).
MIN_CELL_M = 25.0
#: Cell classes besides a perimeter number.
OUTSIDE, MIXED = -1, -2


class Coords(NamedTuple):
    """Lambert-93 coordinates of the rows of a lookup, one contiguous array each (NaN: no point).

    Kept apart (not an (n, 2) array): the passes read x and y separately, and a table's
    ``x``/``y`` columns are used as they are, without copying them together.
    """

    x: np.ndarray
    y: np.ndarray

    def rows(self, which: slice | np.ndarray) -> Coords:
        """Return the coordinates of the rows ``which``."""
        return Coords(self.x[which], self.y[which])

    def located(self) -> np.ndarray:
        """Tell which rows have both coordinates."""
        located: np.ndarray = np.isfinite(self.x) & np.isfinite(self.y)
        return located


def factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1: missing) and distinct values of a column.

    Arrow-backed text is hashed by Arrow (no Python string per row); object columns, often
    sorted by street, collapse runs of equal values first.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype | pd.ArrowDtype) or pd.api.types.is_numeric_dtype(dtype):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return np.asarray(codes), np.asarray(uniques, dtype=object)
    arr = values.to_numpy(dtype=object)
    n = len(arr)
    if n > 1:
        change = np.empty(n, dtype=bool)
        change[0] = True
        np.not_equal(arr[1:], arr[:-1], out=change[1:])
        heads = np.flatnonzero(change)
        if len(heads) <= n // 2:
            head_codes, head_uniques = pd.factorize(arr[heads], use_na_sentinel=True)
            return np.repeat(head_codes, np.diff(np.append(heads, n))), np.asarray(head_uniques, dtype=object)
    all_codes, all_uniques = pd.factorize(arr, use_na_sentinel=True)
    return np.asarray(all_codes), np.asarray(all_uniques, dtype=object)


@dataclass(frozen=True)
class CellGrid:
    """Classes of the cells of one neighbourhood (``OUTSIDE``, ``MIXED`` or a perimeter number)."""

    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    classes: np.ndarray  # (ny * nx,) int32, row-major (iy * nx + ix)

    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the number (row-major) of the cell of each point (points are inside the grid's box)."""
        ix = np.clip(((x - self.x0) / self.size).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(((y - self.y0) / self.size).astype(np.int64), 0, self.ny - 1)
        cells: np.ndarray = iy * self.nx + ix
        return cells

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Class of the cell of each point (points are inside the grid's box)."""
        classes: np.ndarray = self.classes[self.cells(x, y)]
        return classes


def cell_grid(box: np.ndarray, members: list[int], geoms: np.ndarray, boundaries: np.ndarray,
              distance: float) -> CellGrid:
    """Classify the cells of a neighbourhood's box.

    The boundaries are sampled every half cell and their cells marked; every cell within
    ``distance`` (plus the margin and the sampling step) of a marked cell is ``MIXED``. Any
    other cell is farther than ``distance`` from every boundary, hence wholly inside or wholly
    outside each perimeter: its centre tells which (``OUTSIDE``, the perimeter, or ``MIXED``
    when inside several).

    Parameters
    ----------
    box : numpy.ndarray
        (minx, miny, maxx, maxy) of the neighbourhood (already widened by ``distance``).
    members : list of int
        Perimeter numbers of the neighbourhood.
    geoms, boundaries : numpy.ndarray
        Prepared perimeters and their boundaries (all of the index).
    distance : float
        The index's distance limit.

    Returns
    -------
    CellGrid
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    width, height = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    size = max(MIN_CELL_M, math.sqrt(width * height / MAX_CELLS))
    nx, ny = math.ceil(width / size) + 1, math.ceil(height / size) + 1
    step = size / 2
    samples = shapely.get_coordinates(shapely.segmentize(boundaries[members], step))
    marked = np.zeros((ny, nx), dtype=bool)
    ix = np.clip(np.floor((samples[:, 0] - x0) / size).astype(np.int64), 0, nx - 1)
    iy = np.clip(np.floor((samples[:, 1] - y0) / size).astype(np.int64), 0, ny - 1)
    marked[iy, ix] = True
    reach = math.ceil((distance + MARGIN_M + step) / size) + 1
    near = _dilate(marked, reach).ravel()
    count = np.zeros(nx * ny, dtype=np.int32)
    inside = np.full(nx * ny, OUTSIDE, dtype=np.int32)
    for i in members:
        minx, miny, maxx, maxy = shapely.bounds(geoms[i])
        ix0, ix1 = _span(minx, maxx, x0, size, nx)
        iy0, iy1 = _span(miny, maxy, y0, size, ny)
        gx, gy = np.meshgrid(np.arange(ix0, ix1 + 1), np.arange(iy0, iy1 + 1))
        flat = (gy * nx + gx).ravel()
        flat = flat[~near[flat]]
        centre_x = x0 + (flat % nx + 0.5) * size
        centre_y = y0 + (flat // nx + 0.5) * size
        hit = flat[shapely.contains_xy(geoms[i], centre_x, centre_y)]
        count[hit] += 1
        inside[hit] = i
    classes = np.where(near | (count > 1), MIXED, np.where(count == 1, inside, OUTSIDE))
    return CellGrid(x0, y0, size, nx, ny, classes.astype(np.int32))


def _dilate(mask: np.ndarray, k: int) -> np.ndarray:
    """Cells within ``k`` cells (a square window) of a ``True`` cell, by a summed-area table."""
    ny, nx = mask.shape
    table = np.zeros((ny + 1, nx + 1), dtype=np.int64)
    table[1:, 1:] = mask.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    rows, cols = np.arange(ny), np.arange(nx)
    r0, r1 = np.clip(rows - k, 0, ny), np.clip(rows + k + 1, 0, ny)
    c0, c1 = np.clip(cols - k, 0, nx), np.clip(cols + k + 1, 0, nx)
    total = (table[r1][:, c1] - table[r0][:, c1] - table[r1][:, c0] + table[r0][:, c0])
    dilated: np.ndarray = total > 0
    return dilated


def _span(lo: float, hi: float, origin: float, size: float, count: int) -> tuple[int, int]:
    """First and last cell numbers (clipped to the grid) covering ``[lo, hi]``."""
    first = int(np.clip(math.floor((lo - origin) / size), 0, count - 1))
    last = int(np.clip(math.floor((hi - origin) / size), 0, count - 1))
    return first, last

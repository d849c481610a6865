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

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Class of the cell of each point (points are inside the grid's box)."""
        ix = np.clip(((x - self.x0) / self.size).astype(np.int64), 0, self.nx - 1)
        iy = np.clip(((y - self.y0) / self.size).astype(np.int64), 0, self.ny - 1)
        classes: np.ndarray = self.classes[iy * self.nx + ix]
        return classes


def cell_grid(box: np.ndarray, members: list[int], geoms: np.ndarray, boundaries: np.ndarray,
              distance: float) -> CellGrid:
    """Classify the cells of a neighbourhood's box.

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
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    cx0 = x0 + ix.ravel() * size
    cy0 = y0 + iy.ravel() * size
    cells = shapely.box(cx0, cy0, cx0 + size, cy0 + size)
    reach = distance + MARGIN_M
    near = np.zeros(len(cells), dtype=np.int32)
    inside = np.full(len(cells), OUTSIDE, dtype=np.int32)
    for i in members:
        shapely.prepare(boundaries[i])
        close = shapely.dwithin(geoms[i], cells, reach)
        near += close
        deep = close.copy()
        rows = np.flatnonzero(close)
        deep[rows] = ~shapely.dwithin(boundaries[i], cells[rows], reach)
        rows = np.flatnonzero(deep)
        deep[rows] = shapely.contains_xy(geoms[i], cx0[rows] + size / 2, cy0[rows] + size / 2)
        inside = np.where(deep, i, inside)
    classes = np.where(near == 0, OUTSIDE, np.where((near == 1) & (inside >= 0), inside, MIXED))
    return CellGrid(x0, y0, size, nx, ny, classes.astype(np.int32))

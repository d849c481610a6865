"""Distance from points to a perimeter's boundary through the cells of a grid (private).

:func:`geo.perimeters.lookup.lookup_many` gives the distance to the nearest boundary of the
points near one. GEOS measures a point against every segment of the boundary; here each
cell of a neighbourhood's :class:`~geo.perimeters._columnar.CellGrid` keeps, once, the
few segments that can be nearest to a point of that cell (:func:`near_segments`), and the
points are measured against those only, with the arithmetic of GEOS'
``Distance::pointToSegment`` (same operations in the same order, hence the same doubles:
the minimum over the candidates is the minimum over the whole boundary, see
:func:`near_segments`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from geo.perimeters._columnar import CellGrid

__all__ = ["NearSegments", "near_segments", "segment_distances"]

#: Slack (m) on the candidate bounds, far above the rounding of the coordinates.
_SLACK_M = 0.01


@dataclass(frozen=True)
class _Table:
    """Candidates of the cells measured so far (memory in proportion to them, not to the grid).

    ``cells`` (sorted) are the cells measured; ``starts`` and ``counts``, aligned with them,
    delimit each one's segment numbers in ``segments`` (a count of 0: no candidate).
    """

    cells: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    segments: np.ndarray

    def find(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``cells`` in the table, and whether each is there."""
        pos = np.searchsorted(self.cells, cells)
        known = pos < len(self.cells)
        known[known] = self.cells[pos[known]] == cells[known]
        return pos, known


class NearSegments:
    """Per cell of a grid, the segments of one boundary that can be nearest to a point of the cell.

    With ``h`` the half diagonal of a cell, ``c`` its centre and ``m`` the distance from
    ``c`` to the boundary, every point ``p`` of the cell is within ``m + h`` of the
    boundary, so its nearest segment ``s`` has ``d(c, s) <= d(p, s) + h <= m + 2h``: the
    segments within ``m + 2h`` of the centre hold the nearest one of every point of the
    cell, and the minimum over them is the minimum over the whole boundary. A cell whose
    centre is farther than ``distance + h`` keeps none (its points are farther than
    ``distance``: they are measured by GEOS if ever asked).

    The candidates of a cell are found the first time one of its points is measured, then
    kept (an immutable table replaced as a whole: a lookup running in another thread reads
    either table, both right).

    Parameters
    ----------
    grid : CellGrid
        Cells of the neighbourhood.
    boundary : shapely.Geometry
        Boundary of one perimeter (lines), EPSG:2154.
    distance : float
        Distance limit of the index (m).
    """

    def __init__(self, grid: CellGrid, boundary: shapely.Geometry, distance: float) -> None:
        self.grid = grid
        self.distance = float(distance)
        self.half = grid.size * math.sqrt(2.0) / 2.0
        self.ax, self.ay, self.bx, self.by = _segments(boundary)
        ends = np.stack([np.column_stack([self.ax, self.ay]), np.column_stack([self.bx, self.by])], axis=1)
        lines: np.ndarray = np.asarray(shapely.linestrings(ends), dtype=object)
        self._tree = shapely.STRtree(lines)
        empty = np.empty(0, dtype=np.int64)
        self._table = _Table(empty, empty, empty, empty)

    def distances(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance of each point to the boundary (NaN where its cell keeps no candidate)."""
        cells = self.grid.cells(x, y)
        table = self._table
        pos, known = table.find(cells)
        if not known.all():
            table = self._measure(table, np.unique(cells[~known]))
            pos, _ = table.find(cells)
        first, count = table.starts[pos], table.counts[pos]
        out = np.full(len(x), np.nan)
        has = np.flatnonzero(count > 0)
        if not len(has):
            return out
        count = count[has]
        offsets = np.cumsum(count) - count
        pair = np.repeat(first[has] - offsets, count) + np.arange(int(count.sum()))
        seg = table.segments[pair]
        point = np.repeat(has, count)
        d = segment_distances(x[point], y[point], self.ax[seg], self.ay[seg], self.bx[seg], self.by[seg])
        out[has] = np.minimum.reduceat(d, offsets)
        return out

    def _measure(self, table: _Table, cells: np.ndarray) -> _Table:
        """Find the candidates of ``cells`` (distinct, not measured yet); return the new table."""
        grid = self.grid
        centres: np.ndarray = np.asarray(shapely.points(grid.x0 + (cells % grid.nx + 0.5) * grid.size,
                                            grid.y0 + (cells // grid.nx + 0.5) * grid.size), dtype=object)
        _, nearest = self._tree.query_nearest(centres, return_distance=True, all_matches=False)
        near = nearest <= self.distance + self.half + _SLACK_M
        at, seg = self._tree.query(centres[near], predicate="dwithin",
                                   distance=nearest[near] + 2.0 * self.half + _SLACK_M)
        order = np.argsort(at, kind="stable")
        at, seg = at[order], seg[order]
        near_counts = np.bincount(at, minlength=int(near.sum()))
        counts = np.zeros(len(cells), dtype=np.int64)
        counts[near] = near_counts
        starts = len(table.segments) + np.cumsum(counts) - counts
        merged = np.concatenate([table.cells, cells])
        order = np.argsort(merged, kind="stable")
        self._table = _Table(merged[order], np.concatenate([table.starts, starts])[order],
                             np.concatenate([table.counts, counts])[order],
                             np.concatenate([table.segments, seg.astype(np.int64)]))
        return self._table


def _segments(boundary: shapely.Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the ends (ax, ay, bx, by) of every segment of a (multi)linestring."""
    coords, part = shapely.get_coordinates(shapely.get_parts(boundary), return_index=True)
    same = part[1:] == part[:-1]
    return coords[:-1, 0][same], coords[:-1, 1][same], coords[1:, 0][same], coords[1:, 1][same]


def near_segments(grid: CellGrid, boundary: shapely.Geometry, distance: float) -> NearSegments:
    """Return the :class:`NearSegments` of ``boundary`` over the cells of ``grid`` (measured on demand)."""
    return NearSegments(grid, boundary, distance)


def segment_distances(px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray,
                      by: np.ndarray) -> np.ndarray:
    """Distance of each point ``p`` to the segment ``[a, b]`` of the same row.

    The operations of GEOS' ``Distance::pointToSegment`` in its order (projection factor
    ``r``, an end when ``r`` is outside ]0, 1[, else the perpendicular distance), so that the
    results are the doubles ``shapely.distance`` gives.
    """
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    with np.errstate(divide="ignore", invalid="ignore"):
        r = ((px - ax) * dx + (py - ay) * dy) / len2
        s = ((ay - py) * dx - (ax - px) * dy) / len2
        perp = np.abs(s) * np.sqrt(len2)
    ex, ey = px - ax, py - ay
    to_a = np.sqrt(ex * ex + ey * ey)
    fx, fy = px - bx, py - by
    to_b = np.sqrt(fx * fx + fy * fy)
    out: np.ndarray = np.where((len2 == 0) | (r <= 0.0), to_a, np.where(r >= 1.0, to_b, perp))
    return out

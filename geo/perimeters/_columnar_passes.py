"""Polygon and rule passes of :func:`geo.perimeters.lookup.lookup_many` (private).

:func:`polygon_pass` answers point in polygon and the distance to the nearest boundary
(cell grids first, exact tests in the band along the boundaries, where each cell brings the
few boundary segments its points can be nearest to: :mod:`geo.perimeters._boundary_distance`);
:func:`rule_pass` answers the street rules compiled in the index (:mod:`geo.perimeters._rulekeys`).
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.perimeters._boundary_distance import NearSegments, near_segments
from geo.perimeters._columnar import MIXED, CellGrid, Coords, cell_grid, factorize
from geo.perimeters._rows import Streets
from geo.perimeters._rulekeys import RuleRows, evaluate_compiled
from geo.perimeters.index import LookupIndex
from geo.perimeters.streetnames import commune_key

__all__ = ["groups", "polygon_pass", "rule_pass"]


def _zone(index: LookupIndex, i: int) -> BaseGeometry:
    """Return the prepared ``max_distance_m`` buffer of perimeter ``i`` (built on first use, then kept)."""
    zone = index.zones.get(i)
    if zone is None:
        zone = shapely.buffer(index.perimeters.geometry.iloc[i], index.max_distance_m, quad_segs=4)
        shapely.prepare(zone)
        index.zones[i] = zone
    return zone


def groups(bounds: np.ndarray, distance: float, gap: float = 5000.0) -> list[tuple[np.ndarray, list[int]]]:
    """Gather the perimeters by neighbourhood: (expanded bounding box, members).

    Points are then tested against a few boxes instead of every perimeter.
    """
    groups: list[tuple[np.ndarray, list[int]]] = []
    for i, box in enumerate(bounds):
        wide = box + np.array([-distance, -distance, distance, distance])
        for g, (gbox, members) in enumerate(groups):
            if not (wide[0] > gbox[2] + gap or wide[2] < gbox[0] - gap
                    or wide[1] > gbox[3] + gap or wide[3] < gbox[1] - gap):
                merged = np.array([min(gbox[0], wide[0]), min(gbox[1], wide[1]),
                                   max(gbox[2], wide[2]), max(gbox[3], wide[3])])
                groups[g] = (merged, [*members, i])
                break
        else:
            groups.append((wide, [i]))
    return groups


def polygon_pass(xy: Coords, index: LookupIndex, *,
                 dist: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point in polygon and boundary distance → (perimeter number or -1, hits, distance).

    Per neighbourhood of perimeters, the points in its box are first classified by the cells
    of its :class:`~geo.perimeters._columnar.CellGrid` (when enough points make the grid worth
    building); only those of the cells along a boundary take the exact tests. Distances are
    rounded to 0.1 m (NaN: none within the limit), written into ``dist`` when given.
    """
    n = len(xy.x)
    found = np.full(n, -1, dtype=np.int32)
    hits = np.zeros(n, dtype=np.int8)
    if dist is None:
        dist = np.full(n, np.nan)
    else:
        dist.fill(np.nan)
    x, y = xy
    if not n:
        return found, hits, dist
    # box of the points (NaN ignored; all NaN: every comparison below is false, no group is read)
    xmin, xmax, ymin, ymax = np.fmin.reduce(x), np.fmax.reduce(x), np.fmin.reduce(y), np.fmax.reduce(y)
    for g, ((gx0, gy0, gx1, gy1), members) in enumerate(index.groups):
        if not (xmax >= gx0 and xmin <= gx1 and ymax >= gy0 and ymin <= gy1):
            continue  # no point in this neighbourhood's box: not read at all
        cand = np.flatnonzero((x >= gx0) & (x <= gx1))
        cand = cand[(y[cand] >= gy0) & (y[cand] <= gy1)]
        if len(cand) >= _GRID_MIN_POINTS:
            classes = _grid(index, g).lookup(x[cand], y[cand])
            clear = classes >= 0
            inside = cand[clear]
            first = hits[inside] == 0
            found[inside[first]] = classes[clear][first]
            hits[inside] += 1
            cand = cand[classes == MIXED]
            if len(cand):
                _exact_pass(xy, cand, members, index, (found, hits, dist), group=g)
            continue
        if len(cand):
            _exact_pass(xy, cand, members, index, (found, hits, dist))
    return found, hits, dist


#: Points of a neighbourhood from which its cell grid is built (fewer: exact tests only).
_GRID_MIN_POINTS = 20_000


def _grid(index: LookupIndex, g: int) -> CellGrid:
    """Return the cell grid of neighbourhood ``g`` (built on first use, then kept)."""
    grid = index.grids.get(g)
    if grid is None:
        box, members = index.groups[g]
        grid = cell_grid(box, members, index.perimeters.geometry.to_numpy(), index.boundaries,
                         index.max_distance_m)
        index.grids[g] = grid
    return grid


def _near(index: LookupIndex, g: int, i: int) -> NearSegments:
    """Return the candidate segments of perimeter ``i`` per cell of neighbourhood ``g`` (built once)."""
    near = index.near.get((g, i))
    if near is None:
        near = near_segments(_grid(index, g), index.boundaries[i], index.max_distance_m)
        index.near[(g, i)] = near
    return near


def _boundary_distance(x: np.ndarray, y: np.ndarray, index: LookupIndex, i: int,
                       group: int | None) -> np.ndarray:
    """Distance of the points to the boundary of perimeter ``i``.

    Through the cells of the grid of neighbourhood ``group`` when given (GEOS for any point
    its cell cannot answer), else GEOS.
    """
    if group is None:
        di: np.ndarray = shapely.distance(index.boundaries[i], shapely.points(x, y))
        return di
    di = _near(index, group, i).distances(x, y)
    missing = np.flatnonzero(np.isnan(di))
    if len(missing):
        di[missing] = shapely.distance(index.boundaries[i], shapely.points(x[missing], y[missing]))
    return di


def _exact_pass(xy: Coords, cand: np.ndarray, members: list[int], index: LookupIndex,
                out: tuple[np.ndarray, np.ndarray, np.ndarray], *, group: int | None = None) -> None:
    """Exact point-in-polygon and boundary distance of the points ``cand`` (fills ``out`` in place).

    ``group``: the neighbourhood whose cell grid classified ``cand`` (its cells then bring the
    few boundary segments to measure), ``None`` without a grid.
    """
    found, hits, dist = out
    x, y = xy
    d = index.max_distance_m
    geoms = index.perimeters.geometry.to_numpy()
    cx, cy = x[cand], y[cand]
    for i in members:
        minx, miny, maxx, maxy = index.bounds[i]
        inbox = (cx >= minx - d) & (cx <= maxx + d) & (cy >= miny - d) & (cy <= maxy + d)
        near = cand[inbox]
        if not len(near):
            continue
        nx, ny = x[near], y[near]
        strict = (nx >= minx) & (nx <= maxx) & (ny >= miny) & (ny <= maxy)
        if strict.any():
            inside = near[strict][shapely.contains_xy(geoms[i], nx[strict], ny[strict])]
            found[inside[hits[inside] == 0]] = i
            hits[inside] += 1
        close = near[shapely.contains_xy(_zone(index, i), nx, ny)]
        if len(close):
            di = _boundary_distance(x[close], y[close], index, i, group)
            # rounded here, on the few points measured (rounding is monotonic: the minimum of the
            # rounded distances is the rounded minimum)
            dist[close] = np.fmin(dist[close], np.round(np.where(di <= d, di, np.nan), 1))


def rule_pass(streets: Streets, index: LookupIndex) -> tuple[np.ndarray, ...]:
    """Rule answer per row → (QPV number or -1, street has rules, decided, ambiguous)."""
    n = len(streets.codes)
    compiled = index.compiled
    if compiled is None or not len(streets.keys):  # constant answers: read-only views, no memory
        return (np.broadcast_to(np.int32(-1), (n,)), np.broadcast_to(False, (n,)),
                np.broadcast_to(True, (n,)), np.broadcast_to(False, (n,)))
    rule_idx = np.full(n, -1, dtype=np.int32)
    rule_street = np.zeros(n, dtype=bool)
    decided = np.ones(n, dtype=bool)
    amb = np.zeros(n, dtype=bool)
    sid = streets.street_ids
    if sid is None:
        ids = compiled.street_ids
        sid = np.array([ids.get(k, -1) for k in streets.keys.tolist()], dtype=np.int64)
    row_sid = np.append(sid, -1)[streets.codes]
    rows = np.flatnonzero(row_sid >= 0)
    if not len(rows):
        return rule_idx, rule_street, decided, amb
    if streets.commune_table is not None:  # read once for the whole table
        ckeys = streets.commune_table
        ccodes = (np.zeros(len(rows), dtype=np.int64) if streets.commune_codes is None
                  else streets.commune_codes[rows])
    elif streets.communes is None:
        ccodes, ckeys = np.zeros(len(rows), dtype=np.int64), [streets.commune]
    else:
        codes, cnames = factorize(streets.communes.iloc[rows])
        table = [str(c) if streets.keyed else commune_key(c) for c in cnames.tolist()]
        ckeys = [k or streets.commune for k in [*table, streets.commune]]
        ccodes = np.where(codes < 0, len(table), codes).astype(np.int64)
    verdict = evaluate_compiled(compiled, RuleRows(row_sid[rows], ccodes, ckeys, streets.numbers[rows]))
    rule_idx[rows], rule_street[rows], decided[rows], amb[rows] = verdict
    return rule_idx, rule_street, decided, amb

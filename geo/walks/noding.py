"""Noding of street centrelines: split every line where it meets another one.

Street files do not all come split at their crossings: OpenStreetMap ways run through
many crossings, municipal files are often made of whole streets. A graph that joins
lines only at their end points then falls apart into many pieces. :func:`node_lines`
returns the lines cut at every crossing, T-junction and shared vertex, with:

* grade separation: lines on different levels (a bridge over a road, a tunnel under it,
  from a level column or the OpenStreetMap ``layer``/``bridge``/``tunnel`` tags) are not
  cut where they cross, only where one of them ends on the other;
* gap closing: a line end closer than ``snap_m`` to another line end, or to another
  line of its level, is moved onto it (counted in :attr:`NodingStats.snapped_gaps`);
* zero-length pieces dropped.

Everything is vectorised with shapely 2 (STRtree, array operations): noding the
8,000 streets of Montpellier merged into whole streets takes a fraction of a second.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.errors import NetworkError
from geo.walks._segments import line_meetings

logger = logging.getLogger(__name__)

__all__ = ["Crossings", "NodingOptions", "NodingStats", "node_lines"]

#: Where line interiors crossing each other are noded (see :class:`NodingOptions`).
Crossings = Literal["auto", "all", "junctions"]

#: Points closer than this (metres) are the same point.
_EPS = 1e-3
#: In ``auto`` mode, a file whose line ends meet another end this often is taken as split at
#: its junctions: a crossing of two line interiors is then a bridge or a tunnel.
_SPLIT_FILE_SHARE = 0.75


@dataclass(frozen=True)
class NodingOptions:
    """How street lines are noded before building a graph.

    Attributes
    ----------
    snap_m : float, default 1
        Line ends closer than this to another line end or to another line of the same
        level are moved onto it (gap closing), metres; 0 disables it.
    split : bool, default True
        Split lines at their crossings; ``False`` joins lines at their end points only
        (for files already split at every crossing).
    level_column : str, optional
        Column holding the level of each line (bridges > 0, tunnels < 0); guessed from
        ``level``/``niveau``/``layer`` and the OpenStreetMap ``bridge``/``tunnel`` tags
        when omitted.
    grade_separation : bool, default True
        Do not node lines of different levels where they cross.
    crossings : {"auto", "all", "junctions"}
        Where two line interiors cross: ``all`` nodes them (OpenStreetMap-like files of
        whole streets), ``junctions`` only at a vertex both lines share (files split at
        their junctions, where an unsplit crossing is a bridge or a tunnel); ``auto``
        picks ``junctions`` when at least 75 % of the line ends meet another line end.
        Line ends on another line (T-junctions) are always noded.
    link_m : float, default 15
        After noding, a connected part of the network lying within this distance of
        another one is joined to it by one straight pedestrian link (metres; 0 disables
        it): see :func:`geo.walks.linking.link_components`.
    """

    snap_m: float = 1.0
    split: bool = True
    level_column: str | None = None
    grade_separation: bool = True
    crossings: Crossings = "auto"
    link_m: float = 15.0

    def __post_init__(self) -> None:
        """Check the values (French errors naming the value)."""
        if self.crossings not in get_args(Crossings):
            raise NetworkError(f"Mode de croisement inconnu « {self.crossings} » (auto, all ou junctions).")
        if not (isinstance(self.snap_m, int | float) and 0 <= self.snap_m <= 50):
            raise NetworkError(f"Tolérance d'accrochage des voies invalide : {self.snap_m} m "
                               "(entre 0 et 50 m).")
        if not (isinstance(self.link_m, int | float) and 0 <= self.link_m <= 100):
            raise NetworkError("Distance maximale des liaisons piétonnes hors voie invalide : "
                               f"{self.link_m} m (entre 0 et 100 m).")


@dataclass(frozen=True)
class NodingStats:
    """What noding did to the lines.

    Attributes
    ----------
    lines_in : int
        Lines read.
    pieces_out : int
        Pieces after noding.
    crossings : int
        Points where lines were cut.
    snapped_gaps : int
        Line ends moved (at most ``snap_m``) onto another line or line end.
    separated_crossings : int
        Crossings left unnoded: lines of different levels (bridges, tunnels), or line
        interiors crossing without a shared vertex in a file split at its junctions.
    dropped : int
        Zero-length or degenerate pieces dropped.
    """

    lines_in: int = 0
    pieces_out: int = 0
    crossings: int = 0
    snapped_gaps: int = 0
    separated_crossings: int = 0
    dropped: int = 0


def node_lines(
    lines: np.ndarray, *, levels: np.ndarray | None = None, options: NodingOptions | None = None
) -> tuple[np.ndarray, np.ndarray, NodingStats]:
    """Cut street lines at their crossings, close small gaps and drop empty pieces.

    Parameters
    ----------
    lines : numpy.ndarray of LineString
        Lines in a metric CRS (EPSG:2154), single parts.
    levels : numpy.ndarray, optional
        Level of each line (0 when omitted); lines of different levels are cut only where
        one of them ends on the other.
    options : NodingOptions, optional
        Tolerance and switches (defaults of :class:`NodingOptions`).

    Returns
    -------
    pieces : numpy.ndarray of LineString
        The noded pieces.
    source : numpy.ndarray of int
        Index in ``lines`` of the line each piece comes from.
    stats : NodingStats
        Counts of what was done.
    """
    opts = options or NodingOptions()
    geoms = np.asarray(lines, dtype=object)
    lvl = np.zeros(len(geoms)) if levels is None else np.nan_to_num(np.asarray(levels, dtype=float))
    if not opts.grade_separation:
        lvl = np.zeros(len(geoms))
    length = shapely.length(geoms)
    ok = (length > _EPS) & (shapely.get_num_coordinates(geoms) >= 2)
    dropped = int((~ok).sum())
    kept = np.flatnonzero(ok)
    if dropped:
        geoms, lvl = geoms[kept], lvl[kept]
    n = len(geoms)
    if n == 0:
        return geoms, np.zeros(0, dtype=np.int64), NodingStats(lines_in=len(ok), dropped=dropped)
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    counts = np.bincount(index, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    last = first + counts - 1
    snapped = 0
    cuts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    joined_share = _joined_share(coords[np.concatenate([first, last])], max(opts.snap_m, _EPS))
    if opts.snap_m > 0:
        before = coords
        coords, snapped, (gap_line, gap_xy) = _close_gaps(coords, first, last, geoms, lvl, opts.snap_m)
        geoms = _rebuilt(geoms, coords, index, moved=np.any(coords != before, axis=1))
        gap_along = shapely.line_locate_point(geoms[gap_line], shapely.points(gap_xy)) if len(gap_line) \
            else np.zeros(0)
        cuts.append((gap_line.astype(np.int64), gap_xy, gap_along))
    separated = 0
    if opts.split:
        cross_all = opts.crossings == "all" or (opts.crossings == "auto" and joined_share < _SPLIT_FILE_SHARE)
        pair_cuts, separated = _crossings(coords, index, shapely.length(geoms), lvl, cross_all=cross_all)
        cuts.append(pair_cuts)
    cuts.append((np.zeros(0, dtype=np.int64), np.zeros((0, 2)), np.zeros(0)))
    all_cuts = (np.concatenate([c[0] for c in cuts]).astype(np.int64), np.concatenate([c[1] for c in cuts]),
                np.concatenate([c[2] for c in cuts]))
    pieces, source, crossings = _split(geoms, coords, index, all_cuts)
    good = shapely.length(pieces) > _EPS
    stats = NodingStats(lines_in=len(ok), pieces_out=int(good.sum()), crossings=crossings,
                        snapped_gaps=snapped, separated_crossings=separated,
                        dropped=dropped + int((~good).sum()))
    logger.info("noding: %d lines -> %d pieces, %d cuts, %d gaps closed, %d grade-separated crossings",
                n, stats.pieces_out, crossings, snapped, separated)
    return pieces[good], kept[source[good]], stats


def _rebuilt(geoms: np.ndarray, coords: np.ndarray, index: np.ndarray, *, moved: np.ndarray) -> np.ndarray:
    """Return ``geoms`` with the lines that have a moved coordinate rebuilt from ``coords``."""
    lines = np.unique(index[moved])
    if len(lines) == 0:
        return geoms
    mine = np.isin(index, lines)
    _, local = np.unique(index[mine], return_inverse=True)
    out = geoms.copy()
    out[lines] = shapely.linestrings(coords[mine], indices=local)
    return out


def _close_gaps(coords: np.ndarray, first: np.ndarray, last: np.ndarray, geoms: np.ndarray, lvl: np.ndarray,
                snap_m: float) -> tuple[np.ndarray, int, tuple[np.ndarray, np.ndarray]]:
    """Move line ends onto close line ends, then loose ends onto close lines of their level.

    Returns the new coordinates, the number of ends moved and the cuts the moved ends make
    on the lines they land on (line index, xy).
    """
    coords = coords.copy()
    n = len(first)
    ends_at = np.concatenate([first, last])
    ends = coords[ends_at]
    end_line = np.concatenate([np.arange(n), np.arange(n)])
    # 1. ends within snap_m of each other become one point (the mean of the cluster)
    pairs = cKDTree(ends).query_pairs(snap_m, output_type="ndarray")
    moved = np.zeros(len(ends), dtype=bool)
    if len(pairs):
        m = len(ends)
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
        _, label = connected_components(graph, directed=False)
        sums = np.zeros((label.max() + 1, 2))
        np.add.at(sums, label, ends)
        centre = sums / np.bincount(label)[:, None]
        new = centre[label]
        moved = np.hypot(*(new - ends).T) > _EPS
        coords[ends_at] = new
        ends = new
    # 2. ends touching no other end, within snap_m of another line of their level: onto it
    alone = np.ones(len(ends), dtype=bool)
    alone[pairs.ravel()] = False  # ends already joined to another end
    loose = np.flatnonzero(alone)
    pts = np.empty(len(ends), dtype=object)
    pts[loose] = shapely.points(ends[loose])
    pe, pl = shapely.STRtree(geoms).query(pts[loose], predicate="dwithin", distance=snap_m)
    pe = loose[pe]
    cand = (pl != end_line[pe]) & (lvl[pl] == lvl[end_line[pe]])
    pe, pl = pe[cand], pl[cand]
    dist = shapely.distance(pts[pe], geoms[pl])
    cand = np.ones(len(pe), dtype=bool)
    cut_line = np.zeros(0, dtype=np.int64)
    cut_xy = np.zeros((0, 2))
    if cand.any():
        pe, pl, dist = pe[cand], pl[cand], dist[cand]
        order = np.lexsort((dist, pe))
        pe, pl, dist = pe[order], pl[order], dist[order]
        firsts = np.concatenate([[True], pe[1:] != pe[:-1]])
        pe, pl, dist = pe[firsts], pl[firsts], dist[firsts]
        at = shapely.line_locate_point(geoms[pl], pts[pe])
        onto = shapely.get_coordinates(shapely.line_interpolate_point(geoms[pl], at))
        coords[ends_at[pe]] = onto
        moved[pe[dist > _EPS]] = True
        cut_line, cut_xy = pl, onto
    return coords, int(moved.sum()), (cut_line, cut_xy)


def _joined_share(ends: np.ndarray, radius: float) -> float:
    """Share of the line ends that meet another line end (high in files split at their junctions)."""
    pairs = cKDTree(ends).query_pairs(radius, output_type="ndarray")
    joined = np.zeros(len(ends), dtype=bool)
    joined[pairs.ravel()] = True
    return float(joined.mean()) if len(ends) else 1.0


def _crossings(coords: np.ndarray, index: np.ndarray, length: np.ndarray, lvl: np.ndarray, *,
               cross_all: bool) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int]:
    """Points where two lines meet, as cuts (line, xy, distance along) on both lines.

    The level and crossing rules are applied: see :class:`NodingOptions`.
    """
    meet = line_meetings(coords, index, eps=_EPS)
    la, lb = meet.line_a, meet.line_b
    end_a = (meet.along_a <= _EPS) | (meet.along_a >= length[la] - _EPS)
    end_b = (meet.along_b <= _EPS) | (meet.along_b >= length[lb] - _EPS)
    at_end = end_a | end_b
    # lines meeting end to end (most of a file split at its junctions) cut nothing; lines of
    # different levels meet only where one ends on the other
    drop = (end_a & end_b) | ((lvl[la] != lvl[lb]) & ~at_end)
    separated = int((~(end_a & end_b) & drop).sum())
    if not cross_all:  # crossings of two line interiors: only at a vertex both lines share
        unshared = ~drop & ~at_end & ~(meet.vertex_a & meet.vertex_b)
        separated += int(unshared.sum())
        drop |= unshared
    keep = ~drop
    xy = meet.xy[keep]
    cuts = (np.concatenate([la[keep], lb[keep]]), np.concatenate([xy, xy]),
            np.concatenate([meet.along_a[keep], meet.along_b[keep]]))
    return cuts, separated


def _split(geoms: np.ndarray, coords: np.ndarray, index: np.ndarray,
           cuts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """Cut each line at its cut points (vectorised: vertices and cuts sorted along each line)."""
    n = len(geoms)
    cut_line, cut_xy, along = cuts
    if len(cut_line) == 0:
        return geoms, np.arange(n), 0
    length = shapely.length(geoms)
    inner = (along > _EPS) & (along < length[cut_line] - _EPS)
    cut_line, cut_xy, along = cut_line[inner], cut_xy[inner], along[inner]
    if len(cut_line) == 0:
        return geoms, np.arange(n), 0
    # one cut per line and position
    order = np.lexsort((along, cut_line))
    cut_line, cut_xy, along = cut_line[order], cut_xy[order], along[order]
    uniq = np.concatenate([[True], (np.diff(cut_line) != 0) | (np.diff(along) > _EPS)])
    cut_line, cut_xy, along = cut_line[uniq], cut_xy[uniq], along[uniq]
    # only the lines with a cut are rebuilt; the others keep their geometry
    cut_lines = np.unique(cut_line)
    mine = np.isin(index, cut_lines)
    coords, index = coords[mine], index[mine]
    seg = np.hypot(*np.diff(coords, axis=0).T)
    seg[index[1:] != index[:-1]] = 0.0
    vdist = np.concatenate([[0.0], np.cumsum(seg)])
    starts = np.concatenate([[0], np.flatnonzero(index[1:] != index[:-1]) + 1])
    vdist = vdist - np.repeat(vdist[starts], np.diff(np.concatenate([starts, [len(index)]])))
    # rows: vertices (kind 1) then each cut twice: end of a piece (kind 0) and start of the next (kind 2)
    row_line = np.concatenate([index, cut_line, cut_line])
    row_d = np.concatenate([vdist, along, along])
    row_kind = np.concatenate([np.ones(len(index)), np.zeros(len(cut_line)), np.full(len(cut_line), 2)])
    row_xy = np.concatenate([coords, cut_xy, cut_xy])
    order = np.lexsort((row_kind, row_d, row_line))
    row_line, row_kind, row_xy, row_d = row_line[order], row_kind[order], row_xy[order], row_d[order]
    # a vertex at the very position of a cut is replaced by the cut point
    dup = (row_kind == 1) & (
        (np.abs(row_d - np.roll(row_d, 1)) <= _EPS) & (np.roll(row_line, 1) == row_line)
        & (np.roll(row_kind, 1) == 0)
        | (np.abs(row_d - np.roll(row_d, -1)) <= _EPS) & (np.roll(row_line, -1) == row_line)
        & (np.roll(row_kind, -1) == 2)
    )
    # vertex between the two copies of a cut (same distance): ordering kind 0 < 1 < 2 puts it there
    keep = ~dup
    row_line, row_kind, row_xy = row_line[keep], row_kind[keep], row_xy[keep]
    new_line = np.concatenate([[True], row_line[1:] != row_line[:-1]])
    piece = np.cumsum(new_line | (row_kind == 2)) - 1
    cut_pieces = shapely.linestrings(row_xy, indices=piece)
    first_row = np.concatenate([[0], np.flatnonzero(np.diff(piece)) + 1])
    uncut = np.setdiff1d(np.arange(n), cut_lines)
    pieces = np.concatenate([geoms[uncut], cut_pieces])
    source = np.concatenate([uncut, row_line[first_row]]).astype(np.int64)
    order = np.argsort(source, kind="stable")  # the source order, pieces of a line in their order
    return pieces[order], source[order], len(cut_line)

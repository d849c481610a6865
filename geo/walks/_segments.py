"""Where street lines meet, computed segment by segment (private helper of :mod:`geo.walks.noding`).

Intersecting whole lines pair by pair with GEOS costs an overlay per pair of long lines
(whole streets of hundreds of vertices). Here every line is cut into its straight
segments, candidate segment pairs come from one STRtree query over their envelopes, and
the meeting points are solved in closed form with numpy: one vectorised pass, which also
gives the distance of each point along both lines (what the splitter needs) and whether
it is a vertex or an end of each line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

__all__ = ["Meetings", "line_meetings"]


@dataclass(frozen=True)
class Meetings:
    """Points where two different lines meet (one row per line pair and point).

    Attributes
    ----------
    line_a, line_b : numpy.ndarray of int
        Indices of the two lines (``line_a < line_b``).
    xy : numpy.ndarray, shape (n, 2)
        The meeting points.
    along_a, along_b : numpy.ndarray of float
        Distance of the point along each line from its start.
    vertex_a, vertex_b : numpy.ndarray of bool
        Whether the point is a vertex (or an end) of each line.
    """

    line_a: np.ndarray
    line_b: np.ndarray
    xy: np.ndarray
    along_a: np.ndarray
    along_b: np.ndarray
    vertex_a: np.ndarray
    vertex_b: np.ndarray


def _segments(coords: np.ndarray, index: np.ndarray, eps: float) -> tuple[np.ndarray, ...]:
    """Return the straight segments: start, vector, line, distance of the start along the line, length."""
    k = np.flatnonzero(index[1:] == index[:-1])
    start, vec = coords[k], coords[k + 1] - coords[k]
    line = index[k]
    seg_len = np.hypot(vec[:, 0], vec[:, 1])
    cum = np.cumsum(seg_len) - seg_len
    first = np.concatenate([[True], line[1:] != line[:-1]]) if len(line) else np.zeros(0, dtype=bool)
    along0 = cum - np.maximum.accumulate(np.where(first, cum, 0.0)) if len(line) else cum
    solid = seg_len > eps
    return start[solid], vec[solid], line[solid], along0[solid], seg_len[solid]


def _candidates(start: np.ndarray, vec: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the pairs of segments of different lines whose envelopes meet (each pair once)."""
    end = start + vec
    lo, hi = np.minimum(start, end), np.maximum(start, end)
    boxes = shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    i, j = shapely.STRtree(boxes).query(boxes)
    keep = line[i] < line[j]
    return i[keep], j[keep]


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    return out


def _proper(p: np.ndarray, r: np.ndarray, q: np.ndarray, s: np.ndarray,
            tol: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the crossings of non-parallel segment pairs: mask and parameters on both segments."""
    den = _cross(r, s)
    qp = q - p
    safe = np.where(den == 0.0, 1.0, den)
    t = _cross(qp, s) / safe
    u = _cross(qp, r) / safe
    tol_r, tol_s = tol
    hit = (den != 0.0) & (t >= -tol_r) & (t <= 1 + tol_r) & (u >= -tol_s) & (u <= 1 + tol_s)
    return hit, np.clip(t, 0.0, 1.0), np.clip(u, 0.0, 1.0)


def _overlaps(p: np.ndarray, r: np.ndarray, q: np.ndarray, s: np.ndarray, eps: float,
              parallel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the ends of the overlaps of collinear segment pairs, as (pair, t on r, u on s) rows."""
    rr = np.einsum("ij,ij->i", r, r)
    ss = np.einsum("ij,ij->i", s, s)
    off = np.abs(_cross(q - p, r)) / np.sqrt(rr)
    coll = np.flatnonzero(parallel & (off <= eps))
    if len(coll) == 0:
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), empty, empty
    p, r, q, s, rr, ss = p[coll], r[coll], q[coll], s[coll], rr[coll], ss[coll]
    t0 = np.einsum("ij,ij->i", q - p, r) / rr
    t1 = np.einsum("ij,ij->i", q + s - p, r) / rr
    lo = np.clip(np.minimum(t0, t1), 0.0, 1.0)
    hi = np.clip(np.maximum(t0, t1), 0.0, 1.0)
    ok = (np.maximum(t0, t1) >= -eps / np.sqrt(rr)) & (np.minimum(t0, t1) <= 1 + eps / np.sqrt(rr))
    rows = np.concatenate([coll[ok], coll[ok]])
    t = np.concatenate([lo[ok], hi[ok]])
    xy = np.concatenate([(p + lo[:, None] * r)[ok], (p + hi[:, None] * r)[ok]])
    u = np.einsum("ij,ij->i", xy - np.concatenate([q[ok], q[ok]]),
                  np.concatenate([s[ok], s[ok]])) / np.concatenate([ss[ok], ss[ok]])
    return rows, t, np.clip(u, 0.0, 1.0)


def line_meetings(coords: np.ndarray, index: np.ndarray, *, eps: float) -> Meetings:
    """Every point where two different lines meet: crossings, T-junctions, shared ends, overlaps.

    Parameters
    ----------
    coords : numpy.ndarray, shape (m, 2)
        Coordinates of all lines, in order (as :func:`shapely.get_coordinates` returns them).
    index : numpy.ndarray of int
        Line of each coordinate.
    eps : float
        Points closer than this (metres) are the same point.

    Returns
    -------
    Meetings
        One row per line pair and meeting point (duplicates at shared vertices removed).
    """
    start, vec, line, along0, seg_len = _segments(coords, index, eps)
    i, j = _candidates(start, vec, line)
    p, r, q, s = start[i], vec[i], start[j], vec[j]
    tol = (eps / seg_len[i], eps / seg_len[j])
    hit, t, u = _proper(p, r, q, s, tol)
    den = _cross(r, s)
    parallel = np.abs(den) <= 1e-9 * seg_len[i] * seg_len[j]
    rows_o, t_o, u_o = _overlaps(p, r, q, s, eps, parallel & ~hit)
    rows = np.concatenate([np.flatnonzero(hit & ~parallel), rows_o])
    t = np.concatenate([t[hit & ~parallel], t_o])
    u = np.concatenate([u[hit & ~parallel], u_o])
    si, sj = i[rows], j[rows]
    xy = start[si] + t[:, None] * vec[si]
    len_i, len_j = seg_len[si], seg_len[sj]
    vertex_a = (t * len_i <= eps) | ((1 - t) * len_i <= eps)
    vertex_b = (u * len_j <= eps) | ((1 - u) * len_j <= eps)
    along_a = along0[si] + t * len_i
    along_b = along0[sj] + u * len_j
    la, lb = line[si], line[sj]
    # one row per line pair and point: a crossing at a shared vertex is found up to 4 times
    key = np.column_stack([la, lb, np.round(along_a / eps).astype(np.int64)])
    _, first = np.unique(key, axis=0, return_index=True)
    first.sort()
    return Meetings(line_a=la[first], line_b=lb[first], xy=xy[first], along_a=along_a[first],
                    along_b=along_b[first], vertex_a=vertex_a[first], vertex_b=vertex_b[first])

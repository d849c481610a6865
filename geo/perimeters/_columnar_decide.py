"""How :func:`geo.perimeters.lookup.lookup_many` combines the polygon and rule answers (private).

:func:`decide` fills integer codes (status, reason, detail…) of one chunk of rows into the
output arrays. Most rows of a large table are plain: a point, no rule for their street, one
perimeter at most, no geocoding note, no territory question; their answer is the polygon's and
is written in a few array operations. The other rows go through :func:`combine`, the full
decision table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.perimeters._columnar import Coords
from geo.perimeters._columnar_passes import polygon_pass, rule_pass
from geo.perimeters._rows import GEO_STATUSES, Streets
from geo.perimeters.index import LookupIndex

#: Positions in the output tables of :mod:`geo.perimeters.lookup` (statuses, reasons, details).
N_NOTES, N_FLAGS = 4, 2
_INSIDE_POLYGON = 5  # base « Dans le périmètre (polygone). »
_GEO_AMBIGUOUS = GEO_STATUSES.index("ambiguous")
_GEO_EMPTY = GEO_STATUSES.index("empty")
_GEO_NUMBER = GEO_STATUSES.index("number_not_found")
_GEO_STREET = GEO_STATUSES.index("street_not_found")


@dataclass(frozen=True)
class Outputs:
    """Output arrays of a whole lookup (integer codes; filled chunk by chunk).

    ``code``, ``poly`` and ``rule`` are positions in the index's codes (``n_codes``: none;
    ``-1``: that source could not tell); the others are positions in the tables of
    :mod:`geo.perimeters.lookup`.
    """

    code: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    poly: np.ndarray
    rule: np.ndarray
    disagree: np.ndarray
    dist: np.ndarray
    detail: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Outputs:
        """Arrays for ``n`` rows."""
        return cls(np.empty(n, np.int32), np.empty(n, np.int8), np.empty(n, np.int8), np.empty(n, np.int32),
                   np.empty(n, np.int32), np.empty(n, bool), np.empty(n, float), np.empty(n, np.int16))


def decide(xy: Coords, streets: Streets, index: LookupIndex, out: Outputs, rows: slice, *,
           has_point: np.ndarray | None = None) -> None:
    """Combine polygon and rule answers for the chunk ``rows`` and write them into ``out``.

    ``has_point``: the rows of ``xy`` with both coordinates, when the caller knows them already.
    """
    if has_point is None:
        has_point = xy.located()
    poly_idx, poly_hits, _ = polygon_pass(xy, index, dist=out.dist[rows])
    rule_idx, rule_street, decided, rule_amb = rule_pass(streets, index)
    complete = bool(len(index.ruled)) and bool(index.ruled[: len(index.perimeters)].all())
    n_codes = len(index.codes)
    plain = has_point & (poly_hits <= 1)
    if index.compiled is not None:
        plain &= ~rule_street
    if streets.keyed:  # geocoded text: its statuses count
        plain &= streets.geo_status == 0
    if complete:
        plain[:] = False
    if index.territory is not None:
        plain &= poly_idx >= 0
    inside = poly_idx >= 0
    code = np.where(inside, poly_idx, np.int32(n_codes))
    out.code[rows] = code
    out.poly[rows] = code
    out.status[rows] = inside
    out.reason[rows] = 2
    out.rule[rows] = -1
    out.disagree[rows] = False
    np.multiply(inside, np.int16(_INSIDE_POLYGON * N_NOTES * N_FLAGS), out=out.detail[rows])
    other = np.flatnonzero(~plain)
    if not len(other):
        return
    key_lut = np.append(streets.keys != "", False)
    facts = Facts(
        has_point=has_point[other], poly_idx=poly_idx[other], poly_hits=poly_hits[other],
        rule_idx=rule_idx[other], rule_street=rule_street[other], decided=decided[other],
        rule_amb=rule_amb[other], has_street=key_lut[streets.codes[other]], geo=streets.geo_status[other],
        outside=_out_of_territory(xy.rows(other), streets, index, other, poly_idx[other]),
    )
    full = combine(facts, index, complete=complete)
    at = np.arange(rows.start, rows.stop)[other]
    for name in ("code", "status", "reason", "poly", "rule", "disagree", "detail"):
        getattr(out, name)[at] = full[name]


@dataclass(frozen=True)
class Facts:
    """What the polygon and rule passes found for some rows (inputs of :func:`combine`)."""

    has_point: np.ndarray
    poly_idx: np.ndarray
    poly_hits: np.ndarray
    rule_idx: np.ndarray
    rule_street: np.ndarray
    decided: np.ndarray
    rule_amb: np.ndarray
    has_street: np.ndarray
    geo: np.ndarray
    outside: np.ndarray  # the territory does not know the point, or the commune of a row without one


def combine(f: Facts, index: LookupIndex, *, complete: bool) -> dict[str, np.ndarray]:
    """Return the full decision: status, reason, sources, disagreement and detail of each row."""
    has_point, poly_idx, rule_idx = f.has_point, f.poly_idx, f.rule_idx
    rule_known = f.has_street & f.decided & (f.rule_street | complete)
    poly_in = has_point & (poly_idx >= 0)
    code = np.where(poly_in, poly_idx, np.where(rule_known, rule_idx, -1))
    ruled_lut = np.append(index.ruled, False)
    concerned = ruled_lut[poly_idx] | (rule_idx >= 0)
    disagree = has_point & rule_known & concerned & (poly_idx != rule_idx)
    both = has_point & rule_known & (poly_idx == rule_idx) & (code >= 0)
    # reason: which source gives the answer (inside or outside)
    reason = np.select([both, poly_in, code >= 0, has_point, rule_known], [1, 2, 3, 2, 3], 0)
    geo = f.geo
    ambiguous = (f.poly_hits > 1) | f.rule_amb | (geo == _GEO_AMBIGUOUS)
    empty = ~has_point & ~f.has_street & ((geo == _GEO_EMPTY) | (geo == 0))
    not_found = ~has_point & ~rule_known & ~empty
    elsewhere = f.outside & (code < 0) & ~empty
    status = np.select([empty, elsewhere, ambiguous, code >= 0, not_found], [4, 5, 2, 1, 3], 0)
    reason = np.where((status == 4) | (status == 3) | (status == 5), 0, reason)
    rule_street = f.rule_street
    base = np.select(
        [status == 4, status == 5, (status == 3) & rule_street, status == 3, status == 2,
         (status == 1) & (reason == 1), (status == 1) & (reason == 2), status == 1, has_point, rule_street],
        [1, 10, 9, 2, 3, 4, 5, 6, 0, 7], 8,
    )
    note = np.select([geo == _GEO_NUMBER, geo == _GEO_STREET, ~f.decided & (status != 3)], [1, 2, 3], 0)
    detail = (base * N_NOTES + note) * N_FLAGS + disagree.astype(int)
    n_codes = len(index.codes)
    poly_out = np.where(has_point, np.where(poly_idx >= 0, poly_idx, n_codes), -1)
    rule_out = np.where(rule_known, np.where(rule_idx >= 0, rule_idx, n_codes), -1)
    return {"code": np.where(code >= 0, code, n_codes), "status": status, "reason": reason,
            "poly": poly_out, "rule": rule_out, "disagree": disagree, "detail": detail}


def _out_of_territory(xy: Coords, streets: Streets, index: LookupIndex, rows: np.ndarray,
                      poly_idx: np.ndarray) -> np.ndarray:
    """Rows (``rows`` of the chunk) the index's territory does not know.

    A point outside its area, or, without a point, a commune or postcode it does not know.
    """
    out = np.zeros(len(rows), dtype=bool)
    territory = index.territory
    if territory is None:
        return out
    has_point = xy.located()
    check = np.flatnonzero(has_point & (poly_idx < 0))
    if len(check):
        out[check] = ~territory.covers_xy(xy.x[check], xy.y[check])
    if streets.outside is not None:
        out |= ~has_point & streets.outside[rows]
    return out

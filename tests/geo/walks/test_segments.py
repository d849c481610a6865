"""The segment-wise meeting points of street lines against GEOS, on real merged streets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from geo.walks._segments import line_meetings
from geo.walks.streets import read_street_layer


def _meet(lines: list[LineString]):  # type: ignore[no-untyped-def]
    coords, index = shapely.get_coordinates(np.asarray(lines, dtype=object), return_index=True)
    return line_meetings(coords, index, eps=1e-3)


def test_crossing_t_junction_overlap_and_shared_end() -> None:
    m = _meet([LineString([(0, 0), (10, 0)]), LineString([(5, -5), (5, 5)]),   # crossing at (5, 0)
               LineString([(8, 0), (8, 4)]),                                    # T on line 0 at (8, 0)
               LineString([(10, 0), (10, 6)])])                                 # shares the end (10, 0)
    rows = {(int(a), int(b), round(x, 6), round(y, 6)) for a, b, (x, y) in zip(m.line_a, m.line_b, m.xy,
                                                                              strict=True)}
    assert rows == {(0, 1, 5.0, 0.0), (0, 2, 8.0, 0.0), (0, 3, 10.0, 0.0)}
    along = dict(zip(zip(m.line_a.tolist(), m.line_b.tolist(), strict=True), m.along_a.tolist(), strict=True))
    assert along[(0, 1)] == 5.0 and along[(0, 2)] == 8.0
    overlap = _meet([LineString([(0, 0), (10, 0)]), LineString([(4, 0), (14, 0)])])
    assert sorted(overlap.xy[:, 0].tolist()) == [4.0, 10.0]
    assert overlap.vertex_a.tolist() == [False, True] and overlap.vertex_b.tolist() == [True, False]


def test_same_points_as_geos_on_merged_montpellier_streets(shared_data: Path) -> None:
    split = read_street_layer(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip")
    lines = []
    for _, grp in split.groupby(split["name"].fillna("?")):
        lines.extend(shapely.get_parts(shapely.line_merge(shapely.union_all(grp.geometry.to_numpy()))))
    geoms = np.asarray(lines, dtype=object)
    m = _meet(lines)
    # independent reference: GEOS intersection of every pair of lines whose envelopes meet
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    inter = shapely.intersection(geoms[a], geoms[b])
    parts = shapely.get_parts(inter)
    ends = np.concatenate([shapely.get_coordinates(parts[shapely.get_type_id(parts) == 0]),
                           shapely.get_coordinates(shapely.boundary(parts[shapely.get_type_id(parts) == 1]))])
    assert len(ends) > 3000
    ours = cKDTree(m.xy)
    dist, _ = ours.query(ends)
    assert dist.max() < 1e-3  # every GEOS meeting point is found
    # and nothing else: a point GEOS does not give is a near-touch, within 1 mm of both lines
    dist, _ = cKDTree(ends).query(m.xy)
    extra = dist > 1e-3
    points = shapely.points(m.xy[extra])
    assert extra.sum() < 20
    assert shapely.distance(geoms[m.line_a[extra]], points).max() < 1.1e-3
    assert shapely.distance(geoms[m.line_b[extra]], points).max() < 1.1e-3

"""Coverage: camera views, walking distance on streets, lighting, diagnostic coverage."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import AnalysisError
from geo.stats._coverage_graph import build_street_graph, walking_distances
from geo.stats.coverage import (
    camera_views,
    cctv_coverage,
    diagnostic_coverage,
    lighting_density,
    walking_coverage,
)


def _points(xy: list[tuple[float, float]], **cols: list[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols or None, geometry=[shapely.Point(p) for p in xy], crs=2154)


def _grid_streets(n: int = 5, step: float = 100.0) -> gpd.GeoDataFrame:
    lines = []
    for i in range(n + 1):
        for j in range(n):
            lines.append(shapely.LineString([(i * step, j * step), (i * step, (j + 1) * step)]))
            lines.append(shapely.LineString([(j * step, i * step), ((j + 1) * step, i * step)]))
    return gpd.GeoDataFrame(geometry=lines, crs=2154)


def test_camera_disc_sector_and_building_occlusion() -> None:
    cams = _points([(0, 0), (1000, 0)], azimuth_deg=[None, 90.0], fov_deg=[None, 90.0])
    views = camera_views(cams, range_m=50.0, n_rays=720)
    assert views.geometry.iloc[0].area == pytest.approx(math.pi * 50**2, rel=0.01)
    assert views.geometry.iloc[1].area == pytest.approx(math.pi * 50**2 / 4, rel=0.01)
    # the sector looks east: a point 30 m east is seen, 30 m west is not
    assert views.geometry.iloc[1].contains(shapely.Point(1030, 0))
    assert not views.geometry.iloc[1].contains(shapely.Point(970, 0))
    wall = gpd.GeoDataFrame(geometry=[shapely.box(10, -100, 20, 100)], crs=2154)
    blocked = camera_views(cams.iloc[[0]], range_m=50.0, buildings=wall, n_rays=720).geometry.iloc[0]
    assert blocked.contains(shapely.Point(-30, 0))
    assert not blocked.contains(shapely.Point(30, 0))  # behind the building
    assert blocked.area < views.geometry.iloc[0].area * 0.75


def test_camera_on_its_own_facade_still_sees_the_street() -> None:
    building = gpd.GeoDataFrame(geometry=[shapely.box(-20, 0, 20, 20)], crs=2154)
    cam = _points([(0, 0.5)])
    view = camera_views(cam, range_m=30.0, buildings=building).geometry.iloc[0]
    assert view.contains(shapely.Point(0, -20))


def test_cctv_shares_of_events_and_hotspot_area() -> None:
    cams = _points([(0, 0)])
    events = _points([(10, 0), (20, 20), (200, 0), (300, 0)])
    hot = gpd.GeoDataFrame(
        {"gi_bin": [3, 2, 0], "gi_z": [4.0, 3.0, 0.1], "count": [5, 4, 0]},
        geometry=[shapely.box(0, -10, 20, 10), shapely.box(200, -10, 220, 10), shapely.box(-20, -10, 0, 10)],
        crs=2154,
    )
    cov = cctv_coverage(events, cams, hotspots=hot, range_m=50.0, n_rays=720)
    assert cov.share_events_seen == 0.5
    assert list(cov.events["seen"]) == [True, True, False, False]
    assert cov.share_hotspot_area_seen == pytest.approx(0.5, rel=0.01)
    assert cov.uncovered is not None
    assert list(cov.uncovered["gi_z"]) == [3.0]
    with pytest.raises(AnalysisError):
        cctv_coverage(events, cams.iloc[[]])


def test_walking_distance_on_one_street() -> None:
    streets = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1000, 0)])], crs=2154)
    sg = build_street_graph(streets)
    d = walking_distances(sg, np.array([[100.0, 0.0]]), np.array([[400.0, 10.0], [50.0, -5.0]]))
    np.testing.assert_allclose(d, [310.0, 55.0])


def test_walking_distance_goes_around_the_block() -> None:
    streets = _grid_streets(2, 100.0)
    sources = _points([(0, 50)])  # on the west street
    addr = _points([(200, 50), (105, 150)])  # on the east street; 5 m off the middle street
    res = walking_coverage(addr, sources, streets, thresholds=(100.0, 200.0, 300.0))
    # (0,50) -> (0,0) or (0,100): 50, then 200 east, then 50 up = 300 ; second: 50 + 100 + 50 + 5
    np.testing.assert_allclose(res.addresses["walk_m"], [300.0, 205.0])
    np.testing.assert_allclose(res.addresses["crow_m"], [200.0, math.hypot(105, 100)])
    shares = res.shares.set_index("threshold_m")
    assert shares.loc[200.0, "walk_share"] == 0.0 and shares.loc[300.0, "walk_share"] == 1.0
    assert shares.loc[200.0, "crow_share"] == 1.0
    assert res.gaps.empty


def test_walking_distance_equals_networkx_on_a_split_graph() -> None:
    streets = _grid_streets(4, 100.0)
    rng = np.random.default_rng(7)
    # points exactly on random segments: split the graph there and compare with networkx
    lines = streets.geometry.to_numpy()
    picks = rng.choice(len(lines), size=12, replace=False)
    fr = rng.uniform(0.1, 0.9, size=12)
    pts = np.array([shapely.get_coordinates(lines[k].interpolate(f, normalized=True))[0]
                    for k, f in zip(picks, fr, strict=True)])
    src, tgt = pts[:3], pts[3:]
    g = nx.Graph()
    for k, line in enumerate(lines):
        cuts = [(0.0, tuple(line.coords[0])), (line.length, tuple(line.coords[-1]))]
        cuts += [(line.project(shapely.Point(p)), tuple(np.round(p, 6))) for p in pts[picks == k]]
        cuts.sort()
        for (a, na), (b, nb) in itertools.pairwise(cuts):
            g.add_edge(tuple(np.round(na, 6)), tuple(np.round(nb, 6)), weight=b - a)
    expected = [min(nx.shortest_path_length(g, tuple(np.round(s, 6)), tuple(np.round(t, 6)), weight="weight")
                    for s in src) for t in tgt]
    got = walking_distances(build_street_graph(streets), src, tgt)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_real_montpellier_walking_coverage(shared_data: Path) -> None:
    folder = shared_data / "montpellier"
    streets = gpd.read_file(f"zip://{folder / 'VilleMTP_MTP_FilaireVoies.zip'}", encoding="cp1252")
    addresses = gpd.read_file(f"zip://{folder / 'VilleMTP_MTP_PointAdresse.zip'}", encoding="cp1252")
    raw = pd.read_csv(folder / "conteneurs-languedoc-roussillon-osm-2014.csv")
    cont = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(raw["longitude"], raw["latitude"]), crs=4326)
    x0, y0, x1, y1 = streets.to_crs(2154).total_bounds
    cont = cont.to_crs(2154).cx[x0:x1, y0:y1]
    assert raw["type"].isna().any()
    res = walking_coverage(addresses, cont, streets)
    walk, crow = res.addresses["walk_m"].to_numpy(), res.addresses["crow_m"].to_numpy()
    ok = np.isfinite(walk)
    assert ok.mean() > 0.99
    assert (walk[ok] >= crow[ok] - 1e-6).all()  # never shorter than crow-fly
    shares = res.shares["walk_share"].to_numpy()
    assert (np.diff(shares) >= 0).all() and (shares <= res.shares["crow_share"].to_numpy()).all()
    assert len(res.gaps) == int((walk > 300).sum())


def test_lighting_supports_per_100m() -> None:
    streets = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(0, 0), (150, 0)]), shapely.LineString([(0, 100), (50, 100)])], crs=2154
    )
    supports = _points([(10, 5), (70, -5), (140, 3), (20, 98), (500, 500)])
    res = lighting_density(streets, supports)
    assert list(res["supports"]) == [3, 1]
    np.testing.assert_allclose(res["per_100m"], [2.0, 2.0])
    assert res.attrs["overall_per_100m"] == pytest.approx(4 / 200 * 100)


def test_diagnostic_coverage_last_12_months() -> None:
    streets = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 500), (100, 500)])],
        crs=2154,
    )
    walks = gpd.GeoDataFrame(
        {"observed_at": pd.to_datetime(["2024-06-01", "2022-01-01"])},
        geometry=[shapely.LineString([(0, 2), (50, 2)]), shapely.LineString([(0, 500), (100, 500)])],
        crs=2154,
    )
    res = diagnostic_coverage(streets, walks, end="2024-12-31", buffer=10.0)
    # the walk runs 2 m off the first street: covered up to x = 50 + sqrt(10² - 2²); the second
    # street was walked too long ago
    covered = 50 + math.sqrt(10**2 - 2**2)
    assert res.share == pytest.approx(covered / 200, rel=1e-3)
    np.testing.assert_allclose(res.streets["covered_m"], [covered, 0.0], rtol=1e-3)


# exact visibility polygons ---------------------------------------------------------------

R = 50.0


def _buildings(*polys: shapely.Polygon) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(polys), crs=2154)


def test_sixty_degree_sector_is_exact() -> None:
    cams = _points([(0, 0), (500, 0)], azimuth_deg=[45.0, 200.0], fov_deg=[60.0, 60.0])
    views = camera_views(cams, range_m=R)
    for view in views.geometry:
        assert view.area == pytest.approx(math.pi * R**2 / 6, rel=1e-3)
    # a corner in the sector: the shadow of box (10..20, 10..20) seen from (0, 0) is bounded
    # by the rays through its corners (20, 10) and (10, 20), whatever their bearing
    box = shapely.box(10, 10, 20, 20)
    seen = camera_views(cams.iloc[[0]], range_m=R, buildings=_buildings(box)).geometry.iloc[0]
    a1, a2 = math.atan2(10, 20), math.atan2(20, 10)
    # the wedge between those rays minus its part nearer than the walls: the quadrilateral
    # o-(20,10)-(10,10)-(10,20), two triangles of 50 m²
    wedge_beyond = (a2 - a1) / 2 * R**2 - 100.0
    assert seen.area == pytest.approx(math.pi * R**2 / 6 - wedge_beyond, rel=1e-3)
    assert views.attrs == {} and bool(views["sector"].all())


def test_camera_on_its_facade_sees_the_half_disc_not_behind() -> None:
    building = _buildings(shapely.box(-100, 0, 100, 100))
    cams = _points([(0, 0), (0, 0.5), (0, -0.5)])
    views = camera_views(cams, range_m=R, buildings=building)
    half = math.pi * R**2 / 2
    assert views.geometry.iloc[0].area == pytest.approx(half, rel=0.02)
    assert views.geometry.iloc[1].area == pytest.approx(half, rel=0.02)
    # 0.5 m in front of the façade: the disc part below y = 0, exactly
    d = 0.5
    below = math.pi * R**2 - (R**2 * math.acos(d / R) - d * math.sqrt(R**2 - d**2))
    assert views.geometry.iloc[2].area == pytest.approx(below, rel=1e-3)
    for view in views.geometry:
        assert view.contains(shapely.Point(0, -30)) and view.contains(shapely.Point(45, -1))
        assert not view.intersects(shapely.Point(0, 30))  # behind its own building
        assert view.intersection(building.geometry.iloc[0]).area < 1.0
    assert list(views["own_building"]) == [True, True, True]
    assert views["moved_m"].iloc[2] == 0.0 and 0.5 <= views["moved_m"].iloc[1] < 0.6


def test_obstacle_in_front_casts_its_exact_shadow() -> None:
    building = shapely.box(-100, 0, 100, 100)
    square = shapely.box(-5, -25, 5, -15)
    view = camera_views(_points([(0, 0)]), range_m=R, buildings=_buildings(building, square)).geometry.iloc[0]
    alpha = math.atan2(5, 15)  # half-angle of the shadow: the rays through (±5, -15)
    shadow = alpha * R**2 - 0.5 * 10 * 15
    assert view.area == pytest.approx(math.pi * R**2 / 2 - shadow, rel=1e-3)
    assert view.contains(shapely.Point(0, -10))
    for da, expected in ((-0.3, False), (0.3, True)):
        a = alpha + math.radians(da)
        assert view.contains(shapely.Point(40 * math.sin(a), -40 * math.cos(a))) is expected


def test_camera_deep_in_its_building_is_moved_to_the_facade() -> None:
    building = _buildings(shapely.box(-100, 0, 100, 100))
    cams = _points([(0, 3.0), (0, 60.0)], range_m=[None, 200.0])
    cov = cctv_coverage(_points([(0, -10), (0, 120)]), cams, buildings=building, range_m=R)
    views = cov.views
    assert views["moved_m"].iloc[0] == pytest.approx(3.0, abs=0.1)
    assert not views.geometry.iloc[0].intersects(shapely.Point(0, 40))
    assert views.geometry.iloc[1].contains(shapely.Point(0, 120))  # out through its nearest façade (north)
    assert list(cov.events["seen"]) == [True, True]
    p = cov.parameters
    assert (p["cameras"], p["cameras_range_assumed"], p["cameras_full_disc"]) == (2, 1, 2)
    assert (p["cameras_own_building"], p["cameras_moved"], p["building_heights"]) == (2, 2, False)
    assert p["range_m"] == R and p["moved_max_m"] == pytest.approx(40.0, abs=0.1)


def test_real_montpellier_views_match_a_segment_oracle(shared_data: Path) -> None:
    folder = shared_data / "montpellier"
    # the file declares no CRS although its coordinates are Lambert-93
    cams = gpd.read_file(folder / "VilleMTP_MTP_CameraSurv.geojson").set_crs(2154, allow_override=True)
    blds = gpd.read_file(f"zip://{folder / 'VilleMTP_MTP_Batiments.zip'}", encoding="cp1252").to_crs(2154)
    views = camera_views(cams, range_m=R, buildings=blds)
    area = views.geometry.area.to_numpy()
    assert (area <= math.pi * R**2 * 1.0001).all() and (area > 0).all()
    assert 0.6 < area.mean() / (math.pi * R**2) < 1.0
    assert int(views["own_building"].sum()) >= 4  # four cameras stand inside a footprint
    solid = shapely.union_all(blds.geometry.to_numpy())
    rng = np.random.default_rng(16)
    blocked = 0
    for k in np.flatnonzero(~views["own_building"].to_numpy())[:25]:
        x, y = cams.geometry.iloc[k].x, cams.geometry.iloc[k].y
        r, t = R * np.sqrt(rng.uniform(0, 1, 200)), rng.uniform(0, 2 * np.pi, 200)
        pts = np.column_stack([x + r * np.cos(t), y + r * np.sin(t)])
        view = views.geometry.iloc[k]
        near_edge = shapely.distance(view.boundary, shapely.points(pts)) < 1e-3
        segs = shapely.linestrings(np.stack([np.broadcast_to([x, y], pts.shape), pts], axis=1))
        hidden = shapely.intersects(segs, solid)  # the sight line crosses a building
        got = shapely.contains_xy(view, pts[:, 0], pts[:, 1])
        np.testing.assert_array_equal(got[~near_edge], ~hidden[~near_edge])
        blocked += int(hidden.sum())
    assert blocked > 100  # the check did meet buildings


def test_sixty_degree_sector_along_its_own_facade_keeps_its_outer_half() -> None:
    # a camera on the façade y = 0 of its building (y > 0), or 0.4 m inside it, looking east
    # along the wall with a 60° field: the half of the sector over the building (bearings
    # 60°–90°) is hidden, the half over the street (90°–120°) is seen whole — π R² / 12 (the
    # camera 0.4 m inside once saw 1,198 m², a wedge of its own building's interior)
    building = _buildings(shapely.box(-100, 0, 100, 100))
    cams = _points([(0, 0), (0, 0.4)], azimuth_deg=[90.0, 90.0], fov_deg=[60.0, 60.0])
    views = camera_views(cams, range_m=R, buildings=building)
    for view in views.geometry:
        assert view.area == pytest.approx(math.pi * R**2 / 12, rel=0.02)
        b = math.radians(105)
        assert view.contains(shapely.Point(30 * math.sin(b), 30 * math.cos(b)))
        assert view.intersection(building.geometry.iloc[0]).area < 1.0
    # exactly: the camera stands FACADE_OFFSET_M in front of the wall, its sector with it, so
    # the street half gains the strip between the camera and the wall (offset × R)
    offset = 0.4 - float(views["moved_m"].iloc[1])
    assert views["moved_m"].iloc[0] == pytest.approx(-offset)
    for view in views.geometry:
        assert view.area == pytest.approx(math.pi * R**2 / 12 - offset * R, rel=1e-3)
    assert list(views["own_building"]) == [True, True] and bool(views["sector"].all())

"""Diagnostic-walk routes on Mosson's real street network (priorities simulated, seeded)."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point

from geo.crs import to_territory_crs
from geo.errors import PriorityError, RoutingError
from geo.walks.export import read_gpx, route_to_geojson, route_to_gpx
from geo.walks.model import WalkOptions
from geo.walks.network import clip_graph, edges_frame, nearest_node
from geo.walks.priorities import PriorityInputs, stop_priorities
from geo.walks.routing import WalkRoute, covering_route, solve_orienteering, walk_route, walk_routes


@pytest.fixture(scope="module")
def graph(mosson_graph: nx.MultiGraph) -> nx.MultiGraph:
    return mosson_graph


@pytest.fixture(scope="module")
def candidates(shared_data: Path, mosson: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """80 real address points of Mosson with SIMULATED priorities (seeded)."""
    zone = mosson.geometry.iloc[0]
    path = shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip"
    pts = gpd.read_file(path, bbox=tuple(zone.bounds))
    pts = to_territory_crs(pts)
    pts = pts[pts.within(zone)]
    rng = np.random.default_rng(42)
    sample = pts.iloc[np.sort(rng.choice(len(pts), 80, replace=False))]
    out = gpd.GeoDataFrame({"address": sample["ADR"].to_numpy(), "simulated": True},
                           geometry=sample.geometry.to_numpy(), crs="EPSG:2154")
    out["priority"] = rng.integers(1, 11, len(out)).astype(float)
    return out


@pytest.fixture(scope="module")
def start(mosson: gpd.GeoDataFrame) -> Point:
    return mosson.geometry.iloc[0].representative_point()


@pytest.fixture(scope="module")
def loop(graph: nx.MultiGraph, candidates: gpd.GeoDataFrame, start: Point) -> WalkRoute:
    return walk_route(graph, candidates, start=start, options=WalkOptions(budget_min=90, time_limit_s=1.5))


def test_90_minute_loop_gpx_follows_streets(graph: nx.MultiGraph, loop: WalkRoute, start: Point) -> None:
    assert len(loop.stops) >= 5
    assert loop.duration_min <= 90 + 1e-6
    assert loop.duration_min == pytest.approx(loop.length_m / 50.0 + 5 * len(loop.stops))
    track, waypoints = read_gpx(route_to_gpx(loop))
    lon, lat = np.array(track).T
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform(lon, lat)
    pts = np.column_stack([x, y])
    start_node = nearest_node(graph, start)
    node_xy = np.array([graph.nodes[start_node]["x"], graph.nodes[start_node]["y"]])
    assert np.hypot(*(pts[0] - node_xy)) < 0.05 and np.hypot(*(pts[-1] - node_xy)) < 0.05
    assert start.distance(Point(node_xy)) < 100
    # every vertex and every segment midpoint of the GPX track lies on a street edge
    streets = shapely.union_all(edges_frame(graph).geometry.to_numpy())
    mids = (pts[1:] + pts[:-1]) / 2
    assert shapely.distance(shapely.points(pts), streets).max() < 0.05
    assert shapely.distance(shapely.points(mids), streets).max() < 0.05
    assert LineString(pts).length == pytest.approx(loop.length_m, rel=1e-4)
    assert [w[0].split(".")[0] for w in waypoints] == [str(i) for i in range(1, len(loop.stops) + 1)]
    assert waypoints[0][0].endswith(loop.stops["address"].iloc[0])


def test_route_times_and_path(graph: nx.MultiGraph, loop: WalkRoute) -> None:
    stops = loop.stops
    assert list(stops["order"]) == list(range(1, len(stops) + 1))
    assert np.all(np.diff(stops["arrival_min"]) >= 5 - 0.11)
    assert loop.prize == pytest.approx(stops["priority"].sum())
    for u, v in itertools.pairwise(loop.node_path):
        assert u == v or graph.has_edge(u, v)
    assert set(stops["node"]) <= set(loop.node_path)
    gj = route_to_geojson(loop)
    assert gj["features"][0]["geometry"]["type"] == "LineString"
    lon, lat = gj["features"][0]["geometry"]["coordinates"][0]
    assert 3.8 < lon < 3.85 and 43.6 < lat < 43.66  # Mosson, WGS84
    assert len(gj["features"]) == len(stops) + 1


def test_inputs_not_mutated_and_budget_respected(graph: nx.MultiGraph, candidates: gpd.GeoDataFrame,
                                                 start: Point) -> None:
    before = candidates.copy()
    for budget in (30, 60):
        route = walk_route(graph, candidates, start=start,
                           options=WalkOptions(budget_min=budget, dwell_min=3, speed_kmh=4, time_limit_s=0.5))
        assert route.duration_min <= budget + 1e-6
    pd.testing.assert_frame_equal(candidates, before)


def test_mandatory_and_end_point(graph: nx.MultiGraph, candidates: gpd.GeoDataFrame, start: Point) -> None:
    far = candidates.geometry.distance(start).idxmax()
    low = candidates.copy()
    low.loc[far, "priority"] = 0.0
    route = walk_route(graph, low, start=start, options=WalkOptions(mandatory=(far,), time_limit_s=0.5))
    assert far in route.stops.index
    end = candidates.geometry.loc[far]
    one_way = walk_route(graph, candidates, start=start, end=end,
                         options=WalkOptions(budget_min=60, time_limit_s=0.5))
    end_node = nearest_node(graph, end)
    assert one_way.node_path[-1] == end_node
    assert one_way.duration_min <= 60 + 1e-6
    with pytest.raises(RoutingError, match="obligatoires"):
        walk_route(graph, candidates, start=start,
                   options=WalkOptions(budget_min=10, mandatory=tuple(candidates.index[:6])))


def test_heuristic_matches_ortools(graph: nx.MultiGraph, candidates: gpd.GeoDataFrame, start: Point) -> None:
    heur = walk_route(graph, candidates, start=start, options=WalkOptions(time_limit_s=1.0))
    ref = walk_route(graph, candidates, start=start, options=WalkOptions(solver="ortools", time_limit_s=3.0))
    assert ref.duration_min <= 90 + 1e-6
    assert heur.prize >= 0.95 * ref.prize


def test_solver_optimal_on_small_instance() -> None:
    """Exhaustive check on 8 random points: the heuristic finds the best prize."""
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 1000, size=(10, 2))
    xy[9] = xy[8]  # loop: end = start
    W = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) / 50.0
    prize = rng.integers(1, 10, 8).astype(float)
    dwell = np.full(8, 3.0)
    budget = 45.0
    best = 0.0
    for k in range(1, 9):
        for perm in itertools.permutations(range(8), k):
            path = [8, *perm, 9]
            cost = sum(W[a, b] for a, b in itertools.pairwise(path)) + 3.0 * k
            if cost <= budget:
                best = max(best, float(prize[list(perm)].sum()))
    order = solve_orienteering(W, dwell, prize, budget_min=budget, time_limit_s=1.0)
    cost = sum(W[a, b] for a, b in itertools.pairwise([8, *order, 9])) + 3.0 * len(order)
    assert cost <= budget + 1e-9
    assert prize[order].sum() == best


def test_k_routes_split_the_quartier(
    graph: nx.MultiGraph, candidates: gpd.GeoDataFrame, start: Point
) -> None:
    routes = walk_routes(graph, candidates, k=3, start=start,
                         options=WalkOptions(budget_min=60, time_limit_s=0.5))
    assert [r.group for r in routes] == [1, 2, 3]
    seen = [set(r.stops.index) for r in routes]
    assert all(not (a & b) for a, b in itertools.combinations(seen, 2))
    assert all(r.duration_min <= 60 + 1e-6 and len(r.stops) > 0 for r in routes)
    single = walk_route(graph, candidates, start=start, options=WalkOptions(budget_min=60, time_limit_s=0.5))
    assert sum(r.prize for r in routes) > single.prize
    with pytest.raises(RoutingError, match="groupes"):
        walk_routes(graph, candidates, k=0, start=start)


def test_covering_route_walks_every_street(graph: nx.MultiGraph, mosson: gpd.GeoDataFrame,
                                           start: Point) -> None:
    inner = clip_graph(graph, mosson, margin_m=0)
    route = covering_route(inner, start=start, speed_kmh=3.0)
    walked = {frozenset((u, v)) for u, v in itertools.pairwise(route.node_path)}
    assert walked == {frozenset((u, v)) for u, v in inner.edges()}
    assert route.node_path[0] == route.node_path[-1] == nearest_node(inner, start)
    total = sum(d["length"] for _, _, d in inner.edges(data=True))
    assert route.length_m == pytest.approx(total + route.meta["repeated_m"])
    assert route.track.length == pytest.approx(route.length_m, rel=1e-6)
    assert route.duration_min == pytest.approx(route.length_m / 50.0)
    # pairing odd crossings by distance: much less repeated than the street length
    assert route.meta["repeated_m"] < 0.6 * total


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"speed_kmh": 0}, "Vitesse"),
        ({"solver": "magic"}, "Solveur"),
        ({"priority_column": "absent"}, "priorité"),
        ({"budget_min": -5}, "temps disponible"),
        ({"mandatory": ["inconnu"]}, "inconnus"),
    ],
)
def test_bad_inputs(graph: nx.MultiGraph, candidates: gpd.GeoDataFrame, start: Point,
                    kwargs: dict[str, object], message: str) -> None:
    options = {k: v for k, v in kwargs.items() if k != "priority_column"}
    column = {k: v for k, v in kwargs.items() if k == "priority_column"}
    with pytest.raises(RoutingError, match=message):
        walk_route(graph, candidates, start=start, options=WalkOptions(**options), **column)


def test_negative_priorities_rejected(
    graph: nx.MultiGraph, candidates: gpd.GeoDataFrame, start: Point
) -> None:
    bad = candidates.assign(priority=-1.0)
    with pytest.raises(RoutingError, match="positifs"):
        walk_route(graph, bad, start=start)


def test_stop_priorities_rules(graph: nx.MultiGraph) -> None:
    """Small hand-made layer frames (simulated) exercise each rule."""
    now = pd.Timestamp("2026-06-01", tz="UTC")
    edges = edges_frame(graph)
    named = edges[edges["name"].notna()].drop_duplicates("name").head(3)
    mids = [g.interpolate(0.5, normalized=True) for g in named.geometry]
    obs = gpd.GeoDataFrame({
        "status": ["nouveau", "en cours", "traité"],
        "observed_at": ["2026-05-25", "2025-11-01", "2026-05-30"],
        "theme": ["propreté", "éclairage", "voirie"],
        "address": ["a", "b", "c"],
    }, geometry=mids, crs="EPSG:2154")
    pn = gpd.GeoDataFrame({"uid": ["p1", "p2"], "name": ["Parking", "Square"], "status": ["actif", "actif"]},
                          geometry=mids[:2], crs="EPSG:2154")
    events = pd.DataFrame({
        "parent_uid": ["p1"] * 4 + ["p2"],
        "observed_at": ["2026-01-10", "2026-02-10", "2026-03-10", "2026-04-10", "2024-01-01"],
    })
    bacs = gpd.GeoDataFrame({"uid": ["b1"], "name": ["Bac A"], "flux": ["OM"]}, geometry=mids[:1],
                            crs="EPSG:2154")
    readings = pd.DataFrame({"parent_uid": ["b1"] * 4,
                             "measured_at": [f"2026-05-0{i}" for i in range(1, 5)],
                             "fill_pct": [95, 99, 40, 92]})
    npnru = gpd.GeoDataFrame({"name": ["Réhab", "Démol", "Ancienne"],
                              "phase": ["en cours", "livrée", "livrée"],
                              "end_date": [None, "2026-01-01", "2019-01-01"]},
                             geometry=[p.buffer(20) for p in mids], crs="EPSG:2154")
    streets = named.rename(columns={"name": "name"})[["name", "geometry"]]
    layers = PriorityInputs(observations=obs, points_noirs=pn, point_noir_events=events, bacs=bacs,
                            bac_readings=readings, npnru=npnru, streets=streets)
    out = stop_priorities(layers, now=now)
    assert out.crs == "EPSG:2154" and (out.geom_type == "Point").all()
    assert list(out["priority"]) == sorted(out["priority"], reverse=True)
    constats = out[out["kind"] == "constat"].set_index("address")
    assert set(constats.index) == {"a", "b"}  # the closed one is left out
    assert constats.loc["b", "priority"] > constats.loc["a", "priority"]  # older, more urgent
    pns = out[out["kind"] == "point_noir"].set_index("source_uid")
    assert pns.loc["p1", "priority"] > pns.loc["p2", "priority"]  # 4 recent events vs 0
    bac = out[out["kind"] == "bac"]
    assert len(bac) == 1 and bac["priority"].iloc[0] == pytest.approx(1 + 9 * 0.75)
    assert set(out[out["kind"] == "npnru"]["label"]) == {"NPNRU « Réhab »", "NPNRU « Démol »"}
    # only the street whose last constat is 7 months old (> 6) is to walk again
    assert list(out[out["kind"] == "rue"]["label"]) == [named["name"].iloc[1]]
    later = stop_priorities(PriorityInputs(observations=obs, streets=streets),
                            now=now + pd.Timedelta(days=400))
    assert len(later[later["kind"] == "rue"]) == len(streets)
    with pytest.raises(PriorityError, match="colonnes manquantes"):
        stop_priorities(PriorityInputs(observations=obs.drop(columns="status")), now=now)
    route = walk_route(graph, out, start=mids[0], options=WalkOptions(budget_min=45, time_limit_s=0.3))
    assert route.prize > 0


def test_covering_route_optimal_on_grid() -> None:
    """3 × 3 crossings 100 m apart: 1 200 m of streets, the 4 odd crossings paired at 200 m each."""
    from geo.walks.build import graph_from_streets

    lines = [LineString([(700_000 + 100 * i, 6_600_000 + 100 * j), (700_000 + 100 * (i + di),
                                                                   6_600_000 + 100 * (j + dj))])
             for i in range(3) for j in range(3) for di, dj in ((1, 0), (0, 1)) if i + di < 3 and j + dj < 3]
    G = graph_from_streets(gpd.GeoDataFrame({"name": ["Rue simulée"] * len(lines)}, geometry=lines,
                                            crs="EPSG:2154"))
    route = covering_route(G, start=Point(700_000, 6_600_000), speed_kmh=4.0)
    assert route.meta["street_length_m"] == pytest.approx(1200)
    assert route.length_m == pytest.approx(1600)
    assert route.duration_min == pytest.approx(1600 / (4000 / 60))

"""Pedestrian links between street components, on Montpellier's real streets around Mosson.

In the municipal « Filaire des voies », Cour del Riu ends 10.4 m and Allée de la Pinède
15.1 m from any other street: separate components, never walked without a link.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import pytest
import shapely

from geo.errors import NetworkError
from geo.walks.build import graph_from_streets
from geo.walks.export import connectors_text, route_to_geojson
from geo.walks.linking import link_components
from geo.walks.network import clip_graph
from geo.walks.noding import NodingOptions
from geo.walks.quality import network_quality
from geo.walks.routing import covering_route
from geo.walks.streets import read_street_layer

NEAR = "Cour del Riu"
FAR = "Allée de la Pinède"


@pytest.fixture(scope="module")
def around(shared_data: Path, mosson: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The real split streets within 800 m of Mosson."""
    streets = read_street_layer(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip")
    zone = mosson.geometry.iloc[0].buffer(800)
    return streets[streets.intersects(zone)].reset_index(drop=True)


def _gap(frame: gpd.GeoDataFrame, name: str) -> float:
    own = frame[frame["name"] == name]
    assert len(own), name
    return float(frame[frame["name"] != name].distance(shapely.union_all(own.geometry.to_numpy())).min())


def _joined(G: nx.MultiGraph, name: str) -> bool:
    """Tell whether the street is in the same component as the longest street length."""
    comps = list(nx.connected_components(G))
    main = max(comps, key=lambda c: sum(d["length"] for *_, d in G.subgraph(c).edges(data=True)))
    ends = {n for u, v, d in G.edges(data=True) if d.get("name") == name for n in (u, v)}
    assert ends, name
    return ends <= main


def test_link_reaches_a_street_a_few_metres_away(around: gpd.GeoDataFrame) -> None:
    gap = _gap(around, NEAR)
    assert 5 < gap < 15
    apart = graph_from_streets(around, options=NodingOptions(link_m=0))
    linked = graph_from_streets(around)
    assert not _joined(apart, NEAR)
    assert _joined(linked, NEAR)
    links = [(u, v, d) for u, v, d in linked.edges(data=True) if d.get("connector")]
    stats = linked.graph["links"]
    assert stats["links"] == len(links) == stats["components_before"] - stats["components_after"]
    assert stats["components_before"] == nx.number_connected_components(apart)
    near_nodes = {n for u, v, d in linked.edges(data=True) if d.get("name") == NEAR for n in (u, v)}
    to_near = [d for u, v, d in links if {u, v} & near_nodes]
    assert len(to_near) == 1  # one link per component
    link = to_near[0]
    assert link["length"] == pytest.approx(link["geometry"].length)
    assert link["length"] == pytest.approx(gap, abs=0.6)  # the closest pair of points (node tolerance 0.5 m)
    assert link["name"] == f"liaison piétonne hors voie ({link['length']:.0f} m)"
    # the street pieces are split where the link lands: every street length is kept
    street = sum(d["length"] for *_, d in linked.edges(data=True) if not d.get("connector"))
    assert street == pytest.approx(sum(d["length"] for *_, d in apart.edges(data=True)), rel=1e-9)


def test_gap_beyond_link_m_stays_separate(around: gpd.GeoDataFrame) -> None:
    near, far = _gap(around, NEAR), _gap(around, FAR)
    assert near < 15 < far < 20
    default = graph_from_streets(around)
    assert _joined(default, NEAR) and not _joined(default, FAR)
    short = graph_from_streets(around, options=NodingOptions(link_m=near - 0.5))
    assert not _joined(short, NEAR)
    wide = graph_from_streets(around, options=NodingOptions(link_m=20))
    assert _joined(wide, FAR)
    for G in (short, default, wide):  # no link is ever longer than link_m
        limit = G.graph["links"]["link_m"]
        assert all(d["length"] <= limit + 1e-6 for *_, d in G.edges(data=True) if d.get("connector"))
    with pytest.raises(NetworkError, match="liaisons"):
        NodingOptions(link_m=-1)


def test_quartier_coverage_honest_when_a_street_stays_separate(around: gpd.GeoDataFrame,
                                                               mosson: gpd.GeoDataFrame) -> None:
    """Allée de la Pinède (15.1 m away) stays out with the default 15 m: coverage < 100 %, and says so."""
    zone = mosson.geometry.iloc[0]
    inside = shapely.intersection(around.geometry.to_numpy(), zone)
    total = shapely.length(inside).sum()
    far = shapely.intersection(shapely.union_all(around[around["name"] == FAR].geometry.to_numpy()), zone)
    shares = {}
    for link_m in (15.0, 20.0):
        G = clip_graph(graph_from_streets(around, options=NodingOptions(link_m=link_m)), mosson, margin_m=0)
        route = covering_route(G, start=zone.representative_point())
        walked = shapely.length(shapely.intersection(inside, route.track.buffer(3.0))).sum()
        shares[link_m] = walked / total
        assert route.connectors  # Cour del Riu's link is walked and reported
        assert connectors_text(route).startswith(f"{len(route.connectors)} liaison")
        assert "à vérifier sur place" in connectors_text(route)
        geojson = route_to_geojson(route)
        flagged = [f for f in geojson["features"] if f["properties"].get("connector")]
        track = geojson["features"][0]["properties"]
        assert len(flagged) == len(route.connectors) == track["liaisons_hors_voie"]
    assert far.length > 100
    assert shares[15.0] >= 0.98
    assert shares[15.0] < 1 - 0.9 * far.length / total  # the allée is not walked, and the figure shows it
    assert shares[20.0] > shares[15.0]


def test_never_linked_across_levels(around: gpd.GeoDataFrame) -> None:
    """Cour del Riu made a footbridge (level 1): no link to the ground; linked to a neighbour on level 1."""
    raised = around.assign(level=(around["name"] == NEAR).astype(float))
    G = graph_from_streets(raised, options=NodingOptions(level_column="level"))
    assert not _joined(G, NEAR)
    near_nodes = {n for u, v, d in G.edges(data=True) if d.get("name") == NEAR for n in (u, v)}
    assert not any(d.get("connector") and {u, v} & near_nodes for u, v, d in G.edges(data=True))
    # the nearest street on level 1 too: the link is made, on that level
    own = shapely.union_all(around[around["name"] == NEAR].geometry.to_numpy())
    others = around[around["name"] != NEAR]
    neighbour = others.index[int(others.distance(own).to_numpy().argmin())]
    both = raised.assign(level=raised["level"].where(raised.index != neighbour, 1.0))
    H = graph_from_streets(both, options=NodingOptions(level_column="level"))
    links = [d for u, v, d in H.edges(data=True) if d.get("connector") and {u, v} & near_nodes]
    assert len(links) == 1 and links[0]["level"] == 1.0


def test_links_are_never_shortcuts(around: gpd.GeoDataFrame) -> None:
    """Every link joins two components: each is a bridge of the graph; touching lines are never linked."""
    G = graph_from_streets(around)
    bridges = {frozenset((u, v)) for u, v in nx.bridges(nx.Graph(G))}
    links = [(u, v) for u, v, d in G.edges(data=True) if d.get("connector")]
    assert links
    assert all(frozenset(e) in bridges for e in links)
    # two real streets merged per name, one T-joining the other in mid-line, left unnoded on purpose
    # (split=False): they touch, so they are apart by choice and never linked
    merged = [shapely.line_merge(shapely.union_all(g.geometry.to_numpy())) for _, g in around.groupby("name")]
    lines = shapely.get_parts(merged)
    a, b = shapely.STRtree(lines).query(lines, predicate="touches")
    ends_a = shapely.boundary(lines[a])
    ends_b = shapely.boundary(lines[b])
    mid = (a < b) & ~shapely.intersects(ends_a, ends_b) & shapely.intersects(ends_a, lines[b])
    i, j = int(a[mid][0]), int(b[mid][0])
    pair = gpd.GeoDataFrame(geometry=[lines[i], lines[j]], crs="EPSG:2154")
    flat = graph_from_streets(pair, options=NodingOptions(split=False, snap_m=0))
    assert not nx.is_connected(flat)
    assert flat.graph["links"]["links"] == 0
    assert nx.is_connected(graph_from_streets(pair))  # noded, they meet


def test_link_components_leaves_its_input_alone(around: gpd.GeoDataFrame) -> None:
    apart = graph_from_streets(around, options=NodingOptions(link_m=0))
    before = (apart.number_of_nodes(), apart.number_of_edges())
    linked, stats = link_components(apart, link_m=15)
    assert (apart.number_of_nodes(), apart.number_of_edges()) == before
    assert stats.links > 0
    assert nx.number_connected_components(linked) == stats.components_after
    quality = network_quality(linked)
    assert quality.links == stats.links
    assert quality.links_length_m == pytest.approx(stats.length_m)
    assert quality.components_before_links == stats.components_before > quality.components
    assert quality.length_m == pytest.approx(network_quality(apart).length_m)  # links are no street
    assert "liaison(s) piétonne(s) hors voie" in quality.summary()
    assert quality.usable and not quality.warnings()


def test_a_link_is_not_a_street_for_serving_stops(around: gpd.GeoDataFrame) -> None:
    """A point next to a link but far from every street line stays « non desservi »."""
    from geo.walks.network import distance_to_streets

    linked = graph_from_streets(around)
    d = next(d for *_, d in linked.edges(data=True) if d.get("connector"))
    middle = d["geometry"].interpolate(0.5, normalized=True)
    streets_only = nx.MultiGraph(linked.subgraph(linked.nodes))
    streets_only.remove_edges_from([(a, b, k) for a, b, k, e in linked.edges(keys=True, data=True)
                                    if e.get("connector")])
    expected = distance_to_streets(streets_only, middle)[0]
    assert expected > 2.0  # the middle of a link of more than 5 m
    assert distance_to_streets(linked, middle)[0] == pytest.approx(expected)


def test_a_stop_on_a_street_cut_off_from_the_network_says_so(around: gpd.GeoDataFrame,
                                                              mosson: gpd.GeoDataFrame) -> None:
    """A stop on Allée de la Pinède (15.1 m from any other street, not linked): its street is cut off."""
    from geo.walks.export import unserved_text
    from geo.walks.model import WalkOptions
    from geo.walks.routing import walk_route

    zone = mosson.geometry.iloc[0]
    G = clip_graph(graph_from_streets(around), mosson, margin_m=0)
    allee = shapely.union_all(around[around["name"] == FAR].geometry.to_numpy())
    assert G.graph["cut_off_streets"] is not None and G.graph["cut_off_streets"].distance(allee) < 1.0
    on_allee = allee.interpolate(0.5, normalized=True)
    elsewhere = [d["geometry"].interpolate(0.5, normalized=True) for *_, d in G.edges(data=True)
                 if d.get("name") and not d.get("connector")][:3]
    stops = gpd.GeoDataFrame({"priority": [5.0, 1.0, 1.0, 1.0], "label": [FAR, "a", "b", "c"]},
                             geometry=[on_allee, *elsewhere], crs="EPSG:2154")
    route = walk_route(G, stops, start=zone.representative_point(), options=WalkOptions(budget_min=60))
    (unserved,) = route.unserved
    assert unserved["label"] == FAR and unserved["disconnected"] is True
    assert unserved["distance_m"] > 15.0  # from the streets joined to the network
    assert unserved_text(unserved).startswith("non desservi (sur une voie non reliée au reste du réseau")
    assert FAR not in set(route.stops["label"])

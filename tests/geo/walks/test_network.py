"""Street graphs on the real Montpellier and Paris networks, plus a small OSM XML file."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Point, box

import geo.walks.network as network
from geo.errors import NetworkError
from geo.geometry import repair_polygons
from geo.walks.build import graph_from_hashcode, graph_from_streets
from geo.walks.network import (
    clip_graph,
    distance_matrix,
    edges_frame,
    load_street_graph,
    nearest_node,
    nearest_nodes,
    path_geometry,
    shortest_path,
)
from geo.walks.osm import graph_from_osm_xml
from geo.walks.streets import read_street_layer


def test_mosson_graph_from_real_streets(mosson_graph: nx.MultiGraph, mosson: gpd.GeoDataFrame) -> None:
    G = mosson_graph
    assert G.graph["crs"] == "EPSG:2154"
    assert nx.is_connected(G)
    assert G.number_of_edges() > 300
    xy = np.array([(d["x"], d["y"]) for _, d in G.nodes(data=True)])
    # Lambert-93 metres around Montpellier, inside the QPV plus margin (and reconnecting links)
    assert xy[:, 0].min() > 764_000 and xy[:, 0].max() < 768_000
    assert xy[:, 1].min() > 6_279_000 and xy[:, 1].max() < 6_284_500
    names = {d["name"] for _, _, d in G.edges(data=True)}
    assert "Rue de Font Caude" in names
    doms = {d["domanialite"] for _, _, d in G.edges(data=True)} - {None}
    assert {"Publique", "Privée"} <= doms
    zone = mosson.geometry.iloc[0].buffer(200)
    edges = edges_frame(G)
    assert edges.intersects(zone).mean() > 0.95
    for _, _, d in itertools.islice(G.edges(data=True), 50):
        assert d["length"] == pytest.approx(d["geometry"].length)


def test_clip_margin_and_errors(shared_data: Path, mosson: gpd.GeoDataFrame) -> None:
    G = graph_from_streets(read_street_layer(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip"))
    small = clip_graph(G, mosson, margin_m=0)
    large = clip_graph(G, mosson, margin_m=400)
    assert small.number_of_edges() < large.number_of_edges() < G.number_of_edges()
    assert nx.is_connected(small)
    with pytest.raises(NetworkError, match="Aucune voie"):
        clip_graph(G, box(0, 0, 10, 10), margin_m=0)


def test_cache_is_used_and_keyed(shared_data: Path, mosson: gpd.GeoDataFrame, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip"
    first = load_street_graph(src, area=mosson, margin_m=100, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pickle"))) == 1

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("graph rebuilt instead of read from cache")

    monkeypatch.setattr(network, "graph_from_streets", boom)
    again = load_street_graph(src, area=mosson, margin_m=100, cache_dir=tmp_path)
    assert set(again.edges) == set(first.edges)
    with pytest.raises(AssertionError, match="rebuilt"):  # other margin: other key
        load_street_graph(src, area=mosson, margin_m=150, cache_dir=tmp_path)


def test_paris_hashcode_graph(shared_data: Path) -> None:
    path = shared_data / "paris" / "reseau-paris-hashcode-2014.txt"
    G = graph_from_hashcode(path)
    assert G.number_of_nodes() == 11348
    lines = path.read_text().split("\n")
    one_way = next(ln for ln in lines[11349:] if ln.split()[2] == "1").split()
    a, b, length = int(one_way[0]), int(one_way[1]), float(one_way[4])
    assert G.has_edge(a, b) and G.has_edge(b, a)  # walkers ignore one-way streets
    assert nx.shortest_path_length(G, a, b, weight="length") <= length + 1e-6
    assert nx.shortest_path_length(G, b, a, weight="length") <= length + 1e-6
    x = np.array([d["x"] for _, d in G.nodes(data=True)])
    assert 640_000 < np.median(x) < 665_000  # Paris in Lambert-93


def test_paris_clipped_to_qpv(shared_data: Path) -> None:
    qpv = gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson")
    repaired, invalid = repair_polygons(qpv[qpv["code"] == "QP075019"])
    assert invalid.all()
    G = load_street_graph(shared_data / "paris" / "reseau-paris-hashcode-2014.txt", area=repaired,
                          margin_m=100)
    assert nx.is_connected(G) and 100 < G.number_of_nodes() < 2000


def test_malformed_inputs(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="introuvable"):
        load_street_graph(tmp_path / "absent.zip")
    bad = tmp_path / "bad.txt"
    bad.write_text("3 1 0 0 0\n48.8 2.3\n")
    with pytest.raises(NetworkError):
        graph_from_hashcode(bad)
    with pytest.raises(NetworkError, match="Format"):
        load_street_graph(bad, kind="shapefile")


OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="43.6100" lon="3.8100"/>
  <node id="2" lat="43.6100" lon="3.8120"/>
  <node id="3" lat="43.6115" lon="3.8120"/>
  <node id="4" lat="43.6115" lon="3.8100"/>
  <node id="5" lat="43.6090" lon="3.8120"/>
  <node id="6" lat="43.6125" lon="3.8120"/>
  <node id="7" lat="43.6090" lon="3.8100"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="Rue du Test"/><tag k="oneway" v="yes"/></way>
  <way id="11"><nd ref="3"/><nd ref="4"/><nd ref="1"/>
    <tag k="highway" v="footway"/><tag k="name" v="Allée des Essais"/></way>
  <way id="12"><nd ref="2"/><nd ref="5"/><tag k="highway" v="service"/></way>
  <way id="13"><nd ref="3"/><nd ref="6"/><tag k="highway" v="service"/></way>
  <way id="14"><nd ref="1"/><nd ref="7"/><tag k="highway" v="service"/></way>
</osm>
"""


def test_osm_xml_graph(tmp_path: Path) -> None:
    path = tmp_path / "mini.osm"
    path.write_text(OSM, encoding="utf-8")
    G = graph_from_osm_xml(path)
    assert G.graph["crs"] == "EPSG:2154"
    names = {d["name"] for _, _, d in G.edges(data=True)}
    assert names == {"Rue du Test", "Allée des Essais", None}
    # each street once although osmnx lists both directions
    assert G.number_of_edges() == 6
    # the one-way street walked backwards
    assert nx.shortest_path_length(G, 3, 2, weight="length") == pytest.approx(167, abs=3)
    xs = [d["x"] for _, d in G.nodes(data=True)]
    assert all(760_000 < x < 780_000 for x in xs)


def test_distances_and_paths(mosson_graph: nx.MultiGraph) -> None:
    G = mosson_graph
    rng = np.random.default_rng(3)
    nodes = [list(G.nodes)[i] for i in rng.choice(G.number_of_nodes(), 12, replace=False)]
    D = distance_matrix(G, nodes)
    assert np.allclose(D, D.T) and np.allclose(np.diag(D), 0)
    for i, j in [(0, 1), (2, 7), (5, 11)]:
        assert D[i, j] == pytest.approx(nx.shortest_path_length(G, nodes[i], nodes[j], weight="length"))
        path = shortest_path(G, nodes[i], nodes[j])
        line, length = path_geometry(G, path)
        assert length == pytest.approx(D[i, j])
        assert line.length == pytest.approx(length, rel=1e-6)
        assert Point(line.coords[0]).distance(Point(G.nodes[nodes[i]]["x"], G.nodes[nodes[i]]["y"])) < 1e-6
    assert np.all(D[:, :, None] <= D[:, None, :] + D.T[None, :, :] + 1e-6)  # triangle inequality
    with pytest.raises(NetworkError, match="absent"):
        distance_matrix(G, ["pas un nœud"])


def test_nearest_nodes(mosson_graph: nx.MultiGraph) -> None:
    G = mosson_graph
    node = list(G.nodes)[10]
    x, y = G.nodes[node]["x"], G.nodes[node]["y"]
    assert nearest_node(G, Point(x + 0.3, y - 0.2)) == node
    wgs = gpd.GeoDataFrame(geometry=[Point(x, y)], crs="EPSG:2154").to_crs("EPSG:4326")
    found, dist = nearest_nodes(G, wgs)
    assert found == [node] and dist[0] < 0.01

"""Noding on real data made OpenStreetMap-like: Montpellier's streets merged into one line per name.

The « Filaire des voies » is split at every junction; OpenStreetMap ways and many municipal
files are not. Merging each street's segments (``line_merge`` of the union per name) gives
lines that cross and T-join in mid-line, as such files do.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString

from geo.crs import to_territory_crs
from geo.errors import NetworkError
from geo.walks.build import graph_from_streets
from geo.walks.model import WalkOptions
from geo.walks.network import clip_graph, split_at_points
from geo.walks.noding import NodingOptions, node_lines
from geo.walks.osm import graph_from_osm_xml, read_osm_ways
from geo.walks.quality import network_quality
from geo.walks.routing import covering_route, walk_route
from geo.walks.streets import read_street_layer

STREETS = ("montpellier", "VilleMTP_MTP_FilaireVoies.zip")


def _length_share(G: nx.MultiGraph) -> float:
    comps = list(nx.connected_components(G))
    total = sum(d["length"] for *_, d in G.edges(data=True))
    return max(sum(d["length"] for *_, d in G.subgraph(c).edges(data=True)) for c in comps) / total


@pytest.fixture(scope="module")
def split_streets(shared_data: Path) -> gpd.GeoDataFrame:
    return read_street_layer(shared_data.joinpath(*STREETS))


@pytest.fixture(scope="module")
def merged_streets(split_streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One line (or a few where the segments do not chain) per street name, as OSM ways."""
    rows = []
    named = split_streets.assign(key=split_streets["name"].fillna("(sans nom)"))
    for name, grp in named.groupby("key", sort=True):
        merged = shapely.line_merge(shapely.union_all(grp.geometry.to_numpy()))
        for part in shapely.get_parts(merged):
            rows.append({"name": name, "domanialite": grp["domanialite"].iloc[0], "geometry": part})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=split_streets.crs)
    assert len(frame) < 0.5 * len(split_streets)  # really merged: 8,011 segments into ~3,600 lines
    return frame


@pytest.fixture(scope="module")
def merged_graph(merged_streets: gpd.GeoDataFrame) -> nx.MultiGraph:
    return graph_from_streets(merged_streets)


def test_unnoded_merged_streets_fall_apart(merged_streets: gpd.GeoDataFrame) -> None:
    """Regression: joined at their end points only, the merged lines are hundreds of pieces."""
    G = graph_from_streets(merged_streets, options=NodingOptions(split=False, snap_m=0))
    assert nx.number_connected_components(G) > 500
    assert _length_share(G) < 0.3


def test_noding_reconnects_merged_streets(merged_graph: nx.MultiGraph, merged_streets: gpd.GeoDataFrame,
                                          split_streets: gpd.GeoDataFrame) -> None:
    quality = network_quality(merged_graph)
    assert quality.largest_share >= 0.9
    assert quality.usable and not quality.warnings()
    assert quality.crossings > 1000  # cut at crossings and T-junctions
    # the noded merged file is as connected as the municipal file split at its junctions
    reference = network_quality(graph_from_streets(split_streets))
    assert quality.largest_share == pytest.approx(reference.largest_share, abs=0.02)
    assert quality.length_m == pytest.approx(merged_streets.length.sum(), rel=1e-6)
    # attributes kept on the pieces
    names = {d["name"] for *_, d in merged_graph.edges(data=True)}
    assert "Rue de Font Caude" in names
    for *_, d in list(merged_graph.edges(data=True))[:200]:
        assert d["length"] == pytest.approx(d["geometry"].length)
        assert d["length"] > 0


def test_gaps_closed_and_counted(merged_streets: gpd.GeoDataFrame) -> None:
    """Real lines made messy: a T-junction end pulled back 0.6 m is reattached, and counted."""
    lines = merged_streets.geometry.to_numpy()
    _, _, base = node_lines(lines)
    # shorten the end of 40 lines by 0.6 m (a digitising gap)
    rng = np.random.default_rng(7)
    picked = rng.choice(len(lines), size=40, replace=False)
    messy = lines.copy()
    for i in picked:
        line = messy[i]
        if line.length > 5:
            messy[i] = shapely.ops.substring(line, 0, line.length - 0.6)
    _, _, closed = node_lines(messy, options=NodingOptions(snap_m=1.0))
    _, _, open_ = node_lines(messy, options=NodingOptions(snap_m=0))
    assert closed.snapped_gaps > base.snapped_gaps
    # gap closing alone (pedestrian links off): the 0.6 m gaps are closed by snapping
    G_closed = graph_from_streets(gpd.GeoDataFrame(geometry=messy, crs="EPSG:2154"),
                                  options=NodingOptions(link_m=0))
    G_open = graph_from_streets(gpd.GeoDataFrame(geometry=messy, crs="EPSG:2154"),
                                options=NodingOptions(snap_m=0, link_m=0))
    assert nx.number_connected_components(G_closed) < nx.number_connected_components(G_open)
    # without snapping, the default pedestrian links bridge the same gaps, and say so
    G_linked = graph_from_streets(gpd.GeoDataFrame(geometry=messy, crs="EPSG:2154"),
                                  options=NodingOptions(snap_m=0))
    assert nx.number_connected_components(G_linked) < nx.number_connected_components(G_open)
    assert G_linked.graph["links"]["links"] > G_closed.graph["links"]["links"] == 0
    assert open_.snapped_gaps == 0
    with pytest.raises(NetworkError, match="Tolérance"):
        NodingOptions(snap_m=-1)


def test_grade_separation_keeps_a_bridge_apart(merged_streets: gpd.GeoDataFrame) -> None:
    """Two real merged streets crossing in mid-line: noded on the same level, not when one is a bridge."""
    lines = merged_streets.geometry.to_numpy()
    tree = shapely.STRtree(lines)
    a, b = tree.query(lines, predicate="crosses")
    a, b = a[a < b], b[a < b]
    inter = shapely.intersection(lines[a], lines[b])
    ends = shapely.union(shapely.boundary(lines[a]), shapely.boundary(lines[b]))
    single = (shapely.get_type_id(inter) == 0) & (shapely.distance(inter, ends) > 5)
    i, j = int(a[single][0]), int(b[single][0])  # one crossing, far from every end
    pair = gpd.GeoDataFrame({"name": ["A", "B"], "layer": [0, 1]}, geometry=[lines[i], lines[j]],
                            crs="EPSG:2154")
    flat = graph_from_streets(pair.drop(columns="layer"), options=NodingOptions(crossings="all"))
    bridge = graph_from_streets(pair, options=NodingOptions(crossings="all"))
    assert nx.is_connected(flat)
    assert not nx.is_connected(bridge)
    assert bridge.graph["noding"]["separated_crossings"] >= 1
    osm = pair.drop(columns="layer").assign(bridge=[None, "yes"])
    assert not nx.is_connected(graph_from_streets(osm, options=NodingOptions(crossings="all")))


@pytest.fixture(scope="module")
def mosson_stops(shared_data: Path, mosson: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Real address points of Mosson with SIMULATED priorities (seeded), plus 2 points far from streets."""
    zone = mosson.geometry.iloc[0]
    pts = to_territory_crs(gpd.read_file(shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip",
                                         bbox=tuple(zone.bounds)))
    pts = pts[pts.within(zone)]
    rng = np.random.default_rng(11)
    pick = pts.iloc[rng.choice(len(pts), size=60, replace=False)]
    frame = gpd.GeoDataFrame({"label": [f"adresse {k}" for k in range(60)],
                              "priority": rng.integers(1, 10, size=60).astype(float)},
                             geometry=pick.geometry.to_numpy(), crs="EPSG:2154")
    # messy: two stops dropped 120 m and 300 m away from any street (in the parc / off the map)
    streets = shapely.union_all([g for g in frame.geometry])
    far = [shapely.Point(zone.centroid.x + 5000, zone.centroid.y + 5000 + d) for d in (120.0, 300.0)]
    assert all(p.distance(streets) > 100 for p in far)
    extra = gpd.GeoDataFrame({"label": ["loin 1", "loin 2"], "priority": [9.0, 9.0]}, geometry=far,
                             crs="EPSG:2154")
    return pd.concat([frame, extra], ignore_index=True)


def _walk(G: nx.MultiGraph, mosson: gpd.GeoDataFrame, stops: gpd.GeoDataFrame):  # type: ignore[no-untyped-def]
    zone = mosson.geometry.iloc[0]
    graph = clip_graph(G, mosson, margin_m=200)
    start = stops.geometry.iloc[0]
    graph = split_at_points(graph, [start, *stops.geometry])
    route = walk_route(graph, stops, start=start, options=WalkOptions(budget_min=90, time_limit_s=0.5))
    return graph, route, zone


def _check_walk(route, graph: nx.MultiGraph, stops: gpd.GeoDataFrame) -> None:  # type: ignore[no-untyped-def]
    assert len(route.stops) >= 5
    off = route.stops.geometry.distance(route.track).to_numpy()
    assert (off <= 30.0 + 1e-6).all(), off.max()
    unserved = {u["label"]: u for u in route.unserved}
    assert {"loin 1", "loin 2"} <= set(unserved)
    assert unserved["loin 1"]["distance_m"] > 30
    assert not set(unserved) & set(route.stops["label"])  # never as if visited
    # every input stop is either on the route, listed unserved, or simply not chosen (budget)
    for label in unserved:
        p = stops.loc[stops["label"] == label].geometry.iloc[0]
        edges = [d["geometry"] for *_, d in graph.edges(data=True)]
        assert min(p.distance(e) for e in edges) > 30


def test_90_minute_walk_on_noded_merged_streets(merged_graph: nx.MultiGraph, mosson: gpd.GeoDataFrame,
                                               mosson_stops: gpd.GeoDataFrame) -> None:
    graph, route, _ = _walk(merged_graph, mosson, mosson_stops)
    assert route.duration_min <= 90 + 1e-6
    _check_walk(route, graph, mosson_stops)


@pytest.mark.parametrize("code", ["QP034012", "QP034005"])
def test_every_street_walk_covers_the_quartier(merged_graph: nx.MultiGraph, split_streets: gpd.GeoDataFrame,
                                               shared_data: Path, code: str) -> None:
    """Près d'Arènes and Mosson: at least 98 % of the quartier's street length.

    Mosson has two streets (Allée de la Pinède, Cour del Riu) 10–15 m from any other
    street in the municipal file itself: pedestrian links (connector edges) reach them.
    """
    minimum = 0.98
    qpv = gpd.read_file(shared_data / "montpellier" / "qp-occitanie-2015.geojson")
    area = to_territory_crs(qpv[qpv["code_qp"] == code])
    zone = shapely.make_valid(area.geometry.iloc[0])
    G = clip_graph(merged_graph, area, margin_m=0)
    route = covering_route(G, start=zone.representative_point())
    # measured against the municipal file, not against the graph walked
    inside = shapely.intersection(split_streets.geometry.to_numpy(), zone)
    total = shapely.length(inside).sum()
    walked = shapely.length(shapely.intersection(inside, route.track.buffer(3.0))).sum()
    assert total > 5_000
    assert walked / total >= minimum
    missed = shapely.length(shapely.difference(inside, route.track.buffer(3.0)))
    lost = split_streets[missed > 50]
    others = split_streets.drop(index=lost.index)
    for geom in lost.geometry:  # what is not walked is cut off from the network in the source
        assert others.distance(geom).min() > 5
    # the street length walked is street length: the links are reported apart, never counted in it
    links = [d for *_, d in G.edges(data=True) if d.get("connector")]
    assert route.meta["street_length_m"] == pytest.approx(
        sum(d["length"] for *_, d in G.edges(data=True) if not d.get("connector")))
    assert route.meta["connector_m"] == pytest.approx(sum(d["length"] for d in links))


# --------------------------------------------------------------------------- OSM XML extract


def _write_osm(frame: gpd.GeoDataFrame, path: Path, *, bridge: LineString | None = None) -> None:
    """Write lines as OSM nodes and ways (highway=residential, name); equal vertices share one node."""
    tr = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    ids: dict[tuple[float, float], int] = {}
    nodes: list[str] = []
    ways: list[str] = []

    def node(x: float, y: float) -> int:
        key = (round(x, 2), round(y, 2))
        if key not in ids:
            ids[key] = len(ids) + 1
            lon, lat = tr.transform(x, y)
            nodes.append(f'<node id="{ids[key]}" lat="{lat:.8f}" lon="{lon:.8f}" version="1"/>')
        return ids[key]

    rows = [(str(n), g, {"highway": "residential"})
            for n, g in zip(frame["name"], frame.geometry, strict=True)]
    if bridge is not None:
        tags_bridge = {"highway": "footway", "bridge": "yes", "layer": "1"}
        rows.append(("Passerelle test", bridge, tags_bridge))
    motorway = LineString([(766000, 6282000), (766050, 6282000)])
    rows.append(("Autoroute test", motorway, {"highway": "motorway"}))
    for k, (name, geom, tags) in enumerate(rows, start=1):
        refs = "".join(f'<nd ref="{node(x, y)}"/>' for x, y in np.asarray(geom.coords)[:, :2])
        tag_xml = "".join(f"<tag k={quoteattr(a)} v={quoteattr(b)}/>"
                          for a, b in {**tags, "name": name}.items())
        ways.append(f'<way id="{k}" version="1">{refs}{tag_xml}</way>')
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
                    + "\n".join(nodes) + "\n" + "\n".join(ways) + "\n</osm>\n", encoding="utf-8")


@pytest.fixture(scope="module")
def osm_extract(merged_streets: gpd.GeoDataFrame, mosson: gpd.GeoDataFrame,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LineString]:
    zone = mosson.geometry.iloc[0].buffer(600)
    around = merged_streets[merged_streets.intersects(zone)]
    # a footbridge crossing a real street in mid-line, without a shared node
    street = around.geometry.iloc[int(np.argmax(around.length))]
    mid = street.interpolate(0.5, normalized=True)
    ahead = street.interpolate(0.5 * street.length + 5)
    dx, dy = ahead.x - mid.x, ahead.y - mid.y
    bridge = LineString([(mid.x - dy * 8, mid.y + dx * 8), (mid.x + dy * 8, mid.y - dx * 8)])
    assert bridge.crosses(street)
    path = tmp_path_factory.mktemp("osm") / "mosson.osm"
    _write_osm(around, path, bridge=bridge)
    return path, bridge


def test_osm_xml_extract_noded_and_grade_separated(osm_extract: tuple[Path, LineString],
                                                   mosson: gpd.GeoDataFrame,
                                                   mosson_stops: gpd.GeoDataFrame) -> None:
    path, _ = osm_extract
    G = graph_from_osm_xml(path)
    quality = network_quality(G, areas=mosson.assign(code="QP034005", name="Mosson"))
    assert quality.quartiers[0].largest_share >= 0.9
    names = {d["name"] for *_, d in G.edges(data=True)}
    assert "Autoroute test" not in names  # not walkable
    bridge_edges = [(u, v) for u, v, d in G.edges(data=True) if d["name"] == "Passerelle test"]
    assert bridge_edges
    bridge_nodes = {n for e in bridge_edges for n in e}
    # the bridge touches nothing: its nodes are only its own ends
    assert all(G.degree(n) == 1 for n in bridge_nodes)
    graph, route, _ = _walk(G, mosson, mosson_stops)
    _check_walk(route, graph, mosson_stops)
    zone = mosson.geometry.iloc[0]
    cover = covering_route(clip_graph(G, mosson, margin_m=0), start=zone.representative_point())
    # real street length only: the pedestrian links are neither in the numerator nor the denominator
    streets = [d["geometry"] for *_, d in G.edges(data=True) if not d.get("connector")]
    links = [d["geometry"] for *_, d in G.edges(data=True) if d.get("connector")]
    inside = shapely.intersection(np.array(streets, dtype=object), zone)
    total = shapely.length(inside).sum()
    walked_lines = cover.track
    if links:
        walked_lines = shapely.difference(cover.track, shapely.union_all(links).buffer(0.01))
    walked = shapely.length(shapely.intersection(inside, walked_lines.buffer(3.0))).sum()
    assert walked / total >= 0.98  # two streets of Mosson 10-15 m from the others: reached by links


def test_osm_extract_read_with_pyosmium(osm_extract: tuple[Path, LineString]) -> None:
    path, _ = osm_extract
    ways = read_osm_ways(path)
    assert "motorway" not in set(ways["highway"])
    assert (ways["bridge"] == "yes").sum() == 1
    G = graph_from_streets(ways, options=NodingOptions(crossings="junctions"))
    assert network_quality(G).largest_share >= 0.9
    bridge_nodes = {n for u, v, d in G.edges(data=True) if d["name"] == "Passerelle test" for n in (u, v)}
    assert all(G.degree(n) == 1 for n in bridge_nodes)


def test_bd_topo_like_columns_level_and_walkability(merged_streets: gpd.GeoDataFrame) -> None:
    """The same real streets named as IGN BD TOPO names them: ``NOM_1_G``, ``NATURE``, ``POS_SOL``."""
    lines = merged_streets.geometry.to_numpy()
    a, b = shapely.STRtree(lines).query(lines, predicate="crosses")
    a, b = a[a < b], b[a < b]
    inter = shapely.intersection(lines[a], lines[b])
    ends = shapely.union(shapely.boundary(lines[a]), shapely.boundary(lines[b]))
    single = (shapely.get_type_id(inter) == 0) & (shapely.distance(inter, ends) > 5)
    i, j = int(a[single][0]), int(b[single][0])
    bdtopo = gpd.GeoDataFrame(
        {"NOM_1_G": ["Rue A", "Pont B", "Autoroute C"], "NATURE": ["Route à 1 chaussée", "Route à 1 chaussée",
                                                                  "Type autoroutier"],
         "POS_SOL": [0, 1, 0]},
        geometry=[lines[i], lines[j], lines[j].parallel_offset(30)], crs="EPSG:2154")
    G = graph_from_streets(bdtopo, options=NodingOptions(crossings="all", link_m=0))
    names = {d["name"] for *_, d in G.edges(data=True)}
    assert names == {"Rue A", "Pont B"}  # the motorway is not walkable
    assert not nx.is_connected(G)  # the bridge crosses the street without meeting it
    flat = graph_from_streets(bdtopo.assign(POS_SOL=0), options=NodingOptions(crossings="all", link_m=0))
    assert nx.is_connected(flat)
    with pytest.raises(NetworkError, match="Aucune voie piétonne"):
        graph_from_streets(bdtopo.assign(NATURE="Type autoroutier"))


def test_street_names_read_under_another_publisher_s_column_name(split_streets: gpd.GeoDataFrame) -> None:
    """The real lines with their name column as other publishers write it keep their names."""
    lines = split_streets.iloc[:200]
    for column in ("Nom de la voie", "NOM_RUE", "libellé_voie", "Street Name"):
        frame = gpd.GeoDataFrame({column: lines["name"].to_numpy()}, geometry=lines.geometry.to_numpy(),
                                 crs=lines.crs)
        G = graph_from_streets(frame)
        names = {d["name"] for *_, d in G.edges(data=True) if not d.get("connector")}
        assert names == set(lines["name"].dropna()), column

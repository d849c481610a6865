"""Pedestrian street graphs of a quartier: loading, clipping, caching and distances.

A street graph here is an undirected :class:`networkx.MultiGraph` (walkers ignore
one-way streets) whose nodes carry ``x``/``y`` in EPSG:2154 and whose edges carry
``length`` (metres), ``geometry`` (a LineString in EPSG:2154, oriented from the
smaller to the larger node id as stored in ``geometry_from``) and, when the source has
them, ``name``, ``street_code`` and ``domanialite``. The graph attribute ``crs`` is
``"EPSG:2154"``.

The graphs are built by :mod:`geo.walks.build` from the lines of :mod:`geo.walks.streets`
or :mod:`geo.walks.osm`; :func:`load_street_graph` reads any of the three sources (a
street layer, the Paris street graph of the 2014 programming contest, an OpenStreetMap
extract) and caches the graph.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import NetworkError
from geo.walks._edges import oriented_ends
from geo.walks._graph_cache import cache_key, cached_graph
from geo.walks.build import graph_from_hashcode, graph_from_streets
from geo.walks.osm import graph_from_osm_file
from geo.walks.streets import read_street_layer

logger = logging.getLogger(__name__)

__all__ = [
    "clip_graph",
    "distance_matrix",
    "distance_to_streets",
    "edge_geometry",
    "edges_frame",
    "largest_component",
    "load_street_graph",
    "nearest_node",
    "nearest_nodes",
    "path_geometry",
    "shortest_path",
    "split_at_points",
]

CACHE_VERSION = "4"  # 2: noded at crossings; 3: pedestrian links; 4: cut-off streets kept


def largest_component(G: nx.MultiGraph) -> nx.MultiGraph:
    """Return a copy of the largest connected component of ``G``.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph.

    Returns
    -------
    networkx.MultiGraph
        A new graph.

    Raises
    ------
    NetworkError
        When the graph is empty.
    """
    if G.number_of_nodes() == 0:
        raise NetworkError("Le graphe des voies est vide.")
    nodes = max(nx.connected_components(G), key=len)
    return G.subgraph(nodes).copy()


def clip_graph(
    G: nx.MultiGraph, area: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries, *, margin_m: float = 200.0
) -> nx.MultiGraph:
    """Keep the streets that touch an area (plus a margin), largest connected part only.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph in EPSG:2154.
    area : shapely geometry or GeoDataFrame/GeoSeries
        The quartier; a bare geometry is taken to be in EPSG:2154, frames are projected.
    margin_m : float, default 200
        Buffer around the area, in metres.

    Returns
    -------
    networkx.MultiGraph
        A new graph.

    Raises
    ------
    NetworkError
        When no street touches the area.
    """
    zone = _area_geometry(area).buffer(max(margin_m, 0.0))
    geoms = [d["geometry"] for _, _, d in G.edges(data=True)]
    keep = shapely.intersects(np.array(geoms, dtype=object), zone)
    H = nx.MultiGraph(**G.graph)
    for (u, v, k, d), ok in zip(G.edges(keys=True, data=True), keep, strict=True):
        if ok:
            H.add_node(u, **G.nodes[u])
            H.add_node(v, **G.nodes[v])
            H.add_edge(u, v, key=k, **d)
    if H.number_of_edges() == 0:
        raise NetworkError("Aucune voie du réseau ne traverse le quartier (vérifier la projection).")
    joined = _reconnect(G, H)
    out = largest_component(joined)
    # the streets of the quartier left out (not joined to the main part): a stop on one of them
    # is « non desservi » because its street is cut off, not because no street passes there
    left = [d["geometry"] for u, _, d in joined.edges(data=True)
            if u not in out and d.get("geometry") is not None]
    out.graph["cut_off_streets"] = shapely.union_all(np.array(left, dtype=object)) if left else None
    return out


def _reconnect(G: nx.MultiGraph, H: nx.MultiGraph) -> nx.MultiGraph:
    """Join the pieces of a clipped graph to its main part through the full graph's shortest links."""
    comps = sorted(nx.connected_components(H), key=len, reverse=True)
    if len(comps) < 2:
        return H
    nodes, index, mat = _csr(G)
    out = H.copy()
    main = np.array([index[n] for n in comps[0]], dtype=np.int64)
    for comp in comps[1:]:
        src = np.array([index[n] for n in comp], dtype=np.int64)
        dist, pred, sources = dijkstra(mat, directed=False, indices=src, min_only=True,
                                       return_predecessors=True)
        target = main[np.argmin(dist[main])]
        if not np.isfinite(dist[target]):
            continue
        chain = [int(target)]
        while chain[-1] != sources[target] and pred[chain[-1]] >= 0:
            chain.append(int(pred[chain[-1]]))
        for a, b in itertools.pairwise(chain):
            u, v = nodes[a], nodes[b]
            if out.has_edge(u, v):
                continue
            key, data = min(G[u][v].items(), key=lambda kv: kv[1]["length"])
            out.add_node(u, **G.nodes[u])
            out.add_node(v, **G.nodes[v])
            out.add_edge(u, v, key=key, **data)
        main = np.union1d(main, np.concatenate([src, np.array(chain, dtype=np.int64)]))
    return out


def _area_geometry(area: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries) -> BaseGeometry:
    if isinstance(area, gpd.GeoSeries):
        area = gpd.GeoDataFrame(geometry=area)
    if isinstance(area, gpd.GeoDataFrame):
        if area.empty:
            raise NetworkError("Le périmètre du quartier est vide.")
        return shapely.union_all(to_territory_crs(area).geometry.make_valid().to_numpy())
    if area is None or area.is_empty:
        raise NetworkError("Le périmètre du quartier est vide.")
    return shapely.make_valid(area)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_street_graph(
    source: str | Path,
    *,
    area: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    margin_m: float = 200.0,
    kind: str = "auto",
    cache_dir: str | Path | None = None,
) -> nx.MultiGraph:
    """Build (or read from the disk cache) the pedestrian graph of a quartier.

    Parameters
    ----------
    source : str or Path
        Street layer, Paris contest graph (``.txt``) or OSM XML (``.osm``/``.xml``).
    area : geometry or GeoDataFrame, optional
        Quartier to clip to (with ``margin_m``); the whole network when omitted.
    margin_m : float, default 200
        Margin around the quartier, metres.
    kind : {"auto", "streets", "hashcode", "osm"}
        Source format; guessed from the file name when ``"auto"``.
    cache_dir : str or Path, optional
        Folder of the pickle cache, keyed by a hash of the file content, the area,
        the margin and the code version. No cache when omitted.

    Returns
    -------
    networkx.MultiGraph
        The clipped, connected pedestrian graph in EPSG:2154.

    Raises
    ------
    NetworkError
        When the source is missing, unreadable or does not cover the area.
    """
    path = Path(source)
    if not path.is_file():
        raise NetworkError(f"Fichier de réseau introuvable : « {path} ».")
    if kind == "auto":
        suffix = path.suffix.lower()
        kind = "hashcode" if suffix == ".txt" else "osm" if suffix in {".osm", ".xml", ".pbf"} else "streets"
    if kind not in {"streets", "hashcode", "osm"}:
        raise NetworkError(f"Format de réseau inconnu « {kind} » (streets, hashcode ou osm).")
    zone = _area_geometry(area) if area is not None else None

    def build() -> nx.MultiGraph:
        if kind == "hashcode":
            G = graph_from_hashcode(path)
        elif kind == "osm":
            G = graph_from_osm_file(path)
        else:
            G = graph_from_streets(read_street_layer(path))
        return clip_graph(G, zone, margin_m=margin_m) if zone is not None else largest_component(G)

    parts: list[str | bytes] = [CACHE_VERSION, kind, _file_digest(path), repr(float(margin_m))]
    if zone is not None:
        parts.append(shapely.to_wkb(shapely.set_precision(zone, 0.01)))
    return cached_graph(cache_dir, "streets", cache_key(parts), build)


def _node_arrays(G: nx.MultiGraph) -> tuple[list[Hashable], np.ndarray]:
    nodes = list(G.nodes)
    xy = np.array([(G.nodes[n]["x"], G.nodes[n]["y"]) for n in nodes], dtype=float)
    return nodes, xy


def _points_xy(points: Any) -> np.ndarray:
    if isinstance(points, gpd.GeoDataFrame | gpd.GeoSeries):
        frame = points if isinstance(points, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=points)
        geoms = to_territory_crs(frame).geometry
        reps = [g if g.geom_type == "Point" else g.representative_point() for g in geoms]
        return np.array([(p.x, p.y) for p in reps], dtype=float)
    if isinstance(points, BaseGeometry):
        p = points if isinstance(points, Point) else points.representative_point()
        return np.array([[p.x, p.y]], dtype=float)
    arr = np.asarray(points, dtype=float)
    return arr.reshape(-1, 2)


def nearest_nodes(G: nx.MultiGraph, points: Any) -> tuple[list[Hashable], np.ndarray]:
    """Snap points to their nearest graph nodes.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph in EPSG:2154.
    points : GeoDataFrame, GeoSeries, shapely geometry or array of (x, y)
        Frames are projected to EPSG:2154; bare coordinates are taken to be in it.

    Returns
    -------
    nodes : list
        Nearest node of each point.
    distances : numpy.ndarray
        Snapping distance of each point, metres.

    Raises
    ------
    NetworkError
        When the graph is empty.
    """
    nodes, xy = _node_arrays(G)
    if not nodes:
        raise NetworkError("Le graphe des voies est vide.")
    pts = _points_xy(points)
    dist, idx = cKDTree(xy).query(pts)
    return [nodes[i] for i in np.atleast_1d(idx)], np.atleast_1d(dist)


def distance_to_streets(G: nx.MultiGraph, points: Any) -> np.ndarray:
    """Distance (metres) from each point to the nearest street line of ``G`` (links excluded).

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph in EPSG:2154.
    points : GeoDataFrame, GeoSeries, shapely geometry or array of (x, y)
        As :func:`nearest_nodes`.

    Returns
    -------
    numpy.ndarray
    """
    pts = np.atleast_1d(np.asarray(shapely.points(_points_xy(points)), dtype=object))
    # pedestrian links between street pieces (``connector``) are not streets: a stop near
    # one only is not served
    geoms = [d.get("geometry") or LineString([(G.nodes[u]["x"], G.nodes[u]["y"]),
                                              (G.nodes[v]["x"], G.nodes[v]["y"])])
             for u, v, d in G.edges(data=True) if not d.get("connector")]
    if not geoms:
        raise NetworkError("Le graphe des voies est vide.")
    tree = shapely.STRtree(geoms)
    idx, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    out = np.full(len(pts), np.inf)
    out[idx[0]] = dist
    return out


def nearest_node(G: nx.MultiGraph, point: Any) -> Hashable:
    """Return the graph node nearest to one point.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph in EPSG:2154.
    point : shapely Point, (x, y) in EPSG:2154 or one-row GeoDataFrame

    Returns
    -------
    Hashable
        The node id.

    Raises
    ------
    NetworkError
        When the graph is empty.
    """
    nodes, _ = nearest_nodes(G, point)
    return nodes[0]


def _csr(G: nx.MultiGraph) -> tuple[list[Hashable], dict[Hashable, int], csr_matrix]:
    nodes = list(G.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    best: dict[tuple[int, int], float] = {}
    for u, v, d in G.edges(data=True):
        a, b = index[u], index[v]
        w = float(d["length"])
        for key in ((a, b), (b, a)):
            if w < best.get(key, np.inf):
                best[key] = w
    rows = np.fromiter((k[0] for k in best), dtype=np.int64, count=len(best))
    cols = np.fromiter((k[1] for k in best), dtype=np.int64, count=len(best))
    vals = np.fromiter(best.values(), dtype=float, count=len(best))
    vals = np.maximum(vals, 1e-6)  # csgraph drops explicit zeros
    mat = csr_matrix((vals, (rows, cols)), shape=(len(nodes), len(nodes)))
    return nodes, index, mat


def distance_matrix(G: nx.MultiGraph, nodes: Sequence[Hashable]) -> np.ndarray:
    """Shortest walking distances (metres) between every pair of the given nodes.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph with ``length`` on edges.
    nodes : sequence
        Graph nodes (repeats allowed).

    Returns
    -------
    numpy.ndarray
        ``len(nodes) × len(nodes)`` matrix, ``inf`` between disconnected nodes.

    Raises
    ------
    NetworkError
        When a node is not in the graph.
    """
    _all_nodes, index, mat = _csr(G)
    try:
        idx = np.array([index[n] for n in nodes], dtype=np.int64)
    except KeyError as exc:
        raise NetworkError(f"Nœud absent du graphe des voies : {exc.args[0]!r}.") from None
    if len(idx) == 0:
        return np.zeros((0, 0))
    uniq, inverse = np.unique(idx, return_inverse=True)
    dist = dijkstra(mat, directed=False, indices=uniq)
    out: np.ndarray = dist[inverse][:, idx]
    return out


def shortest_path(G: nx.MultiGraph, source: Hashable, target: Hashable) -> list[Hashable]:
    """Return the node path of the shortest walk from ``source`` to ``target``.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph with ``length`` on edges.
    source, target : Hashable
        Graph nodes.

    Returns
    -------
    list
        Nodes from ``source`` to ``target`` included.

    Raises
    ------
    NetworkError
        When the nodes are not connected.
    """
    try:
        return list(nx.shortest_path(G, source, target, weight="length"))
    except (nx.NetworkXNoPath, nx.NodeNotFound) as exc:
        raise NetworkError(f"Aucun chemin piéton entre {source!r} et {target!r}.") from exc


def edge_geometry(G: nx.MultiGraph, u: Hashable, v: Hashable, key: Any = None) -> LineString:
    """Return the geometry of edge ``u–v`` oriented from ``u`` to ``v``.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph.
    u, v : Hashable
        End nodes of the edge.
    key : optional
        Edge key among parallel edges; the shortest edge when omitted.

    Returns
    -------
    shapely.geometry.LineString
        A new line in EPSG:2154.

    Raises
    ------
    NetworkError
        When there is no such edge.
    """
    data = G.get_edge_data(u, v)
    if not data:
        raise NetworkError(f"Pas de tronçon entre {u!r} et {v!r}.")
    d = data[key] if key is not None else min(data.values(), key=lambda e: e["length"])
    geom = d.get("geometry")
    if geom is None:
        return LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
    start = Point(geom.coords[0])
    if start.distance(Point(G.nodes[u]["x"], G.nodes[u]["y"])) > start.distance(
        Point(G.nodes[v]["x"], G.nodes[v]["y"])
    ):
        return LineString(list(geom.coords)[::-1])
    return LineString(geom.coords)


def path_geometry(G: nx.MultiGraph, path: Sequence[Hashable]) -> tuple[LineString, float]:
    """Return the LineString (EPSG:2154) and length (metres) of a node path.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph.
    path : sequence
        Consecutive nodes; the shortest of parallel edges is used.

    Returns
    -------
    line : shapely.geometry.LineString
    length : float

    Raises
    ------
    NetworkError
        When two consecutive nodes are not joined by an edge.
    """
    if len(path) == 0:
        raise NetworkError("Chemin vide.")
    if len(path) == 1:
        x, y = G.nodes[path[0]]["x"], G.nodes[path[0]]["y"]
        return LineString([(x, y), (x, y)]), 0.0
    coords: list[tuple[float, ...]] = []
    length = 0.0
    for u, v in itertools.pairwise(path):
        if u == v:
            continue
        data = G.get_edge_data(u, v)
        if not data:
            raise NetworkError(f"Pas de tronçon entre {u!r} et {v!r}.")
        length += min(float(e["length"]) for e in data.values())
        part = list(edge_geometry(G, u, v).coords)
        coords.extend(part if not coords else part[1:])
    if len(coords) < 2:
        x, y = G.nodes[path[0]]["x"], G.nodes[path[0]]["y"]
        coords = [(x, y), (x, y)]
    return LineString(coords), length


def edges_frame(G: nx.MultiGraph) -> gpd.GeoDataFrame:
    """Return the edges of ``G`` as a GeoDataFrame.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``u``, ``v``, ``name``, ``domanialite``, ``length`` and the edge lines,
        in the graph CRS (EPSG:2154).
    """
    rows = [
        {"u": u, "v": v, "name": d.get("name"), "domanialite": d.get("domanialite"),
         "length": float(d["length"]), "geometry": d.get("geometry")
         or LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])}
        for u, v, d in G.edges(data=True)
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=G.graph.get("crs", TERRITORY_CRS))


def split_at_points(G: nx.MultiGraph, points: Sequence[Point], *, max_m: float = 250.0,
                    tolerance_m: float = 1.0) -> nx.MultiGraph:
    """Return a copy of ``G`` with a node on the street nearest to each point.

    The router snaps every stop to its nearest graph *node*: the middle of a long street
    or a constat halfway along it would be « visited » from a crossing 100 m away, off
    the track. Cutting the nearest street edge at the projection of each point gives the
    router a node on the street itself, so the track passes by the stop.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph (EPSG:2154), left untouched.
    points : sequence of Point
        Stops and meeting points, same CRS.
    max_m : float, default 250
        Points farther than this from every street are left alone.
    tolerance_m : float, default 1
        A projection this close to an end of the street uses the existing node.

    Returns
    -------
    networkx.MultiGraph
    """
    from shapely.ops import substring

    H = G.copy()
    if not len(points):
        return H
    edges = [(u, v, k, d) for u, v, k, d in G.edges(keys=True, data=True) if d.get("geometry") is not None]
    tree = shapely.STRtree([d["geometry"] for *_, d in edges])
    pts = np.array(points, dtype=object)
    idx = tree.query_nearest(pts, max_distance=max_m, return_distance=False, all_matches=False)
    cuts: dict[int, list[float]] = {}
    for p_i, e_i in zip(idx[0], idx[1], strict=True):
        geom = edges[int(e_i)][3]["geometry"]
        at = float(geom.project(pts[int(p_i)]))
        if tolerance_m < at < geom.length - tolerance_m:
            cuts.setdefault(int(e_i), []).append(at)
    next_id = max((n for n in G.nodes if isinstance(n, int)), default=-1) + 1
    for e_i, positions in cuts.items():
        u, v, k, d = edges[e_i]
        geom = d["geometry"]
        a, b = oriented_ends(G, u, v, geom)
        marks = sorted(set(round(p, 2) for p in positions))
        marks = [m for i, m in enumerate(marks) if i == 0 or m - marks[i - 1] > tolerance_m]
        H.remove_edge(u, v, key=k)
        chain = [a]
        for m in marks:
            q = geom.interpolate(m)
            H.add_node(next_id, x=float(q.x), y=float(q.y))
            chain.append(next_id)
            next_id += 1
        chain.append(b)
        bounds = [0.0, *marks, float(geom.length)]
        for i in range(len(chain) - 1):
            part = substring(geom, bounds[i], bounds[i + 1])
            H.add_edge(chain[i], chain[i + 1], **{**d, "geometry": part, "length": float(part.length),
                                                  "geometry_from": chain[i]})
    return H

"""Building a pedestrian street graph from lines, or from the Paris contest graph file.

The graph is an undirected :class:`networkx.MultiGraph` (walkers ignore one-way
streets) whose nodes carry ``x``/``y`` in EPSG:2154 and whose edges carry ``length``
(metres), ``geometry`` (a LineString in EPSG:2154, oriented as stored in
``geometry_from``), ``level`` and, when the source has them, ``name``, ``street_code``
and ``domanialite``. Lines are noded first (:mod:`geo.walks.noding`) and the pieces a
few metres apart joined by pedestrian links (:mod:`geo.walks.linking`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from geo.crs import TERRITORY_CRS
from geo.errors import NetworkError
from geo.walks.linking import link_components_in_place
from geo.walks.noding import NodingOptions, node_lines
from geo.walks.streets import normalise_streets

logger = logging.getLogger(__name__)

__all__ = ["graph_from_hashcode", "graph_from_streets"]


#: Piece ends closer than this (metres) are one node.
_NODE_MERGE_M = 0.01


def graph_from_streets(streets: gpd.GeoDataFrame, *, options: NodingOptions | None = None) -> nx.MultiGraph:
    """Build a pedestrian graph from street centrelines, noded at every crossing.

    Lines are first cut where they cross or meet (:func:`geo.walks.noding.node_lines`:
    crossings, T-junctions, shared vertices; grade separation of bridges and tunnels;
    gaps up to ``options.snap_m`` closed), then the piece ends become the nodes.

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        Lines in any CRS; ``name``/``street_code``/``domanialite`` columns (as made by
        :func:`read_street_layer`) or their raw source names are kept on the edges.
    options : NodingOptions, optional
        Gap tolerance, level column, splitting switch, pedestrian links (defaults of
        :class:`~geo.walks.noding.NodingOptions`).

    Returns
    -------
    networkx.MultiGraph
        Undirected street graph in EPSG:2154; one-way streets are walkable both ways.
        Edges carry the ``level`` of their line. ``G.graph["noding"]`` holds the counts of
        :class:`~geo.walks.noding.NodingStats`, ``G.graph["links"]`` those of
        :class:`~geo.walks.linking.LinkStats` (parts less than ``options.link_m`` apart are
        joined by ``connector`` edges, see :func:`~geo.walks.linking.link_components`).

    Raises
    ------
    NetworkError
        When there is no line to build from.
    """
    opts = options or NodingOptions()
    norm = normalise_streets(streets, level_column=opts.level_column)
    pieces, source, stats = node_lines(norm.geometry.to_numpy(), levels=norm["level"].to_numpy(),
                                       options=opts)
    if len(pieces) == 0:
        raise NetworkError("Aucun tronçon de voie exploitable pour construire le graphe.")
    coords, index = shapely.get_coordinates(pieces, return_index=True)
    counts = np.bincount(index, minlength=len(pieces))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ends = np.concatenate([coords[first], coords[first + counts - 1]])
    label, centre = _cluster_points(ends, _NODE_MERGE_M)
    # number the nodes in order of appearance (start then end of each piece, in the source order)
    seq = np.column_stack([label[: len(pieces)], label[len(pieces):]]).ravel()
    _, first_seen = np.unique(seq, return_index=True)  # every cluster label 0..K-1 appears
    rank = np.empty(len(centre), dtype=np.int64)
    rank[np.argsort(first_seen)] = np.arange(len(centre))
    centre = centre[np.argsort(rank)]
    u_all, v_all = rank[label[: len(pieces)]], rank[label[len(pieces):]]
    length = shapely.length(pieces)
    keep = ~((u_all == v_all) & (length < 1.0))  # tiny loops
    if not keep.any():
        raise NetworkError("Aucun tronçon de voie exploitable pour construire le graphe.")
    u_all, v_all, length, pieces, source = u_all[keep], v_all[keep], length[keep], pieces[keep], source[keep]
    G = nx.MultiGraph(crs=TERRITORY_CRS, noding=dict(stats.__dict__))
    used = np.unique(np.concatenate([u_all, v_all]))
    G.add_nodes_from((int(i), {"x": float(centre[i, 0]), "y": float(centre[i, 1])}) for i in used)
    names, codes, doms = (norm[c].to_numpy()[source] for c in ("name", "street_code", "domanialite"))
    levels = norm["level"].to_numpy(dtype=float)[source].tolist()
    keys = _parallel_keys(u_all, v_all)
    add = G.add_edge
    rows = zip(u_all.tolist(), v_all.tolist(), keys.tolist(), length.tolist(), pieces, names, codes, doms,
               levels, strict=True)
    for u, v, k, ln, geom, nm, cd, dm, lv in rows:
        add(u, v, key=k, length=ln, geometry=geom, geometry_from=u, name=nm, street_code=cd, domanialite=dm,
            level=lv)
    link_components_in_place(G, link_m=opts.link_m)
    logger.info("street graph: %d nodes, %d edges", G.number_of_nodes(), G.number_of_edges())
    return G


def _parallel_keys(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Key of each edge among the edges joining the same two nodes (0, 1, 2… in input order)."""
    big = int(max(u.max(initial=0), v.max(initial=0))) + 1
    _, inverse = np.unique(np.minimum(u, v).astype(np.int64) * big + np.maximum(u, v), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    sorted_inv = inverse[order]
    start = np.concatenate([[0], np.flatnonzero(np.diff(sorted_inv)) + 1])
    rank = np.arange(len(u)) - np.repeat(start, np.diff(np.concatenate([start, [len(u)]])))
    keys = np.empty(len(u), dtype=np.int64)
    keys[order] = rank
    return keys


def _cluster_points(xy: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Label points closer than ``radius`` (transitively) with one id; return labels and first points."""
    pairs = cKDTree(xy).query_pairs(radius, output_type="ndarray")
    m = len(xy)
    if len(pairs) == 0:
        return np.arange(m), xy
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, label = connected_components(graph, directed=False)
    _, first = np.unique(label, return_index=True)
    return label, xy[first]


def graph_from_hashcode(path: str | Path) -> nx.MultiGraph:
    """Read the Paris street graph of the 2014 contest (``N M T C S`` text format).

    Parameters
    ----------
    path : str or Path
        File whose first line is ``N M T C S``, then ``N`` lines ``lat lon`` and ``M``
        lines ``from to direction cost length_m``.

    Returns
    -------
    networkx.MultiGraph
        Undirected graph in EPSG:2154 (one-way streets walkable both ways), straight
        edge geometries, ``length`` taken from the file.

    Raises
    ------
    NetworkError
        When the file is missing or malformed.
    """
    try:
        lines = Path(path).read_text(encoding="ascii").split("\n")
        n, m = (int(v) for v in lines[0].split()[:2])
        latlon = np.array([[float(v) for v in ln.split()] for ln in lines[1 : n + 1]])
        edges = np.array([[int(float(v)) for v in ln.split()] for ln in lines[n + 1 : n + 1 + m]])
    except (OSError, ValueError, IndexError) as exc:
        raise NetworkError(f"Fichier de réseau illisible « {path} » : {exc}") from exc
    if latlon.shape != (n, 2) or edges.shape != (m, 5):
        raise NetworkError(f"Fichier de réseau incomplet « {path} » : {n} nœuds, {m} tronçons annoncés.")
    tr = Transformer.from_crs("EPSG:4326", TERRITORY_CRS, always_xy=True)
    xs, ys = tr.transform(latlon[:, 1], latlon[:, 0])
    G = nx.MultiGraph(crs=TERRITORY_CRS)
    for i in range(n):
        G.add_node(i, x=float(xs[i]), y=float(ys[i]))
    seen: set[tuple[int, int]] = set()
    for a, b, _direction, _cost, length in edges:
        u, v = int(min(a, b)), int(max(a, b))
        if u == v or (u, v) in seen:  # two-way streets may be listed twice
            continue
        seen.add((u, v))
        geom = LineString([(xs[u], ys[u]), (xs[v], ys[v])])
        G.add_edge(u, v, length=float(max(length, geom.length)), geometry=geom, geometry_from=u,
                   name=None, street_code=None, domanialite=None)
    return G

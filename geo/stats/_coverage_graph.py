"""Private: a plain networkx street graph and exact point-to-point walking distances on it.

Nodes are the segment endpoints (snapped together within ``tolerance`` metres); edges
are the segments, weighted by their length. A point (address, container) is projected
on its nearest segment; its walking distance to a set of sources is

``access(target) + min(d(u) + a, d(v) + L - a)``, where ``d`` is the multi-source
Dijkstra distance of the segment's end nodes, ``a`` the projected position along the
segment of length ``L`` and ``access`` the straight distance from the point to the
street; a source on the same segment is reached directly (``|a - b|``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from geo.crs import to_territory_crs
from geo.errors import AnalysisError

logger = logging.getLogger(__name__)

_SOURCE = "__sources__"


@dataclass
class StreetGraph:
    """Street segments and their graph, in EPSG:2154."""

    graph: nx.Graph
    lines: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    tree: shapely.STRtree


@dataclass
class Snapped:
    """Points projected on their nearest segment (``segment`` -1 when too far)."""

    segment: np.ndarray
    offset: np.ndarray
    access: np.ndarray


def build_street_graph(streets: gpd.GeoDataFrame, *, tolerance: float = 1.0) -> StreetGraph:
    """Build the graph of street centrelines.

    Parameters
    ----------
    streets : geopandas.GeoDataFrame
        LineString or MultiLineString segments, any CRS.
    tolerance : float
        Endpoints closer than this (metres) become one node.

    Returns
    -------
    StreetGraph
        The graph and the segment arrays.

    Raises
    ------
    AnalysisError
        When no usable line is given.
    """
    proj = to_territory_crs(streets)
    geoms = proj.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    parts = shapely.get_parts(geoms[ok])
    lines = parts[shapely.get_type_id(parts) == 1]
    lines = lines[shapely.length(lines) > 0]
    if len(lines) == 0:
        raise AnalysisError("Aucun tronçon de voie utilisable.")
    first = shapely.get_coordinates(shapely.get_point(lines, 0))
    last = shapely.get_coordinates(shapely.get_point(lines, -1))
    ends = np.vstack([first, last])
    keys = np.round(ends / tolerance).astype(np.int64)
    _, node = np.unique(keys, axis=0, return_inverse=True)
    node = node.ravel()
    u, v = node[: len(lines)], node[len(lines) :]
    length = shapely.length(lines)
    graph = nx.Graph()
    for a, b, w in zip(u.tolist(), v.tolist(), length.tolist(), strict=True):
        if a == b:
            continue
        if not graph.has_edge(a, b) or graph[a][b]["weight"] > w:
            graph.add_edge(a, b, weight=w)
    return StreetGraph(graph=graph, lines=lines, u=u, v=v, length=length, tree=shapely.STRtree(lines))


def snap(sg: StreetGraph, xy: np.ndarray, *, max_snap: float) -> Snapped:
    """Project points on their nearest segment within ``max_snap`` metres."""
    n = len(xy)
    seg = np.full(n, -1, dtype=np.int64)
    offset = np.zeros(n)
    access = np.full(n, np.nan)
    ok = np.isfinite(xy).all(axis=1)
    pts = shapely.points(xy[ok])
    idx = np.flatnonzero(ok)
    pairs, dist = sg.tree.query_nearest(pts, max_distance=max_snap, return_distance=True, all_matches=False)
    where = idx[pairs[0]]
    seg[where] = pairs[1]
    access[where] = dist
    offset[where] = shapely.line_locate_point(sg.lines[pairs[1]], pts[pairs[0]])
    return Snapped(segment=seg, offset=offset, access=access)


def walking_distances(
    sg: StreetGraph,
    sources_xy: np.ndarray,
    targets_xy: np.ndarray,
    *,
    max_snap: float = 50.0,
    cutoff: float | None = None,
) -> np.ndarray:
    """Return the walking distance from each target to its nearest source along the streets.

    Parameters
    ----------
    sg : StreetGraph
        From :func:`build_street_graph`.
    sources_xy, targets_xy : numpy.ndarray
        (n, 2) coordinates in EPSG:2154.
    max_snap : float
        Points farther than this from every street are unreachable.
    cutoff : float, optional
        Distances beyond this are reported as infinite (speeds Dijkstra up).

    Returns
    -------
    numpy.ndarray
        Distances in metres (``inf`` when unreachable or beyond ``cutoff``).
    """
    src = snap(sg, sources_xy, max_snap=max_snap)
    tgt = snap(sg, targets_xy, max_snap=max_snap)
    graph = sg.graph.copy()
    graph.add_node(_SOURCE)
    seen = src.segment >= 0
    for s, a, acc in zip(src.segment[seen], src.offset[seen], src.access[seen], strict=True):
        for node, w in ((sg.u[s], acc + a), (sg.v[s], acc + sg.length[s] - a)):
            if not graph.has_edge(_SOURCE, node) or graph[_SOURCE][node]["weight"] > w:
                graph.add_edge(_SOURCE, int(node), weight=float(w))
    dist = nx.single_source_dijkstra_path_length(graph, _SOURCE, cutoff=cutoff, weight="weight")
    node_d = np.full(int(max(sg.u.max(), sg.v.max())) + 1, np.inf)
    for node, d in dist.items():
        if node != _SOURCE:
            node_d[int(node)] = d
    out = np.full(len(targets_xy), np.inf)
    on = tgt.segment >= 0
    s = tgt.segment[on]
    b = tgt.offset[on]
    via = np.minimum(node_d[sg.u[s]] + b, node_d[sg.v[s]] + sg.length[s] - b)
    # sources on the same segment: straight along it
    same: dict[int, list[tuple[float, float]]] = {}
    for seg_id, a, acc in zip(src.segment[seen], src.offset[seen], src.access[seen], strict=True):
        same.setdefault(int(seg_id), []).append((float(a), float(acc)))
    for k, (seg_id, pos) in enumerate(zip(s.tolist(), b.tolist(), strict=True)):
        for a, acc in same.get(seg_id, ()):
            via[k] = min(via[k], abs(a - pos) + acc)
    out[on] = via + tgt.access[on]
    if cutoff is not None:
        out[out > cutoff] = np.inf
    return out

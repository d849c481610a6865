"""Pedestrian links between street pieces a few metres apart.

Street files leave some streets a few metres short of the others (a cul-de-sac drawn
up to the pavement, a courtyard whose entrance is not mapped): noded, they stay
separate connected components that no walk reaches. :func:`link_components` joins a
component to another one lying within ``link_m`` with ONE straight connector edge
between the closest points of the two, in order of increasing gap (a minimum spanning
forest over the components restricted to gaps up to ``link_m``), so that:

* a component is never linked twice to the same group (no shortcut inside a component);
* lines of different levels (bridges, tunnels) are never linked;
* components whose lines cross without being noded (grade separation, or interiors
  crossing without a shared vertex in a file split at its junctions) are kept apart;
* a component farther than ``link_m`` from every other stays separate.

Connector edges carry ``connector=True``, ``length`` (the straight distance), a French
``name`` (« liaison piétonne hors voie (12 m) ») and never count as street length.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.ops import substring

from geo.walks._edges import oriented_ends

logger = logging.getLogger(__name__)

__all__ = ["LinkStats", "connector_name", "is_connector", "link_components", "route_connectors"]

#: Distances below this (metres) are a contact: the two lines touch or cross.
_TOUCH_M = 1e-3
#: A link end closer than this (metres) to an end of the line it lands on uses that node.
_NODE_TOLERANCE_M = 0.5


@dataclass(frozen=True)
class LinkStats:
    """What linking did.

    Attributes
    ----------
    components_before : int
        Connected components before linking.
    components_after : int
        Connected components after linking.
    links : int
        Connector edges added.
    length_m : float
        Total length of the connectors, metres.
    link_m : float
        Largest gap bridged, metres (0: linking disabled).
    """

    components_before: int = 0
    components_after: int = 0
    links: int = 0
    length_m: float = 0.0
    link_m: float = 0.0


def connector_name(length_m: float) -> str:
    """French name of a connector edge: « liaison piétonne hors voie (12 m) »."""
    return f"liaison piétonne hors voie ({length_m:.0f} m)"


def is_connector(data: dict[str, Any]) -> bool:
    """Tell whether edge data is a pedestrian link added by :func:`link_components`."""
    return bool(data.get("connector", False))


def link_components(G: nx.MultiGraph, *, link_m: float = 15.0) -> tuple[nx.MultiGraph, LinkStats]:
    """Return a copy of ``G`` whose components less than ``link_m`` apart are joined by connector edges.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph in EPSG:2154 (nodes with ``x``/``y``, edges with ``geometry`` and
        optionally ``level``), left untouched.
    link_m : float, default 15
        Largest gap bridged, metres; 0 disables linking.

    Returns
    -------
    graph : networkx.MultiGraph
        A new graph; ``graph.graph["links"]`` holds the :class:`LinkStats` figures.
    stats : LinkStats
    """
    H = G.copy()
    stats = link_components_in_place(H, link_m=link_m)
    return H, stats


def link_components_in_place(G: nx.MultiGraph, *, link_m: float) -> LinkStats:
    """Add the connector edges of :func:`link_components` to ``G`` itself (for freshly built graphs)."""
    comps = list(nx.connected_components(G))
    before = len(comps)
    if link_m <= 0 or before < 2:
        stats = LinkStats(components_before=before, components_after=before, link_m=float(link_m))
        G.graph["links"] = dict(stats.__dict__)
        return stats
    comp_of = {n: i for i, c in enumerate(comps) for n in c}
    edges = [(u, v, k, d) for u, v, k, d in G.edges(keys=True, data=True) if d.get("geometry") is not None]
    geoms = np.array([d["geometry"] for *_, d in edges], dtype=object)
    comp = np.array([comp_of[u] for u, *_ in edges], dtype=np.int64)
    level = np.array([float(d.get("level") or 0.0) for *_, d in edges])
    chosen = _choose_links(geoms, comp, level, link_m=link_m)
    cuts: dict[int, list[tuple[float, int]]] = {}
    ends: list[tuple[Point, Point, float]] = []
    for n, (i, j) in enumerate(chosen):
        line = shapely.shortest_line(geoms[i], geoms[j])
        p, q = (Point(c) for c in line.coords)
        ends.append((p, q, float(level[i])))
        cuts.setdefault(i, []).append((float(geoms[i].project(p)), 2 * n))
        cuts.setdefault(j, []).append((float(geoms[j].project(q)), 2 * n + 1))
    node_at = _split_edges(G, edges, cuts)
    total = 0.0
    for n, (_p, _q, lvl) in enumerate(ends):
        a, b = node_at[2 * n], node_at[2 * n + 1]
        geom = LineString([(G.nodes[a]["x"], G.nodes[a]["y"]), (G.nodes[b]["x"], G.nodes[b]["y"])])
        length = float(geom.length)
        total += length
        G.add_edge(a, b, length=length, geometry=geom, geometry_from=a, name=connector_name(length),
                   street_code=None, domanialite=None, level=lvl, connector=True)
    stats = LinkStats(components_before=before, components_after=nx.number_connected_components(G),
                      links=len(ends), length_m=total, link_m=float(link_m))
    G.graph["links"] = dict(stats.__dict__)
    logger.info("linking: %d components -> %d with %d connectors (%.0f m)", before, stats.components_after,
                stats.links, total)
    return stats


def _choose_links(geoms: np.ndarray, comp: np.ndarray, level: np.ndarray, *,
                  link_m: float) -> list[tuple[int, int]]:
    """Pick the edge pairs to join: closest pair per component pair, Kruskal by increasing gap."""
    # every link has an end off the largest component: only those edges are queried (a few %)
    largest = int(np.bincount(comp).argmax())
    small = np.flatnonzero(comp != largest)
    near, b = shapely.STRtree(geoms).query(geoms[small], predicate="dwithin", distance=link_m)
    a = small[near]
    # pairs of two small components come twice: kept once
    keep = (comp[a] != comp[b]) & (level[a] == level[b]) & ((a < b) | (comp[b] == largest))
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return []
    dist = shapely.distance(geoms[a], geoms[b])
    ca, cb = np.minimum(comp[a], comp[b]), np.maximum(comp[a], comp[b])
    big = int(comp.max()) + 1
    pair = ca * big + cb
    # components whose lines touch or cross without a node are apart on purpose (levels, bridges)
    blocked = np.unique(pair[dist <= _TOUCH_M])
    ok = ~np.isin(pair, blocked)
    a, b, dist, pair = a[ok], b[ok], dist[ok], pair[ok]
    order = np.lexsort((dist, pair))
    first = np.concatenate([[True], pair[order][1:] != pair[order][:-1]]) if len(order) else np.zeros(0, bool)
    best = order[first]
    best = best[np.argsort(dist[best], kind="stable")]
    parent = list(range(big))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    chosen = []
    for e in best.tolist():
        ra, rb = find(int(comp[a[e]])), find(int(comp[b[e]]))
        if ra != rb:
            parent[ra] = rb
            chosen.append((int(a[e]), int(b[e])))
    return chosen


def _split_edges(G: nx.MultiGraph, edges: list[tuple[Any, Any, Any, dict[str, Any]]],
                 cuts: dict[int, list[tuple[float, int]]]) -> dict[int, Hashable]:
    """Cut the edges at the link ends; return the node of each link end."""
    next_id = max((n for n in G.nodes if isinstance(n, int)), default=-1) + 1
    node_at: dict[int, Hashable] = {}
    for e_i, marks in cuts.items():
        u, v, k, d = edges[e_i]
        geom = d["geometry"]
        a, b = oriented_ends(G, u, v, geom)
        chain: list[Hashable] = [a]
        bounds = [0.0]
        for at, end in sorted(marks):
            if at <= _NODE_TOLERANCE_M:
                node_at[end] = a
            elif at >= geom.length - _NODE_TOLERANCE_M:
                node_at[end] = b
            elif at - bounds[-1] <= _NODE_TOLERANCE_M and len(chain) > 1:
                node_at[end] = chain[-1]
            else:
                q = geom.interpolate(at)
                G.add_node(next_id, x=float(q.x), y=float(q.y))
                chain.append(next_id)
                bounds.append(at)
                node_at[end] = next_id
                next_id += 1
        if len(chain) == 1:
            continue
        chain.append(b)
        bounds.append(float(geom.length))
        G.remove_edge(u, v, key=k)
        for i in range(len(chain) - 1):
            part = substring(geom, bounds[i], bounds[i + 1])
            G.add_edge(chain[i], chain[i + 1], **{**d, "geometry": part, "length": float(part.length),
                                                  "geometry_from": chain[i]})
    return node_at


def route_connectors(G: nx.MultiGraph, node_path: list[Hashable]) -> list[dict[str, Any]]:
    """Return the connector edges a walk uses (each once): ``length_m`` and midpoint ``x``, ``y`` (EPSG:2154).

    Parameters
    ----------
    G : networkx.MultiGraph
        The graph the walk was computed on.
    node_path : list
        Nodes walked through; between two nodes the shortest parallel edge is taken.

    Returns
    -------
    list of dict
    """
    seen: set[tuple[Hashable, Hashable]] = set()
    out = []
    for u, v in itertools.pairwise(node_path):
        data = G.get_edge_data(u, v)
        if not data or u == v:
            continue
        d = min(data.values(), key=lambda e: e["length"])
        key = (u, v) if str(u) <= str(v) else (v, u)
        if not is_connector(d) or key in seen:
            continue
        seen.add(key)
        mid = d["geometry"].interpolate(0.5, normalized=True)
        out.append({"length_m": round(float(d["length"]), 1), "x": float(mid.x), "y": float(mid.y)})
    return out

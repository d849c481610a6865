"""Small helpers on the edges of a street graph, shared by the network and linking modules."""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx
from shapely.geometry import LineString, Point

__all__ = ["oriented_ends"]


def oriented_ends(G: nx.MultiGraph, u: Hashable, v: Hashable, geom: LineString) -> tuple[Hashable, Hashable]:
    """Return the edge's two nodes in the order of its geometry (the node at its first point first)."""
    first = Point(geom.coords[0])
    to_u = first.distance(Point(G.nodes[u]["x"], G.nodes[u]["y"]))
    to_v = first.distance(Point(G.nodes[v]["x"], G.nodes[v]["y"]))
    return (u, v) if to_u <= to_v else (v, u)

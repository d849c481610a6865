"""OpenStreetMap extracts as street sources: XML through osmnx, PBF through pyosmium.

Only the ways pedestrians may use are read (:func:`geo.walks.streets.walkable_tags`);
the ``layer``/``bridge``/``tunnel`` tags give each way its level, so a bridge is not
joined to the streets it crosses.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import MissingDependencyError, NetworkError
from geo.walks.build import graph_from_streets
from geo.walks.linking import link_components_in_place
from geo.walks.noding import NodingOptions
from geo.walks.streets import LEVEL_TAGS, walkable_tags

logger = logging.getLogger(__name__)

__all__ = ["graph_from_osm_file", "graph_from_osm_xml", "read_osm_ways"]


def graph_from_osm_xml(path: str | Path, *, link_m: float = 15.0) -> nx.MultiGraph:
    """Read an OpenStreetMap XML extract into a pedestrian graph through osmnx.

    Ways join where they share an OpenStreetMap node (bridges and tunnels do not share
    nodes with the streets they cross). Only walkable ways are kept: every ``highway``
    but motorways, trunks, ways under construction… (:data:`NOT_WALKABLE_HIGHWAYS`),
    ``foot=no`` and ``area=yes`` excluded.

    Parameters
    ----------
    path : str or Path
        ``.osm`` XML file.
    link_m : float, default 15
        Parts of the network less than this apart are joined by a pedestrian link
        (:func:`geo.walks.linking.link_components`); 0 disables it.

    Returns
    -------
    networkx.MultiGraph
        Undirected graph in EPSG:2154 with street names kept as ``name``.

    Raises
    ------
    NetworkError
        When osmnx cannot read the file or it holds no walkable way.
    """
    import osmnx as ox

    tags = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = sorted(set(tags) | {"foot", "area", "layer", "bridge", "tunnel", "highway"})
    try:
        raw = ox.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    except Exception as exc:
        raise NetworkError(f"Extrait OpenStreetMap illisible « {path} » : {exc}") from exc
    finally:
        ox.settings.useful_tags_way = tags
    raw.remove_edges_from([(u, v, k) for u, v, k, d in raw.edges(keys=True, data=True)
                           if not walkable_tags(d.get("highway"), d.get("foot"), d.get("area"))])
    raw.remove_nodes_from([n for n in list(raw.nodes) if raw.degree(n) == 0])
    if raw.number_of_nodes() == 0:
        raise NetworkError(f"L'extrait OpenStreetMap « {path} » ne contient aucune voie piétonne.")
    simple = ox.simplify_graph(raw)
    raw = simple if simple.number_of_nodes() else raw  # isolated loops vanish when simplified
    proj = ox.project_graph(raw, to_crs=TERRITORY_CRS)
    G = nx.MultiGraph(crs=TERRITORY_CRS)
    for nid, data in proj.nodes(data=True):
        G.add_node(nid, x=float(data["x"]), y=float(data["y"]))
    seen: set[tuple[Any, Any, float]] = set()
    for u, v, data in proj.edges(data=True):
        a, b = (u, v) if str(u) <= str(v) else (v, u)
        geom = data.get("geometry")
        if geom is None:
            geom = LineString([(G.nodes[u]["x"], G.nodes[u]["y"]), (G.nodes[v]["x"], G.nodes[v]["y"])])
        key = (a, b, round(float(geom.length), 1))
        if key in seen:  # the reverse direction of a street already added
            continue
        seen.add(key)
        name = data.get("name")
        if isinstance(name, list):
            name = " / ".join(str(x) for x in name)
        G.add_edge(a, b, length=float(geom.length), geometry=geom, geometry_from=u,
                   name=name, street_code=None, domanialite=None, level=_osm_level(data))
    link_components_in_place(G, link_m=link_m)
    return G


def _osm_level(tags: dict[str, Any]) -> float:
    """Level of an OpenStreetMap way from its ``layer``, ``bridge`` and ``tunnel`` tags (0 on the ground)."""
    layer = tags.get("layer")
    layer = layer[0] if isinstance(layer, list) else layer
    value = pd.to_numeric(pd.Series([layer], dtype=object), errors="coerce").iloc[0]
    if pd.notna(value) and np.isfinite(value):
        return float(value)
    for tag, value in LEVEL_TAGS:
        flag = tags.get(tag)
        flag = flag[0] if isinstance(flag, list) else flag
        if flag is not None and str(flag).strip().lower() not in {"", "no", "nan", "none"}:
            return value
    return 0.0


def read_osm_ways(path: str | Path) -> gpd.GeoDataFrame:
    """Read the walkable ways of an OpenStreetMap extract (``.osm.pbf`` or ``.osm`` XML) with pyosmium.

    Parameters
    ----------
    path : str or Path
        OpenStreetMap extract, PBF or XML.

    Returns
    -------
    geopandas.GeoDataFrame
        One line per walkable way (EPSG:2154) with ``osm_id``, ``name``, ``highway``,
        ``layer``, ``bridge``, ``tunnel`` columns; ways join where they share a vertex.

    Raises
    ------
    MissingDependencyError
        When pyosmium (extra ``osm``) is not installed.
    NetworkError
        When the file cannot be read or holds no walkable way.
    """
    try:
        import osmium
    except ImportError:
        raise MissingDependencyError("osmium", extra="osm",
                                     purpose="lire un extrait OpenStreetMap PBF") from None
    rows: list[dict[str, Any]] = []
    try:
        fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
        for way in fp:
            if not isinstance(way, osmium.osm.Way):
                continue
            tags = way.tags
            if not walkable_tags(tags.get("highway"), tags.get("foot"), tags.get("area")):
                continue
            coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
            if len(coords) < 2:
                continue
            rows.append({"osm_id": int(way.id), "name": tags.get("name"), "highway": tags.get("highway"),
                         "layer": tags.get("layer"),
                         "bridge": tags.get("bridge"), "tunnel": tags.get("tunnel"),
                         "geometry": LineString(coords)})
    except (RuntimeError, OSError) as exc:
        raise NetworkError(f"Extrait OpenStreetMap illisible « {path} » : {exc}") from exc
    if not rows:
        raise NetworkError(f"L'extrait OpenStreetMap « {path} » ne contient aucune voie piétonne.")
    return to_territory_crs(gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326"))


def graph_from_osm_file(path: str | Path, *, options: NodingOptions | None = None) -> nx.MultiGraph:
    """Read an OpenStreetMap extract: XML through osmnx, PBF through pyosmium.

    Parameters
    ----------
    path : str or Path
        ``.osm``/``.xml`` (osmnx) or ``.pbf`` (pyosmium, extra ``osm``).
    options : NodingOptions, optional
        Noding of the PBF ways (ways join at shared vertices, bridges and tunnels by their tags).

    Returns
    -------
    networkx.MultiGraph

    Raises
    ------
    NetworkError, MissingDependencyError
        See :func:`graph_from_osm_xml` and :func:`read_osm_ways`.
    """
    if str(path).lower().endswith(".pbf"):
        opts = options or NodingOptions(crossings="junctions")
        return graph_from_streets(read_osm_ways(path), options=opts)
    return graph_from_osm_xml(path, link_m=(options or NodingOptions()).link_m)

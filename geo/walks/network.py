"""Pedestrian street graphs of a quartier: building, clipping, caching and distances.

A street graph here is an undirected :class:`networkx.MultiGraph` (walkers ignore
one-way streets) whose nodes carry ``x``/``y`` in EPSG:2154 and whose edges carry
``length`` (metres), ``geometry`` (a LineString in EPSG:2154, oriented from the
smaller to the larger node id as stored in ``geometry_from``) and, when the source has
them, ``name``, ``street_code`` and ``domanialite``. The graph attribute ``crs`` is
``"EPSG:2154"``.

Three sources are read: a street centreline layer (shapefile, GeoJSON, GeoPackage…,
such as Montpellier's « Filaire des voies »), the Paris street graph of the 2014
programming contest (text format ``N M T C S``) and OpenStreetMap XML through
:func:`osmnx.graph_from_xml`.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import unicodedata
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import MissingDependencyError, NetworkError
from geo.walks._edges import oriented_ends
from geo.walks._graph_cache import cache_key, cached_graph
from geo.walks.linking import link_components_in_place
from geo.walks.noding import NodingOptions, node_lines

logger = logging.getLogger(__name__)

__all__ = [
    "clip_graph",
    "distance_matrix",
    "distance_to_streets",
    "edge_geometry",
    "edges_frame",
    "graph_from_hashcode",
    "graph_from_osm_file",
    "graph_from_osm_xml",
    "graph_from_streets",
    "largest_component",
    "load_street_graph",
    "nearest_node",
    "nearest_nodes",
    "path_geometry",
    "read_osm_ways",
    "read_street_layer",
    "shortest_path",
    "split_at_points",
    "street_levels",
]

CACHE_VERSION = "4"  # 2: noded at crossings; 3: pedestrian links; 4: cut-off streets kept

#: Piece ends closer than this (metres) are one node.
_NODE_MERGE_M = 0.01

#: OpenStreetMap ``highway`` values pedestrians may not use (dropped from street layers).
NOT_WALKABLE_HIGHWAYS = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed", "raceway",
    "bus_guideway", "busway", "abandoned", "platform", "razed", "escape",
})

# Column names recognised in street layers (lower case), first match wins.
_NAME_COLUMNS = ("name", "lib_off", "nom_voie", "nom", "nomvoie", "libelle", "nom_1_g", "nom_rue",
                 "lib_voie", "libelle_voie", "nom_de_la_voie", "nom_complet", "denomination", "appellation",
                 "street", "street_name", "voie", "rue")
_CODE_COLUMNS = ("street_code", "rivoli_dgi", "rivoli", "code_voie", "code_fantoir", "fantoir")
_DOMANIALITE_COLUMNS = ("domanialite", "domanialit", "domanial", "statut_juridique", "gestion")


def _column_key(name: str) -> str:
    """Return a column name folded: no case, accents, spaces or punctuation (nom_de_la_voie)."""
    plain = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def _find_column(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    keyed: dict[str, str] = {}
    for c in columns:
        keyed.setdefault(_column_key(c), str(c))
    for cand in candidates:
        if cand in keyed:
            return keyed[cand]
    return None


def read_street_layer(path: str | Path, *, layer: str | None = None,
                      level_column: str | None = None) -> gpd.GeoDataFrame:
    """Read a street centreline layer and normalise it for :func:`graph_from_streets`.

    Parameters
    ----------
    path : str or Path
        Any file GDAL reads (zipped shapefile, GeoJSON, GeoPackage…).
    layer : str, optional
        Layer name inside a multi-layer file.
    level_column : str, optional
        Column of the level of each line (see :func:`street_levels`).

    Returns
    -------
    geopandas.GeoDataFrame
        Lines in EPSG:2154 with columns ``name``, ``street_code``, ``domanialite``
        (``None`` where the source has no such attribute), ``level`` and ``geometry``;
        lines an OpenStreetMap ``highway`` column marks as not walkable are dropped.

    Raises
    ------
    NetworkError
        When the file cannot be read or holds no line.
    """
    try:
        raw = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types
        raise NetworkError(f"Impossible de lire la couche des voies « {path} » : {exc}") from exc
    return _normalise_streets(raw, level_column=level_column)


def _normalise_streets(raw: gpd.GeoDataFrame, *, level_column: str | None = None) -> gpd.GeoDataFrame:
    streets = to_territory_crs(raw)
    streets = streets[streets.geometry.notna() & ~streets.geometry.is_empty]
    streets = streets[streets.geom_type.isin(["LineString", "MultiLineString"])]
    if streets.empty:
        raise NetworkError("La couche des voies ne contient aucune ligne.")
    streets = streets.explode(index_parts=False, ignore_index=True)
    streets = _walkable(streets)
    out: dict[str, Any] = {}
    for target, candidates in (
        ("name", _NAME_COLUMNS),
        ("street_code", _CODE_COLUMNS),
        ("domanialite", _DOMANIALITE_COLUMNS),
    ):
        col = _find_column(list(streets.columns), candidates)
        if col is None or col == streets.geometry.name:
            out[target] = [None] * len(streets)
        else:
            out[target] = [None if pd.isna(v) else str(v) for v in streets[col]]
    out["level"] = street_levels(streets, column=level_column)
    return gpd.GeoDataFrame(out, geometry=streets.geometry.to_numpy(), crs=streets.crs)


#: Columns (lower case) whose values mark a line as not walkable, and those values (lower
#: case): OpenStreetMap ``highway``/``foot``, IGN BD TOPO ``nature``/``acces_pieton``.
NOT_WALKABLE_VALUES: tuple[tuple[str, frozenset[str]], ...] = (
    ("highway", NOT_WALKABLE_HIGHWAYS),
    ("foot", frozenset({"no", "private"})),
    ("nature", frozenset({"type autoroutier", "bretelle"})),
    ("acces_pieton", frozenset({"interdit", "restreint aux ayants droit"})),
    ("acces_ped", frozenset({"interdit"})),
    # the ``voies`` layer of a store: street types imported from either source
    ("street_type", NOT_WALKABLE_HIGHWAYS | {"type autoroutier", "bretelle"}),
)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("object").map(lambda v: "" if v is None or v is pd.NA
                                       or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower())


def _walkable(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop the lines the source marks as not walkable (OSM motorways, BD TOPO « Type autoroutier »…)."""
    bad = pd.Series(False, index=streets.index)
    why: set[str] = set()
    for column, forbidden in NOT_WALKABLE_VALUES:
        col = _find_column(list(streets.columns), (column,))
        if col is None or col == streets.geometry.name:
            continue
        hit = _text(streets[col]).isin(forbidden)
        why.update(f"{column}={v}" for v in _text(streets[col])[hit].unique()[:3])
        bad |= hit
    if not bad.any():
        return streets
    if bad.all():
        raise NetworkError("Aucune voie piétonne dans la couche : toutes les lignes sont des voies "
                           f"interdites aux piétons ({', '.join(sorted(why)[:5])}).")
    logger.info("%d non-walkable lines dropped (%s)", int(bad.sum()), sorted(why)[:5])
    return streets[~bad.to_numpy()]


def _truthy(values: pd.Series) -> np.ndarray:
    text = values.astype("object").map(lambda v: "" if v is None or v is pd.NA
                                       or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower())
    return ~text.isin(["", "no", "non", "0", "false", "none", "nan"]).to_numpy()


def street_levels(streets: pd.DataFrame, *, column: str | None = None) -> np.ndarray:
    """Return the level of each street line (0 on the ground, > 0 bridges, < 0 tunnels).

    Parameters
    ----------
    streets : pandas.DataFrame
        Street lines with their source columns.
    column : str, optional
        Column holding a numeric level; otherwise ``level``/``niveau``/``layer`` when
        present (or IGN BD TOPO ``pos_sol``), completed by the OpenStreetMap ``bridge`` (+1)
        and ``tunnel`` (-1) tags.

    Returns
    -------
    numpy.ndarray
        One float per line.

    Raises
    ------
    NetworkError
        When ``column`` is not a column of ``streets``.
    """
    if column is not None and column not in streets.columns:
        raise NetworkError(f"Colonne de niveau « {column} » absente de la couche des voies "
                           f"(colonnes : {', '.join(map(str, streets.columns))}).")
    col = column or _find_column(list(streets.columns), ("level", "niveau", "layer", "pos_sol"))
    level = np.zeros(len(streets))
    known = np.zeros(len(streets), dtype=bool)
    if col is not None:
        raw = pd.to_numeric(streets[col], errors="coerce").to_numpy(dtype=float)
        known = np.isfinite(raw)
        level = np.where(known, raw, 0.0)
    for tag, value in (("bridge", 1.0), ("tunnel", -1.0)):
        tcol = _find_column(list(streets.columns), (tag,))
        if tcol is not None:
            flag = _truthy(streets[tcol]) & ~known
            level = np.where(flag, value, level)
    return level


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
    norm = _normalise_streets(streets, level_column=opts.level_column)
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


def _walkable_tags(highway: Any, foot: Any = None, area: Any = None) -> bool:
    """Tell whether pedestrians may walk an OpenStreetMap way (footway, residential, steps…)."""
    values = highway if isinstance(highway, list) else [highway]
    kinds = {str(v) for v in values if v is not None and str(v) not in {"", "nan"}}
    if not kinds or kinds <= NOT_WALKABLE_HIGHWAYS:
        return False
    return str(foot).lower() not in {"no", "private"} and str(area).lower() != "yes"


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
                           if not _walkable_tags(d.get("highway"), d.get("foot"), d.get("area"))])
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
    for tag, value in (("bridge", 1.0), ("tunnel", -1.0)):
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
            if not _walkable_tags(tags.get("highway"), tags.get("foot"), tags.get("area")):
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

"""Quality of a street network for walks: is it one piece, and where is it broken.

A street file that is not noded, or has gaps, falls apart into many components; a walk
computed on it snaps its stops far from the drawn line. :func:`network_quality` measures
what matters for walks: the number of connected components, the share of the street
LENGTH held by the largest one (overall and per quartier), the dangling ends and the
gaps closed by noding, with a French warning when the network is too broken.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from geo.crs import to_territory_crs

logger = logging.getLogger(__name__)

__all__ = ["MIN_LARGEST_SHARE", "NetworkQuality", "QuartierNetwork", "network_quality"]

#: Below this share of the street length in the largest connected part, the network is
#: not fit for walks (the walk sheets would be wrong).
MIN_LARGEST_SHARE = 0.9


def _km(metres: float) -> str:
    return f"{metres / 1000:.1f}".replace(".", ",") + " km"


def share_text(share: float) -> str:
    """Return a share in French percent: never « 100 % » when incomplete, nor « 0 % » when not zero."""
    if math.isnan(share):
        return "n.d."
    pct = share * 100
    text = f"{pct:.0f}"
    if (text == "100" and share < 1) or (text == "0" and share > 0):
        text = f"{math.floor(pct * 10) / 10 if share < 1 else pct:.1f}".replace(".", ",")
        if text == "0,0":
            text = "< 0,1"
    return f"{text} %"




@dataclass(frozen=True)
class QuartierNetwork:
    """The streets of one quartier: how much of their length one walk can reach.

    Attributes
    ----------
    code, name : str
        The quartier.
    length_m : float
        Street length inside the quartier, metres.
    components : int
        Connected parts of the whole network the quartier's streets belong to.
    largest_share : float
        Share of that length in the single connected part holding most of it (0 to 1);
        ``nan`` when the quartier has no street.
    """

    code: str
    name: str
    length_m: float
    components: int
    largest_share: float

    def usable(self, threshold: float = MIN_LARGEST_SHARE) -> bool:
        """Tell whether the quartier has streets and most of their length is in one part."""
        return self.length_m > 0 and self.largest_share >= threshold


@dataclass(frozen=True)
class NetworkQuality:
    """Quality figures of a street network.

    Attributes
    ----------
    components : int
        Connected components.
    length_m : float
        Total street length, metres.
    largest_share : float
        Share of the street length in the largest component (0 to 1).
    dangling_ends : int
        Street ends joined to nothing (dead ends or breaks).
    snapped_gaps : int
        Line ends moved onto another line by noding (gaps closed).
    crossings : int
        Points where lines were cut by noding.
    separated_crossings : int
        Crossings left unnoded (bridges, tunnels).
    nodes, edges : int
        Size of the graph.
    components_before_links : int
        Connected components before the pedestrian links were added (equal to
        ``components`` when there is none).
    links : int
        Pedestrian links added between parts a few metres apart (connector edges).
    links_length_m : float
        Total length of those links, metres (never counted in ``length_m``).
    largest_share_unlinked : float
        Share of the street length in the largest component without the links: a file
        that holds together only through them is broken (links mend a few stray streets).
    quartiers : tuple of QuartierNetwork
        Per-quartier figures when perimeters were given.
    threshold : float
        Minimum share of the largest component below which a warning is given.
    """

    components: int
    length_m: float
    largest_share: float
    dangling_ends: int
    snapped_gaps: int
    crossings: int
    separated_crossings: int
    nodes: int
    edges: int
    quartiers: tuple[QuartierNetwork, ...] = field(default_factory=tuple)
    threshold: float = MIN_LARGEST_SHARE
    components_before_links: int = 0
    links: int = 0
    links_length_m: float = 0.0
    largest_share_unlinked: float = float("nan")

    @property
    def usable(self) -> bool:
        """Tell whether the largest part holds ``threshold`` of the length, with or without the links."""
        share, unlinked = self.largest_share, self.largest_share_unlinked
        unlinked = share if np.isnan(unlinked) else unlinked
        return min(self.largest_share, unlinked) >= self.threshold

    def summary(self) -> str:
        """One French sentence with the main figures."""
        return (f"{self.components} composante(s) connexe(s), la plus grande porte "
                f"{share_text(self.largest_share)} des {_km(self.length_m)} de voies ; "
                f"{self.dangling_ends} extrémité(s) en impasse, {self.snapped_gaps} écart(s) "
                f"de moins de la tolérance raccordé(s), {self.crossings} croisement(s) découpé(s), "
                f"{self.separated_crossings} croisement(s) laissé(s) séparé(s) (ponts, tunnels)."
                f"{self.links_text()}")

    def links_text(self) -> str:
        """Pedestrian links added, their length and the components before/after (French, "" if none)."""
        if not self.links:
            return ""
        return (f" {self.links} liaison(s) piétonne(s) hors voie ajoutée(s) entre des parties distantes de "
                f"quelques mètres ({self.links_length_m:.0f} m au total, à vérifier sur place) : "
                f"{self.components_before_links} composante(s) avant liaison, {self.components} après.")

    def warnings(self) -> list[str]:
        """French warnings: the whole network, then each quartier, when too broken for walks."""
        out = []
        if self.largest_share >= self.threshold and not self.usable:
            out.append(f"Réseau des voies morcelé : il ne tient que par {self.links} liaison(s) piétonne(s) "
                       f"hors voie ; sans elles, la plus grande partie connexe ne porte que "
                       f"{share_text(self.largest_share_unlinked)} de la longueur des voies "
                       f"(seuil {share_text(self.threshold)}). Vérifier que les voies se rejoignent (fichier "
                       "découpé, tolérance d'accrochage, niveaux des ponts).")
        elif not self.usable:
            out.append(f"Réseau des voies morcelé : la plus grande partie connexe ne porte que "
                       f"{share_text(self.largest_share)} de la longueur des voies "
                       f"(seuil {share_text(self.threshold)}) ; "
                       "les parcours calculés sur ce réseau seraient faux. Vérifier que les voies se "
                       "rejoignent (fichier découpé, tolérance d'accrochage, niveaux des ponts).")
        empty = [q.code for q in self.quartiers if q.length_m <= 0]
        if empty and len(empty) < len(self.quartiers):
            out.append(f"{len(empty)} quartier(s) sans aucune voie dans leur périmètre (hors du réseau "
                       f"importé) : {', '.join(sorted(empty)[:8])}{'…' if len(empty) > 8 else ''}.")
        elif empty:
            out.append("Aucun quartier n'a de voie dans son périmètre : vérifier la projection du réseau.")
        for q in self.quartiers:
            if q.length_m > 0 and not q.usable(self.threshold):
                out.append(f"Quartier {q.code} ({q.name}) : les voies du quartier sont en {q.components} "
                           f"morceaux, le plus grand ne porte que {share_text(q.largest_share)} de ses "
                           f"{_km(q.length_m)} de voies.")
        return out


def network_quality(
    G: nx.MultiGraph,
    *,
    areas: gpd.GeoDataFrame | None = None,
    threshold: float = MIN_LARGEST_SHARE,
    code_column: str = "code",
    name_column: str = "name",
) -> NetworkQuality:
    """Measure how connected a street graph is, overall and per quartier.

    Parameters
    ----------
    G : networkx.MultiGraph
        Street graph (EPSG:2154) with ``length`` and ``geometry`` on edges, as built by
        :func:`geo.walks.build.graph_from_streets` (its ``noding`` counts are reported,
        its ``connector`` edges counted as links, not as street length).
    areas : geopandas.GeoDataFrame, optional
        Quartier perimeters (any CRS) with a code and a name column.
    threshold : float, default 0.9
        Share of the length the largest component must hold.
    code_column, name_column : str
        Columns of ``areas``.

    Returns
    -------
    NetworkQuality
    """
    comps = list(nx.connected_components(G))
    comp_of = {n: i for i, c in enumerate(comps) for n in c}
    edges = list(G.edges(data=True))
    # pedestrian links join the components but are no street length
    lengths = np.array([0.0 if d.get("connector") else float(d["length"]) for *_, d in edges])
    comp = np.array([comp_of[u] for u, *_ in edges], dtype=np.int64)
    total = float(lengths.sum())
    per_comp = np.bincount(comp, weights=lengths, minlength=len(comps)) if len(edges) else np.zeros(1)
    noding = G.graph.get("noding", {})
    links = [float(d["length"]) for *_, d in edges if d.get("connector")]
    quartiers: list[QuartierNetwork] = []
    if areas is not None and len(areas) and len(edges):
        quartiers = _per_quartier(edges, comp, areas, code_column=code_column, name_column=name_column)
    return NetworkQuality(
        components=len(comps), length_m=total,
        largest_share=float(per_comp.max() / total) if total > 0 else 0.0,
        dangling_ends=sum(1 for _, d in G.degree() if d == 1),
        snapped_gaps=int(noding.get("snapped_gaps", 0)), crossings=int(noding.get("crossings", 0)),
        separated_crossings=int(noding.get("separated_crossings", 0)),
        nodes=G.number_of_nodes(), edges=G.number_of_edges(), quartiers=tuple(quartiers), threshold=threshold,
        components_before_links=int(G.graph.get("links", {}).get("components_before", len(comps)))
        if links else len(comps),
        links=len(links), links_length_m=float(sum(links)),
        largest_share_unlinked=_unlinked_share(G, edges, lengths, total) if links else float("nan"),
    )


def _unlinked_share(G: nx.MultiGraph, edges: Sequence[tuple[Any, Any, dict[str, Any]]], lengths: np.ndarray,
                    total: float) -> float:
    """Share of the street length in the largest component once the connector edges are taken out."""
    streets = nx.Graph()
    streets.add_nodes_from(G.nodes)
    streets.add_edges_from((u, v) for u, v, d in edges if not d.get("connector"))
    comp_of = {n: i for i, c in enumerate(nx.connected_components(streets)) for n in c}
    comp = np.array([comp_of[u] for u, *_ in edges], dtype=np.int64)
    per_comp = np.bincount(comp, weights=lengths)
    return float(per_comp.max() / total) if total > 0 else 0.0


def _per_quartier(edges: Sequence[tuple[Any, Any, dict[str, Any]]], comp: np.ndarray, areas: gpd.GeoDataFrame,
                  *, code_column: str, name_column: str) -> list[QuartierNetwork]:
    street = np.array([not d.get("connector") for *_, d in edges], dtype=bool)
    geoms = np.array([d["geometry"] for *_, d in edges], dtype=object)[street]
    comp = comp[street]
    frame = to_territory_crs(areas)
    tree = shapely.STRtree(geoms)
    out = []
    for _, row in frame.iterrows():
        zone = shapely.make_valid(row.geometry)
        hit = tree.query(zone, predicate="intersects")
        inside = shapely.length(shapely.intersection(geoms[hit], zone))
        by_comp = np.bincount(comp[hit], weights=inside) if len(hit) else np.zeros(0)
        length = float(inside.sum()) if len(hit) else 0.0
        code = str(row.get(code_column, ""))
        name = str(row.get(name_column, "") or code)
        out.append(QuartierNetwork(
            code=code, name=name, length_m=length, components=int((by_comp > 0.5).sum()),
            largest_share=float(by_comp.max() / length) if length > 0 else float("nan")))
    return out

"""Diagnostic-walk routes: prize-collecting loops, k group routes, every-street walks.

A diagnostic en marchant visits the places that most need a look (open constats,
recurring points noirs, bacs often full, NPNRU sites…) within a time budget. This is an
orienteering problem on shortest walking distances between stops: :func:`walk_route`
solves it with a greedy insertion + iterated local search (2-opt, relocate, insert,
swap, remove) of our own, or with OR-Tools (``solver="ortools"``).
:func:`walk_routes` splits a quartier between ``k`` groups, :func:`covering_route`
walks every street of a (clipped) graph (Chinese postman).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import QPVError, RoutingError, UnusableNetworkError
from geo.walks.linking import is_connector, route_connectors
from geo.walks.model import WalkOptions, WalkRoute, check_speed
from geo.walks.network import (
    distance_matrix,
    distance_to_streets,
    nearest_nodes,
    path_geometry,
    shortest_path,
)

logger = logging.getLogger(__name__)

__all__ = [
    "WalkOptions",
    "WalkRoute",
    "covering_route",
    "solve_orienteering",
    "walk_route",
    "walk_routes",
]

_EPS = 1e-9


# --------------------------------------------------------------------------- solver core


class _Instance:
    """Matrices of an orienteering instance; candidates 0..n-1, start n, end n+1."""

    def __init__(self, walk: np.ndarray, dwell: np.ndarray, prize: np.ndarray, budget: float,
                 mandatory: Sequence[int]) -> None:
        self.n = len(prize)
        self.W = walk
        self.s = np.concatenate([dwell, [0.0, 0.0]])
        self.p = np.concatenate([prize, [0.0, 0.0]])
        self.budget = budget
        self.mandatory = np.zeros(self.n + 2, dtype=bool)
        self.mandatory[list(mandatory)] = True

    def cost(self, path: list[int]) -> float:
        arr = np.asarray(path)
        return float(self.W[arr[:-1], arr[1:]].sum() + self.s[arr].sum())

    def insertion(self, path: list[int], cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best insertion cost and position (after path[pos]) of each candidate."""
        a, b = np.asarray(path[:-1]), np.asarray(path[1:])
        delta = self.W[a][:, cands] + self.W[cands][:, b].T - self.W[a, b][:, None]
        pos = np.argmin(delta, axis=0)
        return delta[pos, np.arange(len(cands))] + self.s[cands], pos


def _two_opt(inst: _Instance, path: list[int]) -> list[int]:
    W = inst.W
    improved = True
    path = list(path)
    while improved:
        improved = False
        for i in range(1, len(path) - 2):
            a, b = path[i - 1], path[i]
            js = np.arange(i + 1, len(path) - 1)
            c, d = np.asarray(path)[js], np.asarray(path)[js + 1]
            gain = W[a, b] + W[c, d] - W[a, c] - W[b, d]
            k = int(np.argmax(gain))
            if gain[k] > 1e-7:
                j = int(js[k])
                path[i : j + 1] = path[i : j + 1][::-1]
                improved = True
    return path


def _relocate(inst: _Instance, path: list[int]) -> list[int]:
    improved = True
    path = list(path)
    while improved:
        improved = False
        for i in range(1, len(path) - 1):
            node = path[i]
            removed = inst.W[path[i - 1], node] + inst.W[node, path[i + 1]] - inst.W[path[i - 1], path[i + 1]]
            rest = path[:i] + path[i + 1 :]
            delta, pos = inst.insertion(rest, np.array([node]))
            if delta[0] - inst.s[node] < removed - 1e-7:
                rest.insert(int(pos[0]) + 1, node)
                path = rest
                improved = True
                break
    return path


def _greedy_insert(inst: _Instance, path: list[int], rng: np.random.Generator | None,
                   noise: float = 0.0) -> list[int]:
    path = list(path)
    cost = inst.cost(path)
    while True:
        visited = np.zeros(inst.n + 2, dtype=bool)
        visited[path] = True
        cands = np.flatnonzero(~visited[: inst.n] & (inst.p[: inst.n] > 0))
        if cands.size == 0:
            return path
        delta, pos = inst.insertion(path, cands)
        ok = cost + delta <= inst.budget + _EPS
        if not ok.any():
            return path
        score = inst.p[cands] / (delta + 0.05)
        if rng is not None and noise > 0:
            score = score * rng.uniform(1 - noise, 1 + noise, size=score.size)
        score[~ok] = -np.inf
        k = int(np.argmax(score))
        path.insert(int(pos[k]) + 1, int(cands[k]))
        cost += float(delta[k])


def _swap(inst: _Instance, path: list[int]) -> list[int]:
    """Replace one visited stop by one or more unvisited stops of larger total prize."""
    path = list(path)
    improved = True
    while improved:
        improved = False
        cost = inst.cost(path)
        visited = np.zeros(inst.n + 2, dtype=bool)
        visited[path] = True
        cands = np.flatnonzero(~visited[: inst.n] & (inst.p[: inst.n] > 0))
        if cands.size == 0:
            break
        best: tuple[float, float, int, int, int] | None = None
        for i in range(1, len(path) - 1):
            v = path[i]
            if inst.mandatory[v]:
                continue
            rest = path[:i] + path[i + 1 :]
            rest_cost = cost - (inst.W[path[i - 1], v] + inst.W[v, path[i + 1]]
                                - inst.W[path[i - 1], path[i + 1]] + inst.s[v])
            delta, pos = inst.insertion(rest, cands)
            ok = rest_cost + delta <= inst.budget + _EPS
            gain = inst.p[cands] - inst.p[v]
            saving = cost - (rest_cost + delta)
            good = ok & ((gain > 1e-9) | ((np.abs(gain) <= 1e-9) & (saving > 1e-6)))
            if not good.any():
                continue
            key = np.where(good, gain * 1e6 + saving, -np.inf)
            k = int(np.argmax(key))
            cand = (float(gain[k]), float(saving[k]), i, int(cands[k]), int(pos[k]))
            if best is None or (cand[0], cand[1]) > (best[0], best[1]):
                best = cand
        if best is not None:
            _, _, i, u, pos_k = best
            rest = path[:i] + path[i + 1 :]
            rest.insert(pos_k + 1, u)
            path = _greedy_insert(inst, _relocate(inst, _two_opt(inst, rest)), None)
            improved = True
    return path


def _local_search(inst: _Instance, path: list[int]) -> list[int]:
    path = _relocate(inst, _two_opt(inst, path))
    path = _greedy_insert(inst, path, None)
    path = _swap(inst, path)
    return _greedy_insert(inst, _relocate(inst, _two_opt(inst, path)), None)


def _better(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] > b[0] + 1e-9 or (abs(a[0] - b[0]) <= 1e-9 and a[1] < b[1] - 1e-6)


def solve_orienteering(
    walk_min: np.ndarray,
    dwell_min: np.ndarray,
    prize: np.ndarray,
    *,
    budget_min: float,
    mandatory: Sequence[int] = (),
    time_limit_s: float = 2.0,
    max_stall: int = 400,
    seed: int = 0,
) -> list[int]:
    """Solve a prize-collecting walk: greedy insertion then iterated local search.

    Parameters
    ----------
    walk_min : numpy.ndarray
        ``(n + 2) × (n + 2)`` walking times in minutes; rows/columns ``0..n-1`` are the
        candidates, ``n`` the start and ``n + 1`` the end (same node for a loop).
    dwell_min : numpy.ndarray
        Dwell time at each candidate, minutes.
    prize : numpy.ndarray
        Non-negative prize of each candidate.
    budget_min : float
        Time budget, walking and dwell included.
    mandatory : sequence of int
        Candidates that must be visited.
    time_limit_s : float, default 2
        Wall-clock limit of the search.
    max_stall : int, default 400
        Stop after this many perturbations without improvement.
    seed : int, default 0
        Seed of the perturbations (results are reproducible).

    Returns
    -------
    list of int
        Visited candidates in walking order.

    Raises
    ------
    RoutingError
        When the matrices disagree or the mandatory stops do not fit in the budget.
    """
    n = len(prize)
    walk = np.asarray(walk_min, dtype=float)
    if walk.shape != (n + 2, n + 2) or len(dwell_min) != n:
        raise RoutingError("Matrice des temps de marche incohérente avec la liste des arrêts.")
    if np.any(np.asarray(prize) < 0):
        raise RoutingError("Les priorités des arrêts doivent être positives ou nulles.")
    t0 = time.perf_counter()
    inst = _Instance(walk, np.asarray(dwell_min, dtype=float), np.asarray(prize, dtype=float),
                     float(budget_min), mandatory)
    path = [n, n + 1]
    for m in sorted(set(int(i) for i in mandatory), key=lambda i: -inst.W[n, i]):
        _, pos = inst.insertion(path, np.array([m]))
        path.insert(int(pos[0]) + 1, m)
    path = _relocate(inst, _two_opt(inst, path))
    if inst.cost(path) > inst.budget + _EPS:
        raise RoutingError(
            f"Les arrêts obligatoires demandent à eux seuls {inst.cost(path):.0f} min, "
            f"plus que le temps disponible ({budget_min:.0f} min)."
        )
    path = _local_search(inst, _greedy_insert(inst, path, None))
    best, best_key = path, (float(inst.p[path].sum()), inst.cost(path))
    current, current_key = best, best_key
    rng = np.random.default_rng(seed)
    stall = 0
    iterations = 0
    while time.perf_counter() - t0 < time_limit_s and stall < max_stall:
        iterations += 1
        inner = current[1:-1]
        free = [i for i, v in enumerate(inner) if not inst.mandatory[v]]
        if not free:
            break
        trial = list(inner)
        if rng.random() < 0.5:  # remove a run of consecutive stops
            length = int(rng.integers(1, max(2, len(inner) // 3 + 1)))
            first = int(rng.integers(0, len(inner)))
            drop = {i for i in range(first, min(first + length, len(inner))) if not inst.mandatory[inner[i]]}
        else:  # remove scattered stops
            k = int(rng.integers(1, max(2, len(free) // 2 + 1)))
            drop = set(rng.choice(free, size=min(k, len(free)), replace=False).tolist())
        trial = [n] + [v for i, v in enumerate(inner) if i not in drop] + [n + 1]
        trial = _greedy_insert(inst, _two_opt(inst, trial), rng, noise=0.4)
        trial = _local_search(inst, trial)
        key = (float(inst.p[trial].sum()), inst.cost(trial))
        if _better(key, best_key):
            best, best_key, stall = trial, key, 0
        else:
            stall += 1
        if _better(key, current_key) or rng.random() < 0.1:
            current, current_key = trial, key
        if stall and stall % 50 == 0:
            current, current_key = best, best_key
    logger.debug("orienteering: prize %.2f, %.1f min, %d iterations, %.2fs", best_key[0],
                 best_key[1], iterations, time.perf_counter() - t0)
    return [int(v) for v in best[1:-1]]


# --------------------------------------------------------------------------- graph level


def _as_point(point: Any, name: str) -> Point:
    if isinstance(point, gpd.GeoDataFrame | gpd.GeoSeries):
        frame = point if isinstance(point, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=point)
        if len(frame) != 1:
            raise RoutingError(f"Le point « {name} » doit être un point unique.")
        geom = to_territory_crs(frame).geometry.iloc[0]
        return Point(geom) if geom.geom_type == "Point" else Point(geom.representative_point())
    if isinstance(point, Point):
        return point
    try:
        x, y = (float(v) for v in point)
    except (TypeError, ValueError):
        raise RoutingError(f"Point « {name} » illisible : donner un Point ou (x, y) en Lambert-93.") from None
    return Point(x, y)


def _prepare_stops(stops: gpd.GeoDataFrame, priority_column: str) -> gpd.GeoDataFrame:
    if not isinstance(stops, gpd.GeoDataFrame):
        raise RoutingError("Les arrêts candidats doivent être un GeoDataFrame de points.")
    if stops.index.has_duplicates:
        raise RoutingError("L'index des arrêts candidats contient des doublons.")
    frame = to_territory_crs(stops) if len(stops) else stops.set_crs(TERRITORY_CRS, allow_override=True)
    if len(frame) and priority_column not in frame.columns:
        raise RoutingError(f"Colonne de priorité « {priority_column} » absente des arrêts candidats.")
    if len(frame):
        pri = pd.to_numeric(frame[priority_column], errors="coerce")
        if pri.isna().any() or (pri < 0).any():
            raise RoutingError("Les priorités des arrêts doivent être des nombres positifs ou nuls.")
        geoms = frame.geometry
        if geoms.isna().any() or geoms.is_empty.any():
            raise RoutingError("Certains arrêts candidats n'ont pas de géométrie.")
        if not geoms.geom_type.eq("Point").all():
            frame = frame.set_geometry(geoms.representative_point())
    return frame


def _leg_paths(G: nx.MultiGraph, nodes: list[Hashable]) -> list[Hashable]:
    full: list[Hashable] = [nodes[0]]
    for a, b in itertools.pairwise(nodes):
        if a != b:
            full.extend(shortest_path(G, a, b)[1:])
    return full


@dataclass(frozen=True)
class _Snapped:
    """Candidate stops on the graph: node, snapping distance and dwell of each, route ends."""

    node_of: list[Hashable]
    snap: np.ndarray
    dwell: np.ndarray
    start_node: Hashable
    end_node: Hashable


def _build_route(G: nx.MultiGraph, frame: gpd.GeoDataFrame, order: list[int], *, snapped: _Snapped,
                 opts: WalkOptions, priority_column: str, solver: str) -> WalkRoute:
    v = opts.speed_m_per_min
    node_of, snap, dwell = snapped.node_of, snapped.snap, snapped.dwell
    start_node, end_node = snapped.start_node, snapped.end_node
    stop_nodes = [node_of[i] for i in order]
    seq = [start_node, *stop_nodes, end_node]
    node_path = _leg_paths(G, seq)
    track, length = path_geometry(G, node_path)
    D = distance_matrix(G, seq)
    legs = np.array([D[i, i + 1] for i in range(len(seq) - 1)])
    cum_m = np.cumsum(legs)[:-1] if len(order) else np.array([])
    arrival, departure, clock = [], [], 0.0
    for i, stop in enumerate(order):
        clock += legs[i] / v
        arrival.append(clock)
        clock += dwell[stop]
        departure.append(clock)
    visited = frame.iloc[order].copy()
    visited["order"] = np.arange(1, len(order) + 1)
    visited["node"] = pd.Series(stop_nodes, index=visited.index, dtype=object)
    visited["snap_m"] = snap[order]
    visited["distance_m"] = cum_m
    visited["arrival_min"] = np.round(arrival, 1)
    visited["departure_min"] = np.round(departure, 1)
    prize = float(pd.to_numeric(visited[priority_column]).sum()) if len(order) else 0.0
    duration = length / v + float(dwell[order].sum())
    xy = G.nodes[start_node]["x"], G.nodes[start_node]["y"]
    xy_end = G.nodes[end_node]["x"], G.nodes[end_node]["y"]
    return WalkRoute(
        stops=gpd.GeoDataFrame(visited, geometry=frame.geometry.name, crs=TERRITORY_CRS),
        node_path=node_path, track=track, length_m=float(length), duration_min=float(duration),
        prize=prize, budget_min=float(opts.budget_min), speed_kmh=float(opts.speed_kmh), start=Point(xy),
        end=Point(xy_end), solver=solver,
    )


def walk_route(
    G: nx.MultiGraph,
    stops: gpd.GeoDataFrame,
    *,
    start: Any,
    end: Any = None,
    options: WalkOptions | None = None,
    priority_column: str = "priority",
    max_snap_m: float = 250.0,
) -> WalkRoute:
    """Compute the diagnostic walk that collects the most priority within a time budget.

    Parameters
    ----------
    G : networkx.MultiGraph
        Pedestrian street graph in EPSG:2154 (see :mod:`geo.walks.network`).
    stops : geopandas.GeoDataFrame
        Candidate stops (points) with a priority column; an optional ``dwell_min``
        column overrides the dwell per stop, an optional boolean ``mandatory`` column
        adds mandatory stops.
    start : shapely Point, (x, y) in EPSG:2154 or one-row GeoDataFrame
        Meeting point, snapped to the nearest street node.
    end : same as ``start``, optional
        End point; the walk loops back to ``start`` when omitted.
    options : WalkOptions, optional
        Budget, speed, dwell, mandatory stops (index labels), solver, time limit, seed
        (the defaults of :class:`~geo.walks.model.WalkOptions` when omitted).
    priority_column : str, default "priority"
        Column holding the prize of each stop.
    max_snap_m : float, default 250
        Upper bound of the snapping distance (``options.max_stop_distance_m``, 30 m by
        default, is the limit used): a stop farther than the limit from every street
        is not snapped but listed in ``route.meta["unserved"]`` (« non desservi »).
        The served stops go to their nearest node: give a graph with a node on the
        street at each stop (:func:`geo.walks.network.split_at_points`, as
        :func:`layers.walks.plan_walk` does) so the track passes by them.

    Returns
    -------
    WalkRoute
        The route; its ``duration_min`` never exceeds ``budget_min``.

    Raises
    ------
    RoutingError
        On invalid inputs, unknown solver, or mandatory stops that do not fit.
    UnusableNetworkError
        When every stop is farther than the limit from the streets.
    """
    opts = options or WalkOptions()
    frame = _prepare_stops(stops, priority_column)
    start_pt = _as_point(start, "départ")
    end_pt = start_pt if end is None else _as_point(end, "arrivée")
    must_labels = set(opts.mandatory)
    if "mandatory" in frame.columns:
        must_labels |= set(frame.index[frame["mandatory"].fillna(False).astype(bool)])
    unknown = must_labels - set(frame.index)
    if unknown:
        raise RoutingError(f"Arrêts obligatoires inconnus : {sorted(map(str, unknown))[:5]}.")
    (start_node, end_node), _ = nearest_nodes(G, [(start_pt.x, start_pt.y), (end_pt.x, end_pt.y)])
    G, node_of, snap, unserved = _serve_stops(G, frame, opts=opts, must_labels=must_labels,
                                              max_snap_m=max_snap_m)
    keep = np.flatnonzero([label not in unserved for label in frame.index])
    dwell_all = np.full(len(frame), float(opts.dwell_min))
    if "dwell_min" in frame.columns:
        dwell_all = pd.to_numeric(frame["dwell_min"], errors="coerce").fillna(opts.dwell_min).to_numpy(float)
    D = distance_matrix(G, [node_of[i] for i in keep] + [start_node, end_node])
    reachable = np.isfinite(D[-2, :]) & np.isfinite(D[:, -1])
    if not reachable[-2:].all():
        raise RoutingError("Le départ et l'arrivée ne sont pas reliés par les voies du graphe.")
    keep_pos = np.flatnonzero(reachable[:-2])
    cut_off = [frame.index[i] for i in keep[~reachable[:-2]]]  # on a street not joined to the start
    if cut_off:
        logger.info("%d stop(s) on streets not joined to the start: listed as unserved", len(cut_off))
    sub = np.concatenate([keep_pos, [len(keep), len(keep) + 1]])
    D = D[np.ix_(sub, sub)]
    cand = keep[keep_pos]
    prize = pd.to_numeric(frame[priority_column]).to_numpy(float)[cand] if len(frame) else np.zeros(0)
    labels = list(frame.index[cand])
    must = [labels.index(lab) for lab in must_labels if lab in labels]
    if len(must) < len(must_labels):
        raise RoutingError("Un arrêt obligatoire n'est pas accessible par les voies du graphe.")
    walk = D / opts.speed_m_per_min
    name = "heuristic" if opts.solver == "auto" else opts.solver
    if name == "ortools":
        from geo.walks._ortools import solve_orienteering_ortools

        try:
            order = solve_orienteering_ortools(walk, dwell_all[cand], prize, budget_min=opts.budget_min,
                                               mandatory=must, time_limit_s=opts.time_limit_s)
        except QPVError as exc:
            raise RoutingError(str(exc)) from exc
    else:
        order = solve_orienteering(walk, dwell_all[cand], prize, budget_min=opts.budget_min, mandatory=must,
                                   time_limit_s=opts.time_limit_s, seed=opts.seed)
    snapped = _Snapped(node_of=node_of, snap=snap, dwell=dwell_all, start_node=start_node, end_node=end_node)
    route = _build_route(G, frame, [int(cand[i]) for i in order], snapped=snapped, opts=opts,
                         priority_column=priority_column, solver=name)
    route.meta["max_stop_distance_m"] = min(float(opts.max_stop_distance_m), float(max_snap_m))
    route.meta["connectors"] = route_connectors(G, route.node_path)
    apart = _on_cut_off_streets(G, frame, unserved, limit=float(route.meta["max_stop_distance_m"]))
    route.meta["unserved"] = ([{**_unserved_row(frame, label, dist),
                                **({"disconnected": True} if label in apart else {})}
                               for label, dist in unserved.items()]
                              + [{**_unserved_row(frame, label, float("nan")), "disconnected": True}
                                 for label in cut_off])
    return route


def _on_cut_off_streets(G: nx.MultiGraph, frame: gpd.GeoDataFrame, unserved: dict[Hashable, float], *,
                        limit: float) -> set[Hashable]:
    """Unserved stops next to a street of the quartier that is not joined to the main network."""
    cut_off = G.graph.get("cut_off_streets")
    if cut_off is None or not unserved:
        return set()
    labels = list(unserved)
    dist = shapely.distance(frame.loc[labels].geometry.to_numpy(), cut_off)
    return {label for label, d in zip(labels, dist, strict=True) if d <= limit}


def _serve_stops(
    G: nx.MultiGraph, frame: gpd.GeoDataFrame, *, opts: WalkOptions, must_labels: set[Hashable],
    max_snap_m: float,
) -> tuple[nx.MultiGraph, list[Hashable], np.ndarray, dict[Hashable, float]]:
    """Snap the stops to the graph; those farther than ``max_stop_distance_m`` from every street are unserved.

    A mandatory stop is kept whatever its distance. Returns the graph, the node and snapping
    distance of each stop and the unserved stops with their distance to the nearest street.
    """
    if not len(frame):
        return G, [], np.zeros(0), {}
    limit = min(float(opts.max_stop_distance_m), float(max_snap_m))
    node_of, snap = nearest_nodes(G, frame)
    line_dist = distance_to_streets(G, frame.geometry)
    # a mandatory stop the planner asked for is visited from the nearest street (its
    # ``snap_m`` tells how far; the walk sheet says so), the others are left out
    unserved = {label: float(line_dist[i]) for i, label in enumerate(frame.index)
                if line_dist[i] > limit and label not in must_labels}
    if len(unserved) == len(frame):
        raise UnusableNetworkError(
            f"Aucun des {len(frame)} arrêts n'est à moins de {limit:.0f} m d'une voie du réseau "
            f"(le plus proche à {min(unserved.values()):.0f} m) : réseau des voies inutilisable pour ce "
            "quartier (vérifier avec qpv reseau verifier).")
    if unserved:
        logger.info("%d stop(s) farther than %.0f m from any street: listed as unserved",
                    len(unserved), limit)
    return G, node_of, snap, unserved


def _unserved_row(frame: gpd.GeoDataFrame, label: Hashable, dist: float) -> dict[str, Any]:
    row = frame.loc[label]
    geom = row[frame.geometry.name]
    text = {c: (None if pd.isna(row[c]) else str(row[c])) for c in ("label", "reason", "address", "kind")
            if c in frame.columns}
    return {"id": str(label), **text, "distance_m": None if np.isnan(dist) else round(dist, 1),
            "x": float(geom.x), "y": float(geom.y)}


def walk_routes(
    G: nx.MultiGraph,
    stops: gpd.GeoDataFrame,
    *,
    k: int,
    start: Any,
    end: Any = None,
    options: WalkOptions | None = None,
    priority_column: str = "priority",
) -> list[WalkRoute]:
    """Split a quartier between ``k`` groups: one walk per angular sector around the start.

    The sectors around the meeting point hold equal shares of the total priority (the
    first cut falls in the widest empty angle), so each group covers its own part of the
    quartier; each group then gets the best walk of its sector (see :func:`walk_route`).

    Parameters
    ----------
    G, stops, start, end, options, priority_column : see :func:`walk_route`
        Every group has the same options (budget…); group ``g`` searches with seed
        ``options.seed + g`` and its own mandatory stops.
    k : int
        Number of groups (1 to 12).

    Returns
    -------
    list of WalkRoute
        One route per group (``group`` = 1..k); their stops are disjoint.

    Raises
    ------
    RoutingError
        On invalid ``k`` or inputs rejected by :func:`walk_route`.
    """
    if not isinstance(k, int) or not 1 <= k <= 12:
        raise RoutingError("Le nombre de groupes doit être un entier entre 1 et 12.")
    frame = _prepare_stops(stops, priority_column)
    start_pt = _as_point(start, "départ")
    xy = np.array([(g.x, g.y) for g in frame.geometry]) if len(frame) else np.zeros((0, 2))
    angle = np.arctan2(xy[:, 1] - start_pt.y, xy[:, 0] - start_pt.x) if len(frame) else np.zeros(0)
    sector = np.zeros(len(frame), dtype=int)
    if k > 1 and len(frame):
        srt = np.sort(angle)
        gaps = np.diff(np.concatenate([srt, [srt[0] + 2 * math.pi]]))
        cut = srt[(int(np.argmax(gaps)) + 1) % len(srt)]  # first angle after the widest gap
        rel = np.mod(angle - cut, 2 * math.pi)
        order = np.argsort(rel, kind="stable")
        weight = pd.to_numeric(frame[priority_column]).to_numpy(float)[order] + 1e-6
        share = np.cumsum(weight) / weight.sum()
        sector[order] = np.minimum((share * k - 1e-9).astype(int), k - 1)
    routes = []
    opts = options or WalkOptions()
    must = set(opts.mandatory)
    for g in range(k):
        part = frame.iloc[np.flatnonzero(sector == g)]
        group_opts = replace(opts, mandatory=tuple(m for m in must if m in part.index), seed=opts.seed + g)
        route = walk_route(G, part, start=start_pt, end=end, options=group_opts,
                           priority_column=priority_column)
        routes.append(
            WalkRoute(**{**route.__dict__, "group": g + 1, "meta": {**route.meta, "sector": g + 1}})
        )
    return routes


def _odd_matching(G: nx.MultiGraph, odd: list[Hashable]) -> list[tuple[Hashable, Hashable]]:
    """Short pairing of odd-degree nodes: exact blossom when small, greedy + pair exchanges otherwise."""
    D = distance_matrix(G, odd)
    if len(odd) <= 60:
        K = nx.Graph()
        for i in range(len(odd)):
            for j in range(i + 1, len(odd)):
                K.add_edge(i, j, weight=float(D[i, j]))
        return [(odd[a], odd[b]) for a, b in nx.min_weight_matching(K)]
    order = np.dstack(np.unravel_index(np.argsort(D, axis=None), D.shape))[0]
    used = np.zeros(len(odd), dtype=bool)
    pairs_list: list[tuple[int, int]] = []
    for i, j in order:
        if i < j and not used[i] and not used[j]:
            used[i] = used[j] = True
            pairs_list.append((int(i), int(j)))
    pairs = np.array(pairs_list, dtype=np.int64).reshape(-1, 2)
    for _ in range(20 * len(pairs)):  # exchange partners between two pairs while it shortens the total
        a, b = pairs[:, 0], pairs[:, 1]
        cur = D[a, b][:, None] + D[a, b][None, :]
        alt1 = D[a[:, None], a[None, :]] + D[b[:, None], b[None, :]]
        alt2 = D[a[:, None], b[None, :]] + D[b[:, None], a[None, :]]
        gain = cur - np.minimum(alt1, alt2)
        np.fill_diagonal(gain, 0.0)
        p, q = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[p, q] <= 1e-6:
            break
        ap, bp, aq, bq = a[p], b[p], a[q], b[q]
        pairs[p], pairs[q] = ((ap, aq), (bp, bq)) if alt1[p, q] <= alt2[p, q] else ((ap, bq), (bp, aq))
    return [(odd[int(i)], odd[int(j)]) for i, j in pairs]


def covering_route(G: nx.MultiGraph, *, start: Any, speed_kmh: float = 3.0) -> WalkRoute:
    """Walk every street of the graph and come back (Chinese postman on lengths).

    The odd-degree crossings are paired by walking distance (networkx ``eulerize`` pairs
    them by number of edges only): exact minimum matching up to 60 of them, greedy
    pairing improved by partner exchanges beyond (within about 10 % of the exact
    repeated length on Mosson, in a fraction of a second instead of half a minute).
    The connecting streets are walked twice and an Eulerian circuit is followed from
    the start. Clip the graph to the
    quartier first (:func:`geo.walks.network.clip_graph`) to walk only its streets.

    Parameters
    ----------
    G : networkx.MultiGraph
        Connected pedestrian graph in EPSG:2154.
    start : shapely Point, (x, y) in EPSG:2154 or one-row GeoDataFrame
        Meeting point, snapped to the nearest node.
    speed_kmh : float, default 3
        Walking speed used for the duration estimate.

    Returns
    -------
    WalkRoute
        A route without stops; ``duration_min`` is the walking time,
        ``meta["street_length_m"]`` the length of the streets (pedestrian links
        excluded), ``meta["repeated_m"]`` what is walked twice, ``meta["connector_m"]``
        the length of the links and ``meta["connectors"]`` the links walked.

    Raises
    ------
    RoutingError
        When the graph is empty or not connected.
    """
    v = check_speed(speed_kmh)
    if G.number_of_edges() == 0:
        raise RoutingError("Le graphe des voies est vide.")
    if not nx.is_connected(G):
        raise RoutingError("Le graphe des voies n'est pas d'un seul tenant : le découper avec clip_graph.")
    start_pt = _as_point(start, "départ")
    start_node = nearest_nodes(G, start_pt)[0][0]
    H = nx.MultiGraph(G)
    odd = [n for n, d in H.degree() if d % 2 == 1]
    repeated = 0.0
    for a, b in _odd_matching(G, odd):
        path = shortest_path(G, a, b)
        for u, w in itertools.pairwise(path):
            key, data = min(G[u][w].items(), key=lambda kv: kv[1]["length"])
            H.add_edge(u, w, **{**data, "repeat_of": key})
            repeated += float(data["length"])
    from geo.walks.network import edge_geometry

    coords: list[tuple[float, ...]] = []
    node_path: list[Hashable] = [start_node]
    length = 0.0
    for u, w, key in nx.eulerian_circuit(H, source=start_node, keys=True):
        data = H[u][w][key]
        length += float(data["length"])
        node_path.append(w)
        orig = data.get("repeat_of", key)
        part = list(edge_geometry(G, u, w, orig if orig in G[u][w] else None).coords)
        coords.extend(part if not coords else part[1:])
    # the pedestrian links are walked but are no street: reported apart, never in the street length
    street_length = float(sum(d["length"] for _, _, d in G.edges(data=True) if not is_connector(d)))
    connector_m = float(sum(d["length"] for _, _, d in G.edges(data=True) if is_connector(d)))
    pt = Point(G.nodes[start_node]["x"], G.nodes[start_node]["y"])
    empty = gpd.GeoDataFrame({"order": pd.Series([], dtype=int)},
                             geometry=gpd.GeoSeries([], crs=TERRITORY_CRS))
    return WalkRoute(
        stops=empty, node_path=node_path, track=LineString(coords), length_m=length,
        duration_min=length / v, prize=0.0, budget_min=length / v, speed_kmh=float(speed_kmh),
        start=pt, end=pt, solver="chinese-postman",
        meta={"street_length_m": street_length, "repeated_m": repeated, "connector_m": connector_m,
              "connectors": route_connectors(G, node_path)},
    )

"""OR-Tools model of the walk orienteering problem (solver option and benchmark reference).

The instance uses the conventions of :func:`geo.walks.routing.solve_orienteering`: candidates
``0..n-1``, then the start (index ``n``) and the end (index ``n + 1``) in the matrices.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from geo.errors import MissingDependencyError, QPVError

logger = logging.getLogger(__name__)

__all__ = ["solve_orienteering_ortools"]

_TIME_SCALE = 60.0  # minutes -> seconds
_PRIZE_SCALE = 1000.0


def solve_orienteering_ortools(
    walk_min: np.ndarray,
    dwell_min: np.ndarray,
    prize: np.ndarray,
    *,
    budget_min: float,
    mandatory: Sequence[int] = (),
    time_limit_s: float = 5.0,
    first_solution: str = "PATH_CHEAPEST_ARC",
    metaheuristic: str = "GUIDED_LOCAL_SEARCH",
) -> list[int]:
    """Solve the prize-collecting walk with OR-Tools routing and disjunction penalties.

    Parameters
    ----------
    walk_min : numpy.ndarray
        ``(n + 2) × (n + 2)`` walking times in minutes (candidates, start, end).
    dwell_min : numpy.ndarray
        Dwell time at each of the ``n`` candidates, minutes.
    prize : numpy.ndarray
        Non-negative prize of each candidate.
    budget_min : float
        Time budget of the walk, dwell included.
    mandatory : sequence of int
        Candidates that must be visited.
    time_limit_s : float, default 5
        Search time limit.
    first_solution, metaheuristic : str
        OR-Tools ``FirstSolutionStrategy`` and ``LocalSearchMetaheuristic`` names; the
        defaults (path cheapest arc, guided local search) gave the best prizes of the
        combinations tried on the Mosson and Paris benchmark instances.

    Returns
    -------
    list of int
        Visited candidates in walking order.

    Raises
    ------
    QPVError
        When OR-Tools is missing or finds no feasible route.
    """
    try:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    except ImportError as exc:  # pragma: no cover - ortools is a core dependency
        raise MissingDependencyError("ortools", purpose="le solveur OR-Tools") from exc
    n = len(prize)
    start, end = n, n + 1
    manager = pywrapcp.RoutingIndexManager(n + 2, 1, [start], [end])
    routing = pywrapcp.RoutingModel(manager)
    service = np.concatenate([np.asarray(dwell_min, dtype=float), [0.0, 0.0]])
    transit = np.rint((np.asarray(walk_min, dtype=float) + service[:, None]) * _TIME_SCALE)
    transit = np.where(np.isfinite(transit), transit, 10**9).astype(np.int64)
    transit_list = transit.tolist()

    def time_cb(from_index: int, to_index: int) -> int:
        return int(transit_list[manager.IndexToNode(from_index)][manager.IndexToNode(to_index)])

    cb = routing.RegisterTransitCallback(time_cb)
    budget = math.floor(budget_min * _TIME_SCALE)
    routing.AddDimension(cb, 0, budget, True, "Time")
    routing.SetArcCostEvaluatorOfAllVehicles(cb)
    prize_int = np.rint(np.asarray(prize, dtype=float) * _PRIZE_SCALE).astype(np.int64)
    positive = prize_int[prize_int > 0]
    # every prize unit must outweigh any possible walking cost
    factor = budget + 1 if positive.size == 0 else (budget // int(positive.min())) + 1
    must = set(int(i) for i in mandatory)
    for i in range(n):
        if i in must:
            continue
        routing.AddDisjunction([manager.NodeToIndex(i)], int(prize_int[i] * factor))
    params = pywrapcp.DefaultRoutingSearchParameters()
    try:
        params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, first_solution)
        params.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic)
    except AttributeError as exc:
        raise QPVError(f"Stratégie OR-Tools inconnue : {exc}.") from exc
    params.time_limit.FromMilliseconds(max(int(time_limit_s * 1000), 10))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        raise QPVError(
            "OR-Tools ne trouve aucun parcours qui tienne dans le temps imparti "
            "avec les arrêts obligatoires."
        )
    order: list[int] = []
    index = routing.Start(0)
    while not routing.IsEnd(index):
        node = manager.IndexToNode(index)
        if node < n:
            order.append(int(node))
        index = solution.Value(routing.NextVar(index))
    logger.debug("ortools: %d stops visited", len(order))
    return order

"""The diagnostic-walk data models shared by routing, exports and documents.

:class:`WalkRoute` is a computed walk; :class:`WalkSheet` gathers what the printable
walk sheet of a planned walk shows and :class:`WalkRecord` what happened on a realised
walk, for its compte-rendu. They are plain data: :mod:`webmap.documents` renders them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, get_args

import geopandas as gpd
from shapely.geometry import LineString, Point

from geo.errors import RoutingError

if TYPE_CHECKING:
    import networkx as nx
    from shapely.geometry.base import BaseGeometry

__all__ = ["Solver", "WalkOptions", "WalkRecord", "WalkRoute", "WalkSheet"]

#: Solvers of a prize-collecting walk: ``auto`` is the built-in heuristic.
Solver = Literal["auto", "heuristic", "ortools"]
SOLVERS: tuple[Solver, ...] = get_args(Solver)


@dataclass(frozen=True)
class WalkOptions:
    """How a diagnostic walk is computed: time budget, pace, stops and solver.

    Validated on construction (French :class:`~geo.errors.RoutingError` naming the value).

    Attributes
    ----------
    budget_min : float, default 90
        Total time, walking and dwell included, minutes.
    speed_kmh : float, default 3
        Walking speed of a diagnostic group (slower than the usual 4 km/h), 0.5 to 10.
    dwell_min : float, default 5
        Time spent at each stop, minutes.
    mandatory : tuple, default ()
        Index labels of the candidate stops that must be visited.
    solver : {"auto", "heuristic", "ortools"}
        ``auto`` is the built-in heuristic.
    time_limit_s : float, default 2
        Search time limit, seconds.
    seed : int, default 0
        Seed of the heuristic.
    max_stop_distance_m : float, default 30
        A stop farther than this from every street is not snapped: it is listed as
        « non desservi » and left out of the route and its timetable.
    """

    budget_min: float = 90.0
    speed_kmh: float = 3.0
    dwell_min: float = 5.0
    mandatory: tuple[Hashable, ...] = ()
    solver: Solver = "auto"
    time_limit_s: float = 2.0
    seed: int = 0
    max_stop_distance_m: float = 30.0

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if self.solver not in SOLVERS:
            raise RoutingError(f"Solveur inconnu « {self.solver} » (auto, heuristic ou ortools).")
        if not (isinstance(self.budget_min, int | float) and self.budget_min > 0):
            raise RoutingError("Le temps disponible doit être un nombre de minutes positif.")
        if not (isinstance(self.dwell_min, int | float) and self.dwell_min >= 0):
            raise RoutingError("Le temps d'arrêt ne peut pas être négatif.")
        check_speed(self.speed_kmh)
        if not (isinstance(self.time_limit_s, int | float) and self.time_limit_s > 0):
            raise RoutingError("La durée de recherche doit être un nombre de secondes positif.")
        if not (isinstance(self.max_stop_distance_m, int | float) and 0 < self.max_stop_distance_m <= 500):
            raise RoutingError("Distance maximale d'un arrêt à la voie invalide : "
                               f"{self.max_stop_distance_m} m (entre 0 et 500 m).")
        object.__setattr__(self, "mandatory", tuple(self.mandatory))

    @property
    def speed_m_per_min(self) -> float:
        """Walking speed, metres per minute."""
        return check_speed(self.speed_kmh)


def check_speed(speed_kmh: float) -> float:
    """Return a walking speed in m/min after checking it is between 0.5 and 10 km/h."""
    if not (isinstance(speed_kmh, int | float) and 0.5 <= speed_kmh <= 10):
        raise RoutingError(f"Vitesse de marche invalide : {speed_kmh} km/h (entre 0,5 et 10 km/h).")
    return speed_kmh * 1000.0 / 60.0


@dataclass(frozen=True)
class WalkRoute:
    """A computed diagnostic walk.

    Attributes
    ----------
    stops : geopandas.GeoDataFrame
        Visited stops in walking order (EPSG:2154) with the input columns plus
        ``order`` (1-based), ``node``, ``snap_m``, ``distance_m`` (cumulated walk
        before the stop), ``arrival_min`` and ``departure_min``.
    node_path : list
        Every graph node walked through, start to end.
    track : shapely.geometry.LineString
        The walked line along the street edges, EPSG:2154.
    length_m : float
        Walked length, metres.
    duration_min : float
        Walking time plus dwell at the stops, minutes.
    prize : float
        Sum of the priorities of the visited stops.
    budget_min, speed_kmh : float
        Inputs the route was computed with.
    start, end : shapely.geometry.Point
        Start and end nodes of the route (EPSG:2154).
    solver : str
        Solver that produced the route.
    group : int or None
        Group number in a split walk.
    meta : dict
        Other figures: ``unserved`` (list of the stops left out because they are farther
        than ``max_stop_distance_m`` from every street: ``label``, ``reason``,
        ``distance_m``, ``x``, ``y`` in EPSG:2154), ``connectors`` (the pedestrian links
        off the mapped streets the route uses: ``length_m``, ``x``, ``y``),
        ``street_length_m``, ``coverage_share``…
    """

    stops: gpd.GeoDataFrame
    node_path: list[Hashable]
    track: LineString
    length_m: float
    duration_min: float
    prize: float
    budget_min: float
    speed_kmh: float
    start: Point
    end: Point
    solver: str
    group: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def walk_min(self) -> float:
        """Walking time without the dwell, minutes."""
        return self.length_m / (self.speed_kmh * 1000.0 / 60.0)

    @property
    def unserved(self) -> list[dict[str, Any]]:
        """Stops left out because no street passes near them (« non desservi »)."""
        return list(self.meta.get("unserved", []))

    @property
    def connectors(self) -> list[dict[str, Any]]:
        """Pedestrian links off the mapped streets the route uses (« liaison hors voie »: check on site)."""
        return list(self.meta.get("connectors", []))


@dataclass(frozen=True)
class WalkSheet:
    """What the printable walk sheet of a planned walk shows.

    Attributes
    ----------
    route : WalkRoute
        The walk to print.
    graph : networkx.MultiGraph
        Street graph (EPSG:2154) for the map and the street names of the stops.
    quartier : str
        Quartier shown in the header (name and QPV code).
    title : str
        Title of the document.
    walk_date : date, optional
        Date of the walk (left blank to fill by hand when omitted).
    start_time : str, optional
        Departure time ``"HH:MM"``; arrival times are then clock times.
    start_label : str
        Meeting point description; nearest street name when empty.
    open_observations : geopandas.GeoDataFrame, optional
        Constats; the open ones within ``match_m`` of a stop are listed under it.
    match_m : float
        Matching distance, metres.
    area : geometry or GeoDataFrame, optional
        Quartier outline drawn on the map.
    """

    route: WalkRoute
    graph: nx.MultiGraph
    quartier: str
    title: str = "Diagnostic en marchant"
    walk_date: date | None = None
    start_time: str | None = None
    start_label: str = ""
    open_observations: gpd.GeoDataFrame | None = None
    match_m: float = 50.0
    area: BaseGeometry | gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class WalkRecord:
    """What happened on a diagnostic walk, for its compte-rendu.

    Attributes
    ----------
    walk_date : date
        Day of the walk.
    quartier : str
        Quartier walked (name or QPV code).
    organisations : sequence of str
        Organisations represented (ville, bailleurs, associations…).
    habitants : int
        Number of habitants who took part.
    route : WalkRoute, optional
        The route walked.
    title : str
        Title of the document.
    notes : str
        Free text added under the summary.
    extra : dict
        Other fields of the walk.
    """

    walk_date: date
    quartier: str
    organisations: Sequence[str] = ()
    habitants: int = 0
    route: WalkRoute | None = None
    title: str = "Diagnostic en marchant"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

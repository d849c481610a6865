"""Where a data set's source can report: the coverage that masks the hot spot grid.

Dans Ma Rue is the Paris city app: nothing can be reported outside Paris, so cells of a
hot spot grid beyond the Paris boundary are *structural* zeros, not low counts. Each data
set (``source_dataset`` of the records) may carry a coverage polygon, kept in the store's
settings as WKT in EPSG:2154 (``couverture:<data set>``), declared by the demo manifest
(Dans Ma Rue: concave hull of the Paris BAN addresses) or by an administrator
(``qpv couverture``). Without a declaration, the coverage is the extent of the data set's
own events — the concave hull of all its records of the layer, any date, around the zone —
widened by one cell; the report's method note says which.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import AnalysisError
from geo.stats.binning import points_extent
from geo.stats.hotspots import GridOptions
from geo.stats.report.model import HotspotSettings
from layers.errors import RecordError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = [
    "COVERAGE_PREFIX",
    "SourceCoverage",
    "declare_coverage",
    "declared_coverage",
    "hotspot_options",
    "source_coverage",
]

#: prefix of the store settings holding a data set's coverage (``couverture:dansmarue-paris``)
COVERAGE_PREFIX = "couverture:"
#: France métropolitaine in Lambert-93, to catch a polygon given in another CRS
_L93_BOUNDS = (-400_000.0, 5_900_000.0, 1_400_000.0, 7_200_000.0)
#: around the study zone, the extent of a data set's events is read this far (metres)
_AROUND = 1_000.0


@dataclass(frozen=True)
class SourceCoverage:
    """The coverage of the events of a report and how it was obtained.

    Attributes
    ----------
    geometry : shapely geometry, optional
        Union of the data sets' coverages (EPSG:2154); None when unknown.
    note : str
        Where it comes from, in French, for the method note.
    fallback : bool
        At least one data set has no declared coverage: its events' extent stands in, to
        be widened by one cell.
    """

    geometry: BaseGeometry | None
    note: str
    fallback: bool


def _parse(wkt: str) -> BaseGeometry:
    """Parse and check a coverage polygon (French errors naming « couverture »)."""
    try:
        geom = shapely.from_wkt(wkt.strip())
    except shapely.errors.GEOSException as exc:
        raise RecordError(f"« couverture » : WKT illisible ({exc}).") from exc
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise RecordError("« couverture » : un polygone (WKT POLYGON ou MULTIPOLYGON) est attendu.")
    x0, y0, x1, y1 = geom.bounds
    b = _L93_BOUNDS
    if not (b[0] <= x0 and x1 <= b[2] and b[1] <= y0 and y1 <= b[3]):
        raise RecordError("« couverture » : coordonnées hors de la France métropolitaine en Lambert-93 "
                          "(EPSG:2154) — le polygone est-il en degrés ?")
    return shapely.make_valid(geom) if not geom.is_valid else geom


def declare_coverage(store: LayerStore, dataset: str, wkt: str) -> BaseGeometry:
    """Declare where the data set ``dataset`` can report (a polygon in EPSG:2154, as WKT).

    Parameters
    ----------
    store : LayerStore
        The store holding the data set.
    dataset : str
        ``source_dataset`` of its records.
    wkt : str
        POLYGON or MULTIPOLYGON in Lambert-93.

    Returns
    -------
    shapely geometry
        The polygon stored.

    Raises
    ------
    RecordError
        On an empty data set name or a bad polygon (French message naming « couverture »).
    """
    name = str(dataset or "").strip()
    if not name:
        raise RecordError("« couverture » : nom du jeu de données attendu.")
    geom = _parse(wkt)
    store.set_meta(COVERAGE_PREFIX + name, shapely.to_wkt(geom, rounding_precision=1))
    logger.info("coverage of data set %s declared (%.1f km²)", name, geom.area / 1e6)
    return geom


def declared_coverage(store: LayerStore, dataset: str) -> BaseGeometry | None:
    """Return the declared coverage of ``dataset`` (None when none is declared)."""
    wkt = store.get_meta(COVERAGE_PREFIX + dataset)
    return None if not wkt else _parse(wkt)


def _extent(store: LayerStore, layer: str, dataset: str, zone: BaseGeometry) -> BaseGeometry | None:
    """Concave hull of the data set's records of ``layer`` (any date) around ``zone``."""
    around = zone.buffer(_AROUND)
    records = store.read(layer, bbox=around.bounds, where={"source_dataset": dataset})
    if records.empty:
        return None
    xy = shapely.get_coordinates(shapely.point_on_surface(records.geometry.to_numpy()))
    try:
        return points_extent(xy, buffer=0.0)
    except AnalysisError:  # fewer than 3 places: no extent to speak of
        return None


def source_coverage(
    store: LayerStore, layer: str, events: gpd.GeoDataFrame, zone: BaseGeometry
) -> SourceCoverage:
    """Coverage of the events of a report around ``zone``: declared, or their data sets' extent.

    Parameters
    ----------
    store : LayerStore
        The store.
    layer : str
        Layer the events come from (``observations`` or ``points_noirs``).
    events : geopandas.GeoDataFrame
        The report's events (``source_dataset`` names their data sets).
    zone : shapely geometry
        Study zone (EPSG:2154): the quartier and its margin.

    Returns
    -------
    SourceCoverage
        Geometry None (no mask) when the events name no data set.
    """
    if events.empty or "source_dataset" not in events.columns:
        return SourceCoverage(None, "jeu de données source inconnu : mailles non restreintes", False)
    parts, notes, fallback = [], [], False
    for dataset in sorted(events["source_dataset"].dropna().astype(str).unique()):
        declared = declared_coverage(store, dataset)
        if declared is not None:
            parts.append(declared)
            notes.append(f"{dataset} : zone de couverture déclarée")
            continue
        extent = _extent(store, layer, dataset, zone)
        if extent is None:
            return SourceCoverage(None, f"{dataset} : couverture inconnue, mailles non restreintes", False)
        parts.append(extent)
        fallback = True
        notes.append(f"{dataset} : aucune couverture déclarée, étendue de ses événements (enveloppe concave "
                     "de tous ses événements, toutes dates, élargie d'une maille)")
    if not parts:
        return SourceCoverage(None, "jeu de données source inconnu : mailles non restreintes", False)
    return SourceCoverage(shapely.union_all(parts), " ; ".join(notes), fallback)


def hotspot_options(
    store: LayerStore, layer: str, events: gpd.GeoDataFrame, zone: BaseGeometry, grid: GridOptions
) -> dict[str, Any]:
    """Return the :class:`geo.stats.report.ReportOptions` fields of the hot spot statistics (issue 16 B).

    Parameters
    ----------
    store : LayerStore
        The store.
    layer : str
        Layer of the events (``observations`` or ``points_noirs``).
    events : geopandas.GeoDataFrame
        The report's events.
    zone : shapely geometry
        The quartier and its margin (EPSG:2154).
    grid : GridOptions
        The report's grid; a :class:`geo.stats.report.HotspotSettings` brings the inference
        and Local Moran options too.

    Returns
    -------
    dict
        ``coverage``, ``coverage_note``, ``coverage_fallback`` and, from a
        ``HotspotSettings``, ``inference``, ``permutations`` and ``local_moran``.
    """
    cov = source_coverage(store, layer, events, zone)
    out: dict[str, Any] = {"coverage": cov.geometry, "coverage_note": cov.note,
                           "coverage_fallback": cov.fallback}
    if isinstance(grid, HotspotSettings):
        out.update(inference=grid.inference, permutations=grid.permutations, local_moran=grid.local_moran)
    return out

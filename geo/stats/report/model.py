"""Report data model: options, figures as data, sections and the report itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geo.errors import AnalysisError
from geo.stats.emerging import EmergingHotspots
from geo.stats.hotspots import GridOptions, KernelDensity

logger = logging.getLogger(__name__)


#: p-values of the Gi* classes: analytical (normal) or by conditional permutations
INFERENCES = ("analytique", "permutations")

#: why the treated constats of a source that does not follow them are unknown
UNTRACKED_TREATMENT = (
    "Dysfonctionnements traités : n.d., la source de ces constats ne suit pas leur traitement (aucun "
    "statut « traité », « en cours » ou « clos non traité », aucune date de résolution) ; un taux de "
    "traitement de 0 serait faux."
)


@dataclass(frozen=True)
class ReportOptions:
    """Options of :func:`build_quartier_report` and :func:`build_territory_report`.

    Attributes
    ----------
    start, end : date-like, optional
        Period, both days included (the events' range by default).
    time_field, code_field, name_field : str
        Date column of the events, code and name columns of the perimeters.
    cleaned_field, volume_field : str, optional
        Clean-up date and volume columns of the events, used when present (quartier
        report only).
    margin : float
        Margin in metres around the perimeter for the hotspot grid.
    bin_size : float, optional
        Bin size; automatic rule otherwise (:func:`geo.stats.binning.auto_bin_size`).
    fdr : bool
        False discovery rate correction of the quartier's Gi* and emerging analyses.
    recurrence_radius : float
        Repeat distance of the recurrence analysis, metres.
    camera_range : float
        Default camera range in metres (quartier report with cameras).
    simulated : bool
        The events are simulated or resampled (printed on the report).
    label : str
        What the events are, in French (« dépôts sauvages »), for the quartier title.
    events_covered : bool
        ``False`` when no source of events covers the quartier (the store holds no event
        of any theme or date around it): the event counts are then unknown (« n.d. »),
        never 0, and a note says why.
    uncovered_codes : tuple of str
        The same for :func:`build_territory_report`: quartiers whose event figures are
        unknown (« n.d. ») in the comparison.
    points_noirs : geopandas.GeoDataFrame, optional
        Known points noirs (``name``, ``address``; index = their ids) of the quartier
        report: events within ``recurrence_radius`` of one belong to it and its sites
        are shown by its name and address (:func:`geo.stats.recurrence.recurrence`); the
        territory report uses them too.
    addresses : geopandas.GeoDataFrame, optional
        Address points (``number``, ``suffix``, ``street``): a site attached to no point
        noir is located at the nearest one within 50 m
        (:func:`geo.stats.recurrence.locate_sites`).
    coverage : shapely geometry, optional
        Where the events' source can report (EPSG:2154; Dans Ma Rue: Paris). The hot spot
        grid is restricted to it: cells outside are absent, not zeros.
    coverage_note : str, optional
        Where ``coverage`` comes from, in French, for the method note.
    coverage_fallback : bool
        ``coverage`` is the extent of the events themselves: it is widened by one cell.
    inference : {"analytique", "permutations"}
        p-values of the quartier's Gi* classes: analytical (normal) or by conditional
        permutations (esda, ``permutations`` draws, seeded); both are kept in the results.
    permutations : int
        Number of permutations (permutation inference and Local Moran's I).
    local_moran : bool
        Add Local Moran's I cluster / outlier classes (HH, LL, HL, LH) of the cells.
    coverages : mapping, optional
        Territory report: per quartier code, its ``(coverage, coverage_fallback)`` (as the
        quartier report's ``coverage`` and ``coverage_fallback``), so that each quartier's
        panel is its quartier report's grid.
    as_of : date-like, optional
        Extraction date of the data: cases still open are followed up to it (Kaplan–Meier
        delays); the latest date in the records by default.
    sample_datasets : tuple of str
        Data sets declared samples: their rows are flagged « échantillon ».
    covered_since : tuple of (str, str)
        (data set, first ISO date it holds): the N-1 comparisons are « n.d. » for months
        before it; the earliest date of the records stands in for a data set not listed.
    observations_since : tuple of (str, str)
        The same for the constats (``observations``): a data set name may feed both layers
        with different spans.
    diagnostics : geopandas.GeoDataFrame, optional
        The diagnostics en marchant (``walk_date``, ``quartier``) of the quartier report:
        the only source of their count; None (not read) makes it « n.d. », never a count
        inferred from the constats.
    """

    start: Any = None
    end: Any = None
    time_field: str = "observed_at"
    code_field: str = "code"
    name_field: str = "name"
    cleaned_field: str | None = "cleaned_at"
    volume_field: str | None = "volume_m3"
    margin: float = 200.0
    bin_size: float | None = None
    fdr: bool = True
    recurrence_radius: float = 25.0
    camera_range: float = 50.0
    simulated: bool = False
    label: str = "dépôts sauvages"
    events_covered: bool = True
    uncovered_codes: tuple[str, ...] = ()
    points_noirs: gpd.GeoDataFrame | None = field(default=None, compare=False, repr=False)
    # issue 16 part R: recurrent sites located by the nearest address
    addresses: gpd.GeoDataFrame | None = field(default=None, compare=False, repr=False)
    # issue 16 part B: hot spot statistics
    coverage: BaseGeometry | None = field(default=None, compare=False, repr=False)
    coverage_note: str | None = None
    coverage_fallback: bool = False
    inference: str = "analytique"
    permutations: int = 999
    local_moran: bool = False
    coverages: Mapping[str, tuple[BaseGeometry | None, bool]] | None = field(default=None, compare=False,
                                                                             repr=False)

    # issue 16 part C: honest indicators
    as_of: Any = None
    sample_datasets: tuple[str, ...] = ()
    covered_since: tuple[tuple[str, str], ...] = ()
    observations_since: tuple[tuple[str, str], ...] = ()
    diagnostics: gpd.GeoDataFrame | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Check the hot spot options (French errors naming the option)."""
        _check_inference(self.inference, self.permutations)


@dataclass(frozen=True)
class HotspotSettings(GridOptions):
    """Grid and statistics of a quartier's hot spots, as the store-side entry points take them.

    Attributes
    ----------
    size, shape, margin
        As in :class:`geo.stats.hotspots.GridOptions`.
    inference : {"analytique", "permutations"}
        p-values of the Gi* classes (see :class:`ReportOptions`).
    permutations : int
        Number of permutations (99 at least).
    local_moran : bool
        Add Local Moran's I classes.

    Raises
    ------
    AnalysisError
        On a bad grid, an unknown inference or fewer than 99 permutations.
    """

    inference: str = "analytique"
    permutations: int = 999
    local_moran: bool = False

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        super().__post_init__()
        _check_inference(self.inference, self.permutations)


def _check_inference(inference: str, permutations: int) -> None:
    if inference not in INFERENCES:
        raise AnalysisError(f"Inférence « {inference} » inconnue : {' ou '.join(INFERENCES)}.")
    if permutations < 99:
        raise AnalysisError("« permutations » : 99 au moins (999 par défaut).")


@dataclass(frozen=True)
class MapLayers:
    """The window of a map and the territory's own layers drawn under it.

    Attributes
    ----------
    window : shapely geometry
        Its bounds frame the map (EPSG:2154).
    perimeters, streets, buildings : geopandas.GeoDataFrame, optional
        Perimeter outlines, streets and buildings, any CRS.
    addresses : geopandas.GeoDataFrame, optional
        Address points, drawn as a light street-like texture where the store has no
        streets nor buildings (Paris has the BAN but no street layer).
    """

    window: BaseGeometry
    perimeters: gpd.GeoDataFrame | None = None
    streets: gpd.GeoDataFrame | None = None
    buildings: gpd.GeoDataFrame | None = None
    # issue 16 part A: maps fit to print (context where there are no streets)
    addresses: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class ReportFigure:
    """One figure of a report, as data; ``title`` is its heading and caption."""

    name: str
    title: str


@dataclass(frozen=True)
class HotspotMap(ReportFigure):
    """Gi* classes of the bins (``gi_bin``) with the events (``points``, n × 2) on top."""

    bins: gpd.GeoDataFrame
    points: np.ndarray
    layers: MapLayers


@dataclass(frozen=True)
class DensityMap(ReportFigure):
    """Kernel density surface of the events (display only)."""

    density: KernelDensity
    layers: MapLayers


@dataclass(frozen=True)
class EmergingMap(ReportFigure):
    """Emerging hot spot patterns of the bins."""

    emerging: EmergingHotspots
    layers: MapLayers


@dataclass(frozen=True)
class BarChart(ReportFigure):
    """Bars of ``values`` labelled ``labels``; ``rotate_labels`` turns crowded labels."""

    labels: list[str]
    values: np.ndarray
    ylabel: str
    rotate_labels: bool = False
    # issue 16 part A: quartier comparisons as horizontal bars (labels « name (code) »)
    horizontal: bool = False


@dataclass(frozen=True)
class ReportSection:
    """A titled section of a report besides the analyses (the plan d'actions…), as data.

    Attributes
    ----------
    title : str
        Heading of the section.
    figures : list of tuple
        ``(label, value, detail)``: a figure (``None``: « n.d. »), and what qualifies it
        (« dont 3 simulées », « sur 12 actions ») or ``None``.
    tables : dict
        Caption → DataFrame.
    notes : list of str
        What the reader must know (« Aucune action enregistrée », why a figure is n.d.).
    restricted : str, optional
        The confidential layer the section is drawn from (``videoprotection``): only the
        versions of the report made for readers of that layer hold it, marked « Diffusion
        restreinte » (:func:`geo.stats.report.for_reader`).
    readers : tuple of str
        Roles that may read a restricted section, named in its notice (empty: not known).
    withheld : bool
        The section's content was left out of this version: only its title and the notice
        saying who may read it remain.
    """

    title: str
    figures: list[tuple[str, Any, str | None]] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # issue 16 part D: confidentiality in documents
    restricted: str | None = None
    readers: tuple[str, ...] = ()
    withheld: bool = False


@dataclass
class Report:
    """A report as data: key figures, figures, tables and a method note.

    :mod:`webmap.documents` renders it to HTML and PDF.

    Attributes
    ----------
    title : str
        Document title.
    period : tuple
        (start, end) of the period analysed.
    key_figures : dict
        Label → value (numbers shown at the top; tests compare them with independent
        computations).
    figures : list of ReportFigure
        Maps and charts, as the data to draw.
    tables : dict
        Caption → DataFrame.
    method : dict
        Parameter → value, for the method note.
    caveats : list of str
        Limits of the analyses.
    results : dict
        The underlying analysis results (hotspots, emerging, recurrence, coverage…).
    simulated : bool
        The events are simulated or resampled (a warning is printed).
    notes : list of str
        What stands in place of the maps and charts that could not be drawn (« aucun
        événement sur la période »…), shown where the figures would be.
    sections : list of ReportSection
        Further sections (the plan d'actions of the quartier), after the tables.
    """

    title: str
    period: tuple[pd.Timestamp, pd.Timestamp]
    key_figures: dict[str, Any] = field(default_factory=dict)
    figures: list[ReportFigure] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    method: dict[str, Any] = field(default_factory=dict)
    caveats: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    simulated: bool = False
    notes: list[str] = field(default_factory=list)
    sections: list[ReportSection] = field(default_factory=list)


# issue 16 part A: the territory map drawn per quartier (small multiples), never a grid spanning regions
@dataclass(frozen=True)
class QuartierPanel:
    """One quartier of :class:`QuartierPanels`: its outline, Gi* bins and events.

    Attributes
    ----------
    code, name : str
        The quartier.
    outline : shapely geometry
        Its perimeter (EPSG:2154).
    bins : geopandas.GeoDataFrame, optional
        Gi* bins of the quartier and its margin (``gi_bin``); None when Gi* could not
        be computed (``note`` says why).
    points : numpy.ndarray
        Events (n × 2, EPSG:2154) of the quartier and its margin.
    note : str, optional
        Why the bins are missing (« 2 événements : Gi* non calculé »).
    """

    code: str
    name: str
    outline: BaseGeometry
    bins: gpd.GeoDataFrame | None
    points: np.ndarray
    note: str | None = None


@dataclass(frozen=True)
class QuartierPanels(ReportFigure):
    """Small multiples: one map per quartier, each at its own scale, one shared legend.

    ``omitted`` lists the quartiers without a panel (no event, or no source covering them).
    """

    panels: list[QuartierPanel]
    omitted: list[str] = field(default_factory=list)


#: Fewest events around a quartier for its hot spot analyses (Gi*, density, emerging).
MIN_HOTSPOT_EVENTS = 3

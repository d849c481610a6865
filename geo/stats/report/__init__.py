"""Quartier and territory reports, as data: key figures, figures to draw, tables, method.

:func:`build_quartier_report` runs the hotspot, emerging hotspot, recurrence,
indicator and (when cameras are given) CCTV coverage analyses for one quartier and a
period and returns a :class:`Report`: the numbers, the tables, the method note, the
analysis results, and the figures as data (:class:`HotspotMap`, :class:`DensityMap`,
:class:`EmergingMap`, :class:`BarChart`) with the territory's own layers (perimeters,
streets, buildings) to draw under the maps. :func:`build_territory_report` compares the
quartiers. :func:`for_reader` makes the version of a report for one reader: the sections
drawn from a confidential layer (:attr:`ReportSection.restricted`) only for the readers of
that layer, a notice saying who may read them for the others. Nothing is drawn or rendered
here: :mod:`webmap.documents` turns a report into HTML and PDF.
"""

from geo.stats.report._recurrence_section import site_table
from geo.stats.report.confidential import (
    CCTV_LAYER,
    CCTV_TITLE,
    RESTRICTED_MARK,
    for_reader,
    restricted_layers,
    restricted_notice,
    withheld_section,
)
from geo.stats.report.model import (
    MIN_HOTSPOT_EVENTS,
    UNTRACKED_TREATMENT,
    BarChart,
    DensityMap,
    EmergingMap,
    HotspotMap,
    HotspotSettings,
    MapLayers,
    QuartierPanel,
    QuartierPanels,
    Report,
    ReportFigure,
    ReportOptions,
    ReportSection,
)
from geo.stats.report.quartier import build_quartier_report
from geo.stats.report.territory import build_territory_report

__all__ = [
    "CCTV_LAYER",
    "CCTV_TITLE",
    "MIN_HOTSPOT_EVENTS",
    "RESTRICTED_MARK",
    "UNTRACKED_TREATMENT",
    "BarChart",
    "DensityMap",
    "EmergingMap",
    "HotspotMap",
    "HotspotSettings",
    "MapLayers",
    "QuartierPanel",
    "QuartierPanels",
    "Report",
    "ReportFigure",
    "ReportOptions",
    "ReportSection",
    "build_quartier_report",
    "build_territory_report",
    "for_reader",
    "restricted_layers",
    "restricted_notice",
    "site_table",
    "withheld_section",
]

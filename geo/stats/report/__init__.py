"""Quartier and territory reports, as data: key figures, figures to draw, tables, method.

:func:`build_quartier_report` runs the hotspot, emerging hotspot, recurrence,
indicator and (when cameras are given) CCTV coverage analyses for one quartier and a
period and returns a :class:`Report`: the numbers, the tables, the method note, the
analysis results, and the figures as data (:class:`HotspotMap`, :class:`DensityMap`,
:class:`EmergingMap`, :class:`BarChart`) with the territory's own layers (perimeters,
streets, buildings) to draw under the maps. :func:`build_territory_report` compares the
quartiers. Nothing is drawn or rendered here: :mod:`webmap.documents` turns a report
into HTML and PDF.
"""

from geo.stats.report.model import (
    MIN_HOTSPOT_EVENTS,
    UNTRACKED_TREATMENT,
    BarChart,
    DensityMap,
    EmergingMap,
    HotspotMap,
    HotspotSettings,
    MapLayers,
    Report,
    ReportFigure,
    ReportOptions,
    ReportSection,
)
from geo.stats.report.quartier import build_quartier_report
from geo.stats.report.territory import build_territory_report

__all__ = [
    "MIN_HOTSPOT_EVENTS",
    "UNTRACKED_TREATMENT",
    "BarChart",
    "DensityMap",
    "EmergingMap",
    "HotspotMap",
    "HotspotSettings",
    "MapLayers",
    "Report",
    "ReportFigure",
    "ReportOptions",
    "ReportSection",
    "build_quartier_report",
    "build_territory_report",
]

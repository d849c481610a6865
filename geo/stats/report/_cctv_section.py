"""CCTV coverage section of the quartier report."""

from __future__ import annotations

import logging

import geopandas as gpd
import pandas as pd

from geo.stats.coverage import cctv_coverage
from geo.stats.report._cctv_notes import cctv_notes
from geo.stats.report.model import Report, ReportOptions

logger = logging.getLogger(__name__)


def _cctv_section(
    report: Report, events: gpd.GeoDataFrame, cameras: gpd.GeoDataFrame, hot_in: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None, opts: ReportOptions,
) -> None:
    """Share of the events and of the hot spots seen by a camera, and the uncovered hot spots.

    Without any event the shares are unknown (None, « n.d. »), not 0.
    """
    if events.empty:
        report.key_figures["Part des événements vus par une caméra"] = None
        report.key_figures["Part de la surface en point chaud vue"] = None
        return
    cov = cctv_coverage(events, cameras, hotspots=hot_in, buildings=buildings, range_m=opts.camera_range)
    report.results["cctv"] = cov
    # issue 16 part R: the share stated honestly and the cameras' assumed parameters, in the
    # limits (with part D's restricted « Vidéoprotection » section: in its notes instead)
    report.caveats.extend(cctv_notes(cov))
    report.key_figures["Part des événements vus par une caméra"] = cov.share_events_seen
    report.key_figures["Part de la surface en point chaud vue"] = cov.share_hotspot_area_seen
    if cov.uncovered is not None and len(cov.uncovered):
        u = cov.uncovered
        report.tables["Points chauds non couverts par la vidéoprotection"] = pd.DataFrame({
            "Maille": u["bin_id"], "Événements": u["count"], "z Gi*": u["gi_z"],
            "Part vue": u["seen_share"],
        })

"""CCTV coverage section of the quartier report (confidential: drawn from ``videoprotection``)."""

from __future__ import annotations

import logging

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import to_territory_crs
from geo.stats.coverage import cctv_coverage
from geo.stats.report._cctv_notes import cctv_notes
from geo.stats.report.confidential import CCTV_LAYER, CCTV_TITLE
from geo.stats.report.model import Report, ReportOptions, ReportSection

logger = logging.getLogger(__name__)

#: How a camera's field is drawn, in the section's notes.
CCTV_FIELD = ("Champ des caméras : disque de la portée indiquée (ou secteur si l'azimut et l'angle sont "
              "connus), masqué par les bâtiments lorsqu'ils sont fournis.")


def _cctv_section(
    report: Report, events: gpd.GeoDataFrame, cameras: gpd.GeoDataFrame, hot_in: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None, geom: BaseGeometry, opts: ReportOptions,
) -> None:
    """Add the « Vidéoprotection » section: camera sites, shares of the events and hot spots seen.

    Every camera figure of the report lives in this section, marked restricted to the
    ``videoprotection`` layer (:attr:`ReportSection.restricted`), so that the version of the
    report for a reader who may not see that layer leaves all of them out. Without any event
    the shares are unknown (None, « n.d. »), not 0; without any camera known around the quartier
    (none, or a layer that does not cover it) the count and the coverage are unknown too.
    """
    section = ReportSection(title=CCTV_TITLE, restricted=CCTV_LAYER)
    report.sections.append(section)
    if not len(cameras):  # none, or a layer that does not cover the quartier: unknown, not 0
        section.figures.append(("Nombre de sites de vidéoprotection en service dans le quartier", None,
                                "aucun site connu autour du quartier"))
        section.notes.append("Aucun site de vidéoprotection en service n'est connu autour du quartier : "
                             "soit il n'y en a pas, soit la couche ne couvre pas ce territoire. Le nombre de "
                             "sites et la couverture par les caméras sont donc n.d.")
        return
    located = to_territory_crs(cameras)
    xy = shapely.get_coordinates(shapely.point_on_surface(located.geometry.to_numpy()))
    inside = int(shapely.contains_xy(geom, xy[:, 0], xy[:, 1]).sum())
    section.figures.append(("Nombre de sites de vidéoprotection en service dans le quartier", inside, None))
    section.figures.append(("Portée des caméras (m)", opts.camera_range,
                            "supposée pour les caméras sans portée connue"))
    if events.empty:  # otherwise the notes of the coverage state the cameras' fields (cctv_notes)
        section.notes.append(CCTV_FIELD)
        section.figures.append(("Part des événements vus par une caméra", None, "aucun événement"))
        section.figures.append(("Part de la surface en point chaud vue", None, "aucun événement"))
        return
    cov = cctv_coverage(events, cameras, hotspots=hot_in, buildings=buildings, range_m=opts.camera_range)
    report.results["cctv"] = cov
    section.figures.append(("Part des événements vus par une caméra", cov.share_events_seen, None))
    section.figures.append(("Part de la surface en point chaud vue", cov.share_hotspot_area_seen,
                            None if cov.share_hotspot_area_seen is not None else "aucun point chaud"))
    # issue 16 part R: the share stated honestly and the cameras' assumed parameters
    section.notes.extend(cctv_notes(cov))
    if cov.uncovered is not None and len(cov.uncovered):
        u = cov.uncovered
        section.tables["Points chauds non couverts par la vidéoprotection"] = pd.DataFrame({
            "Maille": u["bin_id"], "Événements": u["count"], "z Gi*": u["gi_z"],
            "Part vue": u["seen_share"],
        })

"""Hot spot sections of the quartier report: Gi* and density maps, emerging hot spots."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import AnalysisError
from geo.stats.binning import count_in_bins, make_bins
from geo.stats.emerging import emerging_hotspots, space_time_cube
from geo.stats.hotspots import GridOptions, getis_ord, kernel_density
from geo.stats.report.model import (
    MIN_HOTSPOT_EVENTS,
    DensityMap,
    EmergingMap,
    HotspotMap,
    MapLayers,
    Report,
    ReportOptions,
)

logger = logging.getLogger(__name__)


def _hotspot_section(
    report: Report, ev: gpd.GeoDataFrame, near: gpd.GeoDataFrame, geom: BaseGeometry, layers: MapLayers,
    opts: ReportOptions,
) -> tuple[gpd.GeoDataFrame | None, float | None]:
    """Gi* map, density map and hot/cold key figures; the hot bins inside the quartier and the bin size.

    With fewer than :data:`MIN_HOTSPOT_EVENTS` events around the quartier, or events at
    fewer than 3 distinct places (no bin size can be chosen), nothing is computed: a Gi* on
    (nearly) zero counts means nothing. The maps give way to a note and the hot/cold
    figures are unknown (None, « n.d. »), not 0.
    """
    if len(near) < MIN_HOTSPOT_EVENTS:
        if len(near) == 0:
            report.notes.append(f"Aucun événement ({opts.label}) sur la période dans le quartier ni dans sa "
                                f"marge de {opts.margin:.0f} m : pas de carte des points chauds, de densité "
                                "ni de graphique mensuel.")
        else:
            report.notes.append(f"Trop peu d'événements ({len(near)}) sur la période autour du quartier "
                                f"pour les points chauds ({MIN_HOTSPOT_EVENTS} au moins) : pas de carte des "
                                "points chauds ni de densité.")
        report.key_figures["Mailles en point chaud (dans le quartier)"] = None
        report.key_figures["Mailles en point froid (dans le quartier)"] = None
        return None, None
    try:
        grid = make_bins(near, area=geom, margin=opts.margin, size=opts.bin_size)
    except AnalysisError as exc:  # events piled on one or two sites (points noirs): no grid size to choose
        report.notes.append(f"Points chauds non calculés : {exc} Les {len(near)} événements de la période "
                            "se concentrent sur moins de 3 lieux distincts.")
        report.key_figures["Mailles en point chaud (dans le quartier)"] = None
        report.key_figures["Mailles en point froid (dans le quartier)"] = None
        return None, None
    hot = getis_ord(count_in_bins(grid, ev), fdr=opts.fdr)  # every event in the cells, not only the margin
    hot_in = hot[shapely.contains_xy(geom, hot["x"].to_numpy(), hot["y"].to_numpy())]
    xy = np.column_stack([near.geometry.x.to_numpy(), near.geometry.y.to_numpy()])
    report.results["hotspots"] = hot
    report.figures.append(HotspotMap("hotspots", "Points chauds et froids (Gi*, mailles hexagonales)",
                                     bins=hot, points=xy, layers=layers))
    density = kernel_density(near, bounds=layers.window.bounds)
    report.figures.append(DensityMap("densite", "Densité des événements (affichage)", density=density,
                                     layers=layers))
    report.key_figures["Mailles en point chaud (dans le quartier)"] = int((hot_in["gi_bin"] > 0).sum())
    report.key_figures["Mailles en point froid (dans le quartier)"] = int((hot_in["gi_bin"] < 0).sum())
    return hot_in, float(hot.attrs["bin_size"])


def _emerging_section(
    report: Report, near: gpd.GeoDataFrame, geom: BaseGeometry, bin_size: float,
    months: tuple[pd.Timestamp, pd.Period], layers: MapLayers, opts: ReportOptions,
) -> None:
    """Emerging hot spots over the whole months of the period: map and pattern counts."""
    try:
        cube = space_time_cube(near, time_field=opts.time_field, area=geom,
                               grid=GridOptions(size=bin_size, margin=opts.margin),
                               start=months[0], end=months[1])
        ehsa = emerging_hotspots(cube, fdr=opts.fdr)
    except AnalysisError as exc:
        report.caveats.append(f"Points chauds émergents non calculés : {exc}")
        return
    report.results["emerging"] = ehsa
    report.figures.append(EmergingMap("emergents", "Points chauds émergents", emerging=ehsa, layers=layers))
    counts = ehsa.pattern_counts()
    report.tables["Points chauds émergents (mailles par tendance)"] = (
        counts[counts > 0].rename_axis("Tendance").reset_index()
    )

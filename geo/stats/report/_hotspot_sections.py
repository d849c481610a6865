"""Hot spot sections of the quartier report: Gi* and density maps, emerging hot spots.

Issue 16 (part B): the grid follows the events (:func:`geo.stats.binning.choose_bin_size`),
is restricted to the source's coverage (``ReportOptions.coverage``), and Gi* is refused —
with a note stating the thresholds — when the data cannot support it
(:data:`MIN_GI_EVENTS` events, :data:`~geo.stats.binning.MIN_NONEMPTY_CELLS` non-empty
cells). Permutation inference and Local Moran's I are options; every choice is written
to ``report.results["gi_method"]`` for the method note.
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import AnalysisError
from geo.french import grouped
from geo.stats.binning import MIN_NONEMPTY_CELLS, count_in_bins, make_bins
from geo.stats.emerging import PATTERNS_FR, TOO_FEW, emerging_hotspots, space_time_cube
from geo.stats.hotspots import confidence_classes, distance_weights, fdr_adjust, getis_ord, kernel_density
from geo.stats.inference import gi_permutation_p, local_moran
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

#: Fewest events around a quartier for a Gi* analysis (as ArcGIS Optimized Hot Spot Analysis).
MIN_GI_EVENTS = 30
#: Seed of the permutation tests (the same report gives the same p-values).
PERMUTATION_SEED = 2025
#: Fewest events of its own for a cell to get a hot emerging pattern.
MIN_EMERGING_EVENTS = 3

HOT_KEY = "Mailles en point chaud (dans le quartier)"
COLD_KEY = "Mailles en point froid (dans le quartier)"

CONFIDENCE_NOTE = (
    "une maille est significative si sa p-valeur ajustée par la procédure de Benjamini–Hochberg "
    "(taux de fausses découvertes, sur toutes les mailles) est au plus 0,05 ; sa classe est 99 % "
    "(p ajustée ≤ 0,01) ou 95 % (≤ 0,05) ; la classe 90 % (≤ 0,10) n'apparaît qu'avec un seuil de 0,10"
)


def _unknown(report: Report) -> None:
    report.key_figures[HOT_KEY] = None
    report.key_figures[COLD_KEY] = None


def _fmt_m(value: float) -> str:
    return _n(round(value))


def _n(value: int) -> str:
    """Return an integer with French digit grouping (narrow no-break spaces): 1 447."""
    return grouped(int(value))


def _grid_method(grid: gpd.GeoDataFrame, opts: ReportOptions) -> dict[str, Any]:
    """Return the method lines of the grid: size rule, study area and mask."""
    size = float(grid.attrs["bin_size"])
    choice = grid.attrs.get("bin_choice")
    if choice is None:
        cells = f"hexagones de {_fmt_m(size)} m (taille imposée)"
    else:
        cells = (f"hexagones de {_fmt_m(size)} m, taille automatique fondée sur les événements : distance "
                 f"moyenne de chaque événement à son {choice.k}e plus proche voisin "
                 f"({choice.mean_knn:.0f} m, k = 5 % des {_n(choice.events)} événements, entre 3 et 30), "
                 "maille de même aire que le disque "
                 f"de ce rayon ({_fmt_m(choice.initial_size)} m), réduite par pas de 10 % tant que moins de "
                 f"{MIN_NONEMPTY_CELLS} mailles contiennent un événement")
    area = f"quartier et marge de {opts.margin:.0f} m"
    if opts.coverage is not None:
        area += (f", restreints à la zone couverte par la source ({opts.coverage_note or 'déclarée'}) : "
                 f"{_n(grid.attrs.get('masked_cells', 0))} mailles hors couverture exclues (absentes des "
                 "voisinages et des statistiques, pas comptées comme des zéros)")
    else:
        area += " (aucune zone de couverture de la source connue : mailles non restreintes)"
    return {"Mailles": cells, "Zone d'étude des points chauds": area}


def quartier_grid(near: gpd.GeoDataFrame, geom: BaseGeometry, opts: ReportOptions) -> gpd.GeoDataFrame:
    """Build the hot spot grid of a quartier: size from the events, restricted to the source coverage.

    Shared by the quartier report and the territory report's panels, so that a quartier's
    panel is its quartier report's grid. When the coverage is the events' own extent
    (``opts.coverage_fallback``) it is widened by one cell.

    Raises
    ------
    AnalysisError
        When no cell size can be chosen (events on fewer than 3 distinct places).
    """
    grid = make_bins(near, area=geom, margin=opts.margin, size=opts.bin_size, mask=opts.coverage)
    if opts.coverage is not None and opts.coverage_fallback:
        size = float(grid.attrs["bin_size"])
        choice = grid.attrs.get("bin_choice")
        grid = make_bins(near, area=geom, margin=opts.margin, size=size, mask=opts.coverage.buffer(size))
        if choice is not None:
            grid.attrs["bin_choice"] = choice
    return grid


def gi_support(xy: np.ndarray, counted: gpd.GeoDataFrame) -> str | None:
    """Why the events ``xy`` counted on ``counted`` cannot support Gi* (None: they can)."""
    distinct = len(np.unique(np.round(xy, 1), axis=0))
    return _support_reason(len(xy), int((counted["count"] > 0).sum()), distinct)


def _support_reason(events: int, nonempty: int, distinct: int) -> str | None:
    """Why the data cannot support Gi* (None: they can)."""
    if events < MIN_GI_EVENTS:
        return f"{_n(events)} événements autour du quartier (au moins {MIN_GI_EVENTS} requis)"
    if nonempty < MIN_NONEMPTY_CELLS:
        return (f"{_n(nonempty)} mailles contiennent un événement, même à la plus petite taille de maille "
                f"(au moins {MIN_NONEMPTY_CELLS} requises) ; les {_n(events)} événements se répartissent sur "
                f"{_n(distinct)} lieux distincts")
    return None


def _inference(report: Report, hot: gpd.GeoDataFrame, opts: ReportOptions) -> gpd.GeoDataFrame:
    """Permutation p-values (and the classes on them when chosen); the method lines."""
    method = report.results.setdefault("gi_method", {})
    if opts.inference != "permutations":
        method["Inférence Gi*"] = ("analytique : z de Getis & Ord (1992) et p bilatérale de la loi normale "
                                   "(identiques à esda G_Local, star=True, transform=\"B\") ; une inférence "
                                   "par permutations est disponible en option")
        return hot
    weights = distance_weights(hot)
    p_perm = gi_permutation_p(hot["count"].to_numpy(float), hot, weights, permutations=opts.permutations,
                              seed=PERMUTATION_SEED)
    out = hot.copy()
    out.attrs.update(hot.attrs)
    out["gi_p_perm"] = p_perm
    out["gi_q"] = fdr_adjust(p_perm) if opts.fdr else p_perm
    gi_bin, label = confidence_classes(out["gi_z"].to_numpy(), out["gi_q"].to_numpy())
    out["gi_bin"] = gi_bin
    out["hotspot"] = pd.array(label, dtype=np.object_)
    method["Inférence Gi*"] = (f"par {opts.permutations} permutations conditionnelles (esda G_Local, graine "
                               f"{PERMUTATION_SEED}) : p bilatérale = 2 × p_sim, plus petite valeur possible "
                               f"{2 / (opts.permutations + 1):.4f} ; la p analytique (loi normale) reste "
                               "dans "
                               "les résultats (colonne gi_p) pour comparaison")
    return out


def _moran(report: Report, hot: gpd.GeoDataFrame, geom: BaseGeometry, opts: ReportOptions) -> None:
    """Local Moran's I classes of the cells (option), as a table of the cells inside the quartier."""
    lm = local_moran(hot["count"].to_numpy(float), hot, distance_weights(hot), permutations=opts.permutations,
                     seed=PERMUTATION_SEED, fdr=opts.fdr)
    report.results["local_moran"] = lm
    inside = shapely.contains_xy(geom, hot["x"].to_numpy(), hot["y"].to_numpy())
    counts = lm.loc[inside, "moran_class"].value_counts()
    report.tables["I de Moran local (mailles du quartier par classe)"] = (
        counts.rename_axis("Classe").reset_index(name="Mailles")
    )
    report.results.setdefault("gi_method", {})["I de Moran local"] = (
        f"esda Moran_Local, poids standardisés en ligne, {opts.permutations} permutations (graine "
        f"{PERMUTATION_SEED}), p bilatérale = 2 × p_sim ajustée par Benjamini–Hochberg, seuil 0,05 : "
        "haut-haut et bas-bas sont des agrégats, haut-bas et bas-haut des valeurs isolées"
    )


def _hotspot_section(
    report: Report, ev: gpd.GeoDataFrame, near: gpd.GeoDataFrame, geom: BaseGeometry, layers: MapLayers,
    opts: ReportOptions,
) -> tuple[gpd.GeoDataFrame | None, float | None]:
    """Gi* map, density map and hot/cold key figures; the hot bins inside the quartier and the bin size.

    With fewer than :data:`MIN_HOTSPOT_EVENTS` events around the quartier, or events at
    fewer than 3 distinct places (no bin size can be chosen), nothing is computed. With
    fewer than :data:`MIN_GI_EVENTS` events or :data:`MIN_NONEMPTY_CELLS` non-empty cells,
    the density map is drawn but Gi* is not: a note and the method note say why, and the
    hot/cold figures are unknown (None, « n.d. »), not 0.
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
        _unknown(report)
        return None, None
    try:
        grid = quartier_grid(near, geom, opts)
    except AnalysisError as exc:  # events piled on one or two sites (points noirs): no grid size to choose
        report.notes.append(f"Points chauds non calculés : {exc} Les {_n(len(near))} événements de la "
                            "période se concentrent sur moins de 3 lieux distincts.")
        report.results["gi_method"] = {"Conditions de l'analyse Gi*": (
            f"au moins {MIN_GI_EVENTS} événements et {MIN_NONEMPTY_CELLS} mailles non vides ; ici "
            f"{_n(len(near))} événements sur moins de 3 lieux distincts")}
        _unknown(report)
        return None, None
    counted = count_in_bins(grid, ev)  # every event in the cells, not only the margin
    report.results["gi_method"] = _grid_method(grid, opts)
    density = kernel_density(near, bounds=layers.window.bounds)
    xy = np.column_stack([near.geometry.x.to_numpy(), near.geometry.y.to_numpy()])
    nonempty = int((counted["count"] > 0).sum())
    reason = gi_support(xy, counted)
    report.results["gi_method"]["Conditions de l'analyse Gi*"] = (
        f"au moins {MIN_GI_EVENTS} événements et {MIN_NONEMPTY_CELLS} mailles non vides ; ici "
        f"{_n(len(near))} événements, {_n(nonempty)} mailles non vides"
        + (" : non remplies" if reason else ""))
    if reason is not None:
        report.notes.append(f"Points chauds (Gi*) non calculés : les données ne le permettent pas — "
                            f"{reason}. Une statistique Gi* sur si peu de mailles désignerait des points "
                            "chauds au hasard (voire sur des mailles vides). La carte de densité reste "
                            "affichée, sans inférence.")
        report.figures.append(DensityMap("densite", "Densité des événements (affichage)", density=density,
                                         layers=layers))
        _unknown(report)
        return None, None
    hot = _inference(report, getis_ord(counted, fdr=opts.fdr), opts)
    report.results["gi_method"]["Classes de confiance"] = CONFIDENCE_NOTE
    hot_in = hot[shapely.contains_xy(geom, hot["x"].to_numpy(), hot["y"].to_numpy())]
    report.results["hotspots"] = hot
    report.figures.append(HotspotMap("hotspots", "Points chauds et froids (Gi*, mailles hexagonales)",
                                     bins=hot, points=xy, layers=layers))
    report.figures.append(DensityMap("densite", "Densité des événements (affichage)", density=density,
                                     layers=layers))
    if opts.local_moran:
        _moran(report, hot, geom, opts)
    report.key_figures[HOT_KEY] = int((hot_in["gi_bin"] > 0).sum())
    report.key_figures[COLD_KEY] = int((hot_in["gi_bin"] < 0).sum())
    return hot_in, float(hot.attrs["bin_size"])


EMERGING_METHOD = {
    "Moments de Gi* (émergents)": (
        "moyenne et variance de tout le cube (tous les mois ensemble), comme ArcGIS Pro, et non mois par "
        "mois : "
        "un mois calme peut être froid partout et un mois chargé chaud"),
    "Voisinage (émergents)": "premier anneau de mailles, au même mois et au mois précédent",
    "Tendance": "test de Mann–Kendall sur la série des z de Gi* de chaque maille, seuil 0,05",
    "Motifs émergents": (
        f"définitions d'ArcGIS Pro ; une maille significativement froide avant de devenir chaude est « "
        f"{PATTERNS_FR['switched hot spot']} », jamais « nouveau » ni « consécutif » ; un motif chaud "
        f"demande au moins {MIN_EMERGING_EVENTS} événements dans la maille sur la période (sinon « "
        f"{PATTERNS_FR[TOO_FEW]} »)"),
}


def _emerging_section(
    report: Report, near: gpd.GeoDataFrame, geom: BaseGeometry, bin_size: float,
    months: tuple[pd.Timestamp, pd.Period], layers: MapLayers, opts: ReportOptions,
) -> None:
    """Emerging hot spots over the whole months of the period: map and pattern counts."""
    hot = report.results.get("hotspots")
    grid = None
    if hot is not None:
        grid = hot[["bin_id", "x", "y", "geometry"]]
        grid.attrs.update(hot.attrs)
    try:
        cube = space_time_cube(near, time_field=opts.time_field, start=months[0], end=months[1], bins=grid,
                               area=geom)
        ehsa = emerging_hotspots(cube, fdr=opts.fdr, min_events=MIN_EMERGING_EVENTS)
    except AnalysisError as exc:
        report.caveats.append(f"Points chauds émergents non calculés : {exc}")
        return
    report.results["emerging"] = ehsa
    report.results.setdefault("gi_method", {}).update(EMERGING_METHOD)
    report.figures.append(EmergingMap("emergents", "Points chauds émergents", emerging=ehsa, layers=layers))
    counts = ehsa.pattern_counts()
    report.tables["Points chauds émergents (mailles par tendance)"] = (
        counts[counts > 0].rename_axis("Tendance").reset_index()
    )
    bins = ehsa.bins
    inside = shapely.contains_xy(geom, bins["x"].to_numpy(), bins["y"].to_numpy())
    hot_patterns = int((bins.loc[inside, "pattern"].str.endswith("hot spot")).sum())
    if report.key_figures.get(HOT_KEY) == 0 and hot_patterns:
        report.notes.append(
            f"Aucune maille du quartier n'est un point chaud Gi* sur l'ensemble de la période, mais "
            f"{hot_patterns} y ont un motif chaud émergent : les deux analyses ne répondent pas à la même "
            "question. Gi* compare le "
            "total de la période de chaque maille et de ses voisines à la moyenne du quartier ; l'analyse "
            "émergente compare chaque mois (avec le précédent) à la moyenne de tous les mois et de toutes "
            "les "
            "mailles, puis lit la suite des mois : une maille peut être chaude quelques mois, notamment les "
            "derniers, sans l'être sur le total.")

"""The quartier report: :func:`build_quartier_report` assembles every section for one quartier."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geo.crs import to_territory_crs
from geo.errors import AnalysisError
from geo.stats.indicators import (
    assign_quartier,
)
from geo.stats.report._cctv_section import _cctv_section
from geo.stats.report._hotspot_sections import _emerging_section, _hotspot_section
from geo.stats.report._indicator_sections import (
    _cleanup_delays,
    _diagnostics_section,
    _monthly_section,
    _observation_indicators,
)
from geo.stats.report._period import filter_period
from geo.stats.report._recurrence_section import SITE_METHOD, _recurrence_section
from geo.stats.report.model import MIN_HOTSPOT_EVENTS, MapLayers, Report, ReportOptions

logger = logging.getLogger(__name__)


def build_quartier_report(
    events: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame,
    *,
    code: str,
    options: ReportOptions | None = None,
    streets: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    cameras: gpd.GeoDataFrame | None = None,
    observations: gpd.GeoDataFrame | None = None,
) -> Report:
    """Analyse one quartier over a period and assemble its report.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dumping events (or any dated point layer), any CRS.
    perimeters : geopandas.GeoDataFrame
        Quartier perimeters (repaired), with the code and name columns.
    code : str
        The quartier reported on.
    options : ReportOptions, optional
        Period, column names and analysis parameters (defaults of :class:`ReportOptions`).
    streets, buildings : geopandas.GeoDataFrame, optional
        Map background (and building occlusion of the camera views).
    cameras : geopandas.GeoDataFrame, optional
        CCTV sites in service (possibly none); adds the « Vidéoprotection » section, restricted
        to the readers of the ``videoprotection`` layer (:func:`geo.stats.report.for_reader`).
    observations : geopandas.GeoDataFrame, optional
        Observations (``observed_at``, ``resolved_at``, ``status``, ``walk_id``,
        ``source``) for the indicators of the fiches actions: délai de traitement,
        diagnostics per year, dysfonctionnements identified and treated. Records of the
        year before the period feed the N-1 columns.

    Returns
    -------
    Report
        Figures (as data), tables and results; :mod:`webmap.documents` renders it.

    Raises
    ------
    AnalysisError
        When the quartier is unknown, or no period is given and no event is dated. A quartier
        with no event (or fewer than :data:`MIN_HOTSPOT_EVENTS`) on the period gets its report:
        the counts are 0, the hot spot figures unknown (None) and :attr:`Report.notes` says why
        the maps are missing.
    """
    opts = options or ReportOptions()
    per = to_territory_crs(perimeters)
    if opts.code_field not in per.columns:
        raise AnalysisError(f"Colonne « {opts.code_field} » absente des périmètres.")
    row = per[per[opts.code_field].astype(str) == str(code)]
    if row.empty:
        raise AnalysisError(f"Quartier « {code} » introuvable dans les périmètres.")
    name = str(row[opts.name_field].iloc[0]) if opts.name_field in row.columns else str(code)
    geom = shapely.union_all(row.geometry.to_numpy())
    zone = geom.buffer(opts.margin)
    ev, t0, t1 = filter_period(events, opts.time_field, opts.start, opts.end)
    ev = to_territory_crs(ev)
    near = ev[ev.intersects(zone)]
    inside_mask = assign_quartier(
        near, row[[opts.code_field, row.geometry.name]], code_field=opts.code_field
    ).notna()
    inside = near[inside_mask.to_numpy()]
    layers = MapLayers(window=zone, perimeters=row, streets=streets, buildings=buildings)
    report = Report(title=f"Analyse des {opts.label} — {name} ({code})", period=(t0, t1),
                    simulated=opts.simulated)
    report.key_figures.update({
        "Événements dans le quartier": len(inside),
        "Événements dans le quartier et sa marge": len(near),
    })
    hot_in, bin_size = _hotspot_section(report, ev, near, geom, layers, opts)
    _monthly_section(report, inside, row, str(code), opts, history=_history(events, zone, row, opts))
    partial_last = t1.to_period("M").end_time.normalize() > t1.normalize()
    if bin_size is not None:
        ehsa_end = (t1.to_period("M") - 1) if partial_last else t1.to_period("M")
        _emerging_section(report, near, geom, bin_size, (t0, ehsa_end), layers, opts)
    cleaned = opts.cleaned_field if opts.cleaned_field in ev.columns else None
    _recurrence_section(report, near, row, str(code), (t0, t1), cleaned, opts)
    if cleaned is not None:
        _cleanup_delays(report, inside, row, cleaned, opts)
    if cameras is not None:  # issue 16 part D: every camera figure in the restricted section
        _cctv_section(report, inside if len(inside) else near, cameras, hot_in, buildings, geom, opts)
    if observations is not None and len(observations):
        _observation_indicators(report, observations, row, code=str(code), opts=opts)
    _diagnostics_section(report, observations, opts.diagnostics, row, code=str(code), opts=opts)
    if not opts.events_covered:
        _mark_uncovered(report, opts)
    report.method.update(_quartier_method(bin_size, opts, gi=report.results.get("gi_method")))
    report.caveats.extend(_quartier_caveats(t1, partial_last=partial_last, cleaned=cleaned is not None,
                                            hotspots=bin_size is not None))
    return report


def _history(
    events: gpd.GeoDataFrame, zone: Any, row: gpd.GeoDataFrame, opts: ReportOptions
) -> gpd.GeoDataFrame:
    """Events of the quartier from one year before the period to its end (the N-1 columns)."""
    start = (pd.Timestamp(opts.start) if opts.start is not None else None)
    if start is None or events.empty:
        return events.iloc[:0]
    ev, _, _ = filter_period(events, opts.time_field, start - pd.DateOffset(years=1), opts.end)
    ev = to_territory_crs(ev)
    ev = ev[ev.intersects(zone)]
    return ev[assign_quartier(ev, row[[opts.code_field, row.geometry.name]],
                              code_field=opts.code_field).notna().to_numpy()]


#: Key figures that count events: unknown (None), not 0, where no source covers the quartier.
_EVENT_COUNTS = ("Événements dans le quartier", "Événements dans le quartier et sa marge", "Sites ")


#: Tables of event counts, left out where no source covers the quartier.
_EVENT_TABLES = ("Indicateurs mensuels", "Sites les plus récurrents", "Points chauds émergents")


def _mark_uncovered(report: Report, opts: ReportOptions) -> None:
    """No source of events covers the quartier: its event counts are unknown, not 0."""
    for label in list(report.key_figures):
        if label.startswith(_EVENT_COUNTS):
            report.key_figures[label] = None
    for caption in [c for c in report.tables if c.startswith(_EVENT_TABLES)]:
        del report.tables[caption]
    report.notes[:] = [n for n in report.notes if not n.startswith(("Aucun événement", "Trop peu"))]
    report.notes.insert(0, f"Aucune source d'événements ({opts.label}) ne couvre ce quartier : l'entrepôt ne "
                           "contient aucun événement, de tout thème et de toute date, autour de lui. Les "
                           "comptes sont inconnus (n.d.), pas nuls ; les autres sections sont remplies.")


def _quartier_method(
    bin_size: float | None, opts: ReportOptions, *, gi: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the method note of a quartier report (``bin_size`` None: no hot spot analysis).

    ``gi`` holds the lines the hot spot sections wrote (grid rule, study area and coverage,
    conditions of Gi*, inference, confidence classes, emerging choices).
    """
    method: dict[str, Any] = {"Projection": "RGF93 / Lambert-93 (EPSG:2154)"}
    if bin_size is None:
        default = f"moins de {MIN_HOTSPOT_EVENTS} événements autour du quartier"
        method["Points chauds"] = "non calculés : " + (gi or {}).get("Conditions de l'analyse Gi*", default)
        method["Marge autour du périmètre (m)"] = opts.margin
        method.update({k: v for k, v in (gi or {}).items() if k != "Conditions de l'analyse Gi*"})
    else:
        method.update({
            "Marge autour du périmètre (m)": opts.margin,
            "Voisinage Gi*": "premier anneau de mailles, maille incluse (Gi*)",
            "Correction des tests multiples": (
                "taux de fausses découvertes (Benjamini–Hochberg)" if opts.fdr else "aucune"
            ),
            "Seuil de significativité": 0.05,
            "Pas de temps (émergents)": "mois, voisinage temporel 1 mois",
        })
        method.update(gi or {})
    method["Rayon de regroupement des sites (m)"] = opts.recurrence_radius
    method["Regroupement des sites"] = SITE_METHOD
    return method


def _quartier_caveats(
    t1: pd.Timestamp, *, partial_last: bool, cleaned: bool, hotspots: bool = True
) -> list[str]:
    """Return the limits of a quartier report's analyses (``hotspots``: the hot spot maps were made)."""
    caveats = [
        "Les mailles sans aucun événement sur la période sont exclues de l'analyse des points chauds "
        "émergents, comme dans ArcGIS Pro.",
        "Un point chaud signale une concentration de signalements, qui dépend aussi de la propension "
        "des habitants et des agents à signaler.",
        "La carte de densité sert à l'affichage ; seule l'analyse Gi* porte une inférence statistique.",
    ] if hotspots else [
        "Peu ou pas d'événements ne veut pas dire peu de dépôts : seuls les dépôts signalés ou "
        "constatés sont comptés.",
    ]
    if not cleaned:
        caveats.append(
            "Aucune date d'enlèvement : chaque signalement est supposé traité le jour même ; "
            "le délai de retour est alors l'intervalle entre deux signalements."
        )
    if partial_last and hotspots:
        caveats.append(f"Le dernier mois ({t1:%m/%Y}) est incomplet : il est exclu de l'analyse des "
                       "points chauds émergents et pèse sur la dernière barre du graphique mensuel.")
    return caveats

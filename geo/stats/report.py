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

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import to_territory_crs
from geo.errors import AnalysisError
from geo.stats.binning import count_in_bins, make_bins
from geo.stats.coverage import cctv_coverage
from geo.stats.emerging import EmergingHotspots, emerging_hotspots, space_time_cube
from geo.stats.hotspots import GridOptions, KernelDensity, getis_ord, hotspots, kernel_density
from geo.stats.indicators import (
    assign_quartier,
    diagnostics_per_year,
    dumping_indicators,
    dysfunctions,
    tracks_treatment,
    treatment_delays,
)
from geo.stats.recurrence import STATUS_PERSISTENT, RecurrenceOptions, recurrence

logger = logging.getLogger(__name__)

#: why the treated constats of a source that does not follow them are unknown
UNTRACKED_TREATMENT = (
    "Dysfonctionnements traités : n.d., la source de ces constats ne suit pas leur traitement (aucun "
    "statut « traité », « en cours » ou « clos non traité », aucune date de résolution) ; un taux de "
    "traitement de 0 serait faux."
)

__all__ = [
    "MIN_HOTSPOT_EVENTS",
    "BarChart",
    "DensityMap",
    "EmergingMap",
    "HotspotMap",
    "MapLayers",
    "Report",
    "ReportFigure",
    "ReportOptions",
    "ReportSection",
    "build_quartier_report",
    "build_territory_report",
]


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
        are shown by its name and address (:func:`geo.stats.recurrence.recurrence`).
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


@dataclass(frozen=True)
class MapLayers:
    """The window of a map and the territory's own layers drawn under it.

    Attributes
    ----------
    window : shapely geometry
        Its bounds frame the map (EPSG:2154).
    perimeters, streets, buildings : geopandas.GeoDataFrame, optional
        Perimeter outlines, streets and buildings, any CRS.
    """

    window: BaseGeometry
    perimeters: gpd.GeoDataFrame | None = None
    streets: gpd.GeoDataFrame | None = None
    buildings: gpd.GeoDataFrame | None = None


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
    """

    title: str
    figures: list[tuple[str, Any, str | None]] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


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


#: Fewest events around a quartier for its hot spot analyses (Gi*, density, emerging).
MIN_HOTSPOT_EVENTS = 3


def _filter_period(
    events: gpd.GeoDataFrame, time_field: str, start: Any, end: Any
) -> tuple[gpd.GeoDataFrame, Any, Any]:
    """Events within [start, end] (inclusive, whole days) and the period actually used."""
    if time_field not in events.columns:
        raise AnalysisError(f"Colonne de date « {time_field} » absente.")
    when = pd.to_datetime(events[time_field], errors="coerce", utc=True).dt.tz_localize(None)
    t0 = pd.Timestamp(start) if start is not None else when.min()
    t1 = pd.Timestamp(end) if end is not None else when.max()
    if pd.isna(t0) or pd.isna(t1):
        raise AnalysisError("Aucun événement daté.")
    end_excl = t1.normalize() + pd.Timedelta(days=1)
    keep = ((when >= t0) & (when < end_excl)).to_numpy()
    return events.iloc[np.flatnonzero(keep)], t0, t1


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
        CCTV sites; adds the coverage section.
    observations : geopandas.GeoDataFrame, optional
        Observations (``observed_at``, ``resolved_at``, ``status``, ``walk_id``,
        ``source``) for the indicators of the fiches actions: délai de traitement,
        diagnostics per year, dysfonctionnements identified and treated.

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
    ev, t0, t1 = _filter_period(events, opts.time_field, opts.start, opts.end)
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
    _monthly_section(report, inside, row, str(code), opts)
    partial_last = t1.to_period("M").end_time.normalize() > t1.normalize()
    if bin_size is not None:
        ehsa_end = (t1.to_period("M") - 1) if partial_last else t1.to_period("M")
        _emerging_section(report, near, geom, bin_size, (t0, ehsa_end), layers, opts)
    cleaned = opts.cleaned_field if opts.cleaned_field in ev.columns else None
    _recurrence_section(report, near, row, str(code), (t0, t1), cleaned, opts)
    if cleaned is not None:
        _cleanup_delays(report, inside, row, cleaned, opts)
    if cameras is not None and len(cameras):
        _cctv_section(report, inside if len(inside) else near, cameras, hot_in, buildings, opts)
    if observations is not None and len(observations):
        _observation_indicators(
            report, observations, row, code=str(code), code_field=opts.code_field, t0=t0, t1=t1
        )
    if not opts.events_covered:
        _mark_uncovered(report, opts)
    report.method.update(_quartier_method(bin_size, opts, cameras is not None))
    report.caveats.extend(_quartier_caveats(t1, partial_last=partial_last, cleaned=cleaned is not None,
                                            cameras=cameras is not None, hotspots=bin_size is not None))
    return report


#: How the sites of the recurrence analysis are made, for the method notes.
SITE_METHOD = ("un événement à moins du rayon d'un point noir connu lui est rattaché ; les autres sont "
               "regroupés par lien simple (deux événements distants d'au plus le rayon sont sur le même "
               "site, une chaîne de tels événements forme un seul site) ; un regroupement plus large que "
               "150 m, chaîne le long d'une rue, est découpé en carrés de 150 m de côté, chaque morceau "
               "redevenant ses propres regroupements : un site reste un lieu qu'une équipe peut nettoyer)")

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


def _monthly_section(
    report: Report, inside: gpd.GeoDataFrame, row: gpd.GeoDataFrame, code: str, opts: ReportOptions
) -> None:
    """Events per month in the quartier (months without events shown as 0): chart and table."""
    t0, t1 = report.period
    monthly = dumping_indicators(inside, row, time_field=opts.time_field, volume_field=opts.volume_field,
                                 code_field=opts.code_field)
    monthly = monthly[monthly["quartier"] == code].set_index("period")
    months = pd.period_range(t0.to_period("M"), t1.to_period("M"), freq="M")
    monthly = monthly.reindex(months).rename_axis("period").reset_index()  # months without events: 0
    monthly["quartier"] = code
    monthly["events"] = monthly["events"].fillna(0).astype(int)
    monthly["volume_known"] = monthly["volume_known"].fillna(0).astype(int)
    monthly = monthly[["quartier", "period", "events", "volume_m3", "volume_known"]]
    if monthly["events"].sum() > 0:  # no chart of zeros: the note says there was no event
        report.figures.append(BarChart(
            "mensuel", "Événements par mois dans le quartier", labels=[str(p) for p in monthly["period"]],
            values=monthly["events"].to_numpy(), ylabel="événements", rotate_labels=True,
        ))
    monthly_caption = "Indicateurs mensuels (fiche action : volume de dépôts recensés par mois)"
    report.tables[monthly_caption] = monthly.rename(
        columns={"quartier": "Quartier", "period": "Mois", "events": "Événements",
                 "volume_m3": "Volume (m³)", "volume_known": "Volumes connus"}
    )


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


def _recurrence_section(
    report: Report, near: gpd.GeoDataFrame, row: gpd.GeoDataFrame, code: str,
    period: tuple[pd.Timestamp, pd.Timestamp], cleaned: str | None, opts: ReportOptions,
) -> None:
    """Add the dumping sites, recurrent and persistent ones: key figures and the most recurrent sites."""
    rec_opts = RecurrenceOptions(radius=opts.recurrence_radius, time_field=opts.time_field,
                                 cleaned_field=cleaned)
    rec = recurrence(near, options=rec_opts, sites=opts.points_noirs,
                     perimeters=row, code_field=opts.code_field, start=period[0], end=period[1])
    report.results["recurrence"] = rec
    sites_in = rec.sites[rec.sites["quartier"] == code]
    # « malgré les enlèvements » only where clean-up dates are recorded (data-driven)
    if bool(sites_in["cleanups_known"].any()):
        persistent = ("Sites persistants malgré les enlèvements",
                      int((sites_in["status"] == STATUS_PERSISTENT).sum()))
    else:
        persistent = ("Sites récurrents jusqu'à la fin de la période (aucune date d'enlèvement)",
                      int(sites_in["persistent"].sum()))
    report.key_figures.update({
        f"Sites de dépôt (regroupés à {opts.recurrence_radius:.0f} m)": len(sites_in),
        "Sites récurrents (≥ 2 événements)": int((sites_in["n_events"] >= 2).sum()),
        persistent[0]: persistent[1],
    })
    if sites_in.empty:
        return
    top = sites_in.sort_values("n_events", ascending=False).head(10)
    report.tables["Sites les plus récurrents"] = pd.DataFrame({
        "Site": top["label"], "Événements": top["n_events"], "Premier": top["first"], "Dernier": top["last"],
        "Par 30 jours": top["rate_per_30d"], "Jours médians avant retour": top["median_days_to_reoccur"],
        "Statut": top["status"],
    })


def _cleanup_delays(
    report: Report, inside: gpd.GeoDataFrame, row: gpd.GeoDataFrame, cleaned: str, opts: ReportOptions
) -> None:
    """Delays between a dumping and its clean-up: results and key figures."""
    time_field = opts.time_field
    report.results["delays"] = treatment_delays(
        inside, row, start_field=time_field, end_field=cleaned, code_field=opts.code_field
    )
    days = (pd.to_datetime(inside[cleaned], errors="coerce", utc=True)
            - pd.to_datetime(inside[time_field], errors="coerce", utc=True)).dt.total_seconds() / 86400
    days = days[days >= 0]
    report.key_figures["Délai médian d'enlèvement (jours)"] = float(days.median()) if len(days) else None
    report.key_figures["Délai d'enlèvement, 90e centile (jours)"] = (
        float(days.quantile(0.9)) if len(days) else None
    )


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
    report.key_figures["Part des événements vus par une caméra"] = cov.share_events_seen
    report.key_figures["Part de la surface en point chaud vue"] = cov.share_hotspot_area_seen
    if cov.uncovered is not None and len(cov.uncovered):
        u = cov.uncovered
        report.tables["Points chauds non couverts par la vidéoprotection"] = pd.DataFrame({
            "Maille": u["bin_id"], "Événements": u["count"], "z Gi*": u["gi_z"],
            "Part vue": u["seen_share"],
        })


def _quartier_method(bin_size: float | None, opts: ReportOptions, cameras: bool) -> dict[str, Any]:
    """Return the method note of a quartier report (``bin_size`` None: no hot spot analysis)."""
    method: dict[str, Any] = {"Projection": "RGF93 / Lambert-93 (EPSG:2154)"}
    if bin_size is None:
        method["Points chauds"] = (f"non calculés (moins de {MIN_HOTSPOT_EVENTS} événements "
                                   "autour du quartier)")
        method["Marge autour du périmètre (m)"] = opts.margin
    else:
        method.update({
            "Mailles": f"hexagones de {bin_size:.0f} m"
                       + (" (taille automatique)" if opts.bin_size is None else " (taille imposée)"),
            "Marge autour du périmètre (m)": opts.margin,
            "Voisinage Gi*": "premier anneau de mailles, maille incluse (Gi*)",
            "Correction des tests multiples": (
                "taux de fausses découvertes (Benjamini–Hochberg)" if opts.fdr else "aucune"
            ),
            "Seuil de significativité": 0.05,
            "Pas de temps (émergents)": "mois, voisinage temporel 1 mois",
            "Tendance": "test de Mann–Kendall sur les z de Gi*, seuil 0,05",
        })
    method["Rayon de regroupement des sites (m)"] = opts.recurrence_radius
    method["Regroupement des sites"] = SITE_METHOD
    method["Portée des caméras (m)"] = opts.camera_range if cameras else "sans objet (aucune caméra)"
    return method


def _quartier_caveats(
    t1: pd.Timestamp, *, partial_last: bool, cleaned: bool, cameras: bool, hotspots: bool = True
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
    if cameras:
        caveats.append("Champ des caméras : disque de la portée indiquée (ou secteur si l'azimut et "
                       "l'angle sont connus), masqué par les bâtiments lorsqu'ils sont fournis.")
    if partial_last and hotspots:
        caveats.append(f"Le dernier mois ({t1:%m/%Y}) est incomplet : il est exclu de l'analyse des "
                       "points chauds émergents et pèse sur la dernière barre du graphique mensuel.")
    return caveats


def _observation_indicators(
    report: Report,
    observations: gpd.GeoDataFrame,
    row: gpd.GeoDataFrame,
    *,
    code: str,
    code_field: str,
    t0: pd.Timestamp,
    t1: pd.Timestamp,
) -> None:
    """Add the délai / diagnostics / dysfonctionnements indicators of one quartier to ``report``."""
    obs, _, _ = _filter_period(observations, "observed_at", t0, t1)
    if obs.empty:
        report.caveats.append("Aucun constat dans la période : indicateurs de traitement non calculés.")
        return
    inside = obs[assign_quartier(obs, row, code_field=code_field).notna().to_numpy()]
    if "resolved_at" in inside.columns:
        delays = treatment_delays(inside, row, code_field=code_field)
        delays = delays[delays["quartier"] == code]
        report.tables["Délai de traitement des constats (jours, signalement → résolution)"] = pd.DataFrame({
            "Mois": delays["period"], "Signalés": delays["reported"], "Résolus": delays["resolved"],
            "Médiane": delays["median_days"], "90e centile": delays["p90_days"],
        })
        days = (pd.to_datetime(inside["resolved_at"], errors="coerce", utc=True)
                - pd.to_datetime(inside["observed_at"], errors="coerce", utc=True)).dt.total_seconds() / 86400
        days = days[days >= 0]
        report.key_figures["Délai médian de traitement (jours)"] = float(days.median()) if len(days) else None
        report.key_figures["Délai de traitement, 90e centile (jours)"] = (
            float(days.quantile(0.9)) if len(days) else None
        )
    if "status" in inside.columns:
        dys = dysfunctions(inside, row, code_field=code_field)
        dys = dys[dys["quartier"] == code]
        report.tables["Dysfonctionnements identifiés et traités"] = pd.DataFrame({
            "Mois": dys["period"], "Identifiés": dys["identified"], "Traités": dys["treated"],
            "Taux de traitement": dys["treated_rate"],
        })
        identified = int(dys["identified"].sum())
        report.key_figures["Dysfonctionnements identifiés"] = identified
        report.key_figures["Part des dysfonctionnements traités"] = (
            float(dys["treated"].sum() / identified) if identified else None
        )
        if not tracks_treatment(inside):  # « transmis » only: treated unknown, not 0
            table = report.tables["Dysfonctionnements identifiés et traités"]
            table["Traités"] = table["Taux de traitement"] = None
            report.key_figures["Part des dysfonctionnements traités"] = None
            report.caveats.append(UNTRACKED_TREATMENT)
    diag = diagnostics_per_year(inside, row, code_field=code_field)
    diag = diag[diag["quartier"] == code]
    report.tables["Diagnostics en marchant par an"] = pd.DataFrame({
        "Année": diag["year"], "Diagnostics": diag["diagnostics"], "Constats": diag["observations"],
    })


def build_territory_report(
    events: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame,
    *,
    options: ReportOptions | None = None,
    title: str = "Comparaison des quartiers",
) -> Report:
    """Compare the quartiers of a territory over a period.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dated events, any CRS.
    perimeters : geopandas.GeoDataFrame
        Quartier perimeters.
    options : ReportOptions, optional
        Period, column names, ``margin``, ``bin_size``, ``recurrence_radius`` and
        ``simulated`` as in :func:`build_quartier_report` (the other options are not used).
    title : str
        Report title.

    Returns
    -------
    Report
        Comparison table, chart and territory-wide hotspot map.

    Raises
    ------
    AnalysisError
        When no event is dated in the period.
    """
    opts = options or ReportOptions()
    code_field = opts.code_field
    ev, t0, t1 = _filter_period(events, opts.time_field, opts.start, opts.end)
    ev = to_territory_crs(ev)
    per = to_territory_crs(perimeters)
    codes = assign_quartier(ev, per, code_field=code_field)
    rec_opts = RecurrenceOptions(radius=opts.recurrence_radius, time_field=opts.time_field,
                                 cleaned_field=None)
    rec = recurrence(ev, options=rec_opts,
                     perimeters=per, code_field=code_field, start=t0, end=t1)
    hot = hotspots(ev, grid=GridOptions(size=opts.bin_size)) if len(ev) >= MIN_HOTSPOT_EVENTS else None
    months = max(len(pd.period_range(t0, t1, freq="M")), 1)
    per_codes = per[code_field].astype(str)
    names = per[opts.name_field].astype(str) if opts.name_field in per.columns else per_codes
    rows = [_comparison_row(code_value, name, geom, codes, rec, hot, months=months)
            for code_value, name, geom in zip(per_codes, names, per.geometry, strict=True)]
    table = pd.DataFrame(rows)
    uncovered = table["Quartier"].isin(opts.uncovered_codes)
    if uncovered.any():  # no source of events there: unknown, not 0
        unknown = ["Événements", "Par km² et par mois", "Mailles en point chaud", "Sites récurrents",
                   "Part de sites récurrents"]
        table[unknown] = table[unknown].astype(object)
        table.loc[uncovered, unknown] = None
    report = Report(title=title, period=(t0, t1), simulated=opts.simulated)
    if uncovered.any():
        report.notes.append(f"Aucune source d'événements ne couvre {int(uncovered.sum())} quartier(s) "
                            f"({', '.join(table.loc[uncovered, 'Quartier'])}) : aucun événement, de tout "
                            "thème et de toute date, autour d'eux dans l'entrepôt ; leurs chiffres sont "
                            "inconnus (n.d.), pas nuls.")
    report.results.update({"recurrence": rec, "quartier_of_event": codes})
    report.key_figures.update({
        "Événements sur le territoire": len(ev),
        "Dont dans un quartier": int(codes.notna().sum()),
        "Mailles en point chaud (territoire)": int((hot["gi_bin"] > 0).sum()) if hot is not None else None,
    })
    if len(ev):
        report.figures.append(BarChart(
            "comparaison", "Densité mensuelle des événements par quartier",
            labels=list(table.loc[~uncovered, "Quartier"]),
            values=table.loc[~uncovered, "Par km² et par mois"].to_numpy(dtype=float),
            ylabel="événements / km² / mois",
        ))
    if hot is not None:
        report.results["hotspots"] = hot
        xy = np.column_stack([ev.geometry.x.to_numpy(), ev.geometry.y.to_numpy()])
        report.figures.append(HotspotMap(
            "hotspots", "Points chauds sur l'ensemble du territoire (Gi*)", bins=hot, points=xy,
            layers=MapLayers(window=shapely.box(*hot.total_bounds), perimeters=per),
        ))
    else:
        report.notes.append("Aucun événement sur la période : pas de carte des points chauds ni de graphique."
                            if ev.empty else f"Trop peu d'événements ({len(ev)}) sur la période pour les "
                            "points chauds : pas de carte des points chauds.")
    report.tables["Comparaison des quartiers"] = table
    report.method.update({
        "Projection": "RGF93 / Lambert-93 (EPSG:2154)",
        "Mailles": f"hexagones de {hot.attrs['bin_size']:.0f} m" if hot is not None else "non calculées",
        "Correction des tests multiples": "taux de fausses découvertes (Benjamini–Hochberg)",
        "Rayon de regroupement des sites (m)": opts.recurrence_radius,
        "Regroupement des sites": SITE_METHOD,
        "Marge (m)": opts.margin,
    })
    report.caveats.append("Les densités rapportent les événements à la surface du périmètre, pas à la "
                          "population ni au linéaire de voirie.")
    return report


def _comparison_row(
    code: str, name: str, geom: BaseGeometry, codes: pd.Series, rec: Any, hot: gpd.GeoDataFrame | None, *,
    months: int,
) -> dict[str, Any]:
    """One quartier's row of the territory comparison (hot bins None when Gi* was not computed)."""
    n = int((codes == code).sum())
    q = rec.quartiers[rec.quartiers["quartier"] == code]
    hot_bins = None
    if hot is not None:
        inside_bins = hot[shapely.contains_xy(geom, hot["x"].to_numpy(), hot["y"].to_numpy())]
        hot_bins = int((inside_bins["gi_bin"] > 0).sum())
    return {
        "Quartier": code,
        "Nom": name,
        "Surface (km²)": geom.area / 1e6,
        "Événements": n,
        "Par km² et par mois": n / (geom.area / 1e6) / months,
        "Mailles en point chaud": hot_bins,
        "Sites récurrents": int(q["recurrent_sites"].iloc[0]) if len(q) else 0,
        "Part de sites récurrents": float(q["recurrent_share"].iloc[0]) if len(q) and n else None,
    }

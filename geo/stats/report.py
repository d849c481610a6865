"""Quartier and territory reports (HTML and PDF) from the analyses of this package.

:func:`build_quartier_report` runs the hotspot, emerging hotspot, recurrence,
indicator and (when cameras are given) CCTV coverage analyses for one quartier and a
period, draws static maps offline with matplotlib on the territory's own layers
(perimeters, streets, buildings), and returns a :class:`Report` whose
:meth:`Report.write_html` / :meth:`Report.write_pdf` produce the documents.
:func:`build_territory_report` compares the quartiers.

matplotlib and WeasyPrint are optional (extra ``reports``) and imported lazily.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import to_territory_crs
from geo.errors import AnalysisError
from geo.stats.binning import count_in_bins, make_bins
from geo.stats.coverage import cctv_coverage
from geo.stats.emerging import EmergingHotspots, emerging_hotspots, space_time_cube
from geo.stats.hotspots import GridOptions, getis_ord, hotspots, kernel_density
from geo.stats.indicators import (
    assign_quartier,
    diagnostics_per_year,
    dumping_indicators,
    dysfunctions,
    treatment_delays,
)
from geo.stats.recurrence import RecurrenceOptions, recurrence

logger = logging.getLogger(__name__)

__all__ = ["Report", "ReportFigure", "build_quartier_report", "build_territory_report"]

_INSTALL_HINT = "Installer l'extra « reports » : pip install 'qpv-observatoire[reports]'."
_HOT_COLOURS = {3: "#b2182b", 2: "#ef8a62", 1: "#fddbc7", -1: "#d1e5f0", -2: "#67a9cf", -3: "#2166ac"}


def _pyplot() -> Any:
    """Import matplotlib with the non-interactive backend, or explain how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise AnalysisError(f"matplotlib est nécessaire pour les rapports. {_INSTALL_HINT}") from exc
    return plt


@dataclass
class ReportFigure:
    """One figure of a report: a PNG image and its caption."""

    name: str
    title: str
    png: bytes

    def data_uri(self) -> str:
        """The image as a ``data:`` URI for self-contained HTML."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Report:
    """A report: key figures, figures, tables and a method note, rendered to HTML / PDF.

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
        Maps and charts.
    tables : dict
        Caption → DataFrame.
    method : dict
        Parameter → value, for the method note.
    caveats : list of str
        Limits of the analyses.
    results : dict
        The underlying analysis results (hotspots, emerging, recurrence, coverage…).
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

    def to_html(self) -> str:
        """Render the report as a self-contained HTML page (French)."""
        return _render(self)

    def write_html(self, path: str | Path) -> Path:
        """Write the HTML page to ``path`` and return it."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_html(), encoding="utf-8")
        return out

    def write_pdf(self, path: str | Path) -> Path:
        """Write the PDF (WeasyPrint) to ``path`` and return it.

        Raises
        ------
        AnalysisError
            When WeasyPrint is not installed.
        """
        try:
            from weasyprint import HTML
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise AnalysisError(f"WeasyPrint est nécessaire pour le PDF. {_INSTALL_HINT}") from exc
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        HTML(string=self.to_html()).write_pdf(str(out))
        return out


def _fmt(value: Any) -> str:
    """French display of a value."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, bool | np.bool_):
        return "oui" if value else "non"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}".replace(",", "\u202f")
    if isinstance(value, float | np.floating):
        number = float(value)
        if 0 < abs(number) < 1:
            return f"{number:.3g}".replace(".", ",")
        return f"{number:,.1f}".replace(",", "\u202f").replace(".", ",")
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _table_html(df: pd.DataFrame, max_rows: int = 25) -> str:
    """A DataFrame as an HTML table (escaped, French numbers)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for r in df.head(max_rows).itertuples(index=False, name=None):
        rows.append("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>")
    more = f"<p class='note'>{len(df) - max_rows} lignes non affichées.</p>" if len(df) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


_CSS = """
@page { size: A4; margin: 15mm;
  @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9.5pt; color: #222; }
h1 { font-size: 16pt; color: #1d3557; } h2 { font-size: 12pt; color: #1d3557; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 8.5pt; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: left; } th { background: #eef2f7; }
.kf { display: inline-block; width: 30%; margin: 4px; padding: 6px; background: #f4f6f9;
  vertical-align: top; }
.kf b { display: block; font-size: 13pt; } figure { margin: 8px 0; page-break-inside: avoid; }
figure img { max-width: 100%; } figcaption, .note { font-size: 8pt; color: #555; }
.simule { color: #b00; font-weight: bold; }
"""


def _render(report: Report) -> str:
    """HTML of a report."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'>",
        f"<title>{esc(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(report.title)}</h1>",
        f"<p>Période : du {_fmt(report.period[0])} au {_fmt(report.period[1])}. "
        f"Produit le {datetime.now().strftime('%d/%m/%Y')}.</p>",
    ]
    if report.simulated:
        parts.append("<p class='simule'>Attention : ce rapport contient des données simulées.</p>")
    parts.append("<h2>Chiffres clés</h2><div>")
    for label, value in report.key_figures.items():
        shown = _fmt(value)
        if label.startswith("Part") and isinstance(value, float | np.floating) and np.isfinite(value):
            shown = f"{value:.1%}".replace(".", ",")
        parts.append(f"<div class='kf'>{esc(label)}<b>{esc(shown)}</b></div>")
    parts.append("</div>")
    for fig in report.figures:
        parts.append(f"<h2>{esc(fig.title)}</h2><figure><img src='{fig.data_uri()}' alt='{esc(fig.title)}'>"
                     f"<figcaption>{esc(fig.title)}</figcaption></figure>")
    for caption, table in report.tables.items():
        parts.append(f"<h2>{esc(caption)}</h2>{_table_html(table)}")
    parts.append("<h2>Note de méthode</h2><table><tbody>")
    for key, value in report.method.items():
        parts.append(f"<tr><th>{esc(key)}</th><td>{esc(_fmt(value))}</td></tr>")
    parts.append("</tbody></table><h3>Limites</h3><ul>")
    parts.extend(f"<li>{esc(c)}</li>" for c in report.caveats)
    parts.append("</ul></body></html>")
    return "".join(parts)


def _png(fig: Any) -> bytes:
    """Render and close a matplotlib figure."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _background(ax: Any, zone: Any, layers: dict[str, gpd.GeoDataFrame | None]) -> None:
    """Draw buildings, streets and the perimeter clipped to the map window."""
    x0, y0, x1, y1 = zone.bounds
    window = shapely.box(x0, y0, x1, y1)
    b = layers.get("buildings")
    if b is not None and len(b):
        bb = to_territory_crs(b)
        bb = bb[bb.intersects(window)]
        if len(bb):
            bb.plot(ax=ax, color="#d9d9d9", linewidth=0)
    s = layers.get("streets")
    if s is not None and len(s):
        ss = to_territory_crs(s)
        ss = ss[ss.intersects(window)]
        if len(ss):
            ss.plot(ax=ax, color="#9e9e9e", linewidth=0.5)
    p = layers.get("perimeters")
    if p is not None and len(p):
        to_territory_crs(p).boundary.plot(ax=ax, color="#1d3557", linewidth=1.2)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _hotspot_map(
    hot: gpd.GeoDataFrame, pts: np.ndarray, zone: Any, layers: dict[str, Any], title: str
) -> bytes:
    """Map of the Gi* classes with the events on top."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    _background(ax, zone, layers)
    hot.boundary.plot(ax=ax, color="#cccccc", linewidth=0.3)
    for level, colour in _HOT_COLOURS.items():
        sel = hot[hot["gi_bin"] == level]
        if len(sel):
            sel.plot(ax=ax, color=colour, alpha=0.75, edgecolor="white", linewidth=0.3)
    if len(pts):
        ax.scatter(pts[:, 0], pts[:, 1], s=4, c="#222", alpha=0.6)
    ax.set_title(title, fontsize=10)
    return _png(fig)


_PATTERN_COLOURS = {
    "new": "#fdae61", "consecutive": "#f46d43", "intensifying": "#a50026", "persistent": "#d73027",
    "diminishing": "#fee090", "sporadic": "#f4a582", "oscillating": "#c51b7d", "historical": "#8c510a",
}


def _emerging_map(ehsa: EmergingHotspots, zone: Any, layers: dict[str, Any]) -> bytes:
    """Map of the emerging hot spot patterns (cold patterns in blues)."""
    plt = _pyplot()
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(7, 6))
    _background(ax, zone, layers)
    bins = ehsa.bins
    bins.boundary.plot(ax=ax, color="#cccccc", linewidth=0.3)
    handles = []
    for pattern in sorted(set(bins["pattern"]) - {"no pattern"}):
        kind, side = pattern.split(" ", 1)
        colour = _PATTERN_COLOURS.get(kind, "#999999") if side == "hot spot" else "#4575b4"
        sel = bins[bins["pattern"] == pattern]
        sel.plot(ax=ax, color=colour, alpha=0.8, edgecolor="white", linewidth=0.3)
        handles.append(Patch(color=colour, label=str(sel["pattern_fr"].iloc[0])))
    if handles:
        ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.8)
    ax.set_title("Points chauds émergents (Gi* mensuel et tendance de Mann–Kendall)", fontsize=10)
    return _png(fig)


def _density_map(pts: gpd.GeoDataFrame, zone: Any, layers: dict[str, Any], bandwidth: float | None) -> bytes:
    """Kernel density map (display only)."""
    plt = _pyplot()
    kd = kernel_density(pts, bounds=zone.bounds, bandwidth=bandwidth)
    fig, ax = plt.subplots(figsize=(7, 6))
    img = ax.imshow(np.ma.masked_less_equal(kd.density, kd.density.max() * 0.02), origin="lower",
                    extent=kd.extent, cmap="magma_r", alpha=0.8)
    _background(ax, zone, layers)
    fig.colorbar(img, ax=ax, shrink=0.7, label="événements par km²")
    ax.set_title(f"Densité de noyau (rayon {kd.bandwidth:.0f} m)", fontsize=10)
    return _png(fig)


def _monthly_chart(monthly: pd.DataFrame) -> bytes:
    """Bar chart of events per month."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.8))
    labels = [str(p) for p in monthly["period"]]
    ax.bar(labels, monthly["events"].to_numpy(), color="#457b9d")
    ax.set_ylabel("événements")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    return _png(fig)


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
    start: Any = None,
    end: Any = None,
    time_field: str = "observed_at",
    code_field: str = "code",
    name_field: str = "name",
    margin: float = 200.0,
    bin_size: float | None = None,
    fdr: bool = True,
    recurrence_radius: float = 25.0,
    cleaned_field: str | None = "cleaned_at",
    volume_field: str | None = "volume_m3",
    streets: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    cameras: gpd.GeoDataFrame | None = None,
    camera_range: float = 50.0,
    observations: gpd.GeoDataFrame | None = None,
    simulated: bool = False,
    label: str = "dépôts sauvages",
) -> Report:
    """Analyse one quartier over a period and assemble its report.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dumping events (or any dated point layer), any CRS.
    perimeters : geopandas.GeoDataFrame
        Quartier perimeters (repaired), with ``code_field`` and ``name_field``.
    code : str
        The quartier reported on.
    start, end : date-like, optional
        Period (the events' range by default).
    time_field, code_field, name_field : str
        Column names.
    margin : float
        Margin in metres around the perimeter for the hotspot grid.
    bin_size : float, optional
        Bin size; automatic rule otherwise (:func:`geo.stats.binning.auto_bin_size`).
    fdr : bool
        False discovery rate correction (on by default).
    recurrence_radius : float
        Repeat distance of the recurrence analysis.
    cleaned_field, volume_field : str, optional
        Clean-up date and volume columns, when the events have them.
    streets, buildings : geopandas.GeoDataFrame, optional
        Map background (and building occlusion of the camera views).
    cameras : geopandas.GeoDataFrame, optional
        CCTV sites; adds the coverage section.
    camera_range : float
        Default camera range in metres.
    observations : geopandas.GeoDataFrame, optional
        Observations (``observed_at``, ``resolved_at``, ``status``, ``walk_id``,
        ``source``) for the indicators of the fiches actions: délai de traitement,
        diagnostics per year, dysfonctionnements identified and treated.
    simulated : bool
        The events are simulated or resampled (printed on the report).
    label : str
        What the events are, in French (« dépôts sauvages »).

    Returns
    -------
    Report
        Figures, tables and results; call ``write_html`` / ``write_pdf``.

    Raises
    ------
    AnalysisError
        When the quartier is unknown or has too few events.
    """
    per = to_territory_crs(perimeters)
    if code_field not in per.columns:
        raise AnalysisError(f"Colonne « {code_field} » absente des périmètres.")
    row = per[per[code_field].astype(str) == str(code)]
    if row.empty:
        raise AnalysisError(f"Quartier « {code} » introuvable dans les périmètres.")
    name = str(row[name_field].iloc[0]) if name_field in row.columns else str(code)
    geom = shapely.union_all(row.geometry.to_numpy())
    zone = geom.buffer(margin)
    ev, t0, t1 = _filter_period(events, time_field, start, end)
    ev = to_territory_crs(ev)
    near = ev[ev.intersects(zone)]
    inside_mask = assign_quartier(near, row[[code_field, row.geometry.name]], code_field=code_field).notna()
    inside = near[inside_mask.to_numpy()]
    if len(near) < 3:
        raise AnalysisError(f"Trop peu d'événements ({len(near)}) autour du quartier « {code} ».")
    layers = {"perimeters": row, "streets": streets, "buildings": buildings}
    grid = make_bins(near, area=geom, margin=margin, size=bin_size)
    hot = getis_ord(count_in_bins(grid, ev), fdr=fdr)  # every event in the cells, not only the margin
    hot_in = hot[shapely.contains_xy(geom, hot["x"].to_numpy(), hot["y"].to_numpy())]
    xy = np.column_stack([near.geometry.x.to_numpy(), near.geometry.y.to_numpy()])
    report = Report(title=f"Analyse des {label} — {name} ({code})", period=(t0, t1), simulated=simulated)
    report.results["hotspots"] = hot
    report.figures.append(ReportFigure(
        "hotspots", "Points chauds et froids (Gi*, mailles hexagonales)",
        _hotspot_map(hot, xy, zone, layers, f"Gi* — mailles de {hot.attrs['bin_size']:.0f} m"),
    ))
    report.figures.append(ReportFigure("densite", "Densité des événements (affichage)",
                                       _density_map(near, zone, layers, None)))
    monthly = dumping_indicators(inside, row, time_field=time_field, volume_field=volume_field,
                                 code_field=code_field)
    monthly = monthly[monthly["quartier"] == str(code)].set_index("period")
    months = pd.period_range(t0.to_period("M"), t1.to_period("M"), freq="M")
    monthly = monthly.reindex(months).rename_axis("period").reset_index()  # months without events: 0
    monthly["quartier"] = str(code)
    monthly["events"] = monthly["events"].fillna(0).astype(int)
    monthly["volume_known"] = monthly["volume_known"].fillna(0).astype(int)
    monthly = monthly[["quartier", "period", "events", "volume_m3", "volume_known"]]
    if len(monthly):
        report.figures.append(ReportFigure("mensuel", "Événements par mois dans le quartier",
                                           _monthly_chart(monthly)))
    monthly_caption = "Indicateurs mensuels (fiche action : volume de dépôts recensés par mois)"
    report.tables[monthly_caption] = monthly.rename(
        columns={"quartier": "Quartier", "period": "Mois", "events": "Événements",
                 "volume_m3": "Volume (m³)", "volume_known": "Volumes connus"}
    )
    report.key_figures.update({
        "Événements dans le quartier": len(inside),
        "Événements dans le quartier et sa marge": len(near),
        "Mailles en point chaud (dans le quartier)": int((hot_in["gi_bin"] > 0).sum()),
        "Mailles en point froid (dans le quartier)": int((hot_in["gi_bin"] < 0).sum()),
    })
    ehsa: EmergingHotspots | None = None
    partial_last = t1.to_period("M").end_time.normalize() > t1.normalize()
    ehsa_end = (t1.to_period("M") - 1) if partial_last else t1.to_period("M")
    try:
        cube = space_time_cube(near, time_field=time_field, area=geom,
                               grid=GridOptions(size=hot.attrs["bin_size"], margin=margin),
                               start=t0, end=ehsa_end)
        ehsa = emerging_hotspots(cube, fdr=fdr)
    except AnalysisError as exc:
        report.caveats.append(f"Points chauds émergents non calculés : {exc}")
    if ehsa is not None:
        report.results["emerging"] = ehsa
        report.figures.append(
            ReportFigure("emergents", "Points chauds émergents", _emerging_map(ehsa, zone, layers))
        )
        counts = ehsa.pattern_counts()
        report.tables["Points chauds émergents (mailles par tendance)"] = (
            counts[counts > 0].rename_axis("Tendance").reset_index()
        )
    if cleaned_field is not None and cleaned_field in ev.columns:
        cleaned: str | None = cleaned_field
    else:
        cleaned = None
    rec = recurrence(near, options=RecurrenceOptions(radius=recurrence_radius, time_field=time_field,
                                                     cleaned_field=cleaned),
                     perimeters=row, code_field=code_field, start=t0, end=t1)
    report.results["recurrence"] = rec
    sites_in = rec.sites[rec.sites["quartier"] == str(code)]
    report.key_figures.update({
        f"Sites de dépôt (regroupés à {recurrence_radius:.0f} m)": len(sites_in),
        "Sites récurrents (≥ 2 événements)": int((sites_in["n_events"] >= 2).sum()),
        "Sites persistants malgré les enlèvements": int(sites_in["persistent"].sum()),
    })
    top = sites_in.sort_values("n_events", ascending=False).head(10)
    report.tables["Sites les plus récurrents"] = pd.DataFrame({
        "Site": top["site"], "Événements": top["n_events"], "Premier": top["first"], "Dernier": top["last"],
        "Par 30 jours": top["rate_per_30d"], "Jours médians avant retour": top["median_days_to_reoccur"],
        "Persistant": top["persistent"],
    })
    if cleaned is not None:
        delays = treatment_delays(
            inside, row, start_field=time_field, end_field=cleaned, code_field=code_field
        )
        report.results["delays"] = delays
        days = (pd.to_datetime(inside[cleaned], errors="coerce", utc=True)
                - pd.to_datetime(inside[time_field], errors="coerce", utc=True)).dt.total_seconds() / 86400
        days = days[days >= 0]
        report.key_figures["Délai médian d'enlèvement (jours)"] = float(days.median()) if len(days) else None
        report.key_figures["Délai d'enlèvement, 90e centile (jours)"] = (
            float(days.quantile(0.9)) if len(days) else None
        )
    if cameras is not None and len(cameras):
        cov = cctv_coverage(inside if len(inside) else near, cameras, hotspots=hot_in, buildings=buildings,
                            range_m=camera_range)
        report.results["cctv"] = cov
        report.key_figures["Part des événements vus par une caméra"] = cov.share_events_seen
        report.key_figures["Part de la surface en point chaud vue"] = cov.share_hotspot_area_seen
        if cov.uncovered is not None and len(cov.uncovered):
            u = cov.uncovered
            report.tables["Points chauds non couverts par la vidéoprotection"] = pd.DataFrame({
                "Maille": u["bin_id"], "Événements": u["count"], "z Gi*": u["gi_z"],
                "Part vue": u["seen_share"],
            })
    if observations is not None and len(observations):
        _observation_indicators(
            report, observations, row, code=str(code), code_field=code_field, t0=t0, t1=t1
        )
    report.method.update({
        "Projection": "RGF93 / Lambert-93 (EPSG:2154)",
        "Mailles": f"hexagones de {hot.attrs['bin_size']:.0f} m"
                   + (" (taille automatique)" if bin_size is None else " (taille imposée)"),
        "Marge autour du périmètre (m)": margin,
        "Voisinage Gi*": "premier anneau de mailles, maille incluse (Gi*)",
        "Correction des tests multiples": (
            "taux de fausses découvertes (Benjamini–Hochberg)" if fdr else "aucune"
        ),
        "Seuil de significativité": 0.05,
        "Pas de temps (émergents)": "mois, voisinage temporel 1 mois",
        "Tendance": "test de Mann–Kendall sur les z de Gi*, seuil 0,05",
        "Rayon de regroupement des sites (m)": recurrence_radius,
        "Portée des caméras (m)": camera_range if cameras is not None else None,
    })
    report.caveats.extend([
        "Les mailles sans aucun événement sur la période sont exclues de l'analyse des points chauds "
        "émergents, comme dans ArcGIS Pro.",
        "Un point chaud signale une concentration de signalements, qui dépend aussi de la propension "
        "des habitants et des agents à signaler.",
        "La carte de densité sert à l'affichage ; seule l'analyse Gi* porte une inférence statistique.",
    ])
    if cleaned is None:
        report.caveats.append(
            "Aucune date d'enlèvement : chaque signalement est supposé traité le jour même ; "
            "le délai de retour est alors l'intervalle entre deux signalements."
        )
    if cameras is not None:
        report.caveats.append("Champ des caméras : disque de la portée indiquée (ou secteur si l'azimut et "
                              "l'angle sont connus), masqué par les bâtiments lorsqu'ils sont fournis.")
    if partial_last:
        report.caveats.append(f"Le dernier mois ({t1:%m/%Y}) est incomplet : il est exclu de l'analyse des "
                              "points chauds émergents et pèse sur la dernière barre du graphique mensuel.")
    return report


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
    diag = diagnostics_per_year(inside, row, code_field=code_field)
    diag = diag[diag["quartier"] == code]
    report.tables["Diagnostics en marchant par an"] = pd.DataFrame({
        "Année": diag["year"], "Diagnostics": diag["diagnostics"], "Constats": diag["observations"],
    })


def build_territory_report(
    events: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame,
    *,
    start: Any = None,
    end: Any = None,
    time_field: str = "observed_at",
    code_field: str = "code",
    name_field: str = "name",
    margin: float = 200.0,
    bin_size: float | None = None,
    recurrence_radius: float = 25.0,
    simulated: bool = False,
    title: str = "Comparaison des quartiers",
) -> Report:
    """Compare the quartiers of a territory over a period.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dated events, any CRS.
    perimeters : geopandas.GeoDataFrame
        Quartier perimeters.
    start, end, time_field, code_field, name_field, margin, bin_size, recurrence_radius : optional
        As in :func:`build_quartier_report`.
    simulated : bool
        The events are simulated or resampled.
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
    plt = _pyplot()
    ev, t0, t1 = _filter_period(events, time_field, start, end)
    ev = to_territory_crs(ev)
    per = to_territory_crs(perimeters)
    codes = assign_quartier(ev, per, code_field=code_field)
    rec = recurrence(ev, options=RecurrenceOptions(radius=recurrence_radius, time_field=time_field,
                                                   cleaned_field=None),
                     perimeters=per, code_field=code_field, start=t0, end=t1)
    hot = hotspots(ev, grid=GridOptions(size=bin_size))
    months = max(len(pd.period_range(t0, t1, freq="M")), 1)
    rows = []
    for code_value, geom in zip(per[code_field].astype(str), per.geometry, strict=True):
        n = int((codes == code_value).sum())
        q = rec.quartiers[rec.quartiers["quartier"] == code_value]
        inside_bins = hot[shapely.contains_xy(geom, hot["x"].to_numpy(), hot["y"].to_numpy())]
        rows.append({
            "Quartier": code_value,
            "Nom": str(per.loc[per[code_field].astype(str) == code_value, name_field].iloc[0])
            if name_field in per.columns else code_value,
            "Surface (km²)": geom.area / 1e6,
            "Événements": n,
            "Par km² et par mois": n / (geom.area / 1e6) / months,
            "Mailles en point chaud": int((inside_bins["gi_bin"] > 0).sum()),
            "Sites récurrents": int(q["recurrent_sites"].iloc[0]) if len(q) else 0,
            "Part de sites récurrents": float(q["recurrent_share"].iloc[0]) if len(q) else None,
        })
    table = pd.DataFrame(rows)
    report = Report(title=title, period=(t0, t1), simulated=simulated)
    report.results.update({"hotspots": hot, "recurrence": rec, "quartier_of_event": codes})
    report.key_figures.update({
        "Événements sur le territoire": len(ev),
        "Dont dans un quartier": int(codes.notna().sum()),
        "Mailles en point chaud (territoire)": int((hot["gi_bin"] > 0).sum()),
    })
    fig, ax = plt.subplots(figsize=(7, 2.8))
    ax.bar(table["Quartier"], table["Par km² et par mois"], color="#457b9d")
    ax.set_ylabel("événements / km² / mois")
    report.figures.append(
        ReportFigure("comparaison", "Densité mensuelle des événements par quartier", _png(fig))
    )
    xy = np.column_stack([ev.geometry.x.to_numpy(), ev.geometry.y.to_numpy()])
    zone = shapely.box(*hot.total_bounds)
    report.figures.append(ReportFigure(
        "hotspots", "Points chauds sur l'ensemble du territoire (Gi*)",
        _hotspot_map(hot, xy, zone, {"perimeters": per}, f"Gi* — mailles de {hot.attrs['bin_size']:.0f} m"),
    ))
    report.tables["Comparaison des quartiers"] = table
    report.method.update({
        "Projection": "RGF93 / Lambert-93 (EPSG:2154)",
        "Mailles": f"hexagones de {hot.attrs['bin_size']:.0f} m",
        "Correction des tests multiples": "taux de fausses découvertes (Benjamini–Hochberg)",
        "Rayon de regroupement des sites (m)": recurrence_radius,
        "Marge (m)": margin,
    })
    report.caveats.append("Les densités rapportent les événements à la surface du périmètre, pas à la "
                          "population ni au linéaire de voirie.")
    return report

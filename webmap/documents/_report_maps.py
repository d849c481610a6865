"""The figures of a report drawn for print: maps with legend, scale bar, north arrow and context.

:func:`draw_figure` draws one :class:`~geo.stats.report.ReportFigure` and returns what it
drew as data (:class:`DrawnFigure`: the Matplotlib figure, legend entries, scale bars,
the background used) together with its « Comment lire » caption, so that the tests check
the legend and the scale rather than a picture.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from geo.stats.report import (
    BarChart,
    DensityMap,
    EmergingMap,
    HotspotMap,
    MapLayers,
    QuartierPanel,
    QuartierPanels,
    ReportFigure,
)
from webmap.documents import _deps
from webmap.documents._map_captions import (
    bar_caption,
    density_caption,
    emerging_caption,
    gi_caption,
    panels_caption,
)
from webmap.documents._map_furniture import (
    EVENT_COLOUR,
    GI_COLOURS,
    MASK_HATCH,
    OUTLINE_COLOUR,
    DrawnLegend,
    LegendEntry,
    ScaleBar,
    add_legend,
    add_north_arrow,
    add_scale_bar,
    context_entries,
    draw_context,
    draw_outline,
    emerging_entries,
    frame_map,
    gi_entries,
    masked,
    pattern_colour,
)
from webmap.errors import DocumentError

logger = logging.getLogger(__name__)

#: printable width of every figure, inches (A4 minus 15 mm margins is 7.1 in)
PAGE_WIDTH_IN = 7.0
#: the map's share of the figure width; the legend takes the rest, on the right
MAP_SHARE = 0.68
#: small multiples: columns and panels per image (one image per printed page at most)
PANEL_COLUMNS = 3
PANELS_PER_IMAGE = 9
#: resolution of the PNG figures
DPI = 110


@dataclass(frozen=True)
class DrawnFigure:
    """A figure as drawn: Matplotlib figure, legend, scale bars, background and caption."""

    figure: Any
    caption: str
    legend: DrawnLegend | None = None
    scales: tuple[ScaleBar, ...] = ()
    context: str = "aucun"


def draw_figure(figure: ReportFigure) -> DrawnFigure:
    """Draw one report figure (not yet saved; :func:`to_png` saves and closes it).

    Raises
    ------
    MissingDependencyError
        When Matplotlib is not installed.
    DocumentError
        On a figure of an unknown kind.
    """
    if isinstance(figure, HotspotMap):
        return _hotspot_map(figure)
    if isinstance(figure, DensityMap):
        return _density_map(figure)
    if isinstance(figure, EmergingMap):
        return _emerging_map(figure)
    if isinstance(figure, QuartierPanels):
        return _panels(figure)
    if isinstance(figure, BarChart):
        return _bar_chart(figure)
    raise DocumentError(f"Figure « {figure.name} » d'un type inconnu ({type(figure).__name__}).")


def to_png(drawn: DrawnFigure) -> bytes:
    """Save a drawn figure as PNG at its own size (never wider than the page) and close it."""
    buf = io.BytesIO()
    drawn.figure.savefig(buf, format="png", dpi=DPI)
    _deps.pyplot().close(drawn.figure)
    return buf.getvalue()


def to_svg(drawn: DrawnFigure, *, close: bool = True) -> bytes:
    """Save a drawn figure as SVG with its text as text (searchable in the PDF); close it unless told not."""
    buf = io.BytesIO()
    with _deps.matplotlib().rc_context({"svg.fonttype": "none"}):
        drawn.figure.savefig(buf, format="svg")
    if close:
        _deps.pyplot().close(drawn.figure)
    return buf.getvalue()


Bounds = tuple[float, float, float, float]


def _map_axes(bounds: Bounds) -> tuple[Any, Any, Bounds]:
    """Make a page-wide figure whose left part holds a map; the window grown to fill it.

    The window keeps its centre and grows (never shrinks) to the shape of the map's
    axes, so that a long quartier is drawn with its surroundings instead of white bands.
    """
    plt = _deps.pyplot()
    x0, y0, x1, y1 = bounds
    aspect = (y1 - y0) / max(x1 - x0, 1.0)
    map_w = PAGE_WIDTH_IN * MAP_SHARE
    height = min(max(map_w * aspect, 3.2), 7.5)
    fig = plt.figure(figsize=(PAGE_WIDTH_IN, height))
    box = (0.005, 0.01, MAP_SHARE - 0.01, 0.98)
    ax = fig.add_axes(box)
    target = (box[3] * height) / (box[2] * PAGE_WIDTH_IN)
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    w, h = max(w, h / target), max(h, w * target)
    return fig, ax, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _furniture(ax: Any, layers: MapLayers, bounds: Bounds) -> tuple[str, bool, ScaleBar]:
    """Draw background, outline, scale bar and north arrow of a map; return the background used."""
    context = draw_context(ax, layers, bounds)
    outline = draw_outline(ax, layers.perimeters)
    frame_map(ax, bounds)
    scale = add_scale_bar(ax, bounds)
    add_north_arrow(ax)
    return context, outline, scale


def _frame_entries(context: str, outline: bool, *, events: bool) -> list[LegendEntry]:
    """Return the legend lines of what is drawn besides the classes."""
    entries = [LegendEntry("Événements", EVENT_COLOUR, "point")] if events else []
    if outline:
        entries.append(LegendEntry("Contour du quartier", OUTLINE_COLOUR, "line"))
    return [*entries, *context_entries(context)]


def _gi_cells(ax: Any, bins: Any) -> bool:
    """Fill the Gi* cells by class, hatch the masked ones; tell whether some were masked."""
    levels = bins["gi_bin"].to_numpy()
    for level, colour in GI_COLOURS.items():
        sel = bins[levels == level]
        if len(sel):
            sel.plot(ax=ax, color=colour, alpha=0.45 if level == 0 else 0.8, edgecolor="#bdbdbd",
                     linewidth=0.3, zorder=3)
    out = masked(bins)
    if out.any():
        bins[out].plot(ax=ax, facecolor="none", edgecolor="#666666", hatch=MASK_HATCH, linewidth=0.3,
                       zorder=4)
    return bool(out.any())


def _hotspot_map(figure: HotspotMap) -> DrawnFigure:
    """Gi* classes of the cells, events on top, with every class in the legend."""
    fig, ax, bounds = _map_axes(figure.layers.window.bounds)
    context, outline, scale = _furniture(ax, figure.layers, bounds)
    hatched = _gi_cells(ax, figure.bins)
    pts = figure.points
    if len(pts):
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c=EVENT_COLOUR, alpha=0.6, linewidths=0, zorder=5)
    entries = [*gi_entries(), *_frame_entries(context, outline, events=bool(len(pts)))]
    if hatched:
        entries.append(LegendEntry("Hors de la zone couverte par la source", "#666666", "hatch"))
    legend = add_legend(ax, entries, title="Classes Gi* (confiance)")
    size = float(figure.bins.attrs.get("bin_size", math.nan))
    return DrawnFigure(fig, gi_caption(size, context, hatched=hatched), legend, (scale,), context)


def _emerging_map(figure: EmergingMap) -> DrawnFigure:
    """Emerging patterns of the cells, every pattern present in the legend (labels from the data)."""
    fig, ax, bounds = _map_axes(figure.layers.window.bounds)
    context, outline, scale = _furniture(ax, figure.layers, bounds)
    bins = figure.emerging.bins
    bins.plot(ax=ax, facecolor="none", edgecolor="#bdbdbd", linewidth=0.3, zorder=3)
    for pattern in sorted(set(bins["pattern"]) - {"no pattern"}):
        bins[bins["pattern"] == pattern].plot(ax=ax, color=pattern_colour(pattern), alpha=0.85,
                                              edgecolor="white", linewidth=0.3, zorder=4)
    entries = [*emerging_entries(bins), *_frame_entries(context, outline, events=False)]
    legend = add_legend(ax, entries, title="Tendance des mailles")
    size = float(bins.attrs.get("bin_size", math.nan))
    months = len(figure.emerging.periods)
    return DrawnFigure(fig, emerging_caption(size, months, context), legend, (scale,), context)


def _density_map(figure: DensityMap) -> DrawnFigure:
    """Kernel density (display only), its colour ramp as the legend."""
    fig, ax, bounds = _map_axes(figure.layers.window.bounds)
    kd = figure.density
    img = ax.imshow(np.ma.masked_less_equal(kd.density, kd.density.max() * 0.02), origin="lower",
                    extent=kd.extent, cmap="magma_r", alpha=0.75, zorder=3)
    context, outline, scale = _furniture(ax, figure.layers, bounds)
    cax = fig.add_axes((MAP_SHARE + 0.03, 0.45, 0.025, 0.45))
    fig.colorbar(img, cax=cax, label="événements par km²")
    legend = add_legend(ax, _frame_entries(context, outline, events=False), title="Repères",
                        anchor=(1.01, 0.38))
    return DrawnFigure(fig, density_caption(kd.bandwidth, context), legend, (scale,), context)


def _panel_axes(n: int) -> tuple[Any, list[Any]]:
    """Make a page-wide grid of ``n`` square map panels, a title band above each, legend on the right."""
    plt = _deps.pyplot()
    cols = min(PANEL_COLUMNS, n)
    rows = math.ceil(n / cols)
    side = PAGE_WIDTH_IN * 0.76 / cols
    title_h = 0.45  # inches above each panel for its title (two lines, three with a note)
    height = rows * (side + title_h)
    fig = plt.figure(figsize=(PAGE_WIDTH_IN, height))
    axes = []
    for i in range(n):
        r, c = divmod(i, cols)
        bottom = height - (r + 1) * (side + title_h)
        axes.append(fig.add_axes((c * side / PAGE_WIDTH_IN + 0.005, bottom / height,
                                  (side - 0.08) / PAGE_WIDTH_IN, (side - 0.08) / height)))
    return fig, axes


def _one_panel(ax: Any, panel: QuartierPanel, margin: float) -> ScaleBar:
    """One quartier: its Gi* cells (or a note), events, outline, scale bar and north arrow."""
    x0, y0, x1, y1 = panel.outline.buffer(margin).bounds
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bounds = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    if panel.bins is not None:
        _gi_cells(ax, panel.bins)
    if len(panel.points):
        ax.scatter(panel.points[:, 0], panel.points[:, 1], s=2, c=EVENT_COLOUR, alpha=0.6, linewidths=0,
                   zorder=5)
    ax.plot(*_outline_xy(panel.outline), color=OUTLINE_COLOUR, linewidth=1.0, zorder=6)
    frame_map(ax, bounds)
    inside = int(shapely.contains_xy(panel.outline, panel.points[:, 0], panel.points[:, 1]).sum()) \
        if len(panel.points) else 0
    title = f"{panel.name} ({panel.code})\n{inside} événement{'s' if inside > 1 else ''} dans le quartier"
    ax.set_title(title + (f"\n{panel.note}" if panel.note else ""), fontsize=6.5, pad=2)
    scale = add_scale_bar(ax, bounds, fontsize=5.5)
    add_north_arrow(ax, size=0.1)
    return scale


def _outline_xy(geom: Any) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of every ring of a (multi)polygon, NaN-separated, for one ``plot`` call."""
    parts = []
    for ring in shapely.get_parts(shapely.boundary(geom)):
        xy = shapely.get_coordinates(ring)
        parts.extend([xy, np.array([[np.nan, np.nan]])])
    xy = np.concatenate(parts) if parts else np.empty((0, 2))
    return xy[:, 0], xy[:, 1]


def _panels(figure: QuartierPanels) -> DrawnFigure:
    """Small multiples: one map per quartier at its own scale, one shared Gi* legend."""
    if not figure.panels:
        raise DocumentError(f"Figure « {figure.name} » sans quartier à dessiner.")
    fig, axes = _panel_axes(len(figure.panels))
    margin = _panel_margin(figure.panels)
    scales = tuple(_one_panel(ax, panel, margin) for ax, panel in zip(axes, figure.panels, strict=True))
    entries = [*gi_entries(), LegendEntry("Événements", EVENT_COLOUR, "point"),
               LegendEntry("Contour du quartier", OUTLINE_COLOUR, "line")]
    legend = add_legend(axes[min(PANEL_COLUMNS, len(axes)) - 1], entries, title="Classes Gi* (confiance)")
    return DrawnFigure(fig, panels_caption(figure), legend, scales, "aucun")


def _panel_margin(panels: list[QuartierPanel]) -> float:
    """Return the margin drawn around each quartier: its Gi* grid's extent when known, else 200 m."""
    for panel in panels:
        if panel.bins is not None:
            x0, y0, x1, y1 = panel.bins.total_bounds
            ox0, oy0, ox1, oy1 = panel.outline.bounds
            return float(max(ox0 - x0, oy0 - y0, x1 - ox1, y1 - oy1, 100.0))
    return 200.0


def _bar_chart(figure: BarChart) -> DrawnFigure:
    """Bar chart: vertical (months), or horizontal with one readable line per quartier."""
    plt = _deps.pyplot()
    if figure.horizontal:
        n = len(figure.labels)
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, max(1.6, 0.24 * n + 0.8)), layout="constrained")
        positions = np.arange(n)
        ax.barh(positions, figure.values, color="#457b9d")
        ax.set_yticks(positions, figure.labels, fontsize=7)
        ax.invert_yaxis()  # the first label (the highest value) on top
        ax.set_xlabel(figure.ylabel, fontsize=8)
        for y, v in zip(positions, figure.values, strict=True):
            if np.isfinite(v):
                ax.text(v, y, f" {v:.1f}".replace(".", ","), va="center", fontsize=6.5)
        ax.margins(x=0.12)
    else:
        fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 2.8), layout="constrained")
        ax.bar(figure.labels, figure.values, color="#457b9d")
        ax.set_ylabel(figure.ylabel)
        if figure.rotate_labels:
            ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return DrawnFigure(fig, bar_caption(figure))

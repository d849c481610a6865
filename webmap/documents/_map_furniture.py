"""What makes a report map readable on paper: legend, scale bar, north arrow, context, caption.

Every builder returns what it drew as data (legend entries and artists, the scale bar's
length in metres and its artists) so that tests check the map, not a picture of it.
The maps are in EPSG:2154 (metres, equal aspect): the scale bar is measured in data units.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import to_territory_crs
from geo.stats.report import MapLayers
from webmap.documents import _deps

logger = logging.getLogger(__name__)

#: Gi* confidence classes (``gi_bin``), their French label and the colour drawn, hot to cold.
GI_CLASSES: tuple[tuple[int, str, str], ...] = (
    (3, "Point chaud 99 %", "#b2182b"),
    (2, "Point chaud 95 %", "#ef8a62"),
    (1, "Point chaud 90 %", "#fddbc7"),
    (0, "Non significatif", "#f7f7f7"),
    (-1, "Point froid 90 %", "#d1e5f0"),
    (-2, "Point froid 95 %", "#67a9cf"),
    (-3, "Point froid 99 %", "#2166ac"),
)
GI_COLOURS = {level: colour for level, _, colour in GI_CLASSES}
GI_LABELS = {level: label for level, label, _ in GI_CLASSES}

#: Emerging hot spot kinds (first word of the English pattern) → colour of the hot variant.
PATTERN_COLOURS = {
    "new": "#fdae61", "consecutive": "#f46d43", "intensifying": "#a50026", "persistent": "#d73027",
    "diminishing": "#fee090", "sporadic": "#f4a582", "oscillating": "#c51b7d", "historical": "#8c510a",
}
#: cold variants of the emerging patterns, by kind
PATTERN_COLD_COLOURS = {
    "new": "#abd9e9", "consecutive": "#74add1", "intensifying": "#313695", "persistent": "#4575b4",
    "diminishing": "#e0f3f8", "sporadic": "#92c5de", "oscillating": "#8073ac", "historical": "#5e4fa2",
}
#: a pattern of an unknown kind (one a later analysis adds) still gets a colour of its side
OTHER_HOT, OTHER_COLD = "#e7298a", "#1b7837"

OUTLINE_COLOUR = "#1d3557"
EVENT_COLOUR = "#222222"
STREET_COLOUR = "#9e9e9e"
BUILDING_COLOUR = "#d9d9d9"
ADDRESS_COLOUR = "#a8a8a8"
#: the hatch of the cells outside the area a source can report on (part B's mask, when present)
MASK_HATCH = "////"


@dataclass(frozen=True)
class LegendEntry:
    """One line of a map legend: ``kind`` is ``patch`` (a filled class), ``point``, ``line`` or ``hatch``."""

    label: str
    colour: str
    kind: str = "patch"


@dataclass(frozen=True)
class DrawnLegend:
    """A legend as drawn: its entries and the Matplotlib legend artist."""

    entries: tuple[LegendEntry, ...]
    artist: Any


@dataclass(frozen=True)
class ScaleBar:
    """A scale bar as drawn: its length in metres, its label and its artists."""

    length_m: float
    label: str
    artists: tuple[Any, ...]


def gi_entries() -> list[LegendEntry]:
    """Legend entries of the Gi* classes, every class, hot to cold (the key does not change with the data)."""
    return [LegendEntry(label, colour) for _, label, colour in GI_CLASSES]


def pattern_colour(pattern: str) -> str:
    """Colour of an emerging pattern (« new hot spot », « persistent cold spot », …)."""
    kind = pattern.split(" ", 1)[0]
    if _cold(pattern):
        return PATTERN_COLD_COLOURS.get(kind, OTHER_COLD)
    return PATTERN_COLOURS.get(kind, OTHER_HOT)


def _cold(pattern: str) -> bool:
    """Tell whether an emerging pattern is a cold one (« … cold spot »; a former cold spot now hot is hot)."""
    return pattern.endswith("cold spot")


def emerging_entries(bins: pd.DataFrame) -> list[LegendEntry]:
    """Legend entries of the emerging patterns present in ``bins``, labels read from the data."""
    present = bins[bins["pattern"] != "no pattern"]
    labels = present.groupby("pattern", sort=True)["pattern_fr"].first()
    hot = [p for p in labels.index if not _cold(p)]
    cold = [p for p in labels.index if _cold(p)]
    entries = [LegendEntry(str(labels[p]), pattern_colour(p)) for p in (*hot, *cold)]
    return [*entries, LegendEntry("Aucune tendance", "#ffffff")]


def masked(bins: pd.DataFrame) -> np.ndarray:
    """Cells outside the area where the source can receive reports (part B's mask), when marked."""
    for column in ("masked", "masque", "outside_coverage"):
        if column in bins.columns:
            return bins[column].fillna(False).to_numpy(dtype=bool)
    return np.zeros(len(bins), dtype=bool)


def add_legend(ax: Any, entries: list[LegendEntry], *, title: str, loc: str = "upper left",
               anchor: tuple[float, float] = (1.01, 1.0)) -> DrawnLegend:
    """Draw ``entries`` as a legend beside the map (outside the axes, so that no cell is hidden)."""
    mpl = _deps.matplotlib()
    handles = []
    for entry in entries:
        if entry.kind == "point":
            handles.append(mpl.lines.Line2D([], [], marker="o", linestyle="", markersize=4,
                                            color=entry.colour, label=entry.label))
        elif entry.kind == "line":
            handles.append(mpl.lines.Line2D([], [], color=entry.colour, linewidth=1.5, label=entry.label))
        elif entry.kind == "hatch":
            handles.append(mpl.patches.Patch(facecolor="white", edgecolor=entry.colour, hatch=MASK_HATCH,
                                             label=entry.label))
        else:
            handles.append(mpl.patches.Patch(facecolor=entry.colour, edgecolor="#999999", linewidth=0.5,
                                             label=entry.label))
    legend = ax.legend(handles=handles, title=title, loc=loc, bbox_to_anchor=anchor, fontsize=7,
                       title_fontsize=7.5, frameon=False, alignment="left")
    return DrawnLegend(tuple(entries), legend)


def nice_length(span: float, *, fraction: float = 0.2) -> float:
    """Return the round length (1, 2 or 5 × 10^k m) nearest ``fraction`` of ``span``, at most 30 % of it."""
    target = max(span * fraction, 1.0)
    power = 10.0 ** math.floor(math.log10(target))
    candidates = [c for c in (power, 2 * power, 5 * power, 10 * power) if c <= max(span * 0.3, power)]
    return float(min(candidates, key=lambda c: abs(c - target)))


def length_label(metres: float) -> str:
    """« 250 m », « 1 km », « 1,5 km »."""
    if metres >= 1000:
        km = metres / 1000
        return (f"{km:.0f} km" if km == int(km) else f"{km:.1f} km").replace(".", ",")
    return f"{metres:.0f} m"


def add_scale_bar(ax: Any, bounds: tuple[float, float, float, float], *, fontsize: float = 7) -> ScaleBar:
    """Draw a two-tone scale bar in metres at the bottom left of a map in EPSG:2154."""
    x0, y0, x1, y1 = bounds
    length = nice_length(x1 - x0)
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.04
    height = (y1 - y0) * 0.012
    rect = _deps.matplotlib().patches.Rectangle
    half = length / 2
    first = ax.add_patch(rect((bx, by), half, height, facecolor="black", edgecolor="black", linewidth=0.6,
                              zorder=10))
    second = ax.add_patch(rect((bx + half, by), half, height, facecolor="white", edgecolor="black",
                               linewidth=0.6, zorder=10))
    label = length_label(length)
    text = ax.text(bx + length / 2, by + height * 1.8, label, ha="center", va="bottom", fontsize=fontsize,
                   zorder=10, bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 0.5})
    return ScaleBar(length, label, (first, second, text))


def add_north_arrow(ax: Any, *, size: float = 0.08) -> Any:
    """Draw a north arrow at the top right of the map (Lambert-93 grid north, within 3° of true north)."""
    return ax.annotate("N", xy=(0.95, 0.97), xytext=(0.95, 0.97 - size), xycoords="axes fraction",
                       textcoords="axes fraction", ha="center", va="top", fontsize=8, fontweight="bold",
                       arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.2},
                       zorder=11)


def _shown(frame: gpd.GeoDataFrame | None, window: Any) -> gpd.GeoDataFrame | None:
    """Return the rows of ``frame`` meeting ``window``, in EPSG:2154 (None when there are none)."""
    if frame is None or not len(frame):
        return None
    shown = to_territory_crs(frame)
    shown = shown[shown.intersects(window)]
    return shown if len(shown) else None


def draw_context(ax: Any, layers: MapLayers, bounds: tuple[float, float, float, float] | None = None) -> str:
    """Draw what situates the map under it, in order of preference, and tell what was drawn.

    Streets and buildings when the store has them around the window; otherwise the
    address points as a light street-like texture (Paris has the BAN but no street
    layer); otherwise nothing, and the caption says so (the project has no offline tile
    base map to fall back on).

    Returns
    -------
    str
        ``"voies"`` (streets and/or buildings), ``"adresses"`` or ``"aucun"``.
    """
    x0, y0, x1, y1 = bounds or layers.window.bounds
    window = shapely.box(x0, y0, x1, y1)
    buildings = _shown(layers.buildings, window)
    streets = _shown(layers.streets, window)
    if buildings is not None:
        buildings.plot(ax=ax, color=BUILDING_COLOUR, linewidth=0, zorder=1)
    if streets is not None:
        streets.plot(ax=ax, color=STREET_COLOUR, linewidth=0.5, zorder=1)
    if buildings is not None or streets is not None:
        return "voies"
    addresses = _shown(layers.addresses, window)
    if addresses is not None:
        xy = shapely.get_coordinates(addresses.geometry.to_numpy())
        ax.scatter(xy[:, 0], xy[:, 1], s=1.2, c=ADDRESS_COLOUR, linewidths=0, zorder=1, rasterized=True)
        return "adresses"
    return "aucun"


def context_entries(context: str) -> list[LegendEntry]:
    """Legend lines of the background actually drawn."""
    if context == "voies":
        return [LegendEntry("Voies et bâtiments", STREET_COLOUR, "line")]
    if context == "adresses":
        return [LegendEntry("Adresses (BAN), dessinent les rues", ADDRESS_COLOUR, "point")]
    return []


def context_sentence(context: str) -> str:
    """Say what the background of a map is, for its caption."""
    if context == "voies":
        return "En fond, les voies et bâtiments du territoire."
    if context == "adresses":
        return ("En fond, les points d'adresse (gris clair) dessinent les rues : l'entrepôt n'a pas de "
                "couche des voies ici.")
    return ("Fond vide : l'entrepôt n'a ni voies, ni bâtiments, ni adresses sur cette zone et le projet "
            "n'a pas de fond de plan hors ligne.")


def frame_map(ax: Any, bounds: tuple[float, float, float, float]) -> None:
    """Fix the window, equal aspect, no axes."""
    x0, y0, x1, y1 = bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()


def draw_outline(ax: Any, perimeters: gpd.GeoDataFrame | None) -> bool:
    """Draw the quartier outline; tell whether there was one."""
    if perimeters is None or not len(perimeters):
        return False
    to_territory_crs(perimeters).boundary.plot(ax=ax, color=OUTLINE_COLOUR, linewidth=1.4, zorder=6)
    return True

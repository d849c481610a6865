"""Every static map and chart of the printable documents, drawn offline with Matplotlib.

:func:`draw_report_figure` draws the figures of a :class:`~geo.stats.report.Report`
(hot spot, density and emerging hot spot maps on the territory's own layers, bar
charts); :func:`render_walk_map` draws a diagnostic walk on its street graph.
:func:`image_uri` embeds an image in a self-contained HTML page.
"""

from __future__ import annotations

import base64
import io
import logging

import geopandas as gpd
import networkx as nx
import numpy as np
from shapely.geometry.base import BaseGeometry

from geo.crs import to_territory_crs
from geo.stats.report import ReportFigure
from geo.walks.model import WalkRoute
from geo.walks.network import edges_frame
from webmap.documents import _deps
from webmap.documents._report_maps import draw_figure, to_png, to_svg
from webmap.errors import DocumentError

logger = logging.getLogger(__name__)

__all__ = ["draw_report_figure", "draw_report_figure_formats", "image_uri", "render_walk_map",
           "walk_map_frame"]

def image_uri(data: bytes, fmt: str = "png") -> str:
    """Return the image as a ``data:`` URI for self-contained HTML (``fmt`` "png" or "svg")."""
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------- report figures


def draw_report_figure(figure: ReportFigure) -> bytes:
    """Draw one figure of a report as PNG, with its legend, scale bar, north arrow and context.

    Parameters
    ----------
    figure : ReportFigure
        A :class:`~geo.stats.report.HotspotMap`, :class:`~geo.stats.report.DensityMap`,
        :class:`~geo.stats.report.EmergingMap`, :class:`~geo.stats.report.QuartierPanels`
        or :class:`~geo.stats.report.BarChart`.

    Returns
    -------
    bytes
        The PNG image (at most the printable width of an A4 page).

    Raises
    ------
    MissingDependencyError
        When Matplotlib is not installed.
    DocumentError
        On a figure of an unknown kind.
    """
    return to_png(draw_figure(figure))


def draw_report_figure_formats(figure: ReportFigure) -> tuple[bytes, bytes, str]:
    """Draw one figure of a report once; return its PNG, its SVG (text kept as text) and its caption."""
    drawn = draw_figure(figure)
    svg = to_svg(drawn, close=False)
    return to_png(drawn), svg, drawn.caption


# --------------------------------------------------------------------------- walk map


def walk_map_frame(route: WalkRoute, edges: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """Map window (EPSG:2154) of a walk: the track and every stop, served or not, plus a margin.

    Parameters
    ----------
    route : WalkRoute
        The walk (its ``unserved`` stops included).
    edges : geopandas.GeoDataFrame
        Street edges, whose extent is used when the walk has no geometry.

    Returns
    -------
    tuple of float
        ``(xmin, ymin, xmax, ymax)``.
    """
    track = np.asarray(route.track.coords)[:, :2].reshape(-1, 2)
    unserved = np.array([(u["x"], u["y"]) for u in route.unserved], dtype=float).reshape(-1, 2)
    stops_xy = np.array([(p.x, p.y) for p in route.stops.geometry], dtype=float).reshape(-1, 2)
    shown = np.concatenate([track, stops_xy, unserved])
    if not len(shown):
        x0, y0, x1, y1 = (float(v) for v in edges.total_bounds)
        return x0, y0, x1, y1
    tx0, ty0 = shown.min(axis=0)
    tx1, ty1 = shown.max(axis=0)
    pad = max(tx1 - tx0, ty1 - ty0) * 0.08 + 80
    return float(tx0 - pad), float(ty0 - pad), float(tx1 + pad), float(ty1 + pad)


def render_walk_map(
    route: WalkRoute,
    G: nx.MultiGraph,
    *,
    area: BaseGeometry | gpd.GeoDataFrame | None = None,
    fmt: str = "png",
    width_cm: float = 17.0,
    dpi: int = 150,
) -> bytes:
    """Draw the walk on the street graph (offline static map).

    Parameters
    ----------
    route : WalkRoute
        The walk; its stops are numbered in walking order.
    G : networkx.MultiGraph
        Street graph drawn as the background (EPSG:2154).
    area : geometry or GeoDataFrame, optional
        Quartier outline drawn under the streets.
    fmt : {"png", "svg"}
        Image format.
    width_cm : float, default 17
        Figure width.
    dpi : int, default 150
        Resolution of PNG output.

    Returns
    -------
    bytes
        The image.

    Raises
    ------
    MissingDependencyError
        When Matplotlib is not installed.
    DocumentError
        On an unknown format.
    """
    if fmt not in {"png", "svg"}:
        raise DocumentError(f"Format de carte inconnu « {fmt} » (png ou svg).")
    mpl = _deps.matplotlib()
    edges = edges_frame(G)
    track = np.asarray(route.track.coords)
    x0, y0, x1, y1 = walk_map_frame(route, edges)
    unserved = np.array([(u["x"], u["y"]) for u in route.unserved], dtype=float).reshape(-1, 2)
    aspect = (y1 - y0) / max(x1 - x0, 1.0)
    w_in = width_cm / 2.54
    fig = mpl.figure.Figure(figsize=(w_in, min(max(w_in * aspect, 3.0), 9.0)))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    if area is not None:
        zone = to_territory_crs(area) if isinstance(area, gpd.GeoDataFrame) else gpd.GeoDataFrame(
            geometry=[area], crs="EPSG:2154")
        zone.boundary.plot(ax=ax, color="#7a4fa3", linewidth=1.2, linestyle="--")
    segs = [np.asarray(g.coords)[:, :2] for g in edges.geometry]
    ax.add_collection(mpl.collections.LineCollection(segs, colors="#9a9a9a", linewidths=0.6))
    ax.plot(track[:, 0], track[:, 1], color="#d1495b", linewidth=2.4, alpha=0.85, solid_capstyle="round")
    ax.plot([route.start.x], [route.start.y], marker="s", color="#00798c", markersize=9)
    ax.annotate("Départ", (route.start.x, route.start.y), xytext=(6, 6), textcoords="offset points",
                fontsize=8, color="#00798c", weight="bold")
    for _, row in route.stops.iterrows():
        p = row[route.stops.geometry.name]
        ax.plot([p.x], [p.y], marker="o", markersize=13, color="white", markeredgecolor="#d1495b",
                markeredgewidth=1.8)
        ax.text(p.x, p.y, str(int(row["order"])), ha="center", va="center", fontsize=7, weight="bold")
    for x, y in unserved:
        ax.plot([x], [y], marker="X", markersize=10, color="#7a7a7a", markeredgecolor="black")
    span = x1 - x0
    bar = next((b for b in (50, 100, 200, 250, 500, 1000, 2000, 5000) if b >= span / 6), 5000)
    bx, by = x0 + span * 0.04, y0 + (y1 - y0) * 0.04
    ax.plot([bx, bx + bar], [by, by], color="black", linewidth=3)
    ax.text(bx + bar / 2, by + (y1 - y0) * 0.015, f"{bar} m", ha="center", fontsize=7)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()

"""Every static map and chart of the printable documents, drawn offline with Matplotlib.

:func:`render_walk_map` draws a diagnostic walk on its street graph. :func:`image_uri`
embeds an image in a self-contained HTML page.
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
from geo.walks.model import WalkRoute
from geo.walks.network import edges_frame
from webmap.documents import _deps
from webmap.errors import DocumentError

logger = logging.getLogger(__name__)

__all__ = ["image_uri", "render_walk_map"]

def image_uri(data: bytes, fmt: str = "png") -> str:
    """The image as a ``data:`` URI for self-contained HTML (``fmt`` "png" or "svg")."""
    mime = "image/svg+xml" if fmt == "svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# --------------------------------------------------------------------------- walk map


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
    x0, y0, x1, y1 = edges.total_bounds
    if len(track):
        tx0, ty0 = track.min(axis=0)
        tx1, ty1 = track.max(axis=0)
        pad = max(tx1 - tx0, ty1 - ty0) * 0.08 + 80
        x0, y0, x1, y1 = max(x0, tx0 - pad), max(y0, ty0 - pad), min(x1, tx1 + pad), min(y1, ty1 + pad)
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

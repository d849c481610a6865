"""The data of the interactive maps of an HTML report (Leaflet, ``static/js/rapport-carte.js``).

Each map figure becomes a small JSON document in WGS84 (the web boundary): its cells
with their count, z-score and class for the popups, the quartier outlines, the events
and the legend. The page shows the static PNG until the script replaces it; the PDF
keeps the PNG. The files the page needs are copied next to it (:func:`copy_assets`) so
that the written report works offline from its folder.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import to_territory_crs
from geo.stats.report import EmergingMap, HotspotMap, MapLayers, QuartierPanels, ReportFigure
from webmap.documents._map_furniture import (
    GI_COLOURS,
    GI_LABELS,
    emerging_entries,
    gi_entries,
    masked,
    pattern_colour,
)

logger = logging.getLogger(__name__)

#: folder of the page's scripts and styles, next to the written HTML
ASSETS_DIR = "rapport-cartes"
#: most events drawn on an interactive map (the cells carry the counts)
MAX_POINTS = 5000
#: most address points drawn as the background of an interactive map
MAX_CONTEXT_POINTS = 20000
_STATIC = Path(__file__).resolve().parent.parent / "static"
#: (source under webmap/static, destination under ASSETS_DIR)
ASSET_FILES: tuple[tuple[str, str], ...] = (
    ("vendor/leaflet/leaflet.js", "leaflet/leaflet.js"),
    ("vendor/leaflet/leaflet.css", "leaflet/leaflet.css"),
    ("js/rapport-carte.js", "rapport-carte.js"),
    ("css/rapport-carte.css", "rapport-carte.css"),
)


def assets_available() -> bool:
    """Tell whether Leaflet and the page's script are installed (``npm run build`` copies Leaflet)."""
    return all((_STATIC / source).is_file() for source, _ in ASSET_FILES)


def copy_assets(folder: Path) -> Path:
    """Copy Leaflet and the report's map script and style into ``folder/rapport-cartes``."""
    target = folder / ASSETS_DIR
    for source, dest in ASSET_FILES:
        out = target / dest
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_STATIC / source, out)
    return target


def interactive_data(figure: ReportFigure) -> dict[str, Any] | None:
    """Return the interactive map of a figure as JSON-ready data (None: the figure stays static).

    Returns
    -------
    dict or None
        ``cellules`` and ``contours`` (GeoJSON, WGS84), ``points`` ([lat, lon]),
        ``legende`` ([{label, couleur}]), ``quartiers`` ([{code, nom, bbox}]),
        ``titre_classe`` (what the class of a cell is) and, for a quartier's maps,
        ``contexte`` (streets or address points drawn under the cells).
    """
    if isinstance(figure, HotspotMap):
        outlines = figure.layers.perimeters
        doc = _document(_gi_cells(figure.bins), outlines, figure.points,
                        [{"label": e.label, "couleur": e.colour} for e in gi_entries()], "Classe Gi*")
        return {**doc, "contexte": _context(figure.layers)}
    if isinstance(figure, EmergingMap):
        legend = [{"label": e.label, "couleur": e.colour} for e in emerging_entries(figure.emerging.bins)]
        doc = _document(_emerging_cells(figure.emerging.bins), figure.layers.perimeters, np.empty((0, 2)),
                        legend, "Tendance")
        return {**doc, "contexte": _context(figure.layers)}
    if isinstance(figure, QuartierPanels):
        frames = [_gi_cells(p.bins) for p in figure.panels if p.bins is not None]
        cells = pd.concat(frames, ignore_index=True) if frames else _gi_cells(None)
        outlines = gpd.GeoDataFrame({"code": [p.code for p in figure.panels],
                                     "nom": [p.name for p in figure.panels]},
                                    geometry=[p.outline for p in figure.panels], crs="EPSG:2154")
        points = np.concatenate([p.points for p in figure.panels]) if figure.panels else np.empty((0, 2))
        return _document(gpd.GeoDataFrame(cells, geometry="geometry", crs="EPSG:2154"), outlines, points,
                         [{"label": e.label, "couleur": e.colour} for e in gi_entries()], "Classe Gi*")
    return None


def _context(layers: MapLayers) -> dict[str, Any]:
    """Return the streets (simplified lines), failing them the address points, around the map (WGS84).

    The same choice as the printed map (:func:`webmap.documents._map_furniture.draw_context`)
    so that the caption's « En fond, … » holds for both; buildings are left to the PDF.
    """
    x0, y0, x1, y1 = layers.window.bounds
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    window = shapely.box(cx - half, cy - half, cx + half, cy + half)
    if layers.streets is not None and len(layers.streets):
        streets = to_territory_crs(layers.streets).geometry
        streets = streets[streets.intersects(window)].simplify(2.0)
        if len(streets):
            shown = gpd.GeoDataFrame(geometry=streets.to_numpy(), crs="EPSG:2154").to_crs(4326)
            return {"type": "voies", "lignes": json.loads(shown.to_json(drop_id=True)), "points": []}
    if layers.addresses is not None and len(layers.addresses):
        xy = shapely.get_coordinates(to_territory_crs(layers.addresses).geometry.to_numpy())
        xy = xy[shapely.contains_xy(window, xy[:, 0], xy[:, 1])][:MAX_CONTEXT_POINTS]
        if len(xy):
            return {"type": "adresses", "lignes": None, "points": _latlon(xy)}
    return {"type": "aucun", "lignes": None, "points": []}


def _latlon(xy: np.ndarray) -> list[list[float]]:
    """[[lat, lon], …] of EPSG:2154 coordinates, rounded to about 10 cm."""
    wgs = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:2154").to_crs(4326)
    return [[round(float(p.y), 6), round(float(p.x), 6)] for p in wgs]


def _gi_cells(bins: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Cells of a Gi* map with what their popup shows."""
    if bins is None or not len(bins):
        return gpd.GeoDataFrame({"n": [], "z": [], "classe": [], "couleur": [], "niveau": []},
                                geometry=[], crs="EPSG:2154")
    levels = bins["gi_bin"].astype(int).to_numpy()
    out = gpd.GeoDataFrame({
        "n": bins["count"].to_numpy(dtype=float),
        "z": bins["gi_z"].to_numpy(dtype=float),
        "classe": [GI_LABELS.get(int(v), str(v)) for v in levels],
        "couleur": [GI_COLOURS.get(int(v), "#999999") for v in levels],
        "niveau": levels,
    }, geometry=bins.geometry.to_numpy(), crs=bins.crs)
    out["hors_couverture"] = masked(bins)
    return out


def _emerging_cells(bins: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cells of the emerging hot spot map with what their popup shows."""
    patterns = bins["pattern"].astype(str).to_numpy()
    unknown = np.full(len(bins), np.nan)
    return gpd.GeoDataFrame({
        "n": bins["total"].to_numpy(dtype=float) if "total" in bins.columns else unknown,
        "z": bins["trend_z"].to_numpy(dtype=float) if "trend_z" in bins.columns else unknown,
        "classe": bins["pattern_fr"].astype(str).to_numpy(),
        "couleur": [pattern_colour(p) if p != "no pattern" else "#ffffff" for p in patterns],
        "niveau": [0 if p == "no pattern" else 1 for p in patterns],
    }, geometry=bins.geometry.to_numpy(), crs=bins.crs)


def _document(
    cells: gpd.GeoDataFrame, outlines: gpd.GeoDataFrame | None, points: np.ndarray,
    legend: list[dict[str, str]], class_title: str,
) -> dict[str, Any]:
    """Assemble the JSON document of one interactive map (every geometry in WGS84)."""
    wgs_cells = cells.to_crs(4326) if len(cells) else cells
    contours: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    quartiers = []
    if outlines is not None and len(outlines):
        shown = outlines.to_crs(4326)
        contours = json.loads(shown[[shown.geometry.name]].to_json(drop_id=True))
        codes = shown["code"].astype(str) if "code" in shown.columns else pd.Series([""] * len(shown))
        names = shown["nom"].astype(str) if "nom" in shown.columns else (
            shown["name"].astype(str) if "name" in shown.columns else codes)
        quartiers = [{"code": c, "nom": n, "bbox": [round(float(v), 6) for v in g.bounds]}
                     for c, n, g in zip(codes, names, shown.geometry, strict=True)]
    pts = np.asarray(points, dtype=float).reshape(-1, 2)[:MAX_POINTS]
    latlon = _latlon(pts) if len(pts) else []
    features = json.loads(wgs_cells.to_json(drop_id=True, na="null")) if len(cells) else {
        "type": "FeatureCollection", "features": []}
    return {"cellules": features, "contours": contours, "points": latlon, "legende": legend,
            "titre_classe": class_title, "quartiers": quartiers,
            "points_tronques": int(max(len(points) - MAX_POINTS, 0))}

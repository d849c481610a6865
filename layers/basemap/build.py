"""Build the territory's offline basemap: vector tiles of the store's own reference layers.

What is drawn, from the store (never a confidential layer):

* ``perimetres`` — the QPV outlines, at every zoom;
* ``voies`` — streets with their names, in three classes (``principale`` from zoom 10,
  ``rue`` from 13, ``chemin`` from 15, by their type or the first word of their name);
* ``batiments`` — from zoom 13, buildings smaller than 2 × 2 screen pixels dropped;
* ``adresses`` — address points farther than 60 m from every street, from zoom 15: the street
  context of a territory whose street layer is missing or partial.

The store holds no water nor green-area layer (:mod:`layers.schema`): the basemap has none,
and says so in its metadata (``qpv:absent``). Every geometry is generalised per zoom (half a
screen pixel, in ground metres), clipped to the tile plus a margin, encoded as Mapbox Vector
Tiles (4096 units), gzip-compressed and written to one PMTiles file whose metadata carries the
attribution of the data sets actually drawn.
"""

from __future__ import annotations

import gzip
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely

from geo.tiles import ORIGIN, ground_pixel_m, tile_bounds, tile_ranges
from layers.basemap._pmtiles import write_pmtiles
from layers.errors import BasemapError
from layers.layouts import LAYOUTS
from layers.mapping import list_mappings
from layers.schema import LAYERS
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = ["ABSENT", "BasemapOptions", "BasemapResult", "build_basemap", "street_class"]

WEB_MERCATOR = "EPSG:3857"
#: Context the store has no layer for (nothing in :mod:`layers.schema` carries it).
ABSENT: tuple[str, ...] = ("eau", "espaces verts")
#: Street types and first words of names, by class.
_MAJOR = frozenset({"av", "ave", "avenue", "bd", "boulevard", "rte", "route", "auto", "autoroute", "quai",
                    "pont", "viad", "viaduc", "tun", "tunnel", "rdpt", "rond-point", "carr", "carrefour",
                    "cours", "cour", "porte", "périphérique"})
_MINOR = frozenset({"all", "allée", "imp", "impasse", "chem", "chemin", "pass", "passage", "squa", "sq",
                    "square", "parc", "desc", "descente", "encl", "enclos", "park", "parking", "sentier",
                    "sente", "villa", "cité", "cite", "hameau", "esca", "escalier", "voie"})
#: First zoom of each street class.
_CLASS_ZOOM = {"principale": 10, "rue": 13, "chemin": 15}
#: Names are written in the tiles from this zoom (labels are drawn from zoom 15).
_NAME_ZOOM = 14


@dataclass(frozen=True, kw_only=True)
class BasemapOptions:
    """What :func:`build_basemap` draws and how.

    Attributes
    ----------
    min_zoom, max_zoom : int
        Zooms with tiles (the browser over-zooms beyond ``max_zoom``).
    layers : tuple of str
        Store layers drawn; a confidential layer is refused.
    address_gap_m : float
        Address points farther than this from every street are drawn as street context.
    building_min_px : float
        Buildings narrower than this many screen pixels (side of a square) are dropped per zoom.
    tolerance_px : float
        Simplification tolerance, in screen pixels (turned into ground metres per zoom).
    extent : int
        Units of a tile side in the vector tiles.
    buffer : int
        Margin kept around each tile, in tile units (no seams at tile edges).
    """

    min_zoom: int = 10
    max_zoom: int = 18
    layers: tuple[str, ...] = ("perimetres", "voies", "batiments", "adresses")
    address_gap_m: float = 60.0
    building_min_px: float = 2.0
    tolerance_px: float = 0.5
    extent: int = 4096
    buffer: int = 64

    def __post_init__(self) -> None:
        """Refuse zooms out of order."""
        if not 0 <= self.min_zoom <= self.max_zoom <= 20:
            raise BasemapError(f"Zooms du fond de plan invalides : {self.min_zoom} à {self.max_zoom} "
                               "(attendu 0 ≤ min ≤ max ≤ 20).")


@dataclass
class BasemapResult:
    """What :func:`build_basemap` wrote.

    Attributes
    ----------
    path : Path
    tiles : int
        Tiles written.
    size_bytes : int
    seconds : float
    features : dict
        Features of each layer of the tiles (before tiling).
    attribution : str
        The sources drawn, as shown under the map.
    absent : list of str
        Context the store has no data for.
    unnamed_streets : int
        Streets without a name.
    bounds : tuple
        ``(west, south, east, north)`` WGS84.
    """

    path: Path
    tiles: int = 0
    size_bytes: int = 0
    seconds: float = 0.0
    features: dict[str, int] = field(default_factory=dict)
    attribution: str = ""
    absent: list[str] = field(default_factory=list)
    unnamed_streets: int = 0
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass
class _Layer:
    """One tile layer: geometries in EPSG:3857, their properties, first zoom of each feature."""

    name: str
    geoms: np.ndarray
    props: list[dict[str, Any]]
    min_zoom: np.ndarray
    kind: str  # "line", "polygon", "point"
    area_m2: np.ndarray | None = None
    lat: np.ndarray = field(default_factory=lambda: np.zeros(0))


def street_class(street_type: Any, name: Any) -> str:
    """Return ``principale``, ``rue`` or ``chemin`` from a street's type (``AV``, ``IMP``…) or first word."""
    for raw in (street_type, str(name or "").split(" ", 1)[0]):
        word = str(raw or "").strip().lower().rstrip(".")
        if not word or word in {"nan", "none"}:
            continue
        if word in _MAJOR:
            return "principale"
        if word in _MINOR:
            return "chemin"
        if raw is street_type:
            return "rue"
    return "rue"


def _check_layers(names: tuple[str, ...]) -> None:
    for name in names:
        schema = LAYERS.get(name)
        if schema is None:
            raise BasemapError(f"Couche « {name} » inconnue : le fond de plan ne peut pas la dessiner.")
        if schema.confidential:
            raise BasemapError(f"La couche « {name} » est confidentielle : elle n'entre jamais dans le "
                               "fond de plan, servi à tous les visiteurs de la carte.")


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _read(store: LayerStore, name: str) -> gpd.GeoDataFrame:
    frame = store.read(name)
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    return frame


def _latitudes(geoms: np.ndarray) -> np.ndarray:
    """Latitude (degrees) of the centre of each EPSG:3857 geometry's box."""
    if len(geoms) == 0:
        return np.zeros(0)
    b = shapely.bounds(geoms)
    y = (b[:, 1] + b[:, 3]) / 2
    return np.degrees(np.arctan(np.sinh(y / 6378137.0)))


def _to_layer(name: str, frame: gpd.GeoDataFrame, props: list[dict[str, Any]], min_zoom: np.ndarray,
              kind: str) -> _Layer:
    area = frame.geometry.area.to_numpy(float) if kind == "polygon" and len(frame) else None
    geoms = frame.to_crs(WEB_MERCATOR).geometry.to_numpy() if len(frame) else np.empty(0, dtype=object)
    return _Layer(name, geoms, props, np.asarray(min_zoom, dtype=int), kind, area, _latitudes(geoms))


def _streets(frame: gpd.GeoDataFrame, opts: BasemapOptions) -> _Layer:
    names = [_text(v) for v in frame.get("name", pd.Series([None] * len(frame)))]
    types = list(frame.get("street_type", pd.Series([None] * len(frame))))
    classes = [street_class(t, n) for t, n in zip(types, names, strict=True)]
    props = [{"nom": n, "classe": c} if n else {"classe": c} for n, c in zip(names, classes, strict=True)]
    zooms = np.array([max(_CLASS_ZOOM[c], opts.min_zoom) for c in classes], dtype=int)
    return _to_layer("voies", frame, props, zooms, "line")


def _far_addresses(frame: gpd.GeoDataFrame, streets: gpd.GeoDataFrame | None,
                   opts: BasemapOptions) -> gpd.GeoDataFrame:
    """Addresses farther than ``address_gap_m`` from every street (all of them without streets)."""
    if len(frame) and streets is not None and len(streets):
        tree = shapely.STRtree(streets.geometry.to_numpy())
        near = tree.query(frame.geometry.to_numpy(), predicate="dwithin", distance=opts.address_gap_m)
        keep = np.ones(len(frame), dtype=bool)
        keep[np.unique(near[0])] = False
        frame = frame[keep]
    return frame


def _addresses(frame: gpd.GeoDataFrame, opts: BasemapOptions) -> _Layer:
    """Return the address points drawn as street context, labelled with their number."""
    numbers = [_text(v).removesuffix(".0") for v in frame.get("number", pd.Series([None] * len(frame)))]
    suffixes = [_text(v) for v in frame.get("suffix", pd.Series([None] * len(frame)))]
    streets_col = [_text(v) for v in frame.get("street", pd.Series([None] * len(frame)))]
    props = [{"numero": f"{n}{' ' + s if s else ''}".strip(), "voie": v}
             for n, s, v in zip(numbers, suffixes, streets_col, strict=True)]
    zooms = np.full(len(frame), max(15, opts.min_zoom), dtype=int)
    return _to_layer("adresses", frame, props, zooms, "point")


def _source_layers(store: LayerStore, opts: BasemapOptions) -> tuple[list[_Layer], dict[str, set[str]]]:
    """Read the drawn layers; return them with the data sets (``source_dataset``) of each."""
    frames = {name: _read(store, name) for name in opts.layers}
    out: list[_Layer] = []
    if "perimetres" in frames:
        f = frames["perimetres"]
        props = [{"code": _text(c), "nom": _text(n)}
                 for c, n in zip(f.get("code", []), f.get("name", []), strict=True)]
        out.append(_to_layer("perimetres", f, props, np.full(len(f), opts.min_zoom), "polygon"))
    if "batiments" in frames:
        f = frames["batiments"]
        out.append(_to_layer("batiments", f, [{} for _ in range(len(f))],
                             np.full(len(f), max(13, opts.min_zoom)), "polygon"))
    if "voies" in frames:
        out.append(_streets(frames["voies"], opts))
    if "adresses" in frames:
        frames["adresses"] = _far_addresses(frames["adresses"], frames.get("voies"), opts)
        out.append(_addresses(frames["adresses"], opts))
    datasets: dict[str, set[str]] = {}
    for layer in out:
        frame = frames[layer.name]
        if len(layer.geoms):
            datasets[layer.name] = {_text(v) for v in frame.get("source_dataset", []) if _text(v)}
    return out, datasets


def _generalised(layer: _Layer, z: int, opts: BasemapOptions) -> tuple[np.ndarray, np.ndarray]:
    """Return the indices of the features drawn at zoom ``z`` and their generalised geometries."""
    keep = layer.min_zoom <= z
    if layer.area_m2 is not None and layer.name == "batiments":
        side = opts.building_min_px * ground_pixel_m(z, 0.0) * np.cos(np.radians(layer.lat))  # per building
        keep &= layer.area_m2 >= side * side
    idx = np.flatnonzero(keep)
    if len(idx) == 0 or layer.kind == "point":
        return idx, layer.geoms[idx]
    # tolerance: tolerance_px screen pixels on the ground (metres), in EPSG:3857 units at each latitude
    lat = layer.lat[idx]
    tol_m = opts.tolerance_px * np.array([ground_pixel_m(z, float(v)) for v in lat])
    tol = tol_m / np.cos(np.radians(lat))
    geoms = shapely.simplify(layer.geoms[idx], tol, preserve_topology=layer.kind == "polygon")
    ok = ~shapely.is_empty(geoms)
    return idx[ok], geoms[ok]


def _pairs(geoms: np.ndarray, z: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return, for every tile a geometry's box touches: geometry index, tile x, tile y."""
    r = tile_ranges(shapely.bounds(geoms), z)
    nx = r[:, 2] - r[:, 0] + 1
    ny = r[:, 3] - r[:, 1] + 1
    count = nx * ny
    gi = np.repeat(np.arange(len(geoms)), count)
    start = np.repeat(np.cumsum(count) - count, count)
    k = np.arange(int(count.sum())) - start
    return gi, r[gi, 0] + k % nx[gi], r[gi, 1] + k // nx[gi]


def _zoom_tiles(layers: list[_Layer], z: int, opts: BasemapOptions) -> Iterator[tuple[int, int, int, bytes]]:
    """Encode every non-empty tile of zoom ``z``."""
    by_tile: dict[tuple[int, int], list[tuple[_Layer, np.ndarray, np.ndarray]]] = {}
    for layer in layers:
        idx, geoms = _generalised(layer, z, opts)
        if len(idx) == 0:
            continue
        gi, tx, ty = _pairs(geoms, z)
        order = np.lexsort((ty, tx))
        gi, tx, ty = gi[order], tx[order], ty[order]
        cuts = np.flatnonzero((np.diff(tx) != 0) | (np.diff(ty) != 0)) + 1
        for part in np.split(np.arange(len(gi)), cuts):
            if len(part):
                key = (int(tx[part[0]]), int(ty[part[0]]))
                by_tile.setdefault(key, []).append((layer, idx[gi[part]], geoms[gi[part]]))
    for (x, y), parts in sorted(by_tile.items()):
        data = _encode_tile(z, x, y, parts, opts)
        if data is not None:
            yield z, x, y, data


def _encode_tile(z: int, x: int, y: int, parts: list[tuple[_Layer, np.ndarray, np.ndarray]],
                 opts: BasemapOptions) -> bytes | None:
    bounds = tile_bounds(z, x, y)
    margin = (bounds[2] - bounds[0]) * opts.buffer / opts.extent
    box = (bounds[0] - margin, bounds[1] - margin, bounds[2] + margin, bounds[3] + margin)
    encoded = []
    for layer, feature_idx, geoms in parts:
        if layer.kind == "point":
            inside = shapely.intersects_xy(shapely.box(*box), shapely.get_x(geoms), shapely.get_y(geoms))
            clipped = geoms
        else:
            clipped = shapely.clip_by_rect(geoms, *box)
            inside = ~shapely.is_empty(clipped)
        clipped = _quantized(clipped, bounds, opts.extent)
        features = [{"geometry": g, "properties": layer.props[i]}
                    for g, i, ok in zip(clipped, feature_idx, inside, strict=True) if ok]
        if layer.name == "voies" and z < _NAME_ZOOM:
            features = [{"geometry": f["geometry"], "properties": {"classe": f["properties"]["classe"]}}
                        for f in features]
        if features:
            encoded.append({"name": layer.name, "features": features})
    if not encoded:
        return None
    data = mapbox_vector_tile.encode(encoded, default_options={"extents": opts.extent})
    return gzip.compress(data, compresslevel=6, mtime=0)


def _quantized(geoms: np.ndarray, bounds: tuple[float, float, float, float], extent: int) -> np.ndarray:
    """EPSG:3857 geometries in whole tile units (y up: the encoder flips it), all at once."""
    minx, miny, maxx, maxy = bounds
    scale = np.array([extent / (maxx - minx), extent / (maxy - miny)])
    origin = np.array([minx, miny])
    return shapely.transform(geoms, lambda xy: np.rint((xy - origin) * scale))


def _publisher(title: str, dataset: str) -> str:
    """Return the publisher in a mapping's title: « © … », after « — », in parentheses, or the title."""
    title = title.strip()
    if not title:
        return dataset
    if title.startswith("©"):
        return title.split(" — ")[0].strip()
    if " — " in title:
        return title.rsplit(" — ", 1)[1].strip()
    inside = re.search(r"\(([^()]*[A-Za-z][^()]*)\)\s*$", title)
    return inside.group(1).strip() if inside and not inside.group(1).strip().isdigit() else title


def _attribution(datasets: dict[str, set[str]]) -> str:
    """Return the publishers of the data sets drawn, by licence (« A, B (Licence Ouverte) · © … (ODbL) »).

    Publishers and licences come from the mappings of ``data/mappings`` (title, licence) or, for
    a file recognised by its columns, from its known layout (:data:`layers.layouts.LAYOUTS`); a
    data set imported with another mapping is named as such, without a licence.
    """
    known = {m.dataset: m for m in list_mappings()}
    # files recognised by their columns (an OpenStreetMap extract…) carry their own credit
    layouts = {layout.dataset or layout.name: layout for layout in LAYOUTS if layout.attribution}
    groups: dict[str, list[str]] = {}
    for name in sorted({d for ds in datasets.values() for d in ds}):
        m = known.get(name)
        layout = layouts.get(name)
        if m is not None:
            licence = re.sub(r"\s+\d+(\.\d+)*$", "", m.licence.strip())
            who = _publisher(m.title, name)
        elif layout is not None:
            licence, who = layout.licence, layout.attribution
        else:
            licence, who = "", name
        if who not in groups.setdefault(licence, []):
            groups[licence].append(who)
    parts = [", ".join(names) + (f" ({licence})" if licence else "")
             for licence, names in sorted(groups.items(), key=lambda kv: kv[0] == "ODbL")]
    return " · ".join(parts)


def _extent(layers: list[_Layer]) -> tuple[tuple[float, float, float, float], tuple[float, float]]:
    """WGS84 bounds of every feature, and the centre of the layer with the most features' densest tile."""
    every = np.concatenate([layer.geoms for layer in layers if len(layer.geoms)])
    b = shapely.total_bounds(every)
    west, south = _lonlat(b[0], b[1])
    east, north = _lonlat(b[2], b[3])
    r = tile_ranges(shapely.bounds(every), 12)
    keys, counts = np.unique(r[:, 0] * 10_000 + r[:, 1], return_counts=True)
    best = int(keys[np.argmax(counts)])
    tb = tile_bounds(12, best // 10_000, best % 10_000)
    return (west, south, east, north), _lonlat((tb[0] + tb[2]) / 2, (tb[1] + tb[3]) / 2)


def _lonlat(x: float, y: float) -> tuple[float, float]:
    return (float(x) / ORIGIN * 180.0, math.degrees(math.atan(math.sinh(float(y) / 6378137.0))))


def _metadata(layers: list[_Layer], attribution: str, opts: BasemapOptions,
              revision: str | None) -> dict[str, Any]:
    fields = {"perimetres": {"code": "String", "nom": "String"},
              "voies": {"nom": "String", "classe": "String"},
              "batiments": {}, "adresses": {"numero": "String", "voie": "String"}}
    return {
        "name": "Fond de plan du territoire",
        "format": "pbf",
        "attribution": attribution,
        "description": "Voies, bâtiments, adresses et périmètres QPV de l'entrepôt (qpv fond construire).",
        "vector_layers": [{"id": layer.name, "fields": fields[layer.name],
                           "minzoom": int(layer.min_zoom.min()), "maxzoom": opts.max_zoom}
                          for layer in layers if len(layer.geoms)],
        "qpv:absent": list(ABSENT),
        "qpv:store_revision": revision or "",
        "qpv:built_at": datetime.now().isoformat(timespec="seconds"),
    }


def build_basemap(store: LayerStore, target: str | Path, *, options: BasemapOptions | None = None,
                  on_zoom: Callable[[int, int], None] | None = None) -> BasemapResult:
    """Build the territory's basemap from ``store`` into the PMTiles file ``target``.

    Parameters
    ----------
    store : LayerStore
        The store whose reference layers are drawn.
    target : str or Path
        The PMTiles file written (replaced atomically; its folder is created).
    options : BasemapOptions, optional
    on_zoom : callable, optional
        Called with ``(zoom, tiles of that zoom)`` after each zoom, for progress display.

    Returns
    -------
    BasemapResult

    Raises
    ------
    BasemapError
        When a confidential or unknown layer is asked for, or the store has nothing to draw.
    """
    opts = options or BasemapOptions()
    _check_layers(opts.layers)
    started = time.perf_counter()
    layers, datasets = _source_layers(store, opts)
    layers = [layer for layer in layers if len(layer.geoms)]
    if not layers:
        raise BasemapError("L'entrepôt n'a ni voies, ni bâtiments, ni adresses, ni périmètres : "
                           "aucun fond de plan à construire (importer d'abord les couches de référence).")
    bounds, centre = _extent(layers)
    attribution = _attribution(datasets)
    tiles: list[tuple[int, int, int, bytes]] = []
    for z in range(opts.min_zoom, opts.max_zoom + 1):
        before = len(tiles)
        tiles.extend(_zoom_tiles(layers, z, opts))
        if on_zoom:
            on_zoom(z, len(tiles) - before)
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partiel")
    header = {"min_zoom": opts.min_zoom, "max_zoom": opts.max_zoom,
              "min_lon_e7": round(bounds[0] * 1e7), "min_lat_e7": round(bounds[1] * 1e7),
              "max_lon_e7": round(bounds[2] * 1e7), "max_lat_e7": round(bounds[3] * 1e7),
              "center_zoom": max(opts.min_zoom, 13), "center_lon_e7": round(centre[0] * 1e7),
              "center_lat_e7": round(centre[1] * 1e7)}
    count = write_pmtiles(partial, tiles, header=header,
                          metadata=_metadata(layers, attribution, opts, store.revision()))
    partial.replace(path)
    streets = next((layer for layer in layers if layer.name == "voies"), None)
    result = BasemapResult(
        path=path, tiles=count, size_bytes=path.stat().st_size, seconds=time.perf_counter() - started,
        features={layer.name: len(layer.geoms) for layer in layers}, attribution=attribution,
        absent=list(ABSENT), bounds=bounds,
        unnamed_streets=sum(1 for p in streets.props if not p.get("nom")) if streets else 0)
    logger.info("basemap %s: %d tiles, %.1f MB in %.1f s", path, count, result.size_bytes / 1e6,
                result.seconds)
    return result

"""The basemap of every map page: which one (the ``BASEMAP`` setting) and its tiles (``/fond/…``).

``BASEMAP`` names:

* nothing — the territory's own basemap when ``qpv fond construire`` has built it, else Plan IGN;
* ``fond-territoire`` — the territory's basemap (no basemap when it is not built);
* a local ``.pmtiles`` / ``.mbtiles`` file (absolute, or relative to the instance folder) — vector
  or raster tiles a town already has (IGN or OpenStreetMap extract), served by the app;
* ``plan-ign``, ``osm`` or an online tile URL ``…{z}/{x}/{y}…`` — online raster tiles; the
  territory's basemap, when built, is the fallback the page switches to when they fail;
* ``aucun`` — no basemap.

The tiles of a local file are served at ``/fond/{z}/{x}/{y}.mvt`` (vector, gzip passed through)
or ``.png`` / ``.jpg`` / ``.webp`` (raster). The basemap is public like the map: it is built from
reference layers only, never from a confidential one (:mod:`layers.basemap.build`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, has_app_context, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as BaseResponse

from layers.basemap import TileFile, open_tile_file, tile_attribution
from layers.errors import StoreError, TileFileError
from layers.settings import BASEMAP_META_PATH, basemap_file
from webmap.access import allow, fail

logger = logging.getLogger(__name__)

bp = Blueprint("fond", __name__)

#: Online raster basemaps selected by name; ``aucun`` draws no tiles at all.
ONLINE: dict[str, dict[str, Any]] = {
    "plan-ign": {
        "label": "Plan IGN v2",
        "url": (
            "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
            "&LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2&STYLE=normal&TILEMATRIXSET=PM"
            "&FORMAT=image/png&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
        ),
        "attribution": "© IGN – Plan IGN v2",
        "maxZoom": 19,
    },
    "osm": {
        "label": "OpenStreetMap",
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attribution": "© les contributeurs d'OpenStreetMap",
        "maxZoom": 19,
    },
    "aucun": {"label": "Aucun fond de plan", "url": None, "attribution": "", "maxZoom": 20},
}
#: Names of the territory's own basemap in ``BASEMAP``.
TERRITORY_NAMES = frozenset({"fond-territoire", "territoire"})
#: Seconds the territory basemap's path (read from the store's meta) is kept.
_PATH_TTL_S = 10.0
_MEDIA_TYPES = {"pbf": "application/vnd.mapbox-vector-tile", "png": "image/png", "jpg": "image/jpeg",
                "webp": "image/webp"}
_EXTENSIONS = {"mvt": "pbf", "pbf": "pbf", "png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}
#: Largest zoom a vector basemap is over-zoomed to.
VECTOR_MAX_ZOOM = 20


def _none(label: str | None = None) -> dict[str, Any]:
    cfg = {"name": "aucun", **ONLINE["aucun"], "kind": "aucun", "bounds": None, "center": None,
           "fallback": None}
    if label:
        cfg["label"] = label
    return cfg


def territory_path() -> Path | None:
    """Return the territory's built basemap (recorded in the store's meta, or at its default place)."""
    if not has_app_context():
        return None
    cache = current_app.extensions.setdefault("qpv_fond", {})
    now = time.monotonic()
    if cache and now - cache["at"] < _PATH_TTL_S:
        return cache["path"]
    recorded = None
    try:
        from webmap.store import get_store

        recorded = get_store().get_meta(BASEMAP_META_PATH)
    except (StoreError, RuntimeError):
        logger.warning("basemap: store meta unreadable", exc_info=True)
    except HTTPException:  # get_store() aborts with a 503 when the store is down: no basemap then
        logger.warning("basemap: store unavailable")
    found = None
    for candidate in (recorded, basemap_file(current_app.instance_path)):
        if candidate and Path(candidate).is_file():
            found = Path(candidate)
            break
    cache.update(at=now, path=found)
    return found


def _local_path(name: str) -> Path:
    path = Path(name)
    if not path.is_absolute() and has_app_context():
        path = Path(current_app.instance_path) / path
    return path


def served_path(name: str | None) -> Path | None:
    """Return the tile file ``/fond/…`` serves for ``BASEMAP`` = ``name`` (None: nothing to serve)."""
    key = (name or "").strip()
    if key.lower().endswith((".pmtiles", ".mbtiles")):
        path = _local_path(key)
        return path if path.is_file() else None
    return territory_path()


def file_config(path: Path, *, name: str, label: str) -> dict[str, Any]:
    """Return the page settings of the local tile file ``path`` (vector or raster), served by the app."""
    tiles = open_tile_file(path)
    version = f"{path.stat().st_mtime_ns:x}"
    vector = tiles.format == "pbf"
    ext = "mvt" if vector else tiles.format
    bounds = tiles.bounds
    center = tiles.center
    return {
        "name": name, "label": label, "kind": "vecteur" if vector else "raster",
        "url": f"/fond/{{z}}/{{x}}/{{y}}.{ext}?v={version}",
        "attribution": tile_attribution(tiles),
        "minZoom": 0, "maxDataZoom": tiles.max_zoom, "minDataZoom": tiles.min_zoom,
        "maxZoom": VECTOR_MAX_ZOOM if vector else min(tiles.max_zoom + 2, VECTOR_MAX_ZOOM),
        "bounds": list(bounds) if bounds else None,
        "center": list(center) if center else None, "fallback": None,
    }


def _territory_config() -> dict[str, Any] | None:
    path = territory_path()
    if path is None:
        return None
    try:
        return file_config(path, name="fond-territoire", label="Fond de plan du territoire (hors ligne)")
    except TileFileError:
        logger.exception("territory basemap unreadable: %s", path)
        return None


def _online(name: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, **settings, "kind": "raster", "bounds": None, "center": None,
            "fallback": _territory_config()}


def basemap_settings(name: str | None) -> dict[str, Any]:
    """Return the settings of base map ``name`` handed to the pages (see the module docstring).

    Returns
    -------
    dict
        ``name``, ``label``, ``kind`` (« vecteur », « raster », « aucun »), ``url`` (z/x/y template,
        None for no tiles), ``attribution`` (of the source actually drawn), ``maxZoom``, ``bounds``
        (``[west, south, east, north]`` or None), ``center`` (``[lon, lat, zoom]`` or None) and
        ``fallback`` (the territory's basemap, used when online tiles fail; None otherwise).
    """
    key = (name or "").strip()
    low = key.lower()
    if not key:
        return _territory_config() or _online("plan-ign", ONLINE["plan-ign"])
    if low in TERRITORY_NAMES:
        return _territory_config() or _none("Fond de plan du territoire non construit (qpv fond construire)")
    if low == "aucun":
        return _none()
    if low in ONLINE:
        return _online(low, ONLINE[low])
    if low.endswith((".pmtiles", ".mbtiles")):
        path = _local_path(key)
        try:
            return file_config(path, name="fichier", label=f"Fond de plan local ({path.name})")
        except TileFileError as exc:
            logger.warning("BASEMAP %r unreadable (%s): no basemap", key, exc)
            return _none(f"Fond de plan « {path.name} » illisible")
    if key.startswith(("http://", "https://", "/")) and "{z}" in key:
        return _online("personnalise", {"label": "Fond de plan en ligne", "url": key, "attribution": "",
                                        "maxZoom": 20})
    logger.warning("BASEMAP %r inconnu : carte sans fond de plan.", key)
    return _none()


def _tile_file() -> TileFile:
    path = served_path(current_app.config.get("BASEMAP"))
    if path is None:
        fail(404, "Aucun fond de plan local : construire celui du territoire avec « qpv fond construire ».")
    try:
        return open_tile_file(path)
    except TileFileError:
        logger.exception("basemap file unreadable: %s", path)
        fail(404, "Fond de plan illisible.")
        raise  # pragma: no cover - fail() raises


@bp.get("/fond/<int:z>/<int:x>/<int:y>.<ext>")
@allow()
def tile(z: int, x: int, y: int, ext: str) -> BaseResponse:
    """Return one tile of the local basemap (204 when the tile is empty, 304 when unchanged)."""
    tiles = _tile_file()
    if _EXTENSIONS.get(ext.lower()) != tiles.format:
        fail(404, f"Ce fond de plan n'a pas de tuiles « .{ext} ».")
    data = tiles.get(z, x, y)
    if not data:
        response = Response(status=204)
    else:
        response = Response(data, status=200, mimetype=_MEDIA_TYPES[tiles.format])
        if data[:2] == b"\x1f\x8b":  # gzip passed through: the browser inflates it
            response.headers["Content-Encoding"] = "gzip"
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.set_etag(f"{tiles.path.stat().st_mtime_ns:x}-{z}-{x}-{y}")
    return response.make_conditional(request)

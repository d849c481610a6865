"""OGC API – Features (Part 1: Core, GeoJSON, HTML) under ``/ogc``, and the GeoJSON helpers.

QGIS's « OGC API – Features » connection (GDAL's OAPIF driver) reads the collections
and pages through ``items`` with the ``next`` links. Coordinates are WGS84 longitude,
latitude (CRS84). Filters: ``bbox``, ``datetime``, ``limit``/``offset`` and equality on
the layer's fields (``?theme=propreté&status=nouveau``).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from flask import Blueprint, Response, render_template, request
from pyproj import Transformer

from layers.schema import LayerSchema
from layers.validate import coerce_field
from webmap.access import allow, can_see, current_role, fail, visible_layer

logger = logging.getLogger(__name__)
T = TypeVar("T")

bp = Blueprint("ogc", __name__, url_prefix="/ogc")

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_INT = 2**53 - 1  # the largest integer JSON clients read exactly
RESERVED = frozenset({"f", "bbox", "bbox-crs", "datetime", "limit", "offset", "crs"})


# -- coordinates --------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def transformer(src: str, dst: str) -> Transformer:
    """A cached always-xy transformer between two CRS (use it through :func:`project`)."""
    return Transformer.from_crs(src, dst, always_xy=True)


@functools.lru_cache(maxsize=1)
def _proj_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="qpv-proj")


def in_proj_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in the one thread that owns the PROJ contexts.

    pyproj rebuilds a transformer's PROJ objects in every new thread (about 15 ms), and
    threaded WSGI servers run each connection in a new thread: handing the few
    coordinate transformations of a request to one long-lived thread avoids that.
    """
    if threading.current_thread().name.startswith("qpv-proj"):
        return fn(*args)
    return _proj_pool().submit(fn, *args).result()


def project(src: str, dst: str, x: Any, y: Any) -> tuple[Any, Any]:
    """Transform coordinates (scalars or arrays) from ``src`` to ``dst``, longitude first."""
    return in_proj_thread(transformer(src, dst).transform, x, y)


def _bounds(src: str, dst: str, bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = in_proj_thread(
        functools.partial(transformer(src, dst).transform_bounds, densify_pts=5), *bbox)
    return float(xmin), float(ymin), float(xmax), float(ymax)


def bbox_to_store(
    bbox: tuple[float, float, float, float], store_crs: str
) -> tuple[float, float, float, float]:
    """Project a CRS84 bbox to the store CRS (envelope of the densified edges)."""
    return _bounds("OGC:CRS84", store_crs, bbox)


def bbox_to_wgs84(bbox: tuple[float, ...] | None, store_crs: str) -> list[float] | None:
    """Project a store-CRS bbox to CRS84, rounded."""
    if bbox is None:
        return None
    xmin, ymin, xmax, ymax = bbox[:4]
    return [round(v, 6) for v in _bounds(store_crs, "OGC:CRS84", (xmin, ymin, xmax, ymax))]


def parse_bbox(text: str | None, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` (or 6 numbers with heights) in CRS84 degrees."""
    if text is None or text == "":
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        fail(400, "Emprise invalide : quatre nombres séparés par des virgules attendus.", field)
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        fail(400, "Emprise invalide : quatre nombres séparés par des virgules attendus.", field)
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        fail(400, "Emprise hors des limites longitude/latitude (CRS84).", field)
    if minx > maxx:
        fail(400, "Emprise invalide : minx > maxx (le passage de l'antiméridien n'est pas géré).", field)
    return minx, miny, maxx, maxy


_ISO = re.compile(r"\d{4}(-\d\d(-\d\d([T ]\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d(:?\d\d)?)?)?)?)?")


def _timestamp(text: str, field: str) -> pd.Timestamp:
    """An ISO 8601 date or datetime, else a 400 naming ``field``.

    Only ISO forms: pandas alone also reads ``-1`` or ``2024-01-01/2023-01-01`` as dates.
    """
    if not _ISO.fullmatch(text.strip()):
        fail(400, f"Date invalide « {text[:40]} » (AAAA-MM-JJ ou ISO 8601 attendu).", field)
    try:
        return pd.Timestamp(text.strip())
    except (ValueError, TypeError, OverflowError):
        fail(400, f"Date invalide « {text[:40]} » (AAAA-MM-JJ ou ISO 8601 attendu).", field)


def _instant(text: str, field: str, *, end: bool) -> pd.Timestamp:
    """Parse one bound; a date-only end bound covers its whole day."""
    ts = _timestamp(text, field)
    if ts is pd.NaT:
        fail(400, f"Date invalide « {text} ».", field)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("Europe/Paris").tz_localize(None)
    if end:
        ts = ts + (timedelta(days=1) if len(text.strip()) <= 10 else timedelta(microseconds=1))
    return ts


def parse_datetime(text: str | None, field: str = "datetime") -> tuple[Any, Any]:
    """Parse an OGC ``datetime``: instant, closed interval ``a/b``, open ``../b`` or ``a/..``.

    Returns
    -------
    start, end : pandas.Timestamp or None
        Half-open bounds ``[start, end)`` for :meth:`LayerStore.read`.
    """
    if not text:
        return None, None
    if "/" not in text:
        return _instant(text, field, end=False), _instant(text, field, end=True)
    left, _, right = text.partition("/")
    start = None if left in ("", "..") else _instant(left, field, end=False)
    stop = None if right in ("", "..") else _instant(right, field, end=True)
    if start is None and stop is None and left != ".." and right != "..":
        fail(400, "Intervalle de dates vide.", field)
    if start is not None and stop is not None and start >= stop:
        fail(400, "Intervalle de dates inversé.", field)
    return start, stop


def parse_date_arg(name: str) -> pd.Timestamp | None:
    """Read query parameter ``name`` as a date or datetime (ISO 8601), local and naive.

    Raises a 400 naming the parameter when it is not a date.
    """
    text = request.args.get(name)
    if not text:
        return None
    ts = _timestamp(text, name)
    if ts is pd.NaT:
        fail(400, f"Date invalide « {text} ».", name)
    return ts.tz_convert("Europe/Paris").tz_localize(None) if ts.tzinfo is not None else ts


def parse_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Parse an integer query parameter (clamped to ``maximum``, or to :data:`MAX_INT`).

    The clamp keeps a huge ``offset`` from overflowing the database's 64-bit integers.
    """
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        fail(400, f"« {name} » doit être un nombre entier.", name)
    if value < minimum:
        fail(400, f"« {name} » doit être supérieur ou égal à {minimum}.", name)
    return min(value, maximum if maximum is not None else MAX_INT)


def field_filters(schema: LayerSchema, args: Mapping[str, str], reserved: frozenset[str]) -> dict[str, Any]:
    """Equality filters from query parameters named after the schema's fields.

    Values are coerced like records (``propreté`` matches « Propreté »; booleans
    ``true``/``false``); an unknown name or a bad value gives a 400 naming it.
    """
    where: dict[str, Any] = {}
    for name, text in args.items():
        if name in reserved:
            continue
        try:
            f = schema.field(name)
        except KeyError:
            fail(400, f"Paramètre inconnu : « {name} ».", name)
        if f.type == "json" or name == "geometry":
            fail(400, f"Filtre impossible sur « {name} ».", name)
        values, bad, reason = coerce_field(pd.Series([text]), f)
        if bool(bad.iloc[0]) or values.isna().iloc[0]:
            fail(400, f"« {name} » : {reason or 'valeur invalide'}.", name)
        value = values.iloc[0]
        if isinstance(value, pd.Timestamp):
            value = value.isoformat()
        elif isinstance(value, np.generic):
            value = value.item()
        where[name] = value
    return where


# -- GeoJSON encoding -----------------------------------------------------------------
def _column_values(values: pd.Series) -> list[Any]:
    """JSON-ready Python values of a column (None for missing), without per-cell pandas calls."""
    if pd.api.types.is_datetime64_any_dtype(values):
        arr = values.to_numpy()
        text = np.datetime_as_string(arr.astype("datetime64[s]"), unit="s").tolist()
        return [None if nat else t for t, nat in zip(text, np.isnat(arr).tolist(), strict=True)]
    if pd.api.types.is_bool_dtype(values):
        return [None if pd.isna(v) else bool(v) for v in values.astype(object).tolist()]
    if pd.api.types.is_integer_dtype(values):
        return [None if pd.isna(v) else int(v) for v in values.astype(object).tolist()]
    if pd.api.types.is_float_dtype(values):
        return [v if math.isfinite(v) else None for v in values.to_numpy(dtype="float64").tolist()]
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v
            for v in values.to_numpy(dtype=object).tolist()]


def _parse_json_value(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def encode_geometries(geoms: np.ndarray, store_crs: str) -> list[dict[str, Any] | None]:
    """GeoJSON geometries in CRS84 (7 decimals) of store-CRS shapely geometries."""
    if len(geoms) == 0:
        return []
    types = shapely.get_type_id(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    out: list[dict[str, Any] | None] = [None] * len(geoms)
    if bool(((types == 0) | missing).all()):
        idx = np.flatnonzero(~missing)
        xy = shapely.get_coordinates(geoms[idx])
        lon, lat = project(store_crs, "OGC:CRS84", xy[:, 0], xy[:, 1])
        for i, x, y in zip(idx.tolist(), np.round(lon, 7).tolist(), np.round(lat, 7).tolist(),
                           strict=True):
            out[i] = {"type": "Point", "coordinates": [x, y]}
        return out

    def to_wgs84(coords: np.ndarray) -> np.ndarray:
        lon, lat = project(store_crs, "OGC:CRS84", coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), 7)

    projected = shapely.transform(geoms, to_wgs84)
    for i, geom in enumerate(projected):
        if not missing[i]:
            out[i] = json.loads(shapely.to_geojson(geom))
    return out


def encode_features(gdf: gpd.GeoDataFrame, schema: LayerSchema, store_crs: str) -> list[dict[str, Any]]:
    """GeoJSON features (``id`` = uid) of records read from the store."""
    geoms = encode_geometries(gdf.geometry.to_numpy(), store_crs) if schema.geometry else [None] * len(gdf)
    names = [n for n in schema.field_names if n in gdf.columns]
    columns = [_column_values(gdf[n]) for n in names]
    json_cols = {i for i, n in enumerate(names) if schema.field(n).type == "json"}
    features = []
    for k, row in enumerate(zip(*columns, strict=True)) if columns else []:
        props = {n: (_parse_json_value(v) if i in json_cols else v)
                 for i, (n, v) in enumerate(zip(names, row, strict=True))}
        features.append({"type": "Feature", "id": props["uid"], "geometry": geoms[k], "properties": props})
    return features


# -- content negotiation ----------------------------------------------------------------
def wants_html() -> bool:
    """``f=html`` or a browser's Accept header (``f`` wins; unknown ``f`` is a 400)."""
    f = request.args.get("f")
    if f is not None:
        if f not in ("json", "geojson", "html"):
            fail(400, "Format inconnu (f=json ou f=html).", "f")
        return f == "html"
    best = request.accept_mimetypes.best_match([GEOJSON, "application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > request.accept_mimetypes[
        "application/json"]


def _url(path: str, **args: Any) -> str:
    base = request.host_url.rstrip("/") + "/ogc" + path
    return base + ("?" + urlencode(args) if args else "")


def _json(body: Any, content_type: str = "application/json", status: int = 200) -> Response:
    resp = Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status,
                    content_type=content_type)
    if content_type == GEOJSON:
        resp.headers["Content-Crs"] = f"<{CRS84}>"
    return resp


def _collection(info: Any, schema: LayerSchema, store_crs: str) -> dict[str, Any]:
    cid = schema.name
    spatial = bbox_to_wgs84(info.bbox, store_crs) or [-180, -90, 180, 90]
    extent: dict[str, Any] = {"spatial": {"bbox": [spatial], "crs": CRS84}}
    if schema.time_field:
        extent["temporal"] = {"interval": [[info.time_min, info.time_max]],
                              "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return {
        "id": cid, "title": schema.label, "description": schema.description or schema.label,
        "itemType": "feature", "crs": [CRS84], "extent": extent,
        "links": [
            {"href": _url(f"/collections/{cid}"), "rel": "self", "type": "application/json",
             "title": schema.label},
            {"href": _url(f"/collections/{cid}", f="html"), "rel": "alternate", "type": "text/html"},
            {"href": _url(f"/collections/{cid}/items"), "rel": "items", "type": GEOJSON,
             "title": f"{schema.label} (GeoJSON)"},
            {"href": _url(f"/collections/{cid}/items", f="html"), "rel": "items", "type": "text/html"},
        ],
    }


def _feature_layers() -> list[Any]:
    from webmap.app import get_store

    role = current_role()
    return [i for i in get_store().layers() if can_see(i.name, role) and _schema(i.name).geometry]


def _schema(name: str) -> LayerSchema:
    from layers.schema import LAYERS

    return LAYERS[name]


# -- routes -----------------------------------------------------------------------------
@bp.get("/")
@bp.get("")
@allow()
def landing() -> Response | str:
    """Landing page."""
    body = {
        "title": "Observatoire GUSP des quartiers prioritaires",
        "description": "Couches de la plateforme (constats, points noirs, bacs…) en OGC API – Features.",
        "links": [
            {"href": _url("/"), "rel": "self", "type": "application/json", "title": "Cette page"},
            {"href": _url("/", f="html"), "rel": "alternate", "type": "text/html"},
            {"href": request.host_url + "openapi.json", "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.0", "title": "Description OpenAPI"},
            {"href": _url("/conformance"), "rel": "conformance", "type": "application/json"},
            {"href": _url("/collections"), "rel": "data", "type": "application/json"},
        ],
    }
    if wants_html():
        return render_template("ogc/landing.html", body=body)
    return _json(body)


@bp.get("/conformance")
@allow()
def conformance() -> Response | str:
    """Conformance classes."""
    body = {"conformsTo": CONFORMANCE}
    if wants_html():
        return render_template("ogc/conformance.html", body=body)
    return _json(body)


@bp.get("/collections")
@allow()
def collections() -> Response | str:
    """The layers the user may see."""
    from webmap.app import get_store

    html = wants_html()
    crs = get_store().crs
    body = {
        "links": [{"href": _url("/collections"), "rel": "self", "type": "application/json"},
                  {"href": _url("/collections", f="html"), "rel": "alternate", "type": "text/html"}],
        "collections": [_collection(i, _schema(i.name), crs) for i in _feature_layers()],
    }
    if html:
        return render_template("ogc/collections.html", body=body)
    return _json(body)


@bp.get("/collections/<cid>")
@allow()
def collection(cid: str) -> Response | str:
    """One collection (404 when unknown or not visible)."""
    from webmap.app import get_store

    schema = visible_layer(cid)
    html = wants_html()
    if not schema.geometry:
        fail(404, f"Couche inconnue « {cid} ».", "layer")
    info = next(i for i in get_store().layers() if i.name == cid)
    body = _collection(info, schema, get_store().crs)
    if html:
        return render_template("ogc/collection.html", body=body)
    return _json(body)


@bp.get("/collections/<cid>/items")
@allow()
def items(cid: str) -> Response | str:
    """Features of a collection, filtered and paged."""
    from webmap.app import get_store

    schema = visible_layer(cid)
    html = wants_html()
    if request.args.get("bbox-crs") not in (None, CRS84):
        fail(400, "Seul le système CRS84 est pris en charge pour bbox-crs.", "bbox-crs")
    if request.args.get("crs") not in (None, CRS84):
        fail(400, "Seul le système CRS84 est pris en charge.", "crs")
    bbox = parse_bbox(request.args.get("bbox"))
    start, end = parse_datetime(request.args.get("datetime"))
    if (start is not None or end is not None) and not schema.time_field:
        fail(400, f"La couche « {cid} » n'est pas datée.", "datetime")
    limit = parse_int("limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = parse_int("offset", 0)
    where = field_filters(schema, request.args, RESERVED)
    store = get_store()
    sbbox = bbox_to_store(bbox, store.crs) if bbox else None
    filters: dict[str, Any] = {"bbox": sbbox, "start": start, "end": end, "where": where or None}
    gdf = store.read(cid, limit=limit, offset=offset, **filters)
    # a first page that is not full holds every match: no need to count
    matched = len(gdf) if offset == 0 and len(gdf) < limit else store.count(cid, **filters)
    features = encode_features(gdf, schema, store.crs)
    args = {k: v for k, v in request.args.items() if k not in ("offset", "f")}
    links = [
        {"href": _url(f"/collections/{cid}/items", **args, offset=offset), "rel": "self", "type": GEOJSON},
        {"href": _url(f"/collections/{cid}/items", **args, offset=offset, f="html"), "rel": "alternate",
         "type": "text/html"},
        {"href": _url(f"/collections/{cid}"), "rel": "collection", "type": "application/json"},
    ]
    if offset + len(features) < matched:
        links.append({"href": _url(f"/collections/{cid}/items", **args, offset=offset + limit),
                      "rel": "next", "type": GEOJSON})
    if offset > 0:
        links.append({"href": _url(f"/collections/{cid}/items", **args, offset=max(0, offset - limit)),
                      "rel": "prev", "type": GEOJSON})
    body = {
        "type": "FeatureCollection", "features": features, "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "links": links,
    }
    if html:
        return render_template("ogc/items.html", body=body, schema=schema, cid=cid)
    return _json(body, GEOJSON)


@bp.get("/collections/<cid>/items/<fid>")
@allow()
def item(cid: str, fid: str) -> Response | str:
    """One feature by uid."""
    from webmap.app import get_store

    schema = visible_layer(cid)
    html = wants_html()
    store = get_store()
    gdf = store.get(cid, fid)
    feature = encode_features(gdf, schema, store.crs)[0]
    feature["links"] = [
        {"href": _url(f"/collections/{cid}/items/{fid}"), "rel": "self", "type": GEOJSON},
        {"href": _url(f"/collections/{cid}/items/{fid}", f="html"), "rel": "alternate", "type": "text/html"},
        {"href": _url(f"/collections/{cid}"), "rel": "collection", "type": "application/json"},
    ]
    if html:
        return render_template("ogc/item.html", feature=feature, schema=schema, cid=cid)
    return _json(feature, GEOJSON)

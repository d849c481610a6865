"""OGC API – Features (Part 1: Core, GeoJSON, HTML) under ``/ogc``.

QGIS's « OGC API – Features » connection (GDAL's OAPIF driver) reads the collections
and pages through ``items`` with the ``next`` links. Coordinates are WGS84 longitude,
latitude (CRS84). Filters: ``bbox``, ``datetime``, ``limit``/``offset`` and equality on
the layer's fields (``?theme=propreté&status=nouveau``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request

from layers.projection import bbox_to_store, bbox_to_wgs84
from layers.schema import LAYERS, LayerSchema
from webmap import oas, params, records
from webmap.access import allow, can_see, current_role, fail
from webmap.geojson import GEOJSON, encode_features, feature_collection, json_response, link, page_links
from webmap.headers import public_url
from webmap.params import CRS84_URI as CRS84
from webmap.store import get_store
from webmap.visibility import check_filters, visible_fields, visible_frame

logger = logging.getLogger(__name__)

bp = Blueprint("ogc", __name__, url_prefix="/ogc")

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
RESERVED = frozenset({"f", "bbox", "bbox-crs", "datetime", "limit", "offset", "crs"})
#: Field filters named in the OpenAPI description (any field of the layer is accepted).
DOCUMENTED_FILTERS = ("theme", "status", "source", "simulated")


def wants_html() -> bool:
    """``f=html`` or a browser's Accept header (``f`` wins; unknown ``f`` is a 400)."""
    return params.wants_html(request.args, request.accept_mimetypes)


def _url(path: str, **args: Any) -> str:
    base = public_url().rstrip("/") + "/ogc" + path
    return base + ("?" + urlencode(args) if args else "")


def _json(body: Any, content_type: str = "application/json", status: int = 200) -> Response:
    resp = json_response(body, content_type, status)
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
            link(_url(f"/collections/{cid}"), "self", "application/json", schema.label),
            link(_url(f"/collections/{cid}", f="html"), "alternate", "text/html"),
            link(_url(f"/collections/{cid}/items"), "items", GEOJSON, f"{schema.label} (GeoJSON)"),
            link(_url(f"/collections/{cid}/items", f="html"), "items", "text/html"),
        ],
    }


def _feature_layers() -> list[Any]:
    role = current_role()
    return [i for i in get_store().layers() if can_see(i.name, role) and LAYERS[i.name].geometry]


def _shown_fields(schema: LayerSchema) -> list[Any]:
    """Return the fields of ``schema`` the current role may see, in order (HTML pages)."""
    shown = visible_fields(schema, current_role())
    return [f for f in schema.all_fields if f.name in shown]


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
            link(_url("/"), "self", "application/json", "Cette page"),
            link(_url("/", f="html"), "alternate", "text/html"),
            link(public_url() + "openapi.json", "service-desc",
                 "application/vnd.oai.openapi+json;version=3.0", "Description OpenAPI"),
            link(_url("/conformance"), "conformance", "application/json"),
            link(_url("/collections"), "data", "application/json"),
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
    """Return the layers the user may see."""
    html = wants_html()
    crs = get_store().crs
    body = {
        "links": [link(_url("/collections"), "self", "application/json"),
                  link(_url("/collections", f="html"), "alternate", "text/html")],
        "collections": [_collection(i, LAYERS[i.name], crs) for i in _feature_layers()],
    }
    if html:
        return render_template("ogc/collections.html", body=body)
    return _json(body)


@bp.get("/collections/<cid>")
@allow(layer_arg="cid")
def collection(cid: str) -> Response | str:
    """One collection (404 when unknown or not visible)."""
    schema = LAYERS[cid]
    html = wants_html()
    if not schema.geometry:
        fail(404, f"Couche inconnue « {cid} ».", "layer")
    info = next(i for i in get_store().layers() if i.name == cid)
    body = _collection(info, schema, get_store().crs)
    if html:
        return render_template("ogc/collection.html", body=body)
    return _json(body)


def _item_filters(schema: LayerSchema) -> dict[str, Any]:
    """Store filters of the ``items`` query: ``bbox``, ``datetime`` and the fields."""
    params.check_crs84(request.args, "bbox-crs")
    params.check_crs84(request.args, "crs")
    bbox = params.parse_bbox(request.args.get("bbox"))
    start, end = params.parse_datetime(request.args.get("datetime"))
    if (start is not None or end is not None) and not schema.time_field:
        fail(400, f"La couche « {schema.name} » n'est pas datée.", "datetime")
    return {"bbox": bbox, "start": start, "end": end}


@bp.get("/collections/<cid>/items")
@allow(layer_arg="cid")
def items(cid: str) -> Response | str:
    """Features of a collection, filtered and paged."""
    schema = LAYERS[cid]
    html = wants_html()
    filters = _item_filters(schema)
    limit = params.parse_int(request.args, "limit", DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    offset = params.parse_int(request.args, "offset", 0)
    hidden = check_filters(schema, current_role(), request.args, RESERVED)
    if hidden:  # same answer as an unknown name: the field's existence is not revealed
        fail(400, f"Paramètre inconnu : « {hidden} ».", hidden)
    where = params.field_filters(schema, request.args, RESERVED)
    store = get_store()
    if filters["bbox"]:
        filters["bbox"] = bbox_to_store(filters["bbox"], store.crs)
    filters["where"] = where or None
    gdf = store.read(cid, limit=limit, offset=offset, **filters)
    # a first page that is not full holds every match: no need to count
    matched = len(gdf) if offset == 0 and len(gdf) < limit else store.count(cid, **filters)
    features = encode_features(visible_frame(gdf, schema, current_role()), schema, store.crs)
    args = {k: v for k, v in request.args.items() if k not in ("offset", "f")}
    path = f"/collections/{cid}/items"
    links = [
        link(_url(path, **args, offset=offset), "self", GEOJSON),
        link(_url(path, **args, offset=offset, f="html"), "alternate", "text/html"),
        link(_url(f"/collections/{cid}"), "collection", "application/json"),
        *page_links(lambda at: _url(path, **args, offset=at), offset=offset, limit=limit,
                    returned=len(features), matched=matched),
    ]
    body = feature_collection(
        features, matched,
        timeStamp=datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"), links=links)
    if html:
        shown = {f.name for f in _shown_fields(schema)}
        columns = [f for f in schema.fields if f.name in shown][:5]
        return render_template("ogc/items.html", body=body, schema=schema, cid=cid, columns=columns)
    return _json(body, GEOJSON)


@bp.get("/collections/<cid>/items/<fid>")
@allow(layer_arg="cid")
def item(cid: str, fid: str) -> Response | str:
    """One feature by uid."""
    schema = LAYERS[cid]
    html = wants_html()
    feature = records.feature(cid, fid)
    feature["links"] = [
        link(_url(f"/collections/{cid}/items/{fid}"), "self", GEOJSON),
        link(_url(f"/collections/{cid}/items/{fid}", f="html"), "alternate", "text/html"),
        link(_url(f"/collections/{cid}"), "collection", "application/json"),
    ]
    if html:
        return render_template("ogc/item.html", feature=feature, schema=schema, cid=cid,
                               fields=_shown_fields(schema))
    return _json(feature, GEOJSON)


# -- OpenAPI ----------------------------------------------------------------------------
_FORMAT = oas.param(
    "f", "query", "Format de sortie (sinon négociation par l'en-tête Accept).",
    {"type": "string", "enum": ["json", "html"]},
)


def _french_int(n: int) -> str:
    """``10000`` → ``10 000``."""
    return f"{n:,}".replace(",", " ")


def _items_parameters() -> list[dict[str, Any]]:
    """Return the ``items`` query parameters, from the limits and names parsed above."""
    return [
        oas.param(
            "limit", "query",
            f"Nombre maximal d'objets ({DEFAULT_LIMIT} par défaut, {_french_int(MAX_LIMIT)} au plus).",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        ),
        oas.param("offset", "query", "Rang du premier objet.",
                  {"type": "integer", "minimum": 0, "default": 0}),
        oas.param(
            "bbox", "query", "minx,miny,maxx,maxy en CRS84.",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        ),
        oas.param("bbox-crs", "query", "Seul CRS84 est accepté.", {"type": "string"}),
        oas.param("datetime", "query", "Instant, intervalle a/b ou ouvert ../b, a/.. (ISO 8601)."),
        oas.param("crs", "query", "Seul CRS84 est accepté.", {"type": "string"}),
        *(oas.param(n, "query", "Égalité sur un champ de la couche (theme, status, source…).")
          for n in DOCUMENTED_FILTERS),
    ]


def _get(summary: str, response: dict[str, Any], *errors: int, op_id: str,
         parameters: list[Any] | None = None) -> dict[str, Any]:
    return {"get": oas.operation(summary, "ogc", {"200": oas.or_html(response), **oas.errors(*errors)},
                                 parameters=[*(parameters or []), _FORMAT], op_id=op_id)}


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of the OGC API."""
    cid = oas.param(
        "collectionId", "path", "Identifiant de collection (nom de couche).",
        {"type": "string", "enum": [n for n, s in LAYERS.items() if s.geometry]},
    )
    fid = oas.param("featureId", "path", "uid de l'objet.")
    return {
        "/ogc": _get("Page d'accueil OGC API – Features", oas.ok("Accueil.", oas.ref("LandingPage")), 400,
                     op_id="ogcLanding"),
        "/ogc/conformance": _get("Classes de conformité", oas.ok("Conformité.", oas.ref("Conformance")), 400,
                                 op_id="ogcConformance"),
        "/ogc/collections": _get("Collections visibles", oas.ok("Collections.", oas.ref("Collections")), 400,
                                 op_id="ogcCollections"),
        "/ogc/collections/{collectionId}": _get(
            "Une collection", oas.ok("Collection.", oas.ref("Collection")), 400, 404,
            parameters=[cid], op_id="ogcCollection"),
        "/ogc/collections/{collectionId}/items": _get(
            "Objets d'une collection", oas.feature_collection_response(), 400, 404,
            parameters=[cid, *_items_parameters()], op_id="ogcItems"),
        "/ogc/collections/{collectionId}/items/{featureId}": _get(
            "Un objet", oas.feature_response(), 400, 404, parameters=[cid, fid], op_id="ogcItem"),
    }


def openapi_schemas() -> dict[str, Any]:
    """Return the OpenAPI schemas of the OGC API's bodies."""
    links = {"type": "array", "items": oas.ref("Link")}
    return {
        "LandingPage": {
            "type": "object", "required": ["links"],
            "properties": {"title": {"type": "string"}, "description": {"type": "string"}, "links": links},
        },
        "Conformance": {
            "type": "object", "required": ["conformsTo"],
            "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
        },
        "Collection": {
            "type": "object", "required": ["id", "links"],
            "properties": {
                "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
                "itemType": {"type": "string"}, "crs": {"type": "array", "items": {"type": "string"}},
                "extent": {"type": "object"}, "links": links,
            },
        },
        "Collections": {
            "type": "object", "required": ["links", "collections"],
            "properties": {"links": links, "collections": {"type": "array", "items": oas.ref("Collection")}},
        },
    }

"""The OpenAPI 3.0 description of every endpoint, served at ``/openapi.json``.

Written by hand (no generator). Each blueprint module describes its own paths
(``openapi_paths()``) and the schemas of its bodies (``openapi_schemas()``) from the
constants it parses with; this module assembles them with the shared components
(errors, links, GeoJSON, the record properties of every layer from
:data:`layers.schema.LAYERS`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, json

from layers.schema import LAYERS
from webmap import api, auth, lookup_api, oas, ogcapi, open311
from webmap.access import allow
from webmap.headers import public_url

bp = Blueprint("openapi", __name__)

OPENAPI_MIME = "application/vnd.oai.openapi+json;version=3.0"
TAGS = ("carte", "constats", "comptes", "ogc", "open311")
_TYPES = {
    "str": "string", "int": "integer", "float": "number", "bool": "boolean", "date": "string",
    "datetime": "string", "json": "string",
}


def _feature_schema() -> dict[str, Any]:
    return {
        "type": "object", "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
            "geometry": {"type": "object", "nullable": True, "description": "Géométrie GeoJSON en CRS84."},
            "properties": {"type": "object", "additionalProperties": True},
            "links": {"type": "array", "items": oas.ref("Link")},
        },
    }


def _layer_record_schemas() -> dict[str, Any]:
    out = {}
    for schema in LAYERS.values():
        props: dict[str, Any] = {}
        for f in schema.all_fields:
            p: dict[str, Any] = {
                "type": _TYPES[f.type], "nullable": not f.required, "description": f.label or f.name,
            }
            if f.type == "date":
                p["format"] = "date"
            if f.type == "datetime":
                p["format"] = "date-time"
            if f.choices:
                p["enum"] = list(f.choices)
            if f.type == "json":
                p = {"nullable": True, "description": f"{f.label} (JSON)"}
            props[f.name] = p
        out[f"Properties_{schema.name}"] = {
            "type": "object", "description": schema.label, "properties": props,
        }
    return out


def _shared_schemas() -> dict[str, Any]:
    links = {"type": "array", "items": oas.ref("Link")}
    return {
        "Error": {
            "type": "object", "required": ["erreur"],
            "properties": {
                "erreur": {"type": "string", "description": "Message en français."},
                "champ": {"type": "string", "description": "Champ ou paramètre en cause."},
            },
        },
        "Link": {
            "type": "object", "required": ["href"],
            "properties": {
                "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
                "title": {"type": "string"},
            },
        },
        "Feature": _feature_schema(),
        "FeatureCollection": {
            "type": "object", "required": ["type", "features"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": oas.ref("Feature")},
                "numberMatched": {"type": "integer", "minimum": 0},
                "numberReturned": {"type": "integer", "minimum": 0},
                "timeStamp": {"type": "string", "format": "date-time"},
                "clustered": {
                    "type": "boolean",
                    "description": "Vrai si les objets sont regroupés en "
                    "grappes (properties.cluster, count, bbox).",
                },
                "truncated": {"type": "boolean"}, "zoom": {"type": "integer"},
                "links": links,
            },
        },
        **_layer_record_schemas(),
    }


def _components() -> dict[str, Any]:
    err = oas.json_content(oas.ref("Error"))
    return {
        "schemas": {**_shared_schemas(), **api.openapi_schemas(), **ogcapi.openapi_schemas(),
                    **open311.openapi_schemas()},
        "responses": {
            "BadRequest": {"description": "Entrée invalide : le champ en cause est nommé.", **err},
            "Unauthorized": {"description": "Connexion requise.", **err},
            "Forbidden": {"description": "Rôle insuffisant.", **err},
            "NotFound": {"description": "Inconnu, ou couche non visible pour ce rôle.", **err},
            "Unsupported": {"description": "Type de contenu non pris en charge.", **err},
        },
        "securitySchemes": {
            "session": {
                "type": "apiKey", "in": "cookie", "name": "session",
                "description": "Session ouverte par /connexion ; les écritures portent X-CSRFToken.",
            },
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
    }


def openapi_paths() -> dict[str, Any]:
    """Return the path item of this document."""
    return {"/openapi.json": {"get": oas.operation(
        "Ce document", "ogc", {"200": oas.ok("OpenAPI 3.0.", {"type": "object"}, OPENAPI_MIME)},
        op_id="openapi")}}


def build_spec(server_url: str = "/") -> dict[str, Any]:
    """Return the OpenAPI 3.0.3 document."""
    paths = {**auth.openapi_paths(), **api.openapi_paths(), **ogcapi.openapi_paths(),
             **open311.openapi_paths(), **lookup_api.openapi_paths(), **openapi_paths()}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Observatoire GUSP des QPV — API", "version": "1.0.0",
            "description": "Carte des techniciens, OGC API – Features, Open311 GeoReport v2. "
            "Coordonnées en WGS84 (CRS84) ; erreurs {erreur, champ} en français.",
            "license": {"name": "EUPL-1.2"},
        },
        "servers": [{"url": server_url}],
        "tags": [{"name": t} for t in TAGS], "paths": paths,
        "components": _components(),
    }


@bp.get("/openapi.json")
@allow()
def openapi_json() -> Response:
    """Serve the OpenAPI document."""
    return Response(json.dumps(build_spec(public_url()), ensure_ascii=False), content_type=OPENAPI_MIME)

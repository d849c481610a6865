"""The OpenAPI 3.0 description of every endpoint, served at ``/openapi.json``.

Written by hand (no generator). Each blueprint module describes its own paths
(``openapi_paths()``) and the schemas of its bodies (``openapi_schemas()``) from the
constants it parses with; this module assembles them with the shared components
(errors, links, GeoJSON, the record properties of every layer from
:data:`layers.schema.LAYERS`).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, json

from layers.schema import LAYERS
from webmap import (
    _api_openapi,
    actions_api,
    auth,
    lookup_api,
    oas,
    observations_api,
    ogcapi,
    open311,
    planner_api,
    suivi_api,
)
from webmap.access import allow, can_see, current_role, has_role
from webmap.headers import public_url
from webmap.jobs import views as jobs_views
from webmap.visibility import visible_fields

bp = Blueprint("openapi", __name__)

OPENAPI_MIME = "application/vnd.oai.openapi+json;version=3.0"
TAGS = ("carte", "constats", "actions", "comptes", "diagnostics", "ogc", "open311", "travaux")
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
        "schemas": {**_shared_schemas(), **_api_openapi.openapi_schemas(), **ogcapi.openapi_schemas(),
                    **open311.openapi_schemas(), **actions_api.openapi_schemas(),
                    **observations_api.openapi_schemas()},
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
    paths = {**auth.openapi_paths(), **_api_openapi.openapi_paths(), **ogcapi.openapi_paths(),
             **open311.openapi_paths(), **lookup_api.openapi_paths(), **jobs_views.openapi_paths(),
             **planner_api.openapi_paths(), **actions_api.openapi_paths(), **observations_api.openapi_paths(),
             **openapi_paths()}
    for path, item in suivi_api.openapi_paths().items():  # GET beside api's POST on the same paths
        paths[path] = {**paths.get(path, {}), **item}
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


def spec_for_role(role: str) -> dict[str, Any]:
    """Return the OpenAPI document as ``role`` may read it (cached per role by the app).

    Only the operations that role may call (minimum role and fixed layer declared by
    :func:`webmap.access.allow`), only the layers it may see in the enums, and only the
    fields it may see in the record schemas: a confidential layer is absent for the roles
    that may not see it.
    """
    cache = current_app.extensions.setdefault("qpv_openapi", {})
    if role not in cache:
        spec = build_spec("/")
        visible = [name for name in LAYERS if can_see(name, role)]
        _keep_operations(spec, role)
        _restrict_layers(spec, set(LAYERS) - set(visible), visible)
        _restrict_fields(spec, role)
        _drop_unreferenced(spec)
        cache[role] = json.dumps(spec, ensure_ascii=False)
    return dict(json.loads(cache[role]))


def _rule_pattern(rule: str) -> re.Pattern[str]:
    """Regular expression matching the OpenAPI paths of a Flask rule (``<x>`` any segment part)."""
    parts = re.split(r"<[^>]+>", rule)
    return re.compile("^" + "[^/]+".join(re.escape(p) for p in parts) + "$")


def _keep_operations(spec: dict[str, Any], role: str) -> None:
    """Drop the operations ``role`` may not call: higher minimum role, or a fixed layer it cannot see."""
    rules = [(_rule_pattern(r.rule), r.methods or set(), current_app.view_functions[r.endpoint])
             for r in current_app.url_map.iter_rules() if r.endpoint != "static"]
    for path in list(spec["paths"]):
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        item = spec["paths"][path]
        for method in [m for m in item if m in ("get", "post", "patch", "put", "delete")]:
            views = [v for pattern, methods, v in rules
                     if method.upper() in methods and pattern.match(concrete)]
            access_rule = getattr(views[0], "_qpv_rule", None) if views else None
            if access_rule is None:
                continue
            if not has_role(access_rule.minimum, role) or (
                    access_rule.layer and not can_see(access_rule.layer, role)):
                del item[method]
        if not any(m in item for m in ("get", "post", "patch", "put", "delete")):
            del spec["paths"][path]


def _restrict_layers(node: Any, hidden: set[str], visible: list[str]) -> None:
    """Remove the ``hidden`` layers from every enum of layer names and their record schemas."""
    if isinstance(node, dict):
        enum = node.get("enum")
        if isinstance(enum, list) and enum and all(isinstance(v, str) and v in LAYERS for v in enum):
            node["enum"] = [v for v in enum if v not in hidden]
        for name in hidden:
            node.pop(f"Properties_{name}", None)
        for value in node.values():
            _restrict_layers(value, hidden, visible)
    elif isinstance(node, list):
        for value in node:
            _restrict_layers(value, hidden, visible)


def _restrict_fields(spec: dict[str, Any], role: str) -> None:
    """Keep in the record schemas (and the history entries) only the fields ``role`` may see."""
    schemas = spec["components"]["schemas"]
    for name, schema in LAYERS.items():
        props = schemas.get(f"Properties_{name}", {}).get("properties")
        if props is not None:
            shown = visible_fields(schema, role)
            for field in [f for f in props if f not in shown]:
                del props[field]
    history = next(c for c in LAYERS["observations"].children if c.name == "historique")
    shown = visible_fields(history, role, key="observations.historique")
    props = schemas.get("HistoryEntry", {}).get("properties", {})
    for field in [f for f in props if f not in shown]:
        del props[field]


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _drop_unreferenced(spec: dict[str, Any]) -> None:
    """Drop the component schemas no remaining operation refers to (even indirectly)."""
    schemas = spec["components"]["schemas"]
    used = _refs(spec["paths"]) | _refs(spec["components"].get("responses", {}))
    todo = list(used)
    while todo:
        for name in _refs(schemas.get(todo.pop(), {})) - used:
            used.add(name)
            todo.append(name)
    for name in [n for n in schemas if n not in used and not n.startswith("Properties_")]:
        del schemas[name]


@bp.get("/openapi.json")
@allow()
def openapi_json() -> Response:
    """Serve the OpenAPI document of the current role."""
    spec = spec_for_role(current_role())
    spec["servers"] = [{"url": public_url()}]
    return Response(json.dumps(spec, ensure_ascii=False), content_type=OPENAPI_MIME)

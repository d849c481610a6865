"""Building blocks of the OpenAPI 3.0 description, shared by the blueprints.

Each blueprint module describes its own paths (``openapi_paths()``) and the schemas of
its bodies (``openapi_schemas()``) with these helpers; :mod:`webmap.openapi` assembles
them with the shared components below.
"""

from __future__ import annotations

from typing import Any

from webmap.geojson import GEOJSON

JSON = "application/json"

_ERROR_RESPONSES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                    415: "Unsupported"}


def ref(name: str) -> dict[str, str]:
    """Return a reference to schema ``name`` of the components."""
    return {"$ref": f"#/components/schemas/{name}"}


def response_ref(name: str) -> dict[str, str]:
    """Return a reference to response ``name`` of the components."""
    return {"$ref": f"#/components/responses/{name}"}


def param(
    name: str, where: str, description: str, schema: dict[str, Any] | None = None, required: bool = False
) -> dict[str, Any]:
    """Return a parameter (``where``: ``path`` or ``query``; path parameters are required)."""
    return {
        "name": name, "in": where, "required": required or where == "path", "description": description,
        "schema": schema or {"type": "string"},
    }


def json_content(schema: dict[str, Any], mime: str = JSON) -> dict[str, Any]:
    """Return a ``content`` member holding one media type."""
    return {"content": {mime: {"schema": schema}}}


def ok(description: str, schema: dict[str, Any], mime: str = JSON) -> dict[str, Any]:
    """Return a response with a body."""
    return {"description": description, **json_content(schema, mime)}


def or_html(response: dict[str, Any]) -> dict[str, Any]:
    """Return the same 200 response, also available as an HTML page (OGC ``f=html``)."""
    content = dict(response.get("content", {}))
    content["text/html"] = {"schema": {"type": "string"}}
    return {**response, "content": content}


def errors(*codes: int) -> dict[str, Any]:
    """Return the error responses ``codes`` (JSON ``{erreur, champ}``)."""
    return {str(c): response_ref(_ERROR_RESPONSES[c]) for c in codes}


def operation(
    summary: str, tag: str, responses: dict[str, Any], *, parameters: list[Any] | None = None,
    body: dict[str, Any] | None = None, write: bool = False, op_id: str,
) -> dict[str, Any]:
    """Return an operation; ``write`` ones need a session with its CSRF token, or an API key."""
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "operationId": op_id, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    if write:
        op["security"] = [{"session": [], "csrf": []}, {"apiKey": []}]
    return op


def feature_collection_response() -> dict[str, Any]:
    """Return the 200 response of a GeoJSON FeatureCollection."""
    return ok("Collection GeoJSON (CRS84).", ref("FeatureCollection"), GEOJSON)


def feature_response() -> dict[str, Any]:
    """Return the 200 response of one GeoJSON Feature."""
    return ok("Objet GeoJSON (CRS84).", ref("Feature"), GEOJSON)

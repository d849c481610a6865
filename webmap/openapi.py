"""The OpenAPI 3.0 description of every endpoint, served at ``/openapi.json``.

Written by hand (no generator): paths, parameters, bodies, answers and schemas. The
field lists of the layers come from :data:`layers.schema.LAYERS`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, json, request

from layers.schema import LAYERS, OBSERVATION_SOURCES, OBSERVATION_STATUSES, THEMES
from webmap.access import allow

bp = Blueprint("openapi", __name__)

_JSON = "application/json"
_GEOJSON = "application/geo+json"
_TYPES = {
    "str": "string", "int": "integer", "float": "number", "bool": "boolean", "date": "string",
    "datetime": "string", "json": "string",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(ref: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{ref}"}


def _param(
    name: str, where: str, description: str, schema: dict[str, Any] | None = None, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name, "in": where, "required": required or where == "path", "description": description,
        "schema": schema or {"type": "string"},
    }


def _json_content(schema: dict[str, Any], mime: str = _JSON) -> dict[str, Any]:
    return {"content": {mime: {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any], mime: str = _JSON) -> dict[str, Any]:
    return {"description": description, **_json_content(schema, mime)}


def _or_html(response: dict[str, Any]) -> dict[str, Any]:
    """The same 200 response, also available as an HTML page (OGC ``f=html``)."""
    content = dict(response.get("content", {}))
    content["text/html"] = {"schema": {"type": "string"}}
    return {**response, "content": content}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 415: "Unsupported"}
    return {str(c): _resp(names[c]) for c in codes}


_LAYER = _param(
    "layer", "path", "Nom de la couche (404 si elle est inconnue ou invisible pour ce rôle).",
    {"type": "string", "enum": list(LAYERS)},
)
_UID = _param("uid", "path", "Identifiant stable (uid) de l'enregistrement.")
_FILTERS = [
    _param(
        "bbox", "query", "Emprise minx,miny,maxx,maxy en degrés CRS84.",
        {"type": "string", "pattern": r"^-?[0-9.]+(,-?[0-9.]+){3}$"},
    ),
    _param("start", "query", "Début (inclus) de la période, date ISO.", {"type": "string", "format": "date"}),
    _param("end", "query", "Fin (exclue) de la période, date ISO.", {"type": "string", "format": "date"}),
    _param("theme", "query", "Thème (couche observations).", {"type": "string", "enum": list(THEMES)}),
    _param("status", "query", "Statut.", {"type": "string"}),
    _param("source", "query", "Origine.", {"type": "string", "enum": list(OBSERVATION_SOURCES)}),
    _param("quartier", "query", "Code d'un périmètre (QP075019…) : objets qui l'intersectent."),
    _param(
        "simulated", "query", "Données simulées seulement (true) ou réelles seulement (false).",
        {"type": "boolean"},
    ),
]
_OGC_COMMON = [
    _param(
        "f", "query", "Format de sortie (sinon négociation par l'en-tête Accept).",
        {"type": "string", "enum": ["json", "html"]},
    )
]


def _feature_schema() -> dict[str, Any]:
    return {
        "type": "object", "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
            "geometry": {"type": "object", "nullable": True, "description": "Géométrie GeoJSON en CRS84."},
            "properties": {"type": "object", "additionalProperties": True},
            "links": {"type": "array", "items": _ref("Link")},
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


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {
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
                "features": {"type": "array", "items": _ref("Feature")},
                "numberMatched": {"type": "integer", "minimum": 0},
                "numberReturned": {"type": "integer", "minimum": 0},
                "timeStamp": {"type": "string", "format": "date-time"},
                "clustered": {
                    "type": "boolean",
                    "description": "Vrai si les objets sont regroupés en "
                    "grappes (properties.cluster, count, bbox).",
                },
                "truncated": {"type": "boolean"}, "zoom": {"type": "integer"},
                "links": {"type": "array", "items": _ref("Link")},
            },
        },
        "Session": {
            "type": "object", "required": ["user", "role", "organisation", "csrf_token"],
            "properties": {
                "user": {"type": "string", "nullable": True},
                "role": {"type": "string", "enum": ["anonyme", "lecteur", "technicien", "administrateur"]},
                "organisation": {"type": "string", "nullable": True},
                "csrf_token": {"type": "string", "description": "À renvoyer dans l'en-tête X-CSRFToken."},
            },
        },
        "User": {
            "type": "object",
            "properties": {
                "login": {"type": "string"}, "role": {"type": "string"}, "organisation": {"type": "string"},
            },
        },
        "FieldInfo": {
            "type": "object",
            "properties": {
                "name": {"type": "string"}, "label": {"type": "string"}, "type": {"type": "string"},
                "choices": {"type": "array", "nullable": True, "items": {"type": "string"}},
                "required": {"type": "boolean"},
            },
        },
        "LayerInfo": {
            "type": "object",
            "properties": {
                "name": {"type": "string"}, "label": {"type": "string"},
                "geometry": {"type": "string", "nullable": True}, "count": {"type": "integer"},
                "simulated": {"type": "integer"}, "time_field": {"type": "string", "nullable": True},
                "time_min": {"type": "string", "nullable": True},
                "time_max": {"type": "string", "nullable": True},
                "bbox": {
                    "type": "array", "nullable": True, "items": {"type": "number"}, "minItems": 4,
                    "maxItems": 4,
                },
                "confidential": {"type": "boolean"}, "reference": {"type": "boolean"},
                "fields": {"type": "array", "items": _ref("FieldInfo")},
                "children": {"type": "array", "items": {"type": "string"}},
            },
        },
        "Stats": {
            "type": "object", "required": ["total"],
            "properties": {
                "total": {"type": "integer"},
                **{
                    k: {"type": "object", "additionalProperties": {"type": "integer"}}
                    for k in ("by_month", "by_theme", "by_status", "by_source", "by_simulated")
                },
            },
        },
        "Created": {
            "type": "object", "required": ["uid"],
            "properties": {
                "uid": {"type": "string"}, "created": {"type": "boolean"},
                "record": {"allOf": [_ref("Feature")], "description": "Enregistrement existant (renvoi)."},
            },
        },
        "ObservationInput": {
            "type": "object", "required": ["lon", "lat", "theme"],
            "properties": {
                "uid": {
                    "type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$",
                    "description": "Identifiant choisi par le client : un renvoi ne crée pas de doublon.",
                },
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "theme": {"type": "string", "enum": list(THEMES)}, "description": {"type": "string"},
                "subtheme": {"type": "string"}, "address": {"type": "string"},
                "status": {"type": "string", "enum": list(OBSERVATION_STATUSES)},
                "source": {"type": "string", "enum": list(OBSERVATION_SOURCES)}, "pilote": {"type": "string"},
                "partenaires": {"type": "string"}, "domanialite": {"type": "string"},
                "deadline": {"type": "string", "format": "date"},
                "observed_at": {"type": "string", "format": "date-time"}, "walk_id": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "ObservationMultipart": {
            "allOf": [
                _ref("ObservationInput"),
                {
                    "type": "object",
                    "properties": {
                        "photos": {
                            "type": "array", "maxItems": 5, "items": {"type": "string", "format": "binary"},
                            "description": "JPEG, PNG ou WebP, 5 Mo au plus chacune.",
                        },
                        "csrf_token": {"type": "string"},
                    },
                },
            ]
        },
        "StatusChange": {
            "type": "object", "required": ["status"], "additionalProperties": False,
            "properties": {
                "status": {"type": "string", "enum": list(OBSERVATION_STATUSES)},
                "comment": {"type": "string"},
            },
        },
        "HistoryEntry": {
            "type": "object",
            "properties": {
                "status": {"type": "string"}, "changed_at": {"type": "string", "format": "date-time"},
                "changed_by": {"type": "string", "nullable": True},
                "comment": {"type": "string", "nullable": True},
            },
        },
        "DumpingEvent": {
            "type": "object", "required": ["observed_at"], "additionalProperties": False,
            "properties": {
                "observed_at": {"type": "string", "format": "date-time"},
                "waste_type": {
                    "type": "string",
                    "enum": list(
                        LAYERS["points_noirs"].child("evenements").field("waste_type").choices or ()
                    ),
                },
                "volume_m3": {"type": "number", "minimum": 0, "maximum": 500},
                "cleaned_at": {"type": "string", "format": "date-time"}, "description": {"type": "string"},
            },
        },
        "FillReading": {
            "type": "object", "required": ["measured_at", "fill_pct"], "additionalProperties": False,
            "properties": {
                "measured_at": {"type": "string", "format": "date-time"},
                "fill_pct": {"type": "number", "minimum": 0, "maximum": 100},
            },
        },
        "LandingPage": {
            "type": "object", "required": ["links"],
            "properties": {
                "title": {"type": "string"}, "description": {"type": "string"},
                "links": {"type": "array", "items": _ref("Link")},
            },
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
                "extent": {"type": "object"}, "links": {"type": "array", "items": _ref("Link")},
            },
        },
        "Collections": {
            "type": "object", "required": ["links", "collections"],
            "properties": {
                "links": {"type": "array", "items": _ref("Link")},
                "collections": {"type": "array", "items": _ref("Collection")},
            },
        },
        "Service311": {
            "type": "object",
            "properties": {
                "service_code": {"type": "string"}, "service_name": {"type": "string"},
                "description": {"type": "string"}, "metadata": {"type": "boolean"},
                "type": {"type": "string"}, "keywords": {"type": "string"}, "group": {"type": "string"},
            },
        },
        "Request311": {
            "type": "object",
            "properties": {
                "service_request_id": {"type": "string"},
                "status": {"type": "string", "enum": ["open", "closed"]},
                "status_notes": {"type": "string", "nullable": True}, "service_name": {"type": "string"},
                "service_code": {"type": "string", "nullable": True},
                "description": {"type": "string", "nullable": True},
                "agency_responsible": {"type": "string", "nullable": True},
                "service_notice": {"type": "string", "nullable": True},
                "requested_datetime": {"type": "string", "nullable": True},
                "updated_datetime": {"type": "string", "nullable": True},
                "expected_datetime": {"type": "string", "nullable": True},
                "address": {"type": "string", "nullable": True},
                "zipcode": {"type": "string", "nullable": True}, "lat": {"type": "number", "nullable": True},
                "long": {"type": "number", "nullable": True},
                "media_url": {"type": "string", "nullable": True},
            },
        },
        "Request311Input": {
            "type": "object", "required": ["api_key", "service_code", "lat", "long"],
            "properties": {
                "api_key": {"type": "string"}, "service_code": {"type": "string"}, "lat": {"type": "number"},
                "long": {"type": "number"}, "address_string": {"type": "string"},
                "description": {"type": "string"}, "media_url": {"type": "string", "format": "uri"},
                **{
                    k: {"type": "string", "description": "Accepté, non conservé."}
                    for k in ("email", "first_name", "last_name", "phone", "device_id")
                },
            },
        },
        "Request311Created": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "service_request_id": {"type": "string"}, "service_notice": {"type": "string"},
                    "account_id": {"type": "string", "nullable": True},
                },
            },
        },
        **_layer_record_schemas(),
    }
    err = _json_content(_ref("Error"))
    return {
        "schemas": schemas,
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


def _op(
    summary: str, tag: str, responses: dict[str, Any], *, parameters: list[Any] | None = None,
    body: dict[str, Any] | None = None, write: bool = False, op_id: str,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "operationId": op_id, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    if write:
        op["security"] = [{"session": [], "csrf": []}, {"apiKey": []}]
    return op


def build_spec(server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.0.3 document."""
    fc = _ok("Collection GeoJSON (CRS84).", _ref("FeatureCollection"), _GEOJSON)
    feat = _ok("Objet GeoJSON (CRS84).", _ref("Feature"), _GEOJSON)
    created = _ok("Créé.", _ref("Created"))
    existing = _ok("Déjà enregistré (même uid) : rien n'est ajouté.", _ref("Created"))
    paging = [
        _param(
            "limit", "query", "Nombre maximal d'objets (100 par défaut, 10 000 au plus).",
            {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100},
        ),
        _param("offset", "query", "Rang du premier objet.", {"type": "integer", "minimum": 0, "default": 0}),
    ]
    ogc_filters = [
        _param(
            "bbox", "query", "minx,miny,maxx,maxy en CRS84.",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
        ),
        _param("bbox-crs", "query", "Seul CRS84 est accepté.", {"type": "string"}),
        _param("datetime", "query", "Instant, intervalle a/b ou ouvert ../b, a/.. (ISO 8601)."),
        _param("crs", "query", "Seul CRS84 est accepté.", {"type": "string"}),
    ]
    ogc_props = [
        _param(n, "query", "Égalité sur un champ de la couche (theme, status, source…).")
        for n in ("theme", "status", "source", "simulated")
    ]
    cid = _param(
        "collectionId", "path", "Identifiant de collection (nom de couche).",
        {"type": "string", "enum": [n for n, s in LAYERS.items() if s.geometry]},
    )
    paths: dict[str, Any] = {
        "/connexion": {
            "get": _op(
                "Formulaire de connexion", "comptes",
                {
                    "200": {
                        "description": "Page HTML.", "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
                op_id="loginForm",
            ),
            "post": _op(
                "Connexion", "comptes",
                {
                    "302": {"description": "Connecté·e : redirection."},
                    "400": {"description": "Jeton CSRF manquant ou invalide."},
                    "401": {"description": "Identifiants incorrects."},
                },
                body={
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object", "required": ["login", "password", "csrf_token"],
                                "properties": {
                                    "login": {"type": "string"}, "password": {"type": "string"},
                                    "csrf_token": {"type": "string"}, "suivant": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                op_id="login",
            ),
        },
        "/deconnexion": {
            "post": _op(
                "Déconnexion", "comptes", {"302": {"description": "Déconnecté·e."}, **_errors(400)},
                op_id="logout",
            )
        },
        "/api/session": {
            "get": _op(
                "Session courante et jeton CSRF", "carte", {"200": _ok("Session.", _ref("Session"))},
                op_id="getSession",
            )
        },
        "/api/users": {
            "get": _op(
                "Comptes (administrateurs)", "comptes",
                {"200": _ok("Comptes.", {"type": "array", "items": _ref("User")}), **_errors(401, 403)},
                op_id="listUsers",
            )
        },
        "/api/layers": {
            "get": _op(
                "Couches visibles pour ce rôle", "carte",
                {"200": _ok("Couches.", {"type": "array", "items": _ref("LayerInfo")})}, op_id="listLayers",
            )
        },
        "/api/layers/{layer}/features": {
            "get": _op(
                "Objets d'une couche dans la vue (grappes au-delà de limit si zoom < 16)", "carte",
                {"200": fc, **_errors(400, 404)}, op_id="layerFeatures",
                parameters=[
                    _LAYER, *_FILTERS,
                    _param(
                        "limit", "query", "Nombre maximal d'objets (5000 par défaut).",
                        {"type": "integer", "minimum": 1, "maximum": 50000, "default": 5000},
                    ),
                    _param(
                        "zoom", "query", "Niveau de zoom de la carte (déduit de bbox sinon).",
                        {"type": "integer", "minimum": 0, "maximum": 24},
                    ),
                ],
            )
        },
        "/api/layers/{layer}/stats": {
            "get": _op(
                "Effectifs de la sélection", "carte",
                {"200": _ok("Effectifs.", _ref("Stats")), **_errors(400, 404)},
                parameters=[_LAYER, *_FILTERS], op_id="layerStats",
            )
        },
        "/api/layers/{layer}/export.geojson": {
            "get": _op(
                "Export GeoJSON (WGS84) de la sélection", "carte",
                {
                    "200": {
                        "description": "Fichier joint.",
                        "content": {_GEOJSON: {"schema": _ref("FeatureCollection")}},
                    },
                    **_errors(400, 404),
                },
                parameters=[_LAYER, *_FILTERS], op_id="exportGeojson",
            )
        },
        "/api/layers/{layer}/export.csv": {
            "get": _op(
                "Export CSV (lon, lat, WKT Lambert-93) de la sélection", "carte",
                {
                    "200": {
                        "description": "Fichier joint (séparateur ;).",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **_errors(400, 404),
                },
                parameters=[_LAYER, *_FILTERS], op_id="exportCsv",
            )
        },
        "/api/observations": {
            "post": _op(
                "Nouveau constat (technicien)", "constats",
                {"201": created, "200": existing, **_errors(400, 401, 403, 415)}, write=True,
                body={
                    "required": True,
                    "content": {
                        _JSON: {"schema": _ref("ObservationInput")},
                        "multipart/form-data": {"schema": _ref("ObservationMultipart")},
                    },
                },
                op_id="createObservation",
            )
        },
        "/api/observations/{uid}": {
            "get": _op(
                "Un constat", "constats", {"200": feat, **_errors(404)}, parameters=[_UID],
                op_id="getObservation",
            ),
            "patch": _op(
                "Changer le statut d'un constat (technicien)", "constats",
                {"200": feat, **_errors(400, 401, 403, 404)}, parameters=[_UID], write=True,
                body={"required": True, **_json_content(_ref("StatusChange"))}, op_id="patchObservation",
            ),
        },
        "/api/observations/{uid}/history": {
            "get": _op(
                "Historique des statuts", "constats",
                {
                    "200": _ok(
                        "Historique, du plus ancien au plus récent.",
                        {"type": "array", "items": _ref("HistoryEntry")},
                    ),
                    **_errors(404),
                },
                parameters=[_UID], op_id="observationHistory",
            )
        },
        "/api/points_noirs/{uid}/evenements": {
            "post": _op(
                "Dépôt constaté sur un point noir", "constats",
                {"201": created, "200": existing, **_errors(400, 401, 403, 404)}, parameters=[_UID],
                write=True, body={"required": True, **_json_content(_ref("DumpingEvent"))},
                op_id="addDumpingEvent",
            )
        },
        "/api/bacs/{uid}/releves": {
            "post": _op(
                "Relevé de remplissage d'un bac", "constats",
                {"201": created, "200": existing, **_errors(400, 401, 403, 404)}, parameters=[_UID],
                write=True, body={"required": True, **_json_content(_ref("FillReading"))},
                op_id="addFillReading",
            )
        },
        "/photos/{name}": {
            "get": _op(
                "Photo d'un constat", "constats",
                {
                    "200": {
                        "description": "Image.",
                        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_errors(401, 403, 404),
                },
                parameters=[_param("name", "path", "Nom attribué par le serveur.")], op_id="getPhoto",
            )
        },
        "/ogc": {
            "get": _op(
                "Page d'accueil OGC API – Features", "ogc",
                {"200": _or_html(_ok("Accueil.", _ref("LandingPage"))), **_errors(400)},
                parameters=_OGC_COMMON,
                op_id="ogcLanding",
            )
        },
        "/ogc/conformance": {
            "get": _op(
                "Classes de conformité", "ogc",
                {"200": _or_html(_ok("Conformité.", _ref("Conformance"))), **_errors(400)},
                parameters=_OGC_COMMON,
                op_id="ogcConformance",
            )
        },
        "/ogc/collections": {
            "get": _op(
                "Collections visibles", "ogc",
                {"200": _or_html(_ok("Collections.", _ref("Collections"))), **_errors(400)},
                parameters=_OGC_COMMON,
                op_id="ogcCollections",
            )
        },
        "/ogc/collections/{collectionId}": {
            "get": _op(
                "Une collection", "ogc", {"200": _or_html(_ok("Collection.", _ref("Collection"))),
                                           **_errors(400, 404)},
                parameters=[cid, *_OGC_COMMON], op_id="ogcCollection",
            )
        },
        "/ogc/collections/{collectionId}/items": {
            "get": _op(
                "Objets d'une collection", "ogc", {"200": _or_html(fc), **_errors(400, 404)},
                parameters=[cid, *paging, *ogc_filters, *ogc_props, *_OGC_COMMON], op_id="ogcItems",
            )
        },
        "/ogc/collections/{collectionId}/items/{featureId}": {
            "get": _op(
                "Un objet", "ogc", {"200": _or_html(feat), **_errors(400, 404)}, op_id="ogcItem",
                parameters=[cid, _param("featureId", "path", "uid de l'objet."), *_OGC_COMMON],
            )
        },
        "/open311/v2/services.json": {
            "get": _op(
                "Services Open311 (un par thème)", "open311",
                {"200": _ok("Services.", {"type": "array", "items": _ref("Service311")}), **_errors(404)},
                op_id="open311Services",
            )
        },
        "/open311/v2/requests.json": {
            "get": _op(
                "Demandes Open311", "open311",
                {
                    "200": _ok(
                        "Demandes (les plus récentes d'abord).",
                        {"type": "array", "items": _ref("Request311")},
                    ),
                    **_errors(400, 404),
                },
                op_id="open311Requests",
                parameters=[
                    _param("service_code", "query", "Codes de service séparés par des virgules."),
                    _param("status", "query", "open, closed ou les deux.", {"type": "string"}),
                    _param(
                        "start_date", "query", "Début (ISO 8601).", {"type": "string", "format": "date-time"}
                    ),
                    _param(
                        "end_date", "query", "Fin exclue (ISO 8601).",
                        {"type": "string", "format": "date-time"},
                    ),
                    _param("service_request_id", "query", "Identifiants séparés par des virgules."),
                    _param(
                        "limit", "query", "1000 au plus.", {"type": "integer", "minimum": 1, "maximum": 1000}
                    ),
                ],
            ),
            "post": _op(
                "Nouvelle demande (clé d'API)", "open311",
                {"201": _ok("Demande enregistrée.", _ref("Request311Created")), **_errors(400, 401, 403)},
                body={
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": _ref("Request311Input")},
                        _JSON: {"schema": _ref("Request311Input")},
                    },
                },
                op_id="open311Create",
            ),
        },
        "/open311/v2/requests/{id}.json": {
            "get": _op(
                "Une demande", "open311",
                {
                    "200": _ok(
                        "Demande (liste d'un élément).", {"type": "array", "items": _ref("Request311")}
                    ),
                    **_errors(404),
                },
                parameters=[_param("id", "path", "Identifiant de la demande.")], op_id="open311Request",
            )
        },
        "/api/lookup": {
            "get": _op(
                "Dans quel QPV ? (adresse, ou lon et lat)", "carte",
                {"200": _ok("Résultat.", {
                    "type": "object", "required": ["requete", "code", "statut"],
                    "properties": {"requete": {"type": "object"},
                                   "code": {"type": "string", "nullable": True},
                                   "statut": {"type": "string"}},
                }), **_errors(400, 401, 403)},
                parameters=[
                    _param("adresse", "query", "Adresse postale (300 caractères au plus)."),
                    _param("commune", "query", "Commune, pour lever une ambiguïté."),
                    _param("lon", "query", "Longitude CRS84.",
                           {"type": "number", "minimum": -180, "maximum": 180}),
                    _param("lat", "query", "Latitude CRS84.",
                           {"type": "number", "minimum": -90, "maximum": 90}),
                ],
                op_id="lookup",
            )
        },
        "/openapi.json": {
            "get": _op(
                "Ce document", "ogc",
                {
                    "200": _ok(
                        "OpenAPI 3.0.", {"type": "object"}, "application/vnd.oai.openapi+json;version=3.0"
                    )
                },
                op_id="openapi",
            )
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Observatoire GUSP des QPV — API", "version": "1.0.0",
            "description": "Carte des techniciens, OGC API – Features, Open311 GeoReport v2. "
            "Coordonnées en WGS84 (CRS84) ; erreurs {erreur, champ} en français.",
            "license": {"name": "EUPL-1.2"},
        },
        "servers": [{"url": server_url}],
        "tags": [{"name": t} for t in ("carte", "constats", "comptes", "ogc", "open311")], "paths": paths,
        "components": _components(),
    }


@bp.get("/openapi.json")
@allow()
def openapi_json() -> Response:
    """Serve the OpenAPI document."""
    return Response(
        json.dumps(build_spec(request.host_url), ensure_ascii=False),
        content_type="application/vnd.oai.openapi+json;version=3.0",
    )

"""OpenAPI description of the routes of :mod:`webmap.api` (layers, selections, observations).

Kept apart from the routes so that :mod:`webmap.api` stays one concern; :mod:`webmap.openapi`
assembles it with the other blueprints' paths.
"""

from __future__ import annotations

from typing import Any

from layers.integrity import DEFAULT_SOURCES, MAX_LENGTHS
from layers.observations import OBSERVATION_INPUT, UID_PATTERN
from layers.schema import (
    DOMANIALITES,
    LAYERS,
    OBSERVATION_SOURCES,
    OBSERVATION_STATUSES,
    ORGANISATIONS,
    THEMES,
)
from webmap import _followup, oas, users
from webmap._map_features import COMPACT_CLUSTER_MAX_ZOOM, COMPACT_POINTS, COMPLETE, FORMATS
from webmap.api import (
    CLUSTER_MAX_ZOOM,
    DOCUMENTED_FILTERS,
    FEATURES_LIMIT,
    MAX_FEATURES_LIMIT,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    MAX_ZOOM,
)
from webmap.geojson import GEOJSON

# -- OpenAPI ----------------------------------------------------------------------------------
_LAYER = oas.param(
    "layer", "path", "Nom de la couche (404 si elle est inconnue ou invisible pour ce rôle).",
    {"type": "string", "enum": list(LAYERS)},
)
_UID = oas.param("uid", "path", "Identifiant stable (uid) de l'enregistrement.")
_FIELD_FILTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "theme": ("Thème (couche observations).", {"type": "string", "enum": list(THEMES)}),
    "status": ("Statut.", {"type": "string"}),
    "source": ("Origine.", {"type": "string", "enum": list(OBSERVATION_SOURCES)}),
    "simulated": ("Données simulées seulement (true) ou réelles seulement (false).", {"type": "boolean"}),
}


def _selection_parameters() -> list[dict[str, Any]]:
    """Return the parameters read by :func:`_selection` (``bbox``, dates, fields, ``quartier``)."""
    filters = [oas.param(name, "query", *_FIELD_FILTERS[name]) for name in DOCUMENTED_FILTERS]
    return [
        oas.param(
            "bbox", "query", "Emprise minx,miny,maxx,maxy en degrés CRS84.",
            {"type": "string", "pattern": r"^-?[0-9.]+(,-?[0-9.]+){3}$"},
        ),
        oas.param("start", "query", "Début (inclus) de la période, date ISO.",
                  {"type": "string", "format": "date"}),
        oas.param("end", "query", "Fin (exclue) de la période, date ISO.",
                  {"type": "string", "format": "date"}),
        *filters[:3],
        oas.param("quartier", "query", "Code d'un périmètre (QP075019…) : objets qui l'intersectent."),
        *filters[3:],
        oas.param(_followup.PARAM, "query", "Filtres de suivi (comptes connectés, 403 sinon), séparés par "
                  "des virgules : mon-organisation (organisation auteure), assignes (attribués à mon "
                  "organisation), en-retard (délai passé et non clos).", {"type": "string"}),
    ]


def _features_parameters() -> list[dict[str, Any]]:
    return [
        _LAYER, *_selection_parameters(),
        oas.param(
            "limit", "query", f"Nombre maximal d'objets ({FEATURES_LIMIT} par défaut).",
            {"type": "integer", "minimum": 1, "maximum": MAX_FEATURES_LIMIT, "default": FEATURES_LIMIT},
        ),
        oas.param(
            "zoom", "query", "Niveau de zoom de la carte (déduit de bbox sinon).",
            {"type": "integer", "minimum": 0, "maximum": MAX_ZOOM},
        ),
        oas.param(
            "format", "query",
            "complet (par défaut) : enregistrements entiers. compact (la carte) : seulement uid, "
            "simulated, la date de la couche et les champs que la carte dessine ou liste (theme, "
            "status, address…), coordonnées à 6 décimales (0,1 m) ; pour une couche de points, "
            "« fields » nomme ces champs et « records » donne une ligne [lon, lat, valeurs…] par "
            "enregistrement (« features » ne porte alors que les grappes). Dans une emprise, grappes "
            f"au-delà de limit (au plus {COMPACT_POINTS}) jusqu'au zoom {COMPACT_CLUSTER_MAX_ZOOM - 1}. "
            "La fiche entière se lit sur /api/layers/{layer}/features/{uid}.",
            {"type": "string", "enum": list(FORMATS), "default": COMPLETE},
        ),
    ]


def _layer_paths() -> dict[str, Any]:
    selection = [_LAYER, *_selection_parameters()]
    export = {
        "geojson": ("Export GeoJSON (WGS84) de la sélection", "Fichier joint.",
                    {GEOJSON: {"schema": oas.ref("FeatureCollection")}}, "exportGeojson"),
        "csv": ("Export CSV (lon, lat, WKT Lambert-93) de la sélection", "Fichier joint (séparateur ;).",
                {"text/csv": {"schema": {"type": "string"}}}, "exportCsv"),
    }
    return {
        "/api/layers": {"get": oas.operation(
            "Couches visibles pour ce rôle", "carte",
            {"200": oas.ok("Couches.", {"type": "array", "items": oas.ref("LayerInfo")})},
            op_id="listLayers")},
        "/api/layers/{layer}/features": {"get": oas.operation(
            "Objets d'une couche dans la vue (grappes au-delà de limit si zoom < "
            f"{CLUSTER_MAX_ZOOM} ; format=compact pour la carte)", "carte",
            {"200": oas.feature_collection_response(), **oas.errors(400, 404)}, op_id="layerFeatures",
            parameters=_features_parameters())},
        "/api/layers/{layer}/features/{uid}": {"get": oas.operation(
            "Un enregistrement complet d'une couche (fiche de la carte)", "carte",
            {"200": oas.feature_response(), **oas.errors(400, 404)}, op_id="layerFeature",
            parameters=[_LAYER, _UID])},
        "/api/layers/{layer}/stats": {"get": oas.operation(
            "Effectifs de la sélection", "carte", {"200": oas.ok("Effectifs.", oas.ref("Stats")),
                                                   **oas.errors(400, 404)},
            parameters=selection, op_id="layerStats")},
        **{f"/api/layers/{{layer}}/export.{fmt}": {"get": oas.operation(
            summary, "carte", {"200": {"description": description, "content": content},
                               **oas.errors(400, 404)},
            parameters=selection, op_id=op_id)}
           for fmt, (summary, description, content, op_id) in export.items()},
    }


def _observation_paths() -> dict[str, Any]:
    feature = oas.feature_response()
    created = oas.ok("Créé.", oas.ref("Created"))
    existing = oas.ok("Déjà enregistré (même uid) : rien n'est ajouté.", oas.ref("Created"))
    children = {
        "/api/points_noirs/{uid}/evenements": ("Dépôt constaté sur un point noir", "DumpingEvent",
                                               "addDumpingEvent"),
        "/api/bacs/{uid}/releves": ("Relevé de remplissage d'un bac", "FillReading", "addFillReading"),
    }
    return {
        "/api/observations": {"post": oas.operation(
            "Nouveau constat (technicien)", "constats",
            {"201": created, "200": existing, **oas.errors(400, 401, 403, 415)}, write=True,
            body={"required": True, "content": {
                oas.JSON: {"schema": oas.ref("ObservationInput")},
                "multipart/form-data": {"schema": oas.ref("ObservationMultipart")},
            }},
            op_id="createObservation")},
        "/api/observations/{uid}": {
            "get": oas.operation("Un constat", "constats", {"200": feature, **oas.errors(404)},
                                 parameters=[_UID], op_id="getObservation"),
            "patch": oas.operation(
                "Modifier un constat : statut, pilote, délai… (technicien)", "constats",
                {"200": feature, **oas.errors(400, 401, 403, 404)}, parameters=[_UID], write=True,
                body={"required": True, **oas.json_content(oas.ref("StatusChange"))},
                op_id="patchObservation"),
        },
        "/api/observations/{uid}/history": {"get": oas.operation(
            "Historique des modifications", "constats",
            {"200": oas.ok("Historique, du plus ancien au plus récent.",
                           {"type": "array", "items": oas.ref("HistoryEntry")}),
             **oas.errors(404)},
            parameters=[_UID], op_id="observationHistory")},
        **{path: {"post": oas.operation(
            summary, "constats", {"201": created, "200": existing, **oas.errors(400, 401, 403, 404)},
            parameters=[_UID], write=True, body={"required": True, **oas.json_content(oas.ref(schema))},
            op_id=op_id)}
           for path, (summary, schema, op_id) in children.items()},
    }


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of the map API and the photos."""
    return {
        "/api/session": {"get": oas.operation(
            "Session courante et jeton CSRF", "carte", {"200": oas.ok("Session.", oas.ref("Session"))},
            op_id="getSession")},
        "/api/users": {"get": oas.operation(
            "Comptes (administrateurs)", "comptes",
            {"200": oas.ok("Comptes.", {"type": "array", "items": oas.ref("User")}), **oas.errors(401, 403)},
            op_id="listUsers")},
        **_layer_paths(),
        **_observation_paths(),
        "/photos/{name}": {"get": oas.operation(
            "Photo d'un constat", "constats",
            {"200": {"description": "Image.",
                     "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}},
             **oas.errors(401, 403, 404)},
            parameters=[oas.param("name", "path", "Nom attribué par le serveur.")], op_id="getPhoto")},
    }


def _observation_input_schema() -> dict[str, Any]:
    """Return what :func:`layers.observations.create_observation_record` accepts."""
    fields: dict[str, Any] = {
        "theme": {"type": "string", "enum": list(THEMES)},
        "status": {"type": "string", "enum": ["nouveau"],
                   "description": "Statut initial de l'origine (« nouveau » par défaut) ; tout autre : 400."},
        "source": {"type": "string", "enum": list(DEFAULT_SOURCES)},
        "assigned_to": {"type": "string", "enum": list(ORGANISATIONS)},
        **{name: {"type": "string", "maxLength": n} for name, n in MAX_LENGTHS.items()
           if name in OBSERVATION_INPUT},
        "deadline": {"type": "string", "format": "date"},
        "observed_at": {"type": "string", "format": "date-time",
                        "description": "Ni dans le futur, ni avant le début du territoire (400)."},
    }
    names = [n for n in LAYERS["observations"].field_names if n in OBSERVATION_INPUT]
    return {
        "type": "object", "required": ["lon", "lat", "theme"],
        "properties": {
            "uid": {
                "type": "string", "pattern": UID_PATTERN.pattern,
                "description": "Identifiant choisi par le client : un renvoi ne crée pas de doublon.",
            },
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            **{name: fields.get(name, {"type": "string"}) for name in names},
        },
        "additionalProperties": False,
    }


def _observation_schemas() -> dict[str, Any]:
    waste_types = LAYERS["points_noirs"].child("evenements").field("waste_type").choices or ()
    return {
        "Created": {
            "type": "object", "required": ["uid"],
            "properties": {
                "uid": {"type": "string"}, "created": {"type": "boolean"},
                "record": {"allOf": [oas.ref("Feature")], "description": "Enregistrement existant (renvoi)."},
            },
        },
        "ObservationInput": _observation_input_schema(),
        "ObservationMultipart": {
            "allOf": [
                oas.ref("ObservationInput"),
                {
                    "type": "object",
                    "properties": {
                        "photos": {
                            "type": "array", "maxItems": MAX_PHOTOS,
                            "items": {"type": "string", "format": "binary"},
                            "description":
                                f"JPEG, PNG ou WebP, {MAX_PHOTO_BYTES / 1024**2:g} Mo au plus chacune.",
                        },
                        "csrf_token": {"type": "string"},
                    },
                },
            ]
        },
        "StatusChange": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "description": "Champs modifiés du constat (au moins un) ; chaque modification entre dans "
                           "l'historique avec l'avant et l'après. « lon » et « lat » ensemble déplacent "
                           "le constat. Réservé aux techniciens de l'organisation du constat (auteure, "
                           "attribuée ou pilote) et aux administrateurs : 403 sinon.",
            "properties": {
                "status": {"type": "string", "enum": list(OBSERVATION_STATUSES)},
                "comment": {"type": "string", "maxLength": MAX_LENGTHS["comment"],
                            "description": "Gardé dans l'historique avec la modification."},
                "assigned_to": {"type": "string", "enum": list(ORGANISATIONS), "nullable": True},
                "theme": {"type": "string", "enum": list(THEMES)},
                **{name: {"type": "string", "maxLength": MAX_LENGTHS[name], "nullable": True}
                   for name in ("subtheme", "description", "address", "pilote")},
                "partenaires": {"oneOf": [
                    {"type": "string", "maxLength": MAX_LENGTHS["partenaires"]},
                    {"type": "array", "items": {"type": "string"}}], "nullable": True},
                "domanialite": {"type": "string", "enum": list(DOMANIALITES), "nullable": True},
                "deadline": {"type": "string", "format": "date", "nullable": True,
                             "description": "Pas avant la date du constat."},
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
            },
        },
        "HistoryEntry": {
            "type": "object",
            "properties": {
                "status": {"type": "string"}, "changed_at": {"type": "string", "format": "date-time"},
                "changed_by": {"type": "string", "nullable": True},
                "comment": {"type": "string", "nullable": True},
                "changes": {"type": "object", "nullable": True,
                            "description": "Champs modifiés : {champ: [avant, après]} (rôles qui voient "
                                           "les champs internes ; les autres ne reçoivent que les "
                                           "changements de statut).",
                            "additionalProperties": {"type": "array"}},
            },
        },
        "DumpingEvent": {
            "type": "object", "required": ["observed_at"], "additionalProperties": False,
            "properties": {
                "observed_at": {"type": "string", "format": "date-time"},
                "waste_type": {
                    "type": "string",
                    "enum": list(waste_types),
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
    }


def openapi_schemas() -> dict[str, Any]:
    """Return the OpenAPI schemas of the map API's bodies."""
    return {
        "Session": {
            "type": "object", "required": ["user", "role", "organisation", "csrf_token"],
            "properties": {
                "user": {"type": "string", "nullable": True},
                "role": {"type": "string", "enum": [users.ANONYMOUS, *users.ROLES]},
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
                "events": {"type": "boolean",
                           "description": "Enregistrements datés d'événements (filtre de période)."},
                "event_min": {"type": "string", "nullable": True},
                "event_max": {"type": "string", "nullable": True},
                "outside_window": {
                    "type": "integer",
                    "description": "Enregistrements datés hors de la fenêtre plausible (ignorés par le "
                                   "curseur temporel).",
                },
                "bbox": {
                    "type": "array", "nullable": True, "items": {"type": "number"}, "minItems": 4,
                    "maxItems": 4,
                },
                "confidential": {"type": "boolean"}, "reference": {"type": "boolean"},
                "fields": {"type": "array", "items": oas.ref("FieldInfo")},
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
                "echantillon": {"type": "string", "description": "Présent quand une partie des "
                                "enregistrements vient d'un jeu déclaré échantillon : comptes partiels."},
            },
        },
        **_observation_schemas(),
    }

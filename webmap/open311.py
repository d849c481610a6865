"""Open311 GeoReport v2 intake under ``/open311/v2`` (JSON format).

One service per observation theme. ``POST requests.json`` needs the ``api_key`` of an
account allowed to write (``OPEN311_ROLES``) and creates an observation with
``source = habitant``. Personal fields of the specification (``email``, ``first_name``,
``last_name``, ``phone``, ``device_id``, ``account_id``) are accepted but not stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from layers.errors import RecordError
from layers.observations import create_observation_record
from layers.schema import LAYERS, OPEN_STATUSES, THEMES
from layers.validate import fold
from webmap import oas, params, users
from webmap.access import allow, fail, visible_layer
from webmap.geojson import encode_features
from webmap.store import get_store
from webmap.writes import write_rules

logger = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

MAX_REQUESTS = 1000
#: Personal fields of the specification documented as accepted (all of them are dropped).
DOCUMENTED_PERSONAL_FIELDS = ("email", "first_name", "last_name", "phone", "device_id")
PERSONAL_FIELDS = frozenset({*DOCUMENTED_PERSONAL_FIELDS, "account_id", "jurisdiction_id", "address_id",
                             "attribute"})
#: Values of the ``status`` parameter.
REQUEST_STATUSES = ("open", "closed")
#: The source of the observations created through Open311.
SOURCE = "habitant"
#: The observation's fields named after the Open311 parameters, in error answers.
PARAMETER_NAMES = {"lon": "long", "address": "address_string"}


def service_code(theme: str) -> str:
    """Return the service code of a theme: ``dépôts sauvages`` → ``depots-sauvages``."""
    return fold(theme).replace("'", "-").replace(" ", "-")


SERVICES = {service_code(t): t for t in THEMES}


def _services() -> list[dict[str, Any]]:
    return [{"service_code": code, "service_name": theme.capitalize(),
             "description": f"Signalement : {theme}.", "metadata": False, "type": "realtime",
             "keywords": theme, "group": "GUSP"} for code, theme in SERVICES.items()]


@bp.get("/services.json")
@allow()
def services() -> ResponseReturnValue:
    """Return the services: one per observation theme."""
    visible_layer("observations")
    return jsonify(_services())


def _request_json(feature: dict[str, Any]) -> dict[str, Any]:
    p = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"] if feature["geometry"] else (None, None)
    media = [m for m in (p.get("photos") or []) if isinstance(m, str)]
    media_url = next((m for m in media if m.startswith(("http://", "https://"))), None)
    if media_url is None and media:
        media_url = request.host_url + "photos/" + media[0]
    return {
        "service_request_id": p["uid"],
        "status": "open" if p.get("status") in OPEN_STATUSES else "closed",
        "status_notes": p.get("status"),
        "service_name": (p.get("theme") or "").capitalize(),
        "service_code": service_code(p["theme"]) if p.get("theme") else None,
        "description": p.get("description"),
        "agency_responsible": p.get("pilote"),
        "service_notice": None,
        "requested_datetime": p.get("observed_at"),
        "updated_datetime": p.get("updated_at"),
        "expected_datetime": p.get("deadline"),
        "address": p.get("address"),
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": media_url,
    }


def _request_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """Store filters of ``service_code``, ``status``, ``service_request_id`` and the dates."""
    where: dict[str, Any] = {}
    codes = params.parse_list(args, "service_code")
    if codes:
        unknown = [c for c in codes if c not in SERVICES]
        if unknown:
            fail(400, f"Service inconnu « {unknown[0]} ».", "service_code")
        where["theme"] = [SERVICES[c] for c in codes]
    status = args.get("status")
    if status:
        wanted = set(status.split(","))
        if not wanted <= set(REQUEST_STATUSES):
            fail(400, "« status » vaut open ou closed.", "status")
        closed = [s for s in LAYERS["observations"].field("status").choices or () if s not in OPEN_STATUSES]
        where["status"] = (list(OPEN_STATUSES) if "open" in wanted else []) + (
            closed if "closed" in wanted else [])
    ids = params.parse_list(args, "service_request_id")
    start, end = params.parse_date(args, "start_date"), params.parse_date(args, "end_date")
    if start is not None and end is not None and start >= end:
        fail(400, "end_date doit suivre start_date.", "end_date")
    return {"where": where or None, "start": start, "end": end, "uids": ids or None}


@bp.get("/requests.json")
@allow()
def list_requests() -> ResponseReturnValue:
    """Return the requests filtered by ``service_code``, ``status``, ``start_date``, ``end_date``.

    Without dates, the 1000 most recent requests (``limit`` to ask for fewer).
    """
    visible_layer("observations")
    filters = _request_filters(request.args)
    limit = params.parse_int(request.args, "limit", MAX_REQUESTS, minimum=1, maximum=MAX_REQUESTS)
    store = get_store()
    gdf = store.read("observations", **filters, order_by="-observed_at", limit=limit)
    return jsonify([_request_json(f) for f in encode_features(gdf, LAYERS["observations"], store.crs)])


@bp.get("/requests/<rid>.json")
@allow()
def get_request(rid: str) -> ResponseReturnValue:
    """One request (a list of one, as the specification says)."""
    visible_layer("observations")
    store = get_store()
    feature = encode_features(store.get("observations", rid), LAYERS["observations"], store.crs)[0]
    return jsonify([_request_json(feature)])


@bp.post("/requests.json")
@allow()
def post_request() -> ResponseReturnValue:
    """Create a request (an observation with ``source = habitant``) with an ``api_key``."""
    form = request.form.to_dict() if request.form else (request.get_json(silent=True) or {})
    if not isinstance(form, dict):
        fail(400, "Corps de requête invalide.", "corps")
    user = users.user_by_api_key(current_app.config["USERS_DB"], str(form.pop("api_key", "")))
    if user is None:
        fail(401, "Clé d'API (api_key) manquante ou invalide.", "api_key")
    if user.role not in current_app.config["OPEN311_ROLES"]:
        fail(403, "Cette clé d'API ne permet pas de créer des signalements.", "api_key")
    code = form.pop("service_code", None)
    if not code:
        fail(400, "« service_code » obligatoire.", "service_code")
    if code not in SERVICES:
        fail(400, f"Service inconnu « {code} ».", "service_code")
    for name in PERSONAL_FIELDS:
        form.pop(name, None)
    address = form.pop("address_string", None)
    if not form.get("lat") and not form.get("long"):
        fail(400, "Coordonnées « lat » et « long » obligatoires (le géocodage d'une adresse seule "
             "n'est pas proposé).", "lat")
    media_url = form.pop("media_url", None)
    if media_url and not str(media_url).startswith(("http://", "https://")):
        fail(400, "« media_url » doit être une adresse http(s).", "media_url")
    data: dict[str, Any] = {"theme": SERVICES[code], "lat": form.pop("lat", None),
                            "lon": form.pop("long", None), "address": address,
                            "description": form.pop("description", None)}
    if form:
        name = sorted(form)[0]
        fail(400, f"Paramètre inconnu : « {name} ».", name)
    data = {k: v for k, v in data.items() if v not in (None, "")}
    data["observed_at"] = datetime.now().replace(microsecond=0).isoformat()
    g.qpv_user = user  # the actor of the write is the key's owner
    try:
        uid, _created = create_observation_record(get_store(), data, default_source=SOURCE,
                                                  media=[media_url] if media_url else None,
                                                  actor=user.actor, organisation=user.organisation,
                                                  rules=write_rules())
    except RecordError as exc:  # name the Open311 parameters
        exc.field = PARAMETER_NAMES.get(exc.field or "", exc.field)
        raise
    logger.info("open311 request %s by %s", uid, user.login)
    return jsonify([{"service_request_id": uid, "service_notice": "Signalement enregistré.",
                     "account_id": None}]), 201


# -- OpenAPI ----------------------------------------------------------------------------------
def _requests_parameters() -> list[dict[str, Any]]:
    """Return the parameters read by :func:`_request_filters` and :func:`list_requests`."""
    return [
        oas.param("service_code", "query", "Codes de service séparés par des virgules."),
        oas.param("status", "query", f"{', '.join(REQUEST_STATUSES)} ou les deux.", {"type": "string"}),
        oas.param("start_date", "query", "Début (ISO 8601).", {"type": "string", "format": "date-time"}),
        oas.param("end_date", "query", "Fin exclue (ISO 8601).", {"type": "string", "format": "date-time"}),
        oas.param("service_request_id", "query", "Identifiants séparés par des virgules."),
        oas.param("limit", "query", f"{MAX_REQUESTS} au plus.",
                  {"type": "integer", "minimum": 1, "maximum": MAX_REQUESTS}),
    ]


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of Open311 GeoReport v2."""
    requests = {"type": "array", "items": oas.ref("Request311")}
    return {
        "/open311/v2/services.json": {"get": oas.operation(
            "Services Open311 (un par thème)", "open311",
            {"200": oas.ok("Services.", {"type": "array", "items": oas.ref("Service311")}),
             **oas.errors(404)},
            op_id="open311Services")},
        "/open311/v2/requests.json": {
            "get": oas.operation(
                "Demandes Open311", "open311",
                {"200": oas.ok("Demandes (les plus récentes d'abord).", requests), **oas.errors(400, 404)},
                op_id="open311Requests", parameters=_requests_parameters()),
            "post": oas.operation(
                "Nouvelle demande (clé d'API)", "open311",
                {"201": oas.ok("Demande enregistrée.", oas.ref("Request311Created")),
                 **oas.errors(400, 401, 403)},
                body={"required": True, "content": {
                    "application/x-www-form-urlencoded": {"schema": oas.ref("Request311Input")},
                    oas.JSON: {"schema": oas.ref("Request311Input")},
                }},
                op_id="open311Create"),
        },
        "/open311/v2/requests/{id}.json": {"get": oas.operation(
            "Une demande", "open311",
            {"200": oas.ok("Demande (liste d'un élément).", requests), **oas.errors(404)},
            parameters=[oas.param("id", "path", "Identifiant de la demande.")], op_id="open311Request")},
    }


def openapi_schemas() -> dict[str, Any]:
    """Return the OpenAPI schemas of Open311's bodies."""
    nullable = {"type": "string", "nullable": True}
    return {
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
                "status": {"type": "string", "enum": list(REQUEST_STATUSES)},
                "status_notes": nullable, "service_name": {"type": "string"},
                **{k: nullable for k in ("service_code", "description", "agency_responsible",
                                         "service_notice", "requested_datetime", "updated_datetime",
                                         "expected_datetime", "address", "zipcode")},
                "lat": {"type": "number", "nullable": True}, "long": {"type": "number", "nullable": True},
                "media_url": nullable,
            },
        },
        "Request311Input": {
            "type": "object", "required": ["api_key", "service_code", "lat", "long"],
            "properties": {
                "api_key": {"type": "string"}, "service_code": {"type": "string"}, "lat": {"type": "number"},
                "long": {"type": "number"}, "address_string": {"type": "string"},
                "description": {"type": "string"}, "media_url": {"type": "string", "format": "uri"},
                **{k: {"type": "string", "description": "Accepté, non conservé."}
                   for k in DOCUMENTED_PERSONAL_FIELDS},
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
    }

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
from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from layers.errors import RecordError
from layers.observations import create_observation_record
from layers.schema import LAYERS, OPEN_STATUSES, THEMES
from layers.validate import fold
from webmap import oas, params, records
from webmap.access import allow, current_role, current_user, fail
from webmap.geojson import encode_features
from webmap.headers import public_url
from webmap.photos import PHOTO_NAME
from webmap.store import get_store
from webmap.visibility import visible_frame
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
@allow(layer="observations")
def services() -> ResponseReturnValue:
    """Return the services: one per observation theme."""
    return jsonify(_services())


def _request_json(feature: dict[str, Any]) -> dict[str, Any]:
    p = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"] if feature["geometry"] else (None, None)
    # outside addresses only from MEDIA_HOSTS (a record stored before they changed stays hidden)
    media = [m for m in (p.get("photos") or []) if isinstance(m, str)]
    media_url = next((m for m in media if media_host_allowed(m)), None)
    if media_url is None:
        local = next((m for m in media if PHOTO_NAME.fullmatch(m)), None)
        media_url = public_url() + "photos/" + local if local else None
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
@allow(layer="observations")
def list_requests() -> ResponseReturnValue:
    """Return the requests filtered by ``service_code``, ``status``, ``start_date``, ``end_date``.

    Without dates, the 1000 most recent requests (``limit`` to ask for fewer).
    """
    filters = _request_filters(request.args)
    limit = params.parse_int(request.args, "limit", MAX_REQUESTS, minimum=1, maximum=MAX_REQUESTS)
    store = get_store()
    schema = LAYERS["observations"]
    gdf = visible_frame(store.read("observations", **filters, order_by="-observed_at", limit=limit),
                        schema, current_role())
    return jsonify([_request_json(f) for f in encode_features(gdf, schema, store.crs)])


@bp.get("/requests/<rid>.json")
@allow(layer="observations")
def get_request(rid: str) -> ResponseReturnValue:
    """One request (a list of one, as the specification says)."""
    return jsonify([_request_json(records.feature("observations", rid))])


@bp.post("/requests.json")
@allow(key_field="api_key", roles="OPEN311_ROLES", layer="observations")
def post_request() -> ResponseReturnValue:
    """Create a request (an observation with ``source = habitant``) with an ``api_key``.

    The decorator made the key's owner the user of the request (the actor of the write).
    """
    form = request.form.to_dict() if request.form else (request.get_json(silent=True) or {})
    if not isinstance(form, dict):
        fail(400, "Corps de requête invalide.", "corps")
    form.pop("api_key", None)
    user = current_user()
    if user is None:  # the decorator refused the request already
        fail(401, "Clé d'API (api_key) manquante ou invalide.", "api_key")
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
    if media_url:
        _check_media_url(str(media_url))
    data: dict[str, Any] = {"theme": SERVICES[code], "lat": form.pop("lat", None),
                            "lon": form.pop("long", None), "address": address,
                            "description": form.pop("description", None)}
    if form:
        name = sorted(form)[0]
        fail(400, f"Paramètre inconnu : « {name} ».", name)
    data = {k: v for k, v in data.items() if v not in (None, "")}
    data["observed_at"] = datetime.now().replace(microsecond=0).isoformat()
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


def media_host_allowed(url: str) -> bool:
    """Tell whether ``url`` is an http(s) address on one of the hosts of ``MEDIA_HOSTS``."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    allowed = {str(h).lower() for h in current_app.config.get("MEDIA_HOSTS") or ()}
    return parts.scheme in ("http", "https") and bool(host) and host in allowed


def _check_media_url(url: str) -> None:
    """Refuse (400 on ``media_url``) an address outside the hosts of ``MEDIA_HOSTS``.

    Every viewer's browser would load it: an outside site would learn who reads the
    records, and when.
    """
    if not url.startswith(("http://", "https://")):
        fail(400, "« media_url » doit être une adresse http(s).", "media_url")
    if media_host_allowed(url):
        return
    hosts = sorted(str(h) for h in current_app.config.get("MEDIA_HOSTS") or ())
    if not hosts:
        fail(400, "« media_url » refusé : aucun hôte de photos n'est autorisé sur cette plateforme "
             "(réglage MEDIA_HOSTS).", "media_url")
    fail(400, f"« media_url » refusé : hôtes autorisés : {', '.join(hosts)}.", "media_url")


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

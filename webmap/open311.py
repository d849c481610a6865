"""Open311 GeoReport v2 intake under ``/open311/v2`` (JSON format).

One service per observation theme. ``POST requests.json`` needs the ``api_key`` of an
account allowed to write (``OPEN311_ROLES``) and creates an observation with
``source = habitant``. Personal fields of the specification (``email``, ``first_name``,
``last_name``, ``phone``, ``device_id``, ``account_id``) are accepted but not stored.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from layers.schema import LAYERS, OPEN_STATUSES, THEMES
from layers.validate import fold
from webmap import users
from webmap.access import allow, fail, visible_layer
from webmap.errors import ApiError
from webmap.ogcapi import encode_features, parse_date_arg, parse_int

logger = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

MAX_REQUESTS = 1000
PERSONAL_FIELDS = frozenset({"email", "first_name", "last_name", "phone", "device_id", "account_id",
                             "jurisdiction_id", "address_id", "attribute"})


def service_code(theme: str) -> str:
    """The service code of a theme: ``dépôts sauvages`` → ``depots-sauvages``."""
    return fold(theme).replace("'", "-").replace(" ", "-")


SERVICES = {service_code(t): t for t in THEMES}


def _services() -> list[dict[str, Any]]:
    return [{"service_code": code, "service_name": theme.capitalize(),
             "description": f"Signalement : {theme}.", "metadata": False, "type": "realtime",
             "keywords": theme, "group": "GUSP"} for code, theme in SERVICES.items()]


@bp.get("/services.json")
@allow()
def services() -> ResponseReturnValue:
    """The services: one per observation theme."""
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


@bp.get("/requests.json")
@allow()
def list_requests() -> ResponseReturnValue:
    """Requests filtered by ``service_code``, ``status``, ``start_date``, ``end_date``.

    Without dates, the 1000 most recent requests (``limit`` to ask for fewer).
    """
    from webmap.app import get_store

    visible_layer("observations")
    where: dict[str, Any] = {}
    codes = [c for c in request.args.get("service_code", "").split(",") if c]
    if codes:
        unknown = [c for c in codes if c not in SERVICES]
        if unknown:
            fail(400, f"Service inconnu « {unknown[0]} ».", "service_code")
        where["theme"] = [SERVICES[c] for c in codes]
    status = request.args.get("status")
    if status:
        wanted = set(status.split(","))
        if not wanted <= {"open", "closed"}:
            fail(400, "« status » vaut open ou closed.", "status")
        closed = [s for s in LAYERS["observations"].field("status").choices or () if s not in OPEN_STATUSES]
        where["status"] = (list(OPEN_STATUSES) if "open" in wanted else []) + (
            closed if "closed" in wanted else [])
    ids = [i for i in request.args.get("service_request_id", "").split(",") if i]
    start, end = parse_date_arg("start_date"), parse_date_arg("end_date")
    if start is not None and end is not None and start >= end:
        fail(400, "end_date doit suivre start_date.", "end_date")
    limit = parse_int("limit", MAX_REQUESTS, minimum=1, maximum=MAX_REQUESTS)
    store = get_store()
    gdf = store.read("observations", where=where or None, start=start, end=end,
                     uids=ids or None, order_by="-observed_at", limit=limit)
    return jsonify([_request_json(f) for f in encode_features(gdf, LAYERS["observations"], store.crs)])


@bp.get("/requests/<rid>.json")
@allow()
def get_request(rid: str) -> ResponseReturnValue:
    """One request (a list of one, as the specification says)."""
    from webmap.app import get_store

    visible_layer("observations")
    store = get_store()
    feature = encode_features(store.get("observations", rid), LAYERS["observations"], store.crs)[0]
    return jsonify([_request_json(feature)])


@bp.post("/requests.json")
@allow()
def post_request() -> ResponseReturnValue:
    """Create a request (an observation with ``source = habitant``) with an ``api_key``."""
    from webmap.api import create_observation_record

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
        uid, _created = create_observation_record(data, photos=[], default_source="habitant",
                                                  media=[media_url] if media_url else None)
    except ApiError as exc:  # name the Open311 parameters
        exc.field = {"lon": "long", "address": "address_string"}.get(exc.field or "", exc.field)
        raise
    logger.info("open311 request %s by %s", uid, user.login)
    return jsonify([{"service_request_id": uid, "service_notice": "Signalement enregistré.",
                     "account_id": None}]), 201

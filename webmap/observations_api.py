"""The whole constat form's endpoints: the nearest address, the lists of choices, duplicates.

* ``GET /api/adresses/proche?lon=&lat=`` — the address point of the store nearest to a
  position, within 50 m (Lambert-93 distance); ``adresse`` is null beyond, with a
  message saying so (never a farther address);
* ``GET /api/constats/choix`` — the pilotes (organisations, accounts' organisations,
  pilotes of the settings and of the latest constats), partners, domanialités and the
  sub-themes of each theme (technicians);
* ``POST /api/observations/<uid>/doublon`` ``{"de": "<uid gardé>"}`` — merge the
  constat ``uid`` into another one (see :func:`layers.observations_edit.merge_duplicate`);
  both must be within the organisation scope of the technician (403 otherwise).

The editing of the fields themselves is ``PATCH /api/observations/<uid>`` (:mod:`webmap.api`).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from layers.observations_edit import (
    ADDRESS_RADIUS_M,
    label,
    merge_duplicate,
    merge_plan,
    nearest_address,
    pilote_choices,
)
from layers.schema import DOMANIALITES, ORGANISATIONS
from layers.subthemes import SUBTHEMES
from webmap import oas, params, records, users, writes
from webmap.access import allow, current_user, fail
from webmap.store import get_store

logger = logging.getLogger(__name__)

bp = Blueprint("constats", __name__)

LAYER = "observations"


@bp.get("/api/adresses/proche")
@allow(layer="adresses")
def nearest() -> ResponseReturnValue:
    """Return the nearest address point within 50 m of ``lon``/``lat``, or ``adresse: null`` and why."""
    lon = params.parse_coordinate(request.args, "lon", -180, 180)
    lat = params.parse_coordinate(request.args, "lat", -90, 90)
    found = nearest_address(get_store(), lon, lat)
    if found is None:
        return jsonify({"adresse": None, "distance_m": None,
                        "message": f"Aucune adresse à moins de {ADDRESS_RADIUS_M:g} m."})
    return jsonify({"adresse": found.address, "distance_m": found.distance_m,
                    "message": f"Adresse la plus proche, à {found.distance_m:.0f} m."})


@bp.get("/api/constats/choix")
@allow("technicien", layer=LAYER)
def choices() -> ResponseReturnValue:
    """Return the lists of the constat form: pilotes, partners, domanialités, sub-themes by theme."""
    accounts = sorted({u.organisation for u in users.list_users(current_app.config["USERS_DB"])})
    pilotes = pilote_choices(get_store(), rules=writes.write_rules(), organisations=accounts)
    return jsonify({
        "pilotes": pilotes, "partenaires": pilotes, "organisations": list(ORGANISATIONS),
        "domanialites": list(DOMANIALITES),
        "sous_themes": {theme: list(names) for theme, names in SUBTHEMES.items()},
    })


@bp.post("/api/observations/<uid>/doublon")
@allow("technicien", layer=LAYER)
def duplicate(uid: str) -> ResponseReturnValue:
    """Merge the constat ``uid`` into the one named by ``de`` (closed duplicate, history kept)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        fail(400, "Corps JSON (objet) attendu.", "corps")
    unknown = sorted(set(data) - {"de"})
    if unknown:
        fail(400, f"Champ inconnu : « {str(unknown[0])[:40]} ».", str(unknown[0])[:40])
    store = get_store()
    dup, kept = merge_plan(store, uid, data.get("de"))
    writes.require_scope(LAYER, str(dup["uid"]))
    writes.require_scope(LAYER, str(kept["uid"]))
    user = current_user()
    result = merge_duplicate(store, dup, kept, actor=user.actor if user else None)
    message = f"Constat {label(dup)} fusionné dans {label(kept)}"
    if result.photos_added:
        message += f" ({result.photos_added} photo{'s' if result.photos_added > 1 else ''} reçue"
        message += "s)" if result.photos_added > 1 else ")"
    return jsonify({"message": message + ".", "doublon": records.feature(LAYER, result.duplicate),
                    "garde": records.feature(LAYER, result.kept)})


# -- OpenAPI ----------------------------------------------------------------------------------
def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of this module."""
    uid = oas.param("uid", "path", "Identifiant (uid) du constat doublon.")
    degrees = {"type": "number"}
    return {
        "/api/adresses/proche": {"get": oas.operation(
            f"Adresse la plus proche d'une position (à moins de {ADDRESS_RADIUS_M:g} m)", "constats",
            {"200": oas.ok("Adresse, ou adresse nulle et message au-delà du rayon.",
                           oas.ref("NearbyAddress")),
             **oas.errors(400, 404)},
            parameters=[oas.param("lon", "query", "Longitude WGS84.", degrees),
                        oas.param("lat", "query", "Latitude WGS84.", degrees)],
            op_id="nearestAddress")},
        "/api/constats/choix": {"get": oas.operation(
            "Listes du formulaire de constat (pilotes, partenaires, sous-thèmes)", "constats",
            {"200": oas.ok("Listes.", oas.ref("ConstatChoices")), **oas.errors(401, 403)},
            op_id="constatChoices")},
        "/api/observations/{uid}/doublon": {"post": oas.operation(
            "Fusionner un constat doublon dans un autre (technicien)", "constats",
            {"200": oas.ok("Fusion faite : le doublon (clos) et le constat gardé.", oas.ref("MergeResult")),
             **oas.errors(400, 401, 403, 404)},
            parameters=[uid], write=True,
            body={"required": True, **oas.json_content(oas.ref("DuplicateOf"))}, op_id="mergeDuplicate")},
    }


def openapi_schemas() -> dict[str, Any]:
    """Return the OpenAPI schemas of this module's bodies."""
    texts = {"type": "array", "items": {"type": "string"}}
    return {
        "NearbyAddress": {
            "type": "object", "required": ["adresse", "distance_m", "message"],
            "properties": {
                "adresse": {"type": "string", "nullable": True,
                            "description": f"Null quand aucun point adresse n'est à moins de "
                                           f"{ADDRESS_RADIUS_M:g} m."},
                "distance_m": {"type": "number", "nullable": True},
                "message": {"type": "string"},
            },
        },
        "ConstatChoices": {
            "type": "object",
            "properties": {
                "pilotes": texts, "partenaires": texts, "organisations": texts, "domanialites": texts,
                "sous_themes": {"type": "object", "additionalProperties": texts},
            },
        },
        "DuplicateOf": {
            "type": "object", "required": ["de"], "additionalProperties": False,
            "description": "Le constat du chemin est fermé (« clos non traité », « doublon de ») et "
                           "fusionné dans « de » ; si « de » est lui-même un doublon, dans le constat "
                           "qu'il représente. Refusé (400) : lui-même, un constat déjà doublon, une "
                           "boucle ; 403 hors du périmètre de l'organisation ; 404 inconnu.",
            "properties": {"de": {"type": "string", "description": "uid du constat gardé."}},
        },
        "MergeResult": {
            "type": "object", "required": ["message", "doublon", "garde"],
            "properties": {
                "message": {"type": "string"},
                "doublon": oas.ref("Feature"), "garde": oas.ref("Feature"),
            },
        },
    }

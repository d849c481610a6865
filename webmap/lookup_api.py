"""``GET /api/lookup``: which QPV an address or a point falls in, as JSON.

``?adresse=12 rue … 34000 Montpellier`` (optionally ``&commune=``) or ``?lon=&lat=``
(WGS84). The answer gives the code, name and geography version of the QPV, the status
(``statut``: ``inside``, ``outside``, ``ambiguous``, ``not_found``, ``empty``,
``out_of_territory``; ``qpv_statut``: the same in French, as the batch CSV writes them —
``dans_qpv``, ``hors_qpv``, ``ambigu``, ``introuvable``, ``vide``, ``hors_territoire``),
the reason (polygon, street rule or both), both answers and their agreement, the
distance to the boundary, and the address that answered with its match score and
coordinates (see :func:`layers.perimeters.result_dict`). Perimeters known only by their
street list answer too. A bad parameter gives a 400 naming it.

The lookup is public (anonymous users allowed) unless the configuration sets
``LOOKUP_ROLES`` to the roles allowed. The index is built once per revision of the layers
and rules it reads (:func:`lookup_state`): writes to other layers do not rebuild it.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from webmap import oas, params
from webmap.access import allow, fail
from webmap.store import get_store

logger = logging.getLogger(__name__)

bp = Blueprint("lookup", __name__, url_prefix="/api/lookup")

_LOCK = threading.Lock()
MAX_ADDRESS_LENGTH = 300
#: Bounds of the ``lon`` and ``lat`` parameters (WGS84 degrees).
LON_RANGE = (-180, 180)
LAT_RANGE = (-90, 90)


def store_state() -> tuple[str, object]:
    """Return what identifies the store's current content: the file's mtime, or a database revision."""
    path = str(current_app.config["STORE"])
    if "://" in path and not path.startswith("gpkg://"):  # a database: ask the store
        return path, get_store().revision()
    try:
        return path, os.stat(path.removeprefix("gpkg://")).st_mtime
    except OSError:
        return path, 0.0


def layers_state(layers: tuple[str, ...]) -> tuple[str, object]:
    """Return what identifies the current records of ``layers``: their revision in the store.

    Writes to other layers leave it unchanged. A backend keeping no revision answers
    :func:`store_state` (any change of the store counts).
    """
    revision = get_store().layer_revision(layers)
    if revision is None:
        return store_state()
    return str(current_app.config["STORE"]), revision


def lookup_state() -> tuple[str, object]:
    """Return what the lookup index depends on: the revision of the layers and rules it reads.

    Writes to other layers (a constat's status, an event) leave it unchanged, so that they
    do not cost the next lookup a rebuild of the index (see
    :func:`layers.perimeters.lookup_revision`).
    """
    from layers.perimeters import lookup_revision

    revision = lookup_revision(get_store())
    if revision[0] is None:  # a backend keeping no revision: every change of the store counts
        path, state = store_state()
        return path, (state, revision[1])
    return str(current_app.config["STORE"]), revision


def _file_stamp() -> tuple[int, ...] | None:
    """Return the modification stamps of a GeoPackage store and its WAL (None for a database).

    Any commit changes one of them: while they stay the same, the store has not changed and
    the lookup answers without opening it.
    """
    path = str(current_app.config["STORE"])
    if "://" in path and not path.startswith("gpkg://"):
        return None
    path = path.removeprefix("gpkg://")
    stamp: list[int] = []
    for name in (path, path + "-wal"):
        try:
            st = os.stat(name)
        except OSError:
            stamp += [0, 0]
        else:
            stamp += [st.st_mtime_ns, st.st_size]
    return tuple(stamp)


def _index() -> Any:
    """Return the lookup index of the configured store, rebuilt when what it reads changes."""
    from layers.perimeters import lookup_index_from_store
    from layers.store import describe_store

    cache = current_app.extensions.setdefault("qpv_lookup", {})
    stamp = _file_stamp()  # taken before the revision: a write in between is seen next time
    with _LOCK:
        if stamp is not None and cache.get("stamp") == stamp and "index" in cache:
            return cache["index"]
    state = lookup_state()
    with _LOCK:
        if cache.get("state") != state:
            cache["index"] = lookup_index_from_store(get_store())
            cache["state"] = state
            cache["builds"] = cache.get("builds", 0) + 1
            logger.info("lookup index built for %s", describe_store(state[0]))
        cache["stamp"] = stamp
        return cache["index"]


@bp.get("")
@allow(roles="LOOKUP_ROLES")
def lookup() -> ResponseReturnValue:
    """Look up ``adresse`` or ``lon``/``lat``; JSON answer."""
    from layers.perimeters import lookup_from_store, result_dict

    address = request.args.get("adresse")
    has_point = "lon" in request.args or "lat" in request.args
    if address is not None and has_point:
        fail(400, "Donnez soit « adresse », soit « lon » et « lat ».", "adresse")
    if has_point:
        lon = params.parse_coordinate(request.args, "lon", *LON_RANGE)
        lat = params.parse_coordinate(request.args, "lat", *LAT_RANGE)
        result = lookup_from_store(_index(), lon=lon, lat=lat)
        query: dict[str, Any] = {"lon": lon, "lat": lat}
    else:
        if address is None or not address.strip():
            fail(400, "Paramètre « adresse » manquant ou vide (ou bien « lon » et « lat »).", "adresse")
        if len(address) > MAX_ADDRESS_LENGTH:
            fail(400, f"Paramètre « adresse » trop long (plus de {MAX_ADDRESS_LENGTH} caractères).",
                 "adresse")
        commune = (request.args.get("commune") or "").strip() or None
        result = lookup_from_store(_index(), address=address, commune=commune)
        query = {"adresse": address, **({"commune": commune} if commune else {})}
    return jsonify({"requete": query, **result_dict(result)})


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path item of the lookup."""
    from layers.perimeters import STATUS_CODES

    text = {"type": "string", "nullable": True}
    number = {"type": "number", "nullable": True}
    answer = {
        "type": "object", "required": ["requete", "code", "statut", "qpv_statut"],
        "properties": {
            "requete": {"type": "object"}, "code": text, "nom": text, "geographie": text,
            "statut": {"type": "string", "enum": list(STATUS_CODES)},
            "qpv_statut": {"type": "string", "enum": list(STATUS_CODES.values()),
                           "description": "hors_territoire : aucun périmètre connu ici (ni polygone ni liste "
                                          "de rues), impossible de conclure."},
            "statut_libelle": {"type": "string"}, "motif": text, "motif_libelle": text,
            "polygone": text, "regle": text, "desaccord": {"type": "boolean"},
            "concordance": {**text, "description": "Réponses du polygone et de la liste de rues, quand les "
                                                   "deux répondent."},
            "distance_m": number, "detail": {"type": "string"},
            "adresse_trouvee": {**text, "description": "Adresse de la base qui répond."},
            "score": {**number, "description": "Ressemblance des noms de voie (1 : exacte)."},
            "approchee": {"type": "boolean"}, "remarque": text, "lon": number, "lat": number,
        },
    }
    (lon_min, lon_max), (lat_min, lat_max) = LON_RANGE, LAT_RANGE
    return {"/api/lookup": {"get": oas.operation(
        "Dans quel QPV ? (adresse, ou lon et lat)", "carte",
        {"200": oas.ok("Résultat.", answer), **oas.errors(400, 401, 403)},
        parameters=[
            oas.param("adresse", "query", f"Adresse postale ({MAX_ADDRESS_LENGTH} caractères au plus)."),
            oas.param("commune", "query", "Commune, pour lever une ambiguïté."),
            oas.param("lon", "query", "Longitude CRS84.",
                      {"type": "number", "minimum": lon_min, "maximum": lon_max}),
            oas.param("lat", "query", "Latitude CRS84.",
                      {"type": "number", "minimum": lat_min, "maximum": lat_max}),
        ],
        op_id="lookup",
    )}}

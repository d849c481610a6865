"""Read endpoints of the map's everyday tools: address search and the follow-up of sites.

- ``GET /api/adresses?q=12 bis rue des Pyrénées``: at most 10 address points of the
  territory's ``adresses`` layer (accent and case insensitive; a number, its suffix and
  street words; no spelling correction: a misspelt street finds nothing rather than a
  guess). The index is built once per state of the store.
- ``GET /api/points_noirs/<uid>/evenements``: the dumping events of a point noir.
- ``GET /api/bacs/<uid>/releves`` and ``/levees``: fill readings and collections of a bin.

The layer's visibility rules apply (a layer the role may not see is a 404); child rows
come oldest first, with their ``simulated`` flag.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pandas as pd
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from geo.perimeters.addresssearch import MAX_SUGGESTIONS, AddressIndex
from layers.schema import LAYERS
from webmap import oas
from webmap.access import allow, current_role, fail
from webmap.lookup_api import layers_state
from webmap.store import get_store
from webmap.visibility import visible_fields

logger = logging.getLogger(__name__)

bp = Blueprint("suivi", __name__)

_LOCK = threading.Lock()
MAX_QUERY_LENGTH = 200
MIN_QUERY_LENGTH = 2
#: Child tables read by the popups: (layer, child).
CHILD_READS = (("points_noirs", "evenements"), ("bacs", "releves"), ("bacs", "levees"))


def _address_index() -> AddressIndex | None:
    """Return the address index of the configured store (None without addresses).

    Built once per revision of the address layer: writes to other layers keep it.
    """
    state = layers_state(("adresses",))
    cache = current_app.extensions.setdefault("qpv_adresses", {})
    with _LOCK:
        if cache.get("state") != state:
            store = get_store()
            t0 = time.perf_counter()
            gdf = store.read("adresses") if store.count("adresses", at_most=1) else None
            cache["index"] = AddressIndex(gdf) if gdf is not None else None
            cache["state"] = state
            logger.info("address index: %d points in %.2f s", len(gdf) if gdf is not None else 0,
                        time.perf_counter() - t0)
        return cache["index"]


@bp.get("/api/adresses")
@allow(layer="adresses")
def addresses() -> ResponseReturnValue:
    """Suggest address points of the territory for the search box of the map."""
    query = (request.args.get("q") or "").strip()
    if len(query) < MIN_QUERY_LENGTH:
        fail(400, f"Saisissez au moins {MIN_QUERY_LENGTH} caractères d'une adresse.", "q")
    if len(query) > MAX_QUERY_LENGTH:
        fail(400, f"Adresse trop longue ({MAX_QUERY_LENGTH} caractères au plus).", "q")
    index = _address_index()
    if index is None:
        return jsonify({"q": query, "resultats": [],
                        "message": "Aucune base d'adresses dans le territoire : recherche impossible."})
    hits = [h.as_dict() for h in index.search(query, limit=MAX_SUGGESTIONS)]
    out: dict[str, Any] = {"q": query, "resultats": hits}
    if not hits:
        out["message"] = f"Aucune adresse trouvée pour « {query} » dans le territoire."
    return jsonify(out)


def _iso(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


def _child_rows(layer: str, uid: str, child: str) -> ResponseReturnValue:
    store = get_store()
    store.get_record(layer, uid)  # 404 when unknown
    cschema = LAYERS[layer].child(child)
    rows = store.read_children(layer, child, parent_uids=[uid])
    shown = visible_fields(cschema, current_role(), key=f"{layer}.{child}")
    columns = [f.name for f in cschema.fields if f.name in shown]
    dates = {f.name for f in cschema.fields if f.type in ("date", "datetime")}
    out = []
    for rec in rows.to_dict("records"):
        item: dict[str, Any] = {"uid": rec["uid"]}
        for name in columns:
            value = rec.get(name)
            if name in dates:
                item[name] = _iso(value)
            else:
                missing = value is None or (not isinstance(value, str) and pd.isna(value))
                item[name] = None if missing else value
        flag = rec.get("simulated")
        item["simulated"] = bool(flag) if flag is not None and not pd.isna(flag) else False
        out.append(item)
    return jsonify(out)


@bp.get("/api/points_noirs/<uid>/evenements")
@allow(layer="points_noirs")
def dumping_events(uid: str) -> ResponseReturnValue:
    """Return the dumping events of a point noir, oldest first."""
    return _child_rows("points_noirs", uid, "evenements")


@bp.get("/api/bacs/<uid>/releves")
@allow(layer="bacs")
def fill_readings(uid: str) -> ResponseReturnValue:
    """Return the fill readings of a bin, oldest first."""
    return _child_rows("bacs", uid, "releves")


@bp.get("/api/bacs/<uid>/levees")
@allow(layer="bacs")
def collections(uid: str) -> ResponseReturnValue:
    """Return the collections of a bin, oldest first."""
    return _child_rows("bacs", uid, "levees")


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of the address search and the child reads."""
    uid = oas.param("uid", "path", "Identifiant stable (uid) de l'enregistrement.")
    rows = {"type": "array", "items": {"type": "object"}}
    reads = {
        "/api/points_noirs/{uid}/evenements": ("Dépôts constatés d'un point noir", "dumpingEvents"),
        "/api/bacs/{uid}/releves": ("Relevés de remplissage d'un bac", "fillReadings"),
        "/api/bacs/{uid}/levees": ("Levées d'un bac", "binCollections"),
    }
    return {
        "/api/adresses": {"get": oas.operation(
            "Recherche d'adresses du territoire (au plus 10)", "carte",
            {"200": oas.ok("Adresses trouvées (« resultats ») ou « message » quand il n'y en a pas.",
                           {"type": "object"}), **oas.errors(400, 404)},
            parameters=[oas.param("q", "query", "Numéro, indice et mots de la voie (« 12 bis rue des "
                                  "Pyrénées »).", {"type": "string", "minLength": MIN_QUERY_LENGTH,
                                                    "maxLength": MAX_QUERY_LENGTH})],
            op_id="searchAddresses")},
        **{path: {"get": oas.operation(summary, "constats",
                                       {"200": oas.ok("Du plus ancien au plus récent.", rows),
                                        **oas.errors(404)},
                                       parameters=[uid], op_id=op_id)}
           for path, (summary, op_id) in reads.items()},
    }

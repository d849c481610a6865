"""JSON API of the plan d'actions under ``/api/actions`` and the conventions under ``/api/conventions``.

Views stay thin: they parse and check the request (types, lengths, WGS84 geometries),
check the organisation scope of :mod:`layers.scope` on every write (403 with its French
reason), call :mod:`layers.actions` and encode GeoJSON in WGS84 (``geometry`` null for an
action without place). Fields the role may not see are hidden (:mod:`webmap.visibility`);
the layer ``actions`` is not public, so anonymous visitors get 401 everywhere here.

Endpoints (see also :func:`openapi_paths`):

* ``GET /api/actions`` — filters ``quartier``, ``debut``, ``fin``, ``etat`` (comma list),
  ``pilote``, ``partenaire``, ``orientation``, ``en_retard=1``, ``tfpb``, ``bailleur``,
  ``annee``, ``diagnostic``; properties + ``constats`` (uids) + ``en_retard``;
* ``GET /api/actions/<uid>`` — one Feature with ``historique`` and ``constats`` (details);
* ``POST /api/actions``, ``PATCH /api/actions/<uid>`` — create / change (technicien+);
* ``POST /api/actions/<uid>/constats``, ``DELETE /api/actions/<uid>/constats/<constat_uid>``;
* ``POST /api/diagnostics/<walk_uid>/actions`` — the walk's constats become actions;
* ``GET /api/conventions``, ``GET /api/conventions/<code>``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from shapely.geometry import Point, shape

from geo.crs import area_of_use_bounds
from layers import actions as services
from layers.conventions import convention_to_dict, stored_conventions
from layers.integrity import check_lengths
from layers.projection import CRS84, project
from layers.schema import ACTION_STATES, LAYERS, Field
from layers.store.base import LayerStore
from webmap import oas, params, writes
from webmap.access import allow, can_see, current_role, current_user, fail
from webmap.geojson import GEOJSON, encode_features, feature_collection, json_response
from webmap.store import get_store
from webmap.visibility import visible_fields, visible_frame

logger = logging.getLogger(__name__)

bp = Blueprint("actions_api", __name__)

LAYER = "actions"
SCHEMA = LAYERS[LAYER]
#: Fields a client may set (the author organisation, the closing date and the walk are the server's).
ACTION_INPUT = frozenset(f.name for f in SCHEMA.fields) - {"organisation", "resolved_at", "walk_id"}
#: Longest text of each field (the integrity bounds of the app's settings come first).
TEXT_LIMITS: dict[str, int] = {"title": 300, "lieu": 300, "tfpb_sous_action": 300, "bailleur": 200,
                               "quartier": 40, "convention": 80, "orientation": 20, "objectif": 20,
                               "axe": 20, "origine": 100}
DEFAULT_TEXT_LIMIT = 2000
#: Most constats linked in one request, most vertices of one geometry, most proposals of a walk.
MAX_LINKS = 500
MAX_VERTICES = 10_000
MAX_PROPOSALS = 200
QUERY_PARAMS = frozenset({"quartier", "debut", "fin", "etat", "pilote", "partenaire", "orientation",
                          "en_retard", "tfpb", "bailleur", "annee", "diagnostic"})
_TRUE = {"1", "true", "vrai", "oui"}
_FALSE = {"0", "false", "faux", "non"}
_CONSTAT_DETAILS = ("uid", "theme", "description", "address", "status", "observed_at")


def _store() -> LayerStore:
    return get_store()


def _actor() -> str | None:
    user = current_user()
    return user.actor if user else None


def _organisation() -> str | None:
    user = current_user()
    return user.organisation if user else None


def _json_object() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        fail(400, "Corps JSON (objet) attendu.", "corps")
    return data


# -- reading ------------------------------------------------------------------------------------


def _flag(name: str) -> bool | None:
    text = request.args.get(name, "").strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    fail(400, f"« {name} » : 1 ou 0 attendu.", name)


def _query() -> services.ActionQuery:
    unknown = sorted(set(request.args) - QUERY_PARAMS)
    if unknown:
        fail(400, f"Paramètre inconnu : « {unknown[0]} ».", unknown[0])
    start, end = params.parse_date(request.args, "debut"), params.parse_date(request.args, "fin")
    if start is not None and end is not None and start > end:
        fail(400, "La date de fin doit suivre la date de début.", "fin")
    etats = tuple(params.parse_list(request.args, "etat"))
    bad = [e for e in etats if e not in ACTION_STATES]
    if bad:
        fail(400, f"État « {bad[0]} » inconnu ({', '.join(ACTION_STATES)}).", "etat")
    year = params.parse_int(request.args, "annee", 0, minimum=0, maximum=2100) or None
    texts = {name: (request.args.get(name) or "").strip()[:200] or None
             for name in ("quartier", "pilote", "partenaire", "orientation", "bailleur", "diagnostic")}
    return services.ActionQuery(
        quartier=texts["quartier"], start=start.date() if start is not None else None,
        end=end.date() if end is not None else None, etats=etats, pilote=texts["pilote"],
        partenaire=texts["partenaire"], orientation=texts["orientation"],
        late_only=bool(_flag("en_retard")), tfpb=_flag("tfpb"), bailleur=texts["bailleur"], year=year,
        walk_id=texts["diagnostic"])


def _date_text(value: Any) -> Any:
    return value[:10] if isinstance(value, str) and value.endswith("T00:00:00") else value


def _features(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """GeoJSON features (WGS84) of actions read by :func:`layers.actions.read_actions`-like code."""
    store = _store()
    shown = visible_frame(frame, SCHEMA, current_role())
    feats = encode_features(shown, SCHEMA, store.crs)
    dates = [f.name for f in SCHEMA.all_fields if f.type == "date"]
    for feat, constats, late in zip(feats, frame["constats"], frame["late"], strict=True):
        props = feat["properties"]
        for name in dates:
            if name in props:
                props[name] = _date_text(props[name])
        props["constats"] = list(constats)
        props["en_retard"] = bool(late)
    return feats


def _one(uid: str) -> gpd.GeoDataFrame:
    store = _store()
    frame = store.read(LAYER, uids=[uid])
    if frame.empty:
        fail(404, f"Action « {uid} » introuvable.")
    frame = frame.copy()
    frame["late"] = services.late_mask(frame, date.today())
    frame["constats"] = [services.action_links(store, [uid])["constat_uid"].astype(str).tolist()]
    return frame


def _feature(uid: str) -> dict[str, Any]:
    return _features(_one(uid))[0]


@bp.get("/api/actions")
@allow("lecteur", layer=LAYER)
def list_actions() -> ResponseReturnValue:
    """Return the actions matching the filters, as a GeoJSON FeatureCollection (WGS84)."""
    frame = services.read_actions(_store(), _query())
    feats = _features(frame)
    return json_response(feature_collection(feats, len(feats)), GEOJSON)


def _history(uid: str) -> list[dict[str, Any]]:
    hist = _store().history(LAYER, uid)
    child = SCHEMA.child("historique")
    shown = visible_fields(child, current_role(), key=f"{LAYER}.historique")
    columns = [c for c in ("status", "changed_at", "changed_by", "comment") if c in shown]
    rows: list[dict[str, Any]] = []
    for rec in hist[columns].to_dict("records"):
        ts = rec.get("changed_at")
        rec["changed_at"] = None if ts is None or pd.isna(ts) else pd.Timestamp(ts).isoformat()
        rows.append({str(k): v for k, v in rec.items()})
    return rows


def _constat_details(uids: list[str]) -> list[dict[str, Any]]:
    if not uids or not can_see("observations"):
        return []
    found = _store().read("observations", uids=uids)
    shown = visible_fields(LAYERS["observations"], current_role())
    out = []
    for rec in found.to_dict("records"):
        item = {}
        for name in _CONSTAT_DETAILS:
            if name not in shown:
                continue
            value = rec.get(name)
            if isinstance(value, pd.Timestamp):
                value = None if pd.isna(value) else value.isoformat()
            elif value is not None and not isinstance(value, str) and pd.isna(value):
                value = None
            item[name] = value
        out.append(item)
    return out


@bp.get("/api/actions/<uid>")
@allow("lecteur", layer=LAYER)
def get_action(uid: str) -> ResponseReturnValue:
    """One action with its état history and the constats it answers."""
    feat = _feature(uid)
    feat["properties"]["historique"] = _history(uid)
    feat["properties"]["constats"] = _constat_details(feat["properties"]["constats"])
    return json_response(feat, GEOJSON)


# -- checking the bodies -----------------------------------------------------------------------


def _check_type(f: Field, value: Any) -> None:
    """400 naming ``f`` when ``value`` has not the JSON type of the field."""
    if value is None:
        return
    if f.type == "bool":
        ok = isinstance(value, bool)
        expected = "vrai ou faux"
    elif f.type in ("int", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        expected = "un nombre"
    else:
        ok = isinstance(value, str)
        expected = "un texte"
    if not ok:
        fail(400, f"« {f.name} » : {expected} attendu.", f.name)
    if isinstance(value, str):
        limit = TEXT_LIMITS.get(f.name, DEFAULT_TEXT_LIMIT)
        if len(value) > limit:
            fail(400, f"« {f.name} » trop long ({len(value)} caractères, {limit} au plus).", f.name)


def _coordinates_ok(lon: np.ndarray, lat: np.ndarray, crs: str) -> bool:
    west, south, east, north = area_of_use_bounds(crs)
    return bool(np.isfinite(lon).all() and np.isfinite(lat).all() and (lon >= west).all()
                and (lon <= east).all() and (lat >= south).all() and (lat <= north).all())


def _to_store(geom: Any, crs: str, name: str) -> Any:
    coords = shapely.get_coordinates(geom)
    if len(coords) == 0:
        fail(400, "Géométrie vide.", name)
    if len(coords) > MAX_VERTICES:
        fail(400, f"Géométrie trop détaillée ({len(coords)} sommets, {MAX_VERTICES} au plus).", name)
    if not _coordinates_ok(coords[:, 0], coords[:, 1], crs):
        fail(400, "Coordonnées hors du territoire couvert (longitude, latitude WGS84 attendues).", name)

    def to_store(xy: np.ndarray) -> np.ndarray:
        x, y = project(CRS84, crs, xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, to_store)


def _geometry(data: Mapping[str, Any], crs: str) -> tuple[bool, Any]:
    """Return (given, geometry in the store CRS or None) from ``geometry`` or ``lon``/``lat``."""
    has_point = "lon" in data or "lat" in data
    if "geometry" in data and has_point:
        fail(400, "Donner « geometry » ou « lon »/« lat », pas les deux.", "geometry")
    if has_point:
        values = []
        for name in ("lon", "lat"):
            value = data.get(name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                fail(400, f"« {name} » : nombre attendu (degrés WGS84).", name)
            values.append(float(value))
        return True, _to_store(Point(*values), crs, "lon")
    if "geometry" not in data:
        return False, None
    raw = data["geometry"]
    if raw is None:
        return True, None
    if not isinstance(raw, dict):
        fail(400, "« geometry » : objet GeoJSON attendu.", "geometry")
    if raw.get("type") not in ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                               "MultiPolygon"):
        fail(400, "« geometry » : type GeoJSON non pris en charge.", "geometry")
    try:
        geom = shape(raw)
    except Exception:  # shapely raises many kinds on malformed coordinates
        fail(400, "« geometry » : géométrie GeoJSON illisible.", "geometry")
    return True, _to_store(geom, crs, "geometry")


def _fields(data: Mapping[str, Any], extra: frozenset[str]) -> dict[str, Any]:
    """Return the action fields of ``data``, type- and length-checked (400 naming the field)."""
    unknown = sorted(set(data) - ACTION_INPUT - extra - {"geometry", "lon", "lat", "csrf_token"})
    if unknown:
        fail(400, f"Champ inconnu ou non modifiable : « {str(unknown[0])[:60]} ».", str(unknown[0])[:60])
    fields = {k: v for k, v in data.items() if k in ACTION_INPUT}
    for name, value in fields.items():
        _check_type(SCHEMA.field(name), value)
    check_lengths(fields, writes.write_rules())
    return fields


def _uid_list(value: Any, name: str = "constats") -> list[str]:
    if not isinstance(value, list):
        fail(400, f"« {name} » : liste d'identifiants attendue.", name)
    if len(value) > MAX_LINKS:
        fail(400, f"« {name} » : {MAX_LINKS} identifiants au plus.", name)
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value):
        fail(400, f"« {name} » : identifiants (textes) attendus.", name)
    return list(value)


# -- writing -------------------------------------------------------------------------------------


@bp.post("/api/actions")
@allow("technicien", layer=LAYER)
def create_action() -> ResponseReturnValue:
    """Create an action (its organisation is the author's), linked to the constats given."""
    data = _json_object()
    fields = _fields(data, frozenset({"constats"}))
    constats = _uid_list(data["constats"]) if "constats" in data else []
    store = _store()
    _, geometry = _geometry(data, store.crs)
    record = services.create_action(store, {**fields, "geometry": geometry}, organisation=_organisation(),
                                    actor=_actor(), constats=constats)
    return json_response(_feature(record["uid"]), GEOJSON, 201)


@bp.patch("/api/actions/<uid>")
@allow("technicien", layer=LAYER)
def patch_action(uid: str) -> ResponseReturnValue:
    """Change fields of an action (the organisation's technicians and administrators)."""
    data = _json_object()
    fields = _fields(data, frozenset({"commentaire"}))
    comment = data.get("commentaire")
    if comment is not None and not isinstance(comment, str):
        fail(400, "« commentaire » : un texte attendu.", "commentaire")
    check_lengths({"comment": comment}, writes.write_rules())
    store = _store()
    given, geometry = _geometry(data, store.crs)
    if given:
        fields["geometry"] = geometry
    if not fields:
        fail(400, "Aucun champ à modifier.", "corps")
    writes.require_scope(LAYER, uid)
    services.update_action(store, uid, fields, actor=_actor(), comment=comment)
    return json_response(_feature(uid), GEOJSON)


@bp.post("/api/actions/<uid>/constats")
@allow("technicien", layer=LAYER)
def link_constats(uid: str) -> ResponseReturnValue:
    """Link constats to an action; ``traite`` marks the open ones « traité » at once."""
    data = _json_object()
    unknown = sorted(set(data) - {"constats", "traite", "csrf_token"})
    if unknown:
        fail(400, f"Champ inconnu : « {str(unknown[0])[:60]} ».", str(unknown[0])[:60])
    constats = _uid_list(data.get("constats"))
    treated = data.get("traite", False)
    if not isinstance(treated, bool):
        fail(400, "« traite » : vrai ou faux attendu.", "traite")
    writes.require_scope(LAYER, uid)
    if treated:
        for constat in constats:  # their status changes: the constats' rules apply too
            writes.require_scope("observations", constat)
    count = services.link_constats(_store(), uid, constats, actor=_actor(), treated=treated)
    return jsonify({"rattaches": count})


@bp.delete("/api/actions/<uid>/constats/<constat_uid>")
@allow("technicien", layer=LAYER)
def unlink_constat(uid: str, constat_uid: str) -> ResponseReturnValue:
    """Remove a constat from an action (its status is left as it is)."""
    writes.require_scope(LAYER, uid)
    if not services.unlink_constat(_store(), uid, constat_uid, actor=_actor()):
        fail(404, f"Le constat « {constat_uid[:64]} » n'est pas rattaché à cette action.", "constat_uid")
    return "", 204


@bp.post("/api/diagnostics/<walk_uid>/actions")
@allow("technicien", layer=LAYER)
def actions_from_walk(walk_uid: str) -> ResponseReturnValue:
    """Turn the constats of a walk into new actions or attach them to existing ones (all or nothing)."""
    data = _json_object()
    proposals = data.get("propositions")
    if not isinstance(proposals, list) or not proposals:
        fail(400, "« propositions » : liste non vide attendue.", "propositions")
    if len(proposals) > MAX_PROPOSALS:
        fail(400, f"« propositions » : {MAX_PROPOSALS} au plus.", "propositions")
    store = _store()
    checked = []
    for proposal in proposals:
        if not isinstance(proposal, dict):
            fail(400, "« propositions » : objets attendus.", "propositions")
        constats = _uid_list(proposal.get("constats"))
        if proposal.get("action") is not None:
            target = proposal["action"]
            if not isinstance(target, str) or not target or len(target) > 64:
                fail(400, "« action » : identifiant attendu.", "action")
            writes.require_scope(LAYER, target)
            checked.append({"action": target, "constats": constats})
            continue
        fields = _fields({k: v for k, v in proposal.items() if k != "action"}, frozenset({"constats"}))
        _, geometry = _geometry(proposal, store.crs)
        checked.append({**fields, "geometry": geometry, "constats": constats})
    writes.require_scope("diagnostics", walk_uid)
    results = services.actions_from_walk(store, walk_uid, checked, organisation=_organisation(),
                                         actor=_actor())
    return json_response([_feature(r["uid"]) for r in results], "application/json", 201)


# -- conventions -------------------------------------------------------------------------------


@bp.get("/api/conventions")
@allow("lecteur")
def conventions() -> ResponseReturnValue:
    """Return the conventions imported into the store (orientations, objectifs, axes, TFPB axes)."""
    return jsonify([convention_to_dict(c) for c in stored_conventions(_store())])


@bp.get("/api/conventions/<code>")
@allow("lecteur")
def convention(code: str) -> ResponseReturnValue:
    """One imported convention."""
    for conv in stored_conventions(_store()):
        if conv.code == code:
            return jsonify(convention_to_dict(conv))
    fail(404, f"Convention « {code[:80]} » inconnue de l'entrepôt.", "code")


# -- OpenAPI ------------------------------------------------------------------------------------

_UID = oas.param("uid", "path", "Identifiant (uid) de l'action.")


def _query_parameters() -> list[dict[str, Any]]:
    texts = {
        "quartier": "Code du quartier (QP034001…).",
        "pilote": "Pilote (sous-chaîne, sans tenir compte des accents ni de la casse).",
        "partenaire": "Partenaire (sous-chaîne, sans accents ni casse).",
        "orientation": "Code d'orientation de la convention (ou objectifs qui en relèvent).",
        "bailleur": "Bailleur (sans accents ni casse).",
        "diagnostic": "Identifiant du diagnostic en marchant d'où viennent les actions.",
    }
    return [
        oas.param("debut", "query", "Décidées à partir de cette date (incluse).",
                  {"type": "string", "format": "date"}),
        oas.param("fin", "query", "Décidées jusqu'à cette date (incluse).",
                  {"type": "string", "format": "date"}),
        oas.param("etat", "query", f"États séparés par des virgules ({', '.join(ACTION_STATES)}).",
                  {"type": "string"}),
        oas.param("en_retard", "query", "1 : seulement les actions en retard (délai dépassé, non "
                  "réalisées ; une action sans délai n'est jamais en retard).", {"type": "string",
                                                                                  "enum": ["0", "1"]}),
        oas.param("tfpb", "query", "1 : actions TFPB seulement ; 0 : les autres.",
                  {"type": "string", "enum": ["0", "1"]}),
        oas.param("annee", "query", "Année TFPB.", {"type": "integer", "minimum": 2000, "maximum": 2100}),
        *(oas.param(name, "query", text) for name, text in texts.items()),
    ]


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of the plan d'actions and the conventions."""
    feature = oas.feature_response()
    tag = "actions"
    return {
        "/api/actions": {
            "get": oas.operation("Plan d'actions filtré (GeoJSON WGS84, géométrie nulle possible)", tag,
                                 {"200": oas.feature_collection_response(), **oas.errors(400, 401, 404)},
                                 parameters=_query_parameters(), op_id="listActions"),
            "post": oas.operation(
                "Nouvelle action (technicien) ; l'organisation est celle de l'auteur", tag,
                {"201": oas.ok("Action créée.", oas.ref("Feature")), **oas.errors(400, 401, 403, 404)},
                write=True, body={"required": True, **oas.json_content(oas.ref("ActionInput"))},
                op_id="createAction"),
        },
        "/api/actions/{uid}": {
            "get": oas.operation("Une action, son historique et ses constats", tag,
                                 {"200": feature, **oas.errors(401, 404)}, parameters=[_UID],
                                 op_id="getAction"),
            "patch": oas.operation(
                "Modifier une action (techniciens de ses organisations, administrateurs) ; « réalisée » "
                "passe ses constats ouverts à « traité »", tag,
                {"200": feature, **oas.errors(400, 401, 403, 404)}, parameters=[_UID], write=True,
                body={"required": True, **oas.json_content(oas.ref("ActionChange"))}, op_id="patchAction"),
        },
        "/api/actions/{uid}/constats": {"post": oas.operation(
            "Rattacher des constats à une action", tag,
            {"200": oas.ok("Nombre de rattachements nouveaux.", oas.ref("LinkResult")),
             **oas.errors(400, 401, 403, 404)}, parameters=[_UID], write=True,
            body={"required": True, **oas.json_content(oas.ref("LinkInput"))}, op_id="linkConstats")},
        "/api/actions/{uid}/constats/{constat_uid}": {"delete": oas.operation(
            "Détacher un constat d'une action", tag,
            {"204": {"description": "Détaché."}, **oas.errors(401, 403, 404)},
            parameters=[_UID, oas.param("constat_uid", "path", "Identifiant du constat.")], write=True,
            op_id="unlinkConstat")},
        "/api/diagnostics/{walk_uid}/actions": {"post": oas.operation(
            "Du diagnostic au plan : nouvelles actions ou rattachements (tout ou rien)", tag,
            {"201": oas.ok("Actions créées ou complétées, dans l'ordre des propositions.",
                           {"type": "array", "items": oas.ref("Feature")}),
             **oas.errors(400, 401, 403, 404)},
            parameters=[oas.param("walk_uid", "path", "Identifiant du diagnostic en marchant.")],
            write=True, body={"required": True, **oas.json_content(oas.ref("WalkProposals"))},
            op_id="actionsFromWalk")},
        "/api/conventions": {"get": oas.operation(
            "Conventions importées (orientations, objectifs, axes, axes TFPB)", tag,
            {"200": oas.ok("Conventions.", {"type": "array", "items": {"type": "object"}}),
             **oas.errors(401, 403)}, op_id="listConventions")},
        "/api/conventions/{code}": {"get": oas.operation(
            "Une convention importée", tag,
            {"200": oas.ok("Convention.", {"type": "object"}), **oas.errors(401, 403, 404)},
            parameters=[oas.param("code", "path", "Code de la convention.")], op_id="getConvention")},
    }


def _input_properties() -> dict[str, Any]:
    types = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "date": "string",
             "datetime": "string", "json": "string"}
    props: dict[str, Any] = {}
    for f in SCHEMA.fields:
        if f.name not in ACTION_INPUT:
            continue
        p: dict[str, Any] = {"type": types[f.type], "nullable": not f.required, "description": f.label}
        if f.type == "date":
            p["format"] = "date"
        if f.choices:
            p["enum"] = list(f.choices)
        if f.type == "str" and not f.choices:
            p["maxLength"] = TEXT_LIMITS.get(f.name, DEFAULT_TEXT_LIMIT)
        props[f.name] = p
    props["geometry"] = {"type": "object", "nullable": True,
                         "description": "Géométrie GeoJSON en WGS84 (point, ligne, polygone) ; null : "
                                        "action sans lieu."}
    props["lon"] = {"type": "number", "description": "Longitude WGS84 (au lieu de geometry)."}
    props["lat"] = {"type": "number", "description": "Latitude WGS84 (au lieu de geometry)."}
    return props


def openapi_schemas() -> dict[str, Any]:
    """Return the OpenAPI schemas of the bodies of the plan d'actions."""
    constats = {"type": "array", "maxItems": MAX_LINKS, "items": {"type": "string"},
                "description": "Identifiants des constats traités par l'action."}
    return {
        "ActionInput": {
            "type": "object", "required": ["title"], "additionalProperties": False,
            "description": "Origine : une des valeurs configurées (QPV_ACTION_ORIGINES) ; orientation, "
                           "objectif, axe et axe TFPB : codes de la convention nommée ; référence "
                           "unique (attribuée si absente).",
            "properties": {**_input_properties(), "constats": constats},
        },
        "ActionChange": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {**_input_properties(),
                           "commentaire": {"type": "string", "description": "Gardé dans l'historique."}},
        },
        "LinkInput": {
            "type": "object", "required": ["constats"], "additionalProperties": False,
            "properties": {"constats": constats,
                           "traite": {"type": "boolean", "default": False,
                                      "description": "Passer aussitôt les constats ouverts à « traité »."}},
        },
        "LinkResult": {"type": "object", "properties": {"rattaches": {"type": "integer", "minimum": 0}}},
        "WalkProposals": {
            "type": "object", "required": ["propositions"], "additionalProperties": False,
            "properties": {"propositions": {
                "type": "array", "maxItems": MAX_PROPOSALS,
                "items": {"oneOf": [
                    {"allOf": [oas.ref("ActionInput")], "description": "Nouvelle action."},
                    {"type": "object", "required": ["action", "constats"], "additionalProperties": False,
                     "description": "Rattachement à une action existante.",
                     "properties": {"action": {"type": "string"}, "constats": constats}},
                ]},
            }},
        },
    }

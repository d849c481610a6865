"""JSON API of the walk planner (``/api/diagnostics``), for technicians and administrators.

* ``GET /api/diagnostics/candidats?quartier=QP034005``: the candidate stops of a quartier
  (id, kind, label, lon/lat, priority, reason) so the planner can add or drop one, with the
  quartier's outline and streets (WGS84), the size of its street network and whether the page
  computes the walk directly or as a background job (``calcul``: ``direct`` / ``travail``);
* ``POST /api/diagnostics/apercu``: the walk(s) a request gives, nothing saved
  (:func:`layers.walk_preview.walk_preview`);
* ``POST /api/diagnostics``: saves the same request as a planned diagnostic (as
  ``qpv parcours`` does, :func:`layers.walks.plan_walk`) and answers 201 with its links.

The body is checked here (French 400 naming the field): quartier, date, start (« lon,lat »,
``{"lon", "lat"}`` or an address, inside the quartier or at most 250 m away and near a
street), ``duration_min`` 15–480, ``speed_kmh`` 0.5–10, ``dwell_min`` 0–60, ``groups`` 1–6,
``mode``, ``mandatory`` and ``excluded`` (candidate ids, or places for ``mandatory``). A
quartier without any street in the store is refused as such (« pas de réseau de rues connu
pour ce quartier »), not as a start « non desservi ».

The job kind « parcours » (registered here in :mod:`webmap.jobs.kinds`) computes the same
preview in a worker, for the large quartiers (thresholds in :mod:`layers.settings`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import shapely
from flask import Blueprint, current_app, has_request_context, jsonify, request
from flask.typing import ResponseReturnValue
from shapely.geometry.base import BaseGeometry

from geo.crs import WEB_CRS
from geo.walks.model import WalkOptions
from layers.errors import WalkError
from layers.settings import get_settings
from layers.store import open_store
from layers.store.base import LayerStore
from layers.walks import MODES, WalkRequest
from webmap import oas
from webmap.access import allow, current_user, fail
from webmap.errors import ApiError, JobError
from webmap.jobs.kinds import JobContext, JobKind, register
from webmap.store import get_store

logger = logging.getLogger(__name__)

bp = Blueprint("planner", __name__, url_prefix="/api/diagnostics")

#: Bounds of the numeric fields: (minimum, maximum, default).
BOUNDS: dict[str, tuple[float, float, float]] = {
    "duration_min": (15, 480, 90), "speed_kmh": (0.5, 10, 3), "dwell_min": (0, 60, 5), "groups": (1, 6, 1),
}
MAX_MANDATORY = 30
MAX_EXCLUDED = 1000
MAX_TEXT = 300
#: Farthest a meeting point may be from the quartier, and from a street (metres).
START_MAX_FROM_QUARTIER_M = 250.0
START_MAX_FROM_STREET_M = 100.0
#: Search time of a web request (the seeded search usually ends well before, on its own).
TIME_LIMIT_S = 4.0
#: Margin around the quartier where its streets are counted (metres).
NETWORK_MARGIN_M = 300.0
NO_NETWORK = ("Pas de réseau de rues connu pour ce quartier ({code}) : aucune voie dans l'entrepôt autour "
              "de lui. Importer la couche « voies » (filaire des voies) pour y planifier un diagnostic.")


def _store() -> LayerStore:
    return get_store()


def _cache_dir() -> str | None:
    value = current_app.config.get("WALK_CACHE_DIR")
    return str(value) if value else None


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        fail(400, "Corps JSON (objet) attendu.", "corps")
    return data


def _number(data: dict[str, Any], name: str) -> float:
    low, high, default = BOUNDS[name]
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        fail(400, f"« {name} » : nombre attendu.", name)
    if not low <= value <= high:
        fail(400, f"« {name} » hors limites : {value:g} (de {low:g} à {high:g}).", name)
    if name == "groups" and int(value) != value:
        fail(400, "« groups » : nombre entier de groupes attendu (1 à 6).", name)
    return float(value)


def _place(value: Any, name: str) -> str:
    """Return a place as text: « lon,lat », an address or a candidate id."""
    if isinstance(value, dict) and set(value) >= {"lon", "lat"}:
        lon, lat = value["lon"], value["lat"]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                      for v in (lon, lat))
        if not numeric or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            fail(400, f"« {name} » : longitude et latitude en degrés attendues.", name)
        return f"{lon},{lat}"
    if isinstance(value, dict) and "id" in value:
        value = value["id"]
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        fail(400, f"« {name} » : « lon,lat », {{lon, lat}}, une adresse ou l'id d'un arrêt candidat attendu.",
             name)
    return value.strip()


def _list(data: dict[str, Any], name: str, limit: int) -> tuple[str, ...]:
    values = data.get(name, [])
    if values is None:
        return ()
    if not isinstance(values, list):
        fail(400, f"« {name} » : liste attendue.", name)
    if len(values) > limit:
        fail(400, f"« {name} » : {len(values)} éléments, {limit} au plus.", name)
    return tuple(_place(v, f"{name}[{i}]") for i, v in enumerate(values))


def _quartier(store: LayerStore, value: Any) -> str:
    from layers.walks import quartier_perimeter

    if not isinstance(value, str) or not value.strip() or len(value) > 20:
        fail(400, "« quartier » : code QPV attendu (« QP034005 »).", "quartier")
    try:
        return str(quartier_perimeter(store, value)["code"].iloc[0])
    except WalkError as exc:
        fail(400, f"« quartier » : {exc}", "quartier")


def _check_start(store: LayerStore, code: str, start: str) -> None:
    """Refuse a meeting point outside the quartier or far from every street (400 naming ``start``)."""
    from layers.walks import quartier_perimeter, resolve_point

    zone = quartier_perimeter(store, code).geometry.iloc[0]
    if not len(_streets(store, zone)):
        fail(400, NO_NETWORK.format(code=code), "quartier")
    try:
        point, label = resolve_point(store, start, near=zone)
    except WalkError as exc:
        fail(400, f"« start » : {exc}", "start")
    away = point.distance(zone)
    if away > START_MAX_FROM_QUARTIER_M:
        fail(400, f"« start » : le départ « {label} » est à {away:.0f} m du quartier {code} "
                  "(choisir un point dans le quartier ou à ses abords).", "start")
    reach = START_MAX_FROM_STREET_M
    streets = store.read("voies", bbox=point.buffer(reach).bounds)
    near = streets.geometry.distance(point).min() if len(streets) else math.inf
    if not near <= reach:
        fail(400, f"« start » : le départ « {label} » n'est desservi par aucune voie à moins de "
                  f"{reach:.0f} m (non desservi) : choisir un point sur une rue.", "start")


def _walk_request(store: LayerStore, data: dict[str, Any]) -> WalkRequest:
    """Check the body and return the request (French 400 naming the field)."""
    code = _quartier(store, data.get("quartier"))
    mode = data.get("mode", "priorites")
    if mode not in MODES:
        fail(400, f"« mode » inconnu : {mode!r} ({' ou '.join(MODES)}).", "mode")
    when = data.get("date")
    if when is not None and (not isinstance(when, str) or len(when) > 40):
        fail(400, "« date » : date ISO attendue (AAAA-MM-JJTHH:MM).", "date")
    if when is not None:
        from layers.walks import parse_walk_date

        try:
            parse_walk_date(when)
        except WalkError as exc:
            fail(400, f"« date » : {exc}", "date")
    if data.get("start") in (None, ""):
        fail(400, "« start » manquant : « lon,lat », {lon, lat} ou une adresse.", "start")
    start = _place(data["start"], "start")
    numbers = {name: _number(data, name) for name in BOUNDS}
    mandatory = _list(data, "mandatory", MAX_MANDATORY)
    excluded = _list(data, "excluded", MAX_EXCLUDED)
    _check_start(store, code, start)
    user = current_user()
    options = WalkOptions(budget_min=numbers["duration_min"], speed_kmh=numbers["speed_kmh"],
                          dwell_min=numbers["dwell_min"], time_limit_s=TIME_LIMIT_S)
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_TEXT):
        fail(400, f"« name » : texte de {MAX_TEXT} caractères au plus attendu.", "name")
    return WalkRequest(quartier=code, start=start, mandatory=mandatory, excluded=excluded,
                       groups=int(numbers["groups"]), mode=mode, walk_date=when, options=options,
                       name=name or None, organisation=user.organisation if user else None)


def _streets(store: LayerStore, zone: BaseGeometry) -> gpd.GeoDataFrame:
    """Street segments of the store around ``zone`` (within :data:`NETWORK_MARGIN_M`)."""
    area = zone.buffer(NETWORK_MARGIN_M)
    streets = store.read("voies", bbox=area.bounds)
    return streets[streets.geometry.intersects(area)] if len(streets) else streets


def _web_geometry(frame: gpd.GeoDataFrame, tolerance: float) -> dict[str, Any] | None:
    """One WGS84 GeoJSON geometry of ``frame`` (simplified to ``tolerance`` metres), None when empty."""
    if not len(frame):
        return None
    merged = shapely.union_all(frame.geometry.simplify(tolerance).to_numpy())
    web = gpd.GeoSeries([merged], crs=frame.crs).to_crs(WEB_CRS).iloc[0]
    return dict(shapely.geometry.mapping(shapely.set_precision(web, 1e-6)))


def _communes(perimeter: gpd.GeoDataFrame) -> str:
    value = perimeter["communes"].iloc[0] if "communes" in perimeter.columns else None
    return value if isinstance(value, str) else ""


def network_summary(store: LayerStore, code: str, n_candidates: int) -> dict[str, Any]:
    """Outline, streets and size of the street network of quartier ``code``, and how to compute its walks.

    ``calcul`` is ``travail`` (background job « parcours ») when the quartier has more candidate
    stops or street segments than the settings' thresholds, ``direct`` otherwise, ``impossible``
    without any street (``message`` then says so).
    """
    from layers.walks import quartier_perimeter

    perimeter = quartier_perimeter(store, code)
    streets = _streets(store, perimeter.geometry.iloc[0])
    settings = get_settings()
    large = n_candidates > settings.planner_job_candidates or len(streets) > settings.planner_job_streets
    out: dict[str, Any] = {
        "communes": _communes(perimeter),
        "perimetre": _web_geometry(perimeter, 2.0), "voies": _web_geometry(streets, 1.0),
        "reseau": {"voies": len(streets)},
        "calcul": "impossible" if not len(streets) else "travail" if large else "direct",
        "seuils": {"candidats": settings.planner_job_candidates, "voies": settings.planner_job_streets},
    }
    if not len(streets):
        out["message"] = NO_NETWORK.format(code=code)
    return out


@bp.get("/candidats")
@allow("technicien", layer="diagnostics")
def candidates() -> ResponseReturnValue:
    """Return the candidate stops of ``?quartier=``, highest priority first, with its street network."""
    from layers.walk_preview import walk_candidates

    store = _store()
    code = _quartier(store, request.args.get("quartier"))
    data = walk_candidates(store, code)
    return jsonify({**data, **network_summary(store, code, len(data["candidats"]))})


@bp.post("/apercu")
@allow("technicien", layer="diagnostics")
def preview() -> ResponseReturnValue:
    """Return the walk(s) of the request, with timetable and reasons; nothing is saved."""
    from layers.walk_preview import walk_preview

    store = _store()
    walk = _walk_request(store, _body())
    return jsonify(walk_preview(store, walk, cache_dir=_cache_dir()))


@bp.post("")
@allow("technicien", layer="diagnostics")
def save() -> ResponseReturnValue:
    """Save the request as a planned diagnostic (one walk per group); 201 with the links."""
    from layers.walks import plan_walk

    store = _store()
    walk = _walk_request(store, _body())
    user = current_user()
    plans = plan_walk(store, walk, cache_dir=_cache_dir(), actor=user.login if user else None)
    walks = [{"uid": p.uid, "name": p.name, "group": p.group, "stops": len(p.route.stops),
              "stop_ids": [str(k) for k in p.route.stops.index],
              "duration_min": round(p.route.duration_min, 1),
              "links": {"page": f"/diagnostic/{p.uid}", "sheet_pdf": f"/diagnostic/{p.uid}/feuille.pdf",
                        "gpx": f"/diagnostic/{p.uid}/route.gpx"}} for p in plans]
    logger.info("walk(s) %s planned from the web by %s", [p.uid for p in plans], user.login if user else None)
    first = walks[0]
    return jsonify({"uid": first["uid"], "links": first["links"], "walks": walks}), 201


# -------------------------------------------------------------------------- job « parcours »
#: Steps of :func:`layers.walks.solve_walk` as the job's page shows them: (percent, French step).
JOB_STEPS: dict[str, tuple[int, str]] = {
    "graphe des voies": (20, "Graphe des voies du quartier"),
    "priorités des arrêts": (40, "Priorités des arrêts candidats"),
    "parcours de toutes les rues": (50, "Parcours de toutes les rues"),
    "calcul du parcours": (60, "Recherche du meilleur parcours"),
}
#: File of a « parcours » job holding the preview JSON.
PREVIEW_FILE = "apercu.json"
#: Layers a walk computation reads (each must be visible to whoever starts one).
WALK_LAYERS = ("perimetres", "voies", "diagnostics", "observations", "points_noirs", "bacs", "travaux_npnru")


def validate_walk_job(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of a « parcours » job: the body of ``POST /api/diagnostics/apercu``.

    Needs the request of ``POST /api/jobs`` (the store and the checks of the planner API).

    Raises
    ------
    JobError
        French message naming the field (outside a web request too).
    """
    if not has_request_context():
        raise JobError("Un calcul de parcours se demande depuis l'application web (POST /api/jobs).")
    store = _store()
    try:
        walk = _walk_request(store, dict(params))
    except ApiError as exc:
        raise JobError(str(exc.description)) from None
    from layers.walk_preview import check_requested_stops

    try:  # unknown stop ids now, not when the job runs
        check_requested_stops(store, walk)
    except WalkError as exc:
        raise JobError(f"« {exc.field or 'mandatory'} » : {exc}") from None
    opts = walk.options
    return {"quartier": walk.quartier, "date": walk.walk_date, "start": walk.start,
            "duration_min": opts.budget_min, "speed_kmh": opts.speed_kmh, "dwell_min": opts.dwell_min,
            "groups": walk.groups, "mode": walk.mode, "mandatory": list(walk.mandatory),
            "excluded": list(walk.excluded), "name": walk.name}


def run_walk_job(params: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Compute the preview of a walk request in a worker.

    The preview (the JSON ``/apercu`` answers) is written to the job's file :data:`PREVIEW_FILE`
    (``GET /api/jobs/<id>/resultat?fichier=apercu.json``); the job's record keeps a summary only,
    so that job lists stay small.
    """
    from layers.walk_preview import walk_preview

    progress = context.progress
    progress(5, "Lecture du quartier et du départ")
    options = WalkOptions(budget_min=params["duration_min"], speed_kmh=params["speed_kmh"],
                          dwell_min=params["dwell_min"], time_limit_s=TIME_LIMIT_S)
    walk = WalkRequest(quartier=params["quartier"], start=params["start"], mode=params["mode"],
                       mandatory=tuple(params["mandatory"]), excluded=tuple(params["excluded"]),
                       groups=int(params["groups"]), walk_date=params["date"], name=params["name"],
                       options=options)

    def step(label: str) -> None:
        percent, text = JOB_STEPS.get(label, (progress.percent, label))
        progress(percent, text)

    store = open_store(context.store_url, create=False)
    try:
        preview = walk_preview(store, walk, progress=step)
    finally:
        store.close()
    (context.folder / PREVIEW_FILE).write_text(json.dumps(preview, ensure_ascii=False), encoding="utf-8")
    progress(100, "Parcours prêt")
    return {"fichiers": [PREVIEW_FILE], "quartier": preview["quartier"], "groupes": len(preview["groups"]),
            "arrets": sum(len(g["timetable"]) for g in preview["groups"])}


register(JobKind("parcours", "Calcul d'un parcours de diagnostic", "technicien", validate_walk_job,
                 lambda _params: WALK_LAYERS, run_walk_job))


def _body_schema() -> dict[str, Any]:
    place = {"oneOf": [{"type": "string", "description": "« lon,lat », adresse, ou id d'arrêt candidat"},
                       {"type": "object",
                        "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}}},
                       {"type": "object", "properties": {"id": {"type": "string"}}}]}
    return {
        "type": "object", "required": ["quartier", "start"],
        "properties": {
            "quartier": {"type": "string", "example": "QP034005"},
            "date": {"type": "string", "format": "date-time", "description": "Date et heure du départ."},
            "start": place, "name": {"type": "string", "maxLength": MAX_TEXT},
            **{n: {"type": "integer" if n == "groups" else "number", "minimum": lo, "maximum": hi,
                   "default": d} for n, (lo, hi, d) in BOUNDS.items()},
            "mode": {"type": "string", "enum": list(MODES), "default": "priorites"},
            "mandatory": {"type": "array", "maxItems": MAX_MANDATORY, "items": place,
                          "description": "Étapes obligatoires : constats ouverts, points noirs, sites "
                                         "NPNRU (id ou uid) ou lieux ; un lieu sans voie proche est "
                                         "« non desservi »."},
            "excluded": {"type": "array", "maxItems": MAX_EXCLUDED, "items": {"type": "string"},
                         "description": "Arrêts candidats retirés par le planificateur (id ou uid)."},
        },
    }


def openapi_paths() -> dict[str, Any]:
    """Return the OpenAPI path items of the walk planner."""
    body = {"required": True, **oas.json_content(_body_schema())}
    obj = {"type": "object"}
    return {
        "/api/diagnostics/candidats": {"get": oas.operation(
            "Arrêts candidats d'un quartier (planificateur)", "diagnostics",
            {"200": oas.ok("Arrêts candidats : id, nature, libellé, lon/lat, priorité, motif ; contour "
                           "et voies du quartier (WGS84), nombre de voies, calcul direct ou en arrière-plan "
                           "(« calcul » : direct, travail — travail « parcours » de /api/jobs — ou "
                           "impossible sans réseau de rues).", obj),
             **oas.errors(400, 401, 403)},
            parameters=[oas.param("quartier", "query", "Code QPV.", required=True)], op_id="walkCandidates")},
        "/api/diagnostics/apercu": {"post": oas.operation(
            "Aperçu d'un diagnostic en marchant (rien n'est enregistré)", "diagnostics",
            {"200": oas.ok("Parcours par groupe (GeoJSON WGS84, arrêts numérotés), horaire, motif de chaque "
                           "arrêt, arrêts laissés de côté et non desservis.", obj),
             **oas.errors(400, 401, 403, 415)}, body=body, write=True, op_id="previewWalk")},
        "/api/diagnostics": {"post": oas.operation(
            "Enregistrer un diagnostic prévu (comme qpv parcours)", "diagnostics",
            {"201": oas.ok("uid et liens : page, feuille PDF, GPX.", obj), **oas.errors(400, 401, 403, 415)},
            body=body, write=True, op_id="saveWalk")},
    }

"""Diagnostic walks on the web: list, mobile walk page with offline capture, exports.

The walk page works without network once opened: the service worker
(``static/sw-diagnostic.js``, served at ``/diagnostic/sw.js`` with the scope
``/diagnostic/``) keeps the page, its assets and the walk data; the constats typed
offline wait in IndexedDB (``static/js/diagnostic-offline.js``) and are sent to
``POST /api/observations`` when the network is back, with client uids so that a retried
sync never duplicates anything.

Readers may look at the walks; recording constats and marking a walk done need the
technicien role. Anonymous visitors are sent to the login page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from jinja2.utils import htmlsafe_json_dumps

from layers.schema import ACTION_CLOSED_STATES, ACTION_STATES, THEMES
from layers.store.base import LayerStore
from webmap.access import allow, can_see, current_role, current_user, fail, has_role
from webmap.geojson import GEOJSON
from webmap.store import get_store
from webmap.views import basemap_config

logger = logging.getLogger(__name__)

bp = Blueprint("diagnostic", __name__, url_prefix="/diagnostic")
F = TypeVar("F", bound=Callable[..., Any])

STATIC = Path(__file__).parent / "static"
#: Files of the page shell, cached by the service worker at install.
SHELL_FILES: tuple[str, ...] = (
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet/leaflet.js",
    "vendor/protomaps-leaflet/protomaps-leaflet.js",
    "css/base.css",
    "css/diagnostic.css",
    "js/entete.js",
    "js/fond.js",
    "js/diagnostic-offline.js",
    "js/diagnostic-terrain.js",
    "js/diagnostic-plan.js",
)
#: Zooms of the basemap tiles the walk page keeps for use without network, and their cap.
TILE_ZOOMS = (14, 18)
MAX_TILES = 600


def _store() -> LayerStore:
    return get_store()


def _login() -> str | None:
    user = current_user()
    return user.login if user else None


def _cache_dir() -> str | None:
    value = current_app.config.get("WALK_CACHE_DIR")
    return str(value) if value else None


def _basemap() -> dict[str, Any]:
    return basemap_config(current_app.config.get("BASEMAP"))


def _walk_summary(row: Any) -> dict[str, Any]:
    def val(name: str) -> Any:
        v = row.get(name)
        return None if v is None or (isinstance(v, float) and v != v) else v

    return {"uid": row["uid"], "name": row["name"], "quartier": val("quartier"),
            "walk_date": str(row["walk_date"])[:16].replace("T", " "), "status": val("status") or "prévu",
            "duration_min": val("duration_min"), "length_m": val("length_m"),
            "budget_min": val("budget_min"), "organisations": val("organisations"),
            "n_habitants": val("n_habitants")}


@bp.get("/")
@allow("lecteur", layer="diagnostics", login_page=True)
def walk_list() -> ResponseReturnValue:
    """Return the planned and done walks, newest first."""
    from layers.walks import list_walks

    walks = list_walks(_store(), quartier=request.args.get("quartier") or None)
    rows = [_walk_summary(r) for _, r in walks.iterrows()]
    return render_template("diagnostic/liste.html", walks=rows, role=current_role(),
                           can_plan=has_role("technicien") and can_see("diagnostics"))


def _follow_up(uid: str) -> list[dict[str, Any]]:
    from pyproj import Transformer

    from layers.walks import previous_open_constats

    store = _store()
    follow = previous_open_constats(store, uid)
    tr = Transformer.from_crs(store.crs, "EPSG:4326", always_xy=True)
    out = []
    for _, o in follow.iterrows():
        lon, lat = tr.transform(o.geometry.x, o.geometry.y)
        out.append({"uid": o["uid"], "theme": o["theme"], "description": o.get("description") or "",
                    "status": o["status"], "observed_at": str(o["observed_at"])[:10],
                    "stop": int(o["stop_rank"]), "walk": o.get("walk_name") or "",
                    "lon": round(lon, 7), "lat": round(lat, 7)})
    return out


def _french_day(iso: str) -> str:
    """``AAAA-MM-JJ…`` as ``JJ/MM/AAAA`` (empty stays empty)."""
    return f"{iso[8:10]}/{iso[5:7]}/{iso[:4]}" if len(iso) >= 10 else iso


def _stops_config(plan: Any) -> list[dict[str, Any]]:
    """Return each stop as the walk page lists it: address, what to check, expected time, position."""
    from pyproj import Transformer

    from layers.walk_stops import walk_stop_details

    details = walk_stop_details(_store(), plan.route)
    if details.empty:
        return []
    tr = Transformer.from_crs(details.crs, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(details.geometry.x.to_numpy(), details.geometry.y.to_numpy())
    start = plan.walk_date.hour * 60 + plan.walk_date.minute
    out = []
    for i, (_, s) in enumerate(details.iterrows()):
        arrival = s.get("arrival_min")
        known = arrival is not None and arrival == arrival
        clock = start + round(float(arrival)) if known else None
        out.append({"order": int(s["order"]), "label": str(s.get("label") or ""),
                    "kind": str(s.get("kind") or ""),
                    "address": s["address"], "address_source": s["address_source"],
                    "reason": str(s.get("reason") or ""), "checks": list(s["checks"]),
                    "arrival_min": round(float(arrival)) if known else None,
                    "clock": None if clock is None else f"{(clock // 60) % 24:02d}h{clock % 60:02d}",
                    "lon": round(float(lon[i]), 7), "lat": round(float(lat[i]), 7)})
    return out


def _plan_config(uid: str, quartier: str) -> dict[str, Any] | None:
    """Return the walk's constats with their actions and the choices of « Construire le plan d'actions ».

    None when the role may not see the actions layer.
    """
    from layers.walk_actions import constat_actions
    from layers.walks import walk_observations
    from webmap._action_forms import form_config

    if not can_see("actions"):
        return None
    store = _store()
    obs = walk_observations(store, uid)
    refs = constat_actions(store, [str(u) for u in obs["uid"]])

    def text(value: Any) -> str:
        return "" if value is None or (isinstance(value, float) and value != value) else str(value)

    constats = [{"uid": str(o["uid"]), "theme": text(o.get("theme")),
                 "description": text(o.get("description")), "address": text(o.get("address")),
                 "status": text(o.get("status")), "observed_at": _french_day(text(o.get("observed_at"))),
                 "actions": refs.get(str(o["uid"]), []),
                 "simulated": text(o.get("simulated")).lower() in ("true", "1")}
                for _, o in obs.iterrows()]
    open_states = [s for s in ACTION_STATES if s not in ACTION_CLOSED_STATES]  # attach to open actions only
    where = {"quartier": quartier, "etat": open_states}
    existing = store.read("actions", where=where, order_by="decided_at") if quartier else None
    actions = [] if existing is None else [
        {"uid": str(a["uid"]), "reference": text(a.get("reference")), "title": text(a.get("title")),
         "etat": text(a.get("etat"))} for _, a in existing.iterrows()]
    return {"constats": constats, "actions": actions, **form_config(store),
            "url": f"/api/diagnostics/{uid}/actions",
            "page": url_for("actions_pages.actions_page", quartier=quartier or None)
            if "actions_pages.actions_page" in current_app.view_functions else None}


@bp.get("/<uid>")
@allow("lecteur", layer="diagnostics", login_page=True)
def walk_page(uid: str) -> ResponseReturnValue:
    """Return the walk page: map of the route, stops, follow-up and the offline constat form."""
    from geo.walks.export import unserved_text
    from layers.walks import load_walk, walk_geojson, walk_observations
    from webmap.writes import decide

    store = _store()
    plan = load_walk(store, uid, cache_dir=_cache_dir())
    config = {
        "walk": {**_walk_summary(plan.record or {}), "start_label": plan.start_label, "group": plan.group},
        "route": walk_geojson(store, uid, plan=plan),
        "stops": _stops_config(plan),
        "suivi": _follow_up(uid),
        "constats": len(walk_observations(store, uid)),
        "themes": list(THEMES),
        "canRecord": has_role("technicien"),
        "user": _login(),  # queued constats are bound to it (sent only under its session)
        "basemap": _basemap(),
        "tiles": {"minZoom": TILE_ZOOMS[0], "maxZoom": TILE_ZOOMS[1], "max": MAX_TILES, "marginM": 200},
        "urls": {"session": "/api/session", "observations": "/api/observations",
                 "ping": url_for("diagnostic.ping"),
                 "sw": url_for("diagnostic.service_worker"), "scope": url_for("diagnostic.walk_list"),
                 "page": request.path,
                 "shell": [url_for("static", filename=f) for f in SHELL_FILES]},
        "maxPhotos": int(current_app.config.get("MAX_PHOTOS", 5)),
        "plan": _plan_config(uid, plan.quartier),
    }
    # HTML-safe JSON (<, >, & and ' as \u escapes): user text never goes through |safe
    # and the JavaScript line separators escaped too (harmless in JSON, not in older script parsers)
    config_json = htmlsafe_json_dumps(config, dumps=json.dumps, ensure_ascii=False, default=str)
    config_json = config_json.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    unserved = [{"label": str(u.get("label") or u.get("id") or "—"), "status": unserved_text(u)}
                for u in plan.route.unserved]
    # the « réalisé » form only for those who may mark this walk done (webmap.writes)
    done = decide("diagnostics", plan.record or {}) if has_role("technicien") else None
    return render_template("diagnostic/parcours.html", plan=plan, config=config, config_json=config_json,
                           shell=SHELL_FILES, role=current_role(), unserved=unserved,
                           done_refusal=None if done is None or done.allowed else done.reason)


@bp.get("/<uid>/route.geojson")
@allow("lecteur", layer="diagnostics")
def walk_route_geojson(uid: str) -> ResponseReturnValue:
    """Return the route and its stops as GeoJSON (WGS84)."""
    from layers.walks import walk_geojson

    body = json.dumps(walk_geojson(_store(), uid), ensure_ascii=False)
    return Response(body, content_type=GEOJSON,
                    headers={"Content-Disposition": f'inline; filename="diagnostic-{uid[:8]}.geojson"'})


@bp.get("/<uid>/route.gpx")
@allow("lecteur", layer="diagnostics")
def walk_route_gpx(uid: str) -> ResponseReturnValue:
    """Return the route as GPX 1.1 (track + numbered waypoints)."""
    from layers.walks import walk_gpx

    return Response(walk_gpx(_store(), uid), content_type="application/gpx+xml",
                    headers={"Content-Disposition": f'attachment; filename="diagnostic-{uid[:8]}.gpx"'})


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, content_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.get("/<uid>/feuille.pdf")
@allow("lecteur", layer="diagnostics")
def walk_sheet(uid: str) -> ResponseReturnValue:
    """Return the printable walk sheet with the follow-up of the previous constats."""
    from layers.walks import walk_sheet_data
    from webmap.documents import render_walk_sheet_pdf

    sheet = walk_sheet_data(_store(), uid, cache_dir=_cache_dir())
    return _pdf(render_walk_sheet_pdf(sheet), f"feuille-{uid[:8]}.pdf")


@bp.get("/<uid>/compte-rendu.pdf")
@allow("lecteur", layer="diagnostics")
def walk_report(uid: str) -> ResponseReturnValue:
    """Return the compte-rendu: plan d'actions, constats by pilote, partenaire and domanialité."""
    from layers.walk_actions import walk_action_plan
    from layers.walks import walk_report_data
    from webmap.documents import render_walk_report_pdf

    store = _store()
    record, observations, graph = walk_report_data(store, uid, cache_dir=_cache_dir())
    plan = walk_action_plan(store, uid, constats=observations) if can_see("actions") else []
    pdf = render_walk_report_pdf(record, observations, G=graph, plan=plan)
    return _pdf(pdf, f"compte-rendu-{uid[:8]}.pdf")


@bp.post("/<uid>/realise")
@allow("technicien", layer="diagnostics")
def walk_done(uid: str) -> ResponseReturnValue:
    """Mark the walk as done (form fields ``participants``, ``habitants``); organisation scope applies."""
    from layers.integrity import check_lengths
    from layers.walks import record_walk
    from webmap.writes import require_scope, write_rules

    participants = (request.form.get("participants") or "").strip()
    if not participants:
        fail(400, "Indiquer les organisations participantes.", "participants")
    check_lengths({"participants": participants}, write_rules())
    require_scope("diagnostics", uid)
    try:
        habitants = int(request.form.get("habitants", "0") or 0)
    except ValueError:
        fail(400, "Le nombre d'habitants doit être un entier.", "habitants")
    user = current_user()
    record_walk(_store(), uid, participants=participants, n_habitants=habitants,
                actor=user.actor if user else None)
    return redirect(url_for("diagnostic.walk_page", uid=uid))


@bp.get("/ping")
@allow()
def ping() -> ResponseReturnValue:
    """Answer 204, never cached: the walk page's check that the server is reachable."""
    return Response(status=204, headers={"Cache-Control": "no-store"})


@bp.get("/sw.js")
@allow()
def service_worker() -> ResponseReturnValue:
    """Return the service worker of the walk pages (scope ``/diagnostic/``)."""
    body = (STATIC / "sw-diagnostic.js").read_bytes()
    return Response(body, mimetype="text/javascript",
                    headers={"Service-Worker-Allowed": url_for("diagnostic.walk_list"),
                             "Cache-Control": "no-cache"})

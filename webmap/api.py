"""JSON endpoints of the map page under ``/api`` (and the photos under ``/photos``).

Views stay thin: parse and check the request, call the store, encode GeoJSON. Bad
input is a 400 ``{"erreur": ..., "champ": ...}`` naming the field; a layer the user may
not see is a 404.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from flask.typing import ResponseReturnValue

from layers.errors import StoreError
from layers.export import PAGE_SIZE as EXPORT_PAGE_SIZE
from layers.export import csv_chunks, geojson_chunks
from layers.integrity import check_date, check_lengths, time_extent
from layers.observations import create_observation_record
from layers.observations_edit import check_edit_fields, observation_changes, status_changes
from layers.projection import bbox_to_store, bbox_to_wgs84
from layers.samples import sample_note, sampled_datasets
from layers.schema import (
    LAYERS,
    LayerSchema,
)
from layers.store import open_store
from layers.store.base import LayerStore
from layers.validate import validate_record
from webmap import _followup, params, records, users, writes
from webmap import photos as photos_store
from webmap._map_features import (
    COMPACT,
    COMPACT_DECIMALS,
    COMPLETE,
    FORMATS,
    ClusterRule,
    cluster_rule,
    map_fields,
)
from webmap._photo_uploads import PhotoUpload, read_photos
from webmap.access import (
    allow,
    can_see,
    csrf_token,
    current_role,
    current_user,
    fail,
)
from webmap.geojson import (
    GEOJSON,
    cluster_cell_m,
    cluster_cells,
    cluster_features,
    compact_records,
    encode_features,
    feature_collection,
    json_response,
)
from webmap.lookup_api import store_state
from webmap.store import get_store
from webmap.visibility import check_filters, visible_fields, visible_frame

HISTORY = "historique"

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__)

FILTER_PARAMS = frozenset({"bbox", "start", "end", "quartier", "limit", "zoom", "format", _followup.PARAM})
#: Field filters named in the OpenAPI description (any field of the layer is accepted).
DOCUMENTED_FILTERS = ("theme", "status", "source", "simulated")
#: Features answered at most by default (the app's ``FEATURES_LIMIT``), and at most at all.
FEATURES_LIMIT = 5000
MAX_FEATURES_LIMIT = 50_000
MAX_ZOOM = 24
#: Photos of one observation by default (the app's ``MAX_PHOTOS``, ``MAX_PHOTO_BYTES``).
MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 5 * 1024 * 1024
DEFAULT_SOURCE = "diagnostic en marchant"
PHOTO_NAME = photos_store.PHOTO_NAME
CLUSTER_MAX_ZOOM = 16


def _store() -> LayerStore:
    return get_store()


def _actor() -> str | None:
    user = current_user()
    return user.actor if user else None


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        fail(400, "Corps JSON (objet) attendu.", "corps")
    return data


# -- session and layers -----------------------------------------------------------------
@bp.get("/api/session")
@allow()
def session_info() -> ResponseReturnValue:
    """Who is logged in, with which role, and the CSRF token for writes."""
    user = current_user()
    return jsonify({
        "user": user.login if user else None,
        "role": current_role(),
        "organisation": user.organisation if user else None,
        "csrf_token": csrf_token(),
    })


@bp.get("/api/users")
@allow("administrateur")
def users_list() -> ResponseReturnValue:
    """Accounts (administrators only)."""
    return jsonify([{"login": u.login, "role": u.role, "organisation": u.organisation}
                    for u in users.list_users(current_app.config["USERS_DB"])])


def _field_info(schema: LayerSchema, role: str) -> list[dict[str, Any]]:
    shown = visible_fields(schema, role)
    return [{"name": f.name, "label": f.label or f.name, "type": f.type,
             "choices": list(f.choices) if f.choices else None, "required": f.required}
            for f in schema.all_fields if f.name in shown]


@bp.get("/api/layers")
@allow()
def layers() -> ResponseReturnValue:
    """Return the layers the user may see, with counts, time span and fields.

    The time span is clamped to the plausible window of :mod:`layers.integrity`;
    ``outside_window`` counts the records dated outside it (still listed and counted).
    ``events`` says whether the layer's records are dated events (the period filter and
    the time slider apply to them, not to reference dates such as a camera's
    commissioning); ``event_min`` / ``event_max`` span its events, for points noirs those
    of their dumping events.
    """
    store = _store()
    rules = writes.write_rules()
    role = current_role()
    out = []
    for info in store.layers():
        if not can_see(info.name, role):
            continue
        schema = LAYERS[info.name]
        span = time_extent(store, info, rules)
        out.append({
            "name": info.name, "label": info.label, "geometry": schema.geometry,
            "count": info.count, "simulated": info.simulated,
            "time_field": schema.time_field, "time_min": span.time_min, "time_max": span.time_max,
            "outside_window": span.outside_window,
            **_event_span(store, info.name, span.time_min, span.time_max, rules),
            "bbox": bbox_to_wgs84(info.bbox, store.crs), "confidential": info.confidential,
            "reference": info.reference, "fields": _field_info(schema, role),
            "children": [c.name for c in schema.children],
        })
    return jsonify(out)


def _event_span(store: LayerStore, layer: str, time_min: str | None, time_max: str | None,
                rules: Any) -> dict[str, Any]:
    """``events``, ``event_min`` and ``event_max`` of a layer (see :func:`layers`)."""
    schema = LAYERS[layer]
    if schema.events is not None:  # its own dates are events; a summary's do not span
        spans = schema.events == "dated"
        return {"events": True, "event_min": time_min if spans else None,
                "event_max": time_max if spans else None}
    if schema.event_child is None:
        return {"events": False, "event_min": None, "event_max": None}
    start, end = rules.window()
    # read once per state of the store and per day (the child rows of every site)
    key = (store_state(), layer, str(start), end.date().isoformat())
    cache = current_app.extensions.setdefault("qpv_event_spans", {})
    if key not in cache:
        child = schema.child(schema.event_child)
        rows = store.read_children(layer, child.name, start=start, end=end + pd.Timedelta(seconds=1))
        dates = pd.to_datetime(rows[child.time_field], errors="coerce").dropna()
        span = (None, None) if dates.empty else (dates.min().isoformat(), dates.max().isoformat())
        cache.clear()  # only the current state is worth keeping
        cache[key] = span
    return {"events": False, "event_min": cache[key][0], "event_max": cache[key][1]}


# -- filtered selections ------------------------------------------------------------------

def _selection(schema: LayerSchema) -> tuple[dict[str, Any], Any, tuple[float, float, float, float] | None]:
    """Store filters from the query string, the quartier polygon and the CRS84 bbox."""
    store = _store()
    bbox = params.parse_bbox(request.args.get("bbox"))
    start, end = params.parse_date(request.args, "start"), params.parse_date(request.args, "end")
    if (start is not None or end is not None) and not schema.time_field:
        fail(400, f"La couche « {schema.name} » n'est pas datée.", "start" if start is not None else "end")
    if start is not None and end is not None and start >= end:
        fail(400, "La date de fin doit suivre la date de début.", "end")
    if bbox is not None and not schema.geometry:
        fail(400, "Cette couche n'a pas de géométrie.", "bbox")
    hidden = check_filters(schema, current_role(), request.args, FILTER_PARAMS)
    if hidden:  # same answer as an unknown name: the field's existence is not revealed
        fail(400, f"Paramètre inconnu : « {hidden} ».", hidden)
    user = current_user()
    where, before = _followup.followup_filters(
        schema, request.args, params.field_filters(schema, request.args, FILTER_PARAMS), role=current_role(),
        organisation=user.organisation if user else None, today=_followup.today_paris())
    sbbox: tuple[float, ...] | None = bbox_to_store(bbox, store.crs) if bbox else None
    polygon = None
    code = request.args.get("quartier")
    if code:
        if not schema.geometry:
            fail(400, "Cette couche n'a pas de géométrie.", "quartier")
        per = store.read("perimetres", where={"code": code}) if can_see("perimetres") else None
        if per is None or per.empty:
            fail(400, f"Quartier inconnu « {code} ».", "quartier")
        polygon = shapely.union_all(per.geometry.to_numpy())
        qb = polygon.bounds
        if sbbox is None:
            sbbox = qb
        else:
            sbbox = (max(sbbox[0], qb[0]), max(sbbox[1], qb[1]), min(sbbox[2], qb[2]), min(sbbox[3], qb[3]))
            if sbbox[0] > sbbox[2] or sbbox[1] > sbbox[3]:  # view and quartier disjoint
                sbbox, polygon = qb, shapely.Polygon()
    return ({"bbox": sbbox, "start": start, "end": end, "where": where or None, "before": before or None},
            polygon, bbox)


def _read_selected(layer: str, filters: dict[str, Any], polygon: Any, *, limit: int | None = None
                   ) -> tuple[gpd.GeoDataFrame, int]:
    """Return the records matching the filters (and the quartier), with the number matched."""
    store = _store()
    if polygon is None:
        matched = store.count(layer, **filters)
        return store.read(layer, limit=limit, **filters), matched
    if polygon.is_empty:
        return store.read(layer, limit=0, **filters), 0
    gdf = store.read(layer, **filters)
    gdf = gdf[gdf.intersects(polygon)].reset_index(drop=True)
    matched = len(gdf)
    return (gdf.head(limit) if limit is not None else gdf), matched


def _zoom(bbox: tuple[float, float, float, float] | None) -> int:
    text = request.args.get("zoom")
    if text not in (None, ""):
        return params.parse_int(request.args, "zoom", 12, minimum=0, maximum=MAX_ZOOM)
    if bbox is None:
        return 10
    width = max(bbox[2] - bbox[0], 1e-6)
    return int(max(0, min(22, math.floor(math.log2(360 * 4 / width)))))


@bp.get("/api/layers/<layer>/features")
@allow(layer_arg="layer")
def features(layer: str) -> ResponseReturnValue:
    """GeoJSON of a layer in the view, filtered; grid clusters when too many match.

    ``format=compact`` (the map's point layers) answers only the fields the map draws, with
    coordinates to 6 decimals, and clusters a viewport past :data:`COMPACT_POINTS` records
    (see :mod:`webmap._map_features`); ``format=complet`` (the default) whole records.
    """
    schema = LAYERS[layer]
    if not schema.geometry:
        fail(400, "Cette couche n'a pas de géométrie.", "layer")
    limit = params.parse_int(request.args, "limit", int(current_app.config["FEATURES_LIMIT"]), minimum=1,
                             maximum=MAX_FEATURES_LIMIT)
    compact = _format() == COMPACT
    filters, polygon, bbox = _selection(schema)
    zoom = _zoom(bbox)
    rule = cluster_rule(compact=compact, in_view=bbox is not None, limit=limit,
                        full_max_zoom=CLUSTER_MAX_ZOOM)
    store = _store()
    narrow = None
    if compact and schema.geometry == "Point":  # the fields the map draws and the point, nothing else
        narrow = tuple(sorted(map_fields(schema, visible_fields(schema, current_role()))))
    gdf, cells, matched = _features_selection(layer, filters, polygon, rule=rule, zoom=zoom, limit=limit,
                                              fields=narrow)
    clustered = gdf is None or rule.clusters(matched, zoom)
    extra: dict[str, Any] = {"format": COMPACT} if compact else {}
    if cells is not None:
        feats = cluster_cells(cells, store.crs)
    elif clustered:
        feats = cluster_features(gdf, zoom, store.crs, _view_lat())
    elif narrow is not None:
        names, rows = compact_records(gdf, schema, store.crs, fields=narrow, decimals=COMPACT_DECIMALS)
        feats, extra = [], {**extra, "fields": names, "records": rows}
    elif compact:
        shown = map_fields(schema, visible_fields(schema, current_role()))
        feats = encode_features(gdf, schema, store.crs, fields=shown, decimals=COMPACT_DECIMALS)
    else:
        feats = encode_features(_visible(gdf, schema), schema, store.crs)
    returned = len(extra["records"]) if "records" in extra else len(feats)
    body = feature_collection(feats, matched, clustered=clustered,
                              truncated=not clustered and matched > returned, zoom=zoom, **extra)
    body["numberReturned"] = returned
    return _geojson(body)


def _format() -> str:
    """Return the ``format`` parameter of the features endpoint (``complet`` by default)."""
    value = request.args.get("format") or COMPLETE
    if value not in FORMATS:
        fail(400, f"Format inconnu « {value} » (compact ou complet).", "format")
    return value


def _features_selection(
    layer: str, filters: dict[str, Any], polygon: Any, *, rule: ClusterRule, zoom: int, limit: int,
    fields: tuple[str, ...] | None = None,
) -> tuple[Any, pd.DataFrame | None, int]:
    """Return the records (or store clusters) of a features request, and the number matched.

    Without a quartier the store counts no further than the clustering threshold (on the
    R-tree) and, past it, clusters in SQL: the records are then never read. Returns
    ``(records, None, matched)``, ``(None, cells, matched)`` or, with a quartier past the
    threshold, ``(records, None, matched)`` to cluster in Python. With ``fields`` (a point
    layer in compact form) the records are a narrow frame of those fields and ``x`` / ``y``
    (:meth:`LayerStore.points`) unless they are to be clustered.
    """
    store = _store()
    if polygon is not None:
        gdf, matched = _read_selected(layer, filters, polygon)
        if rule.clusters(matched, zoom):
            return gdf, None, matched
        gdf = gdf.head(limit)
        if fields is not None:  # the map's compact points, from the records read
            xy = shapely.get_coordinates(gdf.geometry.to_numpy()) if len(gdf) else np.empty((0, 2))
            gdf = pd.DataFrame({**{n: gdf[n] for n in fields}, "x": xy[:, 0], "y": xy[:, 1]})
        return gdf, None, matched
    matched = store.count(layer, at_most=rule.threshold + 1, **filters)
    if rule.clusters(matched, zoom):
        cells = store.cluster(layer, cell_m=cluster_cell_m(zoom, _view_lat()), **filters)
        return None, cells, int(cells["count"].sum())
    if fields is not None:
        records: Any = store.points(layer, fields=fields, limit=limit, **filters)
    else:
        records = store.read(layer, limit=limit, **filters)
    if matched > rule.threshold:  # counted no further than the threshold
        matched = len(records) if len(records) < limit else store.count(layer, **filters)
    return records, None, matched


def _view_lat() -> float:
    """Latitude of the centre of the requested view (46.5, mid-France, without ``bbox``)."""
    bbox = params.parse_bbox(request.args.get("bbox"))
    return (bbox[1] + bbox[3]) / 2 if bbox else 46.5


@bp.get("/api/layers/<layer>/features/<uid>")
@allow(layer_arg="layer")
def feature(layer: str, uid: str) -> ResponseReturnValue:
    """One whole record of a layer as a GeoJSON feature (the map's popups); 404 when unknown.

    The fields are those the role sees, as in the layer's features.
    """
    if not LAYERS[layer].geometry:
        fail(400, "Cette couche n'a pas de géométrie.", "layer")
    return _geojson(records.feature(layer, uid))


def _geojson(body: Any, status: int = 200) -> Response:
    return json_response(body, GEOJSON, status)


@bp.get("/api/layers/<layer>/stats")
@allow(layer_arg="layer")
def stats(layer: str) -> ResponseReturnValue:
    """Return the counts of the filtered selection: total, by month, theme, status, source, simulated.

    ``echantillon`` says when some of the records come from a data set declared a sample.
    """
    schema = LAYERS[layer]
    filters, polygon, _ = _selection(schema)
    gdf, matched = _read_selected(layer, filters, polygon)
    out: dict[str, Any] = {"total": matched}
    if schema.time_field:
        months = gdf[schema.time_field].dt.strftime("%Y-%m").dropna()
        out["by_month"] = {str(k): int(v) for k, v in months.value_counts().sort_index().items()}
    names = set(schema.field_names) & visible_fields(schema, current_role())
    for name in ("theme", "status", "source"):
        if name in names:
            counts = gdf[name].astype("object").fillna("(vide)").value_counts()
            out[f"by_{name}"] = {str(k): int(v) for k, v in counts.items()}
    sim = gdf["simulated"].astype("object").fillna(False).astype(bool)
    out["by_simulated"] = {"true": int(sim.sum()), "false": int((~sim).sum())}
    sample = sample_note(gdf, sampled_datasets(_store()))
    if sample:
        out["echantillon"] = sample  # counts of a sample are partial
    return jsonify(out)


@bp.get("/api/layers/<layer>/export.<fmt>")
@allow(layer_arg="layer")
def export(layer: str, fmt: str) -> ResponseReturnValue:
    """Download the filtered selection as GeoJSON (WGS84) or CSV (lon/lat, Lambert-93 WKT).

    The file is streamed: records are read, encoded and sent a page at a time (the app's
    ``EXPORT_PAGE_SIZE``, :data:`layers.export.PAGE_SIZE` by default), so memory does not
    grow with the layer. The first page is read before answering: a store error is an
    error status, not a truncated file.
    """
    schema = LAYERS[layer]
    if fmt not in ("geojson", "csv"):
        fail(404, "Format d'export inconnu (geojson ou csv).", "format")
    filters, polygon, _ = _selection(schema)
    size = int(current_app.config.get("EXPORT_PAGE_SIZE", EXPORT_PAGE_SIZE))
    pages = _export_read(layer, filters, size=size, empty=polygon is not None and polygon.is_empty)
    first = next(pages)  # the first page always comes (empty when nothing matches)
    # what needs the request is settled here: the body is sent once the view has returned
    hidden = [c for c in first.columns if c not in _visible(first.head(0), schema).columns]
    shown = _export_pages(itertools.chain([first], pages), hidden, polygon)
    body: Iterator[bytes]
    if fmt == "csv":
        body = itertools.chain([b"\xef\xbb\xbf"], (c.encode("utf-8") for c in csv_chunks(shown)))
        mime = "text/csv; charset=utf-8"
    else:
        body, mime = (c.encode("utf-8") for c in geojson_chunks(shown)), GEOJSON
    resp = Response(body, content_type=mime)
    stamp = datetime.now().strftime("%Y%m%d")
    resp.headers["Content-Disposition"] = f'attachment; filename="{layer}-{stamp}.{fmt}"'
    return resp


def _export_read(layer: str, filters: dict[str, Any], *, size: int, empty: bool
                 ) -> Iterator[gpd.GeoDataFrame]:
    """Yield the pages of an export from a store of its own, closed when the stream ends.

    The request's store is closed when the view returns, before the body is sent.
    """
    try:
        store = open_store(current_app.config["STORE"], create=False)
    except StoreError:
        logger.exception("store unavailable")
        fail(503, "Entrepôt de données indisponible.")
    try:
        if empty:  # view and quartier disjoint
            yield store.read(layer, limit=0, **filters)
        else:
            yield from store.read_pages(layer, size=size, **filters)
    finally:
        store.close()


def _export_pages(pages: Iterator[gpd.GeoDataFrame], hidden: list[str], polygon: Any
                  ) -> Iterator[gpd.GeoDataFrame]:
    """Yield the pages of an export: records in the quartier, without the ``hidden`` fields."""
    for page in pages:
        if polygon is not None and len(page):
            page = page[page.intersects(polygon)]
        yield page.drop(columns=hidden) if hidden else page


# -- observations -----------------------------------------------------------------------------
@bp.post("/api/observations")
@allow("technicien", layer="observations")
def create_observation() -> ResponseReturnValue:
    """Create an observation (JSON, or multipart with up to 5 photos); idempotent by ``uid``."""
    if request.mimetype == "application/json":
        data, photos = _json_body(), []
        if "photos" in data:
            fail(400, "Les photos s'envoient en multipart/form-data.", "photos")
    elif request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        data, photos = request.form.to_dict(), read_photos()
    else:
        fail(415, "Corps JSON ou multipart/form-data attendu.", "corps")
    user = current_user()
    uid, created = create_observation_record(
        _store(), data, default_source=DEFAULT_SOURCE, actor=_actor(),
        photos=PhotoUpload(Path(current_app.config["PHOTOS_DIR"]), photos),
        organisation=user.organisation if user else None, rules=writes.write_rules())
    if created:
        return jsonify({"uid": uid, "created": True}), 201
    # a retried sync: nothing added, the stored record is sent back
    return jsonify({"uid": uid, "created": False, "record": records.feature("observations", uid)}), 200




def _visible(gdf: gpd.GeoDataFrame, schema: LayerSchema) -> gpd.GeoDataFrame:
    """Return the records without the fields the current role may not see."""
    return visible_frame(gdf, schema, current_role())


@bp.get("/api/observations/<uid>")
@allow(layer="observations")
def get_observation(uid: str) -> ResponseReturnValue:
    """One observation as a GeoJSON feature."""
    return _geojson(records.feature("observations", uid))


@bp.patch("/api/observations/<uid>")
@allow("technicien", layer="observations")
def patch_observation(uid: str) -> ResponseReturnValue:
    """Change the fields of an observation (every change kept in its history).

    Any field of :data:`layers.observations_edit.EDITABLE` (``lon``/``lat`` move it), and a
    ``comment`` kept with the change. Only within the organisation scope of
    :mod:`layers.scope` (403 otherwise).
    """
    data = _json_body()
    check_edit_fields(data)  # a malformed body is a 400 whoever sends it
    current = writes.require_scope("observations", uid)
    changes = observation_changes(_store(), current, data, rules=writes.write_rules())
    comment = data.get("comment")
    _store().update("observations", uid, changes, actor=_actor(), comment=(comment or "").strip() or None)
    return _geojson(records.feature("observations", uid))


@bp.get("/api/observations/<uid>/history")
@allow(layer="observations")
def observation_history(uid: str) -> ResponseReturnValue:
    """History of an observation, oldest first.

    Roles that may see internal fields get every change (``changes``: {field: [before,
    after]}); the others the status changes only, with their date.
    """
    store = _store()
    store.get_record("observations", uid)  # 404 when unknown
    hist = store.history("observations", uid)
    history = next(c for c in LAYERS["observations"].children if c.name == HISTORY)
    shown = visible_fields(history, current_role(), key=f"observations.{HISTORY}")
    if "changes" not in shown:  # an edit repeats the status: not a change for these readers
        hist = status_changes(hist)
    columns = [c for c in ("status", "changed_at", "changed_by", "comment", "changes") if c in shown]
    rows = []
    for rec in hist[columns].to_dict("records"):
        if "changed_at" in rec:
            ts = rec["changed_at"]
            rec["changed_at"] = None if pd.isna(ts) else pd.Timestamp(ts).isoformat()
        if "changes" in rec:
            rec["changes"] = _changes(rec["changes"])
        rows.append(rec)
    return jsonify(rows)


def _changes(value: Any) -> dict[str, Any] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    hidden = set(LAYERS["observations"].field_names) - visible_fields(LAYERS["observations"], current_role())
    return {k: v for k, v in parsed.items() if k not in hidden}


def _add_child(layer: str, uid: str, child: str) -> ResponseReturnValue:
    cschema = LAYERS[layer].child(child)
    data = _json_body()
    allowed = {f.name for f in cschema.fields}
    unknown = sorted(set(data) - allowed)
    if unknown:
        fail(400, f"Champ inconnu : « {unknown[0]} ».", unknown[0])
    rules = writes.write_rules()
    check_lengths(data, rules)
    validate_record(data, cschema)
    check_date(data.get(cschema.time_field), cschema.time_field, rules)
    writes.require_scope(layer, uid)  # 404 when the parent is unknown, 403 out of scope
    store = _store()
    result = store.add_children(layer, child, pd.DataFrame([{"parent_uid": uid, **data}]), actor=_actor())
    if result.inserted:
        return jsonify({"uid": result.inserted[0], "created": True}), 201
    return jsonify({"uid": result.existing[0], "created": False}), 200


@bp.post("/api/points_noirs/<uid>/evenements")
@allow("technicien", layer="points_noirs")
def add_dumping_event(uid: str) -> ResponseReturnValue:
    """Record a dumping event at a point noir."""
    return _add_child("points_noirs", uid, "evenements")


@bp.post("/api/bacs/<uid>/releves")
@allow("technicien", layer="bacs")
def add_fill_reading(uid: str) -> ResponseReturnValue:
    """Record a fill-level reading of a bin."""
    return _add_child("bacs", uid, "releves")


@bp.get("/photos/<name>")
@allow(roles="PHOTO_ROLES")
def photo(name: str) -> ResponseReturnValue:
    """Return a stored photo (roles of ``PHOTO_ROLES``; only server-generated names)."""
    if not PHOTO_NAME.fullmatch(name):
        fail(404, "Photo introuvable.")
    folder = Path(current_app.config["PHOTOS_DIR"])
    if not (folder / name).is_file():
        fail(404, "Photo introuvable.")
    resp = send_from_directory(folder, name, max_age=3600)
    resp.cache_control.public = False  # protected: never kept by a shared cache
    resp.cache_control.private = True
    resp.vary.add("Cookie")
    resp.headers["X-Content-Type-Options"] = "nosniff"  # never sniffed as HTML
    return resp

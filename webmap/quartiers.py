"""The analyst's pages: a quartier's dashboard (``/quartiers/<code>``) and the comparison (``/quartiers``).

The data come from :mod:`layers.dashboard` (cached per store revision, quartier, period
and rights); this module draws the monthly charts and the hot spot maps as SVG from them
(:mod:`webmap._dashboard_svg`) and serves every table as CSV and XLSX. CCTV figures are
shown only to the roles that may see the ``videoprotection`` layer, the « Plan d'actions »
section only to those that may read the ``actions`` layer (:func:`webmap.access.can_see`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import date
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from layers.analyses import parse_period
from layers.dashboard import DashboardOptions, default_period, quartier_dashboard, territory_dashboard
from layers.errors import StoreAnalysisError
from webmap import _dashboard_svg as svg
from webmap._dashboard_tables import TABLE_NAMES, dashboard_tables, table_response, territory_table
from webmap.access import allow, can_see
from webmap.analysis_style import EMERGING_CLASSES, GI_CLASSES
from webmap.store import get_store

logger = logging.getLogger(__name__)
bp = Blueprint("quartiers", __name__, url_prefix="/quartiers")
CACHE_KEY = "qpv_dashboard_cache"
CACHE_SIZE = 32
_LOCK = threading.Lock()
#: ``gi_bin`` of each class of :data:`GI_CLASSES`, in its order (hot 99 % … cold 99 %).
GI_LEVELS = (3, 2, 1, 0, -1, -2, -3)


def _cached(key: tuple[Any, ...], compute: Any) -> Any:
    """Return the value of ``key`` cached for the store's revision, computing it on a miss.

    Only a store that keeps a revision marker (PostGIS: a sequence bumped by every write)
    is cached. A GeoPackage keeps none: its file times change at every checkpoint, and not
    every write marks ``gpkg_contents``, so its figures are computed on each request
    (0.3–0.5 s for QP075019, see ``bench/bench_dashboard.py``) rather than risk stale ones.
    """
    revision = get_store().revision()
    if revision is None:
        return compute()
    cache: OrderedDict[tuple[Any, ...], Any] = current_app.extensions.setdefault(CACHE_KEY, OrderedDict())
    full = (current_app.config["STORE"], revision, *key)
    with _LOCK:
        if full in cache:
            cache.move_to_end(full)
            return cache[full]
    value = compute()
    with _LOCK:
        cache[full] = value
        while len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    return value


def _period(default: tuple[date, date] | None) -> tuple[date, date]:
    """Read ``debut`` and ``fin`` (AAAA-MM) or ``periode`` (AAAA-MM:AAAA-MM) from the query.

    Raises
    ------
    StoreAnalysisError
        French message naming « periode », answered as a 400 page by the views.
    """
    text = request.args.get("periode")
    debut, fin = request.args.get("debut"), request.args.get("fin")
    if text is None and (debut or fin):
        text = f"{debut or ''}:{fin or ''}"
    if text is None:
        if default is None:
            raise StoreAnalysisError("Paramètre « periode » manquant.")
        return default
    try:
        start, end = parse_period(text)
    except StoreAnalysisError as exc:
        raise StoreAnalysisError(f"Paramètre « periode » : {exc}") from None
    if (end.year - start.year) * 12 + end.month - start.month >= 60:
        raise StoreAnalysisError("Paramètre « periode » : cinq ans au plus.")
    return start, end


def _error(status: int, message: str) -> ResponseReturnValue:
    return render_template("quartiers/erreur.html", message=message, status=status), status


def _dashboard(code: str, start: date, end: date) -> dict[str, Any]:
    cameras, actions = can_see("videoprotection"), can_see("actions")
    return _cached(
        ("quartier", code, start, end, cameras, actions, date.today()),
        lambda: quartier_dashboard(
            get_store(),
            code,
            start=start,
            end=end,
            options=DashboardOptions(cameras=cameras, actions=actions),
        ),
    )


def _default(code: str) -> tuple[date, date]:
    return _cached(("defaut", code), lambda: default_period(get_store(), code))


def _known(code: str) -> bool:
    codes = _cached(("codes",), lambda: set(get_store().read("perimetres")["code"].astype(str)))
    return code in codes


@bp.get("")
@allow("lecteur", layer="perimetres", login_page=True)
def territory() -> ResponseReturnValue:
    """Return the page comparing the quartiers over a period (default: the last 12 months of data)."""
    try:
        start, end = _period(_cached(("defaut-territoire",), _territory_default))
    except StoreAnalysisError as exc:
        return _error(400, str(exc))
    data = _cached(("territoire", start, end), lambda: territory_dashboard(get_store(), start=start, end=end))
    return render_template(
        "quartiers/territoire.html", data=data, start=start, end=end, query=_query(start, end), fmt=svg.fmt
    )


def _territory_default() -> tuple[date, date]:
    return default_period(get_store(), None)


def _query(start: date, end: date) -> str:
    return f"debut={start:%Y-%m}&fin={end:%Y-%m}"


@bp.get("/comparaison.<fmt>")
@allow("lecteur", layer="perimetres")
def territory_download(fmt: str) -> ResponseReturnValue:
    """Return the comparison of the quartiers as CSV or XLSX."""
    if fmt not in ("csv", "xlsx"):
        return _error(404, "Format inconnu : csv ou xlsx.")
    try:
        start, end = _period(_cached(("defaut-territoire",), _territory_default))
    except StoreAnalysisError as exc:
        return _error(400, str(exc))
    data = _cached(("territoire", start, end), lambda: territory_dashboard(get_store(), start=start, end=end))
    return table_response(territory_table(data), f"comparaison-quartiers-{start:%Y%m}-{end:%Y%m}", fmt)


@bp.get("/<code>")
@allow("lecteur", layer="perimetres", login_page=True)
def quartier(code: str) -> ResponseReturnValue:
    """Return the dashboard of quartier ``code`` over the period of the query."""
    if not _known(code):
        return _error(404, f"Quartier « {code} » inconnu.")
    try:
        start, end = _period(_default(code))
    except StoreAnalysisError as exc:
        return _error(400, str(exc))
    data = _dashboard(code, start, end)
    page = {"quartier": code, "periode": f"{start:%Y-%m}:{end:%Y-%m}"}
    return render_template(
        "quartiers/quartier.html",
        data=data,
        start=start,
        end=end,
        query=_query(start, end),
        page=page,
        charts=[svg.bar_chart(i) for i in data["indicators"]],
        fmt=svg.fmt,
        hot_map=svg.hotspot_map(data["hotspots"], data["outline"], GI_CLASSES),
        emerging_map=svg.emerging_map(data["emerging"], data["outline"], EMERGING_CLASSES),
        gi_classes=GI_CLASSES,
        gi_rows=list(zip(GI_CLASSES, GI_LEVELS, strict=True)),
        tables=TABLE_NAMES,
        today=date.today(),
    )


@bp.get("/<code>/<table>.<fmt>")
@allow("lecteur", layer="perimetres")
def quartier_download(code: str, table: str, fmt: str) -> ResponseReturnValue:
    """Return one table of the dashboard (``indicateurs``, ``recurrence``…) as CSV or XLSX."""
    if not _known(code) or table not in TABLE_NAMES or fmt not in ("csv", "xlsx"):
        return _error(404, f"Tableau « {table}.{fmt} » du quartier « {code} » inconnu.")
    try:
        start, end = _period(_default(code))
    except StoreAnalysisError as exc:
        return _error(400, str(exc))
    frames = dashboard_tables(_dashboard(code, start, end))
    if table not in frames:  # the plan d'actions, for a role that may not read the actions
        return _error(404, f"Tableau « {table}.{fmt} » du quartier « {code} » inconnu.")
    frame = frames[table]
    return table_response(frame, f"{code}-{table}-{start:%Y%m}-{end:%Y%m}", fmt)

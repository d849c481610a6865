"""The TFPB page (``/tfpb?bailleur=&annee=``): a bailleur's programme for a year, and where it acts.

The figures come from :func:`layers.tfpb.tfpb_report`; this module picks the bailleur and the
year (from the stored TFPB actions), formats the amounts (« n.d. » for unknown, never 0) and
serializes the map's layers in WGS84: the located actions, their buffers of the distance
(computed in EPSG:2154, exact for polygon actions too) and the constats of the quartiers,
near an action or not. The TFPB bilan XLSX is served by the ``action_exports``
blueprint at ``/tfpb/bilan.xlsx`` (endpoint ``action_exports.tfpb_bilan``).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from geo.crs import WEB_CRS
from layers.errors import RecordError
from layers.schema import ACTION_STATES
from layers.tfpb import AMOUNT_FIELDS, TfpbQuery, TfpbReport, tfpb_choices, tfpb_report
from layers.validate import fold
from webmap.access import allow, can_see
from webmap.store import get_store
from webmap.views import basemap_config

logger = logging.getLogger(__name__)
bp = Blueprint("tfpb", __name__, url_prefix="/tfpb")


def euros(value: float | None) -> str:
    """« 12 345 € », or « n.d. » for an unknown amount."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n.d."
    return f"{value:,.0f}".replace(",", "\u202f") + "\u00a0€"


def percent(value: float | None) -> str:
    """« 62 % », or « n.d. » for an unknown share."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n.d."
    return f"{round(100 * value)}\u00a0%"


def _flag(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _features(frame: gpd.GeoDataFrame, columns: list[str]) -> dict[str, Any]:
    """GeoJSON FeatureCollection of ``frame`` (located rows) in WGS84, with ``columns``."""
    located = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    if located.empty:
        return {"type": "FeatureCollection", "features": []}
    out = located[[*columns, "geometry"]].to_crs(WEB_CRS)
    for column in columns:
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return json.loads(out.to_json(drop_id=True))


def _map_data(report: TfpbReport) -> dict[str, Any]:
    actions = report.actions.assign(
        simule=report.actions["simulated"].map(_flag),
        libelle=(report.actions["reference"].fillna("").astype(str) + " "
                 + report.actions["title"].astype(str)).str.strip(),
    )
    located = actions[actions.geometry.notna() & ~actions.geometry.is_empty]
    buffers = located.assign(geometry=located.geometry.buffer(report.distance_m, quad_segs=16))
    constats = report.constats.assign(
        proche=report.constats["near"].map(lambda v: None if v is pd.NA or v is None else bool(v)),
        patrimoine=report.constats["on_land"].astype(bool),
        simule=report.constats["simulated"].map(_flag),
    )
    return {
        "basemap": basemap_config(current_app.config.get("BASEMAP")),
        "distance": report.distance_m,
        "actions": _features(actions, ["libelle", "tfpb_axe", "etat", "simule"]),
        "zones": _features(buffers, ["libelle"]),
        "constats": _features(constats, ["theme", "proche", "patrimoine", "simule"]),
    }


def _theme_rows(report: TfpbReport) -> list[dict[str, Any]]:
    """One row per theme: every constat of the quartiers, and those on the bailleur's land."""
    if report.proximity is None:
        return []
    every = report.proximity.by_theme
    land = report.proximity_on_land.by_theme if report.proximity_on_land is not None else every.iloc[0:0]
    sim = report.constats.groupby(report.constats["theme"].astype(str))["simulated"].agg(
        lambda s: bool(s.fillna(False).astype(bool).any()))
    land_rows: dict[Any, dict[Any, Any]] = land.to_dict("index")
    rows = []
    for theme, row in every.to_dict("index").items():
        on = land_rows.get(theme)
        rows.append({
            "theme": theme, "n": int(row["n"]), "near": int(row["near"]), "share": percent(row["share"]),
            "land_n": int(on["n"]) if on is not None else 0,
            "land_near": int(on["near"]) if on is not None else 0,
            "land_share": percent(on["share"]) if on is not None else "n.d.",
            "simulated": bool(sim.get(str(theme), False)),
        })
    return rows


def _context(report: TfpbReport, bailleurs: list[str], years: list[int]) -> dict[str, Any]:
    actions_sim = bool(report.actions["simulated"].map(_flag).any())
    constats_sim = bool(report.constats["simulated"].map(_flag).any())
    unserved = report.unserved.sort_values("observed_at") if len(report.unserved) else report.unserved
    return {
        "report": report,
        "bailleurs": bailleurs,
        "years": years,
        "amount_fields": AMOUNT_FIELDS,
        "states": ACTION_STATES,
        "euros": euros,
        "percent": percent,
        "themes": _theme_rows(report),
        "figure_simulated": actions_sim or constats_sim,
        "actions_rows": report.actions.drop(columns="geometry").sort_values(["tfpb_axe", "reference"],
                                                                          na_position="last"),
        "unserved_rows": unserved.drop(columns="geometry"),
        "flag": _flag,
        "show_constats": can_see("observations"),
        "map_data": _map_data(report) if can_see("observations") else None,
        "last_day": report.end - timedelta(days=1),
    }


def _year(text: str | None, years: list[int]) -> int | None:
    if text is None or not text.strip():
        return years[0] if years else None
    try:
        return int(text.strip())
    except ValueError:
        raise RecordError(f"Paramètre « annee » invalide : « {text} » (une année, ex. 2024).") from None


def _bailleur(text: str | None, bailleurs: list[str]) -> str | None:
    if text is None or not text.strip():
        return bailleurs[0] if bailleurs else None
    return next((b for b in bailleurs if fold(b) == fold(text)), text.strip())


@bp.get("")
@allow("lecteur", layer="actions", login_page=True)
def page() -> ResponseReturnValue:
    """Return the TFPB page of the bailleur and year asked (default: the first bailleur, last year)."""
    store = get_store()
    bailleurs, years = tfpb_choices(store)
    try:
        bailleur = _bailleur(request.args.get("bailleur"), bailleurs)
        if bailleur is not None:  # the years of this bailleur's programmes
            years = tfpb_choices(store, bailleur=bailleur)[1] or years
        year = _year(request.args.get("annee"), years)
        if bailleur is None or year is None:
            return render_template("tfpb/tfpb.html", report=None, bailleurs=bailleurs, years=years,
                                   bailleur=bailleur, year=year)
        report = tfpb_report(store, TfpbQuery(bailleur, year))
    except RecordError as exc:
        return render_template("tfpb/erreur.html", message=str(exc)), 400
    context = _context(report, bailleurs, years)
    return render_template("tfpb/tfpb.html", bailleur=bailleur, year=year, **context)

"""Candidate stops of a diagnostic walk and their priorities, from the layer frames.

Each rule turns one layer into points with a ``priority`` (the prize of the routing)
and a ``reason`` saying what to check there:

* open constats, more urgent as they age;
* points noirs with recurring dumping over the last year;
* bacs often found full by their gauges;
* NPNRU operations under way or recently delivered;
* streets where nobody has observed anything for ``N`` months.

Inputs follow the layer schemas (``observations``, ``points_noirs`` with the
``evenements`` child table, ``bacs`` with ``releves``, ``travaux_npnru``, ``voies``);
child tables link to their parent through ``parent_uid``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import PriorityError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_WEIGHTS", "PriorityInputs", "PriorityOptions", "stop_priorities"]

OPEN_STATUSES = ("nouveau", "transmis", "en cours")
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "constat": 1.0,
    "point_noir": 1.0,
    "bac": 1.0,
    "npnru": 1.0,
    "rue": 1.0,
}
_COLUMNS = ["kind", "label", "reason", "priority", "source_uid", "address", "geometry"]


@dataclass(frozen=True, eq=False)
class PriorityInputs:
    """The layer frames stops are drawn from (each optional; an absent layer gives no stop).

    Attributes
    ----------
    observations : GeoDataFrame, optional
        Constats (``status``, ``observed_at``, ``theme``, ``address``); open ones become
        stops, all of them date the last visit of each street.
    points_noirs : GeoDataFrame, optional
        Dumping hot spots (``uid``, ``name``, ``status``).
    point_noir_events : DataFrame, optional
        Their ``evenements`` (``parent_uid``, ``observed_at``).
    bacs : GeoDataFrame, optional
        Containers (``uid``, ``name``, ``flux``).
    bac_readings : DataFrame, optional
        Gauge readings (``parent_uid``, ``measured_at``, ``fill_pct``).
    npnru : GeoDataFrame, optional
        NPNRU operations (``phase``, ``end_date``, ``name``); polygons give their inner point.
    streets : GeoDataFrame, optional
        Street lines (``name``) checked for lack of recent constats.
    """

    observations: gpd.GeoDataFrame | None = None
    points_noirs: gpd.GeoDataFrame | None = None
    point_noir_events: pd.DataFrame | None = None
    bacs: gpd.GeoDataFrame | None = None
    bac_readings: pd.DataFrame | None = None
    npnru: gpd.GeoDataFrame | None = None
    streets: gpd.GeoDataFrame | None = None


@dataclass(frozen=True)
class PriorityOptions:
    """Windows, thresholds and weights of the stop rules.

    Attributes
    ----------
    window_days : int, default 365
        Period counted for dumping events and gauge readings.
    full_pct : float, default 90
        Fill level from which a bac counts as full.
    unobserved_months : int, default 6
        Streets without a constat for this long become stops.
    street_match_m : float, default 30
        A constat within this distance of a street counts for it.
    weights : mapping, optional
        Multipliers per kind (``constat``, ``point_noir``, ``bac``, ``npnru``, ``rue``);
        the kinds left out weigh as in :data:`DEFAULT_WEIGHTS`.

    Raises
    ------
    PriorityError
        When a weight, a window or a threshold is negative.
    """

    window_days: int = 365
    full_pct: float = 90.0
    unobserved_months: int = 6
    street_match_m: float = 30.0
    weights: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if any(v < 0 for v in self.kind_weights().values()):
            raise PriorityError("Les pondérations des priorités doivent être positives ou nulles.")
        if min(self.window_days, self.full_pct, self.unobserved_months, self.street_match_m) < 0:
            raise PriorityError("Les fenêtres et seuils des priorités doivent être positifs ou nuls.")

    def kind_weights(self) -> dict[str, float]:
        """Return the weight of every kind: :data:`DEFAULT_WEIGHTS` overridden by ``weights``."""
        return {**DEFAULT_WEIGHTS, **(self.weights or {})}


def _utc(values: Any) -> pd.Series:
    return pd.to_datetime(pd.Series(values), errors="coerce", utc=True)


def _text(value: Any, default: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return default
    return str(value)


def _points(frame: gpd.GeoDataFrame) -> gpd.GeoSeries:
    geoms = to_territory_crs(frame).geometry
    return geoms.where(geoms.geom_type == "Point", geoms.representative_point())


def _frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in _COLUMNS[:-1]}, geometry=gpd.GeoSeries([], crs=TERRITORY_CRS))
    return gpd.GeoDataFrame(rows, columns=_COLUMNS, geometry="geometry", crs=TERRITORY_CRS)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], layer: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PriorityError(f"Couche « {layer} » : colonnes manquantes {', '.join(missing)}.")


def _open_constats(obs: gpd.GeoDataFrame, now: pd.Timestamp, weight: float) -> list[dict[str, Any]]:
    _require(obs, ("status", "observed_at"), "observations")
    status = obs["status"].astype("object").fillna("").map(str).str.lower()
    mask = status.isin(OPEN_STATUSES).to_numpy()
    if not mask.any():
        return []
    sub = obs[mask]
    age = (now - _utc(sub["observed_at"].to_numpy())).dt.days.fillna(0).clip(lower=0).to_numpy()
    pts = _points(sub)
    rows = []
    for i, (idx, row) in enumerate(sub.iterrows()):
        theme = _text(row.get("theme"), "constat")
        days = int(age[i])
        rows.append({
            "kind": "constat",
            "label": f"Constat « {theme} »",
            "reason": (f"Constat {_text(row.get('status'))} depuis {days} jours : "
                       "vérifier la réponse apportée."),
            "priority": weight * (1.0 + 4.0 * min(days / 180.0, 1.0)),
            "source_uid": _text(row.get("uid"), str(idx)),
            "address": _text(row.get("address")),
            "geometry": pts.iloc[i],
        })
    return rows


def _points_noirs(pn: gpd.GeoDataFrame, events: pd.DataFrame | None, now: pd.Timestamp, *,
                  window_days: int, weight: float) -> list[dict[str, Any]]:
    active = pn
    if "status" in pn.columns:
        active = pn[pn["status"].astype("object").fillna("actif").map(str) != "résorbé"]
    counts: pd.Series = pd.Series(dtype=float)
    if events is not None and len(events):
        _require(events, ("parent_uid", "observed_at"), "points_noirs/evenements")
        when = _utc(events["observed_at"].to_numpy())
        recent = (now - when).dt.days.between(0, window_days).to_numpy()
        counts = events.loc[recent, "parent_uid"].astype("object").map(str).value_counts()
    pts = _points(active) if len(active) else gpd.GeoSeries([], crs=TERRITORY_CRS)
    rows = []
    for i, (idx, row) in enumerate(active.iterrows()):
        uid = _text(row.get("uid"), str(idx))
        n = int(counts.get(uid, 0))
        rows.append({
            "kind": "point_noir",
            "label": f"Point noir « {_text(row.get('name'), uid)} »",
            "reason": (f"{n} dépôt(s) sauvage(s) en {window_days} jours : constater l'état, "
                       "chercher l'origine des dépôts."),
            "priority": weight * min(10.0, 1.0 + 1.5 * n),
            "source_uid": uid,
            "address": _text(row.get("address")),
            "geometry": pts.iloc[i],
        })
    return rows


def _bacs(bacs: gpd.GeoDataFrame, readings: pd.DataFrame | None, now: pd.Timestamp, *,
          window_days: int, full_pct: float, weight: float) -> list[dict[str, Any]]:
    if readings is None or not len(readings):
        return []
    _require(readings, ("parent_uid", "measured_at", "fill_pct"), "bacs/releves")
    when = _utc(readings["measured_at"].to_numpy())
    recent = readings[(now - when).dt.days.between(0, window_days).to_numpy()]
    if recent.empty:
        return []
    full = pd.to_numeric(recent["fill_pct"], errors="coerce") >= full_pct
    share = full.groupby(recent["parent_uid"].astype("object").map(str)).mean()
    pts = _points(bacs)
    rows = []
    for i, (idx, row) in enumerate(bacs.iterrows()):
        uid = _text(row.get("uid"), str(idx))
        s = float(share.get(uid, 0.0))
        if s <= 0:
            continue
        rows.append({
            "kind": "bac",
            "label": f"Bac {_text(row.get('flux'))} « {_text(row.get('name'), uid)} »".replace("  ", " "),
            "reason": (f"Plein (≥ {full_pct:.0f} %) lors de {100 * s:.0f} % des relevés : vérifier "
                       "l'abord du bac, les débords et la fréquence de collecte."),
            "priority": weight * (1.0 + 9.0 * s),
            "source_uid": uid,
            "address": _text(row.get("address")),
            "geometry": pts.iloc[i],
        })
    return rows


def _npnru(ops: gpd.GeoDataFrame, now: pd.Timestamp, weight: float) -> list[dict[str, Any]]:
    _require(ops, ("phase",), "travaux_npnru")
    phase = ops["phase"].astype("object").fillna("").map(str)
    sub = ops[phase.isin(["en cours", "livrée"]).to_numpy()]
    pts = _points(sub) if len(sub) else gpd.GeoSeries([], crs=TERRITORY_CRS)
    end = _utc(sub["end_date"].to_numpy()) if "end_date" in sub.columns else pd.Series([pd.NaT] * len(sub))
    rows = []
    for i, (idx, row) in enumerate(sub.iterrows()):
        delivered = row["phase"] == "livrée"
        months = (now - end.iloc[i]).days / 30.4 if delivered and pd.notna(end.iloc[i]) else None
        if delivered and months is not None and months > 36:
            continue  # long delivered: ordinary street
        if delivered:
            reason = ("Opération livrée : vérifier la gestion des espaces livrés "
                      "(propreté, usages, domanialité).")
            prio = 4.0 if months is None else 4.0 + 2.0 * max(0.0, 1 - months / 36)
        else:
            reason = "Chantier en cours : vérifier les cheminements, les nuisances et la propreté aux abords."
            prio = 3.0
        rows.append({
            "kind": "npnru",
            "label": f"NPNRU « {_text(row.get('name'), str(idx))} »",
            "reason": reason,
            "priority": weight * prio,
            "source_uid": _text(row.get("uid"), str(idx)),
            "address": _text(row.get("quartier")),
            "geometry": pts.iloc[i],
        })
    return rows


def _unobserved_streets(streets: gpd.GeoDataFrame, obs: gpd.GeoDataFrame | None, now: pd.Timestamp, *,
                        months: int, match_m: float, weight: float) -> list[dict[str, Any]]:
    lines = to_territory_crs(streets)
    lines = lines[lines.geometry.notna() & ~lines.geometry.is_empty]
    if lines.empty:
        return []
    names = (lines["name"].astype("object") if "name" in lines.columns
             else pd.Series([None] * len(lines), index=lines.index, dtype=object))
    key = names.where(names.notna(), pd.Series([f"tronçon {i}" for i in lines.index], index=lines.index))
    groups = lines.geometry.groupby(key.map(str).to_numpy())
    last_seen: dict[str, pd.Timestamp] = {}
    obs_pts = None
    if obs is not None and len(obs) and "observed_at" in obs.columns:
        obs_pts = _points(obs).to_numpy()
        obs_when = _utc(obs["observed_at"].to_numpy()).to_numpy()
        tree = shapely.STRtree(obs_pts)
    rows = []
    for name, geoms in groups:
        merged = shapely.union_all(geoms.to_numpy())
        if obs_pts is not None:
            hits = tree.query(merged, predicate="dwithin", distance=match_m)
            if len(hits):
                when = pd.Series(obs_when[hits]).max()
                if pd.notna(when):
                    last_seen[str(name)] = when
        seen = last_seen.get(str(name))
        elapsed = None if seen is None else (now - seen).days / 30.4
        if elapsed is not None and elapsed < months:
            continue
        longest = max(shapely.get_parts(merged), key=lambda g: g.length)
        point = longest.interpolate(0.5, normalized=True)
        reason = (f"Aucun constat depuis {elapsed:.0f} mois : parcourir la rue." if elapsed is not None
                  else "Aucun constat enregistré dans cette rue : la parcourir.")
        prio = 3.0 if elapsed is None else 1.0 + min(elapsed - months, 12.0) / 6.0
        rows.append({
            "kind": "rue", "label": str(name), "reason": reason, "priority": weight * prio,
            "source_uid": str(name), "address": str(name), "geometry": point,
        })
    return rows


def stop_priorities(
    inputs: PriorityInputs,
    *,
    now: datetime | pd.Timestamp | None = None,
    options: PriorityOptions = PriorityOptions(),
) -> gpd.GeoDataFrame:
    """Compute the candidate stops of a diagnostic walk and their priorities.

    Parameters
    ----------
    inputs : PriorityInputs
        The layer frames (constats, points noirs and their events, bacs and their
        readings, NPNRU operations, streets).
    now : datetime, optional
        Reference date (UTC); the current time when omitted.
    options : PriorityOptions
        Windows, thresholds and weights of the rules.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:2154 with ``kind``, ``label``, ``reason``, ``priority``,
        ``source_uid``, ``address``, sorted by decreasing priority.

    Raises
    ------
    PriorityError
        When a layer lacks a column a rule needs.
    """
    w = options.kind_weights()
    ref = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    ref = ref.tz_localize("UTC") if ref.tzinfo is None else ref.tz_convert("UTC")
    rows: list[dict[str, Any]] = []
    obs = inputs.observations
    if obs is not None and len(obs):
        rows += _open_constats(obs, ref, w["constat"])
    if inputs.points_noirs is not None and len(inputs.points_noirs):
        rows += _points_noirs(inputs.points_noirs, inputs.point_noir_events, ref,
                              window_days=options.window_days, weight=w["point_noir"])
    if inputs.bacs is not None and len(inputs.bacs):
        rows += _bacs(inputs.bacs, inputs.bac_readings, ref, window_days=options.window_days,
                      full_pct=options.full_pct, weight=w["bac"])
    if inputs.npnru is not None and len(inputs.npnru):
        rows += _npnru(inputs.npnru, ref, w["npnru"])
    if inputs.streets is not None and len(inputs.streets):
        rows += _unobserved_streets(inputs.streets, obs, ref, months=options.unobserved_months,
                                    match_m=options.street_match_m, weight=w["rue"])
    out = _frame(rows)
    out["priority"] = pd.to_numeric(out["priority"]).astype(float).round(3)
    out = out[out["priority"] > 0].sort_values("priority", ascending=False, kind="stable")
    return out.reset_index(drop=True)

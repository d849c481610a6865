"""What a technician reads at each stop of a walk: where it is and what to check there.

Each stop gets

* an **address**: the one of the constat, point noir or bac behind it (its current
  value), the street of a « rue » stop, else the nearest address point within
  ``reach_m`` (« adresse la plus proche, à 12 m »); beyond that the address is unknown
  (« adresse inconnue ») — never a far address;
* **facts in words** about the record behind it (theme, status, dates, last event of
  its history, dumping events, fill readings), next to the stop's ``reason`` (what to do).

The inputs are layer frames already read from the store; nothing here reads or renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.stats.recurrence import ADDRESS_REACH_M, locate_sites
from geo.walks.priorities import OPEN_STATUSES

__all__ = ["ADDRESS_UNKNOWN", "StopSources", "describe_stops"]

#: Shown instead of an address when no address point lies within reach of the stop.
ADDRESS_UNKNOWN = "adresse inconnue"
_OWN_SOURCE = {"constat": "adresse du constat", "point_noir": "adresse du point noir",
               "bac": "adresse du bac", "rue": "voie parcourue"}


@dataclass(frozen=True, eq=False)
class StopSources:
    """The records behind the stops (each optional), keyed by ``uid``.

    Attributes
    ----------
    addresses : GeoDataFrame, optional
        Address points (``number``, ``suffix``, ``street``), any CRS.
    observations : DataFrame, optional
        Constats (``uid``, ``theme``, ``subtheme``, ``status``, ``observed_at``,
        ``address``, ``pilote``, ``deadline``).
    histories : DataFrame, optional
        Their status history (``parent_uid``, ``status``, ``changed_at``, ``changed_by``,
        ``comment``).
    points_noirs : DataFrame, optional
        Dumping hot spots (``uid``, ``name``, ``status``, ``address``).
    point_noir_events : DataFrame, optional
        Their ``evenements`` (``parent_uid``, ``observed_at``, ``volume_m3``, ``cleaned_at``).
    bacs : DataFrame, optional
        Containers (``uid``, ``name``, ``flux``, ``address``).
    bac_readings : DataFrame, optional
        Their ``releves`` (``parent_uid``, ``measured_at``, ``fill_pct``).
    """

    addresses: gpd.GeoDataFrame | None = None
    observations: pd.DataFrame | None = None
    histories: pd.DataFrame | None = None
    points_noirs: pd.DataFrame | None = None
    point_noir_events: pd.DataFrame | None = None
    bacs: pd.DataFrame | None = None
    bac_readings: pd.DataFrame | None = None


def _text(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def _stamp(value: Any) -> pd.Timestamp | None:
    """Naive timestamp of a date-like value (None when missing or unreadable)."""
    if _text(value) == "":
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(ts):
        return None
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def _day(value: Any) -> str:
    """``JJ/MM/AAAA`` of a date-like value ('' when missing or unreadable)."""
    ts = _stamp(value)
    return "" if ts is None else ts.strftime("%d/%m/%Y")


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".").replace(".", ",")


def _by_uid(frame: pd.DataFrame | None) -> dict[str, pd.Series]:
    if frame is None or not len(frame) or "uid" not in frame.columns:
        return {}
    return {str(row["uid"]): row for _, row in frame.iterrows()}


def _children(frame: pd.DataFrame | None, parent: str, when: str) -> pd.DataFrame:
    if frame is None or not len(frame) or "parent_uid" not in frame.columns:
        return pd.DataFrame()
    sub = frame[frame["parent_uid"].astype(str) == parent].copy()
    sub["_when"] = pd.to_datetime(sub[when], errors="coerce") if when in sub.columns else pd.NaT
    return sub.sort_values("_when", kind="stable")


def _constat_facts(row: pd.Series, history: pd.DataFrame, now: pd.Timestamp) -> list[str]:
    theme = _text(row.get("theme")) or "sans thème"
    sub = _text(row.get("subtheme"))
    status = _text(row.get("status")) or "statut inconnu"
    seen = _day(row.get("observed_at")) or "date inconnue"
    facts = [f"Constat « {theme}{' — ' + sub if sub else ''} » du {seen}, statut « {status} »."]
    pilote, deadline = _text(row.get("pilote")), _day(row.get("deadline"))
    due = _stamp(row.get("deadline"))
    late = due is not None and due < now.tz_localize(None) and status in OPEN_STATUSES
    if pilote or deadline:
        facts.append(f"Pilote : {pilote or 'non désigné'} ; délai : {deadline or 'non fixé'}"
                     f"{' (dépassé)' if late else ''}.")
    if len(history):
        last = history.iloc[-1]
        who = _text(last.get("changed_by"))
        comment = _text(last.get("comment"))
        facts.append(f"Dernier suivi : statut « {_text(last.get('status')) or '?'} » le "
                     f"{_day(last.get('_when')) or 'date inconnue'}{' par ' + who if who else ''}"
                     f"{' — ' + comment if comment else ''}.")
    else:
        facts.append("Aucun suivi enregistré depuis le constat.")
    return facts


def _point_noir_facts(row: pd.Series, events: pd.DataFrame, now: pd.Timestamp, window_days: int) -> list[str]:
    name = _text(row.get("name")) or "sans nom"
    status = _text(row.get("status")) or "statut inconnu"
    facts = [f"Point noir « {name} » ({status})."]
    if not len(events):
        return [*facts, "Aucun dépôt enregistré."]
    when = events["_when"]
    recent = int(((now.tz_localize(None) - when.dt.tz_localize(None)).dt.days.between(0, window_days)).sum())
    last = events.iloc[-1]
    volume = pd.to_numeric(pd.Series([last.get("volume_m3")]), errors="coerce").iloc[0]
    detail = [f"{_number(float(volume))} m³"] if pd.notna(volume) else []
    cleaned = _day(last.get("cleaned_at"))
    detail.append(f"enlevé le {cleaned}" if cleaned else "enlèvement non enregistré")
    facts.append(f"{recent} dépôt(s) en {window_days} jours ; dernier dépôt le {_day(last['_when'])} "
                 f"({', '.join(detail)}).")
    return facts


def _bac_facts(row: pd.Series, readings: pd.DataFrame) -> list[str]:
    flux = _text(row.get("flux"))
    facts = [f"Bac{' ' + flux if flux else ''} « {_text(row.get('name')) or 'sans nom'} »."]
    if not len(readings):
        return [*facts, "Aucun relevé de remplissage."]
    last = readings.iloc[-1]
    fill = pd.to_numeric(pd.Series([last.get("fill_pct")]), errors="coerce").iloc[0]
    level = f"{fill:.0f} %" if pd.notna(fill) else "niveau illisible"
    facts.append(f"Dernier relevé le {_day(last['_when'])} : {level} ({len(readings)} relevé(s) en tout).")
    return facts


def _facts(kind: str, uid: str, sources: StopSources, lookups: dict[str, dict[str, pd.Series]],
           now: pd.Timestamp, window_days: int) -> tuple[list[str], str | None]:
    """Facts about the record behind one stop and its current address.

    The address is '' when the record has none now, None when there is no record (the
    address stored with the walk then stands).
    """
    if kind == "constat" and uid in lookups["observations"]:
        row = lookups["observations"][uid]
        history = _children(sources.histories, uid, "changed_at")
        return _constat_facts(row, history, now), _text(row.get("address"))
    if kind == "point_noir" and uid in lookups["points_noirs"]:
        row = lookups["points_noirs"][uid]
        events = _children(sources.point_noir_events, uid, "observed_at")
        return _point_noir_facts(row, events, now, window_days), _text(row.get("address"))
    if kind == "bac" and uid in lookups["bacs"]:
        row = lookups["bacs"][uid]
        return _bac_facts(row, _children(sources.bac_readings, uid, "measured_at")), _text(row.get("address"))
    if kind in ("constat", "point_noir", "bac"):
        return ["Élément d'origine introuvable dans l'entrepôt (supprimé depuis la préparation ?)."], None
    return [], None


def describe_stops(
    stops: gpd.GeoDataFrame,
    sources: StopSources,
    *,
    reach_m: float = ADDRESS_REACH_M,
    now: pd.Timestamp | None = None,
    window_days: int = 365,
) -> gpd.GeoDataFrame:
    """Give each stop of a walk its address and the facts to check there, in French.

    Parameters
    ----------
    stops : geopandas.GeoDataFrame
        :attr:`WalkRoute.stops` (``kind``, ``source_uid``, ``address`` used when present).
    sources : StopSources
        The records behind the stops and the address points.
    reach_m : float, default 50
        Farthest address point that may name a stop, metres.
    now : pandas.Timestamp, optional
        Reference date of « dépassé » and of the dumping window (now when omitted).
    window_days : int, default 365
        Period counted for dumping events.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy of ``stops`` with ``address`` (text, or None when unknown),
        ``address_source`` (« adresse du constat », « adresse la plus proche, à 12 m »,
        « adresse inconnue »…), ``address_m`` (distance to that address point, NaN
        otherwise) and ``checks`` (list of sentences).
    """
    ref = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    ref = ref.tz_localize("UTC") if ref.tzinfo is None else ref
    lookups = {"observations": _by_uid(sources.observations), "points_noirs": _by_uid(sources.points_noirs),
               "bacs": _by_uid(sources.bacs)}
    out = stops.copy()
    n = len(out)
    kinds = [_text(v) for v in (out["kind"] if "kind" in out.columns else [""] * n)]
    uids = [_text(v) for v in (out["source_uid"] if "source_uid" in out.columns else [""] * n)]
    stored = [_text(v) for v in (out["address"] if "address" in out.columns else [""] * n)]
    checks: list[list[str]] = []
    own: list[str | None] = []
    for kind, uid, kept in zip(kinds, uids, stored, strict=True):
        facts, current = _facts(kind, uid, sources, lookups, ref, window_days)
        checks.append(facts)
        # an NPNRU stop carries its quartier code, not an address: located like any other point
        # the record's current address when it still exists (cleared: located like the others)
        address = kept if current is None else current
        own.append((address or None) if kind in _OWN_SOURCE else None)
    sites = gpd.GeoDataFrame({"address": pd.Series(own, index=out.index, dtype=object)},
                             geometry=out.geometry, crs=out.crs)
    located = locate_sites(sites, sources.addresses, reach_m=reach_m)
    source = []
    for kind, has_own, dist in zip(kinds, [a is not None for a in own], located["location_m"], strict=True):
        if has_own:
            source.append(_OWN_SOURCE[kind])
        elif pd.notna(dist):
            source.append(f"adresse la plus proche, à {round(float(dist))} m")
        else:
            source.append(f"{ADDRESS_UNKNOWN} (aucun point adresse à moins de {reach_m:g} m)")
    out["address"] = pd.Series([v if isinstance(v, str) and v else None for v in located["location"]],
                               index=out.index, dtype=object)
    out["address_source"] = source
    out["address_m"] = located["location_m"].to_numpy(dtype=float)
    out["checks"] = pd.Series(checks, index=out.index, dtype=object)
    return out

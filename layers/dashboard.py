"""Data of the quartier dashboards: one quartier over a period, and the territory comparison.

:func:`quartier_dashboard` gathers, for one quartier and a period, what the analyst's
page shows — the indicators of the fiches action month by month with the same months of
the previous year, the Gi* bins and emerging classes (polygons in EPSG:2154), the
recurrence by point noir (name and address), the CCTV and container coverage — as plain
data (dicts, lists, numbers; ``None`` for unknown, with the reason in ``notes``).
:func:`territory_dashboard` returns the comparison rows of the territory report.
Nothing here is rendered: :mod:`webmap` draws the charts and maps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.stats.indicators import (
    assign_quartier,
    dumping_indicators,
    dysfunctions,
    tracks_treatment,
    treatment_delays,
)
from layers.analyses import (
    _end_exclusive,
    _perimeters,
    analysis_events,
    quartier_report_from_store,
    territory_report_from_store,
)
from layers.errors import StoreAnalysisError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = ["DashboardOptions", "default_period", "previous_year", "quartier_dashboard", "territory_dashboard"]

_Box = tuple[float, float, float, float]
#: French names of the event layers.
_LAYER_LABELS = {
    "observations": "constats et signalements",
    "points_noirs": "dépôts constatés aux points noirs",
}
#: Layers whose dates give « the last 12 months of data ».
_DATED = ("observations", "points_noirs")
#: Largest distance (m) between a container and an address it serves.
CONTAINER_REACH_M = 100.0
#: No container (camera) within this distance (m) of a quartier: no source covers it, counts unknown.
SOURCE_REACH_M = 1000.0
#: Largest distance (m) from a recurrent site to the address that names it.
ADDRESS_REACH_M = 50.0


@dataclass(frozen=True)
class DashboardOptions:
    """What the dashboard may show.

    Attributes
    ----------
    cameras : bool
        Include the CCTV figures (the ``videoprotection`` layer is confidential: the
        caller decides from the user's rights).
    theme : str, optional
        Observation theme analysed when the quartier has no point noir event.
    """

    cameras: bool = False
    theme: str | None = "dépôts sauvages"


def previous_year(start: date, end: date) -> tuple[date, date]:
    """Return the same period one year earlier (29 February becomes the 28th)."""

    def back(d: date) -> date:
        return (pd.Timestamp(d) - pd.DateOffset(years=1)).date()

    return back(start), back(end)


def default_period(store: LayerStore, code: str | None) -> tuple[date, date]:
    """Return the last 12 whole months of data of the store around ``code`` (whole store: None).

    The end is the month of the latest dated event (observation or point noir dumping)
    within the quartier's bounds, or of the whole store when none lies there.
    """
    boxes: tuple[_Box | None, ...] = (None,)
    if code is not None:
        xmin, ymin, xmax, ymax = (float(v) for v in _perimeters(store, code).total_bounds)
        boxes = ((xmin, ymin, xmax, ymax), None)
    latest: pd.Timestamp | None = None
    for box in boxes:
        for layer in _DATED:
            frame = (
                store.read("observations", bbox=box) if layer == "observations" else _pn_events(store, box)
            )
            if len(frame):
                when = pd.to_datetime(frame["observed_at"], errors="coerce").max()
                if pd.notna(when) and (latest is None or when > latest):
                    latest = when
        if latest is not None:
            break
    if latest is None:
        today = pd.Timestamp.today()
        latest = today.normalize()
    end_month = latest.to_period("M")
    start_month = end_month - 11
    return start_month.start_time.date(), end_month.end_time.date()


def _pn_events(store: LayerStore, bbox: _Box | None) -> pd.DataFrame:
    sites = store.read("points_noirs", bbox=bbox)
    if sites.empty:
        return pd.DataFrame({"observed_at": []})
    return store.read_children("points_noirs", "evenements", parent_uids=list(sites["uid"]))


# --------------------------------------------------------------------------- helpers


def _clean(value: Any) -> Any:
    """Plain Python value (None for NaN/NaT) of a pandas/numpy scalar."""
    if value is None:
        return None
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.date().isoformat()
    if isinstance(value, pd.Period):
        return str(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _table(frame: pd.DataFrame) -> dict[str, Any]:
    """Return ``frame`` as ``{"columns": [...], "rows": [[...], ...]}`` of plain values."""
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[_clean(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def _months(start: date, end: date) -> pd.PeriodIndex:
    return pd.period_range(pd.Timestamp(start).to_period("M"), pd.Timestamp(end).to_period("M"), freq="M")


def _rings(geom: Any) -> list[list[list[float]]]:
    """Exterior rings of a (multi)polygon, coordinates rounded to the decimetre."""
    parts = getattr(geom, "geoms", [geom])
    return [np.round(np.asarray(p.exterior.coords)[:, :2], 1).tolist() for p in parts if not p.is_empty]


@dataclass(frozen=True)
class _Zone:
    code: str
    row: gpd.GeoDataFrame
    geom: Any


def _in_zone(frame: gpd.GeoDataFrame, zone: _Zone) -> gpd.GeoDataFrame:
    if frame.empty:
        return frame
    inside = assign_quartier(frame, zone.row, code_field="code").notna().to_numpy()
    return frame[inside]


def _read_events(
    store: LayerStore, layer: str, theme: str | None, zone: _Zone, span: tuple[date, date]
) -> gpd.GeoDataFrame:
    events = analysis_events(
        store,
        layer,
        start=span[0],
        end=span[1],
        theme=theme if layer == "observations" else None,
        bbox=tuple(zone.geom.bounds),
    )
    return _in_zone(events, zone)


def _monthly(frame: pd.DataFrame, column: str, months: pd.PeriodIndex) -> list[Any]:
    """Values of ``column`` per month of ``months`` (frame indexed by ``period``); missing → None."""
    if frame.empty:
        return [None] * len(months)
    series = frame.set_index("period")[column].reindex(months)
    return [_clean(v) for v in series]


# --------------------------------------------------------------------------- indicators

#: Margin (m) around a quartier in which the dates of a source are looked at.
_SOURCE_MARGIN_M = 500.0


def _source_months(store: LayerStore, layer: str, zone: _Zone) -> tuple[pd.Period, pd.Period] | None:
    """First and last month holding any record of ``layer`` (any theme) around the quartier.

    Months outside this span are unknown for its indicators (the source did not cover
    them), never 0. ``None`` when no record lies around the quartier.
    """
    bbox = tuple(zone.geom.buffer(_SOURCE_MARGIN_M).bounds)
    frame = store.read("observations", bbox=bbox) if layer == "observations" else _pn_events(store, bbox)
    when = pd.to_datetime(frame["observed_at"], errors="coerce").dropna() if len(frame) else None
    if when is None or when.empty:
        return None
    return when.min().to_period("M"), when.max().to_period("M")


def _mask(values: list[Any], months: pd.PeriodIndex, span: tuple[pd.Period, pd.Period] | None) -> list[Any]:
    """``values`` with the months outside the source's ``span`` set to None (unknown)."""
    if span is None:
        return [None] * len(values)
    return [v if span[0] <= m <= span[1] else None for v, m in zip(values, months, strict=True)]


def _span_note(previous: list[Any], span: tuple[pd.Period, pd.Period] | None) -> str | None:
    if span is None or not any(v is None for v in previous):
        return None
    if all(v is None for v in previous):
        return (
            f"Année précédente : n.d., la source ne couvre ce quartier que de {span[0].strftime('%m/%Y')} "
            f"à {span[1].strftime('%m/%Y')}."
        )
    return (
        f"Année précédente partielle : la source ne couvre ce quartier que de {span[0].strftime('%m/%Y')} "
        f"à {span[1].strftime('%m/%Y')} ; les autres mois et le total sont n.d."
    )


@dataclass(frozen=True)
class _Spans:
    current: tuple[date, date]
    previous: tuple[date, date]


def _indicator(
    key: str,
    label: str,
    unit: str,
    fiche: str,
    values: tuple[list[Any], list[Any]],
    months: pd.PeriodIndex,
    note: str | None = None,
) -> dict[str, Any]:
    current, previous = values
    if note is None and all(v is None for v in current):
        note = "n.d. : aucune donnée sur la période."

    def total(vals: list[Any]) -> Any:  # a month unknown: the total is unknown too
        return None if not vals or any(v is None for v in vals) else sum(vals)

    return {
        "key": key,
        "label": label,
        "unit": unit,
        "fiche": fiche,
        "months": [str(m) for m in months],
        "current": current,
        "previous": previous,
        "total": total(current),
        "previous_total": total(previous),
        "note": note,
        "simulated": 0.0,
        "total_label": "total",
    }


def _event_indicators(
    events: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame],
    zone: _Zone,
    months: tuple[pd.PeriodIndex, pd.PeriodIndex],
    label: str,
    span: tuple[pd.Period, pd.Period] | None,
) -> list[dict[str, Any]]:
    """Return the dumping events and their clean-up delay per month, this period and the previous year."""
    counts, volumes, delays = [], [], []
    medians: list[float | None] = []
    source = span
    for frame, index in zip(events, months, strict=True):
        ind = dumping_indicators(frame, zone.row, code_field="code") if len(frame) else pd.DataFrame()
        ind = ind[ind["quartier"] == zone.code] if len(ind) else ind
        counts.append(_mask([int(v or 0) for v in _monthly(ind, "events", index)], index, source))
        volumes.append(_monthly(ind, "volume_m3", index))
        if "cleaned_at" in frame.columns and len(frame):
            d = treatment_delays(frame, zone.row, end_field="cleaned_at", code_field="code")
            delays.append(_monthly(d[d["quartier"] == zone.code], "median_days", index))
            days = (
                pd.to_datetime(frame["cleaned_at"], errors="coerce") - pd.to_datetime(frame["observed_at"])
            ).dt.total_seconds() / 86400
            days = days[days >= 0]
            medians.append(float(days.median()) if len(days) else None)
        else:
            delays.append([None] * len(index))
            medians.append(None)
    fiche = "Lutte contre les dépôts sauvages"
    out = [
        _indicator(
            "depots",
            f"Dépôts recensés par mois ({label})",
            "événements",
            fiche,
            (counts[0], counts[1]),
            months[0],
            _span_note(counts[1], source)
            if source
            else "n.d. : aucune source d'événements ne couvre ce quartier.",
        )
    ]
    if any(v is not None for v in volumes[0] + volumes[1]):
        out.append(
            _indicator(
                "volume",
                "Volume de dépôts sauvages et d'encombrants recensés par mois",
                "m³",
                fiche,
                (volumes[0], volumes[1]),
                months[0],
            )
        )
    has_delay = any(v is not None for v in delays[0] + delays[1])
    out.append(
        _indicator(
            "delai-enlevement",
            "Délai d'intervention après signalement (médiane, jours)",
            "jours",
            fiche,
            (delays[0], delays[1]),
            months[0],
            None if has_delay else "n.d. : aucune date d'enlèvement enregistrée pour ces événements.",
        )
    )
    for item in out[-1:]:  # a median does not add up: the median of the whole period instead
        item["total"], item["previous_total"], item["total_label"] = medians[0], medians[1], "médiane"
    return out


#: Why the treatment of the constats is unknown.
UNTRACKED = (
    "n.d. : la source de ces constats ne suit pas leur traitement (aucun statut « traité », « en cours » "
    "ou « clos non traité », aucune date de résolution) ; un taux de traitement de 0 serait faux."
)


def _observation_indicators(
    observations: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame],
    zone: _Zone,
    months: tuple[pd.PeriodIndex, pd.PeriodIndex],
    source: tuple[pd.Period, pd.Period] | None,
) -> list[dict[str, Any]]:
    """Dysfonctionnements identified and treated per month (every theme), both periods."""
    identified, treated = [], []
    for frame, span in zip(observations, months, strict=True):
        if len(frame) and "status" in frame.columns:
            d = dysfunctions(frame, zone.row, code_field="code")
            d = d[d["quartier"] == zone.code]
            identified.append(_mask([int(v or 0) for v in _monthly(d, "identified", span)], span, source))
            treated.append(_mask([int(v or 0) for v in _monthly(d, "treated", span)], span, source))
        else:
            identified.append(_mask([0] * len(span), span, source))
            treated.append(_mask([0] * len(span), span, source))
    fiche = "Diagnostics en marchant"
    followed = any(tracks_treatment(frame) for frame in observations)
    treated_note = _span_note(treated[1], source)
    if not followed:
        treated = [[None] * len(treated[0]), [None] * len(treated[1])]
        treated_note = UNTRACKED
    return [
        _indicator(
            "dysfonctionnements",
            "Dysfonctionnements identifiés par mois (constats, tous thèmes)",
            "constats",
            fiche,
            (identified[0], identified[1]),
            months[0],
            _span_note(identified[1], source),
        ),
        _indicator(
            "traites",
            "Dysfonctionnements traités par mois (statut « traité »)",
            "constats",
            fiche,
            (treated[0], treated[1]),
            months[0],
            treated_note,
        ),
    ]


# --------------------------------------------------------------------------- maps and tables


def _hotspot_map(report: Any, zone: _Zone) -> dict[str, Any] | None:
    hot = report.results.get("hotspots")
    if hot is None:
        return None
    bins = [
        {"gi_bin": int(b), "count": int(c), "z": _clean(float(z)), "p": _clean(float(p)), "rings": _rings(g)}
        for b, c, z, p, g in zip(
            hot["gi_bin"], hot["count"], hot["gi_z"], hot["gi_q"], hot.geometry, strict=True
        )
    ]
    inside = shapely.contains_xy(zone.geom, hot["x"].to_numpy(), hot["y"].to_numpy())
    classes, sizes = np.unique(hot["gi_bin"].to_numpy(dtype=int)[inside], return_counts=True)
    counts = {int(k): int(v) for k, v in zip(classes, sizes, strict=True)}
    fig = next((f for f in report.figures if f.name == "hotspots"), None)
    points = np.round(np.asarray(fig.points, dtype=float), 1).tolist() if fig is not None else []
    return {
        "bins": bins,
        "counts_inside": counts,
        "bin_size": _clean(hot.attrs.get("bin_size")),
        "bounds": [float(v) for v in hot.total_bounds],
        "points": points,
    }


def _emerging_map(report: Any) -> dict[str, Any] | None:
    ehsa = report.results.get("emerging")
    if ehsa is None:
        return None
    b = ehsa.bins
    bins = [{"pattern": str(p), "rings": _rings(g)} for p, g in zip(b["pattern_fr"], b.geometry, strict=True)]
    counts = b["pattern_fr"].value_counts()
    return {
        "bins": bins,
        "counts": {str(k): int(v) for k, v in counts.items()},
        "bounds": [float(v) for v in b.total_bounds],
    }


def _point_noir_recurrence(store: LayerStore, zone: _Zone, spans: _Spans) -> dict[str, Any]:
    """One row per point noir of the quartier: name, address, dumpings this period and last year.

    The previous year's count is unknown (None) unless the points noirs' events cover all
    of it (:func:`_source_months`).
    """
    sites = _in_zone(store.read("points_noirs", bbox=tuple(zone.geom.bounds)), zone)
    source = _source_months(store, "points_noirs", zone)
    previous_covered = source is not None and source[0] <= pd.Timestamp(spans.previous[0]).to_period("M")
    columns = [
        "Point noir",
        "Adresse",
        "Statut",
        "Dépôts (période)",
        "Dépôts (année précédente)",
        "Premier dépôt",
        "Dernier dépôt",
        "Jours médians entre deux dépôts",
        "Délai médian d'enlèvement (j)",
        "Donnée",
    ]
    if sites.empty:
        return {"columns": columns, "rows": []}
    events = store.read_children(
        "points_noirs",
        "evenements",
        parent_uids=list(sites["uid"]),
        start=spans.previous[0].isoformat(),
        end=_end_exclusive(spans.current[1]),
    )
    rows = []
    for site in sites.sort_values("name").itertuples():
        ev = events[events["parent_uid"] == site.uid] if len(events) else events
        when: pd.Series = (
            pd.to_datetime(ev["observed_at"], errors="coerce") if len(ev) else pd.Series([], dtype="M8[ns]")
        )
        cur = when[
            (when >= pd.Timestamp(spans.current[0])) & (when < pd.Timestamp(_end_exclusive(spans.current[1])))
        ]
        prev_n: int | None = int(
            (
                (when >= pd.Timestamp(spans.previous[0]))
                & (when < pd.Timestamp(_end_exclusive(spans.previous[1])))
            ).sum()
        )
        if not previous_covered:  # the source did not exist yet: unknown, not 0
            prev_n = None
        ordered = cur.sort_values()
        gaps = ordered.diff().dt.total_seconds().dropna() / 86400
        delay = None
        if len(ev) and "cleaned_at" in ev.columns and len(cur):
            sel = ev.loc[cur.index]
            d = (pd.to_datetime(sel["cleaned_at"], errors="coerce") - cur).dt.total_seconds() / 86400
            d = d[d >= 0]
            delay = float(d.median()) if len(d) else None
        rows.append(
            [
                site.name,
                _clean(site.address) or "adresse inconnue",
                _clean(site.status),
                len(cur),
                prev_n,
                _clean(ordered.iloc[0]) if len(ordered) else None,
                _clean(ordered.iloc[-1]) if len(ordered) else None,
                float(gaps.median()) if len(gaps) else None,
                delay,
                "simulée" if bool(site.simulated) else "réelle",
            ]
        )
    rows.sort(key=lambda r: -r[3])
    return {"columns": columns, "rows": rows}


def _address_label(row: Any) -> str:
    number = "" if _clean(row.number) is None else str(row.number).removesuffix(".0")
    parts = [number + (str(row.suffix) if _clean(row.suffix) else ""), str(_clean(row.street) or "")]
    return " ".join(p for p in parts if p).strip() or "adresse sans nom de voie"


def _recurrent_sites(report: Any, store: LayerStore, zone: _Zone) -> dict[str, Any]:
    """Recurrent sites (events grouped by the recurrence analysis) named by their nearest address."""
    columns = [
        "Adresse la plus proche",
        "Distance à l'adresse (m)",
        "Événements",
        "Premier",
        "Dernier",
        "Jours médians avant retour",
        "Persistant malgré les enlèvements",
    ]
    rec = report.results.get("recurrence")
    if rec is None:
        return {"columns": columns, "rows": []}
    sites = rec.sites[(rec.sites["quartier"] == zone.code) & (rec.sites["n_events"] >= 2)]
    sites = sites.sort_values(["n_events", "last"], ascending=[False, False])
    if sites.empty:
        return {"columns": columns, "rows": []}
    bbox = tuple(shapely.box(*sites.total_bounds).buffer(ADDRESS_REACH_M).bounds)
    addresses = store.read("adresses", bbox=bbox)
    names: list[str] = []
    dists: list[float | None] = []
    if len(addresses):
        tree = shapely.STRtree(addresses.geometry.to_numpy())
        (_, idx), dist = tree.query_nearest(
            sites.geometry.to_numpy(), return_distance=True, all_matches=False
        )
        for i, d in zip(idx, dist, strict=True):
            near = d <= ADDRESS_REACH_M
            names.append(
                _address_label(addresses.iloc[int(i)])
                if near
                else f"n.d. (aucune adresse à moins de {ADDRESS_REACH_M:.0f} m)"
            )
            dists.append(round(float(d), 1) if near else None)
    else:
        names = ["n.d. (aucune adresse dans l'entrepôt ici)"] * len(sites)
        dists = [None] * len(sites)
    rows = [
        [
            n,
            d,
            int(r.n_events),
            _clean(r.first),
            _clean(r.last),
            _clean(r.median_days_to_reoccur),
            bool(r.persistent),
        ]
        for n, d, r in zip(names, dists, sites.itertuples(), strict=True)
    ]
    return {"columns": columns, "rows": rows}


def _container_coverage(store: LayerStore, zone: _Zone, span: tuple[date, date]) -> dict[str, Any]:
    """Containers of the quartier, addresses within :data:`CONTAINER_REACH_M`, fill readings."""
    bbox = tuple(zone.geom.buffer(CONTAINER_REACH_M).bounds)
    bacs = store.read("bacs", bbox=bbox)
    if store.read("bacs", bbox=tuple(zone.geom.buffer(SOURCE_REACH_M).bounds)).empty:
        return {
            "bacs": None,
            "adresses": None,
            "part_adresses": None,
            "remplissage_moyen": None,
            "releves_pleins": None,
            "simulated": None,
            "par_flux": {},
            "couvert": False,
        }
    addresses = _in_zone(store.read("adresses", bbox=tuple(zone.geom.bounds)), zone)
    inside = _in_zone(bacs, zone)
    out: dict[str, Any] = {
        "bacs": len(inside),
        "adresses": len(addresses),
        "part_adresses": None,
        "remplissage_moyen": None,
        "releves_pleins": None,
        "simulated": None,
        "par_flux": {},
        "couvert": True,
    }
    if len(inside):
        out["simulated"] = bool(inside["simulated"].fillna(False).astype(bool).any())
        out["par_flux"] = {str(k): int(v) for k, v in inside["flux"].value_counts().items()}
        releves = store.read_children(
            "bacs",
            "releves",
            parent_uids=list(inside["uid"]),
            start=span[0].isoformat(),
            end=_end_exclusive(span[1]),
        )
        if len(releves):
            fill = pd.to_numeric(releves["fill_pct"], errors="coerce").dropna()
            out["remplissage_moyen"] = float(fill.mean()) if len(fill) else None
            out["releves_pleins"] = int((fill >= 90).sum())
    if len(bacs) and len(addresses):
        tree = shapely.STRtree(bacs.geometry.to_numpy())
        _, dist = tree.query_nearest(addresses.geometry.to_numpy(), return_distance=True, all_matches=False)
        out["part_adresses"] = float((dist <= CONTAINER_REACH_M).mean())
    return out


def _camera_coverage(report: Any, store: LayerStore, zone: _Zone) -> dict[str, Any]:
    kf = report.key_figures
    if store.read("videoprotection", bbox=tuple(zone.geom.buffer(SOURCE_REACH_M).bounds)).empty:
        return {
            "sites": None,
            "en_service": None,
            "part_evenements": None,
            "part_surface_chaude": None,
            "simulated": None,
            "couvert": False,
        }
    cams = _in_zone(store.read("videoprotection", bbox=tuple(zone.geom.bounds)), zone)
    return {
        "sites": len(cams),
        "en_service": int((cams["status"].fillna("installée") != "hors service").sum()) if len(cams) else 0,
        "part_evenements": _clean(kf.get("Part des événements vus par une caméra")),
        "part_surface_chaude": _clean(kf.get("Part de la surface en point chaud vue")),
        "simulated": bool(cams["simulated"].fillna(False).astype(bool).any()) if len(cams) else None,
        "couvert": True,
    }


# --------------------------------------------------------------------------- entry points


def _share(frame: pd.DataFrame) -> float:
    """Share of simulated records (0 when none or no flag)."""
    if frame.empty or "simulated" not in frame.columns:
        return 0.0
    return float(frame["simulated"].fillna(False).astype(bool).mean())


def quartier_dashboard(
    store: LayerStore,
    code: str,
    *,
    start: date,
    end: date,
    options: DashboardOptions | None = None,
) -> dict[str, Any]:
    """Return the data of the dashboard of quartier ``code`` over [start, end].

    Parameters
    ----------
    store : LayerStore
        The store.
    code : str
        Perimeter code (QP075019).
    start, end : date
        Period, both days included.
    options : DashboardOptions, optional
        Whether CCTV figures are included, theme analysed.

    Returns
    -------
    dict
        ``code``, ``name``, ``period``/``previous`` (ISO dates), ``layer`` and ``label``
        (events analysed), ``simulated`` (share of simulated events), ``key_figures``,
        ``indicators`` (monthly series, this period and the previous year), ``hotspots``
        and ``emerging`` (bins with their rings in EPSG:2154, or None), ``outline``
        (perimeter rings), ``recurrence`` (table by point noir), ``recurrent_sites`` (sites
        of the recurrence analysis named by their nearest address), ``containers``,
        ``cameras`` (None when not allowed), ``tables`` (report tables) and ``notes`` (why a
        figure is missing).

    Raises
    ------
    StoreAnalysisError
        On an unknown quartier.
    """
    opts = options or DashboardOptions()
    spans = _Spans((start, end), previous_year(start, end))
    report = quartier_report_from_store(store, code, start=start, end=end, theme=opts.theme)
    per = _perimeters(store, code)
    zone = _Zone(code, per[["code", per.geometry.name]], shapely.union_all(per.geometry.to_numpy()))
    layer = str(report.method.get("Couche analysée", "observations"))
    label = "dépôts aux points noirs" if layer == "points_noirs" else (opts.theme or "constats")
    events = (
        _read_events(store, layer, opts.theme, zone, spans.current),
        _read_events(store, layer, opts.theme, zone, spans.previous),
    )
    obs = tuple(
        _in_zone(
            store.read(
                "observations", bbox=tuple(zone.geom.bounds), start=s[0].isoformat(), end=_end_exclusive(s[1])
            ),
            zone,
        )
        for s in (spans.current, spans.previous)
    )
    months = (_months(*spans.current), _months(*spans.previous))
    covered = report.key_figures.get("Événements dans le quartier") is not None
    source = _source_months(store, layer, zone) if covered else None
    indicators = _event_indicators(events, zone, months, label, source)
    share = _share(events[0])
    for item in indicators:
        item["simulated"] = share
    more = _observation_indicators(
        (obs[0], obs[1]), zone, months, _source_months(store, "observations", zone)
    )
    for item in more:
        item["simulated"] = _share(obs[0])
    indicators += more
    hidden = ("Part des événements vus par une caméra", "Part de la surface en point chaud vue")
    key_figures = {k: _clean(v) for k, v in report.key_figures.items() if opts.cameras or k not in hidden}
    notes = list(report.notes)
    if (
        not any(tracks_treatment(frame) for frame in obs)
        and "Part des dysfonctionnements traités" in key_figures
    ):
        key_figures["Part des dysfonctionnements traités"] = None
        notes.append("Dysfonctionnements traités et part traitée : " + UNTRACKED.removeprefix("n.d. : "))
    tables = {k: _table(v) for k, v in report.tables.items()}
    if not opts.cameras and "Équipements et référentiels du quartier" in tables:
        t = tables["Équipements et référentiels du quartier"]
        t["rows"] = [r for r in t["rows"] if r[0] != "Sites de vidéoprotection"]
    if not opts.cameras:
        tables.pop("Points chauds non couverts par la vidéoprotection", None)
    return {
        "code": code,
        "name": str(per["name"].iloc[0]),
        "period": [start.isoformat(), end.isoformat()],
        "previous": [spans.previous[0].isoformat(), spans.previous[1].isoformat()],
        "layer": layer,
        "label": label,
        "simulated": share,
        "key_figures": key_figures,
        "indicators": indicators,
        "hotspots": _hotspot_map(report, zone),
        "emerging": _emerging_map(report),
        "outline": _rings(zone.geom)
        if zone.geom.geom_type == "Polygon"
        else [r for g in zone.geom.geoms for r in _rings(g)],
        "recurrence": _point_noir_recurrence(store, zone, spans),
        "recurrent_sites": _recurrent_sites(report, store, zone),
        "containers": _container_coverage(store, zone, spans.current),
        "cameras": _camera_coverage(report, store, zone) if opts.cameras else None,
        "tables": tables,
        "notes": notes,
        "caveats": [c for c in report.caveats if opts.cameras or not c.startswith("Champ des caméras")],
        "method": {
            k: _LAYER_LABELS.get(v, v) if k == "Couche analysée" else _clean(v)
            for k, v in report.method.items()
            if opts.cameras or k != "Portée des caméras (m)"
        },
    }


def _data_label(share: float | None, events: Any) -> str:
    """« réelle », « simulée » or « en partie simulée (n %) » for a quartier's events; n.d. without any."""
    if events is None or pd.isna(events):
        return "n.d."
    if share is None or not events:
        return "sans événement"
    if share == 0:
        return "réelle"
    return "simulée" if share >= 1 else f"en partie simulée ({share * 100:.0f} %)"


def territory_dashboard(
    store: LayerStore,
    *,
    start: date,
    end: date,
    theme: str | None = "dépôts sauvages",
) -> dict[str, Any]:
    """Return the comparison of the stored quartiers over [start, end] (territory report rows).

    Returns
    -------
    dict
        ``period``, ``columns`` and ``rows`` of the comparison (one per quartier, with
        « Pour 1 000 habitants » None: the store holds no population), ``notes``,
        ``key_figures`` and ``simulated`` (the events include simulated ones).

    Raises
    ------
    StoreAnalysisError
        When the store holds no perimeter.
    """
    report = territory_report_from_store(store, start=start, end=end, theme=theme)
    table = report.tables["Comparaison des quartiers"].copy()
    table.insert(list(table.columns).index("Par km² et par mois") + 1, "Pour 1 000 habitants", None)
    per = store.read("perimetres")
    communes = dict(zip(per["code"].astype(str), per["communes"].fillna(""), strict=True))
    table.insert(2, "Communes", [communes.get(str(c), "") for c in table["Quartier"]])
    events = analysis_events(store, "observations", start=start, end=end, theme=theme)
    shares: dict[str, float] = {}
    if len(events):
        codes = assign_quartier(events, per[["code", per.geometry.name]], code_field="code")
        sim = events["simulated"].fillna(False).astype(bool)
        shares = {str(k): float(v) for k, v in sim.groupby(codes.to_numpy()).mean().items()}
    table["Donnée"] = [
        _data_label(shares.get(str(c)), n)
        for c, n in zip(table["Quartier"], table["Événements"], strict=True)
    ]
    notes = list(report.notes)
    notes.append("Pour 1 000 habitants : n.d., l'entrepôt ne contient pas la population des quartiers.")
    if table.empty:
        raise StoreAnalysisError("Aucun périmètre dans l'entrepôt.")
    return {
        "period": [start.isoformat(), end.isoformat()],
        **_table(table),
        "notes": notes,
        "key_figures": {k: _clean(v) for k, v in report.key_figures.items()},
        "simulated": report.simulated,
    }

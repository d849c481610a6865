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
import pandas as pd
import shapely

from geo.stats.indicators import (
    assign_quartier,
    dumping_indicators,
    dysfunctions,
    tracks_treatment,
    treatment_delays,
)
from geo.stats.recurrence import ADDRESS_REACH_M
from geo.stats.report import CCTV_LAYER, ReportSection
from layers._action_section import action_section
from layers._dashboard_base import (
    _Box,
    _clean,
    _in_zone,
    _monthly,
    _months,
    _pn_events,
    _read_events,
    _rings,
    _source_months,
    _Spans,
    _table,
    _Zone,
)
from layers._dashboard_maps import (
    CONTAINER_REACH_M,
    SOURCE_REACH_M,
    _camera_coverage,
    _container_coverage,
    _emerging_map,
    _hotspot_map,
    _point_noir_recurrence,
    _recurrent_sites,
)
from layers.analyses import (
    _end_exclusive,
    _perimeters,
    analysis_events,
    quartier_report_from_store,
    territory_report_from_store,
)
from layers.errors import StoreAnalysisError
from layers.samples import sample_note, sampled_datasets
from layers.schema import DISTINCT_CONSTATS, LAYERS
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = [
    "ADDRESS_REACH_M",
    "CONTAINER_REACH_M",
    "SOURCE_REACH_M",
    "DashboardOptions",
    "default_period",
    "previous_year",
    "quartier_dashboard",
    "section_data",
    "territory_dashboard",
]

#: French names of the event layers.
_LAYER_LABELS = {
    "observations": "constats et signalements",
    "points_noirs": "dépôts constatés aux points noirs",
}
#: Layers whose dates give « the last 12 months of data ».
_DATED = ("observations", "points_noirs")


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
    actions : bool
        Include the « Plan d'actions » section (the caller decides whether the user may
        read the ``actions`` layer).
    today : date, optional
        Reference day of the actions' retards (today by default).
    """

    cameras: bool = False
    theme: str | None = "dépôts sauvages"
    actions: bool = False
    today: date | None = None


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


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- indicators


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


# --------------------------------------------------------------------------- entry points


def section_data(section: ReportSection) -> dict[str, Any]:
    """Return a report section (the plan d'actions) as plain data for the page.

    ``figures``: ``label``, ``value`` (None: n.d.), ``detail`` (« dont 3 simulées »…) and
    ``kind`` (``pct`` for the shares); ``tables``: ``caption``, ``columns``, ``rows``.
    """
    return {
        "title": section.title,
        "figures": [
            {
                "label": label,
                "value": _clean(value),
                "detail": detail,
                "kind": "pct" if label.startswith("Part") else "nombre",
            }
            for label, value, detail in section.figures
        ],
        "tables": [{"caption": caption, **_table(frame)} for caption, frame in section.tables.items()],
        "notes": list(section.notes),
    }


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
        ``cameras`` (None when not allowed), ``actions`` (the « Plan d'actions » section,
        :func:`section_data`; None when not allowed), ``tables`` (report tables) and
        ``notes`` (why a figure is missing).

    Raises
    ------
    StoreAnalysisError
        On an unknown quartier.
    """
    opts = options or DashboardOptions()
    spans = _Spans((start, end), previous_year(start, end))
    # a role that may not see the cameras gets a report that never read them (issue 16 part D)
    readable = None if opts.cameras else [name for name in LAYERS if name != CCTV_LAYER]
    report = quartier_report_from_store(store, code, start=start, end=end, theme=opts.theme,
                                        readable=readable)
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
            store.read("observations", bbox=tuple(zone.geom.bounds), start=s[0].isoformat(),
                       end=_end_exclusive(s[1]), where=DISTINCT_CONSTATS),
            zone,
        )
        for s in (spans.current, spans.previous)
    )
    months = (_months(*spans.current), _months(*spans.previous))
    covered = report.key_figures.get("Événements dans le quartier") is not None
    source = _source_months(store, layer, zone) if covered else None
    indicators = _event_indicators(events, zone, months, label, source)
    share = _share(events[0])
    samples = sampled_datasets(store)
    for item in indicators:
        item["simulated"] = share
        item["sample"] = sample_note(pd.concat([events[0], events[1]]), samples)
    more = _observation_indicators(
        (obs[0], obs[1]), zone, months, _source_months(store, "observations", zone)
    )
    for item in more:
        item["simulated"] = _share(obs[0])
        item["sample"] = sample_note(pd.concat([obs[0], obs[1]]), samples)
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
    # the restricted « Vidéoprotection » section, present only when the role may see the cameras
    cctv = [s for s in report.sections if s.restricted == CCTV_LAYER and not s.withheld]
    tables.update({k: _table(v) for s in cctv for k, v in s.tables.items()})
    key_figures.update({k: _clean(v) for s in cctv for k, v, _ in s.figures if k.startswith("Part")})
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
        "recurrent_sites": _recurrent_sites(report, zone),
        "containers": _container_coverage(store, zone, spans.current),
        "cameras": _camera_coverage(report, store, zone) if opts.cameras else None,
        "actions": section_data(
            action_section(store, code, zone.geom, start=start, end=end, today=opts.today)
        )
        if opts.actions
        else None,
        "tables": tables,
        "notes": notes,
        "caveats": [c for c in report.caveats if opts.cameras or not c.startswith("Champ des caméras")]
        + [n for s in cctv for n in s.notes],
        "method": {
            **{
                k: _LAYER_LABELS.get(v, v) if k == "Couche analysée" else _clean(v)
                for k, v in report.method.items()
                if opts.cameras or k != "Portée des caméras (m)"
            },
            **{label: _clean(v) for s in cctv for label, v, _ in s.figures if label.startswith("Portée")},
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
    sampled: set[str] = set()
    samples = sampled_datasets(store)
    if len(events) and samples and "source_dataset" in events.columns:
        from_sample = events["source_dataset"].isin(list(samples)).to_numpy()
        sampled = {str(c) for c in codes[from_sample].dropna()}
    table["Donnée"] = [
        _data_label(shares.get(str(c)), n) + (", échantillon" if str(c) in sampled else "")
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

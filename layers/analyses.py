"""Analyses and reports run on the store: hot spots stored as a derived layer, reports.

* :func:`analysis_events` reads the dated points an analysis works on (observations of
  a theme, or the dumping events of the points noirs placed at their site);
* :func:`store_hotspots` runs Gi* (and the emerging hot spot analysis when the period
  spans six months or more) and stores the bins in the ``analyses`` layer, so that the
  web map can draw them; the same analysis run again replaces its previous results;
* :func:`quartier_report_from_store` / :func:`territory_report_from_store` gather the
  layers of the store and build the reports of :mod:`geo.stats.report` (data;
  :mod:`webmap.documents` renders them).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS
from geo.errors import AnalysisError
from geo.geometry import repair_polygons
from geo.stats.emerging import emerging_hotspots, space_time_cube
from geo.stats.hotspots import GiOptions, GridOptions, hotspots
from geo.stats.report import (
    CCTV_LAYER,
    CCTV_TITLE,
    Report,
    ReportOptions,
    build_quartier_report,
    build_territory_report,
    for_reader,
    withheld_section,
)
from layers._action_section import action_section
from layers._report_context import EDGE_REACH_M, add_address_context, square_bbox, with_edge_events
from layers._site_references import perimeter_boxes, site_addresses, site_points_noirs
from layers.errors import StoreAnalysisError
from layers.report_sources import dataset_spans, report_inputs, sources_section
from layers.samples import sample_note, sampled_datasets
from layers.schema import DISTINCT_CONSTATS, THEMES
from layers.source_coverage import hotspot_options
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = [
    "AnalysisRun",
    "HotspotRequest",
    "StoreAnalysisError",
    "analysis_events",
    "parse_period",
    "quartier_report_from_store",
    "run_key",
    "simulated_share",
    "store_hotspots",
    "territory_report_from_store",
]

#: Layers an analysis can read, with their time field.
EVENT_LAYERS = {"observations": "observed_at", "points_noirs": "observed_at"}
#: Minimum number of months for the emerging hot spot analysis.
EMERGING_MIN_MONTHS = 6


# --------------------------------------------------------------------------- period


def parse_period(text: str) -> tuple[date, date]:
    """Read a period « AAAA-MM:AAAA-MM » (months) or « AAAA-MM-JJ:AAAA-MM-JJ » (days).

    Parameters
    ----------
    text : str
        ``2023-09:2024-08`` covers 1 September 2023 to 31 August 2024 inclusive.

    Returns
    -------
    (date, date)
        First and last day, both included.

    Raises
    ------
    StoreAnalysisError
        When the text is not a period or ends before it starts.
    """
    parts = str(text).strip().split(":")
    if len(parts) != 2:
        raise StoreAnalysisError(
            f"Période « {text} » illisible : attendu AAAA-MM:AAAA-MM (ex. 2023-09:2024-08)."
        )
    bounds: list[date] = []
    for i, part in enumerate(p.strip() for p in parts):
        m = re.fullmatch(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?", part)
        try:
            if m is None:
                raise ValueError(part)
            y, mo = int(m.group(1)), int(m.group(2))
            if m.group(3):
                bounds.append(date(y, mo, int(m.group(3))))
            else:
                bounds.append(date(y, mo, 1 if i == 0 else calendar.monthrange(y, mo)[1]))
        except ValueError:
            raise StoreAnalysisError(
                f"Période « {text} » illisible : « {part} » n'est pas un mois AAAA-MM ni une date AAAA-MM-JJ."
            ) from None
    if bounds[1] < bounds[0]:
        raise StoreAnalysisError(f"Période « {text} » : la fin précède le début.")
    return bounds[0], bounds[1]


def _months(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _end_exclusive(end: date) -> str:
    return (pd.Timestamp(end) + pd.Timedelta(days=1)).date().isoformat()


# --------------------------------------------------------------------------- events


def _check_theme(theme: str | None) -> None:
    if theme is not None and theme not in THEMES:
        raise StoreAnalysisError(f"Thème inconnu « {theme} ». Thèmes : {', '.join(THEMES)}.")


def analysis_events(
    store: LayerStore,
    layer: str,
    *,
    start: date,
    end: date,
    theme: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Read the dated points an analysis works on.

    Parameters
    ----------
    store : LayerStore
        The store.
    layer : str
        ``observations`` (optionally of one ``theme``) or ``points_noirs`` (their
        dumping events, each placed at its site).
    start, end : date
        Period, both days included.
    theme : str, optional
        Observation theme (« dépôts sauvages »).
    bbox : tuple of float, optional
        Lambert-93 box the points must fall in.

    Returns
    -------
    geopandas.GeoDataFrame
        Points (EPSG:2154) with ``observed_at`` and, for points noirs, ``cleaned_at``,
        ``volume_m3`` and ``parent_uid``; ``simulated`` from the records.

    Raises
    ------
    StoreAnalysisError
        On an unknown layer or theme.
    """
    if layer not in EVENT_LAYERS:
        raise StoreAnalysisError(
            f"Couche « {layer} » non analysable : choisir parmi {', '.join(EVENT_LAYERS)}."
        )
    _check_theme(theme)
    end_x = _end_exclusive(end)
    if layer == "observations":
        where = {**DISTINCT_CONSTATS, **({"theme": theme} if theme else {})}
        return store.read("observations", start=start.isoformat(), end=end_x, where=where, bbox=bbox)
    sites = store.read("points_noirs", bbox=bbox)
    events = (store.read_children("points_noirs", "evenements", parent_uids=list(sites["uid"]),
                                  start=start.isoformat(), end=end_x) if len(sites) else pd.DataFrame())
    if events.empty:
        return gpd.GeoDataFrame({"observed_at": pd.Series([], dtype="datetime64[ns]"),
                                 "parent_uid": pd.Series([], dtype=object),
                                 "simulated": pd.Series([], dtype=bool)},
                                geometry=gpd.GeoSeries([], crs=TERRITORY_CRS), crs=TERRITORY_CRS)
    placed = events.merge(sites[["uid", "simulated", "geometry"]], left_on="parent_uid", right_on="uid",
                          suffixes=("", "_site"))
    return gpd.GeoDataFrame(placed.drop(columns=["uid_site"], errors="ignore"), geometry="geometry",
                            crs=sites.crs)


# --------------------------------------------------------------------------- stored hot spots


@dataclass(frozen=True)
class HotspotRequest:
    """Which events a stored hot spot analysis reads, over which period, and with which grid.

    Attributes
    ----------
    start, end : date
        Period, both days included.
    layer, theme : str
        Events analysed (see :func:`analysis_events`).
    quartier : str, optional
        One perimeter code; every stored perimeter otherwise.
    margin : float, default 200
        Grid margin around each perimeter, metres.
    bin_size : float, optional
        Bin size in metres (automatic when omitted).
    fdr : bool, default True
        False discovery rate correction of the p-values.
    alpha : float, default 0.05
        Significance level.
    """

    start: date
    end: date
    layer: str = "observations"
    theme: str | None = None
    quartier: str | None = None
    margin: float = 200.0
    bin_size: float | None = None
    fdr: bool = True
    alpha: float = 0.05


@dataclass(frozen=True)
class _Run:
    """What every stored record of one analysis run shares."""

    key: str
    layer: str
    start: date
    end: date
    run_at: datetime
    simulated: bool = False


def simulated_share(events: pd.DataFrame) -> float:
    """Share (0–1) of ``events`` flagged simulated; 0 when there are none.

    A Gi* result depends on every event of its quartier (the statistic compares each bin
    with the quartier's mean and variance), so the flag of a stored result is decided from
    the events of its own quartier: none simulated → real (``simulated = False``), all
    simulated → simulated, some → « en partie simulées » (``simulated = True`` and the
    share kept in the parameters as ``part_simulee``).
    """
    if not len(events) or "simulated" not in events.columns:
        return 0.0
    return float(events["simulated"].fillna(False).astype(bool).mean())


@dataclass
class AnalysisRun:
    """What :func:`store_hotspots` stored.

    Attributes
    ----------
    run_id : str
        Key of the run (same analysis, layer, theme, quartier and period → same key).
    n_events : int
        Events analysed.
    n_bins, n_hot, n_cold : int
        Gi* bins stored, of which hot / cold spots.
    n_emerging : int
        Bins of the emerging hot spot analysis stored (0 when not run).
    replaced : int
        Records of the previous run deleted.
    counts : pandas.Series
        Events per quartier in the analysis input (code → count).
    patterns : dict
        Emerging pattern (French) → number of bins.
    """

    run_id: str
    n_events: int
    n_bins: int
    n_hot: int
    n_cold: int
    n_emerging: int = 0
    replaced: int = 0
    counts: pd.Series = field(default_factory=lambda: pd.Series(dtype=int))
    patterns: dict[str, int] = field(default_factory=dict)


def run_key(layer: str, theme: str | None, quartier: str | None, start: date, end: date) -> str:
    """Stable key of a hot spot run: its layer, theme, quartier and period."""
    text = "|".join(["points chauds", layer, theme or "", quartier or "", start.isoformat(), end.isoformat()])
    return "pc-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _perimeters(store: LayerStore, quartier: str | None) -> gpd.GeoDataFrame:
    where = {"code": quartier} if quartier else None
    per = store.read("perimetres", where=where)
    if per.empty:
        if quartier:
            known = ", ".join(store.read("perimetres")["code"].astype(str))
            raise StoreAnalysisError(f"Quartier « {quartier} » absent de l'entrepôt (périmètres : {known}).")
        raise StoreAnalysisError("Aucun périmètre dans l'entrepôt.")
    repaired, _ = repair_polygons(per)
    return repaired


def _quartier_of(points: gpd.GeoDataFrame, per: gpd.GeoDataFrame) -> pd.Series:
    """Code of the first perimeter containing each point (``None`` outside all)."""
    xy = shapely.get_coordinates(points.geometry.to_numpy())
    out = np.full(len(points), None, dtype=object)
    for code, geom in zip(per["code"].astype(str), per.geometry, strict=True):
        inside = shapely.contains_xy(geom, xy[:, 0], xy[:, 1]) & (out == None)  # noqa: E711
        out[inside] = code
    return pd.Series(out, index=points.index, dtype=object)


def store_hotspots(store: LayerStore, request: HotspotRequest, *, actor: str | None = None) -> AnalysisRun:
    """Run Gi* (and emerging hot spots over ≥ 6 months) and store the bins in ``analyses``.

    Each quartier (or the one given) is analysed on its own hexagonal grid covering the
    perimeter plus ``margin``; the bins are stored as polygons with ``z_score``,
    ``p_value`` (FDR-adjusted when ``fdr``), ``category`` (« point chaud »…), ``value``
    (events), ``run_id``, ``quartier``, the period and the parameters (JSON). The
    emerging analysis adds one record per bin with its pattern as ``category`` and the
    Mann–Kendall trend as ``z_score`` / ``p_value``. Records of a previous run with the
    same key (:func:`run_key`) are deleted first, in the same transaction.

    Parameters
    ----------
    store : LayerStore
        Source of the events and destination of the results.
    request : HotspotRequest
        Events (layer, theme, quartier), period and grid/test options.
    actor : str, optional
        Who runs the analysis.

    Returns
    -------
    AnalysisRun

    Raises
    ------
    StoreAnalysisError
        When no quartier has enough events for the analysis.
    """
    req = request
    layer, start, end, margin = req.layer, req.start, req.end, req.margin
    per = _perimeters(store, req.quartier)
    xmin, ymin, xmax, ymax = per.total_bounds
    bbox = (xmin - margin, ymin - margin, xmax + margin, ymax + margin)
    events = analysis_events(store, layer, start=start, end=end, theme=req.theme, bbox=bbox)
    key = run_key(layer, req.theme, req.quartier, start, end)
    months = _months(start, end)
    frames: list[gpd.GeoDataFrame] = []
    patterns: dict[str, int] = {}
    n_emerging = 0
    run = _Run(key=key, layer=layer, start=start, end=end,
               run_at=datetime.now(UTC).replace(microsecond=0, tzinfo=None))
    for code, geom in zip(per["code"].astype(str), per.geometry, strict=True):
        zone = geom.buffer(margin)
        xy = shapely.get_coordinates(events.geometry.to_numpy())
        pts = events.iloc[np.flatnonzero(shapely.contains_xy(zone, xy[:, 0], xy[:, 1]))]
        if len(pts) < 3:
            logger.info("quartier %s: %d events, no hot spot analysis", code, len(pts))
            continue
        try:
            res = hotspots(pts, area=geom, grid=GridOptions(size=req.bin_size, margin=margin),
                           gi=GiOptions(fdr=req.fdr, alpha=req.alpha))
        except AnalysisError as exc:
            logger.info("quartier %s: %s", code, exc)
            continue
        share = simulated_share(pts)
        quartier_run = replace(run, simulated=share > 0)
        params = {"analyse": "Gi*", "couche": layer, "theme": req.theme,
                  "bin_size": res.attrs.get("bin_size"), "marge_m": margin, "fdr": req.fdr,
                  "alpha": req.alpha, "evenements": len(pts),
                  "p_value": "ajustée FDR" if req.fdr else "brute", "part_simulee": round(share, 4)}
        frames.append(_records(res, quartier_run, "points chauds", code, params,
                               values=(res["hotspot"], res["count"], res["gi_z"], res["gi_q"])))
        if months >= EMERGING_MIN_MONTHS:
            try:
                cube = space_time_cube(pts, time_field="observed_at", freq="M", start=start, end=end,
                                       bins=res[["geometry", "x", "y"]].copy() if "x" in res.columns
                                       else res[["geometry"]].copy())
                ehsa = emerging_hotspots(cube, fdr=req.fdr, alpha=req.alpha)
            except AnalysisError as exc:
                logger.info("quartier %s: no emerging analysis (%s)", code, exc)
            else:
                eparams = {**params, "analyse": "points chauds émergents", **ehsa.parameters}
                b = ehsa.bins
                frames.append(_records(b, quartier_run, "points chauds émergents", code, eparams,
                                       values=(b["pattern_fr"], b["total"], b["trend_z"], b["trend_p"])))
                n_emerging += len(b)
                for k, v in b["pattern_fr"].value_counts().items():
                    patterns[str(k)] = patterns.get(str(k), 0) + int(v)
    if not frames:
        raise StoreAnalysisError(
            f"Pas assez d'événements ({len(events)} dans la zone) pour l'analyse des points chauds "
            f"sur la période {start:%m/%Y}–{end:%m/%Y}."
        )
    records = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=TERRITORY_CRS)
    previous = store.read("analyses", where={"run_id": key})
    with store.transaction():
        replaced = store.delete("analyses", list(previous["uid"])) if len(previous) else 0
        store.write("analyses", records, actor=actor)
    gi = records[records["analysis"] == "points chauds"]
    counts = _quartier_of(events, per).value_counts() if len(events) else pd.Series(dtype=int)
    logger.info("hot spots %s: %d bins stored, %d replaced", key, len(records), replaced)
    return AnalysisRun(run_id=key, n_events=len(events), n_bins=len(gi),
                       n_hot=int((gi["category"] == "point chaud").sum()),
                       n_cold=int((gi["category"] == "point froid").sum()), n_emerging=n_emerging,
                       replaced=int(replaced), counts=counts, patterns=patterns)


def _records(
    bins: gpd.GeoDataFrame, run: _Run, analysis: str, code: str, params: dict[str, Any], *,
    values: tuple[pd.Series, pd.Series, pd.Series, pd.Series],
) -> gpd.GeoDataFrame:
    """Return the ``analyses`` records of one quartier's bins: category, value, z-score and p-value each."""
    category, value, z, p = values
    key, layer, start, end, run_at, simulated = (run.key, run.layer, run.start, run.end, run.run_at,
                                                 run.simulated)
    n = len(bins)
    tag = "gi" if analysis == "points chauds" else "ehsa"
    text = json.dumps(params, ensure_ascii=False, default=str)
    return gpd.GeoDataFrame(
        {
            "uid": [f"{key}-{code}-{tag}-{i}" for i in range(n)],
            "source_dataset": "analyse", "source_id": key, "simulated": simulated,
            "analysis": analysis, "run_id": key, "source_layer": layer, "quartier": code,
            "period_start": start.isoformat(), "period_end": end.isoformat(), "run_at": run_at.isoformat(),
            "category": category.astype(str).to_numpy(), "value": value.to_numpy(dtype=float),
            "z_score": z.to_numpy(dtype=float), "p_value": p.to_numpy(dtype=float), "params": text,
        },
        geometry=bins.geometry.to_numpy(), crs=bins.crs or TERRITORY_CRS,
    )


# --------------------------------------------------------------------------- reports


def covered_by_events(store: LayerStore, layer: str, geoms: Sequence[BaseGeometry]) -> np.ndarray:
    """Tell, for each geometry, whether the store holds an event of ``layer`` inside (any theme or date).

    A quartier with none lies outside every source of events: a citizen-report or
    diagnostic source that covers a QPV always holds something there, so its counts are
    unknown, not 0. The events are read once, in the geometries' common bounds.
    """
    if not len(geoms):
        return np.zeros(0, dtype=bool)
    bbox = tuple(shapely.total_bounds(np.asarray(geoms, dtype=object)))
    events = store.read(layer, bbox=bbox)
    covered = np.zeros(len(geoms), dtype=bool)
    if events.empty:
        return covered
    points = shapely.point_on_surface(events.geometry.to_numpy())
    hit, _ = shapely.STRtree(points).query(np.asarray(geoms, dtype=object), predicate="contains")
    covered[np.unique(hit)] = True
    return covered


def _any_inside(events: gpd.GeoDataFrame, geom: BaseGeometry) -> bool:
    if events.empty:
        return False
    xy = shapely.get_coordinates(shapely.point_on_surface(events.geometry.to_numpy()))
    return bool(shapely.contains_xy(geom, xy[:, 0], xy[:, 1]).any())


def _uncovered_codes(store: LayerStore, layer: str, per: gpd.GeoDataFrame) -> tuple[str, ...]:
    """Codes of the perimeters no source of events covers (no event of any theme or date inside)."""
    covered = covered_by_events(store, layer, list(per.geometry))
    return tuple(code for code, ok in zip(per["code"].astype(str), covered, strict=True) if not ok)


def _events_for_report(
    store: LayerStore, layer: str, theme: str | None, start: date, end: date,
    bbox: tuple[float, float, float, float] | None,
) -> tuple[gpd.GeoDataFrame, str, str]:
    """Events of the report, the layer actually used and their French label.

    ``auto`` takes the dumping events of the points noirs when there are some in the
    zone and period, the observations of ``theme`` otherwise.
    """
    if layer == "auto":
        pn = analysis_events(store, "points_noirs", start=start, end=end, bbox=bbox)
        if len(pn):
            return pn, "points_noirs", "dépôts constatés aux points noirs"
        layer = "observations"
    events = analysis_events(store, layer, start=start, end=end, theme=theme, bbox=bbox)
    label = (theme or "constats") if layer == "observations" else "dépôts constatés aux points noirs"
    return events, layer, label


def _points_noirs(
    store: LayerStore, bbox: tuple[float, float, float, float], readable: Collection[str] | None
) -> gpd.GeoDataFrame | None:
    """Known points noirs around the quartier, indexed by uid (None when withheld or none)."""
    if _withheld(readable, "points_noirs"):
        return None
    sites = store.read("points_noirs", bbox=bbox)
    if sites.empty:
        return None
    return sites.set_index(sites["uid"].astype(str)) if "uid" in sites.columns else sites


def _withheld(readable: Collection[str] | None, layer: str) -> bool:
    """Tell whether ``layer`` is kept from the report's reader (``readable`` None: none is)."""
    return readable is not None and layer not in readable


def _context(
    report: Report, store: LayerStore, geom: Any, start: date, end: date,
    readable: Collection[str] | None = None,
) -> None:
    """Add the equipment and reference counts of the zone (bacs, lighting, addresses…) to ``report``.

    A layer withheld from the reader (not in ``readable``) is not read: its row says so.
    """
    bbox = tuple(geom.bounds)
    end_x = _end_exclusive(end)
    rows = []

    def inside(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        if frame.empty:
            return frame
        return frame[frame.intersects(geom)]

    # the camera sites are counted in the restricted « Vidéoprotection » section (issue 16 part D)
    for layer, label in (("adresses", "Adresses"), ("eclairage", "Points lumineux"),
                         ("batiments", "Bâtiments")):
        count = None if _withheld(readable, layer) else len(inside(store.read(layer, bbox=bbox)))
        rows.append({"Élément": label, "Nombre": "non communiqué (couche confidentielle)" if count is None
                     else count})
    bacs = inside(store.read("bacs", bbox=bbox)) if not _withheld(readable, "bacs") else gpd.GeoDataFrame()
    rows.append({"Élément": "Bacs et points d'apport", "Nombre": len(bacs)})
    if len(bacs):
        releves = store.read_children("bacs", "releves", parent_uids=list(bacs["uid"]),
                                      start=start.isoformat(), end=end_x)
        if len(releves):
            fill = pd.to_numeric(releves["fill_pct"], errors="coerce")
            report.key_figures["Remplissage moyen des bacs suivis (%)"] = float(fill.mean())
            report.key_figures["Relevés de remplissage ≥ 90 %"] = int((fill >= 90).sum())
    if not _withheld(readable, "diagnostics"):
        diags = inside(store.read("diagnostics", bbox=bbox, start=start.isoformat(), end=end_x))
        rows.append({"Élément": "Diagnostics en marchant (période)", "Nombre": len(diags)})
    obs = inside(store.read("observations", bbox=bbox, start=start.isoformat(), end=end_x,
                            where=DISTINCT_CONSTATS))
    rows.append({"Élément": "Constats et signalements (période)", "Nombre": len(obs)})
    report.tables["Équipements et référentiels du quartier"] = pd.DataFrame(rows)
    if len(obs):
        by_theme = obs["theme"].value_counts().rename_axis("Thème").reset_index(name="Constats")
        report.tables["Constats par thème sur la période"] = by_theme


#: hot spot grid of a quartier report: automatic bin size, 200 m around the quartier
REPORT_GRID = GridOptions(margin=200.0)


def quartier_report_from_store(
    store: LayerStore,
    code: str,
    *,
    start: date,
    end: date,
    layer: str = "auto",
    theme: str | None = "dépôts sauvages",
    grid: GridOptions = REPORT_GRID,
    readable: Collection[str] | None = None,
) -> Report:
    """Build the report of one quartier from the layers of the store.

    Parameters
    ----------
    store : LayerStore
        Reads ``perimetres``, ``observations``, ``points_noirs`` (and their events),
        ``bacs`` (and their readings), ``videoprotection``, ``batiments``, ``voies``,
        ``adresses``, ``eclairage`` and ``diagnostics``.
    code : str
        Perimeter code (a QPV, or a quartier such as a whole arrondissement).
    start, end : date
        Period, both days included.
    layer : str
        Events analysed: ``auto`` (points noirs events when there are some, else the
        observations of ``theme``), ``observations`` or ``points_noirs``.
    theme : str, optional
        Observation theme analysed (« dépôts sauvages »; ``None``: every observation).
    grid : GridOptions
        Hot spot grid: bin size (None: automatic) and margin around the quartier (metres;
        200 by default, :data:`REPORT_GRID`); a :class:`geo.stats.report.HotspotSettings`
        also chooses the Gi* inference and Local Moran's I. The grid is restricted to the
        coverage of the events' source (:func:`layers.source_coverage.source_coverage`).
    readable : collection of str, optional
        Layers the reader of the report may see (None: every layer). A confidential layer
        outside it (``videoprotection`` for a lecteur) is not read: its section (« Vidéoprotection »,
        :attr:`~geo.stats.report.ReportSection.restricted`) is only a notice saying that it exists
        and who may read it (:func:`geo.stats.report.for_reader` names the roles), instead of
        computing its figures or of saying « no camera ».
        Without ``actions`` in it, the report has no « Plan d'actions » section.

    Returns
    -------
    geo.stats.report.Report

    Raises
    ------
    StoreAnalysisError
        On an unknown quartier, layer or theme. A quartier with no event on the period gets
        its report all the same (« aucun événement sur la période », counts of 0, the other
        sections filled); one with no event of any theme or date inside it lies outside every
        source of events: its counts are « n.d. », not 0 (:func:`covered_by_events`).
    """
    if layer not in ("auto", *EVENT_LAYERS):
        raise StoreAnalysisError(f"Couche « {layer} » non analysable : auto, {', '.join(EVENT_LAYERS)}.")
    _check_theme(theme)
    per = _perimeters(store, code)
    geom = shapely.union_all(per.geometry.to_numpy())
    margin, bin_size = grid.margin, grid.size
    zone = geom.buffer(max(margin, 0.0) + 100.0)
    bbox = zone.bounds
    since = _year_before(start)  # issue 16 part C: the N-1 columns read the previous year too
    events, used, label = _events_for_report(store, layer, theme, since, end, bbox)
    cams = gpd.GeoDataFrame() if _withheld(readable, "videoprotection") else store.read("videoprotection",
                                                                                         bbox=bbox)
    cams = cams[cams["status"].fillna("installée") != "hors service"] if len(cams) else cams
    streets = store.read("voies", bbox=square_bbox(bbox))  # the maps fill their frame around the zone
    buildings = store.read("batiments", bbox=square_bbox(bbox))
    observations = store.read("observations", bbox=bbox, start=since.isoformat(), end=_end_exclusive(end),
                              where=DISTINCT_CONSTATS)
    diagnostics = None if _withheld(readable, "diagnostics") else store.read("diagnostics", bbox=bbox)
    spans = _report_spans(store, used, per, readable)
    inputs = report_inputs(spans, quartier=str(code))
    simulated = bool(events["simulated"].fillna(False).astype(bool).any())
    # no event at all around the quartier (any theme, any date): no source covers it
    # the period's events already inside answer without reading the layer again
    covered = _any_inside(events, geom) or bool(covered_by_events(store, used, [geom])[0])
    points_noirs = _points_noirs(store, bbox, readable)
    stats = hotspot_options(store, used, events, geom.buffer(max(margin, 0.0)), grid)  # issue 16 part B
    try:
        options = ReportOptions(
            start=pd.Timestamp(start), end=pd.Timestamp(end), margin=margin, bin_size=bin_size,
            simulated=simulated, label=label, events_covered=covered,
            cleaned_field="cleaned_at" if "cleaned_at" in events.columns else None,
            volume_field="volume_m3" if "volume_m3" in events.columns else None,
            points_noirs=points_noirs, addresses=site_addresses(store, [bbox], readable),
            **stats,
            as_of=inputs.as_of, sample_datasets=inputs.sample_datasets,
            covered_since=inputs.covered_since, observations_since=inputs.observations_since,
            diagnostics=diagnostics,
        )
        report = build_quartier_report(
            with_edge_events(events, analysis_events(
                store, used, start=start, end=end, theme=theme if used == "observations" else None,
                bbox=geom.buffer(max(margin, 0.0) + EDGE_REACH_M).bounds)),
            per, code=code, options=options, streets=streets if len(streets) else None,
            buildings=buildings if len(buildings) else None,
            cameras=None if _withheld(readable, CCTV_LAYER) else cams,
            observations=observations if len(observations) else None,
        )
    except AnalysisError as exc:
        raise StoreAnalysisError(f"Rapport du quartier {code} : {exc}") from exc
    report.method["Couche analysée"] = used
    if used == "observations" and theme:
        report.method["Thème"] = theme
    if _withheld(readable, CCTV_LAYER):  # not read: the notice says the section exists and who reads it
        report.sections.append(withheld_section(CCTV_TITLE, CCTV_LAYER))
    _context(report, store, geom, start, end, readable)
    add_address_context(report, store, bbox)  # issue 16 part A: map background where no streets
    if not _withheld(readable, "actions"):
        report.sections.append(action_section(store, code, geom, start=start, end=end))
    report.sections.append(sources_section(spans, start=start, end=end, quartiers=[str(code)]))
    sample = sample_note(events, sampled_datasets(store))
    if sample:
        report.notes.insert(0, sample)
    report.sections.sort(key=lambda s: s.restricted is not None)  # confidential sections last
    return for_reader(report, readable)


def _coverages(
    store: LayerStore, layer: str, events: gpd.GeoDataFrame, per: gpd.GeoDataFrame
) -> dict[str, tuple[BaseGeometry | None, bool]]:
    """Coverage of each quartier's events, as its quartier report takes it (issue 16 part B)."""
    out = {}
    for code, geom in zip(per["code"].astype(str), per.geometry, strict=True):
        zone = geom.buffer(REPORT_GRID.margin)
        near = events.iloc[np.flatnonzero(events.intersects(zone).to_numpy())] if len(events) else events
        stats = hotspot_options(store, layer, near, zone, GridOptions())
        out[code] = (stats["coverage"], bool(stats["coverage_fallback"]))
    return out


def _year_before(start: date) -> date:
    """Return the same day one year earlier (28 February for a 29 February)."""
    return (pd.Timestamp(start) - pd.DateOffset(years=1)).date()


def _report_spans(
    store: LayerStore, events_layer: str, per: gpd.GeoDataFrame, readable: Collection[str] | None
) -> dict[str, list[Any]]:
    """Return the data sets behind a report by kind (events, observations, diagnostics), withheld out."""
    samples = sampled_datasets(store)
    kinds = {"events": events_layer, "observations": "observations", "diagnostics": "diagnostics"}
    if events_layer == "observations":
        del kinds["observations"]
    return {kind: dataset_spans(store, layer, per, samples=samples) for kind, layer in kinds.items()
            if not _withheld(readable, layer)}


def territory_report_from_store(
    store: LayerStore,
    *,
    start: date,
    end: date,
    layer: str = "observations",
    theme: str | None = "dépôts sauvages",
    codes: list[str] | None = None,
    commune: str | None = None,
    bin_size: float | None = None,
) -> Report:
    """Build the territory report comparing the stored quartiers.

    Parameters
    ----------
    store : LayerStore
        Reads ``perimetres``, the events, and the ``points_noirs`` and ``adresses`` that name
        and locate the recurrent sites.
    start, end : date
        Period, both days included.
    layer, theme : str
        Events compared (see :func:`analysis_events`).
    codes : list of str, optional
        Only these perimeters.
    commune : str, optional
        Only the perimeters whose ``communes`` mention this text (« Montpellier »).
    bin_size : float, optional
        Bin size of the territory-wide hot spot map.

    Returns
    -------
    geo.stats.report.Report

    Raises
    ------
    StoreAnalysisError
        When no perimeter is selected. A period with no event gets its report (every
        quartier at 0, no hot spot map).
    """
    _check_theme(theme)
    per = _perimeters(store, None)
    if codes:
        per = per[per["code"].astype(str).isin(codes)]
    if commune:
        per = per[per["communes"].fillna("").str.contains(commune, case=False, regex=False)]
    if per.empty:
        raise StoreAnalysisError("Aucun périmètre ne correspond à la sélection.")
    xmin, ymin, xmax, ymax = per.total_bounds
    events = analysis_events(store, layer, start=start, end=end, theme=theme,
                             bbox=(xmin - 500, ymin - 500, xmax + 500, ymax + 500))
    simulated = bool(events["simulated"].fillna(False).astype(bool).any())
    title = f"Comparaison des quartiers — {theme or layer}"
    try:
        boxes = perimeter_boxes(per, 500.0)
        spans = {"territory": dataset_spans(store, layer, per, samples=sampled_datasets(store))}
        options = ReportOptions(start=pd.Timestamp(start), end=pd.Timestamp(end), bin_size=bin_size,
                                coverages=_coverages(store, layer, events, per),
                                simulated=simulated, uncovered_codes=_uncovered_codes(store, layer, per),
                                points_noirs=site_points_noirs(store, boxes),
                                addresses=site_addresses(store, boxes),
                                sample_datasets=report_inputs(spans).sample_datasets)
        report = build_territory_report(events, per, options=options, title=title)
    except AnalysisError as exc:
        raise StoreAnalysisError(f"Rapport du territoire : {exc}") from exc
    report.sections.append(sources_section(spans, start=start, end=end,
                                           quartiers=list(per["code"].astype(str))))
    sample = sample_note(events, sampled_datasets(store))
    if sample:
        report.notes.insert(0, sample)
    return report

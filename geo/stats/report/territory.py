"""The territory report: :func:`build_territory_report` compares the quartiers."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import to_territory_crs
from geo.errors import AnalysisError
from geo.stats.binning import MIN_NONEMPTY_CELLS, count_in_bins
from geo.stats.hotspots import getis_ord
from geo.stats.indicators import (
    assign_quartier,
)
from geo.stats.recurrence import Recurrence
from geo.stats.report._hotspot_sections import MIN_GI_EVENTS, gi_support, quartier_grid
from geo.stats.report._period import filter_period
from geo.stats.report._recurrence_section import (
    SITE_METHOD,
    SITE_NAMES,
    persistence_figure,
    run_recurrence,
    site_table,
)
from geo.stats.report.flags import FLAG_COLUMN, row_flags
from geo.stats.report.model import (
    MIN_HOTSPOT_EVENTS,
    BarChart,
    QuartierPanel,
    QuartierPanels,
    Report,
    ReportOptions,
)

logger = logging.getLogger(__name__)


def build_territory_report(
    events: gpd.GeoDataFrame,
    perimeters: gpd.GeoDataFrame,
    *,
    options: ReportOptions | None = None,
    title: str = "Comparaison des quartiers",
) -> Report:
    """Compare the quartiers of a territory over a period.

    Parameters
    ----------
    events : geopandas.GeoDataFrame
        Dated events, any CRS.
    perimeters : geopandas.GeoDataFrame
        Quartier perimeters.
    options : ReportOptions, optional
        Period, column names, ``margin``, ``bin_size``, ``recurrence_radius``,
        ``cleaned_field``, ``points_noirs``, ``addresses`` and ``simulated`` as in
        :func:`build_quartier_report` (the other options are not used): the recurrent sites
        are named by their point noir, the others located by the nearest address.
    title : str
        Report title.

    Returns
    -------
    Report
        Comparison table, horizontal bar chart and one hot spot map per quartier (small
        multiples: each quartier's Gi* on its own grid and margin, as in its quartier
        report; never one grid spanning the regions), and the most recurrent sites of the quartiers.

    Raises
    ------
    AnalysisError
        When no event is dated in the period.
    """
    opts = options or ReportOptions()
    code_field = opts.code_field
    ev, t0, t1 = filter_period(events, opts.time_field, opts.start, opts.end)
    ev = to_territory_crs(ev)
    per = to_territory_crs(perimeters)
    codes = assign_quartier(ev, per, code_field=code_field)
    cleaned = opts.cleaned_field if opts.cleaned_field in ev.columns else None
    rec = run_recurrence(ev, per, (t0, t1), cleaned, opts)
    panels = [_panel(ev, per.iloc[[i]], opts) for i in range(len(per))]
    hot = _panels_bins(panels)
    months = max(len(pd.period_range(t0, t1, freq="M")), 1)
    per_codes = per[code_field].astype(str)
    names = per[opts.name_field].astype(str) if opts.name_field in per.columns else per_codes
    rows = [_comparison_row(code_value, name, geom, codes, rec, panel.bins, months=months)
            for code_value, name, geom, panel in zip(per_codes, names, per.geometry, panels, strict=True)]
    table = pd.DataFrame(rows)
    uncovered = table["Quartier"].isin(opts.uncovered_codes)
    if uncovered.any():  # no source of events there: unknown, not 0
        unknown = ["Événements", "Par km² et par mois", "Mailles en point chaud", "Sites récurrents",
                   "Part de sites récurrents"]
        table[unknown] = table[unknown].astype(object)
        table.loc[uncovered, unknown] = None
    # issue 16 part C: each row says what its figures rest on (real, simulated, sample)
    flags = row_flags(ev, codes, pd.Index(per_codes), samples=opts.sample_datasets, default=None)
    table[FLAG_COLUMN] = ["aucune source" if off else (flag or "n.d.")
                          for flag, off in zip(flags, uncovered, strict=True)]
    report = Report(title=title, period=(t0, t1), simulated=opts.simulated)
    if uncovered.any():
        report.notes.append(f"Aucune source d'événements ne couvre {int(uncovered.sum())} quartier(s) "
                            f"({', '.join(table.loc[uncovered, 'Quartier'])}) : aucun événement, de tout "
                            "thème et de toute date, autour d'eux dans l'entrepôt ; leurs chiffres sont "
                            "inconnus (n.d.), pas nuls.")
    report.results.update({"recurrence": rec, "quartier_of_event": codes})
    report.key_figures.update({
        "Événements sur le territoire": len(ev),
        "Dont dans un quartier": int(codes.notna().sum()),
        # issue 16 part C: what the total mixes
        "Dont simulés": _simulated(ev),
        "Dont issus d'un échantillon": _from_sample(ev, opts.sample_datasets),
        "Mailles en point chaud (dans les quartiers)": (
            int(((hot["gi_bin"] > 0) & hot["in_quartier"].astype(bool)).sum()) if hot is not None else None),
    })
    if len(ev):
        shown = table[~uncovered].sort_values("Par km² et par mois", ascending=False)
        report.figures.append(BarChart(
            "comparaison", "Densité mensuelle des événements par quartier",
            # each bar says what its data are (réelles, simulées, échantillon): one chart mixes them
            labels=[(f"{n} ({c})" if n != c else c) + f" — {flag}"
                    for n, c, flag in zip(shown["Nom"], shown["Quartier"], shown[FLAG_COLUMN], strict=True)],
            values=shown["Par km² et par mois"].to_numpy(dtype=float),
            ylabel="événements / km² / mois", horizontal=True,
        ))
    with_events = [p for p in panels if len(p.points) and p.code not in opts.uncovered_codes]
    if hot is not None and with_events:
        report.results["hotspots"] = hot
        report.figures.append(QuartierPanels(
            "hotspots", "Points chauds par quartier (Gi*)", panels=with_events,
            omitted=[p.code for p in panels if p not in with_events],
        ))
        short = [f"{p.name} ({p.code})" for p in with_events if p.bins is None]
        if short:
            report.notes.append(
                f"Gi* non calculé pour {len(short)} quartier(s) : {', '.join(short)}. Il faut au moins "
                f"{MIN_GI_EVENTS} événements et {MIN_NONEMPTY_CELLS} mailles non vides autour d'un quartier "
                "(ou 3 lieux distincts) ; en deçà, une statistique Gi* désignerait des points chauds "
                "au hasard.")
    else:
        report.notes.append("Aucun événement sur la période : pas de carte des points chauds ni de graphique."
                            if ev.empty else f"Trop peu d'événements ({len(ev)}) sur la période pour les "
                            "points chauds : pas de carte des points chauds.")
    report.tables["Comparaison des quartiers"] = table
    _territory_sites(report, rec, table.loc[uncovered, "Quartier"], every_uncovered=bool(uncovered.all()))
    report.method.update({
        "Projection": "RGF93 / Lambert-93 (EPSG:2154)",
        "Mailles": _bin_sizes(panels),
        "Correction des tests multiples": "taux de fausses découvertes (Benjamini–Hochberg)",
        "Rayon de regroupement des sites (m)": opts.recurrence_radius,
        "Regroupement des sites": SITE_METHOD,
        "Noms des sites": SITE_NAMES,
        "Marge (m)": opts.margin,
    })
    report.caveats.append("Les densités rapportent les événements à la surface du périmètre, pas à la "
                          "population ni au linéaire de voirie.")
    return report


#: Most recurrent sites listed in the territory report.
TERRITORY_TOP_SITES = 15


def _territory_sites(report: Report, rec: Recurrence, uncovered: pd.Series, *, every_uncovered: bool) -> None:
    """Key figures and table of the recurrent sites of the quartiers (those no source covers left out).

    When no source covers any quartier, the counts are unknown (None, « n.d. »), not 0.
    """
    sites = rec.sites[rec.sites["quartier"].notna() & ~rec.sites["quartier"].isin(list(uncovered))]
    label, value = persistence_figure(sites)
    recurrent = sites[sites["n_events"] >= 2]
    report.key_figures["Sites récurrents dans les quartiers (≥ 2 événements)"] = (
        None if every_uncovered else len(recurrent))
    report.key_figures[label] = None if every_uncovered else value
    if len(recurrent):
        report.tables["Sites les plus récurrents des quartiers"] = site_table(
            recurrent, top=TERRITORY_TOP_SITES, quartier=True)


def _panel(ev: gpd.GeoDataFrame, row: gpd.GeoDataFrame, opts: ReportOptions) -> QuartierPanel:
    """One quartier's map: its events within the margin and its own Gi* (as in its quartier report)."""
    code = str(row[opts.code_field].iloc[0])
    name = str(row[opts.name_field].iloc[0]) if opts.name_field in row.columns else code
    geom = row.geometry.iloc[0]
    zone = geom.buffer(opts.margin)
    xy = np.column_stack([ev.geometry.x.to_numpy(), ev.geometry.y.to_numpy()]).reshape(-1, 2)
    near = shapely.contains_xy(zone, xy[:, 0], xy[:, 1]) if len(xy) else np.zeros(0, dtype=bool)
    bins, note = None, None
    if near.sum() < MIN_HOTSPOT_EVENTS:
        note = "Gi* : données insuffisantes"
    else:
        try:  # the quartier report's own grid and conditions (same cells, counts and z)
            cov, fallback = (opts.coverages or {}).get(code, (opts.coverage, opts.coverage_fallback))
            own = replace(opts, coverage=cov, coverage_fallback=fallback)
            grid = quartier_grid(ev.iloc[np.flatnonzero(near)], geom, own)
        except AnalysisError as exc:  # events on fewer than 3 distinct sites: no bin size
            logger.info("quartier %s: no Gi* (%s)", code, exc)
            note = "Gi* : moins de 3 lieux distincts"
        else:
            counted = count_in_bins(grid, ev)  # every event counts in the cells, not only the margin's
            reason = gi_support(xy[near], counted)
            if reason is not None:
                note = "Gi* : données insuffisantes"  # short: it titles a small panel
                logger.info("quartier %s: no Gi* (%s)", code, reason)
            else:
                bins = getis_ord(counted, fdr=opts.fdr)
                bins.insert(0, "quartier", pd.array([code] * len(bins), dtype=object))
                bins["in_quartier"] = shapely.contains_xy(geom, bins["x"].to_numpy(), bins["y"].to_numpy())
    return QuartierPanel(code=code, name=name, outline=geom, bins=bins, points=xy[near], note=note)


def _panels_bins(panels: list[QuartierPanel]) -> gpd.GeoDataFrame | None:
    """Return the Gi* bins of every quartier in one frame (None when no quartier has any)."""
    frames = [p.bins for p in panels if p.bins is not None]
    if not frames:
        return None
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=frames[0].crs)
    return out


def _bin_sizes(panels: list[QuartierPanel]) -> str:
    """Describe the hexagon sizes of the quartiers' grids, for the method note."""
    sizes = sorted({round(float(p.bins.attrs.get("bin_size", np.nan))) for p in panels
                    if p.bins is not None and np.isfinite(p.bins.attrs.get("bin_size", np.nan))})
    if not sizes:
        return "non calculées"
    if len(sizes) == 1:
        return f"hexagones de {sizes[0]} m, une grille par quartier et sa marge"
    return f"hexagones de {sizes[0]} à {sizes[-1]} m selon le quartier, une grille par quartier et sa marge"


def _simulated(events: pd.DataFrame) -> int | None:
    """Events flagged simulated (None when the records carry no flag)."""
    if "simulated" not in events.columns:
        return None
    return int(events["simulated"].astype("boolean").fillna(False).astype(bool).sum())


def _from_sample(events: pd.DataFrame, samples: tuple[str, ...]) -> int | None:
    """Events from a data set declared a sample (None when the records name no data set)."""
    if "source_dataset" not in events.columns:
        return None
    return int(events["source_dataset"].astype(str).isin(list(samples)).sum())


def _comparison_row(
    code: str, name: str, geom: BaseGeometry, codes: pd.Series, rec: Any, hot: gpd.GeoDataFrame | None, *,
    months: int,
) -> dict[str, Any]:
    """One quartier's row of the territory comparison (hot bins None when its Gi* was not computed)."""
    n = int((codes == code).sum())
    q = rec.quartiers[rec.quartiers["quartier"] == code]
    hot_bins = None
    if hot is not None:  # the quartier's own Gi* bins, those centred inside it
        hot_bins = int((hot.loc[hot["in_quartier"].to_numpy(dtype=bool), "gi_bin"] > 0).sum())
    return {
        "Quartier": code,
        "Nom": name,
        "Surface (km²)": geom.area / 1e6,
        "Événements": n,
        "Par km² et par mois": n / (geom.area / 1e6) / months,
        "Mailles en point chaud": hot_bins,
        "Sites récurrents": int(q["recurrent_sites"].iloc[0]) if len(q) else 0,
        "Part de sites récurrents": float(q["recurrent_share"].iloc[0]) if len(q) and n else None,
    }

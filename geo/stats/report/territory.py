"""The territory report: :func:`build_territory_report` compares the quartiers."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import to_territory_crs
from geo.stats.hotspots import GridOptions, hotspots
from geo.stats.indicators import (
    assign_quartier,
)
from geo.stats.recurrence import RecurrenceOptions, recurrence
from geo.stats.report._period import filter_period
from geo.stats.report._recurrence_section import SITE_METHOD
from geo.stats.report.flags import FLAG_COLUMN, row_flags
from geo.stats.report.model import MIN_HOTSPOT_EVENTS, BarChart, HotspotMap, MapLayers, Report, ReportOptions

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
        Period, column names, ``margin``, ``bin_size``, ``recurrence_radius`` and
        ``simulated`` as in :func:`build_quartier_report` (the other options are not used).
    title : str
        Report title.

    Returns
    -------
    Report
        Comparison table, chart and territory-wide hotspot map.

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
    rec_opts = RecurrenceOptions(radius=opts.recurrence_radius, time_field=opts.time_field,
                                 cleaned_field=None)
    rec = recurrence(ev, options=rec_opts,
                     perimeters=per, code_field=code_field, start=t0, end=t1)
    hot = hotspots(ev, grid=GridOptions(size=opts.bin_size)) if len(ev) >= MIN_HOTSPOT_EVENTS else None
    months = max(len(pd.period_range(t0, t1, freq="M")), 1)
    per_codes = per[code_field].astype(str)
    names = per[opts.name_field].astype(str) if opts.name_field in per.columns else per_codes
    rows = [_comparison_row(code_value, name, geom, codes, rec, hot, months=months)
            for code_value, name, geom in zip(per_codes, names, per.geometry, strict=True)]
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
        "Mailles en point chaud (territoire)": int((hot["gi_bin"] > 0).sum()) if hot is not None else None,
    })
    if len(ev):
        report.figures.append(BarChart(
            "comparaison", "Densité mensuelle des événements par quartier",
            labels=list(table.loc[~uncovered, "Quartier"]),
            values=table.loc[~uncovered, "Par km² et par mois"].to_numpy(dtype=float),
            ylabel="événements / km² / mois",
        ))
    if hot is not None:
        report.results["hotspots"] = hot
        xy = np.column_stack([ev.geometry.x.to_numpy(), ev.geometry.y.to_numpy()])
        report.figures.append(HotspotMap(
            "hotspots", "Points chauds sur l'ensemble du territoire (Gi*)", bins=hot, points=xy,
            layers=MapLayers(window=shapely.box(*hot.total_bounds), perimeters=per),
        ))
    else:
        report.notes.append("Aucun événement sur la période : pas de carte des points chauds ni de graphique."
                            if ev.empty else f"Trop peu d'événements ({len(ev)}) sur la période pour les "
                            "points chauds : pas de carte des points chauds.")
    report.tables["Comparaison des quartiers"] = table
    report.method.update({
        "Projection": "RGF93 / Lambert-93 (EPSG:2154)",
        "Mailles": f"hexagones de {hot.attrs['bin_size']:.0f} m" if hot is not None else "non calculées",
        "Correction des tests multiples": "taux de fausses découvertes (Benjamini–Hochberg)",
        "Rayon de regroupement des sites (m)": opts.recurrence_radius,
        "Regroupement des sites": SITE_METHOD,
        "Marge (m)": opts.margin,
    })
    report.caveats.append("Les densités rapportent les événements à la surface du périmètre, pas à la "
                          "population ni au linéaire de voirie.")
    return report


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
    """One quartier's row of the territory comparison (hot bins None when Gi* was not computed)."""
    n = int((codes == code).sum())
    q = rec.quartiers[rec.quartiers["quartier"] == code]
    hot_bins = None
    if hot is not None:
        inside_bins = hot[shapely.contains_xy(geom, hot["x"].to_numpy(), hot["y"].to_numpy())]
        hot_bins = int((inside_bins["gi_bin"] > 0).sum())
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

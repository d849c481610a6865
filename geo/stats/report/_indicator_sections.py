"""Indicator sections of the quartier report: monthly indicators, clean-up delays, observations."""

from __future__ import annotations

import logging

import geopandas as gpd
import pandas as pd

from geo.stats.indicators import (
    assign_quartier,
    diagnostics_per_year,
    dumping_indicators,
    dysfunctions,
    tracks_treatment,
    treatment_delays,
)
from geo.stats.report._period import filter_period
from geo.stats.report.model import UNTRACKED_TREATMENT, BarChart, Report, ReportOptions

logger = logging.getLogger(__name__)


def _monthly_section(
    report: Report, inside: gpd.GeoDataFrame, row: gpd.GeoDataFrame, code: str, opts: ReportOptions
) -> None:
    """Events per month in the quartier (months without events shown as 0): chart and table."""
    t0, t1 = report.period
    monthly = dumping_indicators(inside, row, time_field=opts.time_field, volume_field=opts.volume_field,
                                 code_field=opts.code_field)
    monthly = monthly[monthly["quartier"] == code].set_index("period")
    months = pd.period_range(t0.to_period("M"), t1.to_period("M"), freq="M")
    monthly = monthly.reindex(months).rename_axis("period").reset_index()  # months without events: 0
    monthly["quartier"] = code
    monthly["events"] = monthly["events"].fillna(0).astype(int)
    monthly["volume_known"] = monthly["volume_known"].fillna(0).astype(int)
    monthly = monthly[["quartier", "period", "events", "volume_m3", "volume_known"]]
    if monthly["events"].sum() > 0:  # no chart of zeros: the note says there was no event
        report.figures.append(BarChart(
            "mensuel", "Événements par mois dans le quartier", labels=[str(p) for p in monthly["period"]],
            values=monthly["events"].to_numpy(), ylabel="événements", rotate_labels=True,
        ))
    monthly_caption = "Indicateurs mensuels (fiche action : volume de dépôts recensés par mois)"
    report.tables[monthly_caption] = monthly.rename(
        columns={"quartier": "Quartier", "period": "Mois", "events": "Événements",
                 "volume_m3": "Volume (m³)", "volume_known": "Volumes connus"}
    )


def _cleanup_delays(
    report: Report, inside: gpd.GeoDataFrame, row: gpd.GeoDataFrame, cleaned: str, opts: ReportOptions
) -> None:
    """Delays between a dumping and its clean-up: results and key figures."""
    time_field = opts.time_field
    report.results["delays"] = treatment_delays(
        inside, row, start_field=time_field, end_field=cleaned, code_field=opts.code_field
    )
    days = (pd.to_datetime(inside[cleaned], errors="coerce", utc=True)
            - pd.to_datetime(inside[time_field], errors="coerce", utc=True)).dt.total_seconds() / 86400
    days = days[days >= 0]
    report.key_figures["Délai médian d'enlèvement (jours)"] = float(days.median()) if len(days) else None
    report.key_figures["Délai d'enlèvement, 90e centile (jours)"] = (
        float(days.quantile(0.9)) if len(days) else None
    )


def _observation_indicators(
    report: Report,
    observations: gpd.GeoDataFrame,
    row: gpd.GeoDataFrame,
    *,
    code: str,
    code_field: str,
    t0: pd.Timestamp,
    t1: pd.Timestamp,
) -> None:
    """Add the délai / diagnostics / dysfonctionnements indicators of one quartier to ``report``."""
    obs, _, _ = filter_period(observations, "observed_at", t0, t1)
    if obs.empty:
        report.caveats.append("Aucun constat dans la période : indicateurs de traitement non calculés.")
        return
    inside = obs[assign_quartier(obs, row, code_field=code_field).notna().to_numpy()]
    if "resolved_at" in inside.columns:
        delays = treatment_delays(inside, row, code_field=code_field)
        delays = delays[delays["quartier"] == code]
        report.tables["Délai de traitement des constats (jours, signalement → résolution)"] = pd.DataFrame({
            "Mois": delays["period"], "Signalés": delays["reported"], "Résolus": delays["resolved"],
            "Médiane": delays["median_days"], "90e centile": delays["p90_days"],
        })
        days = (pd.to_datetime(inside["resolved_at"], errors="coerce", utc=True)
                - pd.to_datetime(inside["observed_at"], errors="coerce", utc=True)).dt.total_seconds() / 86400
        days = days[days >= 0]
        report.key_figures["Délai médian de traitement (jours)"] = float(days.median()) if len(days) else None
        report.key_figures["Délai de traitement, 90e centile (jours)"] = (
            float(days.quantile(0.9)) if len(days) else None
        )
    if "status" in inside.columns:
        dys = dysfunctions(inside, row, code_field=code_field)
        dys = dys[dys["quartier"] == code]
        report.tables["Dysfonctionnements identifiés et traités"] = pd.DataFrame({
            "Mois": dys["period"], "Identifiés": dys["identified"], "Traités": dys["treated"],
            "Taux de traitement": dys["treated_rate"],
        })
        identified = int(dys["identified"].sum())
        report.key_figures["Dysfonctionnements identifiés"] = identified
        report.key_figures["Part des dysfonctionnements traités"] = (
            float(dys["treated"].sum() / identified) if identified else None
        )
        if not tracks_treatment(inside):  # « transmis » only: treated unknown, not 0
            table = report.tables["Dysfonctionnements identifiés et traités"]
            table["Traités"] = table["Taux de traitement"] = None
            report.key_figures["Part des dysfonctionnements traités"] = None
            report.caveats.append(UNTRACKED_TREATMENT)
    diag = diagnostics_per_year(inside, row, code_field=code_field)
    diag = diag[diag["quartier"] == code]
    report.tables["Diagnostics en marchant par an"] = pd.DataFrame({
        "Année": diag["year"], "Diagnostics": diag["diagnostics"], "Constats": diag["observations"],
    })

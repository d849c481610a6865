"""Indicator sections of the quartier report: monthly indicators, delays, observations, diagnostics.

Every table whose rows count records carries a « Données » column (:mod:`geo.stats.report.flags`), every
monthly indicator its value one year earlier (« N-1 », n.d. where the data does not cover
that month), and every delay is a Kaplan–Meier estimate with the cases still open censored
at the extraction date (:func:`geo.stats.indicators.summarize_delays`).
"""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.stats.indicators import (
    CLOSED_UNTREATED,
    TREATED_STATUSES,
    DelaySummary,
    assign_quartier,
    extraction_date,
    summarize_delays,
    tracks_treatment,
    treatment_delays,
)
from geo.stats.report.flags import FLAG_COLUMN, covered_since, data_flag, previous_year, row_flags
from geo.stats.report.model import UNTRACKED_TREATMENT, BarChart, Report, ReportOptions

logger = logging.getLogger(__name__)

#: Observation fields broken down in the report: field → French column heading.
BREAKDOWNS = {"pilote": "Pilote", "partenaires": "Partenaire", "domanialite": "Domanialité"}
#: What the delay estimate is, for the method note.
KM_METHOD = ("Kaplan–Meier : les cas encore ouverts comptent comme non résolus à la date d'extraction "
             "(censure à droite) ; « clos non traité » compté à part, hors délai ; « > X j » : la courbe "
             "n'atteint pas ce centile (trop de cas encore ouverts), X = plus long suivi")


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    """Naive datetimes of ``column`` (all NaT when absent)."""
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame[column], errors="coerce", utc=True).dt.tz_localize(None)


def _months(report: Report) -> pd.PeriodIndex:
    t0, t1 = report.period
    return pd.period_range(t0.to_period("M"), t1.to_period("M"), freq="M")


def _month_of(frame: pd.DataFrame, column: str) -> pd.Series:
    month: pd.Series = _dates(frame, column).dt.to_period("M")
    return month


def _since(opts: ReportOptions, *, constats: bool = False) -> dict[str, pd.Timestamp]:
    """First date of each data set of the events (``covered_since``) or of the constats."""
    pairs = opts.observations_since if constats else opts.covered_since
    return {dataset: pd.Timestamp(first) for dataset, first in pairs}


def _as_of(opts: ReportOptions, frame: pd.DataFrame, start: str, end: str) -> pd.Timestamp:
    """Return the extraction date: the given one, else the latest report or resolution date of ``frame``."""
    if opts.as_of is not None:
        return pd.Timestamp(opts.as_of)
    return pd.Timestamp(extraction_date(_dates(frame, start), _dates(frame, end)))


def _summary(frame: pd.DataFrame, start: str, end: str, as_of: pd.Timestamp,
             status_field: str = "status") -> DelaySummary:
    closed = (frame[status_field].astype(object).isin(CLOSED_UNTREATED) if status_field in frame.columns
              else None)
    return summarize_delays(_dates(frame, start), _dates(frame, end), as_of=as_of, closed_untreated=closed)


def _monthly_section(
    report: Report, inside: gpd.GeoDataFrame, row: gpd.GeoDataFrame, code: str, opts: ReportOptions,
    *, history: gpd.GeoDataFrame | None = None,
) -> None:
    """Events (and volumes) per month in the quartier, with N-1 and a data flag per month.

    ``history`` holds the quartier's events of the previous year too (the N-1 column);
    months without events count 0 where a source covers them. A volume column no source
    fills is left out and the limits say why.
    """
    months = _months(report)
    base = history if history is not None and len(history) else inside
    since = covered_since(base, _since(opts), opts.time_field)
    month = _month_of(inside, opts.time_field)
    counts = month.value_counts()
    monthly = pd.DataFrame({"Mois": months, "Événements": [int(counts.get(m, 0)) for m in months]})
    monthly["Événements N-1"] = previous_year(_month_of(base, opts.time_field).value_counts(), months, since)
    caption = "Indicateurs mensuels (fiche action : volume de dépôts recensés par mois)"
    vol_field = opts.volume_field
    volume = (pd.to_numeric(inside[vol_field], errors="coerce") if vol_field and vol_field in inside.columns
              else pd.Series(np.nan, index=inside.index))
    if volume.notna().any():
        sums = volume.groupby(month.to_numpy()).sum(min_count=1)
        monthly["Volume (m³)"] = [sums.get(m, 0.0 if counts.get(m, 0) == 0 else np.nan) for m in months]
        hist_vol = pd.to_numeric(base[vol_field], errors="coerce")
        hist_sums = hist_vol.groupby(_month_of(base, opts.time_field).to_numpy()).sum(min_count=1)
        monthly["Volume N-1 (m³)"] = previous_year(hist_sums, months, since)
        known = volume.notna().groupby(month.to_numpy()).sum()
        monthly["Volumes connus"] = [int(known.get(m, 0)) for m in months]
    else:
        caption = "Indicateurs mensuels (volume : n.d., la source ne renseigne aucun volume)"
        report.caveats.append("Volume des dépôts : n.d. — aucun événement de la période ne porte de volume "
                              "dans la source ; la colonne est retirée plutôt qu'affichée vide ou à 0.")
    default = data_flag(base, opts.sample_datasets)
    monthly[FLAG_COLUMN] = row_flags(inside, month, months, samples=opts.sample_datasets, default=default)
    report.key_figures["Données des événements"] = default
    if monthly["Événements"].sum() > 0:  # no chart of zeros: the note says there was no event
        title = "Événements par mois dans le quartier" + (f" (données {default})" if default else "")
        report.figures.append(BarChart(
            "mensuel", title.replace("données échantillon", "échantillon"), labels=[str(p) for p in months],
            values=monthly["Événements"].to_numpy(), ylabel="événements", rotate_labels=True,
        ))
    report.tables[caption] = monthly


def _delay_figures(report: Report, summary: DelaySummary, what: str, open_label: str) -> None:
    """Key figures of a Kaplan–Meier delay: median, 90th percentile, cases still open."""
    report.key_figures[f"Délai médian {what} (jours)"] = summary.median_days
    report.key_figures[f"Délai {what}, 90e centile (jours)"] = summary.p90_days
    report.key_figures[open_label] = summary.still_open


def _cleanup_delays(
    report: Report, inside: gpd.GeoDataFrame, row: gpd.GeoDataFrame, cleaned: str, opts: ReportOptions
) -> None:
    """Delays between a dumping and its clean-up (Kaplan–Meier, uncleaned events censored)."""
    time_field = opts.time_field
    as_of = _as_of(opts, inside, time_field, cleaned)
    report.results["delays"] = treatment_delays(
        inside, row, start_field=time_field, end_field=cleaned, code_field=opts.code_field, as_of=as_of
    )
    summary = _summary(inside, time_field, cleaned, as_of)
    _delay_figures(report, summary, "d'enlèvement", "Dépôts non enlevés à la date d'extraction")
    report.method["Délais"] = KM_METHOD
    report.method["Date d'extraction retenue"] = as_of.normalize()


def _observation_indicators(
    report: Report,
    observations: gpd.GeoDataFrame,
    row: gpd.GeoDataFrame,
    *,
    code: str,
    opts: ReportOptions,
) -> None:
    """Add the délai / dysfonctionnements indicators and breakdowns of one quartier to ``report``.

    ``observations`` may hold the previous year too (the N-1 columns).
    """
    t0, t1 = report.period
    hist = observations[assign_quartier(observations, row, code_field=opts.code_field).notna().to_numpy()]
    when = _dates(hist, "observed_at")
    in_period = ((when >= t0) & (when < t1.normalize() + pd.Timedelta(days=1))).to_numpy()
    inside = hist[in_period]
    if inside.empty:
        report.caveats.append("Aucun constat dans le quartier sur la période : indicateurs de traitement non "
                              "calculés.")
        return
    tracked = tracks_treatment(inside)
    report.key_figures["Données des constats"] = data_flag(inside, opts.sample_datasets)
    as_of = _as_of(opts, observations, "observed_at", "resolved_at")
    if tracked and "resolved_at" in inside.columns:
        _delay_table(report, inside, hist, opts, as_of)
    else:
        report.key_figures["Délai médian de traitement (jours)"] = None
        report.key_figures["Délai de traitement, 90e centile (jours)"] = None
    if "status" in inside.columns:
        _dysfunction_table(report, inside, hist, opts, tracked=tracked)
    if not tracked:
        report.caveats.append(UNTRACKED_TREATMENT)
    for column, heading in BREAKDOWNS.items():
        _breakdown(report, inside, column, heading, opts=opts, as_of=as_of if tracked else None)


def _delay_table(report: Report, inside: pd.DataFrame, hist: pd.DataFrame, opts: ReportOptions,
                 as_of: pd.Timestamp) -> None:
    """Kaplan–Meier treatment delay per month (with N-1) and its key figures."""
    months = _months(report)
    month, hist_month = _month_of(inside, "observed_at"), _month_of(hist, "observed_at")
    since = covered_since(hist, _since(opts, constats=True), "observed_at")
    rows, prior = [], {}
    for m in sorted(set(hist_month.dropna()) & {p - 12 for p in months}):
        prior[m] = _median_value(_summary(hist[(hist_month == m).to_numpy()], "observed_at", "resolved_at",
                                          as_of))
    for m in months:
        s = _summary(inside[(month == m).to_numpy()], "observed_at", "resolved_at", as_of)
        rows.append({"Mois": m, "Signalés": s.reported, "Résolus": s.resolved, "Encore ouverts": s.still_open,
                     "Clos non traités": s.closed_untreated, "Médiane (j)": s.median_days,
                     "90e centile (j)": s.p90_days})
    table = pd.DataFrame(rows)
    table["Médiane N-1 (j)"] = [None if v is None else prior.get(m - 12) for m, v in
                                zip(months, previous_year(pd.Series(1.0, index=list(prior)), months, since),
                                    strict=True)]
    table[FLAG_COLUMN] = row_flags(inside, month, months, samples=opts.sample_datasets,
                                   default=data_flag(inside, opts.sample_datasets))
    report.tables["Délai de traitement des constats (jours, signalement → résolution, Kaplan–Meier)"] = table
    summary = _summary(inside, "observed_at", "resolved_at", as_of)
    _delay_figures(report, summary, "de traitement", "Constats encore ouverts à la date d'extraction")
    report.key_figures["Constats clos non traités (hors délai)"] = summary.closed_untreated
    report.method["Délais"] = KM_METHOD
    report.method["Date d'extraction retenue"] = as_of.normalize()


def _median_value(summary: DelaySummary) -> Any:
    return summary.median_days


def _dysfunction_table(report: Report, inside: pd.DataFrame, hist: pd.DataFrame, opts: ReportOptions, *,
                       tracked: bool) -> None:
    """Dysfonctionnements identified and treated per month, with N-1 (treated n.d. when not tracked)."""
    months = _months(report)
    month, hist_month = _month_of(inside, "observed_at"), _month_of(hist, "observed_at")
    since = covered_since(hist, _since(opts, constats=True), "observed_at")
    treated = inside["status"].astype(object).isin(TREATED_STATUSES)
    identified = month.value_counts()
    done = treated.groupby(month.to_numpy()).sum()
    hist_treated = hist["status"].astype(object).isin(TREATED_STATUSES)
    hist_identified = hist_month.value_counts()
    hist_rate = hist_treated.groupby(hist_month.to_numpy()).mean()
    table = pd.DataFrame({"Mois": months, "Identifiés": [int(identified.get(m, 0)) for m in months]})
    table["Identifiés N-1"] = previous_year(hist_identified, months, since)
    if tracked:
        table["Traités"] = [int(done.get(m, 0)) for m in months]
        rate = table["Traités"] / table["Identifiés"].where(table["Identifiés"] > 0)
        table["Taux de traitement"] = rate.astype(object).where(rate.notna(), None)
        prior = previous_year(hist_rate, months, since)
        table["Taux de traitement N-1"] = [None if p is None or hist_identified.get(m - 12, 0) == 0 else p
                                           for m, p in zip(months, prior, strict=True)]
    else:  # « transmis » only: treated unknown, not 0
        table["Traités"] = table["Taux de traitement"] = None
    table[FLAG_COLUMN] = row_flags(inside, month, months, samples=opts.sample_datasets,
                                   default=data_flag(inside, opts.sample_datasets))
    report.tables["Dysfonctionnements identifiés et traités"] = table
    total = len(inside)
    report.key_figures["Dysfonctionnements identifiés"] = total
    report.key_figures["Part des dysfonctionnements traités"] = (
        float(treated.sum() / total) if tracked and total else None
    )


def _values(frame: pd.DataFrame, column: str) -> pd.Series:
    """Values of ``column``, one per row and partner (« a ; b » split), « non renseigné » when empty."""
    values = frame[column].astype(object).where(frame[column].notna(), "")
    values = values.astype(str).str.split(r"\s*[;,]\s*", regex=True).explode().str.strip()
    return values.where(values != "", "non renseigné")


def _breakdown(report: Report, inside: pd.DataFrame, column: str, heading: str, *, opts: ReportOptions,
               as_of: pd.Timestamp | None) -> None:
    """Constats of the period by ``column`` (pilote, partenaire, domanialité): counts, treated, delay.

    ``as_of`` None: the source does not follow treatment (treated and delay « n.d. »).
    """
    caption = f"Constats par {heading.lower()} sur la période"
    if column not in inside.columns or inside[column].isna().all():
        report.caveats.append(f"Répartition par {heading.lower()} : n.d., aucun constat de la période ne "
                              f"renseigne ce champ ({column}).")
        return
    values = _values(inside, column)
    rows = []
    for value, count in values.value_counts().items():
        sub = inside.loc[values.index[(values == value).to_numpy()].unique()]
        row: dict[str, Any] = {heading: value, "Constats": int(count)}
        if as_of is not None:
            treated = (int(sub["status"].astype(object).isin(TREATED_STATUSES).sum())
                       if "status" in sub else None)
            s = _summary(sub, "observed_at", "resolved_at", as_of)
            row.update({"Traités": treated, "Part traitée": None if treated is None else treated / len(sub),
                        "Délai médian (j)": s.median_days, "Encore ouverts": s.still_open})
        else:
            row.update({"Traités": None, "Part traitée": None, "Délai médian (j)": None})
        row[FLAG_COLUMN] = data_flag(sub, opts.sample_datasets)
        rows.append(row)
    report.tables[caption] = pd.DataFrame(rows)


def _diagnostics_section(
    report: Report,
    observations: gpd.GeoDataFrame | None,
    diagnostics: gpd.GeoDataFrame | None,
    row: gpd.GeoDataFrame,
    *,
    code: str,
    opts: ReportOptions,
) -> None:
    """Diagnostics en marchant per year, counted from the ``diagnostics`` layer (not from the constats).

    ``diagnostics`` None: the layer was not given (withheld or absent): the count is n.d.
    The constats whose source is « diagnostic en marchant » are shown beside, never counted
    as diagnostics.
    """
    t0, t1 = report.period
    years = list(range(t0.year, t1.year + 1))
    walks = pd.Series(dtype=int)
    if diagnostics is not None and len(diagnostics):
        mine = _diagnostics_of(diagnostics, row, code, opts)
        when = _dates(mine, "walk_date")
        keep = ((when >= t0) & (when < t1.normalize() + pd.Timedelta(days=1))).to_numpy()
        walks = when[keep].dt.year.value_counts()
    from_walks: pd.Series | None = None  # no constat in the quartier: the walk constats are unknown
    if observations is not None and len(observations) and "source" in observations.columns:
        obs = observations[assign_quartier(observations, row, code_field=opts.code_field).notna().to_numpy()]
        when = _dates(obs, "observed_at")
        keep = ((when >= t0) & (when < t1.normalize() + pd.Timedelta(days=1))).to_numpy()
        walk_obs = (obs["source"].astype(object) == "diagnostic en marchant").to_numpy() & keep
        from_walks = when[walk_obs].dt.year.value_counts() if keep.any() else None
    table = pd.DataFrame({"Année": years})
    table["Diagnostics (couche diagnostics)"] = [
        None if diagnostics is None else int(walks.get(y, 0)) for y in years]
    table["Constats issus d'un diagnostic"] = [
        None if from_walks is None else int(from_walks.get(y, 0)) for y in years]
    report.tables["Diagnostics en marchant par an"] = table
    count = None if diagnostics is None else int(walks.sum())
    report.key_figures["Diagnostics en marchant (période)"] = count
    if diagnostics is None:
        report.caveats.append("Diagnostics en marchant : n.d., la couche « diagnostics » n'a pas été lue "
                              "pour ce rapport ; les constats ne suffisent pas à les compter.")
    elif int(walks.sum()) == 0 and from_walks is not None and int(from_walks.sum()) > 0:
        report.caveats.append(f"Aucun diagnostic en marchant enregistré dans la couche « diagnostics » "
                              f"pour ce quartier sur la période, alors que {int(from_walks.sum())} constats "
                              "portent la source « diagnostic en marchant » : les diagnostics ne sont "
                              "comptés que depuis leur couche, jamais déduits des constats.")


def _diagnostics_of(diagnostics: gpd.GeoDataFrame, row: gpd.GeoDataFrame, code: str,
                    opts: ReportOptions) -> gpd.GeoDataFrame:
    """Diagnostics of the quartier: its code in ``quartier``, else a route crossing the perimeter."""
    has_code = "quartier" in diagnostics.columns
    by_code = (diagnostics["quartier"].astype(str) == str(code)) if has_code else None
    geom = row.to_crs(diagnostics.crs).union_all() if diagnostics.crs is not None else row.union_all()
    crossing = diagnostics.intersects(geom)
    if by_code is not None:
        coded = diagnostics["quartier"].notna()
        return diagnostics[(by_code | (~coded & crossing)).to_numpy()]
    return diagnostics[crossing.to_numpy()]

"""Recurrence section of the quartier and territory reports: points noirs sites and re-occurrence."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.stats.recurrence import (
    ADDRESS_REACH_M,
    LOCATED_BY_NEAREST_ADDRESS,
    LOCATED_BY_POINT_NOIR,
    STATUS_PERSISTENT,
    UNNAMED_SITE,
    Recurrence,
    RecurrenceOptions,
    locate_sites,
    recurrence,
)
from geo.stats.report.model import Report, ReportOptions

logger = logging.getLogger(__name__)


#: How the sites of the recurrence analysis are made, for the method notes.
SITE_METHOD = ("un événement à moins du rayon d'un point noir connu lui est rattaché ; les autres sont "
               "regroupés par lien simple (deux événements distants d'au plus le rayon sont sur le même "
               "site, une chaîne de tels événements forme un seul site) ; un regroupement plus large que "
               "150 m, chaîne le long d'une rue, est découpé en carrés de 150 m de côté, chaque morceau "
               "redevenant ses propres regroupements : un site reste un lieu qu'une équipe peut nettoyer)")

#: How the sites are named and located, for the method notes.
SITE_NAMES = ("un site rattaché à un point noir porte son nom et son adresse ; les autres sont des "
              "« regroupements sans point noir », situés par l'adresse la plus proche de leur centre "
              f"(à {ADDRESS_REACH_M:.0f} m au plus, sinon « n.d. ») ; la colonne « Localisation d'après » "
              "dit laquelle")

#: Key figure of the sites recurrent until the end of the period when no clean-up date is known.
RECURRENT_UNTIL_END = "Sites récurrents jusqu'à la fin de la période (aucune date d'enlèvement)"
#: Key figure of the sites persisting despite recorded clean-ups.
PERSISTENT_DESPITE_CLEANUPS = "Sites persistants malgré les enlèvements"


def persistence_figure(sites: pd.DataFrame) -> tuple[str, int]:
    """Key figure of the persisting sites: « malgré les enlèvements » only where clean-up dates exist.

    Parameters
    ----------
    sites : pandas.DataFrame
        Rows of :attr:`geo.stats.recurrence.Recurrence.sites`.

    Returns
    -------
    tuple
        (French label, number of sites).
    """
    if len(sites) and bool(sites["cleanups_known"].any()):
        return PERSISTENT_DESPITE_CLEANUPS, int((sites["status"] == STATUS_PERSISTENT).sum())
    return RECURRENT_UNTIL_END, int(sites["persistent"].sum()) if len(sites) else 0


def _located_by(source: str, distance: float) -> str:
    """Say in French what located a site (with the distance to the nearest address when it did)."""
    if source == LOCATED_BY_POINT_NOIR:
        return "adresse du point noir"
    if source == LOCATED_BY_NEAREST_ADDRESS:
        return f"adresse la plus proche ({distance:.0f} m)"
    return f"n.d. : aucune adresse à moins de {ADDRESS_REACH_M:.0f} m"


def site_table(sites: gpd.GeoDataFrame, *, top: int = 10, quartier: bool = False) -> pd.DataFrame:
    """Tabulate the most recurrent sites as a report shows them: named, located, with their status.

    Parameters
    ----------
    sites : geopandas.GeoDataFrame
        Rows of :attr:`geo.stats.recurrence.Recurrence.sites`, located by
        :func:`geo.stats.recurrence.locate_sites` (located here without addresses otherwise).
    top : int
        Rows kept, most events first (then the most recent).
    quartier : bool
        Add the quartier of each site (« hors quartier » outside every perimeter).

    Returns
    -------
    pandas.DataFrame
        ``Site`` (point noir name or « regroupement sans point noir »), ``Localisation``
        (None: n.d.), ``Localisation d'après``, [``Quartier``], ``Événements``, ``Premier``,
        ``Dernier``, ``Jours médians avant retour``, ``Statut`` (no rate per 30 days: within
        one report every site shares the period, so it would only repeat ``Événements``).
    """
    located = sites if "location" in sites.columns else locate_sites(sites)
    ranked = located.sort_values(["n_events", "last"], ascending=[False, False], kind="stable").head(top)
    named = (ranked["label"] != UNNAMED_SITE).to_numpy()
    names = ranked["name"].fillna("point noir sans nom").to_numpy(dtype=object)
    table = pd.DataFrame({
        "Site": np.where(named, names, UNNAMED_SITE),
        "Localisation": ranked["location"],
        "Localisation d'après": [_located_by(s, d) for s, d in
                                 zip(ranked["location_source"], ranked["location_m"], strict=True)],
    }, index=ranked.index)
    if quartier:
        table["Quartier"] = ranked["quartier"].fillna("hors quartier")
    table["Événements"] = ranked["n_events"]
    table["Premier"] = ranked["first"]
    table["Dernier"] = ranked["last"]
    table["Jours médians avant retour"] = ranked["median_days_to_reoccur"]
    table["Statut"] = ranked["status"]
    return table.reset_index(drop=True)


def run_recurrence(
    events: gpd.GeoDataFrame, perimeters: gpd.GeoDataFrame, period: tuple[pd.Timestamp, pd.Timestamp],
    cleaned: str | None, opts: ReportOptions,
) -> Recurrence:
    """Recurrence of ``events`` with the report's points noirs, its sites located by the addresses."""
    rec_opts = RecurrenceOptions(radius=opts.recurrence_radius, time_field=opts.time_field,
                                 cleaned_field=cleaned)
    rec = recurrence(events, options=rec_opts, sites=opts.points_noirs,
                     perimeters=perimeters, code_field=opts.code_field, start=period[0], end=period[1])
    rec.sites = locate_sites(rec.sites, opts.addresses)
    return rec


def _recurrence_section(
    report: Report, near: gpd.GeoDataFrame, row: gpd.GeoDataFrame, code: str,
    period: tuple[pd.Timestamp, pd.Timestamp], cleaned: str | None, opts: ReportOptions,
) -> None:
    """Add the dumping sites, recurrent and persistent ones: key figures and the most recurrent sites."""
    rec = run_recurrence(near, row, period, cleaned, opts)
    report.results["recurrence"] = rec
    sites_in = rec.sites[rec.sites["quartier"] == code]
    persistent = persistence_figure(sites_in)
    report.key_figures.update({
        f"Sites de dépôt (regroupés à {opts.recurrence_radius:.0f} m)": len(sites_in),
        "Sites récurrents (≥ 2 événements)": int((sites_in["n_events"] >= 2).sum()),
        persistent[0]: persistent[1],
    })
    recurrent = sites_in[sites_in["n_events"] >= 2]  # a single event is no recurrence
    if recurrent.empty:
        return
    report.tables["Sites les plus récurrents"] = site_table(recurrent)
    report.method["Noms des sites"] = SITE_NAMES

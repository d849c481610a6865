"""Recurrence section of the quartier report: points noirs sites and re-occurrence."""

from __future__ import annotations

import logging

import geopandas as gpd
import pandas as pd

from geo.stats.recurrence import STATUS_PERSISTENT, RecurrenceOptions, recurrence
from geo.stats.report.model import Report, ReportOptions

logger = logging.getLogger(__name__)


#: How the sites of the recurrence analysis are made, for the method notes.
SITE_METHOD = ("un événement à moins du rayon d'un point noir connu lui est rattaché ; les autres sont "
               "regroupés par lien simple (deux événements distants d'au plus le rayon sont sur le même "
               "site, une chaîne de tels événements forme un seul site) ; un regroupement plus large que "
               "150 m, chaîne le long d'une rue, est découpé en carrés de 150 m de côté, chaque morceau "
               "redevenant ses propres regroupements : un site reste un lieu qu'une équipe peut nettoyer)")


def _recurrence_section(
    report: Report, near: gpd.GeoDataFrame, row: gpd.GeoDataFrame, code: str,
    period: tuple[pd.Timestamp, pd.Timestamp], cleaned: str | None, opts: ReportOptions,
) -> None:
    """Add the dumping sites, recurrent and persistent ones: key figures and the most recurrent sites."""
    rec_opts = RecurrenceOptions(radius=opts.recurrence_radius, time_field=opts.time_field,
                                 cleaned_field=cleaned)
    rec = recurrence(near, options=rec_opts, sites=opts.points_noirs,
                     perimeters=row, code_field=opts.code_field, start=period[0], end=period[1])
    report.results["recurrence"] = rec
    sites_in = rec.sites[rec.sites["quartier"] == code]
    # « malgré les enlèvements » only where clean-up dates are recorded (data-driven)
    if bool(sites_in["cleanups_known"].any()):
        persistent = ("Sites persistants malgré les enlèvements",
                      int((sites_in["status"] == STATUS_PERSISTENT).sum()))
    else:
        persistent = ("Sites récurrents jusqu'à la fin de la période (aucune date d'enlèvement)",
                      int(sites_in["persistent"].sum()))
    report.key_figures.update({
        f"Sites de dépôt (regroupés à {opts.recurrence_radius:.0f} m)": len(sites_in),
        "Sites récurrents (≥ 2 événements)": int((sites_in["n_events"] >= 2).sum()),
        persistent[0]: persistent[1],
    })
    if sites_in.empty:
        return
    top = sites_in.sort_values("n_events", ascending=False).head(10)
    report.tables["Sites les plus récurrents"] = pd.DataFrame({
        "Site": top["label"], "Événements": top["n_events"], "Premier": top["first"], "Dernier": top["last"],
        "Par 30 jours": top["rate_per_30d"], "Jours médians avant retour": top["median_days_to_reoccur"],
        "Statut": top["status"],
    })

"""The « Plan d'actions » section of a quartier's dashboard and report.

Reads the quartier's actions (those naming it in ``quartier``, and those without a
quartier whose geometry lies in it), decided in the period, their links to constats and
the linked constats, and computes :func:`geo.stats.action_indicators.action_indicators`.
The indicators are grouped by the structure of the stored conventions (orientation and
axe titles) when the actions carry a convention. Every figure says how many simulated
actions it counts (« dont N simulées »). Private to :mod:`layers.dashboard` and
:mod:`layers.analyses`.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geo.stats.action_indicators import action_indicators, grouped_indicators
from geo.stats.report import ReportSection
from layers.actions import ActionQuery, action_links, read_actions
from layers.conventions import Convention, stored_conventions
from layers.errors import ConventionError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

#: Title of the section.
TITLE = "Plan d'actions"
#: Said when the quartier has no action on the period.
NO_ACTION = "Aucune action enregistrée dans ce quartier sur la période."


def _end_exclusive(end: date) -> str:
    return (pd.Timestamp(end) + pd.Timedelta(days=1)).date().isoformat()


def quartier_actions(store: LayerStore, code: str, zone: Any, *, start: date, end: date) -> gpd.GeoDataFrame:
    """Return the actions of quartier ``code`` decided in [start, end].

    Those naming the quartier, and those naming none whose geometry lies in ``zone``
    (the quartier's union, store CRS).
    """
    named = read_actions(store, ActionQuery(quartier=code, start=start, end=end)).drop(
        columns=["constats", "late"]
    )
    xmin, ymin, xmax, ymax = (float(v) for v in zone.bounds)
    around = store.read(
        "actions", bbox=(xmin, ymin, xmax, ymax), start=start.isoformat(), end=_end_exclusive(end)
    )
    if len(around):
        geoms = around.geometry.to_numpy()
        inside = ~shapely.is_missing(geoms) & shapely.intersects(geoms, zone)
        around = around[inside & around["quartier"].isna().to_numpy()]
    frames = [f for f in (named, around) if len(f)]
    if not frames:
        return named
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out.drop_duplicates("uid"), geometry=named.geometry.name, crs=store.crs)


def _links(store: LayerStore, actions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Link rows of ``actions`` and the linked constats (uid, observed_at)."""
    if actions.empty:
        return pd.DataFrame({"parent_uid": [], "constat_uid": []}), pd.DataFrame(
            {"uid": [], "observed_at": []}
        )
    links = action_links(store, list(actions["uid"]))
    uids = sorted(set(links["constat_uid"].astype(str))) if len(links) else []
    constats = store.read("observations", uids=uids) if uids else pd.DataFrame({"uid": [], "observed_at": []})
    return links, pd.DataFrame(constats[["uid", "observed_at"]])


def _conventions(store: LayerStore) -> dict[str, Convention]:
    try:
        return {c.code: c for c in stored_conventions(store)}
    except ConventionError as exc:  # a damaged stored convention: group by codes only
        logger.warning("stored conventions unreadable: %s", exc)
        return {}


def _simulated(n: int) -> str | None:
    return f"dont {n} simulée{'s' if n > 1 else ''}" if n else None


def _orientation_of(actions: pd.DataFrame) -> pd.Series:
    """Orientation code of each action: its own, or the first part of its objectif (« 1.2.3 » → « 1 »)."""
    own = actions["orientation"].astype(object)
    from_objectif = actions["objectif"].astype("string").str.split(".").str[0]
    return own.where(own.notna(), from_objectif.astype(object)).where(lambda s: s.notna(), None)


def _convention_tables(
    actions: pd.DataFrame,
    links: pd.DataFrame,
    constats: pd.DataFrame,
    conventions: dict[str, Convention],
    today: date,
) -> dict[str, pd.DataFrame]:
    """Return the indicators by orientation and by axe of each convention the actions carry."""
    tables: dict[str, pd.DataFrame] = {}
    plain = actions[~actions["tfpb"].fillna(False).astype(bool).to_numpy()]
    for code in sorted(set(plain["convention"].dropna().astype(str))):
        group = plain[(plain["convention"] == code).to_numpy()].assign(orientation=_orientation_of)
        conv = conventions.get(code)
        name = conv.titre if conv else f"{code} (convention non importée dans l'entrepôt)"
        if group["orientation"].notna().any():
            labels = {o.code: f"{o.code} — {o.titre}" for o in conv.orientations} if conv else None
            table = grouped_indicators(group, links, constats, by="orientation", today=today, labels=labels)
            tables[f"Actions par orientation — {name}"] = table.rename(columns={"orientation": "Orientation"})
        if group["axe"].notna().any():
            labels = {a.code: f"{a.code} — {a.titre}" for a in conv.axes} if conv else None
            table = grouped_indicators(group, links, constats, by="axe", today=today, labels=labels)
            tables[f"Actions par axe d'intervention — {name}"] = table.rename(columns={"axe": "Axe"})
    return tables


def _tfpb_titles(conventions: dict[str, Convention]) -> dict[str, str] | None:
    for conv in conventions.values():
        if conv.tfpb_axes:
            return {a.code: a.titre for a in conv.tfpb_axes}
    return None


def action_section(
    store: LayerStore, code: str, zone: Any, *, start: date, end: date, today: date | None = None
) -> ReportSection:
    """Return the « Plan d'actions » section of quartier ``code`` over [start, end].

    Parameters
    ----------
    store : LayerStore
        Reads ``actions`` (and its ``constats`` links), ``observations`` and the stored
        conventions.
    code : str
        Perimeter code.
    zone : shapely geometry
        The quartier (union of its perimeters, store CRS).
    start, end : date
        Period on ``decided_at``, both days included.
    today : date, optional
        Reference day of the retards (today by default).

    Returns
    -------
    geo.stats.report.ReportSection
        Figures (``None`` for « n.d. »), tables and notes; « Aucune action enregistrée »
        and no table when the quartier has none.
    """
    today = today or date.today()
    actions = quartier_actions(store, code, zone, start=start, end=end)
    links, constats = _links(store, actions)
    conventions = _conventions(store)
    ind = action_indicators(actions, links, constats, today=today, axe_titles=_tfpb_titles(conventions))
    row = ind.by_state[ind.by_state["État"] == "réalisée"]
    done = (int(row["Actions"].sum()), int(row["dont simulées"].sum()))
    figures: list[tuple[str, Any, str | None]] = [
        ("Actions enregistrées", ind.total, _simulated(ind.simulated)),
        ("Actions réalisées", done[0], _simulated(done[1])),
        (
            "Part des actions réalisées dans leur délai",
            ind.on_time.share,
            " ; ".join(
                filter(
                    None,
                    [
                        f"{ind.on_time.in_time} sur {ind.on_time.denominator}",
                        _simulated(ind.on_time.simulated),
                    ],
                )
            ),
        ),
        ("Actions en retard", ind.late, _simulated(ind.late_simulated)),
        (
            "Délai médian du constat à l'action réalisée (jours)",
            ind.constat_delay.median_days,
            " ; ".join(filter(None, [f"n = {ind.constat_delay.n}", _simulated(ind.constat_delay.simulated)])),
        ),
    ]
    if actions.empty:  # the counts are 0, the share and the median unknown
        return ReportSection(TITLE, figures=figures, notes=[NO_ACTION])
    notes = list(ind.notes)
    if ind.on_time.share is None:
        notes.append("Part réalisée dans les délais : n.d., aucune action réalisée ni aucun délai échu.")
    if ind.constat_delay.median_days is None:
        notes.append(
            "Délai du constat à l'action réalisée : n.d., aucune action réalisée rattachée à un constat daté."
        )
    tables: dict[str, pd.DataFrame] = {"Actions par état d'avancement": ind.by_state}
    tables.update(_convention_tables(actions, links, constats, conventions, today))
    if len(ind.causes):
        tables["Actions en retard : causes de retard ou de report"] = ind.causes
    else:
        notes.append("Aucune action en retard.")
    tables["Actions par pilote"] = ind.by_pilote.rename(columns={"pilote": "Pilote"})
    tables["Actions par partenaire"] = ind.by_partenaire.rename(columns={"partenaires": "Partenaire"})
    if len(ind.tfpb):
        tables["Programme TFPB : montants par axe"] = ind.tfpb
    else:
        notes.append("Programme TFPB : aucune action TFPB sur la période.")
    return ReportSection(TITLE, figures=figures, tables=tables, notes=notes)

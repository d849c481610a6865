"""The TFPB programme of a bailleur for a year: axes, amounts, progress, and where the actions are.

:func:`tfpb_report` gathers, for one bailleur and one year (``tfpb_year``):

- **the programme by axe**: the axes and sous-actions of the national TFPB framework as the
  convention lays them out (``tfpb_axes`` of the convention named by the query, else by the
  actions' ``convention`` field; stored conventions first, then the YAML files shipped in
  ``data/conventions``), the number of actions, the amounts prévisionnel / engagé / reporté /
  dépense valorisée (sum of the known amounts; ``None`` when no action of the group has one,
  shown « n.d. », never 0) and the progress (actions by état);
- **where**: the proximity (:func:`geo.stats.proximity.constat_proximity`, 100 m by default)
  of the bailleur's located TFPB actions to the constats of the same quartiers (the actions'
  ``quartier`` codes, and the perimeters their geometries touch) observed during the year,
  by theme, for every constat and for those **on the bailleur's land** (when the year has
  no constat in those quartiers, the last 12 months of constats there, with a note);
- **the constats on the bailleur's land with no action within the distance**.

Constats « on the bailleur's land » (patrimoine / domanialité) are the constats whose
``domanialite`` is « bailleur », plus those inside a ``batiments`` polygon whose ``name``
equals the bailleur's name (accents and case folded). The domanialité field does not say
*which* bailleur owns the place: in a quartier shared by several bailleurs, a constat
« bailleur » may be on another bailleur's land (the page says so).

The actions are read with :func:`layers.actions.read_actions` (``tfpb`` True, the
``bailleur`` matched folded-equal — accents, case, spaces: « Pas-de-Calais Habitat » and
« pas-de-calais  habitat » are the same bailleur — and ``tfpb_year``).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import pandas as pd

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.stats.proximity import DEFAULT_DISTANCE_M, Proximity, constat_proximity
from layers.actions import ActionQuery, read_actions
from layers.conventions import Convention, TfpbAxis, list_conventions, stored_conventions
from layers.errors import RecordError
from layers.schema import ACTION_STATES, DISTINCT_CONSTATS, TFPB_AXES
from layers.store.base import LayerStore
from layers.validate import fold

logger = logging.getLogger(__name__)

__all__ = ["AMOUNT_FIELDS", "AxisSummary", "TfpbQuery", "TfpbReport", "tfpb_choices", "tfpb_report"]

#: Amount fields of the actions and their French labels, in the bilan's order.
AMOUNT_FIELDS: tuple[tuple[str, str], ...] = (
    ("amount_planned", "Prévisionnel"),
    ("amount_committed", "Engagé"),
    ("amount_deferred", "Reporté"),
    ("amount_valued", "Dépense valorisée"),
)
#: Code of the group of actions whose axe is missing or outside the framework.
NO_AXIS = "?"
LAND_RULE = (
    "Constats sur le patrimoine du bailleur : domanialité « bailleur » (sans précision du "
    "bailleur concerné), ou situés dans un bâtiment de la couche « batiments » nommé comme le bailleur."
)


@dataclass(frozen=True)
class TfpbQuery:
    """What :func:`tfpb_report` computes.

    Attributes
    ----------
    bailleur : str
        The bailleur (matched folded-equal to the actions' ``bailleur``).
    year : int
        The TFPB year (``tfpb_year``).
    convention : str, optional
        Code of the convention giving the axes (default: the actions' ``convention``).
    distance_m : float
        Distance from a constat to an action, in metres.
    start, end : date, optional
        Period of the constats, ``[start, end)`` (default: the TFPB year).
    """

    bailleur: str
    year: int
    convention: str | None = None
    distance_m: float = DEFAULT_DISTANCE_M
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class SubActionSummary:
    """One sous-action of an axe: title, number of actions and planned amount."""

    titre: str
    n_actions: int
    amount_planned: float | None
    simulated: bool


@dataclass(frozen=True)
class AxisSummary:
    """One axe of the programme (or the total, code ``"total"``).

    ``amounts`` maps each amount field to the sum of the known amounts (None when no action
    has one); ``amounts_missing`` to the number of actions without it. ``etats`` counts the
    actions by état (every état of :data:`ACTION_STATES`, in order); ``done_share`` is the
    share réalisées (None without actions).
    """

    code: str
    titre: str
    sous_actions: tuple[SubActionSummary, ...]
    n_actions: int
    amounts: dict[str, float | None]
    amounts_missing: dict[str, int]
    etats: dict[str, int]
    done_share: float | None
    simulated: bool


@dataclass(frozen=True)
class TfpbReport:
    """Result of :func:`tfpb_report` (frames in EPSG:2154).

    Attributes
    ----------
    bailleur, year : the query's (``bailleur`` as spelled in the data when found).
    convention, convention_title : the convention whose axes are used (None when none).
    axes : one :class:`AxisSummary` per axe of the framework (then the actions outside it).
    total : the whole programme.
    actions : the bailleur's TFPB actions of the year (every field).
    quartiers : codes of the quartiers compared.
    constats : the constats of those quartiers over the period, with boolean columns
        ``near`` (an action within the distance), ``on_land`` and ``in_building`` (inside a
        building named like the bailleur).
    proximity : every constat of the quartiers (None when no quartier is known).
    proximity_on_land : the constats on the bailleur's land (None likewise).
    unserved : the constats on the bailleur's land with no action within the distance (empty
        when no action is located: unknown, see ``proximity.actions_located``).
    start, end : the period of the constats, ``[start, end)``.
    notes : French notes for the reader (fallbacks, missing data).
    """

    bailleur: str
    year: int
    convention: str | None
    convention_title: str | None
    axes: tuple[AxisSummary, ...]
    total: AxisSummary
    actions: gpd.GeoDataFrame
    quartiers: tuple[str, ...]
    constats: gpd.GeoDataFrame
    proximity: Proximity | None
    proximity_on_land: Proximity | None
    unserved: gpd.GeoDataFrame
    start: date
    end: date
    notes: tuple[str, ...]

    @property
    def distance_m(self) -> float:
        """The distance used, in metres."""
        return self.proximity.distance_m if self.proximity is not None else DEFAULT_DISTANCE_M

    @property
    def land_rule(self) -> str:
        """How constats on the bailleur's land are chosen (French)."""
        return LAND_RULE


def _tfpb_actions(store: LayerStore, query: TfpbQuery) -> gpd.GeoDataFrame:
    actions = read_actions(store, ActionQuery(tfpb=True, bailleur=query.bailleur, year=query.year))
    return to_territory_crs(actions) if actions.crs is not None else actions.set_crs(TERRITORY_CRS)


def tfpb_choices(store: LayerStore, *, bailleur: str | None = None) -> tuple[list[str], list[int]]:
    """Bailleurs (as first spelled, sorted) and years (descending) of the stored TFPB actions.

    The years are those of ``bailleur`` (accents and case ignored) when it is given, so that a
    page opened without a year shows the bailleur's latest programme, not another's.
    """
    actions = read_actions(store, ActionQuery(tfpb=True))
    names: dict[str, str] = {}
    for name in actions["bailleur"].dropna().astype(str):
        if name.strip():
            names.setdefault(fold(name), name.strip())
    if bailleur is not None:
        actions = actions[actions["bailleur"].fillna("").astype(str).map(fold) == fold(bailleur)]
    years = sorted({int(y) for y in actions["tfpb_year"].dropna()}, reverse=True)
    return sorted(names.values(), key=fold), years


def _convention(store: LayerStore, code: str | None) -> Convention | None:
    known = {c.code: c for c in list_conventions()}
    known.update({c.code: c for c in stored_conventions(store)})
    return known.get(code) if code else None


def _axes(store: LayerStore, query: TfpbQuery, actions: pd.DataFrame,
          notes: list[str]) -> tuple[Convention | None, tuple[TfpbAxis, ...]]:
    code = query.convention
    if code is None:
        codes = Counter(str(c) for c in actions["convention"].dropna() if str(c).strip())
        code = codes.most_common(1)[0][0] if codes else None
    conv = _convention(store, code)
    if code is not None and conv is None:
        notes.append(f"Convention « {code} » inconnue : axes du cadre national sans intitulé de convention.")
    if conv is not None and conv.tfpb_axes:
        return conv, conv.tfpb_axes
    fallback = next((c for c in (*stored_conventions(store), *list_conventions()) if c.tfpb_axes), None)
    if fallback is None:
        return conv, tuple(TfpbAxis(c, f"Axe {c}", ()) for c in TFPB_AXES)
    notes.append(f"Intitulés des axes repris du cadre national (convention « {fallback.code} »).")
    return conv, fallback.tfpb_axes


def _amount(values: pd.Series) -> float | None:
    known = pd.to_numeric(values, errors="coerce").dropna()
    return float(known.sum()) if len(known) else None


def _summary(code: str, titre: str, rows: pd.DataFrame, sous_actions: tuple[str, ...] | None) -> AxisSummary:
    """Summarize ``rows``; ``sous_actions`` None: no sous-action detail (the total)."""
    etats = {e: int((rows["etat"] == e).sum()) for e in ACTION_STATES}
    n = len(rows)
    sub_keys = rows["tfpb_sous_action"].map(lambda v: fold(v) if isinstance(v, str) and v.strip() else "")
    subs: list[SubActionSummary] = []
    listed = {fold(s) for s in sous_actions or ()}
    extra = [str(v).strip() for v in rows["tfpb_sous_action"].dropna().unique()
             if str(v).strip() and fold(str(v)) not in listed]
    for titre_sub in (*sous_actions, *sorted(extra, key=fold)) if sous_actions is not None else ():
        part = rows[sub_keys == fold(titre_sub)]
        subs.append(SubActionSummary(titre_sub, len(part), _amount(part["amount_planned"]),
                                     bool(part["simulated"].fillna(False).astype(bool).any())))
    return AxisSummary(
        code=code,
        titre=titre,
        sous_actions=tuple(subs),
        n_actions=n,
        amounts={f: _amount(rows[f]) for f, _ in AMOUNT_FIELDS},
        amounts_missing={f: int(pd.to_numeric(rows[f], errors="coerce").isna().sum())
                         for f, _ in AMOUNT_FIELDS},
        etats=etats,
        done_share=etats["réalisée"] / n if n else None,
        simulated=bool(rows["simulated"].fillna(False).astype(bool).any()),
    )


def _quartier_areas(store: LayerStore, actions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the perimeters named by the actions' ``quartier`` or touched by their geometries."""
    perimeters = store.read("perimetres")
    if perimeters.empty:
        return perimeters
    perimeters = to_territory_crs(perimeters)
    codes = {str(c) for c in actions["quartier"].dropna()}
    located = actions[actions.geometry.notna() & ~actions.geometry.is_empty]
    if len(located):
        hits = perimeters.sindex.query(located.geometry, predicate="intersects")[1]
        codes |= set(perimeters["code"].iloc[hits].astype(str))
    return perimeters[perimeters["code"].astype(str).isin(codes)]


def _constats(store: LayerStore, areas: gpd.GeoDataFrame, start: date | None,
              end: date | None) -> gpd.GeoDataFrame:
    """Return the constats inside ``areas`` observed in ``[start, end)`` (None: unbounded)."""
    if areas.empty:
        empty = store.read("observations", limit=0)
        return to_territory_crs(empty.set_crs(TERRITORY_CRS, allow_override=True))
    obs = store.read("observations", bbox=tuple(areas.total_bounds), bbox_crs=TERRITORY_CRS,
                     start=start, end=end, where=DISTINCT_CONSTATS)
    obs = to_territory_crs(obs.set_crs(obs.crs or TERRITORY_CRS, allow_override=True))
    if obs.empty:
        return obs
    hits = areas.sindex.query(obs.geometry, predicate="intersects")[0]
    return obs.iloc[sorted(set(hits.tolist()))]


def _latest_year(store: LayerStore, areas: gpd.GeoDataFrame, year: int,
                 notes: list[str]) -> tuple[date, date, gpd.GeoDataFrame] | None:
    """Return the last 12 months of constats of ``areas`` when the TFPB year has none (noted)."""
    every = _constats(store, areas, None, None)
    if every.empty:
        return None
    last = pd.Timestamp(pd.to_datetime(every["observed_at"]).max())
    end = (last + pd.Timedelta(days=1)).date()
    start = (last.to_period("M") - 11).to_timestamp().date()
    notes.append(f"Aucun constat en {year} dans ces quartiers : comparaison avec les 12 derniers mois "
                 f"de constats disponibles (du {start:%d/%m/%Y} au {last:%d/%m/%Y}).")
    return start, end, _constats(store, areas, start, end)


def _in_buildings(store: LayerStore, constats: gpd.GeoDataFrame, bailleur: str) -> pd.Series:
    """Flag the constats inside a ``batiments`` polygon named like the bailleur."""
    inside_own = pd.Series(False, index=constats.index, dtype=bool)
    if constats.empty:
        return inside_own
    buildings = store.read("batiments", bbox=tuple(constats.total_bounds), bbox_crs=TERRITORY_CRS)
    if len(buildings):
        buildings = to_territory_crs(buildings)
        own = buildings[buildings["name"].map(lambda v: isinstance(v, str) and fold(v) == fold(bailleur))]
        if len(own):
            inside = own.sindex.query(constats.geometry, predicate="intersects")[0]
            inside_own.iloc[sorted(set(inside.tolist()))] = True
    return inside_own


def _check(query: TfpbQuery) -> None:
    if not isinstance(query.bailleur, str) or not query.bailleur.strip():
        raise RecordError("Bailleur manquant : choisissez un bailleur.")
    if not isinstance(query.year, int) or not 2000 <= query.year <= 2100:
        raise RecordError(f"Année TFPB invalide : {query.year!r} (entre 2000 et 2100).")
    if not math.isfinite(query.distance_m) or query.distance_m <= 0:
        raise RecordError(f"Distance invalide : {query.distance_m!r} (en mètres, positive).")


def tfpb_report(store: LayerStore, query: TfpbQuery) -> TfpbReport:
    """Return the TFPB programme of ``query.bailleur`` for ``query.year`` (see the module docstring).

    Parameters
    ----------
    store : LayerStore
    query : TfpbQuery

    Returns
    -------
    TfpbReport
        With no action for that bailleur and year: zero actions, every amount None, no
        proximity (None) and a note saying so.

    Raises
    ------
    RecordError
        On a missing bailleur, a year outside 2000–2100 or a bad distance (French message).
    """
    _check(query)
    notes: list[str] = []
    start = query.start or date(query.year, 1, 1)
    end = query.end or date(query.year + 1, 1, 1)
    actions = _tfpb_actions(store, query)
    spelled = str(actions["bailleur"].iloc[0]).strip() if len(actions) else query.bailleur.strip()
    if actions.empty:
        notes.append(f"Aucune action TFPB de « {query.bailleur.strip()} » pour {query.year}.")
    conv, axes = _axes(store, query, actions, notes)
    axis_codes = {a.code for a in axes}
    summaries = [_summary(a.code, a.titre, actions[actions["tfpb_axe"] == a.code], a.sous_actions)
                 for a in axes]
    outside = actions[~actions["tfpb_axe"].isin(axis_codes)]
    if len(outside):
        summaries.append(_summary(NO_AXIS, "Axe non renseigné ou hors cadre", outside, ()))
    total = _summary("total", "Total", actions, None)
    areas = _quartier_areas(store, actions) if len(actions) else store.read("perimetres", limit=0)
    constats = _constats(store, areas, start, end)
    if constats.empty and not areas.empty and query.start is None and query.end is None:
        start, end, constats = _latest_year(store, areas, query.year, notes) or (start, end, constats)
    in_building = _in_buildings(store, constats, spelled)
    domanial = constats["domanialite"].astype("string").fillna("").str.strip().str.lower().eq("bailleur")
    on_land = (domanial.astype(bool) | in_building).astype(bool)
    proximity = proximity_land = None
    unserved = constats.iloc[0:0]
    if areas.empty:
        if len(actions):
            notes.append("Quartier des actions inconnu : proximité aux constats non calculée (n.d.).")
    else:
        proximity = constat_proximity(constats, actions, distance=query.distance_m, on_land=on_land)
        proximity_land = constat_proximity(constats[on_land], actions, distance=query.distance_m)
        # with no located action, « no action within the distance » is unknown, not a finding
        unserved = proximity.unserved_on_land if proximity.actions_located else constats.iloc[0:0]
    near = (proximity.near.reindex(constats.index) if proximity is not None
            else pd.Series(pd.NA, index=constats.index, dtype="boolean"))
    constats = constats.assign(near=near, on_land=on_land, in_building=in_building)
    unserved = constats.loc[unserved.index]
    unlocated = proximity.actions_unlocated if proximity is not None else 0
    if unlocated:
        notes.append(f"{unlocated} action(s) sans localisation : non prises en compte dans la proximité.")
    logger.info("TFPB %s %s: %d actions, %d constats in %d quartiers", spelled, query.year,
                len(actions), len(constats), len(areas))
    return TfpbReport(
        bailleur=spelled, year=query.year, convention=conv.code if conv else None,
        convention_title=conv.titre if conv else None, axes=tuple(summaries), total=total,
        actions=actions, quartiers=tuple(sorted(areas["code"].astype(str))) if len(areas) else (),
        constats=constats, proximity=proximity, proximity_on_land=proximity_land, unserved=unserved,
        start=start, end=end, notes=tuple(notes),
    )


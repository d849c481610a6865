"""The comité de pilotage's tables built from the ``actions`` layer (data only, no rendering).

- :func:`plan_table` — Annexe 1 « Modèle de plan d'actions suite à un diagnostic en marchant »
  (table ``plan_actions`` of a convention, Pays de Montbéliard 2025–2030) and Annexe 2
  « Tableau de suivi des actions engagées » (table ``tableau_suivi``, Lillers 2023): one row
  per action, the columns are the convention's headings in order (read from the convention,
  never retyped), then « Référence » (the key of the round trip, see
  :mod:`layers.action_import`) and « Simulé » (« simulé » on every simulated row).
- :func:`tfpb_bilan` — the TFPB programme of a bailleur for a year, by axe and sous-action
  of the convention's ``tfpb_axes``: actions, amounts (prévisionnel, engagé, reporté, dépense
  valorisée; « n.d. » when no action of the group gives the amount, never 0) and actions by état.

Each heading of a convention table is bound to the action's fields by the words it holds
(:data:`_FIELD_WORDS`); the headings of a ``groupe`` « Réponses » are bound to the
convention's ``types_reponse`` whose ``libelle`` they are. A heading bound to nothing is an
error naming it: a new convention with a new column needs a binding, not a blank column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.conventions import Convention, Table, list_conventions, stored_conventions
from layers.errors import ConventionError
from layers.schema import ACTION_STATES
from layers.store.base import LayerStore
from layers.validate import fold

logger = logging.getLogger(__name__)

__all__ = [
    "MODELS",
    "REFERENCE",
    "SIMULATED",
    "UNKNOWN",
    "ActionTable",
    "Binding",
    "TableOptions",
    "TfpbBilan",
    "bind_columns",
    "find_convention",
    "labels_of",
    "plan_table",
    "render_cell",
    "tfpb_bilan",
]

#: Export models and the convention table each one prints.
MODELS: Mapping[str, str] = {"annexe1": "plan_actions", "annexe2": "tableau_suivi"}
#: Last columns of every exported table: the key of the round trip, the simulated label.
REFERENCE = "Référence"
SIMULATED = "Simulé"
#: Shown for an unknown value (never 0).
UNKNOWN = "n.d."
#: Separator of the parts of a cell (code — title, lieu — adresse, theme — description — address).
SEP = " — "


@dataclass(frozen=True)
class Binding:
    """What a column of a convention table shows: ``kind`` and the action field(s).

    ``kind``: ``text`` (one field as it is), ``date``, ``orientation``, ``objectif``,
    ``axe``, ``lieu`` (lieu — adresse), ``constats`` (the linked constats, read only),
    ``response`` (an « X » when the action's ``response_type`` is ``code``).
    """

    heading: str
    kind: str
    field: str | None = None
    code: str | None = None

    @property
    def editable(self) -> bool:
        """Whether the importer may change the action from this column."""
        return self.kind != "constats"


#: (words of the folded heading, kind, field), first match wins: « Indicateurs d'évaluation »
#: before « Évaluation de l'action », which comes before « Actions » (the action's title, as
#: « Réponses / Actions » of Annexe 1).
_FIELD_WORDS: tuple[tuple[tuple[str, ...], str, str | None], ...] = (
    (("orientation",), "orientation", "orientation"),
    (("objectif",), "objectif", "objectif"),
    (("lieu",), "lieu", "lieu"),
    (("constat",), "constats", None),
    (("origine",), "text", "origine"),
    (("indicateur",), "text", "indicateurs"),
    (("pilote",), "text", "pilote"),
    (("partenaire",), "text", "partenaires"),
    (("delai",), "date", "deadline"),
    (("axe",), "axe", "axe"),
    (("probleme",), "text", "probleme"),
    (("etat",), "text", "etat"),
    (("conflit",), "text", "conflit"),
    (("cause",), "text", "delay_causes"),
    (("evaluation",), "text", "evaluation"),
    (("commentaire",), "text", "comment"),
    (("action",), "text", "title"),
)


def bind_columns(convention: Convention, table: Table) -> tuple[Binding, ...]:
    """Bind each heading of ``table`` to the action fields it shows.

    Raises
    ------
    ConventionError
        When a heading matches no field, or a « Réponses » heading no response type.
    """
    responses = {fold(r.libelle): r.code for r in convention.types_reponse}
    bindings = []
    for column in table.colonnes:
        folded = fold(column.libelle)
        if column.groupe is not None and folded in responses:
            bindings.append(Binding(column.libelle, "response", "response_type", responses[folded]))
            continue
        for words, kind, name in _FIELD_WORDS:
            if any(word in folded for word in words):
                bindings.append(Binding(column.libelle, kind, name))
                break
        else:
            raise ConventionError(f"Tableau « {table.titre} » : colonne « {column.libelle} » sans "
                                  "correspondance avec les champs des actions.")
    return tuple(bindings)


@dataclass(frozen=True)
class TableOptions:
    """Which actions a table shows and how.

    ``quartier``, ``start``, ``end`` (on ``decided_at``, both days included), or a whole
    :class:`layers.actions.ActionQuery` (``query``, which then wins: the filters of the
    ``/api/actions`` route); ``convention`` code; ``hidden`` fields (the reader's role may
    not see them: their cells stay empty); ``today`` for lateness.
    """

    quartier: str | None = None
    start: date | None = None
    end: date | None = None
    convention: str | None = None
    today: date | None = None
    query: Any = None
    hidden: frozenset[str] = frozenset()

    def action_query(self) -> Any:
        """Return the :class:`layers.actions.ActionQuery` of these options."""
        from layers.actions import ActionQuery

        if self.query is not None:
            return self.query
        return ActionQuery(quartier=self.quartier, start=self.start, end=self.end)


@dataclass(frozen=True)
class ActionTable:
    """An annexe table ready to be written: headings, rows, their section and their keys.

    ``frame`` has the convention headings in order, then « Référence » and « Simulé »;
    ``sections`` gives, for each row, the label of its group (axe of the orientation in
    Annexe 1, ``None`` when the table has no sections); ``uids`` the action of each row.
    """

    model: str
    convention: Convention
    table: Table
    bindings: tuple[Binding, ...]
    frame: pd.DataFrame
    sections: tuple[str | None, ...]
    uids: tuple[str, ...]
    options: TableOptions
    generated_at: datetime = field(default_factory=datetime.now)

    @property
    def headings(self) -> tuple[str, ...]:
        """Every column heading, the convention's then « Référence » and « Simulé »."""
        return (*self.table.headings, REFERENCE, SIMULATED)

    @property
    def groups(self) -> tuple[str | None, ...]:
        """The merged heading above each column (« Réponses »), ``None`` elsewhere."""
        return (*(c.groupe for c in self.table.colonnes), None, None)

    @property
    def simulated(self) -> bool:
        """Whether any row is simulated."""
        return bool((self.frame[SIMULATED] != "").any()) if len(self.frame) else False

    def subtitle(self) -> str:
        """« Quartier … — période … — produit le … », in French."""
        opts = self.options.action_query()
        where = f"Quartier {opts.quartier}" if opts.quartier else "Tous les quartiers"
        if opts.start or opts.end:
            start = opts.start.strftime("%d/%m/%Y") if opts.start else "le début"
            end = opts.end.strftime("%d/%m/%Y") if opts.end else "aujourd'hui"
            period = f"actions décidées du {start} au {end}"
        else:
            period = "toutes les actions"
        return f"{where} — {period} — produit le {self.generated_at:%d/%m/%Y à %H:%M}"


# -- conventions ----------------------------------------------------------------------


def find_convention(store: LayerStore, table_code: str, *, code: str | None = None,
                    hint: Sequence[str] = ()) -> Convention:
    """Return the convention printing ``table_code``.

    ``code`` if given, else the one most actions name (``hint``), else the first having the
    table; a stored convention replaces the shipped one of the same code.

    Raises
    ------
    ConventionError
        When no convention (or not ``code``) has the table.
    """
    known: dict[str, Convention] = {}
    for conv in (*list_conventions(), *stored_conventions(store)):
        known[conv.code] = conv  # the store's version wins
    having = {c: conv for c, conv in known.items() if any(t.code == table_code for t in conv.tableaux)}
    if code is not None:
        if code not in known:
            raise ConventionError(f"Convention « {code} » inconnue (connues : {', '.join(sorted(known))}).")
        known[code].table(table_code)  # names the missing table
        return known[code]
    if not having:
        raise ConventionError(f"Aucune convention n'a de tableau « {table_code} ».")
    named = pd.Series([h for h in hint if h in having], dtype=object)
    if len(named):
        return having[str(named.value_counts().index[0])]
    return next(iter(having.values()))


# -- reading the actions ---------------------------------------------------------------


def _read_actions(store: LayerStore, opts: TableOptions) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read the actions of ``opts`` and their links to constats (``parent_uid``, ``constat_uid``)."""
    from layers.actions import read_actions

    actions = read_actions(store, opts.action_query(), today=opts.today)
    links = pd.DataFrame(
        [(str(uid), str(c)) for uid, constats in zip(actions["uid"], actions["constats"], strict=True)
         for c in constats], columns=["parent_uid", "constat_uid"])
    return actions, links


def _constat_texts(store: LayerStore, links: pd.DataFrame) -> dict[str, str]:
    """Map each action uid to the « theme — description — address » lines of its constats."""
    if links.empty:
        return {}
    uids = sorted(set(links["constat_uid"].astype(str)))
    obs = store.read("observations", uids=uids)

    def clean(name: str) -> list[str]:
        return [str(v).strip() if isinstance(v, str) else "" for v in obs[name]]

    texts = dict(zip(obs["uid"].astype(str), [
        SEP.join(p for p in parts if p)
        for parts in zip(clean("theme"), clean("description"), clean("address"), strict=True)
    ], strict=True))
    lines: dict[str, list[str]] = {}
    for parent, constat in sorted(zip(links["parent_uid"].astype(str), links["constat_uid"].astype(str),
                                      strict=True)):
        lines.setdefault(parent, []).append(texts.get(constat, "constat supprimé"))
    return {parent: "\n".join(found) for parent, found in lines.items()}


# -- cells ------------------------------------------------------------------------------


def labels_of(convention: Convention) -> dict[str, dict[str, str]]:
    """Return the display labels of the codes: orientation, objectif (général and opérationnel), axe."""
    objectives = {g.code: f"{g.code}. {g.titre}" for g in convention.general_objectives()}
    objectives.update({o.code: f"{o.code}. {o.titre}" for o in convention.operational_objectives()})
    return {
        "orientation": {o.code: f"{o.code}. {o.titre}" for o in convention.orientations},
        "objectif": objectives,
        "axe": {a.code: a.libelle_suivi or a.titre for a in convention.axes},
    }


def labels_by_convention(store: LayerStore) -> dict[str, dict[str, dict[str, str]]]:
    """Return :func:`labels_of` of every shipped or stored convention, by convention code.

    An action of another convention than the table's (the Annexe 2 model of Lillers for a
    plan written on the Montbéliard structure) shows, and is read back with, the titles of
    its own convention's codes.
    """
    return {c.code: labels_of(c) for c in (*list_conventions(), *stored_conventions(store))}


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.strftime("%d/%m/%Y")
    return str(value).strip()


def _flag(value: Any) -> bool:
    """Whether a boolean cell is true (False for None, NaN, pd.NA)."""
    try:
        return bool(value) and not bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def render_cell(binding: Binding, action: Mapping[str, Any], *, labels: Mapping[str, Mapping[str, str]],
                constats: Mapping[str, str]) -> Any:
    """Return the value of one cell of ``action`` (a date for ``date`` columns, else text).

    The importer compares a cell with this value to tell an edited cell from an unchanged one.
    """
    kind = binding.kind
    if kind == "constats":
        return constats.get(str(action["uid"]), "")
    if kind == "response":
        return "X" if action.get("response_type") == binding.code else ""
    value = action.get(binding.field or "")
    if kind == "date":
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date()
    if kind in labels:
        code = _text(value)
        return labels[kind].get(code, code)
    if kind == "lieu":
        return SEP.join(p for p in (_text(action.get("lieu")), _text(action.get("address"))) if p)
    return _text(value)


def _shown(binding: Binding, hidden: frozenset[str]) -> bool:
    """Whether the reader may see the fields of ``binding``."""
    names = {"lieu", "address"} if binding.kind == "lieu" else {binding.field}
    return not (names & hidden)


def _sort_keys(convention: Convention, actions: pd.DataFrame) -> pd.DataFrame:
    """Sort keys of the convention structure: axe, orientation, objectif order; délai; reference."""
    order: dict[str, int] = {}
    for i, code in enumerate([a.code for a in convention.axes]):
        order.setdefault(f"axe:{code}", i)
    for i, o in enumerate(convention.orientations):
        order[f"orientation:{o.code}"] = i
    objectives = [g.code for g in convention.general_objectives()]
    objectives += [o.code for o in convention.operational_objectives()]
    for i, code in enumerate(sorted(objectives, key=lambda c: [int(p) if p.isdigit() else 0
                                                                for p in c.split(".")])):
        order[f"objectif:{code}"] = i
    big = len(order) + 1

    def rank(prefix: str, values: pd.Series | None = None) -> pd.Series:
        if values is None and prefix not in actions.columns:
            return pd.Series(big, index=actions.index)
        values = actions[prefix] if values is None else values
        return values.map(lambda v: order.get(f"{prefix}:{v}", big))

    # the axe of the orientation first (Annexe 1 sections), else the action's own axe
    by_orientation = {o.code: o.axe for o in convention.orientations if o.axe}
    axe = actions.get("orientation", pd.Series(None, index=actions.index)).map(by_orientation)
    own = actions.get("axe", pd.Series(None, index=actions.index)).astype(object)
    axe = axe.astype(object).where(axe.notna(), own)
    return pd.DataFrame({
        "axe": rank("axe", axe), "orientation": rank("orientation"), "objectif": rank("objectif"),
        "deadline": pd.to_datetime(actions.get("deadline", pd.Series(None, index=actions.index)),
                                   errors="coerce"),
        "reference": actions["reference"].fillna("").astype(str),
    }, index=actions.index)


def _section_of(convention: Convention) -> Callable[[Mapping[str, Any]], str | None]:
    """Annexe 1's sections: the axe of the action's orientation (« 1 - Gestion technique… »)."""
    axes = {a.code: f"{a.code} - {a.titre}" for a in convention.axes}
    by_orientation = {o.code: o.axe for o in convention.orientations}

    def section(action: Mapping[str, Any]) -> str | None:
        axe = by_orientation.get(_text(action.get("orientation"))) or _text(action.get("axe"))
        return axes.get(axe, "Sans orientation") if convention.orientations else None

    return section


def plan_table(store: LayerStore, model: str, *, options: TableOptions = TableOptions()) -> ActionTable:
    """Build Annexe 1 (``annexe1``) or Annexe 2 (``annexe2``) of the actions of ``options``.

    Parameters
    ----------
    store : LayerStore
        Reads ``actions`` (and its ``constats`` links) and the linked ``observations``.
    model : str
        ``annexe1`` (plan d'actions) or ``annexe2`` (tableau de suivi).
    options : TableOptions
        Quartier, period, convention (default: the one the actions name, else the first
        stored or shipped convention having the table).

    Returns
    -------
    ActionTable

    Raises
    ------
    ConventionError
        On an unknown model, or a convention without the table.
    """
    if model not in MODELS:
        raise ConventionError(f"Modèle « {model} » inconnu : {', '.join(MODELS)}.")
    actions, links = _read_actions(store, options)
    hint = [str(c) for c in actions["convention"].dropna()] if "convention" in actions else []
    convention = find_convention(store, MODELS[model], code=options.convention, hint=hint)
    table = convention.table(MODELS[model])
    bindings = bind_columns(convention, table)
    if len(actions):
        actions = actions.loc[_sort_keys(convention, actions).sort_values(
            ["axe", "orientation", "objectif", "deadline", "reference"], na_position="last").index]
    labels, constats = labels_of(convention), _constat_texts(store, links)
    own_labels = labels_by_convention(store)
    section = _section_of(convention)
    wanted = {"uid", "reference", "simulated", "lieu", "address", "response_type", "orientation", "axe",
              "convention", *(b.field for b in bindings if b.field)}
    records = actions[[c for c in actions.columns if c in wanted]].to_dict("records")
    rows = [[render_cell(b, rec, labels=own_labels.get(_text(rec.get("convention")), labels),
                         constats=constats) if _shown(b, options.hidden) else ""
             for b in bindings]
            + [_text(rec.get("reference")), "simulé" if _flag(rec.get("simulated")) else ""]
            for rec in records]
    frame = pd.DataFrame(rows, columns=[*table.headings, REFERENCE, SIMULATED], dtype=object)
    return ActionTable(
        model=model, convention=convention, table=table, bindings=bindings, frame=frame,
        sections=tuple(section(rec) for rec in records), uids=tuple(str(r["uid"]) for r in records),
        options=options,
    )


# -- TFPB bilan -------------------------------------------------------------------------

#: Amount fields of a TFPB action and their column headings (the layer's labels).
_AMOUNTS = ("amount_planned", "amount_committed", "amount_deferred", "amount_valued")


@dataclass(frozen=True)
class TfpbBilan:
    """The TFPB programme of a bailleur for a year: one row per axe and sous-action, totals."""

    bailleur: str
    year: int
    convention: Convention
    frame: pd.DataFrame
    simulated: bool
    generated_at: datetime = field(default_factory=datetime.now)

    def subtitle(self) -> str:
        """« Bailleur … — année … — produit le … »."""
        return (f"Bailleur {self.bailleur} — année {self.year} — produit le "
                f"{self.generated_at:%d/%m/%Y à %H:%M}")


def _amount(values: pd.Series) -> Any:
    """Sum of the known amounts; « n.d. » when none is known; the count known when some are."""
    known = values.dropna()
    if known.empty:
        return UNKNOWN
    total = round(float(known.sum()), 2)
    if len(known) < len(values):
        return f"{total:.2f} (partiel : {len(known)}/{len(values)} actions renseignées)".replace(".", ",", 1)
    return total


def _bilan_row(axe: str, sous_action: str, group: pd.DataFrame, labels: Mapping[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"Axe": axe, "Sous-action": sous_action, "Actions": len(group)}
    for name in _AMOUNTS:
        row[labels[name]] = _amount(pd.to_numeric(group[name], errors="coerce")) if len(group) else UNKNOWN
    counts = group["etat"].value_counts() if len(group) else pd.Series(dtype=int)
    for state in ACTION_STATES:
        row[state.capitalize()] = int(counts.get(state, 0))
    simulated = len(group) and bool(group["simulated"].fillna(False).astype(bool).any())
    row[SIMULATED] = "simulé" if simulated else ""
    return row


def tfpb_bilan(store: LayerStore, *, bailleur: str, year: int, convention: str | None = None) -> TfpbBilan:
    """Build the TFPB bilan of ``bailleur`` (folded match) for ``year``, by the convention's TFPB axes.

    Every axe and sous-action of the convention is listed (0 action: amounts « n.d. »); the
    actions whose axe or sous-action is not the convention's come under « non renseigné ».

    Raises
    ------
    ConventionError
        When no convention describes the TFPB axes.
    """
    from layers.schema import LAYERS

    known = {c.code: c for c in (*list_conventions(), *stored_conventions(store)) if c.tfpb_axes}
    if not known or (convention is not None and convention not in known):
        raise ConventionError("Aucune convention ne décrit les axes TFPB"
                              + (f" sous le code « {convention} »." if convention else "."))
    conv = known[convention] if convention else next(iter(known.values()))
    actions = store.read("actions", where={"tfpb": True, "tfpb_year": int(year)})
    actions = actions[actions["bailleur"].fillna("").map(fold) == fold(bailleur)]
    labels = {f.name: f.label for f in LAYERS["actions"].fields if f.name in _AMOUNTS}
    axe = actions["tfpb_axe"].fillna("").astype(str)
    sous = actions["tfpb_sous_action"].fillna("").astype(str).map(fold)
    rows, used = [], pd.Series(False, index=actions.index)
    for ax in conv.tfpb_axes:
        title = f"{ax.code}. {ax.titre}"
        in_axe = axe == ax.code
        for name in ax.sous_actions:
            mask = in_axe & (sous == fold(name))
            used |= mask
            rows.append(_bilan_row(title, name, actions[mask], labels))
        rest = in_axe & ~used
        if rest.any():
            used |= rest
            rows.append(_bilan_row(title, "Sous-action non renseignée ou hors cadre", actions[rest], labels))
    if (~used).any():
        rows.append(_bilan_row("Axe non renseigné ou hors cadre", "", actions[~used], labels))
    rows.append(_bilan_row("Total", "", actions, labels))
    simulated = bool(actions["simulated"].fillna(False).astype(bool).any()) if len(actions) else False
    shown = str(actions["bailleur"].mode().iloc[0]) if len(actions) else bailleur
    return TfpbBilan(bailleur=shown, year=int(year), convention=conv,
                     frame=pd.DataFrame(rows).astype({"Actions": int}), simulated=simulated)

"""Read back an Annexe 1 / Annexe 2 spreadsheet (XLSX or ODS) into the ``actions`` layer.

The file is one written by :mod:`webmap.documents.spreadsheets`, possibly edited in
LibreOffice or Excel since: rows reordered, cells changed, empty rows added, rows added
without « Référence » (new actions). The import

- finds the heading row by its « Référence » cell and the convention table by its headings
  (any order; a missing or unknown heading is an error naming its column);
- skips empty rows and the section rows (« 1 - Gestion technique… ») of Annexe 1;
- matches each row to its action by « Référence » (an unknown or repeated reference is an
  error); compares every editable cell with what the export would write for the action
  (:func:`layers.action_tables.render_cell`) and changes only the fields whose cell differs,
  through :func:`layers.actions.update_action` (an état change goes to the history, a
  « réalisée » marks the linked constats « traité »);
- creates the rows without reference through :func:`layers.actions.create_action` (the
  reference is then assigned), never twice: the file must be exported again to get it;
- is all or nothing: any problem, and nothing is written; the
  :class:`~layers.errors.ActionImportError` lists every problem, naming row and column.

« Constat(s) » (the linked constats) and « Simulé » are not read back: links are made on
the plan d'actions page or through the API.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from layers.action_tables import (
    MODELS,
    REFERENCE,
    SEP,
    SIMULATED,
    Binding,
    bind_columns,
    labels_by_convention,
    labels_of,
    render_cell,
)
from layers.actions import create_action, update_action
from layers.conventions import Convention, Table, list_conventions, stored_conventions
from layers.errors import ActionImportError, NotFoundError, RecordError
from layers.schema import ACTION_STATES, LAYERS
from layers.store.base import LayerStore
from layers.validate import fold

logger = logging.getLogger(__name__)

__all__ = ["ActionImportOptions", "ActionImportReport", "import_action_table", "read_action_sheet"]

_READERS = {".xlsx": "openpyxl", ".ods": "odf"}
#: How many rows from the top are searched for the heading row.
_HEAD_SEARCH = 30
_DAY_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y")


@dataclass(frozen=True)
class ActionImportOptions:
    """How to import: who, in which quartier the new rows go, dry run (``simulation``)."""

    actor: str | None = None
    organisation: str | None = None
    quartier: str | None = None
    simulation: bool = False


@dataclass
class ActionImportReport:
    """What an import did (or, in simulation, would do)."""

    file_name: str
    model: str
    convention: str
    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    unchanged: int = 0
    skipped_rows: int = 0
    simulation: bool = False

    def summary(self) -> str:
        """One French line: created / updated / unchanged / skipped."""
        verb = "seraient " if self.simulation else ""
        return (f"{self.file_name} ({self.model}, convention {self.convention}) : "
                f"{len(self.created)} action(s) {verb}créée(s), {len(self.updated)} {verb}mise(s) à jour, "
                f"{self.unchanged} inchangée(s), {self.skipped_rows} ligne(s) vide(s) ou de section "
                "ignorée(s), 0 rejetée.")


@dataclass(frozen=True)
class _Sheet:
    """The data rows of a file: its table, the column of each heading, the rows by number."""

    convention: Convention
    table: Table
    model: str
    columns: Mapping[str, int]
    rows: tuple[tuple[int, tuple[Any, ...]], ...]
    skipped: int


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _read_grid(path: Path) -> pd.DataFrame:
    engine = _READERS.get(path.suffix.lower())
    if engine is None:
        raise ActionImportError(f"{path.name} : format non pris en charge (XLSX ou ODS attendu).")
    try:
        return pd.read_excel(path, header=None, dtype=object, engine=engine)  # type: ignore[call-overload]
    except (OSError, ValueError, KeyError) as exc:
        raise ActionImportError(f"{path.name} : fichier illisible comme tableur ({exc}).") from exc
    except Exception as exc:  # zip / XML errors of a damaged file come in many classes
        raise ActionImportError(f"{path.name} : fichier tableur endommagé ({type(exc).__name__}).") from exc


def _candidates(store: LayerStore) -> list[tuple[Convention, Table, str]]:
    known: dict[str, Convention] = {c.code: c for c in list_conventions()}
    known.update({c.code: c for c in stored_conventions(store)})
    return [(conv, conv.table(code), model) for conv in known.values() for model, code in MODELS.items()
            if any(t.code == code for t in conv.tableaux)]


def _match_table(store: LayerStore, headings: Mapping[str, int], name: str) -> tuple[Convention, Table, str]:
    """Return the convention table whose headings are those of the file, or an error naming the columns."""
    found = set(headings) - {REFERENCE, SIMULATED}
    best = None
    for conv, table, model in _candidates(store):
        expected = set(table.headings)
        if expected == found:
            return conv, table, model
        score = len(expected & found)
        if best is None or score > best[0]:
            best = (score, conv, table)
    if best is None:
        raise ActionImportError(f"{name} : aucune convention n'a de tableau d'actions.")
    _, conv, table = best
    problems = [f"colonne {_column_letter(headings[h])} « {h} » : intitulé inconnu du tableau "
                f"« {table.titre} »" for h in sorted(found - set(table.headings), key=lambda h: headings[h])]
    problems += [f"colonne « {h} » absente (attendue par « {table.titre} »)"
                 for h in table.headings if h not in found]
    raise ActionImportError(f"{name} : les colonnes ne sont pas celles d'un tableau d'actions.",
                            problems=problems)


def read_action_sheet(store: LayerStore, path: str | Path) -> _Sheet:
    """Read the table of ``path``: its convention table, columns and non-empty data rows.

    Raises
    ------
    ActionImportError
        On a file that cannot be read, without « Référence » heading, or whose headings are
        not those of a convention table.
    """
    path = Path(path)
    grid = _read_grid(path)
    head = None
    for i in range(min(len(grid), _HEAD_SEARCH)):
        if any(isinstance(v, str) and v.strip() == REFERENCE for v in grid.iloc[i]):
            head = i
            break
    if head is None:
        raise ActionImportError(f"{path.name} : ligne d'intitulés introuvable (aucune cellule "
                                f"« {REFERENCE} » dans les {_HEAD_SEARCH} premières lignes).")
    headings: dict[str, int] = {}
    problems = []
    for j, value in enumerate(grid.iloc[head]):
        if _blank(value):
            continue
        text = re.sub(r"\s+", " ", str(value)).strip()
        if text in headings:
            problems.append(f"ligne {head + 1}, colonne {_column_letter(j)} : intitulé « {text} » en double")
        headings[text] = j
    if problems:
        raise ActionImportError(f"{path.name} : intitulés en double.", problems=problems)
    conv, table, model = _match_table(store, headings, path.name)
    rows, skipped = [], 0
    first = headings[table.headings[0]]
    for i in range(head + 1, len(grid)):
        values = tuple(None if _blank(v) else v for v in grid.iloc[i])
        used = [values[j] for j in headings.values() if j < len(values)]
        others = [values[j] for h, j in headings.items() if j != first and h != SIMULATED and j < len(values)]
        if all(v is None for v in used) or all(v is None for v in others):
            skipped += 1  # empty row, or a section row (« 1 - Gestion technique… »)
            continue
        rows.append((i + 1, values))
    return _Sheet(conv, table, model, headings, tuple(rows), skipped)


# -- cells to fields ------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%d/%m/%Y")
    return re.sub(r"\r\n?", "\n", str(value)).strip()


def _day(value: Any) -> date | None:
    """Return the day of a date cell (date, datetime, or « jj/mm/aaaa » text); ValueError when not a date."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in _DAY_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date « {text} » illisible (jj/mm/aaaa attendu)")


def _same(binding: Binding, cell: Any, expected: Any) -> bool:
    if binding.kind == "date":
        try:
            return _day(cell) == expected
        except ValueError:
            return False
    return _text_of(cell) == _text_of(expected)


def _code(binding: Binding, cell: Any, labels: Mapping[str, Mapping[str, str]]) -> str | None:
    """Return the code of an orientation / objectif / axe cell (its label, or a code)."""
    text = _text_of(cell)
    if not text:
        return None
    by_label = {fold(label): code for code, label in labels[binding.kind].items()}
    if fold(text) in by_label:
        return by_label[fold(text)]
    head = re.match(r"^\s*([0-9]+(?:\.[0-9]+)*)\.?(?:\s|$)", text)
    if head and head.group(1) in labels[binding.kind]:
        return head.group(1)
    raise ValueError(f"« {text} » ne correspond à aucun code de la convention "
                     f"({', '.join(list(labels[binding.kind])[:12])}…)")


def _state(cell: Any) -> str:
    text = _text_of(cell)
    for state in ACTION_STATES:
        if fold(state) == fold(text):
            return state
    raise ValueError(f"état « {text} » inconnu ; états permis : {', '.join(ACTION_STATES)}")


def _field_changes(binding: Binding, cell: Any, labels: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """Return the field values a changed cell stands for (ValueError with a French reason)."""
    if binding.kind == "date":
        return {binding.field or "": _day(cell)}
    if binding.kind in labels:
        return {binding.field or "": _code(binding, cell, labels)}
    if binding.kind == "lieu":
        lieu, _, address = _text_of(cell).partition(SEP)
        return {"lieu": lieu.strip() or None, "address": address.strip() or None}
    if binding.field == "etat":
        return {"etat": _state(cell)}
    return {binding.field or "": _text_of(cell) or None}


def _response(row: tuple[Any, ...], responses: Sequence[tuple[Binding, int]]) -> str | None:
    marked = [b.code for b, j in responses if j < len(row) and row[j] is not None]
    if len(marked) > 1:
        raise ValueError("plusieurs colonnes « Réponses » cochées ; une seule par action")
    return marked[0] if marked else None


@dataclass
class _Plan:
    """What the rows ask: changes by action uid, new actions, problems, unchanged count."""

    updates: dict[str, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)
    creations: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unchanged: int = 0
    known: list[str] = field(default_factory=list)


def _row_values(row: tuple[Any, ...], number: int, sheet: _Sheet, bindings: Sequence[Binding],
                labels: Mapping[str, Mapping[str, str]], action: Mapping[str, Any] | None,
                plan: _Plan) -> dict[str, Any]:
    """Return the fields of a row that differ from ``action`` (every filled field for a new row)."""
    values: dict[str, Any] = {}
    responses = []
    for binding in bindings:
        j = sheet.columns[binding.heading]
        cell = row[j] if j < len(row) else None
        if binding.kind == "response":
            responses.append((binding, j))
            continue
        if not binding.editable:
            continue
        if action is not None and _same(binding, cell,
                                        render_cell(binding, action, labels=labels, constats={})):
            continue
        if action is None and cell is None:
            continue
        try:
            values.update(_field_changes(binding, cell, labels))
        except ValueError as exc:
            plan.problems.append(f"ligne {number}, colonne {_column_letter(j)} « {binding.heading} » : {exc}")
    if responses:
        try:
            response = _response(row, responses)
        except ValueError as exc:
            plan.problems.append(f"ligne {number}, colonnes « {responses[0][0].heading} »… : {exc}")
        else:
            if action is None or response != action.get("response_type"):
                values["response_type"] = response
    return values


def _titles(store: LayerStore, quartier: str | None) -> dict[str, str]:
    """Map the folded title of the stored actions (of ``quartier`` when known) to their reference.

    A row without reference whose title is there is the row of an earlier import of the
    same file: creating it again would duplicate the action.
    """
    stored = store.read("actions", where={"quartier": quartier} if quartier else {})
    return {fold(str(t)): str(r) for t, r in zip(stored["title"], stored["reference"], strict=True)
            if isinstance(t, str)}


def _plan(store: LayerStore, sheet: _Sheet, opts_quartier: str | None = None) -> _Plan:
    bindings = bind_columns(sheet.convention, sheet.table)
    labels = labels_of(sheet.convention)
    own_labels = labels_by_convention(store)
    ref_col = sheet.columns[REFERENCE]
    refs = [(n, _text_of(row[ref_col]) if ref_col < len(row) else "") for n, row in sheet.rows]
    wanted = sorted({r for _, r in refs if r})
    stored = store.read("actions", where={"reference": wanted}) if wanted else None
    by_ref = ({} if stored is None else
              {str(r["reference"]): r for r in stored.drop(columns="geometry").to_dict("records")})
    plan, seen = _Plan(), dict[str, int]()
    titles = _titles(store, opts_quartier)
    for (number, row), (_, ref) in zip(sheet.rows, refs, strict=True):
        if ref and ref in seen:
            plan.problems.append(f"ligne {number}, colonne {_column_letter(ref_col)} « {REFERENCE} » : "
                                 f"référence « {ref} » déjà sur la ligne {seen[ref]}")
            continue
        if ref and ref not in by_ref:
            plan.problems.append(f"ligne {number}, colonne {_column_letter(ref_col)} « {REFERENCE} » : "
                                 f"aucune action « {ref} » dans l'entrepôt (laisser la cellule vide pour "
                                 "en créer une)")
            continue
        action = by_ref.get(ref) if ref else None
        # the cells hold the titles of the action's own convention, as the export wrote them
        row_labels = own_labels.get(str(action.get("convention") or ""), labels) if action else labels
        values = _row_values(row, number, sheet, bindings, row_labels, action, plan)
        if action is None:
            if not values.get("title"):
                title = next(b.heading for b in bindings if b.field == "title")
                plan.problems.append(f"ligne {number}, colonne « {title} » : nouvelle action sans intitulé")
                continue
            twin = titles.get(fold(str(values["title"])))
            if twin is not None:
                plan.problems.append(f"ligne {number} : l'action « {values['title']} » existe déjà "
                                     f"(référence {twin}) ; indiquer sa référence dans la colonne "
                                     f"« {REFERENCE} » pour la modifier")
                continue
            plan.creations.append((number, values))
        else:
            seen[ref] = number
            plan.known.append(str(action["uid"]))
            if values:
                plan.updates[str(action["uid"])] = (number, ref, values)
            else:
                plan.unchanged += 1
    return plan


def _heading_of(sheet: _Sheet, name: str | None) -> str:
    for binding in bind_columns(sheet.convention, sheet.table):
        if binding.field == name or (name == "address" and binding.kind == "lieu"):
            return f"colonne « {binding.heading} »"
    label = LAYERS["actions"].field(name).label if name and name in LAYERS["actions"].field_names else name
    return f"champ « {label} »" if label else "ligne entière"


def _apply(store: LayerStore, sheet: _Sheet, plan: _Plan, opts: ActionImportOptions,
           report: ActionImportReport) -> None:
    comment = f"import du tableau {report.file_name}"
    quartier = opts.quartier or _common_quartier(store, plan)
    stored = {c.code for c in stored_conventions(store)}
    problems: list[str] = []
    with store.transaction():
        for uid, (number, ref, values) in plan.updates.items():
            try:
                update_action(store, uid, values, actor=opts.actor, comment=comment)
            except (RecordError, NotFoundError) as exc:
                where = _heading_of(sheet, getattr(exc, "field", None))
                problems.append(f"ligne {number} ({ref}), {where} : {exc}")
            else:
                report.updated[ref] = sorted(values)
        for number, values in plan.creations:
            data = {"quartier": quartier, **values}
            if sheet.convention.code in stored:
                data["convention"] = sheet.convention.code
            try:
                created = create_action(store, data, organisation=opts.organisation, actor=opts.actor)
            except (RecordError, NotFoundError) as exc:
                where = _heading_of(sheet, getattr(exc, "field", None))
                problems.append(f"ligne {number}, {where} : {exc}")
            else:
                report.created.append(str(created["reference"]))
        if problems:  # raised inside the transaction: nothing is kept
            raise ActionImportError(f"{report.file_name} : import refusé, rien n'a été modifié.",
                                    problems=problems)


def _common_quartier(store: LayerStore, plan: _Plan) -> str | None:
    """Return the quartier of the file's existing actions when they share one (new rows go there)."""
    uids = list(plan.updates) + plan.known
    if not uids or not plan.creations:
        return None
    quartiers = store.read("actions", uids=uids)["quartier"].dropna().unique()
    return str(quartiers[0]) if len(quartiers) == 1 else None


def import_action_table(store: LayerStore, path: str | Path, *,
                        options: ActionImportOptions = ActionImportOptions()) -> ActionImportReport:
    """Import an Annexe 1 / Annexe 2 spreadsheet into the ``actions`` layer, all or nothing.

    Parameters
    ----------
    store : LayerStore
        Destination (its ``actions`` layer).
    path : str or Path
        XLSX or ODS file as exported (then edited).
    options : ActionImportOptions
        Actor and organisation of the changes, quartier of the new actions (default: the
        one shared by the file's existing actions), ``simulation`` (check and count only).

    Returns
    -------
    ActionImportReport

    Raises
    ------
    ActionImportError
        With every problem (row, column, reason) in ``problems``; nothing was changed.
    """
    path = Path(path)
    sheet = read_action_sheet(store, path)
    plan = _plan(store, sheet, options.quartier)
    if plan.problems:
        raise ActionImportError(f"{path.name} : import refusé, rien n'a été modifié.", problems=plan.problems)
    report = ActionImportReport(file_name=path.name, model=sheet.model, convention=sheet.convention.code,
                                unchanged=plan.unchanged, skipped_rows=sheet.skipped,
                                simulation=options.simulation)
    if options.simulation:
        report.updated = {ref: sorted(values) for _, ref, values in plan.updates.values()}
        report.created = [f"(ligne {n})" for n, _ in plan.creations]
        return report
    _apply(store, sheet, plan, options, report)
    logger.info("action table %s imported: %d created, %d updated, %d unchanged", path.name,
                len(report.created), len(report.updated), report.unchanged)
    return report

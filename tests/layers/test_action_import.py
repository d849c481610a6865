"""Round trip of the Annexe 1 / Annexe 2 spreadsheets: export, edit, re-import."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from odf.opendocument import load as load_ods
from odf.table import Table, TableCell, TableRow

from layers.action_import import ActionImportOptions, import_action_table
from layers.action_tables import REFERENCE, TableOptions, plan_table
from layers.errors import ActionImportError
from layers.store import open_store
from layers.store.base import LayerStore
from tests.actionplan import QUARTIER, add_plan, build_store
from webmap.documents.spreadsheets import HEADING_ROW, table_layout, write_ods, write_xlsx


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = build_store(tmp_path_factory.mktemp("import-template") / "plan.gpkg", shared_data)
    store = open_store(path)
    try:
        add_plan(store)
    finally:
        store.close()
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> LayerStore:
    copy = tmp_path / "plan.gpkg"
    shutil.copyfile(template, copy)
    s = open_store(copy, create=False)
    yield s
    s.close()


def _export(store: LayerStore, model: str, path: Path) -> Path:
    layout = table_layout(plan_table(store, model, options=TableOptions(quartier=QUARTIER)))
    path.write_bytes(write_xlsx(layout) if path.suffix == ".xlsx" else write_ods(layout))
    return path


def _state(store: LayerStore) -> tuple[pd.DataFrame, int, int]:
    actions = store.read("actions").drop(columns="geometry").sort_values("uid").reset_index(drop=True)
    history = store.read_children("actions", "historique")
    links = store.read_children("actions", "constats")
    return actions, len(history), len(links)


def _headings(ws: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, int]:
    return {c.value: c.column for c in ws[HEADING_ROW] if c.value}


@pytest.mark.parametrize(("model", "suffix"), [("annexe2", ".xlsx"), ("annexe2", ".ods"),
                                                ("annexe1", ".xlsx"), ("annexe1", ".ods")])
def test_reimport_of_an_unchanged_export_changes_nothing(store: LayerStore, tmp_path: Path, model: str,
                                                         suffix: str) -> None:
    path = _export(store, model, tmp_path / f"tableau{suffix}")
    before = _state(store)
    report = import_action_table(store, path)
    after = _state(store)
    assert report.created == [] and report.updated == {}
    assert report.unchanged == len(before[0]) == 14
    pd.testing.assert_frame_equal(before[0], after[0])  # updated_at included
    assert before[1:] == after[1:]  # no history entry, no link


def test_edited_file_updates_one_action_and_creates_one(store: LayerStore, tmp_path: Path) -> None:
    path = _export(store, "annexe2", tmp_path / "suivi.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    cols = _headings(ws)
    first = HEADING_ROW + 1
    reference = ws.cell(first + 2, cols[REFERENCE]).value
    target = store.read("actions", where={"reference": reference}).iloc[0]
    assert target["etat"] != "réalisée"
    history_before = len(store.history("actions", target["uid"]))
    ws.cell(first + 2, cols["État d'avancement"]).value = "Réalisée"  # case differs: still an état
    ws.cell(first + 2, cols["Causes retard ou report"]).value = "Attente du passage de l'encombrant"
    # rows reordered, empty rows added, a new row without reference at the end
    ws.move_range(f"A{first}:N{first}", rows=ws.max_row - first + 3)
    ws.insert_rows(first + 4, amount=2)
    new = ws.max_row + 2
    ws.cell(new, cols["Axes d'intervention"]).value = "Propreté, entretien"
    ws.cell(new, cols["Actions"]).value = "Nettoyage renforcé du parvis"
    ws.cell(new, cols["Réponse usage (prévention, sanction)"]).value = "x"
    ws.cell(new, cols["État d'avancement"]).value = "engagée"
    wb.save(path)
    others = store.read("actions")
    others = others[others["uid"] != target["uid"]].drop(columns="geometry").sort_values("uid")

    report = import_action_table(store, path, options=ActionImportOptions(actor="tests"))

    assert report.updated == {reference: ["delay_causes", "etat"]}
    assert report.unchanged == 13 and len(report.created) == 1
    changed = store.read("actions", where={"reference": reference}).iloc[0]
    assert changed["etat"] == "réalisée" and changed["delay_causes"] == "Attente du passage de l'encombrant"
    history = store.history("actions", target["uid"])
    assert len(history) == history_before + 1 and history["status"].iloc[-1] == "réalisée"
    # « réalisée »: the linked open constats are now « traité » with the action's reference
    links = store.read_children("actions", "constats", parent_uids=[target["uid"]])
    treated = store.read("observations", uids=list(links["constat_uid"]))
    assert (treated["action_reference"] == reference).all()
    created = store.read("actions", where={"reference": report.created[0]}).iloc[0]
    assert created["title"] == "Nettoyage renforcé du parvis" and created["axe"] == "2"
    assert created["response_type"] == "usage" and created["quartier"] == QUARTIER
    after = store.read("actions")
    after = after[~after["uid"].isin([target["uid"], created["uid"]])]
    after = after.drop(columns="geometry").sort_values("uid")
    pd.testing.assert_frame_equal(others.reset_index(drop=True), after.reset_index(drop=True),
                                  check_dtype=False)  # the other 13 actions untouched (updated_at too)
    # importing the same edited file again duplicates nothing
    with pytest.raises(ActionImportError) as err:
        import_action_table(store, path)
    assert "existe déjà" in err.value.problems[0] and len(store.read("actions")) == 15


def test_ods_export_opens_with_odfpy_and_holds_the_xlsx_rows(store: LayerStore, tmp_path: Path) -> None:
    xlsx = _export(store, "annexe2", tmp_path / "suivi.xlsx")
    ods = _export(store, "annexe2", tmp_path / "suivi.ods")
    doc = load_ods(str(ods))
    tables = doc.spreadsheet.getElementsByType(Table)
    assert len(tables) == 1
    rows = tables[0].getElementsByType(TableRow)

    def texts(row: TableRow) -> list[str]:
        return ["\n".join(str(p) for p in cell.childNodes) for cell in row.getElementsByType(TableCell)]

    heading = next(i for i, row in enumerate(rows) if REFERENCE in texts(row))
    ods_rows = [texts(r) for r in rows[heading:]]
    ws = openpyxl.load_workbook(xlsx).active
    xlsx_rows = [["" if v is None else (v.strftime("%d/%m/%Y") if isinstance(v, date) else str(v))
                  for v in r] for r in ws.iter_rows(min_row=HEADING_ROW, values_only=True)]
    assert len(ods_rows) == len(xlsx_rows) == 15
    for o, x in zip(ods_rows, xlsx_rows, strict=True):
        assert o[:len(x)] == x[:len(o)] and all(v == "" for v in x[len(o):])


def _hostile(store: LayerStore, tmp_path: Path, edit: Callable[[Any, dict[str, int]], None]
             ) -> ActionImportError:
    path = _export(store, "annexe2", tmp_path / "hostile.xlsx")
    wb = openpyxl.load_workbook(path)
    edit(wb.active, _headings(wb.active))
    wb.save(path)
    before = _state(store)
    with pytest.raises(ActionImportError) as err:
        import_action_table(store, path)
    after = _state(store)
    pd.testing.assert_frame_equal(before[0], after[0])
    assert before[1:] == after[1:]
    return err.value


def test_unknown_state_and_bad_date_name_row_and_column(store: LayerStore, tmp_path: Path) -> None:
    def edit(ws: Any, cols: dict[str, int]) -> None:
        ws.cell(HEADING_ROW + 2, cols["État d'avancement"]).value = "terminée"
        ws.cell(HEADING_ROW + 3, cols["Actions"]).value = "Titre changé (valide)"
        ws.cell(HEADING_ROW + 5, cols[REFERENCE]).value = "QP075020-1999-999"

    err = _hostile(store, tmp_path, edit)
    assert any(p.startswith(f"ligne {HEADING_ROW + 2}, colonne H « État d'avancement » : état « terminée » "
                            "inconnu") for p in err.problems), err.problems
    assert any(p.startswith(f"ligne {HEADING_ROW + 5}, colonne M « Référence » : aucune action")
               for p in err.problems)
    assert "rien n'a été modifié" in str(err)


def test_bad_date_in_annexe1(store: LayerStore, tmp_path: Path) -> None:
    path = _export(store, "annexe1", tmp_path / "plan.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    cols = _headings(ws)
    row = next(r for r in range(HEADING_ROW + 1, ws.max_row + 1) if ws.cell(r, cols[REFERENCE]).value)
    ws.cell(row, cols["Délais"]).value = "31/02/2025"
    wb.save(path)
    with pytest.raises(ActionImportError) as err:
        import_action_table(store, path)
    assert err.value.problems == [f"ligne {row}, colonne J « Délais » : date « 31/02/2025 » illisible "
                                  "(jj/mm/aaaa attendu)"]


def test_wrong_columns_are_named(store: LayerStore, tmp_path: Path) -> None:
    def edit(ws: Any, cols: dict[str, int]) -> None:
        ws.cell(HEADING_ROW, cols["Conflit"]).value = "Conflits éventuels"
        ws.delete_cols(cols["Commentaire"])

    err = _hostile(store, tmp_path, edit)
    assert "colonne I « Conflits éventuels » : intitulé inconnu" in err.problems[0]
    assert any("colonne « Commentaire » absente" in p for p in err.problems)
    assert any("colonne « Conflit » absente" in p for p in err.problems)


def test_repeated_reference_two_responses_and_missing_title(store: LayerStore, tmp_path: Path) -> None:
    def edit(ws: Any, cols: dict[str, int]) -> None:
        ws.cell(HEADING_ROW + 3, cols[REFERENCE]).value = ws.cell(HEADING_ROW + 1, cols[REFERENCE]).value
        ws.cell(HEADING_ROW + 4, cols["Réponse gestion"]).value = "X"
        ws.cell(HEADING_ROW + 4, cols["Réponse conception / aménagement"]).value = "X"
        ws.cell(ws.max_row + 1, cols["Conflit"]).value = "ligne sans action"

    err = _hostile(store, tmp_path, edit)
    text = "\n".join(err.problems)
    assert f"ligne {HEADING_ROW + 3}, colonne M « Référence » : référence" in text
    assert "plusieurs colonnes « Réponses » cochées" in text
    assert "nouvelle action sans intitulé" in text


def test_not_a_table_file(store: LayerStore, tmp_path: Path, shared_data: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("a;b\n1;2\n", encoding="utf-8")
    with pytest.raises(ActionImportError, match="format non pris en charge"):
        import_action_table(store, csv)
    broken = tmp_path / "casse.xlsx"
    broken.write_bytes(b"PK\x03\x04 pas un classeur")
    with pytest.raises(ActionImportError, match=r"illisible|endommagé"):
        import_action_table(store, broken)
    other = tmp_path / "autre.xlsx"
    pd.DataFrame({"Référence": ["a"], "Nom": ["b"]}).to_excel(other, index=False)
    with pytest.raises(ActionImportError) as err:
        import_action_table(store, other)
    assert "colonne B « Nom » : intitulé inconnu" in err.value.problems[0]


def test_simulation_changes_nothing(store: LayerStore, tmp_path: Path) -> None:
    path = _export(store, "annexe2", tmp_path / "suivi.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    cols = _headings(ws)
    ws.cell(HEADING_ROW + 1, cols["Conflit"]).value = "Nouveau conflit"
    wb.save(path)
    before = _state(store)
    report = import_action_table(store, path, options=ActionImportOptions(simulation=True))
    assert list(report.updated.values()) == [["conflit"]] and "seraient" in report.summary()
    pd.testing.assert_frame_equal(before[0], _state(store)[0])


def test_round_trip_on_each_backend(store_url: str, shared_data: Path, tmp_path: Path) -> None:
    from layers.conventions import import_convention, list_conventions
    from layers.importer import ImportOptions, import_file
    from tests.actionplan import DMR

    store = open_store(store_url)
    try:
        import_file(store, shared_data.joinpath(*DMR), options=ImportOptions(mapping="dansmarue"))
        for convention in list_conventions():
            import_convention(store, convention)
        add_plan(store, n=6)
        path = _export(store, "annexe2", tmp_path / "suivi.xlsx")
        before = _state(store)
        assert import_action_table(store, path).unchanged == 6
        pd.testing.assert_frame_equal(before[0], _state(store)[0])
        wb = openpyxl.load_workbook(path)
        ws = wb.active
        cols = _headings(ws)
        reference = ws.cell(HEADING_ROW + 1, cols[REFERENCE]).value
        ws.cell(HEADING_ROW + 1, cols["État d'avancement"]).value = "abandonnée"
        wb.save(path)
        report = import_action_table(store, path)
        assert report.updated == {reference: ["etat"]} and report.unchanged == 5
        uid = store.read("actions", where={"reference": reference})["uid"].iloc[0]
        assert store.history("actions", uid)["status"].iloc[-1] == "abandonnée"
        assert len(store.read_children("actions", "historique")) == before[1] + 1
    finally:
        store.close()


def test_action_of_another_convention_round_trips(store: LayerStore, tmp_path: Path) -> None:
    """A plan written on the Montbéliard structure, exported in the Lillers Annexe 2: its axis
    cells hold the Montbéliard titles, and the unchanged file reads back with no change."""
    uid = str(store.read("actions", where={"axe": "3"})["uid"].iloc[0])
    store.update("actions", uid, {"convention": "pays-de-montbeliard-2025-2030"}, actor="tests")
    path = _export(store, "annexe2", tmp_path / "suivi.xlsx")
    ws = openpyxl.load_workbook(path).active
    column = _headings(ws)["Axes d'intervention"]
    axis = next(ws.iter_cols(min_col=column, max_col=column, min_row=HEADING_ROW + 1))
    cells = {str(c.value) for c in axis}
    assert "Proximité et tranquillité résidentielle" in cells  # Montbéliard axe 3, not Lillers'
    before = _state(store)
    report = import_action_table(store, path)
    assert report.created == [] and report.updated == {} and report.unchanged == 14
    pd.testing.assert_frame_equal(before[0], _state(store)[0])

"""Downloads, PDFs and CLI of the plan d'actions and tableau de suivi, on the web test store.

The store is a copy of the web tests' store (real Paris QPV, real Dans Ma Rue constats)
with a plan d'actions for QP075019 answering its constats.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from layers.action_tables import REFERENCE
from layers.store import open_store
from tests.actionplan import add_plan
from tests.webmap.conftest import PASSWORD, ROLE_LOGINS, client_logged_as
from webmap import users
from webmap.app import create_app
from webmap.cli import main
from webmap.documents.spreadsheets import HEADING_ROW

CODE = "QP075019"

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext absent")


@pytest.fixture(scope="module")
def plan_path(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exports") / "plan.gpkg"
    shutil.copyfile(store_path, path)
    store = open_store(path, create=False)
    try:
        add_plan(store, quartier=CODE, n=10)
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def exports_app(plan_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    instance = tmp_path_factory.mktemp("exports-instance")
    app = create_app({"STORE": str(plan_path), "instance_path": str(instance), "SECRET_KEY": "clef",
                      "TESTING": True})
    for role, login in ROLE_LOGINS.items():
        users.add_user(app.config["USERS_DB"], login, PASSWORD, role=role, organisation="ville")
    return app


@pytest.fixture
def reader(exports_app: Flask) -> FlaskClient:
    return client_logged_as(exports_app, ROLE_LOGINS["lecteur"])


def _pdf_text(body: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(body)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                         check=True).stdout
    return " ".join(out.split())


def _has_heading(text: str, heading: str) -> bool:
    """Whether every word of ``heading`` is in the PDF text (a narrow column wraps headings)."""
    words = set(text.replace("/", " ").split())
    return all(word in words for word in heading.replace("/", " ").split())


def test_suivi_xlsx_download(reader: FlaskClient, exports_app: Flask) -> None:
    resp = reader.get(f"/actions/suivi.xlsx?quartier={CODE}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    assert f'filename="tableau-de-suivi-{CODE}.xlsx"' in resp.headers["Content-Disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    assert ws.freeze_panes == f"A{HEADING_ROW + 1}"
    headings = [c.value for c in ws[HEADING_ROW]]
    assert headings[0] == "Axes d'intervention" and headings[-2:] == [REFERENCE, "Simulé"]
    assert "Réponses" in [c.value for c in ws[HEADING_ROW - 1]]
    assert ws.max_row - HEADING_ROW == 10
    assert CODE in ws.cell(2, 1).value
    # the /api/actions filters apply: only the « réalisée » ones
    resp = reader.get(f"/actions/suivi.xlsx?quartier={CODE}&etat=réalisée")
    rows = pd.read_excel(io.BytesIO(resp.data), header=HEADING_ROW - 1)
    store = open_store(exports_app.config["STORE"], create=False)
    try:
        done = store.read("actions", where={"quartier": CODE, "etat": "réalisée"})
    finally:
        store.close()
    assert sorted(rows[REFERENCE]) == sorted(done["reference"]) and len(done) >= 2


def test_annexe1_pdf_has_the_headings(reader: FlaskClient, tmp_path: Path) -> None:
    resp = reader.get(f"/actions/annexe1.pdf?quartier={CODE}")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = _pdf_text(resp.data, tmp_path)
    for heading in ("Orientations", "Objectifs", "Lieux / Adresses", "Constats", "Origines",
                    "Réponses / Actions", "Indicateurs d'évaluation", "Pilotes", "Partenaires", "Délais",
                    "Référence"):
        assert _has_heading(text, heading), heading
    assert "1 - Gestion technique et environnement" in text and "Sans orientation" in text


def test_suivi_ods_and_pdf(reader: FlaskClient, tmp_path: Path) -> None:
    ods = reader.get(f"/actions/suivi.ods?quartier={CODE}")
    assert ods.status_code == 200 and ods.mimetype == "application/vnd.oasis.opendocument.spreadsheet"
    frame = pd.read_excel(io.BytesIO(ods.data), engine="odf", header=HEADING_ROW - 1)
    assert len(frame.dropna(subset=[REFERENCE])) == 10
    text = _pdf_text(reader.get(f"/actions/suivi.pdf?quartier={CODE}").data, tmp_path)
    for heading in ("Axes d'intervention", "Problème à traiter", "Réponses", "Réponse gestion",
                    "État d'avancement", "Causes retard ou report", "Commentaire"):
        assert _has_heading(text, heading), heading


def test_tfpb_bilan_and_errors(reader: FlaskClient) -> None:
    resp = reader.get("/tfpb/bilan.xlsx?bailleur=paris%20habitat&annee=2024")
    assert resp.status_code == 200
    assert "bilan-tfpb-paris-habitat-2024.xlsx" in resp.headers["Content-Disposition"]
    bilan = pd.read_excel(io.BytesIO(resp.data), header=HEADING_ROW - 1)
    assert int(bilan[bilan["Axe"] == "Total"]["Actions"].iloc[0]) == 6
    assert reader.get("/tfpb/bilan.xlsx?annee=2024").status_code == 400
    assert reader.get("/tfpb/bilan.xlsx?bailleur=x&annee=abc").status_code == 400
    assert reader.get("/actions/suivi.docx").status_code == 404
    assert reader.get("/actions/suivi.xlsx?etat=finie").status_code == 400


def test_anonymous_gets_nothing(exports_app: Flask) -> None:
    anon = exports_app.test_client()
    for url in (f"/actions/suivi.xlsx?quartier={CODE}", "/actions/annexe1.pdf",
                "/tfpb/bilan.xlsx?bailleur=a&annee=2024", f"/quartiers/{CODE}/copil.pdf"):
        resp = anon.get(url)
        assert resp.status_code == 401 and b"QP075019-2024" not in resp.data


def test_copil_bundles_report_plan_and_suivi(reader: FlaskClient, tmp_path: Path) -> None:
    resp = reader.get(f"/quartiers/{CODE}/copil.pdf?debut=2023-09-01&fin=2024-08-31")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert quote(f"dossier-copil-{CODE}-2023-09-01-au-2024-08-31.pdf") in resp.headers["Content-Disposition"]
    text = _pdf_text(resp.data, tmp_path)
    report, plan, suivi = (text.index("Chiffres clés"), text.index("Annexe 1 : Modèle de plan d'actions"),
                           text.index("Annexe 2 : Tableau de suivi des actions engagées"))
    assert report < plan < suivi
    assert reader.get("/quartiers/QP999999/copil.pdf").status_code == 404


def test_cli_export_and_import_round_trip(plan_path: Path, tmp_path: Path) -> None:
    store_copy = tmp_path / "cli.gpkg"
    shutil.copyfile(plan_path, store_copy)
    runner = CliRunner()
    out = tmp_path / "suivi.xlsx"
    result = runner.invoke(main, ["--entrepot", str(store_copy), "actions", "exporter", "--quartier", CODE,
                                  "--modele", "annexe2", "--format", "xlsx", "--sortie", str(out)])
    assert result.exit_code == 0, result.output
    assert "Fichier écrit" in result.output
    result = runner.invoke(main, ["--entrepot", str(store_copy), "actions", "importer", str(out)])
    assert result.exit_code == 0, result.output
    assert "0 action(s) créée(s), 0 mise(s) à jour, 10 inchangée(s)" in result.output
    wb = openpyxl.load_workbook(out)
    ws = wb.active
    cols = {c.value: c.column for c in ws[HEADING_ROW]}
    ws.cell(HEADING_ROW + 1, cols["État d'avancement"]).value = "reportée"
    ws.cell(HEADING_ROW + 2, cols["Conflit"]).value = "Conflit d'usage"
    wb.save(out)
    result = runner.invoke(main, ["--entrepot", str(store_copy), "actions", "importer", str(out),
                                  "--par", "copil"])
    assert result.exit_code == 0, result.output
    assert "2 mise(s) à jour, 8 inchangée(s)" in result.output
    assert "(État d'avancement)" in result.output and "(Conflit)" in result.output
    ws.cell(HEADING_ROW + 3, cols["État d'avancement"]).value = "en pause"
    wb.save(out)
    result = runner.invoke(main, ["--entrepot", str(store_copy), "actions", "importer", str(out)])
    assert result.exit_code == 1
    problem = f"ligne {HEADING_ROW + 3}, colonne H « État d'avancement » : état « en pause » inconnu"
    assert problem in result.output


def test_copil_says_when_the_report_is_missing(plan_path: Path, tmp_path: Path) -> None:
    from layers.action_tables import TableOptions, plan_table
    from webmap.documents.action_documents import render_copil_pdf
    from webmap.documents.spreadsheets import table_layout

    store = open_store(plan_path, create=False)
    try:
        plan = table_layout(plan_table(store, "annexe1", options=TableOptions(quartier="QP999999")))
        suivi = table_layout(plan_table(store, "annexe2", options=TableOptions(quartier="QP999999")))
    finally:
        store.close()
    text = _pdf_text(render_copil_pdf("aucun périmètre « QP999999 »", plan, suivi, title="Dossier de COPIL"),
                     tmp_path)
    assert "Rapport du quartier non disponible : aucun périmètre « QP999999 »" in text
    assert text.count("Aucune action pour ce quartier et cette période.") == 2

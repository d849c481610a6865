"""The reports page ``/rapports`` and the files area where finished reports are filed.

Report jobs run in real worker threads on the demo-like store of the web tests (real Paris
Dans Ma Rue reports, simulated Montpellier records); each wait polls the job's state with a
deadline. The files area of each app is a folder of its own (``FILES_DIR``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.settings import store_files_dir
from layers.store import open_store
from tests.webmap.conftest import client_logged_as
from tests.webmap.test_jobs import _api_job, _wait
from webmap import _report_archive as archive
from webmap import users
from webmap.app import create_app
from webmap.jobs import DONE, FAILED
from webmap.jobs.views import job_queue

PASSWORD = "mot-de-passe-rapports"
LOGINS = {"lecteur": "louise", "technicien": "tristan", "administrateur": "agathe"}
#: points noirs are restricted in this module's app: the reader reports on the constats
QUARTIER = {"quartier": "QP075019", "periode": "2023-09:2024-08", "couche": "observations"}
#: the Montpellier points noirs, seen by technicians and administrators only in the restricted app
PN_TERRITORY = {"territoire": True, "commune": "Montpellier", "couche": "points_noirs",
                "periode": "2024-01:2024-06", "theme": ""}


def _build(store: Path, folder: Path, **config: Any) -> Flask:
    app = create_app({"STORE": str(store), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-rapports", "TESTING": True, "PHOTOS_RECOVERY": False,
                      "FILES_DIR": str(folder / "fichiers"), **config})
    for role, login in LOGINS.items():
        users.add_user(app.config["USERS_DB"], login, PASSWORD, role=role,
                       organisation="bailleur" if role == "lecteur" else "ville")
    app.extensions["qpv_test_workers"] = job_queue(app).start_workers(1, poll=0.05)
    return app


@pytest.fixture(scope="module")
def rapp(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app whose points noirs are restricted to technicians and administrators."""
    app = _build(store_path, tmp_path_factory.mktemp("rapports"),
                 LAYER_ROLES={"points_noirs": ["technicien", "administrateur"]})
    yield app
    app.extensions["qpv_test_workers"].stop()


def _client(app: Flask, role: str) -> FlaskClient:
    return client_logged_as(app, LOGINS[role])


def _run(client: FlaskClient, params: dict[str, Any]) -> dict[str, Any]:
    res = client.post("/api/jobs", json={"kind": "rapport", "params": params})
    assert res.status_code == 202, res.json
    final = _wait(_api_job(client, res.json["id"]), lambda j: j["state"] in (DONE, FAILED))
    return final


@pytest.fixture(scope="module")
def quartier_job(rapp: Flask) -> dict[str, Any]:
    """A QP075019 report asked by the reader, finished."""
    final = _run(_client(rapp, "lecteur"), QUARTIER)
    assert final["state"] == DONE, final["error"]
    return final


def _status(client: FlaskClient, url: str) -> int:
    """Status of a GET, the response closed (downloads hold their file open)."""
    with client.get(url) as res:
        return res.status_code


def _pdf_text(data: bytes, tmp: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) absent")
    path = tmp / "rapport.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_files_area_defaults_beside_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QPV_FILES_DIR", raising=False)
    assert store_files_dir(tmp_path / "territoire.gpkg") == tmp_path / "territoire.fichiers"
    assert store_files_dir(f"gpkg://{tmp_path}/t.gpkg") == tmp_path / "t.fichiers"
    assert store_files_dir("postgresql://u:p@h/db", instance=tmp_path) == tmp_path / "fichiers"
    assert store_files_dir(tmp_path / "t.gpkg", configured=tmp_path / "ailleurs") == tmp_path / "ailleurs"
    monkeypatch.setenv("QPV_FILES_DIR", str(tmp_path / "env"))
    assert store_files_dir(tmp_path / "t.gpkg") == tmp_path / "env"
    app = create_app({"STORE": str(tmp_path / "t.gpkg"), "instance_path": str(tmp_path / "i"),
                      "SECRET_KEY": "k"})
    assert app.config["FILES_DIR"] == str(tmp_path / "env")


def test_finished_report_is_filed_with_its_parameters(rapp: Flask, quartier_job: dict[str, Any]) -> None:
    entry_id = quartier_job["result"]["rapport"]
    folder = Path(rapp.config["FILES_DIR"]) / "rapports" / entry_id
    files = quartier_job["result"]["fichiers"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*files, "parametres.json"])
    params = json.loads((folder / "parametres.json").read_text(encoding="utf-8"))
    assert params["type"] == "rapport" and params["quartier"] == "QP075019" and params["territoire"] is False
    assert params["periode"] == "2023-09:2024-08" and params["couche"] == "observations"
    assert params["theme"] == "dépôts sauvages" and params["pdf"] is True
    # the reader's report read every layer it may see, and not the cameras (confidential)
    assert params["couches"] == ["perimetres", "observations", "actions", "adresses", "bacs", "batiments",
                                 "diagnostics", "eclairage", "voies"]
    assert params["demande_par"] == "louise" and params["organisation"] == "bailleur"
    assert params["travail"] == quartier_job["id"] and params["titre"] == quartier_job["result"]["titre"]
    assert params["demande_le"] == quartier_job["created"]
    assert datetime.fromisoformat(params["termine_le"]) >= datetime.fromisoformat(params["demande_le"])
    assert params["revision_entrepot"]  # a GeoPackage: its modification time
    assert params["notes"] == quartier_job["result"]["notes"]
    job_folder = job_queue(rapp).files_dir / quartier_job["id"]
    for name in files:  # the same documents as the job's own copy
        assert (folder / name).read_bytes() == (job_folder / name).read_bytes()


def test_anonymous_is_sent_to_the_login_page(rapp: Flask, quartier_job: dict[str, Any]) -> None:
    anon = rapp.test_client()
    res = anon.get("/rapports")
    assert res.status_code == 302 and "/connexion" in res.headers["Location"]
    entry_id = quartier_job["result"]["rapport"]
    assert _status(anon, f"/rapports/{entry_id}/pdf") == 401


def test_reader_sees_history_and_downloads(rapp: Flask, quartier_job: dict[str, Any], tmp_path: Path) -> None:
    reader = _client(rapp, "lecteur")
    page = reader.get("/rapports")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    entry_id = quartier_job["result"]["rapport"]
    card = html[html.index(f'data-rapport="{entry_id}"'):]
    card = card.split('<li class="carte-rapport"')[0]
    assert "Quartier QP075019" in card and "sept. 2023 – août 2024" in card
    assert "louise (bailleur)" in card and re.search(r"\d{2}/\d{2}/\d{4} à \d{2} h \d{2}", card)
    assert "Supprimer" not in html  # administrators only
    assert '<option value="QP075019">' in html
    assert 'value="points_noirs"' not in html and 'value="auto"' not in html  # restricted layer not offered
    assert re.search(r'href="/rapports"\s+aria-current="page">Rapports<', html)  # the header entry
    # default period: the twelve months ending with the latest constat of the store
    with open_store(rapp.config["STORE"], create=False) as store:
        latest = store.read("observations")["observed_at"].max()
    first = (latest.to_period("M") - 11).strftime("%Y-%m")
    assert f'id="r-debut" name="debut" value="{first}"' in html
    assert f'id="r-fin" name="fin" value="{latest:%Y-%m}"' in html
    with reader.get(f"/rapports/{entry_id}/pdf") as pdf:
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
        assert "attachment" in pdf.headers["Content-Disposition"]
        assert "QP075019" in _pdf_text(pdf.data, tmp_path)
    with reader.get(f"/rapports/{entry_id}/html") as html_doc:
        assert html_doc.status_code == 200
        assert quartier_job["result"]["titre"] in html_doc.get_data(as_text=True)
    assert _status(reader, f"/rapports/{entry_id}/docx") == 404
    assert reader.get("/rapports/..%2F..%2Fusers.sqlite/pdf").status_code == 404


def test_same_parameters_make_a_new_entry(rapp: Flask, quartier_job: dict[str, Any]) -> None:
    again = _run(_client(rapp, "lecteur"), {**QUARTIER, "pdf": False})
    assert again["state"] == DONE, again["error"]
    first, second = quartier_job["result"]["rapport"], again["result"]["rapport"]
    assert first != second
    ids = [e.id for e in archive.list_reports(rapp.config["FILES_DIR"])]
    assert ids.index(second) < ids.index(first)  # newest first, the first one kept
    entry = archive.read_report(rapp.config["FILES_DIR"], second)
    assert entry is not None and entry.file(".pdf") is None and entry.file(".html")
    reader = _client(rapp, "lecteur")
    assert _status(reader, f"/rapports/{second}/pdf") == 404
    assert f"/rapports/{second}/pdf" not in reader.get("/rapports").get_data(as_text=True)


def test_report_on_a_hidden_layer_is_not_shown_nor_served(rapp: Flask) -> None:
    tech, reader = _client(rapp, "technicien"), _client(rapp, "lecteur")
    refused = reader.post("/api/jobs", json={"kind": "rapport", "params": PN_TERRITORY})
    assert refused.status_code == 404
    final = _run(tech, PN_TERRITORY)
    assert final["state"] == DONE, final["error"]
    entry_id = final["result"]["rapport"]
    entry = archive.read_report(rapp.config["FILES_DIR"], entry_id)
    assert entry is not None and "points_noirs" in entry.layers
    assert entry.parameters["commune"] == "Montpellier"
    assert _status(tech, f"/rapports/{entry_id}/pdf") == 200
    assert entry_id in tech.get("/rapports").get_data(as_text=True)
    with reader.get(f"/rapports/{entry_id}/pdf") as res:
        assert res.status_code == 404 and res.json["erreur"] == "Rapport introuvable."
    assert entry_id not in reader.get("/rapports").get_data(as_text=True)


def test_reports_show_the_cameras_only_to_roles_that_see_them(rapp: Flask,
                                                             quartier_job: dict[str, Any]) -> None:
    """A reader's report leaves the confidential CCTV layer out and says so; a technician's has it
    and stays out of the reader's reach."""
    reader, tech = _client(rapp, "lecteur"), _client(rapp, "technicien")
    with reader.get(f"/rapports/{quartier_job['result']['rapport']}/html") as res:
        mine = res.get_data(as_text=True)
    assert "Part des événements vus par une caméra" not in mine
    assert "Points chauds non couverts par la vidéoprotection" not in mine
    assert "Sites de vidéoprotection" not in mine and "Portée des caméras" not in mine
    assert "Diffusion restreinte" not in mine  # nothing confidential left to mark
    # the section exists and the notice says who may read it (the app's roles of the layer)
    assert ("Section vidéoprotection : diffusion restreinte, consultable par les rôles technicien et "
            "administrateur.") in mine
    final = _run(tech, {**QUARTIER, "pdf": False})
    assert final["state"] == DONE, final["error"]
    entry_id = final["result"]["rapport"]
    entry = archive.read_report(rapp.config["FILES_DIR"], entry_id)
    assert entry is not None and "videoprotection" in entry.layers
    with tech.get(f"/rapports/{entry_id}/html") as res:
        theirs = res.get_data(as_text=True)
    assert "Part des événements vus par une caméra" in theirs and "consultable par" not in theirs
    assert "Diffusion restreinte : réservée aux rôles technicien et administrateur" in theirs
    assert '@top-center { content: "Diffusion restreinte"' in theirs  # on every page of the PDF
    assert _status(reader, f"/rapports/{entry_id}/html") == 404
    assert entry_id not in reader.get("/rapports").get_data(as_text=True)
    # the client cannot widen what its job reads
    res = reader.post("/api/jobs", json={"kind": "rapport", "params": {
        **QUARTIER, "couches_lisibles": ["videoprotection"]}})
    assert res.status_code == 202 and "videoprotection" not in res.json["params"]["couches_lisibles"]


def test_only_administrators_delete(rapp: Flask) -> None:
    final = _run(_client(rapp, "lecteur"), {**QUARTIER, "periode": "2024-01:2024-03", "pdf": False})
    assert final["state"] == DONE, final["error"]
    entry_id = final["result"]["rapport"]
    for role in ("lecteur", "technicien"):
        assert _client(rapp, role).post(f"/rapports/{entry_id}/supprimer").status_code == 403
    assert archive.read_report(rapp.config["FILES_DIR"], entry_id) is not None
    admin = _client(rapp, "administrateur")
    assert "Supprimer ce rapport" in admin.get("/rapports").get_data(as_text=True)
    res = admin.post(f"/rapports/{entry_id}/supprimer")
    assert res.status_code == 303 and res.headers["Location"].endswith("/rapports?supprime=1")
    assert "Rapport supprimé." in admin.get(res.headers["Location"]).get_data(as_text=True)
    assert not (Path(rapp.config["FILES_DIR"]) / "rapports" / entry_id).exists()
    assert _status(admin, f"/rapports/{entry_id}/html") == 404
    assert admin.post(f"/rapports/{entry_id}/supprimer").status_code == 404
    # without the session's CSRF token, nothing is deleted
    other = archive.list_reports(rapp.config["FILES_DIR"])[0].id
    no_token = client_logged_as(rapp, LOGINS["administrateur"])
    no_token.environ_base.pop("HTTP_X_CSRFTOKEN")
    assert no_token.post(f"/rapports/{other}/supprimer").status_code == 400
    assert archive.read_report(rapp.config["FILES_DIR"], other) is not None


def test_failed_report_is_not_filed_and_says_why_in_french(rapp: Flask) -> None:
    before = {e.id for e in archive.list_reports(rapp.config["FILES_DIR"])}
    final = _run(_client(rapp, "lecteur"), {**QUARTIER, "quartier": "QP999999"})
    assert final["state"] == FAILED and "QP999999" in final["error"] and "Traceback" not in final["error"]
    assert {e.id for e in archive.list_reports(rapp.config["FILES_DIR"])} == before


def test_history_is_paginated_and_skips_broken_folders(rapp: Flask, quartier_job: dict[str, Any]) -> None:
    area = Path(rapp.config["FILES_DIR"])
    source = archive.read_report(area, quartier_job["result"]["rapport"])
    assert source is not None
    docs = [source.folder / name for name in source.files]
    for month in range(1, 13):
        archive.file_report(area, docs, {**source.parameters, "periode": f"2022-{month:02d}:2022-12"})
    # a half-written entry and an unreadable parametres.json are not listed
    (area / "rapports" / ".en-cours-20240101-000000-rapport-x-abcdef").mkdir()
    broken = area / "rapports" / "20240101-000000-rapport-casse-abcdef"
    broken.mkdir()
    (broken / "parametres.json").write_text("{pas du json", encoding="utf-8")
    entries = archive.list_reports(area)
    assert broken.name not in {e.id for e in entries}
    reader = _client(rapp, "lecteur")
    hidden = {"points_noirs", "videoprotection"}  # restricted in this app, confidential
    visible = [e for e in entries if not hidden & set(e.layers)]
    first = reader.get("/rapports").get_data(as_text=True)
    assert first.count('class="carte-rapport"') == 10 and "Page 1 sur 2" in first
    assert f"{len(visible)} rapports archivés" in first
    second = reader.get("/rapports?page=2").get_data(as_text=True)
    assert second.count('class="carte-rapport"') == len(visible) - 10 and "Page 2 sur 2" in second
    assert reader.get("/rapports?page=abc").status_code == 200


def test_cli_report_can_be_filed(store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from webmap.cli import main

    area = tmp_path / "espace"
    monkeypatch.setenv("QPV_FILES_DIR", str(area))
    args = ["--entrepot", str(store_path), "rapport", "--quartier", "QP075019",
            "--periode", "2024-01:2024-06", "--sans-pdf", "--sortie", str(tmp_path / "sortie")]
    plain = CliRunner().invoke(main, args, catch_exceptions=False)
    assert plain.exit_code == 0, plain.output
    assert archive.list_reports(area) == [] and "Archivé" not in plain.output  # only when asked
    res = CliRunner().invoke(main, [*args, "--archiver", "--par", "lucie"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    [entry] = archive.list_reports(area)
    assert f"Archivé : {entry.folder}" in res.output
    p = entry.parameters
    assert p["demande_par"] == "lucie" and p["quartier"] == "QP075019" and p["periode"] == "2024-01:2024-06"
    assert p["pdf"] is False and entry.files[0] == "rapport-QP075019-202401-202406.html"
    # its tables too: one CSV each, then the workbook
    assert entry.files[-1] == "rapport-QP075019-202401-202406-tableaux.xlsx"
    assert all(name.endswith(".csv") for name in entry.files[1:-1]) and len(entry.files) > 3
    # the command line reads every layer: the report holds the camera figures, so the layers
    # it records include the confidential one (a role that cannot see it cannot open it)
    assert p["couches"][:3] == ["perimetres", "observations", "points_noirs"] and p["revision_entrepot"]
    assert "videoprotection" in p["couches"] and "Part des événements vus par une caméra" in res.output
    assert "[Diffusion restreinte] Vidéoprotection" in res.output
    assert (entry.folder / entry.files[0]).read_bytes() == (tmp_path / "sortie" / entry.files[0]).read_bytes()
    # the web page lists it to a technician, not to a reader
    app = create_app({"STORE": str(store_path), "instance_path": str(tmp_path / "instance"),
                      "SECRET_KEY": "k", "TESTING": True})
    assert app.config["FILES_DIR"] == str(area)
    users.add_user(app.config["USERS_DB"], "lucie", PASSWORD, role="technicien", organisation="ville")
    users.add_user(app.config["USERS_DB"], "louis", PASSWORD, role="lecteur", organisation="ville")
    html = client_logged_as(app, "lucie").get("/rapports").get_data(as_text=True)
    assert f'data-rapport="{entry.id}"' in html and "lucie" in html
    theirs = client_logged_as(app, "louis").get("/rapports").get_data(as_text=True)
    assert f'data-rapport="{entry.id}"' not in theirs


def test_form_lists_a_perimeter_without_commune(store_path: Path, tmp_path: Path) -> None:
    """A locally drawn quartier with no commune (messy real data) is offered, without « nan »."""
    path = tmp_path / "territoire.gpkg"
    shutil.copy(store_path, path)
    with open_store(path, create=False) as store:
        row = store.read("perimetres", where={"code": "QP075019"}).drop(
            columns=["created_at", "updated_at"], errors="ignore").copy()
        row["uid"] = ["perimetre-sans-commune"]
        row["source_id"] = row["uid"]
        row["code"] = "LOCAL01"
        row["name"] = "Îlot Ménilmontant (tracé local)"
        row["communes"] = None
        row["kind"] = "quartier"
        store.write("perimetres", row, actor="tests")
    app = create_app({"STORE": str(path), "instance_path": str(tmp_path / "instance"), "SECRET_KEY": "k",
                      "TESTING": True})
    assert app.config["FILES_DIR"] == str(tmp_path / "territoire.fichiers")
    users.add_user(app.config["USERS_DB"], "lucie", PASSWORD, role="lecteur", organisation="ville")
    res = client_logged_as(app, "lucie").get("/rapports")
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert '<option value="LOCAL01">Îlot Ménilmontant (tracé local) (LOCAL01)</option>' in html
    assert not [t for t in re.findall(r"<option[^>]*>([^<]*)</option>", html) if t.endswith("— nan")]
    assert "Aucun rapport archivé pour l'instant." in html  # the new store's files area is empty


def test_tables_of_a_filed_report_download_as_xlsx_and_csv(rapp: Flask, quartier_job: dict[str, Any]) -> None:
    """The history offers the tables too: the workbook, and the CSV files in one ZIP, those of the
    version made for the role that asked (no camera table for a lecteur)."""
    import io
    import zipfile

    import pandas as pd

    reader = _client(rapp, "lecteur")
    entry_id = quartier_job["result"]["rapport"]
    entry = archive.read_report(rapp.config["FILES_DIR"], entry_id)
    assert entry is not None
    pages = [reader.get(f"/rapports?page={n}").get_data(as_text=True) for n in range(1, 11)]
    page = next(p for p in pages if f'data-rapport="{entry_id}"' in p)  # past the last: the last page
    assert f"/rapports/{entry_id}/xlsx" in page and f"/rapports/{entry_id}/csv" in page
    assert "Télécharger les tableaux (XLSX)" in page
    with reader.get(f"/rapports/{entry_id}/xlsx") as res:
        assert res.status_code == 200 and "attachment" in res.headers["Content-Disposition"]
        sheets = pd.read_excel(io.BytesIO(res.data), sheet_name=None)
    with reader.get(f"/rapports/{entry_id}/csv") as res:
        assert res.status_code == 200 and res.mimetype == "application/zip"
        with zipfile.ZipFile(io.BytesIO(res.data)) as zipped:
            names = zipped.namelist()
            csvs = {name: zipped.read(name) for name in names}
    assert sorted(names) == sorted(n for n in entry.files if n.endswith(".csv")) and len(names) == len(sheets)
    for name, data in csvs.items():
        assert data == (entry.folder / name).read_bytes() and data.startswith(b"\xef\xbb\xbf")
        assert "restreinte" not in name
    cells = " ".join(str(v) for df in sheets.values()
                     for v in [*df.columns, *df.astype(str).to_numpy().ravel()])
    assert "caméra" not in cells and "vidéoprotection" not in " ".join(sheets).lower()
    assert _status(reader, f"/rapports/{entry_id}/ods") == 404
    assert _status(rapp.test_client(), f"/rapports/{entry_id}/csv") == 401


def test_form_options_reach_the_hot_spot_statistics(rapp: Flask) -> None:
    """Issue 16 part B: permutation inference and Local Moran's I from the web form's parameters."""
    client = _client(rapp, "lecteur")
    res = client.post("/api/jobs", json={"kind": "rapport", "params": {**QUARTIER, "inference": "bayes"}})
    assert res.status_code == 400 and "inference" in str(res.json)
    final = _run(client, {**QUARTIER, "pdf": False, "inference": "permutations", "moran_local": True})
    assert final["state"] == DONE, final["error"]
    folder = Path(rapp.config["FILES_DIR"]) / "rapports" / final["result"]["rapport"]
    params = json.loads((folder / "parametres.json").read_text(encoding="utf-8"))
    assert params["inference"] == "permutations" and params["moran_local"] is True
    html = next(p for p in folder.iterdir() if p.suffix == ".html").read_text(encoding="utf-8")
    assert "999 permutations conditionnelles" in html and "I de Moran local" in html
    page = client.get("/rapports").get_data(as_text=True)
    assert 'name="inference"' in page and 'name="moran_local"' in page

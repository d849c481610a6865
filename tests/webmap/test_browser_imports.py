"""The administrator's and the reader's journeys in a real browser (Debian chromium, headless).

(a) An administrator logs in, uploads 60 real Dans Ma Rue reports republished by « another
publisher » with three bad rows (:func:`tests.webmap.test_imports_web.messy_reports`),
completes the proposed mapping in the page, previews, imports as a job and reads the three
reasons in the page, at desktop and phone sizes. (b) A reader has no « Administration »
entry and gets a French 403 page on ``/admin/comptes`` and ``/admin/imports``. Screenshots
in ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.webmap._browser import chrome, log_in, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.conftest import PASSWORD
from tests.webmap.test_imports_web import BAD_DATE, DECISIONS, FAR_AWAY, NO_CATEGORY, messy_reports
from webmap import users
from webmap.app import create_app
from webmap.jobs.views import job_queue

pytestmark = [pytest.mark.browser, requires_chromium]

SIZES = {"bureau": (1280, 900), "telephone": (390, 844)}


@pytest.fixture(scope="module")
def server(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Flask, Path]]:
    folder = tmp_path_factory.mktemp("imports-browser")
    path = folder / "imports.gpkg"
    shutil.copy(store_path, path)
    app = create_app({"STORE": str(path), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-imports-navigateur", "BASEMAP": "aucun"})
    users.add_user(app.config["USERS_DB"], "ada", PASSWORD, role="administrateur", organisation="ville")
    users.add_user(app.config["USERS_DB"], "lea", PASSWORD, role="lecteur", organisation="bailleur")
    workers = job_queue(app).start_workers(1, poll=0.05)
    try:
        with serve_in_thread(app) as base:
            yield base, app, folder
    finally:
        workers.stop()


def _open(width: int, height: int) -> Any:
    # headless chromium keeps windows at least 500 px wide: the phone screen is emulated
    drv = chrome(window=f"{max(width, 500)},{height}")
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
    return drv


def _login(drv: Any, base: str, login: str, then: str) -> None:
    log_in(drv, base, login, PASSWORD, then=then)


def _fits(drv: Any) -> bool:
    return bool(drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"))


def _errors(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]


def _visible(drv: Any, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(drv.find_element(By.ID, element_id).is_displayed())


@pytest.mark.parametrize("size", list(SIZES))
def test_administrator_imports_a_file_and_reads_the_rejects(server: tuple[str, Flask, Path], size: str,
                                                            shared_data: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _app, folder = server
    messy = messy_reports(shared_data, folder / f"signalements-paris-{size}.csv")
    width, height = SIZES[size]
    drv = _open(width, height)
    try:
        _login(drv, base, "ada", "/admin/imports")
        assert drv.execute_script("return window.innerWidth") == width
        assert text_of(drv.find_element(By.TAG_NAME, "h1")) == "Imports"
        sub = drv.find_element(By.CSS_SELECTOR, ".admin-sousnav")
        assert [text_of(a) for a in sub.find_elements(By.TAG_NAME, "a")] == ["Comptes", "Imports"]
        assert _fits(drv), "la page des imports déborde"

        drv.find_element(By.ID, "imp-fichier").send_keys(str(messy))
        Select(drv.find_element(By.ID, "imp-couche")).select_by_value("observations")
        drv.find_element(By.ID, "btn-televerser").click()
        wait_for(lambda: _visible(drv, "etape-correspondance"), "formulaire de correspondance")
        info = text_of(drv.find_element(By.ID, "imp-fichier-info"))
        assert f"« {messy.name} » : 7 colonnes" in info
        # the proposal: the date, the category and the coordinates found; the address is chosen here
        date_column = Select(drv.find_element(By.ID, "col-observed_at")).first_selected_option
        assert date_column.text == "Date signalement"
        assert Select(drv.find_element(By.ID, "geo-x")).first_selected_option.text == "Longitude"
        Select(drv.find_element(By.ID, "col-address")).select_by_visible_text("Adresse du signalement")
        for select in drv.find_elements(By.CSS_SELECTOR, "select[data-champ='theme'][data-valeur]"):
            Select(select).select_by_value(DECISIONS[select.get_attribute("data-valeur")])
        assert _fits(drv), "le formulaire de correspondance déborde"
        shot(drv, f"imports-correspondance-{size}")

        drv.find_element(By.ID, "btn-apercu").click()
        wait_for(lambda: _visible(drv, "etape-apercu"), "aperçu")
        summary = text_of(drv.find_element(By.ID, "apercu-resume"))
        assert "60 lignes lues : 57 seront enregistrées" in summary and "3 seront rejetées" in summary
        first = drv.find_elements(By.CSS_SELECTOR, "#apercu-table tbody tr")[0]
        assert "16/11/2023" in text_of(first) and "11 Rue Pierre Fontaine" in text_of(first)
        assert _fits(drv), "l'aperçu déborde"
        shot(drv, f"imports-apercu-{size}")

        drv.find_element(By.ID, "btn-importer").click()
        wait_for(lambda: "lignes lues" in text_of(drv.find_element(By.ID, "travail-resume")),
                 "fin du travail d'import")
        result = text_of(drv.find_element(By.ID, "travail-resume"))
        assert "60 lignes lues" in result and "3 rejetées" in result, result
        rows = drv.find_elements(By.CSS_SELECTOR, "#travail-rejets tbody tr")
        by_line = {text_of(r.find_elements(By.TAG_NAME, "td")[0]): text_of(r) for r in rows}
        assert set(by_line) == {str(BAD_DATE + 2), str(FAR_AWAY + 2), str(NO_CATEGORY + 2)}
        assert "date invalide" in by_line[str(BAD_DATE + 2)]
        assert "à plus de 20 km de tout périmètre" in by_line[str(FAR_AWAY + 2)]
        assert "champ obligatoire manquant" in by_line[str(NO_CATEGORY + 2)]
        link = drv.find_element(By.ID, "lien-rejets-csv")
        assert link.is_displayed() and ".csv" in link.get_attribute("href")
        wait_for(lambda: messy.name in text_of(drv.find_element(By.ID, "journal-table")), "journal à jour")
        assert _fits(drv), "le résultat de l'import déborde"
        drv.execute_script("document.getElementById('etape-travail').scrollIntoView()")
        shot(drv, f"imports-rejets-{size}")
        assert not _errors(drv)
    finally:
        drv.quit()


@pytest.mark.parametrize("size", list(SIZES))
def test_reader_has_no_administration(server: tuple[str, Flask, Path], size: str) -> None:
    from selenium.webdriver.common.by import By

    base, _app, _folder = server
    width, height = SIZES[size]
    drv = _open(width, height)
    try:
        _login(drv, base, "lea", "/compte")
        labels = [text_of(a) for a in drv.find_elements(By.CSS_SELECTOR, "#entete-nav .entete-liens a")]
        assert "Carte" in labels and "Administration" not in labels
        assert not drv.find_elements(By.CSS_SELECTOR, ".admin-sousnav")
        for url in ("/admin/comptes", "/admin/imports"):
            drv.get(base + url)
            assert text_of(drv.find_element(By.TAG_NAME, "h1")) == "Accès refusé"
            message = text_of(drv.find_element(By.ID, "refus-message"))
            assert "réservée au rôle « administrateur »" in message and "lea (lecteur)" in message
            assert not drv.find_elements(By.ID, "imp-fichier")
            assert not drv.find_elements(By.ID, "form-creation")
            assert _fits(drv)
        shot(drv, f"imports-refus-lecteur-{size}")
    finally:
        drv.quit()

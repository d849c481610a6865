"""The reports page in a real browser (Debian chromium, headless, no network).

A reader opens ``/rapports`` after logging in, starts a report on QP075019 over twelve months,
waits for the job (its state on the page, not time), finds it at the top of the history with
their login and today's date, downloads the PDF and reads the quartier in its text; a report
on an unknown quartier shows its French error. Desktop (1280×900) and phone (390×844
emulated) screenshots land in ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from tests.webmap._browser import chrome, requires_chromium, shot, submit_login, text_of, wait_for
from tests.webmap._server import serve_in_thread
from webmap import users
from webmap.app import create_app
from webmap.jobs.views import job_queue

pytestmark = [pytest.mark.browser, requires_chromium]

SIZES = {"bureau": (1280, 900), "telephone": (390, 844)}
PASSWORD = "mot-de-passe-navigateur"
READER = "romane"


@pytest.fixture(scope="module")
def reports_app(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("rapports-navigateur")
    app = create_app({"STORE": str(store_path), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-rapports-navigateur", "BASEMAP": "aucun",
                      "FILES_DIR": str(folder / "fichiers")})
    users.add_user(app.config["USERS_DB"], READER, PASSWORD, role="lecteur", organisation="bailleur")
    workers = job_queue(app).start_workers(1, poll=0.05)
    yield app
    workers.stop()


@pytest.fixture(scope="module")
def base_url(reports_app: Flask) -> Iterator[str]:
    with serve_in_thread(reports_app) as base:
        yield base


def _fits(drv: Any) -> bool:
    return bool(drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _cards(drv: Any) -> list[str]:
    return list(drv.execute_script(
        "return Array.from(document.querySelectorAll('#historique .carte-rapport'))"
        ".map((c) => c.dataset.rapport);"))


def _jobs(drv: Any) -> list[str]:
    return list(drv.execute_script(
        "return Array.from(document.querySelectorAll('#travaux li')).map((li) => li.dataset.travail);"))


def _submit(drv: Any, quartier: str, start: str, end: str) -> None:
    from selenium.webdriver.common.by import By

    # the month fields are typed in the browser's own way: set their value as a picker would
    drv.execute_script("const f = document.getElementById('form-rapport');"
                       "f.elements.quartier.value = arguments[0];"
                       "f.elements.debut.value = arguments[1]; f.elements.fin.value = arguments[2];",
                       quartier, start, end)
    button = drv.find_element(By.ID, "lancer-rapport")
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


@pytest.mark.parametrize("size", list(SIZES))
def test_reader_starts_follows_and_downloads_a_report(base_url: str, size: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    width, height = SIZES[size]
    drv = chrome(window=f"{max(width, 500)},{height}")
    try:
        drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
        drv.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(tmp_path)})
        drv.get(base_url + "/rapports")
        wait_for(lambda: "/connexion" in drv.current_url, "page de connexion pour un visiteur anonyme")
        submit_login(drv, READER, PASSWORD, then="/rapports")
        assert drv.execute_script("return window.innerWidth") == width
        wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "#travaux[data-charge='oui']"),
                 "liste des travaux chargée")
        options = [o.get_attribute("value") for o in Select(drv.find_element(By.ID, "r-quartier")).options]
        assert "QP075019" in options
        assert _fits(drv)
        shot(drv, f"rapports-formulaire-{size}")
        before = _cards(drv)
        shown = _jobs(drv)  # the reader's failures of the last day stay listed

        _submit(drv, "QP075019", "2023-09", "2024-08")
        # the list is redrawn at each poll: read it in one go
        job_id, job_text = wait_for(lambda: drv.execute_script(
            "const li = Array.from(document.querySelectorAll('#travaux li[data-travail]'))"
            ".find((x) => !arguments[0].includes(x.dataset.travail));"
            "return li ? [li.dataset.travail, li.textContent] : null;", shown),
            "travail affiché dans « Rapports en préparation »")
        assert job_text.startswith("Quartier QP075019, 2023-09 → 2024-08")
        seen = wait_for(lambda: drv.execute_script(
            "const li = document.querySelector('#travaux li[data-travail=\"' + arguments[0] + '\"]');"
            "return li ? [li.dataset.etat, li.textContent] : null;", job_id), "état du travail")
        if seen[0] in ("en attente", "en cours"):
            assert "%" in seen[1]  # percentage and step while it runs
        wait_for(lambda: drv.execute_script(
            "const li = document.querySelector('#travaux li[data-travail=\"' + arguments[0] + '\"]');"
            "return li && li.dataset.etat === 'terminé';", job_id), "travail terminé", timeout=180)
        new = wait_for(lambda: [c for c in _cards(drv) if c not in before],
                       "nouveau rapport dans l'historique")
        assert _cards(drv)[0] == new[0]  # at the top: newest first
        card = drv.find_element(By.CSS_SELECTOR, f".carte-rapport[data-rapport='{new[0]}']")
        text = text_of(card)
        assert "Quartier QP075019" in text and "sept. 2023 – août 2024" in text
        assert text_of(card.find_element(By.CLASS_NAME, "demandeur")) == f"{READER} (bailleur)"
        today = datetime.now(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y")
        assert text_of(card.find_element(By.CLASS_NAME, "date-demande")).startswith(today)
        assert _fits(drv)
        drv.execute_script("arguments[0].scrollIntoView({block: 'start'});", card)
        shot(drv, f"rapports-historique-{size}")

        link = card.find_element(By.PARTIAL_LINK_TEXT, "PDF")
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
        link.click()
        pdf = wait_for(lambda: [p for p in tmp_path.glob("*.pdf") if p.stat().st_size > 0]
                       and not list(tmp_path.glob("*.crdownload")), "PDF téléchargé")
        pdf_path = next(tmp_path.glob("*.pdf"))
        assert pdf and pdf_path.read_bytes().startswith(b"%PDF")
        if shutil.which("pdftotext"):
            content = subprocess.run(["pdftotext", str(pdf_path), "-"], capture_output=True, text=True,
                                     check=True).stdout
            assert "QP075019" in content

        # an unknown quartier (a stale form): the job fails and says why, in French
        drv.execute_script("const s = document.getElementById('r-quartier');"
                           "s.add(new Option('Quartier disparu (QP999999)', 'QP999999'));")
        shown = _jobs(drv)
        _submit(drv, "QP999999", "2023-09", "2024-08")
        message = wait_for(lambda: drv.execute_script(
            "const li = Array.from(document.querySelectorAll(\"#travaux li[data-etat='échec']\"))"
            ".find((x) => !arguments[0].includes(x.dataset.travail));"
            "if (li) { li.scrollIntoView({block: 'center'}); }"
            "return li ? li.querySelector('.travail-erreur').textContent : null;", shown),
            "travail en échec affiché", timeout=120)
        assert message.startswith("Échec : ") and "QP999999" in message and "Traceback" not in message
        failed_id = next(j for j in _jobs(drv) if j not in shown)
        # « Masquer » takes it off the list, for good on this browser
        drv.find_element(By.CSS_SELECTOR, f"#travaux li[data-travail='{failed_id}'] .travail-masquer").click()
        wait_for(lambda: failed_id not in _jobs(drv), "travail en échec masqué")
        assert _fits(drv)
        shot(drv, f"rapports-echec-{size}")
        drv.refresh()
        wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "#travaux[data-charge='oui']"),
                 "liste des travaux rechargée")
        assert failed_id not in _jobs(drv)
        errors = [e["message"] for e in drv.get_log("browser")
                  if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
        assert not errors, errors
    finally:
        drv.quit()
